package cgroups

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// runtime-spec's resources were written for cgroup v1. These functions
// turn its values into what cgroup v2's files take. They are pure, and
// tested as such.

// sharesToWeight converts cpu.shares (v1: 2 to 262144, default 1024) to
// cpu.weight (v2: 1 to 10000, default 100). The curve is the one runc and
// crun use today, a quadratic in log2(shares) through the three points
// that matter: minimum to minimum (2 → 1), default to default
// (1024 → 100) and maximum to maximum (262144 → 10000). The linear map
// used before it sent the v1 default to 39, well below v2's default.
// Like the kernel's v1 file, shares below 2 count as 2.
func sharesToWeight(shares uint64) uint64 {
	if shares <= 2 {
		return 1
	}
	if shares >= 262144 {
		return 10000
	}
	l := math.Log2(float64(shares))
	exp := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exp)))
}

// blkioWeightToIOWeight maps blkio.weight (v1: 10 to 1000) linearly onto
// io.weight (v2: 1 to 10000).
func blkioWeightToIOWeight(w uint16) (uint64, error) {
	if w < 10 || w > 1000 {
		return 0, fmt.Errorf("%d is outside 10-1000, the blkio weight range that maps onto io.weight", w)
	}
	return 1 + (uint64(w)-10)*9999/990, nil
}

// swapV2 turns runtime-spec's swap, a limit on memory plus swap (v1's
// memory.memsw.limit_in_bytes), into memory.swap.max, a limit on swap
// alone: the memory+swap limit minus the memory limit. -1 means no limit
// in both. A memory+swap limit without a memory limit to subtract, or
// below the memory limit, has no v2 equivalent.
func swapV2(swap int64, limit *int64) (string, error) {
	switch {
	case swap == -1:
		return "max", nil
	case swap <= 0:
		return "", fmt.Errorf("%d is not a memory+swap limit in bytes (-1 means no limit)", swap)
	case limit == nil:
		return "", errors.New("cgroup v2 limits swap apart from memory, so a memory+swap limit needs linux.resources.memory.limit to subtract")
	case *limit == -1:
		return "", fmt.Errorf("a memory+swap limit of %d with no memory limit has no cgroup v2 equivalent", swap)
	case swap < *limit:
		return "", fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, *limit)
	}
	return strconv.FormatInt(swap-*limit, 10), nil
}

// unlimited stands for no limit when limits are compared: -1 as written,
// or the page-rounded maximum a v1 file reads back (9223372036854771712
// with 4 KiB pages).
func unlimited(v int64) int64 {
	if v < 0 || v >= 1<<62 {
		return math.MaxInt64
	}
	return v
}

// v1MemoryWrites orders the writes of a v1 memory limit and memory+swap
// limit. The kernel keeps memory.memsw.limit_in_bytes at or above
// memory.limit_in_bytes at every moment, so raising the memory limit past
// the current memory+swap limit must raise memory+swap first, and in all
// other cases memory goes first. curSwap is the current memory+swap
// limit as the file reads. Unlimited
// memory with memory+swap left unset lifts memory+swap too, as the
// memory limit could not be lifted alone.
func v1MemoryWrites(curSwap int64, limit, swap *int64) [][2]string {
	const memFile, swapFile = "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
	var w [][2]string
	fmtv := func(v int64) string { return strconv.FormatInt(v, 10) }
	switch {
	case limit != nil && swap != nil:
		if unlimited(*limit) > unlimited(curSwap) {
			return append(w, [2]string{swapFile, fmtv(*swap)}, [2]string{memFile, fmtv(*limit)})
		}
		return append(w, [2]string{memFile, fmtv(*limit)}, [2]string{swapFile, fmtv(*swap)})
	case limit != nil:
		if *limit == -1 && unlimited(curSwap) != math.MaxInt64 {
			w = append(w, [2]string{swapFile, "-1"})
		}
		return append(w, [2]string{memFile, fmtv(*limit)})
	case swap != nil:
		return append(w, [2]string{swapFile, fmtv(*swap)})
	}
	return nil
}

// pageSizeName spells a huge page size (in KiB) as the hugetlb
// controller's file names do: "64KB", "2MB", "1GB".
func pageSizeName(kb uint64) string {
	switch {
	case kb >= 1<<20 && kb%(1<<20) == 0:
		return fmt.Sprintf("%dGB", kb>>20)
	case kb >= 1<<10 && kb%(1<<10) == 0:
		return fmt.Sprintf("%dMB", kb>>10)
	}
	return fmt.Sprintf("%dKB", kb)
}

// parsePageSize reads runtime-spec's pageSize ("2MB", "1GB", "64KB";
// the kernel's own "2048kB" too) into KiB.
func parsePageSize(s string) (uint64, error) {
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := s[len(num):]
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a page size such as 2MB", s)
	}
	var shift uint
	switch strings.ToUpper(unit) {
	case "KB":
		shift = 0
	case "MB":
		shift = 10
	case "GB":
		shift = 20
	default:
		return 0, fmt.Errorf("%q is not a page size such as 2MB", s)
	}
	if n > math.MaxUint64>>(shift+10) {
		return 0, fmt.Errorf("%q is too large a page size", s)
	}
	return n << shift, nil
}

// memValue spells a memory limit for a file: -1 is no limit, "max" on
// cgroup v2 and -1 on v1.
func memValue(v int64, v2 bool) (string, error) {
	switch {
	case v == -1 && v2:
		return "max", nil
	case v == -1:
		return "-1", nil
	case v < 0:
		return "", fmt.Errorf("%d is not a number of bytes (-1 means no limit)", v)
	}
	return strconv.FormatInt(v, 10), nil
}
