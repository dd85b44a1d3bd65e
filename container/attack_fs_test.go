package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
)

// hostFolder is a folder of the host's with one file in it, for attacks to
// aim at; checkHostFolder says whether it is as it was.
func hostFolder(t *testing.T) string {
	t.Helper()
	d := tempDir(t)
	if err := os.WriteFile(filepath.Join(d, "sentinel"), []byte("the host's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func checkHostFolder(t *testing.T, d string) {
	t.Helper()
	ents, err := os.ReadDir(d)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if err != nil || !slices.Equal(names, []string{"sentinel"}) {
		t.Errorf("the host folder %s: got %q (%v), want only its sentinel", d, names, err)
	}
	if data, err := os.ReadFile(filepath.Join(d, "sentinel")); err != nil || string(data) != "the host's\n" {
		t.Errorf("the host folder's sentinel: got %q (%v), want it unchanged", data, err)
	}
}

// TestAttackMountRace is CVE-2021-30465's class: a mount destination
// swapped for a symlink to a host folder while the container is set up.
// A goroutine flips /race in the image between a folder and a symlink to a
// host folder (absolute, and by ".." past the rootfs) while containers
// that mount a tmpfs and bind a file below /race start, one after
// another. Each either starts or fails naming the mount; the host folder
// stays as it was, and nothing is left.
func TestAttackMountRace(t *testing.T) {
	needRoot(t, "runs containers")
	host := hostFolder(t)
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.Spec.Root.Readonly = false
	src := tb.writeFile(t, "file", "bound\n", 0o644)
	n := len(tb.Spec.Mounts)
	tb.Spec.Mounts = append(tb.Spec.Mounts,
		rspec.Mount{Destination: "/race/dir", Type: "tmpfs", Source: "tmpfs"},
		rspec.Mount{Destination: "/race/file", Type: "bind", Source: src, Options: []string{"bind"}})
	b := tb.save(t)
	race := filepath.Join(tb.Rootfs, "race")
	links := []string{host, strings.Repeat("../", 16) + strings.TrimPrefix(host, "/")}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.RemoveAll(race)
			if i%2 == 0 {
				os.Mkdir(race, 0o755)
			} else {
				os.Symlink(links[i/2%2], race)
			}
			runtime.Gosched()
		}
	}()
	before := snapshotHost(t)
	started, failed := 0, 0
	for i := 0; i < 100; i++ {
		code, out, err := runCaptured(t, b)
		switch {
		case err == nil && code == 0:
			started++
		case err != nil && (strings.Contains(err.Error(), fmt.Sprintf("mounts[%d]", n)) || strings.Contains(err.Error(), fmt.Sprintf("mounts[%d]", n+1))):
			failed++
		default:
			t.Errorf("run %d: got status %d, error %v, stdout %q; want a start or an error naming mounts[%d] or [%d]", i, code, err, out, n, n+1)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("100 runs against the flipping destination: %d started, %d refused", started, failed)
	checkNothingLeft(t, before)
	checkHostFolder(t, host)
}

// TestAttackFakeProc is CVE-2019-16884's class: an image whose /proc is not
// a folder to mount procfs on but a symlink elsewhere, or a folder of fake
// files. proc (and sysfs) are mounted only on a real folder: a symlinked
// destination is refused. Over a folder, the fake files are hidden, the
// masks mask the real ones, and linux.sysctl is written to the kernel,
// never to a file of the image, even when the config mounts proc
// elsewhere and leaves the image's /proc in view.
func TestAttackFakeProc(t *testing.T) {
	needRoot(t, "runs containers")
	fake := func(t *testing.T, tb *testBundle, dir string) {
		tb.mkdirs(t, dir+"/sys/net/ipv4", dir+"/self")
		for file, content := range map[string]string{"kcore": "fake kcore\n", "sys/net/ipv4/ip_forward": "0\n", "self/status": "Name: fake\n"} {
			if err := os.WriteFile(filepath.Join(tb.Rootfs, dir, file), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("symlink", func(t *testing.T) {
		host := hostFolder(t)
		for _, target := range []string{"fakeproc", host} {
			resolved := "/" + strings.TrimPrefix(target, "/")
			tb := helperBundle(t, specs.GenerateOptions{})
			fake(t, tb, "fakeproc")
			if err := os.Symlink(target, filepath.Join(tb.Rootfs, "proc")); err != nil {
				t.Fatal(err)
			}
			before := snapshotHost(t)
			_, out, err := runCaptured(t, tb.save(t))
			checkNothingLeft(t, before)
			want := fmt.Sprintf("mounts[0].destination: /proc: a symlink in the image (-> %s): proc and sysfs are mounted only on a folder of their own", resolved)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("/proc -> %s: got error %v, stdout %q; want %q", target, err, out, want)
			}
		}
		checkHostFolder(t, host)
	})
	t.Run("folder of fake files", func(t *testing.T) {
		tb := helperBundle(t, specs.GenerateOptions{}, "read:/proc/timer_list", "read:/proc/sys/net/ipv4/ip_forward")
		fake(t, tb, "proc")
		tb.Spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		before := snapshotHost(t)
		f := runFacts(t, tb)
		checkNothingLeft(t, before)
		if f.Status["Name"] != "helper" {
			t.Errorf("/proc/self/status: Name %q, want helper (the kernel's)", f.Status["Name"])
		}
		if got := f.Probes["read:/proc/timer_list"]; got.Content != "" || got.Err != "" {
			t.Errorf("/proc/timer_list: got %+v, want it masked (empty)", got)
		}
		if got := f.Probes["read:/proc/sys/net/ipv4/ip_forward"].Content; got != "1\n" {
			t.Errorf("ip_forward: got %q, want the kernel's 1", got)
		}
	})
	t.Run("proc mounted elsewhere", func(t *testing.T) {
		tb := helperBundle(t, specs.GenerateOptions{}, "read:/proc/sys/net/ipv4/ip_forward", "read:/realproc/sys/net/ipv4/ip_forward", "read:/proc/kcore")
		fake(t, tb, "proc")
		tb.Spec.Root.Readonly = false
		tb.Spec.Mounts[0].Destination = "/realproc" // runc's spec has proc first
		tb.Spec.Linux.ReadonlyPaths, tb.Spec.Linux.MaskedPaths = nil, []string{"/proc/kcore"}
		tb.Spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		before := snapshotHost(t)
		code, out, err := runCaptured(t, tb.save(t))
		checkNothingLeft(t, before)
		if err != nil || code != 0 {
			t.Fatalf("got status %d, error %v; want 0", code, err)
		}
		// The helper's own look at /proc finds the fake one: its
		// complaints are expected.
		var f facts
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatalf("the helper's output: %v: %q", err, out)
		}
		for _, c := range []struct{ what, got, want string }{
			{"the kernel's ip_forward", f.Probes["read:/realproc/sys/net/ipv4/ip_forward"].Content, "1\n"},
			{"the image's fake ip_forward", f.Probes["read:/proc/sys/net/ipv4/ip_forward"].Content, "0\n"},
			{"the image's fake kcore, masked", f.Probes["read:/proc/kcore"].Content, ""},
		} {
			if c.got != c.want {
				t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
			}
		}
		if data, _ := os.ReadFile(filepath.Join(tb.Rootfs, "proc/sys/net/ipv4/ip_forward")); string(data) != "0\n" {
			t.Errorf("the image's fake ip_forward after the run: got %q, want it untouched", data)
		}
	})
}

// noDevMount takes the /dev tmpfs and every mount below /dev out of the
// spec: the container then has the image's /dev as it is.
func noDevMount(s *rspec.Spec) {
	s.Mounts = slices.DeleteFunc(s.Mounts, func(m rspec.Mount) bool {
		return m.Destination == "/dev" || strings.HasPrefix(m.Destination, "/dev/")
	})
}

// TestAttackMaskSource is CVE-2025-31133's class: the /dev/null a runtime
// binds over linux.maskedPaths, swapped in the container's /dev for a
// symlink to a file the mask would then expose (the kernel's
// core_pattern: writing it runs a program on the host as root), or for a
// file of the image's. The masks are the host's /dev/null, taken before
// pivot_root: a masked path is the null device, and reads empty. (The test
// writes nothing: before the fix a write would have changed the host's
// core_pattern.)
func TestAttackMaskSource(t *testing.T) {
	needRoot(t, "runs containers")
	corePattern, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, link, file string }{
		{name: "symlink to core_pattern", link: "/proc/sys/kernel/core_pattern"},
		{name: "symlink to sysrq-trigger", link: "/proc/sysrq-trigger"},
		{name: "a file of the image's", file: "not null\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// (Some kernels lack /proc/kcore: /proc/timer_list and
			// /proc/keys are masked files they all have.)
			tb := helperBundle(t, specs.GenerateOptions{}, "read:/proc/timer_list", "stat:/proc/timer_list", "read:/proc/keys", "stat:/proc/keys")
			noDevMount(tb.Spec)
			tb.mkdirs(t, "dev")
			null := filepath.Join(tb.Rootfs, "dev/null")
			if tc.link != "" {
				if err := os.Symlink(tc.link, null); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(null, []byte(tc.file), 0o666); err != nil {
				t.Fatal(err)
			}
			before := snapshotHost(t)
			f := runFacts(t, tb)
			checkNothingLeft(t, before)
			for _, p := range []string{"/proc/timer_list", "/proc/keys"} {
				if got := f.Probes["read:"+p]; got.Content != "" || got.Err != "" {
					t.Errorf("read %s: got %q (%s), want it masked: empty", p, got.Content, got.Err)
				}
				if got := f.Probes["stat:"+p]; got.Type != "char" || got.Major != 1 || got.Minor != 3 {
					t.Errorf("%s: got a %s %d:%d, want the null device 1:3 over it", p, got.Type, got.Major, got.Minor)
				}
			}
			if got, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); string(got) != string(corePattern) {
				t.Errorf("core_pattern: got %q, want it unchanged %q", got, corePattern)
			}
		})
	}
}

// hostDisk is the device number of the disk the host's root lives on.
func hostDisk(t *testing.T) (major, minor uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	return unix.Major(st.Dev), unix.Minor(st.Dev)
}

// TestAttackDeviceNodes: device nodes an image carries for memory and the
// host's disk, and the same made by a container with CAP_MKNOD. The
// device cgroup (runc's default: deny all but the default devices) refuses
// to open the image's and to make new ones; a node of an allowed device
// works.
func TestAttackDeviceNodes(t *testing.T) {
	needRoot(t, "runs containers and makes device nodes")
	maj, min := hostDisk(t)
	disk := fmt.Sprintf("%d:%d", maj, min)
	tb := helperBundle(t, specs.GenerateOptions{},
		"read:/img-mem", "write:/img-mem", "read:/img-disk", "write:/img-disk", "read:/img-null",
		"mknod:/new-disk:b:"+disk, "mknod:/new-kmem:c:1:2")
	tb.Spec.Root.Readonly = false
	caps := append(slices.Clone(tb.Spec.Process.Capabilities.Bounding), "CAP_MKNOD")
	tb.Spec.Process.Capabilities = &rspec.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	for name, dev := range map[string][3]uint32{"img-mem": {unix.S_IFCHR, 1, 1}, "img-disk": {unix.S_IFBLK, maj, min}, "img-null": {unix.S_IFCHR, 1, 3}} {
		if err := unix.Mknod(filepath.Join(tb.Rootfs, name), dev[0]|0o666, int(unix.Mkdev(dev[1], dev[2]))); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshotHost(t)
	f := runFacts(t, tb)
	checkNothingLeft(t, before)
	for _, c := range []struct{ probe, want string }{
		{"read:/img-mem", "EPERM"}, {"write:/img-mem", "EPERM"},
		{"read:/img-disk", "EPERM"}, {"write:/img-disk", "EPERM"},
		{"read:/img-null", ""},
		// The device cgroup refuses mknod ("m") as well as open.
		{"mknod:/new-disk:b:" + disk, "EPERM"}, {"mknod:/new-kmem:c:1:2", "EPERM"},
	} {
		if got := f.Probes[c.probe].Err; got != c.want {
			t.Errorf("%s: got %q, want %q", c.probe, got, c.want)
		}
	}
}

// TestAttackSymlinkedDevProc: an image whose /dev and /proc are symlinks
// to a folder of the host's. runc 1.1 followed such a /dev out of the
// rootfs and made the container's device nodes in the host's folder;
// minirun resolves /dev inside the rootfs (its nodes land in the rootfs's
// own copy of the path), and refuses to mount proc on a symlink. The host
// folder stays as it was.
func TestAttackSymlinkedDevProc(t *testing.T) {
	needRoot(t, "runs containers")
	host := hostFolder(t)
	t.Run("dev", func(t *testing.T) {
		tb := helperBundle(t, specs.GenerateOptions{}, "stat:/dev/null", "ls:"+host)
		tb.Spec.Root.Readonly = false
		if err := os.Symlink(host, filepath.Join(tb.Rootfs, "dev")); err != nil {
			t.Fatal(err)
		}
		before := snapshotHost(t)
		f := runFacts(t, tb)
		checkNothingLeft(t, before)
		if got := f.Probes["stat:/dev/null"]; got.Type != "char" || got.Major != 1 || got.Minor != 3 {
			t.Errorf("/dev/null in the container: got %+v, want the null device", got)
		}
		if got := f.Probes["ls:"+host].Entries; !slices.Contains(got, "null") {
			t.Errorf("%s in the container: got %q, want the container's /dev there, inside its rootfs", host, got)
		}
	})
	t.Run("proc", func(t *testing.T) {
		tb := helperBundle(t, specs.GenerateOptions{})
		if err := os.Symlink(host, filepath.Join(tb.Rootfs, "proc")); err != nil {
			t.Fatal(err)
		}
		before := snapshotHost(t)
		_, _, err := runCaptured(t, tb.save(t))
		checkNothingLeft(t, before)
		if err == nil || !strings.Contains(err.Error(), "mounts[0].destination: /proc: a symlink in the image") {
			t.Errorf("got %v, want mounts[0] refused", err)
		}
	})
	checkHostFolder(t, host)
}

// vfsCapData is struct vfs_cap_data, revision 2 (linux/capability.h): the
// security.capability extended attribute that setcap writes.
func fileCaps(permitted, inheritable uint64, effective bool) []byte {
	magic := uint32(0x02000000) // VFS_CAP_REVISION_2
	if effective {
		magic |= 1 // VFS_CAP_FLAGS_EFFECTIVE
	}
	words := []uint32{magic, uint32(permitted), uint32(inheritable), uint32(permitted >> 32), uint32(inheritable >> 32)}
	b := make([]byte, 4*len(words))
	for i, w := range words {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
	}
	return b
}

// TestAttackInheritableCaps is CVE-2022-29162's class: an exec'd program
// with file capabilities, or setuid root, must not end up with more than
// the process was given (runc exec gave processes inheritable
// capabilities, which file-inheritable bits turned into permitted ones).
// The image holds the helper four times: plain; with CAP_SYS_ADMIN and
// CAP_NET_ADMIN file-inheritable (setcap +ei); file-permitted and
// inheritable (+eip); setuid root. The process, uid 1000, runs each with
// bounding, permitted and effective CAP_KILL and no inheritable set: none
// may hold more than CAP_KILL, nor any inheritable or ambient capability
// (the kernel may refuse the +eip one outright). With no_new_privs the
// setuid bit gives nothing at all.
func TestAttackInheritableCaps(t *testing.T) {
	needRoot(t, "sets file capabilities and setuid bits")
	kill := capBits(t, "CAP_KILL")
	for _, nnp := range []bool{false, true} {
		t.Run(fmt.Sprintf("no_new_privs=%v", nnp), func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			tb.install(t, helperBin, "capbin-i")
			tb.install(t, helperBin, "capbin-p")
			tb.install(t, helperBin, "suidbin")
			adm := uint64(1)<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_NET_ADMIN
			for bin, caps := range map[string][]byte{"capbin-i": fileCaps(0, adm, true), "capbin-p": fileCaps(adm, adm, true)} {
				if err := unix.Setxattr(filepath.Join(tb.Rootfs, bin), "security.capability", caps, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := unix.Chmod(filepath.Join(tb.Rootfs, "suidbin"), 0o4755); err != nil {
				t.Fatal(err)
			}
			tb.Spec.Process.User = rspec.User{UID: 1000, GID: 1000}
			tb.Spec.Process.NoNewPrivileges = nnp
			one := []string{"CAP_KILL"}
			tb.Spec.Process.Capabilities = &rspec.LinuxCapabilities{Bounding: one, Effective: one, Permitted: one}
			for _, bin := range []string{"/helper", "/capbin-i", "/capbin-p", "/suidbin"} {
				tb.Spec.Process.Args = []string{bin}
				before := snapshotHost(t)
				code, out, err := runCaptured(t, tb.save(t))
				checkNothingLeft(t, before)
				if bin == "/capbin-p" && err != nil && err.Error() == "process.args[0]: /capbin-p: operation not permitted" {
					// The kernel refuses to exec a capability-dumb
					// binary (effective bit) whose file-permitted
					// capabilities it cannot all grant: no more than
					// asked, by not running.
					continue
				}
				if err != nil || code != 0 {
					t.Fatalf("%s: got status %d, error %v; want 0", bin, code, err)
				}
				f := parseFacts(t, out)
				for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
					var v uint64
					fmt.Sscanf(f.Status[set], "%x", &v)
					var allowed uint64
					fmt.Sscanf(kill, "%x", &allowed)
					if set == "CapInh" || set == "CapAmb" {
						allowed = 0
					}
					if v&^allowed != 0 {
						t.Errorf("%s: %s %s, want nothing beyond %#x", bin, set, f.Status[set], allowed)
					}
				}
				wantEUID := 1000
				if bin == "/suidbin" && !nnp {
					wantEUID = 0
				}
				if f.EUID != wantEUID {
					t.Errorf("%s: euid %d, want %d", bin, f.EUID, wantEUID)
				}
			}
		})
	}
}

// TestAttackRootless: minirun without privilege gives the user nothing the
// user did not have: a container that maps the host's root or a range
// the user was not given is refused, and its root cannot write, chown or
// make device nodes over the host's root-owned files bound into it.
func TestAttackRootless(t *testing.T) {
	needRoot(t, "switches to uid 65534 to run minirun unprivileged")
	wrap := asNobody(t)
	const nobody = 65534
	for _, tc := range []struct {
		name string
		uid  []rspec.LinuxIDMapping
		gid  []rspec.LinuxIDMapping
		want string
	}{
		{"the host's root gid", nil, []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}, "linux.gidMappings"},
		{"a range with root in it", []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}, nil, "linux.uidMappings"},
		{"uids the user was not given", []rspec.LinuxIDMapping{{ContainerID: 0, HostID: nobody, Size: 1}, {ContainerID: 1, HostID: 1000, Size: 10}}, nil, "linux.uidMappings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{Rootless: true, UID: nobody, GID: nobody})
			if tc.uid != nil {
				tb.Spec.Linux.UIDMappings = tc.uid
			}
			if tc.gid != nil {
				tb.Spec.Linux.GIDMappings = tc.gid
			}
			tb.save(t)
			tb.chown(t, nobody, nobody)
			before := snapshotHost(t)
			stdout, stderr, code := runBinary(t, wrap, "run", tb.config())
			checkNothingLeft(t, before)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "minirun: "+tc.want) {
				t.Errorf("got status %d, stdout %q, stderr %q; want 1 and an error naming %s", code, stdout, stderr, tc.want)
			}
		})
	}
	t.Run("the host's root-owned files", func(t *testing.T) {
		host := hostFolder(t)
		tb := helperBundle(t, specs.GenerateOptions{Rootless: true, UID: nobody, GID: nobody},
			"write:/host/sentinel", "write:/host", "chown:/host/sentinel", "mknod:/host/null:c:1:3", "mknod:/null:c:1:3", "read:/shadow")
		tb.Spec.Root.Readonly = false
		tb.Spec.Mounts = append(tb.Spec.Mounts,
			rspec.Mount{Destination: "/host", Type: "bind", Source: host, Options: []string{"rbind"}},
			rspec.Mount{Destination: "/shadow", Type: "bind", Source: "/etc/shadow", Options: []string{"bind", "ro"}})
		tb.save(t)
		tb.chown(t, nobody, nobody)
		before := snapshotHost(t)
		stdout, stderr, code := runBinary(t, wrap, "run", tb.config())
		checkNothingLeft(t, before)
		if code != 0 {
			t.Fatalf("got status %d, stderr %q", code, stderr)
		}
		f := parseFacts(t, stdout)
		for _, c := range []struct{ probe, want string }{
			{"write:/host/sentinel", "EACCES"}, {"write:/host", "EACCES"}, {"chown:/host/sentinel", "EPERM"},
			{"mknod:/host/null:c:1:3", "EACCES"}, {"mknod:/null:c:1:3", "EPERM"}, {"read:/shadow", "EACCES"},
		} {
			if got := f.Probes[c.probe].Err; got != c.want {
				t.Errorf("%s: got %q, want %q", c.probe, got, c.want)
			}
		}
		checkHostFolder(t, host)
	})
}
