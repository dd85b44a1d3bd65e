// The clone trampoline for arm64: the only code a cloned child runs before it
// execs or exits. It is trampoline_amd64.s said again for arm64, label for
// label, with the same block layout (child.go), step layout (program.go),
// worker fields (worker.go) and the same three operations. It is assembly
// because the child has no Go runtime: no g, no m, no stack that can grow, no
// signal handling (docs/design.md, "Why the child never runs Go"). The models are
// the runtime's clone (runtime/sys_linux_arm64.s) and
// syscall.forkAndExecInChild1; like them it passes everything to the child
// in registers and never touches the parent's frame in the child.
//
// A syscall on arm64 takes its number in R8 and its arguments in R0..R5, and
// returns in R0; the kernel keeps every other register. So the child keeps
// its state in R19..R23, which no step disturbs:
//
//	R19  the child block (childBlock in child.go)
//	R20  the current step (step in program.go)
//	R21  the results array
//	R22  the current step's index
//	R23  the resolved arguments of the current step: 48 bytes at the
//	     bottom of a 64-byte area carved off the child's stack
//	RSP  the child's own stack, from Stacks, 16-byte aligned as arm64
//	     requires of any access through SP
//	R9   a traced program's flight record, loaded afresh where it is used
//
// R26 (closure context), R27 (the assembler's temporary), R28 (g), R29 (frame
// pointer) and R30 (link register) are left alone, except that R28 is zeroed.
//
// Unlike amd64, arm64 may let other observers see stores in another order
// than they were made. Wherever the parent decides what to read from a word
// the child writes (status, phase), the child puts a DMB ISH before that
// word, so everything written before it is visible first; and a DMB ISH
// before exit, so the report is visible before the kernel clears the TID
// word the parent waits on.
//
// Offsets and numbers come from go_asm.h, as in trampoline_amd64.s:
// childBlock_status, step_kinds, const_OpStore, const_sysExit (this
// architecture's, from golang.org/x/sys/unix).

#include "textflag.h"
#include "go_asm.h"

// BLOCK_SIGNALS sets the calling thread's mask to masks[0] (all signals)
// and saves the old one in masks[1], R20 pointing at masks; RESTORE_SIGNALS
// puts the old one back, keeping R0 (in R21). Between them this thread
// takes no signal, so the child starts with every signal blocked
// (docs/design.md, rule 5), and no Go code runs there, so no LockOSThread is
// needed.
#define BLOCK_SIGNALS \
	MOVD	$const_sigSetmask, R0; \
	MOVD	R20, R1; \
	ADD	$const_sigsetSize, R20, R2; \
	MOVD	$const_sigsetSize, R3; \
	MOVD	$const_sysRtSigprocmask, R8; \
	SVC

#define RESTORE_SIGNALS \
	MOVD	R0, R21; \
	MOVD	$const_sigSetmask, R0; \
	ADD	$const_sigsetSize, R20, R1; \
	MOVD	ZR, R2; \
	MOVD	$const_sigsetSize, R3; \
	MOVD	$const_sysRtSigprocmask, R8; \
	SVC; \
	MOVD	R21, R0

// DMB ISH: order memory accesses within the inner shareable domain, which
// holds every CPU that can run the parent.
#define BARRIER	DMB	$0xb

// TRACE_AT points R9, the flight record (trace.go), at step R22's entry,
// trace[R22+1]. STAMP writes {the virtual counter, R0} there: CNTVCT_EL0,
// no system call, which the parent turns into CLOCK_MONOTONIC. (Without an
// ISB the read may be taken a few instructions early: nothing at this
// scale.) STAMP keeps R0 and spoils R10 and R11.
#define TRACE_AT \
	ADD	$1, R22, R10; \
	MOVD	$traceRecord__size, R11; \
	MUL	R11, R10, R10; \
	ADD	R10, R9, R9

#define STAMP \
	MOVD	R0, traceRecord_result(R9); \
	MRS	CNTVCT_EL0, R10; \
	MOVD	R10, traceRecord_ticks(R9)

