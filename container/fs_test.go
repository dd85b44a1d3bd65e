package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
)

// sharedDir mounts a tmpfs on a temporary folder and makes it shared, the
// way systemd leaves a host's mounts: a mount made below a peer of it, in
// any mount namespace, would appear in the host's too. It is unmounted at
// the end of the test.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := tmpfsDir(t)
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", dir, err)
	}
	return dir
}

// tmpfsDir mounts a tmpfs on a new temporary folder, in the host's mount
// namespace; it is unmounted, with whatever was mounted below it, at the
// end of the test.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	dir := tempDir(t)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// moveBundle moves a test bundle into dir (a bundle folder of its own
// there), so that its rootfs lies on dir's filesystem.
func moveBundle(t *testing.T, tb *testBundle, dir string) {
	t.Helper()
	nd, err := os.MkdirTemp(dir, "bundle-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(nd, 0o755); err != nil {
		t.Fatal(err)
	}
	// The rootfs holds only what the helper bundles put there: copy it.
	err = filepath.Walk(tb.Rootfs, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tb.Rootfs, p)
		dst := filepath.Join(nd, "rootfs", rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(dst, fi.Mode().Perm())
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, dst)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tb.Dir, tb.Rootfs = nd, filepath.Join(nd, "rootfs")
}

// TestRunRootfsPropagation runs every value of linux.rootfsPropagation
// with the bundle on a shared mount: each must start, the container's / must
// have the propagation asked for, and no mount the container makes — its
// rootfs, /proc, /dev, a shared tmpfs of its own — may appear in the host's
// mount namespace, during the run or after it.
func TestRunRootfsPropagation(t *testing.T) {
	needRoot(t, "mounts a shared tmpfs and creates mount namespaces")
	shared := sharedDir(t)
	cases := []struct {
		propagation string
		noPivot     bool
		want        string // an optional field of / in the container's mountinfo
		notWant     []string
	}{
		{"", false, "master:", []string{"shared:", "unbindable"}}, // rslave, runc's default
		{"shared", false, "shared:", []string{"unbindable"}},
		{"rshared", false, "shared:", []string{"unbindable"}},
		{"slave", false, "master:", []string{"shared:", "unbindable"}},
		{"rslave", false, "master:", []string{"shared:", "unbindable"}},
		{"private", false, "", []string{"shared:", "master:", "unbindable"}},
		{"rprivate", false, "", []string{"shared:", "master:", "unbindable"}},
		{"unbindable", false, "unbindable", []string{"shared:", "master:"}},
		{"runbindable", false, "unbindable", []string{"shared:", "master:"}},
		{"rshared", true, "shared:", []string{"unbindable"}},
		{"", true, "master:", []string{"shared:", "unbindable"}},
	}
	for _, c := range cases {
		name := c.propagation
		if name == "" {
			name = "default"
		}
		args := []string{"run"}
		if c.noPivot {
			name += " --no-pivot"
			args = append(args, "--no-pivot")
		}
		t.Run(name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{}, "wait")
			moveBundle(t, tb, shared)
			tb.Spec.Linux.RootfsPropagation = c.propagation
			tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"shared"}})
			tb.save(t)
			before := snapshotHost(t)
			run := startBinary(t, nil, append(args, tb.config())...)
			line, err := run.lines.ReadString('\n')
			if err == nil {
				// While the container runs, with every mount made.
				run.containerPID(t)
				if got := snapshotHost(t).mounts; !slices.Equal(got, before.mounts) {
					t.Errorf("the host's mounts while the container runs: got %d lines, want the %d of before:\n%s", len(got), len(before.mounts), strings.Join(got, "\n"))
				}
			}
			code := run.wait(t)
			checkNothingLeft(t, before)
			if err != nil || code != 0 {
				t.Fatalf("minirun run: got exit status %d and %q, want 0 and the facts; stderr %q", code, line, run.errors())
			}
			f := parseFacts(t, line)
			root := f.mount("/")
			if root == nil {
				t.Fatalf("got no mount at / in the container, want the rootfs")
			}
			if c.want != "" && !slices.ContainsFunc(root.Optional, func(o string) bool { return strings.HasPrefix(o, c.want) }) {
				t.Errorf("propagation of /: got %q, want %s", root.Optional, c.want)
			}
			for _, n := range c.notWant {
				if slices.ContainsFunc(root.Optional, func(o string) bool { return strings.HasPrefix(o, n) }) {
					t.Errorf("propagation of /: got %q, want no %s", root.Optional, n)
				}
			}
		})
	}
}

