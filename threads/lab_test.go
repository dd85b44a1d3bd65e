package threads

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/internal/procfs"
	"golang.org/x/sys/unix"
)

// The flag sets the tests run the lab with.
var (
	threadFlags = clonecore.Presets["thread"]
	// Shares memory, files, fs and handlers, but is a thread group of its own.
	ownGroupFlags = clonecore.VM | clonecore.FS | clonecore.FILES | clonecore.SIGHAND | clonecore.SETTLS | clonecore.CHILD_CLEARTID
	// The least a worker needs: no shared handlers, so a fatal signal kills
	// only the worker (the overflow kernel wants this).
	bareFlags = clonecore.VM | clonecore.SETTLS | clonecore.CHILD_CLEARTID
)

var allChecks = []string{"counter", "tgid", "tls", "tls-self", "stack", "sum", "live", "joined"}

// needRoot skips a test that creates namespaces when not root.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// taskStatus reads one line of a status file ("Tgid") as an int; -1 if absent.
func taskStatus(t *testing.T, path, key string) int {
	t.Helper()
	m, err := procfs.ReadStatus(path)
	if err != nil {
		return -1
	}
	v, ok := m[key]
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.Fields(v)[0])
	if err != nil {
		t.Fatalf("%s: %s: %v", path, key, err)
	}
	return n
}

