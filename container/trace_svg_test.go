package container

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// checker is what checkTraceSVG needs of a *testing.T, so that a test can
// also check the checker (failRecorder).
type checker interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// failRecorder notes a failure; Fatalf ends its goroutine, as t.Fatalf.
type failRecorder struct{ failed bool }

func (f *failRecorder) Helper()               {}
func (f *failRecorder) Errorf(string, ...any) { f.failed = true }
func (f *failRecorder) Fatalf(string, ...any) { f.failed = true; runtime.Goexit() }

// svgRow is one <g> row of a trace picture, as drawn.
type svgRow struct {
	class, who, what, field string
	start, duration         int64
	steps                   int       // data-steps
	rects                   []svgRect // its step segments (class "step")
	barX, barW              float64   // its bar (class "bar")
}

type svgRect struct {
	index int
	x, w  float64
	fill  string
}

// parseTraceSVG reads a trace picture's rows, in the order drawn, and its
// marker lines by class.
func parseTraceSVG(t checker, drawn []byte) (rows []svgRow, markers map[string]int) {
	t.Helper()
	markers = map[string]int{}
	dec := xml.NewDecoder(bytes.NewReader(drawn))
	var cur *svgRow
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			a := map[string]string{}
			for _, at := range el.Attr {
				a[at.Name.Local] = at.Value
			}
			num := func(k string) float64 {
				f, err := strconv.ParseFloat(a[k], 64)
				if err != nil {
					t.Fatalf("<%s class=%q> %s=%q: %v", el.Name.Local, a["class"], k, a[k], err)
				}
				return f
			}
			switch {
			case el.Name.Local == "g":
				rows = append(rows, svgRow{class: a["class"], who: a["data-who"], what: a["data-what"], field: a["data-field"],
					start: int64(num("data-start-ns")), duration: int64(num("data-duration-ns"))})
				cur = &rows[len(rows)-1]
				if cur.class == "group" {
					cur.steps = int(num("data-steps"))
				}
			case el.Name.Local == "rect" && a["class"] == "step":
				if cur == nil {
					t.Fatalf("a step drawn outside any row")
				}
				cur.rects = append(cur.rects, svgRect{int(num("data-index")), num("x"), num("width"), a["fill"]})
			case el.Name.Local == "rect" && a["class"] == "bar":
				cur.barX, cur.barW = num("x"), num("width")
			case el.Name.Local == "line" && a["class"] != "":
				markers[a["class"]]++
			}
		case xml.EndElement:
			if el.Name.Local == "g" {
				cur = nil
			}
		}
	}
	return rows, markers
}

// checkTraceSVG checks a trace picture against the report it was drawn
// from: a row for each of minirun's phases and each concurrent one, in
// order, one for the child and one per group of its steps with each step
// a segment in order; bars placed by time (a later start further right,
// a longer phase wider); the process's start marked in both panels.
func checkTraceSVG(t checker, drawn []byte, r TraceReport) {
	t.Helper()
	rows, markers := parseTraceSVG(t, drawn)
	by := map[string][]svgRow{}
	for _, row := range rows {
		by[row.class] = append(by[row.class], row)
	}
	phases := append(append([]TracePhase{}, r.Minirun...), r.Concurrent...)
	drawnPhases := append(append([]svgRow{}, by["phase"]...), by["concurrent"]...)
	if len(drawnPhases) != len(phases) {
		t.Fatalf("phase rows: %d drawn, want the report's %d", len(drawnPhases), len(phases))
	}
	var longest struct {
		ns int64
		w  float64
	}
	for i, p := range phases {
		row := drawnPhases[i]
		if row.what != p.What || row.start != p.Start || row.duration != p.Duration {
			t.Errorf("phase row %d: %q at %d for %d; want %q at %d for %d", i, row.what, row.start, row.duration, p.What, p.Start, p.Duration)
		}
		if i > 0 && i < len(r.Minirun) && row.barX < drawnPhases[i-1].barX {
			t.Errorf("phase %q starts after %q but its bar is to the left (x %.1f, %.1f)", p.What, phases[i-1].What, row.barX, drawnPhases[i-1].barX)
		}
		if p.Duration > longest.ns {
			longest.ns, longest.w = p.Duration, row.barW
		}
	}
	for i, p := range phases {
		if p.Duration < longest.ns/2 && drawnPhases[i].barW >= longest.w {
			t.Errorf("phase %q (%d ns) is drawn as wide as the longest (%d ns): want widths by duration", p.What, p.Duration, longest.ns)
		}
	}

	if len(r.Child) == 0 {
		if len(by["group"]) != 0 || len(by["child"]) != 0 {
			t.Errorf("no child steps in the report, but %d groups and %d child rows drawn", len(by["group"]), len(by["child"]))
		}
		return
	}
	if len(by["child"]) != 1 {
		t.Errorf("child rows: %d, want one bar for the whole child", len(by["child"]))
	}
	groups := by["group"]
	if len(groups) != len(r.Child) {
		t.Fatalf("group rows: %d drawn, want one per group of the report (%d)", len(groups), len(r.Child))
	}
	prevX := -1.0
	for i, g := range r.Child {
		row := groups[i]
		if row.field != g.Field || row.steps != len(g.Steps) || row.start != g.Start || row.duration != g.Duration || len(row.rects) != len(g.Steps) {
			t.Errorf("group row %d: %q, %d steps (%d drawn) at %d for %d; want %q, %d steps at %d for %d",
				i, row.field, row.steps, len(row.rects), row.start, row.duration, g.Field, len(g.Steps), g.Start, g.Duration)
			continue
		}
		for j, s := range g.Steps {
			rect := row.rects[j]
			if rect.index != s.Index || rect.x < prevX || rect.w <= 0 {
				t.Errorf("step %d of %q: drawn as #%d at x %.2f width %.2f; want #%d, not left of the step before (x %.2f)",
					j, g.Field, rect.index, rect.x, rect.w, s.Index, prevX)
			}
			prevX = rect.x
			wantRed, wantAmber := s.Failed, !s.Failed && s.Errno != ""
			if (rect.fill == colFailed) != wantRed || (rect.fill == colTolerated) != wantAmber {
				t.Errorf("step %d (%s, failed %v, errno %q): fill %s; red only for a failed step, amber for a tolerated errno",
					s.Index, s.Call, s.Failed, s.Errno, rect.fill)
			}
		}
	}
	if r.Running != 0 && markers["running"] != 2 {
		t.Errorf("the process's start marked %d times, want once in each panel", markers["running"])
	}
	if r.Running == 0 && markers["running"] != 0 {
		t.Errorf("the process never ran, but its start is marked %d times", markers["running"])
	}
}

