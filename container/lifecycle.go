package container

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/specs"
	"github.com/minirun/minirun/statedir"
)

// A Runtime is minirun driven as an OCI runtime (runtime-spec, "Runtime
// and Lifecycle"): containers that outlive the command that made them,
// found by ID in a state folder, moved through creating → created →
// running → stopped by create, start and the process's end, and removed
// by delete.
type Runtime struct {
	Dir statedir.Dir
	// Warn reports what the runtime goes on from (a failing poststart or
	// poststop hook, as runtime-spec says); nil discards it.
	Warn func(format string, a ...any)
	// Debug reports what only --debug shows (the system calls a seccomp
	// policy names that the filter leaves out); nil discards it.
	Debug func(format string, a ...any)
	// Rootless is set when minirun runs without privilege (--rootless,
	// or an unprivileged user): cgroups it cannot create are then left
	// out when the config asks for no limit, as runc does.
	Rootless bool
}

func (rt *Runtime) warn(format string, a ...any) {
	if rt.Warn != nil {
		rt.Warn(format, a...)
	}
}

// Options say how to create or run a container.
type Options struct {
	// NoPivot uses MS_MOVE and chroot instead of pivot_root.
	NoPivot bool
	// PreserveFDs passes fds 3 … 3+PreserveFDs-1 to the process.
	PreserveFDs int
	// NoNewKeyring leaves the process in minirun's session keyring
	// instead of a new one of its own.
	NoNewKeyring bool
	// PidFile, when set, gets the container's process id (as minirun's
	// PID namespace sees it) before create returns.
	PidFile string
	// ConsoleSocket is a unix socket the pty master of process.terminal
	// is sent to (SCM_RIGHTS), for a container minirun does not attach to.
	ConsoleSocket string
	// PidfdSocket is a unix socket a pidfd of the container's process is
	// sent to.
	PidfdSocket string
	// Detach makes run return once the process runs, leaving it to
	// whoever reaps it, as create and start do.
	Detach bool
	// Trace, when set, records the start's timeline (run --trace).
	Trace *Trace
	// Signals, when set, is the caller's catch of the forwarded signals
	// (CatchSignals), which the call waits for and leaves in place;
	// without it the call makes a catch of its own and undoes it.
	Signals *Signals
}

// status is the container's state now, from its record and its process:
// creating until create has finished (or stopped, if its process died on
// the way), created until start, then running until the process ends.
func status(r *statedir.Record) rspec.ContainerState {
	switch {
	case r.Pid == 0:
		return rspec.StateCreating
	case statedir.Check(r.Pid, r.PidStart) != statedir.Alive:
		return rspec.StateStopped
	case !r.Ready:
		return rspec.StateCreating
	case !r.Started:
		return rspec.StateCreated
	}
	return rspec.StateRunning
}

