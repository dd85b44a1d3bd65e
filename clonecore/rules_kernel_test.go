package clonecore

import (
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestKernelRulesAgainstKernel proves KernelRules against the running kernel.
// For each rule it asks the kernel, through the core's unexported clone (so
// Validate is not in the way), for the smallest flag set that breaks only
// that rule, and wants EINVAL; then it asks for the same set with the
// conflict taken away (each flag of an "If" pair dropped in turn, or the
// "Then" flag added) and wants the clone to succeed. The second half is what
// makes the first mean something: without it an EINVAL could come from some
// other check (clone3 refuses CLONE_PARENT with an exit signal, for one).
func TestKernelRulesAgainstKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the controls create namespaces, which needs CAP_SYS_ADMIN")
	}
	for _, r := range KernelRules {
		bad := completeFlags(r.If, r)
		t.Run(bad.String(), func(t *testing.T) {
			if !r.broken(bad) {
				t.Fatalf("%v does not break the rule it is meant to test", bad)
			}
			for _, other := range KernelRules {
				if other != r && other.broken(bad) {
					t.Fatalf("%v also breaks %q: the test cannot tell which rule the kernel applies", bad, other.Why)
				}
			}
			forEachCloneSyscall(t, func(t *testing.T) {
				if noClone3.Load() && bad&(clone3Only|DETACHED) != 0 {
					// The legacy entry cannot pass these, and it
					// accepts CLONE_DETACHED (ignoring it).
					t.Skipf("%v: a clone3 rule", bad)
				}
				if err := askKernel(t, bad); !errors.Is(err, unix.EINVAL) {
					t.Errorf("%v: got %v, want EINVAL (rule: %s)", bad, errOrAccepted(err), r.Why)
				}
				for _, ok := range ruleControls(bad, r) {
					if err := askKernel(t, ok); err != nil {
						t.Errorf("control %v: got %v, want it accepted (the rule's flags minus the conflict)", ok, err)
					}
				}
			})
		})
	}
}

// TestKernelAcceptsWhatRulesAllow pins down combinations that look suspicious
// but that this kernel accepts, so that nobody adds a rule for them.
func TestKernelAcceptsWhatRulesAllow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the flag sets create namespaces, which needs CAP_SYS_ADMIN")
	}
	for _, f := range []Flags{
		// The kernel makes the time namespace but leaves a CLONE_VM child
		// in the caller's: copy_namespaces calls timens_on_fork only
		// without CLONE_VM, so the new namespace is the child's
		// time_for_children.
		NEWTIME | VM,
		// Refused by kernels before 4.12; accepted since.
		NEWPID | PARENT,
		NEWUSER | PARENT,
		// Refused before 6.9, which allowed a pidfd for a thread.
		PIDFD | THREAD | SIGHAND | VM,
		// CLONE_PARENT alone: clone3 wants exit signal 0 with it, which
		// the core passes.
		PARENT,
	} {
		t.Run(f.String(), func(t *testing.T) {
			if err := f.Validate(UseProbe); err != nil {
				t.Errorf("Validate: got %v, want nil: the kernel accepts this set", err)
			}
			if err := askKernel(t, f); err != nil {
				t.Errorf("clone3(%v): got %v, want it accepted", f, err)
			}
		})
	}
}

// TestKernelRefusesOnlyWhatRulesSay asks the kernel for every flag on its
// own and every pair of flags, and wants EINVAL exactly where a KernelRule
// is broken: the table is complete as far as pairs go, and no rule refuses
// something the kernel accepts. CLONE_INTO_CGROUP is left out: it needs a
// cgroup2 directory, and a clone without one fails for that reason.
func TestKernelRefusesOnlyWhatRulesSay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: most pairs create namespaces, which needs CAP_SYS_ADMIN")
	}
	var single []Flags
	for _, n := range flagNames {
		if n.f != INTO_CGROUP {
			single = append(single, n.f)
		}
	}
	var sets []Flags
	for i, a := range single {
		sets = append(sets, a)
		for _, b := range single[i+1:] {
			sets = append(sets, a|b)
		}
	}
	for _, f := range sets {
		var rule *Rule
		for i := range KernelRules {
			if KernelRules[i].broken(f) {
				rule = &KernelRules[i]
				break
			}
		}
		err := askKernel(t, f)
		switch {
		case rule == nil && err != nil:
			t.Errorf("clone3(%v): got %v, want it accepted: no rule refuses it", f, err)
		case rule != nil && !errors.Is(err, unix.EINVAL):
			t.Errorf("clone3(%v): got %v, want EINVAL (rule: %s)", f, errOrAccepted(err), rule.Why)
		}
	}
}

