package container

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/procfs"
	"github.com/minirun/minirun/namespaces"
	"github.com/minirun/minirun/specs"
)

func ptr[T any](v T) *T { return &v }

// TestRunFilesystem runs the helper in a container with every kind of
// mount, masked and read-only paths, devices, a read-only root and the
// names of a new UTS namespace, and checks what the process sees.
func TestRunFilesystem(t *testing.T) {
	needRoot(t, "creates mount, PID, network, IPC, UTS, cgroup and time namespaces")
	probes := []string{
		"stat:/dev/null", "stat:/dev/zero", "stat:/dev/full", "stat:/dev/random", "stat:/dev/urandom", "stat:/dev/tty",
		"stat:/dev/fd", "stat:/dev/stdin", "stat:/dev/stdout", "stat:/dev/stderr", "stat:/dev/ptmx",
		"stat:/dev/fuse", "stat:/dev/sub/mynull", "stat:/dev/myfifo",
		"read:/proc/timer_list", "stat:/proc/timer_list", "ls:/proc/acpi", "read:/masked-file", "ls:/masked-dir", "write:/masked-dir",
		"ls:/sys/firmware", "write:/proc/sys/kernel/hostname", "write:/ro-dir", "write:/",
		"read:/data/hello.txt", "write:/data", "write:/data-rw", "read:/etc/hostfile.txt", "write:/scratch",
		"ls:/unbindable",
	}
	tb := helperBundle(t, specs.GenerateOptions{}, probes...)
	s := tb.Spec
	s.Hostname, s.Domainname = "minirun-facts", "facts.test"
	s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.TimeNamespace})
	tb.writeFile(t, "data/hello.txt", "hello from the host\n", 0o644)
	tb.writeFile(t, "hostfile.txt", "a file bound on a file\n", 0o644)
	tb.mkdirs(t, "masked-dir", "ro-dir")
	if err := os.WriteFile(filepath.Join(tb.Rootfs, "masked-dir", "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tb.Rootfs, "masked-file"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Mounts = append(s.Mounts,
		rspec.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "size=1m", "mode=1755", "shared"}},
		rspec.Mount{Destination: "/unbindable", Type: "tmpfs", Source: "tmpfs", Options: []string{"unbindable"}},
		rspec.Mount{Destination: "/data", Type: "bind", Source: "data", Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}},
		rspec.Mount{Destination: "/data-rw", Type: "bind", Source: "data", Options: []string{"bind"}},
		rspec.Mount{Destination: "/etc/hostfile.txt", Type: "bind", Source: "hostfile.txt", Options: []string{"bind", "ro"}},
		rspec.Mount{Destination: "/cg-rbind", Type: "bind", Source: "/sys/fs/cgroup", Options: []string{"rbind", "ro"}},
		rspec.Mount{Destination: "/cg-bind", Type: "bind", Source: "/sys/fs/cgroup", Options: []string{"bind", "ro"}},
	)
	s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/masked-dir", "/masked-file")
	s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/ro-dir")
	s.Linux.Devices = []rspec.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptr(os.FileMode(0o640)), UID: ptr(uint32(1)), GID: ptr(uint32(2))},
		{Path: "/dev/sub/mynull", Type: "c", Major: 1, Minor: 3, FileMode: ptr(os.FileMode(0o600))},
		{Path: "/dev/myfifo", Type: "p", FileMode: ptr(os.FileMode(0o620))},
	}
	before := snapshotHost(t)
	f := runFacts(t, tb)
	checkNothingLeft(t, before)

	t.Run("pid 1", func(t *testing.T) {
		if f.PID != 1 {
			t.Errorf("getpid: got %d, want 1", f.PID)
		}
	})
	t.Run("names", func(t *testing.T) {
		if f.Hostname != s.Hostname || f.Domainname != s.Domainname {
			t.Errorf("hostname, domainname: got %q, %q, want %q, %q", f.Hostname, f.Domainname, s.Hostname, s.Domainname)
		}
	})
	t.Run("namespaces", func(t *testing.T) {
		host, err := nsInodes("/proc/self/ns")
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range []string{"pid", "net", "ipc", "uts", "mnt", "cgroup", "time"} {
			if f.NS[ns] == 0 || f.NS[ns] == host[ns] {
				t.Errorf("%s namespace: got inode %d, host %d, want a new one", ns, f.NS[ns], host[ns])
			}
		}
		if f.NS["user"] != host["user"] {
			t.Errorf("user namespace: got inode %d, want the host's %d (none asked for)", f.NS["user"], host["user"])
		}
	})
	t.Run("mounts", func(t *testing.T) {
		cases := []struct {
			point, fstype string
			opts, super   []string // each must be present
			absent        []string // per-mount options that must not be
			optional      string   // a propagation field prefix, e.g. "shared:"
		}{
			{point: "/", opts: []string{"ro"}},
			{point: "/proc", fstype: "proc", opts: []string{"rw"}},
			{point: "/dev", fstype: "tmpfs", opts: []string{"nosuid"}, super: []string{"mode=755", "size=65536k"}},
			{point: "/dev/pts", fstype: "devpts", opts: []string{"nosuid", "noexec"}, super: []string{"ptmxmode=666", "mode=620", "gid=5"}},
			{point: "/dev/shm", fstype: "tmpfs", opts: []string{"nosuid", "nodev", "noexec"}, super: []string{"size=65536k"}},
			{point: "/dev/mqueue", fstype: "mqueue", opts: []string{"nosuid", "nodev", "noexec"}},
			{point: "/sys", fstype: "sysfs", opts: []string{"ro", "nosuid", "nodev", "noexec"}},
			{point: "/sys/fs/cgroup", fstype: "tmpfs", opts: []string{"ro"}},
			{point: "/sys/fs/cgroup/memory", fstype: "cgroup", opts: []string{"ro"}, super: []string{"memory"}},
			{point: "/scratch", fstype: "tmpfs", opts: []string{"rw", "nosuid", "nodev"}, absent: []string{"noexec"}, super: []string{"size=1024k", "mode=1755"}, optional: "shared:"},
			{point: "/unbindable", fstype: "tmpfs", optional: "unbindable"},
			{point: "/data", opts: []string{"ro", "nosuid", "nodev", "noexec"}},
			{point: "/data-rw", opts: []string{"rw"}, absent: []string{"nosuid", "nodev", "noexec"}},
			{point: "/etc/hostfile.txt", opts: []string{"ro"}},
			{point: "/cg-rbind", fstype: "tmpfs", opts: []string{"ro"}},
			{point: "/cg-rbind/memory", fstype: "cgroup", super: []string{"memory"}},
			{point: "/cg-bind", fstype: "tmpfs", opts: []string{"ro"}},
			{point: "/masked-dir", fstype: "tmpfs", opts: []string{"ro"}},
			{point: "/proc/acpi", fstype: "tmpfs", opts: []string{"ro"}},
			{point: "/proc/sys", fstype: "proc", opts: []string{"ro", "nosuid", "nodev", "noexec"}},
			{point: "/ro-dir", opts: []string{"ro", "nosuid", "nodev", "noexec"}},
		}
		for _, c := range cases {
			t.Run(c.point, func(t *testing.T) {
				m := f.mount(c.point)
				if m == nil {
					t.Fatalf("got no mount at %s, want one", c.point)
				}
				if c.fstype != "" && m.FSType != c.fstype {
					t.Errorf("type: got %s, want %s", m.FSType, c.fstype)
				}
				for _, o := range c.opts {
					if !slices.Contains(m.Opts, o) {
						t.Errorf("options: got %v, want %s among them", m.Opts, o)
					}
				}
				for _, o := range c.absent {
					if slices.Contains(m.Opts, o) {
						t.Errorf("options: got %v, want no %s", m.Opts, o)
					}
				}
				for _, o := range c.super {
					if !slices.Contains(m.Super, o) {
						t.Errorf("superblock options: got %v, want %s among them", m.Super, o)
					}
				}
				if c.optional != "" && !slices.ContainsFunc(m.Optional, func(o string) bool { return strings.HasPrefix(o, c.optional) }) {
					t.Errorf("propagation: got %v, want %s", m.Optional, c.optional)
				}
			})
		}
		if m := f.mount("/cg-bind/memory"); m != nil {
			t.Errorf("/cg-bind/memory: got a %s mount, want none (bind is not recursive)", m.FSType)
		}
		// Nothing of the host's tree beyond what was bound.
		for _, m := range f.Mounts {
			if strings.HasPrefix(m.Point, tb.Dir) || m.Point == "/tmp" {
				t.Errorf("got a mount at %s, want none outside the rootfs", m.Point)
			}
		}
	})
	t.Run("devices", func(t *testing.T) {
		cases := []struct {
			path         string
			typ          string
			major, minor uint32
			perm         uint32
			uid, gid     uint32
		}{
			{"/dev/null", "char", 1, 3, 0o666, 0, 0},
			{"/dev/zero", "char", 1, 5, 0o666, 0, 0},
			{"/dev/full", "char", 1, 7, 0o666, 0, 0},
			{"/dev/random", "char", 1, 8, 0o666, 0, 0},
			{"/dev/urandom", "char", 1, 9, 0o666, 0, 0},
			{"/dev/tty", "char", 5, 0, 0o666, 0, 0},
			{"/dev/fuse", "char", 10, 229, 0o640, 1, 2},
			{"/dev/sub/mynull", "char", 1, 3, 0o600, 0, 0},
			{"/dev/myfifo", "fifo", 0, 0, 0o620, 0, 0},
		}
		for _, c := range cases {
			got := f.Probes["stat:"+c.path]
			want := probe{Type: c.typ, Major: c.major, Minor: c.minor, Perm: c.perm, UID: c.uid, GID: c.gid}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: got %+v, want %+v", c.path, got, want)
			}
		}
	})
	t.Run("dev symlinks", func(t *testing.T) {
		for name, target := range map[string]string{
			"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
			"/dev/stderr": "/proc/self/fd/2", "/dev/ptmx": "pts/ptmx",
		} {
			if got := f.Probes["stat:"+name]; got.Type != "symlink" || got.Link != target {
				t.Errorf("%s: got %s %q, want a symlink to %q", name, got.Type, got.Link, target)
			}
		}
	})
	t.Run("masked and read-only", func(t *testing.T) {
		cases := []struct {
			probe string
			want  probe
		}{
			{"read:/proc/timer_list", probe{}},
			{"stat:/proc/timer_list", probe{Type: "char", Major: 1, Minor: 3, Perm: 0o666}},
			{"ls:/proc/acpi", probe{Entries: []string{}}},
			{"read:/masked-file", probe{}},
			{"ls:/masked-dir", probe{Entries: []string{}}},
			{"write:/masked-dir", probe{Err: "EROFS"}},
			{"ls:/sys/firmware", probe{Entries: []string{}}},
			{"write:/proc/sys/kernel/hostname", probe{Err: "EROFS"}},
			{"write:/ro-dir", probe{Err: "EROFS"}},
			{"write:/", probe{Err: "EROFS"}},
		}
		for _, c := range cases {
			if got := f.Probes[c.probe]; fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s: got %+v, want %+v", c.probe, got, c.want)
			}
		}
	})
	t.Run("bind mounts", func(t *testing.T) {
		cases := []struct {
			probe string
			want  probe
		}{
			{"read:/data/hello.txt", probe{Content: "hello from the host\n"}},
			{"write:/data", probe{Err: "EROFS"}},
			{"write:/data-rw", probe{}},
			{"read:/etc/hostfile.txt", probe{Content: "a file bound on a file\n"}},
			{"write:/scratch", probe{}},
			{"ls:/unbindable", probe{Entries: []string{}}},
		}
		for _, c := range cases {
			if got := f.Probes[c.probe]; fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s: got %+v, want %+v", c.probe, got, c.want)
			}
		}
	})
}

