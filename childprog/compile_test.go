package childprog

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/specs"
)

var update = flag.Bool("update", false, "rewrite the golden listings in testdata/compile")

// testEnv is a host as the golden listings assume it: a hybrid cgroup
// layout like this project's machines, kernel capabilities up to 40.
func testEnv() CompileEnv {
	return CompileEnv{
		BundleDir:   "/bundle",
		Rootfs:      "/bundle/rootfs",
		IsFile:      func(p string) bool { return p == "/etc/hosts" || p == "/proc/kcore" || p == "/proc/keys" },
		IsDir:       func(p string) bool { return p == "/proc/acpi" || p == "/sys/firmware" },
		LastCap:     40,
		ParentCheck: true,
		SeccompArch: "amd64",
		CloseFDs:    1,
		CgroupHierarchies: []CgroupHierarchy{
			{Dir: "memory", FSType: "cgroup", Options: "memory"},
			{Dir: "unified", FSType: "cgroup2"},
		},
	}
}

// loadSpec loads testdata/compile/NAME.
func loadSpec(t testing.TB, name string) *rspec.Spec {
	t.Helper()
	s, err := specs.Load(filepath.Join("testdata", "compile", name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func compileFile(t *testing.T, name string, env CompileEnv) *Plan {
	t.Helper()
	s := loadSpec(t, name)
	plan, err := Compile(s, env)
	if err != nil {
		t.Fatalf("Compile(%s): %v", name, err)
	}
	t.Cleanup(plan.Free)
	return plan
}

// TestCompileGolden compares each spec's --explain listing with the one in
// testdata/compile/NAME.explain (go test -run Golden -update rewrites them
// after a reviewed change).
func TestCompileGolden(t *testing.T) {
	for _, name := range []string{"runc-default", "rootless", "joins", "full", "nomount", "settings", "settings-exec", "seccomp", "seccomp-nnp"} {
		t.Run(name, func(t *testing.T) {
			env := testEnv()
			if name == "rootless" {
				env.Rootless = true
			}
			file := name + ".json"
			if name == "settings-exec" {
				// The same config, compiled as exec will: the exec
				// CPU affinity applies.
				env.Exec, file = true, "settings.json"
			}
			plan := compileFile(t, file, env)
			if err := plan.Verify(); err != nil {
				t.Errorf("Verify: %v", err)
			}
			got := plan.Explain()
			golden := filepath.Join("testdata", "compile", name+".explain")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./specs -run Golden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("listing of %s differs from %s; got:\n%s", name, golden, got)
			}
		})
	}
}

// TestCompileShape checks the properties the parent relies on, spec by spec.
func TestCompileShape(t *testing.T) {
	tests := []struct {
		name                    string
		rootless                bool
		wantFlags, wantNotFlags clonecore.Flags
		userNS, doubleFork, tty bool
		joins                   int
		uidMap, gidMap          string
		setgroupsDeny           bool
		wantSteps, wantNotSteps []string
		timeOffsets             string
	}{
		{name: "runc-default",
			wantFlags:    clonecore.VM | clonecore.CLEAR_SIGHAND | clonecore.NEWNS | clonecore.NEWPID | clonecore.NEWNET | clonecore.NEWUTS | clonecore.NEWIPC,
			wantNotFlags: clonecore.NEWUSER | clonecore.PIDFD,
			wantSteps: []string{`pivot_root(".", ".")`, `sethostname("runc", 4)`, `execve("/usr/local/sbin/sh"`, `execve("/bin/sh"`,
				`mount_setattr(AT_FDCWD, "/", 0, {attr_set=MOUNT_ATTR_RDONLY, attr_clr=0}, 32)`, `prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN)`},
			wantNotSteps: []string{`prctl(PR_CAPBSET_DROP, CAP_KILL)`, "setresuid(0, 0, 0)                 # linux.uidMappings"}},
		{name: "rootless", rootless: true,
			wantFlags: clonecore.VM | clonecore.NEWUSER | clonecore.NEWNS, userNS: true,
			uidMap: "0 65534 1\n", gidMap: "0 65534 1\n", setgroupsDeny: true,
			wantSteps:    []string{`read(fd<sync>, buf, 1)`, `setresuid(0, 0, 0)`, `open_tree(AT_FDCWD, "/sys/fs/cgroup"`, `execve("/bin/sh"`},
			wantNotSteps: []string{`S_IFCHR`, `setgroups(`, `execve("/usr/local/sbin`}},
		{name: "joins", joins: 4, doubleFork: true,
			wantFlags:    clonecore.CLEAR_SIGHAND,
			wantNotFlags: clonecore.VM | clonecore.NEWNS | clonecore.NEWUTS | clonecore.NEWPID | clonecore.NEWUSER | clonecore.NEWIPC | clonecore.NEWNET,
			wantSteps: []string{`setns(fd</proc/4242/ns/user>, CLONE_NEWUSER)`, `unshare(CLONE_NEWNS|CLONE_NEWUTS)`, `clone(CLONE_PARENT|CLONE_PARENT_SETTID|SIGCHLD`, `exit_if(pid != 0, 0)`,
				// No process.capabilities: none at all, not minirun's.
				`prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN)                        # process.capabilities (absent, so none): drop CAP_SYS_ADMIN from the bounding set`,
				`capset({_LINUX_CAPABILITY_VERSION_3, 0}, {effective=0x0, permitted=0x0, inheritable=0x0}) # process.capabilities (absent, so none)`},
			wantNotSteps: []string{`PR_SET_KEEPCAPS`}},
		{name: "full", tty: true, doubleFork: true, timeOffsets: "boottime -5 500\nmonotonic 86400 0\n",
			wantFlags: clonecore.PIDFD | clonecore.VM, wantNotFlags: clonecore.NEWTIME | clonecore.NEWPID,
			wantSteps: []string{`ioctl(fd<ptmx>, TIOCGPTPEER, O_RDWR|O_NOCTTY) = fd<pty>`, `setgroups(2, [10, 20])`, `setresgid(100, 100, 100)`,
				`prctl(PR_SET_KEEPCAPS, 1)`, `setresuid(1000, 1000, 1000)`, `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE)`,
				`mknodat(fd<dev>, "fuse", S_IFCHR|0600, makedev(10, 229))`, `fchownat(fd<dev>, "fuse", 1000, 100, AT_SYMLINK_NOFOLLOW)`,
				`mkdirat(fd<dev>, "net", 0755)`, `open_tree(AT_FDCWD, "/bundle/data", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_RECURSIVE)`,
				`{attr_set=MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV, attr_clr=0}`, `{propagation=MS_SLAVE}`,
				`mknodat(fd<etc>, "hosts", S_IFREG|0644, 0)`,
				`openat(fd<mnt>, "sys/net/ipv4/ip_forward", O_WRONLY|O_CLOEXEC, 0)`, `write(fd</proc/self/oom_score_adj>, "500", 3)`,
				`prlimit64(0, RLIMIT_NOFILE, {cur=256, max=512}, NULL)`, `umask(077)`, `prctl(PR_SET_NO_NEW_PRIVS, 1)`,
				`mkdirat(fd<home/app>, "work", 0755)`, `fchdir(fd<home/app/work>)`, `unshare(CLONE_NEWTIME|CLONE_NEWPID)`,
				`read(fd<sync>, buf, 1)                                       # linux.namespaces: wait for minirun to write the clock offsets`, `execve("/opt/bin/app"`, `execve("/usr/bin/app"`,
				`mount(NULL, "/", NULL, MS_PRIVATE, NULL)`, `setdomainname("example.test", 12)`},
			wantNotSteps: []string{`execve("/bin/app"`}},
		{name: "nomount",
			wantFlags: clonecore.VM | clonecore.NEWPID | clonecore.NEWNET | clonecore.NEWUTS, wantNotFlags: clonecore.NEWNS,
			wantSteps: []string{`chdir("/bundle/rootfs")`, `chroot(".")`, `mkdirat(fd</>, "work", 0755)`, `fchdir(fd<work>)`,
				`write(fd</proc/self/oom_score_adj>, "100", 3)`, `write(fd</proc/sys/net/ipv4/ip_forward>, "1", 1)`},
			wantNotSteps: []string{`pivot_root(`, `mount(`, `mknodat(`, `open_tree(`, `fsmount(`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv()
			env.Rootless = tt.rootless
			p := compileFile(t, tt.name+".json", env)
			if p.Flags&tt.wantFlags != tt.wantFlags {
				t.Errorf("flags %v: want all of %v", p.Flags, tt.wantFlags)
			}
			if p.Flags&tt.wantNotFlags != 0 {
				t.Errorf("flags %v: want none of %v", p.Flags, tt.wantNotFlags)
			}
			if p.UserNS != tt.userNS || p.DoubleFork != tt.doubleFork || (p.Console != 0) != tt.tty {
				t.Errorf("UserNS, DoubleFork, terminal = %v, %v, %v; want %v, %v, %v", p.UserNS, p.DoubleFork, p.Console != 0, tt.userNS, tt.doubleFork, tt.tty)
			}
			if len(p.Joins) != tt.joins || len(p.JoinFDs) != tt.joins {
				t.Errorf("got %d joins and %d fd words, want %d", len(p.Joins), len(p.JoinFDs), tt.joins)
			}
			if p.TimeOffsets != tt.timeOffsets {
				t.Errorf("time offsets %q, want %q", p.TimeOffsets, tt.timeOffsets)
			}
			if p.UIDMap != tt.uidMap || p.GIDMap != tt.gidMap || p.SetgroupsDeny != tt.setgroupsDeny {
				t.Errorf("maps %q %q deny=%v, want %q %q deny=%v", p.UIDMap, p.GIDMap, p.SetgroupsDeny, tt.uidMap, tt.gidMap, tt.setgroupsDeny)
			}
			listing := p.Explain()
			for _, s := range tt.wantSteps {
				if !strings.Contains(listing, s) {
					t.Errorf("listing lacks %s", s)
				}
			}
			for _, s := range tt.wantNotSteps {
				if strings.Contains(listing, s) {
					t.Errorf("listing has %s, want it absent", s)
				}
			}
		})
	}
}

// TestCompileOrder checks that the steps come in the order the kernel
// needs: setns before the double fork, the id-map wait before anything that
// needs the maps, the whole tree a slave before the first mount, mounts
// before pivot_root, the asked root propagation after the last mount, the
// bounding set before the uid change, capset after it, unblocking signals
// last before execve.
func TestCompileOrder(t *testing.T) {
	p := compileFile(t, "full.json", testEnv())
	listing := p.Explain()
	order := []string{
		"PR_SET_PDEATHSIG, SIGKILL", `unshare(CLONE_NEWTIME|CLONE_NEWPID)`, `read(fd<sync>`, `clone(CLONE_PARENT`, `exit_if(`,
		"umask(0)", `mount(NULL, "/", NULL, MS_REC|MS_SLAVE, NULL)`, `fsopen("proc"`, `mknodat(fd<dev>, "null"`, `mkdirat(fd<home/app>, "work"`,
		`pivot_root(".", ".")`, `fsopen("proc"`, `"sys/net/ipv4/ip_forward"`, `linux.maskedPaths[0]`, `linux.readonlyPaths[0]`,
		`mount(NULL, "/", NULL, MS_PRIVATE, NULL)`, `openat(AT_FDCWD, "/dev/ptmx"`,
		`setsid()`, `sethostname(`, `prlimit64(`, `fchdir(fd<home/app/work>)`, `PR_CAPBSET_DROP`,
		`setgroups(`, `setresgid(`, `PR_SET_KEEPCAPS`, `setresuid(`, `capset(`, `PR_CAP_AMBIENT`, `umask(077)`,
		`PR_SET_NO_NEW_PRIVS`, `close_range(3,`, `rt_sigprocmask(SIG_SETMASK, [], NULL, 8)`, `execve(`,
	}
	at := 0
	for _, s := range order {
		i := strings.Index(listing[at:], s)
		if i < 0 {
			t.Fatalf("%q missing after position %d (or out of order)", s, at)
		}
		at += i
	}
}

// TestCompileOrderNoMount: without a mount namespace, what goes through
// the host's /proc comes before the chroot, and the cwd is made after it,
// inside the rootfs.
func TestCompileOrderNoMount(t *testing.T) {
	listing := compileFile(t, "nomount.json", testEnv()).Explain()
	order := []string{`/proc/self/oom_score_adj`, `/proc/sys/net/ipv4/ip_forward`, `chdir("/bundle/rootfs")`, `chroot(".")`,
		`chdir("/")`, `sethostname(`, `mkdirat(fd</>, "work", 0755)`, `fchdir(fd<work>)`, `execve("/bin/app"`}
	at := 0
	for _, s := range order {
		i := strings.Index(listing[at:], s)
		if i < 0 {
			t.Fatalf("%q missing after position %d (or out of order); listing:\n%s", s, at, listing)
		}
		at += i
	}
}

// TestCompileImageLinks: mount destinations are resolved through the
// image's symlinks before the child gets them, dangling ones included, and a
// loop is refused naming the mount.
func TestCompileImageLinks(t *testing.T) {
	s := loadSpec(t, "runc-default.json")
	env := testEnv()
	env.ImageEntry = fakeImage{
		"etc":             "",
		"etc/resolv.conf": "->../run/systemd/resolve/stub-resolv.conf",
		"dev":             "",
		"dev/x":           "->/escape", // hidden by the /dev tmpfs once mounted
		"loop":            "->loop",
	}.entry
	env.IsFile = func(p string) bool { return p == "/host/resolv.conf" }
	n := len(s.Mounts)
	s.Mounts = append(s.Mounts,
		rspec.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: "/host/resolv.conf", Options: []string{"bind"}},
		rspec.Mount{Destination: "/dev/x", Type: "tmpfs", Source: "tmpfs"})
	p, err := Compile(s, env)
	if err != nil {
		t.Fatal(err)
	}
	listing := p.Explain()
	p.Free()
	for _, want := range []string{
		`mkdirat(fd<run/systemd>, "resolve", 0755)`,
		`mknodat(fd<run/systemd/resolve>, "stub-resolv.conf", S_IFREG|0644, 0) # mounts[` + itoa(n) + `]: bind /host/resolv.conf on /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf`,
		`mkdirat(fd<dev>, "x", 0755)                                  # mounts[` + itoa(n+1) + `]: tmpfs on /dev/x`,
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("listing lacks %s", want)
		}
	}
	if strings.Contains(listing, "escape") {
		t.Errorf("listing follows the image's /dev link below the /dev mount, want it hidden")
	}
	s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/loop/x", Type: "tmpfs", Source: "tmpfs"})
	want := "mounts[" + itoa(n+2) + "].destination: /loop/x: too many levels of symbolic links in the image"
	if _, err := Compile(s, env); err == nil || err.Error() != want {
		t.Errorf("Compile with a loop: got %v, want %s", err, want)
	}
}

