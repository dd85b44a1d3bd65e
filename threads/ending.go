package threads

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/internal/procfs"
	"golang.org/x/sys/unix"
)

// The crash and exit experiments: one worker faults, or calls exit or
// exit_group, and the report shows which tasks it took with it. Each case
// runs in a host, a process of its own that minirun clones without
// CLONE_VM and that clones the workers itself (clonecore.LabHost): with
// CLONE_THREAD they are the host's threads, and what one of them does to
// its thread group it does to the host's; without, each is a process of
// its own. minirun is the host's parent and watches from outside, so the
// deaths are the evidence, not the end of the lab.

// An EndAction is what worker 0 does when it is let go.
type EndAction string

// The actions.
const (
	ActFault     EndAction = "fault"      // a store through a null pointer
	ActOverflow  EndAction = "overflow"   // running off its stack into the guard page
	ActExit      EndAction = "exit"       // exit(EndCode)
	ActExitGroup EndAction = "exit_group" // exit_group(EndCode)
)

// EndCode is the status worker 0 gives exit and exit_group.
const EndCode = 42

var endActions = map[EndAction]struct {
	variant uint64
	how     string
}{
	ActFault:     {clonecore.LabFault, "stores through a null pointer"},
	ActOverflow:  {clonecore.LabOverflow, "runs down its stack into the guard page"},
	ActExit:      {clonecore.LabExit, fmt.Sprintf("calls exit(%d)", EndCode)},
	ActExitGroup: {clonecore.LabExitGroup, fmt.Sprintf("calls exit_group(%d)", EndCode)},
}

// EndConfig says how the crash and exit experiments run.
type EndConfig struct {
	// Workers is how many workers each case starts, at least 2: worker 0
	// acts, the others are its siblings. 0 means DefaultEndWorkers.
	Workers int
}

// DefaultEndWorkers is the workers of a case when EndConfig.Workers is 0.
const DefaultEndWorkers = 3

// Check fills in the defaults and refuses what cannot run.
func (c EndConfig) Check() (EndConfig, error) {
	if c.Workers == 0 {
		c.Workers = DefaultEndWorkers
	}
	if c.Workers < 2 || c.Workers > MaxLabWorkers {
		return c, &ConfigError{Field: "count", Value: strconv.Itoa(c.Workers), Why: fmt.Sprintf("must be 2 to %d: one worker acts, the others show what happens to its siblings", MaxLabWorkers)}
	}
	return c, nil
}

// The flag sets of the two kinds of case: the thread preset, and the same
// without CLONE_THREAD (the workers still share the host's memory, files
// and even its signal handlers, but each is a thread group of its own).
var (
	endThreadFlags  = clonecore.Presets["thread"]
	endProcessFlags = clonecore.Presets["thread"] &^ clonecore.THREAD
)

// EndReport is what the crash or the exit experiment found.
type EndReport struct {
	Experiment string    `json:"experiment"` // "crash" or "exit"
	PID        int       `json:"pid"`        // minirun's
	Cases      []EndCase `json:"cases"`
	checked
}

// EndCase is one action, in workers of one kind.
type EndCase struct {
	Name        string    `json:"name"` // "thread/fault"
	Action      EndAction `json:"action"`
	How         string    `json:"how"`
	Flags       string    `json:"flags"`        // the workers' clone flags
	ThreadGroup bool      `json:"thread_group"` // the workers are threads of the host
	Host        EndTask   `json:"host"`
	Workers     []EndTask `json:"workers"`
	// The overflow action: the lowest address worker 0 wrote and the
	// bottom of its stack, just above its guard page.
	Lowest  Hex `json:"lowest,omitempty"`
	StackLo Hex `json:"stack_lo,omitempty"`
}

