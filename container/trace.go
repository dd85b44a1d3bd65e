package container

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/internal/boot"
	"github.com/minirun/minirun/internal/selfexe"
)

// A Trace is the timeline of one container start for `run --trace`: the
// phases minirun went through, marked as it went, and the child program's
// flight record (clonecore.FlightRecord), every step timed by the child
// itself. Both are on CLOCK_MONOTONIC, so they make one timeline from
// minirun's first instruction to the container's process running.
//
// A nil *Trace records nothing: every method is a no-op on it, so an
// untraced start pays one nil check a mark.
type Trace struct {
	marks []traceMark
	// spans are work a second goroutine did alongside the marked line
	// (the compile, the signal handlers' setup).
	spans  []traceSpan
	flight *clonecore.FlightRecord
	clone  string // the clone call, as --explain shows it
	exec   int64  // when minirun saw the exec; 0 until it has
	gate   int64  // create: when the process was left waiting at its gate
	// running is the index in marks of the first mark after the exec:
	// from there on minirun works alongside the process.
	running int
}

type traceMark struct {
	at   int64
	what string
}

type traceSpan struct {
	start, end int64
	what       string
}

// alongside records work done by another goroutine from start to end,
// alongside the marked phases. Only the marking goroutine calls it.
func (t *Trace) alongside(what string, start, end int64) {
	if t == nil || start == 0 {
		return
	}
	t.spans = append(t.spans, traceSpan{start, end, what})
}

// NewTrace starts a trace with what minirun knows of its own start:
// its first instruction, its first package initialised, and main.
func NewTrace() *Trace {
	t := &Trace{running: -1}
	// A minirun that re-executed itself from a read-only view of its
	// binary (internal/selfexe) began before this process did.
	if first := selfexe.FirstEntry(); first > 0 {
		t.marks = append(t.marks, traceMark{first, "guard minirun's binary (CVE-2019-5736): re-execute from a read-only view of it"})
	}
	if e := boot.Entry(); e != 0 {
		t.marks = append(t.marks, traceMark{e, "Go runtime start: from the first instruction to the first package init"})
	}
	t.marks = append(t.marks, traceMark{boot.Init(), "package init"})
	if m := boot.Main(); m != 0 {
		t.marks = append(t.marks, traceMark{m, "command line (urfave/cli)"})
	}
	return t
}

// Mark says that from now on minirun does what.
func (t *Trace) Mark(what string) {
	if t == nil {
		return
	}
	t.marks = append(t.marks, traceMark{clonecore.Now(), what})
}

// Markf is Mark with a format.
func (t *Trace) Markf(format string, a ...any) {
	if t == nil {
		return
	}
	t.Mark(fmt.Sprintf(format, a...))
}

// program makes the child keep a flight record.
func (t *Trace) program(p *clonecore.Program, call string) {
	if t == nil {
		return
	}
	p.EnableTrace()
	t.clone = call
}

// joined takes the flight record of a task that has exec'd (or failed).
func (t *Trace) joined(task *clonecore.Task, execd bool) {
	if t == nil || task == nil {
		return
	}
	if execd {
		t.exec = clonecore.Now()
		t.marks = append(t.marks, traceMark{t.exec, "the container's process runs: minirun records it"})
		t.running = len(t.marks) - 1
	}
	t.flight = task.FlightRecord()
}

// atGate takes the flight record of a created container's process, which
// waits at its gate (exec.fifo) for start.
func (t *Trace) atGate(task *clonecore.Task) {
	if t == nil || task == nil {
		return
	}
	t.gate = clonecore.Now()
	t.marks = append(t.marks, traceMark{t.gate, "the container's process waits at its gate: minirun records it"})
	t.running = len(t.marks) - 1
	t.flight = task.FlightRecord()
}

// TraceReport is a trace laid out for people and tools (`run --trace
// --json` prints it). Times are nanoseconds from Origin.
type TraceReport struct {
	Clock string `json:"clock"`
	// Origin is minirun's first instruction (or, when it was linked
	// without the entry stamp, its first package init), on Clock.
	Origin int64 `json:"origin_ns"`
	// Running is when minirun saw the process's execve succeed; 0 if it
	// did not.
	Running int64 `json:"running_ns"`
	// Gate, for create, is when the process was left waiting at its gate
	// for start; 0 otherwise.
	Gate int64 `json:"gate_ns,omitempty"`
	// Minirun are the parent's phases in order; the last ones, from
	// Running on, run alongside the container's process.
	Minirun []TracePhase `json:"minirun"`
	// Concurrent is what another goroutine of minirun's did alongside
	// those phases.
	Concurrent []TracePhase `json:"concurrent,omitempty"`
	// Clone is the clone call that started the child.
	Clone string `json:"clone"`
	// ChildStart is when the child ran its first instruction.
	ChildStart int64 `json:"child_start_ns"`
	// Child are the child program's steps, grouped by the spec field
	// behind them, in the order they ran.
	Child []TraceGroup `json:"child"`
	Notes []string     `json:"notes,omitempty"`
}