// TestCompileIDMapped: an idmapped bind mount is the parent's to make
// before the clone and the child's to move into place; without root it is
// refused naming the field (in a joined mount namespace, Validate refuses
// every mount).
func TestCompileIDMapped(t *testing.T) {
	load := func(t *testing.T, name string) (*rspec.Spec, int) {
		s := loadSpec(t, name)
		m := []rspec.LinuxIDMapping{{ContainerID: 1000, HostID: 2000, Size: 10}}
		s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/data", Type: "bind", Source: "/srv/data",
			Options: []string{"rbind", "ro", "ridmap", "rshared"}, UIDMappings: m, GIDMappings: m})
		return s, len(s.Mounts) - 1
	}
	s, i := load(t, "runc-default.json")
	p, err := Compile(s, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	listing := p.Explain()
	got := p.IDMapped
	p.Free()
	label := "mounts[" + itoa(i) + "]: bind /srv/data on /data"
	want := []IDMappedMount{{Label: label, Source: "/srv/data", Recursive: true, RecursiveIDMap: true,
		UIDMap: "1000 2000 10\n", GIDMap: "1000 2000 10\n", AttrSet: unix.MOUNT_ATTR_RDONLY}}
	if len(got) != 1 || got[0].FD == 0 {
		t.Fatalf("IDMapped: got %+v, want one with an fd word", got)
	}
	got[0].FD = 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("IDMapped: got %+v, want %+v", got, want)
	}
	for _, w := range []string{
		"parent before the clone: " + label + `: open_tree("/srv/data", OPEN_TREE_CLONE|AT_RECURSIVE), mount_setattr({attr_set=MOUNT_ATTR_RDONLY, attr_clr=0}), mount_setattr(AT_RECURSIVE, {attr_set=MOUNT_ATTR_IDMAP`,
		`move_mount(fd<mounts[` + itoa(i) + `] idmapped>, "", fd<data>, ""`,
		`mount_setattr(fd<mounts[` + itoa(i) + `] idmapped>, "", AT_EMPTY_PATH|AT_RECURSIVE, {propagation=MS_SHARED}, 32)`,
	} {
		if !strings.Contains(listing, w) {
			t.Errorf("listing lacks %s", w)
		}
	}
	if strings.Contains(listing, `open_tree(AT_FDCWD, "/srv/data"`) {
		t.Errorf("the child clones the tree itself, want the parent's")
	}

	// Without root the mapping cannot be made outside the container.
	s, i = load(t, "rootless.json")
	env := testEnv()
	env.Rootless = true
	wantErr := "mounts[" + itoa(i) + "].uidMappings: an idmapped mount needs minirun to run as root: the mapping is made by minirun, outside the container"
	if _, err := Compile(s, env); err == nil || err.Error() != wantErr {
		t.Errorf("Compile rootless: got %v, want %s", err, wantErr)
	}
}

