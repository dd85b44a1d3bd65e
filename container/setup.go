package container

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/namespaces"
)

// A setup is the parent's side of one child program's run, from the clone
// until the child has exec'd — or, for create, until it waits at its gate.
// childprog.Plan draws the protocol; setup walks its points in order, does
// its own work at each (id maps, clock offsets, the pty master), calls the
// caller's (cgroups, hooks), and lets the child go on:
//
//	s := newSetup(plan, work)   pipes, namespace files, the gate
//	s.start()                    clone; then for each point of the plan:
//	                               read the child's byte, do the work,
//	                               write the release byte
//	s.finish()                   wait for execve (or the child's failure)
//
// On any failure the child (and the grandchild of a double fork) is killed
// and reaped, and every fd setup opened is closed: nothing is left.
type setup struct {
	plan *childprog.Plan
	work parentWork
	task *clonecore.Task

	notify *os.File // read end: the child's byte at each point; EOF: the child is gone
	sync   *os.File // write end: one byte releases the child from a point
	gate   *os.File // written at PointReady: the sync pipe, unless the caller gave one
	// files are closed once the child is started: it holds its own copies.
	files []*os.File

	console *os.File // the pty master, taken at PointConsole

	mu          sync.Mutex
	interrupted os.Signal // set by interrupt: the setup ends with the child killed
	// released is closed once the parent has let the child go for the
	// last time: from then on a signal is the process's, not the setup's.
	released chan struct{}
}

// parentWork is what a caller adds at the points, beyond what setup does
// itself. Each function gets the pid of the container's process as minirun
// sees it; a nil function does nothing.
type parentWork struct {
	// Trace, if set, records the setup's timeline and the child's
	// flight record.
	Trace *Trace
	// Cloned runs right after the clone, with the cloned task's pid.
	Cloned func(pid int) error
	// Close are fds of minirun's the child closes before anything else
	// (as many as the plan was compiled for).
	Close []*os.File
	// Namespaces runs at PointNamespaces after the id maps and clock
	// offsets are written; it gets the cloned task's pid, which holds the
	// container's namespaces even where a double fork makes the process
	// later.
	Namespaces func(pid int) error
	// Mounted runs at PointMounted.
	Mounted func(pid int) error
	// Listener runs at PointListener with the seccomp filter's listener,
	// taken from the child; setup closes its copy afterwards.
	Listener func(pid int, listener *os.File) error
	// Ready runs at PointReady, before the gate is opened.
	Ready func(pid int) error
	// Gate, if set, is what the child reads at PointReady (create's
	// exec.fifo), and setup stops there without releasing it.
	Gate *os.File
	// ConsoleSize sizes the pty at PointConsole; nil copies minirun's own
	// terminal's size.
	ConsoleSize *rspec.Box
	// Cgroup, if set, is a cgroup2 directory the child is cloned into
	// (CLONE_INTO_CGROUP).
	Cgroup *os.File
	// CgroupTasks are the tasks files of the cgroup v1 hierarchies the
	// child joins by itself (as many as the plan was compiled for).
	CgroupTasks []*os.File
	// NetNS is the network namespace minirun made for the child to
	// enter, when the plan has it enter one (childprog.Plan.NetNSFD).
	NetNS *madeNetNS
}

// newSetup opens what the child will need before it is cloned: the notify
// and sync pipes, the namespace files it joins and the idmapped trees it
// mounts, each fd number stored in the arena word the plan reserved for it.
func newSetup(plan *childprog.Plan, work parentWork) (*setup, error) {
	s := &setup{plan: plan, work: work, released: make(chan struct{})}
	if plan.NotifyFD != 0 {
		notifyR, notifyW, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("notify pipe: %w", err)
		}
		syncR, syncW, err := os.Pipe()
		if err != nil {
			notifyR.Close()
			notifyW.Close()
			return nil, fmt.Errorf("sync pipe: %w", err)
		}
		s.notify, s.sync = notifyR, syncW
		s.files = append(s.files, notifyW, syncR)
		plan.Arena.Store32(plan.NotifyFD, uint32(notifyW.Fd()))
		plan.Arena.Store32(plan.SyncFD, uint32(syncR.Fd()))
		if plan.GateFD != 0 {
			s.gate = syncW
			gate := syncR
			if work.Gate != nil {
				s.gate, gate = nil, work.Gate
			}
			plan.Arena.Store32(plan.GateFD, uint32(gate.Fd()))
		}
	}
	if len(work.Close) != len(plan.CloseFDs) {
		s.close()
		return nil, fmt.Errorf("the plan closes %d fds of minirun's, the caller gave %d", len(plan.CloseFDs), len(work.Close))
	}
	for i, f := range work.Close {
		plan.Arena.Store32(plan.CloseFDs[i], uint32(f.Fd()))
	}
	if len(work.CgroupTasks) != len(plan.CgroupTasks) {
		s.close()
		return nil, fmt.Errorf("the plan joins %d cgroup v1 hierarchies, the caller opened %d", len(plan.CgroupTasks), len(work.CgroupTasks))
	}
	for i, f := range work.CgroupTasks {
		plan.Arena.Store32(plan.CgroupTasks[i], uint32(f.Fd()))
	}
	if plan.ParentPidfd != 0 {
		fd, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("pidfd of minirun: %w", err)
		}
		f := os.NewFile(uintptr(fd), "minirun's pidfd")
		s.files = append(s.files, f)
		// The pollfd's first field, an int32, is the fd.
		plan.Arena.Store32(plan.ParentPidfd, uint32(fd))
	}
	if plan.NetNSFD != 0 {
		if work.NetNS == nil {
			s.close()
			return nil, fmt.Errorf("the plan enters a network namespace minirun makes, and none was made")
		}
		f, err := work.NetNS.file(work.Trace)
		if err != nil {
			s.close()
			return nil, err
		}
		plan.Arena.Store32(plan.NetNSFD, uint32(f.Fd()))
	}
	for i, j := range plan.Joins {
		f, err := namespaces.Open(j)
		if err != nil {
			s.close()
			return nil, err
		}
		s.files = append(s.files, f)
		plan.Arena.Store32(plan.JoinFDs[i], uint32(f.Fd()))
	}
	trees, err := idmappedTrees(plan)
	if err != nil {
		s.close()
		return nil, err
	}
	s.files = append(s.files, trees...)
	return s, nil
}

