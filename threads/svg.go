package threads

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// WriteSVG draws the address space the workers shared, as the lab found it
// while they held (Config.Layout): on the left minirun's mappings from
// /proc/self/maps, high addresses on top, gaps between them cut out; in
// the middle the stacks mapping, one band per worker: its TLS block, its
// stack with the stack pointer it started with, and the PROT_NONE guard
// page below; on the right the arena: each worker's block, the shared
// counter, the hold word and the shared array, each worker's part in its
// colour. Lines say which worker touched what.
//
// Every band carries its addresses (data-lo, data-hi) and every worker's
// group its index and TID (class "worker", data-worker, data-tid), so a
// program can check the picture against the report.
func (r *Report) WriteSVG(w io.Writer) error {
	if r.Layout == nil {
		return errors.New("no layout: the lab ran without Config.Layout")
	}
	s := &svg{r: r, lay: r.Layout}
	s.draw()
	_, err := io.WriteString(w, s.b.String())
	return err
}

type svg struct {
	r   *Report
	lay *Layout
	b   strings.Builder
	// Where column B drew each worker's stack band and column C its
	// array part and block, for the lines between them.
	stackY, partY, blockY map[int]float64
	counterY              float64
	shown                 []int
}

const (
	svgWidth = 1200
	colA     = 20.0  // minirun's mappings
	colAW    = 330.0 //
	colB     = 440.0 // the stacks mapping
	colBW    = 300.0
	colC     = 850.0 // the arena
	colCW    = 330.0
	top      = 84.0
)

// palette gives worker i a colour.
func palette(i int) string {
	hues := []int{210, 30, 120, 280, 0, 170, 55, 320, 90, 250}
	return fmt.Sprintf("hsl(%d,65%%,55%%)", hues[i%len(hues)])
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *svg) p(format string, a ...any) { fmt.Fprintf(&s.b, format, a...) }

func (s *svg) text(x, y float64, size int, class, t string) {
	halo := ""
	if class == "label" {
		// A white outline keeps a label readable over a hatched band.
		halo = ` paint-order="stroke" stroke="white" stroke-width="2.5" stroke-opacity="0.8"`
	}
	s.p(`<text x="%.1f" y="%.1f" font-size="%d" class="%s"%s>%s</text>`+"\n", x, y, size, class, halo, esc(t))
}

// band draws a rectangle for addresses [lo, hi).
func (s *svg) band(class string, x, y, w, h float64, fill string, lo, hi Hex, extra string) {
	s.p(`<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="#333" stroke-width="0.6" data-lo="%v" data-hi="%v"%s/>`+"\n",
		class, x, y, w, h, fill, lo, hi, extra)
}

func (s *svg) draw() {
	r := s.r
	s.stackY, s.partY, s.blockY = map[int]float64{}, map[int]float64{}, map[int]float64{}
	s.shown = shownWorkers(len(r.Workers))

	var body strings.Builder
	main := s.b
	s.b = strings.Builder{}
	aBottom, stacksRow, arenaRow := s.maps()
	bBottom := s.stacks()
	cBottom := s.arena()
	s.touches()
	s.zoom(stacksRow, s.stacksExtent(), colB)
	s.zoom(arenaRow, s.arenaExtent(), colC)
	body.WriteString(s.b.String())
	s.b = main

	height := max(aBottom, bBottom, cBottom) + 30
	legendTop := height
	height += 30 + 16*float64(len(s.shown)+3)
	s.p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="monospace">`+"\n", svgWidth, height, svgWidth, height)
	s.p(`<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fbe3e3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c0392b" stroke-width="2"/></pattern></defs>` + "\n")
	s.p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	s.text(colA, 28, 16, "title", fmt.Sprintf("minirun threads: %d worker%s sharing pid %d's address space", r.Count, plural(r.Count), r.PID))
	s.text(colA, 46, 11, "subtitle", "read from /proc/self/maps while every worker held; high addresses on top; lines: what each worker touched")
	s.text(colA, 60, 9, "flags", "flags "+r.Flags)
	s.text(colA, top-12, 12, "heading", fmt.Sprintf("minirun's mappings (%d)", len(s.lay.Maps)))
	s.text(colB, top-12, 12, "heading", "the stacks mapping, one slot a worker")
	s.text(colC, top-12, 12, "heading", "the arena (MAP_SHARED, outside the Go heap)")
	s.b.WriteString(body.String())
	s.legend(legendTop + 20)
	s.p("</svg>\n")
}

