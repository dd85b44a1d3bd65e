package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:      "ps",
		Usage:     "list the processes of a container",
		ArgsUsage: "ID",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json (an array of host pids)"},
		},
		Action: func(c *cli.Context) error {
			id, err := containerID(c)
			if err != nil {
				return err
			}
			pids, err := runtime(c).Processes(id)
			if err != nil {
				return err
			}
			w := c.App.Writer
			switch f := c.String("format"); f {
			case "json":
				if pids == nil {
					pids = []int{}
				}
				out, err := json.Marshal(pids)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s\n", out)
			case "table":
				tw := tabwriter.NewWriter(w, 6, 1, 2, ' ', 0)
				fmt.Fprintln(tw, "PID\tCMD")
				for _, p := range pids {
					fmt.Fprintf(tw, "%d\t%s\n", p, cmdline(p))
				}
				return tw.Flush()
			default:
				return usageError("ps: --format %q: want table or json", f)
			}
			return nil
		},
	})
}

// cmdline is a process's command line as ps shows it.
func cmdline(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(data) == 0 {
		return "?"
	}
	return strings.ReplaceAll(strings.TrimRight(string(data), "\x00"), "\x00", " ")
}
