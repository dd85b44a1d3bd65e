package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testbin"
)

// The runtime under test and the run's private places, set by TestMain.
var (
	// runtimePath is the runtime the clients are given: the runtime itself,
	// or the argv recorder in front of it (MINIRUN_E2E_ARGV).
	runtimePath string
	// realRuntime is the runtime binary itself.
	realRuntime string
	// runtimeIsDefault says no MINIRUN_E2E_RUNTIME was given: the runtime is
	// the minirun the tests built.
	runtimeIsDefault bool
	// workDir is this run's temporary folder; everything the tests make
	// that is not the host's goes under it, and it is removed at the end.
	workDir string
	// tag names what this run makes in shared places (cgroup parents,
	// containerd namespaces, bridges, CNI networks): short enough for a
	// network interface name, distinct per run.
	tag string
	// argvLog is MINIRUN_E2E_ARGV: where the recorder appends.
	argvLog string
)

func TestMain(m *testing.M) {
	os.Exit(setupAndRun(m))
}

func setupAndRun(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test skips, saying why
	}
	// One run at a time on a machine: runs would compete for the two
	// CPUs, and containerd's and podman's shared folders are easier to
	// keep clean one run at a time. A second run waits here.
	unlock, err := lockRun()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer unlock()
	tag = fmt.Sprintf("mre2e%d", os.Getpid()%100000)
	workDir, err = os.MkdirTemp("", "minirun-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Never a plain RemoveAll: a mount left under the folder (a
	// container's /proc or /sys that propagated back) would be walked.
	defer func() {
		if _, err := unmountAll(workDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		if out, err := exec.Command("rm", "-rf", "--one-file-system", workDir).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "removing %s: %v %s\n", workDir, err, out)
		}
	}()
	// Container processes run as other users sometimes (the validation
	// suite's process_user): let them reach their bundles.
	if err := os.Chmod(workDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	realRuntime = os.Getenv("MINIRUN_E2E_RUNTIME")
	if realRuntime == "" {
		runtimeIsDefault = true
		dir := filepath.Join(workDir, "minirun")
		if err := os.Mkdir(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if realRuntime, err = testbin.Build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	} else if realRuntime, err = filepath.Abs(realRuntime); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := os.Stat(realRuntime); err != nil {
		fmt.Fprintf(os.Stderr, "MINIRUN_E2E_RUNTIME: %v\n", err)
		return 1
	}
	runtimePath = realRuntime
	if argvLog = os.Getenv("MINIRUN_E2E_ARGV"); argvLog != "" {
		if runtimePath, err = writeRecorder(filepath.Join(workDir, "recorder"), realRuntime, argvLog); err != nil {
			fmt.Fprintln(os.Stderr, "MINIRUN_E2E_ARGV:", err)
			return 1
		}
	}
	// The validation programs and the tools make temporary folders of
	// their own: keep them in the run's folder, so none outlives it.
	tmp := filepath.Join(workDir, "tmp")
	if err := os.Mkdir(tmp, 0o1777); err == nil {
		err = os.Chmod(tmp, 0o1777)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("TMPDIR", tmp)
	code := m.Run()
	if argvLog != "" {
		if err := summariseArgv(os.Stdout, argvLog); err != nil {
			fmt.Fprintln(os.Stderr, "MINIRUN_E2E_ARGV:", err)
		}
	}
	return code
}

// lockRun takes the machine-wide lock of e2e runs, waiting for it, and
// returns its release.
func lockRun() (func(), error) {
	dir := "/run/lock"
	if _, err := os.Stat(dir); err != nil {
		dir = os.TempDir()
	}
	f, err := os.OpenFile(filepath.Join(dir, "minirun-e2e.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "another e2e run holds %s; waiting for it\n", f.Name())
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
	}
	return func() { f.Close() }, nil
}

// lifecycle is what every client calls.
var lifecycle = []string{"create", "start", "state", "kill", "delete"}

// needRuntime skips the test when not root, and when the runtime the tests
// built does not have the commands the client calls yet. A runtime named in
// MINIRUN_E2E_RUNTIME that lacks one fails the test instead: it was asked for.
func needRuntime(t *testing.T, commands ...string) {
	t.Helper()
	needRoot(t)
	var missing []string
	for _, c := range append(slices.Clone(lifecycle), commands...) {
		if !runtimeHas(c) {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s has no %s command (`%s CMD --help` fails)", realRuntime, strings.Join(missing, ", "), filepath.Base(realRuntime))
	if runtimeIsDefault {
		t.Skip(msg + ": the lifecycle lands with issue 8; MINIRUN_E2E_RUNTIME=/usr/sbin/runc runs these tests against runc")
	}
	t.Fatal(msg)
}

// runtimeHas says whether the runtime knows command: `RUNTIME command
// --help` succeeds for a command it has (urfave/cli, and runc and crun,
// print help and exit 0) and fails for one it does not.
func runtimeHas(command string) bool {
	cmd := exec.Command(realRuntime, command, "--help")
	return cmd.Run() == nil
}

// runtimeIsMinirun says whether the runtime under test is a minirun, by the
// first line of its --version.
func runtimeIsMinirun() bool {
	out, _ := exec.Command(realRuntime, "--version").Output()
	return strings.HasPrefix(string(out), "minirun ")
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the clients and the runtime make namespaces, mounts and cgroups")
	}
}

// needTool skips the test when program is not on PATH, naming the Debian
// package that brings it; it returns the program's path.
func needTool(t *testing.T, program, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		t.Skipf("needs %s (Debian package %s)", program, pkg)
	}
	return p
}

// needFile skips the test when path does not exist, naming the Debian
// package that brings it.
func needFile(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("needs %s (Debian package %s)", path, pkg)
	}
}

// result is what a command did.
type result struct {
	argv           []string
	stdout, stderr string
	code           int // exit status; -1 when it did not start or was killed
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("%q: exit status %d\nstdout: %s\nstderr: %s", r.argv, r.code, r.stdout, r.stderr)
}

// cmdTimeout bounds every command a test runs: a client that hangs fails
// the test with what it printed, and cleanups still run.
const cmdTimeout = 2 * time.Minute

// run runs argv with env added to the test's environment and returns what
// it did; it never fails the test itself.
func run(env []string, argv ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// Clients leave daemons behind (conmon, shims) that would keep the
	// pipes open: stop waiting for output once the client itself exits.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{argv: argv, stdout: out.String(), stderr: errb.String(), err: err}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		r.code = -1
	}
	if ctx.Err() != nil {
		r.code = -1
		r.err = fmt.Errorf("timed out after %v: %w", cmdTimeout, err)
	}
	return r
}

// mustRun runs argv and fails the test unless it exits 0.
func mustRun(t *testing.T, env []string, argv ...string) result {
	t.Helper()
	r := run(env, argv...)
	if r.code != 0 || r.err != nil {
		t.Fatalf("%v (%v)", r, r.err)
	}
	return r
}

// repoRoot is the repository's top folder (tests run in the package's).
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// waitFor polls cond every 100 ms until it holds or limit passes, and says
// whether it held. It waits for a state a client reaches asynchronously
// (a task stopped); it never judges speed.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
