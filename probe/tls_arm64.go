package probe

import (
	"errors"
	"runtime"

	"github.com/minirun/minirun/clonecore"
)

// tlsRegister names where this architecture keeps the thread pointer.
const tlsRegister = "TPIDR_EL0"

// tlsUnmeasurable says why the thread pointer is not measured here.
const tlsUnmeasurable = "not measurable on " + runtime.GOARCH + ": no syscall reads the thread pointer (" + tlsRegister + " is read by an instruction, and a probe runs only syscalls)"

// addThreadPointerStep adds nothing: see tlsUnmeasurable.
func addThreadPointerStep(p *clonecore.Program, addr uintptr) {}

// ownThreadPointer is not available: see tlsUnmeasurable.
func ownThreadPointer(a *clonecore.Arena, addr uintptr) (uint64, error) {
	return 0, errors.New(tlsUnmeasurable)
}