// withoutMountNamespace drops the mount namespace and everything that
// needs one from a bundle's config.
func withoutMountNamespace(tb *testBundle) {
	s := tb.Spec
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n rspec.LinuxNamespace) bool { return n.Type == rspec.MountNamespace })
	s.Mounts, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil, nil
	s.Root.Readonly = false
}

// TestRunNoMountNamespace runs a container that shares the host's mount
// namespace: its root must still be root.path, so that a host file is out
// of its reach, and nothing may be created outside the rootfs.
func TestRunNoMountNamespace(t *testing.T) {
	needRoot(t, "creates namespaces")
	host := tempDir(t)
	victim := filepath.Join(host, "victim")
	if err := os.WriteFile(victim, []byte("the host's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// process.cwd names a host folder: it must be made in the rootfs.
	cwd := filepath.Join(host, "cwd")
	tb := helperBundle(t, specs.GenerateOptions{}, "write:"+victim, "read:"+victim, "write:"+host, "ls:/", "ls:"+host, "wait")
	withoutMountNamespace(tb)
	tb.Spec.Process.Cwd = cwd
	// The helper is run by its host path, copied to the same path in the
	// rootfs: on the host's / it would run too, and reach the victim.
	tb.install(t, helperBin, helperBin)
	tb.Spec.Process.Args[0] = helperBin
	tb.save(t)
	before := snapshotHost(t)
	run := startBinary(t, nil, "run", tb.config())
	var f facts
	if err := json.Unmarshal([]byte(run.line(t)), &f); err != nil {
		t.Fatalf("the helper's facts: %v", err)
	}
	// From outside, while it waits: the process's root is the rootfs, in
	// the host's mount namespace (it has no /proc to tell by itself).
	pid := run.containerPID(t)
	if root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); err != nil || root != tb.Rootfs {
		t.Errorf("the process's root: got %q (%v), want the rootfs %q", root, err, tb.Rootfs)
	}
	own, err1 := os.Readlink("/proc/self/ns/mnt")
	its, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err1 != nil || err2 != nil || own != its {
		t.Errorf("the process's mount namespace: got %q (%v), want the host's %q (%v)", its, err2, own, err1)
	}
	if code := run.wait(t); code != 0 {
		t.Fatalf("minirun run: got exit status %d, want 0; stderr %q", code, run.errors())
	}
	checkNothingLeft(t, before)
	top := []string{"helper", strings.Split(host, "/")[1], strings.Split(helperBin, "/")[1]}
	slices.Sort(top)
	top = slices.Compact(top)
	cases := []struct {
		probe string
		want  probe
	}{
		{"write:" + victim, probe{Err: "ENOENT"}},
		{"read:" + victim, probe{Err: "ENOENT"}},
		{"write:" + host, probe{}}, // the rootfs's own, made for the cwd
		{"ls:/", probe{Entries: top}},
		{"ls:" + host, probe{Entries: []string{"cwd"}}},
	}
	for _, c := range cases {
		if got := f.Probes[c.probe]; fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %+v, want %+v", c.probe, got, c.want)
		}
	}
	if f.Cwd != cwd {
		t.Errorf("cwd: got %q, want %q", f.Cwd, cwd)
	}
	if data, err := os.ReadFile(victim); err != nil || string(data) != "the host's\n" {
		t.Errorf("the host file after the run: got %q (%v), want it unchanged", data, err)
	}
	if ents, err := os.ReadDir(host); err != nil || len(ents) != 1 {
		t.Errorf("the host folder after the run: got %v (%v), want the victim alone", ents, err)
	}
	if _, err := os.Stat(filepath.Join(tb.Rootfs, cwd)); err != nil {
		t.Errorf("process.cwd in the rootfs: %v, want it made there", err)
	}
}

