package threads

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/minirun/minirun/clonecore"
	"golang.org/x/sys/unix"
)

// ParallelConfig says how the parallel experiment runs.
type ParallelConfig struct {
	// Counts are the worker counts to compare, each splitting the same
	// work; nil means 1, the CPUs minirun may use, and twice that.
	Counts []int
	// Work is the units of CPU work every count splits (a unit is 1024
	// dependent multiply-adds, about a microsecond); 0 means
	// DefaultParallelWork.
	Work uint64
	// Window is how long the scheduling part lets four workers share one
	// CPU; 0 means DefaultSchedWindow.
	Window time.Duration
}

const (
	// DefaultParallelWork is the work every count splits: about a tenth
	// of a second for one worker on this project's machine.
	DefaultParallelWork = 100_000
	// MaxParallelWork bounds Work: minutes for one worker.
	MaxParallelWork = 1 << 28
	// DefaultSchedWindow is how long the scheduling part runs.
	DefaultSchedWindow = 300 * time.Millisecond
	// MaxSchedWindow bounds Window.
	MaxSchedWindow = time.Minute
	// parallelTries bounds the runs of the count the parallel check reads
	// when a busy machine kept its workers apart.
	parallelTries = 3
	// busyEnough is the CPU time per wall time that shows two workers ran
	// at once for at least a quarter of the run: one CPU gives at most 1.
	busyEnough = 1.25
	// lowered is the share of a nice-0 sibling's CPU that a nice 19 or
	// SCHED_IDLE worker must stay under to count as getting less.
	lowered = 0.25
	// userHZ is the unit of /proc/stat (USER_HZ, 100 on every Linux ABI).
	userHZ = 100
)

// Check fills in the defaults and refuses what cannot run.
func (c ParallelConfig) Check() (ParallelConfig, error) {
	if c.Counts == nil {
		n := len(allowedCPUs())
		c.Counts = slices.Compact([]int{1, n, 2 * n})
	}
	if c.Work == 0 {
		c.Work = DefaultParallelWork
	}
	if c.Window == 0 {
		c.Window = DefaultSchedWindow
	}
	for _, n := range c.Counts {
		if n < 1 || n > MaxLabWorkers {
			return c, &ConfigError{Field: "count", Value: strconv.Itoa(n), Why: fmt.Sprintf("each count must be 1 to %d", MaxLabWorkers)}
		}
		if uint64(n) > c.Work {
			return c, &ConfigError{Field: "work", Value: strconv.FormatUint(c.Work, 10), Why: fmt.Sprintf("less than one unit for each of %d workers", n)}
		}
	}
	switch {
	case len(c.Counts) == 0:
		return c, &ConfigError{Field: "count", Value: "", Why: "give at least one count"}
	case c.Work > MaxParallelWork:
		return c, &ConfigError{Field: "work", Value: strconv.FormatUint(c.Work, 10), Why: fmt.Sprintf("at most %d units", uint64(MaxParallelWork))}
	case c.Window < time.Millisecond || c.Window > MaxSchedWindow:
		return c, &ConfigError{Field: "window", Value: c.Window.String(), Why: fmt.Sprintf("must be 1ms to %v", MaxSchedWindow)}
	}
	return c, nil
}

// ParallelReport is what the parallel experiment found.
type ParallelReport struct {
	PID   int           `json:"pid"`
	CPUs  []int         `json:"cpus"` // the CPUs minirun may run on
	Work  uint64        `json:"work"` // units every count split
	Unit  int           `json:"unit"` // multiply-adds in a unit
	Runs  []ParallelRun `json:"runs"`
	Sched SchedRun      `json:"sched"`
	checked
}

