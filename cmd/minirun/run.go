package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/specs"
	"github.com/minirun/minirun/statedir"
)

func init() {
	register(&cli.Command{
		Name:      "run",
		Usage:     "run a container: create and start in one, in the foreground unless --detach",
		ArgsUsage: "SPEC.json | [--bundle DIR] ID",
		Description: `Runs the container described by an OCI runtime-spec config: SPEC.json
(its root.path is relative to the file's folder), or DIR/config.json with
--bundle (default: the current folder) and a container ID, as runc run.
The container's setup is a child program of raw syscalls compiled from the
spec; --explain prints it without running anything.

In the foreground stdio passes through, SIGINT, SIGTERM, SIGHUP, SIGQUIT,
SIGUSR1/2 and SIGWINCH are forwarded, and minirun exits with the
container's status (128+N when signal N killed it); the container is then
deleted. While it runs, "minirun state/exec/kill ID" reach it (a SPEC.json
run gets an ID of the form run-PID-N). --detach returns once its process
runs and leaves it for "minirun delete".

--trace prints, on stderr once the container has ended, one timeline from
minirun's first instruction to the container's process running: minirun's
own phases, and every step of the child program as the child timed it,
with its result, grouped by the spec field behind it. --json prints it as
one JSON object instead; --svg FILE also draws it, as a timeline in SVG.`,
		Flags: append(append(createFlags(), traceFlags("the start, minirun's phases and every step of the child")...),
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the container's process runs"},
			&cli.BoolFlag{Name: "explain", Usage: "print the clone flags and the child program, each step with the spec field behind it, and run nothing"},
		),
		Action: runAction,
	})
}

// loadBundle finds the config a command names, and the container's ID if
// it names one: --bundle DIR [ID], a config file, a bundle folder, or an
// ID with the bundle in the current folder.
func loadBundle(c *cli.Context) (*specs.Bundle, string, error) {
	if dir := c.String("bundle"); dir != "" {
		if c.NArg() > 1 {
			return nil, "", usageError("%s: takes one container ID with --bundle, got %d arguments", c.Command.Name, c.NArg())
		}
		b, err := specs.LoadBundle(dir)
		return b, c.Args().First(), err
	}
	if c.NArg() != 1 {
		return nil, "", usageError("%s: give a config file (SPEC.json), or a container ID with the bundle in --bundle DIR or the current folder", c.Command.Name)
	}
	arg := c.Args().First()
	st, err := os.Stat(arg)
	switch {
	case err == nil && st.IsDir():
		b, err := specs.LoadBundle(arg)
		return b, "", err
	case err == nil:
		b, err := specs.LoadFile(arg)
		return b, "", err
	}
	b, err := specs.LoadBundle(".")
	return b, arg, err
}

func runAction(c *cli.Context) error {
	if err := checkTraceFlags(c); err != nil {
		return err
	}
	if !c.Bool("explain") {
		if err := protect(); err != nil {
			return err
		}
	}
	var tr *container.Trace
	if c.Bool("trace") {
		tr = container.NewTrace()
		defer printTrace(c, tr)
	}
	tr.Mark("parse the options")
	o, err := createOptions(c)
	if err != nil {
		return err
	}
	o.Detach = c.Bool("detach")
	o.Trace = tr
	tr.Mark("load the config")
	b, id, err := loadBundle(c)
	if err != nil {
		return badSpec(err)
	}
	// An ID given, even an empty one, must be valid; only none at all
	// gets a generated one.
	if id != "" || (c.String("bundle") != "" && c.NArg() == 1) {
		if err := statedir.ValidateID(id); err != nil {
			return usageError("run: %v", err)
		}
	}
	if c.Bool("explain") {
		plan, err := container.Compile(b, o)
		if err != nil {
			return badSpec(err)
		}
		defer plan.Free()
		fmt.Fprintf(c.App.Writer, "# %s (%s)\n", filepath.Base(b.Path), b.Dir)
		fmt.Fprint(c.App.Writer, plan.Explain())
		return nil
	}
	code, err := runtime(c).Run(id, b, o)
	var ie *container.InterruptedError
	if errors.As(err, &ie) {
		return &exitError{ie.ExitCode(), err}
	}
	if err != nil {
		return badSpec(err)
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

// traceFlags are --trace, and --json and --svg that go with it, for run
// and create; what says what --trace times.
func traceFlags(what string) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "trace", Usage: "time " + what + ", and print the timeline on stderr"},
		&cli.BoolFlag{Name: "json", Usage: "with --trace: print the timeline as JSON"},
		&cli.StringFlag{Name: "svg", Usage: "with --trace: also draw the timeline in `FILE` (SVG)"},
	}
}

func checkTraceFlags(c *cli.Context) error {
	// By value, not c.IsSet, which costs a regexp run per flag name.
	if !c.Bool("trace") {
		if c.Bool("json") {
			return usageError("%s: --json goes with --trace", c.Command.Name)
		}
		if c.String("svg") != "" {
			return usageError("%s: --svg goes with --trace", c.Command.Name)
		}
	}
	return nil
}

// printTrace writes the timeline of a traced run or create on stderr, and
// draws it in the --svg file.
func printTrace(c *cli.Context, tr *container.Trace) {
	var err error
	if c.Bool("json") {
		err = tr.WriteJSON(c.App.ErrWriter)
	} else {
		err = tr.WriteText(c.App.ErrWriter)
	}
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "minirun: --trace: %v\n", err)
	}
	if path := c.String("svg"); path != "" {
		var b bytes.Buffer
		err := tr.WriteSVG(&b)
		if err == nil {
			err = os.WriteFile(path, b.Bytes(), 0o644)
		}
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "minirun: --svg: %v\n", err)
		}
	}
}

// badSpec gives a config that cannot be read or is invalid exit status 2:
// bad input, nothing was started. Other errors keep status 1.
func badSpec(err error) error {
	if err == nil {
		return nil
	}
	var le *specs.LoadError
	var ve *specs.ValidationError
	if errors.As(err, &le) || errors.As(err, &ve) {
		return &exitError{2, err}
	}
	return err
}
