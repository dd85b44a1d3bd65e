package boot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestConstants(t *testing.T) {
	if sysClockGettime != unix.SYS_CLOCK_GETTIME || clockMonotonic != unix.CLOCK_MONOTONIC {
		t.Errorf("got SYS_clock_gettime %d, CLOCK_MONOTONIC %d; want %d, %d (golang.org/x/sys/unix)",
			sysClockGettime, clockMonotonic, unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC)
	}
}

// TestNow: now reads the clock Go's unix.ClockGettime reads.
func TestNow(t *testing.T) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	a := ts.Nano()
	b := now()
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	c := ts.Nano()
	if b < a || b > c {
		t.Errorf("now: got %d, want between %d and %d", b, a, c)
	}
	if Init() <= 0 || Init() > a {
		t.Errorf("Init: got %d, want in (0, %d]", Init(), a)
	}
	if Entry() != 0 {
		t.Errorf("Entry in a test binary (linked without -E): got %d, want 0", Entry())
	}
}

// buildProbe links testdata/probe with -E …entry, as `make build` links
// minirun, into a folder of its own that every user can reach.
func buildProbe(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "probe")
	build := exec.Command("go", "build", "-ldflags", "-E github.com/minirun/minirun/internal/boot.entry",
		"-o", bin, "./testdata/probe")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// probeReport is what the probe printed.
type probeReport struct {
	entry, init, main int64
	mark              string // GuardEnv's value, "-" if unset
	readOnly          bool   // its binary lies on a read-only mount
	probeVars         int    // PROBE_ variables in its environment
}

// runProbe runs the probe with args, behind wrap, with env added to the
// test's environment, and checks the three times are in order: the stub
// ran first and handed over to the runtime.
func runProbe(t *testing.T, wrap []string, bin string, env []string, args ...string) probeReport {
	t.Helper()
	argv := append(append(append([]string{}, wrap...), bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	before := now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q: %v", argv, err)
	}
	after := now()
	var r probeReport
	var ro string
	if n, err := fmt.Sscan(string(out), &r.entry, &r.init, &r.main, &r.mark, &ro, &r.probeVars); n != 6 || err != nil {
		t.Fatalf("%q printed %q (%v)", argv, out, err)
	}
	r.readOnly = ro == "true"
	if !(before < r.entry && r.entry < r.init && r.init < r.main && r.main < after) {
		t.Errorf("%q: got entry, init, main = %d, %d, %d; want %d < entry < init < main < %d",
			argv, r.entry, r.init, r.main, before, after)
	}
	return r
}

// TestEntry: linked with -E, the times are taken, and a command the guard
// is not for runs as it is.
func TestEntry(t *testing.T) {
	r := runProbe(t, nil, buildProbe(t), nil, "state", "x")
	if r.mark != "-" {
		t.Errorf("state: re-executed (%s=%s); the guard is for run, create and exec only", GuardEnv, r.mark)
	}
}

// TestGuard: run, create and exec from a writable binary are re-executed
// from a read-only view of it before the runtime starts, with the first
// start's entry time in GuardEnv and nothing else changed; any other
// word, a marked start, a binary the caller cannot write and one that is
// read-only already are left alone.
func TestGuard(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the guard in the entry is amd64's; on " + runtime.GOARCH + " selfexe.Ensure does it in Go")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: open_tree makes a mount, and the probe runs as uid 65534 too")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux): " + err.Error())
	}
	bin := buildProbe(t)
	guarded := func(t *testing.T, r probeReport) {
		t.Helper()
		first, err := strconv.ParseInt(r.mark, 16, 64)
		if err != nil || !r.readOnly {
			t.Fatalf("got %s=%s, read-only %v; want the first entry time in hex, read-only true", GuardEnv, r.mark, r.readOnly)
		}
		if !(first > 0 && first < r.entry) {
			t.Errorf("first entry %d, this entry %d: want 0 < first < this", first, r.entry)
		}
	}
	for _, args := range [][]string{
		{"run", "id"},
		{"--root", "/run/x", "--log", "l", "create", "--bundle", "b", "id"},
		{"exec", "id", "sh"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) { guarded(t, runProbe(t, nil, bin, nil, args...)) })
	}
	t.Run("a large environment, every variable kept", func(t *testing.T) {
		var env []string
		for i := range 2000 {
			env = append(env, fmt.Sprintf("PROBE_%d=%s", i, strings.Repeat("x", i%50)))
		}
		r := runProbe(t, nil, bin, env, "run", "id")
		guarded(t, r)
		if r.probeVars != 2000 {
			t.Errorf("got %d PROBE_ variables, want 2000", r.probeVars)
		}
	})
	for _, args := range [][]string{{"runc"}, {"ru"}, {"creates"}, {"execute"}, {"", "Run"}} {
		t.Run(fmt.Sprintf("not a command %q", args), func(t *testing.T) {
			if r := runProbe(t, nil, bin, nil, args...); r.mark != "-" || r.readOnly {
				t.Errorf("got %s=%s, read-only %v; want neither", GuardEnv, r.mark, r.readOnly)
			}
		})
	}
	t.Run("marked already: no second re-exec", func(t *testing.T) {
		if r := runProbe(t, nil, bin, []string{GuardEnv + "=1"}, "run"); r.mark != "1" || r.readOnly {
			t.Errorf("got %s=%s, read-only %v; want 1, false", GuardEnv, r.mark, r.readOnly)
		}
	})
	t.Run("uid 65534, root's binary: cannot write it, nothing to do", func(t *testing.T) {
		nobody := []string{"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"}
		if r := runProbe(t, nobody, bin, nil, "run"); r.mark != "-" || r.readOnly {
			t.Errorf("got %s=%s, read-only %v; want neither", GuardEnv, r.mark, r.readOnly)
		}
	})
	t.Run("read-only already: nothing to do", func(t *testing.T) {
		if err := unix.Mount(bin, bin, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		defer unix.Unmount(bin, unix.MNT_DETACH)
		if err := unix.Mount("", bin, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			t.Fatal(err)
		}
		if r := runProbe(t, nil, bin, nil, "run"); r.mark != "-" || !r.readOnly {
			t.Errorf("got %s=%s, read-only %v; want -, true", GuardEnv, r.mark, r.readOnly)
		}
	})
}