// capBits renders capability names the way /proc/PID/status shows a set.
func capBits(t *testing.T, names ...string) string {
	t.Helper()
	var set uint64
	for _, n := range names {
		c, ok := specs.CapabilityByName(n)
		if !ok {
			t.Fatalf("unknown capability %s", n)
		}
		set |= 1 << c
	}
	return fmt.Sprintf("%016x", set)
}

// TestRunProcess checks the process's identity and settings: user, groups,
// the five capability sets, rlimits, env, umask, no_new_privs and the OOM
// score adjustment.
func TestRunProcess(t *testing.T) {
	needRoot(t, "changes user and capabilities in new namespaces")
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.mkdirs(t, "home/user")
	p := tb.Spec.Process
	p.User = rspec.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 20}, Umask: ptr(uint32(0o027))}
	p.Cwd = "/home/user"
	p.Env = []string{"PATH=/bin", "FOO=bar baz", "EMPTY=", helperEnv + "=facts"}
	kept := []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}
	bounding := append(slices.Clone(kept), "CAP_CHOWN", "CAP_SETUID")
	p.Capabilities = &rspec.LinuxCapabilities{
		Bounding: bounding, Effective: kept, Permitted: kept, Inheritable: kept, Ambient: kept,
	}
	p.Rlimits = []rspec.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 256, Hard: 512},
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
		{Type: "RLIMIT_NPROC", Soft: 100, Hard: 200},
	}
	p.NoNewPrivileges = true
	p.OOMScoreAdj = ptr(500)
	before := snapshotHost(t)
	f := runFacts(t, tb)
	checkNothingLeft(t, before)

	t.Run("user", func(t *testing.T) {
		got := fmt.Sprint(f.UID, f.EUID, f.GID, f.EGID, f.Groups)
		if want := "1000 1000 1001 1001 [10 20]"; got != want {
			t.Errorf("uid euid gid egid groups: got %s, want %s", got, want)
		}
		if got, want := f.Status["Uid"]+" / "+f.Status["Gid"], "1000 1000 1000 1000 / 1001 1001 1001 1001"; got != want {
			t.Errorf("status Uid / Gid (real, effective, saved, fs): got %s, want %s", got, want)
		}
	})
	t.Run("capabilities", func(t *testing.T) {
		want := map[string]string{
			"CapInh": capBits(t, kept...), "CapPrm": capBits(t, kept...), "CapEff": capBits(t, kept...),
			"CapBnd": capBits(t, bounding...), "CapAmb": capBits(t, kept...),
		}
		for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if f.Status[set] != want[set] {
				t.Errorf("%s: got %s, want %s", set, f.Status[set], want[set])
			}
		}
	})
	t.Run("rlimits", func(t *testing.T) {
		for _, rl := range p.Rlimits {
			got, want := f.Rlimits[rl.Type], [2]uint64{rl.Soft, rl.Hard}
			if rl.Type == "RLIMIT_NOFILE" {
				// The Go runtime of the helper raises its own soft limit
				// at start; TestRunBusybox checks the soft limit.
				got[0], want[0] = 0, 0
			}
			if got != want {
				t.Errorf("%s: got %v, want %v", rl.Type, got, want)
			}
		}
	})
	t.Run("env", func(t *testing.T) {
		if !slices.Equal(f.Env, p.Env) {
			t.Errorf("environment: got %q, want %q", f.Env, p.Env)
		}
	})
	t.Run("settings", func(t *testing.T) {
		cases := []struct{ what, got, want string }{
			{"cwd", f.Cwd, "/home/user"},
			{"umask", f.Status["Umask"], "0027"},
			{"NoNewPrivs", f.Status["NoNewPrivs"], "1"},
			{"oom_score_adj", f.OOMScoreAdj, "500"},
		}
		for _, c := range cases {
			if c.got != c.want {
				t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
			}
		}
	})
}

