// Package clonecore is minirun's one way of making a task: every thread,
// probe task and container it starts comes from Start, StartKernel or
// StartLab, through clone3 (clone where the kernel lacks it) with the flags
// the caller asks for.
//
// A cloned child never runs Go (docs/design.md, "Why the child never runs
// Go"): it jumps to an assembly trampoline (trampoline_*.s) that either
// interprets a Program — a flat list of raw system calls built in Go, the
// child program a container's setup is compiled to — or runs a worker
// kernel of the thread lab (the work and overflow kernels there, the lab
// kernels in labs_*.s). Everything the child reads or writes lives in an
// Arena, memory outside the Go heap; stacks come from Stacks, each with a
// guard page.
//
//   - flags.go, validate.go: Flags, their names and presets, and the
//     kernel's rules about combining them, explained before the kernel is
//     asked.
//   - program.go, arena.go, child.go: the program, its memory, and the
//     block a child starts from.
//   - start.go: starting a child and joining it (the TID word, an exec
//     pipe, or a pidfd), and the errors it reports.
//   - stacks.go, worker.go, labs.go: stacks and TLS, the worker and lab
//     kernels' fields.
package clonecore
