package clonecore

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawClone3 and rawClone are the trampolines' parent side: they make the
// syscall and return the child's TID or the errno. In the child they never
// return: it jumps to childMain with the block's address in a register.
//
// Both block every signal on the calling thread around the syscall (masks[0]
// is the set to block, masks[1] receives the old mask), so the child starts
// with all signals blocked.
//
//go:noescape
func rawClone3(args unsafe.Pointer, size uintptr, block uintptr, masks *[2]uint64) (pid uintptr, errno uintptr)

//go:noescape
func rawClone(flags, stack, ptid, ctid, tls, block uintptr, masks *[2]uint64) (pid uintptr, errno uintptr)

// cloneArgs is struct clone_args of linux/sched.h (CLONE_ARGS_SIZE_VER2).
// golang.org/x/sys/unix, where every other kernel structure minirun passes
// comes from, does not declare it (its clone3 is not wrapped). The kernel
// is told unsafe.Sizeof of it, never a number written by hand.
type cloneArgs struct {
	flags      uint64
	pidfd      uint64
	childTID   uint64
	parentTID  uint64
	exitSignal uint64
	stack      uint64
	stackSize  uint64
	tls        uint64
	setTID     uint64
	setTIDSize uint64
	cgroup     uint64
}

// noClone3 is set once clone3 answers ENOSYS; from then on minirun uses clone.
var noClone3 atomic.Bool

// Kernel names an assembly worker kernel a child can run instead of a program.
type Kernel int

// The worker kernels.
const (
	// KernelWork records the worker's identity and TLS, increments a shared
	// counter, sums its part of an array, and holds until released if asked.
	KernelWork Kernel = modeWork
	// KernelOverflow walks down its stack until the guard page stops it.
	KernelOverflow Kernel = modeOverflow
)

// Options say how to start one task.
type Options struct {
	// Flags are the clone flags asked for. The core adds what it needs to
	// observe a child that shares its address space (see Task.Added).
	Flags Flags
	// ExitSignal is sent to the parent when a task outside minirun's thread
	// group ends; 0 means SIGCHLD. Threads get none, as the kernel requires,
	// and a CLONE_PARENT child signals minirun's parent with minirun's own.
	ExitSignal unix.Signal
	// CgroupFD is a cgroup2 directory for CLONE_INTO_CGROUP.
	CgroupFD int
}

// A Task is a started child.
//
// How the parent learns that the child is done with the memory it was given
// (block, stack, program) and whether its program failed:
//
//	parent                                        child (signals blocked)
//	  clone3(flags|PARENT_SETTID|CHILD_CLEARTID) --> childMain(block)
//	  tid word = TID, set by the kernel              runs its program or worker kernel
//	  FUTEX_WAIT while tid word != 0                 on failure: block.step, .errno, .value,
//	        :                                                    then .status = failed; exit
//	        :  <-- the kernel zeroes the tid word --  execve or exit
//	  read block.status                               and wakes the futex
//
// The kernel clears the word only in an address space that is shared. So a
// child with a file table of its own is watched instead through an O_CLOEXEC
// pipe whose write end only the child (and any task it forks) keeps: EOF
// means every holder exec'd or exited (what syscall.forkExec does), and the
// kernel drops the old address space before it closes the files, so the
// stack is free by then. That covers children without CLONE_VM and the
// double fork a PID-namespace join needs; the TID word serves threads, which
// share the file table. The block is MAP_SHARED, so the report reaches the
// parent either way. A child that shares the fd table but not the address
// space is observed by waiting (without reaping) for it to exit.
type Task struct {
	TID   int
	PidFD int // -1 unless CLONE_PIDFD was asked for
	// Flags are the flags given to the kernel; Added is the part of them
	// the clone core added.
	Flags, Added Flags
	// Syscall is "clone3", or "clone" where the kernel lacks clone3.
	Syscall string
	// StackLo and StackTop bound the stack the child started on, and TCB
	// is the thread pointer CLONE_SETTLS gave it. The memory may be gone
	// once the task is joined; the addresses stay, for reports.
	StackLo, StackTop, TCB uintptr

	block  uintptr
	arena  *Arena
	prog   *Program
	stacks *Stacks  // owned by the task, freed once joined
	eof    *os.File // children without CLONE_VM or CLONE_FILES: the exec pipe
	joined bool
	err    error
}