// shownWorkers are the workers the picture draws: all, or the first and
// last ShowWorkers/2 when there are more than ShowWorkers+2, as the text
// report does.
func shownWorkers(n int) []int {
	var idx []int
	if n <= ShowWorkers+2 {
		for i := 0; i < n; i++ {
			idx = append(idx, i)
		}
		return idx
	}
	for i := 0; i < ShowWorkers/2; i++ {
		idx = append(idx, i)
	}
	for i := n - ShowWorkers/2; i < n; i++ {
		idx = append(idx, i)
	}
	return idx
}

// mapRow is a row of column A: one mapping, or the lab's stacks, which
// are two mappings a worker.
type mapRow struct {
	lo, hi Hex
	perms  string
	name   string
	class  string
}

// rows turns the maps into column A's rows, highest first.
func (s *svg) rows() []mapRow {
	lay := s.lay
	stLo, stHi := lay.Stacks, lay.Stacks+Hex(lay.StacksBytes)
	var rows []mapRow
	stacksDone := false
	for _, m := range lay.Maps {
		if m.Lo >= stLo && m.Hi <= stHi {
			if !stacksDone {
				rows = append(rows, mapRow{stLo, stHi, "---p/rw-p", fmt.Sprintf("worker stacks: %d slots", s.r.Count), "mapping stacks"})
				stacksDone = true
			}
			continue
		}
		row := mapRow{lo: m.Lo, hi: m.Hi, perms: m.Perms, class: "mapping"}
		switch {
		case m.Lo == lay.Arena:
			row.name, row.class = "lab arena", "mapping arena"
		case m.Path == lay.Exe && lay.Exe != "":
			if m.Perms[2] == 'x' {
				row.name = "minirun: code"
			} else if m.Perms[1] == 'w' {
				row.name = "minirun: data"
			} else {
				row.name = "minirun: read-only data"
			}
		case strings.HasPrefix(m.Path, "["):
			row.name = m.Path
		case m.Path != "":
			row.name = filepath.Base(m.Path)
		case m.Perms == "---p":
			row.name = "reserved, PROT_NONE"
		default:
			row.name = "anonymous (Go heap…)"
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b mapRow) int {
		switch {
		case a.lo > b.lo:
			return -1
		case a.lo < b.lo:
			return 1
		}
		return 0
	})
	return rows
}

// rowHeight grows with the logarithm of a mapping's size.
func rowHeight(bytes uint64) float64 {
	pages := math.Max(float64(bytes)/4096, 1)
	return math.Min(math.Max(10+2.5*math.Log2(pages), 12), 40)
}

// maps draws column A and returns its bottom and the rows of the stacks
// and the arena ({y, height}).
func (s *svg) maps() (bottom float64, stacks, arena [2]float64) {
	y := top
	s.p(`<g id="maps">` + "\n")
	rows := s.rows()
	for k, row := range rows {
		if k > 0 && rows[k-1].lo > row.hi {
			gap := uint64(rows[k-1].lo - row.hi)
			s.p(`<line class="gap" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="3,3"/>`+"\n", colA+30, y+3, colA+colAW-30, y+3)
			s.text(colA+colAW-40, y+6, 8, "gap", "gap "+humanSize(gap))
			y += 9
		}
		h := rowHeight(uint64(row.hi - row.lo))
		fill := "#e8eef5"
		switch {
		case row.class == "mapping stacks":
			fill, stacks = "#fff3c4", [2]float64{y, h}
		case row.class == "mapping arena":
			fill, arena = "#d8f3dc", [2]float64{y, h}
		case row.perms[2] == 'x':
			fill = "#dcd6f7"
		case row.perms == "---p":
			fill = "#f4f4f4"
		}
		s.band(row.class, colA, y, colAW, h, fill, row.lo, row.hi, "")
		s.text(colA+4, y+h/2+3, 9, "label", fmt.Sprintf("%v %s %s %s", row.lo, row.perms, humanSize(uint64(row.hi-row.lo)), row.name))
		y += h + 1
	}
	s.p("</g>\n")
	return y, stacks, arena
}

