package specs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestGenerateValidates(t *testing.T) {
	for _, opts := range []GenerateOptions{
		{},
		{Rootless: true, UID: 1000, GID: 1000},
		{HostRoot: true},
		{HostRoot: true, Rootless: true, UID: 1000, GID: 100},
		{HostRoot: true, Exists: func(string) bool { return false }},
	} {
		name := strings.TrimSpace(strings.Join([]string{map[bool]string{true: "rootless"}[opts.Rootless], map[bool]string{true: "host-root"}[opts.HostRoot]}, " "))
		t.Run("["+name+"]", func(t *testing.T) {
			s := Generate(opts)
			if err := Validate(s, ValidateOptions{}); err != nil {
				t.Errorf("got %v, want nil", err)
			}
			// What is written must read back the same.
			data, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse("config.json", data)
			if err != nil {
				t.Fatalf("reading it back: %v", err)
			}
			if !reflect.DeepEqual(back, s) {
				t.Errorf("read back differs:\n%+v\nwant\n%+v", back, s)
			}
		})
	}
}

func destinations(s *rspec.Spec) []string {
	var d []string
	for _, m := range s.Mounts {
		d = append(d, m.Destination)
	}
	return d
}

func nsTypes(s *rspec.Spec) []string {
	var d []string
	for _, n := range s.Linux.Namespaces {
		d = append(d, string(n.Type))
	}
	return d
}

