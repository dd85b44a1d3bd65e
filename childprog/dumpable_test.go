package childprog

import (
	"strings"
	"testing"
)

// TestCompileNotDumpable: every program makes the child not dumpable as
// its first step (docs/design.md, rule 13), and only without privilege is
// it dumpable again, exactly while it waits at a point for minirun. Every
// plan passes its own checks, both ways.
func TestCompileNotDumpable(t *testing.T) {
	for _, name := range []string{"runc-default", "rootless", "joins", "full", "nomount", "seccomp", "seccomp-nnp"} {
		for _, rootless := range []bool{false, true} {
			env := testEnv()
			env.Rootless = rootless
			p, err := Compile(loadSpec(t, name+".json"), env)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(); err != nil {
				t.Errorf("%s rootless=%v: Verify: %v", name, rootless, err)
			}
			calls, _ := p.Program.Steps()
			p.Free()
			if calls[0] != "prctl(PR_SET_DUMPABLE, 0)" {
				t.Errorf("%s rootless=%v: first step %q, want prctl(PR_SET_DUMPABLE, 0)", name, rootless, calls[0])
			}
			dumpable := false
			for i, c := range calls {
				switch {
				case c == "prctl(PR_SET_DUMPABLE, 1)":
					dumpable = true
					if !rootless {
						t.Errorf("%s: step %d makes the child dumpable, want it never with privilege", name, i)
					}
				case c == "prctl(PR_SET_DUMPABLE, 0)":
					dumpable = false
				case strings.HasPrefix(c, "write(fd<notify>") || strings.HasPrefix(c, "read(fd<sync>") || strings.HasPrefix(c, "read(fd<gate>"):
					if dumpable != rootless {
						t.Errorf("%s rootless=%v: step %d %s with dumpable %v, want %v", name, rootless, i, c, dumpable, rootless)
					}
				case dumpable:
					t.Errorf("%s rootless=%v: step %d %s while dumpable, want only the point's write and read", name, rootless, i, c)
				}
			}
		}
	}
}
