package threads

import (
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/minirun/minirun/clonecore"
)

// RaceConfig says how the race experiment runs.
type RaceConfig struct {
	// Workers is how many threads increment the word; 0 means one per CPU
	// minirun may run on, at least 2. Worker i is pinned to the i'th of
	// those CPUs (round robin), so that two workers really run at once.
	Workers int
	// Increments is what each worker adds to the word in a run; 0 means
	// DefaultRaceIncrements.
	Increments uint64
	// Runs is how many runs each kernel gets; 0 means DefaultRaceRuns.
	Runs int
	// MaxIncrements bounds the retries: when no racy run lost an update,
	// the experiment runs again with twice the increments, up to this
	// many a worker. 0 means 16 × Increments.
	MaxIncrements uint64
}

const (
	// DefaultRaceIncrements is each worker's share of a run.
	DefaultRaceIncrements = 5_000_000
	// DefaultRaceRuns is how many runs each kernel gets.
	DefaultRaceRuns = 3
	// MaxRaceRuns bounds Runs.
	MaxRaceRuns = 100
	// MaxRaceIncrements bounds Increments: 2^32 a worker, minutes of
	// locked increments.
	MaxRaceIncrements = 1 << 32
	// MaxLabWorkers bounds the experiments' worker counts.
	MaxLabWorkers = 64
)

// Check fills in the defaults and refuses what cannot run.
func (c RaceConfig) Check() (RaceConfig, error) {
	if c.Workers == 0 {
		c.Workers = max(2, min(len(allowedCPUs()), 8))
	}
	if c.Increments == 0 {
		c.Increments = DefaultRaceIncrements
	}
	if c.Runs == 0 {
		c.Runs = DefaultRaceRuns
	}
	if c.MaxIncrements == 0 {
		c.MaxIncrements = 16 * c.Increments
	}
	switch {
	case c.Workers < 2:
		return c, &ConfigError{Field: "count", Value: strconv.Itoa(c.Workers), Why: "a race needs at least 2 workers"}
	case c.Workers > MaxLabWorkers:
		return c, &ConfigError{Field: "count", Value: strconv.Itoa(c.Workers), Why: fmt.Sprintf("at most %d workers", MaxLabWorkers)}
	case c.Increments > MaxRaceIncrements:
		return c, &ConfigError{Field: "work", Value: strconv.FormatUint(c.Increments, 10), Why: fmt.Sprintf("at most %d increments a worker", uint64(MaxRaceIncrements))}
	case c.Runs < 1 || c.Runs > MaxRaceRuns:
		return c, &ConfigError{Field: "runs", Value: strconv.Itoa(c.Runs), Why: fmt.Sprintf("must be 1 to %d", MaxRaceRuns)}
	case c.MaxIncrements < c.Increments:
		c.MaxIncrements = c.Increments
	}
	if hi, _ := bits.Mul64(c.MaxIncrements, uint64(c.Workers)); hi != 0 || c.MaxIncrements > MaxRaceIncrements {
		c.MaxIncrements = MaxRaceIncrements
	}
	return c, nil
}

// RaceReport is what the race experiment found.
type RaceReport struct {
	PID        int       `json:"pid"`
	Workers    int       `json:"workers"`
	Increments uint64    `json:"increments"`
	CPUs       []int     `json:"cpus"`   // the CPUs minirun may run on
	Pinned     []int     `json:"pinned"` // the CPU worker i was pinned to
	Runs       []RaceRun `json:"runs"`
	checked
}

// RaceRun is one run of one kernel.
type RaceRun struct {
	Run    int    `json:"run"`
	Kernel string `json:"kernel"` // "racy" (load, add, store) or "locked" (one atomic instruction)
	// Retry is a racy run made with more increments because the runs
	// before it lost nothing.
	Retry      bool   `json:"retry,omitempty"`
	Increments uint64 `json:"increments"` // each worker's
	Expected   uint64 `json:"expected"`
	Got        uint64 `json:"got"`
	Lost       uint64 `json:"lost"`
	WallNs     int64  `json:"wall_ns"`    // first worker's start to last one's end
	OverlapNs  int64  `json:"overlap_ns"` // how long all workers ran at once
	TIDs       []int  `json:"tids"`
	RanOn      []int  `json:"ran_on"` // the CPU each worker was on when it finished
}

