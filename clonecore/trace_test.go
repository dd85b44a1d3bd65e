package clonecore

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFlightRecord runs a traced program that succeeds, tolerates an
// errno, stores, and fails, and checks every entry of its flight record:
// one per step that ran, in order, each starting where the one before
// ended, with its own result.
func TestFlightRecord(t *testing.T) {
	forEachCloneSyscall(t, func(t *testing.T) {
		for _, tc := range trampFlags {
			t.Run(tc.name, func(t *testing.T) {
				a := trampArena(t)
				out := trampAlloc(t, a, 8)
				root, err := a.CString("/")
				if err != nil {
					t.Fatal(err)
				}
				p := NewProgram(a)
				p.Add("a: getpid", "getpid()", unix.SYS_GETPID, nil)
				p.Add("b: mkdir", "mkdirat(AT_FDCWD, /)", unix.SYS_MKDIRAT, []Arg{Imm(unix.AT_FDCWD), Imm(root), Imm(0o755)}, Tolerate(unix.EEXIST))
				p.Add("c: store", "*out = 7", OpStore, []Arg{Imm(out), Imm(7)})
				p.Add("d: fail", "mkdirat(AT_FDCWD, /)", unix.SYS_MKDIRAT, []Arg{Imm(unix.AT_FDCWD), Imm(root), Imm(0o755)})
				p.Add("e: never", "getpid()", unix.SYS_GETPID, nil)
				p.EnableTrace()
				before := Now()
				task, _, jerr := trampRun(t, p, tc.flags)
				after := Now()
				if jerr == nil {
					t.Fatalf("join: got nil, want step d's failure")
				}
				fr := task.FlightRecord()
				if fr == nil {
					t.Fatal("flight record: got nil, want one")
				}
				wantPid := int64(task.TID)
				if tc.flags&THREAD != 0 {
					wantPid = int64(os.Getpid())
				}
				want := []struct {
					label             string
					result            int64
					tolerated, failed bool
				}{
					{"a: getpid", wantPid, false, false},
					{"b: mkdir", -int64(unix.EEXIST), true, false},
					{"c: store", 0, false, false},
					{"d: fail", -int64(unix.EEXIST), false, true},
				}
				if len(fr.Steps) != len(want) {
					t.Fatalf("steps recorded: got %d, want %d (every step that ran, not e)", len(fr.Steps), len(want))
				}
				if fr.Start < before || fr.Start > after {
					t.Errorf("child start: got %d, want between %d and %d", fr.Start, before, after)
				}
				prev := fr.Start
				for i, w := range want {
					s := fr.Steps[i]
					if s.Index != i || s.Label != w.label || s.Result != w.result || s.Tolerated != w.tolerated || s.Failed != w.failed {
						t.Errorf("step %d: got {%d %q result %d tolerated %v failed %v}, want {%d %q result %d tolerated %v failed %v}",
							i, s.Index, s.Label, s.Result, s.Tolerated, s.Failed, i, w.label, w.result, w.tolerated, w.failed)
					}
					if s.Start != prev || s.End < s.Start || s.End > after {
						t.Errorf("step %d: got start %d end %d, want start %d (the step before's end) <= end <= %d", i, s.Start, s.End, prev, after)
					}
					prev = s.End
				}
				if got := fr.Steps[1].Errno(); got != unix.EEXIST {
					t.Errorf("step b: errno: got %v, want EEXIST", got)
				}
			})
		}
	})
}

// TestFlightRecordOff: an untraced program keeps none, and a step that
// does not return is recorded as started, not ended.
func TestFlightRecordOff(t *testing.T) {
	a := trampArena(t)
	p := NewProgram(a)
	p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
	task, _, err := trampRun(t, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fr := task.FlightRecord(); fr != nil {
		t.Errorf("untraced: got a flight record of %d steps, want nil", len(fr.Steps))
	}

	p = NewProgram(a)
	p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
	p.Add("exit", "exit_if(1, 0)", OpExitIf, []Arg{Imm(1), Imm(0)})
	p.Add("never", "getpid()", unix.SYS_GETPID, nil)
	p.EnableTrace()
	task, _, err = trampRun(t, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	fr := task.FlightRecord()
	if fr == nil || len(fr.Steps) != 2 {
		t.Fatalf("got %v, want two steps: getpid, and the exit that did not return", fr)
	}
	if s := fr.Steps[1]; s.Label != "exit" || s.End != 0 || s.Start != fr.Steps[0].End {
		t.Errorf("exit step: got %q start %d end %d, want \"exit\" start %d end 0", s.Label, s.Start, s.End, fr.Steps[0].End)
	}
}

// BenchmarkProgram runs a program of 1000 steps in a thread-like child,
// start to join: the interpreter's own cost per step, which the flight
// record must not raise while it is off. "store" steps are OpStores, no
// system call, so the interpreter's loop is nearly all there is to time;
// "getppid" steps are the cheapest real system call.
func BenchmarkProgram(b *testing.B) {
	for _, c := range []struct {
		name string
		add  func(p *Program, word uintptr)
	}{
		{"store", func(p *Program, w uintptr) { p.Add("store", "*w = 1", OpStore, []Arg{Imm(w), Imm(1)}) }},
		{"getppid", func(p *Program, _ uintptr) { p.Add("getppid", "getppid()", unix.SYS_GETPPID, nil) }},
	} {
		b.Run(c.name, func(b *testing.B) { benchProgram(b, c.add, false) })
		b.Run(c.name+"-traced", func(b *testing.B) { benchProgram(b, c.add, true) })
	}
}

func benchProgram(b *testing.B, add func(p *Program, word uintptr), traced bool) {
	a, err := NewArena(1 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Free()
	w, err := a.Alloc(8)
	if err != nil {
		b.Fatal(err)
	}
	const steps = 1000
	p := NewProgram(a)
	for range steps {
		add(p, w)
	}
	if traced {
		p.EnableTrace()
	}
	mark := a.used // each Start seals the program into the arena anew
	for b.Loop() {
		a.used = mark
		task, err := Start(p, Options{Flags: Presets["thread"]})
		if err != nil {
			b.Fatal(err)
		}
		if err := task.Join(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/steps, "ns/step")
}
