package container

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/internal/procfs"
	"github.com/minirun/minirun/specs"
)

// TestSetupInterrupted sends minirun a SIGTERM while a container is being
// set up, with the parent busy at a point (where a slow hook would keep
// it): the setup must end with an InterruptedError, the process must never
// run, and nothing may be left behind.
func TestSetupInterrupted(t *testing.T) {
	needRoot(t, "creates namespaces")
	tb := busyboxBundle(t, specs.GenerateOptions{}, "echo the process ran")
	b := tb.save(t)
	if err := b.Validate(specs.ValidateOptions{CheckFS: true}); err != nil {
		t.Fatal(err)
	}
	env := HostEnv(b)
	env.Gate = true
	before := snapshotHost(t)
	plan, err := childprog.Compile(b.Spec, env)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Free()
	sigs := make(chan os.Signal, 1)
	work := parentWork{Ready: func(pid int) error {
		sigs <- unix.SIGTERM
		// Stay at the point until the interruption has killed the
		// child, as a hook that runs long would.
		for i := 0; i < 1000 && !zombie(pid); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}}
	p, err := start(plan, work, sigs)
	var ie *InterruptedError
	switch {
	case err == nil:
		t.Fatalf("start: got process %d, want an InterruptedError", p.pid)
	case !errors.As(err, &ie):
		t.Fatalf("start: got error %q, want an InterruptedError", err)
	case ie.Signal != unix.SIGTERM || ie.ExitCode() != 128+int(unix.SIGTERM):
		t.Errorf("got signal %v and exit code %d, want SIGTERM and %d", ie.Signal, ie.ExitCode(), 128+int(unix.SIGTERM))
	}
	checkNothingLeft(t, before)
}

// zombie reports whether process pid has ended and waits to be reaped.
func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, f, err := procfs.ParseStat(string(data))
	return err == nil && f[0] == "Z"
}
