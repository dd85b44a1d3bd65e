package container

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// WriteSVG draws the report as a timeline (`run --trace --svg FILE`). The
// top panel is the whole start on one time axis, from minirun's first
// instruction to its last phase: one row per phase of minirun's, one per
// phase its second goroutine did alongside, and one bar for the child
// from its first instruction to its execve. The bottom panel zooms into
// that bar: one row per group of the child's steps (the spec field behind
// them), each step a segment of the row, tolerated errnos in amber and a
// failed step in red.
//
// Every row is a <g> carrying what it draws (class "phase", "concurrent",
// "child" or "group"; data-what or data-field, data-start-ns,
// data-duration-ns, and data-steps for a group) and every step a <rect
// class="step" data-index>, so a program can check the picture against
// the JSON report.
func (r TraceReport) WriteSVG(w io.Writer) error {
	if len(r.Minirun) == 0 {
		return fmt.Errorf("no timeline: the trace recorded nothing")
	}
	d := &traceSVG{r: r}
	d.draw()
	_, err := io.WriteString(w, d.b.String())
	return err
}

// WriteSVG draws the trace as a timeline: see TraceReport.WriteSVG.
func (t *Trace) WriteSVG(w io.Writer) error { return t.Report().WriteSVG(w) }

type traceSVG struct {
	r TraceReport
	b strings.Builder
	y float64 // where the next row goes
}

const (
	tsWidth  = 1200.0
	tsLabelX = 16.0  // row labels
	tsAxisX  = 430.0 // where time 0 of a panel is drawn
	tsAxisW  = 640.0 // the width of a panel's time axis; durations go to its right
	tsRow    = 15.0  // one row's height
	tsBar    = 10.0  // one bar's height
)

// axis maps a panel's time window [from, to) onto [tsAxisX, tsAxisX+tsAxisW].
type axis struct{ from, to int64 }

func (a axis) x(ns int64) float64 {
	return tsAxisX + tsAxisW*float64(ns-a.from)/float64(max(a.to-a.from, 1))
}

// w is the width of [at, at+ns) on the axis, at least half a pixel so that
// a step of a few hundred nanoseconds is still seen.
func (a axis) w(ns int64) float64 {
	return max(tsAxisW*float64(ns)/float64(max(a.to-a.from, 1)), 0.5)
}

func (d *traceSVG) p(format string, a ...any) { fmt.Fprintf(&d.b, format, a...) }

func (d *traceSVG) text(x, y float64, size int, class, anchor, s string) {
	var e strings.Builder
	xml.EscapeText(&e, []byte(s))
	d.p(`<text x="%.1f" y="%.1f" font-size="%d" class="%s" text-anchor="%s">%s</text>`+"\n", x, y, size, class, anchor, e.String())
}

func attr(s string) string {
	var e strings.Builder
	xml.EscapeText(&e, []byte(s))
	return e.String()
}

// The colours: minirun's phases blue, alongside the process grey, the
// second goroutine purple, the child green; a tolerated errno amber, a
// failed step red.
const (
	colMinirun   = "hsl(210,60%,55%)"
	colAlongside = "hsl(210,10%,70%)"
	colConcur    = "hsl(280,45%,60%)"
	colChild     = "hsl(130,45%,48%)"
	colTolerated = "hsl(40,90%,55%)"
	colFailed    = "hsl(0,75%,50%)"
)

