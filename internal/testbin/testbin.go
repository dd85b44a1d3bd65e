// Package testbin builds the minirun binary for the tests that run it as a
// user would (its command line, exit statuses, a setpriv in front of it),
// and runs it. Only tests import it.
package testbin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// Build compiles cmd/minirun, static (CGO_ENABLED=0), into dir and returns
// the binary's path. dir is made reachable by every user, for tests that
// run the binary as another one (setpriv).
func Build(dir string) (string, error) {
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "minirun")
	// Linked as make build links it: -E gives run --trace the time of
	// minirun's first instruction (internal/boot).
	build := exec.Command("go", "build", "-ldflags", "-E github.com/minirun/minirun/internal/boot.entry",
		"-o", bin, "github.com/minirun/minirun/cmd/minirun")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building minirun: %v\n%s", err, out)
	}
	return bin, nil
}

// Run runs bin with args, in folder dir ("" for the test's own) and behind
// wrap (e.g. setpriv …, or nothing), and returns what it printed and its
// exit status. Failing to start it at all fails the test.
func Run(t testing.TB, bin, dir string, wrap []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	argv := append(slices.Clone(wrap), bin)
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
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
		t.Fatalf("running %q: %v", argv, err)
	}
	return out.String(), errb.String(), code
}
