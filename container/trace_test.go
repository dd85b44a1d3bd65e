package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minirun/minirun/specs"
)

// explainedSteps runs `minirun run --explain` on a bundle and returns its
// program, one "call # label" per step, by index.
func explainedSteps(t *testing.T, dir string) (calls, labels []string) {
	t.Helper()
	out, errOut, code := runBinary(t, nil, "run", "--explain", "--bundle", dir, "explained")
	if code != 0 {
		t.Fatalf("run --explain: exit %d: %s", code, errOut)
	}
	step := regexp.MustCompile(`^\s*(\d+)  (.*?)\s+# (.*)$`)
	for _, line := range strings.Split(out, "\n") {
		m := step.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if i, _ := strconv.Atoi(m[1]); i != len(calls) {
			t.Fatalf("run --explain: step %s where %d was next", m[1], len(calls))
		}
		calls, labels = append(calls, m[2]), append(labels, m[3])
	}
	if len(calls) == 0 {
		t.Fatalf("run --explain listed no steps: %s", out)
	}
	return calls, labels
}

// traceJSON runs `minirun run --trace --json --svg FILE`, decodes the
// report it prints on stderr after whatever the container wrote there,
// and checks the picture it drew against the report (checkTraceSVG).
func traceJSON(t *testing.T, dir, id string) (TraceReport, int) {
	t.Helper()
	svg := filepath.Join(t.TempDir(), "trace.svg")
	_, errOut, code := runBinary(t, nil, "run", "--trace", "--json", "--svg", svg, "--bundle", dir, id)
	r := traceReportFrom(t, errOut)
	drawn, err := os.ReadFile(svg)
	if err != nil {
		t.Fatalf("run --trace --svg (exit %d): %v", code, err)
	}
	checkTraceSVG(t, drawn, r)
	return r, code
}

