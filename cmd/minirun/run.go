package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/specs"
)

func init() {
	register(&cli.Command{
		Name:      "run",
		Usage:     "run a container in the foreground",
		ArgsUsage: "SPEC.json | --bundle DIR [ID]",
		Description: `Runs the container described by an OCI runtime-spec config: SPEC.json
(its root.path is relative to the file's folder), or DIR/config.json with
--bundle. The container's setup is a child program of raw syscalls compiled
from the spec; --explain prints it without running anything.

stdio passes through, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 and
SIGWINCH are forwarded, and minirun exits with the container's status
(128+N when signal N killed it).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "the bundle folder holding config.json"},
			&cli.BoolFlag{Name: "explain", Usage: "print the clone flags and the child program, each step with the spec field behind it, and run nothing"},
			&cli.BoolFlag{Name: "no-pivot", Usage: "enter the rootfs with MS_MOVE and chroot instead of pivot_root"},
			&cli.IntFlag{Name: "preserve-fds", Usage: "pass fds 3 … 3+N-1 to the container's process"},
		},
		Action: runAction,
	})
}

// loadBundle finds the config a command names: --bundle DIR, a config file,
// or a bundle folder given as the argument.
func loadBundle(c *cli.Context) (*specs.Bundle, error) {
	if dir := c.String("bundle"); dir != "" {
		if c.NArg() > 1 {
			return nil, usageError("%s: takes one container ID with --bundle, got %d arguments", c.Command.Name, c.NArg())
		}
		return specs.LoadBundle(dir)
	}
	if c.NArg() != 1 {
		return nil, usageError("%s: give a config file (SPEC.json) or --bundle DIR", c.Command.Name)
	}
	arg := c.Args().First()
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		return specs.LoadBundle(arg)
	}
	return specs.LoadFile(arg)
}

func runAction(c *cli.Context) error {
	if n := c.Int("preserve-fds"); n < 0 {
		return usageError("--preserve-fds: %d: must not be negative", n)
	}
	b, err := loadBundle(c)
	if err != nil {
		return badSpec(err)
	}
	o := container.RunOptions{NoPivot: c.Bool("no-pivot"), PreserveFDs: c.Int("preserve-fds")}
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
	code, err := container.Run(b, o)
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

// badSpec gives a config that cannot be read or is invalid exit status 2:
// bad input, nothing was started. Other errors keep status 1.
func badSpec(err error) error {
	var le *specs.LoadError
	var ve *specs.ValidationError
	if errors.As(err, &le) || errors.As(err, &ve) {
		return &exitError{2, err}
	}
	return err
}
