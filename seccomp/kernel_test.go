package seccomp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The kernel tests run the test binary again as a helper process: it
// installs a compiled filter on itself (no_new_privs, then seccomp(2) with
// the filter's flags and TSYNC, as the child program will but for TSYNC,
// which a Go process needs for its other threads) and makes the system
// calls it is told, reporting what the kernel answered. A filter cannot be
// taken off, so each case needs a process of its own.

const helperEnv = "MINIRUN_SECCOMP_HELPER"

func TestMain(m *testing.M) {
	if req := os.Getenv(helperEnv); req != "" {
		os.Exit(helperMain(req))
	}
	os.Exit(m.Run())
}

// call is one system call for the helper to make.
type call struct {
	Name string    `json:"name"`
	Nr   uintptr   `json:"nr"`
	Args [6]uint64 `json:"args"`
	// Notify: answer it from the listener with this errno.
	Notify int `json:"notify,omitempty"`
}

type helperReq struct {
	Policy *rspec.LinuxSeccomp `json:"policy"` // nil: no filter
	Calls  []call              `json:"calls"`
	Loop   int                 `json:"loop"` // time this many getppid calls
}

type result struct {
	Name   string `json:"name"`
	Ret    uint64 `json:"ret"`
	Errno  int    `json:"errno"`
	Killed bool   `json:"killed"` // the calling thread vanished
}

type helperOut struct {
	Seccomp string   `json:"seccomp"` // the Seccomp: line of /proc/self/status
	Results []result `json:"results"`
	Pid     int      `json:"pid"`
	LoopNs  int64    `json:"loopNs"`
}

func helperMain(req string) int {
	var r helperReq
	if err := json.Unmarshal([]byte(req), &r); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	// A KILL_PROCESS must not leave a core file behind.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	if r.Policy == nil {
		return helperLoop(r.Loop, "none")
	}
	f, err := Compile(r.Policy, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: compile:", err)
		return 3
	}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "helper: no_new_privs:", err)
		return 3
	}
	prog := unix.SockFprog{Len: uint16(len(f.Program)), Filter: &f.Program[0]}
	flags := f.Flags | unix.SECCOMP_FILTER_FLAG_TSYNC
	if f.Notify {
		// TSYNC with a listener needs TSYNC_ESRCH (Linux 5.7).
		flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	}
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f.Program)
	if errno != 0 {
		fmt.Fprintln(os.Stderr, "helper: seccomp:", errno)
		return 3
	}
	out := helperOut{Pid: os.Getpid()}
	status, _ := os.ReadFile("/proc/self/status")
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Seccomp:") {
			out.Seccomp = strings.TrimSpace(strings.TrimPrefix(sc.Text(), "Seccomp:"))
		}
	}
	if r.Loop > 0 {
		return helperLoop(r.Loop, out.Seccomp)
	}
	for _, c := range r.Calls {
		if c.Notify != 0 {
			go answerNotify(int(fd), c.Notify)
		}
		out.Results = append(out.Results, callOnThread(c))
	}
	b, _ := json.Marshal(out)
	os.Stdout.Write(append(b, '\n'))
	return 0
}

// helperLoop times n getppid calls on this thread and reports the time.
func helperLoop(n int, mode string) int {
	runtime.LockOSThread()
	start := time.Now()
	for i := 0; i < n; i++ {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	el := time.Since(start)
	b, _ := json.Marshal(helperOut{Seccomp: mode, LoopNs: el.Nanoseconds()})
	os.Stdout.Write(append(b, '\n'))
	return 0
}

// callOnThread makes c on a thread of its own, so that a filter killing
// the thread (KILL_THREAD, a bad arch) is seen as the thread vanishing.
// It goes through syscall entry (not RawSyscall) so that the runtime does
// not wait on a thread that will never come back.
func callOnThread(c call) result {
	done := make(chan result, 1)
	tids := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		tids <- unix.Gettid()
		r1, _, e := unix.Syscall6(c.Nr, uintptr(c.Args[0]), uintptr(c.Args[1]), uintptr(c.Args[2]),
			uintptr(c.Args[3]), uintptr(c.Args[4]), uintptr(c.Args[5]))
		done <- result{Name: c.Name, Ret: uint64(r1), Errno: int(e)}
	}()
	tid := <-tids
	for {
		select {
		case r := <-done:
			return r
		case <-time.After(50 * time.Millisecond):
			// No answer yet: a notified call waits for its answer, a
			// killed thread never answers. Gone from /proc is killed.
			if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); errors.Is(err, os.ErrNotExist) {
				return result{Name: c.Name, Killed: true}
			}
		}
	}
}