func (d *traceSVG) draw() {
	r := d.r
	var end int64
	for _, p := range r.Minirun {
		end = max(end, p.Start+p.Duration)
	}
	for _, p := range r.Concurrent {
		end = max(end, p.Start+p.Duration)
	}
	var childEnd int64
	for _, g := range r.Child {
		childEnd = max(childEnd, g.Start+g.Duration)
	}
	end = max(end, childEnd, r.Running, r.Gate)

	var body traceSVG
	body.r = r
	body.y = 80
	whole := axis{0, end}
	top := body.y
	body.heading(fmt.Sprintf("the whole start (%s)", dur(end)))
	body.ticks(whole, top+6)
	body.y += 32
	panelTop := body.y
	for _, p := range r.Minirun {
		who, fill := "minirun", colMinirun
		if p.Alongside {
			who, fill = "minirun*", colAlongside
		}
		body.row("phase", who, p.What, p.Start, p.Duration, whole, fill, "")
	}
	for _, p := range r.Concurrent {
		body.row("concurrent", "minirun+", p.What, p.Start, p.Duration, whole, colConcur, "")
	}
	if r.ChildStart != 0 && childEnd > r.ChildStart {
		body.row("child", "child", fmt.Sprintf("the child program: %s", plural(countSteps(r.Child), "step")),
			r.ChildStart, childEnd-r.ChildStart, whole, colChild, "")
	}
	body.markers(whole, panelTop-4, body.y)
	zoomFromY := body.y - tsRow + tsBar + 2

	if len(r.Child) > 0 {
		zoom := axis{r.ChildStart, childEnd}
		body.y += 30
		zoomTop := body.y
		// Lines from the child's bar above to the zoomed axis below.
		body.p(`<path class="zoom" d="M%.1f %.1f L%.1f %.1f M%.1f %.1f L%.1f %.1f" stroke="#888" stroke-dasharray="3,3" fill="none"/>`+"\n",
			whole.x(r.ChildStart), zoomFromY, zoom.x(r.ChildStart), zoomTop+6,
			whole.x(childEnd), zoomFromY, zoom.x(childEnd), zoomTop+6)
		body.heading(fmt.Sprintf("the child: first instruction to execve (%s)", dur(childEnd-r.ChildStart)))
		body.ticks(zoom, zoomTop+6)
		body.y += 32
		groupsTop := body.y
		for _, g := range r.Child {
			body.group(g, zoom)
		}
		body.markers(zoom, groupsTop-4, body.y)
	}
	body.y += 10
	body.legend()
	height := body.y + 10

	d.p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="monospace">`+"\n",
		tsWidth, height, tsWidth, height)
	d.p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	title := "minirun run --trace: the container's process did not start"
	switch {
	case r.Running != 0:
		title = fmt.Sprintf("minirun run --trace: the container's process ran %s after minirun's first instruction", dur(r.Running))
	case r.Gate != 0:
		title = fmt.Sprintf("minirun create --trace: the process waits for start %s after minirun's first instruction", dur(r.Gate))
	}
	d.text(tsLabelX, 28, 15, "title", "start", title)
	d.text(tsLabelX, 46, 11, "subtitle", "start",
		"times from minirun's first instruction ("+r.Clock+"); the child's steps timed by the child itself (no system call)")
	if r.Clone != "" {
		d.text(tsLabelX, 60, 9, "clone", "start", r.Clone)
	}
	d.b.WriteString(body.b.String())
	d.p("</svg>\n")
}

func countSteps(gs []TraceGroup) int {
	n := 0
	for _, g := range gs {
		n += len(g.Steps)
	}
	return n
}

func (d *traceSVG) heading(s string) { d.text(tsLabelX, d.y+8, 12, "heading", "start", s) }

// ticks draws a's time axis at y: a line and about eight round ticks.
func (d *traceSVG) ticks(a axis, y float64) {
	d.p(`<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", tsAxisX, y+8, tsAxisX+tsAxisW, y+8)
	span := a.to - a.from
	if span <= 0 {
		return
	}
	step := int64(math.Pow(10, math.Floor(math.Log10(float64(span)/8))))
	for _, m := range []int64{1, 2, 5, 10} {
		if span/(step*m) <= 8 {
			step *= m
			break
		}
	}
	for t := int64(0); t <= span; t += step {
		x := a.x(a.from + t)
		d.p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x, y+5, x, y+11)
		// The whole start from 0; a zoomed panel from its own start.
		at, sign := a.from+t, ""
		if a.from != 0 {
			at, sign = t, "+"
		}
		label := fmt.Sprintf("%s%g ms", sign, float64(at)/1e6)
		if span < 2e6 {
			label = fmt.Sprintf("%s%g µs", sign, float64(at)/1e3)
		}
		d.text(x, y+21, 8, "tick", "middle", label)
	}
}

