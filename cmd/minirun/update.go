package main

import (
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:      "update",
		Usage:     "change the resource limits of a running container",
		ArgsUsage: "ID",
		Description: `Applies linux.resources to the container's cgroup: --resources FILE (a
runtime-spec linux.resources object; - reads it from stdin), then the flags,
which override the file's fields. Fields neither gives stay as they are.
Memory sizes take a k, m or g suffix (512m).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "a linux.resources JSON file, or - for stdin"},
			&cli.StringFlag{Name: "memory", Usage: "memory limit"},
			&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
			&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit (-1: unlimited)"},
			&cli.StringFlag{Name: "kernel-memory-tcp", Usage: "kernel TCP buffer limit"},
			&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of tasks"},
			&cli.StringFlag{Name: "cpu-shares", Aliases: []string{"cpu-share"}, Usage: "relative CPU weight"},
			&cli.StringFlag{Name: "cpu-quota", Usage: "CPU time in µs per period (-1: unlimited)"},
			&cli.StringFlag{Name: "cpu-period", Usage: "the CFS period in µs"},
			&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "realtime runtime in µs per period"},
			&cli.StringFlag{Name: "cpu-rt-period", Usage: "realtime period in µs"},
			&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on (0-3,5)"},
			&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to allocate from"},
			&cli.StringFlag{Name: "blkio-weight", Usage: "block I/O weight (10 to 1000)"},
		},
		Action: updateAction,
	})
}

func updateAction(c *cli.Context) error {
	id, err := containerID(c)
	if err != nil {
		return err
	}
	r, err := updateResources(c)
	if err != nil {
		return err
	}
	return runtime(c).Update(id, r)
}

// updateResources reads --resources and lays the flags over it.
func updateResources(c *cli.Context) (*rspec.LinuxResources, error) {
	r := &rspec.LinuxResources{}
	if f := c.String("resources"); f != "" {
		var data []byte
		var err error
		if f == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, usageError("update: --resources: %v", err)
		}
		if err := json.Unmarshal(data, r); err != nil {
			return nil, usageError("update: --resources %s: %v", f, err)
		}
	}
	mem := func() *rspec.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &rspec.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *rspec.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &rspec.LinuxCPU{}
		}
		return r.CPU
	}
	for _, f := range []struct {
		name string
		size bool // a byte count, with k, m or g
		set  func(int64)
	}{
		{"memory", true, func(v int64) { mem().Limit = &v }},
		{"memory-reservation", true, func(v int64) { mem().Reservation = &v }},
		{"memory-swap", true, func(v int64) { mem().Swap = &v }},
		{"kernel-memory-tcp", true, func(v int64) { mem().KernelTCP = &v }},
		{"pids-limit", false, func(v int64) { r.Pids = &rspec.LinuxPids{Limit: &v} }},
		{"cpu-shares", false, func(v int64) { u := uint64(v); cpu().Shares = &u }},
		{"cpu-quota", false, func(v int64) { cpu().Quota = &v }},
		{"cpu-period", false, func(v int64) { u := uint64(v); cpu().Period = &u }},
		{"cpu-rt-runtime", false, func(v int64) { cpu().RealtimeRuntime = &v }},
		{"cpu-rt-period", false, func(v int64) { u := uint64(v); cpu().RealtimePeriod = &u }},
		{"blkio-weight", false, func(v int64) {
			w := uint16(v)
			if r.BlockIO == nil {
				r.BlockIO = &rspec.LinuxBlockIO{}
			}
			r.BlockIO.Weight = &w
		}},
	} {
		s := c.String(f.name)
		if s == "" {
			continue
		}
		v, err := parseSize(s, f.size)
		if err != nil {
			return nil, usageError("update: --%s %q: %v", f.name, s, err)
		}
		if v < -1 || (!f.size && f.name != "cpu-quota" && f.name != "pids-limit" && v < 0) {
			return nil, usageError("update: --%s %q: out of range", f.name, s)
		}
		if f.name == "blkio-weight" && (v < 10 || v > 1000) {
			return nil, usageError("update: --blkio-weight %q: out of range 10 to 1000", s)
		}
		f.set(v)
	}
	if s := c.String("cpuset-cpus"); s != "" {
		cpu().Cpus = s
	}
	if s := c.String("cpuset-mems"); s != "" {
		cpu().Mems = s
	}
	return r, nil
}

// parseSize reads a number, and with size a k, m or g suffix (powers of
// 1024, as runc's flags take them).
func parseSize(s string, size bool) (int64, error) {
	mult := int64(1)
	if size {
		switch strings.ToLower(s[len(s)-1:]) {
		case "k":
			mult = 1 << 10
		case "m":
			mult = 1 << 20
		case "g":
			mult = 1 << 30
		}
		if mult != 1 {
			s = strings.TrimRight(s[:len(s)-1], "bB")
		} else {
			s = strings.TrimSuffix(strings.TrimSuffix(s, "b"), "B")
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if v > 0 && v > (1<<62)/mult {
		return 0, strconv.ErrRange
	}
	return v * mult, nil
}