// seccompNotif and seccompNotifResp are struct seccomp_notif and struct
// seccomp_notif_resp (linux/seccomp.h).
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  [64]byte
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// answerNotify answers one notification with -errno.
func answerNotify(fd, errno int) {
	var n seccompNotif
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); e != 0 {
		fmt.Fprintln(os.Stderr, "helper: NOTIF_RECV:", e)
		return
	}
	resp := seccompNotifResp{ID: n.ID, Error: int32(-errno)}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); e != 0 {
		fmt.Fprintln(os.Stderr, "helper: NOTIF_SEND:", e)
	}
}

// runHelper runs the helper with a policy and calls; it returns what the
// helper reported, or how it died.
func runHelper(t testing.TB, p *rspec.LinuxSeccomp, calls []call) (*helperOut, *exec.ExitError, string) {
	return runHelperReq(t, helperReq{Policy: p, Calls: calls})
}

func runHelperReq(t testing.TB, r helperReq) (*helperOut, *exec.ExitError, string) {
	t.Helper()
	req, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(req))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil, ee, stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	var out helperOut
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("helper output %q: %v (stderr %s)", stdout.String(), err, stderr.String())
	}
	return &out, nil, stderr.String()
}

func nrOf(t *testing.T, name string) uintptr {
	t.Helper()
	tab := sysX86_64
	if runtime.GOARCH == "arm64" {
		tab = sysAArch64
	}
	nr, ok := tab.lookup(name)
	if !ok {
		t.Fatalf("no system call %q here", name)
	}
	return uintptr(nr)
}

// check compares the helper's results with what each call should get:
// an errno (0: success), or killed.
func check(t *testing.T, out *helperOut, want []result) {
	t.Helper()
	if out.Seccomp != "2" {
		t.Errorf("/proc/self/status Seccomp: got %q, want 2 (filter mode)", out.Seccomp)
	}
	if len(out.Results) != len(want) {
		t.Fatalf("got %d results, want %d", len(out.Results), len(want))
	}
	for i, w := range want {
		g := out.Results[i]
		if w.Errno == reached {
			if g.Killed || g.Errno == int(unix.EPERM) || g.Errno == int(unix.ENOSYS) {
				t.Errorf("%s: got errno %d (%v) killed %v, want it to reach the kernel", w.Name, g.Errno, syscall.Errno(g.Errno), g.Killed)
			}
			continue
		}
		if g.Killed != w.Killed || (!w.Killed && g.Errno != w.Errno) {
			t.Errorf("%s: got errno %d (%v) killed %v, want errno %d (%v) killed %v",
				w.Name, g.Errno, syscall.Errno(g.Errno), g.Killed, w.Errno, syscall.Errno(w.Errno), w.Killed)
		}
	}
}

// reached means the call got past the filter: whatever the kernel says,
// neither of the filter's answers (EPERM, ENOSYS).
const reached = -1

