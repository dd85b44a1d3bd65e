package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// A tiny classic-BPF assembler with labels. Conditional jumps in classic BPF
// carry 8-bit forward offsets (at most 255 instructions); BPF_JA carries a
// 32-bit one. The assembler lays the program out, and wherever a
// conditional jump's target lies too far it inserts a BPF_JA right after
// the jump (an "island") and points that branch at it; islands push other
// jumps farther, so it repeats until every offset fits.

// label names a place in the program: the instruction emitted right after
// mark(label).
type label int32

const noLabel label = -1

type insn struct {
	code   uint16
	k      uint32
	jt, jf label // conditional jumps
	ja     label // BPF_JA
	note   note
}

// note is what a listing says beside an instruction. It keeps pointers and
// renders only when Explain asks: compiling costs no formatting.
type note struct {
	text   string    // a fixed text
	head   *interval // the instruction starts this interval's leaf
	node   *interval // a tree node: nr >= node.lo?
	c      *cond     // an argument comparison
	bits32 bool
	ret    bool // a return: name the action
}

type asm struct {
	ins     []insn
	at      []int            // label → index in ins of the instruction it marks
	names   map[label]string // the few labels with names
	pending []label          // labels marked but not yet followed by an instruction
	head    *interval        // the next instruction starts this leaf
}

func (a *asm) newLabel(name string) label {
	a.at = append(a.at, -1)
	if name != "" {
		if a.names == nil {
			a.names = map[label]string{}
		}
		a.names[label(len(a.at)-1)] = name
	}
	return label(len(a.at) - 1)
}

func (a *asm) mark(l label) { a.pending = append(a.pending, l) }

func (a *asm) emit(i insn) {
	for _, l := range a.pending {
		a.at[l] = len(a.ins)
	}
	a.pending = a.pending[:0]
	if a.head != nil {
		i.note.head, a.head = a.head, nil
	}
	a.ins = append(a.ins, i)
}

const (
	opLdAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opAnd   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opRet   = unix.BPF_RET | unix.BPF_K
	opJA    = unix.BPF_JMP | unix.BPF_JA
	opJEQ   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJGT   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJGE   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opJSET  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
)

func (a *asm) load(off uint32, n note) {
	a.emit(insn{code: opLdAbs, k: off, jt: noLabel, jf: noLabel, ja: noLabel, note: n})
}
func (a *asm) and(k uint32) {
	a.emit(insn{code: opAnd, k: k, jt: noLabel, jf: noLabel, ja: noLabel})
}
func (a *asm) ret(k uint32) {
	a.emit(insn{code: opRet, k: k, jt: noLabel, jf: noLabel, ja: noLabel, note: note{ret: true}})
}
func (a *asm) jump(code uint16, k uint32, jt, jf label, n note) {
	a.emit(insn{code: code, k: k, jt: jt, jf: jf, ja: noLabel, note: n})
}

// jumpNext is a conditional jump whose other branch falls through.
func (a *asm) jumpNext(code uint16, k uint32, jt, jf label, n note) {
	next := a.newLabel("")
	if jt == noLabel {
		jt = next
	}
	if jf == noLabel {
		jf = next
	}
	a.jump(code, k, jt, jf, n)
	a.mark(next)
}

// assemble lays the program out and encodes it. It also returns, per
// instruction of a.ins, its position in the program (the others are long
// jumps).
func (a *asm) assemble() ([]unix.SockFilter, []int, error) {
	if len(a.pending) != 0 {
		return nil, nil, fmt.Errorf("internal error: a label marks the end of the program")
	}
	for i, in := range a.ins {
		for _, l := range [3]label{in.jt, in.jf, in.ja} {
			if l != noLabel && (int(l) >= len(a.at) || a.at[l] < 0) {
				return nil, nil, fmt.Errorf("internal error: instruction %d jumps to a label never placed", i)
			}
		}
	}
	// island[i][b]: branch b (0 true, 1 false) of conditional jump i goes
	// through a BPF_JA placed right after the jump. Islands are only ever
	// added, so the loop ends.
	island := make([][2]bool, len(a.ins))
	pos := make([]int, len(a.ins))
	isCond := func(in insn) bool { return in.code&0x07 == unix.BPF_JMP && in.code != opJA }
	for {
		p := 0
		for i := range a.ins {
			pos[i] = p
			p++
			for b := 0; b < 2; b++ {
				if island[i][b] {
					p++
				}
			}
		}
		grew := false
		for i, in := range a.ins {
			if !isCond(in) {
				continue
			}
			for b, l := range [2]label{in.jt, in.jf} {
				if !island[i][b] && pos[a.at[l]]-pos[i]-1 > 255 {
					island[i][b] = true
					grew = true
				}
			}
		}
		if !grew {
			break
		}
	}

	out := make([]unix.SockFilter, 0, len(a.ins)+8)
	for i, in := range a.ins {
		p := len(out)
		if p != pos[i] {
			return nil, nil, fmt.Errorf("internal error: instruction %d laid out at %d, not %d", i, p, pos[i])
		}
		f := unix.SockFilter{Code: in.code, K: in.k}
		var islands []unix.SockFilter
		switch {
		case in.code == opJA:
			d := pos[a.at[in.ja]] - p - 1
			if d < 0 {
				return nil, nil, fmt.Errorf("internal error: backward jump at %d", p)
			}
			f.K = uint32(d)
		case isCond(in):
			for b, l := range [2]label{in.jt, in.jf} {
				d := pos[a.at[l]] - p - 1
				if island[i][b] {
					ip := p + 1 + len(islands)
					islands = append(islands, unix.SockFilter{Code: opJA, K: uint32(pos[a.at[l]] - ip - 1)})
					d = ip - p - 1
				}
				if d < 0 || d > 255 {
					return nil, nil, fmt.Errorf("internal error: jump of %d at %d", d, p)
				}
				if b == 0 {
					f.Jt = uint8(d)
				} else {
					f.Jf = uint8(d)
				}
			}
		}
		out = append(out, f)
		out = append(out, islands...)
	}
	return out, pos, nil
}
