package boot

// This architecture's clock_gettime and CLOCK_MONOTONIC, for the assembly
// (go_asm.h): the package imports nothing, not even golang.org/x/sys/unix,
// so they are written here, and the tests check them against unix's.
const (
	sysClockGettime = 113
	clockMonotonic  = 1
)
