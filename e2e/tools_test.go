package e2e

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// The tools the tests build from the Go module proxy, pinned so that every
// run and CI use the same ones. runtime-tools' last tag (v0.9.0) is from
// 2019 and the proxy serves no branch names, so its newest commit is
// named by its pseudo-version.
const (
	crictlPackage       = "sigs.k8s.io/cri-tools/cmd/crictl"
	crictlVersion       = "v1.37.0"
	runtimeToolsModule  = "github.com/opencontainers/runtime-tools"
	runtimeToolsVersion = "v0.9.1-0.20251114084447-edf4cb3d2116"
)

// toolsDir is where the built tools are kept between runs:
// MINIRUN_E2E_TOOLS, or bin/e2e in the repository (the Makefile's
// E2E_TOOLS).
func toolsDir() string {
	if d := os.Getenv("MINIRUN_E2E_TOOLS"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(wd), "bin", "e2e")
}

// toolsMu keeps the tests of one run from building the same tool twice;
// a file lock does the same between runs.
var toolsMu sync.Mutex

// lockTools takes the tools folder's lock and returns its release.
func lockTools(t *testing.T) func() {
	t.Helper()
	toolsMu.Lock()
	dir := toolsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		toolsMu.Unlock()
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		toolsMu.Unlock()
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		toolsMu.Unlock()
		t.Fatal(err)
	}
	return func() {
		f.Close()
		toolsMu.Unlock()
	}
}

// goCommand runs the go tool outside any module (in the run's folder), with
// cgo off, and fails the test with its output if it fails.
func goCommand(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool on PATH: crictl and the runtime-tools programs are built with go install")
	}
	cmd := exec.Command(gobin, args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0"}, env...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// crictlBinary returns crictl, built once into the tools folder with
// go install from the module proxy, and rebuilt when its version is not
// the pinned one.
func crictlBinary(t *testing.T) string {
	t.Helper()
	defer lockTools(t)()
	bin := filepath.Join(toolsDir(), "crictl")
	// go install stamps no version into crictl's --version; its build
	// information names the module's.
	if info, err := buildinfo.ReadFile(bin); err == nil && info.Main.Version == crictlVersion {
		return bin
	}
	t.Logf("building crictl %s into %s (once; make e2e-tools does it too)", crictlVersion, toolsDir())
	goCommand(t, []string{"GOBIN=" + toolsDir()}, "install", crictlPackage+"@"+crictlVersion)
	return bin
}

// validationTools returns the folder holding runtimetest, the
// runtime-tools validation programs and the rootfs tarball they unpack,
// with the programs' names; built once into the tools folder.
func validationTools(t *testing.T) (dir string, programs []string) {
	t.Helper()
	defer lockTools(t)()
	dir = filepath.Join(toolsDir(), "runtime-tools-"+runtimeToolsVersion)
	list := filepath.Join(dir, "programs")
	if b, err := os.ReadFile(list); err == nil {
		programs = strings.Fields(string(b))
		return dir, programs
	}
	t.Logf("building the runtime-tools validation programs %s into %s (once)", runtimeToolsVersion, dir)
	var mod struct{ Dir, Error string }
	out := goCommand(t, nil, "mod", "download", "-json", runtimeToolsModule+"@"+runtimeToolsVersion)
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s@%s: %v %s %s", runtimeToolsModule, runtimeToolsVersion, err, mod.Error, out)
	}
	// Every folder of validation/ holding a main package is a program
	// (util is their library).
	entries, err := os.ReadDir(filepath.Join(mod.Dir, "validation"))
	if err != nil {
		t.Fatal(err)
	}
	mainPkg := regexp.MustCompile(`(?m)^package main\b`)
	pkgs := []string{runtimeToolsModule + "/cmd/runtimetest@" + runtimeToolsVersion}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(mod.Dir, "validation", e.Name(), "*.go"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && mainPkg.Match(b) {
				programs = append(programs, e.Name())
				pkgs = append(pkgs, fmt.Sprintf("%s/validation/%s@%s", runtimeToolsModule, e.Name(), runtimeToolsVersion))
				break
			}
		}
	}
	if len(programs) == 0 {
		t.Fatalf("no validation programs in %s", mod.Dir)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	goCommand(t, []string{"GOBIN=" + tmp}, append([]string{"install"}, pkgs...)...)
	if err := os.WriteFile(filepath.Join(tmp, "programs"), []byte(strings.Join(programs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir, programs
}
