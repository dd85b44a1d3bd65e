package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/minirun/minirun/threads"
	"github.com/urfave/cli/v2"
)

// The thread lab's experiments are subcommands of "minirun threads", one
// for each claim of the article that the lab's first report leaves as
// prose. A subcommand each, not a --lab switch: each has its own settings
// (--work is increments in race, units of CPU work in parallel, lock/unlock
// pairs in futex), its own --help saying what it shows, and its own checks.
var experiments = []*cli.Command{
	{
		Name:      "race",
		Usage:     `"threads can corrupt shared memory": a plain load-add-store loses updates, LOCK INC none`,
		UsageText: "minirun threads race [--count N] [--work N] [--runs N] [--json]",
		Description: `Starts --count workers (default: one per CPU minirun may use, at least 2), each
pinned to its own CPU, that add 1 to one shared word --work times each: first
with a plain load, add and store (racy), then with one atomic instruction
(locked: LOCK INC; LDAXR/STLXR on arm64), --runs times each. The report gives
every run's expected count, the count the word ended with, the updates lost,
and how long the workers really ran at once (their own clocks).

A racy run that lost nothing proves nothing: it is run again with twice the
increments, up to 16 times as many; if none loses, the check says so (NOTE)
instead of passing. Only a locked count that is off fails.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "count", Usage: "workers, at least 2 (default: one per CPU)"},
			&cli.StringFlag{Name: "work", Usage: fmt.Sprintf("increments each worker makes in a run (default %d)", threads.DefaultRaceIncrements)},
			&cli.StringFlag{Name: "runs", Usage: fmt.Sprintf("runs of each kernel (default %d)", threads.DefaultRaceRuns)},
			&cli.BoolFlag{Name: "json", Usage: "print the report as one JSON object"},
		},
		Action: experiment(func(c *cli.Context) (threads.Result, error) {
			var cfg threads.RaceConfig
			var err error
			if cfg.Workers, err = intFlag(c, "count"); err != nil {
				return nil, err
			}
			if cfg.Increments, err = uintFlag(c, "work"); err != nil {
				return nil, err
			}
			if cfg.Runs, err = intFlag(c, "runs"); err != nil {
				return nil, err
			}
			return threads.Race(cfg)
		}),
	},
	{
		Name:      "crash",
		Usage:     `"threads can crash entire processes": one thread's fault kills its thread group, not a process of its own`,
		UsageText: "minirun threads crash [--count N] [--json]",
		Description: `Each case starts a host: a process of its own, cloned without CLONE_VM, that
clones --count workers (default 3) with the thread flags, or with the same
flags without CLONE_THREAD. Worker 0 then stores through a null pointer, or
runs down its stack into its guard page; its siblings wait. The report shows
every task's Tgid and PPid before, whether it was there after, and how it
ended (wait statuses: minirun's of the host, the host's of its child
processes): with CLONE_THREAD the whole thread group died with SIGSEGV, host
included; without it, worker 0 alone. minirun, the host's parent, watches.`,
		Flags:  endFlags(),
		Action: endAction(threads.Crash),
	},
	{
		Name:      "exit",
		Usage:     `"if a thread exits, other threads continue running": exit ends one thread, exit_group all of them`,
		UsageText: "minirun threads exit [--count N] [--json]",
		Description: fmt.Sprintf(`As "minirun threads crash", but worker 0 calls exit(%d), then, in the next
cases, exit_group(%d). exit ends the thread alone: its siblings and the host
go on (and its status reaches no one); exit_group ends every task of its
thread group, and the host's status is its code. Without CLONE_THREAD both
end worker 0 alone: its thread group is itself.`, threads.EndCode, threads.EndCode),
		Flags:  endFlags(),
		Action: endAction(threads.Exit),
	},
	{
		Name:      "parallel",
		Usage:     `"each thread is scheduled independently: true multi-core parallelism", and "scheduling policies apply equally"`,
		UsageText: "minirun threads parallel [--count LIST] [--work N] [--window DURATION] [--json]",
		Description: `Splits --work units of CPU work (default 100000, about a tenth of a second
for one worker; a unit is 1024 dependent multiply-adds) among 1, 2, …
workers (--count, a comma list; default 1, the CPUs minirun may use, and
twice that), and reports each run's wall time and CPU time (the workers' own
clocks), the CPU each ran on (field 39 of /proc/<tid>/stat) and the speed-up
over one worker. More CPU time than wall time means they ran at once. The
rest of the machine's load is measured (/proc/stat): a run kept apart by a
busy machine is a NOTE, not a failure.

Then four workers pinned to one CPU spin for --window (default 300ms), one
at nice 19 and one SCHED_IDLE, each set on its TID alone: the report gives
each one's CPU time and share, and /proc's view of its policy and nice value
beside minirun's own.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "count", Usage: "worker counts to compare, a comma list (default: 1, the CPUs, twice the CPUs)"},
			&cli.StringFlag{Name: "work", Usage: fmt.Sprintf("units of CPU work every count splits (default %d)", threads.DefaultParallelWork)},
			&cli.StringFlag{Name: "window", Usage: "how long four workers share one CPU (default 300ms)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as one JSON object"},
		},
		Action: experiment(func(c *cli.Context) (threads.Result, error) {
			var cfg threads.ParallelConfig
			if s := strings.TrimSpace(c.String("count")); c.IsSet("count") {
				if s == "" {
					return nil, usageError("--count: give worker counts, a comma list (1,2,4)")
				}
				for _, f := range strings.Split(s, ",") {
					n, err := strconv.Atoi(strings.TrimSpace(f))
					if err != nil {
						return nil, usageError("--count: %s: %q is not a whole number", s, f)
					}
					if n < 1 {
						return nil, usageError("--count: %s: each count must be at least 1", s)
					}
					cfg.Counts = append(cfg.Counts, n)
				}
			}
			var err error
			if cfg.Work, err = uintFlag(c, "work"); err != nil {
				return nil, err
			}
			if c.IsSet("window") {
				s := c.String("window")
				if cfg.Window, err = time.ParseDuration(strings.TrimSpace(s)); err != nil {
					return nil, usageError("--window: %s: not a duration (300ms, 1s)", s)
				}
				if cfg.Window <= 0 {
					return nil, usageError("--window: %s: must be positive", s)
				}
			}
			return threads.Parallel(cfg)
		}),
	},
	{
		Name:      "futex",
		Usage:     `"mutexes: a user-space fast path and kernel support": no system call until someone has to wait`,
		UsageText: "minirun threads futex [--count N] [--work N] [--json]",
		Description: `A futex lock in the workers' assembly guards a plain increment of a shared
word. One worker takes and releases it --work times (default 1000000): every
time on the fast path, one compare-and-swap, no system call. Then --count
workers (default one per CPU, at least 2), pinned to different CPUs, do the
same: the slow path sleeps in FUTEX_WAIT and is woken by FUTEX_WAKE. The lock
counts its own calls; the kernel counts them too, with a perf counter per
worker thread on the tracepoints syscalls:sys_enter_futex and
raw_syscalls:sys_enter (their ids from tracefs, which a child mounts in a
mount namespace of its own where the host has none; without CAP_SYS_ADMIN, or
where perf_event_paranoid forbids the counters, the report says why), and
/proc/<tid>/status counts the waits that slept (voluntary context switches).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "count", Usage: "workers in the contended run, at least 2 (default: one per CPU)"},
			&cli.StringFlag{Name: "work", Usage: fmt.Sprintf("lock/unlock pairs each worker makes (default %d)", threads.DefaultFutexLocks)},
			&cli.BoolFlag{Name: "json", Usage: "print the report as one JSON object"},
		},
		Action: experiment(func(c *cli.Context) (threads.Result, error) {
			var cfg threads.FutexConfig
			var err error
			if cfg.Workers, err = intFlag(c, "count"); err != nil {
				return nil, err
			}
			if cfg.Locks, err = uintFlag(c, "work"); err != nil {
				return nil, err
			}
			return threads.Futex(cfg)
		}),
	},
}

