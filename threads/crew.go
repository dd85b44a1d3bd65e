package threads

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/internal/procfs"
	"golang.org/x/sys/unix"
)

// A crew is the workers of one experiment run: lab kernels (clonecore's
// labs_*.s) started through the clone core as threads of minirun, each on a
// stack of its own with a guard page, all waiting on one go word so that
// they start their job together, and on one release word after it, so
// that minirun can read /proc while they are alive and quiet.
type crew struct {
	arena  *clonecore.Arena
	stacks *clonecore.Stacks
	blocks uintptr
	n      int
	goW    uintptr // the uint32 every worker waits on before its job
	rel    uintptr // the uint32 it waits on after
	words  uintptr // spare words for the job: counter, lock, stop
	tasks  []*clonecore.Task
	freed  bool
}

// crewWords is how many spare 8-byte words a crew has, at word(0…).
const crewWords = 8

// crewTimeout bounds every wait for workers: a lab kernel that has not
// reached a phase after it did not run at all (a machine too loaded to
// schedule it counts as one that cannot run the experiment).
const crewTimeout = 30 * time.Second

// newCrew maps the memory of n workers.
func newCrew(n int) (*crew, error) {
	arena, err := clonecore.NewArena(n*int(clonecore.LabStride) + 16*(2+crewWords) + 4096)
	if err != nil {
		return nil, err
	}
	c := &crew{arena: arena, n: n}
	alloc := func(size int) uintptr {
		p, aerr := arena.Alloc(size)
		if aerr != nil && err == nil {
			err = aerr
		}
		return p
	}
	c.blocks = alloc(n * int(clonecore.LabStride))
	c.goW, c.rel = alloc(8), alloc(8)
	c.words = alloc(8 * crewWords)
	if err == nil {
		c.stacks, err = clonecore.NewStacks(n, MinStackSize)
	}
	if err != nil {
		arena.Free()
		return nil, err
	}
	for i := 0; i < n; i++ {
		c.store(i, clonecore.LabGo, uint64(c.goW))
		c.store(i, clonecore.LabRelease, uint64(c.rel))
	}
	return c, nil
}

func (c *crew) block(i int) uintptr                { return c.blocks + uintptr(i)*clonecore.LabStride }
func (c *crew) word(k int) uintptr                 { return c.words + uintptr(8*k) }
func (c *crew) store(i int, off uintptr, v uint64) { c.arena.Store64(c.block(i)+off, v) }

// load reads a word a worker may be writing.
func (c *crew) load(p uintptr) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(unsafe.SliceData(c.arena.Slice(p, 8)))))
}

func (c *crew) field(i int, off uintptr) uint64 { return c.load(c.block(i) + off) }

// start clones every worker on kernel k, as threads of minirun.
func (c *crew) start(k clonecore.LabKernel) error {
	o := clonecore.Options{Flags: clonecore.Presets["thread"]}
	for i := 0; i < c.n; i++ {
		t, err := clonecore.StartLab(k, c.arena, c.block(i), c.stacks, i, o)
		if err != nil {
			return fmt.Errorf("worker %d of %d: %w", i, c.n, err)
		}
		c.tasks = append(c.tasks, t)
	}
	return c.waitAll(clonecore.LabReady)
}

// waitAll waits until every worker's phase is at least p. Workers are not
// runtime-aware, so this polls, backing off to a millisecond.
func (c *crew) waitAll(p uint64) error {
	deadline := time.Now().Add(crewTimeout)
	nap := 20 * time.Microsecond
	for i := range c.tasks {
		for c.field(i, clonecore.LabPhase) < p {
			if time.Now().After(deadline) {
				return fmt.Errorf("worker %d (tid %d): phase %d after %v, want %d", i, c.tasks[i].TID, c.field(i, clonecore.LabPhase), crewTimeout, p)
			}
			time.Sleep(nap)
			nap = min(2*nap, time.Millisecond)
		}
	}
	return nil
}

