package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestThreadsBadInput(t *testing.T) {
	threadsMax, err := os.ReadFile("/proc/sys/kernel/threads-max")
	if err != nil {
		t.Fatal(err)
	}
	max, _ := strconv.Atoi(strings.TrimSpace(string(threadsMax)))
	tests := []struct {
		name string
		args []string
		want string // the whole of stderr, less the trailing newline; "…" ends a prefix
	}{
		{"no count", nil, "minirun: --count: missing: give the number of workers (at least 1)"},
		{"count zero", []string{"--count", "0"}, "minirun: --count: 0: must be at least 1"},
		{"count negative", []string{"--count", "-3"}, "minirun: --count: -3: must be at least 1"},
		{"count not a number", []string{"--count", "four"}, "minirun: --count: four: not a whole number"},
		{"count fraction", []string{"--count", "2.5"}, "minirun: --count: 2.5: not a whole number"},
		{"count huge", []string{"--count", "99999999999999999999"}, "minirun: --count: 99999999999999999999: too large"},
		{"count above threads-max", []string{"--count", strconv.Itoa(max + 1)},
			fmt.Sprintf("minirun: --count: %d: above the kernel's limit of %d tasks (/proc/sys/kernel/threads-max)", max+1, max)},
		{"stack too small", []string{"--count", "2", "--stack-size", "8K"}, "minirun: --stack-size: 8KiB: below the minimum of 16KiB: …"},
		{"stack zero", []string{"--count", "2", "--stack-size", "0"}, "minirun: --stack-size: 0: below the minimum of 16KiB"},
		{"stack unparsable", []string{"--count", "2", "--stack-size", "64X"}, "minirun: --stack-size: 64X: not a size: give bytes, or a number with K, KiB, M, MiB, G or GiB (64K = 65536)"},
		{"stack negative", []string{"--count", "2", "--stack-size", "-64K"}, "minirun: --stack-size: -64K: a size cannot be negative"},
		{"stack too large", []string{"--count", "2", "--stack-size", "2GiB"}, "minirun: --stack-size: 2GiB: above the maximum of 1GiB for one worker"},
		{"unknown flag name", []string{"--count", "2", "--flags", "vm,bogus"}, `minirun: --flags: unknown clone flag "bogus": valid names are …`},
		{"no vm", []string{"--count", "2", "--flags", "fork"}, "minirun: --flags: CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID: a worker needs CLONE_VM: …"},
		{"no settls", []string{"--count", "2", "--flags", "vm,child_cleartid"}, "minirun: --flags: CLONE_VM|CLONE_CHILD_CLEARTID: a worker needs CLONE_SETTLS: …"},
		{"thread without sighand", []string{"--count", "2", "--flags", "vm,clone_thread,settls,child_cleartid"}, "minirun: --flags: CLONE_VM|CLONE_THREAD|CLONE_SETTLS|CLONE_CHILD_CLEARTID: CLONE_THREAD requires CLONE_SIGHAND: …"},
		{"thread in new pid namespace", []string{"--count", "2", "--flags", "thread,newpid"}, "minirun: --flags: " + "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID|CLONE_NEWPID: CLONE_NEWPID cannot be combined with CLONE_THREAD: …"},
		{"vfork", []string{"--count", "2", "--flags", "vm,vfork,settls,child_cleartid"}, "minirun: --flags: CLONE_VM|CLONE_VFORK|CLONE_SETTLS|CLONE_CHILD_CLEARTID: a worker cannot be a vfork child: …"},
		{"parent", []string{"--count", "2", "--flags", "vm,parent,settls,child_cleartid"}, "minirun: --flags: CLONE_VM|CLONE_PARENT|CLONE_SETTLS|CLONE_CHILD_CLEARTID: a worker started with CLONE_PARENT would be a child of minirun's parent, which minirun cannot reap"},
		{"work negative", []string{"--count", "2", "--work", "-1"}, "minirun: --work: -1: cannot be negative"},
		{"work not a number", []string{"--count", "2", "--work", "lots"}, "minirun: --work: lots: not a whole number"},
		{"work overflows", []string{"--count", "4", "--work", "9223372036854775808"}, "minirun: --work: 9223372036854775808: 4 workers × 9223372036854775808 increments overflow the 64-bit counter"},
		{"extra argument", []string{"--count", "2", "now"}, `minirun: threads: unexpected argument "now": every setting is a flag (--count N …); the experiments are race, crash, exit, parallel, futex`},
		{"unknown option", []string{"--count", "2", "--colour"}, "minirun: flag provided but not defined: -colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runMinirun(t, append([]string{"threads"}, tt.args...)...)
			if code != 2 {
				t.Errorf("exit status: got %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout: got %q, want nothing", stdout)
			}
			got := strings.TrimSuffix(stderr, "\n")
			if strings.Contains(got, "\n") {
				t.Errorf("stderr: got %d lines, want one:\n%s", strings.Count(stderr, "\n"), stderr)
			}
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok {
				if !strings.HasPrefix(got, prefix) {
					t.Errorf("stderr: got %q, want it to start with %q", got, prefix)
				}
			} else if got != tt.want {
				t.Errorf("stderr: got %q, want %q", got, tt.want)
			}
		})
	}
}

