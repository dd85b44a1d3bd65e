package container

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

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
