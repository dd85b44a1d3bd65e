package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// minirunBin is the minirun binary TestMain builds once for every test of
// this folder that runs the CLI as a user would.
var minirunBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "minirun-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	minirunBin = filepath.Join(dir, "minirun")
	build := exec.Command("go", "build", "-o", minirunBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building minirun: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// runMinirun runs the built binary with args in the test's working
// directory and returns what it printed and its exit status. A failure to
// start it at all fails the test.
func runMinirun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runMinirunIn(t, "", args...)
}

// runMinirunIn is runMinirun with the working directory set to dir ("" is
// the test's own).
func runMinirunIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(minirunBin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running %s %q: %v", minirunBin, args, err)
	}
	return out.String(), errb.String(), code
}
