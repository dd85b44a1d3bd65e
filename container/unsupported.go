package container

import (
	"fmt"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// Unsupported lists the parts of a valid spec that minirun cannot apply
// yet. Each is refused rather than skipped: a container that silently
// runs without the seccomp filter, the memory limit or the hook it asked
// for is worse than one that does not start. linux.resources.devices is
// the exception: runc's default config carries a deny-all rule there, and
// without cgroups the device nodes a container has are exactly the default
// ones and linux.devices.
func Unsupported(s *rspec.Spec, file string) error {
	var errs []specs.FieldError
	add := func(path, what string) {
		errs = append(errs, specs.FieldError{Path: path, Msg: what + " is not supported yet (minirun creates no cgroups, seccomp filters or hooks so far)"})
	}
	if h := s.Hooks; h != nil {
		for _, k := range []struct {
			name string
			list []rspec.Hook
		}{
			{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
			{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
		} {
			if len(k.list) > 0 {
				add("hooks."+k.name, fmt.Sprintf("%d hook(s)", len(k.list)))
			}
		}
	}
	if l := s.Linux; l != nil {
		if l.Seccomp != nil {
			add("linux.seccomp", "a seccomp filter")
		}
		if r := l.Resources; r != nil {
			switch {
			case r.Memory != nil:
				add("linux.resources.memory", "a memory limit")
			case r.CPU != nil:
				add("linux.resources.cpu", "a CPU limit")
			case r.Pids != nil:
				add("linux.resources.pids", "a pids limit")
			case r.BlockIO != nil:
				add("linux.resources.blockIO", "a block I/O limit")
			case len(r.HugepageLimits) > 0:
				add("linux.resources.hugepageLimits", "a hugepage limit")
			case r.Network != nil:
				add("linux.resources.network", "a network class")
			case len(r.Rdma) > 0:
				add("linux.resources.rdma", "an RDMA limit")
			case len(r.Unified) > 0:
				add("linux.resources.unified", "a cgroup2 setting")
			}
		}
		if l.IntelRdt != nil {
			add("linux.intelRdt", "Intel RDT")
		}
	}
	if s.Process != nil {
		if s.Process.ApparmorProfile != "" {
			add("process.apparmorProfile", "an AppArmor profile")
		}
		if s.Process.SelinuxLabel != "" {
			add("process.selinuxLabel", "an SELinux label")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &specs.ValidationError{File: file, Errs: errs}
}
