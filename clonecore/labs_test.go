package clonecore

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// labRig is the memory of one lab kernel test: n lab blocks, a go word and
// a release word every worker shares, and two spare words.
type labRig struct {
	a        *Arena
	st       *Stacks
	blocks   uintptr
	n        int
	goW, rel uintptr
	w1, w2   uintptr
}

func newLabRig(t *testing.T, n int) *labRig {
	t.Helper()
	a := trampArena(t)
	st, err := NewStacks(n+1, 16<<10) // one more slot for a host
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Free)
	r := &labRig{a: a, st: st, n: n}
	r.blocks = trampAlloc(t, a, int(LabStride)*(n+1))
	r.goW, r.rel = trampAlloc(t, a, 8), trampAlloc(t, a, 8)
	r.w1, r.w2 = trampAlloc(t, a, 8), trampAlloc(t, a, 8)
	for i := 0; i <= n; i++ {
		b := r.block(i)
		a.Store64(b+LabGo, uint64(r.goW))
		a.Store64(b+LabRelease, uint64(r.rel))
	}
	return r
}

func (r *labRig) block(i int) uintptr { return r.blocks + uintptr(i)*LabStride }

// waitPhase waits until worker i's phase (or, with host, the host's) reaches p.
func (r *labRig) waitPhase(t *testing.T, b uintptr, p uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for trampLoad(r.a, b+LabPhase) < p {
		if time.Now().After(deadline) {
			t.Fatalf("block %#x: phase %d after 10s, want %d", b, trampLoad(r.a, b+LabPhase), p)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (r *labRig) set(w uintptr) {
	r.a.Store32(w, 1)
	r.a.FutexWake(w)
}

// runLab starts n thread workers on kernel k (prep sets each one's
// inputs), lets them go at once, waits for their work, releases and joins
// them.
func (r *labRig) runLab(t *testing.T, k LabKernel, prep func(i int, b uintptr)) []*Task {
	t.Helper()
	tasks := make([]*Task, 0, r.n)
	defer func() {
		r.set(r.goW)
		r.set(r.rel)
		for _, task := range tasks {
			task.Join()
		}
	}()
	for i := 0; i < r.n; i++ {
		prep(i, r.block(i))
		task, err := StartLab(k, r.a, r.block(i), r.st, i, Options{Flags: Presets["thread"]})
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
		tasks = append(tasks, task)
	}
	for i := 0; i < r.n; i++ {
		r.waitPhase(t, r.block(i), LabReady)
	}
	r.set(r.goW)
	for i := 0; i < r.n; i++ {
		r.waitPhase(t, r.block(i), LabWorked)
		if got := int(trampLoad(r.a, r.block(i)+LabPID)); got != os.Getpid() {
			t.Errorf("worker %d: getpid %d, want %d (a thread of this process)", i, got, os.Getpid())
		}
		if got := int(trampLoad(r.a, r.block(i)+LabTID)); got != tasks[i].TID {
			t.Errorf("worker %d: gettid %d, want %d", i, got, tasks[i].TID)
		}
	}
	r.set(r.rel)
	for i, task := range tasks {
		if err := task.Join(); err != nil {
			t.Errorf("worker %d: join: %v", i, err)
		}
		if got := trampLoad(r.a, r.block(i)+LabPhase); got != LabLeaving {
			t.Errorf("worker %d: phase %d after join, want %d", i, got, LabLeaving)
		}
	}
	return tasks
}

func TestLabRace(t *testing.T) {
	const n, iters = 2, 200_000
	for _, variant := range []uint64{LabRacy, LabLocked} {
		t.Run(fmt.Sprint(variant), func(t *testing.T) {
			r := newLabRig(t, n)
			r.runLab(t, LabRace, func(i int, b uintptr) {
				r.a.Store64(b+LabTarget, uint64(r.w1))
				r.a.Store64(b+LabIters, iters)
				r.a.Store64(b+LabVariant, variant)
			})
			got := r.a.Load64(r.w1)
			switch {
			case variant == LabLocked && got != n*iters:
				t.Errorf("locked counter: got %d, want %d", got, n*iters)
			case got < 2 || got > n*iters:
				// A worker that stalls between its load and its store
				// can wipe out all of another's increments: the racy
				// counter can end at 2, never above the increments made.
				t.Errorf("racy counter: got %d, want between 2 and %d", got, n*iters)
			}
			for i := 0; i < n; i++ {
				if d := r.a.Load64(r.block(i) + LabDone); d != iters {
					t.Errorf("worker %d: done %d, want %d", i, d, iters)
				}
			}
		})
	}
}

// TestLabSpin checks that the spin kernel did exactly the work it was given:
// its recurrence's last value is the one Go computes for that many steps.
func TestLabSpin(t *testing.T) {
	const n, units = 2, 300
	r := newLabRig(t, n)
	r.runLab(t, LabSpin, func(i int, b uintptr) {
		r.a.Store64(b+LabIters, uint64(units*(i+1)))
	})
	for i := 0; i < n; i++ {
		b := r.block(i)
		want := uint64(1)
		for k := 0; k < units*(i+1)*spinUnit; k++ {
			want = want*0x5851f42d4c957f2d + 1
		}
		if got := r.a.Load64(b + LabResult); got != want {
			t.Errorf("worker %d: result %#x, want %#x", i, got, want)
		}
		if got := r.a.Load64(b + LabDone); got != uint64(units*(i+1)) {
			t.Errorf("worker %d: done %d, want %d", i, got, units*(i+1))
		}
		cpu0 := time.Duration(r.a.Load64(b+LabCPUTimeFrom))*time.Second + time.Duration(r.a.Load64(b+LabCPUTimeFrom+8))
		cpu1 := time.Duration(r.a.Load64(b+LabCPUTimeTo))*time.Second + time.Duration(r.a.Load64(b+LabCPUTimeTo+8))
		w0 := time.Duration(r.a.Load64(b+LabWallStart))*time.Second + time.Duration(r.a.Load64(b+LabWallStart+8))
		w1 := time.Duration(r.a.Load64(b+LabWallEnd))*time.Second + time.Duration(r.a.Load64(b+LabWallEnd+8))
		if cpu1 <= cpu0 || w1 <= w0 {
			t.Errorf("worker %d: clocks cpu %v..%v wall %v..%v, want both to advance", i, cpu0, cpu1, w0, w1)
		}
	}
}

// TestLabSpinStops checks the stop word ends a spin of no fixed length.
func TestLabSpinStops(t *testing.T) {
	r := newLabRig(t, 1)
	b := r.block(0)
	r.a.Store64(b+LabTarget, uint64(r.w1))
	task, err := StartLab(LabSpin, r.a, b, r.st, 0, Options{Flags: Presets["thread"]})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { r.set(r.w1); r.set(r.goW); r.set(r.rel); task.Join() }()
	r.waitPhase(t, b, LabReady)
	r.set(r.goW)
	r.waitPhase(t, b, LabRunning)
	time.Sleep(20 * time.Millisecond)
	if p := trampLoad(r.a, b+LabPhase); p != LabRunning {
		t.Fatalf("phase %d before the stop word, want %d (spinning)", p, LabRunning)
	}
	r.set(r.w1)
	r.waitPhase(t, b, LabWorked)
	if d := r.a.Load64(b + LabDone); d == 0 {
		t.Errorf("done: got 0 units, want some")
	}
}

func TestLabFutex(t *testing.T) {
	const iters = 100_000
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := newLabRig(t, n)
			r.runLab(t, LabFutex, func(i int, b uintptr) {
				r.a.Store64(b+LabTarget, uint64(r.w1))
				r.a.Store64(b+LabShared, uint64(r.w2))
				r.a.Store64(b+LabIters, iters)
			})
			if got := r.a.Load64(r.w2); got != uint64(n*iters) {
				t.Errorf("counter under the lock: got %d, want %d", got, n*iters)
			}
			if got := r.a.Load64(r.w1); got != 0 {
				t.Errorf("lock word after the run: got %d, want 0 (free)", got)
			}
			for i := 0; i < n; i++ {
				b := r.block(i)
				fast, slow := r.a.Load64(b+LabFast), r.a.Load64(b+LabSlow)
				waits, wakes := r.a.Load64(b+LabWaits), r.a.Load64(b+LabWakes)
				t.Logf("worker %d: fast %d slow %d waits %d wakes %d", i, fast, slow, waits, wakes)
				if fast+slow != iters {
					t.Errorf("worker %d: fast %d + slow %d, want %d locks", i, fast, slow, iters)
				}
				if n == 1 && (slow != 0 || waits != 0 || wakes != 0) {
					t.Errorf("worker alone: slow %d waits %d wakes %d, want 0 0 0", slow, waits, wakes)
				}
			}
		})
	}
}

