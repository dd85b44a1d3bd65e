// The lab kernels for amd64: the workers of the thread lab's experiments
// (labs.go says what each does and the protocol they share). Like the
// trampoline (trampoline_amd64.s), they run in a cloned child that has no
// Go runtime, with every signal blocked, and take their offsets and numbers
// from go_asm.h: labBlock_goWord is the offset of labBlock.goWord,
// const_LabRace the constant, const_sysFutex this architecture's SYS_FUTEX.
//
// Registers (the kernel keeps all but AX, CX and R11 across a syscall):
//
//	R12  the child block (childBlock in child.go), as childMain had it
//	R13  the lab block: R12 + blockSize (labBlock in labs.go)
//	R14, R15  the host's own blocks, while R12 and R13 walk its workers'
//	SP   the child's own stack
//
// No kernel calls a function: the waits are macros, so a worker's stack
// holds nothing but what the overflow action writes.

#include "textflag.h"
#include "go_asm.h"

// WAIT_WORD(field, again, done) waits while the uint32 whose address is in
// the lab block's field is 0: a shared FUTEX_WAIT, since minirun's wake is
// keyed on the arena's page. again and done name the macro's labels.
#define WAIT_WORD(field, again, done) \
	MOVQ	field(R13), DI; \
again: \
	MOVL	(DI), AX; \
	TESTL	AX, AX; \
	JNE	done; \
	XORL	SI, SI; \
	XORL	DX, DX; \
	XORL	R10, R10; \
	MOVL	$const_sysFutex, AX; \
	SYSCALL; \
	JMP	again; \
done:

// CLOCK(id, field) stores clock_gettime(id) in the lab block's timespec field.
#define CLOCK(id, field) \
	MOVL	$id, DI; \
	LEAQ	field(R13), SI; \
	MOVL	$const_sysClockGettime, AX; \
	SYSCALL

// GETCPU(field) stores the CPU this task runs on in the lab block's field
// (getcpu writes 32 bits; the field's upper half stays 0).
#define GETCPU(field) \
	LEAQ	field(R13), DI; \
	XORL	SI, SI; \
	XORL	DX, DX; \
	MOVL	$const_sysGetcpu, AX; \
	SYSCALL

// EXIT(status register or immediate) ends this task only (rule 1).
#define EXIT(st) \
	MOVQ	st, DI; \
	MOVL	$const_sysExit, AX; \
	SYSCALL; \
	INT	$3

// labMain: R12 = the child block, on the child's own stack.
TEXT ·labMain(SB),NOSPLIT|NOFRAME,$0-0
start:
	LEAQ	const_blockSize(R12), R13
	MOVQ	labBlock_kernel(R13), AX
	CMPQ	AX, $const_LabHost
	JEQ	host

	// Every worker: who and where it is, then wait to be let go.
	MOVL	$const_sysGettid, AX
	SYSCALL
	MOVQ	AX, labBlock_tid(R13)
	MOVL	$const_sysGetpid, AX
	SYSCALL
	MOVQ	AX, labBlock_pid(R13)
	GETCPU(labBlock_cpuReady)
	MOVQ	$const_LabReady, labBlock_phase(R13)
	WAIT_WORD(labBlock_goWord, waitgo, gone)
	MOVQ	$const_LabRunning, labBlock_phase(R13)
	GETCPU(labBlock_cpuStart)
	CLOCK(const_clockMonotonic, labBlock_wallStart)
	CLOCK(const_clockThreadCPU, labBlock_cpuTimeStart)
	MOVQ	labBlock_kernel(R13), AX
	CMPQ	AX, $const_LabRace
	JEQ	race
	CMPQ	AX, $const_LabSpin
	JEQ	spin
	CMPQ	AX, $const_LabFutex
	JEQ	futex
	CMPQ	AX, $const_LabEnd
	JEQ	end
	// An unknown kernel has no job: it reports and leaves like the others.

worked:
	CLOCK(const_clockThreadCPU, labBlock_cpuTimeEnd)
	CLOCK(const_clockMonotonic, labBlock_wallEnd)
	GETCPU(labBlock_cpuEnd)
	MOVQ	$const_LabWorked, labBlock_phase(R13)
	WAIT_WORD(labBlock_releaseWord, waitrelease, released)
	MOVQ	$const_LabLeaving, labBlock_phase(R13)
	EXIT($0)

// race: iters increments of the word at target, plain or locked.
race:
	MOVQ	labBlock_target(R13), DI
	MOVQ	labBlock_iters(R13), CX
	TESTQ	CX, CX
	JEQ	raced
	CMPQ	labBlock_variant(R13), $const_LabLocked
	JEQ	locked
