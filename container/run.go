package container

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/clonecore"
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
	if err := b.Validate(specs.ValidateOptions{CheckFS: true}); err != nil {
		return nil, err
	}
	if err := Unsupported(b.Spec, b.Path); err != nil {
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
// exit status (128+N when a signal N killed it).
func Run(b *specs.Bundle, o RunOptions) (int, error) {
	plan, err := Compile(b, o)
	if err != nil {
		return 0, err
	}
	defer plan.Free()
	// Catch the forwarded signals from now on, so that a ^C during setup
	// is not lost (nor kills minirun before it has cleaned up).
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, ForwardedSignals...)
	defer signal.Stop(sigs)

	p, err := start(plan, b.Spec.Process.ConsoleSize)
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

// start clones the child, plays the parent's part of the protocol and
// returns once the container's process runs its own program. On any
// failure the child is killed and reaped.
func start(plan *childprog.Plan, size *rspec.Box) (*process, error) {
	var closeAfter []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	// pipe makes a pipe when the plan has a word for one of its ends,
	// and stores that end's fd number there for the child.
	pipe := func(word uintptr, childReads bool) (r, w *os.File, err error) {
		if word == 0 {
			return nil, nil, nil
		}
		if r, w, err = os.Pipe(); err != nil {
			return nil, nil, err
		}
		closeAfter = append(closeAfter, r, w)
		end := w
		if childReads {
			end = r
		}
		plan.Arena.Store32(word, uint32(end.Fd()))
		return r, w, nil
	}
	_, syncW, err := pipe(plan.SyncFD, true)
	if err != nil {
		return nil, fmt.Errorf("sync pipe: %w", err)
	}
	notifyR, notifyW, err := pipe(plan.NotifyFD, false)
	if err != nil {
		return nil, fmt.Errorf("notify pipe: %w", err)
	}
	for i, j := range plan.Joins {
		f, err := os.OpenFile(j.Path, os.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: open %s namespace: %w", j.Field(), j.Type, unwrapPath(err))
		}
		closeAfter = append(closeAfter, f)
		plan.Arena.Store32(plan.JoinFDs[i], uint32(f.Fd()))
	}

	task, err := clonecore.StartAs(clonecore.UseProcess, plan.Program, clonecore.Options{Flags: plan.Flags})
	if err != nil {
		return nil, err
	}
	if notifyW != nil {
		// Only the child may hold the write end now: its exit is EOF.
		notifyW.Close()
	}
	var console *os.File
	fail := func(err error) (*process, error) {
		if console != nil {
			console.Close()
		}
		unix.Kill(task.TID, unix.SIGKILL)
		task.Join()
		task.Reap()
		if plan.DoubleFork {
			if gc := int(plan.Arena.Load64(plan.GrandchildTID)); gc > 0 {
				unix.Kill(gc, unix.SIGKILL)
				var ws unix.WaitStatus
				unix.Wait4(gc, &ws, 0, nil)
			}
		}
		return nil, err
	}
	if plan.UserNS {
		if err := writeIDMaps(task.TID, plan); err != nil {
			return fail(err)
		}
	}
	if plan.TimeOffsets != "" {
		// Once the child says it has unshared its time namespace, and
		// while it waits, nothing has entered that namespace: its clock
		// offsets can still be set.
		if err := awaitNotify(notifyR, "linux.timeOffsets: the container's process ended before it made its time namespace"); err != nil {
			if jerr := task.Join(); jerr != nil {
				err = jerr
			}
			return fail(err)
		}
		file := "/proc/" + strconv.Itoa(task.TID) + "/timens_offsets"
		if err := os.WriteFile(file, []byte(plan.TimeOffsets), 0); err != nil {
			return fail(fmt.Errorf("linux.timeOffsets: write %s: %w", file, unwrapPath(err)))
		}
	}
	release := func() error {
		if _, err := syncW.Write([]byte{1}); err != nil {
			return fmt.Errorf("release the container's process: %w", err)
		}
		return nil
	}
	if plan.WaitsForParent() {
		if err := release(); err != nil {
			return fail(err)
		}
	}
	if plan.Console != 0 {
		var err error
		if console, err = takeConsole(task, plan, notifyR, size); err != nil {
			if jerr := task.Join(); jerr != nil {
				err = jerr // the child's own failure says more
			}
			return fail(err)
		}
		if err := release(); err != nil {
			return fail(err)
		}
	}
	if err := task.Join(); err != nil {
		return fail(err)
	}
	if task.PidFD >= 0 {
		// Only the pty needed it; the process is waited for by its pid.
		unix.Close(task.PidFD)
		task.PidFD = -1
	}
	pid := task.TID
	if plan.DoubleFork {
		// The middle task has exited; the process is its sibling, a child
		// of minirun's through CLONE_PARENT.
		task.Reap()
		pid = int(int32(plan.Arena.Load64(plan.GrandchildTID)))
	}
	p := &process{pid: pid, exited: make(chan unix.WaitStatus, 1), console: console}
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

// awaitNotify waits for the child's byte on the notify pipe; EOF means the
// child is gone (its own failure, from Join, then says more).
func awaitNotify(notify *os.File, gone string) error {
	var b [1]byte
	if n, _ := notify.Read(b[:]); n != 1 {
		return errors.New(gone)
	}
	return nil
}
