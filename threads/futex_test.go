package threads

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestFutex runs the experiment: the lone worker's lock must make no system
// call, the contended one must have made FUTEX_WAIT and FUTEX_WAKE calls,
// and where the kernel can count them its counts must match the lock's.
func TestFutex(t *testing.T) {
	mountsBefore := tracefsMounts(t)
	r, err := Futex(FutexConfig{Workers: 2, Locks: 200_000})
	if err != nil {
		t.Fatal(err)
	}
	if got := tracefsMounts(t); got != mountsBefore {
		t.Errorf("tracefs mounts seen by this process: %d after the run, %d before: want the run to leave none", got, mountsBefore)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	t.Log("\n" + text.String())
	if len(r.Runs) < 2 || r.Runs[0].Name != "uncontended" || r.Runs[len(r.Runs)-1].Name != "contended" {
		t.Fatalf("runs: got %+v, want uncontended then contended", r.Runs)
	}
	un := r.Runs[0].Tasks[0]
	if un.Fast != 200_000 || un.Calls() != 0 {
		t.Errorf("uncontended: fast %d, calls %d, want 200000 and 0", un.Fast, un.Calls())
	}
	counted := strings.HasPrefix(r.KernelCount, "perf_event_open")
	if !counted {
		t.Logf("the kernel's counts: %s", r.KernelCount)
	} else if un.KernelFutex != 0 || un.KernelSyscalls != 0 {
		t.Errorf("uncontended: the kernel counted %d futex and %d system calls, want 0 and 0", un.KernelFutex, un.KernelSyscalls)
	}
	co := r.Runs[len(r.Runs)-1]
	for _, task := range co.Tasks {
		if task.Again > task.Waits {
			t.Errorf("tid %d: %d FUTEX_WAITs returned EAGAIN of %d", task.TID, task.Again, task.Waits)
		}
		if counted && task.KernelFutex != int64(task.Calls()) {
			t.Errorf("tid %d: the kernel counted %d futex calls, the lock %d", task.TID, task.KernelFutex, task.Calls())
		}
	}
	for _, c := range r.Checks {
		if c.Name == "slow-path" && c.Inconclusive && len(allowedCPUs()) < 2 {
			t.Logf("one CPU: %s", c.Detail)
			continue
		}
		if c.Verdict() != "PASS" {
			t.Errorf("check %s: got %s %s, want PASS", c.Name, c.Verdict(), c.Detail)
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back FutexReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Runs) != len(r.Runs) || back.Runs[1].Tasks[0].Waits != r.Runs[1].Tasks[0].Waits {
		t.Errorf("JSON round trip: %v", err)
	}
}

// TestFutexChecks breaks one fact of a good report at a time.
func TestFutexChecks(t *testing.T) {
	good := func() *FutexReport {
		return &FutexReport{Locks: 10, Runs: []FutexRun{
			{Name: "uncontended", Workers: 1, Locks: 10, Counter: 10, Want: 10, Tasks: []FutexTask{{Fast: 10}}},
			{Name: "contended", Workers: 2, Locks: 10, Counter: 20, Want: 20, Tasks: []FutexTask{
				{Fast: 8, Slow: 2, Waits: 2, Wakes: 1, KernelFutex: 3, KernelSyscalls: 3},
				{Fast: 9, Slow: 1, Waits: 1, Wakes: 2, KernelFutex: 3, KernelSyscalls: 3},
			}},
		}}
	}
	tests := []struct {
		name   string
		break_ func(*FutexReport)
		check  string
		want   string
	}{
		{"as it should be", func(*FutexReport) {}, "", ""},
		{"lost increment", func(r *FutexReport) { r.Runs[1].Counter = 19 }, "exclusive", "FAIL"},
		{"lock left held", func(r *FutexReport) { r.Runs[1].LockEnd = 1 }, "exclusive", "FAIL"},
		{"lock count", func(r *FutexReport) { r.Runs[1].Tasks[0].Fast = 7 }, "exclusive", "FAIL"},
		{"uncontended syscall", func(r *FutexReport) { r.Runs[0].Tasks[0].Wakes = 1 }, "fast-path", "FAIL"},
		{"uncontended kernel syscall", func(r *FutexReport) { r.Runs[0].Tasks[0].KernelSyscalls = 1 }, "fast-path", "FAIL"},
		{"never waited", func(r *FutexReport) {
			for i := range r.Runs[1].Tasks {
				r.Runs[1].Tasks[i] = FutexTask{Fast: 10, KernelFutex: 0, KernelSyscalls: 0}
			}
		}, "slow-path", "NOTE"},
		{"kernel disagrees", func(r *FutexReport) { r.Runs[1].Tasks[1].KernelFutex = 4 }, "slow-path", "FAIL"},
		{"another syscall", func(r *FutexReport) { r.Runs[1].Tasks[1].KernelSyscalls = 4 }, "slow-path", "FAIL"},
		{"not counted", func(r *FutexReport) {
			for i := range r.Runs[1].Tasks {
				r.Runs[1].Tasks[i].KernelFutex, r.Runs[1].Tasks[i].KernelSyscalls = -1, -1
			}
		}, "", ""},
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

func TestFutexConfig(t *testing.T) {
	for _, c := range []struct {
		cfg   FutexConfig
		field string
	}{
		{FutexConfig{Workers: 1}, "count"},
		{FutexConfig{Workers: MaxLabWorkers + 1}, "count"},
		{FutexConfig{Workers: 2, Locks: MaxFutexLocks + 1}, "work"},
	} {
		_, err := c.cfg.Check()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: got %v, want a ConfigError on %s", c.cfg, err, c.field)
		}
	}
}

// TestFutexWithoutKernelCounts runs the experiment where tracefs is not to
// be found: it says so, and counts with the lock's own counters alone.
func TestFutexWithoutKernelCounts(t *testing.T) {
	was := tracefsDirs
	tracefsDirs = []string{t.TempDir() + "/no-tracefs"}
	defer func() { tracefsDirs = was }()
	r, err := Futex(FutexConfig{Workers: 2, Locks: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.KernelCount, "not counted: tracepoints syscalls/sys_enter_futex, raw_syscalls/sys_enter: no tracefs") {
		t.Errorf("kernel count: got %q, want it not counted for want of tracefs", r.KernelCount)
	}
	for _, run := range r.Runs {
		for _, task := range run.Tasks {
			if task.KernelFutex != -1 || task.KernelSyscalls != -1 {
				t.Errorf("%s: tid %d: kernel counts %d %d, want -1 -1", run.Name, task.TID, task.KernelFutex, task.KernelSyscalls)
			}
		}
	}
	for _, c := range r.Checks {
		if c.Verdict() == "FAIL" {
			t.Errorf("check %s: FAIL %s", c.Name, c.Detail)
		}
	}
}

// tracefsMounts counts the tracefs mounts in this process's mount namespace.
func tracefsMounts(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), " - tracefs ")
}