// waitAsleep waits until every worker is asleep in the kernel: after a phase
// that ends in a futex wait, state S means it is inside that wait. Counters
// opened after this see none of that wait's system call.
func (c *crew) waitAsleep() error {
	deadline := time.Now().Add(crewTimeout)
	for i, t := range c.tasks {
		for {
			st, err := taskStat(os.Getpid(), t.TID)
			if err != nil {
				return err
			}
			if st.State == "S" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("worker %d (tid %d): state %s after %v, want S (asleep in its futex wait)", i, t.TID, st.State, crewTimeout)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	return nil
}

// set stores 1 in the word at p and wakes whoever waits on it.
func (c *crew) set(p uintptr) {
	c.arena.Store32(p, 1)
	c.arena.FutexWake(p)
}

// run lets every worker do its job and waits until all have done it.
func (c *crew) run() error {
	c.set(c.goW)
	return c.waitAll(clonecore.LabWorked)
}

// close lets every worker go, joins them and frees the memory. Safe twice.
func (c *crew) close() error {
	if c.freed {
		return nil
	}
	c.set(c.goW)
	c.set(c.rel)
	var errs []error
	for i, t := range c.tasks {
		if err := t.Join(); err != nil {
			errs = append(errs, fmt.Errorf("worker %d (tid %d): %w", i, t.TID, err))
		}
	}
	c.stacks.Free()
	c.arena.Free()
	c.freed = true
	return errors.Join(errs...)
}

// timespec reads a struct timespec a worker stored at offset off.
func (c *crew) timespec(i int, off uintptr) time.Duration {
	return time.Duration(c.field(i, off))*time.Second + time.Duration(c.field(i, off+8))
}

// crewWorker is what a worker recorded about itself.
type crewWorker struct {
	TID, TGID                  int
	CPUReady, CPUStart, CPUEnd int
	Start, End                 time.Duration // CLOCK_MONOTONIC
	CPU                        time.Duration // CLOCK_THREAD_CPUTIME_ID, end - start
	Done                       uint64
}

func (c *crew) worker(i int) crewWorker {
	return crewWorker{
		TID:      int(c.field(i, clonecore.LabTID)),
		TGID:     int(c.field(i, clonecore.LabPID)),
		CPUReady: int(c.field(i, clonecore.LabCPUReady)),
		CPUStart: int(c.field(i, clonecore.LabCPUStart)),
		CPUEnd:   int(c.field(i, clonecore.LabCPUEnd)),
		Start:    c.timespec(i, clonecore.LabWallStart),
		End:      c.timespec(i, clonecore.LabWallEnd),
		CPU:      c.timespec(i, clonecore.LabCPUTimeTo) - c.timespec(i, clonecore.LabCPUTimeFrom),
		Done:     c.field(i, clonecore.LabDone),
	}
}

// span is the wall time from the first worker's start to the last one's end.
func span(ws []crewWorker) time.Duration {
	if len(ws) == 0 {
		return 0
	}
	lo, hi := ws[0].Start, ws[0].End
	for _, w := range ws {
		lo, hi = min(lo, w.Start), max(hi, w.End)
	}
	return hi - lo
}

// overlap is how long every worker was running at once.
func overlap(ws []crewWorker) time.Duration {
	if len(ws) == 0 {
		return 0
	}
	lo, hi := ws[0].Start, ws[0].End
	for _, w := range ws {
		lo, hi = max(lo, w.Start), min(hi, w.End)
	}
	return max(hi-lo, 0)
}

// pin restricts task tid to one CPU (sched_setaffinity on a TID is per
// thread: the other threads of minirun keep theirs).
func pin(tid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(tid, &set); err != nil {
		return fmt.Errorf("pin tid %d to CPU %d: %w", tid, cpu, err)
	}
	return nil
}

// allowedCPUs lists the CPUs minirun may run on.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return []int{0}
	}
	var cpus []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) == 0 {
		return []int{0}
	}
	return cpus
}

// taskStatFields is what the experiments read from /proc/<pid>/task/<tid>/stat.
type taskStatFields struct {
	State     string // field 3
	PPid      int    // field 4
	Processor int    // field 39: the CPU it last ran on
	Ticks     uint64 // fields 14 + 15: user + system time, in clock ticks
}

// taskStat reads /proc/<pid>/task/<tid>/stat.
func taskStat(pid, tid int) (taskStatFields, error) {
	var st taskStatFields
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return st, err
	}
	_, f, err := procfs.ParseStat(string(b))
	if err != nil {
		return st, err
	}
	// f[0] is field 3 (state); field N is f[N-3].
	if len(f) < 39-3+1 {
		return st, fmt.Errorf("/proc/%d/task/%d/stat: %d fields, want at least 39", pid, tid, len(f)+2)
	}
	st.State = f[0]
	st.PPid, _ = strconv.Atoi(f[1])
	st.Processor, _ = strconv.Atoi(f[36])
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	st.Ticks = u + s
	return st, nil
}

// schedRuntime is the CPU time the scheduler has given a task (the first
// field of /proc/<pid>/task/<tid>/schedstat, in nanoseconds), and false
// where the kernel has no schedstat (CONFIG_SCHED_INFO).
func schedRuntime(pid, tid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err == nil
}

// voluntarySwitches is a task's voluntary_ctxt_switches: how often it gave up
// the CPU because it waited (a FUTEX_WAIT that slept, among others).
func voluntarySwitches(pid, tid int) (uint64, error) {
	m, err := procfs.ReadStatus(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(m["voluntary_ctxt_switches"], 10, 64)
}

// checkProc refuses to run an experiment where /proc names tasks by other
// ids than minirun's: the experiments read /proc/<tid> by the TIDs clone
// and gettid give, which are ids in minirun's PID namespace, and a /proc
// mounted for an outer one (a container that did not mount its own) would
// name someone else by them.
func checkProc() error {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return fmt.Errorf("read /proc/self/stat: %w", err)
	}
	pid, _, _ := strings.Cut(string(b), " ")
	if pid != strconv.Itoa(os.Getpid()) {
		return fmt.Errorf("/proc calls minirun %s, its own PID namespace %d: this /proc is an outer PID namespace's, and the experiments find their tasks in /proc by the ids minirun knows; run them where /proc is minirun's own (mount -t proc proc /proc in its namespace)", pid, os.Getpid())
	}
	return nil
}
