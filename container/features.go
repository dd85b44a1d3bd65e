package container

import (
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/minirun/minirun/namespaces"
	"github.com/minirun/minirun/seccomp"
	"github.com/minirun/minirun/specs"
)

// Features is what minirun applies, in the shape of runtime-spec's "Features Structure":
// the answer to `minirun features`, which clients (containerd, podman)
// read to learn what they may ask for. Every list comes from the table
// the validator and the compiler use, so it cannot claim more than is
// applied.
func Features() features.Features {
	yes, no := true, false
	f := features.Features{
		OCIVersionMin: specs.MinVersion,
		OCIVersionMax: "1.3.0",
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  specs.MountOptionNames(),
		Linux: &features.Linux{
			Namespaces:   namespaces.Types(),
			Capabilities: specs.Capabilities(),
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &yes},
			Seccomp: &features.Seccomp{
				Enabled:        &seccompApplied,
				Actions:        seccomp.Actions(),
				Operators:      seccomp.Operators(),
				Archs:          seccomp.Archs(),
				KnownFlags:     seccomp.Flags(),
				SupportedFlags: seccomp.Flags(),
			},
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
		},
	}
	if !seccompApplied {
		f.Linux.Seccomp = &features.Seccomp{Enabled: &no}
	}
	return f
}

// seccompApplied: linux.seccomp is compiled and installed (package
// seccomp); the features test checks this against the policy.
var seccompApplied = true
