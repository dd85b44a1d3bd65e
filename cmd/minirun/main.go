// Command minirun is a container runtime and task lab: it runs OCI
// containers and starts threads and probe tasks through one clone core.
//
// main.go builds the urfave/cli App from the commands the other files of
// this folder register, and prints a failure once, prefixed "minirun:".
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/internal/boot"
	"github.com/minirun/minirun/internal/selfexe"
	"github.com/minirun/minirun/specs"
)

// Set at link time by the Makefile.
var (
	version = "0.1.0-dev"
	commit  = "unknown"
)

// specVersion is the runtime-spec version minirun implements.
const specVersion = "1.3.0"

var commands []*cli.Command

// register adds a command to the App; each command's file calls it from init.
func register(c *cli.Command) { commands = append(commands, c) }

// exitError carries an exit status other than 1 (2 for bad input).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad input: exit status 2, nothing started.
func usageError(format string, a ...any) error {
	return &exitError{2, fmt.Errorf(format, a...)}
}

// exitStatus is a status to exit with, without a message (a container's own).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	app := &cli.App{
		Name:                 "minirun",
		Usage:                "a container runtime and task lab built on one clone core",
		Version:              version,
		Commands:             commands,
		Flags:                globalFlags,
		Before:               setupGlobals,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		ExitErrHandler:       func(*cli.Context, error) {}, // main prints errors once
		OnUsageError: func(c *cli.Context, err error, isSub bool) error {
			return &exitError{2, err}
		},
	}
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintf(c.App.Writer, "minirun version %s\ncommit: %s\nspec: %s\n", version, commit, specVersion)
	}
	return app
}

func main() {
	boot.MarkMain() // for run --trace
	os.Exit(run(os.Args))
}

// protect makes sure a command that starts a task in a container's
// namespaces — run, create, exec, and start when it runs startContainer
// hooks — does not run from a binary the container could write (package
// selfexe): it may re-execute minirun, so it is called before the command
// changes anything, and only where it is needed (a second start of the Go
// runtime is most of what it costs).
func protect() error {
	if err := selfexe.Ensure(); err != nil {
		return err
	}
	return nil
}

// cliArgs are the arguments run was given, for commands that must know
// where "--" stood (urfave/cli drops it).
var cliArgs []string

// caught is the catch of the forwarded signals for run, create and exec,
// started as minirun starts, while its command line is parsed, and never
// undone, since minirun exits once they return (container.Signals); nil
// for the other commands.
var caught *container.Signals

func run(args []string) int {
	cliArgs = args
	// run, create and exec catch the forwarded signals, and run and create
	// validate a config: the catch and the tables validating takes are
	// made on the other CPU while the command line is parsed (0.4 and
	// 0.2-0.3 ms of a start otherwise). An argument that only looks like
	// the command costs a goroutine.
	for _, a := range args[1:] {
		if a == "run" || a == "create" || a == "exec" {
			caught = container.CatchSignals()
			if a != "exec" {
				go specs.Warm()
			}
			break
		}
	}
	err := newApp().Run(args)
	if err == nil {
		return 0
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	// One line per error, each prefixed: a spec with three mistakes gets
	// three "minirun: spec.json: …" lines. With --log they go there too.
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(os.Stderr, "minirun: %s\n", line)
		logLine("error", line)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
