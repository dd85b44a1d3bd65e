package threads

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// svgNode is any element of a picture, with its attributes and children.
type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []svgNode  `xml:",any"`
}

func (n *svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *svgNode) has(class string) bool {
	for _, c := range strings.Fields(n.attr("class")) {
		if c == class {
			return true
		}
	}
	return false
}

// find returns every descendant (n included) with the class.
func (n *svgNode) find(class string) []*svgNode {
	var out []*svgNode
	if n.has(class) {
		out = append(out, n)
	}
	for i := range n.Nodes {
		out = append(out, n.Nodes[i].find(class)...)
	}
	return out
}

func (n *svgNode) byID(id string) *svgNode {
	if n.attr("id") == id {
		return n
	}
	for i := range n.Nodes {
		if f := n.Nodes[i].byID(id); f != nil {
			return f
		}
	}
	return nil
}

func hexAttr(t *testing.T, n *svgNode, name string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(n.attr(name), "0x"), 16, 64)
	if err != nil {
		t.Fatalf("<%s class=%q> %s=%q: %v", n.XMLName.Local, n.attr("class"), name, n.attr(name), err)
	}
	return v
}

func floatAttr(t *testing.T, n *svgNode, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s class=%q> %s=%q: %v", n.XMLName.Local, n.attr("class"), name, n.attr(name), err)
	}
	return v
}

// TestSVG draws real runs and checks the picture's structure against the
// report: one stack band per worker shown, at its stack's addresses, with a
// guard page directly below it (in addresses and on the page) and its TLS
// block directly above; the stacks and the arena as rows of minirun's
// mappings; each worker's part of the array; and a line from each worker
// to the counter, its part and its block.
func TestSVG(t *testing.T) {
	for _, n := range []int{1, 4, ShowWorkers + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r, err := Run(Config{Count: n, Work: 100, Layout: true})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := r.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			var root svgNode
			if err := xml.Unmarshal(b.Bytes(), &root); err != nil {
				t.Fatalf("not XML: %v", err)
			}
			if root.XMLName.Local != "svg" || root.attr("width") == "" {
				t.Fatalf("root: got <%s width=%q>, want <svg> with a size", root.XMLName.Local, root.attr("width"))
			}
			shown := shownWorkers(n)
			workers := root.find("worker")
			if len(workers) != len(shown) {
				t.Fatalf("worker groups: got %d, want %d", len(workers), len(shown))
			}
			seen := map[int]bool{}
			for _, g := range workers {
				i, err := strconv.Atoi(g.attr("data-worker"))
				if err != nil || i < 0 || i >= n || seen[i] {
					t.Fatalf("worker group data-worker=%q: want a new index below %d", g.attr("data-worker"), n)
				}
				seen[i] = true
				w := r.Workers[i]
				if g.attr("data-tid") != strconv.Itoa(w.TID) {
					t.Errorf("worker %d: data-tid %s, want %d", i, g.attr("data-tid"), w.TID)
				}
				stacks, guards, tlss := g.find("stack"), g.find("guard"), g.find("tls")
				if len(stacks) != 1 || len(guards) != 1 || len(tlss) != 1 {
					t.Fatalf("worker %d: %d stack, %d guard, %d tls bands, want one each", i, len(stacks), len(guards), len(tlss))
				}
				st, gd, tl := stacks[0], guards[0], tlss[0]
				if lo, hi := hexAttr(t, st, "data-lo"), hexAttr(t, st, "data-hi"); lo != uint64(w.StackLo) || hi != uint64(w.StackHi) {
					t.Errorf("worker %d: stack band %#x-%#x, want %v-%v", i, lo, hi, w.StackLo, w.StackHi)
				}
				if hexAttr(t, gd, "data-hi") != hexAttr(t, st, "data-lo") || hexAttr(t, gd, "data-lo") != uint64(w.Guard) {
					t.Errorf("worker %d: guard %s-%s, want %v up to its stack's %s", i, gd.attr("data-lo"), gd.attr("data-hi"), w.Guard, st.attr("data-lo"))
				}
				if got := hexAttr(t, gd, "data-hi") - hexAttr(t, gd, "data-lo"); got != uint64(r.GuardSize) {
					t.Errorf("worker %d: guard band %d bytes, want a page, %d", i, got, r.GuardSize)
				}
				if hexAttr(t, tl, "data-lo") != hexAttr(t, st, "data-hi") || hexAttr(t, tl, "data-lo") > uint64(w.TLS) || uint64(w.TLS) >= hexAttr(t, tl, "data-hi") {
					t.Errorf("worker %d: TLS band %s-%s, want from the stack's top %s around the TCB %v", i, tl.attr("data-lo"), tl.attr("data-hi"), st.attr("data-hi"), w.TLS)
				}
				stY, gdY, tlY := floatAttr(t, st, "y"), floatAttr(t, gd, "y"), floatAttr(t, tl, "y")
				if !(tlY < stY && stY+floatAttr(t, st, "height") <= gdY) {
					t.Errorf("worker %d: drawn TLS at y=%v, stack at %v, guard at %v: want the guard below the stack, the TLS block above", i, tlY, stY, gdY)
				}
				if sp := hexAttr(t, st, "data-sp"); sp != uint64(w.SP) || sp < uint64(w.StackLo) || sp > uint64(w.StackHi) {
					t.Errorf("worker %d: sp %#x, want %v inside its stack", i, sp, w.SP)
				}
			}
			// Higher slots higher on the page.
			for k := 1; k < len(workers); k++ {
				a, b := workers[k-1].find("stack")[0], workers[k].find("stack")[0]
				if hexAttr(t, a, "data-lo") < hexAttr(t, b, "data-lo") || floatAttr(t, a, "y") > floatAttr(t, b, "y") {
					t.Errorf("stack bands %d and %d: want addresses and y in opposite orders", k-1, k)
				}
			}
			maps := root.byID("maps")
			if maps == nil {
				t.Fatal("no maps group")
			}
			for _, c := range []struct {
				class string
				lo    uint64
			}{{"stacks", uint64(r.Layout.Stacks)}, {"arena", uint64(r.Layout.Arena)}} {
				rows := maps.find(c.class)
				if len(rows) != 1 || hexAttr(t, rows[0], "data-lo") != c.lo {
					t.Errorf("maps: %d %s rows, want one from %#x", len(rows), c.class, c.lo)
				}
			}
			if len(maps.find("mapping")) < 5 {
				t.Errorf("maps: %d rows, want minirun's mappings", len(maps.find("mapping")))
			}
			parts := root.find("array-part")
			if len(parts) != len(shown) {
				t.Errorf("array parts: got %d, want %d", len(parts), len(shown))
			}
			for _, pt := range parts {
				i, _ := strconv.Atoi(pt.attr("data-worker"))
				w := r.Workers[i]
				if lo := hexAttr(t, pt, "data-lo"); lo != uint64(r.Layout.Array)+uint64(8*w.Lo) {
					t.Errorf("worker %d's part from %#x, want array + 8×%d", i, lo, w.Lo)
				}
			}
			touches := map[string]int{}
			for _, tc := range root.find("touch") {
				touches[tc.attr("data-what")]++
			}
			for _, what := range []string{"counter", "array", "block"} {
				if touches[what] != len(shown) {
					t.Errorf("lines to the %s: got %d, want one per worker shown, %d", what, touches[what], len(shown))
				}
			}
		})
	}
}

