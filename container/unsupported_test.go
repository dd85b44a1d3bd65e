package container

import (
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func TestUnsupported(t *testing.T) {
	s := &rspec.Spec{
		Process: &rspec.Process{Args: []string{"true"}, ApparmorProfile: "docker-default"},
		Hooks:   &rspec.Hooks{CreateRuntime: []rspec.Hook{{Path: "/bin/true"}}},
		Linux:   &rspec.Linux{Seccomp: &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow}},
	}
	err := Unsupported(s, "config.json")
	const tail = " is not supported yet"
	// linux.seccomp is applied: no longer in the list.
	want := "config.json: process.apparmorProfile: an AppArmor profile" + tail
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