// ownTasks lists /proc/self/task as the test sees it.
func ownTasks(t *testing.T) map[int]bool {
	t.Helper()
	tids, err := listTasks("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]bool{}
	for _, tid := range tids {
		m[tid] = true
	}
	return m
}

// waitGone waits until none of tids is a task of this process any more:
// the kernel clears a TID word before the task is fully gone.
func waitGone(t *testing.T, tids []int) {
	t.Helper()
	for _, tid := range tids {
		for {
			if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func checkAllPass(t *testing.T, r *Report) {
	t.Helper()
	var names []string
	for _, c := range r.Checks {
		names = append(names, c.Name)
		if !c.OK {
			t.Errorf("check %s: got FAIL (%s), want PASS", c.Name, c.Detail)
		}
	}
	if got, want := strings.Join(names, ","), strings.Join(allChecks, ","); got != want {
		t.Errorf("checks: got %s, want %s", got, want)
	}
	if !r.OK {
		t.Errorf("report OK: got false, want true (failed: %v)", r.Failed())
	}
}

// TestRunFlagSets runs the lab with each kind of flag set and checks the
// report against what the test itself sees in /proc while the workers hold.
func TestRunFlagSets(t *testing.T) {
	tests := []struct {
		name   string
		flags  clonecore.Flags
		root   bool
		thread bool
		added  clonecore.Flags
	}{
		{name: "thread", flags: threadFlags, thread: true},
		{name: "own thread groups", flags: ownGroupFlags, added: clonecore.PARENT_SETTID},
		{name: "bare", flags: bareFlags, added: clonecore.PARENT_SETTID},
		{name: "own PID namespace", flags: bareFlags | clonecore.NEWPID, root: true, added: clonecore.PARENT_SETTID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t, "a worker in a new PID namespace")
			}
			const n = 8
			pid := os.Getpid()
			before := ownTasks(t)
			var during map[int]bool
			var kids map[int]int // children of this process while held: pid -> Tgid
			r, err := Run(Config{Count: n, Flags: tt.flags, Work: 1000, WhileHeld: func() error {
				during = ownTasks(t)
				kids = children(t, pid)
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			checkAllPass(t, r)
			if r.PID != pid {
				t.Errorf("pid: got %d, want %d", r.PID, pid)
			}
			if want := (tt.flags | tt.added).String(); r.Flags != want {
				t.Errorf("flags: got %s, want %s", r.Flags, want)
			}
			if got, want := orNone(r.Added), orNone(tt.added.String()); got != want {
				t.Errorf("added: got %s, want %s", got, want)
			}
			if r.ThreadGroup != tt.thread {
				t.Errorf("thread group: got %v, want %v", r.ThreadGroup, tt.thread)
			}
			if len(r.Workers) != n {
				t.Fatalf("workers: got %d, want %d", len(r.Workers), n)
			}
			seen := map[int]bool{}
			var tids []int
			for i, w := range r.Workers {
				tids = append(tids, w.TID)
				if w.Index != i {
					t.Errorf("worker %d: index %d", i, w.Index)
				}
				if seen[w.TID] || before[w.TID] || w.TID == pid || w.TID <= 0 {
					t.Errorf("worker %d: tid %d: want a new, distinct task", i, w.TID)
				}
				seen[w.TID] = true
				if during[w.TID] != tt.thread {
					t.Errorf("worker %d (tid %d): in /proc/self/task while held: got %v, want %v", i, w.TID, during[w.TID], tt.thread)
				}
				switch {
				case tt.thread:
					if w.TGID != pid {
						t.Errorf("worker %d: tgid: got %d, want %d", i, w.TGID, pid)
					}
				case tt.flags&clonecore.NEWPID != 0:
					if w.TGID != 1 || w.SelfTID != 1 {
						t.Errorf("worker %d: getpid %d gettid %d, want 1 and 1 in its own PID namespace", i, w.TGID, w.SelfTID)
					}
					if len(w.NSpid) != 2 || w.NSpid[0] != w.TID || w.NSpid[1] != 1 {
						t.Errorf("worker %d: NSpid: got %v, want [%d 1]", i, w.NSpid, w.TID)
					}
				default:
					if w.TGID != w.TID || w.SelfTID != w.TID {
						t.Errorf("worker %d: getpid %d gettid %d, want both %d", i, w.TGID, w.SelfTID, w.TID)
					}
				}
				if !tt.thread {
					if tgid, ok := kids[w.TID]; !ok || tgid != w.TID {
						t.Errorf("worker %d (tid %d): a child of this process leading its own thread group while held: got Tgid %d (child %v)", i, w.TID, tgid, ok)
					}
					if w.Exit != "exited 0" {
						t.Errorf("worker %d: %s, want exited 0", i, w.Exit)
					}
				}
			}
			if tt.thread {
				waitGone(t, tids)
			}
		})
	}
}

// children returns the processes whose parent is pid, with their Tgid.
func children(t *testing.T, pid int) map[int]int {
	t.Helper()
	pids, err := listTasks("/proc")
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]int{}
	for _, p := range pids {
		path := fmt.Sprintf("/proc/%d/status", p)
		if taskStatus(t, path, "PPid") == pid {
			m[p] = taskStatus(t, path, "Tgid")
		}
	}
	return m
}

func TestCounterExactUnderContention(t *testing.T) {
	tests := []struct {
		flags   clonecore.Flags
		workers int
		work    uint64
	}{
		{threadFlags, 2, 2_000_000},
		{threadFlags, 64, 50_000},
		{threadFlags, 500, 2_000},
		{ownGroupFlags, 64, 50_000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%dx%d", tt.flags&clonecore.THREAD != 0, tt.workers, tt.work), func(t *testing.T) {
			r, err := Run(Config{Count: tt.workers, Flags: tt.flags, Work: tt.work})
			if err != nil {
				t.Fatal(err)
			}
			if want := uint64(tt.workers) * tt.work; r.Counter != want || r.CounterExpected != want {
				t.Fatalf("counter: got %d (expected %d), want %d", r.Counter, r.CounterExpected, want)
			}
			checkAllPass(t, r)
		})
	}
}

func TestTLSIsolation(t *testing.T) {
	for _, f := range []clonecore.Flags{threadFlags, bareFlags} {
		t.Run(f.String(), func(t *testing.T) {
			const n = 16
			r, err := Run(Config{Count: n, Flags: f})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[Hex]int{}
			for i, w := range r.Workers {
				if want := Hex(TLSValue(i)); w.TLSValue != want {
					t.Errorf("worker %d: TLS value: got %v, want %v", i, w.TLSValue, want)
				}
				if j, dup := seen[w.TLSValue]; dup {
					t.Errorf("workers %d and %d: same TLS value %v", j, i, w.TLSValue)
				}
				seen[w.TLSValue] = i
				if w.TLSSelf != w.TLS {
					t.Errorf("worker %d: TCB self pointer: got %v, want %v", i, w.TLSSelf, w.TLS)
				}
				// The TLS block sits above the stack, below the next slot's guard.
				if w.TLS <= w.StackHi {
					t.Errorf("worker %d: TCB %v not above its stack top %v", i, w.TLS, w.StackHi)
				}
				if i+1 < n && w.TLS >= r.Workers[i+1].Guard {
					t.Errorf("worker %d: TCB %v not below the next guard page %v", i, w.TLS, r.Workers[i+1].Guard)
				}
			}
			checkAllPass(t, r)
		})
	}
}

// readMem reads n bytes at address p of this process through /proc/self/mem.
func readMem(t *testing.T, p uintptr, n int) []byte {
	t.Helper()
	f, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, int64(p)); err != nil {
		t.Fatalf("read %d bytes at %#x: %v", n, p, err)
	}
	return b
}

// mapsLine returns the /proc/self/maps line of the mapping that starts at lo and ends at hi.
func mapsLine(t *testing.T, lo, hi uintptr) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("%x-%x ", lo, hi)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

func TestStackOverflowHitsGuardPage(t *testing.T) {
	for _, size := range []int{MinStackSize, DefaultStackSize, 1 << 20} {
		t.Run(FormatSize(size), func(t *testing.T) {
			arena, err := clonecore.NewArena(1 << 12)
			if err != nil {
				t.Fatal(err)
			}
			defer arena.Free()
			// Three slots; the worker runs in the middle one, so the slot
			// below (0) is the neighbour an overflow would write into.
			stacks, err := clonecore.NewStacks(3, size)
			if err != nil {
				t.Fatal(err)
			}
			defer stacks.Free()
			block, err := arena.Alloc(clonecore.BlockSize)
			if err != nil {
				t.Fatal(err)
			}
			const i = 1
			neighbour := readMem(t, stacks.TCB(0), 64)

			line := mapsLine(t, stacks.Guard(i), stacks.Lo(i))
			if f := strings.Fields(line); len(f) < 2 || f[1] != "---p" {
				t.Fatalf("guard page of slot %d in /proc/self/maps: got %q, want %x-%x ---p", i, line, stacks.Guard(i), stacks.Lo(i))
			}

			task, err := clonecore.StartKernel(clonecore.KernelOverflow, arena, block, stacks, i, clonecore.Options{Flags: bareFlags})
			if err != nil {
				t.Fatal(err)
			}
			if err := task.Join(); err != nil {
				t.Fatalf("join: got %v, want no program error", err)
			}
			ws, err := task.Reap()
			if err != nil {
				t.Fatal(err)
			}
			if !ws.Signaled() || ws.Signal() != unix.SIGSEGV {
				t.Fatalf("wait status: got %s, want killed by SIGSEGV", waitString(ws))
			}
			lowest := uintptr(arena.Load64(block + clonecore.WorkerLowest))
			if lowest < stacks.Lo(i) || lowest >= stacks.Lo(i)+256 {
				t.Fatalf("lowest address written: got %#x, want within 256 bytes above the stack's low end %#x (guard page %#x)", lowest, stacks.Lo(i), stacks.Guard(i))
			}
			if got := readMem(t, stacks.TCB(0), 64); !bytes.Equal(got, neighbour) {
				t.Fatalf("neighbour's TCB: got %x, want it untouched: %x", got, neighbour)
			}
			// Minirun is alive and well: this test goes on.
			runtime.GC()
		})
	}
}

func TestOverflowKernelRefusesSharedHandlers(t *testing.T) {
	arena, err := clonecore.NewArena(1 << 12)
	if err != nil {
		t.Fatal(err)
	}
	defer arena.Free()
	stacks, err := clonecore.NewStacks(1, DefaultStackSize)
	if err != nil {
		t.Fatal(err)
	}
	defer stacks.Free()
	block, _ := arena.Alloc(clonecore.BlockSize)
	for _, f := range []clonecore.Flags{threadFlags, ownGroupFlags} {
		_, err := clonecore.StartKernel(clonecore.KernelOverflow, arena, block, stacks, 0, clonecore.Options{Flags: f})
		var fe *clonecore.FlagError
		if !errors.As(err, &fe) {
			t.Errorf("overflow kernel with %v: got %v, want a *clonecore.FlagError", f, err)
		}
	}
}

// TestRuntimeHealthyWhileHeld keeps the Go runtime busy while raw workers
// exist: forced collections, a storm of fork+exec children, signals sent to
// the process (the kernel must never pick a worker, which blocks them all,
// to run minirun's handler), and allocating goroutines.
func TestRuntimeHealthyWhileHeld(t *testing.T) {
	for _, f := range []clonecore.Flags{threadFlags, ownGroupFlags} {
		t.Run(f.String(), func(t *testing.T) {
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, unix.SIGUSR1, unix.SIGUSR2)
			defer signal.Stop(sigs)
			var blockedSeen string
			r, err := Run(Config{Count: 32, Flags: f, Work: 10000, WhileHeld: func() error {
				var wg sync.WaitGroup
				stop := make(chan struct{})
				for g := 0; g < 4; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var keep [][]byte
						for {
							select {
							case <-stop:
								return
							default:
							}
							keep = append(keep, make([]byte, 4096))
							if len(keep) > 256 {
								keep = nil
							}
						}
					}()
				}
				defer func() { close(stop); wg.Wait() }()
				for i := 0; i < 20; i++ {
					runtime.GC()
				}
				for i := 0; i < 50; i++ {
					if out, err := exec.Command("true").CombinedOutput(); err != nil {
						return fmt.Errorf("exec true #%d: %v %s", i, err, out)
					}
				}
				for i := 0; i < 100; i++ {
					sig := unix.SIGUSR1
					if i%2 == 1 {
						sig = unix.SIGUSR2
					}
					if err := unix.Kill(os.Getpid(), sig); err != nil {
						return err
					}
					if got := <-sigs; got != sig {
						return fmt.Errorf("signal #%d: got %v, want %v", i, got, sig)
					}
				}
				blockedSeen = workerSigBlk(t)
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			checkAllPass(t, r)
			if f&clonecore.THREAD != 0 && blockedSeen != "" {
				t.Error(blockedSeen)
			}
		})
	}
}

// workerSigBlk checks that every task of this process that is not a Go
// thread blocks every signal: it returns a complaint, or "".
func workerSigBlk(t *testing.T) string {
	tids, err := listTasks("/proc/self/task")
	if err != nil {
		return err.Error()
	}
	all := 0
	for _, tid := range tids {
		st, err := procfs.ReadStatus(fmt.Sprintf("/proc/self/task/%d/status", tid))
		if err != nil {
			continue
		}
		blk := st["SigBlk"]
		// SIGKILL and SIGSTOP cannot be blocked; every other bit is set.
		if blk == "fffffffffffbfeff" {
			all++
		}
	}
	if all < 32 {
		return fmt.Sprintf("tasks blocking every signal while held: got %d, want at least the 32 workers", all)
	}
	return ""
}

func Test10000Workers(t *testing.T) {
	c := Config{Count: 10000, StackSize: 64 << 10, Work: 10}
	if _, err := c.Check(MachineLimits()); err != nil {
		t.Skipf("this machine cannot hold 10,000 workers: %v", err)
	}
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	checkAllPass(t, r)
	if len(r.Workers) != 10000 {
		t.Fatalf("workers: got %d, want 10000", len(r.Workers))
	}
	tids := map[int]bool{}
	for _, w := range r.Workers {
		tids[w.TID] = true
	}
	if len(tids) != 10000 {
		t.Fatalf("distinct TIDs: got %d, want 10000", len(tids))
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d workers elided", 10000-ShowWorkers); !strings.Contains(b.String(), want) {
		t.Errorf("text report: want %q in it", want)
	}
	if lines := strings.Count(b.String(), "\n"); lines > 60 {
		t.Errorf("text report: got %d lines, want a summary under 60", lines)
	}
	t.Logf("10000 workers: create+join %d ns a worker, wall %s, RSS growth %d bytes a worker",
		r.Timing.PerWorkerNs, dur(r.Timing.WallNs), r.Memory.GrowthPerWorker)
}

// failAt makes the i'th start fail with errno, and records what was started.
type failAt struct {
	i      int
	errno  unix.Errno
	tids   []int
	stacks uintptr
	block  uintptr
}

func (f *failAt) start(k clonecore.Kernel, a *clonecore.Arena, block uintptr, s *clonecore.Stacks, i int, o clonecore.Options) (*clonecore.Task, error) {
	f.stacks, f.block = s.Lo(0), block
	if i == f.i {
		return nil, &clonecore.CloneError{Syscall: "clone3", Flags: o.Flags, Errno: f.errno}
	}
	task, err := clonecore.StartKernel(k, a, block, s, i, o)
	if err == nil {
		f.tids = append(f.tids, task.TID)
	}
	return task, err
}

func TestStartFailsMidway(t *testing.T) {
	for _, f := range []clonecore.Flags{threadFlags, ownGroupFlags} {
		t.Run(f.String(), func(t *testing.T) {
			fail := &failAt{i: 5, errno: unix.EAGAIN}
			startKernel = fail.start
			defer func() { startKernel = clonecore.StartKernel }()
			r, err := Run(Config{Count: 10, Flags: f, Work: 100})
			if r != nil || err == nil {
				t.Fatalf("Run: got (%v, %v), want an error", r, err)
			}
			if !errors.Is(err, unix.EAGAIN) || !strings.Contains(err.Error(), "worker 5 of 10") {
				t.Fatalf("error: got %q, want EAGAIN naming worker 5 of 10", err)
			}
			if errors.Is(err, ErrBadConfig) {
				t.Fatalf("error: got %q as bad input, want a machine error", err)
			}
			if len(fail.tids) != 5 {
				t.Fatalf("started: got %d, want 5", len(fail.tids))
			}
			waitGone(t, fail.tids)
			for _, tid := range fail.tids {
				if f&clonecore.THREAD == 0 {
					// Reaped: no zombie left behind.
					if _, err := os.Stat(fmt.Sprintf("/proc/%d", tid)); err == nil {
						t.Errorf("worker tid %d: still in /proc after the failed run", tid)
					}
				}
			}
			b, _ := os.ReadFile("/proc/self/maps")
			for _, p := range []uintptr{fail.stacks, fail.block} {
				for _, line := range strings.Split(string(b), "\n") {
					var lo, hi uintptr
					if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && lo <= p && p < hi {
						t.Errorf("address %#x still mapped after the failed run: %s", p, line)
					}
				}
			}
		})
	}
}

func TestFirstCloneRefusedIsBadConfig(t *testing.T) {
	fail := &failAt{i: 0, errno: unix.EINVAL}
	startKernel = fail.start
	defer func() { startKernel = clonecore.StartKernel }()
	_, err := Run(Config{Count: 3})
	if !errors.Is(err, ErrBadConfig) || !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Run: got %v, want bad config wrapping EINVAL", err)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "flags" {
		t.Fatalf("Run: got %v, want a ConfigError on flags", err)
	}
}