// StepError is a child program's failing step.
type StepError struct {
	Index int
	Label string
	Errno unix.Errno // 0 when the step returned an unexpected result
	Value int64
	// Planned is set for an OpFail step: a failure the compiler put there
	// on purpose, whose label says all there is to say.
	Planned bool
}

func (e *StepError) Error() string {
	if e.Planned {
		return e.Label
	}
	if e.Errno == 0 {
		return fmt.Sprintf("%s: unexpected result %d", e.Label, e.Value)
	}
	return fmt.Sprintf("%s: %v", e.Label, e.Errno)
}

// Unwrap returns the errno, so errors.Is(err, unix.ENOENT) works.
func (e *StepError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// Start clones one child that runs program p on a stack of its own, with all
// signals blocked. The stack is freed by Join.
func Start(p *Program, o Options) (*Task, error) {
	return StartAs(UseProbe, p, o)
}

// StartAs is Start for a given use: UseProcess refuses flags a container
// process must not have.
func StartAs(u Use, p *Program, o Options) (*Task, error) {
	if err := o.Flags.Validate(u); err != nil {
		return nil, err
	}
	steps, results, err := p.seal()
	if err != nil {
		return nil, err
	}
	block, err := p.arena.Alloc(blockSize)
	if err != nil {
		return nil, err
	}
	p.arena.Store64(block+offMode, modeProgram)
	p.arena.Store64(block+offSteps, uint64(steps))
	p.arena.Store64(block+offNsteps, uint64(p.n))
	p.arena.Store64(block+offResults, uint64(results))
	p.arena.Store64(block+offTrace, uint64(p.trace))
	st, err := NewStacks(1, 32<<10)
	if err != nil {
		return nil, err
	}
	t, err := clone(o, p.arena, block, st, 0)
	if err != nil {
		st.Free()
		return nil, err
	}
	t.prog, t.stacks = p, st
	return t, nil
}

// StartKernel clones one child that runs worker kernel k, with its block at
// block (BlockSize bytes of arena; worker fields from WorkerOffset) and its
// stack and TLS in slot i of stacks, which the caller frees after Join.
func StartKernel(k Kernel, arena *Arena, block uintptr, stacks *Stacks, i int, o Options) (*Task, error) {
	if err := o.Flags.Validate(UseWorker); err != nil {
		return nil, err
	}
	if k == KernelOverflow && o.Flags&(SIGHAND|THREAD) != 0 {
		return nil, &FlagError{o.Flags, "the overflow kernel dies of SIGSEGV, and the kernel resets a fatal signal's handler to default in the table it shares: it must not share minirun's signal handlers"}
	}
	arena.Store64(block+offMode, uint64(k))
	return clone(o, arena, block, stacks, i)
}

// Sizes of a child block: worker fields start at WorkerOffset.
const (
	BlockSize    = blockSize
	WorkerOffset = offWorker
)

// clone starts a child at block on slot i of stacks.
func clone(o Options, arena *Arena, block uintptr, stacks *Stacks, i int) (*Task, error) {
	flags := o.Flags
	var added Flags
	if flags&VM != 0 {
		// A child in minirun's address space needs its own thread pointer
		// (rule 4) and a TID word the kernel clears when it lets go (rule 6).
		added = (SETTLS | PARENT_SETTID | CHILD_CLEARTID) &^ flags
	}
	flags |= added
	sig := uint64(o.ExitSignal)
	if flags&(THREAD|PARENT) != 0 {
		// clone3 refuses an exit signal with either: a thread has none,
		// and a CLONE_PARENT child inherits minirun's own.
		sig = 0
	} else if sig == 0 {
		sig = uint64(unix.SIGCHLD)
	}
	tidAddr := block + offTID
	arena.Store64(tidAddr, 0)
	arena.Store64(block+offPidFD, ^uint64(0))
	arena.Store64(block+offStatus, statusRunning)

	var pr, pw *os.File
	if flags&FILES == 0 {
		var err error
		if pr, pw, err = os.Pipe(); err != nil { // O_CLOEXEC
			return nil, fmt.Errorf("exec pipe: %w", err)
		}
		// A child that copies the fd table must not copy an fd some other
		// goroutine has opened but not yet marked close-on-exec.
		syscall.ForkLock.Lock()
	}

	args := cloneArgs{
		flags:      uint64(flags),
		exitSignal: sig,
		stack:      uint64(stacks.Lo(i)),
		stackSize:  uint64(stacks.Top(i) - stacks.Lo(i)),
		tls:        uint64(stacks.TCB(i)),
	}
	if flags&(PARENT_SETTID|CHILD_CLEARTID) != 0 {
		args.parentTID, args.childTID = uint64(tidAddr), uint64(tidAddr)
	}
	if flags&PIDFD != 0 {
		args.pidfd = uint64(block + offPidFD)
	}
	if flags&INTO_CGROUP != 0 {
		args.cgroup = uint64(o.CgroupFD)
	}

	name := "clone3"
	masks := [2]uint64{^uint64(0), 0}
	var pid, errno uintptr
	if !noClone3.Load() {
		pid, errno = rawClone3(unsafe.Pointer(&args), unsafe.Sizeof(args), block, &masks)
		if errno == uintptr(unix.ENOSYS) {
			noClone3.Store(true)
		}
	}
	if noClone3.Load() {
		name = "clone"
		if legacy := flags & (NEWTIME | CLEAR_SIGHAND | INTO_CGROUP | PIDFD); legacy != 0 {
			pid, errno = 0, uintptr(unix.ENOSYS)
		} else {
			pid, errno = rawClone(uintptr(flags)|uintptr(sig), uintptr(args.stack+args.stackSize),
				uintptr(args.parentTID), uintptr(args.childTID), uintptr(args.tls), block, &masks)
		}
	}
	if pw != nil {
		syscall.ForkLock.Unlock()
		pw.Close()
	}
	if errno != 0 {
		if pr != nil {
			pr.Close()
		}
		return nil, &CloneError{Syscall: name, Flags: flags, Errno: unix.Errno(errno)}
	}
	t := &Task{TID: int(pid), PidFD: -1, Flags: flags, Added: added, Syscall: name, block: block, arena: arena, eof: pr,
		StackLo: stacks.Lo(i), StackTop: stacks.Top(i), TCB: stacks.TCB(i)}
	if flags&PIDFD != 0 {
		t.PidFD = int(int32(arena.Load64(block + offPidFD)))
	}
	return t, nil
}

// CloneError is a clone the kernel refused.
type CloneError struct {
	Syscall string
	Flags   Flags
	Errno   unix.Errno
}

func (e *CloneError) Error() string {
	return fmt.Sprintf("%s(%s): %v", e.Syscall, e.Flags, Advice(e.Errno))
}

func (e *CloneError) Unwrap() error { return e.Errno }

// Advice turns an errno from clone or a setup step into words a user can act on.
func Advice(e unix.Errno) string {
	switch e {
	case unix.EPERM:
		return "operation not permitted (new namespaces other than a user namespace need CAP_SYS_ADMIN; unprivileged, add a user namespace)"
	case unix.EAGAIN:
		return "resource temporarily unavailable (too many tasks: see RLIMIT_NPROC and /proc/sys/kernel/threads-max)"
	case unix.ENOSPC:
		return "no space left on device (a namespace limit in /proc/sys/user/max_*_namespaces is reached)"
	case unix.EUSERS:
		return "too many users (user namespaces nest at most 32 deep)"
	case unix.ENOSYS:
		return "ENOSYS: this kernel has no clone3, and these flags need it"
	}
	return e.Error()
}

// Join waits until the child has finished with its memory (exec'd or
// exited) and returns its program's failure, if any. It does not reap a
// child outside minirun's thread group: see Reap.
func (t *Task) Join() error {
	if t.joined {
		return t.err
	}
	switch {
	case t.eof != nil:
		io.Copy(io.Discard, t.eof)
		t.eof.Close()
	case t.Flags&VM != 0:
		t.waitTIDWord()
	case t.Flags&PARENT != 0:
		// Shares the fd table but not memory, and is minirun's sibling,
		// not its child: waitid cannot see it, a pidfd can.
		t.waitPidFD()
	default:
		// Shares the fd table but not memory: wait for it to exit, and
		// leave it for Reap.
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, t.TID, &info, unix.WEXITED|unix.WNOWAIT|unix.WALL, nil)
			if err != unix.EINTR {
				break
			}
		}
	}
	t.joined = true
	switch t.arena.Load64(t.block + offStatus) {
	case statusFailed:
		i := int(t.arena.Load64(t.block + offStep))
		label, planned := fmt.Sprintf("step %d", i), false
		if t.prog != nil {
			label = t.prog.Label(i)
			planned = i < t.prog.n && t.prog.step(i).nr == OpFail
		}
		t.err = &StepError{Index: i, Label: label, Errno: unix.Errno(t.arena.Load64(t.block + offErrno)),
			Value: int64(t.arena.Load64(t.block + offValue)), Planned: planned}
	}
	if t.stacks != nil {
		t.stacks.Free()
		t.stacks = nil
	}
	return t.err
}

