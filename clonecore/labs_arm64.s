// The lab kernels for arm64: labs_amd64.s said again, label for label, on
// the same lab block (labs.go). A syscall takes its number in R8 and its
// arguments in R0..R5 and returns in R0; the kernel keeps every other
// register. Offsets and numbers come from go_asm.h, as in the trampoline.
//
// Registers:
//
//	R19  the child block, as childMain had it
//	R20  the lab block: R19 + blockSize
//	R21, R22  the host's own blocks, while R19 and R20 walk its workers'
//	R23  the host: workers left to clone
//	RSP  the child's own stack
//
// R16 and R17 (the linker's scratch), R18 (the platform's), R26..R30 are
// left alone. arm64 may let others see stores out of order: a DMB ISH comes
// before every phase store and before the host's "reaped" flag, so what was
// written before is visible first (as in trampoline_arm64.s).

#include "textflag.h"
#include "go_asm.h"

#define BARRIER	DMB	$0xb

// WAIT_WORD(field, again, done) waits while the uint32 whose address is in
// the lab block's field is 0 (a shared FUTEX_WAIT; load-acquire, so what
// minirun wrote before setting the word is seen after).
#define WAIT_WORD(field, again, done) \
	MOVD	field(R20), R9; \
again: \
	LDARW	(R9), R1; \
	CBNZ	R1, done; \
	MOVD	R9, R0; \
	MOVD	ZR, R1; \
	MOVD	ZR, R2; \
	MOVD	ZR, R3; \
	MOVD	$const_sysFutex, R8; \
	SVC; \
	B	again; \
done:

// CLOCK(id, field) stores clock_gettime(id) in the lab block's timespec field.
#define CLOCK(id, field) \
	MOVD	$id, R0; \
	ADD	$field, R20, R1; \
	MOVD	$const_sysClockGettime, R8; \
	SVC

// GETCPU(field) stores the CPU this task runs on in the field (32 bits).
#define GETCPU(field) \
	ADD	$field, R20, R0; \
	MOVD	ZR, R1; \
	MOVD	ZR, R2; \
	MOVD	$const_sysGetcpu, R8; \
	SVC

// PHASE(p) publishes phase p after everything written before it.
#define PHASE(p) \
	BARRIER; \
	MOVD	$p, R0; \
	MOVD	R0, labBlock_phase(R20)

// INC(field) adds one to a lab block field only this task writes.
#define INC(field) \
	MOVD	field(R20), R5; \
	ADD	$1, R5, R5; \
	MOVD	R5, field(R20)

// EXIT0 ends this task only (rule 1), after its last stores.
#define EXIT0 \
	BARRIER; \
	MOVD	ZR, R0; \
	MOVD	$const_sysExit, R8; \
	SVC; \
	BRK

// labMain: R19 = the child block, on the child's own stack.
TEXT ·labMain(SB),NOSPLIT|NOFRAME,$0-0
start:
	ADD	$const_blockSize, R19, R20
	MOVD	labBlock_kernel(R20), R0
	CMP	$const_LabHost, R0
	BEQ	host

	MOVD	$const_sysGettid, R8
	SVC
	MOVD	R0, labBlock_tid(R20)
	MOVD	$const_sysGetpid, R8
	SVC
	MOVD	R0, labBlock_pid(R20)
	GETCPU(labBlock_cpuReady)
	PHASE(const_LabReady)
	WAIT_WORD(labBlock_goWord, waitgo, gone)
	PHASE(const_LabRunning)
	GETCPU(labBlock_cpuStart)
	CLOCK(const_clockMonotonic, labBlock_wallStart)
	CLOCK(const_clockThreadCPU, labBlock_cpuTimeStart)
	MOVD	labBlock_kernel(R20), R0
	CMP	$const_LabRace, R0
	BEQ	race
	CMP	$const_LabSpin, R0
	BEQ	spin
	CMP	$const_LabFutex, R0
	BEQ	futex
	CMP	$const_LabEnd, R0
	BEQ	end

worked:
	CLOCK(const_clockThreadCPU, labBlock_cpuTimeEnd)
	CLOCK(const_clockMonotonic, labBlock_wallEnd)
	GETCPU(labBlock_cpuEnd)
	PHASE(const_LabWorked)
	WAIT_WORD(labBlock_releaseWord, waitrelease, released)
	PHASE(const_LabLeaving)
	EXIT0

