package main

import (
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

func init() {
	register(&cli.Command{
		Name:      "kill",
		Usage:     "send a signal to a container's process",
		ArgsUsage: "ID [SIGNAL]",
		Description: `Sends SIGNAL (a number, KILL or SIGKILL; default SIGTERM) to the
container's process, through a pidfd opened after checking the pid still
names it. --all signals every process of the container.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"},
		},
		Action: func(c *cli.Context) error {
			id, err := containerID(c)
			if err != nil {
				return err
			}
			sig := unix.SIGTERM
			if c.NArg() > 1 {
				if sig, err = parseSignal(c.Args().Get(1)); err != nil {
					return err
				}
			}
			return runtime(c).Kill(id, sig, c.Bool("all"))
		},
	})
}

// parseSignal reads a signal as a number ("9"), a name ("KILL") or a name
// with its prefix ("SIGKILL"), in any case.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, usageError("kill: signal %d: out of range 1 to 64", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, usageError("kill: %q: not a signal", s)
}