// stacks draws column B: a band a worker, highest slot on top.
func (s *svg) stacks() float64 {
	r := s.r
	y := top
	s.p(`<g id="stacks">` + "\n")
	order := slices.Clone(s.shown)
	slices.Reverse(order)
	for k, i := range order {
		if k > 0 && order[k-1] != i+1 {
			s.p(`<rect class="elided" x="%.1f" y="%.1f" width="%.1f" height="18" fill="none" stroke="#999" stroke-dasharray="4,3"/>`+"\n", colB, y, colBW)
			s.text(colB+8, y+12, 10, "elided", fmt.Sprintf("… %d workers' slots elided …", order[k-1]-i-1))
			y += 24
		}
		w := r.Workers[i]
		s.p(`<g class="worker" data-worker="%d" data-tid="%d">`+"\n", i, w.TID)
		slotHi := w.Guard + Hex(s.lay.SlotBytes)
		// The TLS block: zeroed words below the TCB, whose first word
		// points at itself (%%fs:0) and second holds the worker's value.
		s.band("tls", colB, y, colBW, 18, "#f9e0c7", w.StackHi, slotHi, "")
		s.text(colB+4, y+12, 9, "label", fmt.Sprintf("TLS: TCB %v, fs:8 = %#x", w.TLS, uint64(w.TLSValue)))
		y += 18
		s.band("stack", colB, y, colBW, 58, palette(i), w.StackLo, w.StackHi, fmt.Sprintf(` fill-opacity="0.35" data-sp="%v"`, w.SP))
		s.stackY[i] = y + 29
		spY := y + 4
		s.p(`<line class="sp" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-width="1.5" data-addr="%v"/>`+"\n", colB, spY, colB+colBW, spY, w.SP)
		s.text(colB+4, y+17, 10, "label", fmt.Sprintf("worker %d · tid %d", i, w.TID))
		s.text(colB+4, y+30, 9, "label", fmt.Sprintf("stack %s, grows down; sp %v", FormatSize(r.StackSize), w.SP))
		s.text(colB+4, y+42, 9, "label", fmt.Sprintf("%v – %v", w.StackLo, w.StackHi))
		y += 58
		s.band("guard", colB, y, colBW, 14, "url(#hatch)", w.Guard, w.StackLo, "")
		s.text(colB+4, y+10, 9, "label", fmt.Sprintf("guard page %v ---p", w.Guard))
		y += 14
		s.p("</g>\n")
		y += 6
	}
	s.p("</g>\n")
	return y
}

// stacksExtent is the span column B drew.
func (s *svg) stacksExtent() [2]float64 {
	ys := make([]float64, 0, len(s.stackY))
	for _, y := range s.stackY {
		ys = append(ys, y)
	}
	if len(ys) == 0 {
		return [2]float64{top, top}
	}
	return [2]float64{slices.Min(ys) - 47, slices.Max(ys) + 43}
}

// arena draws column C: the array (each worker's part), the hold word, the
// counter and the blocks, highest address on top.
func (s *svg) arena() float64 {
	r, lay := s.r, s.lay
	y := top
	s.p(`<g id="arena">` + "\n")
	order := slices.Clone(s.shown)
	slices.Reverse(order)
	s.text(colC, y+10, 10, "label", fmt.Sprintf("shared array %v, array[k] = k+1", lay.Array))
	y += 16
	for k, i := range order {
		if k > 0 && order[k-1] != i+1 {
			s.text(colC+8, y+10, 10, "elided", "…")
			y += 14
		}
		w := r.Workers[i]
		lo, hi := lay.Array+Hex(8*w.Lo), lay.Array+Hex(8*w.Hi)
		s.band("array-part", colC, y, colCW, 20, palette(i), lo, hi, fmt.Sprintf(` fill-opacity="0.5" data-worker="%d"`, i))
		s.text(colC+4, y+14, 9, "label", fmt.Sprintf("array[%d:%d]: worker %d's sum %d", w.Lo, w.Hi, i, w.Sum))
		s.partY[i] = y + 10
		y += 21
	}
	y += 10
	s.band("hold", colC, y, colCW, 16, "#eee", lay.Hold, lay.Hold+4, "")
	s.text(colC+4, y+12, 9, "label", fmt.Sprintf("hold word %v: every worker waits", lay.Hold))
	y += 22
	s.band("counter", colC, y, colCW, 16, "#ffd6d6", lay.Counter, lay.Counter+8, "")
	s.text(colC+4, y+12, 9, "label", fmt.Sprintf("counter %v = %d", lay.Counter, r.Counter))
	s.counterY = y + 8
	y += 26
	s.text(colC, y+8, 10, "label", fmt.Sprintf("child blocks, %d bytes each", lay.BlockBytes))
	y += 14
	for k, i := range order {
		if k > 0 && order[k-1] != i+1 {
			s.text(colC+8, y+10, 10, "elided", "…")
			y += 14
		}
		lo := lay.Blocks + Hex(i*lay.BlockBytes)
		s.band("block", colC, y, colCW, 14, palette(i), lo, lo+Hex(lay.BlockBytes), fmt.Sprintf(` fill-opacity="0.25" data-worker="%d"`, i))
		s.text(colC+4, y+10, 9, "label", fmt.Sprintf("block %d: worker %d's tid, sp, TLS, sum", i, i))
		s.blockY[i] = y + 7
		y += 15
	}
	s.p("</g>\n")
	return y
}