race:
	MOVD	labBlock_target(R20), R1
	MOVD	labBlock_iters(R20), R2
	CBZ	R2, raced
	MOVD	labBlock_variant(R20), R3
	CMP	$const_LabLocked, R3
	BEQ	locked
racy:
	// Load, add, store: another CPU's store in between is overwritten.
	MOVD	(R1), R3
	ADD	$1, R3, R3
	MOVD	R3, (R1)
	SUBS	$1, R2, R2
	BNE	racy
	B	raced
locked:
	// Exclusive load and store: another CPU's write in between makes the
	// store fail (R4 != 0), and the add is made again.
	LDAXR	(R1), R3
	ADD	$1, R3, R3
	STLXR	R3, (R1), R4
	CBNZ	R4, locked
	SUBS	$1, R2, R2
	BNE	locked
raced:
	MOVD	labBlock_iters(R20), R0
	MOVD	R0, labBlock_done(R20)
	B	worked

spin:
	MOVD	labBlock_target(R20), R1
	MOVD	labBlock_iters(R20), R2
	MOVD	ZR, R3		// units done
	MOVD	$1, R0
	MOVD	$0x5851f42d4c957f2d, R4
spinunit:
	MOVD	$const_spinUnit, R5
spinstep:
	MUL	R4, R0, R0
	ADD	$1, R0, R0
	SUBS	$1, R5, R5
	BNE	spinstep
	ADD	$1, R3, R3
	CBZ	R2, spincheck
	CMP	R2, R3
	BHS	spun		// done >= iters, unsigned
spincheck:
	CBZ	R1, spinunit
	MOVWU	(R1), R5
	CBZ	R5, spinunit
spun:
	MOVD	R3, labBlock_done(R20)
	MOVD	R0, labBlock_result(R20)
	B	worked

// futex: the lock of labs_amd64.s, with exclusive loads and stores for the
// compare-and-swap, the exchange and the decrement.
futex:
	MOVD	labBlock_target(R20), R10
	MOVD	labBlock_shared(R20), R6
	MOVD	labBlock_iters(R20), R7
	CBZ	R7, futexdone
lock:
	LDAXRW	(R10), R2
	CBNZ	R2, contended
	MOVD	$1, R3
	STLXRW	R3, (R10), R4
	CBNZ	R4, lock
	INC(labBlock_fast)
	B	critical
contended:
	INC(labBlock_slow)
	CMP	$2, R2
	BEQ	sleep
xchg:
	LDAXRW	(R10), R2	// the lock may sleep someone: say so; if it was free, it is ours
	MOVD	$2, R3
	STLXRW	R3, (R10), R4
	CBNZ	R4, xchg
	CBZ	R2, critical
sleep:
	MOVD	R10, R0
	MOVD	$const_futexWaitPrivate, R1
	MOVD	$2, R2		// sleep only while the word still says 2
	MOVD	ZR, R3
	MOVD	$const_sysFutex, R8
	SVC
	INC(labBlock_waits)
	CMN	$const_eagain, R0
	BNE	xchg
	INC(labBlock_again)	// the word had changed: no sleep
	B	xchg
critical:
	MOVD	(R6), R2	// plain load, add, store: safe only under the lock
	ADD	$1, R2, R2
	MOVD	R2, (R6)
dec:
	LDAXRW	(R10), R2
	SUB	$1, R2, R3
	STLXRW	R3, (R10), R4
	CBNZ	R4, dec
	CMP	$1, R2
	BEQ	unlocked
	STLRW	ZR, (R10)	// it was 2: free it and wake one sleeper
	MOVD	R10, R0
	MOVD	$const_futexWakePrivate, R1
	MOVD	$1, R2
	MOVD	$const_sysFutex, R8
	SVC
	INC(labBlock_wakes)
unlocked:
	SUBS	$1, R7, R7
	BNE	lock
futexdone:
	MOVD	labBlock_iters(R20), R0
	MOVD	R0, labBlock_done(R20)
	B	worked

end:
	MOVD	labBlock_variant(R20), R0
	CMP	$const_LabFault, R0
	BEQ	fault
	CMP	$const_LabOverflow, R0
	BEQ	deeper
	CMP	$const_LabExit, R0
	BEQ	exitcode
	CMP	$const_LabExitGroup, R0
	BEQ	exitgroup
	B	worked
fault:
	MOVD	ZR, R0
	MOVD	R0, (R0)	// a store through a null pointer: SIGSEGV
	BRK
deeper:
	SUB	$const_overflowStride, RSP	// a multiple of 16 keeps RSP aligned
	MOVD	ZR, 0(RSP)
	MOVD	RSP, R0
	MOVD	R0, labBlock_lowest(R20)
	B	deeper