// threadsJSON is the part of the JSON report the CLI tests read.
type threadsJSON struct {
	PID             int    `json:"pid"`
	NSpid           []int  `json:"nspid"`
	Flags           string `json:"flags"`
	ThreadGroup     bool   `json:"thread_group"`
	Counter         uint64 `json:"counter"`
	CounterExpected uint64 `json:"counter_expected"`
	OK              bool   `json:"ok"`
	Workers         []struct {
		Index    int    `json:"index"`
		TID      int    `json:"tid"`
		TGID     int    `json:"tgid"`
		NSpid    []int  `json:"nspid"`
		TLSValue string `json:"tls_value"`
		StackLo  string `json:"stack_lo"`
		StackHi  string `json:"stack_hi"`
	} `json:"workers"`
	Checks []struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
	} `json:"checks"`
}

func parseThreadsJSON(t *testing.T, stdout string) threadsJSON {
	t.Helper()
	var r threadsJSON
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	var raw map[string]any
	json.Unmarshal([]byte(stdout), &raw)
	for _, k := range []string{"pid", "flags", "workers", "counter", "counter_expected", "ok"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("--json: no field %q", k)
		}
	}
	return r
}

func TestThreadsJSON(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		thread bool
	}{
		{"thread preset", nil, true},
		{"own thread groups", []string{"--flags", "vm,fs,files,sighand,settls,child_cleartid"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"threads", "--count", "5", "--work", "300", "--stack-size", "32KiB", "--json"}, tt.args...)
			stdout, stderr, code := runMinirun(t, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit status %d, stderr %q: want 0 and nothing", code, stderr)
			}
			r := parseThreadsJSON(t, stdout)
			if !r.OK || r.Counter != 1500 || r.CounterExpected != 1500 {
				t.Errorf("ok %v, counter %d (expected %d): want true, 1500, 1500", r.OK, r.Counter, r.CounterExpected)
			}
			if r.ThreadGroup != tt.thread {
				t.Errorf("thread_group: got %v, want %v", r.ThreadGroup, tt.thread)
			}
			if len(r.Workers) != 5 || len(r.Checks) != 8 {
				t.Fatalf("workers %d, checks %d: want 5 and 8", len(r.Workers), len(r.Checks))
			}
			for i, w := range r.Workers {
				want := r.PID
				if !tt.thread {
					want = w.TID
				}
				if w.Index != i || w.TGID != want {
					t.Errorf("worker %d: index %d tgid %d, want %d and %d", i, w.Index, w.TGID, i, want)
				}
				lo, err1 := strconv.ParseUint(strings.TrimPrefix(w.StackLo, "0x"), 16, 64)
				hi, err2 := strconv.ParseUint(strings.TrimPrefix(w.StackHi, "0x"), 16, 64)
				if err1 != nil || err2 != nil || hi-lo < 32<<10 {
					t.Errorf("worker %d: stack %s-%s: want at least 32KiB", i, w.StackLo, w.StackHi)
				}
				if !strings.HasPrefix(w.TLSValue, "0x") {
					t.Errorf("worker %d: tls_value %q: want 0x…", i, w.TLSValue)
				}
			}
		})
	}
}

func TestThreadsText(t *testing.T) {
	stdout, stderr, code := runMinirun(t, "threads", "--count", "4", "--work", "1000")
	if code != 0 || stderr != "" {
		t.Fatalf("exit status %d, stderr %q: want 0 and nothing", code, stderr)
	}
	for _, want := range []string{"minirun threads: 4 workers started from pid ", "PASS  counter   4000 = 4 workers × 1000", "create+join", "all 8 checks passed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report: want %q in\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "FAIL") {
		t.Errorf("report: got a FAIL in\n%s", stdout)
	}
}

// TestThreadsInPIDNamespace runs the lab in a new PID namespace whose /proc
// is still the outer one: minirun is pid 1 there, and the report shows each
// task's outer and inner ids (NSpid).
func TestThreadsInPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unshare --pid")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) from util-linux: " + err.Error())
	}
	for _, flags := range []string{"thread", "vm,fs,files,sighand,settls,child_cleartid"} {
		t.Run(flags, func(t *testing.T) {
			cmd := exec.Command(unshare, "--pid", "--fork", minirunBin, "threads", "--count", "3", "--flags", flags, "--json")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
			r := parseThreadsJSON(t, string(out))
			if !r.OK {
				t.Errorf("ok: got false, want true: %+v", r.Checks)
			}
			if r.PID != 1 || len(r.NSpid) != 2 || r.NSpid[1] != 1 {
				t.Errorf("pid %d, nspid %v: want 1 and [outer 1]", r.PID, r.NSpid)
			}
			for _, w := range r.Workers {
				if len(w.NSpid) != 2 || w.NSpid[1] != w.TID || w.NSpid[0] == w.TID {
					t.Errorf("worker %d: tid %d, nspid %v: want [outer %d]", w.Index, w.TID, w.NSpid, w.TID)
				}
			}
			var text strings.Builder
			cmd = exec.Command(unshare, "--pid", "--fork", minirunBin, "threads", "--count", "2", "--flags", flags)
			cmd.Stdout = &text
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v: %v", cmd.Args, err)
			}
			if !strings.Contains(text.String(), "started from pid 1 (NSpid ") || !strings.Contains(text.String(), "NSpid") {
				t.Errorf("text report: want minirun's and the workers' NSpid in\n%s", text.String())
			}
		})
	}
}

func TestThreadsHelpSaysExitStatus(t *testing.T) {
	stdout, _, code := runMinirun(t, "threads", "--help")
	if code != 0 {
		t.Fatalf("exit status: got %d, want 0", code)
	}
	for _, want := range []string{"--count", "--flags", "--stack-size", "--work", "--json", "1 when a check fails"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help: want %q in\n%s", want, stdout)
		}
	}
}
