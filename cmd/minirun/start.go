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
			rt := runtime(c)
			// start clones a task into the container's namespaces only
			// for its startContainer hooks: only then must it run from a
			// binary the container cannot write.
			if r, err := rt.Dir.Read(id); err == nil && r.Config != nil && r.Config.Hooks != nil && len(r.Config.Hooks.StartContainer) > 0 {
				if err := protect(); err != nil {
					return err
				}
			}
			return rt.Start(id)
		},
	})
}