func TestKernelProfiles(t *testing.T) {
	eperm, enosys := int(unix.EPERM), int(unix.ENOSYS)
	for _, tc := range []struct {
		name  string
		get   func(testing.TB) *rspec.LinuxSeccomp
		calls []string
		want  []int
	}{
		// Docker refuses namespaces, mounts and keys without
		// CAP_SYS_ADMIN, and clone3 with ENOSYS so that libc falls back
		// to clone, whose flags it can see.
		{"docker", dockerProfile,
			[]string{"getpid", "unshare", "keyctl", "mount", "clone3", "add_key", "getppid"},
			[]int{0, eperm, eperm, eperm, enosys, eperm, 0}},
		// Podman lets namespaces and mounts through to the kernel (the
		// capabilities decide), refuses a list with EPERM and answers
		// ENOSYS for what it does not name.
		{"podman", podmanProfile,
			[]string{"getpid", "unshare", "mount", "sethostname", "kexec_load", "add_key", "io_uring_setup", "getppid"},
			[]int{0, reached, reached, eperm, eperm, enosys, enosys, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.get(t)
			var calls []call
			var want []result
			for i, n := range tc.calls {
				c := call{Name: n, Nr: nrOf(t, n)}
				if n == "unshare" {
					c.Args[0] = unix.CLONE_NEWUSER
				}
				calls = append(calls, c)
				want = append(want, result{Name: n, Errno: tc.want[i]})
			}
			out, died, stderr := runHelper(t, p, calls)
			if died != nil {
				t.Fatalf("helper died: %v: %s", died, stderr)
			}
			check(t, out, want)
			if got := out.Results[0].Ret; int(got) != out.Pid {
				t.Errorf("getpid under the filter: got %d, want %d", got, out.Pid)
			}
		})
	}
}

func u(v uint) *uint { return &v }

// TestKernelActions installs small policies (default ALLOW, one rule) and
// checks each action as the kernel carries it out.
func TestKernelActions(t *testing.T) {
	getppid := nrOf(t, "getppid")
	getprio := nrOf(t, "getpriority")
	one := func(a rspec.LinuxSeccompAction, errno *uint, args ...rspec.LinuxSeccompArg) *rspec.LinuxSeccomp {
		return &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"getppid", "getpriority"}, Action: a, ErrnoRet: errno, Args: args},
		}}
	}
	for _, tc := range []struct {
		name  string
		p     *rspec.LinuxSeccomp
		calls []call
		want  []result
	}{
		{"errno default EPERM", one(rspec.ActErrno, nil),
			[]call{{Name: "getppid", Nr: getppid}}, []result{{Name: "getppid", Errno: int(unix.EPERM)}}},
		{"errno 95", one(rspec.ActErrno, u(95)),
			[]call{{Name: "getppid", Nr: getppid}}, []result{{Name: "getppid", Errno: 95}}},
		// Without a tracer the kernel fails a TRACE'd call with ENOSYS.
		{"trace", one(rspec.ActTrace, u(7)),
			[]call{{Name: "getppid", Nr: getppid}}, []result{{Name: "getppid", Errno: int(unix.ENOSYS)}}},
		{"log", one(rspec.ActLog, nil),
			[]call{{Name: "getppid", Nr: getppid}}, []result{{Name: "getppid"}}},
		{"kill thread", one(rspec.ActKillThread, nil),
			[]call{{Name: "getppid", Nr: getppid}}, []result{{Name: "getppid", Killed: true}}},
		{"kill is kill thread", one(rspec.ActKill, nil),
			[]call{{Name: "getppid", Nr: getppid}}, []result{{Name: "getppid", Killed: true}}},
		{"notify", one(rspec.ActNotify, nil),
			[]call{{Name: "getppid", Nr: getppid, Notify: 77}}, []result{{Name: "getppid", Errno: 77}}},
		// 64-bit arguments: the filter sees the whole register, the high
		// word too.
		{"args 64-bit", one(rspec.ActErrno, u(13),
			rspec.LinuxSeccompArg{Index: 0, Op: rspec.OpEqualTo, Value: 0},
			rspec.LinuxSeccompArg{Index: 1, Op: rspec.OpGreaterThan, Value: 1 << 32}),
			[]call{
				{Name: "getpriority(0, 0)", Nr: getprio},
				{Name: "getpriority(0, 1<<32|5)", Nr: getprio, Args: [6]uint64{0, 1<<32 | 5}},
				{Name: "getpriority(0, 1<<32)", Nr: getprio, Args: [6]uint64{0, 1 << 32}},
				{Name: "getppid", Nr: getppid},
			},
			[]result{{Name: "getpriority(0, 0)"}, {Name: "getpriority(0, 1<<32|5)", Errno: 13},
				{Name: "getpriority(0, 1<<32)", Errno: reached}, {Name: "getppid"}}},
		{"masked", one(rspec.ActErrno, u(14),
			rspec.LinuxSeccompArg{Index: 0, Op: rspec.OpMaskedEqual, Value: 0xff00, ValueTwo: 0x1200}),
			[]call{
				{Name: "getpriority(0x12ab, 0)", Nr: getprio, Args: [6]uint64{0x12ab}},
				{Name: "getpriority(0x13ab, 0)", Nr: getprio, Args: [6]uint64{0x13ab}},
			},
			[]result{{Name: "getpriority(0x12ab, 0)", Errno: 14}, {Name: "getpriority(0x13ab, 0)", Errno: reached}}},
		{"flags", &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow,
			Flags:    []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog, rspec.LinuxSeccompFlagSpecAllow, rspec.LinuxSeccompFlagWaitKillableRecv},
			Syscalls: []rspec.LinuxSyscall{{Names: []string{"getppid"}, Action: rspec.ActNotify}}},
			[]call{{Name: "getppid", Nr: getppid, Notify: 78}}, []result{{Name: "getppid", Errno: 78}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, died, stderr := runHelper(t, tc.p, tc.calls)
			if died != nil {
				t.Fatalf("helper died: %v: %s", died, stderr)
			}
			check(t, out, tc.want)
		})
	}
}