func TestWhileHeldError(t *testing.T) {
	boom := errors.New("boom")
	r, err := Run(Config{Count: 3, WhileHeld: func() error { return boom }})
	if r != nil || !errors.Is(err, boom) {
		t.Fatalf("Run: got (%v, %v), want the hook's error", r, err)
	}
}

func TestReportRenderers(t *testing.T) {
	for _, n := range []int{4, ShowWorkers + 2, ShowWorkers + 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			r, err := Run(Config{Count: n, Work: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			out := text.String()
			for _, want := range []string{
				fmt.Sprintf("started from pid %d", os.Getpid()),
				"flags     " + threadFlags.String(),
				fmt.Sprintf("PASS  counter   %d = %d workers × 1000", n*1000, n),
				"PASS  tgid", "PASS  live", "create+join", "VmRSS",
				fmt.Sprintf("all %d checks passed", len(allChecks)),
			} {
				if !strings.Contains(out, want) {
					t.Errorf("text report: want %q in\n%s", want, out)
				}
			}
			elided := n > ShowWorkers+2
			if got := strings.Contains(out, "elided"); got != elided {
				t.Errorf("text report elides: got %v, want %v", got, elided)
			}

			var js bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(js.Bytes(), &m); err != nil {
				t.Fatalf("JSON: %v\n%s", err, js.String())
			}
			for _, k := range []string{"pid", "flags", "workers", "counter", "counter_expected", "ok", "checks", "timing", "memory"} {
				if _, ok := m[k]; !ok {
					t.Errorf("JSON: no %q", k)
				}
			}
			ws, _ := m["workers"].([]any)
			if len(ws) != n {
				t.Fatalf("JSON workers: got %d, want %d", len(ws), n)
			}
			for _, k := range []string{"index", "tid", "tgid", "tls_value", "stack_lo", "stack_hi"} {
				if _, ok := ws[0].(map[string]any)[k]; !ok {
					t.Errorf("JSON worker: no %q", k)
				}
			}
			var back Report
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if back.Workers[n-1].TLSValue != r.Workers[n-1].TLSValue || back.Counter != r.Counter {
				t.Errorf("JSON round trip: got tls %v counter %d, want %v %d", back.Workers[n-1].TLSValue, back.Counter, r.Workers[n-1].TLSValue, r.Counter)
			}
		})
	}
}

