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
	for _, c := range []struct {
		field   string
		enabled bool
	}{
		{"linux.seccomp", *f.Linux.Seccomp.Enabled},
		{"process.apparmorProfile", *f.Linux.Apparmor.Enabled},
		{"process.selinuxLabel", *f.Linux.Selinux.Enabled},
		{"linux.intelRdt", *f.Linux.IntelRdt.Enabled},
		{"mounts[].uidMappings", *f.Linux.MountExtensions.IDMap.Enabled},
	} {
		if refused := specs.Effective(c.field).Decision == specs.Refused; c.enabled == refused {
			t.Errorf("features says %s enabled=%v, but the policy refuses it=%v", c.field, c.enabled, refused)
		}
	}
}