func TestStartLabRefuses(t *testing.T) {
	r := newLabRig(t, 1)
	r.a.Store64(r.block(0)+LabNWorkers, 1)
	for _, c := range []struct {
		k     LabKernel
		flags Flags
	}{
		{LabHost, VM | SETTLS | CHILD_CLEARTID},
		{LabHost, FILES},
		{LabHost, PARENT},
		{LabEnd, 0},
		{LabEnd, Presets["thread"]},
		{LabRace, 0},
		{99, Presets["thread"]},
	} {
		if task, err := StartLab(c.k, r.a, r.block(0), r.st, 0, Options{Flags: c.flags}); err == nil {
			task.Join()
			task.Reap()
			t.Errorf("StartLab(%d, %v): got a task, want a refusal", c.k, c.flags)
		}
	}
}

// hostRun starts a host with n end workers cloned with flags; worker 0 does
// action. It returns what the host recorded once worker 0 acted and the
// host's own wait status.
type hostResult struct {
	started      uint64
	tids         []int
	pid          int // the host's
	reaped       []bool
	status       []unix.WaitStatus
	phase        []uint64
	host         unix.WaitStatus
	aliveAfter   []bool // each worker's /proc entry after worker 0 acted
	hostReported uint64
}

func hostRun(t *testing.T, n int, flags Flags, action uint64) hostResult {
	t.Helper()
	r := newLabRig(t, n)
	host := r.block(n)
	workers := r.block(0)
	r.a.Store64(host+LabWorkers, uint64(workers))
	r.a.Store64(host+LabNWorkers, uint64(n))
	r.a.Store64(host+LabRelease, uint64(r.rel))
	goWords := make([]uintptr, n)
	for i := 0; i < n; i++ {
		b := r.block(i)
		goWords[i] = trampAlloc(t, r.a, 8)
		r.a.Store64(b+LabGo, uint64(goWords[i]))
		if i == 0 {
			r.a.Store64(b+LabVariant, action)
			r.a.Store64(b+LabCode, 7)
		}
		if err := PrepareHosted(r.a, b, LabEnd, r.st, i, flags); err != nil {
			t.Fatal(err)
		}
	}
	// Default handlers where clone3 can reset them; a kernel without it
	// (or qemu-user) gives the host copies of this process's, which never
	// run: the host blocks every signal.
	task, err := StartLab(LabHost, r.a, host, r.st, n, Options{Flags: CLEAR_SIGHAND})
	if errors.Is(err, unix.ENOSYS) {
		task, err = StartLab(LabHost, r.a, host, r.st, n, Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, w := range goWords {
			r.set(w)
		}
		r.set(r.rel)
		task.Join()
		task.Reap()
	}()
	r.waitPhase(t, host, HostCloned)
	var res hostResult
	res.started = trampLoad(r.a, host+LabStarted)
	if res.started == 0 && flags&THREAD == 0 && trampLoad(r.a, host+LabErrno) == uint64(unix.EINVAL) {
		// Linux accepts CLONE_VM without CLONE_THREAD; qemu-user refuses it.
		t.Skip("the host's clone of a worker with CLONE_VM and no CLONE_THREAD: EINVAL (qemu-user refuses it)")
	}
	if res.started != uint64(n) {
		t.Fatalf("host started %d workers (errno %d), want %d", res.started, trampLoad(r.a, host+LabErrno), n)
	}
	res.pid = int(trampLoad(r.a, host+LabPID))
	for i := 0; i < n; i++ {
		r.waitPhase(t, r.block(i), LabReady)
		res.tids = append(res.tids, int(trampLoad(r.a, r.block(i)+LabChild)))
	}
	r.set(goWords[0])
	// Worker 0 is gone when the host reaped it, when its TID word is
	// cleared, or when the host's whole thread group is gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, task.TID, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		hostGone := err == nil && info.Signo != 0
		if trampLoad(r.a, workers+LabReaped) != 0 || hostGone ||
			(flags&THREAD != 0 && trampLoad(r.a, workers+offTID) == 0 && !procExists(res.pid, res.tids[0])) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("worker 0 did not end in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	// A thread group that is ending has SIGKILL pending in each of its
	// tasks before the first of them is gone (zap_other_threads), and a
	// task that took it runs until it is gone; a sibling left alone sleeps
	// in its futex wait. Wait until each is gone or asleep with nothing
	// pending.
	for i := 0; i < n; i++ {
		for procExists(res.pid, res.tids[i]) && (killPending(res.pid, res.tids[i]) || procState(res.pid, res.tids[i]) != "S") {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d: SIGKILL pending and still there after 10s", i)
			}
			time.Sleep(time.Millisecond)
		}
		res.aliveAfter = append(res.aliveAfter, procExists(res.pid, res.tids[i]))
	}
	for _, w := range goWords {
		r.set(w)
	}
	r.set(r.rel)
	if err := task.Join(); err != nil {
		t.Fatal(err)
	}
	res.host, err = task.Reap()
	if err != nil {
		t.Fatal(err)
	}
	res.hostReported = trampLoad(r.a, host+LabPhase)
	for i := 0; i < n; i++ {
		b := r.block(i)
		res.reaped = append(res.reaped, r.a.Load64(b+LabReaped) == 1)
		res.status = append(res.status, unix.WaitStatus(r.a.Load64(b+LabWaitStatus)))
		res.phase = append(res.phase, r.a.Load64(b+LabPhase))
	}
	return res
}

// procState is the state letter of task tid of pid, "" if it is gone.
func procState(pid, tid int) string {
	b, err := readTaskFile(pid, tid, "stat")
	if err != nil {
		return ""
	}
	_, st, _ := parseStatState(string(b))
	return st
}

// readTaskFile reads a /proc file of task tid: a thread of pid, or a
// process of its own.
func readTaskFile(pid, tid int, name string) ([]byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/%s", pid, tid, name))
	if err != nil {
		b, err = os.ReadFile(fmt.Sprintf("/proc/%d/%s", tid, name))
	}
	return b, err
}

// procExists reports whether task tid of thread group pid is alive (not a zombie).
func procExists(pid, tid int) bool {
	st := procState(pid, tid)
	return st != "" && st != "Z" && st != "X"
}

// killPending reports whether SIGKILL is pending for task tid of pid.
func killPending(pid, tid int) bool {
	b, err := readTaskFile(pid, tid, "status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigPnd:"); ok {
			bits, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && bits&(1<<(unix.SIGKILL-1)) != 0
		}
	}
	return false
}