// EndTask is one task of a case: the host or a worker.
type EndTask struct {
	Role string `json:"role"` // "host", "acts", "sibling"
	TID  int    `json:"tid"`
	// Tgid and PPid are from its status file once every worker was ready.
	Tgid  int    `json:"tgid"`
	PPid  int    `json:"ppid"`
	State string `json:"state_before"`
	// Alive says whether it was still there once worker 0 had acted and
	// every task had settled (gone, or asleep with nothing pending).
	Alive bool `json:"alive_after"`
	// Phase is the last phase it reported (clonecore.LabReady…LabLeaving);
	// LabLeaving means it reached its own exit.
	Phase uint64 `json:"phase"`
	// Status is its wait status, for a task someone reaps: the host (by
	// minirun) and a worker that is a process of its own (by the host).
	Status string `json:"status,omitempty"`
	// Ended says in words how it ended.
	Ended string `json:"ended"`
}

// Crash runs the crash experiment: worker 0 faults (a null store, then a
// stack overflow), in threads and in processes.
func Crash(c EndConfig) (*EndReport, error) {
	return runEnd("crash", c, ActFault, ActOverflow)
}

// Exit runs the exit experiment: worker 0 calls exit, then exit_group, in
// threads and in processes.
func Exit(c EndConfig) (*EndReport, error) {
	return runEnd("exit", c, ActExit, ActExitGroup)
}

func runEnd(name string, c EndConfig, actions ...EndAction) (*EndReport, error) {
	c, err := c.Check()
	if err != nil {
		return nil, err
	}
	if err := checkProc(); err != nil {
		return nil, err
	}
	r := &EndReport{Experiment: name, PID: os.Getpid()}
	for _, a := range actions {
		for _, thread := range []bool{true, false} {
			ec, err := endCase(c.Workers, a, thread)
			if err != nil {
				return nil, err
			}
			r.Cases = append(r.Cases, ec)
		}
	}
	for _, ec := range r.Cases {
		ok, detail := ec.verdict()
		r.add(ec.Name, ok, detail)
	}
	r.settle()
	return r, nil
}

// endRig is the memory and the host of one case.
type endRig struct {
	arena  *clonecore.Arena
	stacks *clonecore.Stacks
	n      int
	host   uintptr // the host's block
	blocks uintptr // the workers'
	goW    uintptr // n go words, one per worker
	rel    uintptr // the release word of everyone
	task   *clonecore.Task
	joined bool
	ws     unix.WaitStatus
}

func (e *endRig) block(i int) uintptr { return e.blocks + uintptr(i)*clonecore.LabStride }
func (e *endRig) goWord(i int) uintptr {
	return e.goW + uintptr(8*i)
}

func (e *endRig) load(p uintptr) uint64 { return (&crew{arena: e.arena}).load(p) }

func (e *endRig) set(p uintptr) {
	e.arena.Store32(p, 1)
	e.arena.FutexWake(p)
}

// release lets every task go, joins and reaps the host: once it returns,
// every worker has exited and the host has reaped the ones that were its
// children. Safe twice.
func (e *endRig) release() (unix.WaitStatus, error) {
	if e.task == nil || e.joined {
		return e.ws, nil
	}
	for i := 0; i < e.n; i++ {
		e.set(e.goWord(i))
	}
	e.set(e.rel)
	err := e.task.Join()
	ws, rerr := e.task.Reap()
	e.ws, e.joined = ws, true
	return ws, errors.Join(err, rerr)
}

// free releases what is left and unmaps the memory.
func (e *endRig) free() {
	e.release()
	if e.stacks != nil {
		e.stacks.Free()
		e.stacks = nil
	}
	if e.arena != nil {
		e.arena.Free()
		e.arena = nil
	}
}

// hostGone reports whether the host has exited (its whole thread group),
// without reaping it.
func (e *endRig) hostGone() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, e.task.TID, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && siginfoPid(&info) != 0
}

