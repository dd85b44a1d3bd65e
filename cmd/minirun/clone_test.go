package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/minirun/minirun/probe"
)

// TestCloneBadInput checks that every kind of bad input to minirun clone
// exits 2 with one error line naming what is wrong, and prints nothing else.
func TestCloneBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string // after "clone"
		want []string // in the error line
	}{
		{"unknown flag", []string{"--flags", "vm,bogus"},
			[]string{`--flags: unknown clone flag "bogus"`, "valid names are", "vm", "newns", "presets are container, fork, thread, vfork"}},
		{"refused combination", []string{"--flags", "newns,fs"},
			[]string{"--flags newns,fs: CLONE_FS|CLONE_NEWNS: CLONE_NEWNS cannot be combined with CLONE_FS"}},
		{"thread without sighand", []string{"--flags", "clone_thread"},
			[]string{"CLONE_THREAD requires CLONE_SIGHAND"}},
		{"detached", []string{"--flags", "detached"},
			[]string{"clone3 refuses CLONE_DETACHED"}},
		{"into_cgroup", []string{"--flags", "into_cgroup"},
			[]string{"CLONE_INTO_CGROUP needs a cgroup2 directory"}},
		{"empty flags", []string{"--flags", ""},
			[]string{"--flags: empty flag list"}},
		{"no flags", nil,
			[]string{"give --flags LIST", "or --compare LIST"}},
		{"both", []string{"--flags", "vm", "--compare", "fork,thread"},
			[]string{"--flags and --compare exclude each other"}},
		{"argument", []string{"vm"},
			[]string{`unexpected argument "vm"`}},
		{"compare unknown", []string{"--compare", "fork;bogus"},
			[]string{`--compare "fork;bogus": column 2 (bogus): unknown clone flag "bogus"`}},
		{"compare refused", []string{"--compare", "fork", "--compare", "vm,sighand,clone_thread,newpid"},
			[]string{"column 2 (vm,sighand,clone_thread,newpid)", "CLONE_NEWPID cannot be combined with CLONE_THREAD"}},
		{"compare explain", []string{"--compare", "fork,thread", "--explain"},
			[]string{"--explain goes with --flags"}},
		{"unknown option", []string{"--flag", "vm"},
			[]string{"flag provided but not defined: -flag"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runMinirun(t, append([]string{"clone"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit status: got %d, want 2 (stderr %q)", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "minirun: ") {
				t.Errorf("stderr: got %q, want a last line starting \"minirun: \"", stderr)
			}
			if n := strings.Count(stderr, "minirun: "); n != 1 {
				t.Errorf("stderr: got %d lines prefixed \"minirun: \", want 1: %q", n, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(last, w) {
					t.Errorf("error: got %q, want it to say %q", last, w)
				}
			}
		})
	}
}

// TestCloneJSON checks that --json prints one object that parses into the
// report, with every resource measured.
func TestCloneJSON(t *testing.T) {
	stdout, stderr, code := runMinirun(t, "clone", "--flags", "vm,fs,files", "--json")
	if code != 0 {
		t.Fatalf("exit status: got %d, want 0 (stderr %q)", code, stderr)
	}
	var r probe.Report
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("parsing the JSON: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Errorf("stdout: more than one JSON value")
	}
	if r.Asked != "CLONE_VM|CLONE_FS|CLONE_FILES" {
		t.Errorf("asked: got %q, want CLONE_VM|CLONE_FS|CLONE_FILES", r.Asked)
	}
	want := map[string]bool{probe.KeyVM: true, probe.KeyFS: true, probe.KeyFiles: true, probe.KeySighand: false, probe.KeyThreadGroup: false}
	for key, same := range want {
		res := r.Resource(key)
		if res == nil || res.Same == nil || *res.Same != same {
			t.Errorf("%s: got %+v, want same=%v", key, res, same)
		}
	}
	if len(r.Resources) != len(probe.Keys) || len(r.Namespaces) != 8 || len(r.Program) == 0 {
		t.Errorf("got %d resources, %d namespaces, %d program lines; want %d, 8, some", len(r.Resources), len(r.Namespaces), len(r.Program), len(probe.Keys))
	}
}

// TestCloneCompare checks the comparison table in text and in JSON.
func TestCloneCompare(t *testing.T) {
	stdout, stderr, code := runMinirun(t, "clone", "--compare", "fork,thread")
	if code != 0 {
		t.Fatalf("exit status: got %d, want 0 (stderr %q)", code, stderr)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(stdout, "\n") {
		// Cells are separated by at least three spaces.
		var cells []string
		for _, c := range strings.Split(line, "   ") {
			if c = strings.TrimSpace(c); c != "" {
				cells = append(cells, c)
			}
		}
		if len(cells) == 3 {
			rows[cells[0]] = cells[1:]
		}
	}
	for feature, want := range map[string][2]string{
		"Feature":          {"fork", "thread"},
		"virtual memory":   {"copy-on-write", "shared"},
		"file descriptors": {"copied", "shared"},
		"thread group":     {"new", "same"},
		"used for threads": {"no", "yes"},
		"signal handlers":  {"separate", "shared"},
		"stack":            {"separate", "separate"},
		"scheduler view":   {"identical", "identical"},
	} {
		if got := rows[feature]; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("row %q: got %q, want %q\n%s", feature, got, want, stdout)
		}
	}

	stdout, stderr, code = runMinirun(t, "clone", "--compare", "fork;vm,fs,files", "--json")
	if code != 0 {
		t.Fatalf("--json: exit status: got %d, want 0 (stderr %q)", code, stderr)
	}
	var c probe.Comparison
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("parsing the JSON: %v\n%s", err, stdout)
	}
	if len(c.Columns) != 2 || c.Columns[0].Label != "fork" || c.Columns[1].Label != "vm,fs,files" {
		t.Fatalf("columns: got %+v, want fork and vm,fs,files", c.Columns)
	}
	for _, f := range c.Features {
		if len(f.Cells) != 2 {
			t.Errorf("%s: got %d cells, want 2", f.Feature, len(f.Cells))
			continue
		}
		for _, cell := range f.Cells {
			if cell == "" || cell == "not measured" {
				t.Errorf("%s: got cell %q, want a measured verdict", f.Feature, cell)
			}
		}
	}
}