// RETURN_CLONE returns a clone's result, R0, to the parent's Go caller in
// the results pid and errno (their frame names and offsets): the child's
// TID and 0, or -1 and the errno. R0 in [-4095, -1] sets the carry of CMN.
#define RETURN_CLONE(pid, errno) \
	CMN	$const_maxErrno, R0; \
	BCC	ok; \
	MOVD	$-1, R1; \
	MOVD	R1, pid(FP); \
	NEG	R0, R0; \
	MOVD	R0, errno(FP); \
	RET; \
ok: \
	MOVD	R0, pid(FP); \
	MOVD	ZR, errno(FP); \
	RET

// func rawClone3(args unsafe.Pointer, size uintptr, block uintptr, masks *[2]uint64) (pid uintptr, errno uintptr)
TEXT ·rawClone3(SB),NOSPLIT,$0-48
	MOVD	masks+24(FP), R20
	BLOCK_SIGNALS
	MOVD	args+0(FP), R0
	MOVD	size+8(FP), R1
	MOVD	block+16(FP), R19	// kept by the kernel for the child; Go has no callee-saved registers to spoil
	MOVD	$const_sysClone3, R8
	SVC
	CBZ	R0, child
	RESTORE_SIGNALS
	RETURN_CLONE(pid+32, errno+40)
child:
	B	childMain<>(SB)

// func rawClone(flags, stack, ptid, ctid, tls, block uintptr) (pid uintptr, errno uintptr)
// The legacy entry. The Go side passes amd64's order (flags, stack, ptid,
// ctid, tls); arm64's clone(2) takes (flags, stack, ptid, tls, ctid), so
// ctid and tls swap registers here.
TEXT ·rawClone(SB),NOSPLIT,$0-72
	MOVD	masks+48(FP), R20
	BLOCK_SIGNALS
	MOVD	flags+0(FP), R0
	MOVD	stack+8(FP), R1
	MOVD	ptid+16(FP), R2
	MOVD	tls+32(FP), R3
	MOVD	ctid+24(FP), R4
	MOVD	block+40(FP), R19
	MOVD	$const_sysClone, R8
	SVC
	CBZ	R0, child
	RESTORE_SIGNALS
	RETURN_CLONE(pid+56, errno+64)
child:
	B	childMain<>(SB)

// func Ticks() uint64
TEXT ·Ticks(SB),NOSPLIT,$0-8
	MRS	CNTVCT_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// childMain runs in the child on its own stack with R19 = the child block.
TEXT childMain<>(SB),NOSPLIT|NOFRAME,$0
	MOVD	ZR, g		// Go's g register (R28): this task has none
	SUB	$const_argsRoom, RSP	// room for the resolved arguments; keeps RSP 16-aligned
	MOVD	RSP, R23
	MOVD	childBlock_mode(R19), R0
	CMP	$const_modeWork, R0
	BEQ	work
	CMP	$const_modeOverflow, R0
	BEQ	overflow
	CMP	$const_modeLab, R0
	BEQ	lab

	// The program interpreter.
	MOVD	ZR, R22
	MOVD	childBlock_steps(R19), R20
	MOVD	childBlock_results(R19), R21
	MOVD	childBlock_trace(R19), R9	// a flight record: when the child started
	CBZ	R9, next
	MOVD	ZR, R0
	STAMP
next:
	MOVD	childBlock_nsteps(R19), R0
	CMP	R0, R22
	BHS	done		// index >= nsteps, unsigned
	// Resolve the six arguments into 0..40(R23).
	MOVD	ZR, R3		// argument index
	MOVD	step_kinds(R20), R2	// 2 bits an argument
	ADD	$step_args, R20, R4	// &args[0]
arg:
	MOVD	(R4)(R3<<3), R0
	AND	$const_kindMask, R2, R1
	CMP	$const_argSlot, R1
	BNE	notslot
	MOVD	(R21)(R0<<3), R0	// a saved result
	B	store
notslot:
	CMP	$const_argInt32, R1
	BNE	store
	MOVW	(R0), R0	// an int32 in memory, sign-extended (LDRSW)
