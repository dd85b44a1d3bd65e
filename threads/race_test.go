package threads

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// TestRace runs the experiment on this machine's CPUs: the locked kernel
// must count every increment, and with two CPUs the racy one must lose
// some (a run of it that lost nothing shows nothing, so the test fails
// then too, unless the machine gave the workers no time together).
func TestRace(t *testing.T) {
	r, err := Race(RaceConfig{Workers: 2, Increments: 500_000, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	t.Log("\n" + text.String())
	byName := map[string]Check{}
	for _, c := range r.Checks {
		byName[c.Name] = c
	}
	if c := byName["locked"]; !c.OK || c.Inconclusive {
		t.Errorf("locked: got %s %s, want PASS", c.Verdict(), c.Detail)
	}
	lockedRuns, racyRuns := 0, 0
	for _, run := range r.Runs {
		if run.Kernel == "locked" {
			lockedRuns++
			if run.Got != run.Expected || run.Expected != 2*500_000 {
				t.Errorf("locked run %d: got %d of %d, want 1000000 of 1000000", run.Run, run.Got, run.Expected)
			}
		} else {
			racyRuns++
		}
		if len(run.TIDs) != 2 || run.TIDs[0] == run.TIDs[1] {
			t.Errorf("run %d: tids %v, want two distinct", run.Run, run.TIDs)
		}
	}
	if lockedRuns != 2 || racyRuns < 2 {
		t.Errorf("runs: got %d locked and %d racy, want 2 and at least 2", lockedRuns, racyRuns)
	}
	if len(allowedCPUs()) < 2 {
		t.Skipf("one CPU only (%v): the racy kernel's loss is not shown here", allowedCPUs())
	}
	if c := byName["racy"]; c.Verdict() != "PASS" {
		if byName["parallel"].Inconclusive {
			t.Skipf("the machine never ran the two workers at once: %s", byName["parallel"].Detail)
		}
		t.Errorf("racy: got %s %s, want PASS: lost updates", c.Verdict(), c.Detail)
	}
	if !r.OK {
		t.Errorf("ok: got false (%v)", r.Failed())
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back RaceReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != len(r.Runs) || len(back.Checks) != len(r.Checks) || back.OK != r.OK {
		t.Errorf("JSON round trip: got %d runs %d checks ok=%v", len(back.Runs), len(back.Checks), back.OK)
	}
}

// TestRaceChecks breaks a real report's runs and wants the checks to say so.
func TestRaceChecks(t *testing.T) {
	base := RaceReport{Workers: 2, Increments: 10, Pinned: []int{0, 1}, CPUs: []int{0, 1}}
	run := func(k string, got uint64, overlapNs int64) RaceRun {
		return RaceRun{Kernel: k, Increments: 10, Expected: 20, Got: got, Lost: 20 - min(got, 20), OverlapNs: overlapNs, RanOn: []int{0, 1}}
	}
	tests := []struct {
		name         string
		runs         []RaceRun
		racy, locked string // verdicts
		ok           bool
	}{
		{"as it should be", []RaceRun{run("racy", 13, 5), run("locked", 20, 5)}, "PASS", "PASS", true},
		{"locked lost", []RaceRun{run("racy", 13, 5), run("locked", 19, 5)}, "PASS", "FAIL", false},
		{"racy lucky", []RaceRun{run("racy", 20, 5), run("locked", 20, 5)}, "NOTE", "PASS", true},
		{"never together", []RaceRun{run("racy", 20, 0), run("locked", 20, 0)}, "NOTE", "PASS", true},
		{"more than made", []RaceRun{run("racy", 21, 5), run("locked", 20, 5)}, "FAIL", "PASS", false},
		{"locked more than made", []RaceRun{run("racy", 13, 5), run("locked", 21, 5)}, "PASS", "FAIL", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			r.Runs = tt.runs
			r.check()
			got := map[string]string{}
			for _, c := range r.Checks {
				got[c.Name] = c.Verdict()
			}
			if got["racy"] != tt.racy || got["locked"] != tt.locked || r.OK != tt.ok {
				t.Errorf("racy %s locked %s ok %v, want %s %s %v (%+v)", got["racy"], got["locked"], r.OK, tt.racy, tt.locked, tt.ok, r.Checks)
			}
		})
	}
}

func TestRaceConfig(t *testing.T) {
	for _, c := range []struct {
		cfg   RaceConfig
		field string
	}{
		{RaceConfig{Workers: 1}, "count"},
		{RaceConfig{Workers: MaxLabWorkers + 1}, "count"},
		{RaceConfig{Workers: 2, Increments: MaxRaceIncrements + 1}, "work"},
		{RaceConfig{Workers: 2, Runs: -1}, "runs"},
		{RaceConfig{Workers: 2, Runs: MaxRaceRuns + 1}, "runs"},
	} {
		_, err := c.cfg.Check()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field || !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: got %v, want a ConfigError on %s", c.cfg, err, c.field)
		}
	}
	got, err := RaceConfig{}.Check()
	if err != nil || got.Workers < 2 || got.Increments != DefaultRaceIncrements || got.Runs != DefaultRaceRuns || got.MaxIncrements != 16*DefaultRaceIncrements {
		t.Errorf("defaults: got %+v %v", got, err)
	}
}