func init() {
	for _, e := range experiments {
		e.OnUsageError = func(c *cli.Context, err error, isSub bool) error { return &exitError{2, err} }
	}
}

// endFlags and endAction are crash's and exit's: the same cases, ended
// differently by worker 0.
func endFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "count", Usage: fmt.Sprintf("workers in each case, at least 2 (default %d)", threads.DefaultEndWorkers)},
		&cli.BoolFlag{Name: "json", Usage: "print the report as one JSON object"},
	}
}

func endAction(run func(threads.EndConfig) (*threads.EndReport, error)) cli.ActionFunc {
	return experiment(func(c *cli.Context) (threads.Result, error) {
		n, err := intFlag(c, "count")
		if err != nil {
			return nil, err
		}
		return run(threads.EndConfig{Workers: n})
	})
}

// experiment makes an experiment's Action: run, print the report (text or
// --json), and exit 1 when a check failed, 2 for bad input.
func experiment(run func(c *cli.Context) (threads.Result, error)) cli.ActionFunc {
	return func(c *cli.Context) error {
		name := "threads " + c.Command.Name
		if c.Args().Present() {
			return usageError("%s: unexpected argument %q: every setting is a flag", name, c.Args().First())
		}
		r, err := run(c)
		if err != nil {
			var ce *threads.ConfigError
			var ee *exitError
			switch {
			case errors.As(err, &ce):
				return usageError("--%v", ce)
			case errors.As(err, &ee):
				return err
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		if c.Bool("json") {
			err = r.WriteJSON(c.App.Writer)
		} else {
			err = r.WriteText(c.App.Writer)
		}
		if err != nil {
			return fmt.Errorf("%s: write the report: %w", name, err)
		}
		if failed := r.Failed(); len(failed) > 0 {
			return fmt.Errorf("%s: %d of %d checks failed: %s", name, len(failed), len(r.AllChecks()), strings.Join(failed, ", "))
		}
		return nil
	}
}

// intFlag reads a whole-number flag; 0 when it is not given.
func intFlag(c *cli.Context, name string) (int, error) {
	if !c.IsSet(name) {
		return 0, nil
	}
	s := strings.TrimSpace(c.String(name))
	n, err := strconv.Atoi(s)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, usageError("--%s: %s: too large", name, s)
	case err != nil:
		return 0, usageError("--%s: %s: not a whole number", name, s)
	case n < 1:
		return 0, usageError("--%s: %s: must be at least 1", name, s)
	}
	return n, nil
}

// uintFlag reads a count flag; 0 when it is not given.
func uintFlag(c *cli.Context, name string) (uint64, error) {
	if !c.IsSet(name) {
		return 0, nil
	}
	s := strings.TrimSpace(c.String(name))
	n, err := strconv.ParseUint(s, 10, 64)
	switch {
	case strings.HasPrefix(s, "-"):
		return 0, usageError("--%s: %s: cannot be negative", name, s)
	case errors.Is(err, strconv.ErrRange):
		return 0, usageError("--%s: %s: too large", name, s)
	case err != nil:
		return 0, usageError("--%s: %s: not a whole number", name, s)
	case n == 0:
		return 0, usageError("--%s: %s: must be at least 1", name, s)
	}
	return n, nil
}