// close closes every fd the setup still holds but the pty master.
func (s *setup) close() {
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
	if s.notify != nil {
		s.notify.Close()
	}
	if s.sync != nil {
		s.sync.Close()
	}
}

// start clones the child and walks the plan's points, up to PointReady
// when the caller holds the gate. On failure the child is gone and every
// fd closed.
func (s *setup) start() error {
	defer close(s.released)
	o := clonecore.Options{Flags: s.plan.Flags}
	if s.work.Cgroup != nil {
		o.Flags |= clonecore.INTO_CGROUP
		o.CgroupFD = int(s.work.Cgroup.Fd())
	}
	s.mu.Lock()
	if s.interrupted != nil {
		s.mu.Unlock()
		s.close()
		return &InterruptedError{Signal: s.interrupted}
	}
	s.work.Trace.program(s.plan.Program, fmt.Sprintf("clone3(%s)", o.Flags))
	s.work.Trace.Markf("clone3 the child")
	task, err := clonecore.StartAs(clonecore.UseProcess, s.plan.Program, o)
	s.task = task
	s.mu.Unlock()
	if err != nil {
		s.close()
		return err
	}
	// The child holds its own copies now: the pipes' far ends must be
	// the child's alone, so that its end is EOF here.
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
	s.work.Trace.Mark("state: record the child's pid")
	if err := call(s.work.Cloned, task.TID); err != nil {
		return s.fail(err)
	}
	for _, pt := range s.plan.Points {
		s.work.Trace.Markf("wait for the child to reach the %s point", pt)
		if err := s.at(pt); err != nil {
			return s.fail(err)
		}
		if pt == childprog.PointReady && s.work.Gate != nil {
			s.close()
			s.work.Trace.atGate(s.task)
			return nil
		}
		s.work.Trace.Markf("release the child from the %s point", pt)
		if err := s.release(pt); err != nil {
			return s.fail(err)
		}
	}
	return nil
}

// at waits for the child to reach pt and does the parent's work there.
func (s *setup) at(pt childprog.Point) error {
	var b [1]byte
	if n, _ := s.notify.Read(b[:]); n != 1 {
		return s.childGone(fmt.Errorf("the container's process ended before it reached the %s point", pt))
	}
	if childprog.Point(b[0]) != pt {
		return fmt.Errorf("the container's process reached the %s point where minirun expected %s", childprog.Point(b[0]), pt)
	}
	if sig := s.interruption(); sig != nil {
		return &InterruptedError{Signal: sig}
	}
	pid := s.pid()
	tr := s.work.Trace
	switch pt {
	case childprog.PointNamespaces:
		if s.plan.UserNS {
			tr.Mark("at namespaces: write the id maps")
			if err := writeIDMaps(s.task.TID, s.plan); err != nil {
				return err
			}
		}
		if s.plan.TimeOffsets != "" {
			tr.Mark("at namespaces: write the clock offsets")
			file := "/proc/" + strconv.Itoa(s.task.TID) + "/timens_offsets"
			if err := os.WriteFile(file, []byte(s.plan.TimeOffsets), 0); err != nil {
				return fmt.Errorf("linux.timeOffsets: write %s: %w", file, unwrapPath(err))
			}
		}
		if s.work.Namespaces != nil {
			tr.Mark("at namespaces: move the network devices in, put the child in its cgroups")
		}
		// The cloned task: its namespaces are the container's, and after
		// a double fork the container's process does not exist yet.
		return call(s.work.Namespaces, s.task.TID)
	case childprog.PointMounted:
		tr.Mark("at mounted: prestart, createRuntime and createContainer hooks")
		return call(s.work.Mounted, pid)
	case childprog.PointConsole:
		tr.Mark("at console: take the pty master")
		c, err := takeConsole(s.task, s.plan, s.work.ConsoleSize)
		if err != nil {
			return err
		}
		s.console = c
		return nil
	case childprog.PointListener:
		l, err := takeFD(s.task, s.plan, s.plan.Listener, "seccomp listener")
		if err != nil {
			return fmt.Errorf("linux.seccomp.listenerPath: take the listener from the container: %w", err)
		}
		defer l.Close()
		if s.work.Listener == nil {
			return fmt.Errorf("linux.seccomp.listenerPath: minirun has nowhere to send the listener")
		}
		return s.work.Listener(pid, l)
	case childprog.PointReady:
		tr.Mark("at ready: record the container, startContainer hooks")
		return call(s.work.Ready, pid)
	}
	return nil
}

