#include "textflag.h"
#include "go_asm.h"

// entry is minirun's first instruction when it is linked with -E (see
// entrytime.go): clock_gettime(CLOCK_MONOTONIC, &entryTime), then the
// runtime's own entry, with SP and the registers it reads untouched (the
// system call spoils AX, CX and R11; DI and SI are its arguments).
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	MOVL	$const_clockMonotonic, DI
	MOVQ	$·entryTime(SB), SI
	MOVL	$const_sysClockGettime, AX
	SYSCALL
	JMP	_rt0_amd64_linux(SB)

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
