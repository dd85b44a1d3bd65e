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
//	R12  the child block (child.go gives its layout)
//	R13  the current step
//	R15  the results array
//	BX   the current step's index
//	SP   the child's own stack, from Stacks; 48 bytes below it hold the
//	     resolved arguments of the current step

#include "textflag.h"

#define SYS_exit	60
#define SYS_gettid	186
#define SYS_getpid	39
#define SYS_futex	202
#define SYS_prlimit64	302
#define SYS_clone	56
#define SYS_clone3	435
#define SYS_rt_sigprocmask	14

// BLOCK_SIGNALS sets the calling thread's mask to masks[0] (all signals)
// and saves the old one in masks[1], R13 pointing at masks; RESTORE_SIGNALS
// puts the old one back. Between them this thread takes no signal, so the
// child starts with every signal blocked (docs/design.md, rule 5), and no Go code
// runs there, so no LockOSThread is needed. Both keep AX in BX.
#define BLOCK_SIGNALS \
	MOVL	$2, DI; \
	MOVQ	R13, SI; \
	LEAQ	8(R13), DX; \
	MOVL	$8, R10; \
	MOVL	$SYS_rt_sigprocmask, AX; \
	SYSCALL

#define RESTORE_SIGNALS \
	MOVQ	AX, BX; \
	MOVL	$2, DI; \
	LEAQ	8(R13), SI; \
	XORL	DX, DX; \
	MOVL	$8, R10; \
	MOVL	$SYS_rt_sigprocmask, AX; \
	SYSCALL; \
	MOVQ	BX, AX

// func rawClone3(args unsafe.Pointer, size uintptr, block uintptr, masks *[2]uint64) (pid uintptr, errno uintptr)
TEXT ·rawClone3(SB),NOSPLIT,$0-48
	MOVQ	masks+24(FP), R13
	BLOCK_SIGNALS
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	block+16(FP), R12
	MOVL	$SYS_clone3, AX
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	RESTORE_SIGNALS
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok3
	MOVQ	$-1, pid+32(FP)
	NEGQ	AX
	MOVQ	AX, errno+40(FP)
	RET
ok3:
	MOVQ	AX, pid+32(FP)
	MOVQ	$0, errno+40(FP)
	RET
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
	MOVL	$SYS_clone, AX
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	RESTORE_SIGNALS
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, pid+56(FP)
	NEGQ	AX
	MOVQ	AX, errno+64(FP)
	RET
ok:
	MOVQ	AX, pid+56(FP)
	MOVQ	$0, errno+64(FP)
	RET
child:
	JMP	childMain<>(SB)

// childMain runs in the child on its own stack with R12 = the child block.
TEXT childMain<>(SB),NOSPLIT|NOFRAME,$0
	XORQ	R14, R14	// Go's g register: this task has none
	SUBQ	$64, SP		// room for the resolved arguments
	MOVQ	0(R12), AX	// mode
	CMPQ	AX, $1
	JEQ	work
	CMPQ	AX, $2
	JEQ	overflow

	// The program interpreter.
	XORQ	BX, BX
	MOVQ	48(R12), R13
	MOVQ	64(R12), R15
next:
	CMPQ	BX, 56(R12)
	JAE	done
	// Resolve the six arguments into 0..40(SP).
	XORQ	CX, CX
	MOVQ	56(R13), DX	// kinds, 2 bits an argument
arg:
	MOVQ	8(R13)(CX*8), AX
	MOVQ	DX, SI
	ANDQ	$3, SI
	CMPQ	SI, $1
	JNE	notslot
	MOVQ	(R15)(AX*8), AX	// a saved result
	JMP	store
notslot:
	CMPQ	SI, $2
	JNE	store
	MOVLQSX	(AX), AX	// an int32 in memory
store:
	MOVQ	AX, 0(SP)(CX*8)
	SHRQ	$2, DX
	INCQ	CX
	CMPQ	CX, $6
	JLT	arg

	MOVQ	0(R13), AX	// syscall number or operation
	CMPQ	AX, $0x100000
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
	CMPQ	AX, $0xfffffffffffff001
	JLS	success
	MOVQ	AX, CX
	NEGQ	CX		// errno
	CMPQ	CX, $192
	JAE	fail
	MOVQ	CX, DX
	SHRQ	$6, DX
	MOVQ	64(R13)(DX*8), SI	// tolerate[errno/64]
	SHRQ	CX, SI		// by errno%64 (the shift count is CL mod 64)
	ANDQ	$1, SI
	JEQ	fail
	JMP	save		// tolerated: the saved result is -errno
