#include "textflag.h"
#include "go_asm.h"

// entry is minirun's first instruction when it is linked with -E (see
// boot.go; on arm64 it does no guard): clock_gettime(CLOCK_MONOTONIC, &entryTime), then the
// runtime's own entry, with RSP untouched (the system call uses R0, R1
// and R8, which the runtime sets before it reads them).
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	MOVD	$const_clockMonotonic, R0
	MOVD	$·entryTime(SB), R1
	MOVD	$const_sysClockGettime, R8
	SVC
	B	_rt0_arm64_linux(SB)

// func now() int64
TEXT ·now(SB),NOSPLIT,$16-8
	MOVD	$const_clockMonotonic, R0
	MOVD	RSP, R1
	ADD	$8, R1	// the frame's 16 bytes, above the saved link register
	MOVD	$const_sysClockGettime, R8
	SVC
	MOVD	8(RSP), R0
	MOVD	$1000000000, R2
	MUL	R2, R0, R0
	MOVD	16(RSP), R3
	ADD	R3, R0, R0
	MOVD	R0, ret+0(FP)
	RET