// TestRunCwd checks that process.cwd is entered, and created first when
// the rootfs lacks it, as runc does, on a writable and on a read-only root.
func TestRunCwd(t *testing.T) {
	needRoot(t, "creates mount and PID namespaces")
	cases := []struct {
		name     string
		cwd      string
		exists   bool
		readonly bool
	}{
		{"exists", "/srv/app", true, true},
		{"missing, writable root", "/new/deep/dir", false, false},
		{"missing, read-only root", "/new/deep/dir", false, true},
		{"unclean path", "/srv/../srv/./app/", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{}, "stat:/new/deep/dir")
			if c.exists {
				tb.mkdirs(t, "srv/app")
			}
			tb.Spec.Root.Readonly = c.readonly
			tb.Spec.Process.Cwd = c.cwd
			f := runFacts(t, tb)
			if want := filepath.Clean(c.cwd); f.Cwd != want {
				t.Errorf("cwd: got %q, want %q", f.Cwd, want)
			}
			if !c.exists {
				if got := f.Probes["stat:/new/deep/dir"]; got.Type != "dir" || got.Perm != 0o755 {
					t.Errorf("the created cwd: got %+v, want a directory with mode 0755", got)
				}
			}
		})
	}
}

// TestRunSysctl sets namespaced sysctls and reads them back from inside,
// with /proc/sys writable and with it read-only as runc's default (and
// specs.Generate's) linux.readonlyPaths make it; the host's values must not
// change.
func TestRunSysctl(t *testing.T) {
	needRoot(t, "creates network and IPC namespaces")
	hostForward, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	hostShmmax, err := os.ReadFile("/proc/sys/kernel/shmmax")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		procSysRO    bool
		forward, shm string
	}{
		{"/proc/sys writable", false, "1", "123456789"},
		{"/proc/sys read-only", true, "1", "987654321"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{}, "read:/proc/sys/net/ipv4/ip_forward", "read:/proc/sys/kernel/shmmax")
			l := tb.Spec.Linux
			if !c.procSysRO {
				l.ReadonlyPaths = slices.DeleteFunc(l.ReadonlyPaths, func(p string) bool { return p == "/proc/sys" })
			} else if !slices.Contains(l.ReadonlyPaths, "/proc/sys") {
				t.Fatalf("specs.Generate's readonlyPaths: got %q, want /proc/sys among them", l.ReadonlyPaths)
			}
			l.Sysctl = map[string]string{"net.ipv4.ip_forward": c.forward, "kernel.shmmax": c.shm}
			f := runFacts(t, tb)
			if got := f.Probes["read:/proc/sys/net/ipv4/ip_forward"].Content; got != c.forward+"\n" {
				t.Errorf("net.ipv4.ip_forward in the container: got %q, want %q", got, c.forward+"\n")
			}
			if got := f.Probes["read:/proc/sys/kernel/shmmax"].Content; got != c.shm+"\n" {
				t.Errorf("kernel.shmmax in the container: got %q, want %q", got, c.shm+"\n")
			}
		})
	}
	for file, was := range map[string][]byte{"/proc/sys/net/ipv4/ip_forward": hostForward, "/proc/sys/kernel/shmmax": hostShmmax} {
		if now, _ := os.ReadFile(file); string(now) != string(was) {
			t.Errorf("the host's %s: got %q after the containers, want %q as before", file, now, was)
		}
	}
}