success:
	TESTQ	$1, 96(R13)
	JEQ	save
	CMPQ	AX, 104(R13)
	JEQ	save
	XORQ	CX, CX		// errno 0: an unexpected result
	JMP	fail
save:
	MOVQ	88(R13), DX
	CMPQ	DX, $0
	JLT	advance
	MOVQ	AX, (R15)(DX*8)
advance:
	INCQ	BX
	ADDQ	$128, R13
	JMP	next

operation:
	CMPQ	AX, $0x100000	// OpStore
	JNE	notstore
	MOVQ	0(SP), DI
	MOVQ	8(SP), SI
	MOVQ	SI, (DI)
	XORQ	AX, AX
	JMP	save
notstore:
	CMPQ	AX, $0x100001	// OpExitIf
	JNE	notexitif
	MOVQ	0(SP), AX
	TESTQ	AX, AX
	JEQ	save
	MOVQ	8(SP), DI
	MOVL	$SYS_exit, AX
	SYSCALL
	INT	$3
notexitif:
	MOVQ	0(SP), CX	// OpFail, or an operation this trampoline does not know
	XORQ	AX, AX
	// fall through

// fail: step BX failed with errno CX and raw result AX.
fail:
	MOVQ	BX, 16(R12)
	MOVQ	CX, 24(R12)
	MOVQ	AX, 32(R12)
	MOVQ	$2, 8(R12)	// statusFailed, stored last
	MOVQ	$127, DI
	MOVL	$SYS_exit, AX	// exit, not exit_group: this task may be a thread of minirun
	SYSCALL
	INT	$3

done:
	MOVQ	$1, 8(R12)	// statusDone
	XORQ	DI, DI
	MOVL	$SYS_exit, AX
	SYSCALL
	INT	$3

// The worker kernel. Worker fields of the block (worker.go names them):
// 80 counter address, 88 iterations, 96 array address, 104 lo, 112 hi,
// 120 hold word address; results: 128 tid, 136 pid, 144 TLS value,
// 152 TLS self, 160 sp, 168 sum, 184 phase.
work:
	MOVQ	0x8(FS), AX	// the worker's own value, read through its TLS register
	MOVQ	AX, 144(R12)
	MOVQ	0(FS), AX	// the TCB's self pointer
	MOVQ	AX, 152(R12)
	MOVQ	SP, 160(R12)
	MOVL	$SYS_gettid, AX
	SYSCALL
	MOVQ	AX, 128(R12)
	MOVL	$SYS_getpid, AX
	SYSCALL
	MOVQ	AX, 136(R12)
	MOVQ	$1, 184(R12)
	MOVQ	80(R12), DI
	MOVQ	88(R12), CX
	TESTQ	CX, CX
	JEQ	sum
increment:
	LOCK
	INCQ	(DI)
	DECQ	CX
	JNE	increment
sum:
	MOVQ	96(R12), SI
	MOVQ	104(R12), CX
	MOVQ	112(R12), DX
	XORQ	AX, AX
sumloop:
	CMPQ	CX, DX
	JAE	summed
	ADDQ	(SI)(CX*8), AX
	INCQ	CX
	JMP	sumloop
summed:
	MOVQ	AX, 168(R12)
	MOVQ	$2, 184(R12)
	// Hold until the parent sets the hold word, so that it can see the
	// workers alive in /proc. FUTEX_WAIT (shared: the parent's wake is
	// keyed on the page, whoever maps it).
	MOVQ	120(R12), DI
	TESTQ	DI, DI
	JEQ	workdone
hold:
	MOVL	(DI), AX
	TESTL	AX, AX
	JNE	workdone
	XORQ	SI, SI		// FUTEX_WAIT
	XORQ	DX, DX		// while the word is 0
	XORQ	R10, R10	// no timeout
	MOVL	$SYS_futex, AX
	SYSCALL
	JMP	hold
workdone:
	MOVQ	$3, 184(R12)
	XORQ	DI, DI
	MOVL	$SYS_exit, AX
	SYSCALL
	INT	$3

// The overflow kernel: no core dump (its address space may be minirun's),
// then walk down the stack 256 bytes at a time, recording each depth reached,
// until the guard page stops it with SIGSEGV. 176 holds the lowest address
// written; 192..207 are the zero rlimit.
overflow:
	XORQ	DI, DI		// this process
	MOVQ	$4, SI		// RLIMIT_CORE
	LEAQ	192(R12), DX	// {0, 0}
	XORQ	R10, R10
	MOVL	$SYS_prlimit64, AX
	SYSCALL
	MOVQ	$1, 184(R12)
deeper:
	SUBQ	$256, SP
	MOVQ	$0, 0(SP)
	MOVQ	SP, 176(R12)
	JMP	deeper
