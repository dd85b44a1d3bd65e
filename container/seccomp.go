package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/seccomp"
	"github.com/minirun/minirun/specs"
	"github.com/minirun/minirun/statedir"
)

// linux.seccomp, the parent's side. childprog compiles the policy into the
// plan and places the child's seccomp(2) step; here its errors become the
// config's, what the filter leaves out is said with --debug, and a
// notifying filter's listener goes to linux.seccomp.listenerPath.

// compileError makes a seccomp policy the compiler refuses an invalid
// config, one line naming the field, like the validator's.
func compileError(err error, file string) error {
	var fe *seccomp.FieldError
	if errors.As(err, &fe) {
		return &specs.ValidationError{File: file, Errs: []specs.FieldError{{Path: fe.Field, Msg: fe.Err.Error()}}}
	}
	return err
}

// reportSkipped says, at debug level, what the policy names that the filter
// leaves out: system calls this kernel's ABIs do not have, architectures
// this machine cannot run. runc skips the same and goes on.
func (rt *Runtime) reportSkipped(plan *childprog.Plan) {
	reportSkipped(rt.Debug, plan)
}

func reportSkipped(debug func(string, ...any), plan *childprog.Plan) {
	if debug == nil || plan == nil || plan.Seccomp == nil {
		return
	}
	for _, s := range plan.Seccomp.Skipped {
		debug("linux.seccomp: skipped %s", s)
	}
}

// sendListener sends a notifying filter's listener to the agent at
// linux.seccomp.listenerPath, as runtime-spec says: one connection, one
// message whose data is the container process state (ociVersion, fds
// ["seccompFd"], pid, metadata, the container's state) and whose
// SCM_RIGHTS carries the listener. The caller closes its copy.
func sendListener(sc *rspec.LinuxSeccomp, st rspec.State, pid int, listener *os.File) error {
	msg, err := json.Marshal(rspec.ContainerProcessState{
		Version:  rspec.Version,
		Fds:      []string{rspec.SeccompFdName},
		Pid:      pid,
		Metadata: sc.ListenerMetadata,
		State:    st,
	})
	if err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath: encode the state: %w", err)
	}
	if err := sendFD(sc.ListenerPath, string(msg), int(listener.Fd())); err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath: %s: %w", sc.ListenerPath, err)
	}
	return nil
}

// listenerWork is the parent's work at PointListener for a process of
// container r: the message carries the container's state with status st
// (its process is r.Pid, or for the container's own process the pid the
// work is called with) and the process's pid. nil without a filter.
func (rt *Runtime) listenerWork(l *rspec.Linux, r *statedir.Record, st rspec.ContainerState) func(int, *os.File) error {
	if l == nil || l.Seccomp == nil {
		return nil
	}
	return func(pid int, listener *os.File) error {
		state := rt.stateForHooks(r, st)
		if st == rspec.StateCreating {
			state.Pid = pid
		}
		return sendListener(l.Seccomp, state, pid, listener)
	}
}