func TestSVGNeedsLayout(t *testing.T) {
	r, err := Run(Config{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteSVG(&bytes.Buffer{}); err == nil {
		t.Error("WriteSVG without a layout: got nil, want an error")
	}
}

func TestParseMapsLine(t *testing.T) {
	tests := []struct {
		line string
		want Mapping
		ok   bool
	}{
		{"7f75d3bd8000-7f75d3c20000 rw-p 00000000 00:00 0 ", Mapping{0x7f75d3bd8000, 0x7f75d3c20000, "rw-p", ""}, true},
		{"00400000-005ca000 r-xp 00000000 fe:00 1234                    /usr/bin/mini run", Mapping{0x400000, 0x5ca000, "r-xp", "/usr/bin/mini run"}, true},
		{"7ffc4f825000-7ffc4f846000 rw-p 00000000 00:00 0                          [stack]", Mapping{0x7ffc4f825000, 0x7ffc4f846000, "rw-p", "[stack]"}, true},
		{"garbage", Mapping{}, false},
		{"2000-1000 rw-p 0 0 0", Mapping{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMapsLine(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%q: got %+v %v, want %+v %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 4096: "4 KiB", 1 << 20: "1 MiB", 1536 * 1024: "1.5 MiB", 200 << 30: "200 GiB", 1 << 62: "4 EiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d): got %q, want %q", n, got, want)
		}
	}
}
