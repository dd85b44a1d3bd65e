package container

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/specs"
)

// The attack suite: one test per known class of container runtime escape,
// each run as root against real containers, each checking that the attack
// fails and that nothing is left on the host. The CVE a test is named for
// is runc's; the class is what matters.

// TestAttackLeakedFDs is CVE-2024-21626's class: a process of the container
// reaching an fd minirun held while it set the process up. The process
// holds no fd of minirun's (only its stdio and what its own runtime
// opened), and a process.cwd through /proc/self/fd/N — which the child
// would resolve while it still holds minirun's fds, among them a cgroup
// folder of the host's — is refused, for run and for exec.
// refusedCwd says whether err is the child refusing cwd: EXDEV for a magic
// link (an open fd), ENOENT for an fd that is not open.
func refusedCwd(err error, cwd string) bool {
	if err == nil {
		return false
	}
	for _, e := range []string{"invalid cross-device link", "no such file or directory"} {
		if strings.TrimSpace(err.Error()) == "process.cwd: "+cwd+": "+e {
			return true
		}
	}
	return false
}

func TestAttackLeakedFDs(t *testing.T) {
	needRoot(t, "runs containers")
	// fds of the helper's own that are not minirun's: the Go runtime's
	// poller, and the cgroup files it keeps open to size GOMAXPROCS (the
	// container's own view of /sys/fs/cgroup).
	own := func(target string) bool {
		if strings.HasPrefix(target, "anon_inode:") {
			return true
		}
		base := filepath.Base(target)
		return strings.HasPrefix(target, "/sys/fs/cgroup/") && (base == "cpu.cfs_quota_us" || base == "cpu.cfs_period_us" || base == "cpu.max")
	}
	checkFDs := func(t *testing.T, who string, f *facts) {
		t.Helper()
		for _, e := range f.Probes["fds"].Entries {
			fd, target, _ := strings.Cut(e, " -> ")
			if fd == "0" || fd == "1" || fd == "2" || own(target) {
				continue
			}
			t.Errorf("%s holds fd %s -> %s, want no fd but its stdio and its own", who, fd, target)
		}
	}

	t.Run("run", func(t *testing.T) {
		tb := helperBundle(t, specs.GenerateOptions{}, "fds")
		before := snapshotHost(t)
		checkFDs(t, "the container's process", runFacts(t, tb))
		checkNothingLeft(t, before)
		for n := 3; n <= 24; n++ {
			tb := helperBundle(t, specs.GenerateOptions{})
			tb.Spec.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", n)
			code, out, err := runCaptured(t, tb.save(t))
			if !refusedCwd(err, tb.Spec.Process.Cwd) {
				t.Errorf("cwd %s: got status %d, error %v, stdout %q; want it refused (EXDEV, or ENOENT for an fd not open)", tb.Spec.Process.Cwd, code, err, out)
			}
		}
		checkNothingLeft(t, before)
	})

	t.Run("exec", func(t *testing.T) {
		root := tempDir(t)
		tb := helperBundle(t, specs.GenerateOptions{}, "wait")
		tb.save(t)
		before := snapshotHost(t)
		const id = "attack-fds"
		run := startBinary(t, nil, "--root", root, "run", "--bundle", tb.Dir, id)
		run.line(t)
		out, stderr, code := runBinary(t, nil, "--root", root, "exec", id, "/helper", "fds")
		if code != 0 {
			t.Fatalf("exec: got status %d, want 0; stderr %q", code, stderr)
		}
		checkFDs(t, "the exec'd process", parseFacts(t, out))
		for n := 3; n <= 24; n++ {
			cwd := fmt.Sprintf("/proc/self/fd/%d", n)
			out, stderr, code := runBinary(t, nil, "--root", root, "exec", "--cwd", cwd, id, "/helper", "ls:../../..")
			if code != 1 || !refusedCwd(errors.New(strings.TrimPrefix(stderr, "minirun: exec: ")), cwd) {
				t.Errorf("exec --cwd %s: got status %d, stderr %q, stdout %q; want 1 and the cwd refused (EXDEV, or ENOENT for an fd not open)", cwd, code, stderr, out)
			}
		}
		if code := run.wait(t); code != 0 {
			t.Errorf("minirun run: got status %d, want 0; stderr %q", code, run.errors())
		}
		checkNothingLeft(t, before)
	})
}
