package main

import (
	"errors"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/specs"
)

func init() {
	register(&cli.Command{
		Name:      "spec",
		Usage:     "write a default config.json (runtime-spec " + specVersion + ") into a bundle",
		UsageText: "minirun spec [--rootless] [--host-root] [--bundle DIR] [-- CMD ARG…]",
		Description: `Writes DIR/config.json (DIR is the current folder unless --bundle says
otherwise): sh on a terminal, as root, in the folder rootfs next to the
config, with new pid, network, ipc, uts, mount and cgroup namespaces, the
usual /proc, /dev and /sys mounts, three capabilities (CAP_AUDIT_WRITE,
CAP_KILL, CAP_NET_BIND_SERVICE) and no new privileges: what runc spec
writes, for minirun.

--rootless: for an unprivileged user. A user namespace maps your uid and
gid to 0, there is no network namespace, the host's /sys is bound
read-only and there is no cgroup mount.

--host-root: a container that needs no image. rootfs is created empty, and
the host's /usr, /bin, /sbin, /lib, /lib64 and the /etc files a shell needs
(passwd, group, hosts, resolv.conf, nsswitch.conf, ld.so.cache) are bound
into it read-only. "minirun spec --host-root && minirun run config.json"
gives a shell.

-- CMD ARG…: run that instead of an interactive sh, without a terminal:
"minirun spec --host-root -- hostname" then "minirun run config.json".

An existing config.json is never overwritten. Exit status: 0 when written;
2 for bad input (config.json exists, DIR missing), with nothing written.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "rootless", Usage: "a config an unprivileged user can run"},
			&cli.BoolFlag{Name: "host-root", Usage: "bind the host's programs and libraries into an empty rootfs (no image needed)"},
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "folder to write config.json into"},
		},
		OnUsageError: func(c *cli.Context, err error, isSub bool) error {
			return &exitError{2, err}
		},
		Action: specAction,
	})
}

func specAction(c *cli.Context) error {
	if c.Args().Present() && !dashDash(c) {
		return usageError("spec: unexpected argument %q: the folder is given with --bundle DIR, a command after --", c.Args().First())
	}
	opts := specs.GenerateOptions{
		Args:     c.Args().Slice(),
		Rootless: c.Bool("rootless"),
		HostRoot: c.Bool("host-root"),
		UID:      uint32(os.Getuid()),
		GID:      uint32(os.Getgid()),
	}
	_, err := specs.WriteConfig(c.String("bundle"), opts)
	if errors.Is(err, specs.ErrConfigExists) || errors.Is(err, specs.ErrNoBundle) {
		return &exitError{2, err}
	}
	return err
}

// dashDash reports whether the arguments came after "--", where a command
// for the container is expected.
func dashDash(c *cli.Context) bool {
	args := cliArgs
	for i, a := range args {
		if a == "--" {
			return len(args)-i-1 == c.NArg()
		}
	}
	return false
}
