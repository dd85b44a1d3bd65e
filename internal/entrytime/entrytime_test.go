package entrytime

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestConstants(t *testing.T) {
	if sysClockGettime != unix.SYS_CLOCK_GETTIME || clockMonotonic != unix.CLOCK_MONOTONIC {
		t.Errorf("got SYS_clock_gettime %d, CLOCK_MONOTONIC %d; want %d, %d (golang.org/x/sys/unix)",
			sysClockGettime, clockMonotonic, unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC)
	}
}

// TestNow: now reads the clock Go's unix.ClockGettime reads.
func TestNow(t *testing.T) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	a := ts.Nano()
	b := now()
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	c := ts.Nano()
	if b < a || b > c {
		t.Errorf("now: got %d, want between %d and %d", b, a, c)
	}
	if Init() <= 0 || Init() > a {
		t.Errorf("Init: got %d, want in (0, %d]", Init(), a)
	}
	if Entry() != 0 {
		t.Errorf("Entry in a test binary (linked without -E): got %d, want 0", Entry())
	}
}

// TestEntry links a program with -E …entry, as `make build` links
// minirun, and checks its three times are in order: the stub ran first
// and handed over to the runtime.
func TestEntry(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "probe")
	build := exec.Command("go", "build", "-ldflags", "-E github.com/minirun/minirun/internal/entrytime.entry",
		"-o", bin, "./testdata/probe")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	before := now()
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	after := now()
	var got []int64
	for _, f := range strings.Fields(string(out)) {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("probe printed %q", out)
		}
		got = append(got, v)
	}
	if len(got) != 3 || !(before < got[0] && got[0] < got[1] && got[1] < got[2] && got[2] < after) {
		t.Errorf("probe: got entry, init, main = %v; want %d < entry < init < main < %d", got, before, after)
	}
}