// TestRunBusybox runs shell scripts in a busybox rootfs in-process and
// checks what they print and their exit status, 128+N when signal N
// killed the process.
func TestRunBusybox(t *testing.T) {
	needRoot(t, "creates mount, PID, network, IPC and UTS namespaces")
	const checks = `fail() { echo "FAIL: $*"; exit 1; }
[ $$ = 1 ] || fail "pid $$, want 1"
[ "$(hostname)" = minirun ] || fail "hostname $(hostname)"
[ "$(ulimit -n)" = 300 ] || fail "ulimit -n $(ulimit -n), want 300"
[ "$(ulimit -Hn)" = 400 ] || fail "ulimit -Hn $(ulimit -Hn), want 400"
[ -c /dev/null ] || fail "/dev/null is not a character device"
echo hi >/dev/null || fail "cannot write /dev/null"
touch /file 2>/dev/null && fail "created /file on a read-only root"
echo x >/dev/shm/x || fail "cannot write /dev/shm"
[ "$(cat /proc/1/comm)" = sh ] || fail "/proc/1/comm $(cat /proc/1/comm)"
[ "$(id -u):$(id -g)" = 0:0 ] || fail "id $(id)"
[ "$(pwd)" = / ] || fail "pwd $(pwd)"
echo ok`
	cases := []struct {
		name   string
		script string
		noPID  bool // no PID namespace: a shell that is not PID 1 can be killed by its own signal
		code   int
		out    string
	}{
		{"checks", checks, false, 0, "ok\n"},
		{"exit 3", "echo before; exit 3", false, 3, "before\n"},
		{"kill -9 $$", "kill -9 $$; echo survived", true, 137, ""},
		{"kill -TERM $$", "kill -TERM $$; echo survived", true, 143, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := busyboxBundle(t, specs.GenerateOptions{}, c.script)
			tb.Spec.Process.Rlimits = []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 300, Hard: 400}}
			if c.noPID {
				tb.Spec.Linux.Namespaces = slices.DeleteFunc(tb.Spec.Linux.Namespaces, func(n rspec.LinuxNamespace) bool { return n.Type == rspec.PIDNamespace })
			}
			before := snapshotHost(t)
			code, out, err := runCaptured(t, tb.save(t))
			if err != nil {
				t.Fatalf("Run: got error %v, want none", err)
			}
			if code != c.code || out != c.out {
				t.Errorf("got exit status %d and stdout %q, want %d and %q", code, out, c.code, c.out)
			}
			checkNothingLeft(t, before)
		})
	}
}

// TestRunJoin starts a first container with the minirun binary, then runs
// the helper in a second one that joins its namespaces by path, and checks
// that the second sees the first's processes, hostname and network.
func TestRunJoin(t *testing.T) {
	needRoot(t, "creates and joins namespaces")
	const (
		first  = "minirun-first"
		hostID = 100000 // the first container's user namespace maps 0 → hostID
	)
	cases := []struct {
		name  string
		user  bool // the first has a user namespace, and the second joins it too
		joins []rspec.LinuxNamespaceType
	}{
		{"net uts ipc pid", false, []rspec.LinuxNamespaceType{rspec.NetworkNamespace, rspec.UTSNamespace, rspec.IPCNamespace, rspec.PIDNamespace}},
		{"user net uts ipc pid", true, []rspec.LinuxNamespaceType{rspec.UserNamespace, rspec.NetworkNamespace, rspec.UTSNamespace, rspec.IPCNamespace, rspec.PIDNamespace}},
		{"uts only", false, []rspec.LinuxNamespaceType{rspec.UTSNamespace}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshotHost(t)
			fb := busyboxBundle(t, specs.GenerateOptions{}, "echo ready; read line; exit 0")
			fb.Spec.Hostname = first
			if c.user {
				fb.Spec.Linux.Namespaces = append(fb.Spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
				fb.Spec.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
				fb.Spec.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
			}
			fb.save(t)
			if c.user {
				fb.chown(t, hostID, hostID)
			}
			run1 := startBinary(t, nil, "run", fb.config())
			if got := run1.line(t); got != "ready" {
				t.Fatalf("the first container: got %q, want ready", got)
			}
			pid1 := run1.containerPID(t)
			host1, err := nsInodes(fmt.Sprintf("/proc/%d/ns", pid1))
			if err != nil {
				t.Fatal(err)
			}
			cmdline1, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid1))
			if err != nil {
				t.Fatal(err)
			}

			tb := helperBundle(t, specs.GenerateOptions{}, "read:/proc/1/cmdline")
			var ns []rspec.LinuxNamespace
			for _, n := range tb.Spec.Linux.Namespaces {
				if !slices.Contains(c.joins, n.Type) {
					ns = append(ns, n)
				}
			}
			for _, typ := range c.joins {
				info, _ := nsInfo(typ)
				ns = append(ns, rspec.LinuxNamespace{Type: typ, Path: fmt.Sprintf("/proc/%d/ns/%s", pid1, info)})
			}
			tb.Spec.Linux.Namespaces = ns
			tb.Spec.Hostname = "" // the joined UTS namespace has one
			lb := tb.save(t)
			if c.user {
				tb.chown(t, hostID, hostID)
			}
			code, out, err := runCaptured(t, lb)
			if err != nil || code != 0 {
				t.Fatalf("the second container: got status %d, error %v, want 0 and none", code, err)
			}
			f := parseFacts(t, out)

			if f.Hostname != first {
				t.Errorf("hostname: got %q, want the first container's %q", f.Hostname, first)
			}
			for _, typ := range c.joins {
				name, _ := nsInfo(typ)
				if f.NS[name] != host1[name] {
					t.Errorf("%s namespace: got inode %d, want the first container's %d", name, f.NS[name], host1[name])
				}
			}
			if slices.Contains(c.joins, rspec.PIDNamespace) {
				if got := f.Probes["read:/proc/1/cmdline"].Content; got != string(cmdline1) {
					t.Errorf("/proc/1/cmdline: got %q, want the first container's %q", got, cmdline1)
				}
				if f.PID == 1 {
					t.Errorf("getpid: got 1, want another pid in the first container's PID namespace")
				}
			}
			if c.user {
				if want := fmt.Sprintf("0 %d 65536", hostID); f.UIDMap != want || f.GIDMap != want {
					t.Errorf("uid_map, gid_map: got %q, %q, want %q", f.UIDMap, f.GIDMap, want)
				}
				if f.UID != 0 {
					t.Errorf("getuid: got %d, want 0 of the joined user namespace", f.UID)
				}
			}
			if code := run1.wait(t); code != 0 {
				t.Errorf("the first container: got exit status %d, want 0; stderr %q", code, run1.errors())
			}
			checkNothingLeft(t, before)
		})
	}
}