// StateOf is the state of container id as `minirun state` prints it:
// runtime-spec's State, with runc's rootfs, created and owner.
type StateOf struct {
	rspec.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

func (rt *Runtime) stateOf(r *statedir.Record) StateOf {
	st := StateOf{
		State:  rspec.State{Version: rspec.Version, ID: r.ID, Status: status(r), Bundle: r.Bundle},
		Rootfs: r.Rootfs, Created: r.Created,
	}
	if r.Config != nil {
		st.Annotations = r.Config.Annotations
	}
	if st.Status != rspec.StateStopped {
		st.Pid = r.Pid
	}
	if st.Status == rspec.StateRunning && paused(r) {
		st.Status = StatePaused
	}
	if r.Owner != 0 || r.Config != nil {
		st.Owner = strconv.Itoa(r.Owner)
	}
	return st
}

// State returns container id's state; an error saying it "does not exist"
// when there is none.
func (rt *Runtime) State(id string) (StateOf, error) {
	r, err := rt.Dir.Read(id)
	if err != nil {
		return StateOf{}, err
	}
	return rt.stateOf(r), nil
}

// List returns the state of every container under the root.
func (rt *Runtime) List() ([]StateOf, error) {
	ids, err := rt.Dir.IDs()
	if err != nil {
		return nil, err
	}
	list := make([]StateOf, 0, len(ids))
	for _, id := range ids {
		r, err := rt.Dir.Read(id)
		if err != nil {
			continue // deleted while listing
		}
		list = append(list, rt.stateOf(r))
	}
	return list, nil
}

// compile compiles validated bundle b with this host's facts for a
// container named id. (Validate has refused, one line each, every field
// the policy refuses: specs.Policy.)
func compile(b *specs.Bundle, id string, o Options, gate, die bool, cg *cgroupPlan) (*childprog.Plan, error) {
	if err := refusals(b, o, gate, die); err != nil {
		return nil, err
	}
	return compileChecked(b, id, o, gate, die, cg)
}

// refusals refuses the flags minirun could not honour for b, before it
// compiles. (Validate has refused every field the policy refuses.)
func refusals(b *specs.Bundle, o Options, gate, die bool) error {
	if b.Spec.Process.Terminal && (gate || !die) && o.ConsoleSocket == "" {
		return &specs.ValidationError{File: b.Path, Errs: []specs.FieldError{{Path: "process.terminal",
			Msg: "a container minirun does not attach to needs --console-socket to hand its terminal to"}}}
	}
	// A flag asked for and not applied is refused, as a field is: a
	// client waiting on the socket would wait for ever.
	if !b.Spec.Process.Terminal && o.ConsoleSocket != "" {
		return &specs.ValidationError{File: b.Path, Errs: []specs.FieldError{{Path: "process.terminal",
			Msg: "false: --console-socket has no terminal to receive"}}}
	}
	return nil
}

// compileChecked is compile once refusals has passed b.
func compileChecked(b *specs.Bundle, id string, o Options, gate, die bool, cg *cgroupPlan) (*childprog.Plan, error) {
	env := HostEnv(b)
	env.NoPivot = o.NoPivot
	env.PreserveFDs = listenFDs(o.PreserveFDs)
	env.Gate = gate
	env.DieWithParent = die
	if !o.NoNewKeyring && id != "" {
		env.SessionKeyring = "_ses." + id
	}
	env.CloseFDs = 1 // the state folder's lock
	env.NetNS = netNSByParent(b.Spec)
	env.CgroupTasks = cg.tasks()
	if cg != nil {
		env.CgroupPath = cg.path
	}
	plan, err := childprog.Compile(b.Spec, env)
	return plan, compileError(err, b.Path)
}

// listenFDs honours socket activation (sd_listen_fds): fds 3 … 3+N-1
// named by LISTEN_FDS are passed on as runc does, if more than asked for.
func listenFDs(preserve int) int {
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= preserve {
		return preserve
	}
	return n
}

// Create creates container id from bundle b: its namespaces, mounts and
// cgroups are made, the createRuntime and createContainer hooks have run,
// and its process waits, reading exec.fifo, for start. On any failure
// nothing is left: no process, no state, and the poststop hooks have run
// (runtime-spec: a failed create continues at delete). A signal to
// minirun (SIGINT, SIGTERM, …) before Create returns is such a failure
// (*InterruptedError), as it is during run's setup.
func (rt *Runtime) Create(id string, b *specs.Bundle, o Options) error {
	// Caught before anything is made (Signals): a signal during the
	// setup ends it with nothing left.
	sigs := signalsFor(o.Signals)
	defer sigs.release()
	sigs.ready(o.Trace)
	cg, err := rt.check(b, id, o, true, false)
	if err != nil {
		return err
	}
	compiled := startCompile(b, id, o, true, false, cg)
	defer compiled.discard()
	net := makeNetNS(b.Spec)
	defer net.release()
	// The plan's arena is the waiting process's memory: once the process
	// is cloned it is never freed here, and goes when that process execs
	// or exits.
	c, err := rt.Dir.Create(id)
	if err != nil {
		return err
	}
	defer c.Close()
	o.Trace.Mark("state: make the container's folder and record")
	made, err := rt.provision(c, id, b, cg, o.Trace)
	if err != nil {
		return err
	}
	r, join, undo := made.r, made.join, made.undo
	defer join.close()
	o.Trace.Mark("state: make exec.fifo")
	if err := unix.Mkfifo(c.FIFO(), 0o600); err != nil {
		return undo(fmt.Errorf("container %q: make %s: %w", id, c.FIFO(), err))
	}
	// O_RDWR: opening a FIFO for reading alone waits for a writer. The
	// child reads its copy at PointReady; start opens it to write.
	fifo, err := os.OpenFile(c.FIFO(), os.O_RDWR, 0)
	if err != nil {
		return undo(fmt.Errorf("container %q: open %s: %w", id, c.FIFO(), unwrapPath(err)))
	}
	defer fifo.Close()
	plan, err := compiled.wait(o.Trace)
	if err != nil {
		// Refused by the compiler: as if before anything was made.
		made.hooks = false
		return undo(err)
	}
	rt.reportSkipped(plan)
	work := parentWork{
		Trace:       o.Trace,
		NetNS:       net,
		Close:       []*os.File{c.LockFile()},
		Gate:        fifo,
		ConsoleSize: b.Spec.Process.ConsoleSize,
		Cgroup:      join.into,
		CgroupTasks: join.tasks,
		Cloned:      func(pid int) error { return record(c, r, pid) },
		Namespaces:  join.enter,
		Mounted:     rt.createHooks(r),
		Ready:       func(pid int) error { return checkExecutable(pid, b.Spec.Process) },
		Listener:    rt.listenerWork(b.Spec.Linux, r, rspec.StateCreating),
	}
	netDone, err := netDevicesWork(b.Spec, &work)
	if err != nil {
		plan.Free()
		return undo(err)
	}
	s, err := newSetup(plan, work)
	if err != nil {
		netDone(false)
		plan.Free()
		return undo(err)
	}
	watched := watchSetup(s, sigs.C)
	err = s.start()
	<-watched
	if sig := s.interruption(); err == nil && sig != nil {
		// The watcher took the signal as start was returning: the
		// child is killed, but start had no step left to see it.
		err = s.fail(&InterruptedError{Signal: sig})
	}
	if err != nil {
		netDone(false)
		plan.Free()
		return undo(err)
	}
	o.Trace.Mark("state: record the created container")
	if err := rt.created(c, r, s, o); err != nil {
		s.fail(nil)
		netDone(false)
		return undo(err)
	}
	// A signal that came while create handed out the pid file, pty and
	// pidfd still ends it: the client was told nothing yet.
	if sig := pendingSignal(sigs.C); sig != nil {
		s.fail(nil)
		netDone(false)
		if o.PidFile != "" {
			os.Remove(o.PidFile) // it names the process just killed
		}
		return undo(&InterruptedError{Signal: sig})
	}
	netDone(true)
	o.Trace.Mark("done")
	return nil
}

// provisional is a container that create or run is making: its state
// folder and record, its cgroup, and how to take them down again if the
// making fails.
type provisional struct {
	rt    *Runtime
	c     *statedir.Container
	r     *statedir.Record
	m     *cgroups.Manager // nil until made, and without cgroups
	join  cgroupJoin
	hooks bool // undo runs the poststop hooks (not for a refused config)
}

// provision records container id of bundle b in its new folder c and
// makes its cgroup (cg), the steps create and run share before the child
// is cloned. On failure what it made is undone and the error returned.
func (rt *Runtime) provision(c *statedir.Container, id string, b *specs.Bundle, cg *cgroupPlan, tr *Trace) (*provisional, error) {
	p := &provisional{rt: rt, c: c, r: newRecord(id, b), hooks: true}
	if err := cg.note(p.r); err != nil {
		return nil, p.undo(err)
	}
	if err := c.Save(p.r); err != nil {
		return nil, p.undo(err)
	}
	tr.Mark("cgroups: make the container's cgroup")
	m, join, err := cg.create(c, p.r, b)
	if err != nil {
		return nil, p.undo(err)
	}
	p.m, p.join = m, join
	return p, nil
}

// undo takes down what was made (rule 15) and returns err. The poststop
// hooks run as for a delete: runtime-spec has a failed create continue
// at delete.
func (p *provisional) undo(err error) error {
	if p.m != nil {
		p.m.Destroy()
	}
	if p.hooks {
		p.rt.poststop(p.r)
	}
	p.c.Remove()
	return err
}

// prepare validates b, checks its resources against this host's cgroups
// and compiles it: everything a start needs to know before it changes
// anything.
func (rt *Runtime) prepare(b *specs.Bundle, id string, o Options, gate, die bool) (*childprog.Plan, *cgroupPlan, error) {
	cg, err := rt.check(b, id, o, gate, die)
	if err != nil {
		return nil, nil, err
	}
	o.Trace.Mark("compile the child program")
	plan, err := compileChecked(b, id, o, gate, die, cg)
	rt.reportSkipped(plan)
	return plan, cg, err
}

// check is everything prepare does but the compile itself: whatever is
// wrong with the config is refused here, before anything is made.
func (rt *Runtime) check(b *specs.Bundle, id string, o Options, gate, die bool) (*cgroupPlan, error) {
	o.Trace.Mark("validate the config")
	if err := b.Validate(specs.ValidateOptions{CheckFS: true}); err != nil {
		return nil, err
	}
	if err := refusals(b, o, gate, die); err != nil {
		return nil, err
	}
	o.Trace.Mark("cgroups: check linux.resources against this host")
	return planCgroup(b, id, rt.Rootless)
}

// compiling is a compile running alongside a start's state and cgroup
// setup, which it does not depend on: half a millisecond of minirun's own
// CPU next to as much of the kernel's making cgroups, on another CPU when
// there is one. Its result is the caller's once taken; a start that fails
// before it takes it discards it.
type compiling struct {
	done       chan struct{}
	plan       *childprog.Plan
	err        error
	start, end int64 // for a trace
	taken      bool
}

func startCompile(b *specs.Bundle, id string, o Options, gate, die bool, cg *cgroupPlan) *compiling {
	c := &compiling{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		if o.Trace != nil {
			c.start = clonecore.Now()
			defer func() { c.end = clonecore.Now() }()
		}
		c.plan, c.err = compileChecked(b, id, o, gate, die, cg)
	}()
	return c
}

// wait returns the plan, once the compile is done.
func (c *compiling) wait(tr *Trace) (*childprog.Plan, error) {
	tr.Mark("wait for the compile")
	<-c.done
	tr.alongside("compile the child program", c.start, c.end)
	c.taken = true
	return c.plan, c.err
}

// discard frees the plan of a start that failed before it took it.
func (c *compiling) discard() {
	if c.taken {
		return
	}
	<-c.done
	c.taken = true
	c.plan.Free()
}

// created records a container whose process waits at its gate and hands
// out what create promises: the pid file, the pty master, the pidfd.
func (rt *Runtime) created(c *statedir.Container, r *statedir.Record, s *setup, o Options) error {
	pid := s.pid()
	r.Ready = true
	if err := record(c, r, pid); err != nil {
		return err
	}
	if s.console != nil {
		err := sendConsole(o.ConsoleSocket, s.console)
		s.console.Close()
		s.console = nil
		if err != nil {
			return err
		}
	}
	if o.PidfdSocket != "" {
		if err := sendPidfd(o.PidfdSocket, pid); err != nil {
			return err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return err
		}
	}
	return nil
}

// record saves pid, and its start time, as the container's process: once
// right after the clone, so that a create killed from then on leaves a
// process delete --force can find, and again for the grandchild of a
// double fork.
func record(c *statedir.Container, r *statedir.Record, pid int) error {
	start, err := statedir.StartTime(pid)
	if err != nil {
		return fmt.Errorf("container %q: its process %d: %w", r.ID, pid, err)
	}
	r.Pid, r.PidStart = pid, start
	return c.Save(r)
}

func newRecord(id string, b *specs.Bundle) *statedir.Record {
	return &statedir.Record{
		ID: id, Bundle: b.Dir, Rootfs: b.RootFS, Created: time.Now().UTC(),
		Owner: os.Geteuid(), Config: b.Spec, ConfigJSON: b.Raw, Rootless: os.Geteuid() != 0,
	}
}

// writePidFile writes pid the way runc does: the number alone, no newline,
// replaced whole (a client may read it at any moment).
func writePidFile(path string, pid int) error {
	tmp := path + ".minirun-tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", unwrapPath(err))
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", unwrapPath(err))
	}
	return nil
}

