package statedir

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSave: each Save replaces the record whole, the first one and every
// one after (which swap with the old record), and leaves no other file.
func TestSave(t *testing.T) {
	d := Dir{Root: filepath.Join(t.TempDir(), "root")}
	c, err := d.Create("box")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	for pid := 1; pid <= 3; pid++ {
		if err := c.Save(&Record{ID: "box", Pid: pid}); err != nil {
			t.Fatalf("save %d: %v", pid, err)
		}
		r, err := d.Read("box")
		if err != nil {
			t.Fatalf("read after save %d: %v", pid, err)
		}
		if r.Pid != pid {
			t.Errorf("after save %d: got pid %d, want %d", pid, r.Pid, pid)
		}
		if _, err := os.Stat(filepath.Join(c.Dir, ".state.json")); !os.IsNotExist(err) {
			t.Errorf("after save %d: the temporary record is still there (%v), want it gone", pid, err)
		}
	}
}
