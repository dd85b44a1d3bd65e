package main

import "github.com/urfave/cli/v2"

func init() {
	register(&cli.Command{
		Name:      "pause",
		Usage:     "freeze every process of a container",
		ArgsUsage: "ID",
		Description: `Freezes the container's cgroup (v1 freezer.state, or cgroup2
cgroup.freeze): its processes stop where they are until resume. state then
says "paused".`,
		Action: func(c *cli.Context) error {
			id, err := containerID(c)
			if err != nil {
				return err
			}
			return runtime(c).Pause(id)
		},
	})
	register(&cli.Command{
		Name:      "resume",
		Usage:     "thaw a paused container",
		ArgsUsage: "ID",
		Action: func(c *cli.Context) error {
			id, err := containerID(c)
			if err != nil {
				return err
			}
			return runtime(c).Resume(id)
		},
	})
}
