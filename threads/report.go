package threads

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/namespaces"
	"golang.org/x/sys/unix"
)

// Hex is an address or a 64-bit pattern; JSON carries it as a "0x…"
// string, which no JSON reader rounds.
type Hex uint64

func (h Hex) String() string { return fmt.Sprintf("%#x", uint64(h)) }

// MarshalJSON writes "0x…".
func (h Hex) MarshalJSON() ([]byte, error) { return json.Marshal(h.String()) }

// UnmarshalJSON reads "0x…" (or a plain number).
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n uint64
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*h = Hex(n)
		return nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	*h = Hex(v)
	return err
}

// Report is what one run of the lab found.
type Report struct {
	// PID is minirun's pid (its TGID) in its own PID namespace.
	PID int `json:"pid"`
	// NSpid is minirun's pid in each PID namespace from /proc's down to
	// its own, when there is more than one: the host-visible pid first.
	NSpid []int `json:"nspid,omitempty"`
	// ProcPid is minirun's pid as /proc names it: PID unless /proc belongs
	// to an outer PID namespace.
	ProcPid int `json:"proc_pid"`
	// Flags are the workers' clone flags as the kernel got them; Added is
	// the part the clone core added.
	Flags     string   `json:"flags"`
	FlagNames []string `json:"flag_names"`
	Added     string   `json:"flags_added"`
	Shared    []string `json:"shared"`
	Own       []string `json:"own"`
	Syscall   string   `json:"syscall"`
	// ThreadGroup is true when the workers join minirun's thread group.
	ThreadGroup bool `json:"thread_group"`

	Count       int    `json:"count"`
	StackSize   int    `json:"stack_size"`
	GuardSize   int    `json:"guard_size"`
	StacksBytes int    `json:"stacks_mapping"`
	Work        uint64 `json:"work"`
	Elems       int    `json:"elems"`

	Workers         []Worker `json:"workers"`
	Counter         uint64   `json:"counter"`
	CounterExpected uint64   `json:"counter_expected"`
	Checks          []Check  `json:"checks"`
	Timing          Timing   `json:"timing"`
	Memory          Memory   `json:"memory"`
	OK              bool     `json:"ok"`
	// Layout is the address space while the workers held, when
	// Config.Layout asked for it.
	Layout *Layout `json:"layout,omitempty"`
}

// Worker is one worker as it recorded itself and as /proc showed it.
type Worker struct {
	Index int `json:"index"`
	// TID is the worker's id as clone returned it, in minirun's PID namespace.
	TID int `json:"tid"`
	// TGID and SelfTID are getpid() and gettid() in the worker: they
	// differ from minirun's view only in a PID namespace of its own.
	TGID    int `json:"tgid"`
	SelfTID int `json:"self_tid"`
	// ProcPid, ProcTgid, State and NSpid are from the worker's status
	// file while it held: its id and its thread group's as /proc names them.
	ProcPid  int    `json:"proc_pid"`
	ProcTgid int    `json:"proc_tgid"`
	State    string `json:"state,omitempty"`
	NSpid    []int  `json:"nspid,omitempty"`
	// Seen is true when /proc listed the worker as a live task while it held.
	Seen     bool   `json:"seen_in_proc"`
	Guard    Hex    `json:"guard"`
	StackLo  Hex    `json:"stack_lo"`
	StackHi  Hex    `json:"stack_hi"`
	SP       Hex    `json:"sp"`
	TLS      Hex    `json:"tls"`
	TLSSelf  Hex    `json:"tls_self"`
	TLSValue Hex    `json:"tls_value"`
	TLSSet   Hex    `json:"tls_set"`
	Lo       int    `json:"lo"`
	Hi       int    `json:"hi"`
	Sum      uint64 `json:"sum"`
	SumWant  uint64 `json:"sum_expected"`
	Phase    uint64 `json:"phase"`
	// Exit is the wait status of a worker outside minirun's thread group.
	Exit string `json:"exit,omitempty"`
}

// Check is one property the lab verifies.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Inconclusive is a check that neither passed nor failed: the run could
	// not show the property (a racy counter that happened to lose nothing,
	// a machine too busy to run two workers at once). It does not fail
	// the report; the detail says what was seen.
	Inconclusive bool `json:"inconclusive,omitempty"`
}

// Verdict is PASS, FAIL or NOTE (inconclusive).
func (c Check) Verdict() string {
	switch {
	case c.Inconclusive:
		return "NOTE"
	case c.OK:
		return "PASS"
	}
	return "FAIL"
}

