package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/minirun/minirun/internal/testbin"
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
	if minirunBin, err = testbin.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
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
	return testbin.Run(t, minirunBin, dir, nil, args...)
}
