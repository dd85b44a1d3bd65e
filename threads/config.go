package threads

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"github.com/minirun/minirun/clonecore"
	"golang.org/x/sys/unix"
)

// Config says what one run of the lab starts.
type Config struct {
	// Count is the number of workers, at least 1.
	Count int
	// Flags are the clone flags of every worker; 0 means the thread preset.
	Flags clonecore.Flags
	// StackSize is the usable stack of a worker in bytes; 0 means
	// DefaultStackSize. A guard page and the TLS block come on top.
	StackSize int
	// Work is how many times each worker increments the shared counter.
	Work uint64
	// Elems is how many elements of the shared array each worker sums;
	// 0 means DefaultElems.
	Elems int
	// Layout asks the lab to read the address space while the workers
	// hold (/proc/self/maps and where it put everything), for WriteSVG.
	Layout bool
	// WhileHeld, if set, is called while every worker has done its work and
	// waits to be released (after the lab has looked at them in /proc). The
	// lab releases them when it returns; an error it returns ends the run
	// with that error, after the workers are joined.
	WhileHeld func() error
}

const (
	// DefaultStackSize is a worker's stack when Config.StackSize is 0.
	DefaultStackSize = 64 << 10
	// MinStackSize is the smallest stack the lab accepts. A worker blocks
	// every signal, but the kernel still wants room for a signal frame
	// (with the FPU state, several KiB with AVX-512) should one be forced
	// on it, and a stack overflow must land in the guard page, not in the
	// TLS block above a tiny stack.
	MinStackSize = 16 << 10
	// MaxStackSize is the largest stack the lab accepts for one worker.
	MaxStackSize = 1 << 30
	// DefaultElems is how many array elements a worker sums by default.
	DefaultElems = 64
	// maxAddressSpace is what all stacks together may take (clonecore.NewStacks' limit).
	maxAddressSpace = 1 << 40
	// vmasPerWorker: the guard page and the stack are two mappings once
	// the guard is made PROT_NONE (the TLS block shares the stack's).
	vmasPerWorker = 2
	// vmaHeadroom is left free under vm.max_map_count for the Go runtime.
	vmaHeadroom = 256
)

// ErrBadConfig is wrapped by every error that is the caller's input, not
// the machine: nothing was started.
var ErrBadConfig = errors.New("bad lab configuration")

// A ConfigError names the setting that is wrong, its value, and why.
type ConfigError struct {
	Field string // "count", "flags", "stack-size", "work"
	Value string
	Why   string
	Err   error // the underlying error, if any
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Value + ": " + e.Why }

// Unwrap returns ErrBadConfig and the underlying error.
func (e *ConfigError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrBadConfig, e.Err}
	}
	return []error{ErrBadConfig}
}

// TLSValue is the value the lab puts in word 1 of worker i's TCB, which
// the worker reads back through its TLS register: a distinct 64-bit
// pattern for every index (i+1 times an odd constant, a bijection mod 2^64).
func TLSValue(i int) uint64 { return uint64(i+1) * 0x9e3779b97f4a7c15 }

// Limits are the machine's limits a configuration must fit in. Zero means
// no limit is known.
type Limits struct {
	ThreadsMax  uint64 // /proc/sys/kernel/threads-max
	NProc       uint64 // RLIMIT_NPROC, soft
	MaxMapCount uint64 // /proc/sys/vm/max_map_count
	MapsInUse   uint64 // lines of /proc/self/maps
}