func (s *svg) arenaExtent() [2]float64 {
	ys := []float64{s.counterY}
	for _, m := range []map[int]float64{s.partY, s.blockY} {
		for _, y := range m {
			ys = append(ys, y)
		}
	}
	return [2]float64{slices.Min(ys) - 26, slices.Max(ys) + 8}
}

// touches draws a line from each worker's stack band to what it wrote or
// read in the arena.
func (s *svg) touches() {
	s.p(`<g id="touches" fill="none" stroke-width="1">` + "\n")
	x0, x1 := colB+colBW, colC
	for _, i := range s.shown {
		for _, t := range []struct {
			what string
			y    float64
		}{{"array", s.partY[i]}, {"counter", s.counterY}, {"block", s.blockY[i]}} {
			y0 := s.stackY[i]
			s.p(`<path class="touch" data-worker="%d" data-what="%s" d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" stroke="%s"/>`+"\n",
				i, t.what, x0, y0, x0+50, y0, x1-50, t.y, x1, t.y, palette(i))
		}
	}
	s.p("</g>\n")
}

// zoom draws a translucent wedge from a row of column A to the column at
// x1 that details it.
func (s *svg) zoom(row, to [2]float64, x1 float64) {
	if row[1] == 0 {
		return
	}
	x0 := colA + colAW
	s.p(`<polygon class="zoom" points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="#888" fill-opacity="0.08" stroke="#aaa" stroke-width="0.5"/>`+"\n",
		x0, row[0], x1, to[0], x1, to[1], x0, row[0]+row[1])
}

// legend says who touched what.
func (s *svg) legend(y float64) {
	r := s.r
	s.p(`<g id="legend">` + "\n")
	s.text(colA, y, 12, "heading", "who touched what")
	y += 18
	s.text(colA, y, 10, "label", fmt.Sprintf("minirun (pid %d, Go): mapped the stacks and the arena, wrote each TCB's value and the array, cloned the workers, read their blocks", r.PID))
	for _, i := range s.shown {
		y += 16
		w := r.Workers[i]
		s.p(`<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/>`+"\n", colA, y-9, palette(i))
		s.text(colA+16, y, 10, "label", fmt.Sprintf("worker %d (tid %d, assembly): ran on its stack, read its TCB through %s, LOCK INC the counter %d times, summed array[%d:%d], wrote its block",
			i, w.TID, tlsRegister(), r.Work, w.Lo, w.Hi))
	}
	if len(s.shown) < len(r.Workers) {
		y += 16
		s.text(colA+16, y, 10, "label", fmt.Sprintf("… and %d more workers like them (--json lists all)", len(r.Workers)-len(s.shown)))
	}
	s.p("</g>\n")
}

// tlsRegister names the register a worker reads its TCB through.
func tlsRegister() string {
	if runtime.GOARCH == "arm64" {
		return "TPIDR_EL0"
	}
	return "%fs"
}

// humanSize renders bytes in binary units: 4 KiB, 1.4 MiB, 110 TiB.
func humanSize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v, u = v/1024, u+1
	}
	if v < 10 && u > 0 && v != math.Trunc(v) {
		return fmt.Sprintf("%.1f %s", v, units[u])
	}
	return fmt.Sprintf("%.0f %s", v, units[u])
}