// ParallelRun is the work split among some workers.
type ParallelRun struct {
	Workers   int     `json:"workers"`
	UnitsEach uint64  `json:"units_each"`
	WallNs    int64   `json:"wall_ns"` // first worker's start to last one's end, by their own clocks
	CPUNs     int64   `json:"cpu_ns"`  // the workers' CPU time, each by its CLOCK_THREAD_CPUTIME_ID
	Busy      float64 `json:"cpu_per_wall"`
	Speedup   float64 `json:"speedup"` // the one-worker run's wall time over this one's
	// OtherCPUNs is the CPU time the rest of the machine used meanwhile:
	// /proc/stat's busy time less the workers'.
	OtherCPUNs int64      `json:"other_cpu_ns"`
	Retry      bool       `json:"retry,omitempty"`
	Tasks      []SpinTask `json:"tasks"`
}

// SpinTask is one worker of a run.
type SpinTask struct {
	TID      int    `json:"tid"`
	Units    uint64 `json:"units"`
	CPUNs    int64  `json:"cpu_ns"`
	WallNs   int64  `json:"wall_ns"`
	CPUStart int    `json:"cpu_start"` // getcpu when it began
	CPUEnd   int    `json:"cpu_end"`   // getcpu when it was done
	// Processor is field 39 of its /proc stat while it waited after the
	// work: the CPU it last ran on, as the kernel tells it.
	Processor int `json:"processor"`
	// SchedNs is the CPU time the scheduler accounts to it in its life
	// (/proc/<tid>/schedstat), a check on CPUNs from outside.
	SchedNs int64 `json:"sched_ns"`
	// The scheduling part: the policy and nice value /proc/<tid>/stat
	// showed (fields 41 and 19), and the share of the CPU it got.
	Policy string  `json:"policy,omitempty"`
	Nice   int     `json:"nice"`
	Share  float64 `json:"share,omitempty"`
}

// SchedRun is four workers pinned to one CPU for a while: two as they
// start, one at nice 19, one SCHED_IDLE.
type SchedRun struct {
	CPU      int        `json:"cpu"`
	WindowNs int64      `json:"window_ns"`
	Tasks    []SpinTask `json:"tasks"`
	// MiniRun is the policy and nice value of minirun's own thread: the
	// settings were the workers' alone.
	MiniRunPolicy string `json:"minirun_policy"`
	MiniRunNice   int    `json:"minirun_nice"`
}

// Parallel runs the parallel experiment: the same CPU work split among 1, 2,
// … workers, which the kernel runs on every CPU at once; then four workers
// on one CPU, one of them at nice 19 and one SCHED_IDLE, which get less of
// it than their siblings: scheduling applies to each thread as to a process.
func Parallel(c ParallelConfig) (*ParallelReport, error) {
	c, err := c.Check()
	if err != nil {
		return nil, err
	}
	if err := checkProc(); err != nil {
		return nil, err
	}
	r := &ParallelReport{PID: os.Getpid(), CPUs: allowedCPUs(), Work: c.Work, Unit: clonecore.LabSpinUnit}
	for _, n := range c.Counts {
		run, err := spinRun(n, c.Work)
		if err != nil {
			return nil, err
		}
		r.Runs = append(r.Runs, run)
	}
	// The check reads the run with one worker per CPU: on a busy machine
	// its workers may not have run at once, so it gets a few tries.
	if k := r.checkedRun(); k >= 0 {
		for try := 1; try < parallelTries && r.Runs[k].Busy <= busyEnough; try++ {
			run, err := spinRun(r.Runs[k].Workers, c.Work)
			if err != nil {
				return nil, err
			}
			run.Retry = true
			r.Runs = append(r.Runs, run)
			k = len(r.Runs) - 1
		}
	}
	var one int64
	for _, run := range r.Runs {
		if run.Workers == 1 && one == 0 {
			one = run.WallNs
		}
	}
	for i := range r.Runs {
		if one > 0 && r.Runs[i].WallNs > 0 {
			r.Runs[i].Speedup = float64(one) / float64(r.Runs[i].WallNs)
		}
	}
	if r.Sched, err = schedRun(r.CPUs[len(r.CPUs)-1], c.Window); err != nil {
		return nil, err
	}
	r.check()
	return r, nil
}