// Race runs the race experiment: workers pinned to different CPUs add one
// to a shared word Increments times each, once with a plain load, add and
// store (the racy kernel) and once with one atomic instruction (the locked
// kernel), Runs times each. The racy counter ends short: two CPUs load
// the same value, and both store it plus one.
func Race(c RaceConfig) (*RaceReport, error) {
	c, err := c.Check()
	if err != nil {
		return nil, err
	}
	if err := checkProc(); err != nil {
		return nil, err
	}
	r := &RaceReport{PID: os.Getpid(), Workers: c.Workers, Increments: c.Increments, CPUs: allowedCPUs()}
	for i := 0; i < c.Workers; i++ {
		r.Pinned = append(r.Pinned, r.CPUs[i%len(r.CPUs)])
	}
	for _, kernel := range []string{"racy", "locked"} {
		lost := false
		for k := 0; k < c.Runs; k++ {
			run, err := r.race(kernel, c.Increments)
			if err != nil {
				return nil, err
			}
			run.Run = len(r.Runs) + 1
			lost = lost || run.Lost > 0
			r.Runs = append(r.Runs, run)
		}
		// A racy counter that lost nothing proves nothing: try harder.
		for inc := 2 * c.Increments; kernel == "racy" && !lost && inc <= c.MaxIncrements; inc *= 2 {
			run, err := r.race(kernel, inc)
			if err != nil {
				return nil, err
			}
			run.Run, run.Retry = len(r.Runs)+1, true
			lost = run.Lost > 0
			r.Runs = append(r.Runs, run)
		}
	}
	r.check()
	return r, nil
}

// race makes one run.
func (r *RaceReport) race(kernel string, inc uint64) (RaceRun, error) {
	run := RaceRun{Kernel: kernel, Increments: inc, Expected: inc * uint64(r.Workers)}
	c, err := newCrew(r.Workers)
	if err != nil {
		return run, err
	}
	defer c.close()
	variant := uint64(clonecore.LabRacy)
	if kernel == "locked" {
		variant = clonecore.LabLocked
	}
	for i := 0; i < r.Workers; i++ {
		c.store(i, clonecore.LabTarget, uint64(c.word(0)))
		c.store(i, clonecore.LabIters, inc)
		c.store(i, clonecore.LabVariant, variant)
	}
	if err := c.start(clonecore.LabRace); err != nil {
		return run, err
	}
	for i, t := range c.tasks {
		if err := pin(t.TID, r.Pinned[i]); err != nil {
			return run, err
		}
	}
	if err := c.run(); err != nil {
		return run, err
	}
	run.Got = c.load(c.word(0))
	run.Lost = run.Expected - min(run.Got, run.Expected)
	ws := make([]crewWorker, r.Workers)
	for i := range ws {
		ws[i] = c.worker(i)
		run.TIDs = append(run.TIDs, ws[i].TID)
		run.RanOn = append(run.RanOn, ws[i].CPUEnd)
	}
	run.WallNs, run.OverlapNs = span(ws).Nanoseconds(), overlap(ws).Nanoseconds()
	return run, c.close()
}

