package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

func TestSpecCommand(t *testing.T) {
	tests := []struct {
		name       string
		args       []string // after "spec"; BUNDLE is replaced by the test's folder
		inBundle   bool     // run in the bundle folder instead of passing --bundle
		wantRootfs bool
		check      func(t *testing.T, s *rspec.Spec)
	}{
		{"default in the current folder", nil, true, false, func(t *testing.T, s *rspec.Spec) {
			if !reflect.DeepEqual(s, specs.Generate(specs.GenerateOptions{})) {
				t.Errorf("config differs from specs.Generate's default")
			}
		}},
		{"bundle flag", []string{"--bundle", "BUNDLE"}, false, false, func(t *testing.T, s *rspec.Spec) {
			if s.Hostname != "minirun" {
				t.Errorf("hostname = %q, want minirun", s.Hostname)
			}
		}},
		{"short bundle flag", []string{"-b", "BUNDLE"}, false, false, nil},
		{"rootless", []string{"--rootless", "--bundle", "BUNDLE"}, false, false, func(t *testing.T, s *rspec.Spec) {
			want := []rspec.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getuid()), Size: 1}}
			if !reflect.DeepEqual(s.Linux.UIDMappings, want) {
				t.Errorf("uidMappings = %+v, want %+v", s.Linux.UIDMappings, want)
			}
			for _, n := range s.Linux.Namespaces {
				if n.Type == rspec.NetworkNamespace {
					t.Errorf("rootless config has a network namespace")
				}
			}
		}},
		{"host root", []string{"--host-root", "--bundle", "BUNDLE"}, false, true, func(t *testing.T, s *rspec.Spec) {
			found := false
			for _, m := range s.Mounts {
				found = found || (m.Destination == "/usr" && m.Source == "/usr")
			}
			if !found {
				t.Errorf("no bind mount of /usr in %+v", s.Mounts)
			}
		}},
		{"rootless host root", []string{"--rootless", "--host-root", "--bundle", "BUNDLE"}, false, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"spec"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "BUNDLE", dir))
			}
			runDir := ""
			if tt.inBundle {
				runDir = dir
			}
			stdout, stderr, code := runMinirunIn(t, runDir, args...)
			if code != 0 || stdout != "" || stderr != "" {
				t.Fatalf("got exit %d, stdout %q, stderr %q; want 0 and no output", code, stdout, stderr)
			}
			b, err := specs.LoadBundle(dir)
			if err != nil {
				t.Fatalf("loading the written config: %v", err)
			}
			// What minirun spec writes, minirun run accepts.
			if err := b.Validate(specs.ValidateOptions{CheckFS: tt.wantRootfs}); err != nil {
				t.Errorf("written config does not validate: %v", err)
			}
			st, err := os.Stat(filepath.Join(dir, "rootfs"))
			switch {
			case tt.wantRootfs && (err != nil || !st.IsDir()):
				t.Errorf("rootfs: got %v, want an empty folder", err)
			case !tt.wantRootfs && !os.IsNotExist(err):
				t.Errorf("rootfs: got %v, want none", err)
			}
			if tt.check != nil {
				tt.check(t, b.Spec)
			}
		})
	}
}

func TestSpecCommandRefuses(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "config.json")
	if err := os.WriteFile(existing, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name       string
		dir        string // working folder, "" for the test's
		args       []string
		wantStderr string
	}{
		{"existing config in bundle", "", []string{"spec", "--host-root", "--bundle", dir},
			"minirun: " + existing + ": already exists; remove it or write to another folder (--bundle)\n"},
		{"existing config here", dir, []string{"spec"},
			"minirun: config.json: already exists; remove it or write to another folder (--bundle)\n"},
		{"missing bundle", "", []string{"spec", "--bundle", missing},
			"minirun: bundle " + missing + ": no such directory\n"},
		{"bundle is a file", "", []string{"spec", "--bundle", file},
			"minirun: bundle " + file + ": is a file, not a directory\n"},
		{"argument", dir, []string{"spec", "mybundle"},
			"minirun: spec: unexpected argument \"mybundle\": the folder is given with --bundle DIR, a command after --\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runMinirunIn(t, tt.dir, tt.args...)
			if code != 2 {
				t.Errorf("exit status = %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
			// Nothing left behind: the existing config untouched, no
			// rootfs, no new files.
			if data, _ := os.ReadFile(existing); string(data) != "mine\n" {
				t.Errorf("config.json = %q, want it untouched", data)
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if want := []string{"config.json", "file"}; !reflect.DeepEqual(names, want) {
				t.Errorf("bundle holds %q, want %q", names, want)
			}
		})
	}
}

func TestSpecCommandUnknownFlag(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := runMinirunIn(t, dir, "spec", "--rootles")
	if code != 2 {
		t.Errorf("exit status = %d, want 2", code)
	}
	if !strings.Contains(stderr, "rootles") {
		t.Errorf("stderr = %q, want it to name the flag", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); !os.IsNotExist(err) {
		t.Errorf("config.json: got %v, want nothing written", err)
	}
}

// TestSpecCommandArgs: a command after -- becomes process.args, without a
// terminal.
func TestSpecCommandArgs(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, code := runMinirun(t, "spec", "--bundle", dir, "--", "sh", "-c", "echo hi"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s, err := specs.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Process.Args, "|"); got != "sh|-c|echo hi" || s.Process.Terminal {
		t.Errorf("args %q terminal %v, want sh|-c|echo hi without a terminal", got, s.Process.Terminal)
	}
}