// TracePhase is one phase of minirun's own.
type TracePhase struct {
	What     string `json:"what"`
	Start    int64  `json:"start_ns"`
	Duration int64  `json:"duration_ns"`
	// Alongside is set for the phases after the exec.
	Alongside bool `json:"alongside_process,omitempty"`
}

// TraceGroup is a run of consecutive steps caused by one spec field.
type TraceGroup struct {
	// Field is the part of the steps' label before ": " (the spec field:
	// "mounts[2]", "linux.maskedPaths[3]", "process.capabilities.bounding";
	// "minirun" for the runtime's own steps).
	Field    string      `json:"field"`
	Start    int64       `json:"start_ns"`
	Duration int64       `json:"duration_ns"`
	Steps    []TraceStep `json:"steps"`
}

// TraceStep is one step of the child program.
type TraceStep struct {
	Index    int    `json:"index"`
	Label    string `json:"label"`
	Call     string `json:"call"`
	Start    int64  `json:"start_ns"`
	Duration int64  `json:"duration_ns"`
	// Result is the raw result (an fd, a value, -errno); Errno names an
	// errno, Tolerated says the step accepts it, Failed marks the step
	// the child failed at. Returned is false for a step that never
	// returned (execve): its duration runs until minirun saw the exec.
	Result    int64  `json:"result"`
	Errno     string `json:"errno,omitempty"`
	Tolerated bool   `json:"tolerated,omitempty"`
	Failed    bool   `json:"failed,omitempty"`
	Returned  bool   `json:"returned"`
	// Skipped is, for a skip_unless, how many steps after it the child
	// skipped (they are not listed).
	Skipped int `json:"skipped,omitempty"`
}

// Report lays the trace out, relative to its first mark.
func (t *Trace) Report() TraceReport {
	r := TraceReport{Clock: "CLOCK_MONOTONIC"}
	if len(t.marks) == 0 {
		return r
	}
	r.Origin = t.marks[0].at
	if boot.Entry() == 0 {
		r.Notes = append(r.Notes, "Go's start before the first package init is not timed: minirun was linked without -E "+
			"github.com/minirun/minirun/internal/boot.entry (make build links it so)")
	}
	rel := func(at int64) int64 {
		if at == 0 {
			return 0
		}
		return at - r.Origin
	}
	if t.exec != 0 {
		r.Running = rel(t.exec)
	}
	if t.gate != 0 {
		r.Gate = rel(t.gate)
	}
	for i, m := range t.marks {
		end := m.at
		if i+1 < len(t.marks) {
			end = t.marks[i+1].at
		}
		r.Minirun = append(r.Minirun, TracePhase{What: m.what, Start: rel(m.at), Duration: end - m.at,
			Alongside: t.running >= 0 && i >= t.running})
	}
	for _, s := range t.spans {
		r.Concurrent = append(r.Concurrent, TracePhase{What: s.what, Start: rel(s.start), Duration: s.end - s.start})
	}
	r.Clone = t.clone
	if t.flight == nil || t.flight.Start == 0 {
		return r
	}
	r.ChildStart = rel(t.flight.Start)
	for _, s := range t.flight.Steps {
		step := TraceStep{Index: s.Index, Label: s.Label, Call: s.Call, Start: rel(s.Start), Result: s.Result,
			Tolerated: s.Tolerated, Failed: s.Failed, Returned: s.End != 0, Skipped: s.Skipped}
		switch {
		case s.End != 0:
			step.Duration = s.End - s.Start
		case t.exec != 0:
			step.Duration = t.exec - s.Start
		}
		if e := s.Errno(); e != 0 {
			step.Errno = unix.ErrnoName(e)
		}
		field := stepField(s.Label)
		if n := len(r.Child); n == 0 || r.Child[n-1].Field != field {
			r.Child = append(r.Child, TraceGroup{Field: field, Start: step.Start})
		}
		g := &r.Child[len(r.Child)-1]
		g.Steps = append(g.Steps, step)
		g.Duration = step.Start + step.Duration - g.Start
	}
	return r
}

// stepField is the spec field a step's label names: the part before ": ".
func stepField(label string) string {
	if i := strings.Index(label, ": "); i >= 0 {
		return label[:i]
	}
	return label
}

// WriteJSON writes the report as one JSON object.
func (t *Trace) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(t.Report())
}

