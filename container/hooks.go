package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/statedir"
)

// Hooks, at the moments and in the namespaces runtime-spec v1.3.0 gives:
//
//	hook             when                               where                       if it fails
//	prestart         create, mounts made, before pivot   runtime's namespaces        the create fails
//	createRuntime    create, mounts made, before pivot   runtime's namespaces        the create fails
//	createContainer  create, after createRuntime         the container's namespaces  the create fails
//	startContainer   start, before the process execs     the container's namespaces  the start fails
//	poststart        start, after the process execs      runtime's namespaces        a warning
//	poststop         delete, after the container is gone runtime's namespaces        a warning
//
// Each hook gets the container's state on stdin, exactly its own env and
// args, and is killed when its timeout ends. Hooks in the runtime's
// namespaces are plain children of minirun; those in the container's are
// started like exec: a child program that joins every namespace of the
// container's process (minirun's Go threads cannot enter a mount
// namespace), with the hook's path execve'd as it is — resolved in the
// runtime's mount view for createContainer (the container's root is not
// pivoted yet), in the container's for startContainer.

// hookTimeout bounds a hook without a timeout of its own, so that a stuck
// hook cannot hold a client for ever.
const hookTimeout = 2 * time.Minute

// createHooks returns the work of PointMounted: prestart and createRuntime
// here, then createContainer in the container's namespaces.
func (rt *Runtime) createHooks(r *statedir.Record) func(pid int) error {
	h := r.Config.Hooks
	if h == nil || len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer) == 0 {
		return nil
	}
	return func(pid int) error {
		r.Pid = pid
		st := rt.stateForHooks(r, rspec.StateCreating)
		if err := runHooks("prestart", h.Prestart, st); err != nil {
			return err
		}
		if err := runHooks("createRuntime", h.CreateRuntime, st); err != nil {
			return err
		}
		return rt.joinedHooks("createContainer", h.CreateContainer, r, st)
	}
}

// startContainerHooks runs the startContainer hooks of a created container.
func (rt *Runtime) startContainerHooks(r *statedir.Record) error {
	if r.Config == nil || r.Config.Hooks == nil {
		return nil
	}
	return rt.joinedHooks("startContainer", r.Config.Hooks.StartContainer, r, rt.stateForHooks(r, rspec.StateCreated))
}

// poststart runs the poststart hooks; a failure is a warning.
func (rt *Runtime) poststart(r *statedir.Record) {
	if r.Config == nil || r.Config.Hooks == nil {
		return
	}
	if err := runHooks("poststart", r.Config.Hooks.Poststart, rt.stateForHooks(r, rspec.StateRunning)); err != nil {
		rt.warn("%v", err)
	}
}

// poststop runs the poststop hooks of a container that is gone; a failure
// is a warning.
func (rt *Runtime) poststop(r *statedir.Record) {
	if r.Config == nil || r.Config.Hooks == nil {
		return
	}
	if err := runHooks("poststop", r.Config.Hooks.Poststop, rt.stateForHooks(r, rspec.StateStopped)); err != nil {
		rt.warn("%v", err)
	}
}

// runHooks runs hooks of one kind in order in the runtime's namespaces,
// stopping at the first that fails.
func runHooks(kind string, hooks []rspec.Hook, st rspec.State) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("hooks.%s: encode the state: %w", kind, err)
	}
	for i, h := range hooks {
		if err := runHook(fmt.Sprintf("hooks.%s[%d]", kind, i), h, state); err != nil {
			return err
		}
	}
	return nil
}

func runHook(field string, h rspec.Hook, state []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeoutOf(h))
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = h.Args
	if len(cmd.Args) == 0 {
		cmd.Args = []string{h.Path}
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // exactly the hook's env: none of minirun's
	}
	stdin, out, err := hookFiles(state)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	defer stdin.Close()
	defer out.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, out
	err = cmd.Run()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s: %s: killed after its timeout of %v", field, h.Path, timeoutOf(h))
	}
	if err != nil {
		return hookError(field, h.Path, err, hookOutput(out))
	}
	return nil
}

