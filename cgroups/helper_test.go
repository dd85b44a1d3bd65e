package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const helperEnv = "MINIRUN_CGROUPS_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		helperMain()
		os.Exit(0)
	}
	if os.Geteuid() == 0 {
		// Orphans of the tests' processes (the sleeps of a fork loop)
		// come to this process rather than to pid 1, so the tests can
		// check they died and reap them.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// helperMain is a process the tests put in a cgroup and drive through its
// stdin, one command a line, answering one line each:
//
//	open PATH rdonly|wronly  open a file: "ok" or the errno's name
//	mknod PATH MAJOR MINOR   make a char device node: "ok" or the errno
//	alloc MIB                allocate and touch MIB MiB: "ok"
//	spawn N                  start N sleeping children: "spawned K"
func helperMain() {
	in := bufio.NewScanner(os.Stdin)
	var keep [][]byte
	var kids []*exec.Cmd
	defer func() {
		for _, k := range kids {
			_ = k.Process.Kill()
			_ = k.Wait()
		}
	}()
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "open":
			flags := unix.O_RDONLY
			if f[2] == "wronly" {
				flags = unix.O_WRONLY
			}
			fd, err := unix.Open(f[1], flags|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			fmt.Println(errnoName(err))
		case "mknod":
			maj, _ := strconv.Atoi(f[2])
			minr, _ := strconv.Atoi(f[3])
			err := unix.Mknod(f[1], unix.S_IFCHR|0o600, int(unix.Mkdev(uint32(maj), uint32(minr))))
			fmt.Println(errnoName(err))
		case "alloc":
			mib, _ := strconv.Atoi(f[1])
			b := make([]byte, mib<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
			fmt.Println("ok")
		case "spawn":
			n, _ := strconv.Atoi(f[1])
			k := 0
			for range n {
				c := exec.Command("/bin/busybox", "sleep", "1000")
				if c.Start() == nil {
					kids = append(kids, c)
					k++
				}
			}
			fmt.Println("spawned", k)
		default:
			fmt.Println("unknown command")
		}
	}
	_ = keep
}

func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// proc is a test process in a cgroup.
type proc struct {
	m     *Manager
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	done  bool
	state *os.ProcessState
}

// start starts argv (the helper when argv is nil). With into, it starts
// inside m's cgroup2 directory through CLONE_INTO_CGROUP and is entered
// into the v1 ones; without, it is entered everywhere. The process reads
// its stdin before it does anything, so it is inside before it acts.
func start(t testing.TB, m *Manager, into bool, argv ...string) *proc {
	t.Helper()
	if argv == nil {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		argv = []string{exe}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if into {
		fd, err := m.IntoFD()
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", argv, err)
	}
	p := &proc{m: m, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() { p.kill() })
	if err := m.Enter(cmd.Process.Pid, into); err != nil {
		t.Fatalf("Enter(%d, %v): %v", cmd.Process.Pid, into, err)
	}
	return p
}

// ask sends the helper a command and returns its answer.
func (p *proc) ask(t testing.TB, cmd string) string {
	t.Helper()
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	// A stuck process must not hang the tests: after a minute everything
	// in its cgroup is killed, which ends the read below.
	watchdog := time.AfterFunc(time.Minute, func() { _ = p.m.Signal(unix.SIGKILL) })
	defer watchdog.Stop()
	if !p.out.Scan() {
		t.Fatalf("%s: no answer (%v)", cmd, p.wait())
	}
	return p.out.Text()
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// wait reaps the process and returns how it ended.
func (p *proc) wait() error {
	if p.done {
		return nil
	}
	p.in.Close()
	err := p.cmd.Wait()
	p.done, p.state = true, p.cmd.ProcessState
	return err
}

func (p *proc) kill() {
	if !p.done {
		_ = p.cmd.Process.Kill()
		_ = p.wait()
	}
}

// signaled says which signal ended the process, after wait.
func (p *proc) signaled() syscall.Signal {
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

func needRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

const unifiedMount = "/sys/fs/cgroup/unified"

// realHost is the machine's host, as DetectHost finds it.
func realHost(t testing.TB) *Host {
	t.Helper()
	needRoot(t, "cgroup directories are made and written by root")
	h, err := DetectHost()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func needV1(t testing.TB, h *Host, ctrls ...string) {
	t.Helper()
	for _, c := range ctrls {
		if key, ok := h.where(c); !ok || key == "" {
			t.Skipf("needs a cgroup v1 %s hierarchy, which this host (%v) lacks", c, h.Kind())
		}
	}
}

// unifiedHost sees only a hybrid machine's cgroup2 mount, to run the
// cgroup2 code there.
func unifiedHost(t testing.TB) *Host {
	t.Helper()
	needRoot(t, "cgroup directories are made and written by root")
	h, err := V2Host(unifiedMount)
	if err != nil {
		t.Skipf("needs a cgroup2 mount at %s (a hybrid host): %v", unifiedMount, err)
	}
	return h
}

// snapshot lists the cgroup directories under /sys/fs/cgroup that
// minirun or its tests could make: those with "minirun" in their path,
// but for minirun's Parent itself.
// Other directories are left out of the comparison because other
// programs on a shared machine make and remove their own meanwhile.
func snapshot(t testing.TB) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		// minirun's Parent stays once made (docs/design.md, rule 18).
		if d.IsDir() && strings.Contains(p, "minirun") && filepath.Base(p) != Parent {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dirs)
	return dirs
}

// leaveNothing checks, when the test ends (even when it fails), that the
// cgroup directories are as before it, and puts the cgroup2 root's
// cgroup.subtree_control back as it was (the hugetlb tests enable it).
func leaveNothing(t *testing.T) {
	t.Helper()
	before := snapshot(t)
	restoreSubtreeControl(t)
	t.Cleanup(func() {
		after := snapshot(t)
		if !slices.Equal(before, after) {
			var left []string
			for _, d := range after {
				if !slices.Contains(before, d) {
					left = append(left, d)
					_ = removeTree(d)
				}
			}
			t.Errorf("cgroup directories left behind: %q (now removed)", left)
		}
	})
}

// restoreSubtreeControl turns off, when the test or benchmark ends, the
// controllers it turned on in the cgroup2 root's cgroup.subtree_control.
// Create leaves them on, as other containers may use them; a test must
// leave the machine as it found it.
func restoreSubtreeControl(tb testing.TB) {
	ctl, err := readFile(unifiedMount, "cgroup.subtree_control")
	if err != nil {
		return
	}
	tb.Cleanup(func() {
		now, _ := readFile(unifiedMount, "cgroup.subtree_control")
		for _, c := range strings.Fields(now) {
			if !slices.Contains(strings.Fields(ctl), c) {
				_ = writeFile(unifiedMount, "cgroup.subtree_control", "-"+c)
			}
		}
	})
}

// testPath is a cgroup path of the test's own under /minirun.
func testPath(t testing.TB) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("/%s/test-%d-%s", Parent, os.Getpid(), name)
}

// create makes m's cgroup and destroys it when the test ends.
func create(t *testing.T, h *Host, r *rspec.LinuxResources, devs []rspec.LinuxDevice) *Manager {
	t.Helper()
	m := h.Manager(testPath(t))
	if err := m.Create(r, devs); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return m
}

// procState reads a process's state letter from /proc/PID/stat.
func procState(pid int) (byte, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+2 >= len(data) {
		return 0, fmt.Errorf("malformed stat %q", data)
	}
	return data[i+2], nil
}

// eventually polls cond for a while: the kernel finishes some work
// (task exit, freezing) after the call that starts it returns.
func eventually(cond func() bool) bool {
	for i := 0; i < 500; i++ {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}
