package container

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/internal/testbin"
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

// privateBinary copies the minirun binary the tests built to a folder of
// the test's own: the copy is what the attacks aim at, and nothing else
// runs it, so that once the container's processes are done with it nothing
// keeps it busy (ETXTBSY) but minirun's own protection.
func privateBinary(t *testing.T) (path string, sum [32]byte) {
	t.Helper()
	data, err := os.ReadFile(minirunBin)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(tempDir(t), "minirun")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, sha256.Sum256(data)
}

func checkBinary(t *testing.T, path string, sum [32]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(data) != sum {
		n := min(len(data), 16)
		t.Errorf("minirun's binary changed: its first bytes are %q, want it byte-identical", data[:n])
	}
}

// attackVariant is a container shape the CVE-2019-5736 attacks run in:
// with and without a PID namespace, with runc's default capabilities and
// with none (a uid 0 that owns the binary needs none to write it).
type attackVariant struct {
	name         string
	pidNS, noCap bool
}

var attackVariants = []attackVariant{
	{"pidns", true, false}, {"pidns, no capabilities", true, true},
	{"host pids", false, false}, {"host pids, no capabilities", false, true},
}

func (v attackVariant) apply(s *rspec.Spec) {
	if !v.pidNS {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n rspec.LinuxNamespace) bool { return n.Type == rspec.PIDNamespace })
	}
	if v.noCap {
		none := []string{}
		s.Process.Capabilities = &rspec.LinuxCapabilities{Bounding: none, Effective: none, Permitted: none, Inheritable: none, Ambient: none}
	}
}

// runPrivate runs the private copy bin of minirun, as runBinary runs the
// shared one.
func runPrivate(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testbin.Run(t, bin, "", nil, args...)
}

// startPrivate starts the private copy bin of minirun, as startBinary
// starts the shared one.
func startPrivate(t *testing.T, bin string, args ...string) *started {
	t.Helper()
	saved := minirunBin
	minirunBin = bin
	defer func() { minirunBin = saved }()
	return startBinary(t, nil, args...)
}

// TestAttackCreatedProcess is CVE-2019-5736's way in through the runtime's
// own process: the process that sets up a container runs minirun's memory
// and binary until execve, and a created container's process waits for
// start in that state. A process exec'd into the container, root as it is,
// must not reach it: not its /proc/PID/exe (minirun's binary, which it
// would keep O_PATH and reopen for writing once nothing runs it), nor its
// /proc/PID/mem (the child program, and with CLONE_VM minirun's memory).
// The child is not dumpable until execve (docs/design.md, rule 13). With
// and without a PID namespace and capabilities; afterwards the binary, a
// private copy run by the create, is byte-identical and nothing is left.
func TestAttackCreatedProcess(t *testing.T) {
	needRoot(t, "runs containers as root, as the exploit needs")
	for _, v := range attackVariants {
		t.Run(v.name, func(t *testing.T) {
			bin, sum := privateBinary(t)
			root := tempDir(t)
			tb := helperBundle(t, specs.GenerateOptions{})
			v.apply(tb.Spec)
			tb.save(t)
			before := snapshotHost(t)
			const id = "attack-created"
			create := startPrivate(t, bin, "--root", root, "create", "--bundle", tb.Dir, id)
			if code := create.wait(t); code != 0 {
				t.Fatalf("create: status %d; stderr %q", code, create.errors())
			}
			pid := "1"
			if !v.pidNS {
				out, _, _ := runBinary(t, nil, "--root", root, "state", id)
				var st struct{ Pid int }
				if err := json.Unmarshal([]byte(out), &st); err != nil || st.Pid <= 0 {
					t.Fatalf("state: %q (%v)", out, err)
				}
				pid = strconv.Itoa(st.Pid)
			}
			out, stderr, code := runBinary(t, nil, "--root", root, "exec", id, "/helper", "exe:"+pid, "openw:/proc/"+pid+"/mem")
			runBinary(t, nil, "--root", root, "delete", "--force", id)
			if code != 0 {
				t.Fatalf("exec: status %d; stderr %q", code, stderr)
			}
			f := parseFacts(t, out)
			if got, want := f.Probes["exe:"+pid].Entries, []string{pid + ":EACCES:-"}; !slices.Equal(got, want) {
				t.Errorf("/proc/%s/exe of the created container's process: got %q, want %q (refused)", pid, got, want)
			}
			if got := f.Probes["openw:/proc/"+pid+"/mem"].Err; got != "EACCES" {
				t.Errorf("/proc/%s/mem for writing: got %q, want EACCES", pid, got)
			}
			checkNothingLeft(t, before)
			checkBinary(t, bin, sum)
		})
	}
}