// row draws one phase: its label on the left, its bar on the axis, its
// duration to the right of the axis.
func (d *traceSVG) row(class, who, what string, start, ns int64, a axis, fill, extra string) {
	d.p(`<g class="%s" data-who="%s" data-what="%s" data-start-ns="%d" data-duration-ns="%d"%s>`+"\n",
		class, who, attr(what), start, ns, extra)
	label := what
	if len(label) > 48 {
		label = label[:47] + "…"
	}
	d.text(tsLabelX, d.y+tsBar-1, 9, "who", "start", who)
	d.text(tsLabelX+62, d.y+tsBar-1, 9, "label", "start", label)
	d.p(`<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/>`+"\n", a.x(start), d.y, a.w(ns), tsBar, fill)
	d.text(tsAxisX+tsAxisW+16, d.y+tsBar-1, 9, "took", "start", dur(ns))
	d.p("</g>\n")
	d.y += tsRow
}

// group draws one group of the child's steps, each step a segment.
func (d *traceSVG) group(g TraceGroup, a axis) {
	title := g.Field
	if same := g.Steps[0].Label; allLabels(g.Steps, same) {
		title = same
	}
	title = fmt.Sprintf("%s (%d)", title, len(g.Steps))
	d.p(`<g class="group" data-field="%s" data-steps="%d" data-start-ns="%d" data-duration-ns="%d">`+"\n",
		attr(g.Field), len(g.Steps), g.Start, g.Duration)
	if len(title) > 60 {
		title = title[:59] + "…"
	}
	d.text(tsLabelX, d.y+tsBar-1, 9, "label", "start", title)
	for i, s := range g.Steps {
		fill := colChild
		if i%2 == 1 {
			fill = "hsl(130,45%,38%)" // neighbours told apart
		}
		switch {
		case s.Failed:
			fill = colFailed
		case s.Errno != "":
			fill = colTolerated
		}
		d.p(`<rect class="step" data-index="%d" x="%.2f" y="%.1f" width="%.2f" height="%.0f" fill="%s"><title>%d %s%s (%s)</title></rect>`+"\n",
			s.Index, a.x(s.Start), d.y, a.w(s.Duration), tsBar, fill, s.Index, attr(s.Call), attr(outcome(s)), dur(s.Duration))
	}
	d.text(tsAxisX+tsAxisW+16, d.y+tsBar-1, 9, "took", "start", dur(g.Duration))
	d.p("</g>\n")
	d.y += tsRow
}

// markers draws the process's start (and create's gate) across rows
// [y0, y1) where it falls inside a.
func (d *traceSVG) markers(a axis, y0, y1 float64) {
	for _, m := range []struct {
		at          int64
		class, what string
	}{{d.r.Running, "running", "the process runs"}, {d.r.Gate, "gate", "waits at its gate"}} {
		if m.at == 0 || m.at < a.from || m.at > a.to {
			continue
		}
		x := a.x(m.at)
		d.p(`<line class="%s" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.2" stroke-dasharray="4,2"/>`+"\n",
			m.class, x, y0, x, y1, colFailed)
		d.text(x+3, y1+9, 9, m.class, "start", m.what)
	}
}

func (d *traceSVG) legend() {
	x := tsLabelX
	for _, k := range []struct{ fill, what string }{
		{colMinirun, "minirun's phases"}, {colConcur, "minirun+: its second goroutine"},
		{colAlongside, "minirun*: alongside the process"}, {colChild, "a step of the child"},
		{colTolerated, "a tolerated errno"}, {colFailed, "a failed step"},
	} {
		d.p(`<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/>`+"\n", x, d.y, k.fill)
		d.text(x+14, d.y+9, 9, "legend", "start", k.what)
		x += 14 + 7*float64(len(k.what)) + 18
	}
	d.y += 16
}
