#include "textflag.h"
#include "go_asm.h"

// entry is minirun's first instruction when it is linked with -E (see
// boot.go): clock_gettime(CLOCK_MONOTONIC, &entryTime), the binary's
// guard, then the runtime's own entry. _rt0_amd64_linux reads argc, argv
// and the environment from the stack the kernel built, at SP; it reads no
// register (DX, the ELF ABI's atexit pointer, is 0 in a static binary and
// ignored), so every register is free here and only SP must be as it was.
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	MOVL	$const_clockMonotonic, DI
	MOVQ	$·entryTime(SB), SI
	MOVL	$const_sysClockGettime, AX
	SYSCALL

	// The guard, as the package doc tells it. Kept for the whole of it:
	// R15 the kernel's SP, R12 argc, R13 argv, R14 envp.
	MOVQ	SP, R15
	MOVQ	0(R15), R12
	LEAQ	8(R15), R13
	LEAQ	8(R13)(R12*8), R14

	// Re-executed already (by this code, or by selfexe.Ensure): no more.
	MOVQ	R14, BX
env:
	MOVQ	0(BX), SI
	TESTQ	SI, SI
	JZ	args
	MOVQ	$·guardEnvEq(SB), DI
	MOVL	$17, CX
	CALL	·match(SB)
	TESTL	AX, AX
	JNZ	runtime
	ADDQ	$8, BX
	JMP	env

	// Only for run, create and exec: an argument that is one of them,
	// whole (the NUL compared too).
args:
	MOVL	$1, BX
arg:
	CMPQ	BX, R12
	JGE	runtime
	MOVQ	0(R13)(BX*8), R8
	MOVQ	R8, SI
	MOVQ	$·wordRun(SB), DI
	MOVL	$4, CX
	CALL	·match(SB)
	TESTL	AX, AX
	JNZ	guard
	MOVQ	R8, SI
	MOVQ	$·wordCreate(SB), DI
	MOVL	$7, CX
	CALL	·match(SB)
	TESTL	AX, AX
	JNZ	guard
	MOVQ	R8, SI
	MOVQ	$·wordExec(SB), DI
	MOVL	$5, CX
	CALL	·match(SB)
	TESTL	AX, AX
	JNZ	guard
	INCQ	BX
	JMP	arg

guard:
	// faccessat2(AT_FDCWD, "/proc/self/exe", W_OK, AT_EACCESS): 0 when
	// this process could write the binary; EROFS when it lies on a
	// read-only mount, EACCES when this user cannot write it: no guard.
	MOVQ	$const_atFDCWD, DI
	MOVQ	$·procSelfExe(SB), SI
	MOVL	$const_wOK, DX
	MOVL	$const_atEaccess, R10
	MOVL	$const_sysFaccessat2, AX
	SYSCALL
	TESTQ	AX, AX
	JNZ	runtime

	// R9 = open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC):
	// a detached mount of the binary alone. It needs CAP_SYS_ADMIN where
	// the mount namespace belongs; without it, Go's guard makes a sealed
	// copy.
	MOVQ	$const_atFDCWD, DI
	MOVQ	$·procSelfExe(SB), SI
	MOVL	$(const_openTreeClone|const_openTreeCloexec), DX
	MOVL	$const_sysOpenTree, AX
	SYSCALL
	TESTQ	AX, AX
	JS	runtime
	MOVQ	AX, R9

	// mount_setattr(R9, "", AT_EMPTY_PATH, {RDONLY|NOSUID|NODEV}, 32)
	MOVQ	R9, DI
	MOVQ	$·emptyPath(SB), SI
	MOVL	$const_atEmptyPath, DX
	MOVQ	$·readOnlyAttr(SB), R10
	MOVL	$const_mountAttrSize, R8
	MOVL	$const_sysMountSetattr, AX
	SYSCALL
	TESTQ	AX, AX
	JNZ	closeTree

	// The new environment, built below SP: at R15-48 the string
	// "_MINIRUN_SELFEXE=" and the entry time in 16 hex digits (35 bytes
	// with the NUL); under it the array: that string, the old envp, NULL.
	LEAQ	-48(R15), DI
	MOVQ	$·guardEnvEq(SB), SI
	MOVL	$17, CX
copyName:
	MOVB	0(SI), AX
	MOVB	AX, 0(DI)
	INCQ	SI
	INCQ	DI
	DECL	CX
	JNZ	copyName
	MOVQ	·entryTime+0(SB), AX
	IMULQ	$1000000000, AX
	ADDQ	·entryTime+8(SB), AX
	MOVL	$16, CX