// MachineLimits reads the limits of this machine and process.
func MachineLimits() Limits {
	var l Limits
	l.ThreadsMax = readUint("/proc/sys/kernel/threads-max")
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NPROC, &rl) == nil && rl.Cur != unix.RLIM_INFINITY {
		l.NProc = rl.Cur
	}
	l.MaxMapCount = readUint("/proc/sys/vm/max_map_count")
	if b, err := os.ReadFile("/proc/self/maps"); err == nil {
		l.MapsInUse = uint64(strings.Count(string(b), "\n"))
	}
	return l
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// Check fills in the defaults and returns the configuration Run would use,
// or a *ConfigError naming the first setting that is wrong.
func (c Config) Check(l Limits) (Config, error) {
	if c.Flags == 0 {
		c.Flags = clonecore.Presets["thread"]
	}
	if c.StackSize == 0 {
		c.StackSize = DefaultStackSize
	}
	if c.Elems == 0 {
		c.Elems = DefaultElems
	}
	count := strconv.Itoa(c.Count)
	switch {
	case c.Count < 1:
		return c, &ConfigError{Field: "count", Value: count, Why: "must be at least 1"}
	case l.ThreadsMax != 0 && uint64(c.Count) > l.ThreadsMax:
		return c, &ConfigError{Field: "count", Value: count, Why: fmt.Sprintf("above the kernel's limit of %d tasks (/proc/sys/kernel/threads-max)", l.ThreadsMax)}
	case l.NProc != 0 && uint64(c.Count) > l.NProc:
		return c, &ConfigError{Field: "count", Value: count, Why: fmt.Sprintf("above RLIMIT_NPROC, %d tasks for this user (ulimit -u)", l.NProc)}
	}
	if need := uint64(c.Count)*vmasPerWorker + l.MapsInUse + vmaHeadroom; l.MaxMapCount != 0 && need > l.MaxMapCount {
		return c, &ConfigError{Field: "count", Value: count, Why: fmt.Sprintf(
			"needs %d memory mappings (%d a worker: guard page and stack; minirun has %d) but vm.max_map_count is %d: raise it with sysctl -w vm.max_map_count=%d",
			need, vmasPerWorker, l.MapsInUse, l.MaxMapCount, need)}
	}
	size := FormatSize(c.StackSize)
	switch {
	case c.StackSize < MinStackSize:
		return c, &ConfigError{Field: "stack-size", Value: size, Why: fmt.Sprintf("below the minimum of %s: the kernel needs room for a signal frame even on a worker that blocks signals", FormatSize(MinStackSize))}
	case c.StackSize > MaxStackSize:
		return c, &ConfigError{Field: "stack-size", Value: size, Why: fmt.Sprintf("above the maximum of %s for one worker", FormatSize(MaxStackSize))}
	}
	page := uint64(unix.Getpagesize())
	slot := page + (uint64(c.StackSize)+page+page-1)&^(page-1)
	if hi, total := bits.Mul64(slot, uint64(c.Count)); hi != 0 || total > maxAddressSpace {
		return c, &ConfigError{Field: "stack-size", Value: size, Why: fmt.Sprintf("%d stacks of %s take more than %s of address space", c.Count, size, FormatSize(maxAddressSpace))}
	}
	if hi, _ := bits.Mul64(c.Work, uint64(c.Count)); hi != 0 {
		return c, &ConfigError{Field: "work", Value: strconv.FormatUint(c.Work, 10), Why: fmt.Sprintf("%d workers × %d increments overflow the 64-bit counter", c.Count, c.Work)}
	}
	if c.Elems < 0 || uint64(c.Elems)*uint64(c.Count) > math.MaxInt32 {
		return c, &ConfigError{Field: "elems", Value: strconv.Itoa(c.Elems), Why: "the shared array would not fit in the arena"}
	}
	if err := c.Flags.Validate(clonecore.UseWorker); err != nil {
		return c, &ConfigError{Field: "flags", Value: c.Flags.String(), Why: whyOf(err), Err: err}
	}
	if why := labRefuses(c.Flags); why != "" {
		return c, &ConfigError{Field: "flags", Value: c.Flags.String(), Why: why}
	}
	return c, nil
}

// whyOf is a FlagError's reason without the flags it repeats.
func whyOf(err error) string {
	var fe *clonecore.FlagError
	if errors.As(err, &fe) {
		return fe.Why
	}
	return err.Error()
}

// labRefuses explains flags the kernel and the clone core accept for a
// worker but the lab cannot run.
func labRefuses(f clonecore.Flags) string {
	switch {
	case f&clonecore.PARENT != 0:
		return "a worker started with CLONE_PARENT would be a child of minirun's parent, which minirun cannot reap"
	case f&clonecore.INTO_CGROUP != 0:
		return "CLONE_INTO_CGROUP needs a cgroup directory, which the lab does not take"
	}
	return ""
}

// ParseSize reads a size in bytes: plain (65536) or with a binary suffix,
// K, KiB, M, MiB, G or GiB in any case (64K and 64KiB are both 65536).
func ParseSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	lower := strings.ToLower(t)
	mult := uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}} {
		if strings.HasSuffix(lower, u.suffix) {
			lower, mult = strings.TrimSuffix(lower, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(strings.TrimSpace(lower), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errors.New("too large")
		}
		if t != "" && t[0] == '-' {
			return 0, errors.New("a size cannot be negative")
		}
		return 0, errors.New("not a size: give bytes, or a number with K, KiB, M, MiB, G or GiB (64K = 65536)")
	}
	hi, v := bits.Mul64(n, mult)
	if hi != 0 || v > math.MaxInt64>>1 {
		return 0, errors.New("too large")
	}
	return int(v), nil
}

// FormatSize renders bytes the way ParseSize reads them back: 64KiB, 1MiB,
// or plain bytes when the number is not a whole KiB.
func FormatSize(n int) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n != 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n != 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.Itoa(n)
}
