package threads

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/minirun/minirun/clonecore"
)

// FutexConfig says how the futex experiment runs.
type FutexConfig struct {
	// Workers is how many workers share the lock in the contended run,
	// at least 2, pinned to different CPUs; 0 means one per CPU minirun
	// may use, at least 2. The uncontended run has one worker.
	Workers int
	// Locks is how many times each worker takes and releases the lock; 0
	// means DefaultFutexLocks. A contended run whose slow path never ran
	// is made again with twice as many, up to 16 times as many.
	Locks uint64
}

const (
	// DefaultFutexLocks is each worker's lock/unlock pairs.
	DefaultFutexLocks = 1_000_000
	// MaxFutexLocks bounds Locks.
	MaxFutexLocks = 1 << 30
	// protocolSyscalls are the system calls a lab worker makes between its
	// go word and its release word besides its job: getcpu and two
	// clock_gettime before the job and after it, and the FUTEX_WAIT on the
	// release word (labs_*.s).
	protocolSyscalls = 7
)

// Check fills in the defaults and refuses what cannot run.
func (c FutexConfig) Check() (FutexConfig, error) {
	if c.Workers == 0 {
		c.Workers = max(2, min(len(allowedCPUs()), 8))
	}
	if c.Locks == 0 {
		c.Locks = DefaultFutexLocks
	}
	switch {
	case c.Workers < 2 || c.Workers > MaxLabWorkers:
		return c, &ConfigError{Field: "count", Value: strconv.Itoa(c.Workers), Why: fmt.Sprintf("must be 2 to %d: the contended run needs two workers", MaxLabWorkers)}
	case c.Locks > MaxFutexLocks:
		return c, &ConfigError{Field: "work", Value: strconv.FormatUint(c.Locks, 10), Why: fmt.Sprintf("at most %d lock/unlock pairs a worker", uint64(MaxFutexLocks))}
	}
	return c, nil
}

// FutexReport is what the futex experiment found.
type FutexReport struct {
	PID   int    `json:"pid"`
	Locks uint64 `json:"locks"` // lock/unlock pairs per worker
	// KernelCount says how the kernel's own counts were taken, or why
	// they could not be.
	KernelCount string     `json:"kernel_count"`
	Runs        []FutexRun `json:"runs"`
	checked
}

// FutexRun is the lock taken by some workers.
type FutexRun struct {
	Name    string      `json:"name"` // "uncontended" or "contended"
	Retry   bool        `json:"retry,omitempty"`
	Workers int         `json:"workers"`
	Locks   uint64      `json:"locks"` // each worker's
	Counter uint64      `json:"counter"`
	Want    uint64      `json:"counter_expected"`
	LockEnd uint64      `json:"lock_word_after"`
	WallNs  int64       `json:"wall_ns"`
	Tasks   []FutexTask `json:"tasks"`
}

// FutexTask is one worker's counts.
type FutexTask struct {
	TID int `json:"tid"`
	CPU int `json:"cpu"`
	// What the lock code counted: locks taken at once (one
	// compare-and-swap), locks found held, FUTEX_WAIT and FUTEX_WAKE calls.
	Fast  uint64 `json:"fast"`
	Slow  uint64 `json:"slow"`
	Waits uint64 `json:"futex_wait"`
	Again uint64 `json:"futex_wait_eagain"` // FUTEX_WAIT calls that returned at once: the word had changed
	Wakes uint64 `json:"futex_wake"`
	// What the kernel counted in this thread from its go word to its
	// release word (-1: not counted; see KernelCount): futex calls and
	// all system calls, each less the lab protocol's own.
	KernelFutex    int64 `json:"kernel_futex"`
	KernelSyscalls int64 `json:"kernel_syscalls"`
	// Slept is how often it gave up the CPU to wait meanwhile
	// (voluntary_ctxt_switches, less the release wait's).
	Slept int64 `json:"slept"`
}