hex:
	ROLQ	$4, AX
	MOVL	AX, DX
	ANDL	$15, DX
	CMPL	DX, $10
	JLT	digit
	ADDL	$('a'-'0'-10), DX
digit:
	ADDL	$'0', DX
	MOVB	DX, 0(DI)
	INCQ	DI
	DECL	CX
	JNZ	hex
	MOVB	$0, 0(DI)

	XORL	CX, CX // CX = the number of variables
count:
	MOVQ	0(R14)(CX*8), AX
	TESTQ	AX, AX
	JZ	counted
	INCQ	CX
	JMP	count
counted:
	LEAQ	-48(R15), AX
	LEAQ	2(CX), DX
	SHLQ	$3, DX
	MOVQ	AX, SP
	SUBQ	DX, SP
	ANDQ	$~15, SP // SP = the new array
	MOVQ	AX, 0(SP)
	XORL	BX, BX
copyEnv:
	CMPQ	BX, CX
	JGE	copied
	MOVQ	0(R14)(BX*8), AX
	MOVQ	AX, 8(SP)(BX*8)
	INCQ	BX
	JMP	copyEnv
copied:
	MOVQ	$0, 8(SP)(CX*8)

	// execveat(R9, "", argv, the new envp, AT_EMPTY_PATH): returns only
	// if it failed.
	MOVQ	R9, DI
	MOVQ	$·emptyPath(SB), SI
	MOVQ	R13, DX
	MOVQ	SP, R10
	MOVL	$const_atEmptyPath, R8
	MOVL	$const_sysExecveat, AX
	SYSCALL
	MOVQ	R15, SP

closeTree:
	MOVQ	R9, DI
	MOVL	$const_sysClose, AX
	SYSCALL

runtime:
	MOVQ	R15, SP
	JMP	_rt0_amd64_linux(SB)

// match: AX = 1 if the NUL-terminated string at SI begins with the CX
// bytes at DI, else 0. It stops at the first difference, so it never reads
// past the string's NUL. Spoils AX, CX, DX, SI, DI.
TEXT ·match(SB),NOSPLIT|NOFRAME,$0
	XORL	AX, AX
matchNext:
	TESTL	CX, CX
	JZ	matchYes
	MOVB	0(SI), DX
	CMPB	DX, 0(DI)
	JNE	matchNo
	INCQ	SI
	INCQ	DI
	DECL	CX
	JMP	matchNext
matchYes:
	MOVL	$1, AX
matchNo:
	RET

// func now() int64
TEXT ·now(SB),NOSPLIT,$16-8
	MOVL	$const_clockMonotonic, DI
	LEAQ	0(SP), SI
	MOVL	$const_sysClockGettime, AX
	SYSCALL
	MOVQ	0(SP), AX
	IMULQ	$1000000000, AX
	ADDQ	8(SP), AX
	MOVQ	AX, ret+0(FP)
	RET

DATA	·procSelfExe+0(SB)/8, $"/proc/se"
DATA	·procSelfExe+8(SB)/8, $"lf/exe\x00\x00"
GLOBL	·procSelfExe(SB), RODATA|NOPTR, $16

DATA	·emptyPath+0(SB)/1, $0
GLOBL	·emptyPath(SB), RODATA|NOPTR, $1

// GuardEnv and "=" (boot.go; TestGuard checks the two agree).
DATA	·guardEnvEq+0(SB)/8, $"_MINIRUN"
DATA	·guardEnvEq+8(SB)/8, $"_SELFEXE"
DATA	·guardEnvEq+16(SB)/1, $"="
GLOBL	·guardEnvEq(SB), RODATA|NOPTR, $17

DATA	·wordRun+0(SB)/4, $"run\x00"
GLOBL	·wordRun(SB), RODATA|NOPTR, $4
DATA	·wordCreate+0(SB)/7, $"create\x00"
GLOBL	·wordCreate(SB), RODATA|NOPTR, $7
DATA	·wordExec+0(SB)/5, $"exec\x00"
GLOBL	·wordExec(SB), RODATA|NOPTR, $5

// struct mount_attr{attr_set: MOUNT_ATTR_RDONLY|NOSUID|NODEV}
DATA	·readOnlyAttr+0(SB)/8, $7
DATA	·readOnlyAttr+8(SB)/8, $0
DATA	·readOnlyAttr+16(SB)/8, $0
DATA	·readOnlyAttr+24(SB)/8, $0
GLOBL	·readOnlyAttr(SB), RODATA|NOPTR, $32
