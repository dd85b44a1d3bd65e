package main

import "github.com/urfave/cli/v2"

func init() {
	register(&cli.Command{
		Name:      "start",
		Usage:     "start a created container's program",
		ArgsUsage: "ID",
		Description: `Runs the startContainer hooks in the container, lets its waiting process
exec its program (runtime-spec start), then runs the poststart hooks. A
container that is not created is refused and left as it is.`,
		Action: func(c *cli.Context) error {
			id, err := containerID(c)
			if err != nil {
				return err
			}
			return runtime(c).Start(id)
		},
	})
}
