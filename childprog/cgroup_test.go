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

// TestCompileCgroupV1Mount: a cgroup mount on a v1 host is a tmpfs at
// its destination, opened once; in it each hierarchy's folder is made and
// opened beneath it (through no symlink), the container's own cgroup of
// the hierarchy bound there (no cgroup namespace), a name for each
// controller of a combined hierarchy linked to it, and the tmpfs made
// read-only last. No path is walked from the rootfs again.
func TestCompileCgroupV1Mount(t *testing.T) {
	s := loadSpec(t, "runc-default.json")
	env := testEnv()
	env.CgroupPath = "/minirun/c1"
	env.CgroupHierarchies = []CgroupHierarchy{
		{Dir: "cpu,cpuacct", FSType: "cgroup", Options: "cpu,cpuacct"},
		{Dir: "memory", FSType: "cgroup", Options: "memory"},
	}
	plan, err := Compile(s, env)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Free()
	calls, labels := plan.Program.Steps()
	var got []string
	for i, c := range calls {
		if strings.HasPrefix(labels[i], "mounts[6]") {
			got = append(got, c)
		}
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{
		`fsopen("tmpfs", FSOPEN_CLOEXEC) = fd<tmpfs>`,
		`openat2(fd<rootfs>, "sys/fs/cgroup", {flags=O_DIRECTORY|O_CLOEXEC|O_PATH, mode=0, resolve=RESOLVE_IN_ROOT}, 24) = fd<sys/fs/cgroup>`,
		`mkdirat(fd<sys/fs/cgroup>, "cpu,cpuacct", 0755)`,
		`openat2(fd<sys/fs/cgroup>, "cpu,cpuacct", {flags=O_DIRECTORY|O_CLOEXEC|O_PATH, mode=0, resolve=RESOLVE_NO_MAGICLINKS|RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH}, 24) = fd<sys/fs/cgroup/cpu,cpuacct>`,
		`open_tree(AT_FDCWD, "/sys/fs/cgroup/cpu,cpuacct/minirun/c1", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_RECURSIVE) = fd<tree>`,
		`symlinkat("cpu,cpuacct", fd<sys/fs/cgroup>, "cpu")`,
		`symlinkat("cpu,cpuacct", fd<sys/fs/cgroup>, "cpuacct")`,
		`mkdirat(fd<sys/fs/cgroup>, "memory", 0755)`,
		`open_tree(AT_FDCWD, "/sys/fs/cgroup/memory/minirun/c1", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_RECURSIVE) = fd<tree>`,
		`mount_setattr(fd<sys/fs/cgroup>, "", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_RDONLY, attr_clr=0}, 32)`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("mounts[6]: no step %s in:\n%s", want, text)
		}
	}
	// The rootfs is walked to the destination once, for the tmpfs, and
	// opened at it once more, after the tmpfs is on it.
	if n := strings.Count(text, "mkdirat(fd<rootfs>"); n != 1 {
		t.Errorf("mounts[6]: %d mkdirat from the rootfs, want 1 (sys, for the tmpfs):\n%s", n, text)
	}
	if n := strings.Count(text, `openat2(fd<rootfs>, "sys/fs/cgroup"`); n != 2 {
		t.Errorf("mounts[6]: %d opens of sys/fs/cgroup from the rootfs, want 2 (before the tmpfs and after):\n%s", n, text)
	}
	if last := got[len(got)-1]; last != "close(fd<sys/fs/cgroup>)" {
		t.Errorf("mounts[6]: last step %q, want the tmpfs's fd closed", last)
	}
}