// nsInfo names a namespace type's file in /proc/PID/ns.
func nsInfo(t rspec.LinuxNamespaceType) (string, bool) {
	i, ok := namespaces.ByType(t)
	return i.ProcName, ok
}

// asNobody runs a command as uid and gid 65534 without supplementary
// groups or capabilities, the way an unprivileged user runs minirun.
func asNobody(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (Debian package util-linux) to run minirun as uid 65534: " + err.Error())
	}
	return []string{"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"}
}

// TestRunRootless runs the helper with the minirun binary as uid 65534 and
// a rootless config: it works, the id maps are the single mapping of
// 65534, and the container gains no privilege on the host.
func TestRunRootless(t *testing.T) {
	needRoot(t, "switches to uid 65534 to run minirun unprivileged")
	wrap := asNobody(t)
	const nobody = 65534
	tb := helperBundle(t, specs.GenerateOptions{Rootless: true, UID: nobody, GID: nobody},
		"write:/rootfile", "read:/rootfile", "write:/", "wait")
	tb.Spec.Root.Readonly = false
	tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/rootfile", Type: "bind", Source: "rootfile", Options: []string{"bind"}})
	tb.save(t)
	tb.chown(t, nobody, nobody)
	// A file of the host's root, bound read-write: root in the container
	// is nobody outside, and may read it but not write it.
	tb.writeFile(t, "rootfile", "root's\n", 0o644)

	before := snapshotHost(t)
	run := startBinary(t, wrap, "run", tb.config())
	f := parseFacts(t, run.line(t))
	pid := run.containerPID(t)
	host, err := procfs.ReadStatus(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if code := run.wait(t); code != 0 {
		t.Errorf("minirun: got exit status %d, want 0; stderr %q", code, run.errors())
	}
	checkNothingLeft(t, before)

	cases := []struct{ what, got, want string }{
		{"uid_map", f.UIDMap, "0 65534 1"},
		{"gid_map", f.GIDMap, "0 65534 1"},
		{"uid and gid inside", fmt.Sprint(f.UID, f.GID), "0 0"},
		{"Uid of the process seen from the host", host["Uid"], "65534 65534 65534 65534"},
		{"Gid of the process seen from the host", host["Gid"], "65534 65534 65534 65534"},
		{"writing a root-owned host file bound read-write", f.Probes["write:/rootfile"].Err, "EACCES"},
		{"reading it", f.Probes["read:/rootfile"].Content, "root's\n"},
		{"writing the rootfs it owns", f.Probes["write:/"].Err, ""},
		{"pid", fmt.Sprint(f.PID), "1"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	if hostNS, err := nsInodes("/proc/self/ns"); err != nil {
		t.Fatal(err)
	} else if f.NS["user"] == hostNS["user"] {
		t.Errorf("user namespace: got the host's (%d), want a new one", f.NS["user"])
	}
	if data, _ := os.ReadFile(filepath.Join(tb.Dir, "rootfile")); string(data) != "root's\n" {
		t.Errorf("the root-owned host file: got %q after the container, want it unchanged", data)
	}
}

// hasCap reports whether the test process has capability c in its
// effective set.
func hasCap(t *testing.T, name string) bool {
	t.Helper()
	n, _ := specs.CapabilityByName(name)
	st, err := procfs.ReadStatus("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var set uint64
	fmt.Sscanf(st["CapEff"], "%x", &set)
	return set&(1<<n) != 0
}

// TestRunFailures starts containers that cannot start: each must fail with
// one error naming the spec field, in-process and through the binary (exit
// status 1, or 2 for a config that does not validate; one line on stderr),
// and leave nothing behind.
func TestRunFailures(t *testing.T) {
	needRoot(t, "creates namespaces")
	noSysRO := func(tb *testBundle) {
		tb.Spec.Linux.ReadonlyPaths = slices.DeleteFunc(tb.Spec.Linux.ReadonlyPaths, func(p string) bool { return p == "/proc/sys" })
	}
	cases := []struct {
		name   string
		modify func(t *testing.T, tb *testBundle)
		want   string // the error after "<config path>: " for validation errors, or all of it
		valid  bool   // the error comes from validation, prefixed with the config's path
	}{
		{
			name:   "missing executable",
			modify: func(t *testing.T, tb *testBundle) { tb.Spec.Process.Args = []string{"nope"} },
			want:   `process.args[0]: "nope": executable file not found in $PATH`,
		},
		{
			name:   "missing executable by path",
			modify: func(t *testing.T, tb *testBundle) { tb.Spec.Process.Args = []string{"/bin/nope"} },
			want:   `process.args[0]: /bin/nope: no such file or directory`,
		},
		{
			name: "missing executable after the double fork of a PID namespace join",
			modify: func(t *testing.T, tb *testBundle) {
				tb.Spec.Process.Args = []string{"nope"}
				for i, n := range tb.Spec.Linux.Namespaces {
					if n.Type == rspec.PIDNamespace {
						tb.Spec.Linux.Namespaces[i].Path = "/proc/self/ns/pid"
					}
				}
			},
			want: `process.args[0]: "nope": executable file not found in $PATH`,
		},
		{
			name: "missing executable in a user namespace",
			modify: func(t *testing.T, tb *testBundle) {
				tb.Spec.Process.Args = []string{"nope"}
				tb.Spec.Linux.Namespaces = append(tb.Spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
				tb.Spec.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
				tb.Spec.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
			},
			want: `process.args[0]: "nope": executable file not found in $PATH`,
		},
		{
			name: "bind source missing",
			modify: func(t *testing.T, tb *testBundle) {
				tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/x", Type: "bind", Source: "/nonexistent/minirun", Options: []string{"bind"}})
			},
			valid: true,
			want:  `mounts[7].source: "/nonexistent/minirun" does not exist`,
		},
		{
			name: "unknown filesystem type",
			modify: func(t *testing.T, tb *testBundle) {
				tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/x", Type: "nosuchfs", Source: "none"})
			},
			want: `mounts[7]: nosuchfs on /x: no such device`,
		},
		{
			name: "overlapping id maps",
			modify: func(t *testing.T, tb *testBundle) {
				tb.Spec.Linux.Namespaces = append(tb.Spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
				tb.Spec.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}, {ContainerID: 500, HostID: 200000, Size: 10}}
				tb.Spec.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}}
			},
			valid: true,
			want:  `linux.uidMappings[1]: `,
		},
		{
			name: "sysctl that does not exist",
			modify: func(t *testing.T, tb *testBundle) {
				noSysRO(tb)
				tb.Spec.Linux.Sysctl = map[string]string{"net.ipv4.no_such_knob": "1"}
			},
			want: `linux.sysctl["net.ipv4.no_such_knob"]: no such file or directory`,
		},
		{
			name: "sysctl value refused",
			modify: func(t *testing.T, tb *testBundle) {
				noSysRO(tb)
				tb.Spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "banana"}
			},
			want: `linux.sysctl["net.ipv4.ip_forward"]: invalid argument`,
		},
		{
			name: "hard rlimit raised",
			modify: func(t *testing.T, tb *testBundle) {
				if hasCap(t, "CAP_SYS_RESOURCE") {
					t.Skip("this machine keeps CAP_SYS_RESOURCE, with which raising a hard limit is allowed")
				}
				var rl unix.Rlimit
				if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
					t.Fatal(err)
				}
				tb.Spec.Process.Rlimits = []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: rl.Max + 1, Hard: rl.Max + 1}}
			},
			want: `process.rlimits[0]: RLIMIT_NOFILE: operation not permitted`,
		},
		{
			name: "namespace path missing",
			modify: func(t *testing.T, tb *testBundle) {
				setNamespacePath(tb, rspec.NetworkNamespace, "/nonexistent/ns/net")
			},
			want: `linux.namespaces[1]: open network namespace /nonexistent/ns/net: no such file or directory`,
		},
		{
			// Opening a FIFO for reading waits for a writer: minirun must
			// neither hang nor take it for a namespace.
			name: "namespace path is a FIFO",
			modify: func(t *testing.T, tb *testBundle) {
				fifo := filepath.Join(tb.Dir, "fifo")
				if err := unix.Mkfifo(fifo, 0o600); err != nil {
					t.Fatal(err)
				}
				setNamespacePath(tb, rspec.NetworkNamespace, fifo)
			},
			want: `linux.namespaces[1]: ` + "%DIR%" + `/fifo is not a namespace file (want /proc/PID/ns/net or a bind mount of one)`,
		},
		{
			name: "namespace path of another type",
			modify: func(t *testing.T, tb *testBundle) {
				setNamespacePath(tb, rspec.NetworkNamespace, "/proc/self/ns/uts")
			},
			want: `linux.namespaces[1]: /proc/self/ns/uts is a uts namespace, not network`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := busyboxBundle(t, specs.GenerateOptions{}, "echo started; exit 0")
			c.modify(t, tb)
			b := tb.save(t)
			want := strings.ReplaceAll(c.want, "%DIR%", tb.Dir)
			if c.valid {
				want = b.Path + ": " + c.want
			}

			before := snapshotHost(t)
			code, out, err := runCaptured(t, b)
			checkNothingLeft(t, before)
			switch {
			case err == nil:
				t.Fatalf("Run: got exit status %d, stdout %q and no error, want error %q", code, out, want)
			case c.valid && !strings.HasPrefix(err.Error(), want) || !c.valid && err.Error() != want:
				t.Errorf("Run: got error %q, want %q", err, want)
			case strings.Contains(err.Error(), "\n"):
				t.Errorf("Run: got error %q, want one line", err)
			}
			if out != "" {
				t.Errorf("stdout: got %q, want nothing: the process must not start", out)
			}

			before = snapshotHost(t)
			stdout, stderr, code := runBinary(t, nil, "run", tb.config())
			checkNothingLeft(t, before)
			wantCode := 1
			if c.valid {
				wantCode = 2 // bad input: nothing was started
			}
			if wantErr := "minirun: " + err.Error() + "\n"; code != wantCode || stdout != "" || stderr != wantErr {
				t.Errorf("minirun run: got exit status %d, stdout %q, stderr %q, want %d, nothing and %q", code, stdout, stderr, wantCode, wantErr)
			}
		})
	}
}

