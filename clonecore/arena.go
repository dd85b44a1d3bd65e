package clonecore

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An Arena is memory outside the Go heap that a cloned child may read and
// write: the child program, its strings and buffers, the saved results, the
// report and the TID word. It is MAP_SHARED, so a child that does not share
// minirun's address space (a fork) still writes into the parent's copy.
// Nothing in it is a Go pointer; the garbage collector never sees it.
type Arena struct {
	mem  []byte
	used uintptr
}

// ErrArenaFull is what Alloc returns when the arena has no room left.
var ErrArenaFull = errors.New("child arena full")

// NewArena maps size bytes (rounded up to a page). The mapping reserves no
// memory: a page costs only once something is written to it, so a caller
// that cannot know the exact size may ask for a generous upper bound.
func NewArena(size int) (*Arena, error) {
	page := unix.Getpagesize()
	size = (size + page - 1) &^ (page - 1)
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes for the child's arena: %w", size, err)
	}
	return &Arena{mem: mem}, nil
}

// Free unmaps the arena. Call it only once no child can touch it.
func (a *Arena) Free() {
	if a != nil && a.mem != nil {
		unix.Munmap(a.mem)
		a.mem = nil
	}
}

// Alloc returns n zeroed bytes aligned to 16, or an error when the arena is full.
func (a *Arena) Alloc(n int) (uintptr, error) {
	off := (a.used + 15) &^ 15
	if off+uintptr(n) > uintptr(len(a.mem)) {
		return 0, fmt.Errorf("%w: %d bytes wanted, %d of %d used", ErrArenaFull, n, off, len(a.mem))
	}
	a.used = off + uintptr(n)
	return a.base() + off, nil
}

func (a *Arena) base() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(a.mem))) }

// Size is the arena's size in bytes; Used how many of them are handed out.
func (a *Arena) Size() int { return len(a.mem) }

// Used is how many bytes of the arena are handed out.
func (a *Arena) Used() int { return int(a.used) }

// Bytes copies b into the arena and returns its address.
func (a *Arena) Bytes(b []byte) (uintptr, error) {
	p, err := a.Alloc(len(b))
	if err != nil {
		return 0, err
	}
	copy(a.mem[p-a.base():], b)
	return p, nil
}

// CString copies s with a terminating NUL into the arena.
func (a *Arena) CString(s string) (uintptr, error) {
	p, err := a.Alloc(len(s) + 1)
	if err != nil {
		return 0, err
	}
	copy(a.mem[p-a.base():], s)
	return p, nil
}

// CStrings builds a NULL-terminated array of C strings (an argv or envp).
func (a *Arena) CStrings(ss []string) (uintptr, error) {
	vec, err := a.Alloc(8 * (len(ss) + 1))
	if err != nil {
		return 0, err
	}
	for i, s := range ss {
		p, err := a.CString(s)
		if err != nil {
			return 0, err
		}
		*a.word(vec + uintptr(8*i)) = uint64(p)
	}
	return vec, nil
}

// word returns the uint64 at address p, which must lie in the arena.
func (a *Arena) word(p uintptr) *uint64 {
	if p < a.base() || p+8 > a.base()+uintptr(len(a.mem)) {
		panic(fmt.Sprintf("clonecore: address %#x outside the arena", p))
	}
	return (*uint64)(unsafe.Pointer(&a.mem[p-a.base()]))
}

// Load64 reads the word at p (an address from Alloc) as the child left it.
func (a *Arena) Load64(p uintptr) uint64 { return *a.word(p) }

// Store64 writes the word at p.
func (a *Arena) Store64(p uintptr, v uint64) { *a.word(p) = v }

// Slice returns the n bytes at p.
func (a *Arena) Slice(p uintptr, n int) []byte {
	off := p - a.base()
	return a.mem[off : off+uintptr(n) : off+uintptr(n)]
}

// u32 returns the uint32 at address p, which must lie in the arena.
func (a *Arena) u32(p uintptr) *uint32 {
	return (*uint32)(unsafe.Pointer(a.word(p)))
}
