package specs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadBundle(t *testing.T) {
	b, err := LoadBundle("testdata/bundle")
	if err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	abs, err := filepath.Abs("testdata/bundle")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Path, filepath.Join("testdata/bundle", "config.json"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	if got, want := b.Dir, abs; got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
	if got, want := b.RootFS, filepath.Join(abs, "rootfs"); got != want {
		t.Errorf("RootFS = %q, want %q", got, want)
	}
	if got, want := b.Spec.Root.Path, "rootfs"; got != want {
		t.Errorf("Spec.Root.Path = %q, want it unchanged, %q", got, want)
	}
	if got, want := strings.Join(b.Spec.Process.Args, " "), "sh -c echo hi"; got != want {
		t.Errorf("process.args = %q, want %q", got, want)
	}
	if got, want := b.Abs("/etc/hosts"), "/etc/hosts"; got != want {
		t.Errorf("Abs(/etc/hosts) = %q, want %q", got, want)
	}
	if got, want := b.Abs("data/../x"), filepath.Join(abs, "x"); got != want {
		t.Errorf("Abs(data/../x) = %q, want %q", got, want)
	}
	// Unknown fields (extensions) were accepted; the bundle is valid,
	// also against the filesystem.
	if err := b.Validate(ValidateOptions{CheckFS: true}); err != nil {
		t.Errorf("Validate: got %v, want nil", err)
	}
}

func TestLoadFileRootFS(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, json, want string
	}{
		{"relative", `{"root":{"path":"r"}}`, filepath.Join(dir, "r")},
		{"absolute", `{"root":{"path":"/srv//r/"}}`, "/srv/r"},
		{"no root", `{}`, ""},
		{"empty path", `{"root":{}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "spec.json")
			if err := os.WriteFile(p, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := LoadFile(p)
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if b.RootFS != tt.want {
				t.Errorf("RootFS = %q, want %q", b.RootFS, tt.want)
			}
		})
	}
}

// TestBundleValidateNamesFile checks that a bundle's messages carry its
// path as given.
func TestBundleValidateNamesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(`{"ociVersion":"1.3.0","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := p + `: root.path: "rootfs" (` + filepath.Join(dir, "rootfs") + `) does not exist`
	if got := errString(b.Validate(ValidateOptions{CheckFS: true})); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"syntax", "{\n\t\"ociVersion\": \"1.3.0\",\n\t\"root\": {\"path\": x}\n}",
			"spec.json:3:19: invalid character 'x' looking for beginning of value"},
		{"trailing comma", "{\"ociVersion\": \"1.3.0\",}",
			"spec.json:1:24: invalid character '}' looking for beginning of object key string"},
		{"empty", "", "spec.json:1:1: unexpected end of JSON input"},
		{"truncated", "{\n\"ociVersion\": ", "spec.json:2:14: unexpected end of JSON input"},
		{"after value", "{} {}", "spec.json:1:4: invalid character '{' after top-level value"},
		{"string for uint32", "{\n  \"process\": {\n    \"user\": {\"uid\": \"0\"}\n  }\n}",
			"spec.json:3:21: process.user.uid: cannot unmarshal string into uint32"},
		{"negative uid", `{"process":{"user":{"uid":-1}}}`,
			"spec.json:1:27: process.user.uid: cannot unmarshal number -1 into uint32"},
		{"array index", `{"mounts":[{"destination":"/a"},{"destination":"/b","options":"ro"}]}`,
			"spec.json:1:63: mounts[1].options: cannot unmarshal string into an array"},
		{"element of array", `{"mounts":[{"destination":"/a","options":["ro",5]}]}`,
			"spec.json:1:48: mounts[0].options[1]: cannot unmarshal number into string"},
		{"object for string", `{"hostname":{"a":1}}`,
			"spec.json:1:13: hostname: cannot unmarshal object into string"},
		{"array for object", `{"linux":{"namespaces":[{"type":"pid"}],"sysctl":["a"]}}`,
			"spec.json:1:50: linux.sysctl: cannot unmarshal array into an object"},
		{"bool for bool", `{"process":{"terminal":"yes"}}`,
			"spec.json:1:24: process.terminal: cannot unmarshal string into bool"},
		{"nested after skipped", `{"x":{"y":[1,{"z":2}]},"ociVersion":1}`,
			"spec.json:1:37: ociVersion: cannot unmarshal number into string"},
		{"top level array", `[1]`,
			"spec.json:1:1: (top level): cannot unmarshal array into an object"},
		{"top level string", `"x"`,
			"spec.json:1:1: (top level): cannot unmarshal string into an object"},
		{"int64 overflow", `{"linux":{"devices":[{"path":"/d","type":"c","major":1e30}]}}`,
			"spec.json:1:54: linux.devices[0].major: cannot unmarshal number 1e30 into int64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("spec.json", []byte(tt.json))
			if s != nil {
				t.Errorf("got a spec, want nil")
			}
			if got := errString(err); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Errorf("got %T, want *LoadError", err)
			}
		})
	}
}