// TestRunRootlessIDMapRefused asks, as uid 65534, for a map of the host's
// root: the kernel refuses the write, and minirun says which map.
func TestRunRootlessIDMapRefused(t *testing.T) {
	needRoot(t, "switches to uid 65534 to run minirun unprivileged")
	wrap := asNobody(t)
	tb := busyboxBundle(t, specs.GenerateOptions{Rootless: true, UID: 65534, GID: 65534}, "echo started")
	tb.Spec.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}
	tb.save(t)
	tb.chown(t, 65534, 65534)
	before := snapshotHost(t)
	stdout, stderr, code := runBinary(t, wrap, "run", tb.config())
	checkNothingLeft(t, before)
	re := regexp.MustCompile(`^minirun: linux\.uidMappings: write /proc/[0-9]+/uid_map: operation not permitted\n$`)
	if code != 1 || stdout != "" || !re.MatchString(stderr) {
		t.Errorf("got exit status %d, stdout %q, stderr %q, want 1, nothing and one line matching %s", code, stdout, stderr, re)
	}
}

// TestRunBinaryExitStatus runs busybox scripts with the minirun binary:
// stdout and stderr pass through apart, and minirun exits with the
// container's status, 128+N when signal N killed it.
func TestRunBinaryExitStatus(t *testing.T) {
	needRoot(t, "creates namespaces")
	cases := []struct {
		name           string
		script         string
		noPID          bool
		code           int
		stdout, stderr string
	}{
		{"success", "echo out; echo err >&2", false, 0, "out\n", "err\n"},
		{"exit 3", "echo out; echo err >&2; exit 3", false, 3, "out\n", "err\n"},
		{"exit 255", "exit 255", false, 255, "", ""},
		{"kill -9 $$", "echo out; kill -9 $$", true, 137, "out\n", ""},
		{"kill -ABRT $$", "kill -ABRT $$", true, 134, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := busyboxBundle(t, specs.GenerateOptions{}, c.script)
			if c.noPID {
				tb.Spec.Linux.Namespaces = slices.DeleteFunc(tb.Spec.Linux.Namespaces, func(n rspec.LinuxNamespace) bool { return n.Type == rspec.PIDNamespace })
			}
			tb.save(t)
			before := snapshotHost(t)
			stdout, stderr, code := runBinary(t, nil, "run", tb.config())
			checkNothingLeft(t, before)
			if code != c.code || stdout != c.stdout || stderr != c.stderr {
				t.Errorf("got exit status %d, stdout %q, stderr %q, want %d, %q, %q", code, stdout, stderr, c.code, c.stdout, c.stderr)
			}
		})
	}
}

