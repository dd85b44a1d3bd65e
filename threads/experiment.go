package threads

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// The experiments (Race, End, Parallel, Futex) each show one claim of
// "Linux Threads from a Kernel Perspective" that the thread lab's first
// report (Run) leaves as prose: that threads corrupt shared memory unless
// they synchronize, that one thread's crash ends its whole process, that
// threads run in parallel and are scheduled like processes, that a mutex
// is a user-space fast path over a kernel wait, that exit ends one thread
// and exit_group all of them. Each starts lab kernels through the clone
// core (the workers never run Go), measures, and states what it saw as
// checks: PASS, FAIL, or NOTE when the run could not show the claim.

// A Result is an experiment's report.
type Result interface {
	WriteText(io.Writer) error
	WriteJSON(io.Writer) error
	// Failed names the checks that failed; Checks is all of them.
	Failed() []string
	AllChecks() []Check
}

// checked is the part every experiment's report shares.
type checked struct {
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"`
}

func (c *checked) Failed() []string   { return failedNames(c.Checks) }
func (c *checked) AllChecks() []Check { return c.Checks }

// settle fills OK from the checks.
func (c *checked) settle() { c.OK = allOK(c.Checks) }

// add appends a check.
func (c *checked) add(name string, ok bool, detail string) {
	c.Checks = append(c.Checks, Check{Name: name, OK: ok, Detail: detail})
}

// note appends an inconclusive check.
func (c *checked) note(name, detail string) {
	c.Checks = append(c.Checks, Check{Name: name, OK: true, Inconclusive: true, Detail: detail})
}

// summary is the report's last line.
func (c *checked) summary() string {
	if c.OK {
		notes := 0
		for _, k := range c.Checks {
			if k.Inconclusive {
				notes++
			}
		}
		if notes > 0 {
			return fmt.Sprintf("no check failed; %d of %d inconclusive (NOTE)\n", notes, len(c.Checks))
		}
		return fmt.Sprintf("all %d checks passed\n", len(c.Checks))
	}
	return "FAILED: " + strings.Join(c.Failed(), ", ") + "\n"
}

// writeJSON writes v as one indented JSON object.
func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// cpuList renders CPU numbers: "0 and 1", "0, 1 and 3".
func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = fmt.Sprint(c)
	}
	switch len(s) {
	case 0:
		return "none"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// distinct counts the distinct values of v.
func distinct(v []int) int {
	m := map[int]bool{}
	for _, x := range v {
		m[x] = true
	}
	return len(m)
}

// percent is 100·a/b, 0 when b is.
func percent(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * a / b
}