// writeChecks lists checks one a line, the names in a column of width w.
func writeChecks(b *strings.Builder, cs []Check, w int) {
	for _, c := range cs {
		fmt.Fprintf(b, "  %s  %-*s %s\n", c.Verdict(), w, c.Name, c.Detail)
	}
}

// allOK is true when no check failed.
func allOK(cs []Check) bool {
	for _, c := range cs {
		if !c.OK {
			return false
		}
	}
	return true
}

// failedNames lists the checks that failed.
func failedNames(cs []Check) []string {
	var names []string
	for _, c := range cs {
		if !c.OK {
			names = append(names, c.Name)
		}
	}
	return names
}

// Timing is what the run cost.
type Timing struct {
	CreateNs int64 `json:"create_ns"` // all clones
	JoinNs   int64 `json:"join_ns"`   // release to the last worker joined (and reaped)
	// PerWorkerNs is (create + join) / count.
	PerWorkerNs int64 `json:"create_join_per_worker_ns"`
	WallNs      int64 `json:"wall_ns"`
	CPUNs       int64 `json:"cpu_ns"` // user + system, minirun and its reaped workers
}

// Memory is the resident set (VmRSS) before the run and while every
// worker held, in bytes. Part of the growth is minirun's own code paged in
// for the first time (RssFile), which a few workers cannot amortize; the
// anonymous and shared memory (RssAnon + RssShmem) is what the workers'
// stacks, TLS blocks and the arena take.
type Memory struct {
	RSSBefore          int64 `json:"rss_before"`
	RSSHeld            int64 `json:"rss_held"`
	GrowthPerWorker    int64 `json:"rss_growth_per_worker"`
	FileGrowth         int64 `json:"rss_file_growth"`
	AnonShmemPerWorker int64 `json:"rss_anon_shmem_growth_per_worker"`
	// KernelStackGrowth is how much KernelStack in /proc/meminfo grew: the
	// workers' kernel stacks, plus whatever else the machine started.
	KernelStackGrowth int64 `json:"kernel_stack_growth"`
}

// shareNames say in words what each sharing flag shares.
var shareNames = []struct {
	f    clonecore.Flags
	what string
}{
	{clonecore.VM, "address space"},
	{clonecore.FS, "root, cwd and umask"},
	{clonecore.FILES, "file descriptor table"},
	{clonecore.SIGHAND, "signal handlers"},
	{clonecore.THREAD, "thread group (TGID)"},
	{clonecore.SYSVSEM, "System V semaphore undo"},
}

// collect reads what the workers recorded, while they still hold.
func (l *lab) collect(o observation) *Report {
	r := &Report{
		PID:         os.Getpid(),
		Count:       l.c.Count,
		StackSize:   l.c.StackSize,
		GuardSize:   unix.Getpagesize(),
		StacksBytes: l.stacks.Bytes(),
		Work:        l.c.Work,
		Elems:       l.c.Elems,
		ThreadGroup: l.thread,
		Workers:     make([]Worker, len(l.tasks)),
	}
	if len(o.self.NSpid) > 1 {
		r.NSpid = o.self.NSpid
	}
	r.ProcPid = o.self.Tgid
	if len(l.tasks) > 0 {
		t := l.tasks[0]
		r.Flags, r.FlagNames, r.Added, r.Syscall = t.Flags.String(), t.Flags.Names(), t.Added.String(), t.Syscall
		for _, s := range shareNames {
			if t.Flags&s.f != 0 {
				r.Shared = append(r.Shared, s.what)
			} else {
				r.Own = append(r.Own, s.what)
			}
		}
		for _, ns := range namespaces.All() {
			if t.Flags&ns.Flag != 0 {
				r.Own = append(r.Own, ns.Name+" namespace (new)")
			}
		}
	}
	nested := o.level > 0 || l.c.Flags&clonecore.NEWPID != 0
	for i, t := range l.tasks {
		st := o.status[i]
		w := Worker{
			Index:    i,
			TID:      t.TID,
			TGID:     int(l.field(i, clonecore.WorkerPID)),
			SelfTID:  int(l.field(i, clonecore.WorkerTID)),
			ProcPid:  st.Pid,
			ProcTgid: st.Tgid,
			State:    st.State,
			Guard:    Hex(l.stacks.Guard(i)),
			StackLo:  Hex(l.stacks.Lo(i)),
			StackHi:  Hex(l.stacks.Top(i)),
			SP:       Hex(l.field(i, clonecore.WorkerSP)),
			TLS:      Hex(l.stacks.TCB(i)),
			TLSSelf:  Hex(l.field(i, clonecore.WorkerTLSSelf)),
			TLSValue: Hex(l.field(i, clonecore.WorkerTLSValue)),
			TLSSet:   Hex(TLSValue(i)),
			Lo:       int(l.field(i, clonecore.WorkerLo)),
			Hi:       int(l.field(i, clonecore.WorkerHi)),
			Sum:      l.field(i, clonecore.WorkerSum),
			SumWant:  expectedSum(i, l.c.Elems),
		}
		if nested {
			w.NSpid = st.NSpid
		}
		alive := st.Err == "" && !strings.HasPrefix(st.State, "Z") && !strings.HasPrefix(st.State, "X")
		if l.thread {
			w.Seen = o.inTasks[t.TID] && alive
		} else {
			w.Seen = !o.inTasks[t.TID] && alive
		}
		r.Workers[i] = w
	}
	return r
}