// TestRunSignals sends signals to a running minirun: the ones it forwards
// reach the container's process (PID 1 of its namespace, which catches
// them), and a container killed from outside makes minirun exit 137.
func TestRunSignals(t *testing.T) {
	needRoot(t, "creates namespaces")
	cases := []struct {
		name   string
		sig    unix.Signal
		toPID1 bool // send to the container's process rather than to minirun
		code   int
	}{
		{"SIGTERM forwarded", unix.SIGTERM, false, 42},
		{"SIGINT forwarded", unix.SIGINT, false, 43},
		{"SIGHUP forwarded", unix.SIGHUP, false, 44},
		{"SIGUSR1 forwarded", unix.SIGUSR1, false, 45},
		{"SIGKILL to the container", unix.SIGKILL, true, 137},
	}
	const script = `trap "exit 42" TERM; trap "exit 43" INT; trap "exit 44" HUP; trap "exit 45" USR1
echo ready
while :; do sleep 0.1; done`
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := busyboxBundle(t, specs.GenerateOptions{}, script)
			tb.save(t)
			before := snapshotHost(t)
			run := startBinary(t, nil, "run", tb.config())
			if got := run.line(t); got != "ready" {
				t.Fatalf("the container: got %q, want ready", got)
			}
			target := run.cmd.Process.Pid
			if c.toPID1 {
				target = run.containerPID(t)
			}
			if err := unix.Kill(target, c.sig); err != nil {
				t.Fatal(err)
			}
			if code := run.wait(t); code != c.code {
				t.Errorf("minirun: got exit status %d, want %d; stderr %q", code, c.code, run.errors())
			}
			checkNothingLeft(t, before)
		})
	}
}

// TestRunDiesWithMinirun kills minirun while its container runs: the
// container's process must die with it (PR_SET_PDEATHSIG), whatever
// identity it took.
func TestRunDiesWithMinirun(t *testing.T) {
	needRoot(t, "creates namespaces")
	cases := []struct {
		name   string
		modify func(tb *testBundle)
	}{
		{"root", func(tb *testBundle) {}},
		{"uid 1000", func(tb *testBundle) { tb.Spec.Process.User = rspec.User{UID: 1000, GID: 1000} }},
		{"user namespace", func(tb *testBundle) {
			tb.Spec.Linux.Namespaces = append(tb.Spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
			tb.Spec.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
			tb.Spec.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
		}},
		{"joined PID namespace (double fork)", func(tb *testBundle) {
			for i, n := range tb.Spec.Linux.Namespaces {
				if n.Type == rspec.PIDNamespace {
					tb.Spec.Linux.Namespaces[i].Path = "/proc/self/ns/pid"
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Not reading stdin: when minirun is gone its stdin pipe ends,
			// and a shell reading it would exit by itself.
			tb := busyboxBundle(t, specs.GenerateOptions{}, "echo ready; exec sleep 1000")
			c.modify(tb)
			tb.save(t)
			before := snapshotHost(t)
			id := "dies-with-minirun"
			run := startBinary(t, nil, "run", "--bundle", tb.Dir, id)
			if got := run.line(t); got != "ready" {
				t.Fatalf("the container: got %q, want ready", got)
			}
			pid := run.containerPID(t)
			// A pidfd names the process even if its pid is reused later.
			pidfd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				t.Fatal(err)
			}
			run.cmd.Process.Kill()
			run.cmd.Wait()
			run.stdout.Close()
			run.stderr.Close()
			// minirun is reaped: the kernel has sent the parent-death
			// signal by now, if the process still had one set. Then the
			// process is gone, dying, or has SIGKILL pending.
			if alive, why := stillAlive(pid); alive {
				t.Errorf("the container's process %d after minirun was killed: got alive (%s), want killed with it", pid, why)
			}
			unix.Close(pidfd)
			// What a killed minirun leaves (its state, its cgroup),
			// delete --force removes.
			if _, stderr, code := runBinary(t, nil, "delete", "--force", id); code != 0 {
				t.Errorf("delete --force: exit status %d, %s", code, stderr)
			}
			checkNothingLeft(t, before)
		})
	}
}

// stillAlive reports whether pid lives on with no SIGKILL pending.
func stillAlive(pid int) (bool, string) {
	st, err := procfs.ReadStatus(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, ""
	}
	state := st["State"]
	var pending uint64
	// Between taking SIGKILL off the pending set and setting PF_EXITING a
	// dying task shows neither; stat's flags field is read last to narrow
	// that window to nothing a test can hit in practice.
	for _, k := range []string{"ShdPnd", "SigPnd"} {
		var p uint64
		fmt.Sscanf(st[k], "%x", &p)
		pending |= p
	}
	if strings.HasPrefix(state, "Z") || strings.HasPrefix(state, "X") || pending&(1<<(unix.SIGKILL-1)) != 0 {
		return false, ""
	}
	const pfExiting = 0x4
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		_, f, _ := procfs.ParseStat(string(stat))
		// state ppid pgrp session tty_nr tpgid flags …
		var flags uint64
		if len(f) > 6 {
			fmt.Sscan(f[6], &flags)
		}
		if flags&pfExiting != 0 {
			return false, ""
		}
	} else {
		return false, ""
	}
	return true, "state " + state
}

// TestRunTimeOffsets asks for a new time namespace whose monotonic and
// boot clocks are ahead by linux.timeOffsets: the container's clocks
// read between the host's before and after, plus the offsets. (No timing:
// both clocks only go forward.)
func TestRunTimeOffsets(t *testing.T) {
	needRoot(t, "creates a time namespace")
	const (
		monoOffset = 10 * 365 * 86400 // ten years
		bootOffset = 20 * 365 * 86400
	)
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.Spec.Linux.Namespaces = append(tb.Spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.TimeNamespace})
	tb.Spec.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{
		"monotonic": {Secs: monoOffset},
		"boottime":  {Secs: bootOffset},
	}
	mono0, boot0 := clockSeconds(unix.CLOCK_MONOTONIC), clockSeconds(unix.CLOCK_BOOTTIME)
	f := runFacts(t, tb)
	mono1, boot1 := clockSeconds(unix.CLOCK_MONOTONIC), clockSeconds(unix.CLOCK_BOOTTIME)
	cases := []struct {
		clock          string
		got, low, high int64
	}{
		{"CLOCK_MONOTONIC", f.Monotonic, mono0 + monoOffset, mono1 + monoOffset},
		{"CLOCK_BOOTTIME", f.Boottime, boot0 + bootOffset, boot1 + bootOffset},
	}
	for _, c := range cases {
		if c.got < c.low || c.got > c.high {
			t.Errorf("%s in the container: got %d s, want %d to %d (the host's plus the offset)", c.clock, c.got, c.low, c.high)
		}
	}
}