store:
	MOVD	R0, (R23)(R3<<3)
	LSR	$const_kindBits, R2, R2
	ADD	$1, R3, R3
	CMP	$const_stepArgs, R3
	BLT	arg

	MOVD	step_nr(R20), R8	// syscall number or operation
	CMP	$const_firstOperation, R8
	BHS	operation
	MOVD	0(R23), R0
	MOVD	8(R23), R1
	MOVD	16(R23), R2
	MOVD	24(R23), R3
	MOVD	32(R23), R4
	MOVD	40(R23), R5
	SVC
	// A step that forks (clone without CLONE_VM) continues here in both
	// tasks, the new one with R0 = 0 and a copy of this stack.
	CMN	$const_maxErrno, R0
	BCC	success
	NEG	R0, R1		// errno
	CMP	$const_tolerableErrnos, R1
	BHS	fail
	LSR	$6, R1, R2
	ADD	$step_tolerate, R20, R4	// &tolerate[0]
	MOVD	(R4)(R2<<3), R4	// tolerate[errno/64]
	LSR	R1, R4, R4	// by errno%64 (the shift count is taken mod 64)
	TBZ	$0, R4, fail
	B	save		// tolerated: the saved result is -errno
success:
	MOVD	step_flags(R20), R1
	TBZ	$0, R1, save	// no expected result (flagExpect is bit 0)
	MOVD	step_expect(R20), R1
	CMP	R1, R0
	BEQ	save
	MOVD	ZR, R1		// errno 0: an unexpected result
	B	fail
save:
	// Tracing costs an untraced loop this load and a branch that always
	// goes the same way.
	MOVD	childBlock_trace(R19), R9
	CBNZ	R9, stamp
saved:
	MOVD	step_save(R20), R2
	CMP	$0, R2
	BLT	advance
	MOVD	R0, (R21)(R2<<3)
advance:
	ADD	$1, R22, R22
	ADD	$step__size, R20, R20
	B	next

stamp:
	TRACE_AT
	STAMP
	B	saved

operation:
	CMP	$const_OpStore, R8
	BNE	notstore
	MOVD	0(R23), R1
	MOVD	8(R23), R2
	MOVD	R2, (R1)
	MOVD	ZR, R0
	B	save
notstore:
	MOVD	$const_OpExitIf, R1
	CMP	R1, R8
	BNE	notexitif
	MOVD	0(R23), R0
	CBZ	R0, save	// the saved result is 0
	MOVD	8(R23), R0
	MOVD	$const_sysExit, R8
	SVC
	BRK
notexitif:
	MOVD	$const_OpSkipUnless, R1
	CMP	R1, R8
	BNE	notskip
	MOVD	ZR, R0		// the result: how many steps it skipped
	MOVD	0(R23), R1
	MOVD	8(R23), R2
	CMP	R2, R1
	BEQ	save		// equal: on to the next step
	MOVD	16(R23), R0
	MOVD	childBlock_trace(R19), R9
	CBZ	R9, skip
	TRACE_AT
	STAMP
skip:
	ADD	R0, R22, R22	// past the skipped steps; advance passes this one
	MOVD	$step__size, R1
	MUL	R1, R0, R1
	ADD	R1, R20, R20
	B	advance
notskip:
	MOVD	0(R23), R1	// OpFail, or an operation this trampoline does not know
	MOVD	ZR, R0
	// fall through

// fail: step R22 failed with errno R1 and raw result R0.
fail:
	MOVD	R22, childBlock_step(R19)
	MOVD	R1, childBlock_errno(R19)
	MOVD	R0, childBlock_value(R19)
	MOVD	childBlock_trace(R19), R9
	CBZ	R9, report
	TRACE_AT
	STAMP
report:
	BARRIER			// step, errno, value (and the flight record) before status
	MOVD	$const_statusFailed, R0
	MOVD	R0, childBlock_status(R19)	// stored last
	BARRIER			// the report before the kernel clears the TID word
	MOVD	$const_failedExitStatus, R0
	MOVD	$const_sysExit, R8	// exit, not exit_group: this task may be a thread of minirun
	SVC
	BRK

done:
	BARRIER			// every OpStore before status
	MOVD	$const_statusDone, R0
	MOVD	R0, childBlock_status(R19)
	BARRIER
	MOVD	ZR, R0
	MOVD	$const_sysExit, R8
	SVC
	BRK