exitcode:
	MOVD	labBlock_code(R20), R0
	MOVD	$const_sysExit, R8
	SVC
	BRK
exitgroup:
	MOVD	labBlock_code(R20), R0
	MOVD	$const_sysExitGroup, R8	// every task of this thread group: the host's, never minirun's
	SVC
	BRK

host:
	MOVD	ZR, R0		// this process: no core file, whatever kills it
	MOVD	$const_rlimitCore, R1
	ADD	$labBlock_zero, R20, R2
	MOVD	ZR, R3
	MOVD	$const_sysPrlimit64, R8
	SVC
	MOVD	$const_prSetDumpable, R0	// its address space is its own: not dumpable at all
	MOVD	ZR, R1
	MOVD	ZR, R2
	MOVD	ZR, R3
	MOVD	ZR, R4
	MOVD	$const_sysPrctl, R8
	SVC
	MOVD	$const_sysGettid, R8
	SVC
	MOVD	R0, labBlock_tid(R20)
	MOVD	$const_sysGetpid, R8
	SVC
	MOVD	R0, labBlock_pid(R20)
	MOVD	R19, R21
	MOVD	R20, R22
	MOVD	labBlock_workers(R22), R19
	MOVD	labBlock_nworkers(R22), R23
hostclone:
	CBZ	R23, hostcloned
	ADD	$const_blockSize, R19, R20
	ADD	$labBlock_args, R20, R0
	MOVD	$cloneArgs__size, R1
	MOVD	$const_sysClone3, R8
	SVC
	CBZ	R0, start	// the new worker, on its own stack, R19 its block
	CMN	$const_enosys, R0
	BNE	hostresult
	// No clone3 (rule 10): arm64's clone(flags|exit signal, stack top, ptid, tls, ctid).
	MOVD	(labBlock_args+cloneArgs_flags)(R20), R0
	MOVD	(labBlock_args+cloneArgs_exitSignal)(R20), R1
	ORR	R1, R0, R0
	MOVD	(labBlock_args+cloneArgs_stack)(R20), R1
	MOVD	(labBlock_args+cloneArgs_stackSize)(R20), R2
	ADD	R2, R1, R1
	MOVD	(labBlock_args+cloneArgs_parentTID)(R20), R2
	MOVD	(labBlock_args+cloneArgs_tls)(R20), R3
	MOVD	(labBlock_args+cloneArgs_childTID)(R20), R4
	MOVD	$const_sysClone, R8
	SVC
	CBZ	R0, start
hostresult:
	MOVD	R0, labBlock_child(R20)
	CMN	$const_maxErrno, R0
	BCS	hostfailed	// R0 in [-4095, -1] sets the carry of CMN
	MOVD	labBlock_started(R22), R5
	ADD	$1, R5, R5
	MOVD	R5, labBlock_started(R22)
	ADD	$const_LabStride, R19, R19
	SUB	$1, R23, R23
	B	hostclone
hostfailed:
	NEG	R0, R0
	MOVD	R0, labBlock_errno(R22)
hostcloned:
	MOVD	R21, R19
	MOVD	R22, R20
	PHASE(const_HostCloned)
hostreap:
	MOVD	$-1, R0		// wait4(-1, &scratch, __WALL, NULL) until ECHILD
	ADD	$labBlock_scratch, R20, R1
	MOVD	$const_waitAll, R2
	MOVD	ZR, R3
	MOVD	$const_sysWait4, R8
	SVC
	CMN	$const_maxErrno, R0
	BCS	hostreaped
	MOVD	labBlock_workers(R20), R9
	MOVD	labBlock_started(R20), R10
hostfind:
	CBZ	R10, hostreap
	MOVD	(const_blockSize+labBlock_child)(R9), R11
	CMP	R11, R0
	BEQ	hostfound
	ADD	$const_LabStride, R9, R9
	SUB	$1, R10, R10
	B	hostfind
hostfound:
	MOVWU	labBlock_scratch(R20), R11
	MOVD	R11, (const_blockSize+labBlock_wstatus)(R9)
	BARRIER			// the status before the flag that says it is there
	MOVD	$1, R11
	MOVD	R11, (const_blockSize+labBlock_reaped)(R9)
	B	hostreap
hostreaped:
	PHASE(const_HostReaped)
	WAIT_WORD(labBlock_releaseWord, hostwait, hostgo)
	EXIT0
