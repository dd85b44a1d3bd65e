package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/probe"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:  "clone",
		Usage: "start a probe task with the given clone flags and show, measured, what it shares with minirun",
		UsageText: "minirun clone --flags LIST [--json] [--explain]\n" +
			"minirun clone --compare LIST [--compare LIST]... [--json]",
		Description: `Starts one task with clone3 and exactly the flags given (plus, for a task in
minirun's address space, CLONE_SETTLS and the TID word flags the clone core
needs, reported as added). The task runs a short program of raw syscalls,
never Go: it changes one thing of each kind (a word in a MAP_PRIVATE page of
minirun's, a new fd dup3'd onto a number free in minirun's table, its cwd and
umask, the SIGWINCH handler, a SysV semaphore with SEM_UNDO), records its
pid, tid, parent, scheduling policy, thread pointer and namespace inodes, and
waits on a pipe. While it waits minirun reads /proc/<tid> (its stack pointer,
state, status, namespaces); then it releases it, waits for its exit, looks
for each change in itself, and puts back whatever the task changed in
minirun (cwd, umask, handlers, the fd; the semaphore set is removed).

The report gives, for each resource, a verdict (shared or copied, same or
new...) and the measurement behind it, then each namespace, then notes on
what the flags did that the table does not say.

--flags takes names with or without CLONE_, in any case, separated by
commas or '|' (vm,fs,files), presets (` + strings.Join(clonecore.PresetNames(), ", ") + `) and
numbers (0x100). "thread" and "vfork" are the presets alone or beside
namespaces (thread,newpid) and the single flag among other flags
(vm,sighand,thread); clone_thread and clone_vfork are always the flag. The
kernel's rules (CLONE_THREAD needs CLONE_SIGHAND, which needs CLONE_VM...)
are checked first, and a refusal names the rule.

--compare prints the article's comparison tables with one column per flag
set, every cell from a live probe. Columns: "fork,thread" (a comma list of
presets is one column each), "fork;vm,fs,files" (';' separates flag lists),
or --compare repeated (--compare fork --compare vm,fs,files).

--json prints the report (or the comparison, with every report) as one JSON
object. --explain adds the child program, one syscall a line.

Exit status: 0 when the probe ran; 1 when the kernel refused the clone or a
step of the probe failed; 2 for bad input (an unknown flag, a combination the
kernel refuses, with the rule in words), with nothing started.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "flags", Usage: "clone flags of the probe task: names (vm,fs,files…), presets (" + strings.Join(clonecore.PresetNames(), ", ") + ") or numbers"},
			&cli.GenericFlag{Name: "compare", Value: &compareValue{}, Usage: "flag sets to compare side by side: fork,thread or \"fork;vm,fs,files\"; repeatable"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			&cli.BoolFlag{Name: "explain", Usage: "also print the child program"},
		},
		OnUsageError: func(c *cli.Context, err error, isSub bool) error {
			return &exitError{2, err}
		},
		Action: cloneAction,
	})
}

// compareValue collects every --compare as given: urfave's string slice
// would split "vm,fs,files" on its commas.
type compareValue struct{ values []string }

func (v *compareValue) Set(s string) error { v.values = append(v.values, s); return nil }
func (v *compareValue) String() string     { return strings.Join(v.values, " ") }

func cloneAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageError("clone: unexpected argument %q: give the flags with --flags LIST or --compare LIST", c.Args().First())
	}
	cmp := c.Generic("compare").(*compareValue).values
	switch {
	case c.IsSet("flags") && len(cmp) > 0:
		return usageError("clone: --flags and --compare exclude each other: one probe, or a comparison")
	case len(cmp) > 0:
		if c.Bool("explain") {
			return usageError("clone: --explain goes with --flags: a comparison runs several programs")
		}
		cols, err := probe.ParseColumns(cmp)
		if err != nil {
			return usageError("clone: --compare %w", err)
		}
		cmpr, err := probe.Compare(cols)
		if err != nil {
			return cloneError(err)
		}
		if c.Bool("json") {
			return writeJSON(cmpr)
		}
		return probe.WriteComparison(os.Stdout, cmpr)
	case !c.IsSet("flags"):
		return usageError("clone: give --flags LIST (vm,fs,files or a preset: %s) or --compare LIST", strings.Join(clonecore.PresetNames(), ", "))
	}
	f, err := clonecore.ParseFlags(c.String("flags"))
	if err != nil {
		return usageError("clone: --flags: %w", err)
	}
	if err := probe.Check(f); err != nil {
		return usageError("clone: --flags %s: %w", c.String("flags"), err)
	}
	r, err := probe.Run(f)
	if err != nil {
		return cloneError(err)
	}
	if c.Bool("json") {
		return writeJSON(r)
	}
	return probe.WriteReport(os.Stdout, r, c.Bool("explain"))
}

// cloneError is a probe that could not run: a refusal Check did not
// foresee is still bad input; anything else (EPERM, a failing step) is not.
func cloneError(err error) error {
	if errors.Is(err, clonecore.ErrInvalidFlags) {
		return usageError("clone: %w", err)
	}
	return err
}

func writeJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