// Calls is the futex calls the lock code made.
func (t FutexTask) Calls() uint64 { return t.Waits + t.Wakes }

// Futex runs the futex experiment: one worker takes and releases a futex
// lock alone (every time on the fast path: no system call), then several
// on different CPUs (the slow path sleeps in FUTEX_WAIT and is woken by
// FUTEX_WAKE). Each time the lock guards a plain increment of a shared
// word, which loses nothing. The lock code counts its own system calls;
// the kernel counts them too, where perf_event_open may.
func Futex(c FutexConfig) (*FutexReport, error) {
	c, err := c.Check()
	if err != nil {
		return nil, err
	}
	if err := checkProc(); err != nil {
		return nil, err
	}
	r := &FutexReport{PID: os.Getpid(), Locks: c.Locks}
	ids, err := tracepointIDs("syscalls/sys_enter_futex", "raw_syscalls/sys_enter")
	futexID, allID := ids["syscalls/sys_enter_futex"], ids["raw_syscalls/sys_enter"]
	kernel := err == nil
	if kernel {
		r.KernelCount = "perf_event_open counters on the tracepoints syscalls:sys_enter_futex and raw_syscalls:sys_enter, one per worker thread"
	} else {
		r.KernelCount = "not counted: " + err.Error()
	}
	count := func(name string, n int, locks uint64) (FutexRun, error) {
		run, err := futexRun(name, n, locks, kernel, futexID, allID)
		if errors.Is(err, errCounter) {
			// The counters could not be opened: say why, count without.
			kernel = false
			r.KernelCount = "not counted: " + err.Error()
			run, err = futexRun(name, n, locks, false, 0, 0)
		}
		return run, err
	}
	run, err := count("uncontended", 1, c.Locks)
	if err != nil {
		return nil, err
	}
	r.Runs = append(r.Runs, run)
	for locks := c.Locks; ; locks *= 2 {
		run, err := count("contended", c.Workers, locks)
		if err != nil {
			return nil, err
		}
		run.Retry = locks != c.Locks
		r.Runs = append(r.Runs, run)
		if run.calls() > 0 || 2*locks > 16*c.Locks || 2*locks > MaxFutexLocks {
			break
		}
	}
	r.check()
	return r, nil
}

// calls is the futex calls every worker's lock code made.
func (run FutexRun) calls() (n uint64) {
	for _, t := range run.Tasks {
		n += t.Calls()
	}
	return n
}

// errCounter marks a failure to open the kernel's counters, which the
// experiment survives.
var errCounter = errors.New("kernel counters")