// errNotCreated and its kin are runtime-spec's "the container is in the
// wrong state for this operation"; their words are what clients match.
func wrongState(id string, st rspec.ContainerState, op string) error {
	if st == rspec.StateStopped && op != "start" {
		return fmt.Errorf("container %q is not running (status %s); cannot %s", id, st, op)
	}
	return fmt.Errorf("container %q is %s, not created; cannot %s", id, st, op)
}

// Start lets a created container's process exec: the startContainer hooks
// run in its namespaces, exec.fifo is written, and the poststart hooks
// run. A container in any other state is refused and left as it is.
func (rt *Runtime) Start(id string) error {
	c, err := rt.Dir.Open(id)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Load()
	if err != nil {
		return err
	}
	if st := status(r); st != rspec.StateCreated {
		return wrongState(id, st, "start")
	}
	if err := rt.startContainerHooks(r); err != nil {
		rt.kill(r, unix.SIGKILL)
		return err
	}
	if err := openGate(c.FIFO()); err != nil {
		return fmt.Errorf("container %q: %w", id, err)
	}
	r.Started = true
	os.Remove(c.FIFO())
	if err := c.Save(r); err != nil {
		return err
	}
	rt.poststart(r)
	return nil
}

// openGate writes the byte the waiting process reads from exec.fifo.
// O_NONBLOCK: with no reader (the process is gone) the open fails with
// ENXIO at once instead of waiting for one.
func openGate(fifo string) error {
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return errors.New("its process is gone (it ended before start)")
		}
		return fmt.Errorf("open %s: %w", fifo, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte{0}); err != nil {
		return fmt.Errorf("write %s: %w", fifo, err)
	}
	return nil
}

