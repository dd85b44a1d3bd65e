package specs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/namespaces"
)

// GenerateOptions chooses the default config Generate builds.
type GenerateOptions struct {
	// Rootless builds a config an unprivileged user can run, like
	// `runc spec --rootless`: a user namespace mapping UID and GID to 0,
	// no network namespace, the host's /sys bound read-only instead of a
	// new sysfs, no cgroup mount or resources, and no gid= mount options
	// (gid 5 is not mapped).
	Rootless bool
	// UID and GID are the caller's ids, mapped to 0 when Rootless.
	UID, GID uint32
	// HostRoot builds a config that needs no image: root.path "rootfs" is
	// an empty folder (WriteConfig creates it) and the host's /usr, /bin,
	// /sbin, /lib, /lib64 and the /etc files a shell needs are bound into
	// it read-only, wherever they exist on the host.
	HostRoot bool
	// Exists says whether a host path exists, following symlinks; nil
	// asks the host (os.Stat). Only HostRoot looks.
	Exists func(path string) bool
	// Args, when set, is the process to run instead of an interactive sh,
	// without a terminal (minirun spec -- CMD ARG…).
	Args []string
}

// DefaultHostname is the hostname of a generated config.
const DefaultHostname = "minirun"

// HostRootDirs and HostRootFiles are what a HostRoot config binds from the
// host, read-only, when they exist. On a merged-/usr system /bin is a
// symlink to usr/bin: the bind follows it, so the container sees the
// host's /usr/bin at /bin too.
var (
	HostRootDirs  = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64"}
	HostRootFiles = []string{"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/ld.so.cache"}
)

// Generate returns a default config: runtime-spec 1.3.0, a terminal
// running sh as root in rootfs (read-only) with the usual /proc, /dev,
// /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup mounts, three
// capabilities (CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE), 1024
// open files, no new privileges, the /proc and /sys files runc masks or
// makes read-only, and new pid, network, ipc, uts, mount and cgroup
// namespaces. Opts chooses the rootless and host-root variants; every
// variant passes Validate.
func Generate(opts GenerateOptions) *rspec.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	s := &rspec.Spec{
		Version: rspec.Version,
		Root:    &rspec.Root{Path: "rootfs", Readonly: true},
		Process: &rspec.Process{
			Terminal: true,
			Args:     []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd: "/",
			Capabilities: &rspec.LinuxCapabilities{
				Bounding:  slices.Clone(caps),
				Effective: slices.Clone(caps),
				Permitted: slices.Clone(caps),
			},
			Rlimits:         []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: DefaultHostname,
		Mounts: []rspec.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &rspec.Linux{
			Resources: &rspec.LinuxResources{
				Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []rspec.LinuxNamespace{
				{Type: rspec.PIDNamespace},
				{Type: rspec.NetworkNamespace},
				{Type: rspec.IPCNamespace},
				{Type: rspec.UTSNamespace},
				{Type: rspec.MountNamespace},
				{Type: rspec.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
				"/sys/firmware", "/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	if opts.HostRoot {
		s.Mounts = append(s.Mounts, hostRootMounts(opts.Exists)...)
	}
	if opts.Rootless {
		makeRootless(s, opts.UID, opts.GID)
	}
	if len(opts.Args) > 0 {
		s.Process.Args = append([]string(nil), opts.Args...)
		s.Process.Terminal = false
	}
	return s
}

// hostRootMounts binds the host's programs, libraries and the /etc files
// a shell needs, read-only, skipping what the host lacks.
func hostRootMounts(exists func(string) bool) []rspec.Mount {
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	var ms []rspec.Mount
	for _, p := range append(slices.Clone(HostRootDirs), HostRootFiles...) {
		if exists(p) {
			ms = append(ms, rspec.Mount{Destination: p, Type: "bind", Source: p, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
		}
	}
	return ms
}

// makeRootless turns a config into one an unprivileged caller can run.
func makeRootless(s *rspec.Spec, uid, gid uint32) {
	var ns []rspec.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != rspec.NetworkNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = append(ns, rspec.LinuxNamespace{Type: rspec.UserNamespace})
	s.Linux.UIDMappings, s.Linux.GIDMappings = namespaces.RootlessMapping(uid, gid)
	s.Linux.Resources = nil

	var ms []rspec.Mount
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/sys":
			// Without a network namespace of its own the container may
			// not mount a new sysfs; bind the host's instead.
			ms = append(ms, rspec.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}})
			continue
		case "/sys/fs/cgroup":
			continue // under /sys already, and no cgroup of its own
		}
		m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "gid=") })
		ms = append(ms, m)
	}
	s.Mounts = ms
}

// Errors from WriteConfig that mean the caller chose a bad place.
var (
	// ErrConfigExists: the bundle already has a config.json, which
	// WriteConfig never overwrites.
	ErrConfigExists = errors.New("already exists")
	// ErrNoBundle: the bundle folder does not exist or is not a folder.
	ErrNoBundle = errors.New("no such directory")
)

// noBundleError is a bundle that is not a folder; it is an ErrNoBundle.
type noBundleError struct{ msg string }

func (e *noBundleError) Error() string        { return e.msg }
func (e *noBundleError) Is(target error) bool { return target == ErrNoBundle }

// WriteConfig writes Generate(opts) as dir/config.json and, for HostRoot,
// creates dir/rootfs (empty) when it is missing. It never overwrites a
// config.json (the error wraps ErrConfigExists) and never creates dir
// itself (ErrNoBundle); on any failure it leaves nothing behind. It
// returns the config's path, dir joined with config.json.
func WriteConfig(dir string, opts GenerateOptions) (string, error) {
	if dir == "" {
		dir = "."
	}
	path := filepath.Join(dir, ConfigName)
	switch st, err := os.Stat(dir); {
	case errors.Is(err, os.ErrNotExist):
		return path, fmt.Errorf("bundle %s: %w", dir, ErrNoBundle)
	case err != nil:
		return path, fmt.Errorf("bundle %s: %w", dir, errors.Unwrap(err))
	case !st.IsDir():
		return path, &noBundleError{"bundle " + dir + ": is a file, not a directory"}
	}
	data, err := json.MarshalIndent(Generate(opts), "", "\t")
	if err != nil {
		return path, fmt.Errorf("encoding the config: %w", err)
	}
	data = append(data, '\n')

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return path, fmt.Errorf("%s: %w; remove it or write to another folder (--bundle)", path, ErrConfigExists)
		}
		return path, err // *fs.PathError names the file
	}
	undo := func(err error) (string, error) {
		f.Close()
		os.Remove(path)
		return path, err
	}
	if _, err := f.Write(data); err != nil {
		return undo(fmt.Errorf("writing %s: %w", path, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return path, fmt.Errorf("writing %s: %w", path, err)
	}
	if opts.HostRoot {
		rootfs := filepath.Join(dir, "rootfs")
		err := os.Mkdir(rootfs, 0o755)
		if errors.Is(err, os.ErrExist) {
			if st, serr := os.Stat(rootfs); serr == nil && st.IsDir() {
				err = nil
			} else {
				err = fmt.Errorf("%s: exists and is not a directory", rootfs)
			}
		}
		if err != nil {
			os.Remove(path)
			return path, err
		}
	}
	return path, nil
}