// finish fills in what is known once the workers are joined, and checks.
func (r *Report) finish(l *lab, create, join, wall, cpu time.Duration, before, held procStatus) {
	for i := range r.Workers {
		r.Workers[i].Phase = l.field(i, clonecore.WorkerPhase)
		if !l.thread && i < len(l.waits) {
			r.Workers[i].Exit = waitString(l.waits[i])
		}
	}
	n := int64(max(r.Count, 1))
	r.CounterExpected = uint64(r.Count) * r.Work
	r.Timing = Timing{
		CreateNs:    create.Nanoseconds(),
		JoinNs:      join.Nanoseconds(),
		PerWorkerNs: (create + join).Nanoseconds() / n,
		WallNs:      wall.Nanoseconds(),
		CPUNs:       cpu.Nanoseconds(),
	}
	r.Memory = Memory{
		RSSBefore:          before.RSS,
		RSSHeld:            held.RSS,
		GrowthPerWorker:    (held.RSS - before.RSS) / n,
		FileGrowth:         held.RSSFile - before.RSSFile,
		AnonShmemPerWorker: (held.RSSAnon + held.RSSShmem - before.RSSAnon - before.RSSShmem) / n,
	}
	r.Checks = r.check()
	r.OK = true
	for _, c := range r.Checks {
		r.OK = r.OK && c.OK
	}
}

