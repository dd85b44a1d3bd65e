package threads

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestParallel runs the experiment and wants every claim shown: more than
// one CPU's worth of work per second with a worker per CPU (unless the
// machine is too busy, which the report measures), and the nice-19 and
// SCHED_IDLE workers far behind their siblings on a shared CPU.
func TestParallel(t *testing.T) {
	r, err := Parallel(ParallelConfig{Work: 30_000, Window: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	t.Log("\n" + text.String())
	cpus := len(allowedCPUs())
	counts := map[int]bool{}
	for _, run := range r.Runs {
		counts[run.Workers] = true
		if len(run.Tasks) != run.Workers {
			t.Errorf("run of %d: %d tasks", run.Workers, len(run.Tasks))
		}
		var units uint64
		for _, task := range run.Tasks {
			units += task.Units
			if task.CPUNs <= 0 || task.SchedNs < task.CPUNs/2 {
				t.Errorf("run of %d: tid %d: cpu %d ns, schedstat %d ns: want both, and schedstat not far below", run.Workers, task.TID, task.CPUNs, task.SchedNs)
			}
		}
		if units != run.UnitsEach*uint64(run.Workers) || run.UnitsEach != 30_000/uint64(run.Workers) {
			t.Errorf("run of %d: %d units done, %d each: want %d each", run.Workers, units, run.UnitsEach, 30_000/run.Workers)
		}
	}
	for _, n := range []int{1, cpus, 2 * cpus} {
		if !counts[n] {
			t.Errorf("runs: no run of %d workers (%v)", n, counts)
		}
	}
	for _, c := range r.Checks {
		switch {
		case c.Name == "parallel" && c.Inconclusive:
			t.Logf("parallel: NOTE %s", c.Detail)
			if cpus >= 2 && !strings.Contains(c.Detail, "too busy") {
				t.Errorf("parallel: inconclusive on %d CPUs without a busy machine: %s", cpus, c.Detail)
			}
		case c.Verdict() != "PASS":
			t.Errorf("check %s: got %s %s, want PASS", c.Name, c.Verdict(), c.Detail)
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back ParallelReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Sched.Tasks) != 4 || back.Sched.Tasks[3].Policy != "SCHED_IDLE" {
		t.Errorf("JSON round trip: %v %+v", err, back.Sched)
	}
}

// TestParallelChecks breaks one fact of a good report at a time.
func TestParallelChecks(t *testing.T) {
	good := func() *ParallelReport {
		r := &ParallelReport{CPUs: []int{0, 1}}
		r.Runs = []ParallelRun{
			{Workers: 1, WallNs: 100, CPUNs: 100, Busy: 1, Tasks: []SpinTask{{CPUEnd: 0}}},
			{Workers: 2, WallNs: 50, CPUNs: 100, Busy: 2, Speedup: 2, Tasks: []SpinTask{{CPUEnd: 0}, {CPUEnd: 1}}},
		}
		r.Sched = SchedRun{CPU: 1, WindowNs: 300, MiniRunPolicy: "SCHED_OTHER", Tasks: []SpinTask{
			{CPUNs: 100, Policy: "SCHED_OTHER", Processor: 1, CPUEnd: 1},
			{CPUNs: 110, Policy: "SCHED_OTHER", Processor: 1, CPUEnd: 1},
			{CPUNs: 3, Policy: "SCHED_OTHER", Nice: 19, Processor: 1, CPUEnd: 1},
			{CPUNs: 1, Policy: "SCHED_IDLE", Processor: 1, CPUEnd: 1},
		}}
		return r
	}
	tests := []struct {
		name   string
		break_ func(*ParallelReport)
		check  string
		want   string // verdict
	}{
		{"as it should be", func(*ParallelReport) {}, "", ""},
		{"one at a time", func(r *ParallelReport) { r.Runs[1].Busy = 1 }, "parallel", "FAIL"},
		{"one at a time, busy machine", func(r *ParallelReport) { r.Runs[1].Busy, r.Runs[1].OtherCPUNs = 1, 60 }, "parallel", "NOTE"},
		{"one CPU", func(r *ParallelReport) { r.CPUs = []int{0} }, "parallel", "NOTE"},
		{"same CPU", func(r *ParallelReport) { r.Runs[1].Tasks[1].CPUEnd = 0 }, "parallel", "FAIL"},
		{"nice ignored", func(r *ParallelReport) { r.Sched.Tasks[2].CPUNs = 90 }, "nice", "FAIL"},
		{"idle ignored", func(r *ParallelReport) { r.Sched.Tasks[3].CPUNs = 50 }, "idle", "FAIL"},
		{"unfair", func(r *ParallelReport) { r.Sched.Tasks[1].CPUNs = 200 }, "fair", "FAIL"},
		{"nice on minirun", func(r *ParallelReport) { r.Sched.MiniRunNice = 19 }, "per-thread", "FAIL"},
		{"not pinned", func(r *ParallelReport) { r.Sched.Tasks[0].Processor = 0 }, "per-thread", "FAIL"},
		{"policy not set", func(r *ParallelReport) { r.Sched.Tasks[3].Policy = "SCHED_OTHER" }, "per-thread", "FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.break_(r)
			r.check()
			for _, c := range r.Checks {
				want := "PASS"
				if c.Name == tt.check {
					want = tt.want
				}
				if c.Verdict() != want {
					t.Errorf("check %s: got %s (%s), want %s", c.Name, c.Verdict(), c.Detail, want)
				}
			}
		})
	}
}

func TestParallelConfig(t *testing.T) {
	for _, c := range []struct {
		cfg   ParallelConfig
		field string
	}{
		{ParallelConfig{Counts: []int{0}}, "count"},
		{ParallelConfig{Counts: []int{MaxLabWorkers + 1}}, "count"},
		{ParallelConfig{Counts: []int{}}, "count"},
		{ParallelConfig{Counts: []int{4}, Work: 3}, "work"},
		{ParallelConfig{Work: MaxParallelWork + 1}, "work"},
		{ParallelConfig{Window: time.Microsecond}, "window"},
		{ParallelConfig{Window: 2 * MaxSchedWindow}, "window"},
	} {
		_, err := c.cfg.Check()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: got %v, want a ConfigError on %s", c.cfg, err, c.field)
		}
	}
}
