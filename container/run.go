package container

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/specs"
)

// RunOptions say how to run a container in the foreground.
type RunOptions struct {
	// NoPivot uses MS_MOVE and chroot instead of pivot_root.
	NoPivot bool
	// PreserveFDs passes fds 3 … 3+PreserveFDs-1 to the process.
	PreserveFDs int
}

// ForwardedSignals are passed on to the container's process, as runc run does.
var ForwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// Compile validates b and compiles it with this host's facts.
func Compile(b *specs.Bundle, o RunOptions) (*childprog.Plan, error) {
	// Validate refuses, one line each, every field the policy refuses
	// (specs.Policy): what minirun cannot apply is never run without.
	if err := b.Validate(specs.ValidateOptions{CheckFS: true}); err != nil {
		return nil, err
	}
	env := HostEnv(b)
	env.NoPivot = o.NoPivot
	env.PreserveFDs = o.PreserveFDs
	env.DieWithParent = true
	return childprog.Compile(b.Spec, env)
}

// Run runs the container of bundle b in the foreground: stdio passes
// through, signals are forwarded, and the return value is the process's
// exit status (128+N when a signal N killed it). A forwarded signal that
// arrives while the container is being set up ends the setup instead,
// with nothing left behind (*InterruptedError).
func Run(b *specs.Bundle, o RunOptions) (int, error) {
	plan, err := Compile(b, o)
	if err != nil {
		return 0, err
	}
	defer plan.Free()
	// Catch the forwarded signals from now on, so that a ^C during setup
	// ends it cleanly rather than killing minirun half-way.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, ForwardedSignals...)
	defer signal.Stop(sigs)

	work := parentWork{ConsoleSize: b.Spec.Process.ConsoleSize}
	netDone, err := netDevicesWork(b.Spec, &work)
	if err != nil {
		return 0, err
	}
	p, err := start(plan, work, sigs)
	if nerr := netDone(err == nil); nerr != nil {
		err = fmt.Errorf("%w; %w", err, nerr)
	}
	if err != nil {
		return 0, err
	}
	var relay *consoleRelay
	if p.console != nil {
		if relay, err = newConsoleRelay(p.console, os.Stdin, os.Stdout); err != nil {
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

// process is a started container process.
type process struct {
	pid     int
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
	// Until the child is let go for the last time, a signal interrupts
	// the setup; after that it stays in sigs for the caller to forward.
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
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err != unix.EINTR {
				break
			}
		}
		p.exited <- ws
	}()
	return p, nil
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
