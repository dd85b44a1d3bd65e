package main

import (
	"encoding/json"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/container"
)

func init() {
	register(&cli.Command{
		Name:  "features",
		Usage: "print what minirun applies, as runtime-spec's features JSON",
		Description: `Prints the OCI versions, hooks, mount options, namespaces,
capabilities, cgroup kinds, seccomp actions and the rest that minirun
applies (runtime-spec, "Features Structure"), for clients that ask before they send
a config.`,
		Action: func(c *cli.Context) error {
			out, err := json.MarshalIndent(container.Features(), "", "  ")
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(append(out, '\n'))
			return err
		},
	})
}