// waitPidFD waits until the task has exited, through its pidfd (CLONE_PIDFD's
// or one opened now). ESRCH means it is gone already: exited, and reaped by
// its parent.
func (t *Task) waitPidFD() {
	fd := t.PidFD
	if fd < 0 {
		var err error
		if fd, err = unix.PidfdOpen(t.TID, 0); err != nil {
			return
		}
		defer unix.Close(fd)
	}
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
		if err != unix.EINTR {
			return
		}
	}
}

// Done reports whether the program ran to its end (rather than exec'ing or
// failing). Valid after Join.
func (t *Task) Done() bool { return t.arena.Load64(t.block+offStatus) == statusDone }

// waitTIDWord waits, runtime-aware, until the kernel zeroes the TID word.
// The wait is a shared FUTEX_WAIT: the kernel's wake at exit is shared, and
// a private wait slept past it on the prototype (rule 6).
//
// A child that has little left to do lets go within microseconds, so the
// wait first yields the CPU to it a few times (joinSpins). On one CPU the
// child then runs to its end in the first yield: no futex sleep, no wake,
// and no syscall long enough for sysmon to hand minirun's P to another
// thread. Pinned to one CPU, that took create+join of a thread worker from
// 20.9 µs (0.98 × pthread's) to 18.2 µs (0.85 ×), median of five rounds of
// bench/threads.sh. sched_yield is raw because it never waits for the
// child (rule 7): at most it lets the tasks runnable on this CPU go first,
// as a preemption would, and the yields are bounded.
func (t *Task) waitTIDWord() {
	w := t.arena.u32(t.block + offTID)
	for i := 0; i < joinSpins && atomic.LoadUint32(w) != 0; i++ {
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
	for {
		v := atomic.LoadUint32(w)
		if v == 0 {
			return
		}
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWait, uintptr(v), 0, 0, 0)
	}
}

// Reap waits for a child outside minirun's thread group to exit and returns
// its wait status. Threads need no reaping.
func (t *Task) Reap() (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	if t.Flags&THREAD != 0 {
		return ws, nil
	}
	for {
		_, err := unix.Wait4(t.TID, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if t.PidFD >= 0 {
			unix.Close(t.PidFD)
			t.PidFD = -1
		}
		return ws, err
	}
}

// Block is the address of the task's child block.
func (t *Task) Block() uintptr { return t.block }

// joinSpins bounds the yields before a join sleeps on the TID word: about
// 20 µs when the CPU is otherwise idle, longer than a worker's exit.
const joinSpins = 50

// futex(2) operations, shared (no FUTEX_PRIVATE_FLAG).
const (
	futexWait = 0
	futexWake = 1
)

// FutexWake wakes every waiter on the uint32 at p (an arena address).
func (a *Arena) FutexWake(p uintptr) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(a.u32(p))), futexWake, 1<<31-1, 0, 0, 0)
}

// Store32 writes the uint32 at p atomically.
func (a *Arena) Store32(p uintptr, v uint32) { atomic.StoreUint32(a.u32(p), v) }
