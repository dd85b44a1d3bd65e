// The clone trampoline for amd64: the only code a cloned child runs before it
// execs or exits. It is assembly because the child has no Go runtime: no g,
// no m, no stack that can grow, no signal handling (docs/design.md, "Why the child
// never runs Go"). The models are the runtime's clone (runtime/sys_linux_amd64.s)
// and syscall.forkAndExecInChild1; like them it passes everything to the
// child in registers and never touches the parent's frame in the child.
//
// Registers in the child (the kernel keeps all but AX, CX and R11 across a
// syscall, so these survive every step):
//
//	R12  the child block (childBlock in child.go)
//	R13  the current step (step in program.go)
//	R15  the results array
//	BX   the current step's index
//	SP   the child's own stack, from Stacks; 48 bytes below it hold the
//	     resolved arguments of the current step
//	R9   a traced program's flight record, loaded afresh where it is used
//
// Offsets and numbers come from go_asm.h, which the Go toolchain writes
// from the package's own declarations: childBlock_status is the offset of
// childBlock.status, step_kinds of step.kinds, const_OpStore the constant,
// const_sysExit this architecture's SYS_EXIT from golang.org/x/sys/unix. A
// layout changed in Go is a layout changed here.

#include "textflag.h"
#include "go_asm.h"

// BLOCK_SIGNALS sets the calling thread's mask to masks[0] (all signals)
// and saves the old one in masks[1], R13 pointing at masks; RESTORE_SIGNALS
// puts the old one back. Between them this thread takes no signal, so the
// child starts with every signal blocked (docs/design.md, rule 5), and no Go code
// runs there, so no LockOSThread is needed. Both keep AX in BX.
#define BLOCK_SIGNALS \
	MOVL	$const_sigSetmask, DI; \
	MOVQ	R13, SI; \
	LEAQ	const_sigsetSize(R13), DX; \
	MOVL	$const_sigsetSize, R10; \
	MOVL	$const_sysRtSigprocmask, AX; \
	SYSCALL

#define RESTORE_SIGNALS \
	MOVQ	AX, BX; \
	MOVL	$const_sigSetmask, DI; \
	LEAQ	const_sigsetSize(R13), SI; \
	XORL	DX, DX; \
	MOVL	$const_sigsetSize, R10; \
	MOVL	$const_sysRtSigprocmask, AX; \
	SYSCALL; \
	MOVQ	BX, AX

// TRACE_AT points R9, the flight record (trace.go), at step BX's entry,
// trace[BX+1]. STAMP writes {the time-stamp counter, AX} there: RDTSC,
// no system call, which the parent turns into CLOCK_MONOTONIC. STAMP
// keeps AX and spoils DX.
#define TRACE_AT \
	LEAQ	traceRecord__size(R9), R9; \
	MOVQ	BX, DX; \
	IMULQ	$traceRecord__size, DX; \
	ADDQ	DX, R9

#define STAMP \
	MOVQ	AX, traceRecord_result(R9); \
	RDTSC; \
	SHLQ	$32, DX; \
	ORQ	DX, AX; \
	MOVQ	AX, traceRecord_ticks(R9); \
	MOVQ	traceRecord_result(R9), AX

// RETURN_CLONE returns a clone's result, AX, to the parent's Go caller in
// the results pid and errno (their frame names and offsets): the child's
// TID and 0, or -1 and the errno.
#define RETURN_CLONE(pid, errno) \
	CMPQ	AX, $-const_maxErrno; \
	JLS	ok; \
	MOVQ	$-1, pid(FP); \
	NEGQ	AX; \
	MOVQ	AX, errno(FP); \
	RET; \
ok: \
	MOVQ	AX, pid(FP); \
	MOVQ	$0, errno(FP); \
	RET

// func rawClone3(args unsafe.Pointer, size uintptr, block uintptr, masks *[2]uint64) (pid uintptr, errno uintptr)
TEXT ·rawClone3(SB),NOSPLIT,$0-48
	MOVQ	masks+24(FP), R13
	BLOCK_SIGNALS
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	block+16(FP), R12
	MOVL	$const_sysClone3, AX
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	RESTORE_SIGNALS
	RETURN_CLONE(pid+32, errno+40)
child:
	JMP	childMain<>(SB)

// func rawClone(flags, stack, ptid, ctid, tls, block uintptr, masks *[2]uint64) (pid uintptr, errno uintptr)
// The legacy entry: x86-64's clone(2) takes (flags, stack, ptid, ctid, tls).
TEXT ·rawClone(SB),NOSPLIT,$0-72
	MOVQ	masks+48(FP), R13
	BLOCK_SIGNALS
	MOVQ	flags+0(FP), DI
	MOVQ	stack+8(FP), SI
	MOVQ	ptid+16(FP), DX
	MOVQ	ctid+24(FP), R10
	MOVQ	tls+32(FP), R8
	MOVQ	block+40(FP), R12
	MOVL	$const_sysClone, AX
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	RESTORE_SIGNALS
	RETURN_CLONE(pid+56, errno+64)