// TestChecksFail breaks one fact of a real report at a time and wants
// exactly the check about it to fail, saying what was wrong.
func TestChecksFail(t *testing.T) {
	good, err := Run(Config{Count: 3, Work: 10})
	if err != nil {
		t.Fatal(err)
	}
	checkAllPass(t, good)
	tests := []struct {
		check  string
		break_ func(r *Report)
		detail string
	}{
		{"counter", func(r *Report) { r.Counter-- }, "counter 29, want 30"},
		{"tgid", func(r *Report) { r.Workers[1].TGID = 4242 }, "worker 1: getpid 4242"},
		{"tls", func(r *Report) { r.Workers[2].TLSValue = r.Workers[0].TLSValue }, "worker 2: read 0x9e3779b97f4a7c15 through its TLS register"},
		{"tls-self", func(r *Report) { r.Workers[0].TLSSelf++ }, "worker 0: TCB word 0 is"},
		{"stack", func(r *Report) { r.Workers[1].SP = r.Workers[1].Guard }, "worker 1: stack pointer"},
		{"sum", func(r *Report) { r.Workers[2].Sum = 7 }, "worker 2: sum of array[128:192] 7, want 10272"},
		{"live", func(r *Report) { r.Workers[0].Seen = false }, "worker 0 (tid"},
		{"joined", func(r *Report) { r.Workers[1].Phase = 2 }, "worker 1: phase 2, want 3"},
	}
	for _, tt := range tests {
		t.Run(tt.check, func(t *testing.T) {
			r := *good
			r.Workers = append([]Worker(nil), good.Workers...)
			tt.break_(&r)
			for _, c := range r.check() {
				if c.Name == tt.check {
					if c.OK || !strings.Contains(c.Detail, tt.detail) {
						t.Errorf("check %s: got ok=%v %q, want FAIL with %q", c.Name, c.OK, c.Detail, tt.detail)
					}
				} else if !c.OK {
					t.Errorf("check %s: got FAIL (%s), want PASS: only %s was broken", c.Name, c.Detail, tt.check)
				}
			}
		})
	}
}