racy:
	// Load, add, store: another CPU's store between this load and this
	// store is overwritten, and its increment is lost.
	MOVQ	(DI), AX
	INCQ	AX
	MOVQ	AX, (DI)
	DECQ	CX
	JNE	racy
	JMP	raced
locked:
	// One instruction that holds the cache line from load to store.
	LOCK
	INCQ	(DI)
	DECQ	CX
	JNE	locked
raced:
	MOVQ	labBlock_iters(R13), AX
	MOVQ	AX, labBlock_done(R13)
	JMP	worked

// spin: units of pure CPU work (a chain of dependent multiply-adds, no
// memory traffic), iters of them or until the stop word at target is set.
spin:
	MOVQ	labBlock_target(R13), DI
	MOVQ	labBlock_iters(R13), CX
	XORQ	R8, R8		// units done
	MOVQ	$1, AX
	MOVQ	$0x5851f42d4c957f2d, R9
spinunit:
	MOVQ	$const_spinUnit, DX
spinstep:
	IMULQ	R9, AX
	INCQ	AX
	DECQ	DX
	JNE	spinstep
	INCQ	R8
	TESTQ	CX, CX
	JEQ	spincheck
	CMPQ	R8, CX
	JAE	spun
spincheck:
	TESTQ	DI, DI
	JEQ	spinunit
	MOVL	(DI), DX
	TESTL	DX, DX
	JEQ	spinunit
spun:
	MOVQ	R8, labBlock_done(R13)
	MOVQ	AX, labBlock_result(R13)
	JMP	worked

// futex: iters times, take the lock at target, increment the plain word at
// shared, release the lock. The lock word is 0 (free), 1 (held) or 2 (held,
// and someone may sleep on it). Taking a free lock is one compare-and-swap
// and releasing a lock nobody waits for one atomic decrement: no system
// call. Only a lock found held costs FUTEX_WAIT (sleep while the word is 2),
// and only releasing a lock marked 2 costs FUTEX_WAKE. Private futex
// operations: every user of the lock shares this address space.
futex:
	MOVQ	labBlock_target(R13), DI
	MOVQ	labBlock_shared(R13), R8
	MOVQ	labBlock_iters(R13), R9
	TESTQ	R9, R9
	JEQ	futexdone
lock:
	XORL	AX, AX
	MOVL	$1, DX
	LOCK
	CMPXCHGL	DX, (DI)	// 0 -> 1, or AX = what the word holds
	JNE	contended
	INCQ	labBlock_fast(R13)
	JMP	critical
contended:
	INCQ	labBlock_slow(R13)
	CMPL	AX, $2
	JEQ	sleep
	MOVL	$2, AX		// say a waiter may sleep; if the lock was freed meanwhile, it is ours
	XCHGL	AX, (DI)
	TESTL	AX, AX
	JEQ	critical
sleep:
	MOVQ	$const_futexWaitPrivate, SI
	MOVL	$2, DX		// sleep only while the word still says 2
	XORL	R10, R10
	MOVL	$const_sysFutex, AX
	SYSCALL
	INCQ	labBlock_waits(R13)
	CMPQ	AX, $-const_eagain
	JNE	woken
	INCQ	labBlock_again(R13)	// the word had changed: no sleep
woken:
	MOVL	$2, AX
	XCHGL	AX, (DI)
	TESTL	AX, AX
	JNE	sleep
critical:
	// Plain load, add, store: safe only because the lock is held.
	MOVQ	(R8), AX
	INCQ	AX
	MOVQ	AX, (R8)
	MOVL	$-1, AX
	LOCK
	XADDL	AX, (DI)	// AX = the word before the decrement
	CMPL	AX, $1
	JEQ	unlocked
	MOVL	$0, (DI)	// it was 2: free it and wake one sleeper
	MOVQ	$const_futexWakePrivate, SI
	MOVL	$1, DX
	MOVL	$const_sysFutex, AX
	SYSCALL
	INCQ	labBlock_wakes(R13)
unlocked:
	DECQ	R9
	JNE	lock
futexdone:
	MOVQ	labBlock_iters(R13), AX
	MOVQ	AX, labBlock_done(R13)
	JMP	worked

// end: the action variant names. A worker with none leaves as the others do.
end:
	MOVQ	labBlock_variant(R13), AX
	CMPQ	AX, $const_LabFault
	JEQ	fault
	CMPQ	AX, $const_LabOverflow
	JEQ	deeper
	CMPQ	AX, $const_LabExit
	JEQ	exitcode
	CMPQ	AX, $const_LabExitGroup
	JEQ	exitgroup
	JMP	worked
fault:
	XORL	AX, AX
	MOVQ	AX, (AX)	// a store through a null pointer: SIGSEGV
	INT	$3