child:
	JMP	childMain<>(SB)

// func Ticks() uint64
TEXT ·Ticks(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// childMain runs in the child on its own stack with R12 = the child block.
TEXT childMain<>(SB),NOSPLIT|NOFRAME,$0
	XORQ	R14, R14	// Go's g register: this task has none
	SUBQ	$const_argsRoom, SP	// room for the resolved arguments
	MOVQ	childBlock_mode(R12), AX
	CMPQ	AX, $const_modeWork
	JEQ	work
	CMPQ	AX, $const_modeOverflow
	JEQ	overflow
	CMPQ	AX, $const_modeLab
	JEQ	lab

	// The program interpreter.
	XORQ	BX, BX
	MOVQ	childBlock_steps(R12), R13
	MOVQ	childBlock_results(R12), R15
	MOVQ	childBlock_trace(R12), R9	// a flight record: when the child started
	TESTQ	R9, R9
	JEQ	next
	XORQ	AX, AX
	STAMP
next:
	CMPQ	BX, childBlock_nsteps(R12)
	JAE	done
	// Resolve the six arguments into 0..40(SP).
	XORQ	CX, CX
	MOVQ	step_kinds(R13), DX	// 2 bits an argument
arg:
	MOVQ	step_args(R13)(CX*8), AX
	MOVQ	DX, SI
	ANDQ	$const_kindMask, SI
	CMPQ	SI, $const_argSlot
	JNE	notslot
	MOVQ	(R15)(AX*8), AX	// a saved result
	JMP	store
notslot:
	CMPQ	SI, $const_argInt32
	JNE	store
	MOVLQSX	(AX), AX	// an int32 in memory
store:
	MOVQ	AX, 0(SP)(CX*8)
	SHRQ	$const_kindBits, DX
	INCQ	CX
	CMPQ	CX, $const_stepArgs
	JLT	arg

	MOVQ	step_nr(R13), AX	// syscall number or operation
	CMPQ	AX, $const_firstOperation
	JAE	operation
	MOVQ	0(SP), DI
	MOVQ	8(SP), SI
	MOVQ	16(SP), DX
	MOVQ	24(SP), R10
	MOVQ	32(SP), R8
	MOVQ	40(SP), R9
	SYSCALL
	// A step that forks (clone without CLONE_VM) continues here in both
	// tasks, the new one with AX = 0 and a copy of this stack.
	CMPQ	AX, $-const_maxErrno
	JLS	success
	MOVQ	AX, CX
	NEGQ	CX		// errno
	CMPQ	CX, $const_tolerableErrnos
	JAE	fail
	MOVQ	CX, DX
	SHRQ	$6, DX
	MOVQ	step_tolerate(R13)(DX*8), SI	// tolerate[errno/64]
	SHRQ	CX, SI		// by errno%64 (the shift count is CL mod 64)
	ANDQ	$1, SI
	JEQ	fail
	JMP	save		// tolerated: the saved result is -errno
success:
	TESTQ	$const_flagExpect, step_flags(R13)
	JEQ	save
	CMPQ	AX, step_expect(R13)
	JEQ	save
	XORQ	CX, CX		// errno 0: an unexpected result
	JMP	fail
save:
	// Tracing costs an untraced loop this load and a branch that always
	// goes the same way.
	MOVQ	childBlock_trace(R12), R9
	TESTQ	R9, R9
	JNE	stamp
saved:
	MOVQ	step_save(R13), DX
	CMPQ	DX, $0
	JLT	advance
	MOVQ	AX, (R15)(DX*8)
advance:
	INCQ	BX
	ADDQ	$step__size, R13
	JMP	next

stamp:
	TRACE_AT
	STAMP
	JMP	saved

operation:
	CMPQ	AX, $const_OpStore
	JNE	notstore
	MOVQ	0(SP), DI
	MOVQ	8(SP), SI
	MOVQ	SI, (DI)
	XORQ	AX, AX
	JMP	save
notstore:
	CMPQ	AX, $const_OpExitIf
	JNE	notexitif
	MOVQ	0(SP), AX
	TESTQ	AX, AX
	JEQ	save
	MOVQ	8(SP), DI
	MOVL	$const_sysExit, AX
	SYSCALL
	INT	$3
notexitif:
	CMPQ	AX, $const_OpSkipUnless
	JNE	notskip
	XORQ	AX, AX		// the result: how many steps it skipped
	MOVQ	0(SP), CX
	CMPQ	CX, 8(SP)
	JEQ	save		// equal: on to the next step
	MOVQ	16(SP), AX
	MOVQ	childBlock_trace(R12), R9
	TESTQ	R9, R9
	JEQ	skip
	TRACE_AT
	STAMP
skip:
	ADDQ	AX, BX		// past the skipped steps; advance passes this one
	IMULQ	$step__size, AX
	ADDQ	AX, R13
	JMP	advance
notskip:
	MOVQ	0(SP), CX	// OpFail, or an operation this trampoline does not know
	XORQ	AX, AX
	// fall through

// fail: step BX failed with errno CX and raw result AX.
fail:
	MOVQ	BX, childBlock_step(R12)
	MOVQ	CX, childBlock_errno(R12)
	MOVQ	AX, childBlock_value(R12)
	MOVQ	childBlock_trace(R12), R9
	TESTQ	R9, R9
	JEQ	report
	TRACE_AT
	STAMP
report:
	MOVQ	$const_statusFailed, childBlock_status(R12)	// stored last
	MOVQ	$const_failedExitStatus, DI
	MOVL	$const_sysExit, AX	// exit, not exit_group: this task may be a thread of minirun
	SYSCALL
	INT	$3

done:
	MOVQ	$const_statusDone, childBlock_status(R12)
	XORQ	DI, DI
	MOVL	$const_sysExit, AX
	SYSCALL
	INT	$3

// The worker kernel, on the worker fields of the block (childBlock; the
// offsets worker.go exports).
work:
	MOVQ	0x8(FS), AX	// the worker's own value, read through its TLS register
	MOVQ	AX, childBlock_tlsValue(R12)
	MOVQ	0(FS), AX	// the TCB's self pointer
	MOVQ	AX, childBlock_tlsSelf(R12)
	MOVQ	SP, childBlock_sp(R12)
	MOVL	$const_sysGettid, AX
	SYSCALL
	MOVQ	AX, childBlock_wtid(R12)
	MOVL	$const_sysGetpid, AX
	SYSCALL
	MOVQ	AX, childBlock_wpid(R12)
	MOVQ	$const_PhaseStarted, childBlock_phase(R12)
	MOVQ	childBlock_counter(R12), DI
	MOVQ	childBlock_iters(R12), CX
	TESTQ	CX, CX
	JEQ	sum
increment:
	LOCK
	INCQ	(DI)
	DECQ	CX
	JNE	increment
sum:
	MOVQ	childBlock_array(R12), SI
	MOVQ	childBlock_lo(R12), CX
	MOVQ	childBlock_hi(R12), DX
	XORQ	AX, AX
sumloop:
	CMPQ	CX, DX
	JAE	summed
	ADDQ	(SI)(CX*8), AX
	INCQ	CX
	JMP	sumloop
summed:
	MOVQ	AX, childBlock_sum(R12)
	MOVQ	$const_PhaseWorked, childBlock_phase(R12)
	// Hold until the parent sets the hold word, so that it can see the
	// workers alive in /proc. FUTEX_WAIT (shared: the parent's wake is
	// keyed on the page, whoever maps it).
	MOVQ	childBlock_hold(R12), DI
	TESTQ	DI, DI
	JEQ	workdone
hold:
	MOVL	(DI), AX
	TESTL	AX, AX
	JNE	workdone
	XORQ	SI, SI		// FUTEX_WAIT
	XORQ	DX, DX		// while the word is 0
	XORQ	R10, R10	// no timeout
	MOVL	$const_sysFutex, AX
	SYSCALL
	JMP	hold
workdone:
	MOVQ	$const_PhaseLeaving, childBlock_phase(R12)
	XORQ	DI, DI
	MOVL	$const_sysExit, AX
	SYSCALL
	INT	$3

// The overflow kernel: no core dump (its address space may be minirun's),
// then walk down the stack 256 bytes at a time, recording each depth reached,
// until the guard page stops it with SIGSEGV. lowest holds the lowest
// address written; coreLimit is the zero rlimit.
overflow:
	XORQ	DI, DI		// this process
	MOVQ	$const_rlimitCore, SI
	LEAQ	childBlock_coreLimit(R12), DX	// {0, 0}
	XORQ	R10, R10
	MOVL	$const_sysPrlimit64, AX
	SYSCALL
	MOVQ	$const_PhaseStarted, childBlock_phase(R12)
deeper:
	SUBQ	$const_overflowStride, SP
	MOVQ	$0, 0(SP)
	MOVQ	SP, childBlock_lowest(R12)
	JMP	deeper

// A lab kernel (labs_amd64.s) takes the child from here.
lab:
	JMP	·labMain(SB)
