package container

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/specs"
	"github.com/minirun/minirun/statedir"
)

// ForwardedSignals are passed on to the container's process, as runc run does.
var ForwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// Compile validates b and compiles it with this host's facts, as run
// would: for --explain.
func Compile(b *specs.Bundle, o Options) (*childprog.Plan, error) {
	rt := &Runtime{Rootless: os.Geteuid() != 0}
	plan, _, err := rt.prepare(b, "ID", o, false, !o.Detach)
	return plan, err
}

// Run runs the container of bundle b in the foreground under a state root
// of its own kind (statedir.DefaultRoot) with a generated ID: see
// Runtime.Run.
func Run(b *specs.Bundle, o Options) (int, error) {
	rt := &Runtime{Dir: statedir.Dir{Root: statedir.DefaultRoot()}, Rootless: os.Geteuid() != 0}
	return rt.Run("", b, o)
}

// Run is create and start in one process. In the foreground stdio passes
// through, signals are forwarded, and once the process ends the container
// is deleted; the return value is the process's exit status (128+N when
// signal N killed it). A forwarded signal that arrives while the container
// is being set up ends the setup instead, with nothing left behind
// (*InterruptedError). Detached, Run returns once the process runs, and
// the container stays until delete. An empty id gets a generated one.
func (rt *Runtime) Run(id string, b *specs.Bundle, o Options) (int, error) {
	if id == "" {
		id = fmt.Sprintf("run-%d-%06x", os.Getpid(), time.Now().UnixNano()&0xffffff)
	}
	// The forwarded signals are caught before anything is made, so that a
	// ^C during the setup ends it cleanly rather than killing minirun
	// half-way (Signals).
	sigs := signalsFor(o.Signals)
	defer sigs.release()
	sigs.ready(o.Trace)
	cg, err := rt.check(b, id, o, false, !o.Detach)
	if err != nil {
		return 0, err
	}
	compiled := startCompile(b, id, o, false, !o.Detach, cg)
	defer compiled.discard()
	net := makeNetNS(b.Spec)
	defer net.release()
	o.Trace.Mark("state: make the container's folder and record")
	c, err := rt.Dir.Create(id)
	if err != nil {
		return 0, err
	}
	made, err := rt.provision(c, id, b, cg, o.Trace)
	if err != nil {
		return 0, err
	}
	r, join := made.r, made.join
	undo := func(err error) (int, error) { return 0, made.undo(err) }
	defer join.close()
	plan, err := compiled.wait(o.Trace)
	if err != nil {
		// Refused by the compiler: as if before anything was made.
		made.hooks = false
		return undo(err)
	}
	rt.reportSkipped(plan)
	defer plan.Free()
	o.Trace.Mark("setup: pipes and files for the child")
	work := parentWork{
		Trace:       o.Trace,
		NetNS:       net,
		Close:       []*os.File{c.LockFile()},
		ConsoleSize: b.Spec.Process.ConsoleSize,
		Cgroup:      join.into,
		CgroupTasks: join.tasks,
		Namespaces:  join.enter,
		Cloned:      func(pid int) error { return record(c, r, pid) },
		Mounted:     rt.createHooks(r),
		Listener:    rt.listenerWork(b.Spec.Linux, r, rspec.StateCreating),
		Ready: func(pid int) error {
			r.Ready = true
			if err := record(c, r, pid); err != nil {
				return err
			}
			return rt.startContainerHooks(r)
		},
	}
	netDone, err := netDevicesWork(b.Spec, &work)
	if err != nil {
		return undo(err)
	}
	p, err := start(plan, work, sigs.C)
	if nerr := netDone(err == nil); nerr != nil {
		err = errors.Join(err, nerr)
	}
	if err != nil {
		return undo(err)
	}
	r.Ready, r.Started = true, true
	r.Pid, r.PidStart = p.pid, p.start
	o.Trace.Mark("state: record the running container")
	if err := c.Save(r); err != nil {
		unix.Kill(p.pid, unix.SIGKILL)
		<-p.exited
		return undo(err)
	}
	if p.console != nil && o.ConsoleSocket != "" {
		err := sendConsole(o.ConsoleSocket, p.console)
		p.console.Close()
		p.console = nil
		if err != nil {
			unix.Kill(p.pid, unix.SIGKILL)
			<-p.exited
			return undo(err)
		}
	}
	for _, f := range []func() error{
		func() error { return sendPidfdIf(o.PidfdSocket, p.pid) },
		func() error { return writePidFileIf(o.PidFile, p.pid) },
	} {
		if err := f(); err != nil {
			unix.Kill(p.pid, unix.SIGKILL)
			<-p.exited
			return undo(err)
		}
	}
	o.Trace.Mark("poststart hooks")
	rt.poststart(r)
	// From here other commands (state, exec, kill) may act on it.
	c.Close()
	if o.Detach {
		o.Trace.Mark("detached")
		return 0, nil
	}
	o.Trace.Mark("wait for the process to end")
	code, err := attachProcess(p, sigs.C)
	o.Trace.Mark("delete the container")
	if derr := rt.Delete(id, true); derr != nil {
		rt.warn("%v", derr)
	}
	o.Trace.Mark("done")
	return code, err
}

func sendPidfdIf(path string, pid int) error {
	if path == "" {
		return nil
	}
	return sendPidfd(path, pid)
}

