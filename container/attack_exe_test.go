package container

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
)

// TestAttackRuntimeBinary is CVE-2019-5736 as it was exploited: a process
// of the container opens the runtime's binary through /proc/PID/exe of a
// process that runs it, keeps it open O_PATH while the binary is busy, and
// reopens it for writing once no process runs it — the next root to run
// the runtime runs the container's code. Here minirun exec runs, in the
// container, a program that resolves to minirun's own binary —
// process.args[0] /proc/self/exe, or a script whose interpreter is (the
// exploit's #!/proc/self/exe) — while the attacker waits in the container
// (raceProbe). minirun runs from a read-only view of its binary (package
// selfexe), so the reopen fails.
//
// With and without a PID namespace and capabilities. The binary under
// attack is a private copy that only the minirun under attack runs (the
// shared one runs the container and the attacker's exec, which would keep
// the copy busy); afterwards it is byte-identical and nothing is left.
func TestAttackRuntimeBinary(t *testing.T) {
	needRoot(t, "runs containers as root, as the exploit needs")
	for _, v := range attackVariants {
		for _, how := range []string{"args", "shebang"} {
			t.Run("exec "+how+"/"+v.name, func(t *testing.T) {
				bin, sum := privateBinary(t)
				root := tempDir(t)
				tb := helperBundle(t, specs.GenerateOptions{}, "wait")
				v.apply(tb.Spec)
				if err := unix.Mkfifo(filepath.Join(tb.Rootfs, "fifo"), 0o666); err != nil {
					t.Fatal(err)
				}
				tb.writeFile(t, "rootfs/evil", "#!/proc/self/exe --log=/fifo\n", 0o755)
				tb.save(t)
				before := snapshotHost(t)
				id := "attack-exe"
				run := startBinary(t, nil, "--root", root, "run", "--bundle", tb.Dir, id)
				run.line(t)
				mark := "race-marker-" + strconv.Itoa(os.Getpid())
				racer := startBinary(t, nil, "--root", root, "exec", id, "/helper", "race:"+mark+":/fifo")
				// The container execs minirun's binary, which blocks
				// opening the FIFO until the racer has it.
				args := []string{"--root", root, "exec", id, "/proc/self/exe", "--log", "/fifo", "state", mark}
				if how == "shebang" {
					args = []string{"--root", root, "exec", id, "/evil", mark}
				}
				_, stderr, code := runPrivate(t, bin, args...)
				t.Logf("minirun exec %s: status %d, stderr %q", how, code, stderr)
				// Nothing runs the binary now: the racer tries to write.
				io.WriteString(racer.stdin, "go\n")
				f := parseFacts(t, racer.line(t))
				if code := racer.wait(t); code != 0 {
					t.Errorf("the racer's exec: status %d; stderr %q", code, racer.errors())
				}
				if code := run.wait(t); code != 0 {
					t.Errorf("run: status %d; stderr %q", code, run.errors())
				}
				checkNothingLeft(t, before)
				race := f.Probes["race:"+mark+":/fifo"]
				t.Logf("the racer: %q, final reopen: %q", race.Entries, race.Err)
				// EROFS: the read-only bind mount minirun runs from as root.
				if race.Err != "EROFS" {
					t.Errorf("the racer's reopen of minirun's binary for writing: got %q (%q), want EROFS", race.Err, race.Entries)
				}
				checkBinary(t, bin, sum)
			})
		}
	}
}

// TestAttackRuntimeBinaryStartHook is the same exploit through start: a
// startContainer hook runs in the container, and its path resolves there,
// where the image can make it a script whose interpreter is
// /proc/self/exe. start runs from a read-only view of minirun whenever the
// container has such a hook (and only then: without one it clones nothing
// into the container).
func TestAttackRuntimeBinaryStartHook(t *testing.T) {
	needRoot(t, "runs containers as root, as the exploit needs")
	bin, sum := privateBinary(t)
	root := tempDir(t)
	tb := busyboxBundle(t, specs.GenerateOptions{}, "exec sleep 100")
	tb.install(t, helperBin, "helper")
	if err := unix.Mkfifo(filepath.Join(tb.Rootfs, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	tb.writeFile(t, "rootfs/evil", "#!/proc/self/exe --log=/fifo\n", 0o755)
	mark := "race-marker-" + strconv.Itoa(os.Getpid())
	tb.Spec.Hooks = &rspec.Hooks{StartContainer: []rspec.Hook{{Path: "/evil", Args: []string{"/evil", mark}}}}
	// The hook fails (minirun, run as its interpreter, knows no command
	// "/evil"), and a failed start kills the container's process: without
	// a PID namespace of the container's, the racer outlives it.
	tb.Spec.Linux.Namespaces = slices.DeleteFunc(tb.Spec.Linux.Namespaces, func(n rspec.LinuxNamespace) bool { return n.Type == rspec.PIDNamespace })
	// The hook keeps minirun's capabilities, and a process with fewer
	// may not open its /proc/PID/exe (ptrace's rule): the attacker here
	// holds as many, the worst case.
	tb.Spec.Process.Capabilities = allCapabilities()
	tb.save(t)
	before := snapshotHost(t)
	id := "attack-start"
	runDetached(t, "--root", root, "create", "--bundle", tb.Dir, id)
	t.Cleanup(func() { runBinary(t, nil, "--root", root, "delete", "--force", id) })
	racer := startBinary(t, nil, "--root", root, "exec", "--env", helperEnv+"=facts", id, "/helper", "race:"+mark+":/fifo")
	// The hook execs minirun's binary in the container, which blocks
	// opening the FIFO until the racer has it.
	_, stderr, code := runPrivate(t, bin, "--root", root, "start", id)
	t.Logf("minirun start: status %d, stderr %q", code, stderr)
	io.WriteString(racer.stdin, "go\n")
	f := parseFacts(t, racer.line(t))
	racer.wait(t)
	if _, stderr, code := runBinary(t, nil, "--root", root, "delete", "--force", id); code != 0 {
		t.Errorf("delete --force: status %d: %s", code, stderr)
	}
	checkNothingLeft(t, before)
	race := f.Probes["race:"+mark+":/fifo"]
	t.Logf("the racer: %q, final reopen: %q", race.Entries, race.Err)
	if race.Err != "EROFS" {
		t.Errorf("the racer's reopen of minirun's binary for writing: got %q (%q), want EROFS", race.Err, race.Entries)
	}
	checkBinary(t, bin, sum)
}