// checkedRun is the index of the last run with one worker per CPU (at
// least 2), or -1.
func (r *ParallelReport) checkedRun() int {
	want := len(r.CPUs)
	k := -1
	for i, run := range r.Runs {
		if want >= 2 && run.Workers == want {
			k = i
		}
	}
	return k
}

// spinRun splits work among n workers and measures them.
func spinRun(n int, work uint64) (ParallelRun, error) {
	run := ParallelRun{Workers: n, UnitsEach: work / uint64(n)}
	c, err := newCrew(n)
	if err != nil {
		return run, err
	}
	defer c.close()
	for i := 0; i < n; i++ {
		c.store(i, clonecore.LabIters, run.UnitsEach)
	}
	if err := c.start(clonecore.LabSpin); err != nil {
		return run, err
	}
	busy0 := machineBusy()
	if err := c.run(); err != nil {
		return run, err
	}
	busy := machineBusy() - busy0
	ws := make([]crewWorker, n)
	for i := range ws {
		ws[i] = c.worker(i)
		run.CPUNs += ws[i].CPU.Nanoseconds()
		run.Tasks = append(run.Tasks, c.spinTask(i, ws[i]))
	}
	run.WallNs = span(ws).Nanoseconds()
	if run.WallNs > 0 {
		run.Busy = float64(run.CPUNs) / float64(run.WallNs)
	}
	run.OtherCPUNs = max(busy.Nanoseconds()-run.CPUNs, 0)
	return run, c.close()
}

// spinTask reads what worker i did, and what /proc says of it.
func (c *crew) spinTask(i int, w crewWorker) SpinTask {
	t := SpinTask{TID: w.TID, Units: w.Done, CPUNs: w.CPU.Nanoseconds(), WallNs: (w.End - w.Start).Nanoseconds(),
		CPUStart: w.CPUStart, CPUEnd: w.CPUEnd, Processor: -1}
	if st, err := taskStat(os.Getpid(), w.TID); err == nil {
		t.Processor = st.Processor
	}
	if ns, ok := schedRuntime(os.Getpid(), w.TID); ok {
		t.SchedNs = ns.Nanoseconds()
	}
	t.Policy, t.Nice = schedOf(os.Getpid(), w.TID)
	return t
}

// schedOf reads a task's scheduling policy (field 41) and nice value
// (field 19) from its /proc stat.
func schedOf(pid, tid int) (string, int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return "?", 0
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	if len(f) < 41-2 {
		return "?", 0
	}
	nice, _ := strconv.Atoi(f[19-3])
	policy, _ := strconv.Atoi(f[41-3])
	names := map[int]string{unix.SCHED_NORMAL: "SCHED_OTHER", unix.SCHED_FIFO: "SCHED_FIFO", unix.SCHED_RR: "SCHED_RR",
		unix.SCHED_BATCH: "SCHED_BATCH", unix.SCHED_IDLE: "SCHED_IDLE", unix.SCHED_DEADLINE: "SCHED_DEADLINE"}
	name, ok := names[policy]
	if !ok {
		name = fmt.Sprintf("policy %d", policy)
	}
	return name, nice
}

