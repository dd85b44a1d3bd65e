package container

import (
	"os"
	"path/filepath"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCheckExecutable looks for programs the way create does, in this
// process's own root: PATH folders are absolute whatever the cwd, a path
// with a slash is taken from the cwd, and each failure has the words a
// client reads.
func TestCheckExecutable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plain"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	for _, c := range []struct {
		name, cwd string
		env       []string
		want      string
	}{
		{"tool", "/tmp", []string{"PATH=" + dir}, ""},
		{"tool", "/", []string{"PATH=/nonexistent:" + dir}, ""},
		{"./tool", dir, nil, ""},
		{filepath.Join(dir, "tool"), "/", nil, ""},
		{"nosuchprogram", "/tmp", []string{"PATH=" + dir}, `process.args[0]: "nosuchprogram": executable file not found in $PATH`},
		{"./nosuch", dir, nil, `process.args[0]: "./nosuch": no such file or directory`},
		{"plain", "/", []string{"PATH=" + dir}, `process.args[0]: "plain": permission denied`},
		{dir, "/", nil, `process.args[0]: "` + dir + `": permission denied`},
	} {
		err := checkExecutable(self, &rspec.Process{Args: []string{c.name}, Cwd: c.cwd, Env: c.env})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%q from %s with %v: got %q, want %q", c.name, c.cwd, c.env, got, c.want)
		}
	}
}
