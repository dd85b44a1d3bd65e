package clonecore

// Offsets of the worker fields in a child block, as the worker kernels in
// trampoline_*.s read and write them. Inputs are set by the parent before
// the clone; outputs are written by the worker.
const (
	WorkerCounter  = 80  // in: address of the shared uint64 counter
	WorkerIters    = 88  // in: increments to make
	WorkerArray    = 96  // in: address of the shared []uint64
	WorkerLo       = 104 // in: first index of this worker's part of the array
	WorkerHi       = 112 // in: one past its last index
	WorkerHold     = 120 // in: address of a uint32 to wait on until non-zero (0: no hold)
	WorkerTID      = 128 // out: gettid()
	WorkerPID      = 136 // out: getpid(), the thread group's id
	WorkerTLSValue = 144 // out: TCB word 1, read through the TLS register
	WorkerTLSSelf  = 152 // out: TCB word 0, the TCB's own address
	WorkerSP       = 160 // out: the stack pointer at entry
	WorkerSum      = 168 // out: sum of array[lo:hi]
	WorkerLowest   = 176 // out: overflow kernel: lowest stack address written
	WorkerPhase    = 184 // out: 1 started, 2 work done, 3 leaving
)
