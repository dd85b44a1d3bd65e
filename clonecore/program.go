package clonecore

import (
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Program is what a cloned child runs before it execs or exits: a flat list
// of raw syscalls, built in Go by the parent and interpreted in the child by a
// few hundred bytes of assembly (see trampoline_amd64.s). It is data, not
// code: the child never runs Go.
//
// Each step holds a syscall number, six arguments, the errnos it tolerates,
// the result slot it saves into, an optional expected result, and a label
// naming why it is there ("mounts[2]: mount tmpfs on /dev"). An argument is
// an immediate, the value of a saved result (an fd opened by an earlier step),
// or an int32 loaded from memory (an fd pipe2 wrote into the arena).
//
// Four operations are not syscalls; they are the whole set, on every
// architecture:
//
//	OpStore      *(uint64*)arg0 = arg1   hand a value (an fd, a pid) to the parent
//	OpExitIf     if arg0 != 0 { exit(arg1) }  end the task, e.g. the middle task of a double fork
//	OpFail       fail with errno arg0    stop, report, exit (a check the parent compiled in)
//	OpSkipUnless if arg0 != arg1 { skip the next arg2 steps }  go on only where an earlier
//	             result says there is something to do (its result: the steps skipped)
//
// OpSkipUnless is the one branch, and only forward: program order stays run
// order, minus the steps skipped.
//
// A step in memory is the step struct below; the trampolines read its
// fields by the offsets go_asm.h gives them (step_nr, step_args…).
type Program struct {
	arena   *Arena
	chunks  []*chunk // the steps, chunkSteps to a chunk
	n       int      // how many
	nslots  int
	results uintptr   // the saved results, once sealed
	traced  bool      // keep a flight record (EnableTrace)
	trace   uintptr   // the flight record, once sealed
	clocks  clockPair // read as it was sealed, for the flight record
}

// chunkSteps is how many steps a chunk of a program holds. Chunks never
// move: a program of thousands of steps is not copied (and its old room
// cleared) each time it outgrows the room it has, which was most of the
// compile of a config with a thousand mounts.
const chunkSteps = 256

// A chunk holds chunkSteps steps, each with its label and explain line:
// a string, or a function that renders it (AddFunc) followed by the
// string (what Annotate appended).
type chunk struct {
	steps   [chunkSteps]step
	labels  [chunkSteps]string
	explain [chunkSteps]string
	render  [chunkSteps]func() string
}

// step returns step i.
func (p *Program) step(i int) *step { return &p.chunks[i/chunkSteps].steps[i%chunkSteps] }

// label is step i's label.
func (p *Program) label(i int) *string { return &p.chunks[i/chunkSteps].labels[i%chunkSteps] }

// explained is the explain text stored for step i: its whole line, or for
// a step AddFunc added, what Annotate appended to the rendered line (Call
// puts them together).
func (p *Program) explained(i int) *string { return &p.chunks[i/chunkSteps].explain[i%chunkSteps] }

type step struct {
	nr       uint64    // syscall number, or OpStore/OpExitIf/OpFail/OpSkipUnless
	args     [6]uint64 // each as kinds says
	kinds    uint64    // 2 bits per argument: argImm, argSlot, argInt32
	tolerate [3]uint64 // bit e set: errno e is not a failure (the result is -e)
	save     int64     // result slot, or -1
	flags    uint64    // flagExpect: the result must equal expect
	expect   int64
	_        [2]uint64
}

// stepSize is a step's size, an untyped constant for the arithmetic; the
// array types below do not compile unless it is the struct's.
const stepSize = 128

var (
	_ [stepSize - unsafe.Sizeof(step{})]byte
	_ [unsafe.Sizeof(step{}) - stepSize]byte
)

// flagExpect is step.flags' bit: the result must equal step.expect.
const flagExpect = 1

// The operations that are not syscalls. Syscall numbers are far below.
const (
	OpStore      = 1 << 20
	OpExitIf     = 1<<20 + 1
	OpFail       = 1<<20 + 2
	OpSkipUnless = 1<<20 + 3
)

// Argument kinds, kindBits each in step.kinds, argument i at bit kindBits*i.
const (
	argImm   = 0
	argSlot  = 1
	argInt32 = 2

	kindBits = 2
	kindMask = 1<<kindBits - 1
	stepArgs = len(step{}.args)
)

// Arg is one argument of a step.
type Arg struct {
	kind uint8
	v    uint64
}

// Imm is an immediate argument: a number, a flag set or an address in the arena.
func Imm[T ~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64 | ~uintptr](v T) Arg {
	return Arg{argImm, uint64(v)}
}

// Slot is a result saved by an earlier step.
type Slot int

// Value is an argument that takes the value saved in the slot when the step runs.
func (s Slot) Value() Arg { return Arg{argSlot, uint64(s)} }

// Int32At is an argument that takes the int32 at address p when the step runs
// (pipe2 and socketpair write their fds as int32s).
func Int32At(p uintptr) Arg { return Arg{argInt32, uint64(p)} }

// NoSlot means a step's result is not kept.
const NoSlot Slot = -1

// A StepOption changes a step as it is added.
type StepOption func(*step)

// Tolerate makes the given errnos not count as failures (EEXIST for mkdir).
// The step's saved result is then -errno.
func Tolerate(errnos ...unix.Errno) StepOption {
	return func(s *step) {
		for _, e := range errnos {
			if e > 0 && int(e) < tolerableErrnos {
				s.tolerate[e/64] |= 1 << (e % 64)
			}
		}
	}
}

// Expect makes any result other than v a failure, reported with errno 0 and
// the result (a read that must return exactly one byte).
func Expect(v int64) StepOption {
	return func(s *step) { s.flags |= flagExpect; s.expect = v }
}

// SaveTo keeps the result in slot s.
func SaveTo(slot Slot) StepOption { return func(st *step) { st.save = int64(slot) } }

// NewProgram starts a program whose strings and buffers live in arena.
func NewProgram(arena *Arena) *Program {
	return &Program{arena: arena}
}

// Arena is where the program's data lives.
func (p *Program) Arena() *Arena { return p.arena }

// NewSlot reserves a result slot.
func (p *Program) NewSlot() Slot {
	p.nslots++
	return Slot(p.nslots - 1)
}

// Len is the number of steps.
func (p *Program) Len() int { return p.n }

// Label returns the label of step i.
func (p *Program) Label(i int) string {
	if i < 0 || i >= p.n {
		return fmt.Sprintf("step %d", i)
	}
	return *p.label(i)
}

// Call returns the explain line of step i: its call, rendered like strace.
func (p *Program) Call(i int) string {
	if i < 0 || i >= p.n {
		return ""
	}
	if r := p.chunks[i/chunkSteps].render[i%chunkSteps]; r != nil {
		return r() + *p.explained(i)
	}
	return *p.explained(i)
}

// Add appends a step: syscall nr with up to six arguments. label names the
// step's source; explain is the strace-like rendering of the call, for --explain.
func (p *Program) Add(label, explain string, nr uintptr, args []Arg, opts ...StepOption) {
	p.add(label, explain, nil, nr, args, opts)
}

// AddFunc is Add with an explain line that render makes when something
// asks for it (Call, Explain, a flight record, an error), not before:
// most runs never do, and a config with a thousand mounts has tens of
// thousands of steps. render must give the same line whenever it is
// called.
func (p *Program) AddFunc(label string, render func() string, nr uintptr, args []Arg, opts ...StepOption) {
	p.add(label, "", render, nr, args, opts)
}

func (p *Program) add(label, explain string, render func() string, nr uintptr, args []Arg, opts []StepOption) {
	if len(args) > stepArgs {
		panic(fmt.Sprintf("clonecore: %s: %d arguments, a syscall takes at most 6", label, len(args)))
	}
	if p.n == len(p.chunks)*chunkSteps {
		p.chunks = append(p.chunks, new(chunk))
	}
	// Made where it stays: the options take its address.
	s := p.step(p.n)
	*s = step{nr: uint64(nr), save: -1}
	for i, a := range args {
		s.args[i] = a.v
		s.kinds |= uint64(a.kind) << (kindBits * i)
	}
	for _, o := range opts {
		o(s)
	}
	c := p.chunks[p.n/chunkSteps]
	c.labels[p.n%chunkSteps], c.explain[p.n%chunkSteps], c.render[p.n%chunkSteps] = label, explain, render
	p.n++
}

// SkipHere sets the count of the OpSkipUnless at step i to the steps added
// after it so far: it skips them all. A compiler adds the skip with a
// count of 0, then the steps it guards, then calls SkipHere.
func (p *Program) SkipHere(i int) {
	if i < 0 || i >= p.n || p.step(i).nr != OpSkipUnless {
		panic(fmt.Sprintf("clonecore: SkipHere(%d): not an OpSkipUnless of the program", i))
	}
	p.step(i).args[2] = uint64(p.n - 1 - i)
}

// SkippedBy is how many steps the OpSkipUnless at step i skips when its
// values differ; 0 for any other step.
func (p *Program) SkippedBy(i int) int {
	if i < 0 || i >= p.n || p.step(i).nr != OpSkipUnless {
		return 0
	}
	return int(p.step(i).args[2])
}

// Annotate appends text to the listing line of the last step added (the
// name of the fd it returns, say).
func (p *Program) Annotate(suffix string) {
	if p.n > 0 {
		*p.explained(p.n - 1) += suffix
	}
}

// Explain renders the program one step a line: index, call, and the label.
func (p *Program) Explain() string {
	var b strings.Builder
	for i := range p.n {
		fmt.Fprintf(&b, "%3d  %-60s # %s\n", i, p.Call(i), *p.label(i))
	}
	return b.String()
}

// Steps returns the explain line and label of each step.
func (p *Program) Steps() (calls, labels []string) {
	calls, labels = make([]string, p.n), make([]string, p.n)
	for i := range p.n {
		calls[i], labels[i] = p.Call(i), *p.label(i)
	}
	return calls, labels
}

// StartSize is how many bytes of its arena starting the program takes, on
// top of what it uses already: the steps, the saved results and the
// child's block, each aligned to 16.
func (p *Program) StartSize() int {
	steps := max(p.n, 1) * stepSize
	return steps + 15 + 8*(p.nslots+1) + 15 + blockSize + 15
}

// seal copies the steps and a results array into the arena and returns
// their addresses. After seal the program must not change.
func (p *Program) seal() (steps, results uintptr, err error) {
	n := p.n * stepSize
	if n == 0 {
		n = stepSize
	}
	steps, err = p.arena.Alloc(n)
	if err != nil {
		return 0, 0, err
	}
	for c, chunk := range p.chunks {
		used := min(p.n-c*chunkSteps, chunkSteps)
		src := unsafe.Slice((*byte)(unsafe.Pointer(&chunk.steps[0])), used*stepSize)
		copy(p.arena.Slice(steps+uintptr(c*chunkSteps*stepSize), len(src)), src)
	}
	results, err = p.arena.Alloc(8 * (p.nslots + 1))
	p.results = results
	if err == nil && p.traced {
		p.trace, err = p.arena.Alloc((p.n + 1) * int(unsafe.Sizeof(traceRecord{})))
		p.clocks = readClocks()
	}
	return steps, results, err
}

// Result is the value a started program saved in slot s (0 before it ran).
func (p *Program) Result(s Slot) int64 {
	if p.results == 0 || s < 0 || int(s) >= p.nslots {
		return 0
	}
	return int64(p.arena.Load64(p.results + uintptr(8*s)))
}
