package main

import "github.com/urfave/cli/v2"

func init() {
	register(&cli.Command{
		Name:      "delete",
		Usage:     "delete a stopped container: its cgroups and state; then run the poststop hooks",
		ArgsUsage: "ID",
		Description: `Removes what create made for container ID. A container that still runs
(or waits for start) is refused unless --force, which kills every process
of it first; --force also cleans up after a create that was killed half-way,
and succeeds for an ID that does not exist.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it runs"},
		},
		Action: func(c *cli.Context) error {
			id, err := containerID(c)
			if err != nil {
				return err
			}
			return runtime(c).Delete(id, c.Bool("force"))
		},
	})
}