// TestRunBinaryOptions runs the binary with run's options: --preserve-fds
// passes exactly the fds asked for, --no-pivot still enters the rootfs.
func TestRunBinaryOptions(t *testing.T) {
	needRoot(t, "creates namespaces")
	cases := []struct {
		name   string
		args   []string
		script string
		extra  int // files passed as fds 3, 4, …
		stdout string
	}{
		{"--preserve-fds 2", []string{"--preserve-fds", "2"},
			`for fd in 3 4 5; do if [ -e /proc/$$/fd/$fd ]; then echo "$fd $(basename "$(readlink /proc/$$/fd/$fd)")"; else echo "$fd closed"; fi; done`,
			3, "3 extra-3\n4 extra-4\n5 closed\n"},
		{"no fds preserved", nil,
			`for fd in 3 4; do if [ -e /proc/$$/fd/$fd ]; then echo "$fd open"; else echo "$fd closed"; fi; done`,
			2, "3 closed\n4 closed\n"},
		{"--no-pivot", []string{"--no-pivot"},
			`ls /; touch /x 2>/dev/null && echo writable; echo $$`,
			0, "bin\ndev\nproc\nsys\n1\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := busyboxBundle(t, specs.GenerateOptions{}, c.script)
			tb.save(t)
			cmd := exec.Command(minirunBin, append(append([]string{"run"}, c.args...), tb.config())...)
			for i := 0; i < c.extra; i++ {
				f, err := os.Create(filepath.Join(tb.Dir, fmt.Sprintf("extra-%d", 3+i)))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				cmd.ExtraFiles = append(cmd.ExtraFiles, f)
			}
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("minirun run %q: %v; stderr %q", c.args, err, stderr.String())
			}
			if stdout.String() != c.stdout {
				t.Errorf("got stdout %q, want %q", stdout.String(), c.stdout)
			}
		})
	}
}

// TestRunSymlinkDestinations gives mounts and devices destinations through
// symlinks of the image that point outside it, absolute and by "..": each
// must resolve inside the rootfs and create nothing on the host.
func TestRunSymlinkDestinations(t *testing.T) {
	needRoot(t, "creates mount namespaces")
	host := tempDir(t) // stands for a host folder an image might aim at
	tb := helperBundle(t, specs.GenerateOptions{}, "ls:"+host)
	// The image has the folder the links name (as Debian's /var/run → /run
	// has /run); TestRunDanglingSymlinkDestinations has it missing.
	tb.mkdirs(t, host)
	if err := os.Symlink(host, filepath.Join(tb.Rootfs, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(strings.Repeat("../", 12)+strings.TrimPrefix(host, "/"), filepath.Join(tb.Rootfs, "rel")); err != nil {
		t.Fatal(err)
	}
	tb.Spec.Mounts = append(tb.Spec.Mounts,
		rspec.Mount{Destination: "/abs/m1", Type: "tmpfs", Source: "tmpfs"},
		rspec.Mount{Destination: "/rel/m2", Type: "tmpfs", Source: "tmpfs"},
	)
	tb.Spec.Linux.Devices = []rspec.LinuxDevice{{Path: "/abs/null", Type: "c", Major: 1, Minor: 3}}
	tb.Spec.Root.Readonly = false
	before := snapshotHost(t)
	f := runFacts(t, tb)
	checkNothingLeft(t, before)
	if ents, err := os.ReadDir(host); err != nil || len(ents) != 0 {
		t.Errorf("the host folder the symlinks name: got %v (%v), want it empty", ents, err)
	}
	if got, want := f.Probes["ls:"+host].Entries, []string{"m1", "m2", "null"}; !slices.Equal(got, want) {
		t.Errorf("%s in the container: got %q, want %q (made inside the rootfs)", host, got, want)
	}
	for _, p := range []string{"m1", "m2"} {
		if m := f.mount(filepath.Join(host, p)); m == nil || m.FSType != "tmpfs" {
			t.Errorf("mount at %s in the container: got %+v, want a tmpfs", filepath.Join(host, p), m)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(tb.Rootfs, strings.TrimPrefix(host, "/"))); err != nil || len(ents) != 3 {
		t.Errorf("the rootfs's own %s: got %v (%v), want m1, m2 and null", host, ents, err)
	}
}

// TestRunFileBindDestinations binds a host file onto what real images have
// at a file's place: a symlink into the image (/etc/resolv.conf ->
// ../run/resolv.conf), which must be followed inside the rootfs, and a
// FIFO, which must be mounted over without being opened (an open for
// writing would wait for a reader for ever).
func TestRunFileBindDestinations(t *testing.T) {
	needRoot(t, "creates mount namespaces")
	src := filepath.Join(tempDir(t), "resolv.conf")
	if err := os.WriteFile(src, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := helperBundle(t, specs.GenerateOptions{}, "read:/run/resolv.conf", "read:/etc/resolv.conf", "read:/fifo")
	tb.mkdirs(t, "/etc", "/run")
	if err := os.WriteFile(filepath.Join(tb.Rootfs, "run/resolv.conf"), []byte("image's own\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run/resolv.conf", filepath.Join(tb.Rootfs, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(tb.Rootfs, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb.Spec.Mounts = append(tb.Spec.Mounts,
		rspec.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
		rspec.Mount{Destination: "/fifo", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
	)
	before := snapshotHost(t)
	f := runFacts(t, tb)
	checkNothingLeft(t, before)
	for _, p := range []string{"/run/resolv.conf", "/etc/resolv.conf", "/fifo"} {
		if got := f.Probes["read:"+p]; got.Content != "nameserver 192.0.2.53\n" || got.Err != "" {
			t.Errorf("%s in the container: got %+v, want the bound file's content", p, got)
		}
	}
	if data, err := os.ReadFile(filepath.Join(tb.Rootfs, "run/resolv.conf")); err != nil || string(data) != "image's own\n" {
		t.Errorf("the image's run/resolv.conf after the run: got %q (%v), want it unchanged", data, err)
	}
}

// setNamespacePath makes the bundle join the namespace of type t at path.
func setNamespacePath(tb *testBundle, t rspec.LinuxNamespaceType, path string) {
	for i, n := range tb.Spec.Linux.Namespaces {
		if n.Type == t {
			tb.Spec.Linux.Namespaces[i].Path = path
		}
	}
}
