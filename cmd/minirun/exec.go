package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/specs"
)

func init() {
	register(&cli.Command{
		Name:      "exec",
		Usage:     "run a new process inside a running container",
		ArgsUsage: "ID [--process FILE | CMD ARG…]",
		Description: `Starts a process that joins every namespace of container ID and its
cgroups, with the same process options run applies. The process is
--process FILE (a runtime-spec process object), or CMD ARG… with the
container's own process settings changed by the flags below. Attached, minirun
forwards signals and exits with the process's status; --detach returns once
it runs.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "the process, as runtime-spec process JSON"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the process runs"},
			&cli.StringFlag{Name: "pid-file", Usage: "write the process's id to this file"},
			&cli.StringFlag{Name: "console-socket", Usage: "send the pty master of a --tty process to this unix socket"},
			&cli.StringFlag{Name: "pidfd-socket", Usage: "send a pidfd of the process to this unix socket"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the process a pty"},
			&cli.StringFlag{Name: "cwd", Usage: "the process's working folder"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "add NAME=VALUE to the environment"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "UID[:GID] to run as"},
			&cli.IntSliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "supplementary groups"},
			&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability (CAP_NET_ADMIN)"},
			&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs for the process"},
			&cli.IntFlag{Name: "preserve-fds", Usage: "pass fds 3 … 3+N-1 to the process"},
		},
		SkipFlagParsing: false,
		Action:          execAction,
	})
}

func execAction(c *cli.Context) error {
	id, err := containerID(c)
	if err != nil {
		return err
	}
	if err := protect(); err != nil {
		return err
	}
	rt := runtime(c)
	p, err := execProcess(c, rt, id)
	if err != nil {
		return err
	}
	o := container.ExecOptions{
		Signals:       caught,
		Detach:        c.Bool("detach"),
		PidFile:       c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"),
		PidfdSocket:   c.String("pidfd-socket"),
		PreserveFDs:   c.Int("preserve-fds"),
	}
	if o.PreserveFDs < 0 {
		return usageError("--preserve-fds: %d: must not be negative", o.PreserveFDs)
	}
	code, err := rt.Exec(id, p, o)
	if err != nil {
		return badSpec(err)
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

// execProcess is the process exec runs: --process FILE as it is, or the
// container's own process with CMD ARG… and the flags applied.
func execProcess(c *cli.Context, rt *container.Runtime, id string) (*rspec.Process, error) {
	if f := c.String("process"); f != "" {
		if c.NArg() > 1 {
			return nil, usageError("exec: --process and a command: give one")
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, usageError("exec: --process: %v", err)
		}
		var p rspec.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, usageError("exec: --process %s: %v", f, err)
		}
		return &p, nil
	}
	if c.NArg() < 2 {
		return nil, usageError("exec: give the command to run, or --process FILE")
	}
	r, err := rt.Dir.Read(id)
	if err != nil {
		return nil, err
	}
	var p rspec.Process
	if r.Config != nil && r.Config.Process != nil {
		p = *r.Config.Process
	}
	p.Args = c.Args().Slice()[1:]
	p.Terminal = c.Bool("tty")
	p.ConsoleSize = nil
	p.Env = append(append([]string(nil), p.Env...), c.StringSlice("env")...)
	if cwd := c.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	if u := c.String("user"); u != "" {
		uid, gid, hasGID := strings.Cut(u, ":")
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, usageError("exec: --user %q: want UID[:GID] as numbers", u)
		}
		p.User.UID = uint32(n)
		if hasGID {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, usageError("exec: --user %q: want UID[:GID] as numbers", u)
			}
			p.User.GID = uint32(g)
		}
	}
	if gids := c.IntSlice("additional-gids"); len(gids) > 0 {
		p.User.AdditionalGids = nil
		for _, g := range gids {
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
		}
	}
	if caps := c.StringSlice("cap"); len(caps) > 0 {
		var cp rspec.LinuxCapabilities
		if p.Capabilities != nil {
			cp = *p.Capabilities
		}
		for _, name := range caps {
			if _, ok := specs.CapabilityByName(name); !ok {
				return nil, usageError("exec: --cap %q: unknown capability", name)
			}
			cp.Bounding = append(append([]string(nil), cp.Bounding...), name)
			cp.Effective = append(append([]string(nil), cp.Effective...), name)
			cp.Permitted = append(append([]string(nil), cp.Permitted...), name)
		}
		p.Capabilities = &cp
	}
	if c.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	return &p, nil
}