// endCase runs one action in workers of one kind.
func endCase(n int, a EndAction, thread bool) (EndCase, error) {
	flags, kind := endProcessFlags, "process"
	if thread {
		flags, kind = endThreadFlags, "thread"
	}
	ec := EndCase{Name: kind + "/" + string(a), Action: a, How: endActions[a].how, ThreadGroup: thread}
	e := &endRig{n: n}
	var err error
	if e.arena, err = clonecore.NewArena((n+1)*int(clonecore.LabStride) + 8*n + 4096); err != nil {
		return ec, err
	}
	defer e.free()
	alloc := func(size int) uintptr {
		p, aerr := e.arena.Alloc(size)
		if aerr != nil && err == nil {
			err = aerr
		}
		return p
	}
	e.host = alloc(int(clonecore.LabStride))
	e.blocks = alloc(n * int(clonecore.LabStride))
	e.goW, e.rel = alloc(8*n), alloc(8)
	if err != nil {
		return ec, err
	}
	// n worker slots and the host's.
	if e.stacks, err = clonecore.NewStacks(n+1, MinStackSize); err != nil {
		return ec, err
	}
	e.arena.Store64(e.host+clonecore.LabWorkers, uint64(e.blocks))
	e.arena.Store64(e.host+clonecore.LabNWorkers, uint64(n))
	e.arena.Store64(e.host+clonecore.LabRelease, uint64(e.rel))
	for i := 0; i < n; i++ {
		b := e.block(i)
		e.arena.Store64(b+clonecore.LabGo, uint64(e.goWord(i)))
		e.arena.Store64(b+clonecore.LabRelease, uint64(e.rel))
		if i == 0 {
			e.arena.Store64(b+clonecore.LabVariant, endActions[a].variant)
			e.arena.Store64(b+clonecore.LabCode, EndCode)
		}
		if err := clonecore.PrepareHosted(e.arena, b, clonecore.LabEnd, e.stacks, i, flags); err != nil {
			return ec, err
		}
	}
	ec.Flags = clonecore.HostedFlags(e.arena, e.block(0)).String()
	ec.StackLo = Hex(e.stacks.Lo(0))

	// Default handlers where clone3 can reset them; without clone3 the
	// host keeps copies of minirun's, which never run: it blocks every
	// signal, and the kernel forces a fault's SIGSEGV to its default
	// action in a task that blocks it.
	e.task, err = clonecore.StartLab(clonecore.LabHost, e.arena, e.host, e.stacks, n, clonecore.Options{Flags: clonecore.CLEAR_SIGHAND})
	if errors.Is(err, unix.ENOSYS) {
		e.task, err = clonecore.StartLab(clonecore.LabHost, e.arena, e.host, e.stacks, n, clonecore.Options{})
	}
	if err != nil {
		return ec, fmt.Errorf("%s: start the host: %w", ec.Name, err)
	}
	hpid := e.task.TID
	if err := e.waitFor(func() bool { return e.load(e.host+clonecore.LabPhase) >= clonecore.HostCloned }, "the host cloned its workers"); err != nil {
		return ec, fmt.Errorf("%s: %w", ec.Name, err)
	}
	if started := e.load(e.host + clonecore.LabStarted); started != uint64(n) {
		return ec, fmt.Errorf("%s: the host cloned %d of %d workers: %v", ec.Name, started, n, unix.Errno(e.load(e.host+clonecore.LabErrno)))
	}
	tids := make([]int, n)
	for i := range tids {
		tids[i] = int(int32(e.load(e.block(i) + clonecore.LabChild)))
	}
	for i := 0; i < n; i++ {
		if err := e.waitFor(func() bool {
			return e.load(e.block(i)+clonecore.LabPhase) >= clonecore.LabReady && taskState(tids[i]) == "S"
		}, fmt.Sprintf("worker %d waits to be let go", i)); err != nil {
			return ec, fmt.Errorf("%s: %w", ec.Name, err)
		}
	}
	before := func(role string, tid int) EndTask {
		t := EndTask{Role: role, TID: tid}
		if m, err := procfs.ReadStatus(taskFile(tid, "status")); err == nil {
			t.Tgid, _ = strconv.Atoi(m["Tgid"])
			t.PPid, _ = strconv.Atoi(m["PPid"])
			t.State = strings.Fields(m["State"] + " ?")[0]
		}
		return t
	}
	ec.Host = before("host", hpid)
	for i, tid := range tids {
		role := "sibling"
		if i == 0 {
			role = "acts"
		}
		ec.Workers = append(ec.Workers, before(role, tid))
	}

	// Let worker 0 act, and wait until it is gone (a zombie, for a
	// process of its own the host has not reaped yet) or the host's whole
	// thread group is.
	e.set(e.goWord(0))
	if err := e.waitFor(func() bool { return e.hostGone() || !taskAlive(tids[0]) }, "worker 0 is gone"); err != nil {
		return ec, fmt.Errorf("%s: %w", ec.Name, err)
	}
	// Then until every task has settled: a thread group that is ending
	// has SIGKILL pending in each of its tasks before the first is gone
	// (the kernel's zap_other_threads), and a task that took it runs until
	// it is gone, while a task left alone sleeps in its futex wait.
	for _, tid := range append([]int{hpid}, tids...) {
		if err := e.waitFor(func() bool {
			st := taskState(tid)
			return st == "" || st == "Z" || st == "X" || (st == "S" && !sigkillPending(tid))
		}, fmt.Sprintf("task %d is gone or asleep", tid)); err != nil {
			return ec, fmt.Errorf("%s: %w", ec.Name, err)
		}
	}
	ec.Host.Alive = !e.hostGone() && taskAlive(hpid)
	for i, tid := range tids {
		ec.Workers[i].Alive = taskAlive(tid)
	}
	if a == ActOverflow {
		ec.Lowest = Hex(e.load(e.block(0) + clonecore.LabLowest))
	}

	// Let everyone go; the host reaps its children, minirun the host.
	ws, err := e.release()
	if err != nil {
		return ec, fmt.Errorf("%s: join the host: %w", ec.Name, err)
	}
	ec.Host.Status = waitString(ws)
	ec.Host.Phase = e.load(e.host + clonecore.LabPhase)
	for i := range ec.Workers {
		w := &ec.Workers[i]
		b := e.block(i)
		w.Phase = e.load(b + clonecore.LabPhase)
		if e.load(b+clonecore.LabReaped) != 0 {
			w.Status = waitString(unix.WaitStatus(e.load(b + clonecore.LabWaitStatus)))
		}
	}
	ec.describe()
	return ec, nil
}