// TestCompileErrors checks what Compile refuses on its own (Validate
// reports the rest before).
func TestCompileErrors(t *testing.T) {
	s := loadSpec(t, "runc-default.json")
	s.Process.Args = nil
	if _, err := Compile(s, testEnv()); err == nil || err.Error() != "process.args: must name a program to run" {
		t.Errorf("got %v, want process.args: must name a program to run", err)
	}
}

// BenchmarkCompile: compiling runc's default config, as minirun run does on
// every start.
func BenchmarkCompile(b *testing.B) {
	s := loadSpec(b, "runc-default.json")
	env := testEnv()
	for b.Loop() {
		p, err := Compile(s, env)
		if err != nil {
			b.Fatal(err)
		}
		p.Free()
	}
}

// BenchmarkLoadValidate: reading and validating it.
func BenchmarkLoadValidate(b *testing.B) {
	path := filepath.Join("testdata", "compile", "runc-default.json")
	for b.Loop() {
		s, err := specs.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := specs.Validate(s, specs.ValidateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileMounts: runc's default config with a thousand tmpfs
// mounts and a thousand masked paths more (bench/scale.sh's largest size):
// what each mount and masked path adds to a start's compile.
func BenchmarkCompileMounts(b *testing.B) {
	s := loadSpec(b, "runc-default.json")
	for i := range 1000 {
		s.Mounts = append(s.Mounts, rspec.Mount{Destination: fmt.Sprintf("/m/%d", i), Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "mode=755", "size=64k"}})
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, fmt.Sprintf("/sys/devices/system/cpu/cpu%d/online", i))
	}
	env := testEnv()
	for b.Loop() {
		p, err := Compile(s, env)
		if err != nil {
			b.Fatal(err)
		}
		p.Free()
	}
}

// TestCompileNetNSByParent: with CompileEnv.NetNS the clone makes no
// network namespace; the child's first namespace step enters the one the
// parent made, through the fd at Plan.NetNSFD. Where a user namespace is
// made or joined, which must own the network namespace, the clone makes it
// as before.
func TestCompileNetNSByParent(t *testing.T) {
	for _, c := range []struct {
		name     string
		userNS   bool
		byParent bool
	}{
		{"no user namespace", false, true},
		{"a new user namespace", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := loadSpec(t, "runc-default.json")
			if c.userNS {
				s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
				s.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
				s.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			}
			env := testEnv()
			env.NetNS = true
			plan, err := Compile(s, env)
			if err != nil {
				t.Fatal(err)
			}
			defer plan.Free()
			calls, labels := plan.Program.Steps()
			setns := -1
			for i, call := range calls {
				if call == "setns(fd<the new network namespace>, CLONE_NEWNET)" {
					setns = i
				}
			}
			if got := plan.Flags&clonecore.NEWNET != 0; got == c.byParent {
				t.Errorf("clone flags %s: CLONE_NEWNET %v, want %v", plan.Flags, got, !c.byParent)
			}
			if !c.byParent {
				if setns >= 0 || plan.NetNSFD != 0 {
					t.Errorf("setns at step %d, NetNSFD %#x: want neither", setns, plan.NetNSFD)
				}
				return
			}
			if setns < 0 || plan.NetNSFD == 0 {
				t.Fatalf("setns at step %d, NetNSFD %#x: want a setns of the parent's namespace and its word:\n%s", setns, plan.NetNSFD, plan.Explain())
			}
			if !strings.HasPrefix(labels[setns], "linux.namespaces[1]: network: a new one, made by minirun") {
				t.Errorf("setns's label %q: want it to name linux.namespaces[1] and who made it", labels[setns])
			}
			for i := 0; i < setns; i++ {
				if !strings.HasPrefix(labels[i], "minirun: ") && !strings.HasPrefix(labels[i], "linux.cgroupsPath") {
					t.Errorf("step %d %q before the setns: want only the lifeline and the cgroup joins", i, calls[i])
				}
			}
			for _, call := range calls {
				if strings.Contains(call, "unshare(") && strings.Contains(call, "CLONE_NEWNET") {
					t.Errorf("%s: the child makes a network namespace too", call)
				}
			}
		})
	}
}