// TestKernelKillProcess: KILL_PROCESS takes the whole process, by SIGSYS.
func TestKernelKillProcess(t *testing.T) {
	p := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{
		{Names: []string{"getppid"}, Action: rspec.ActKillProcess},
	}}
	_, died, stderr := runHelper(t, p, []call{{Name: "getppid", Nr: nrOf(t, "getppid")}})
	if died == nil {
		t.Fatal("the helper lived on")
	}
	ws := died.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("helper ended with %v, want killed by SIGSYS (stderr %s)", died, stderr)
	}
}

// TestKernelTrap: TRAP sends the thread SIGSYS, which the Go runtime does
// not handle: it reports a bad system call and exits 2.
func TestKernelTrap(t *testing.T) {
	p := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{
		{Names: []string{"getppid"}, Action: rspec.ActTrap},
	}}
	_, died, stderr := runHelper(t, p, []call{{Name: "getppid", Nr: nrOf(t, "getppid")}})
	if died == nil || died.ExitCode() != 2 || !strings.Contains(stderr, "SIGSYS") {
		t.Fatalf("helper ended with %v, stderr %q; want exit 2 and a SIGSYS report", died, stderr)
	}
}

// TestKernelX32 makes x32 system calls (nr | __X32_SYSCALL_BIT) from an
// x86_64 process: the filter decides before the kernel looks for an x32
// table (which Debian's kernels keep disabled: unfiltered, the call would
// get ENOSYS).
func TestKernelX32(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("x32 is an ABI of amd64 only")
	}
	x32getpid, _ := sysX32.lookup("getpid")
	calls := []call{{Name: "x32 getpid", Nr: uintptr(x32getpid)}, {Name: "getppid", Nr: nrOf(t, "getppid")}}
	rule := []rspec.LinuxSyscall{{Names: []string{"getpid"}, Action: rspec.ActErrno, ErrnoRet: u(99)}}
	t.Run("listed", func(t *testing.T) {
		p := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: rule,
			Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX32}}
		out, died, stderr := runHelper(t, p, calls)
		if died != nil {
			t.Fatalf("helper died: %v: %s", died, stderr)
		}
		check(t, out, []result{{Name: "x32 getpid", Errno: 99}, {Name: "getppid"}})
	})
	// Not listed: an x32 call is a bad architecture, and libseccomp kills
	// the thread.
	t.Run("unlisted", func(t *testing.T) {
		p := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: rule,
			Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86}}
		out, died, stderr := runHelper(t, p, calls)
		if died != nil {
			t.Fatalf("helper died: %v: %s", died, stderr)
		}
		check(t, out, []result{{Name: "x32 getpid", Killed: true}, {Name: "getppid"}})
	})
}
