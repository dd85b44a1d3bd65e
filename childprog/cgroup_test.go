package childprog

import (
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/clonecore"
)

// TestCompileCgroupTasks: with cgroup v1 hierarchies to join, the child
// writes "0" to each one's tasks file right after its lifeline, before
// any namespace is joined and before a new cgroup namespace is made; the
// parent gets one arena word per hierarchy, and no point to stop at for
// it.
func TestCompileCgroupTasks(t *testing.T) {
	for _, cgroupNS := range []bool{false, true} {
		s := loadSpec(t, "runc-default.json")
		if cgroupNS {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.CgroupNamespace})
		}
		env := testEnv()
		env.CgroupTasks = []string{"memory", "name=systemd"}
		plan, err := Compile(s, env)
		if err != nil {
			t.Fatal(err)
		}
		defer plan.Free()
		calls, labels := plan.Program.Steps()
		if len(plan.CgroupTasks) != 2 || len(plan.Points) != 0 {
			t.Errorf("cgroup ns %v: got %d tasks words and points %v; want 2 and no point", cgroupNS, len(plan.CgroupTasks), plan.Points)
		}
		// After the lifeline: not dumpable, pdeathsig, the check that
		// minirun lives and its close, the close of the state folder's
		// lock. The first write is the first join.
		first := -1
		for i, c := range calls {
			if strings.HasSuffix(c, "tasks>, \"0\", 1)") {
				first = i
				break
			}
		}
		if first < 0 || strings.HasPrefix(labels[first-1], "linux.namespaces") {
			t.Fatalf("cgroup ns %v: no tasks write right after the lifeline:\n%s", cgroupNS, plan.Explain())
		}
		for _, l := range labels[:first] {
			if !strings.HasPrefix(l, "minirun: ") {
				t.Errorf("cgroup ns %v: before the joins, step %q: want only the lifeline's steps", cgroupNS, l)
			}
		}
		for i, h := range env.CgroupTasks {
			call, label := calls[first+i], labels[first+i]
			if want := "write(fd<" + h + " tasks>, \"0\", 1)"; call != want || !strings.HasPrefix(label, "linux.cgroupsPath: ") || !strings.Contains(label, h) {
				t.Errorf("cgroup ns %v: step %d: got %q # %q, want %q # linux.cgroupsPath: … %s", cgroupNS, first+i, call, label, want, h)
			}
		}
		unshare := -1
		for i, c := range calls {
			if c == "unshare(CLONE_NEWCGROUP)" {
				unshare = i
			}
		}
		if cgroupNS != (unshare > first+1) || (cgroupNS && plan.Flags&clonecore.NEWCGROUP != 0) {
			t.Errorf("cgroup ns %v: unshare(CLONE_NEWCGROUP) at step %d, clone flags %s: want it after the joins and not in the clone", cgroupNS, unshare, plan.Flags)
		}
	}
}
