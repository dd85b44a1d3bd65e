package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// experimentJSON is the part of every experiment's --json report the CLI
// tests read.
type experimentJSON struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name         string `json:"name"`
		OK           bool   `json:"ok"`
		Inconclusive bool   `json:"inconclusive"`
		Detail       string `json:"detail"`
	} `json:"checks"`
}

// TestExperiments runs each experiment through the command line, small, and
// wants exit status 0, a JSON report whose checks are the experiment's, and
// the same checks in the text report.
func TestExperiments(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		checks []string
	}{
		{"race", []string{"--count", "2", "--work", "300000", "--runs", "2"}, []string{"locked", "racy", "parallel"}},
		{"crash", []string{"--count", "2"}, []string{"thread/fault", "process/fault", "thread/overflow", "process/overflow"}},
		{"exit", nil, []string{"thread/exit", "process/exit", "thread/exit_group", "process/exit_group"}},
		{"parallel", []string{"--count", "1,2", "--work", "20000", "--window", "300ms"}, []string{"parallel", "per-thread", "fair", "nice", "idle"}},
		{"futex", []string{"--count", "2", "--work", "100000"}, []string{"exclusive", "fast-path", "slow-path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"threads", tt.name}, tt.args...)
			stdout, stderr, code := runMinirun(t, append(args, "--json")...)
			if code != 0 || stderr != "" {
				t.Fatalf("%v: exit status %d, stderr %q: want 0 and nothing\n%s", args, code, stderr, stdout)
			}
			var r experimentJSON
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("--json: %v\n%s", err, stdout)
			}
			var names []string
			for _, c := range r.Checks {
				names = append(names, c.Name)
				if !c.OK {
					t.Errorf("check %s: FAIL %s", c.Name, c.Detail)
				}
			}
			if got, want := strings.Join(names, ","), strings.Join(tt.checks, ","); got != want {
				t.Errorf("checks: got %s, want %s", got, want)
			}
			if !r.OK {
				t.Errorf("ok: got false")
			}
			stdout, stderr, code = runMinirun(t, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("%v: exit status %d, stderr %q: want 0 and nothing", args, code, stderr)
			}
			for _, name := range tt.checks {
				if !strings.Contains(stdout, "  "+name+" ") {
					t.Errorf("text report: no check %s in\n%s", name, stdout)
				}
			}
			if !strings.Contains(stdout, "checks passed") && !strings.Contains(stdout, "no check failed") {
				t.Errorf("text report: no summary in\n%s", stdout)
			}
		})
	}
}

func TestExperimentsBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"race", "--count", "1"}, "minirun: --count: 1: a race needs at least 2 workers"},
		{[]string{"race", "--count", "two"}, "minirun: --count: two: not a whole number"},
		{[]string{"race", "--count", "0"}, "minirun: --count: 0: must be at least 1"},
		{[]string{"race", "--work", "-5"}, "minirun: --work: -5: cannot be negative"},
		{[]string{"race", "--work", "0"}, "minirun: --work: 0: must be at least 1"},
		{[]string{"race", "--work", "99999999999"}, "minirun: --work: 99999999999: at most 4294967296 increments a worker"},
		{[]string{"race", "--runs", "1000"}, "minirun: --runs: 1000: must be 1 to 100"},
		{[]string{"race", "now"}, `minirun: threads race: unexpected argument "now": every setting is a flag`},
		{[]string{"crash", "--count", "1"}, "minirun: --count: 1: must be 2 to 64: one worker acts, the others show what happens to its siblings"},
		{[]string{"exit", "--count", "65"}, "minirun: --count: 65: must be 2 to 64: one worker acts, the others show what happens to its siblings"},
		{[]string{"parallel", "--count", "1,x"}, `minirun: --count: 1,x: "x" is not a whole number`},
		{[]string{"parallel", "--count", "2,0"}, "minirun: --count: 2,0: each count must be at least 1"},
		{[]string{"parallel", "--count", ""}, "minirun: --count: give worker counts, a comma list (1,2,4)"},
		{[]string{"parallel", "--window", "soon"}, "minirun: --window: soon: not a duration (300ms, 1s)"},
		{[]string{"parallel", "--window", "-1s"}, "minirun: --window: -1s: must be positive"},
		{[]string{"parallel", "--window", "2m"}, "minirun: --window: 2m0s: must be 1ms to 1m0s"},
		{[]string{"parallel", "--count", "8", "--work", "4"}, "minirun: --work: 4: less than one unit for each of 8 workers"},
		{[]string{"futex", "--count", "1"}, "minirun: --count: 1: must be 2 to 64: the contended run needs two workers"},
		{[]string{"futex", "--colour"}, "minirun: flag provided but not defined: -colour"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := runMinirun(t, append([]string{"threads"}, tt.args...)...)
			if code != 2 {
				t.Errorf("exit status: got %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing", stdout)
			}
			if got := strings.TrimSuffix(stderr, "\n"); got != tt.want {
				t.Errorf("stderr: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestThreadsSVG draws the picture through the command line.
func TestThreadsSVG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lab.svg")
	stdout, stderr, code := runMinirun(t, "threads", "--count", "3", "--work", "10", "--svg", path)
	if code != 0 || stderr != "" {
		t.Fatalf("exit status %d, stderr %q: want 0 and nothing", code, stderr)
	}
	if !strings.Contains(stdout, "all 8 checks passed") {
		t.Errorf("report: want it printed as without --svg:\n%s", stdout)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		XMLName xml.Name
	}
	if err := xml.Unmarshal(b, &root); err != nil || root.XMLName.Local != "svg" {
		t.Fatalf("%s: got <%s> (%v), want an SVG", path, root.XMLName.Local, err)
	}
	if n := strings.Count(string(b), `class="worker"`); n != 3 {
		t.Errorf("%s: %d worker groups, want 3", path, n)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--svg", ""}, 2, "minirun: --svg: give the file to draw into"},
		{[]string{"--svg", path, "--isolate"}, 2, "minirun: --svg: not with --isolate: the lab runs in a container whose filesystem goes with it"},
		{[]string{"--svg", filepath.Join(dir, "no", "such", "dir.svg")}, 1, "minirun: --svg: open " + filepath.Join(dir, "no", "such", "dir.svg") + ": no such file or directory"},
	} {
		_, stderr, code := runMinirun(t, append([]string{"threads", "--count", "2"}, c.args...)...)
		if code != c.code || strings.TrimSuffix(stderr, "\n") != c.want {
			t.Errorf("%v: exit %d, stderr %q: want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// TestExperimentsOuterProc runs an experiment in a new PID namespace whose
// /proc is still the outer one: it must refuse, not read someone else's
// tasks by its own ids; with a /proc of its own it runs.
func TestExperimentsOuterProc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unshare --pid")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) from util-linux: " + err.Error())
	}
	for _, e := range []string{"race", "crash", "exit", "parallel", "futex"} {
		cmd := exec.Command(unshare, "--pid", "--fork", minirunBin, "threads", e)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "this /proc is an outer PID namespace's") {
			t.Errorf("%s with an outer /proc: got %v\n%s, want exit 1 naming the outer /proc", e, err, out)
		}
	}
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", minirunBin, "threads", "exit", "--json")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	var r experimentJSON
	if err := json.Unmarshal(out, &r); err != nil || !r.OK {
		t.Errorf("exit with a /proc of its own: ok %v (%v)\n%s", r.OK, err, out)
	}
}
