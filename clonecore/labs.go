package clonecore

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The lab kernels (labs_*.s) are the workers of the thread lab's
// experiments (threads.Race, threads.End, …): the same clone core, the same
// "never Go" rule, but each with a job that shows one claim about threads.
// They live in files of their own so that the program interpreter of
// trampoline_*.s is not touched by them; childMain hands a child whose mode
// is modeLab to labMain, and everything a lab kernel reads or writes is in a
// lab block that follows the child's block in the arena:
//
//	block                  block+BlockSize
//	+----------------------+---------------------------------+
//	| childBlock (child.go)| labBlock (this file)            |
//	+----------------------+---------------------------------+
//
// The parent sets the inputs, the kernel the outputs. Every kernel but the
// host follows one protocol, so minirun can look at its workers in /proc
// at two quiet moments and start them all at once:
//
//	record tid, pid, CPU; phase = LabReady
//	wait while *goWord == 0                       (FUTEX_WAIT, shared)
//	phase = LabRunning; clocks and CPU at start
//	the kernel's job
//	clocks and CPU at the end; phase = LabWorked
//	wait while *releaseWord == 0
//	phase = LabLeaving; exit(0)
//
// The end kernel's job may be to fault or to end its thread group; it is
// started only by a host (LabHost), a process of its own that minirun
// started without CLONE_VM, so whatever it kills is not minirun.
type labBlock struct {
	kernel uint64 // which lab kernel: LabRace, LabSpin, LabFutex, LabEnd, LabHost

	// In, for every kernel but the host.
	goWord      uint64 // address of a uint32: wait while it is 0, then work
	releaseWord uint64 // address of a uint32: after the work, wait while it is 0, then exit
	target      uint64 // race: the shared counter; spin: the stop word (0: none); futex: the lock word
	shared      uint64 // futex: the plain counter the lock protects
	iters       uint64 // race, futex: increments; spin: work units (0: until the stop word)
	variant     uint64 // race: LabRacy or LabLocked; end: the action (LabNone, LabFault…)
	code        uint64 // end: the status exit or exit_group is given

	// Out.
	tid, pid           uint64
	phase              uint64
	cpuReady           uint64    // getcpu when ready
	cpuStart, cpuEnd   uint64    // getcpu before and after the job
	wallStart, wallEnd [2]uint64 // CLOCK_MONOTONIC, a struct timespec
	cpuTimeStart       [2]uint64 // CLOCK_THREAD_CPUTIME_ID
	cpuTimeEnd         [2]uint64
	done               uint64 // spin: work units done; race, futex: iterations done
	result             uint64 // spin: the last value of the work's recurrence
	fast               uint64 // futex: locks taken on the fast path (no system call)
	slow               uint64 // futex: locks taken after finding the lock held
	waits              uint64 // futex: FUTEX_WAIT calls made
	again              uint64 // futex: of them, those that returned EAGAIN at once: the word had changed
	wakes              uint64 // futex: FUTEX_WAKE calls made
	lowest             uint64 // end (overflow): lowest stack address written

	// The host's side of a hosted worker: how the host clones it, and what
	// the host learned of it.
	args    cloneArgs
	child   uint64 // clone's result in the host: the worker's TID, or -errno
	reaped  uint64 // 1 once the host reaped it (a worker outside the host's thread group)
	wstatus uint64 // its wait status (an int32), valid once reaped

	// The host's own fields.
	workers  uint64    // address of the first worker's block; the others follow LabStride apart
	nworkers uint64    // how many to clone
	started  uint64    // how many clone returned a TID for
	errno    uint64    // the errno of the clone that failed, 0 if none did
	zero     [2]uint64 // {0, 0}: the core size limit the host sets
	scratch  uint64    // wait4's status word
}

// LabStride is how far apart lab children's blocks lie in an arena: a child
// block and a lab block, rounded to 16 bytes.
const LabStride = (blockSize + unsafe.Sizeof(labBlock{}) + 15) &^ 15

// LabKernel names a lab kernel.
type LabKernel uint64

// The lab kernels.
const (
	// LabRace increments a shared word iters times: plainly (load, add,
	// store) or atomically, as variant says.
	LabRace LabKernel = iota + 1
	// LabSpin does iters units of pure CPU work, or units until the stop
	// word at target is non-zero, and counts them.
	LabSpin
	// LabFutex takes and releases a futex lock iters times around a plain
	// increment of a shared word, counting the system calls its slow
	// paths make.
	LabFutex
	// LabEnd faults, exits or exits its thread group when released, as
	// variant says; only a host starts it.
	LabEnd
	// LabHost clones its workers with the clone arguments in their lab
	// blocks (PrepareHosted), reaps those that are processes of their own,
	// and holds until released. It must not share minirun's memory.
	LabHost
)

