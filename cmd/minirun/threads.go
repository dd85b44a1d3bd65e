package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/threads"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:  "threads",
		Usage: "start worker threads through the clone core and check what they share",
		UsageText: "minirun threads --count N [--flags LIST] [--stack-size SIZE] [--work N] [--json] [--svg FILE] [--isolate]\n" +
			"minirun threads race|crash|exit|parallel|futex [FLAGS]   (an experiment: minirun threads race --help)",
		Description: `Starts N workers with clone3, each on an mmap'ed stack of its own with a
PROT_NONE guard page below it and its own TLS block (CLONE_SETTLS) holding a
distinct 64-bit value. The workers run a few dozen instructions of assembly,
never Go: they read their TLS value back through the TLS register, record
gettid, getpid and their stack pointer, increment one shared counter --work
times (LOCK INC) and sum their part of a shared array. Then they wait; while
they wait minirun finds them in /proc/self/task (threads) or /proc/<tid>
(tasks of their own thread group) and measures its VmRSS; then it releases
them and joins each on the TID word the kernel clears at exit (a futex).

The report lists minirun's pid, the flags (and those the clone core added),
each worker (index, TID, TGID, stack, TLS address and value, sum; the first
and last few when there are many), the checks, each PASS or FAIL, the time
to create and join a worker, and the resident memory a worker costs.

--flags takes a preset (thread, the default) or flag names such as
vm,fs,files,sighand,settls,child_cleartid: without CLONE_THREAD the workers
share minirun's memory but are thread groups of their own, and the report
shows it. A worker needs vm, settls and child_cleartid.

--svg FILE draws the address space the workers shared, as the lab read it
while they held: minirun's mappings (/proc/self/maps), each worker's stack
with its guard page below and its TLS block above, the arena with the shared
counter and array, and lines from each worker to what it touched.

--isolate runs the same lab in a container (with a user namespace of its
own when minirun runs without privilege): namespace flags start the
isolated process, thread flags start its workers. The lab is minirun itself,
alone in an empty rootfs; /proc is the host's, so each worker's NSpid shows
its TID in the host's PID namespace beside its TID in the container's.

The experiments show the article's other claims, each with its own flags:
  race      threads corrupt shared memory unless they synchronize
  crash     one thread's fault ends its whole process
  exit      exit ends a thread, exit_group its whole thread group
  parallel  threads run on every CPU at once, and are scheduled like processes
  futex     a mutex is a user-space fast path over a kernel wait

Exit status: 0 when every check passes (a NOTE is a run that could not show
its claim, not a failure); 1 when a check fails (the report is still
printed) or a worker cannot be started; 2 for bad input, with nothing
started.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "count", Usage: "number of workers, at least 1 (required)"},
			&cli.StringFlag{Name: "flags", Value: "thread", Usage: "clone flags of every worker: a preset (" + strings.Join(clonecore.PresetNames(), ", ") + ") or names (vm,fs,files,…)"},
			&cli.StringFlag{Name: "stack-size", Value: threads.FormatSize(threads.DefaultStackSize), Usage: "usable stack per worker: bytes, or with K, KiB, M, MiB (at least " + threads.FormatSize(threads.MinStackSize) + ")"},
			&cli.StringFlag{Name: "work", Value: "0", Usage: "increments of the shared counter each worker makes"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as one JSON object"},
			&cli.StringFlag{Name: "svg", Usage: "also draw the address space the workers shared into FILE (SVG)"},
			&cli.BoolFlag{Name: "isolate", Usage: "run the lab inside a container of its own (new PID, mount, UTS, IPC and network namespaces): each worker shows its TID in both PID namespaces"},
		},
		OnUsageError: func(c *cli.Context, err error, isSub bool) error {
			return &exitError{2, err}
		},
		Action:          threadsAction,
		Subcommands:     experiments,
		HideHelpCommand: true, // "minirun threads help" would read as an experiment
	})
}

func threadsAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageError("threads: unexpected argument %q: every setting is a flag (--count N …); the experiments are %s", c.Args().First(), experimentNames())
	}
	cfg, err := threadsConfig(c)
	if err != nil {
		return err
	}
	svg := c.String("svg")
	if c.IsSet("svg") && strings.TrimSpace(svg) == "" {
		return usageError("--svg: give the file to draw into")
	}
	if c.Bool("isolate") {
		if svg != "" {
			return usageError("--svg: not with --isolate: the lab runs in a container whose filesystem goes with it")
		}
		return threadsIsolated(c)
	}
	cfg.Layout = svg != ""
	var svgFile *os.File
	if svg != "" {
		// Made before the lab runs, so a path that cannot be written
		// starts nothing; removed again if no picture goes in it.
		if svgFile, err = os.OpenFile(svg, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			return fmt.Errorf("--svg: %w", err)
		}
		defer func() {
			if svgFile != nil {
				svgFile.Close()
				os.Remove(svg)
			}
		}()
	}
	r, err := threads.Run(cfg)
	if err != nil {
		var ce *threads.ConfigError
		if errors.As(err, &ce) {
			return usageError("--%v", ce)
		}
		return fmt.Errorf("threads: %w", err)
	}
	if c.Bool("json") {
		err = r.WriteJSON(c.App.Writer)
	} else {
		err = r.WriteText(c.App.Writer)
	}
	if err != nil {
		return fmt.Errorf("threads: write the report: %w", err)
	}
	if svgFile != nil {
		err := r.WriteSVG(svgFile)
		if cerr := svgFile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--svg: %s: %w", svg, err)
		}
		svgFile = nil
	}
	if !r.OK {
		failed := r.Failed()
		return fmt.Errorf("threads: %d of %d checks failed: %s", len(failed), len(r.Checks), strings.Join(failed, ", "))
	}
	return nil
}

// threadsConfig reads the flags into a lab configuration, naming the flag
// and the value in every error.
func threadsConfig(c *cli.Context) (threads.Config, error) {
	var cfg threads.Config
	count := strings.TrimSpace(c.String("count"))
	if !c.IsSet("count") || count == "" {
		return cfg, usageError("--count: missing: give the number of workers (at least 1)")
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return cfg, usageError("--count: %s: too large", count)
		}
		return cfg, usageError("--count: %s: not a whole number", count)
	}
	if n < 1 {
		return cfg, usageError("--count: %s: must be at least 1", count)
	}
	cfg.Count = n

	fl := c.String("flags")
	if cfg.Flags, err = clonecore.ParseFlags(fl); err != nil {
		return cfg, usageError("--flags: %v", err)
	}

	ss := c.String("stack-size")
	if cfg.StackSize, err = threads.ParseSize(ss); err != nil {
		return cfg, usageError("--stack-size: %s: %v", ss, err)
	}
	if cfg.StackSize == 0 {
		return cfg, usageError("--stack-size: %s: below the minimum of %s", ss, threads.FormatSize(threads.MinStackSize))
	}

	ws := strings.TrimSpace(c.String("work"))
	if cfg.Work, err = strconv.ParseUint(ws, 10, 64); err != nil {
		switch {
		case strings.HasPrefix(ws, "-"):
			return cfg, usageError("--work: %s: cannot be negative", ws)
		case errors.Is(err, strconv.ErrRange):
			return cfg, usageError("--work: %s: too large", ws)
		}
		return cfg, usageError("--work: %s: not a whole number", ws)
	}
	return cfg, nil
}

// threadsIsolated runs "minirun threads" with the same settings inside a
// container of its own and exits with its status.
func threadsIsolated(c *cli.Context) error {
	args := []string{"threads"}
	for _, name := range []string{"count", "flags", "stack-size", "work"} {
		if c.IsSet(name) {
			args = append(args, "--"+name, c.String(name))
		}
	}
	if c.Bool("json") {
		args = append(args, "--json")
	}
	code, err := container.RunSelf(args, "threads-lab")
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

// experimentNames lists the subcommands: "race, crash, …".
func experimentNames() string {
	names := make([]string, len(experiments))
	for i, e := range experiments {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}