func parseStatState(s string) (string, string, error) {
	i := len(s) - 1
	for i >= 0 && s[i] != ')' {
		i--
	}
	if i < 0 || i+2 >= len(s) {
		return "", "", errors.New("bad stat")
	}
	return s[:i], s[i+2 : i+3], nil
}

func TestLabHost(t *testing.T) {
	const n = 3
	thread := Presets["thread"]
	process := VM | SETTLS | CHILD_CLEARTID
	tests := []struct {
		name      string
		flags     Flags
		action    uint64
		host      string // the host's wait status
		worker0   string // worker 0's, for a process of its own
		siblings  bool   // alive after worker 0 acted
		siblingsX string // their wait status, processes of their own
	}{
		{"thread fault", thread, LabFault, "signal SIGSEGV", "", false, ""},
		{"thread overflow", thread, LabOverflow, "signal SIGSEGV", "", false, ""},
		{"thread exit", thread, LabExit, "exit 0", "", true, ""},
		{"thread exit_group", thread, LabExitGroup, "exit 7", "", false, ""},
		{"process fault", process, LabFault, "exit 0", "signal SIGSEGV", true, "exit 0"},
		{"process overflow", process, LabOverflow, "exit 0", "signal SIGSEGV", true, "exit 0"},
		{"process exit", process, LabExit, "exit 0", "exit 7", true, "exit 0"},
		{"process exit_group", process, LabExitGroup, "exit 0", "exit 7", true, "exit 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := hostRun(t, n, tt.flags, tt.action)
			if got := wsString(res.host); got != tt.host {
				t.Errorf("host: got %s, want %s", got, tt.host)
			}
			if res.host.CoreDump() {
				t.Errorf("host: dumped core, want no core")
			}
			for i := 1; i < n; i++ {
				if res.aliveAfter[i] != tt.siblings {
					t.Errorf("worker %d alive after worker 0 acted: got %v, want %v", i, res.aliveAfter[i], tt.siblings)
				}
			}
			if res.aliveAfter[0] {
				t.Errorf("worker 0 alive after its action, want gone")
			}
			if tt.flags&THREAD != 0 {
				for i := 0; i < n; i++ {
					if res.reaped[i] {
						t.Errorf("worker %d: reaped by the host, want a thread no one reaps", i)
					}
				}
				return
			}
			for i := 0; i < n; i++ {
				want := tt.siblingsX
				if i == 0 {
					want = tt.worker0
				}
				if !res.reaped[i] || wsString(res.status[i]) != want {
					t.Errorf("worker %d: reaped %v status %s, want %s", i, res.reaped[i], wsString(res.status[i]), want)
				}
			}
		})
	}
}

func wsString(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit %d", ws.ExitStatus())
	case ws.Signaled():
		return "signal " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("%#x", uint32(ws))
}