func mountAt(s *rspec.Spec, dest string) *rspec.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dest {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestGenerateDefault(t *testing.T) {
	s := Generate(GenerateOptions{})
	checks := []struct {
		name      string
		got, want any
	}{
		{"ociVersion", s.Version, "1.3.0"},
		{"root", *s.Root, rspec.Root{Path: "rootfs", Readonly: true}},
		{"args", s.Process.Args, []string{"sh"}},
		{"terminal", s.Process.Terminal, true},
		{"cwd", s.Process.Cwd, "/"},
		{"user", s.Process.User, rspec.User{}},
		{"noNewPrivileges", s.Process.NoNewPrivileges, true},
		{"hostname", s.Hostname, "minirun"},
		{"bounding", s.Process.Capabilities.Bounding, []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
		{"effective", s.Process.Capabilities.Effective, []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
		{"permitted", s.Process.Capabilities.Permitted, []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
		{"inheritable", s.Process.Capabilities.Inheritable, []string(nil)},
		{"ambient", s.Process.Capabilities.Ambient, []string(nil)},
		{"rlimits", s.Process.Rlimits, []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}},
		{"mounts", destinations(s), []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}},
		{"/dev", *mountAt(s, "/dev"), rspec.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}}},
		{"/dev/pts", mountAt(s, "/dev/pts").Options, []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{"/sys", *mountAt(s, "/sys"), rspec.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}}},
		{"/sys/fs/cgroup type", mountAt(s, "/sys/fs/cgroup").Type, "cgroup"},
		{"namespaces", nsTypes(s), []string{"pid", "network", "ipc", "uts", "mount", "cgroup"}},
		{"uidMappings", s.Linux.UIDMappings, []rspec.LinuxIDMapping(nil)},
		{"masked /proc/kcore", slices.Contains(s.Linux.MaskedPaths, "/proc/kcore"), true},
		{"readonly /proc/sys", slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys"), true},
		{"devices cgroup", s.Linux.Resources.Devices, []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
}

func TestGenerateRootless(t *testing.T) {
	s := Generate(GenerateOptions{Rootless: true, UID: 1000, GID: 1001})
	checks := []struct {
		name      string
		got, want any
	}{
		{"namespaces", nsTypes(s), []string{"pid", "ipc", "uts", "mount", "cgroup", "user"}},
		{"uidMappings", s.Linux.UIDMappings, []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}},
		{"gidMappings", s.Linux.GIDMappings, []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}},
		{"mounts", destinations(s), []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"}},
		{"/sys", *mountAt(s, "/sys"), rspec.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}},
		{"/dev/pts", mountAt(s, "/dev/pts").Options, []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{"/dev/mqueue", mountAt(s, "/dev/mqueue").Options, []string{"nosuid", "noexec", "nodev"}},
		{"resources", s.Linux.Resources, (*rspec.LinuxResources)(nil)},
		{"hostname", s.Hostname, "minirun"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
	// The rootless variant must not change what the default returns.
	if got := mountAt(Generate(GenerateOptions{}), "/dev/pts").Options; !slices.Contains(got, "gid=5") {
		t.Errorf("default /dev/pts options = %q, want gid=5 still there", got)
	}
}

func TestGenerateHostRoot(t *testing.T) {
	present := map[string]bool{"/usr": true, "/bin": true, "/lib": true, "/etc/passwd": true, "/etc/ld.so.cache": true}
	var asked []string
	s := Generate(GenerateOptions{HostRoot: true, Exists: func(p string) bool { asked = append(asked, p); return present[p] }})
	if got, want := asked, append(slices.Clone(HostRootDirs), HostRootFiles...); !reflect.DeepEqual(got, want) {
		t.Errorf("asked about %q, want %q", got, want)
	}
	if got, want := destinations(s), []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup",
		"/usr", "/bin", "/lib", "/etc/passwd", "/etc/ld.so.cache"}; !reflect.DeepEqual(got, want) {
		t.Errorf("mounts = %q, want %q", got, want)
	}
	want := rspec.Mount{Destination: "/usr", Type: "bind", Source: "/usr", Options: []string{"rbind", "ro", "nosuid", "nodev"}}
	if got := *mountAt(s, "/usr"); !reflect.DeepEqual(got, want) {
		t.Errorf("/usr mount = %+v, want %+v", got, want)
	}
	if got, want := *s.Root, (rspec.Root{Path: "rootfs", Readonly: true}); got != want {
		t.Errorf("root = %+v, want %+v", got, want)
	}
	if got, want := s.Process.Args, []string{"sh"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
}

// TestGenerateHostRootOnHost uses the real host: every bind source
// exists, /usr is always there, and with the rootfs the CLI creates the
// whole config passes the filesystem checks.
func TestGenerateHostRootOnHost(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := Generate(GenerateOptions{HostRoot: true})
	if mountAt(s, "/usr") == nil {
		t.Errorf("no /usr bind mount; the host has /usr")
	}
	if err := Validate(s, ValidateOptions{CheckFS: true, Dir: dir}); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestWriteConfig(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		dir := t.TempDir()
		p, err := WriteConfig(dir, GenerateOptions{})
		if err != nil {
			t.Fatalf("got %v, want nil", err)
		}
		if want := filepath.Join(dir, "config.json"); p != want {
			t.Errorf("path = %q, want %q", p, want)
		}
		b, err := LoadBundle(dir)
		if err != nil {
			t.Fatalf("loading what was written: %v", err)
		}
		if !reflect.DeepEqual(b.Spec, Generate(GenerateOptions{})) {
			t.Errorf("written config differs from Generate's")
		}
		if _, err := os.Stat(filepath.Join(dir, "rootfs")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rootfs: got %v, want it not created without HostRoot", err)
		}
		data, _ := os.ReadFile(p)
		if !strings.HasSuffix(string(data), "}\n") || !strings.Contains(string(data), "\n\t\"ociVersion\": \"1.3.0\",\n") {
			t.Errorf("config is not indented JSON ending in a newline:\n%s", data)
		}
	})
	t.Run("host root creates rootfs", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := WriteConfig(dir, GenerateOptions{HostRoot: true}); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
		entries, err := os.ReadDir(filepath.Join(dir, "rootfs"))
		if err != nil || len(entries) != 0 {
			t.Errorf("rootfs: got %d entries, %v; want an empty folder", len(entries), err)
		}
		b, err := LoadBundle(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Validate(ValidateOptions{CheckFS: true}); err != nil {
			t.Errorf("validating the bundle: got %v, want nil", err)
		}
	})
	t.Run("host root keeps existing rootfs", func(t *testing.T) {
		dir := t.TempDir()
		keep := filepath.Join(dir, "rootfs", "keep")
		if err := os.MkdirAll(keep, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteConfig(dir, GenerateOptions{HostRoot: true}); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("rootfs content: %v, want kept", err)
		}
	})
	t.Run("refuses to overwrite", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "config.json")
		if err := os.WriteFile(p, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := WriteConfig(dir, GenerateOptions{HostRoot: true})
		if want := p + ": already exists; remove it or write to another folder (--bundle)"; errString(err) != want {
			t.Errorf("got %v, want %s", err, want)
		}
		if !errors.Is(err, ErrConfigExists) {
			t.Errorf("errors.Is(err, ErrConfigExists) = false, want true")
		}
		if data, _ := os.ReadFile(p); string(data) != "mine" {
			t.Errorf("config.json = %q, want it untouched", data)
		}
		if _, err := os.Stat(filepath.Join(dir, "rootfs")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rootfs: got %v, want nothing created", err)
		}
	})
	t.Run("missing bundle", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, err := WriteConfig(dir, GenerateOptions{})
		if want := "bundle " + dir + ": no such directory"; errString(err) != want {
			t.Errorf("got %v, want %s", err, want)
		}
		if !errors.Is(err, ErrNoBundle) {
			t.Errorf("errors.Is(err, ErrNoBundle) = false, want true")
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("bundle: got %v, want it not created", err)
		}
	})
	t.Run("bundle is a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteConfig(f, GenerateOptions{}); !errors.Is(err, ErrNoBundle) {
			t.Errorf("got %v, want ErrNoBundle", err)
		}
	})
	t.Run("rootfs is a file", func(t *testing.T) {
		dir := t.TempDir()
		rootfs := filepath.Join(dir, "rootfs")
		if err := os.WriteFile(rootfs, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := WriteConfig(dir, GenerateOptions{HostRoot: true})
		if want := rootfs + ": exists and is not a directory"; errString(err) != want {
			t.Errorf("got %v, want %s", err, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "config.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("config.json: got %v, want it removed again", err)
		}
	})
}
