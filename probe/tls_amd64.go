package probe

import (
	"fmt"

	"github.com/minirun/minirun/clonecore"
	"golang.org/x/sys/unix"
)

// tlsRegister names where amd64 keeps the thread pointer: the FS base.
const tlsRegister = "%fs"

// tlsUnmeasurable is empty where the thread pointer can be measured.
const tlsUnmeasurable = ""

// archGetFS is arch_prctl's ARCH_GET_FS: store the FS base at an address.
const archGetFS = 0x1003

// addThreadPointerStep adds the step that stores the child's thread pointer
// at addr, an arena word.
func addThreadPointerStep(p *clonecore.Program, addr uintptr) {
	p.Add("probe: tls: read the thread pointer", fmt.Sprintf("arch_prctl(ARCH_GET_FS, %#x)", addr),
		unix.SYS_ARCH_PRCTL, []clonecore.Arg{clonecore.Imm(archGetFS), clonecore.Imm(addr)})
}

// ownThreadPointer returns the calling OS thread's thread pointer, read
// through the arena word at addr.
func ownThreadPointer(a *clonecore.Arena, addr uintptr) (uint64, error) {
	if _, _, e := unix.RawSyscall(unix.SYS_ARCH_PRCTL, archGetFS, addr, 0); e != 0 {
		return 0, fmt.Errorf("arch_prctl(ARCH_GET_FS): %w", e)
	}
	return a.Load64(addr), nil
}