// clone3Only are the flags the legacy clone(2) entry cannot pass.
const clone3Only = NEWTIME | CLEAR_SIGHAND | INTO_CGROUP | PIDFD

// completeFlags adds to f what every rule other than r requires (CLONE_THREAD
// needs CLONE_SIGHAND, which needs CLONE_VM), so that f breaks r alone.
func completeFlags(f Flags, r Rule) Flags {
	for changed := true; changed; {
		changed = false
		for _, other := range KernelRules {
			if other != r && other.Then != 0 && other.broken(f) {
				f |= other.Then
				changed = true
			}
		}
	}
	return f
}

// ruleControls are the sets next to bad that keep the rule: bad without each
// flag of an "If" pair, or bad with the "Then" flag.
func ruleControls(bad Flags, r Rule) []Flags {
	if r.Then != 0 {
		return []Flags{completeFlags(bad|r.Then, Rule{})}
	}
	var out []Flags
	for b := Flags(1); b != 0 && b <= r.If; b <<= 1 {
		if r.If&b != 0 {
			out = append(out, completeFlags(bad&^b, Rule{}))
		}
	}
	return out
}

// askKernel clones a child with exactly flags (plus what clone adds for a
// CLONE_VM child), bypassing Validate. The child runs an empty program and
// exits; askKernel joins and reaps it and returns the kernel's errno, or nil.
func askKernel(t *testing.T, flags Flags) error {
	t.Helper()
	a, err := NewArena(1 << 14)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	p := NewProgram(a)
	steps, results, err := p.seal()
	if err != nil {
		t.Fatal(err)
	}
	block, err := a.Alloc(blockSize)
	if err != nil {
		t.Fatal(err)
	}
	a.Store64(block+offMode, modeProgram)
	a.Store64(block+offSteps, uint64(steps))
	a.Store64(block+offNsteps, 0)
	a.Store64(block+offResults, uint64(results))
	st, err := NewStacks(1, MinStack)
	if err != nil {
		t.Fatal(err)
	}
	// A child sharing the handler table can change minirun's handlers: the
	// init of a new PID namespace sets SIGCHLD to SIG_IGN as it exits
	// (zap_pid_ns_processes), after which every child is reaped by the
	// kernel and wait4 says ECHILD. Put every handler back.
	defer restoreSigactions(t, saveSigactions())
	task, err := clone(Options{Flags: flags}, a, block, st, 0)
	if err != nil {
		st.Free()
		var ce *CloneError
		if errors.As(err, &ce) {
			return ce.Errno
		}
		t.Fatal(err)
	}
	task.prog, task.stacks = p, st
	if err := task.Join(); err != nil {
		t.Fatalf("clone3(%v): the empty program failed: %v", flags, err)
	}
	if !task.Done() {
		t.Fatalf("clone3(%v): the empty program did not run to its end", flags)
	}
	switch {
	case flags&PARENT != 0:
		// The test's sibling: its parent reaps it.
	case flags&(NEWPID|SIGHAND) == NEWPID|SIGHAND:
		// Reaped by the kernel, as said above.
		task.Reap()
	default:
		if _, err := task.Reap(); err != nil {
			t.Fatalf("clone3(%v): reap: %v", flags, err)
		}
	}
	if task.PidFD >= 0 {
		unix.Close(task.PidFD)
	}
	return nil
}

func errOrAccepted(err error) any {
	if err == nil {
		return "accepted"
	}
	return err
}

// sigactions holds every signal's raw kernel struct sigaction (handler,
// flags, restorer, mask: 32 bytes on amd64 and arm64) while a clone runs. It
// is a global so that the kernel writes into memory that never moves.
var sigactions [65][4]uint64

func saveSigactions() [65][4]uint64 {
	for sig := 1; sig <= 64; sig++ {
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&sigactions[sig])), 8, 0, 0)
	}
	return sigactions
}

func restoreSigactions(t *testing.T, saved [65][4]uint64) {
	t.Helper()
	now := saveSigactions()
	for sig := 1; sig <= 64; sig++ {
		if now[sig] == saved[sig] {
			continue
		}
		sigactions[sig] = saved[sig]
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sigactions[sig])), 0, 8, 0, 0); e != 0 {
			t.Fatalf("restore the handler of signal %d: %v", sig, e)
		}
	}
}
