package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/specs"
)

// createFlags are the flags create and run share.
func createFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "the bundle folder holding config.json (default: the current folder)"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the container's process id to this file"},
		&cli.StringFlag{Name: "console-socket", Usage: "send the pty master of process.terminal to this unix socket"},
		&cli.StringFlag{Name: "pidfd-socket", Usage: "send a pidfd of the container's process to this unix socket"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "enter the rootfs with MS_MOVE and chroot instead of pivot_root"},
		&cli.BoolFlag{Name: "no-new-keyring", Usage: "keep minirun's session keyring instead of a new one for the container"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass fds 3 … 3+N-1 to the container's process"},
	}
}

func init() {
	register(&cli.Command{
		Name:      "create",
		Usage:     "create a container: everything but its process's program, which waits for start",
		ArgsUsage: "[--bundle DIR] ID",
		Description: `Creates container ID from DIR/config.json (runtime-spec create): its
namespaces, mounts, cgroups and devices are made and the createRuntime and
createContainer hooks have run; its process waits, reading exec.fifo in the
state folder, until "minirun start ID". The pid file is written before
create returns. process.terminal needs --console-socket.

--trace prints on stderr, once create is done, one timeline from minirun's
first instruction to the process waiting for start, as run --trace does
(--json: as JSON; --svg FILE: drawn in SVG too).`,
		Flags:  append(createFlags(), traceFlags("the create and every step of the child")...),
		Action: createAction,
	})
}

// createOptions reads the flags create and run share.
func createOptions(c *cli.Context) (container.Options, error) {
	o := container.Options{
		Signals:       caught,
		PidFile:       c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"),
		PidfdSocket:   c.String("pidfd-socket"),
		NoPivot:       c.Bool("no-pivot"),
		NoNewKeyring:  c.Bool("no-new-keyring"),
		PreserveFDs:   c.Int("preserve-fds"),
	}
	if o.PreserveFDs < 0 {
		return o, usageError("--preserve-fds: %d: must not be negative", o.PreserveFDs)
	}
	return o, nil
}

func bundleDir(c *cli.Context) string {
	if d := c.String("bundle"); d != "" {
		return d
	}
	return "."
}

func createAction(c *cli.Context) error {
	if err := checkTraceFlags(c); err != nil {
		return err
	}
	if err := protect(); err != nil {
		return err
	}
	var tr *container.Trace
	if c.Bool("trace") {
		tr = container.NewTrace()
		defer printTrace(c, tr)
	}
	tr.Mark("parse the options")
	id, err := containerID(c)
	if err != nil {
		return err
	}
	if c.NArg() > 1 {
		return usageError("create: takes one container ID, got %d arguments", c.NArg())
	}
	o, err := createOptions(c)
	if err != nil {
		return err
	}
	o.Trace = tr
	tr.Mark("load the config")
	b, err := specs.LoadBundle(bundleDir(c))
	if err != nil {
		return badSpec(err)
	}
	err = runtime(c).Create(id, b, o)
	var ie *container.InterruptedError
	if errors.As(err, &ie) {
		return &exitError{ie.ExitCode(), err}
	}
	return badSpec(err)
}
