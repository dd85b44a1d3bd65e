package childprog

import (
	"fmt"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCompileLarge: the arena grows with the config: thousands of mounts
// and masked paths compile, and so do mounts whose long paths outgrow the
// first estimate of the room they need.
func TestCompileLarge(t *testing.T) {
	for _, c := range []struct {
		name   string
		n      int
		subdir string
	}{
		{"3000 mounts and masked paths", 3000, ""},
		{"200 mounts with long paths", 200, strings.Repeat("d", 250) + "/" + strings.Repeat("e", 250)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := loadSpec(t, "runc-default.json")
			for i := range c.n {
				dst := fmt.Sprintf("/m/%s/%d", c.subdir, i)
				s.Mounts = append(s.Mounts, rspec.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid"}})
				if c.subdir == "" {
					s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, fmt.Sprintf("/masked/f%d", i))
				}
			}
			plan, err := Compile(s, testEnv())
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			defer plan.Free()
			calls, labels := plan.Program.Steps()
			last := fmt.Sprintf("mounts[%d]", len(s.Mounts)-1)
			found, execs := false, false
			for i, l := range labels {
				found = found || strings.HasPrefix(l, last+":")
				execs = execs || strings.HasPrefix(calls[i], "execve(")
			}
			if !found || !execs {
				t.Errorf("program of %d steps: %s compiled %v, an execve %v; want every mount and the execve", len(calls), last, found, execs)
			}
		})
	}
}
