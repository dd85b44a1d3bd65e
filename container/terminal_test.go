package container

import (
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// TestRunTerminal: process.terminal gives the process a pty of the
// container's own devpts as its stdin, stdout and stderr and controlling
// terminal, sized by process.consoleSize; what it writes reaches minirun's
// stdout through the relay, and its exit status comes back. Also after the
// double fork a new time namespace takes, where the pty is taken from the
// grandchild.
func TestRunTerminal(t *testing.T) {
	needRoot(t, "creates mount, PID, network, IPC and UTS namespaces")
	const script = `echo "tty=$(tty)"; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty
echo "sid=$(cut -d' ' -f6 /proc/self/stat) pid=$$"; exit 4`
	for _, withTime := range []bool{false, true} {
		name := "plain"
		if withTime {
			name = "time namespace"
		}
		t.Run(name, func(t *testing.T) {
			tb := busyboxBundle(t, specs.GenerateOptions{}, script)
			tb.Spec.Process.Terminal = true
			tb.Spec.Process.ConsoleSize = &rspec.Box{Height: 24, Width: 80}
			if withTime {
				tb.Spec.Linux.Namespaces = append(tb.Spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.TimeNamespace})
			}
			before := snapshotHost(t)
			code, out, err := runCaptured(t, tb.save(t))
			if err != nil {
				t.Fatalf("Run: got error %v, want none", err)
			}
			out = strings.ReplaceAll(out, "\r\n", "\n") // the pty's ONLCR
			want := "tty=/dev/pts/0\n24 80\nall-tty\nsid=1 pid=1\n"
			if code != 4 || out != want {
				t.Errorf("got exit status %d and output %q, want 4 and %q", code, out, want)
			}
			checkNothingLeft(t, before)
		})
	}
}