// waitFor polls cond until it holds, for at most crewTimeout.
func (e *endRig) waitFor(cond func() bool, what string) error {
	deadline := time.Now().Add(crewTimeout)
	nap := 20 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %v until %s", crewTimeout, what)
		}
		time.Sleep(nap)
		nap = min(2*nap, time.Millisecond)
	}
	return nil
}

// taskFile is a /proc file of task tid, whichever thread group it is in.
func taskFile(tid int, name string) string {
	return fmt.Sprintf("/proc/%d/task/%d/%s", tid, tid, name)
}

// taskState is the state letter of task tid ("S", "R", "Z"…), "" when /proc
// has no such task.
func taskState(tid int) string {
	b, err := os.ReadFile(taskFile(tid, "stat"))
	if err != nil {
		return ""
	}
	_, f, err := procfs.ParseStat(string(b))
	if err != nil {
		return ""
	}
	return f[0]
}

// taskAlive reports whether task tid exists and is neither a zombie nor dead.
func taskAlive(tid int) bool {
	st := taskState(tid)
	return st != "" && st != "Z" && st != "X"
}

// sigkillPending reports whether SIGKILL is pending for task tid (SigPnd:
// the task's own pending set, where the kernel puts the SIGKILL that ends
// a thread group's other tasks).
func sigkillPending(tid int) bool {
	m, err := procfs.ReadStatus(taskFile(tid, "status"))
	if err != nil {
		return false
	}
	bits, err := strconv.ParseUint(strings.TrimSpace(m["SigPnd"]), 16, 64)
	return err == nil && bits&(1<<(unix.SIGKILL-1)) != 0
}