// check states what the runs show.
func (r *RaceReport) check() {
	var bad, over []string
	var racy, lossy []RaceRun
	worst := RaceRun{}
	for _, run := range r.Runs {
		switch {
		case run.Got > run.Expected && run.Kernel == "locked":
			bad = append(bad, fmt.Sprintf("run %d: got %d, more than the %d increments made", run.Run, run.Got, run.Expected))
		case run.Got > run.Expected:
			over = append(over, fmt.Sprintf("run %d: got %d, more than the %d increments made", run.Run, run.Got, run.Expected))
		case run.Kernel == "locked" && run.Got != run.Expected:
			bad = append(bad, fmt.Sprintf("run %d: got %d, want %d: %d updates lost", run.Run, run.Got, run.Expected, run.Lost))
		}
		if run.Kernel == "locked" {
			continue
		}
		racy = append(racy, run)
		if run.Lost > 0 {
			lossy = append(lossy, run)
			if worst.Expected == 0 || float64(run.Lost)/float64(run.Expected) > float64(worst.Lost)/float64(worst.Expected) {
				worst = run
			}
		}
	}
	locked := len(r.Runs) - len(racy)
	detail := fmt.Sprintf("%d of %d locked runs counted every one of %d×%d increments", locked, locked, r.Workers, r.Increments)
	r.add("locked", len(bad) == 0, orFirstFew(bad, detail))

	overlapped := 0
	for _, run := range racy {
		if run.OverlapNs > 0 && distinct(run.RanOn) > 1 {
			overlapped++
		}
	}
	switch {
	case len(over) > 0:
		r.add("racy", false, firstFew(over))
	case len(lossy) > 0:
		r.add("racy", true, fmt.Sprintf("%d of %d racy runs lost updates, up to %d of %d (%.1f%%): two CPUs loaded the same value and both stored it plus one",
			len(lossy), len(racy), worst.Lost, worst.Expected, percent(float64(worst.Lost), float64(worst.Expected))))
	case overlapped == 0:
		r.note("racy", fmt.Sprintf("no racy run lost an update, but in none of the %d did the workers run at the same time on different CPUs: the machine may be busy, or minirun confined to one CPU (%s); this shows nothing about the racy counter", len(racy), cpuList(r.CPUs)))
	default:
		last := racy[len(racy)-1]
		r.note("racy", fmt.Sprintf("no update lost in %d racy runs, up to %d increments a worker, with the workers running at once in %d of them: this run was lucky, not the counter safe", len(racy), last.Increments, overlapped))
	}
	if overlapped > 0 {
		r.add("parallel", true, fmt.Sprintf("in %d of %d racy runs the workers ran at the same time on different CPUs (%s), as their own clocks and getcpu show", overlapped, len(racy), cpuList(r.Pinned)))
	} else {
		r.note("parallel", "the workers never ran at the same time on different CPUs: the racy runs interleaved only where the scheduler preempted them")
	}
	r.settle()
}

// orFirstFew is detail when bad is empty, else the first few problems.
func orFirstFew(bad []string, detail string) string {
	if len(bad) == 0 {
		return detail
	}
	return firstFew(bad)
}

// WriteJSON writes the report as one indented JSON object.
func (r *RaceReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText writes the report for a reader.
func (r *RaceReport) WriteText(out io.Writer) error {
	b := &strings.Builder{}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("minirun threads race: %d threads of pid %d add 1 to one shared word, %d times each, pinned to CPUs %s\n\n",
		r.Workers, r.PID, r.Increments, cpuList(r.Pinned))
	p("racy    load, add, store: MOVQ (DI), AX; INCQ AX; MOVQ AX, (DI)  (arm64: LDR; ADD; STR)\n")
	p("locked  one atomic read-modify-write: LOCK INCQ (DI)            (arm64: LDAXR; ADD; STLXR)\n\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tkernel\tincrements\texpected\tgot\tlost\t\twall\tall running at once\tCPUs\t")
	for _, run := range r.Runs {
		k := run.Kernel
		if run.Retry {
			k += " (retry)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d×%d\t%d\t%d\t%d\t%.1f%%\t%s\t%s\t%s\t\n", run.Run, k, r.Workers, run.Increments,
			run.Expected, run.Got, run.Lost, percent(float64(run.Lost), float64(run.Expected)),
			dur(run.WallNs), dur(run.OverlapNs), ints(run.RanOn))
	}
	tw.Flush()
	p("\nchecks\n")
	writeChecks(b, r.Checks, 9)
	p("\n%s", r.summary())
	_, err := io.WriteString(out, b.String())
	return err
}
