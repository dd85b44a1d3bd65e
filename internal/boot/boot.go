// Package boot is minirun's first instructions, before Go's runtime
// starts, and knows when minirun began: the time of its first instruction,
// of the first package initialised, and of main, all CLOCK_MONOTONIC
// nanoseconds, for `run --trace`'s timeline.
//
// A Go program starts at the runtime's _rt0_<arch>_linux. Linked with
//
//	-ldflags '-E github.com/minirun/minirun/internal/boot.entry'
//
// (as `make build` does) it starts instead at entry (entry_<arch>.s),
// which reads the clock with a raw system call and then hands over to the
// runtime, with the stack pointer as the kernel left it. Without that flag
// Entry is 0 and Go's own start cannot be timed.
//
// On amd64, entry also does the binary's guard (package selfexe,
// CVE-2019-5736) before the runtime exists, where it costs no Go start:
// when an argument is exactly run, create or exec, minirun's binary is
// writable by this process, and no GuardEnv marks this start as a re-exec
// already, it makes a detached read-only bind mount of /proc/self/exe
// (open_tree, mount_setattr) and re-executes itself from it (execveat),
// with the same arguments and GuardEnv=<the first entry time, hex> added to
// the environment. A word that is not the command (a container named run)
// costs one needless re-exec, nothing worse. Any step that fails hands over
// to the runtime unchanged, and selfexe.Ensure, which every such command
// calls, does the guard in Go (or the sealed copy that needs no privilege)
// as before; on arm64 that is the only guard.
//
// The package imports nothing, so that Go initialises it first of all
// (packages are initialised in import-path order as their imports allow,
// and it has none to wait for): Init is the end of the runtime's own start
// and the beginning of package initialisation.
package boot

// GuardEnv names the environment variable by which a re-executed minirun
// knows it is one (package selfexe; entry_amd64.s spells it too): its
// value is the first minirun's entry time, nanoseconds in hex.
const GuardEnv = "_MINIRUN_SELFEXE"

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