// LabSpinUnit is the multiply-adds in one unit of LabSpin's work.
const LabSpinUnit = spinUnit

// Variants of LabRace.
const (
	LabRacy   = 0 // load, add one, store: two workers can both load the same value
	LabLocked = 1 // one atomic read-modify-write (LOCK INC; LDAXR/STLXR on arm64)
)

// Actions of LabEnd.
const (
	LabNone      = 0 // exit(0) once released a second time, as a worker of the other kernels does
	LabFault     = 1 // store through a null pointer: SIGSEGV
	LabOverflow  = 2 // walk down the stack until the guard page stops it: SIGSEGV
	LabExit      = 3 // exit(code): ends this task
	LabExitGroup = 4 // exit_group(code): ends the task's whole thread group
)

// Phases of a lab worker, in its LabPhase field; the host's are in its own.
const (
	LabReady   = 1 // identity recorded; waiting for its go word
	LabRunning = 2 // released, doing its job (or, for the end kernel, its action)
	LabWorked  = 3 // job done; waiting for its release word
	LabLeaving = 4 // about to exit(0)

	HostCloned = 1 // the host cloned every worker it could (LabStarted of them)
	HostReaped = 2 // it reaped every worker that was its child; it waits for its release word
)

// Offsets of the lab fields, from a lab child's block address (the arena
// address passed to StartLab), as the lab kernels read and write them.
const (
	LabGo          = blockSize + unsafe.Offsetof(labBlock{}.goWord)
	LabRelease     = blockSize + unsafe.Offsetof(labBlock{}.releaseWord)
	LabTarget      = blockSize + unsafe.Offsetof(labBlock{}.target)
	LabShared      = blockSize + unsafe.Offsetof(labBlock{}.shared)
	LabIters       = blockSize + unsafe.Offsetof(labBlock{}.iters)
	LabVariant     = blockSize + unsafe.Offsetof(labBlock{}.variant)
	LabCode        = blockSize + unsafe.Offsetof(labBlock{}.code)
	LabTID         = blockSize + unsafe.Offsetof(labBlock{}.tid)
	LabPID         = blockSize + unsafe.Offsetof(labBlock{}.pid)
	LabPhase       = blockSize + unsafe.Offsetof(labBlock{}.phase)
	LabCPUReady    = blockSize + unsafe.Offsetof(labBlock{}.cpuReady)
	LabCPUStart    = blockSize + unsafe.Offsetof(labBlock{}.cpuStart)
	LabCPUEnd      = blockSize + unsafe.Offsetof(labBlock{}.cpuEnd)
	LabWallStart   = blockSize + unsafe.Offsetof(labBlock{}.wallStart)
	LabWallEnd     = blockSize + unsafe.Offsetof(labBlock{}.wallEnd)
	LabCPUTimeFrom = blockSize + unsafe.Offsetof(labBlock{}.cpuTimeStart)
	LabCPUTimeTo   = blockSize + unsafe.Offsetof(labBlock{}.cpuTimeEnd)
	LabDone        = blockSize + unsafe.Offsetof(labBlock{}.done)
	LabResult      = blockSize + unsafe.Offsetof(labBlock{}.result)
	LabFast        = blockSize + unsafe.Offsetof(labBlock{}.fast)
	LabSlow        = blockSize + unsafe.Offsetof(labBlock{}.slow)
	LabWaits       = blockSize + unsafe.Offsetof(labBlock{}.waits)
	LabAgain       = blockSize + unsafe.Offsetof(labBlock{}.again)
	LabWakes       = blockSize + unsafe.Offsetof(labBlock{}.wakes)
	LabLowest      = blockSize + unsafe.Offsetof(labBlock{}.lowest)
	LabChild       = blockSize + unsafe.Offsetof(labBlock{}.child)
	LabReaped      = blockSize + unsafe.Offsetof(labBlock{}.reaped)
	LabWaitStatus  = blockSize + unsafe.Offsetof(labBlock{}.wstatus)
	LabWorkers     = blockSize + unsafe.Offsetof(labBlock{}.workers)
	LabNWorkers    = blockSize + unsafe.Offsetof(labBlock{}.nworkers)
	LabStarted     = blockSize + unsafe.Offsetof(labBlock{}.started)
	LabErrno       = blockSize + unsafe.Offsetof(labBlock{}.errno)
)