func TestParseAcceptsUnknownFields(t *testing.T) {
	s, err := Parse("spec.json", []byte(`{"ociVersion":"1.3.0","x-vendor":{"a":[1,{"b":null}]},"process":{"cwd":"/","new":1}}`))
	if err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	if got, want := s.Process.Cwd, "/"; got != want {
		t.Errorf("process.cwd = %q, want %q", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, maxConfigSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{\n\"ociVersion\": 1}"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	tests := []struct {
		name, path, want string
		is               error
	}{
		{"missing", missing, missing + ": no such file or directory", fs.ErrNotExist},
		{"directory", dir, dir + ": is a directory, not a config file", nil},
		{"device", "/dev/null", "/dev/null: is not a regular file", nil},
		{"too big", big, big + ": is larger than 16 MiB; a config is a few KiB", nil},
		{"type error names file", bad, bad + ":2:15: ociVersion: cannot unmarshal number into string", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if got := errString(err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tt.is)
			}
		})
	}
	if _, err := LoadBundle(filepath.Join(dir, "nobundle")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadBundle of a missing folder: got %v, want fs.ErrNotExist", err)
	}
}

// FuzzLoadValidate feeds any bytes through Parse and, when they decode,
// Validate and the mount option table: none may panic, a decode error is
// always a placed *LoadError, and every problem is one line.
// Run it with: go test ./specs -run '^$' -fuzz FuzzLoadValidate -fuzztime 1m
func FuzzLoadValidate(f *testing.F) {
	for _, o := range []GenerateOptions{{}, {Rootless: true, UID: 1000, GID: 1000}, {HostRoot: true, Exists: func(string) bool { return true }}} {
		data, err := json.Marshal(Generate(o))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if data, err := os.ReadFile("testdata/bundle/config.json"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `{"ociVersion":1}`,
		`{"process":{"user":{"uid":"0"}}}`,
		`{"mounts":[{"destination":"rel","options":["rbind","rro","ratime","idmap"],"uidMappings":[{"containerID":0,"hostID":0,"size":0}]}]}`,
		`{"linux":{"namespaces":[{"type":"user"},{"type":"user","path":"x"},{"type":"bogus"}],"uidMappings":[{"size":4294967295,"containerID":4294967295}]}}`,
		`{"linux":{"sysctl":{"net.x":"1","vm.y":"2"},"timeOffsets":{"realtime":{"nanosecs":4294967295}},"devices":[{"type":"c","major":-9223372036854775808,"fileMode":4294967295}]}}`,
		`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_NOTIFY","syscalls":[{"names":[""],"args":[{"index":18446744073709551615}]}]}}}`,
		`{"process":{"oomScoreAdj":-9223372036854775808,"rlimits":[{"type":"RLIMIT_NOFILE","soft":18446744073709551615,"hard":0}],"user":{"umask":4294967295}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("spec.json", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Parse error %T %v, want *LoadError", err, err)
			}
			if le.Line < 1 || le.Column < 1 {
				t.Errorf("Parse error %q has no line:column", err)
			}
			_ = err.Error()
			return
		}
		for _, opts := range []ValidateOptions{{File: "spec.json"}, {AllowNoProcess: true}} {
			err := Validate(s, opts)
			if err == nil {
				continue
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errs) == 0 {
				t.Fatalf("Validate error %T %v, want a non-empty *ValidationError", err, err)
			}
			if got, want := len(strings.Split(err.Error(), "\n")), len(ve.Errs); got != want {
				t.Errorf("Validate error has %d lines for %d problems:\n%s", got, want, err)
			}
		}
		for _, m := range s.Mounts {
			ParseMountOptions(m.Options)
			IsBind(m)
		}
	})
}
