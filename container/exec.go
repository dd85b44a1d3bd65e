package container

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/internal/procfs"
	"github.com/minirun/minirun/namespaces"
	"github.com/minirun/minirun/specs"
	"github.com/minirun/minirun/statedir"
)

// ExecOptions say how to start a process in a running container.
type ExecOptions struct {
	// Detach returns once the process runs, leaving it to whoever reaps
	// it; PidFile then gets its pid.
	Detach  bool
	PidFile string
	// ConsoleSocket receives the pty master of a process.terminal process
	// minirun does not attach to; PidfdSocket a pidfd of the process.
	ConsoleSocket, PidfdSocket string
	// PreserveFDs passes fds 3 … 3+PreserveFDs-1 to the process.
	PreserveFDs int
	// Signals is the caller's catch of the forwarded signals, as in
	// Options.
	Signals *Signals
}

// Exec starts process p in running container id: it joins every namespace
// of the container's process and its cgroups, with the same process
// options run applies (env, cwd, user, capabilities, no_new_privs,
// rlimits, terminal). Attached, it forwards signals and returns the
// process's exit status; detached, 0 once the process runs.
func (rt *Runtime) Exec(id string, p *rspec.Process, o ExecOptions) (int, error) {
	r, err := rt.Dir.Read(id)
	if err != nil {
		return 0, err
	}
	if st := status(r); st != rspec.StateRunning && st != rspec.StateCreated {
		return 0, fmt.Errorf("container %q: container not running (status %s); cannot exec", id, st)
	}
	if paused(r) {
		return 0, fmt.Errorf("container %q is paused; resume it to exec", id)
	}
	if p.Terminal && o.Detach && o.ConsoleSocket == "" {
		return 0, fmt.Errorf("exec: process.terminal: a detached process needs --console-socket to hand its terminal to")
	}
	if !p.Terminal && o.ConsoleSocket != "" {
		return 0, fmt.Errorf("exec: --console-socket: the process has no terminal to send (--tty, or process.terminal)")
	}
	var sigs chan os.Signal
	if !o.Detach {
		s := signalsFor(o.Signals)
		defer s.release()
		s.ready(nil)
		sigs = s.C
	}
	j, err := startJoined(r, p, joinOptions{Field: "exec", Detach: o.Detach, PreserveFDs: listenFDs(o.PreserveFDs),
		ConsoleSize: p.ConsoleSize, Container: true, Debug: rt.Debug,
		Listener: rt.listenerWork(r.Config.Linux, r, rspec.StateRunning)})
	if err != nil {
		return 0, err
	}
	if j.console != nil && o.ConsoleSocket != "" {
		err := sendConsole(o.ConsoleSocket, j.console)
		j.console.Close()
		j.console = nil
		if err != nil {
			unix.Kill(j.pid, unix.SIGKILL)
			j.reap()
			return 0, err
		}
	}
	if o.PidfdSocket != "" {
		if err := sendPidfd(o.PidfdSocket, j.pid); err != nil {
			unix.Kill(j.pid, unix.SIGKILL)
			j.reap()
			return 0, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, j.pid); err != nil {
			unix.Kill(j.pid, unix.SIGKILL)
			j.reap()
			return 0, err
		}
	}
	if o.Detach {
		return 0, nil
	}
	return attach(j.pid, j.console, sigs)
}

// joinOptions say how to start a process in a container's namespaces.
type joinOptions struct {
	// Field names the process in messages: "exec", "hooks.startContainer[0]".
	Field string
	// Path, when set, is execve'd as it is (a hook's path).
	Path string
	// Stdio, when set, are the process's fds 0, 1 and 2; else minirun's.
	Stdio []*os.File
	// Detach lets the process outlive minirun.
	Detach      bool
	PreserveFDs int
	ConsoleSize *rspec.Box
	// Container applies the container's own restrictions beyond the
	// process's (its seccomp filter): exec's processes are the
	// container's, hooks are the runtime's.
	Container bool
	// Listener sends a notifying filter's listener to its agent.
	Listener func(pid int, listener *os.File) error
	// Debug reports what the filter leaves out of the policy.
	Debug func(format string, a ...any)
}

// joined is a process started in a container's namespaces: a child of
// minirun's (the double fork's grandchild is one, through CLONE_PARENT).
type joined struct {
	pid     int
	console *os.File
}

