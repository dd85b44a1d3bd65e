package main

import (
	"encoding/json"

	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:      "state",
		Usage:     "print a container's state as JSON",
		ArgsUsage: "ID",
		Description: `Prints runtime-spec's state of container ID: ociVersion, id, status
(creating, created, running or stopped), pid, bundle and annotations, with
runc's rootfs, created and owner.`,
		Action: func(c *cli.Context) error {
			id, err := containerID(c)
			if err != nil {
				return err
			}
			st, err := runtime(c).State(id)
			if err != nil {
				return err
			}
			out, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(append(out, '\n'))
			return err
		},
	})
}
