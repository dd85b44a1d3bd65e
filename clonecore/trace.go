package clonecore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The flight record: a traced program's child writes, as each step ends,
// a time stamp and the step's raw result into an array in the arena, which
// the parent reads once the child has exec'd or exited.
//
//	trace[0]    {the child's first instruction, 0}
//	trace[i+1]  {step i ended, its raw result (a value, or -errno)}
//
// A step that does not return — execve, the exit of OpExitIf or of a
// killed child — leaves its entry at zero.
//
// The stamp is the CPU's own counter, read without a system call: RDTSC on
// amd64, CNTVCT_EL0 on arm64 (Ticks). A raw clock_gettime, the other way
// a task without Go and without a vDSO it knows of can read the time,
// cost 0.3–0.5 µs a step on the project's VM, more than many steps take
// themselves (a capability drop); the counter costs a few tens of
// nanoseconds. The parent reads the counter and CLOCK_MONOTONIC together
// before the clone and again after the exec, and maps the child's stamps
// onto CLOCK_MONOTONIC along the line through those two points, so the
// child's steps and the parent's phases share one clock. That assumes
// what the kernel assumes when it uses the TSC as its clocksource (a
// constant rate, the same on every CPU), and always holds on arm64.
//
// The trampolines stamp only when the block's trace word is set; an
// untraced program pays one load and a branch that always goes the same
// way per step (BenchmarkProgram measures it).

// traceRecord is one entry of the flight record, as the trampolines write
// it (go_asm.h: traceRecord_ticks, traceRecord_result, traceRecord__size).
type traceRecord struct {
	ticks  uint64 // Ticks when the step ended
	result int64  // raw result of the step
}

// Ticks reads the counter the child stamps its flight record with.
func Ticks() uint64

// Now is CLOCK_MONOTONIC in nanoseconds, the clock of a flight record.
func Now() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// clockPair is the counter and CLOCK_MONOTONIC read together: the
// counter's reads on either side of the clock's, averaged.
type clockPair struct {
	ticks float64
	mono  int64
}

func readClocks() clockPair {
	t0 := Ticks()
	m := Now()
	t1 := Ticks()
	return clockPair{float64(t0)/2 + float64(t1)/2, m}
}

// EnableTrace makes the child keep a flight record of the program, read
// with Task.FlightRecord. Call it before Start.
func (p *Program) EnableTrace() { p.traced = true }

// StepRecord is one step of a flight record.
type StepRecord struct {
	Index int
	// Label names the step's source ("mounts[2]: tmpfs on /dev"), Call
	// renders it ("mount(…)") as --explain does.
	Label, Call string
	// Start and End are CLOCK_MONOTONIC in nanoseconds, from the child's
	// stamps: End 0 means the step did not return (execve, an exit).
	Start, End int64
	// Result is the step's raw result: a value, or -errno.
	Result int64
	// Tolerated is set when the result is an errno the step tolerates;
	// Failed on the step the child failed at.
	Tolerated, Failed bool
	// Skipped is, for an OpSkipUnless, how many of the steps after it the
	// child skipped; the record leaves them out.
	Skipped int
}

// Errno is the step's errno, 0 when it succeeded or did not return.
func (r StepRecord) Errno() unix.Errno {
	if r.End == 0 || r.Result >= 0 || r.Result < -maxErrno {
		return 0
	}
	return unix.Errno(-r.Result)
}

// FlightRecord is what a traced child recorded.
type FlightRecord struct {
	// Start is when the child ran its first instruction, CLOCK_MONOTONIC.
	Start int64
	// Steps are the steps that ran, in order; the last may not have
	// returned (End 0).
	Steps []StepRecord
}

// FlightRecord returns the child's flight record; nil unless the program
// was traced. Call it after Join.
func (t *Task) FlightRecord() *FlightRecord {
	p := t.prog
	if p == nil || p.trace == 0 {
		return nil
	}
	after := readClocks()
	before := p.clocks
	rate := float64(after.mono-before.mono) / (after.ticks - before.ticks) // ns a tick
	mono := func(ticks uint64) int64 {
		if ticks == 0 {
			return 0
		}
		return before.mono + int64((float64(ticks)-before.ticks)*rate)
	}
	rec := func(i int) traceRecord {
		b := t.arena.Slice(p.trace+uintptr(i)*unsafe.Sizeof(traceRecord{}), int(unsafe.Sizeof(traceRecord{})))
		return *(*traceRecord)(unsafe.Pointer(&b[0]))
	}
	fr := &FlightRecord{Start: mono(rec(0).ticks)}
	if fr.Start == 0 {
		return fr // the child never ran
	}
	failed := -1
	if t.arena.Load64(t.block+offStatus) == statusFailed {
		failed = int(t.arena.Load64(t.block + offStep))
	}
	start := fr.Start
	for i := 0; i < p.n; i++ {
		r := rec(i + 1)
		s := StepRecord{Index: i, Label: *p.label(i), Call: p.Call(i), Start: start, End: mono(r.ticks), Result: r.result,
			Failed: i == failed}
		if e := s.Errno(); e != 0 && !s.Failed {
			s.Tolerated = int(e) < tolerableErrnos && p.step(i).tolerate[e/64]&(1<<(e%64)) != 0
		}
		if p.step(i).nr == OpSkipUnless && s.End != 0 && r.result > 0 {
			s.Skipped = int(r.result)
		}
		fr.Steps = append(fr.Steps, s)
		if s.End == 0 || s.Failed {
			break
		}
		start = s.End
		i += s.Skipped
	}
	return fr
}