// What the lab kernels call, for go_asm.h (child.go has the rest).
const (
	sysExitGroup     = unix.SYS_EXIT_GROUP
	sysGetcpu        = unix.SYS_GETCPU
	sysClockGettime  = unix.SYS_CLOCK_GETTIME
	sysPrctl         = unix.SYS_PRCTL
	sysWait4         = unix.SYS_WAIT4
	clockMonotonic   = unix.CLOCK_MONOTONIC
	clockThreadCPU   = unix.CLOCK_THREAD_CPUTIME_ID
	prSetDumpable    = unix.PR_SET_DUMPABLE
	waitAll          = unix.WALL // __WALL: threads and clone children too
	futexWaitPrivate = 128 | futexWait
	futexWakePrivate = 128 | futexWake
	spinUnit         = 1024 // multiply-adds in one unit of the spin kernel's work
	enosys           = int(unix.ENOSYS)
	eagain           = int(unix.EAGAIN)
)

// labMain is the lab kernels' entry (labs_*.s), which childMain jumps to
// for a child in modeLab. It is never called from Go.
func labMain()

// StartLab clones one child that runs lab kernel k, with its block at block
// (LabStride bytes of arena; fields at the Lab* offsets) and its stack and
// TLS in slot i of stacks, which the caller frees after Join.
//
// A host must not share minirun's address space, file table or signal
// handlers: its workers may fault or call exit_group, which must end the
// host's thread group, never minirun's. The end kernel runs only under a
// host. The other kernels are workers in minirun's address space, with the
// flags of StartKernel.
func StartLab(k LabKernel, arena *Arena, block uintptr, stacks *Stacks, i int, o Options) (*Task, error) {
	switch k {
	case LabHost:
		if err := o.Flags.Validate(UseProbe); err != nil {
			return nil, err
		}
		if o.Flags&(VM|FILES|SIGHAND|THREAD|PARENT|VFORK) != 0 {
			return nil, &FlagError{o.Flags, "a lab host is a process of its own, whose workers may crash it: it cannot share minirun's memory, files, handlers or thread group, nor be anyone's but minirun's child"}
		}
		if arena.Load64(block+LabNWorkers) == 0 {
			return nil, fmt.Errorf("lab host: no workers to clone (PrepareHosted sets them up)")
		}
	case LabRace, LabSpin, LabFutex:
		if err := o.Flags.Validate(UseWorker); err != nil {
			return nil, err
		}
	case LabEnd:
		return nil, fmt.Errorf("the end kernel faults or ends its thread group: only a lab host starts it (PrepareHosted)")
	default:
		return nil, fmt.Errorf("lab kernel %d: no such kernel", k)
	}
	arena.Store64(block+offMode, modeLab)
	arena.Store64(block+blockSize+unsafe.Offsetof(labBlock{}.kernel), uint64(k))
	return clone(o, arena, block, stacks, i)
}

// PrepareHosted sets up the hosted worker whose block is at block: the host
// will clone it to run kernel k on slot i of stacks, with flags (which must
// suit a worker; the core adds CLONE_SETTLS and the TID word flags, as for
// any task in the host's address space). The host finds its workers from
// its LabWorkers (the first block; the others follow LabStride apart) and
// LabNWorkers, which the caller sets. The stacks are mapped in minirun before
// the host is started, so the host's copy of them is the one its workers
// run on.
func PrepareHosted(arena *Arena, block uintptr, k LabKernel, stacks *Stacks, i int, flags Flags) error {
	if err := flags.Validate(UseWorker); err != nil {
		return err
	}
	if k != LabEnd && k != LabSpin && k != LabRace && k != LabFutex {
		return fmt.Errorf("lab kernel %d cannot be hosted", k)
	}
	flags |= SETTLS | PARENT_SETTID | CHILD_CLEARTID
	sig := uint64(unix.SIGCHLD)
	if flags&THREAD != 0 {
		sig = 0 // a thread has no exit signal; clone3 refuses one
	}
	args := (*cloneArgs)(unsafe.Pointer(unsafe.SliceData(arena.Slice(block+blockSize+unsafe.Offsetof(labBlock{}.args), int(unsafe.Sizeof(cloneArgs{}))))))
	*args = cloneArgs{
		flags:      uint64(flags),
		exitSignal: sig,
		stack:      uint64(stacks.Lo(i)),
		stackSize:  uint64(stacks.Top(i) - stacks.Lo(i)),
		tls:        uint64(stacks.TCB(i)),
		parentTID:  uint64(block + offTID),
		childTID:   uint64(block + offTID),
	}
	arena.Store64(block+offMode, modeLab)
	arena.Store64(block+offStatus, statusRunning)
	arena.Store64(block+offTID, 0)
	arena.Store64(block+blockSize+unsafe.Offsetof(labBlock{}.kernel), uint64(k))
	return nil
}

// HostedFlags are the flags a hosted worker was cloned with (after the
// core's additions).
func HostedFlags(arena *Arena, block uintptr) Flags {
	return Flags(arena.Load64(block + blockSize + unsafe.Offsetof(labBlock{}.args) + unsafe.Offsetof(cloneArgs{}.flags)))
}