// futexRun makes one run. A run whose counters could not be opened returns
// an empty run and the error.
func futexRun(name string, n int, locks uint64, kernel bool, futexID, allID uint64) (FutexRun, error) {
	run := FutexRun{Name: name, Workers: n, Locks: locks, Want: uint64(n) * locks}
	c, err := newCrew(n)
	if err != nil {
		return run, err
	}
	defer c.close()
	for i := 0; i < n; i++ {
		c.store(i, clonecore.LabTarget, uint64(c.word(0)))
		c.store(i, clonecore.LabShared, uint64(c.word(1)))
		c.store(i, clonecore.LabIters, locks)
	}
	if err := c.start(clonecore.LabFutex); err != nil {
		return run, err
	}
	cpus := allowedCPUs()
	for i, t := range c.tasks {
		if n > 1 {
			if err := pin(t.TID, cpus[i%len(cpus)]); err != nil {
				return run, err
			}
		}
	}
	// Asleep in the go word's wait: counters opened now see none of it.
	if err := c.waitAsleep(); err != nil {
		return run, err
	}
	pid := os.Getpid()
	before := make([]uint64, n)
	for i, t := range c.tasks {
		before[i], _ = voluntarySwitches(pid, t.TID)
	}
	var counters [][2]*syscallCounter
	defer func() {
		for _, cs := range counters {
			cs[0].close()
			cs[1].close()
		}
	}()
	if kernel {
		for _, t := range c.tasks {
			fc, err := openSyscallCounter(t.TID, futexID)
			if err != nil {
				return FutexRun{}, fmt.Errorf("%w: %w", errCounter, err)
			}
			ac, err := openSyscallCounter(t.TID, allID)
			if err != nil {
				fc.close()
				return FutexRun{}, fmt.Errorf("%w: %w", errCounter, err)
			}
			counters = append(counters, [2]*syscallCounter{fc, ac})
		}
	}
	if err := c.run(); err != nil {
		return run, err
	}
	// Asleep in the release word's wait: its system call is made.
	if err := c.waitAsleep(); err != nil {
		return run, err
	}
	run.Counter = c.load(c.word(1))
	run.LockEnd = c.load(c.word(0))
	ws := make([]crewWorker, n)
	for i := 0; i < n; i++ {
		ws[i] = c.worker(i)
		t := FutexTask{TID: ws[i].TID, CPU: ws[i].CPUEnd, KernelFutex: -1, KernelSyscalls: -1, Slept: -1,
			Fast:  c.field(i, clonecore.LabFast),
			Slow:  c.field(i, clonecore.LabSlow),
			Waits: c.field(i, clonecore.LabWaits),
			Again: c.field(i, clonecore.LabAgain),
			Wakes: c.field(i, clonecore.LabWakes)}
		if after, err := voluntarySwitches(pid, t.TID); err == nil && after > before[i] {
			t.Slept = int64(after-before[i]) - 1
		}
		if i < len(counters) {
			f, err1 := counters[i][0].read()
			a, err2 := counters[i][1].read()
			if err1 == nil && err2 == nil {
				t.KernelFutex, t.KernelSyscalls = int64(f)-1, int64(a)-protocolSyscalls
			}
		}
		run.Tasks = append(run.Tasks, t)
	}
	run.WallNs = span(ws).Nanoseconds()
	return run, c.close()
}

// check states what the runs show.
func (r *FutexReport) check() {
	var bad []string
	for _, run := range r.Runs {
		if run.Counter != run.Want {
			bad = append(bad, fmt.Sprintf("%s run: the counter under the lock is %d, want %d", run.Name, run.Counter, run.Want))
		}
		if run.LockEnd != 0 {
			bad = append(bad, fmt.Sprintf("%s run: the lock word is %d after the run, want 0 (free)", run.Name, run.LockEnd))
		}
		for _, t := range run.Tasks {
			if t.Fast+t.Slow != run.Locks {
				bad = append(bad, fmt.Sprintf("%s run: tid %d took the lock %d+%d times, want %d", run.Name, t.TID, t.Fast, t.Slow, run.Locks))
			}
		}
	}
	r.add("exclusive", len(bad) == 0, orFirstFew(bad, "in every run the plain load-add-store under the lock counted every increment, and the lock was free at the end"))

	un := r.Runs[0]
	t := un.Tasks[0]
	bad = nil
	if t.Slow != 0 || t.Calls() != 0 {
		bad = append(bad, fmt.Sprintf("the lone worker found the lock held %d times and made %d FUTEX_WAIT and %d FUTEX_WAKE calls, want none", t.Slow, t.Waits, t.Wakes))
	}
	if t.KernelFutex > 0 || t.KernelSyscalls > 0 {
		bad = append(bad, fmt.Sprintf("the kernel counted %d futex and %d system calls in all by the lone worker's lock, want 0", t.KernelFutex, t.KernelSyscalls))
	}
	detail := fmt.Sprintf("one worker took and released the lock %d times: 0 system calls, every lock one compare-and-swap (the lock's own count)", un.Locks)
	if t.KernelFutex == 0 && t.KernelSyscalls == 0 {
		detail += fmt.Sprintf("; the kernel counted none either, beyond the %d calls of the lab's own protocol", protocolSyscalls)
	}
	r.add("fast-path", len(bad) == 0, orFirstFew(bad, detail))

	co := r.Runs[len(r.Runs)-1]
	var waits, wakes, slow uint64
	bad = nil
	for _, t := range co.Tasks {
		waits, wakes, slow = waits+t.Waits, wakes+t.Wakes, slow+t.Slow
		if t.KernelFutex >= 0 && uint64(t.KernelFutex) != t.Calls() {
			bad = append(bad, fmt.Sprintf("tid %d: the kernel counted %d futex calls, the lock %d", t.TID, t.KernelFutex, t.Calls()))
		}
		if t.KernelSyscalls >= 0 && t.KernelSyscalls != t.KernelFutex {
			bad = append(bad, fmt.Sprintf("tid %d: the kernel counted %d system calls besides the protocol's, %d of them futex", t.TID, t.KernelSyscalls, t.KernelFutex))
		}
	}
	perLock := float64(waits+wakes) / float64(max(uint64(co.Workers)*co.Locks, 1))
	switch {
	case len(bad) > 0:
		r.add("slow-path", false, firstFew(bad))
	case waits+wakes == 0:
		r.note("slow-path", fmt.Sprintf("%d workers on different CPUs never found the lock held long enough to wait (%d lock/unlock pairs each): nothing to count", co.Workers, co.Locks))
	default:
		d := fmt.Sprintf("%d workers on CPUs %s found the lock held %d times: the slow path made %d FUTEX_WAIT and %d FUTEX_WAKE calls, %.4f per lock/unlock",
			co.Workers, cpuList(futexCPUs(co)), slow, waits, wakes, perLock)
		if co.Tasks[0].KernelFutex >= 0 {
			d += "; the kernel's counts match, call for call, and it counted no other"
		}
		r.add("slow-path", true, d)
	}
	r.settle()
}

