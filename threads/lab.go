package threads

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/minirun/minirun/clonecore"
	"golang.org/x/sys/unix"
)

// startKernel is clonecore.StartKernel; tests replace it to make a start
// fail midway.
var startKernel = clonecore.StartKernel

// lab is the memory and the tasks of one run.
type lab struct {
	c       Config
	arena   *clonecore.Arena
	stacks  *clonecore.Stacks
	blocks  uintptr // Count blocks of clonecore.BlockSize
	counter uintptr // the shared uint64
	hold    uintptr // the uint32 workers wait on
	array   uintptr // Count*Elems uint64s
	tasks   []*clonecore.Task
	thread  bool // workers join minirun's thread group

	released bool
	joinErr  error
	waits    []unix.WaitStatus
}

func (l *lab) block(i int) uintptr { return l.blocks + uintptr(i)*clonecore.BlockSize }

// load reads a word a worker writes, atomically.
func (l *lab) load(p uintptr) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(unsafe.SliceData(l.arena.Slice(p, 8)))))
}

// field reads worker i's field at offset off of its block.
func (l *lab) field(i int, off uintptr) uint64 { return l.load(l.block(i) + off) }

// newLab maps the arena and the stacks and fills in every worker's inputs.
func newLab(c Config) (*lab, error) {
	n := c.Count
	size := n*clonecore.BlockSize + 16 + 16 + n*c.Elems*8 + 4096
	arena, err := clonecore.NewArena(size)
	if err != nil {
		return nil, err
	}
	l := &lab{c: c, arena: arena, thread: c.Flags&clonecore.THREAD != 0}
	alloc := func(n int) uintptr {
		p, aerr := arena.Alloc(n)
		if aerr != nil && err == nil {
			err = aerr
		}
		return p
	}
	l.blocks = alloc(n * clonecore.BlockSize)
	l.counter = alloc(8)
	l.hold = alloc(4)
	l.array = alloc(max(n*c.Elems*8, 8))
	if err != nil {
		arena.Free()
		return nil, err
	}
	if l.stacks, err = clonecore.NewStacks(n, c.StackSize); err != nil {
		arena.Free()
		return nil, err
	}
	if c.Elems > 0 {
		arr := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(arena.Slice(l.array, n*c.Elems*8)))), n*c.Elems)
		for k := range arr {
			arr[k] = uint64(k) + 1
		}
	}
	for i := 0; i < n; i++ {
		b := l.block(i)
		arena.Store64(b+clonecore.WorkerCounter, uint64(l.counter))
		arena.Store64(b+clonecore.WorkerIters, c.Work)
		arena.Store64(b+clonecore.WorkerArray, uint64(l.array))
		arena.Store64(b+clonecore.WorkerLo, uint64(i*c.Elems))
		arena.Store64(b+clonecore.WorkerHi, uint64((i+1)*c.Elems))
		arena.Store64(b+clonecore.WorkerHold, uint64(l.hold))
		l.stacks.SetTLSWord(i, 1, TLSValue(i))
	}
	l.tasks = make([]*clonecore.Task, 0, n)
	return l, nil
}

// expectedSum is what worker i must find: array[k] = k+1 over its part.
func expectedSum(i, elems int) uint64 {
	lo, hi := uint64(i*elems), uint64((i+1)*elems)
	return (hi*(hi+1) - lo*(lo+1)) / 2
}

// start clones every worker; on a failure the caller closes the lab, which
// joins the ones started.
func (l *lab) start() (create time.Duration, err error) {
	o := clonecore.Options{Flags: l.c.Flags}
	for i := 0; i < l.c.Count; i++ {
		t0 := time.Now()
		t, err := startKernel(clonecore.KernelWork, l.arena, l.block(i), l.stacks, i, o)
		create += time.Since(t0)
		if err != nil {
			return create, l.startError(i, err)
		}
		l.tasks = append(l.tasks, t)
	}
	return create, nil
}

func (l *lab) startError(i int, err error) error {
	var ce *clonecore.CloneError
	if i == 0 && errors.As(err, &ce) && ce.Errno == unix.EINVAL {
		// The first clone was refused for its arguments: the flags.
		return &ConfigError{Field: "flags", Value: l.c.Flags.String(), Why: "the kernel refuses this set: " + err.Error(), Err: err}
	}
	return fmt.Errorf("worker %d of %d: %w (the %d started were joined)", i, l.c.Count, err, i)
}