// hookFiles makes a hook's stdin, holding the state, and the file its
// stdout and stderr go to: unlinked files, not pipes. A hook may leave a
// process behind that keeps them open (a daemon it starts): a pipe's copy
// would wait for that process to end, and the hook — which has — would
// hold create up until its timeout, then fail it.
func hookFiles(state []byte) (stdin, out *os.File, err error) {
	if stdin, err = unlinkedTemp("minirun-hook-state-"); err != nil {
		return nil, nil, err
	}
	if _, err := stdin.Write(state); err != nil {
		stdin.Close()
		return nil, nil, err
	}
	if _, err := stdin.Seek(0, 0); err != nil {
		stdin.Close()
		return nil, nil, err
	}
	if out, err = unlinkedTemp("minirun-hook-output-"); err != nil {
		stdin.Close()
		return nil, nil, err
	}
	return stdin, out, nil
}

func unlinkedTemp(prefix string) (*os.File, error) {
	f, err := os.CreateTemp("", prefix)
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// hookOutput is the start of what a hook wrote, for its error message.
func hookOutput(out *os.File) string {
	buf := make([]byte, 4096)
	n, _ := out.ReadAt(buf, 0)
	return string(buf[:n])
}

func timeoutOf(h rspec.Hook) time.Duration {
	if h.Timeout != nil && *h.Timeout > 0 {
		return time.Duration(*h.Timeout) * time.Second
	}
	return hookTimeout
}

func hookError(field, path string, err error, out string) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(unix.WaitStatus); ok && ws.Signaled() {
			err = fmt.Errorf("killed by %s", unix.SignalName(ws.Signal()))
		} else {
			err = fmt.Errorf("exit status %d", ee.ExitCode())
		}
	}
	if out = strings.TrimSpace(out); out != "" {
		if len(out) > 512 {
			out = out[:512] + "…"
		}
		return fmt.Errorf("%s: %s: %v: %s", field, path, err, strings.ReplaceAll(out, "\n", "; "))
	}
	return fmt.Errorf("%s: %s: %v", field, path, err)
}

// joinedHooks runs hooks of one kind in order in the namespaces of the
// container's process r.Pid.
func (rt *Runtime) joinedHooks(kind string, hooks []rspec.Hook, r *statedir.Record, st rspec.State) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("hooks.%s: encode the state: %w", kind, err)
	}
	for i, h := range hooks {
		field := fmt.Sprintf("hooks.%s[%d]", kind, i)
		if err := runJoinedHook(field, h, r, state); err != nil {
			return err
		}
	}
	return nil
}

func runJoinedHook(field string, h rspec.Hook, r *statedir.Record, state []byte) error {
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	p := &rspec.Process{
		Args: args, Env: h.Env, Cwd: "/",
		// The hook is the runtime's, not the container's: it keeps the
		// runtime's privileges, as it would in the runtime's namespaces.
		Capabilities: allCapabilities(),
	}
	stdin, out, err := hookFiles(state)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	defer stdin.Close()
	defer out.Close()
	j, err := startJoined(r, p, joinOptions{Path: h.Path, Stdio: []*os.File{stdin, out, out}, Field: field})
	if err != nil {
		return err
	}
	ws, timedOut := j.waitFor(timeoutOf(h))
	switch {
	case timedOut:
		return fmt.Errorf("%s: %s: killed after its timeout of %v", field, h.Path, timeoutOf(h))
	case ws.Signaled():
		return hookError(field, h.Path, fmt.Errorf("killed by %v", unix.SignalName(ws.Signal())), hookOutput(out))
	case ws.ExitStatus() != 0:
		return hookError(field, h.Path, fmt.Errorf("exit status %d", ws.ExitStatus()), hookOutput(out))
	}
	return nil
}