func call(f func(int) error, pid int) error {
	if f == nil {
		return nil
	}
	return f(pid)
}

// release lets the child go on from pt.
func (s *setup) release(pt childprog.Point) error {
	w := s.sync
	if pt == childprog.PointReady {
		w = s.gate
	}
	if _, err := w.Write([]byte{1}); err != nil {
		return s.childGone(fmt.Errorf("release the container's process at the %s point: %w", pt, err))
	}
	return nil
}

// childGone prefers the child's own account of why it ended (the step
// that failed) to the parent's.
func (s *setup) childGone(err error) error {
	if jerr := s.task.Join(); jerr != nil {
		return s.underFilter(jerr)
	}
	if sig := s.interruption(); sig != nil {
		return &InterruptedError{Signal: sig}
	}
	return err
}

// finish waits until the child has exec'd and returns the container's
// process id; on failure the child is gone.
func (s *setup) finish() (int, error) {
	s.close()
	s.work.Trace.Mark("wait for the child's execve")
	err := s.task.Join()
	s.work.Trace.joined(s.task, err == nil)
	err = s.underFilter(err)
	if sig := s.interruption(); sig != nil {
		err = &InterruptedError{Signal: sig}
	}
	if err != nil {
		return 0, s.fail(err)
	}
	if s.task.PidFD >= 0 {
		// Only the pty needed it; the process is waited for by its pid.
		unix.Close(s.task.PidFD)
		s.task.PidFD = -1
	}
	pid := s.pid()
	if s.plan.DoubleFork {
		// The middle task has exited; the process is its sibling, a child
		// of minirun's through CLONE_PARENT.
		s.task.Reap()
	}
	return pid, nil
}

// underFilter says so when a step of minirun's setup that failed ran under
// the seccomp filter: its errno may be the filter's, not the kernel's. Not
// for the execve: clients read its error as it is ("permission denied" is
// podman's 126).
func (s *setup) underFilter(err error) error {
	var se *clonecore.StepError
	if s.plan.SeccompStep >= 0 && errors.As(err, &se) && !se.Planned && se.Index > s.plan.SeccompStep && se.Index < s.plan.ExecStep {
		return fmt.Errorf("%w (the call ran under linux.seccomp's filter, which may have refused it)", err)
	}
	return err
}

// pid is the container's process as of now: the cloned task, or once a
// double fork has made it, the grandchild. (Never 0: a 0 written to
// cgroup.procs would move minirun itself.)
func (s *setup) pid() int {
	if gc := s.grandchild(); gc > 0 {
		return gc
	}
	return s.task.TID
}

// grandchild is the double fork's grandchild, 0 until it exists.
func (s *setup) grandchild() int {
	if !s.plan.DoubleFork {
		return 0
	}
	return int(int32(s.plan.Arena.Load64(s.plan.GrandchildTID)))
}

// fail kills and reaps the child and the grandchild, closes everything,
// and returns err.
func (s *setup) fail(err error) error {
	s.close()
	if s.console != nil {
		s.console.Close()
		s.console = nil
	}
	if s.task == nil {
		return err
	}
	unix.Kill(s.task.TID, unix.SIGKILL)
	s.task.Join()
	s.work.Trace.joined(s.task, false)
	s.task.Reap()
	if s.plan.DoubleFork {
		if gc := s.grandchild(); gc > 0 {
			unix.Kill(gc, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(gc, &ws, 0, nil)
		}
	}
	return err
}

// interrupt ends a setup in progress: the child is killed, so a step that
// blocks (a FIFO it opens, a namespace that never answers) ends too, and
// the setup fails with an InterruptedError naming sig.
func (s *setup) interrupt(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interrupted = sig
	if s.task != nil {
		unix.Kill(s.task.TID, unix.SIGKILL)
		if gc := s.grandchild(); gc > 0 {
			unix.Kill(gc, unix.SIGKILL)
		}
	}
}

func (s *setup) interruption() os.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interrupted
}

// InterruptedError is a setup ended by a signal to minirun.
type InterruptedError struct{ Signal os.Signal }

func (e *InterruptedError) Error() string {
	name := e.Signal.String()
	if s, ok := e.Signal.(unix.Signal); ok && unix.SignalName(s) != "" {
		name = unix.SignalName(s)
	}
	return fmt.Sprintf("interrupted by %s while the container was being set up; nothing was left behind", name)
}

// ExitCode is the shell's convention for a process a signal ended.
func (e *InterruptedError) ExitCode() int {
	if s, ok := e.Signal.(unix.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
