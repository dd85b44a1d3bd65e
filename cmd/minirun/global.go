package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/statedir"
)

// The global flags, given before the command, as clients of runc give them
// (containerd: --root, --log, --log-format json; podman: --root,
// --systemd-cgroup).
var globalFlags = []cli.Flag{
	&cli.StringFlag{Name: "root", Usage: "the state folder (default /run/minirun; $XDG_RUNTIME_DIR/minirun without privilege)"},
	&cli.StringFlag{Name: "log", Usage: "also write errors and warnings to this file"},
	&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text, or json: one {\"level\",\"msg\",\"time\"} object a line"},
	&cli.BoolFlag{Name: "debug", Usage: "log debug messages too"},
	&cli.BoolFlag{Name: "systemd-cgroup", Usage: "refused: minirun manages cgroups itself, through cgroupfs"},
	&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "true, false or auto: whether minirun runs without privilege (auto: asks the kernel)"},
}

// logFile and logJSON are set from --log and --log-format.
var (
	logFile  *os.File
	logJSON  bool
	logDebug bool
)

func setupGlobals(c *cli.Context) error {
	switch f := c.String("log-format"); f {
	case "text", "":
	case "json":
		logJSON = true
	default:
		return usageError("--log-format: %q: want text or json", f)
	}
	if p := c.String("log"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return usageError("--log: %v", err)
		}
		logFile = f
	}
	logDebug = c.Bool("debug")
	if c.Bool("systemd-cgroup") {
		return usageError("--systemd-cgroup: not supported: minirun creates cgroups through cgroupfs; give linux.cgroupsPath as a path")
	}
	switch r := c.String("rootless"); r {
	case "auto", "true", "false", "":
	default:
		return usageError("--rootless: %q: want true, false or auto", r)
	}
	return nil
}

// logLine writes one line to the --log file, if any.
func logLine(level, msg string) {
	if logFile == nil || (level == "debug" && !logDebug) {
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if logJSON {
		line, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
		logFile.Write(append(line, '\n'))
		return
	}
	fmt.Fprintf(logFile, "%s %s %s\n", now, level, msg)
}

// warn reports what the runtime goes on from.
func warn(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintf(os.Stderr, "minirun: warning: %s\n", msg)
	logLine("warning", msg)
}

// debug reports what only --debug shows: in the --log file if there is
// one, else on stderr (as runc's debug output goes).
func debug(format string, a ...any) {
	if !logDebug {
		return
	}
	msg := fmt.Sprintf(format, a...)
	if logFile != nil {
		logLine("debug", msg)
		return
	}
	fmt.Fprintf(os.Stderr, "minirun: debug: %s\n", msg)
}

// runtime is the Runtime the global flags describe.
func runtime(c *cli.Context) *container.Runtime {
	root := c.String("root")
	if root == "" {
		root = statedir.DefaultRoot()
	}
	rootless := os.Geteuid() != 0
	switch c.String("rootless") {
	case "true":
		rootless = true
	case "false":
		rootless = false
	}
	return &container.Runtime{Dir: statedir.Dir{Root: root}, Warn: warn, Debug: debug, Rootless: rootless}
}

// containerID is a command's one argument, the container's ID.
func containerID(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", usageError("%s: missing the container ID", c.Command.Name)
	}
	id := c.Args().First()
	if err := statedir.ValidateID(id); err != nil {
		return "", usageError("%s: %v", c.Command.Name, err)
	}
	return id, nil
}
