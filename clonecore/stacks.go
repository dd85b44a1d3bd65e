package clonecore

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Stacks is one private anonymous mapping cut into n equal slots, one per
// child. A slot, from low addresses to high:
//
//	+------------+--------------------------------+----------------------+
//	| guard page |  stack (grows down) ...        | TLS: zeroed | TCB    |
//	| PROT_NONE  |                                |  pad        | 64 B   |
//	+------------+--------------------------------+----------------------+
//	^ slot       ^ Lo(i)                  Top(i) ^ ^ TCB(i)
//
// The guard page turns an overflow into SIGSEGV instead of a silent write
// into the neighbour's TLS (docs/design.md, rule 3). The TCB's first word holds
// its own address, as amd64's TLS ABI wants of %fs:0; the words below it are
// zero (rule 4). Stacks never come from the Go heap: goroutine stacks move.
type Stacks struct {
	mem  []byte
	n    int
	slot uintptr // bytes per slot, guard included
	page uintptr
}

const (
	tlsPad  = 256 // zeroed bytes below the TCB
	tcbSize = 64
	// MinStack is the smallest usable stack a child may ask for.
	MinStack = 4096
)

// NewStacks maps n slots whose usable stacks hold at least size bytes each.
func NewStacks(n, size int) (*Stacks, error) {
	if n <= 0 {
		return nil, fmt.Errorf("stack count %d: must be positive", n)
	}
	if size < MinStack {
		return nil, fmt.Errorf("stack size %d: below the minimum of %d bytes", size, MinStack)
	}
	page := uintptr(unix.Getpagesize())
	usable := (uintptr(size) + tlsPad + tcbSize + page - 1) &^ (page - 1)
	slot := page + usable
	total := slot * uintptr(n)
	if total/slot != uintptr(n) || total > 1<<40 {
		return nil, fmt.Errorf("%d stacks of %d bytes: too much address space", n, size)
	}
	mem, err := unix.Mmap(-1, 0, int(total), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_STACK|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mmap %d stacks of %d bytes: %w", n, size, err)
	}
	s := &Stacks{mem: mem, n: n, slot: slot, page: page}
	for i := 0; i < n; i++ {
		off := uintptr(i) * slot
		if err := unix.Mprotect(mem[off:off+page], unix.PROT_NONE); err != nil {
			s.Free()
			return nil, fmt.Errorf("guard page of stack %d: %w", i, err)
		}
		tcb := s.TCB(i)
		*(*uint64)(unsafe.Pointer(&mem[tcb-s.base()])) = uint64(tcb)
	}
	return s, nil
}

func (s *Stacks) base() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(s.mem))) }

// Len is the number of slots.
func (s *Stacks) Len() int { return s.n }

// Guard returns the address of slot i's guard page.
func (s *Stacks) Guard(i int) uintptr { return s.base() + uintptr(i)*s.slot }

// Lo is the lowest usable byte of stack i, just above its guard page.
func (s *Stacks) Lo(i int) uintptr { return s.Guard(i) + s.page }

// TCB is the address of slot i's thread control block.
func (s *Stacks) TCB(i int) uintptr { return s.Guard(i) + s.slot - tcbSize }

// Top is the initial stack pointer of slot i: 16-byte aligned, below the TLS area.
func (s *Stacks) Top(i int) uintptr { return (s.TCB(i) - tlsPad) &^ 15 }

// SetTLSWord stores v in word k (1..7) of slot i's TCB; word 0 is the self pointer.
func (s *Stacks) SetTLSWord(i, k int, v uint64) {
	if k < 1 || k >= tcbSize/8 {
		return
	}
	p := s.TCB(i) + uintptr(8*k)
	*(*uint64)(unsafe.Pointer(&s.mem[p-s.base()])) = v
}

// Bytes is the address space the mapping takes.
func (s *Stacks) Bytes() int { return len(s.mem) }

// Free unmaps every slot. Call it only once no child runs on them.
func (s *Stacks) Free() {
	if s != nil && s.mem != nil {
		unix.Munmap(s.mem)
		s.mem = nil
	}
}
