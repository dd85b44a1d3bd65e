package threads

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/minirun/minirun/clonecore"
)

// Layout is the address space the workers shared with minirun, read while
// they held: minirun's mappings from /proc/self/maps, and where in them the
// lab put each thing the workers touched.
type Layout struct {
	// Maps are /proc/self/maps' lines, in address order.
	Maps []Mapping `json:"maps"`
	// Exe is minirun's executable, as /proc/self/exe names it.
	Exe string `json:"exe"`
	// Stacks is the one mapping every worker's slot is cut from: guard
	// page, stack and TLS block, a slot after another.
	Stacks      Hex `json:"stacks"`
	StacksBytes int `json:"stacks_bytes"`
	SlotBytes   int `json:"slot_bytes"`
	// The arena (MAP_SHARED, outside the Go heap): the workers' blocks,
	// the shared counter, the hold word and the shared array.
	Arena      Hex `json:"arena"`
	ArenaBytes int `json:"arena_bytes"`
	Blocks     Hex `json:"blocks"`
	BlockBytes int `json:"block_bytes"`
	Counter    Hex `json:"counter"`
	Hold       Hex `json:"hold"`
	Array      Hex `json:"array"`
	ArrayBytes int `json:"array_bytes"`
}

// Mapping is one line of /proc/self/maps.
type Mapping struct {
	Lo    Hex    `json:"lo"`
	Hi    Hex    `json:"hi"`
	Perms string `json:"perms"`
	Path  string `json:"path,omitempty"`
}

// readMaps parses /proc/self/maps.
func readMaps() ([]Mapping, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []Mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, ok := parseMapsLine(sc.Text())
		if ok {
			ms = append(ms, m)
		}
	}
	return ms, sc.Err()
}

// parseMapsLine reads "lo-hi perms offset dev inode [path]".
func parseMapsLine(line string) (Mapping, bool) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return Mapping{}, false
	}
	var lo, hi uint64
	if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err != nil || hi <= lo {
		return Mapping{}, false
	}
	m := Mapping{Lo: Hex(lo), Hi: Hex(hi), Perms: f[1]}
	if len(f) > 5 {
		// The path is the rest of the line; it may hold spaces.
		rest := line
		for k := 0; k < 5; k++ {
			rest = strings.TrimLeft(rest, " ")
			rest = rest[strings.IndexByte(rest, ' ')+1:]
		}
		m.Path = strings.TrimSpace(rest)
	}
	return m, true
}

// layout reads the address space while the workers hold.
func (l *lab) layout() (*Layout, error) {
	maps, err := readMaps()
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/maps: %w", err)
	}
	exe, _ := os.Readlink("/proc/self/exe")
	lay := &Layout{
		Maps:        maps,
		Exe:         exe,
		Stacks:      Hex(l.stacks.Guard(0)),
		StacksBytes: l.stacks.Bytes(),
		Blocks:      Hex(l.blocks),
		BlockBytes:  clonecore.BlockSize,
		Counter:     Hex(l.counter),
		Hold:        Hex(l.hold),
		Array:       Hex(l.array),
		ArrayBytes:  l.c.Count * l.c.Elems * 8,
	}
	if l.c.Count > 1 {
		lay.SlotBytes = int(l.stacks.Guard(1) - l.stacks.Guard(0))
	} else {
		lay.SlotBytes = l.stacks.Bytes()
	}
	for _, m := range maps {
		if uint64(m.Lo) <= uint64(l.blocks) && uint64(l.blocks) < uint64(m.Hi) {
			lay.Arena, lay.ArenaBytes = m.Lo, int(m.Hi-m.Lo)
		}
	}
	return lay, nil
}
