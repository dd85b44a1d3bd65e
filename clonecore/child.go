package clonecore

// The child block is the memory a cloned child starts from. Its address is
// the only thing the child gets (in a register); everything else hangs off
// it. The trampolines read it at these offsets, so the layout is fixed:
//
//	 0 mode     what the child runs: modeProgram, modeWork, modeOverflow
//	 8 status   written by the child: statusRunning (0), statusDone, statusFailed
//	16 step     the failing step's index
//	24 errno    the failing step's errno (0: the result was not the expected one)
//	32 value    the failing step's raw result
//	40 tid      the TID word: CLONE_PARENT_SETTID sets it, CLONE_CHILD_CLEARTID clears it
//	48 steps    address of the program's steps
//	56 nsteps
//	64 results  address of the saved results
//	72 pidfd    CLONE_PIDFD's fd, written by the kernel (int32)
//	80 worker fields, read and written by the worker kernels, up to blockSize
const (
	offMode    = 0
	offStatus  = 8
	offStep    = 16
	offErrno   = 24
	offValue   = 32
	offTID     = 40
	offSteps   = 48
	offNsteps  = 56
	offResults = 64
	offPidFD   = 72
	offWorker  = 80
	blockSize  = 256
)

// Modes of a child.
const (
	modeProgram  = 0 // interpret the program, then exit(0)
	modeWork     = 1 // the worker kernel: counter, sum, identity, optional hold
	modeOverflow = 2 // the overflow kernel: recurse until the guard page stops it
)

// Statuses a child reports.
const (
	statusRunning = 0 // not finished (or replaced by execve)
	statusDone    = 1 // the program ran to its end
	statusFailed  = 2 // a step failed: step, errno and value say which and how
)
