package clonecore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// childBlock is the memory a cloned child starts from. Its address is the
// only thing the child gets (in a register); everything else hangs off it.
// The trampolines read and write it by the field offsets the Go toolchain
// writes into go_asm.h for them (childBlock_status, childBlock_counter…), so
// this struct is the one place its layout is written down.
type childBlock struct {
	mode    uint64 // what the child runs: modeProgram, modeWork, modeOverflow
	status  uint64 // written by the child: statusRunning (0), statusDone, statusFailed
	step    uint64 // the failing step's index
	errno   uint64 // the failing step's errno (0: the result was not the expected one)
	value   uint64 // the failing step's raw result
	tid     uint64 // the TID word: CLONE_PARENT_SETTID sets it, CLONE_CHILD_CLEARTID clears it
	steps   uint64 // address of the program's steps
	nsteps  uint64
	results uint64 // address of the saved results
	pidfd   uint64 // CLONE_PIDFD's fd, written by the kernel (int32)
	// trace is the address of the program's flight record (traceRecord
	// per step, and one for the child's start), 0 when it keeps none: see
	// Program.EnableTrace.
	trace uint64

	// The worker kernels' fields (worker.go exports their offsets). In:
	// set by the parent before the clone.
	counter uint64 // address of the shared uint64 counter
	iters   uint64 // increments to make
	array   uint64 // address of the shared []uint64
	lo, hi  uint64 // this worker's part of the array: [lo, hi)
	hold    uint64 // address of a uint32 to wait on until non-zero (0: no hold)
	// Out: written by the worker.
	wtid      uint64 // gettid()
	wpid      uint64 // getpid(), the thread group's id
	tlsValue  uint64 // TCB word 1, read through the TLS register
	tlsSelf   uint64 // TCB word 0, the TCB's own address
	sp        uint64 // the stack pointer at entry
	sum       uint64 // sum of array[lo:hi]
	lowest    uint64 // the overflow kernel: lowest stack address written
	phase     uint64 // 1 started, 2 work done, 3 leaving
	coreLimit [2]uint64

	_ [5]uint64 // room to grow, up to blockSize
}

// blockSize is a child block's size in an arena. It is an untyped constant
// for the callers' arithmetic; the array types below do not compile unless
// it is exactly the struct's size.
const blockSize = 256

var (
	_ [blockSize - unsafe.Sizeof(childBlock{})]byte
	_ [unsafe.Sizeof(childBlock{}) - blockSize]byte
)

// Offsets in a child block, for the Go side.
const (
	offMode    = unsafe.Offsetof(childBlock{}.mode)
	offStatus  = unsafe.Offsetof(childBlock{}.status)
	offStep    = unsafe.Offsetof(childBlock{}.step)
	offErrno   = unsafe.Offsetof(childBlock{}.errno)
	offValue   = unsafe.Offsetof(childBlock{}.value)
	offTID     = unsafe.Offsetof(childBlock{}.tid)
	offSteps   = unsafe.Offsetof(childBlock{}.steps)
	offNsteps  = unsafe.Offsetof(childBlock{}.nsteps)
	offResults = unsafe.Offsetof(childBlock{}.results)
	offPidFD   = unsafe.Offsetof(childBlock{}.pidfd)
	offTrace   = unsafe.Offsetof(childBlock{}.trace)
	offWorker  = unsafe.Offsetof(childBlock{}.counter)
)

// Modes of a child.
const (
	modeProgram  = 0 // interpret the program, then exit(0)
	modeWork     = 1 // the worker kernel: counter, sum, identity, optional hold
	modeOverflow = 2 // the overflow kernel: recurse until the guard page stops it
	modeLab      = 3 // a lab kernel (labs_*.s): its lab block says which
)

// Statuses a child reports.
const (
	statusRunning = 0 // not finished (or replaced by execve)
	statusDone    = 1 // the program ran to its end
	statusFailed  = 2 // a step failed: step, errno and value say which and how
)

// What the trampolines call, and with what: go_asm.h hands these to them
// as const_sysExit and so on, with this architecture's numbers from
// golang.org/x/sys/unix.
const (
	sysExit          = unix.SYS_EXIT
	sysGettid        = unix.SYS_GETTID
	sysGetpid        = unix.SYS_GETPID
	sysFutex         = unix.SYS_FUTEX
	sysPrlimit64     = unix.SYS_PRLIMIT64
	sysClone         = unix.SYS_CLONE
	sysClone3        = unix.SYS_CLONE3
	sysRtSigprocmask = unix.SYS_RT_SIGPROCMASK
	sigSetmask       = unix.SIG_SETMASK
	rlimitCore       = unix.RLIMIT_CORE
	sigsetSize       = 8   // the kernel's sigset_t: 64 signals
	argsRoom         = 64  // stack bytes for a step's six resolved arguments, a multiple of 16
	overflowStride   = 256 // how far the overflow kernel moves down its stack each time, a multiple of 16
	failedExitStatus = 127 // a child whose step failed exits with it
	maxErrno         = 4095
	tolerableErrnos  = 64 * len(step{}.tolerate) // errnos a step can tolerate: 1 to 191
	firstOperation   = OpStore                   // the lowest operation number: below it, a syscall
)
