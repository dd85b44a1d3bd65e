package container

import (
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestUnsupported(t *testing.T) {
	limit := int64(1 << 20)
	s := &rspec.Spec{
		Process: &rspec.Process{Args: []string{"true"}},
		Hooks:   &rspec.Hooks{CreateRuntime: []rspec.Hook{{Path: "/bin/true"}}, Poststop: []rspec.Hook{{Path: "/bin/true"}}},
		Linux: &rspec.Linux{
			Seccomp:   &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow},
			Resources: &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: &limit}},
		},
	}
	err := Unsupported(s, "config.json")
	const tail = " is not supported yet (minirun creates no cgroups, seccomp filters or hooks so far)"
	want := "config.json: hooks.createRuntime: 1 hook(s)" + tail + "\n" +
		"config.json: hooks.poststop: 1 hook(s)" + tail + "\n" +
		"config.json: linux.seccomp: a seccomp filter" + tail + "\n" +
		"config.json: linux.resources.memory: a memory limit" + tail
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// runc's default config: a deny-all device rule, nothing else.
	s = &rspec.Spec{Process: &rspec.Process{Args: []string{"true"}},
		Linux: &rspec.Linux{Resources: &rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}}}
	if err := Unsupported(s, "config.json"); err != nil {
		t.Errorf("runc's default resources refused: %v", err)
	}
}
