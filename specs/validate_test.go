package specs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// baseSpec is a small valid spec the tests mutate.
func baseSpec() *rspec.Spec {
	return &rspec.Spec{
		Version: "1.3.0",
		Root:    &rspec.Root{Path: "rootfs"},
		Process: &rspec.Process{Args: []string{"sh"}, Cwd: "/"},
		Mounts: []rspec.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
		},
		Linux: &rspec.Linux{
			Namespaces: []rspec.LinuxNamespace{{Type: "pid"}, {Type: "mount"}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// addNS appends namespaces to the spec's list.
func addNS(s *rspec.Spec, ns ...rspec.LinuxNamespace) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, ns...)
}

func TestValidateBase(t *testing.T) {
	if err := Validate(baseSpec(), ValidateOptions{}); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

// TestValidate asserts every message Validate can give: each case mutates
// the valid base spec and lists the exact lines expected.
func TestValidate(t *testing.T) {
	userNS := func(s *rspec.Spec) {
		addNS(s, rspec.LinuxNamespace{Type: "user"})
		s.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}
		s.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}
	}
	tests := []struct {
		name   string
		mutate func(s *rspec.Spec)
		opts   ValidateOptions
		want   []string // lines, without the file
	}{
		// ociVersion
		{"version missing", func(s *rspec.Spec) { s.Version = "" }, ValidateOptions{},
			[]string{`ociVersion: missing; minirun supports 1.0.0 to 1.3.x`}},
		{"version too new", func(s *rspec.Spec) { s.Version = "1.4.0" }, ValidateOptions{},
			[]string{`ociVersion: "1.4.0" is not supported; minirun supports 1.0.0 to 1.3.x`}},
		{"version major 2", func(s *rspec.Spec) { s.Version = "2.0.0" }, ValidateOptions{},
			[]string{`ociVersion: "2.0.0" is not supported; minirun supports 1.0.0 to 1.3.x`}},
		{"version major 0", func(s *rspec.Spec) { s.Version = "0.6.0" }, ValidateOptions{},
			[]string{`ociVersion: "0.6.0" is not supported; minirun supports 1.0.0 to 1.3.x`}},
		{"version release candidate", func(s *rspec.Spec) { s.Version = "1.0.0-rc5" }, ValidateOptions{},
			[]string{`ociVersion: "1.0.0-rc5" is not supported; minirun supports 1.0.0 to 1.3.x`}},
		{"version malformed", func(s *rspec.Spec) { s.Version = "1.0" }, ValidateOptions{},
			[]string{`ociVersion: "1.0" is not a version (want MAJOR.MINOR.PATCH, such as 1.3.0)`}},
		{"version leading zero", func(s *rspec.Spec) { s.Version = "1.01.0" }, ValidateOptions{},
			[]string{`ociVersion: "1.01.0" is not a version (want MAJOR.MINOR.PATCH, such as 1.3.0)`}},
		{"version empty pre-release", func(s *rspec.Spec) { s.Version = "1.2.0-" }, ValidateOptions{},
			[]string{`ociVersion: "1.2.0-" is not a version (want MAJOR.MINOR.PATCH, such as 1.3.0)`}},

		// root
		{"root missing", func(s *rspec.Spec) { s.Root = nil }, ValidateOptions{},
			[]string{`root: missing; the container needs a root filesystem (root.path)`}},
		{"root path missing", func(s *rspec.Spec) { s.Root.Path = "" }, ValidateOptions{},
			[]string{`root.path: missing; give the folder holding the container's files`}},

		// process
		{"process missing", func(s *rspec.Spec) { s.Process = nil }, ValidateOptions{},
			[]string{`process: missing; the container needs a process to start (process.args)`}},
		{"process missing allowed", func(s *rspec.Spec) { s.Process = nil }, ValidateOptions{AllowNoProcess: true}, nil},
		{"args empty", func(s *rspec.Spec) { s.Process.Args = nil }, ValidateOptions{},
			[]string{`process.args: missing; give the program to run and its arguments`}},
		{"args[0] empty", func(s *rspec.Spec) { s.Process.Args = []string{"", "x"} }, ValidateOptions{},
			[]string{`process.args[0]: must name the program to run`}},
		{"args NUL", func(s *rspec.Spec) { s.Process.Args = []string{"sh", "a\x00b"} }, ValidateOptions{},
			[]string{`process.args[1]: contains a NUL byte`}},
		{"env without =", func(s *rspec.Spec) { s.Process.Env = []string{"A=1", "FOO"} }, ValidateOptions{},
			[]string{`process.env[1]: "FOO" must be NAME=VALUE`}},
		{"env without name", func(s *rspec.Spec) { s.Process.Env = []string{"=x"} }, ValidateOptions{},
			[]string{`process.env[0]: "=x" must be NAME=VALUE`}},
		{"env NUL", func(s *rspec.Spec) { s.Process.Env = []string{"A=\x00"} }, ValidateOptions{},
			[]string{`process.env[0]: contains a NUL byte`}},
		{"env empty value is fine", func(s *rspec.Spec) { s.Process.Env = []string{"A="} }, ValidateOptions{}, nil},
		{"cwd missing", func(s *rspec.Spec) { s.Process.Cwd = "" }, ValidateOptions{},
			[]string{`process.cwd: missing; give an absolute path`}},
		{"cwd relative", func(s *rspec.Spec) { s.Process.Cwd = "home" }, ValidateOptions{},
			[]string{`process.cwd: "home" must be absolute`}},
		{"console size without terminal", func(s *rspec.Spec) { s.Process.ConsoleSize = &rspec.Box{Height: 24, Width: 80} }, ValidateOptions{},
			[]string{`process.consoleSize: set but process.terminal is false; a console size needs a terminal`}},
		{"console size with terminal", func(s *rspec.Spec) {
			s.Process.ConsoleSize = &rspec.Box{Height: 24, Width: 80}
			s.Process.Terminal = true
		}, ValidateOptions{}, nil},
		{"umask", func(s *rspec.Spec) { s.Process.User.Umask = ptr(uint32(0o1000)) }, ValidateOptions{},
			[]string{`process.user.umask: 01000 is not a file mode mask (want 0 to 0777)`}},
		{"umask 0777", func(s *rspec.Spec) { s.Process.User.Umask = ptr(uint32(0o777)) }, ValidateOptions{}, nil},
		{"capabilities unknown", func(s *rspec.Spec) {
			s.Process.Capabilities = &rspec.LinuxCapabilities{
				Bounding:    []string{"CAP_KILL", "CAP_FLY"},
				Effective:   []string{"cap_kill"},
				Inheritable: []string{"KILL"},
				Permitted:   []string{"CAP_CHECKPOINT_RESTORE"},
				Ambient:     []string{""},
			}
		}, ValidateOptions{}, []string{
			`process.capabilities.bounding[1]: unknown capability "CAP_FLY"`,
			`process.capabilities.effective[0]: unknown capability "cap_kill"`,
			`process.capabilities.inheritable[0]: unknown capability "KILL"`,
			`process.capabilities.ambient[0]: unknown capability ""`,
		}},
		{"rlimits", func(s *rspec.Spec) {
			s.Process.Rlimits = []rspec.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024},
				{Type: "RLIMIT_FOO", Soft: 1, Hard: 1},
				{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 10},
				{Type: "RLIMIT_CORE", Soft: 2048, Hard: 1024},
			}
		}, ValidateOptions{}, []string{
			`process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"`,
			`process.rlimits[2].type: duplicate rlimit "RLIMIT_NOFILE" (also process.rlimits[0])`,
			`process.rlimits[3]: soft limit 2048 is above hard limit 1024`,
		}},
		{"oomScoreAdj high", func(s *rspec.Spec) { s.Process.OOMScoreAdj = ptr(1001) }, ValidateOptions{},
			[]string{`process.oomScoreAdj: 1001 is out of range -1000 to 1000`}},
		{"oomScoreAdj low", func(s *rspec.Spec) { s.Process.OOMScoreAdj = ptr(-1001) }, ValidateOptions{},
			[]string{`process.oomScoreAdj: -1001 is out of range -1000 to 1000`}},
		{"oomScoreAdj edges", func(s *rspec.Spec) { s.Process.OOMScoreAdj = ptr(-1000) }, ValidateOptions{}, nil},
		{"scheduler", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: "SCHED_FAST", Nice: 20} }, ValidateOptions{},
			[]string{`process.scheduler.policy: unknown scheduling policy "SCHED_FAST"`, `process.scheduler.nice: 20 is out of range -20 to 19`}},
		{"ioPriority", func(s *rspec.Spec) { s.Process.IOPriority = &rspec.LinuxIOPriority{Class: "RT", Priority: 8} }, ValidateOptions{},
			[]string{`process.ioPriority.class: unknown class "RT"; want IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE`,
				`process.ioPriority.priority: 8 is out of range 0 to 7`}},

		// hostname
		{"hostname without uts", func(s *rspec.Spec) { s.Hostname = "box" }, ValidateOptions{},
			[]string{`hostname: needs a uts namespace in linux.namespaces; without one it would change the host's`}},
		{"domainname without uts", func(s *rspec.Spec) { s.Domainname = "example.org" }, ValidateOptions{},
			[]string{`domainname: needs a uts namespace in linux.namespaces; without one it would change the host's`}},
		{"hostname without linux", func(s *rspec.Spec) { s.Hostname = "box"; s.Linux, s.Mounts = nil, nil }, ValidateOptions{},
			[]string{`hostname: needs a uts namespace in linux.namespaces; without one it would change the host's`}},
		{"hostname with new uts", func(s *rspec.Spec) { s.Hostname = "box"; addNS(s, rspec.LinuxNamespace{Type: "uts"}) }, ValidateOptions{}, nil},
		{"hostname with joined uts", func(s *rspec.Spec) {
			s.Hostname = "box"
			addNS(s, rspec.LinuxNamespace{Type: "uts", Path: "/proc/1/ns/uts"})
		}, ValidateOptions{}, nil},

		// mounts
		{"mount destination relative", func(s *rspec.Spec) { s.Mounts[0].Destination = "proc" }, ValidateOptions{},
			[]string{`mounts[0].destination: "proc" must be absolute`}},
		{"mount destination missing", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Type: "tmpfs", Source: "tmpfs"})
		}, ValidateOptions{}, []string{`mounts[1].destination: missing; give an absolute path`}},
		{"mount type missing", func(s *rspec.Spec) { s.Mounts[0].Type = "" }, ValidateOptions{},
			[]string{`mounts[0].type: missing; give a filesystem type (proc, tmpfs…) or a bind option`}},
		{"bind without type is fine", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Source: "/tmp", Options: []string{"rbind"}})
		}, ValidateOptions{}, nil},
		{"bind without source", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Type: "bind"})
		}, ValidateOptions{}, []string{`mounts[1].source: missing; a bind mount needs a source`}},
		{"idmap without bind", func(s *rspec.Spec) { s.Mounts[0].Options = []string{"idmap"} }, ValidateOptions{},
			[]string{`mounts[0].options: idmap and ridmap need a bind mount`}},
		{"idmap without a mapping", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"bind", "idmap"}})
		}, ValidateOptions{}, []string{`mounts[1].options: idmap and ridmap need uidMappings and gidMappings, or a new user namespace whose maps they take`}},
		{"idmap with the user namespace's maps", func(s *rspec.Spec) {
			userNS(s)
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "ridmap"}})
		}, ValidateOptions{}, nil},
		{"mount mappings on a tmpfs", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs",
				UIDMappings: []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
				GIDMappings: []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}})
		}, ValidateOptions{}, []string{`mounts[1].uidMappings: an idmapped mount needs a bind mount`}},
		{"mount uidMappings without gid", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"idmap"},
				UIDMappings: []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}})
		}, ValidateOptions{}, []string{
			`mounts[1].gidMappings: missing; an idmapped mount needs both uidMappings and gidMappings`,
		}},
		{"mount gidMappings without uid", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"ridmap"},
				GIDMappings: []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}})
		}, ValidateOptions{}, []string{
			`mounts[1].uidMappings: missing; an idmapped mount needs both uidMappings and gidMappings`,
		}},
		{"mount mapping entries", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"idmap"},
				UIDMappings: []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 0}},
				GIDMappings: []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 5}, {ContainerID: 4, HostID: 2000, Size: 1}}})
		}, ValidateOptions{}, []string{
			`mounts[1].uidMappings[0]: size must be at least 1`,
			`mounts[1].gidMappings[1]: container ids 4 overlap [0]'s 0-4`,
		}},

		// hooks
		{"hooks", func(s *rspec.Spec) {
			s.Hooks = &rspec.Hooks{
				Prestart:        []rspec.Hook{{Path: "/bin/true"}},
				CreateRuntime:   []rspec.Hook{{Path: "hook.sh"}},
				CreateContainer: []rspec.Hook{{Path: ""}},
				StartContainer:  []rspec.Hook{{Path: "/x", Timeout: ptr(0)}},
				Poststart:       []rspec.Hook{{Path: "/x", Timeout: ptr(5)}},
				Poststop:        []rspec.Hook{{Path: "/x"}, {Path: "x", Timeout: ptr(-1)}},
			}
		}, ValidateOptions{}, []string{
			`hooks.createRuntime[0].path: "hook.sh" must be absolute`,
			`hooks.createContainer[0].path: missing; give an absolute path`,
			`hooks.startContainer[0].timeout: 0 must be greater than 0 seconds`,
			`hooks.poststop[1].path: "x" must be absolute`,
			`hooks.poststop[1].timeout: -1 must be greater than 0 seconds`,
		}},

		// namespaces
		{"no mount namespace", func(s *rspec.Spec) {
			s.Linux.Namespaces = []rspec.LinuxNamespace{{Type: "pid"}}
			s.Root.Readonly = true
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = []string{"/proc/kcore"}, []string{"/proc/sys"}
			s.Linux.RootfsPropagation = "shared"
			s.Linux.Devices = []rspec.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}}
		}, ValidateOptions{}, []string{
			`mounts: needs a mount namespace in linux.namespaces; without one it would mount in the host's mount namespace`,
			`root.readonly: needs a mount namespace in linux.namespaces; without one it would make the host's mount of root.path read-only`,
			`linux.maskedPaths: needs a mount namespace in linux.namespaces; without one it would mount over the host's paths`,
			`linux.readonlyPaths: needs a mount namespace in linux.namespaces; without one it would make the host's paths read-only`,
			`linux.rootfsPropagation: needs a mount namespace in linux.namespaces; without one it would change the propagation of the host's mounts`,
			`linux.devices: needs a mount namespace in linux.namespaces; without one it would make device nodes in the host's filesystem`,
		}},
		{"no mount namespace, nothing mounted", func(s *rspec.Spec) {
			s.Linux.Namespaces = []rspec.LinuxNamespace{{Type: "pid"}}
			s.Mounts = nil
		}, ValidateOptions{}, nil},
		{"joined mount namespace", func(s *rspec.Spec) {
			s.Linux.Namespaces = []rspec.LinuxNamespace{{Type: "pid"}, {Type: "mount", Path: "/proc/1/ns/mnt"}}
			s.Linux.MaskedPaths = []string{"/proc/kcore"}
		}, ValidateOptions{}, []string{
			`mounts: needs a new mount namespace: the joined one is the container's filesystem as it is, and minirun changes nothing in a namespace other processes share`,
			`linux.maskedPaths: needs a new mount namespace: the joined one is the container's filesystem as it is, and minirun changes nothing in a namespace other processes share`,
		}},
		{"joined mount namespace, nothing mounted", func(s *rspec.Spec) {
			s.Linux.Namespaces = []rspec.LinuxNamespace{{Type: "pid"}, {Type: "mount", Path: "/proc/1/ns/mnt"}}
			s.Mounts = nil
		}, ValidateOptions{}, nil},
		{"namespace unknown", func(s *rspec.Spec) { addNS(s, rspec.LinuxNamespace{Type: "net"}) }, ValidateOptions{},
			[]string{`linux.namespaces[2].type: unknown namespace type "net"; known types are user, ipc, uts, network, pid, time, cgroup, mount`}},
		{"namespace duplicate", func(s *rspec.Spec) {
			addNS(s, rspec.LinuxNamespace{Type: "uts"}, rspec.LinuxNamespace{Type: "uts", Path: "/proc/1/ns/uts"})
		}, ValidateOptions{}, []string{`linux.namespaces[3]: duplicate namespace type "uts" (also linux.namespaces[2])`}},
		{"namespace path relative", func(s *rspec.Spec) { addNS(s, rspec.LinuxNamespace{Type: "network", Path: "netns/a"}) }, ValidateOptions{},
			[]string{`linux.namespaces[2].path: "netns/a" must be absolute`}},

		// user namespace and id maps
		{"user namespace with maps", userNS, ValidateOptions{}, nil},
		{"maps without user namespace", func(s *rspec.Spec) {
			s.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
			s.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, ValidateOptions{}, []string{
			`linux.uidMappings: set but linux.namespaces has no new user namespace to apply it to`,
			`linux.gidMappings: set but linux.namespaces has no new user namespace to apply it to`,
		}},
		{"maps with joined user namespace", func(s *rspec.Spec) {
			addNS(s, rspec.LinuxNamespace{Type: "user", Path: "/proc/1/ns/user"})
			s.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, ValidateOptions{}, []string{`linux.uidMappings: set but linux.namespaces has no new user namespace to apply it to`}},
		{"user namespace without maps", func(s *rspec.Spec) { addNS(s, rspec.LinuxNamespace{Type: "user"}) }, ValidateOptions{}, []string{
			"linux.uidMappings: missing; a new user namespace needs a map (see `minirun spec --rootless`)",
			"linux.gidMappings: missing; a new user namespace needs a map (see `minirun spec --rootless`)",
		}},
		{"bad map entries", func(s *rspec.Spec) {
			userNS(s)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, rspec.LinuxIDMapping{ContainerID: 5, HostID: 5000, Size: 1})
			s.Linux.GIDMappings = append(s.Linux.GIDMappings, rspec.LinuxIDMapping{ContainerID: 100, HostID: 1009, Size: 0})
		}, ValidateOptions{}, []string{
			`linux.uidMappings[1]: container ids 5 overlap [0]'s 0-9`,
			`linux.gidMappings[1]: size must be at least 1`,
		}},
		{"too many map lines", func(s *rspec.Spec) {
			userNS(s)
			s.Linux.UIDMappings = nil
			for i := range 341 {
				s.Linux.UIDMappings = append(s.Linux.UIDMappings, rspec.LinuxIDMapping{ContainerID: uint32(i), HostID: uint32(1000 + i), Size: 1})
			}
		}, ValidateOptions{}, []string{`linux.uidMappings: has 341 entries, the kernel accepts at most 340`}},
		{"user not mapped", func(s *rspec.Spec) {
			userNS(s)
			s.Process.User = rspec.User{UID: 10, GID: 9, AdditionalGids: []uint32{1, 65534}}
		}, ValidateOptions{}, []string{
			`process.user.uid: 10 is not mapped by linux.uidMappings`,
			`process.user.additionalGids[1]: 65534 is not mapped by linux.gidMappings`,
		}},

		// time namespace
		{"time offsets without time namespace", func(s *rspec.Spec) {
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"monotonic": {Secs: 10}}
		}, ValidateOptions{}, []string{`linux.timeOffsets: set but linux.namespaces has no new time namespace to apply them to`}},
		{"time offsets", func(s *rspec.Spec) {
			addNS(s, rspec.LinuxNamespace{Type: "time"})
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{
				"monotonic": {Secs: 10}, "boottime": {Nanosecs: 1e9}, "realtime": {Secs: 1},
			}
		}, ValidateOptions{}, []string{
			`linux.timeOffsets["boottime"].nanosecs: 1000000000 is not below 1000000000`,
			`linux.timeOffsets["realtime"]: unknown clock; only monotonic and boottime can be offset`,
		}},

		// sysctl
		{"sysctl", func(s *rspec.Spec) {
			s.Linux.Sysctl = map[string]string{
				"vm.swappiness":          "10",
				"net.ipv4.ip_forward":    "1",
				"kernel.shmmax":          "1",
				"fs.mqueue.msg_max":      "10",
				"kernel.hostname":        "x",
				"kernel.domainname":      "y",
				"kernel.shm_rmid_forced": "1",
			}
		}, ValidateOptions{}, []string{
			`linux.sysctl["fs.mqueue.msg_max"]: needs a ipc namespace in linux.namespaces; without one it would change the host's`,
			`linux.sysctl["kernel.domainname"]: needs a uts namespace in linux.namespaces; without one it would change the host's`,
			`linux.sysctl["kernel.hostname"]: needs a uts namespace in linux.namespaces; without one it would change the host's`,
			`linux.sysctl["kernel.shm_rmid_forced"]: needs a ipc namespace in linux.namespaces; without one it would change the host's`,
			`linux.sysctl["kernel.shmmax"]: needs a ipc namespace in linux.namespaces; without one it would change the host's`,
			`linux.sysctl["net.ipv4.ip_forward"]: needs a network namespace in linux.namespaces; without one it would change the host's`,
			`linux.sysctl["vm.swappiness"]: not a namespaced sysctl; setting it would change the host`,
		}},
		{"sysctl with namespaces", func(s *rspec.Spec) {
			addNS(s, rspec.LinuxNamespace{Type: "ipc"}, rspec.LinuxNamespace{Type: "network", Path: "/run/netns/a"}, rspec.LinuxNamespace{Type: "uts"})
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.msgmax": "1", "kernel.hostname": "x"}
		}, ValidateOptions{}, nil},
		{"sysctl conflicts", func(s *rspec.Spec) {
			addNS(s, rspec.LinuxNamespace{Type: "uts"})
			s.Hostname, s.Domainname = "a", "b"
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "x", "kernel.domainname": "y"}
		}, ValidateOptions{}, []string{
			`linux.sysctl["kernel.domainname"]: conflicts with domainname; set one or the other`,
			`linux.sysctl["kernel.hostname"]: conflicts with hostname; set one or the other`,
		}},
		{"netDevices without network namespace", func(s *rspec.Spec) {
			s.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"eth1": {Name: "eth0"}}
		}, ValidateOptions{}, []string{`linux.netDevices: needs a network namespace in linux.namespaces to move the devices into`}},

		// devices
		{"devices", func(s *rspec.Spec) {
			s.Linux.Devices = []rspec.LinuxDevice{
				{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: ptr(os.FileMode(0o666))},
				{Path: "dev/zero", Type: "x", Major: 1, Minor: 5},
				{Path: "/dev/sda", Type: "b", Major: 4096, Minor: -1},
				{Path: "/dev/fifo", Type: "p"},
				{Path: "/dev/u", Type: "u", Major: 4095, Minor: 1<<20 - 1},
				{Path: "/dev/t", Major: 1, Minor: 1, FileMode: ptr(os.ModeDevice | 0o600)},
				{Path: "/dev/c", Type: "c", Major: 1, Minor: 1, FileMode: ptr(os.FileMode(unix.S_IFCHR | 0o4666))},
				{Path: "/dev/d", Type: "b", Major: 1, Minor: 1, FileMode: ptr(os.FileMode(unix.S_IFCHR | 0o666))},
			}
		}, ValidateOptions{}, []string{
			`linux.devices[1].path: "dev/zero" must be absolute`,
			`linux.devices[1].type: unknown device type "x"; want c, b, u or p`,
			`linux.devices[2].major: 4096 is out of range 0 to 4095`,
			`linux.devices[2].minor: -1 is out of range 0 to 1048575`,
			`linux.devices[5].type: missing; want c, b, u or p`,
			`linux.devices[5].fileMode: 0400000600 is not a mode for this device (want permission bits, 0 to 07777)`,
			`linux.devices[7].fileMode: 020666 is not a mode for this device (want permission bits, 0 to 07777)`,
		}},

		// paths, propagation, personality
		{"masked and readonly paths", func(s *rspec.Spec) {
			s.Linux.MaskedPaths = []string{"/proc/kcore", "proc/keys"}
			s.Linux.ReadonlyPaths = []string{""}
		}, ValidateOptions{}, []string{
			`linux.maskedPaths[1]: "proc/keys" must be absolute`,
			`linux.readonlyPaths[0]: missing; give an absolute path`,
		}},
		{"rootfs propagation", func(s *rspec.Spec) { s.Linux.RootfsPropagation = "secret" }, ValidateOptions{},
			[]string{`linux.rootfsPropagation: unknown propagation "secret"; want shared, slave, private or unbindable (or rshared, rslave, rprivate, runbindable)`}},
		{"rootfs propagation rslave", func(s *rspec.Spec) { s.Linux.RootfsPropagation = "rslave" }, ValidateOptions{}, nil},
		{"personality", func(s *rspec.Spec) { s.Linux.Personality = &rspec.LinuxPersonality{Domain: "LINUX64"} }, ValidateOptions{},
			[]string{`linux.personality.domain: unknown domain "LINUX64"; want LINUX or LINUX32`}},

		// seccomp
		{"seccomp valid", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{
				DefaultAction: rspec.ActErrno, Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchAARCH64},
				Flags:    []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog},
				Syscalls: []rspec.LinuxSyscall{{Names: []string{"read", "write"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{{Index: 5, Op: rspec.OpEqualTo}}}},
			}
		}, ValidateOptions{}, nil},
		{"seccomp default action missing", func(s *rspec.Spec) { s.Linux.Seccomp = &rspec.LinuxSeccomp{} }, ValidateOptions{},
			[]string{`linux.seccomp.defaultAction: missing; give the action for syscalls no rule names (SCMP_ACT_ERRNO, SCMP_ACT_ALLOW…)`}},
		{"seccomp default notify", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActNotify, ListenerPath: "/run/l.sock"}
		}, ValidateOptions{},
			[]string{`linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default: the listener itself needs syscalls to answer`}},
		{"seccomp everything wrong", func(s *rspec.Spec) {
			s.Linux.Seccomp = &rspec.LinuxSeccomp{
				DefaultAction: "SCMP_ACT_MAYBE",
				Architectures: []rspec.Arch{"SCMP_ARCH_X86_64", "x86_64"},
				Flags:         []rspec.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"},
				Syscalls: []rspec.LinuxSyscall{
					{Action: rspec.ActAllow},
					{Names: []string{"read", ""}, Action: "ALLOW"},
					{Names: []string{"ioctl"}, Args: []rspec.LinuxSeccompArg{{Index: 6, Op: "=="}}},
					{Names: []string{"mount"}, Action: rspec.ActNotify},
				},
			}
		}, ValidateOptions{}, []string{
			`linux.seccomp.defaultAction: unknown action "SCMP_ACT_MAYBE"`,
			`linux.seccomp.architectures[1]: unknown architecture "x86_64"`,
			`linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_TSYNC"`,
			`linux.seccomp.syscalls[0].names: missing; list the syscalls the rule applies to`,
			`linux.seccomp.syscalls[1].names[1]: must not be empty`,
			`linux.seccomp.syscalls[1].action: unknown action "ALLOW"`,
			`linux.seccomp.syscalls[2].action: missing`,
			`linux.seccomp.syscalls[2].args[0].index: 6 is out of range 0 to 5`,
			`linux.seccomp.syscalls[2].args[0].op: unknown operator "=="`,
			`linux.seccomp.listenerPath: missing; SCMP_ACT_NOTIFY needs a listener socket to send the notify fd to`,
		}},

		// several at once, in field order
		{"every error at once", func(s *rspec.Spec) {
			s.Version = "9.9.9"
			s.Process.Cwd = "tmp"
			s.Mounts[0].Destination = "proc"
			addNS(s, rspec.LinuxNamespace{Type: "pid"})
		}, ValidateOptions{}, []string{
			`ociVersion: "9.9.9" is not supported; minirun supports 1.0.0 to 1.3.x`,
			`process.cwd: "tmp" must be absolute`,
			`mounts[0].destination: "proc" must be absolute`,
			`linux.namespaces[2]: duplicate namespace type "pid" (also linux.namespaces[0])`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.mutate(s)
			tt.opts.File = "spec.json"
			err := Validate(s, tt.opts)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want\n%s", strings.Join(tt.want, "\n"))
			}
			var got []string
			for _, l := range strings.Split(err.Error(), "\n") {
				f, ok := strings.CutPrefix(l, "spec.json: ")
				if !ok {
					t.Errorf("line %q does not start with the file name", l)
				}
				got = append(got, f)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestValidateVersions(t *testing.T) {
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2-dev", "1.1.0", "1.1.0-rc.1", "1.2.0", "1.2.1", "1.3.0", "1.3.5+build.7"} {
		t.Run(v, func(t *testing.T) {
			s := baseSpec()
			s.Version = v
			if err := Validate(s, ValidateOptions{}); err != nil {
				t.Errorf("got %v, want nil", err)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	err := Validate(nil, ValidateOptions{File: "spec.json"})
	if got, want := errString(err), "spec.json: the config is empty (null)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidateNoFile(t *testing.T) {
	s := baseSpec()
	s.Process.Cwd = "x"
	if got, want := errString(Validate(s, ValidateOptions{})), `process.cwd: "x" must be absolute`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidationErrorUnwrap(t *testing.T) {
	s := baseSpec()
	s.Process.Cwd = "x"
	s.Root = nil
	err := Validate(s, ValidateOptions{File: "c.json"})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %T, want *ValidationError", err)
	}
	if got, want := ve.File, "c.json"; got != want {
		t.Errorf("File = %q, want %q", got, want)
	}
	want := []FieldError{
		{"root", "missing; the container needs a root filesystem (root.path)"},
		{"process.cwd", `"x" must be absolute`},
	}
	if !reflect.DeepEqual(ve.Errs, want) {
		t.Errorf("Errs = %+v, want %+v", ve.Errs, want)
	}
	var fe FieldError
	if !errors.As(err, &fe) || fe != want[0] {
		t.Errorf("errors.As(FieldError) = %+v, want %+v", fe, want[0])
	}
}

// TestValidateFS checks what CheckFS adds: root.path and bind sources,
// resolved against Dir.
func TestValidateFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(s *rspec.Spec)
		want   string
	}{
		{"relative root exists", func(s *rspec.Spec) {}, ""},
		{"absolute root exists", func(s *rspec.Spec) { s.Root.Path = filepath.Join(dir, "rootfs") }, ""},
		{"root missing", func(s *rspec.Spec) { s.Root.Path = "nope" },
			`root.path: "nope" (` + filepath.Join(dir, "nope") + `) does not exist`},
		{"root absolute missing", func(s *rspec.Spec) { s.Root.Path = "/nonexistent/minirun" },
			`root.path: "/nonexistent/minirun" does not exist`},
		{"root is a file", func(s *rspec.Spec) { s.Root.Path = "file" },
			`root.path: "file" (` + filepath.Join(dir, "file") + `) is not a directory`},
		{"bind source exists", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/f", Type: "bind", Source: "file"})
		}, ""},
		{"bind source missing", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/f", Source: "/nonexistent/minirun", Options: []string{"bind"}})
		}, `mounts[1].source: "/nonexistent/minirun" does not exist`},
		{"bind source under a file", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/f", Type: "bind", Source: "file/x"})
		}, `mounts[1].source: "file/x": not a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.mutate(s)
			err := Validate(s, ValidateOptions{CheckFS: true, Dir: dir})
			if got := errString(err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			// Without CheckFS nothing on the host is looked at.
			if err := Validate(s, ValidateOptions{Dir: dir}); err != nil {
				t.Errorf("without CheckFS: got %v, want nil", err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want MountOpts
	}{
		{"none", nil, MountOpts{}},
		{"dev tmpfs", []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			MountOpts{Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"}},
		{"devpts", []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			MountOpts{Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"}},
		{"rbind ro", []string{"rbind", "ro"}, MountOpts{Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY}},
		{"bind then rbind", []string{"bind", "rbind"}, MountOpts{Flags: unix.MS_BIND | unix.MS_REC}},
		{"last wins ro rw", []string{"ro", "rw"}, MountOpts{Cleared: unix.MS_RDONLY}},
		{"last wins rw ro", []string{"rw", "ro"}, MountOpts{Flags: unix.MS_RDONLY}},
		{"clears", []string{"suid", "dev", "exec", "atime", "diratime", "norelatime", "nostrictatime", "async", "nomand", "nolazytime", "noiversion", "loud", "symfollow"},
			MountOpts{Cleared: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME |
				unix.MS_STRICTATIME | unix.MS_SYNCHRONOUS | unix.MS_MANDLOCK | unix.MS_LAZYTIME | unix.MS_I_VERSION | unix.MS_SILENT | unix.MS_NOSYMFOLLOW}},
		{"sets", []string{"defaults", "sync", "dirsync", "remount", "mand", "noatime", "nodiratime", "relatime", "lazytime", "iversion", "silent", "nosymfollow"},
			MountOpts{Flags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_REMOUNT | unix.MS_MANDLOCK | unix.MS_NOATIME | unix.MS_NODIRATIME |
				unix.MS_RELATIME | unix.MS_LAZYTIME | unix.MS_I_VERSION | unix.MS_SILENT | unix.MS_NOSYMFOLLOW}},
		{"propagation", []string{"rprivate"}, MountOpts{Propagation: unix.MS_PRIVATE | unix.MS_REC}},
		{"propagation last wins", []string{"shared", "rslave"}, MountOpts{Propagation: unix.MS_SLAVE | unix.MS_REC}},
		{"propagation kinds", []string{"unbindable"}, MountOpts{Propagation: unix.MS_UNBINDABLE}},
		{"runbindable", []string{"runbindable"}, MountOpts{Propagation: unix.MS_UNBINDABLE | unix.MS_REC}},
		{"rshared", []string{"rshared"}, MountOpts{Propagation: unix.MS_SHARED | unix.MS_REC}},
		{"recursive attrs", []string{"rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow"},
			MountOpts{Flags: unix.MS_BIND | unix.MS_REC, AttrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV |
				unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW}},
		{"recursive clears", []string{"rro", "rrw", "rsuid", "rdev", "rexec", "rdiratime", "rsymfollow"},
			MountOpts{AttrClr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC |
				unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW}},
		{"rnoatime", []string{"rnoatime"}, MountOpts{AttrSet: unix.MOUNT_ATTR_NOATIME, AttrClr: unix.MOUNT_ATTR__ATIME}},
		{"rstrictatime after rnoatime", []string{"rnoatime", "rstrictatime"}, MountOpts{AttrSet: unix.MOUNT_ATTR_STRICTATIME, AttrClr: unix.MOUNT_ATTR__ATIME}},
		{"ratime is relatime", []string{"rnoatime", "ratime"}, MountOpts{AttrClr: unix.MOUNT_ATTR__ATIME}},
		{"rnostrictatime is relatime", []string{"rstrictatime", "rnostrictatime"}, MountOpts{AttrClr: unix.MOUNT_ATTR__ATIME}},
		{"rrelatime", []string{"rrelatime"}, MountOpts{AttrClr: unix.MOUNT_ATTR__ATIME}},
		{"rnorelatime", []string{"rnorelatime"}, MountOpts{AttrClr: unix.MOUNT_ATTR__ATIME}},
		{"idmap", []string{"bind", "idmap"}, MountOpts{Flags: unix.MS_BIND, IDMap: true}},
		{"ridmap", []string{"ridmap"}, MountOpts{IDMap: true, RecursiveIDMap: true}},
		{"tmpcopyup", []string{"tmpcopyup", "mode=755"}, MountOpts{TmpCopyUp: true, Data: "mode=755"}},
		{"unknown to data in order", []string{"size=1m", "", "x-foo", "lowerdir=/a:/b"}, MountOpts{Data: "size=1m,x-foo,lowerdir=/a:/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseMountOptions(tt.in); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMountOptionNames(t *testing.T) {
	names := MountOptionNames()
	if got, want := len(names), len(mountFlagTable)+len(propagationByName)+len(mountAttrTable)+3; got != want {
		t.Errorf("got %d names, want %d", got, want)
	}
	for i, n := range names {
		if i > 0 && names[i-1] >= n {
			t.Errorf("names not sorted or repeated at %q, %q", names[i-1], n)
		}
		// Every name is understood: none ends up as filesystem data.
		if o := ParseMountOptions([]string{n}); o.Data != "" {
			t.Errorf("ParseMountOptions(%q).Data = %q, want empty", n, o.Data)
		}
	}
}

func TestIsBind(t *testing.T) {
	tests := []struct {
		m    rspec.Mount
		want bool
	}{
		{rspec.Mount{Type: "bind"}, true},
		{rspec.Mount{Type: "none", Options: []string{"rbind"}}, true},
		{rspec.Mount{Options: []string{"ro", "bind"}}, true},
		{rspec.Mount{Type: "tmpfs"}, false},
		{rspec.Mount{Type: "proc", Options: []string{"ro"}}, false},
	}
	for _, tt := range tests {
		if got := IsBind(tt.m); got != tt.want {
			t.Errorf("IsBind(%+v) = %v, want %v", tt.m, got, tt.want)
		}
	}
}

func TestCapabilities(t *testing.T) {
	caps := Capabilities()
	if got, want := len(caps), unix.CAP_LAST_CAP+1; got != want {
		t.Fatalf("got %d capabilities, want %d", got, want)
	}
	for i, n := range caps {
		if !strings.HasPrefix(n, "CAP_") {
			t.Errorf("capability %d is named %q, want CAP_…", i, n)
		}
		if got, ok := CapabilityByName(n); !ok || got != i {
			t.Errorf("CapabilityByName(%q) = %d, %v; want %d, true", n, got, ok, i)
		}
	}
	tests := []struct {
		name string
		num  int
		ok   bool
	}{
		{"CAP_CHOWN", 0, true},
		{"CAP_KILL", 5, true},
		{"CAP_SYS_ADMIN", 21, true},
		{"CAP_CHECKPOINT_RESTORE", 40, true},
		{"cap_chown", 0, false},
		{"CHOWN", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		if got, ok := CapabilityByName(tt.name); got != tt.num || ok != tt.ok {
			t.Errorf("CapabilityByName(%q) = %d, %v; want %d, %v", tt.name, got, ok, tt.num, tt.ok)
		}
	}
}

func TestRlimits(t *testing.T) {
	if got, want := len(Rlimits()), 16; got != want {
		t.Errorf("got %d rlimits, want %d", got, want)
	}
	tests := []struct {
		name string
		num  int
		ok   bool
	}{
		{"RLIMIT_CPU", unix.RLIMIT_CPU, true},
		{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, true},
		{"RLIMIT_RTTIME", 15, true},
		{"RLIMIT_NPROC", unix.RLIMIT_NPROC, true},
		{"NOFILE", 0, false},
	}
	for _, tt := range tests {
		if got, ok := RlimitByName(tt.name); got != tt.num || ok != tt.ok {
			t.Errorf("RlimitByName(%q) = %d, %v; want %d, %v", tt.name, got, ok, tt.num, tt.ok)
		}
	}
}
