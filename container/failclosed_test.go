package container

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/cgroups"
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

// runRefused runs tb in-process and checks that validation refused it
// with exactly want (after the config's path), before anything started.
func runRefused(t *testing.T, tb *testBundle, want string) {
	t.Helper()
	b := tb.save(t)
	before := snapshotHost(t)
	code, out, err := runCaptured(t, b)
	checkNothingLeft(t, before)
	want = b.Path + ": " + want
	switch {
	case err == nil:
		if len(out) > 300 {
			out = out[:300] + "…"
		}
		t.Errorf("Run: got exit status %d, stdout %q and no error, want error %q", code, out, want)
	case err.Error() != want:
		t.Errorf("Run: got error %q, want %q", err, want)
	}
}

// TestRunHighIDs asks for ids the kernel cannot hold: (uid_t)-1 means
// "unchanged" to setresuid, so the process ran as minirun's root.
func TestRunHighIDs(t *testing.T) {
	needRoot(t, "runs containers as root, whose uid an id of -1 would keep")
	cases := []struct {
		name string
		user rspec.User
		want string
	}{
		{"uid 4294967295", rspec.User{UID: 4294967295, GID: 1000}, "process.user.uid: 4294967295 is out of range 0 to 2147483647"},
		{"gid 4294967295", rspec.User{UID: 1000, GID: 4294967295}, "process.user.gid: 4294967295 is out of range 0 to 2147483647"},
		{"additional gid 4294967295", rspec.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{4294967295}},
			"process.user.additionalGids[0]: 4294967295 is out of range 0 to 2147483647"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			tb.Spec.Process.User = c.user
			runRefused(t, tb, c.want)
		})
	}
}

// TestRunNULInPath gives a mount destination with a NUL byte: the kernel
// reads up to it, so "/tmp\x00/../etc" was mounted on /tmp, not where
// the whole string, cleaned, points.
func TestRunNULInPath(t *testing.T) {
	needRoot(t, "creates mount namespaces")
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/tmp\x00/../etc", Type: "tmpfs", Source: "tmpfs"})
	runRefused(t, tb, fmt.Sprintf("mounts[%d].destination: contains a NUL byte", len(tb.Spec.Mounts)-1))
}

// TestRunRefusedFields: a config that asks for what this host's cgroups
// cannot apply gets one line per field (here: a leaf weight CFQ took with
// it, net_cls, net_prio and rdma, which this kind of machine lacks), and
// nothing starts.
func TestRunRefusedFields(t *testing.T) {
	needRoot(t, "runs containers")
	tb := busyboxBundle(t, specs.GenerateOptions{}, "echo started")
	leaf, classID := uint16(100), uint32(5)
	tb.Spec.Linux.Resources = &rspec.LinuxResources{
		BlockIO: &rspec.LinuxBlockIO{LeafWeight: &leaf},
		Network: &rspec.LinuxNetwork{ClassID: &classID, Priorities: []rspec.LinuxInterfacePriority{{Name: "eth0", Priority: 1}}},
		Rdma:    map[string]rspec.LinuxRdma{"mlx": {}},
	}
	host, err := cgroups.DetectHost()
	if err != nil {
		t.Fatal(err)
	}
	problems := host.Check(tb.Spec.Linux.Resources)
	if len(problems) < 2 {
		t.Skipf("this host's cgroups apply all but %d of these fields: the test needs a host that lacks several", len(problems))
	}
	b := tb.save(t)
	before := snapshotHost(t)
	code, out, err := runCaptured(t, b)
	checkNothingLeft(t, before)
	var want []string
	for _, p := range problems {
		want = append(want, b.Path+": "+p.Path+": "+p.Msg)
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got exit status %d, stdout %q, error %v; want\n%s", code, out, err, strings.Join(want, "\n"))
	}
}
