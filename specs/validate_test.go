package specs

import (
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
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

func TestValidateBase(t *testing.T) {
	if err := Validate(baseSpec(), ValidateOptions{}); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

func TestValidateMessage(t *testing.T) {
	s := baseSpec()
	s.Mounts[0].Destination = "proc"
	s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: "pid"})
	err := Validate(s, ValidateOptions{File: "spec.json"})
	want := "spec.json: mounts[0].destination: \"proc\" must be absolute\n" +
		"spec.json: linux.namespaces[2]: duplicate namespace type \"pid\" (also linux.namespaces[0])"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