// The worker kernel, on the worker fields of the block (childBlock; the
// offsets worker.go exports).
work:
	MRS	TPIDR_EL0, R1	// the thread pointer CLONE_SETTLS gave this task
	MOVD	8(R1), R0	// the worker's own value, read through its TLS register
	MOVD	R0, childBlock_tlsValue(R19)
	MOVD	0(R1), R0	// the TCB's self pointer
	MOVD	R0, childBlock_tlsSelf(R19)
	MOVD	RSP, R0
	MOVD	R0, childBlock_sp(R19)
	MOVD	$const_sysGettid, R8
	SVC
	MOVD	R0, childBlock_wtid(R19)
	MOVD	$const_sysGetpid, R8
	SVC
	MOVD	R0, childBlock_wpid(R19)
	BARRIER			// identity before the first phase
	MOVD	$const_PhaseStarted, R0
	MOVD	R0, childBlock_phase(R19)
	MOVD	childBlock_counter(R19), R1
	MOVD	childBlock_iters(R19), R2
	CBZ	R2, sum
increment:
	// An atomic increment that every ARMv8.0 core has: load-acquire
	// exclusive, add, store-release exclusive; another CPU's write in
	// between makes the store fail (R4 != 0) and the add is retried.
	LDAXR	(R1), R3
	ADD	$1, R3, R3
	STLXR	R3, (R1), R4
	CBNZ	R4, increment
	SUBS	$1, R2, R2
	BNE	increment
sum:
	MOVD	childBlock_array(R19), R1
	MOVD	childBlock_lo(R19), R2
	MOVD	childBlock_hi(R19), R3
	MOVD	ZR, R0
sumloop:
	CMP	R3, R2
	BHS	summed		// lo >= hi, unsigned
	MOVD	(R1)(R2<<3), R4
	ADD	R4, R0, R0
	ADD	$1, R2, R2
	B	sumloop
summed:
	MOVD	R0, childBlock_sum(R19)
	BARRIER			// sum before the phase says it is there
	MOVD	$const_PhaseWorked, R0
	MOVD	R0, childBlock_phase(R19)
	// Hold until the parent sets the hold word, so that it can see the
	// workers alive in /proc. FUTEX_WAIT (shared: the parent's wake is
	// keyed on the page, whoever maps it).
	MOVD	childBlock_hold(R19), R9
	CBZ	R9, workdone
hold:
	LDARW	(R9), R1	// load-acquire: what the parent wrote before releasing is seen after
	CBNZ	R1, workdone
	MOVD	R9, R0
	MOVD	ZR, R1		// FUTEX_WAIT
	MOVD	ZR, R2		// while the word is 0
	MOVD	ZR, R3		// no timeout
	MOVD	$const_sysFutex, R8
	SVC
	B	hold
workdone:
	BARRIER
	MOVD	$const_PhaseLeaving, R0
	MOVD	R0, childBlock_phase(R19)
	BARRIER			// the last phase before the kernel clears the TID word
	MOVD	ZR, R0
	MOVD	$const_sysExit, R8
	SVC
	BRK

// The overflow kernel: no core dump (its address space may be minirun's),
// then walk down the stack 256 bytes at a time, recording each depth reached,
// until the guard page stops it with SIGSEGV. lowest holds the lowest
// address written; coreLimit is the zero rlimit.
overflow:
	MOVD	ZR, R0		// this process
	MOVD	$const_rlimitCore, R1
	ADD	$childBlock_coreLimit, R19, R2	// {0, 0}
	MOVD	ZR, R3
	MOVD	$const_sysPrlimit64, R8
	SVC
	BARRIER
	MOVD	$const_PhaseStarted, R0
	MOVD	R0, childBlock_phase(R19)
deeper:
	SUB	$const_overflowStride, RSP	// a multiple of 16 keeps RSP aligned
	MOVD	ZR, 0(RSP)
	MOVD	RSP, R0
	MOVD	R0, childBlock_lowest(R19)
	B	deeper

// A lab kernel (labs_arm64.s) takes the child from here.
lab:
	B	·labMain(SB)
