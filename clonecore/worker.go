package clonecore

import "unsafe"

// Offsets of the worker fields in a child block (childBlock), as the worker
// kernels in trampoline_*.s read and write them. Inputs are set by the
// parent before the clone; outputs are written by the worker.
const (
	WorkerCounter  = unsafe.Offsetof(childBlock{}.counter)  // in: address of the shared uint64 counter
	WorkerIters    = unsafe.Offsetof(childBlock{}.iters)    // in: increments to make
	WorkerArray    = unsafe.Offsetof(childBlock{}.array)    // in: address of the shared []uint64
	WorkerLo       = unsafe.Offsetof(childBlock{}.lo)       // in: first index of this worker's part of the array
	WorkerHi       = unsafe.Offsetof(childBlock{}.hi)       // in: one past its last index
	WorkerHold     = unsafe.Offsetof(childBlock{}.hold)     // in: address of a uint32 to wait on until non-zero (0: no hold)
	WorkerTID      = unsafe.Offsetof(childBlock{}.wtid)     // out: gettid()
	WorkerPID      = unsafe.Offsetof(childBlock{}.wpid)     // out: getpid(), the thread group's id
	WorkerTLSValue = unsafe.Offsetof(childBlock{}.tlsValue) // out: TCB word 1, read through the TLS register
	WorkerTLSSelf  = unsafe.Offsetof(childBlock{}.tlsSelf)  // out: TCB word 0, the TCB's own address
	WorkerSP       = unsafe.Offsetof(childBlock{}.sp)       // out: the stack pointer at entry
	WorkerSum      = unsafe.Offsetof(childBlock{}.sum)      // out: sum of array[lo:hi]
	WorkerLowest   = unsafe.Offsetof(childBlock{}.lowest)   // out: overflow kernel: lowest stack address written
	WorkerPhase    = unsafe.Offsetof(childBlock{}.phase)    // out: 1 started, 2 work done, 3 leaving
)

// The phases a worker passes through, in its WorkerPhase field.
const (
	PhaseStarted = 1 // identity recorded
	PhaseWorked  = 2 // counter and sum done; holding, if asked to
	PhaseLeaving = 3 // about to exit
)