func traceReportFrom(t *testing.T, errOut string) TraceReport {
	t.Helper()
	i := strings.Index(errOut, "{\n")
	if i < 0 {
		t.Fatalf("run --trace --json: no JSON object on stderr: %q", errOut)
	}
	var r TraceReport
	dec := json.NewDecoder(strings.NewReader(errOut[i:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("run --trace --json: %v in %q", err, errOut[i:])
	}
	return r
}

// TestRunTrace runs a container with --trace --json and checks the
// timeline's structure against --explain's listing of the same program:
// every step once, in order, timed without gaps or overlaps, grouped by
// the field its label names, after minirun's own phases.
func TestRunTrace(t *testing.T) {
	needRoot(t, "runs a container")
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.save(t)
	calls, labels := explainedSteps(t, tb.Dir)
	r, code := traceJSON(t, tb.Dir, "traced")
	if code != 0 {
		t.Fatalf("run --trace: exit %d, want 0", code)
	}
	if r.Clock != "CLOCK_MONOTONIC" || r.Origin <= 0 || len(r.Notes) != 0 {
		t.Errorf("clock %q origin %d notes %q: want CLOCK_MONOTONIC, a time, no notes (minirun is linked with the entry stamp)",
			r.Clock, r.Origin, r.Notes)
	}

	// minirun's phases: the ones every run has, in this order, each
	// starting where the one before ended.
	want := []string{"Go runtime start", "package init", "command line", "load the config", "validate the config",
		"cgroups: check", "cgroups: make", "wait for the compile", "clone3 the child",
		"wait for the child's execve", "the container's process runs"}
	var at int64
	next := 0
	for i, p := range r.Minirun {
		if p.Start != at || p.Duration < 0 {
			t.Errorf("phase %d %q: starts at %d and takes %d; want it to start at %d, where the one before ended", i, p.What, p.Start, p.Duration, at)
		}
		at = p.Start + p.Duration
		if next < len(want) && strings.HasPrefix(p.What, want[next]) {
			next++
		}
		if p.Alongside != (r.Running != 0 && p.Start >= r.Running) {
			t.Errorf("phase %q at %d: alongside the process %v, want %v (the process runs from %d)", p.What, p.Start, p.Alongside, !p.Alongside, r.Running)
		}
	}
	if next < len(want) {
		t.Errorf("minirun's phases: %q not found (in order) in %q", want[next], phaseNames(r.Minirun))
	}
	// What other goroutines did alongside: the compile, the signals'
	// setup and (as root, with no user namespace) the network namespace,
	// within the phases before the clone.
	var clone int64
	for _, p := range r.Minirun {
		if strings.HasPrefix(p.What, "clone3") {
			clone = p.Start
		}
	}
	got := phaseNames(r.Concurrent)
	wantC := []string{"catch the forwarded signals (signal.Notify)", "compile the child program"}
	if netNSByParent(tb.Spec) {
		wantC = append(wantC, "make the network namespace (unshare, on a thread of its own)")
	}
	slices.Sort(got)
	if !slices.Equal(got, wantC) {
		t.Errorf("concurrent phases: got %q, want %q", got, wantC)
	}
	for _, p := range r.Concurrent {
		if p.Start <= 0 || p.Duration < 0 || p.Start+p.Duration > clone {
			t.Errorf("concurrent phase %q: from %d for %d; want it done before the clone at %d", p.What, p.Start, p.Duration, clone)
		}
	}

	// The child: every step once, in order, each beginning as the one
	// before ended, in groups named by the field their labels give.
	if !strings.HasPrefix(r.Clone, "clone3(") || r.ChildStart <= 0 || r.Running <= r.ChildStart {
		t.Errorf("clone %q, child start %d, running %d: want a clone3 call and 0 < child start < running", r.Clone, r.ChildStart, r.Running)
	}
	var steps []TraceStep
	fields := map[string]bool{}
	for gi, g := range r.Child {
		if gi > 0 && r.Child[gi-1].Field == g.Field {
			t.Errorf("groups %d and %d are both %q: want one group per run of steps", gi-1, gi, g.Field)
		}
		if len(g.Steps) == 0 || g.Start != g.Steps[0].Start {
			t.Errorf("group %q: starts at %d with %d steps; want its first step's start", g.Field, g.Start, len(g.Steps))
			continue
		}
		fields[g.Field] = true
		for _, s := range g.Steps {
			if !strings.HasPrefix(s.Label, g.Field) {
				t.Errorf("step %d %q in group %q: want the group named by its label's field", s.Index, s.Label, g.Field)
			}
		}
		steps = append(steps, g.Steps...)
	}
	// Every step of the program, in order, but those a skip_unless
	// skipped, each counted by the skip.
	listed := 0
	for _, s := range steps {
		listed += 1 + s.Skipped
	}
	if listed != len(calls) {
		t.Fatalf("steps traced: got %d and %d skipped, want the program's %d", len(steps), listed-len(steps), len(calls))
	}
	start := r.ChildStart
	idx := 0 // the program's step the next one traced must be
	for i, s := range steps {
		// --explain names the container ID.
		s.Call = strings.ReplaceAll(s.Call, "_ses.traced", "_ses.ID")
		s.Label = strings.ReplaceAll(s.Label, "_ses.traced", "_ses.ID")
		if s.Index != idx || s.Call != calls[idx] || s.Label != labels[idx] {
			t.Errorf("step %d: got #%d %q # %q, want #%d %q # %q", i, s.Index, s.Call, s.Label, idx, calls[idx], labels[idx])
		}
		idx = s.Index + 1 + s.Skipped
		if s.Start != start || s.Duration < 0 {
			t.Errorf("step %d: starts at %d and takes %d; want it to start at %d, where the one before ended", i, s.Start, s.Duration, start)
		}
		start = s.Start + s.Duration
		last := i == len(steps)-1
		if s.Returned == last || s.Failed || (s.Errno != "" && !s.Tolerated) {
			t.Errorf("step %d %q: returned %v failed %v errno %q tolerated %v; want every step but the execve to return, none to fail",
				i, s.Call, s.Returned, s.Failed, s.Errno, s.Tolerated)
		}
	}
	if last := steps[len(steps)-1]; !strings.HasPrefix(last.Call, "execve(") || last.Start+last.Duration != r.Running {
		t.Errorf("last step %q ends at %d: want the execve, ending when minirun saw it run (%d)", last.Call, last.Start+last.Duration, r.Running)
	}
	for _, f := range []string{"mounts[0]", "linux.maskedPaths[0]", "process.capabilities.bounding", "process.args[0]"} {
		if !fields[f] {
			t.Errorf("groups: no %q among %v", f, fields)
		}
	}
}

func phaseNames(ps []TracePhase) []string {
	var names []string
	for _, p := range ps {
		names = append(names, p.What)
	}
	return names
}

// TestRunTraceFailure: a step that fails is in the trace, marked, with
// its errno, and is the last; the text timeline says where the time went.
func TestRunTraceFailure(t *testing.T) {
	needRoot(t, "runs a container")
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.Spec.Process.Args = []string{"/no-such-program"}
	tb.save(t)
	r, code := traceJSON(t, tb.Dir, "traced-failure")
	if code == 0 {
		t.Fatalf("run --trace of a missing program: exit 0, want a failure")
	}
	if r.Running != 0 || len(r.Child) == 0 {
		t.Fatalf("running %d, %d groups: want 0 (it never ran) and the steps that did", r.Running, len(r.Child))
	}
	g := r.Child[len(r.Child)-1]
	last := g.Steps[len(g.Steps)-1]
	if g.Field != "process.args[0]" || !strings.HasPrefix(last.Call, "execve(") || !last.Failed || last.Errno != "ENOENT" || !last.Returned {
		t.Errorf("last step: got %q %q failed %v errno %q returned %v; want process.args[0]'s execve, failed with ENOENT",
			g.Field, last.Call, last.Failed, last.Errno, last.Returned)
	}

	_, errOut, code := runBinary(t, nil, "run", "--trace", "--bundle", tb.Dir, "traced-text")
	for _, want := range []string{"the container's process did not start", "= -ENOENT (FAILED)", "where the time went", "child: mounts ("} {
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("run --trace (text): exit %d; want a failure and %q in:\n%s", code, want, errOut)
		}
	}
	for _, flags := range [][]string{{"--json"}, {"--svg", filepath.Join(t.TempDir(), "t.svg")}} {
		args := append(append([]string{"run"}, flags...), "--bundle", tb.Dir, "alone")
		if _, errOut, code := runBinary(t, nil, args...); code != 2 || !strings.Contains(errOut, flags[0]+" goes with --trace") {
			t.Errorf("run %s without --trace: exit %d, %q; want 2 and a usage error", flags[0], code, errOut)
		}
	}
}

// TestTraceOff: a nil trace records nothing and costs nothing but the
// check (every method is safe on nil).
func TestTraceOff(t *testing.T) {
	var tr *Trace
	tr.Mark("x")
	tr.Markf("%d", 1)
	tr.program(nil, "")
	tr.joined(nil, true)
	if n := testing.AllocsPerRun(100, func() { tr.Mark("x") }); n != 0 {
		t.Errorf("Mark on a nil trace: %v allocations, want 0", n)
	}
}