func writePidFileIf(path string, pid int) error {
	if path == "" {
		return nil
	}
	return writePidFile(path, pid)
}

// attachProcess forwards signals to the process, relays its pty, and
// returns its exit status once it ends.
func attachProcess(p *process, sigs chan os.Signal) (int, error) {
	var relay *consoleRelay
	if p.console != nil {
		var err error
		if relay, err = newConsoleRelay(p.console, os.Stdin, os.Stdout); err != nil {
			p.console.Close()
			unix.Kill(p.pid, unix.SIGKILL)
			<-p.exited
			return 0, err
		}
	}
	for {
		select {
		case s := <-sigs:
			if s == unix.SIGWINCH && relay != nil {
				relay.resize() // the kernel tells the pty's foreground group
				continue
			}
			unix.Kill(p.pid, s.(unix.Signal))
		case ws := <-p.exited:
			if relay != nil {
				relay.finish()
			}
			return exitCode(ws), nil
		}
	}
}

// attach waits for process pid, a child of minirun's, as attachProcess.
func attach(pid int, console *os.File, sigs chan os.Signal) (int, error) {
	p := &process{pid: pid, exited: make(chan unix.WaitStatus, 1), console: console}
	go p.wait()
	return attachProcess(p, sigs)
}

// process is a started container process.
type process struct {
	pid     int
	start   uint64 // its start time, read before it can be reaped
	exited  chan unix.WaitStatus
	console *os.File // the pty master, for process.terminal
}

// start runs the setup of plan to the container's execve and starts
// waiting for its process. A signal on sigs during the setup (but
// SIGWINCH) interrupts it.
func start(plan *childprog.Plan, work parentWork, sigs <-chan os.Signal) (*process, error) {
	s, err := newSetup(plan, work)
	if err != nil {
		return nil, err
	}
	watched := watchSetup(s, sigs)
	err = s.start()
	<-watched
	pid := 0
	if err == nil {
		pid, err = s.finish()
	}
	if err != nil {
		return nil, err
	}
	p := &process{pid: pid, exited: make(chan unix.WaitStatus, 1), console: s.console}
	// minirun's child: until it is reaped its stat is there to read,
	// even if it has exited already.
	if p.start, err = statedir.StartTime(pid); err != nil {
		s.fail(nil)
		return nil, fmt.Errorf("the container's process %d: %w", pid, err)
	}
	go p.wait()
	return p, nil
}

// watchSetup interrupts s when a signal (but SIGWINCH) arrives on sigs
// before the child is let go for the last time (or, for create, waits at
// its gate); after that a signal stays in sigs for the caller. The
// returned channel is closed once it has stopped watching.
func watchSetup(s *setup, sigs <-chan os.Signal) <-chan struct{} {
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case sig := <-sigs:
				if sig != unix.SIGWINCH {
					s.interrupt(sig)
					return
				}
			case <-s.released:
				return
			}
		}
	}()
	return watched
}

// pendingSignal returns a signal (but SIGWINCH) waiting in sigs, if any.
func pendingSignal(sigs <-chan os.Signal) os.Signal {
	for {
		select {
		case sig := <-sigs:
			if sig != unix.SIGWINCH {
				return sig
			}
		default:
			return nil
		}
	}
}

// wait reaps the process and reports its status on exited.
func (p *process) wait() {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	p.exited <- ws
}

// writeIDMaps writes the child's uid_map, setgroups and gid_map: directly
// as root, or for a single mapping of the caller's own ids; through the
// setuid helpers newuidmap and newgidmap (Debian's uidmap, which check
// /etc/subuid and /etc/subgid) for anything wider without privilege.
func writeIDMaps(pid int, plan *childprog.Plan) error {
	if os.Geteuid() != 0 && !plan.SetgroupsDeny {
		if err := idMapHelper("newuidmap", "linux.uidMappings", pid, plan.UIDMap); err != nil {
			return err
		}
		return idMapHelper("newgidmap", "linux.gidMappings", pid, plan.GIDMap)
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if err := os.WriteFile(dir+"uid_map", []byte(plan.UIDMap), 0); err != nil {
		return fmt.Errorf("linux.uidMappings: write %s: %w", dir+"uid_map", unwrapPath(err))
	}
	if plan.SetgroupsDeny {
		if err := os.WriteFile(dir+"setgroups", []byte("deny"), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: write %s: %w", dir+"setgroups", unwrapPath(err))
		}
	}
	if err := os.WriteFile(dir+"gid_map", []byte(plan.GIDMap), 0); err != nil {
		return fmt.Errorf("linux.gidMappings: write %s: %w", dir+"gid_map", unwrapPath(err))
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// exitCode is the shell's convention: the status, or 128+N for signal N.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// idMapHelper runs newuidmap or newgidmap PID ID HOSTID SIZE….
func idMapHelper(helper, field string, pid int, idMap string) error {
	path, err := exec.LookPath(helper)
	if err != nil {
		return fmt.Errorf("%s: mapping more than your own id without privilege needs %s (Debian package uidmap) and ranges in /etc/subuid and /etc/subgid", field, helper)
	}
	args := append([]string{strconv.Itoa(pid)}, strings.Fields(idMap)...)
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %s %s: %v: %s", field, helper, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