// groupDies says whether the case ends worker 0's whole thread group: a
// fatal signal or exit_group, in a worker that is a thread of the host.
func (ec *EndCase) groupDies() bool { return ec.ThreadGroup && ec.Action != ActExit }

// faults says whether worker 0's action is a fault.
func (ec *EndCase) faults() bool { return ec.Action == ActFault || ec.Action == ActOverflow }

// wantStatus is the wait status the case should give worker 0 (as a
// process of its own) and the host.
func (ec *EndCase) wantStatus() (worker0, host string) {
	worker0 = fmt.Sprintf("exited %d", EndCode)
	if ec.faults() {
		worker0 = "killed by SIGSEGV"
	}
	host = "exited 0"
	if ec.groupDies() {
		host = worker0
	}
	return worker0, host
}

// describe says in words how each task ended.
func (ec *EndCase) describe() {
	ec.Host.Ended = ec.Host.Status + " (wait4 in minirun)"
	for i := range ec.Workers {
		w := &ec.Workers[i]
		switch {
		case i == 0 && w.Status != "":
			w.Ended = w.Status + " (wait4 in the host)"
		case i == 0 && ec.faults():
			w.Ended = "faulted: SIGSEGV, fatal to its whole thread group"
		case i == 0 && ec.Action == ActExit:
			w.Ended = fmt.Sprintf("exit(%d): this thread alone; its status goes to no one", EndCode)
		case i == 0:
			w.Ended = fmt.Sprintf("exit_group(%d): every task of its thread group", EndCode)
		case w.Status != "":
			w.Ended = w.Status + " (wait4 in the host), when let go"
		case w.Phase >= clonecore.LabLeaving:
			w.Ended = "exit(0), when let go"
		case !w.Alive:
			w.Ended = "killed with its thread group before it was let go"
		default:
			w.Ended = fmt.Sprintf("unknown (phase %d)", w.Phase)
		}
	}
}