func waitString(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// check states each property of the run, PASS or FAIL, with what was wrong.
func (r *Report) check() []Check {
	var cs []Check
	add := func(name string, bad []string, pass string) {
		c := Check{Name: name, OK: len(bad) == 0, Detail: pass}
		if !c.OK {
			c.Detail = firstFew(bad)
		}
		cs = append(cs, c)
	}
	n := len(r.Workers)

	var bad []string
	if r.Counter != r.CounterExpected {
		bad = append(bad, fmt.Sprintf("counter %d, want %d = %d workers × %d increments", r.Counter, r.CounterExpected, r.Count, r.Work))
	}
	add("counter", bad, fmt.Sprintf("%d = %d workers × %d increments of one shared word (LOCK INC)", r.Counter, r.Count, r.Work))

	bad = nil
	for _, w := range r.Workers {
		if r.ThreadGroup {
			if w.TGID != r.PID || w.ProcTgid != r.ProcPid {
				bad = append(bad, fmt.Sprintf("worker %d: getpid %d, /proc Tgid %d, want %d (minirun's pid; %d in /proc)", w.Index, w.TGID, w.ProcTgid, r.PID, r.ProcPid))
			}
		} else if w.TGID != w.SelfTID || w.ProcTgid != w.ProcPid {
			bad = append(bad, fmt.Sprintf("worker %d: getpid %d, gettid %d, /proc Pid %d Tgid %d: want a thread group of its own", w.Index, w.TGID, w.SelfTID, w.ProcPid, w.ProcTgid))
		}
	}
	if r.ThreadGroup {
		add("tgid", bad, fmt.Sprintf("every worker's TGID is %d, minirun's pid: CLONE_THREAD made them threads of minirun", r.PID))
	} else {
		add("tgid", bad, fmt.Sprintf("every worker's TGID is its own TID, not %d: without CLONE_THREAD each is a thread group of its own", r.PID))
	}

	bad = nil
	seen := make(map[Hex]int, n)
	for _, w := range r.Workers {
		if w.TLSValue != w.TLSSet {
			bad = append(bad, fmt.Sprintf("worker %d: read %v through its TLS register, want %v", w.Index, w.TLSValue, w.TLSSet))
		}
		if j, dup := seen[w.TLSValue]; dup {
			bad = append(bad, fmt.Sprintf("workers %d and %d read the same TLS value %v", j, w.Index, w.TLSValue))
		}
		seen[w.TLSValue] = w.Index
	}
	add("tls", bad, fmt.Sprintf("%d distinct values, each the one set in the worker's own TCB, read back through its TLS register", n))

	bad = nil
	for _, w := range r.Workers {
		if w.TLSSelf != w.TLS {
			bad = append(bad, fmt.Sprintf("worker %d: TCB word 0 is %v, want its own address %v", w.Index, w.TLSSelf, w.TLS))
		}
	}
	add("tls-self", bad, "each TCB's first word, read through the TLS register, is the TCB's own address (CLONE_SETTLS set it)")

	bad = nil
	for _, w := range r.Workers {
		if w.SP < w.StackLo || w.SP > w.StackHi {
			bad = append(bad, fmt.Sprintf("worker %d: stack pointer %v outside its stack %v-%v", w.Index, w.SP, w.StackLo, w.StackHi))
		}
	}
	add("stack", bad, "each worker's stack pointer lies in its own stack, above its guard page")

	bad = nil
	for _, w := range r.Workers {
		if w.Sum != w.SumWant {
			bad = append(bad, fmt.Sprintf("worker %d: sum of array[%d:%d] %d, want %d", w.Index, w.Lo, w.Hi, w.Sum, w.SumWant))
		}
	}
	add("sum", bad, fmt.Sprintf("each worker's sum of its %d elements of the shared array (array[k] = k+1) is (hi(hi+1)-lo(lo+1))/2", r.Elems))

	bad = nil
	for _, w := range r.Workers {
		if !w.Seen {
			where := "/proc/self/task"
			if !r.ThreadGroup {
				where = fmt.Sprintf("/proc/%d, not in /proc/self/task", w.TID)
			}
			bad = append(bad, fmt.Sprintf("worker %d (tid %d): not seen live in %s (state %q)", w.Index, w.TID, where, w.State))
		}
	}
	if r.ThreadGroup {
		add("live", bad, fmt.Sprintf("all %d workers listed in /proc/self/task while they held", n))
	} else {
		add("live", bad, fmt.Sprintf("all %d workers seen as processes in /proc/<tid> while they held, none in /proc/self/task", n))
	}

	bad = nil
	for _, w := range r.Workers {
		if w.Phase != 3 {
			bad = append(bad, fmt.Sprintf("worker %d: phase %d, want 3 (released and left)", w.Index, w.Phase))
		}
		if !r.ThreadGroup && w.Exit != "exited 0" {
			bad = append(bad, fmt.Sprintf("worker %d: %s, want exited 0", w.Index, w.Exit))
		}
	}
	if r.ThreadGroup {
		add("joined", bad, "every worker left after its release; the kernel cleared each TID word")
	} else {
		add("joined", bad, "every worker left after its release; the kernel cleared each TID word, and each was reaped with status 0")
	}
	return cs
}

// firstFew joins up to three problems and says how many more there are.
func firstFew(bad []string) string {
	const show = 3
	if len(bad) <= show {
		return strings.Join(bad, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(bad[:show], "; "), len(bad)-show)
}

// Failed returns the names of the checks that failed.
func (r *Report) Failed() []string { return failedNames(r.Checks) }

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// ShowWorkers is how many workers the text report lists before it elides
// the middle: the first and the last ShowWorkers/2.
const ShowWorkers = 10

// WriteText writes the report for a reader.
func (r *Report) WriteText(out io.Writer) error {
	b := &strings.Builder{}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }

	p("minirun threads: %d worker%s started from pid %d", r.Count, plural(r.Count), r.PID)
	if len(r.NSpid) > 1 {
		p(" (NSpid %s: its pid in each PID namespace, outermost visible first)", ints(r.NSpid))
	}
	p("\n\n")
	p("flags     %s\n", r.Flags)
	p("          by %s; added by the clone core: %s\n", r.Syscall, orNone(r.Added))
	p("shared    %s\n", orNothing(r.Shared))
	p("own       %s\n", orNothing(r.Own))
	p("stacks    %s each, a %s PROT_NONE guard page below each, one mapping of %s\n",
		FormatSize(r.StackSize), FormatSize(r.GuardSize), FormatSize(r.StacksBytes))
	p("work      %d increment%s of one shared counter each; a sum over %d elements of a shared array each\n\n",
		r.Work, plural(int(min(r.Work, 2))), r.Elems)

	nested := slices.ContainsFunc(r.Workers, func(w Worker) bool { return len(w.NSpid) > 1 })
	ownView := slices.ContainsFunc(r.Workers, func(w Worker) bool { return w.SelfTID != w.TID })
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := "worker\ttid\ttgid\t"
	if ownView {
		hdr += "in its own PID namespace\t"
	}
	if nested {
		hdr += "NSpid\t"
	}
	fmt.Fprintln(tw, hdr+"stack lo\tstack hi\ttls (TCB)\ttls value\tsum\t")
	row := func(w Worker) {
		tgid := w.TGID
		if w.SelfTID != w.TID {
			// getpid answered in the worker's own PID namespace; in
			// minirun's, the leader of a thread group of its own has
			// its TID for TGID (the tgid check compares the two views).
			tgid = w.TID
		}
		line := fmt.Sprintf("%d\t%d\t%d\t", w.Index, w.TID, tgid)
		if ownView {
			line += fmt.Sprintf("gettid %d getpid %d\t", w.SelfTID, w.TGID)
		}
		if nested {
			line += ints(w.NSpid) + "\t"
		}
		line += fmt.Sprintf("%v\t%v\t%v\t%#016x\t%d\t", w.StackLo, w.StackHi, w.TLS, uint64(w.TLSValue), w.Sum)
		fmt.Fprintln(tw, line)
	}
	ws := r.Workers
	if len(ws) > ShowWorkers+2 {
		half := ShowWorkers / 2
		for _, w := range ws[:half] {
			row(w)
		}
		tw.Flush()
		p("   … %d workers elided (--json lists all) …\n", len(ws)-2*half)
		for _, w := range ws[len(ws)-half:] {
			row(w)
		}
	} else {
		for _, w := range ws {
			row(w)
		}
	}
	tw.Flush()
	if len(ws) > 0 {
		lo, hi := ws[0].TID, ws[0].TID
		for _, w := range ws {
			lo, hi = min(lo, w.TID), max(hi, w.TID)
		}
		p("          %d workers, TIDs %d..%d, stacks %v..%v\n", len(ws), lo, hi, ws[0].Guard, ws[len(ws)-1].StackHi)
	}

	p("\nchecks\n")
	writeChecks(b, r.Checks, 9)

	t := r.Timing
	p("\ntiming\n")
	p("  create      %s for %d clone%s\n", dur(t.CreateNs), r.Count, plural(r.Count))
	p("  join        %s from release to the last worker joined\n", dur(t.JoinNs))
	p("  per worker  %d ns create+join\n", t.PerWorkerNs)
	p("  wall        %s, cpu %s (user+system)\n", dur(t.WallNs), dur(t.CPUNs))
	m := r.Memory
	p("memory\n")
	p("  VmRSS       %d KiB before, %d KiB while held: %+d KiB, %d bytes per worker\n",
		m.RSSBefore>>10, m.RSSHeld>>10, (m.RSSHeld-m.RSSBefore)>>10, m.GrowthPerWorker)
	p("              of which %+d KiB is minirun's code paged in; anonymous + shared memory %d bytes per worker\n",
		m.FileGrowth>>10, m.AnonShmemPerWorker)
	p("  kernel      KernelStack (/proc/meminfo, the whole machine) %+d KiB while held: %d bytes per worker,\n",
		m.KernelStackGrowth>>10, m.KernelStackGrowth/int64(max(r.Count, 1)))
	p("              memory a task costs that VmRSS does not show (nor its task_struct)\n")
	if r.OK {
		p("\nall %d checks passed\n", len(r.Checks))
	} else {
		p("\nFAILED: %s\n", strings.Join(r.Failed(), ", "))
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orNone(s string) string {
	if s == "" || s == "0" {
		return "none"
	}
	return s
}

func orNothing(ss []string) string {
	if len(ss) == 0 {
		return "nothing"
	}
	return strings.Join(ss, "; ")
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

// dur renders nanoseconds with a unit a reader takes in at a glance.
func dur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
