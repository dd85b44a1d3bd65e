package container

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/procfs"
	"github.com/minirun/minirun/internal/testbin"
	"github.com/minirun/minirun/specs"
)

// These tests run real containers: in-process through Run, and through the
// minirun binary where the CLI matters (exit status, messages, signals).
// They need root; every one skips with the reason when not root.

var (
	// minirunBin is the minirun binary TestMain builds once (CGO_ENABLED=0).
	minirunBin string
	// helperBin is this test binary, which serves as the in-container helper.
	helperBin string
	// busyboxBin is Debian's busybox-static, for shell-script containers.
	busyboxBin = "/bin/busybox"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	os.Exit(setupAndRun(m))
}

func setupAndRun(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test skips, saying why
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "finding the test binary:", err)
		return 1
	}
	helperBin = self
	if err := checkStatic(self); err != nil {
		fmt.Fprintf(os.Stderr, "the test binary serves as the in-container helper and must be static: %v (build the tests with CGO_ENABLED=0, as the Makefile does)\n", err)
		return 1
	}
	// Initialise the runtime's poller now, so that the fds it keeps
	// (epoll, its wake-up pipe) are not counted as left behind by the
	// first container.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	dir, err := os.MkdirTemp("", "minirun-container-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The rootless tests run the binary as uid 65534.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if minirunBin, err = testbin.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// A temporary folder of this package's own, for it and every minirun
	// it runs: the "nothing left behind" checks look there, and must not
	// see what other packages' tests, running at the same time, leave in
	// the shared one for a moment (threads --isolate's rootfs).
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o1777); err == nil {
		err = os.Chmod(tmp, 0o1777) // past the umask: uid 65534 writes there too
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("TMPDIR", tmp)
	return m.Run()
}

// checkStatic refuses a dynamically linked binary: it could not run in a
// rootfs without its libc.
func checkStatic(file string) error {
	f, err := elf.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("it has an ELF interpreter (dynamically linked)")
		}
	}
	return nil
}

func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// testBundle is a bundle being built in a test's temporary folder.
type testBundle struct {
	Dir, Rootfs string
	Spec        *rspec.Spec
}

