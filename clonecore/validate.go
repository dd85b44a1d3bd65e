package clonecore

import (
	"errors"
	"fmt"
)

// Use says what a task is started for; some flag sets make sense for one use
// and not another.
type Use int

const (
	// UseProbe is a task that runs a child program and exits or execs: any
	// combination the kernel accepts is allowed.
	UseProbe Use = iota
	// UseWorker is a task that runs a worker kernel on its own stack and
	// ends with SYS_exit while minirun goes on running.
	UseWorker
	// UseProcess is a task that runs a child program and ends in execve:
	// a container's init.
	UseProcess
)

// A Rule is one combination of flags the kernel (or minirun) refuses, with
// the reason in words.
type Rule struct {
	// With Then == 0 the rule is broken when all of If are set together;
	// otherwise when all of If are set and Then is not.
	If, Then Flags
	Why      string
}

// KernelRules are the combinations clone3's argument checks
// (clone3_args_valid) and copy_process (kernel/fork.c) refuse with EINVAL, in
// the order the kernel checks them. rules_kernel_test.go asks the running
// kernel for every rule, and for every pair of flags, and wants EINVAL
// exactly where a rule is broken.
//
// Not rules, though they look like ones: CLONE_NEWPID or CLONE_NEWUSER with
// CLONE_PARENT (refused before Linux 4.12, accepted since); CLONE_NEWTIME
// with CLONE_VM (accepted: the child stays in the caller's time namespace and
// the new one is only its time_for_children, because copy_namespaces moves a
// child into it only without CLONE_VM). The kernel also refuses CLONE_PARENT
// from a PID namespace's init and CLONE_THREAD after unshare(CLONE_NEWPID),
// which depend on the caller, not on the flags.
var KernelRules = []Rule{
	{If: DETACHED, Why: "clone3 refuses CLONE_DETACHED: the flag has done nothing since Linux 2.6 and its bit is kept for reuse"},
	{If: CLEAR_SIGHAND | SIGHAND, Why: "CLONE_CLEAR_SIGHAND cannot be combined with CLONE_SIGHAND: handlers cannot be reset in a table that is shared"},
	{If: NEWNS | FS, Why: "CLONE_NEWNS cannot be combined with CLONE_FS: a new mount namespace needs its own root and cwd, which CLONE_FS would share"},
	{If: NEWUSER | FS, Why: "CLONE_NEWUSER cannot be combined with CLONE_FS: a task in another user namespace must not share root and cwd with its parent"},
	{If: THREAD, Then: SIGHAND, Why: "CLONE_THREAD requires CLONE_SIGHAND: a thread group shares signal handlers"},
	{If: SIGHAND, Then: VM, Why: "CLONE_SIGHAND requires CLONE_VM: signal handlers are addresses, which only mean something in a shared address space"},
	{If: NEWPID | THREAD, Why: "CLONE_NEWPID cannot be combined with CLONE_THREAD: every task of a thread group lives in one PID namespace"},
	{If: NEWUSER | THREAD, Why: "CLONE_NEWUSER cannot be combined with CLONE_THREAD: every task of a thread group lives in one user namespace"},
	{If: NEWIPC | SYSVSEM, Why: "CLONE_NEWIPC cannot be combined with CLONE_SYSVSEM: semaphore undo lists cannot be shared across IPC namespaces"},
}

// broken reports whether f breaks the rule.
func (r Rule) broken(f Flags) bool {
	if f&r.If != r.If {
		return false
	}
	if r.Then != 0 {
		return f&r.Then != r.Then
	}
	return true
}

// ErrInvalidFlags is wrapped by every error Validate returns.
var ErrInvalidFlags = errors.New("invalid clone flags")

// FlagError is a flag set Validate refuses, with the reason.
type FlagError struct {
	Flags Flags
	Why   string
}

func (e *FlagError) Error() string { return e.Flags.String() + ": " + e.Why }
func (e *FlagError) Unwrap() error { return ErrInvalidFlags }

// Validate checks f for use u before the kernel is asked, and explains the
// first refusal in words. It knows every combination copy_process refuses and
// the rules of minirun's own child code.
func (f Flags) Validate(u Use) error {
	if rest := f &^ knownFlags; rest != 0 {
		return &FlagError{f, fmt.Sprintf("unknown bits %#x: the low byte of clone(2)'s flags is the exit signal, which minirun passes separately", uint64(rest))}
	}
	for _, r := range KernelRules {
		if r.broken(f) {
			return &FlagError{f, r.Why}
		}
	}
	switch u {
	case UseWorker:
		switch {
		case f&VM == 0:
			return &FlagError{f, "a worker needs CLONE_VM: it runs on a stack and reports into memory that minirun must share with it"}
		case f&SETTLS == 0:
			return &FlagError{f, "a worker needs CLONE_SETTLS: each worker reads its own value through its TLS register, and without it the worker would share minirun's"}
		case f&CHILD_CLEARTID == 0:
			return &FlagError{f, "a worker needs CLONE_CHILD_CLEARTID: minirun joins workers by waiting on the TID word the kernel clears at exit"}
		case f&VFORK != 0:
			return &FlagError{f, "a worker cannot be a vfork child: minirun would be suspended until the worker exits"}
		case f&NamespaceFlags != 0 && f&THREAD != 0:
			return &FlagError{f, "a thread cannot have namespaces of its own"}
		case f&PIDFD != 0 && f&THREAD != 0:
			return &FlagError{f, "minirun joins threads through their TID word, not a pidfd"}
		}
	case UseProbe, UseProcess:
		// A task sharing the address space gets CLONE_SETTLS and its TID
		// word from the clone core, which needs them (Task.Added).
		if u == UseProcess && f&(THREAD|SIGHAND|FILES|FS|VFORK) != 0 {
			return &FlagError{f, "a container process cannot share minirun's thread group, signal handlers, file table or filesystem context, nor suspend minirun"}
		}
	}
	return nil
}