// WriteText writes the report as one timeline, minirun's phases and the
// child's steps in the order they began, then where the time went.
func (t *Trace) WriteText(w io.Writer) error {
	r := t.Report()
	var b strings.Builder
	switch {
	case r.Running != 0:
		fmt.Fprintf(&b, "minirun --trace: the container's process ran %s after minirun's first instruction\n", dur(r.Running))
	case r.Gate != 0:
		fmt.Fprintf(&b, "minirun --trace: the container's process waits for start %s after minirun's first instruction\n", dur(r.Gate))
	default:
		fmt.Fprintf(&b, "minirun --trace: the container's process did not start\n")
	}
	fmt.Fprintf(&b, "times from minirun's first instruction (%s); the child's steps timed by the child itself\n", r.Clock)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	type line struct {
		at    int64
		order int
		text  string
	}
	var lines []line
	for i, p := range r.Minirun {
		who := "minirun"
		if p.Alongside {
			who = "minirun*"
		}
		lines = append(lines, line{p.Start, i, fmt.Sprintf("%9.3f %10s  %-8s %s", ms(p.Start), dur(p.Duration), who, p.What)})
	}
	for i, p := range r.Concurrent {
		lines = append(lines, line{p.Start, len(r.Minirun) + len(r.Child) + i, fmt.Sprintf("%9.3f %10s  %-8s %s", ms(p.Start), dur(p.Duration), "minirun+", p.What)})
	}
	if r.Clone != "" && r.ChildStart != 0 {
		lines = append(lines, line{r.ChildStart, -1, fmt.Sprintf("%9.3f %10s  %-8s started: %s", ms(r.ChildStart), "", "child", r.Clone)})
	}
	for gi, g := range r.Child {
		title := g.Field
		if same := g.Steps[0].Label; allLabels(g.Steps, same) {
			title = same
		}
		text := fmt.Sprintf("%9.3f %10s  %-8s %s (%s)", ms(g.Start), dur(g.Duration), "child", title, plural(len(g.Steps), "step"))
		for _, s := range g.Steps {
			text += "\n" + fmt.Sprintf("%9.3f %10s  %-8s %4d %s%s", ms(s.Start), dur(s.Duration), "", s.Index, s.Call, outcome(s))
		}
		lines = append(lines, line{g.Start, len(r.Minirun) + gi, text})
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if lines[i].at != lines[j].at {
			return lines[i].at < lines[j].at
		}
		return lines[i].order < lines[j].order
	})
	fmt.Fprintf(&b, "\n%9s %10s  %-8s %s\n", "at ms", "took", "who", "what")
	for _, l := range lines {
		b.WriteString(l.text + "\n")
	}
	if len(r.Concurrent) > 0 {
		b.WriteString("minirun+ is a second goroutine of minirun's, working alongside the line of minirun's phases\n")
	}
	if r.Running != 0 || r.Gate != 0 {
		b.WriteString("minirun* works alongside the container's process, after the exec (or the gate)\n")
	}
	writeSummary(&b, r)
	_, err := io.WriteString(w, b.String())
	return err
}

func allLabels(steps []TraceStep, label string) bool {
	for _, s := range steps {
		if s.Label != label {
			return false
		}
	}
	return true
}

// outcome renders a step's result after its call.
func outcome(s TraceStep) string {
	switch {
	case !s.Returned && s.Failed:
		return " (failed)"
	case !s.Returned:
		return " (did not return; its time runs until minirun saw it)"
	case s.Errno != "" && s.Tolerated:
		return fmt.Sprintf(" = -%s (tolerated)", s.Errno)
	case s.Errno != "" && s.Failed:
		return fmt.Sprintf(" = -%s (FAILED)", s.Errno)
	case s.Errno != "":
		return fmt.Sprintf(" = -%s", s.Errno)
	case s.Failed:
		return fmt.Sprintf(" = %d (FAILED: not the expected result)", s.Result)
	case s.Skipped > 0:
		return fmt.Sprintf(" → skipped the next %d", s.Skipped)
	case strings.Contains(s.Call, " = fd<"):
		return fmt.Sprintf(" → %d", s.Result)
	}
	return fmt.Sprintf(" = %d", s.Result)
}

// writeSummary totals the child's time by spec field (indices dropped:
// every mounts[i] together) and minirun's before the clone.
func writeSummary(b *strings.Builder, r TraceReport) {
	type total struct {
		field string
		ns    int64
		steps int
	}
	var totals []*total
	by := map[string]*total{}
	for _, g := range r.Child {
		f := g.Field
		if i := strings.IndexByte(f, '['); i >= 0 {
			f = f[:i]
		}
		tt := by[f]
		if tt == nil {
			tt = &total{field: f}
			by[f] = tt
			totals = append(totals, tt)
		}
		for _, s := range g.Steps {
			tt.ns += s.Duration
			tt.steps++
		}
	}
	sort.SliceStable(totals, func(i, j int) bool { return totals[i].ns > totals[j].ns })
	b.WriteString("\nwhere the time went\n")
	if r.ChildStart != 0 {
		fmt.Fprintf(b, "  %10s  minirun before the child's first instruction\n", dur(r.ChildStart))
	}
	if r.Running != 0 && r.ChildStart != 0 {
		fmt.Fprintf(b, "  %10s  the child, first instruction to execve (waits for minirun included)\n", dur(r.Running-r.ChildStart))
	}
	for _, tt := range totals {
		fmt.Fprintf(b, "  %10s  child: %s (%s)\n", dur(tt.ns), tt.field, plural(tt.steps, "step"))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// dur renders a duration in µs below a millisecond, in ms above.
func dur(ns int64) string {
	if ns < 1e6 {
		return fmt.Sprintf("%.1f µs", float64(ns)/1e3)
	}
	return fmt.Sprintf("%.3f ms", float64(ns)/1e6)
}