// joinSpec is the spec an exec'd process is compiled from: the container's
// config with process p, and every namespace of the container's process a
// join, by its /proc/PID/ns file.
func joinSpec(r *statedir.Record, p *rspec.Process, container bool) *rspec.Spec {
	// The root is the joined mount namespace's: root.path is kept only
	// because a spec must have one.
	s := &rspec.Spec{Version: r.Config.Version, Root: &rspec.Root{Path: r.Config.Root.Path}, Process: p, Linux: &rspec.Linux{}}
	if l := r.Config.Linux; l != nil {
		for _, n := range l.Namespaces {
			info, ok := namespaces.ByType(n.Type)
			if !ok {
				continue
			}
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: n.Type, Path: info.ProcPath(r.Pid)})
		}
		if container {
			s.Linux.Seccomp = l.Seccomp
		}
	}
	return s
}

// startJoined starts p in the namespaces of container r's process and
// returns once it has exec'd; on failure nothing is left.
func startJoined(r *statedir.Record, p *rspec.Process, o joinOptions) (*joined, error) {
	spec := joinSpec(r, p, o.Container)
	if err := specs.Validate(spec, specs.ValidateOptions{File: o.Field + " process"}); err != nil {
		return nil, err
	}
	var join cgroupJoin
	if o.Container {
		// exec's process is the container's, and lives in its cgroups;
		// a hook is the runtime's.
		var err error
		if join, err = joinCgroup(r); err != nil {
			return nil, fmt.Errorf("%s: %w", o.Field, err)
		}
		defer join.close()
	}
	env := childprog.CompileEnv{
		Exec: true, Path: o.Path, Stdio: o.Stdio != nil, DieWithParent: !o.Detach,
		PreserveFDs: o.PreserveFDs, LastCap: lastCap(), Rootless: os.Geteuid() != 0,
		Cgroup: join.enter != nil, CgroupTasks: join.names, ParentCheck: true,
		SetgroupsDenied: setgroupsDenied(r.Pid),
	}
	plan, err := childprog.Compile(spec, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Field, err)
	}
	defer plan.Free()
	reportSkipped(o.Debug, plan)
	for i, f := range o.Stdio {
		plan.Arena.Store32(plan.StdioFDs[i], uint32(f.Fd()))
	}
	s, err := newSetup(plan, parentWork{ConsoleSize: o.ConsoleSize, Cgroup: join.into, CgroupTasks: join.tasks, Namespaces: join.enter, Listener: o.Listener})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Field, err)
	}
	// The namespace files are open: if the pid still names the
	// container's process, they are its namespaces, not a recycled
	// pid's.
	if statedir.Check(r.Pid, r.PidStart) != statedir.Alive {
		s.close()
		return nil, fmt.Errorf("container %q: container not running (its process ended)", r.ID)
	}
	if err := s.start(); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Field, err)
	}
	pid, err := s.finish()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Field, err)
	}
	return &joined{pid: pid, console: s.console}, nil
}

// waitFor waits up to d for the process to end and reaps it; past d it is
// killed first.
func (j *joined) waitFor(d time.Duration) (ws unix.WaitStatus, timedOut bool) {
	if fd, err := unix.PidfdOpen(j.pid, 0); err == nil {
		deadline := time.Now().Add(d)
		for {
			left := time.Until(deadline)
			if left <= 0 {
				timedOut = true
				unix.Kill(j.pid, unix.SIGKILL)
				break
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left/time.Millisecond)+1)
			if err == nil && n > 0 {
				break
			}
		}
		unix.Close(fd)
	}
	return j.reap(), timedOut
}

// reap waits for the process to end.
func (j *joined) reap() unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(j.pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws
		}
	}
}

// allCapabilities is minirun's own privilege, for its hooks: its bounding
// set, and its permitted set as effective and permitted (not every
// capability the kernel knows: one minirun lacks, CAP_SYS_RESOURCE on a
// machine whose bounding set has dropped it, capset refuses).
func allCapabilities() *rspec.LinuxCapabilities {
	status, _ := procfs.ReadStatus("/proc/self/status")
	names := func(field string) []string {
		set, _ := strconv.ParseUint(status[field], 16, 64)
		var out []string
		for n := 0; n < 64; n++ {
			if set&(1<<n) != 0 {
				if name, ok := specs.CapabilityName(n); ok {
					out = append(out, name)
				}
			}
		}
		return out
	}
	perm := names("CapPrm")
	return &rspec.LinuxCapabilities{Bounding: names("CapBnd"), Effective: perm, Permitted: perm}
}

// setgroupsDenied reports whether process pid's user namespace has
// setgroups denied, as an unprivileged one with a single gid mapping must.
func setgroupsDenied(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/setgroups")
	return err == nil && strings.TrimSpace(string(data)) == "deny"
}
