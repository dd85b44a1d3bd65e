package container

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// hostLink makes a virtual interface on the host with an IPv4 and an IPv6
// address, and removes it at cleanup if it is still there. ifb is a
// device of its own, like dummy, and is built into more kernels.
func hostLink(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (Debian package iproute2): " + err.Error())
	}
	var made bool
	for _, kind := range []string{"dummy", "ifb"} {
		if exec.Command("ip", "link", "add", name, "type", kind).Run() == nil {
			made = true
			break
		}
	}
	if !made {
		t.Skip("this kernel makes neither a dummy nor an ifb interface")
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	for _, args := range [][]string{
		{"addr", "add", "192.0.2.10/24", "dev", name},
		{"addr", "add", "2001:db8::10/64", "dev", name, "nodad"},
		{"link", "set", name, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}

// ipShow is `ip -o addr show dev NAME` and `ip -o link show dev NAME` on
// the host; "" when the interface does not exist.
func ipShow(name string) string {
	link, err := exec.Command("ip", "-o", "link", "show", "dev", name).Output()
	if err != nil {
		return ""
	}
	addr, _ := exec.Command("ip", "-o", "addr", "show", "dev", name).Output()
	return string(link) + string(addr)
}

// TestRunNetDevices moves a host interface into the container under a new
// name: inside it has its addresses and is up. When the container ends
// the kernel takes it back with the namespace (runtime-spec: the runtime
// must not move it out) — a virtual interface is gone then. A setup that
// fails after the move gives it back to the host as it was.
func TestRunNetDevices(t *testing.T) {
	needRoot(t, "moves host network interfaces")
	const script = `ip addr show dev ctr0 | grep -q 'inet 192.0.2.10/24' || echo "no IPv4 address"
ip addr show dev ctr0 | grep -q 'inet6 2001:db8::10/64' || echo "no IPv6 address"
ip link show dev ctr0 | grep -q '<.*UP.*>' || echo "not up"
ip link show dev mrtest0 >/dev/null 2>&1 && echo "the host name is still there"
echo done`
	t.Run("moved in, renamed, addresses kept, up", func(t *testing.T) {
		hostLink(t, "mrtest0")
		tb := busyboxBundle(t, specs.GenerateOptions{}, script)
		tb.Spec.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"mrtest0": {Name: "ctr0"}}
		before := snapshotHost(t)
		code, out, err := runCaptured(t, tb.save(t))
		checkNothingLeft(t, before)
		if err != nil || code != 0 || out != "done\n" {
			t.Errorf("got exit status %d, error %v, stdout %q; want 0, none and only \"done\"", code, err, out)
		}
		if got := ipShow("mrtest0"); got != "" {
			t.Errorf("the host after the container: got %q, want no mrtest0 (a virtual device ends with the namespace)", got)
		}
	})
	t.Run("a failed setup gives it back", func(t *testing.T) {
		hostLink(t, "mrtest1")
		was := ipShow("mrtest1")
		tb := busyboxBundle(t, specs.GenerateOptions{}, script)
		tb.Spec.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"mrtest1": {Name: "ctr0"}}
		// Fails after the namespaces point, at the mounts.
		tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/x", Type: "nosuchfs", Source: "none"})
		before := snapshotHost(t)
		_, out, err := runCaptured(t, tb.save(t))
		checkNothingLeft(t, before)
		if want := fmt.Sprintf("mounts[%d]: nosuchfs on /x: no such device", len(tb.Spec.Mounts)-1); err == nil || err.Error() != want || out != "" {
			t.Errorf("got error %v and stdout %q, want %q and nothing", err, out, want)
		}
		// The same name, addresses and state; the index may differ.
		norm := func(s string) string {
			var keep []string
			for _, l := range strings.Split(s, "\n") {
				if f := strings.Fields(l); len(f) > 2 {
					keep = append(keep, strings.Join(f[1:], " "))
				}
			}
			return strings.Join(keep, "\n")
		}
		if now := ipShow("mrtest1"); norm(now) != norm(was) {
			t.Errorf("mrtest1 on the host after the failed setup: got\n%s\nwant it as before:\n%s", now, was)
		}
	})
	t.Run("no such interface", func(t *testing.T) {
		tb := busyboxBundle(t, specs.GenerateOptions{}, script)
		tb.Spec.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"mrnosuch0": {}}
		before := snapshotHost(t)
		_, _, err := runCaptured(t, tb.save(t))
		checkNothingLeft(t, before)
		if want := `linux.netDevices["mrnosuch0"]: no network interface "mrnosuch0" on the host`; err == nil || err.Error() != want {
			t.Errorf("got error %v, want %q", err, want)
		}
	})
	t.Run("name taken in the container", func(t *testing.T) {
		hostLink(t, "mrtest2")
		tb := busyboxBundle(t, specs.GenerateOptions{}, script)
		tb.Spec.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"mrtest2": {Name: "lo"}}
		before := snapshotHost(t)
		_, _, err := runCaptured(t, tb.save(t))
		checkNothingLeft(t, before)
		if want := `linux.netDevices["mrtest2"].name: "lo" already exists in the container's network namespace`; err == nil || err.Error() != want {
			t.Errorf("got error %v, want %q", err, want)
		}
		if got := ipShow("mrtest2"); !strings.Contains(got, "mrtest2") {
			t.Errorf("mrtest2 on the host after the refused move: got %q, want it there", got)
		}
	})
}
