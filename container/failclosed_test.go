package container

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// The attacks of issue 6: configs that ran with more privilege than they
// asked for. Each test attacks, and the attack must fail.

// withoutPIDNamespace drops the PID namespace: the process then sees
// minirun's own pid as its parent's.
func withoutPIDNamespace(tb *testBundle) {
	tb.Spec.Linux.Namespaces = slices.DeleteFunc(tb.Spec.Linux.Namespaces, func(n rspec.LinuxNamespace) bool { return n.Type == rspec.PIDNamespace })
}

// TestRunNoCapabilities runs configs without process.capabilities: the
// process must have none at all (runc's reading), where it used to keep
// every capability minirun had.
func TestRunNoCapabilities(t *testing.T) {
	needRoot(t, "creates namespaces; the attacks need a root process to attack from")
	t.Run("every set empty", func(t *testing.T) {
		tb := helperBundle(t, specs.GenerateOptions{})
		tb.Spec.Process.Capabilities = nil
		f := runFacts(t, tb)
		for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if got := f.Status[set]; got != "0000000000000000" {
				t.Errorf("%s: got %s, want 0000000000000000", set, got)
			}
		}
	})
	t.Run("/proc/sys and a host sysctl", func(t *testing.T) {
		// The default config makes /proc/sys read-only; with minirun's
		// capabilities the process could undo that and write the host's
		// vm.* sysctls, which no namespace holds. (It writes the value
		// back as it was, so a failing test changes nothing.)
		const script = `v=$(cat /proc/sys/vm/overcommit_ratio)
mount -o remount,bind,rw /proc/sys 2>/dev/null && echo "remounted /proc/sys read-write"
umount /proc/sys 2>/dev/null && echo "unmounted the read-only /proc/sys"
mount -t proc proc /dev/shm 2>/dev/null && echo "mounted a proc of its own"
echo "$v" 2>/dev/null >/proc/sys/vm/overcommit_ratio && echo "wrote the host's vm.overcommit_ratio"
echo "$v" 2>/dev/null >/dev/shm/sys/vm/overcommit_ratio && echo "wrote the host's vm.overcommit_ratio through its own proc"
echo done`
		tb := busyboxBundle(t, specs.GenerateOptions{}, script)
		tb.Spec.Process.Capabilities = nil
		before := snapshotHost(t)
		code, out, err := runCaptured(t, tb.save(t))
		checkNothingLeft(t, before)
		if err != nil || code != 0 || out != "done\n" {
			t.Errorf("got exit status %d, error %v, stdout %q; want 0, none and only \"done\": the attack must fail", code, err, out)
		}
	})
	t.Run("overwrite the runtime (CVE-2019-5736)", func(t *testing.T) {
		// Without a PID namespace minirun is the process's parent, and
		// /proc/PPID/exe is minirun's binary. A process that opens it keeps
		// it; once minirun has exited (no more ETXTBSY) it reopens it for
		// writing through /proc/self/fd and overwrites the runtime the
		// next container will run. A copy of minirun is attacked, and must
		// be unchanged afterwards.
		dir := tempDir(t)
		bin := filepath.Join(dir, "minirun")
		copyFile(t, minirunBin, bin, 0o755)
		orig, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		if err := os.Mkdir(out, 0o777); err != nil {
			t.Fatal(err)
		}
		const script = `(
	if ! (exec 3</proc/$PPID/exe) 2>/dev/null; then echo denied >/out/result; exit 0; fi
	exec 3</proc/$PPID/exe
	echo >/out/opened
	i=0
	while [ $i -lt 200 ]; do
		if (echo pwned >/proc/self/fd/3) 2>/dev/null; then echo overwrote >/out/result; exit 0; fi
		i=$((i+1))
		sleep 0.05
	done
	echo "opened, but could not write" >/out/result
) </dev/null >/dev/null 2>&1 &
# minirun must still be there while the attacker opens its binary.
while [ ! -e /out/opened ] && [ ! -e /out/result ]; do sleep 0.01; done
exit 0`
		tb := busyboxBundle(t, specs.GenerateOptions{}, script)
		tb.Spec.Process.Capabilities = nil
		withoutPIDNamespace(tb)
		tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"bind", "rw"}})
		tb.save(t)
		cmd := exec.Command(bin, "run", tb.config())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("minirun run: %v; stderr %q", err, stderr.String())
		}
		// The attacker outlives minirun and writes its verdict. Wait for
		// it (a bound for a broken test, not a measure of anything).
		var result []byte
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if result, err = os.ReadFile(filepath.Join(out, "result")); err == nil && len(result) > 0 {
				break
			}
		}
		if got := string(result); got != "denied\n" {
			t.Errorf("opening minirun's /proc/PID/exe from the container: got %q, want \"denied\"", got)
		}
		if now, err := os.ReadFile(bin); err != nil || !bytes.Equal(now, orig) {
			t.Errorf("the minirun binary after the container: got %d bytes (%v), want it unchanged (%d bytes)", len(now), err, len(orig))
		}
	})
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(o, in); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}
