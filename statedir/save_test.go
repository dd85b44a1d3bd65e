package statedir

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/minirun/minirun/specs"
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

// TestRecordConfig: a record's config survives a save and a read, encoded
// by Save or kept as the config file's text, and reads back as that text.
func TestRecordConfig(t *testing.T) {
	d := Dir{Root: filepath.Join(t.TempDir(), "root")}
	c, err := d.Create("box")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	text := []byte(`{"ociVersion":"1.3.0","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"},"x-extension":1}`)
	spec, err := specs.Decode(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range [][]byte{nil, text} {
		if err := c.Save(&Record{ID: "box", Config: spec, ConfigJSON: raw}); err != nil {
			t.Fatal(err)
		}
		r, err := d.Read("box")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Config, spec) {
			t.Errorf("ConfigJSON %q: read back config %+v, want %+v", raw, r.Config, spec)
		}
		if raw != nil && string(r.ConfigJSON) != string(text) {
			t.Errorf("read back config text %s, want the file's %s", r.ConfigJSON, text)
		}
	}
	if err := c.Save(&Record{ID: "box"}); err != nil {
		t.Fatal(err)
	}
	if r, err := d.Read("box"); err != nil || r.Config != nil {
		t.Errorf("a record without config: read back %v, %v; want a nil config", r, err)
	}
}