// tempDir is t.TempDir made reachable by other users (the rootless tests
// run minirun as uid 65534; t.TempDir's folders are 0700).
func tempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// newBundle makes a bundle with an empty rootfs and the project's default
// config (specs.Generate) made non-interactive.
func newBundle(t *testing.T, opts specs.GenerateOptions) *testBundle {
	t.Helper()
	dir := tempDir(t)
	b := &testBundle{Dir: dir, Rootfs: filepath.Join(dir, "rootfs"), Spec: specs.Generate(opts)}
	if err := os.Mkdir(b.Rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	b.Spec.Process.Terminal = false
	return b
}

// helperBundle is a bundle whose rootfs holds only the helper, as /helper,
// run with the given probes.
func helperBundle(t *testing.T, opts specs.GenerateOptions, probes ...string) *testBundle {
	t.Helper()
	b := newBundle(t, opts)
	b.install(t, helperBin, "helper")
	b.Spec.Process.Args = append([]string{"/helper"}, probes...)
	b.Spec.Process.Env = append(b.Spec.Process.Env, helperEnv+"=facts")
	return b
}

// busyboxBundle is a bundle whose rootfs holds busybox and a link for each
// applet in /bin, running sh -c script.
func busyboxBundle(t *testing.T, opts specs.GenerateOptions, script string) *testBundle {
	t.Helper()
	if _, err := os.Stat(busyboxBin); err != nil {
		t.Skip("needs busybox-static at " + busyboxBin + " (Debian package busybox-static): " + err.Error())
	}
	b := newBundle(t, opts)
	b.install(t, busyboxBin, "bin/busybox")
	out, err := exec.Command(busyboxBin, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, name := range strings.Fields(string(out)) {
		if name == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(b.Rootfs, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	b.Spec.Process.Args = []string{"sh", "-c", script}
	return b
}

// install copies the host file src to rel in the rootfs, executable.
func (b *testBundle) install(t *testing.T, src, rel string) {
	t.Helper()
	dst := filepath.Join(b.Rootfs, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// mkdirs creates folders in the rootfs.
func (b *testBundle) mkdirs(t *testing.T, rels ...string) {
	t.Helper()
	for _, r := range rels {
		if err := os.MkdirAll(filepath.Join(b.Rootfs, r), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// writeFile writes a file below the bundle folder.
func (b *testBundle) writeFile(t *testing.T, rel, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(b.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// chown gives the whole bundle to uid:gid (a user namespace's root must
// be able to create mount points in its rootfs).
func (b *testBundle) chown(t *testing.T, uid, gid int) {
	t.Helper()
	err := filepath.Walk(b.Dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// save writes config.json and loads the bundle as minirun run would.
func (b *testBundle) save(t *testing.T) *specs.Bundle {
	t.Helper()
	data, err := json.MarshalIndent(b.Spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(b.Dir, specs.ConfigName)
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	lb, err := specs.LoadBundle(b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return lb
}

func (b *testBundle) config() string { return filepath.Join(b.Dir, specs.ConfigName) }

// runCaptured runs the bundle in-process with Run and returns its exit
// status and what the container wrote to stdout. The container's stdout is
// the test process's fd 1, so fd 1 points at a file for the duration (the
// tests of this package do not run in parallel).
func runCaptured(t *testing.T, b *specs.Bundle) (code int, stdout string, err error) {
	t.Helper()
	f, ferr := os.CreateTemp(t.TempDir(), "stdout-")
	if ferr != nil {
		t.Fatal(ferr)
	}
	defer f.Close()
	saved, ferr := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
	if ferr != nil {
		t.Fatal(ferr)
	}
	if ferr := unix.Dup3(int(f.Fd()), 1, 0); ferr != nil {
		t.Fatal(ferr)
	}
	code, err = Run(b, Options{})
	if ferr := unix.Dup3(saved, 1, 0); ferr != nil {
		t.Fatal(ferr)
	}
	unix.Close(saved)
	out, ferr := os.ReadFile(f.Name())
	if ferr != nil {
		t.Fatal(ferr)
	}
	return code, string(out), err
}

// runFacts runs a helper bundle in-process, checks that it exited 0 and
// returns its facts.
func runFacts(t *testing.T, tb *testBundle) *facts {
	t.Helper()
	code, out, err := runCaptured(t, tb.save(t))
	if err != nil {
		t.Fatalf("Run: got error %v, want none", err)
	}
	if code != 0 {
		t.Fatalf("Run: got exit status %d, want 0; stdout: %q", code, out)
	}
	return parseFacts(t, out)
}

func parseFacts(t *testing.T, out string) *facts {
	t.Helper()
	var f facts
	line, _, _ := strings.Cut(out, "\n")
	if err := json.Unmarshal([]byte(line), &f); err != nil {
		t.Fatalf("the helper's output: %v; got %q", err, out)
	}
	if len(f.Errors) > 0 {
		t.Errorf("the helper could not find out: %q", f.Errors)
	}
	return &f
}

// mount returns the last (topmost) mount at point in the facts, or nil.
func (f *facts) mount(point string) *mountEntry {
	var m *mountEntry
	for i := range f.Mounts {
		if f.Mounts[i].Point == point {
			m = &f.Mounts[i]
		}
	}
	return m
}

// runBinary runs the minirun binary (prefixed by wrap, e.g. setpriv …)
// and returns what it printed and its exit status.
func runBinary(t *testing.T, wrap []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testbin.Run(t, minirunBin, "", wrap, args...)
}

// started is a minirun binary running in the background; the test reads
// its stdout line by line and ends it by closing stdin or signalling it.
// Its stdout and stderr are files, not pipes copied by goroutines, so that
// waiting for minirun never waits for a process it left behind.
type started struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	lines     *bufio.Reader
	stdout    *os.File // the read end of minirun's stdout
	stderr    *os.File
	container int // the container's pid once known, killed at cleanup
}

func startBinary(t *testing.T, wrap []string, args ...string) *started {
	t.Helper()
	argv := append(slices.Clone(wrap), minirunBin)
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	s := &started{cmd: cmd}
	var err error
	if s.stderr, err = os.CreateTemp(t.TempDir(), "stderr-"); err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = s.stderr
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	s.stdout, s.lines = r, bufio.NewReader(r)
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("starting %q: %v", argv, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if s.container > 0 {
			unix.Kill(s.container, unix.SIGKILL)
		}
		r.Close()
		s.stderr.Close()
	})
	return s
}

// errors returns what minirun printed on stderr so far.
func (s *started) errors() string {
	data, _ := os.ReadFile(s.stderr.Name())
	return string(data)
}

// line reads the next line the container printed.
func (s *started) line(t *testing.T) string {
	t.Helper()
	l, err := s.lines.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the container's output: got %v, want a line; minirun's stderr: %q", err, s.errors())
	}
	return strings.TrimSuffix(l, "\n")
}

// containerPID returns minirun's one child, the container's process, and
// remembers it so that cleanup kills it should minirun leave it behind.
func (s *started) containerPID(t *testing.T) int {
	t.Helper()
	pid := s.cmd.Process.Pid
	// The middle task of a double fork may not be reaped yet: a zombie.
	kids := slices.DeleteFunc(childrenOf(pid), func(k string) bool { return strings.HasSuffix(k, "(state Z)") })
	if len(kids) != 1 {
		t.Fatalf("live children of minirun (%d): got %q, want one, the container's process", pid, kids)
	}
	s.container, _ = strconv.Atoi(strings.Fields(kids[0])[0])
	return s.container
}

// wait closes minirun's stdin, waits for it to end, closes the test's
// ends of its stdio and returns its exit status.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	s.stdin.Close()
	err := s.cmd.Wait()
	s.stdout.Close()
	s.stderr.Close()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("waiting for minirun: %v", err)
	}
	return s.cmd.ProcessState.ExitCode()
}

// childrenOf lists the pids whose parent is ppid, from /proc/*/stat.
func childrenOf(ppid int) []string {
	ents, _ := os.ReadDir("/proc")
	var kids []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …
		comm, f, err := procfs.ParseStat(string(data))
		if err != nil || len(f) < 2 {
			continue
		}
		if p, _ := strconv.Atoi(f[1]); p == ppid {
			kids = append(kids, fmt.Sprintf("%d %s (state %s)", pid, comm, f[0]))
		}
	}
	return kids
}

// hostState is what a container must not leave behind in the host: the
// test process's mounts (it lives in the host's mount namespace), its
// children (a zombie is one), its open fds, and minirun state or
// temporary folders.
type hostState struct {
	mounts   []string
	children []string
	fds      []string
	temp     []string
}

func snapshotHost(t *testing.T) hostState {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var s hostState
	s.mounts = strings.Split(strings.TrimSpace(string(data)), "\n")
	s.children = childrenOf(os.Getpid())
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, _ := os.Readlink("/proc/self/fd/" + fd.Name())
		s.fds = append(s.fds, fd.Name()+" -> "+target)
	}
	// ReadDir's own fd is in the list, closed by now (no target).
	s.fds = slices.DeleteFunc(s.fds, func(l string) bool { return strings.HasSuffix(l, " -> ") })
	// Containers' state folders, and their cgroups in every hierarchy
	// (not /minirun itself, which stays: docs/design.md, rule 18).
	for _, pattern := range []string{"/run/minirun/*", "/sys/fs/cgroup/*/minirun/*"} {
		m, _ := filepath.Glob(pattern)
		s.temp = append(s.temp, m...)
	}
	for _, d := range []string{os.TempDir(), "/run"} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.Contains(e.Name(), "minirun") && !strings.Contains(e.Name(), "test") {
				s.temp = append(s.temp, filepath.Join(d, e.Name()))
			}
		}
	}
	return s
}

// checkNothingLeft compares the host with a snapshot taken before.
func checkNothingLeft(t *testing.T, before hostState) {
	t.Helper()
	compareHost(t, before, snapshotHost(t))
}

// only keeps, of the host-wide state folders and cgroups (/run/minirun,
// /sys/fs/cgroup/*/minirun), those whose path holds mark, and of the
// host's mounts, those below dir: a test whose containers all have IDs
// with mark, and bundles below dir (where all their mounts are made),
// checks its own, and not what the tests of another worktree or package
// running at the same time do on the host.
func (s hostState) only(mark, dir string) hostState {
	s.temp = slices.DeleteFunc(slices.Clone(s.temp), func(p string) bool {
		shared := strings.HasPrefix(p, "/run/minirun") || strings.HasPrefix(p, "/sys/fs/cgroup/")
		return shared && !strings.Contains(p, mark)
	})
	s.mounts = slices.DeleteFunc(slices.Clone(s.mounts), func(l string) bool {
		f := strings.Fields(l)
		return len(f) <= 4 || !strings.HasPrefix(f[4], dir+"/")
	})
	return s
}

// compareHost reports what after has that before had not, and the reverse.
func compareHost(t *testing.T, before, after hostState) {
	t.Helper()
	diff := func(what string, a, b []string) {
		var added, gone []string
		for _, l := range b {
			if !slices.Contains(a, l) {
				added = append(added, l)
			}
		}
		for _, l := range a {
			if !slices.Contains(b, l) {
				gone = append(gone, l)
			}
		}
		if len(added)+len(gone) > 0 {
			t.Errorf("left behind: %s: got added %q and gone %q, want none", what, added, gone)
		}
	}
	diff("mounts of the host's mount namespace", before.mounts, after.mounts)
	diff("child processes of the test", before.children, after.children)
	diff("open fds of the test process", before.fds, after.fds)
	diff("minirun state or temporary folders", before.temp, after.temp)
}
