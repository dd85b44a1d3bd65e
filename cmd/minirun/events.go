package main

import (
	"encoding/json"
	"os"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
)

func init() {
	register(&cli.Command{
		Name:      "events",
		Usage:     "print a container's cgroup statistics and OOM kills as JSON",
		ArgsUsage: "ID",
		Description: `Prints {"type":"stats","id":ID,"data":{…}} lines in runc's shape: with
--stats once, otherwise every --interval, with {"type":"oom"} lines as the
kernel's OOM killer acts in the container, until the container is gone or
minirun is interrupted.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "stats", Usage: "print the statistics once and exit"},
			&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "how often to print the statistics"},
		},
		Action: func(c *cli.Context) error {
			id, err := containerID(c)
			if err != nil {
				return err
			}
			rt := runtime(c)
			enc := json.NewEncoder(c.App.Writer)
			if c.Bool("stats") {
				st, err := rt.Stats(id)
				if err != nil {
					return err
				}
				return enc.Encode(cgroups.Event{Type: "stats", ID: id, Data: st})
			}
			if c.Duration("interval") <= 0 {
				return usageError("events: --interval %v: must be positive", c.Duration("interval"))
			}
			stop := make(chan struct{})
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
			go func() {
				<-sigs
				close(stop)
			}()
			events, err := rt.Events(id, c.Duration("interval"), stop)
			if err != nil {
				return err
			}
			for e := range events {
				e.ID = id
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			return nil
		},
	})
}
