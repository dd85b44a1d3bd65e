package container

import (
	"fmt"
	"os"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/namespaces"
	"github.com/minirun/minirun/specs"
)

// SelfPath is where RunSelf puts minirun's own executable in the container.
const SelfPath = "/minirun"

// SelfSpec is the container RunSelf runs: minirun's static executable, alone
// in an empty rootfs, with new PID, mount, UTS, IPC and network namespaces
// and no capabilities. /proc is the host's (a recursive bind), so the tasks
// inside show both their ids, the host's and the container's, on the NSpid
// line of their status: what a learner wants to see of threads in a
// container. (A real workload gets a /proc of its own.)
func SelfSpec(exe string, args []string, hostname string) *rspec.Spec {
	none := []string{}
	return &rspec.Spec{
		Version:  rspec.Version,
		Root:     &rspec.Root{Path: "rootfs", Readonly: true},
		Hostname: hostname,
		Process: &rspec.Process{
			Args:            append([]string{SelfPath}, args...),
			Env:             []string{"PATH=/"},
			Cwd:             "/",
			NoNewPrivileges: true,
			Capabilities:    &rspec.LinuxCapabilities{Bounding: none, Effective: none, Permitted: none, Inheritable: none, Ambient: none},
		},
		Mounts: []rspec.Mount{
			{Destination: "/proc", Type: "bind", Source: "/proc", Options: []string{"rbind", "nosuid", "nodev", "noexec"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=64k"}},
			{Destination: SelfPath, Type: "bind", Source: exe, Options: []string{"bind", "ro", "nosuid", "nodev"}},
		},
		Linux: &rspec.Linux{
			Namespaces: []rspec.LinuxNamespace{
				{Type: rspec.PIDNamespace}, {Type: rspec.MountNamespace}, {Type: rspec.UTSNamespace},
				{Type: rspec.IPCNamespace}, {Type: rspec.NetworkNamespace},
			},
		},
	}
}

// RunSelf runs minirun itself with args in a fresh container (SelfSpec) and
// returns its exit status; without privilege, in a user namespace that maps
// the caller to root. The empty rootfs is a temporary folder, removed
// afterwards.
func RunSelf(args []string, hostname string) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("--isolate: find minirun's executable: %w", err)
	}
	dir, err := os.MkdirTemp("", "minirun-isolate-")
	if err != nil {
		return 0, fmt.Errorf("--isolate: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Mkdir(dir+"/rootfs", 0o755); err != nil {
		return 0, fmt.Errorf("--isolate: %w", err)
	}
	spec := SelfSpec(exe, args, hostname)
	if uid, gid := os.Geteuid(), os.Getegid(); uid != 0 {
		// Without privilege: a user namespace of its own, mapping the
		// caller to root, owns the other namespaces.
		l := spec.Linux
		l.Namespaces = append(l.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
		l.UIDMappings, l.GIDMappings = namespaces.RootlessMapping(uint32(uid), uint32(gid))
	}
	b := &specs.Bundle{Path: "(--isolate)", Dir: dir, RootFS: dir + "/rootfs", Spec: spec}
	return Run(b, Options{})
}