// syntheticReport is a small traced start: three phases of minirun's, one
// alongside, the child's steps in three groups, one errno tolerated and
// the last step failed when failed is set.
func syntheticReport(failed bool) TraceReport {
	r := TraceReport{Clock: "CLOCK_MONOTONIC", Origin: 1e9, Clone: "clone3(CLONE_NEWNS|CLONE_NEWPID)"}
	r.Minirun = []TracePhase{
		{What: "Go runtime start", Start: 0, Duration: 1_000_000},
		{What: "load the config", Start: 1_000_000, Duration: 100_000},
		{What: "clone3 the child", Start: 1_100_000, Duration: 900_000},
		{What: "wait for the child's execve", Start: 2_000_000, Duration: 1_000_000},
	}
	r.Concurrent = []TracePhase{{What: "compile the child program", Start: 500_000, Duration: 400_000}}
	r.ChildStart = 2_000_000
	at := r.ChildStart
	step := func(i int, label, call string, ns int64) TraceStep {
		s := TraceStep{Index: i, Label: label, Call: call, Start: at, Duration: ns, Returned: true}
		at += ns
		return s
	}
	mounts := TraceGroup{Field: "mounts[0]", Start: at}
	mounts.Steps = []TraceStep{step(0, "mounts[0]: proc on /proc", "fsopen(\"proc\")", 20_000),
		step(1, "mounts[0]: proc on /proc", "fsmount(fd)", 30_000)}
	masked := TraceGroup{Field: "linux.maskedPaths[0]", Start: at}
	tolerated := step(2, "linux.maskedPaths[0]: mask /proc/kcore", "open_tree(\"/proc/kcore\")", 5_000)
	tolerated.Errno, tolerated.Tolerated, tolerated.Result = "ENOENT", true, -2
	masked.Steps = []TraceStep{tolerated}
	args := TraceGroup{Field: "process.args[0]", Start: at}
	exec := step(3, "process.args[0]: /bin/true", "execve(\"/bin/true\")", 945_000)
	if failed {
		exec.Failed, exec.Errno, exec.Result = true, "ENOENT", -2
	} else {
		exec.Returned = false
		r.Running = at
	}
	args.Steps = []TraceStep{exec}
	for _, g := range []*TraceGroup{&mounts, &masked, &args} {
		last := g.Steps[len(g.Steps)-1]
		g.Duration = last.Start + last.Duration - g.Start
	}
	r.Child = []TraceGroup{mounts, masked, args}
	if !failed {
		r.Minirun = append(r.Minirun, TracePhase{What: "delete the container", Start: r.Running, Duration: 500_000, Alongside: true})
	}
	return r
}

// TestTraceSVG draws made-up reports, a start and a failure, and checks
// each picture against its report; a report with nothing is refused.
func TestTraceSVG(t *testing.T) {
	for _, failed := range []bool{false, true} {
		r := syntheticReport(failed)
		var b bytes.Buffer
		if err := r.WriteSVG(&b); err != nil {
			t.Fatalf("WriteSVG: %v", err)
		}
		checkTraceSVG(t, b.Bytes(), r)
		want := "process ran 3.000 ms after"
		if failed {
			want = "process did not start"
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("failed %v: the title does not say %q", failed, want)
		}
	}
	// The checker itself must catch a picture that does not match.
	r := syntheticReport(false)
	var b bytes.Buffer
	if err := r.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	r.Child = r.Child[:2]
	inner := &failRecorder{}
	done := make(chan struct{})
	go func() { defer close(done); checkTraceSVG(inner, b.Bytes(), r) }()
	<-done
	if !inner.failed {
		t.Errorf("checkTraceSVG passed a picture with a group more than its report")
	}
	if err := (TraceReport{}).WriteSVG(io.Discard); err == nil {
		t.Errorf("WriteSVG of an empty report: no error")
	}
}