// Kill sends sig to the container's process; with all, to every process of
// the container. A container neither created nor running is refused:
// "container not running".
func (rt *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	r, err := rt.Dir.Read(id)
	if err != nil {
		return err
	}
	st := status(r)
	if st != rspec.StateCreated && st != rspec.StateRunning {
		return fmt.Errorf("container %q: container not running (status %s)", id, st)
	}
	if all {
		err = rt.killAll(r, sig)
	} else {
		err = rt.kill(r, sig)
	}
	if err == nil && sig == unix.SIGKILL {
		thawForKill(r)
	}
	return err
}

// thawForKill lets a SIGKILL act on a paused container: a task the v1
// freezer holds does not die until it is thawed, so a killed container
// would stay paused, its process alive, for ever. (runc thaws for SIGKILL
// too; other signals leave a paused container paused.)
func thawForKill(r *statedir.Record) {
	m, err := cgroupOf(r)
	if m == nil || err != nil {
		return
	}
	if frozen, err := m.Frozen(); err == nil && frozen {
		m.Thaw()
	}
}

// kill signals the recorded process through a pidfd, after checking that
// the pid still names it: a recycled pid is never signalled.
func (rt *Runtime) kill(r *statedir.Record, sig unix.Signal) error {
	fd, err := unix.PidfdOpen(r.Pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("container %q: no such process", r.ID)
		}
		return fmt.Errorf("container %q: pidfd_open %d: %w", r.ID, r.Pid, err)
	}
	defer unix.Close(fd)
	// The pidfd holds on to one process; if the pid names the recorded
	// one now, the pidfd does too.
	if statedir.Check(r.Pid, r.PidStart) == statedir.Gone {
		return fmt.Errorf("container %q: no such process", r.ID)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("container %q: no such process", r.ID)
		}
		return fmt.Errorf("container %q: signal %d: %w", r.ID, sig, err)
	}
	return nil
}

