package container

import (
	"slices"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// TestFeatures checks that features claims exactly what minirun applies:
// what it lists is accepted, and what it says is off is refused.
func TestFeatures(t *testing.T) {
	f := Features()
	if f.OCIVersionMin != specs.MinVersion || f.OCIVersionMax != rspec.Version {
		t.Errorf("versions %s to %s, want %s to %s", f.OCIVersionMin, f.OCIVersionMax, specs.MinVersion, rspec.Version)
	}
	if want := []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}; !slices.Equal(f.Hooks, want) {
		t.Errorf("hooks %v, want %v", f.Hooks, want)
	}
	for _, o := range f.MountOptions {
		if mo := specs.ParseMountOptions([]string{o}); mo.Data != "" {
			t.Errorf("mount option %q is listed but passed to the filesystem as data", o)
		}
	}
	for _, c := range f.Linux.Capabilities {
		if _, ok := specs.CapabilityByName(c); !ok {
			t.Errorf("capability %q is listed but unknown", c)
		}
	}
	s := &rspec.Spec{Process: &rspec.Process{Args: []string{"true"}},
		Linux: &rspec.Linux{Seccomp: &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow}}}
	refused := Unsupported(s, "config.json") != nil
	if enabled := *f.Linux.Seccomp.Enabled; enabled == refused {
		t.Errorf("features says seccomp enabled=%v, but a config with linux.seccomp is refused=%v", enabled, refused)
	}
}