deeper:
	SUBQ	$const_overflowStride, SP
	MOVQ	$0, 0(SP)
	MOVQ	SP, labBlock_lowest(R13)
	JMP	deeper
exitcode:
	EXIT(labBlock_code(R13))
exitgroup:
	MOVQ	labBlock_code(R13), DI
	MOVL	$const_sysExitGroup, AX	// ends every task of this thread group: the host's, never minirun's
	SYSCALL
	INT	$3

// host: a process of its own (no CLONE_VM) that clones its workers and
// reaps those that are processes of their own, so that what they do to
// their thread group is done to the host's, and minirun watches.
host:
	// No core file, whatever kills it: the core limit 0 and, as its
	// address space is its own, not dumpable at all.
	XORL	DI, DI
	MOVL	$const_rlimitCore, SI
	LEAQ	labBlock_zero(R13), DX
	XORL	R10, R10
	MOVL	$const_sysPrlimit64, AX
	SYSCALL
	MOVL	$const_prSetDumpable, DI
	XORL	SI, SI
	XORL	DX, DX
	XORL	R10, R10
	XORL	R8, R8
	MOVL	$const_sysPrctl, AX
	SYSCALL
	MOVL	$const_sysGettid, AX
	SYSCALL
	MOVQ	AX, labBlock_tid(R13)
	MOVL	$const_sysGetpid, AX
	SYSCALL
	MOVQ	AX, labBlock_pid(R13)
	MOVQ	R12, R14
	MOVQ	R13, R15
	MOVQ	labBlock_workers(R15), R12
	MOVQ	labBlock_nworkers(R15), BX
hostclone:
	TESTQ	BX, BX
	JEQ	hostcloned
	LEAQ	const_blockSize(R12), R13
	LEAQ	labBlock_args(R13), DI
	MOVQ	$cloneArgs__size, SI
	MOVL	$const_sysClone3, AX
	SYSCALL
	TESTQ	AX, AX
	JEQ	start		// the new worker, on its own stack, R12 its block
	CMPQ	AX, $-const_enosys
	JNE	hostresult
	// No clone3 (rule 10): clone(flags|exit signal, stack top, ptid, ctid, tls).
	MOVQ	(labBlock_args+cloneArgs_flags)(R13), DI
	ORQ	(labBlock_args+cloneArgs_exitSignal)(R13), DI
	MOVQ	(labBlock_args+cloneArgs_stack)(R13), SI
	ADDQ	(labBlock_args+cloneArgs_stackSize)(R13), SI
	MOVQ	(labBlock_args+cloneArgs_parentTID)(R13), DX
	MOVQ	(labBlock_args+cloneArgs_childTID)(R13), R10
	MOVQ	(labBlock_args+cloneArgs_tls)(R13), R8
	MOVL	$const_sysClone, AX
	SYSCALL
	TESTQ	AX, AX
	JEQ	start
hostresult:
	MOVQ	AX, labBlock_child(R13)
	CMPQ	AX, $-const_maxErrno
	JHI	hostfailed
	INCQ	labBlock_started(R15)
	ADDQ	$const_LabStride, R12
	DECQ	BX
	JMP	hostclone
hostfailed:
	NEGQ	AX
	MOVQ	AX, labBlock_errno(R15)
hostcloned:
	MOVQ	R14, R12
	MOVQ	R15, R13
	MOVQ	$const_HostCloned, labBlock_phase(R13)
hostreap:
	// wait4(-1, &scratch, __WALL, NULL) until no child is left: ECHILD
	// at once when the workers are threads (they are no one's children).
	MOVQ	$-1, DI
	LEAQ	labBlock_scratch(R13), SI
	MOVL	$const_waitAll, DX
	XORL	R10, R10
	MOVL	$const_sysWait4, AX
	SYSCALL
	CMPQ	AX, $-const_maxErrno
	JHI	hostreaped
	MOVQ	labBlock_workers(R13), DI	// find the worker clone returned this TID for
	MOVQ	labBlock_started(R13), CX
hostfind:
	TESTQ	CX, CX
	JEQ	hostreap
	CMPQ	AX, (const_blockSize+labBlock_child)(DI)
	JEQ	hostfound
	ADDQ	$const_LabStride, DI
	DECQ	CX
	JMP	hostfind
hostfound:
	MOVL	labBlock_scratch(R13), DX
	MOVQ	DX, (const_blockSize+labBlock_wstatus)(DI)
	MOVQ	$1, (const_blockSize+labBlock_reaped)(DI)	// stored last
	JMP	hostreap
hostreaped:
	MOVQ	$const_HostReaped, labBlock_phase(R13)
	WAIT_WORD(labBlock_releaseWord, hostwait, hostgo)
	EXIT($0)