// Delete removes a stopped container: its cgroups and its state, then runs
// the poststop hooks. With force a created or running container is killed
// first (and one that does not exist is no error); without, it is refused.
func (rt *Runtime) Delete(id string, force bool) error {
	c, err := rt.Dir.Open(id)
	if err != nil {
		if force && errors.Is(err, statedir.ErrNotExist) {
			// A create killed before it made the container's folder
			// may have left the root it made for it, empty.
			rt.Dir.RemoveIfEmpty()
			return nil
		}
		return err
	}
	defer c.Close()
	r, err := c.Load()
	if err != nil {
		return err
	}
	st := status(r)
	if st != rspec.StateStopped && st != rspec.StateCreating && !force {
		return fmt.Errorf("container %q is %s; stop it first, or delete --force", id, st)
	}
	if st == rspec.StateCreating && !force {
		return fmt.Errorf("container %q is being created; delete --force removes what a killed create left", id)
	}
	if err := rt.stop(r); err != nil {
		return err
	}
	if err := c.Remove(); err != nil {
		return err
	}
	rt.poststop(r)
	return nil
}

// stop kills whatever is left of the container and waits until its
// process is gone; then its cgroup goes, which kills any process the
// container left (orphans of a container without a PID namespace).
func (rt *Runtime) stop(r *statedir.Record) error {
	m, err := cgroupOf(r)
	if err != nil {
		return err
	}
	// A process that has exited (a zombie, or on its way out) needs no
	// signal: whatever it left in its cgroup goes with the cgroup below,
	// and the kernel ends the rest of a PID namespace whose init exited.
	if r.Pid != 0 && statedir.Check(r.Pid, r.PidStart) == statedir.Alive {
		rt.killAll(r, unix.SIGKILL)
		thawForKill(r)
		// Wait until it has exited (a zombie is gone enough: reaping it is
		// its parent's business).
		for i := 0; statedir.Check(r.Pid, r.PidStart) == statedir.Alive; i++ {
			if i == 1000 {
				return fmt.Errorf("container %q: its process %d did not end after SIGKILL", r.ID, r.Pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if m != nil {
		if err := m.Destroy(); err != nil {
			return fmt.Errorf("container %q: %w", r.ID, err)
		}
	}
	return nil
}

// stateForHooks is the state a hook reads on its stdin.
func (rt *Runtime) stateForHooks(r *statedir.Record, st rspec.ContainerState) rspec.State {
	s := rspec.State{Version: rspec.Version, ID: r.ID, Status: st, Bundle: r.Bundle, Pid: r.Pid}
	if r.Config != nil {
		s.Annotations = r.Config.Annotations
	}
	return s
}
