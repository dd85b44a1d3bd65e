package seccomp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// A classic-BPF interpreter for tests, written from the kernel's rules for
// seccomp filters (kernel/seccomp.c seccomp_check_filter and
// net/core/filter.c): it accepts only what the kernel would, so a program
// it runs is one the kernel would load, and it computes what the kernel
// would return.

// seccompData is struct seccomp_data.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// checkProgram is the kernel's load-time check.
func checkProgram(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > bpfMaxInsns {
		return fmt.Errorf("length %d not in 1..%d", len(prog), bpfMaxInsns)
	}
	for pc, in := range prog {
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K >= 64 || in.K%4 != 0 {
				return fmt.Errorf("%d: load of [%d] outside seccomp_data or unaligned", pc, in.K)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, unix.BPF_RET | unix.BPF_K:
		case unix.BPF_JMP | unix.BPF_JA:
			if uint64(pc)+1+uint64(in.K) >= uint64(len(prog)) {
				return fmt.Errorf("%d: ja past the end", pc)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			if pc+1+int(in.Jt) >= len(prog) || pc+1+int(in.Jf) >= len(prog) {
				return fmt.Errorf("%d: conditional jump past the end", pc)
			}
		default:
			return fmt.Errorf("%d: opcode %#x not expected in a seccomp filter", pc, in.Code)
		}
	}
	last := prog[len(prog)-1].Code
	if last != unix.BPF_RET|unix.BPF_K && last != unix.BPF_JMP|unix.BPF_JA {
		return fmt.Errorf("the program does not end in ret")
	}
	return nil
}

// runBPF runs prog over d and returns the filter's SECCOMP_RET_* value and
// how many instructions ran.
func runBPF(prog []unix.SockFilter, d seccompData) (uint32, int, error) {
	if err := checkProgram(prog); err != nil {
		return 0, 0, err
	}
	pkt := d.bytes()
	var acc uint32
	steps := 0
	for pc := 0; pc < len(prog); pc++ {
		steps++
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(pkt[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K, steps, nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		default:
			var t bool
			switch in.Code &^ unix.BPF_K {
			case unix.BPF_JMP | unix.BPF_JEQ:
				t = acc == in.K
			case unix.BPF_JMP | unix.BPF_JGT:
				t = acc > in.K
			case unix.BPF_JMP | unix.BPF_JGE:
				t = acc >= in.K
			case unix.BPF_JMP | unix.BPF_JSET:
				t = acc&in.K != 0
			}
			if t {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		}
	}
	return 0, steps, fmt.Errorf("ran off the end")
}