// TestRunNoMountNamespaceRefused: without a mount namespace every field
// that would mount something, or make device nodes, would do it in the
// host's: each is refused, naming it, and nothing is started.
func TestRunNoMountNamespaceRefused(t *testing.T) {
	needRoot(t, "runs minirun as root")
	cases := []struct {
		field  string
		modify func(s *rspec.Spec)
	}{
		{"mounts", func(s *rspec.Spec) { s.Mounts = []rspec.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}} }},
		{"linux.maskedPaths", func(s *rspec.Spec) { s.Linux.MaskedPaths = []string{"/proc/kcore"} }},
		{"linux.readonlyPaths", func(s *rspec.Spec) { s.Linux.ReadonlyPaths = []string{"/proc/sys"} }},
		{"linux.rootfsPropagation", func(s *rspec.Spec) { s.Linux.RootfsPropagation = "rprivate" }},
		{"root.readonly", func(s *rspec.Spec) { s.Root.Readonly = true }},
		{"linux.devices", func(s *rspec.Spec) { s.Linux.Devices = []rspec.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}} }},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			withoutMountNamespace(tb)
			c.modify(tb.Spec)
			tb.save(t)
			before := snapshotHost(t)
			stdout, stderr, code := runBinary(t, nil, "run", tb.config())
			checkNothingLeft(t, before)
			prefix := "minirun: " + tb.config() + ": " + c.field + ": needs a mount namespace in linux.namespaces"
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, prefix) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("minirun run: got exit status %d, stdout %q, stderr %q; want 2, nothing and one line starting %q", code, stdout, stderr, prefix)
			}
		})
	}
}

// TestRunDanglingSymlinkDestinations binds files, and mounts a tmpfs,
// where the image has a symlink whose target does not exist yet: Ubuntu's
// /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, and links an
// attacker would write, absolute and by "..", naming a host folder. Each
// target must be made inside the rootfs, with its folders, and mounted on;
// nothing may appear in the host folder.
func TestRunDanglingSymlinkDestinations(t *testing.T) {
	needRoot(t, "creates mount namespaces")
	host := tempDir(t) // a host folder the links aim at; the image lacks it
	src := filepath.Join(tempDir(t), "bound.conf")
	const content = "nameserver 192.0.2.53\n"
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	stub := "/run/systemd/resolve/stub-resolv.conf"
	tb := helperBundle(t, specs.GenerateOptions{}, "read:/etc/resolv.conf", "read:"+stub,
		"read:/etc/abs.conf", "read:/etc/rel.conf", "read:"+host+"/abs.conf", "read:"+host+"/rel.conf",
		"ls:"+host+"/dir", "ls:/var/lib/cache/new")
	tb.mkdirs(t, "etc", "var")
	for link, target := range map[string]string{
		"etc/resolv.conf": "../run/systemd/resolve/stub-resolv.conf",
		"etc/abs.conf":    host + "/abs.conf",
		"etc/rel.conf":    strings.Repeat("../", 12) + strings.TrimPrefix(host, "/") + "/rel.conf",
		"dir-link":        host + "/dir",
		"var/cache":       "../var/lib/cache", // a link to a directory the image lacks
	} {
		if err := os.Symlink(target, filepath.Join(tb.Rootfs, link)); err != nil {
			t.Fatal(err)
		}
	}
	bind := func(dest string) rspec.Mount {
		return rspec.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"bind", "ro"}}
	}
	tb.Spec.Mounts = append(tb.Spec.Mounts, bind("/etc/resolv.conf"), bind("/etc/abs.conf"), bind("/etc/rel.conf"),
		rspec.Mount{Destination: "/dir-link", Type: "tmpfs", Source: "tmpfs"},
		rspec.Mount{Destination: "/var/cache/new", Type: "tmpfs", Source: "tmpfs"})
	before := snapshotHost(t)
	f := runFacts(t, tb)
	checkNothingLeft(t, before)
	for _, p := range []string{"/etc/resolv.conf", stub, "/etc/abs.conf", "/etc/rel.conf", host + "/abs.conf", host + "/rel.conf"} {
		if got := f.Probes["read:"+p]; got.Content != content || got.Err != "" {
			t.Errorf("%s in the container: got %+v, want the bound file's content", p, got)
		}
	}
	for _, c := range []struct{ dest, point string }{{"/dir-link", host + "/dir"}, {"/var/cache/new", "/var/lib/cache/new"}} {
		if got := f.Probes["ls:"+c.point]; got.Err != "" || len(got.Entries) != 0 {
			t.Errorf("%s in the container: got %+v, want an empty tmpfs", c.point, got)
		}
		if m := f.mount(c.point); m == nil || m.FSType != "tmpfs" {
			t.Errorf("mount at %s (for %s) in the container: got %+v, want a tmpfs", c.point, c.dest, m)
		}
	}
	if ents, err := os.ReadDir(host); err != nil || len(ents) != 0 {
		t.Errorf("the host folder the links name: got %v (%v), want it empty", ents, err)
	}
	// Made in the rootfs: the targets, empty, and their folders.
	for _, p := range []string{stub, host + "/abs.conf", host + "/rel.conf", host + "/dir", "var/lib/cache/new"} {
		if _, err := os.Stat(filepath.Join(tb.Rootfs, p)); err != nil {
			t.Errorf("the rootfs's %s after the run: %v, want it made there", p, err)
		}
	}
}

