package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list the containers under the state folder",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only the IDs"},
		},
		Action: func(c *cli.Context) error {
			list, err := runtime(c).List()
			if err != nil {
				return err
			}
			w := c.App.Writer
			switch f := c.String("format"); {
			case c.Bool("quiet"):
				for _, st := range list {
					fmt.Fprintln(w, st.ID)
				}
			case f == "json":
				out, err := json.Marshal(list)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s\n", out)
			case f == "table":
				tw := tabwriter.NewWriter(w, 8, 1, 3, ' ', 0)
				fmt.Fprintln(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
				for _, st := range list {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle, st.Created.Format(time.RFC3339Nano), st.Owner)
				}
				return tw.Flush()
			default:
				return usageError("list: --format %q: want table or json", f)
			}
			return nil
		},
	})
}
