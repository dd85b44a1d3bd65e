package childprog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/minirun/minirun/specs"
)

// FuzzCompile feeds configs through what minirun does with one before it
// starts anything — load, validate, compile — as root and without
// privilege, over an image with symlinks: never a panic, and every plan
// Compile returns passes its own checks (Plan.Verify). The seed corpus is
// testdata/compile's configs.
func FuzzCompile(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "compile", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("seed corpus: %v (%d files)", err, len(seeds))
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	image := fakeImage{
		"etc": "", "etc/resolv.conf": "->../run/resolv.conf", "dev": "", "proc": "",
		"abs": "->/etc", "up": "->../../../..", "loop": "->loop", "var": "", "var/run": "->/run",
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := specs.Parse("config.json", data)
		if err != nil {
			return
		}
		if err := specs.Validate(s, specs.ValidateOptions{}); err != nil {
			return
		}
		for _, rootless := range []bool{false, true} {
			env := testEnv()
			env.Rootless = rootless
			env.ImageEntry = image.entry
			plan, err := Compile(s, env)
			if err != nil {
				if err.Error() == "" {
					t.Fatalf("rootless=%v: an error with no message", rootless)
				}
				continue
			}
			if err := plan.Verify(); err != nil {
				t.Errorf("rootless=%v: the compiled plan fails its own checks: %v\nlisting:\n%s", rootless, err, plan.Explain())
			}
			if plan.Explain() == "" {
				t.Errorf("rootless=%v: an empty listing", rootless)
			}
			plan.Free()
		}
	})
}