// idmapSource mounts a tmpfs (which can be idmapped) on a temporary
// folder, with files owned by 1000:1000 and 0:0 and a tmpfs of its own at
// sub holding another file of 1000:1000, for the rbind cases.
func idmapSource(t *testing.T) string {
	t.Helper()
	dir := tmpfsDir(t)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", sub, err)
	}
	for name, id := range map[string]int{"owned-1000": 1000, "owned-root": 0, "sub/file": 1000} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, id, id); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRunIDMappedMounts binds a tmpfs with mounts[i].uidMappings and
// gidMappings: a file owned by 1000 on the host is seen through the mount as
// the id the mapping gives 1000, an unmapped one as the overflow id; ridmap
// maps the submounts of an rbind, idmap only the top; a container with a
// user namespace of its own gets its own maps for a bare "idmap".
func TestRunIDMappedMounts(t *testing.T) {
	needRoot(t, "mounts a tmpfs and makes idmapped mounts")
	src := idmapSource(t)
	maps := func(c, h, n uint32) []rspec.LinuxIDMapping {
		return []rspec.LinuxIDMapping{{ContainerID: c, HostID: h, Size: n}}
	}
	const nobody = 65534 // /proc/sys/kernel/overflowuid and overflowgid
	type want struct {
		probe    string
		uid, gid uint32
		ro       bool // a mount: read-only
	}
	cases := []struct {
		name   string
		userNS bool // the container has a user namespace mapping 0 → 100000
		mounts []rspec.Mount
		want   []want
	}{
		{
			name: "bind idmap",
			mounts: []rspec.Mount{{Destination: "/idm", Type: "bind", Source: src, Options: []string{"bind", "idmap"},
				UIDMappings: maps(1000, 2000, 10), GIDMappings: maps(1000, 3000, 10)}},
			want: []want{{probe: "stat:/idm/owned-1000", uid: 2000, gid: 3000}, {probe: "stat:/idm/owned-root", uid: nobody, gid: nobody}},
		},
		{
			name: "mappings without the option, read-only",
			mounts: []rspec.Mount{{Destination: "/idm", Type: "bind", Source: src, Options: []string{"bind", "ro"},
				UIDMappings: maps(1000, 2000, 1), GIDMappings: maps(1000, 2000, 1)}},
			want: []want{{probe: "stat:/idm/owned-1000", uid: 2000, gid: 2000}, {probe: "/idm", ro: true}},
		},
		{
			name: "rbind ridmap and rbind idmap",
			mounts: []rspec.Mount{
				{Destination: "/ridm", Type: "bind", Source: src, Options: []string{"rbind", "ridmap"},
					UIDMappings: maps(1000, 2000, 1), GIDMappings: maps(1000, 2000, 1)},
				{Destination: "/top", Type: "bind", Source: src, Options: []string{"rbind", "idmap"},
					UIDMappings: maps(1000, 2000, 1), GIDMappings: maps(1000, 2000, 1)},
			},
			want: []want{
				{probe: "stat:/ridm/owned-1000", uid: 2000, gid: 2000}, {probe: "stat:/ridm/sub/file", uid: 2000, gid: 2000},
				{probe: "stat:/top/owned-1000", uid: 2000, gid: 2000}, {probe: "stat:/top/sub/file", uid: 1000, gid: 1000},
			},
		},
		{
			name:   "the container's own maps",
			userNS: true,
			mounts: []rspec.Mount{
				{Destination: "/idm", Type: "bind", Source: src, Options: []string{"bind", "idmap"}},
				// rbind: in a user namespace the kernel refuses a bind that would
				// uncover what the locked submount at sub hides.
				{Destination: "/plain", Type: "bind", Source: src, Options: []string{"rbind"}},
			},
			// Through its own maps, as on disk; without, 1000 is not mapped there.
			want: []want{{probe: "stat:/idm/owned-1000", uid: 1000, gid: 1000}, {probe: "stat:/idm/owned-root", uid: 0, gid: 0},
				{probe: "stat:/plain/owned-1000", uid: nobody, gid: nobody}},
		},
		{
			name:   "a user namespace and mappings of its own",
			userNS: true,
			mounts: []rspec.Mount{{Destination: "/idm", Type: "bind", Source: src, Options: []string{"bind", "idmap"},
				UIDMappings: maps(1000, 100005, 1), GIDMappings: maps(1000, 100007, 1)}},
			want: []want{{probe: "stat:/idm/owned-1000", uid: 5, gid: 7}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var probes []string
			for _, w := range c.want {
				if !w.ro {
					probes = append(probes, w.probe)
				}
			}
			tb := helperBundle(t, specs.GenerateOptions{}, probes...)
			tb.Spec.Mounts = append(tb.Spec.Mounts, c.mounts...)
			if c.userNS {
				tb.Spec.Linux.Namespaces = append(tb.Spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
				tb.Spec.Linux.UIDMappings, tb.Spec.Linux.GIDMappings = maps(0, 100000, 65536), maps(0, 100000, 65536)
				tb.Spec.Linux.MaskedPaths, tb.Spec.Linux.ReadonlyPaths = nil, nil
			}
			lb := tb.save(t)
			if c.userNS {
				tb.chown(t, 100000, 100000)
			}
			before := snapshotHost(t)
			code, out, err := runCaptured(t, lb)
			checkNothingLeft(t, before)
			if err != nil || code != 0 {
				t.Fatalf("Run: got status %d, error %v, want 0 and none", code, err)
			}
			f := parseFacts(t, out)
			for _, w := range c.want {
				if w.ro {
					if m := f.mount(w.probe); m == nil || !slices.Contains(m.Opts, "ro") {
						t.Errorf("mount at %s: got %+v, want it read-only", w.probe, m)
					}
					continue
				}
				got := f.Probes[w.probe]
				if got.Err != "" || got.UID != w.uid || got.GID != w.gid {
					t.Errorf("%s: got %d:%d (%s), want %d:%d", w.probe, got.UID, got.GID, got.Err, w.uid, w.gid)
				}
			}
		})
	}
}

// TestRunIDMappedMountRefused: a filesystem the kernel cannot idmap is an
// error naming the mount, and nothing is left.
func TestRunIDMappedMountRefused(t *testing.T) {
	needRoot(t, "makes idmapped mounts")
	tb := helperBundle(t, specs.GenerateOptions{})
	m := len(tb.Spec.Mounts)
	tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/idm", Type: "bind", Source: "/proc", Options: []string{"bind", "idmap"},
		UIDMappings: []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}, GIDMappings: []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}})
	lb := tb.save(t)
	before := snapshotHost(t)
	_, out, err := runCaptured(t, lb)
	checkNothingLeft(t, before)
	want := fmt.Sprintf("mounts[%d]: bind /proc on /idm: idmap the mount: invalid argument (the filesystem of /proc may not support idmapped mounts)", m)
	if err == nil || err.Error() != want || out != "" {
		t.Errorf("Run: got error %v and stdout %q, want %q and nothing", err, out, want)
	}
}
