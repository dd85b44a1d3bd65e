package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// writeRecorder writes, in dir, an sh script named like the runtime that
// appends one line per call to log (the calling process's name, then each
// argument after a tab) and then execs the runtime with the same
// arguments. It is the one way these tests learn what the clients ask of a
// runtime without touching the call: the script writes its line with a
// redirection of its own printf only, so the runtime gets the very stdio,
// fds and signal dispositions the client gave (sh keeps signals that were
// ignored on entry ignored across exec), and /proc/self/exe is the runtime.
// It keeps the runtime's base name because podman looks at it.
func writeRecorder(dir, runtime, log string) (string, error) {
	for _, p := range []string{runtime, log} {
		if strings.ContainsAny(p, "'\n") {
			return "", fmt.Errorf("%q: a path with a quote or a newline", p)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	log, err := filepath.Abs(log)
	if err != nil {
		return "", err
	}
	script := "#!/bin/sh\n" +
		"# minirun e2e: record the call in one write, then become the runtime.\n" +
		"c=?; read -r c </proc/$PPID/comm 2>/dev/null\n" +
		"l=$c; for a in \"$@\"; do l=\"$l\t$a\"; done\n" +
		"printf '%s\\n' \"$l\" >>'" + log + "' 2>/dev/null\n" +
		"exec '" + runtime + "' \"$@\"\n"
	p := filepath.Join(dir, filepath.Base(runtime))
	return p, os.WriteFile(p, []byte(script), 0o755)
}

// Flags that take a value as the next argument, among the runtime
// command-line flags clients send (global and per command); any other
// flag is a switch.
var valueFlags = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--rootless": true, "--criu": true,
	"--bundle": true, "-b": true, "--pid-file": true, "--console-socket": true,
	"--pidfd-socket": true, "--preserve-fds": true, "--process": true, "-p": true,
	"--cwd": true, "--env": true, "-e": true, "--user": true, "-u": true, "--cap": true,
	"-c": true, "--format": true, "-f": true, "--resources": true, "-r": true,
	"--process-label": true, "--apparmor": true, "--interval": true, "--signal": true,
	"--additional-gids": true, "-g": true, "--cgroup": true,
}

// summariseArgv prints, from the recorder's log, each distinct shape of
// call per client: the global flags, the command and its flags (values
// left out), with how often it came.
func summariseArgv(w io.Writer, log string) error {
	f, err := os.Open(log)
	if err != nil {
		return err
	}
	defer f.Close()
	count := map[string]int{}
	sample := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 1 {
			continue
		}
		shape := fields[0] + ": " + callShape(fields[1:])
		count[shape]++
		if _, ok := sample[shape]; !ok {
			sample[shape] = strings.Join(fields[1:], " ")
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	shapes := make([]string, 0, len(count))
	for s := range count {
		shapes = append(shapes, s)
	}
	sort.Strings(shapes)
	fmt.Fprintf(w, "runtime calls recorded in %s (caller: global flags, command, flags; ×count; one example):\n", log)
	for _, s := range shapes {
		fmt.Fprintf(w, "  %-90s ×%d\n      e.g. %s\n", s, count[s], sample[s])
	}
	return nil
}

// callShape is argv with values dropped: "--root --log --log-format json
// create --bundle --pid-file ID". A --log-format's value and a signal are
// kept: they are part of the contract.
func callShape(args []string) string {
	var out []string
	seenCommand, positional := false, 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "-"):
			name, val, hasVal := strings.Cut(a, "=")
			keep := name == "--log-format" || name == "--format" || name == "-f" || name == "--rootless"
			if !hasVal && valueFlags[name] && i+1 < len(args) {
				i++
				val, hasVal = args[i], true
			}
			if hasVal && keep {
				out = append(out, name+" "+val)
			} else {
				out = append(out, name)
			}
		case !seenCommand:
			seenCommand = true
			out = append(out, a)
		case positional == 0:
			positional++
			out = append(out, "ID")
		default:
			// A signal, or an exec's arguments.
			positional++
			out = append(out, "ARG("+a+")")
		}
	}
	return strings.Join(out, " ")
}