func futexCPUs(run FutexRun) []int {
	var cpus []int
	for _, t := range run.Tasks {
		cpus = append(cpus, t.CPU)
	}
	return cpus
}

// WriteJSON writes the report as one indented JSON object.
func (r *FutexReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText writes the report for a reader.
func (r *FutexReport) WriteText(out io.Writer) error {
	b := &strings.Builder{}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("minirun threads futex: a lock that costs no system call until someone has to wait\n\n")
	p("lock    compare-and-swap 0 -> 1; if the word was not 0: exchange in 2 and FUTEX_WAIT while it is 2\n")
	p("unlock  atomic decrement; if the word was 2: store 0 and FUTEX_WAKE one waiter\n")
	p("kernel  %s\n\n", r.KernelCount)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\ttid\tCPU\tlocks\tfast\tslow\tFUTEX_WAIT\t(EAGAIN)\tFUTEX_WAKE\tkernel: futex\tall syscalls\tslept\t")
	kernel := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatInt(v, 10)
	}
	for _, run := range r.Runs {
		name := run.Name
		if run.Retry {
			name += " (again)"
		}
		for _, t := range run.Tasks {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", name, t.TID, t.CPU, run.Locks, t.Fast, t.Slow,
				t.Waits, t.Again, t.Wakes, kernel(t.KernelFutex), kernel(t.KernelSyscalls), kernel(t.Slept))
			name = ""
		}
	}
	tw.Flush()
	p("\nkernel: the thread's system calls from its go word to its release word as the kernel counted them, less the lab's\n")
	p("own %d (getcpu, clock_gettime, the release wait); (EAGAIN): FUTEX_WAITs that returned at once, the lock's word having\n", protocolSyscalls)
	p("changed between the look and the wait; slept: voluntary context switches (/proc/<tid>/status) meanwhile\n")
	for _, run := range r.Runs {
		p("%s: counter %d of %d, %s\n", run.Name, run.Counter, run.Want, dur(run.WallNs))
	}
	p("\nchecks\n")
	writeChecks(b, r.Checks, 9)
	p("\n%s", r.summary())
	_, err := io.WriteString(out, b.String())
	return err
}