// waitWorkDone waits until every started worker has done its work (phase
// ≥ 2) and waits on the hold word. Workers are not runtime-aware, so this
// polls, backing off to a millisecond. A worker outside minirun's thread
// group that dies before then (killed from outside) ends the wait with an
// error; inside it, its death would have ended minirun too.
func (l *lab) waitWorkDone() error {
	nap := 20 * time.Microsecond
	for i := range l.tasks {
		for polls := 0; l.field(i, clonecore.WorkerPhase) < clonecore.PhaseWorked; polls++ {
			if !l.thread && polls%64 == 63 {
				var info unix.Siginfo
				err := unix.Waitid(unix.P_PID, l.tasks[i].TID, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|unix.WALL, nil)
				if err == nil && siginfoPid(&info) != 0 {
					return fmt.Errorf("worker %d (tid %d) exited before its work was done", i, l.tasks[i].TID)
				}
			}
			time.Sleep(nap)
			nap = min(2*nap, time.Millisecond)
		}
	}
	return nil
}

// siginfoPid is si_pid of a siginfo waitid filled: 0 when no child had changed state.
func siginfoPid(info *unix.Siginfo) int32 {
	// si_signo, si_errno, si_code (3 int32) and padding to 16, then si_pid.
	return *(*int32)(unsafe.Add(unsafe.Pointer(info), 16))
}

// release lets every held worker go.
func (l *lab) release() {
	if !l.released {
		l.arena.Store32(l.hold, 1)
		l.arena.FutexWake(l.hold)
		l.released = true
	}
}

// join releases the workers and waits for every started one to let go of
// its stack, reaping those outside minirun's thread group.
func (l *lab) join() (time.Duration, error) {
	t0 := time.Now()
	l.release()
	l.waits = make([]unix.WaitStatus, len(l.tasks))
	var errs []error
	for i, t := range l.tasks {
		if err := t.Join(); err != nil {
			errs = append(errs, fmt.Errorf("worker %d (tid %d): %w", i, t.TID, err))
		}
		if !l.thread {
			ws, err := t.Reap()
			if err != nil {
				errs = append(errs, fmt.Errorf("reap worker %d (tid %d): %w", i, t.TID, err))
			}
			l.waits[i] = ws
		}
	}
	d := time.Since(t0)
	l.tasks = l.tasks[:0:0]
	l.joinErr = errors.Join(errs...)
	return d, l.joinErr
}

// close joins whatever was started and frees the memory. Safe to call twice.
func (l *lab) close() {
	if l.arena == nil {
		return
	}
	if len(l.tasks) > 0 {
		l.join()
	}
	l.stacks.Free()
	l.arena.Free()
	l.arena = nil
}

// Run runs the lab once and reports what the workers did. An invalid
// configuration is a *ConfigError (wrapping ErrBadConfig) and starts
// nothing. A worker that fails to start ends the run: the workers already
// started are released and joined, everything is freed, and the error
// names the worker. A failed check is not an error: see Report.OK.
func Run(c Config) (*Report, error) {
	c, err := c.Check(MachineLimits())
	if err != nil {
		return nil, err
	}
	wall0 := time.Now()
	cpu0 := cpuTime()
	rssBefore, _ := readStatus("/proc/self/status")
	kstackBefore := kernelStack()

	l, err := newLab(c)
	if err != nil {
		return nil, err
	}
	defer l.close()
	create, err := l.start()
	if err != nil {
		return nil, err
	}
	if err := l.waitWorkDone(); err != nil {
		return nil, err
	}
	// Every worker is done and holds: look at them as the kernel sees them.
	rssHeld, _ := readStatus("/proc/self/status")
	kstackHeld := kernelStack()
	obs := l.observe()
	var lay *Layout
	if c.Layout {
		if lay, err = l.layout(); err != nil {
			return nil, err
		}
	}
	if c.WhileHeld != nil {
		if err := c.WhileHeld(); err != nil {
			return nil, fmt.Errorf("while the workers were held: %w", err)
		}
	}
	r := l.collect(obs)
	r.Layout = lay
	join, err := l.join()
	if err != nil {
		return nil, err
	}
	r.Counter = l.load(l.counter)
	r.finish(l, create, join, time.Since(wall0), cpuTime()-cpu0, rssBefore, rssHeld)
	r.Memory.KernelStackGrowth = kstackHeld - kstackBefore
	return r, nil
}

// cpuTime is the CPU time minirun and its reaped children used, user plus system.
func cpuTime() time.Duration {
	var self, kids unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &self)
	unix.Getrusage(unix.RUSAGE_CHILDREN, &kids)
	tv := func(t unix.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}
