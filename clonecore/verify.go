package clonecore

import (
	"errors"
	"fmt"
)

// Verify checks what the trampoline takes on trust, so that a program a
// compiler got wrong fails here, in Go, not in a child that cannot say
// why: every step has a label; every saved result an argument reads was
// saved by an earlier step, into a slot the program reserved; every int32
// it loads and every slot it saves lies where the trampoline can reach;
// the arena has room left for what Start adds (the sealed steps, the
// results, the child's block).
//
// A slot is saved before a step reads it if a step before it in program
// order saves it: the only branches are OpExitIf, which ends the task,
// and OpSkipUnless, which skips forward. So a slot saved by a step an
// OpSkipUnless may skip counts as saved only up to the end of the steps
// it may skip, and an OpSkipUnless must skip whole steps of the program,
// a count known when it is compiled, and not from inside another's.
func (p *Program) Verify() error {
	var errs []error
	saved := make([]bool, p.nslots)
	windowEnd := -1       // the last step the current OpSkipUnless may skip
	var windowSaved []int // slots first saved inside that window
	for i := range p.n {
		s := p.step(i)
		if windowEnd >= 0 && i > windowEnd {
			for _, slot := range windowSaved {
				saved[slot] = false
			}
			windowEnd, windowSaved = -1, nil
		}
		// Only a problem needs the step named: not formatted for every
		// step of a program that has none.
		where := func() string { return fmt.Sprintf("step %d (%s)", i, p.Call(i)) }
		if *p.label(i) == "" {
			errs = append(errs, fmt.Errorf("%s: no label", where()))
		}
		for a := 0; a < stepArgs; a++ {
			switch s.kinds >> (kindBits * a) & kindMask {
			case argImm:
			case argSlot:
				slot := s.args[a]
				if slot >= uint64(p.nslots) {
					errs = append(errs, fmt.Errorf("%s: argument %d reads slot %d of %d", where(), a, slot, p.nslots))
				} else if !saved[slot] {
					errs = append(errs, fmt.Errorf("%s: argument %d reads slot %d before any step saves it", where(), a, slot))
				}
			case argInt32:
				if !p.arena.contains(uintptr(s.args[a]), 4) {
					errs = append(errs, fmt.Errorf("%s: argument %d loads an int32 at %#x, outside the arena", where(), a, s.args[a]))
				}
			default:
				errs = append(errs, fmt.Errorf("%s: argument %d has kind %d", where(), a, s.kinds>>(kindBits*a)&kindMask))
			}
		}
		if s.save >= 0 {
			if s.save >= int64(p.nslots) {
				errs = append(errs, fmt.Errorf("%s: saves into slot %d of %d", where(), s.save, p.nslots))
			} else {
				if windowEnd >= 0 && !saved[s.save] {
					windowSaved = append(windowSaved, int(s.save))
				}
				saved[s.save] = true
			}
		}
		if s.nr == OpSkipUnless {
			n := s.args[2]
			switch {
			case s.kinds>>(kindBits*2)&kindMask != argImm:
				errs = append(errs, fmt.Errorf("%s: skips a count known only when it runs", where()))
			case n == 0 || n >= uint64(p.n-i):
				errs = append(errs, fmt.Errorf("%s: skips %d steps, and %d follow it", where(), n, p.n-i-1))
			case windowEnd >= 0:
				errs = append(errs, fmt.Errorf("%s: inside the steps step %d may skip", where(), windowEnd))
			case s.save >= 0:
				errs = append(errs, fmt.Errorf("%s: saves a result; a skip has none to give", where()))
			default:
				windowEnd = i + int(n)
			}
		}
		if s.nr == OpStore && s.kinds&kindMask == argImm && !p.arena.contains(uintptr(s.args[0]), 8) {
			errs = append(errs, fmt.Errorf("%s: stores at %#x, outside the arena", where(), s.args[0]))
		}
	}
	if need, left := p.startBytes(), p.arena.left(); need > left {
		errs = append(errs, fmt.Errorf("the arena has %d bytes left, and Start needs %d", left, need))
	}
	return errors.Join(errs...)
}

// Int32Words returns the arena addresses the program loads int32s from:
// the words the parent must fill (fd numbers) before the start.
func (p *Program) Int32Words() []uintptr {
	var ws []uintptr
	seen := map[uintptr]bool{}
	for i := range p.n {
		s := p.step(i)
		for a := 0; a < stepArgs; a++ {
			if s.kinds>>(kindBits*a)&kindMask == argInt32 && !seen[uintptr(s.args[a])] {
				seen[uintptr(s.args[a])] = true
				ws = append(ws, uintptr(s.args[a]))
			}
		}
	}
	return ws
}

// startBytes is what Start allocates in the arena for the program: the
// sealed steps and results (seal), and the child's block, each rounded up
// to Alloc's alignment.
func (p *Program) startBytes() uintptr {
	round := func(n int) uintptr { return uintptr(n+15) &^ 15 }
	steps := p.n * stepSize
	if steps == 0 {
		steps = stepSize
	}
	return round(steps) + round(8*(p.nslots+1)) + round(blockSize)
}

// contains reports whether [p, p+n) lies in the arena.
func (a *Arena) contains(p uintptr, n uintptr) bool {
	return p >= a.base() && p+n <= a.base()+uintptr(len(a.mem))
}

// left is how many bytes the arena can still hand out.
func (a *Arena) left() uintptr {
	off := (a.used + 15) &^ 15
	if off > uintptr(len(a.mem)) {
		return 0
	}
	return uintptr(len(a.mem)) - off
}
