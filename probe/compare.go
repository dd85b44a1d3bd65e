package probe

import (
	"fmt"
	"strings"

	"github.com/minirun/minirun/clonecore"
)

// Column is one flag set of a comparison, with the label its column gets.
type Column struct {
	Label string          `json:"label"`
	Flags clonecore.Flags `json:"-"`
}

// ParseColumns reads the values of --compare into columns. Each value is a
// ';'-separated list of flag lists (ParseFlags syntax: "vm,fs,files",
// "thread|user"), one column each; a value holding no ';' whose
// comma-separated items are all preset names ("fork,thread") is one column
// per preset. So "fork,thread", "fork;vm,fs,files" and a repeated --compare
// all work, and "vm,fs,files" alone is one column. Each column is checked
// with Check; the first error names the value and the column.
func ParseColumns(values []string) ([]Column, error) {
	var cols []Column
	for _, v := range values {
		var parts []string
		if strings.Contains(v, ";") {
			parts = strings.Split(v, ";")
		} else if items := strings.Split(v, ","); len(items) > 1 && allPresets(items) {
			parts = items
		} else {
			parts = []string{v}
		}
		for _, part := range parts {
			label := strings.TrimSpace(part)
			if label == "" {
				return nil, fmt.Errorf("%q: column %d is empty", v, len(cols)+1)
			}
			f, err := clonecore.ParseFlags(label)
			if err != nil {
				return nil, fmt.Errorf("%q: column %d (%s): %w", v, len(cols)+1, label, err)
			}
			if err := Check(f); err != nil {
				return nil, fmt.Errorf("%q: column %d (%s): %w", v, len(cols)+1, label, err)
			}
			cols = append(cols, Column{Label: label, Flags: f})
		}
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no flag sets to compare: give presets (%s) or flag lists, e.g. fork,thread or \"fork;vm,fs,files\"", strings.Join(clonecore.PresetNames(), ", "))
	}
	return cols, nil
}

func allPresets(items []string) bool {
	for _, it := range items {
		if _, ok := clonecore.Presets[strings.ToLower(strings.TrimSpace(it))]; !ok {
			return false
		}
	}
	return true
}

// Comparison is the article's tables, every cell filled from a live probe.
type Comparison struct {
	Columns  []ColumnReport `json:"columns"`
	Features []Feature      `json:"features"`
}

// ColumnReport is one column's probe.
type ColumnReport struct {
	Label  string  `json:"label"`
	Report *Report `json:"report"`
}

// Feature is one row: a feature and its cell in each column.
type Feature struct {
	Feature string   `json:"feature"`
	Cells   []string `json:"cells"`
}

// features are the rows, in the order of the article's tables (the fork vs
// clone table, then the process vs thread table), then what it leaves out.
var features = []struct {
	name string
	cell func(r *Report) string
}{
	{"virtual memory", verdictOf(KeyVM)},
	{"file descriptors", verdictOf(KeyFiles)},
	{"thread group", verdictOf(KeyThreadGroup)},
	{"TLS support", tlsCell},
	{"used for threads", threadCell},
	{"stack", verdictOf(KeyStack)},
	{"signal handlers", verdictOf(KeySighand)},
	{"scheduler view", verdictOf(KeySched)},
	{"filesystem context", verdictOf(KeyFS)},
	{"SysV semaphore undo", verdictOf(KeySysvsem)},
	{"parent", verdictOf(KeyParent)},
	{"namespaces", nsCell},
}

func verdictOf(key string) func(r *Report) string {
	return func(r *Report) string {
		if res := r.Resource(key); res != nil {
			return res.Verdict
		}
		return "not measured"
	}
}

// tlsCell answers "TLS support": a thread pointer of its own.
func tlsCell(r *Report) string {
	res := r.Resource(KeyTLS)
	switch {
	case res == nil || res.Same == nil:
		return verdictOf(KeyTLS)(r)
	case res.Verdict == "own TCB":
		return "yes (own TCB)"
	case *res.Same:
		return "no (caller's)"
	}
	return "no (" + res.Verdict + ")"
}

// threadCell answers "used for threads": same thread group and shared
// memory, both measured.
func threadCell(r *Report) string {
	tg, vm := r.Resource(KeyThreadGroup), r.Resource(KeyVM)
	if tg == nil || vm == nil || tg.Same == nil || vm.Same == nil {
		return "not measured"
	}
	if *tg.Same && *vm.Same {
		return "yes"
	}
	return "no"
}

func nsCell(r *Report) string {
	if n := r.NewNamespaces(); len(n) > 0 {
		return "new " + strings.Join(n, ",")
	}
	return "minirun's"
}

// Compare probes each column in turn and fills the tables.
func Compare(cols []Column) (*Comparison, error) {
	c := &Comparison{}
	for _, col := range cols {
		r, err := Run(col.Flags)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", col.Label, err)
		}
		c.Columns = append(c.Columns, ColumnReport{Label: col.Label, Report: r})
	}
	for _, f := range features {
		row := Feature{Feature: f.name}
		for _, col := range c.Columns {
			row.Cells = append(row.Cells, f.cell(col.Report))
		}
		c.Features = append(c.Features, row)
	}
	return c, nil
}
