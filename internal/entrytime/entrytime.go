// Package entrytime knows when minirun began: the time of its first
// instruction, of the first package initialised, and of main, all
// CLOCK_MONOTONIC nanoseconds, for `run --trace`'s timeline.
//
// The first instruction's time needs help from the linker. A Go program
// starts at the runtime's _rt0_<arch>_linux; linked with
//
//	-ldflags '-E github.com/minirun/minirun/internal/entrytime.entry'
//
// (as `make build` does) it starts instead at entry (entry_<arch>.s),
// which reads the clock with a raw system call and jumps there, touching
// neither the stack nor any register the runtime reads. Without that flag
// Entry is 0 and Go's own start cannot be timed.
//
// The package imports nothing, so that Go initialises it first of all
// (packages are initialised in import-path order as their imports allow,
// and it has none to wait for): Init is the end of the runtime's own start
// and the beginning of package initialisation.
package entrytime

// entryTime is the struct timespec entry fills; zero unless minirun was
// linked with -E …entry.
var entryTime [2]int64

// now is CLOCK_MONOTONIC in nanoseconds, read by a raw system call.
func now() int64

var initTime = now()

var mainTime int64

// Entry is when minirun's first instruction ran, 0 if unknown.
func Entry() int64 {
	if entryTime[0] == 0 && entryTime[1] == 0 {
		return 0
	}
	return entryTime[0]*1e9 + entryTime[1]
}

// Init is when the first package was initialised.
func Init() int64 { return initTime }

// MarkMain records that main has begun; main calls it first.
func MarkMain() { mainTime = now() }

// Main is when main began, 0 if it did not say.
func Main() int64 { return mainTime }