// machineBusy is the CPU time every CPU spent not idle, from /proc/stat's
// first line (user, nice, system, irq, softirq and steal).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks uint64
	for _, k := range []int{1, 2, 3, 6, 7, 8} {
		if k < len(f) {
			v, _ := strconv.ParseUint(f[k], 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// schedRun pins four spinning workers to one CPU for window: two as they
// start, one at nice 19, one SCHED_IDLE; each setting is made on that
// worker's TID alone.
func schedRun(cpu int, window time.Duration) (SchedRun, error) {
	s := SchedRun{CPU: cpu, WindowNs: window.Nanoseconds()}
	const n = 4
	c, err := newCrew(n)
	if err != nil {
		return s, err
	}
	defer c.close()
	stop := c.word(0)
	for i := 0; i < n; i++ {
		c.store(i, clonecore.LabTarget, uint64(stop))
	}
	if err := c.start(clonecore.LabSpin); err != nil {
		return s, err
	}
	for i, t := range c.tasks {
		if err := pin(t.TID, cpu); err != nil {
			return s, err
		}
		switch i {
		case 2:
			if err := unix.Setpriority(unix.PRIO_PROCESS, t.TID, 19); err != nil {
				return s, fmt.Errorf("nice 19 for tid %d: %w", t.TID, err)
			}
		case 3:
			attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
			if err := unix.SchedSetAttr(t.TID, &attr, 0); err != nil {
				return s, fmt.Errorf("SCHED_IDLE for tid %d: %w", t.TID, err)
			}
		}
	}
	c.set(c.goW)
	time.Sleep(window)
	c.set(stop)
	if err := c.waitAll(clonecore.LabWorked); err != nil {
		return s, err
	}
	var total int64
	for i := 0; i < n; i++ {
		t := c.spinTask(i, c.worker(i))
		total += t.CPUNs
		s.Tasks = append(s.Tasks, t)
	}
	for i := range s.Tasks {
		s.Tasks[i].Share = float64(s.Tasks[i].CPUNs) / float64(max(total, 1))
	}
	s.MiniRunPolicy, s.MiniRunNice = schedOf(os.Getpid(), os.Getpid())
	return s, c.close()
}

// check states what the runs show.
func (r *ParallelReport) check() {
	if k := r.checkedRun(); k < 0 {
		r.note("parallel", fmt.Sprintf("minirun may run on one CPU only (%s): no two workers can run at once here", cpuList(r.CPUs)))
	} else {
		run := r.Runs[k]
		var ranOn []int
		for _, t := range run.Tasks {
			ranOn = append(ranOn, t.CPUStart, t.CPUEnd)
			if t.Processor >= 0 {
				ranOn = append(ranOn, t.Processor)
			}
		}
		slices.Sort(ranOn)
		ranOn = slices.Compact(ranOn)
		other := float64(run.OtherCPUNs) / float64(max(run.WallNs, 1))
		d := fmt.Sprintf("%d workers did %.2f CPU-seconds of work per second of wall time (speed-up %.2f× over one worker), on CPUs %s",
			run.Workers, run.Busy, run.Speedup, cpuList(ranOn))
		switch {
		case run.Busy > busyEnough && len(ranOn) > 1:
			r.add("parallel", true, d+": one CPU gives at most 1")
		case other > 2-busyEnough-0.5:
			// The rest of the machine took more than a quarter of a CPU
			// (steal included): on two CPUs, whose ticks /proc/stat counts
			// in hundredths of a second, the workers' share of what was
			// left cannot be told from one at a time.
			r.note("parallel", fmt.Sprintf("%s; the rest of the machine used %.2f CPUs meanwhile (/proc/stat): too busy to show it", d, other))
		default:
			r.add("parallel", false, fmt.Sprintf("%s, with the machine otherwise idle: want more than %.2f on more than one CPU", d, busyEnough))
		}
	}

	ts := r.Sched.Tasks
	if len(ts) != 4 {
		r.add("sched", false, fmt.Sprintf("%d workers in the scheduling part, want 4", len(ts)))
		r.settle()
		return
	}
	var bad []string
	for i, t := range ts {
		if t.Processor != r.Sched.CPU || t.CPUEnd != r.Sched.CPU {
			bad = append(bad, fmt.Sprintf("worker %d ran on CPU %d (getcpu) / %d (/proc), want %d", i, t.CPUEnd, t.Processor, r.Sched.CPU))
		}
	}
	want := []struct {
		policy string
		nice   int
	}{{"SCHED_OTHER", 0}, {"SCHED_OTHER", 0}, {"SCHED_OTHER", 19}, {"SCHED_IDLE", 0}}
	for i, t := range ts {
		if t.Policy != want[i].policy || t.Nice != want[i].nice {
			bad = append(bad, fmt.Sprintf("worker %d: %s nice %d in /proc, want %s nice %d", i, t.Policy, t.Nice, want[i].policy, want[i].nice))
		}
	}
	if r.Sched.MiniRunPolicy != "SCHED_OTHER" || r.Sched.MiniRunNice != 0 {
		bad = append(bad, fmt.Sprintf("minirun's own thread: %s nice %d, want SCHED_OTHER nice 0: the settings were the workers' alone", r.Sched.MiniRunPolicy, r.Sched.MiniRunNice))
	}
	r.add("per-thread", len(bad) == 0, orFirstFew(bad, fmt.Sprintf(
		"all 4 workers ran on CPU %d only; /proc/<tid>/stat shows nice 19 on worker 2 and SCHED_IDLE on worker 3 alone, and minirun's own thread still %s nice %d",
		r.Sched.CPU, r.Sched.MiniRunPolicy, r.Sched.MiniRunNice)))

	a, b := ts[0].CPUNs, ts[1].CPUNs
	lo := min(a, b)
	r.add("fair", lo > 0 && float64(max(a, b)) < 1.5*float64(lo), fmt.Sprintf(
		"the two nice-0 workers got %s and %s of CPU %d: equal tasks, equal shares", dur(a), dur(b), r.Sched.CPU))
	for _, k := range []struct {
		name string
		i    int
		what string
	}{{"nice", 2, "the nice-19 worker"}, {"idle", 3, "the SCHED_IDLE worker"}} {
		t := ts[k.i]
		ok := lo > 0 && float64(t.CPUNs) < lowered*float64(lo)
		ratio := "all"
		if t.CPUNs > 0 {
			ratio = fmt.Sprintf("1/%.0f", float64(lo)/float64(t.CPUNs))
		}
		r.add(k.name, ok, fmt.Sprintf("%s got %s of CPU, %s of its nice-0 siblings' least (%s), in the same %s on the same CPU",
			k.what, dur(t.CPUNs), ratio, dur(lo), dur(r.Sched.WindowNs)))
	}
	r.settle()
}

// WriteJSON writes the report as one indented JSON object.
func (r *ParallelReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText writes the report for a reader.
func (r *ParallelReport) WriteText(out io.Writer) error {
	b := &strings.Builder{}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("minirun threads parallel: every worker is a task the kernel schedules on its own, on any CPU (minirun may use %s)\n\n", cpuList(r.CPUs))
	p("%d units of CPU work (%d dependent multiply-adds each), split among the workers:\n", r.Work, r.Unit)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workers\tunits each\twall\tcpu (sum)\tcpu/wall\tspeed-up\tCPU of each (/proc field 39)\tother load\t")
	for _, run := range r.Runs {
		var cpus []string
		for _, t := range run.Tasks {
			cpus = append(cpus, strconv.Itoa(t.Processor))
		}
		w := strconv.Itoa(run.Workers)
		if run.Retry {
			w += " (again)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.2f\t%.2f×\t%s\t%.2f CPUs\t\n", w, run.UnitsEach, dur(run.WallNs), dur(run.CPUNs),
			run.Busy, run.Speedup, strings.Join(cpus, " "), float64(run.OtherCPUNs)/float64(max(run.WallNs, 1)))
	}
	tw.Flush()
	p("wall and cpu are the workers' own clocks (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID); field 39 of /proc/<tid>/stat\n")
	p("is the CPU a worker last ran on (--json adds getcpu at its start and end); other load is /proc/stat's busy time less theirs\n\n")
	s := r.Sched
	p("four workers pinned to CPU %d for %s, each spinning until told to stop; nice and policy set on one TID each:\n", s.CPU, dur(s.WindowNs))
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "worker\ttid\tpolicy\tnice\tcpu\tshare\tunits\tschedstat\t")
	for i, t := range s.Tasks {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%s\t%.1f%%\t%d\t%s\t\n", i, t.TID, t.Policy, t.Nice, dur(t.CPUNs), 100*t.Share, t.Units, dur(t.SchedNs))
	}
	tw.Flush()
	p("minirun's own thread: %s, nice %d\n", s.MiniRunPolicy, s.MiniRunNice)
	p("\nchecks\n")
	writeChecks(b, r.Checks, 10)
	p("\n%s", r.summary())
	_, err := io.WriteString(out, b.String())
	return err
}