// verdict checks the case against the article's claim.
func (ec *EndCase) verdict() (bool, string) {
	var bad []string
	host := ec.Host
	for i, w := range ec.Workers {
		if ec.ThreadGroup && w.Tgid != host.TID {
			bad = append(bad, fmt.Sprintf("worker %d (tid %d): Tgid %d before, want the host's %d: a thread of the host", i, w.TID, w.Tgid, host.TID))
		}
		if !ec.ThreadGroup && (w.Tgid != w.TID || w.PPid != host.TID) {
			bad = append(bad, fmt.Sprintf("worker %d (tid %d): Tgid %d and PPid %d before, want %d and the host %d: a process of its own, the host's child", i, w.TID, w.Tgid, w.PPid, w.TID, host.TID))
		}
	}
	want0, wantHost := ec.wantStatus()
	if host.Status != wantHost {
		bad = append(bad, fmt.Sprintf("host: %s, want %s", host.Status, wantHost))
	}
	if host.Alive == ec.groupDies() {
		bad = append(bad, fmt.Sprintf("host alive after worker 0 acted: %v, want %v", host.Alive, !ec.groupDies()))
	}
	siblingsLeft := 0
	for i, w := range ec.Workers {
		switch {
		case i == 0:
			if w.Alive {
				bad = append(bad, "worker 0: alive after it acted")
			}
			if !ec.ThreadGroup && w.Status != want0 {
				bad = append(bad, fmt.Sprintf("worker 0: %s, want %s", orNone(w.Status), want0))
			}
			if ec.ThreadGroup && w.Phase >= clonecore.LabLeaving {
				bad = append(bad, "worker 0: reached the exit of a worker that was let go twice")
			}
		case ec.groupDies():
			if w.Alive || w.Phase >= clonecore.LabLeaving {
				bad = append(bad, fmt.Sprintf("worker %d: alive after worker 0 acted %v, phase %d: want killed before it was let go", i, w.Alive, w.Phase))
			}
		default:
			if !w.Alive {
				bad = append(bad, fmt.Sprintf("worker %d: gone after worker 0 acted, want alive", i))
			}
			if w.Phase != clonecore.LabLeaving || (!ec.ThreadGroup && w.Status != "exited 0") {
				bad = append(bad, fmt.Sprintf("worker %d: phase %d, %s: want its own exit(0) when let go", i, w.Phase, orNone(w.Status)))
			}
			siblingsLeft++
		}
	}
	if ec.Action == ActOverflow && (ec.Lowest < ec.StackLo || uint64(ec.Lowest) >= uint64(ec.StackLo)+256) {
		bad = append(bad, fmt.Sprintf("worker 0: lowest address written %v, want within 256 bytes above its guard page (stack from %v)", ec.Lowest, ec.StackLo))
	}
	if len(bad) > 0 {
		return false, firstFew(bad)
	}
	n := len(ec.Workers)
	var d string
	switch {
	case ec.groupDies() && ec.faults():
		d = fmt.Sprintf("one thread's fault killed all %d threads of host %d and the host (%s)", n, host.TID, host.Status)
	case ec.groupDies():
		d = fmt.Sprintf("one thread's exit_group ended all %d threads of host %d and the host, whose status is its code (%s)", n, host.TID, host.Status)
	case ec.ThreadGroup:
		d = fmt.Sprintf("exit ended worker 0 alone: its %d sibling threads and the host lived on, and left when let go", siblingsLeft)
	default:
		d = fmt.Sprintf("worker 0 alone ended (%s): its %d siblings, processes of their own, and the host lived on", ec.Workers[0].Status, siblingsLeft)
	}
	if ec.Action == ActOverflow {
		d += fmt.Sprintf("; it stopped at %v, %d bytes above its guard page", ec.Lowest, uint64(ec.Lowest)-uint64(ec.StackLo))
	}
	return true, d
}

// WriteJSON writes the report as one indented JSON object.
func (r *EndReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText writes the report for a reader.
func (r *EndReport) WriteText(out io.Writer) error {
	b := &strings.Builder{}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	switch r.Experiment {
	case "crash":
		p("minirun threads crash: a worker faults. With CLONE_THREAD its whole thread group dies; without it, only itself.\n")
	default:
		p("minirun threads exit: a worker calls exit, then exit_group. exit ends the thread; exit_group its whole thread group.\n")
	}
	p("Each case runs in a host: a process of its own that minirun (pid %d) clones without CLONE_VM\n", r.PID)
	p("and that clones the workers; minirun watches from outside and reaps it. The workers never run Go.\n")
	for _, ec := range r.Cases {
		kind := "threads of the host (CLONE_THREAD)"
		if !ec.ThreadGroup {
			kind = "processes of their own (the same flags without CLONE_THREAD)"
		}
		p("\n%s: worker 0 %s; the workers are %s\n", ec.Name, ec.How, kind)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  tid\ttask\ttgid\tppid\tbefore\tafter worker 0 acted\thow it ended")
		row := func(name string, t EndTask) {
			after := "gone"
			if t.Alive {
				after = "alive"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%d\t%d\t%s\t%s\t%s\n", t.TID, name, t.Tgid, t.PPid, t.State, after, t.Ended)
		}
		row("host", ec.Host)
		for i, w := range ec.Workers {
			name := fmt.Sprintf("worker %d", i)
			if i == 0 {
				name += " (acts)"
			}
			row(name, w)
		}
		tw.Flush()
	}
	p("\nchecks\n")
	w := 0
	for _, c := range r.Checks {
		w = max(w, len(c.Name))
	}
	writeChecks(b, r.Checks, w)
	p("\n%s", r.summary())
	_, err := io.WriteString(out, b.String())
	return err
}
