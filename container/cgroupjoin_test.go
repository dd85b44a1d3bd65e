package container

import (
	"os"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// TestRunCgroupJoin: the container's process is in the container's
// cgroup in every hierarchy of the host, cgroup v1 ones included, which it
// joins by itself through their tasks files (childprog's joinCgroups):
// also from a new user namespace, whose credentials could not have opened
// those files, and before a new cgroup namespace is rooted (the process
// then sees its cgroup as "/").
func TestRunCgroupJoin(t *testing.T) {
	needRoot(t, "makes cgroups")
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	hierarchies := len(strings.Split(strings.TrimSpace(string(own)), "\n"))
	for _, c := range []struct {
		name     string
		opts     specs.GenerateOptions
		cgroupNS bool
	}{
		{name: "default"},
		{name: "user namespace", opts: specs.GenerateOptions{Rootless: true}},
		{name: "cgroup namespace", cgroupNS: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snapshotHost(t)
			tb := helperBundle(t, c.opts, "read:/proc/self/cgroup")
			var nss []rspec.LinuxNamespace
			for _, n := range tb.Spec.Linux.Namespaces {
				if n.Type != rspec.CgroupNamespace {
					nss = append(nss, n)
				}
			}
			if c.cgroupNS {
				nss = append(nss, rspec.LinuxNamespace{Type: rspec.CgroupNamespace})
			}
			tb.Spec.Linux.Namespaces = nss
			f := runFacts(t, tb)
			lines := strings.Split(strings.TrimSpace(f.Probes["read:/proc/self/cgroup"].Content), "\n")
			if len(lines) != hierarchies {
				t.Fatalf("got %d hierarchies in the container's /proc/self/cgroup, want the host's %d: %q", len(lines), hierarchies, lines)
			}
			for _, l := range lines {
				parts := strings.SplitN(l, ":", 3)
				if len(parts) != 3 {
					t.Fatalf("/proc/self/cgroup line %q", l)
				}
				p := parts[2]
				if c.cgroupNS && p != "/" || !c.cgroupNS && !strings.HasPrefix(p, "/minirun/run-") {
					want := "/minirun/run-…"
					if c.cgroupNS {
						want = "/ (the cgroup namespace's root)"
					}
					t.Errorf("hierarchy %s: the process is in %q, want %s", parts[1], p, want)
				}
			}
			checkNothingLeft(t, before)
		})
	}
}
