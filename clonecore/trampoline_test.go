package clonecore

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// These tests pin down what every trampoline (trampoline_$GOARCH.s) must do,
// so that the same test passes on each architecture. They use only the two
// flag sets every Linux and qemu-user can clone: fork-like (no sharing) and
// thread-like (Presets["thread"]). Each runs once through clone3 and once
// through the legacy clone, whose argument order differs per architecture.

// forEachCloneSyscall runs f with clone3 allowed and with the core forced onto
// the legacy clone(2) entry, as on a kernel without clone3.
func forEachCloneSyscall(t *testing.T, f func(t *testing.T)) {
	for _, legacy := range []bool{false, true} {
		name := "clone3"
		if legacy {
			name = "clone"
		}
		t.Run(name, func(t *testing.T) {
			if legacy {
				was := noClone3.Load()
				noClone3.Store(true)
				defer noClone3.Store(was)
			}
			f(t)
		})
	}
}

// trampFlags are the flag sets of the program tests.
var trampFlags = []struct {
	name  string
	flags Flags
}{
	{"fork", 0},
	{"thread", Presets["thread"]},
}

func trampArena(t *testing.T) *Arena {
	t.Helper()
	a, err := NewArena(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Free)
	return a
}

func trampAlloc(t *testing.T, a *Arena, n int) uintptr {
	t.Helper()
	p, err := a.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// trampLoad reads a word a running child may write.
func trampLoad(a *Arena, p uintptr) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&a.Slice(p, 8)[0])))
}

// trampRun starts p with flags, joins it and reaps it.
func trampRun(t *testing.T, p *Program, flags Flags) (*Task, unix.WaitStatus, error) {
	t.Helper()
	task, err := Start(p, Options{Flags: flags})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	jerr := task.Join()
	ws, err := task.Reap()
	if err != nil {
		t.Fatalf("reap: %v", err)
	}
	t.Logf("%s tid=%d", task.Syscall, task.TID)
	return task, ws, jerr
}

// TestTrampolineProgram runs a program that uses every argument kind, a
// tolerated errno in the first and second tolerate words, an expected
// result, OpStore and an OpExitIf that does not exit.
func TestTrampolineProgram(t *testing.T) {
	forEachCloneSyscall(t, func(t *testing.T) {
		for _, tc := range trampFlags {
			t.Run(tc.name, func(t *testing.T) {
				a := trampArena(t)
				out := trampAlloc(t, a, 8*4) // pid, mkdir result, shutdown result, exit-if result
				fds := trampAlloc(t, a, 8)   // pipe2's two int32s
				buf := trampAlloc(t, a, 8)
				root, err := a.CString("/")
				if err != nil {
					t.Fatal(err)
				}
				p := NewProgram(a)
				pid, mk, sh, ex := p.NewSlot(), p.NewSlot(), p.NewSlot(), p.NewSlot()
				p.Add("getpid", "getpid()", unix.SYS_GETPID, nil, SaveTo(pid))
				p.Add("pipe2", "pipe2(fds, 0)", unix.SYS_PIPE2, []Arg{Imm(fds), Imm(0)}, Expect(0))
				p.Add("store pid", "*out = pid", OpStore, []Arg{Imm(out), pid.Value()})
				p.Add("mkdir", "mkdirat(AT_FDCWD, /)", unix.SYS_MKDIRAT, []Arg{Imm(unix.AT_FDCWD), Imm(root), Imm(0o755)}, Tolerate(unix.EEXIST), SaveTo(mk))
				p.Add("store mkdir", "out[1] = mk", OpStore, []Arg{Imm(out + 8), mk.Value()})
				p.Add("shutdown", "shutdown(fds[0], SHUT_RD)", unix.SYS_SHUTDOWN, []Arg{Int32At(fds), Imm(unix.SHUT_RD)}, Tolerate(unix.ENOTSOCK), SaveTo(sh))
				p.Add("store shutdown", "out[2] = sh", OpStore, []Arg{Imm(out + 16), sh.Value()})
				p.Add("write", "write(fds[1], buf, 1)", unix.SYS_WRITE, []Arg{Int32At(fds + 4), Imm(buf), Imm(1)}, Expect(1))
				p.Add("read", "read(fds[0], buf+1, 1)", unix.SYS_READ, []Arg{Int32At(fds), Imm(buf + 1), Imm(1)}, Expect(1))
				p.Add("exit if 0", "exit_if(0, 9)", OpExitIf, []Arg{Imm(0), Imm(9)}, SaveTo(ex))
				p.Add("store exit-if", "out[3] = ex", OpStore, []Arg{Imm(out + 24), ex.Value()})
				p.Add("close", "close(fds[0])", unix.SYS_CLOSE, []Arg{Int32At(fds)}, Expect(0))
				p.Add("close", "close(fds[1])", unix.SYS_CLOSE, []Arg{Int32At(fds + 4)}, Expect(0))
				a.Store64(out+24, 0xdead)
				a.Slice(buf, 1)[0] = 'x'

				task, ws, err := trampRun(t, p, tc.flags)
				if err != nil {
					t.Fatalf("join: got %v, want nil", err)
				}
				if !task.Done() {
					t.Errorf("done: got false, want true")
				}
				if tc.flags&THREAD == 0 && ws.ExitStatus() != 0 {
					t.Errorf("wait status: got %v, want exit 0", ws)
				}
				wantPid := int64(task.TID)
				if tc.flags&THREAD != 0 {
					wantPid = int64(os.Getpid())
				}
				checks := []struct {
					what      string
					got, want int64
				}{
					{"saved getpid", p.Result(pid), wantPid},
					{"stored getpid", int64(a.Load64(out)), wantPid},
					{"tolerated EEXIST (word 0)", int64(a.Load64(out + 8)), -int64(unix.EEXIST)},
					{"tolerated ENOTSOCK (word 1)", int64(a.Load64(out + 16)), -int64(unix.ENOTSOCK)},
					{"saved OpExitIf", p.Result(ex), 0},
					{"stored OpExitIf", int64(a.Load64(out + 24)), 0},
					{"byte read through the pipe", int64(a.Slice(buf+1, 1)[0]), 'x'},
				}
				for _, c := range checks {
					if c.got != c.want {
						t.Errorf("%s: got %d, want %d", c.what, c.got, c.want)
					}
				}
			})
		}
	})
}

// TestTrampolineFailures checks each way a program ends early: the report
// names the step, its errno and its raw result, and no later step runs.
func TestTrampolineFailures(t *testing.T) {
	forEachCloneSyscall(t, func(t *testing.T) {
		for _, tc := range trampFlags {
			t.Run(tc.name, func(t *testing.T) {
				for _, c := range []struct {
					name   string
					build  func(a *Arena, p *Program)
					index  int // failing step, -1: none
					errno  unix.Errno
					value  func(task *Task) int64
					exit   int // the exit status of a fork-like child
					failed bool
				}{
					{
						name: "OpFail",
						build: func(a *Arena, p *Program) {
							p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
							p.Add("check", "fail(ENOMSG)", OpFail, []Arg{Imm(unix.ENOMSG)})
						},
						index: 1, errno: unix.ENOMSG, value: func(*Task) int64 { return 0 }, exit: 127, failed: true,
					},
					{
						name: "unknown operation",
						build: func(a *Arena, p *Program) {
							p.Add("op", "op?(EPROTO)", OpSkipUnless+1, []Arg{Imm(unix.EPROTO)})
						},
						index: 0, errno: unix.EPROTO, value: func(*Task) int64 { return 0 }, exit: 127, failed: true,
					},
					{
						name: "errno",
						build: func(a *Arena, p *Program) {
							root, _ := a.CString("/")
							p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
							p.Add("mkdir", "mkdirat(AT_FDCWD, /)", unix.SYS_MKDIRAT, []Arg{Imm(unix.AT_FDCWD), Imm(root), Imm(0o755)}, Tolerate(unix.ENOENT))
						},
						index: 1, errno: unix.EEXIST, value: func(*Task) int64 { return -int64(unix.EEXIST) }, exit: 127, failed: true,
					},
					{
						name: "unexpected result",
						build: func(a *Arena, p *Program) {
							p.Add("gettid", "gettid()", unix.SYS_GETTID, nil, Expect(-5))
						},
						index: 0, errno: 0, value: func(task *Task) int64 { return int64(task.TID) }, exit: 127, failed: true,
					},
					{
						name: "OpExitIf",
						build: func(a *Arena, p *Program) {
							s := p.NewSlot()
							p.Add("getpid", "getpid()", unix.SYS_GETPID, nil, SaveTo(s))
							p.Add("exit if pid", "exit_if(pid, 7)", OpExitIf, []Arg{s.Value(), Imm(7)})
						},
						index: -1, exit: 7,
					},
				} {
					t.Run(c.name, func(t *testing.T) {
						a := trampArena(t)
						after := trampAlloc(t, a, 8)
						p := NewProgram(a)
						c.build(a, p)
						n := p.Len()
						p.Add("after", "*after = 1", OpStore, []Arg{Imm(after), Imm(1)})
						task, ws, err := trampRun(t, p, tc.flags)
						if got := a.Load64(after); got != 0 {
							t.Errorf("step after the end: got it run (%d), want it skipped", got)
						}
						if task.Done() {
							t.Errorf("done: got true, want false")
						}
						if tc.flags&THREAD == 0 && (!ws.Exited() || ws.ExitStatus() != c.exit) {
							t.Errorf("wait status: got %v, want exit %d", ws, c.exit)
						}
						if !c.failed {
							if err != nil {
								t.Errorf("join: got %v, want nil", err)
							}
							return
						}
						var se *StepError
						if !errors.As(err, &se) {
							t.Fatalf("join: got %v, want a StepError", err)
						}
						if se.Index != c.index || se.Index >= n || se.Errno != c.errno || se.Value != c.value(task) {
							t.Errorf("report: got step %d errno %d value %d, want step %d errno %d value %d",
								se.Index, se.Errno, se.Value, c.index, c.errno, c.value(task))
						}
						if want := p.Label(c.index); se.Label != want {
							t.Errorf("label: got %q, want %q", se.Label, want)
						}
					})
				}
			})
		}
	})
}

// TestTrampolineWorkers starts thread-like workers on the work kernel and
// checks every field it reports, while they are held and after they leave.
func TestTrampolineWorkers(t *testing.T) {
	forEachCloneSyscall(t, func(t *testing.T) {
		const n, iters, per = 3, 10000, 5
		a := trampArena(t)
		counter := trampAlloc(t, a, 8)
		array := trampAlloc(t, a, 8*n*per)
		hold := trampAlloc(t, a, 8)
		for i := 0; i < n*per; i++ {
			a.Store64(array+uintptr(8*i), uint64(i+1))
		}
		st, err := NewStacks(n, 16<<10)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Free()
		blocks := make([]uintptr, n)
		tasks := make([]*Task, n)
		for i := range n {
			st.SetTLSWord(i, 1, uint64(0xa11ce000+i))
			b := trampAlloc(t, a, BlockSize)
			blocks[i] = b
			a.Store64(b+WorkerCounter, uint64(counter))
			a.Store64(b+WorkerIters, iters)
			a.Store64(b+WorkerArray, uint64(array))
			a.Store64(b+WorkerLo, uint64(i*per))
			a.Store64(b+WorkerHi, uint64((i+1)*per))
			a.Store64(b+WorkerHold, uint64(hold))
			task, err := StartKernel(KernelWork, a, b, st, i, Options{Flags: Presets["thread"]})
			if err != nil {
				t.Fatalf("worker %d: %v", i, err)
			}
			tasks[i] = task
		}
		released := false
		release := func() {
			if !released {
				released = true
				a.Store32(hold, 1)
				a.FutexWake(hold)
			}
		}
		defer func() {
			release()
			for _, task := range tasks {
				task.Join()
			}
		}()
		deadline := time.Now().Add(10 * time.Second)
		for i, b := range blocks {
			for trampLoad(a, b+WorkerPhase) != 2 {
				if time.Now().After(deadline) {
					t.Fatalf("worker %d: phase %d after 10s, want 2", i, trampLoad(a, b+WorkerPhase))
				}
				time.Sleep(time.Millisecond)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tasks[i].TID)); err != nil {
				t.Errorf("worker %d, held: not a thread of this process: %v", i, err)
			}
		}
		release()
		for i, task := range tasks {
			if err := task.Join(); err != nil {
				t.Errorf("worker %d: join: %v", i, err)
			}
		}
		if got, want := a.Load64(counter), uint64(n*iters); got != want {
			t.Errorf("counter: got %d, want %d", got, want)
		}
		for i, b := range blocks {
			sum := uint64(0)
			for j := i * per; j < (i+1)*per; j++ {
				sum += uint64(j + 1)
			}
			checks := []struct {
				what      string
				got, want uint64
			}{
				{"tid", a.Load64(b + WorkerTID), uint64(tasks[i].TID)},
				{"pid", a.Load64(b + WorkerPID), uint64(os.Getpid())},
				{"TLS value", a.Load64(b + WorkerTLSValue), uint64(0xa11ce000 + i)},
				{"TLS self", a.Load64(b + WorkerTLSSelf), uint64(st.TCB(i))},
				{"sp", a.Load64(b + WorkerSP), uint64(st.Top(i) - 64)},
				{"sum", a.Load64(b + WorkerSum), sum},
				{"phase", a.Load64(b + WorkerPhase), 3},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("worker %d (%s): %s: got %#x, want %#x", i, tasks[i].Syscall, c.what, c.got, c.want)
				}
			}
		}
	})
}

// TestTrampolineOverflow runs the overflow kernel in a task that shares
// minirun's memory but not its signal handlers, and checks that the guard
// page stopped it at the bottom of its stack.
func TestTrampolineOverflow(t *testing.T) {
	forEachCloneSyscall(t, func(t *testing.T) {
		a := trampArena(t)
		st, err := NewStacks(1, 16<<10)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Free()
		b := trampAlloc(t, a, BlockSize)
		task, err := StartKernel(KernelOverflow, a, b, st, 0, Options{Flags: VM | SETTLS | PARENT_SETTID | CHILD_CLEARTID})
		var ce *CloneError
		if errors.As(err, &ce) && ce.Errno == unix.EINVAL {
			// Linux accepts CLONE_VM|CLONE_SETTLS|CLONE_*_TID; qemu-user
			// refuses CLONE_VM without every thread flag.
			t.Skipf("%v: this kernel or emulator refuses CLONE_VM without CLONE_THREAD (qemu-user does)", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Join(); err != nil {
			t.Errorf("join: %v", err)
		}
		ws, err := task.Reap()
		if err != nil {
			t.Fatal(err)
		}
		if !ws.Signaled() || ws.Signal() != unix.SIGSEGV || ws.CoreDump() {
			t.Errorf("wait status: got %v, want killed by SIGSEGV without a core dump", ws)
		}
		lowest, lo := a.Load64(b+WorkerLowest), uint64(st.Lo(0))
		if lowest < lo || lowest >= lo+256 {
			t.Errorf("lowest address written: got %#x, want within 256 bytes above the guard page at %#x", lowest, lo)
		}
		if got := a.Load64(b + WorkerPhase); got != 1 {
			t.Errorf("phase: got %d, want 1", got)
		}
	})
}

// TestTrampolineSkip: OpSkipUnless goes on where its two values are equal
// and skips the number of steps it names where they differ, traced or not;
// its result is how many it skipped, and the flight record leaves the
// skipped steps out.
func TestTrampolineSkip(t *testing.T) {
	forEachCloneSyscall(t, func(t *testing.T) {
		for _, tc := range trampFlags {
			for _, traced := range []bool{false, true} {
				name := tc.name
				if traced {
					name += "/traced"
				}
				t.Run(name, func(t *testing.T) {
					a := trampArena(t)
					out := trampAlloc(t, a, 8*4)
					root, err := a.CString("/")
					if err != nil {
						t.Fatal(err)
					}
					p := NewProgram(a)
					mk, equal, differ := p.NewSlot(), p.NewSlot(), p.NewSlot()
					p.Add("mkdir", "mkdirat(AT_FDCWD, /)", unix.SYS_MKDIRAT, []Arg{Imm(unix.AT_FDCWD), Imm(root), Imm(0o755)}, Tolerate(unix.EEXIST), SaveTo(mk))
					p.Add("skip unless EEXIST", "skip_unless(mk, -EEXIST, 1)", OpSkipUnless, []Arg{mk.Value(), Imm(-int64(unix.EEXIST)), Imm(1)})
					p.Add("store 0", "out[0] = 1", OpStore, []Arg{Imm(out), Imm(1)})
					p.Add("skip unless 0", "skip_unless(mk, 0, 2)", OpSkipUnless, []Arg{mk.Value(), Imm(0), Imm(2)})
					p.Add("store 1", "out[1] = 1", OpStore, []Arg{Imm(out + 8), Imm(1)})
					p.Add("store 2", "out[2] = 1", OpStore, []Arg{Imm(out + 16), Imm(1)})
					p.Add("store 3", "out[3] = 1", OpStore, []Arg{Imm(out + 24), Imm(1)})
					p.Add("getpid", "getpid()", unix.SYS_GETPID, nil, SaveTo(equal))
					p.Add("getpid", "getpid()", unix.SYS_GETPID, nil, SaveTo(differ))
					if err := p.Verify(); err != nil {
						t.Fatalf("Verify: %v", err)
					}
					if traced {
						p.EnableTrace()
					}
					task, _, err := trampRun(t, p, tc.flags)
					if err != nil {
						t.Fatalf("join: got %v, want nil", err)
					}
					for i, want := range []uint64{1, 0, 0, 1} {
						if got := a.Load64(out + uintptr(8*i)); got != want {
							t.Errorf("out[%d]: got %d, want %d (stores 1 and 2 skipped, 0 and 3 run)", i, got, want)
						}
					}
					if p.Result(equal) == 0 || p.Result(differ) == 0 {
						t.Errorf("the steps after the skipped ones: results %d, %d, want them run", p.Result(equal), p.Result(differ))
					}
					if !traced {
						return
					}
					fr := task.FlightRecord()
					var got []string
					for _, s := range fr.Steps {
						got = append(got, fmt.Sprintf("%s=%d/%d", s.Label, s.Result, s.Skipped))
					}
					want := []string{"mkdir=-17/0", "skip unless EEXIST=0/0", "store 0=0/0", "skip unless 0=2/2", "store 3=0/0", "getpid=" +
						strconv.FormatInt(p.Result(equal), 10) + "/0", "getpid=" + strconv.FormatInt(p.Result(differ), 10) + "/0"}
					if strings.Join(got, " ") != strings.Join(want, " ") {
						t.Errorf("flight record: got %q, want %q", got, want)
					}
				})
			}
		}
	})
}

// TestVerifySkips: Verify refuses an OpSkipUnless that could run past the
// program, that counts at run time, that starts inside another's steps or
// that saves, and a slot read after the steps that may skip its saving.
func TestVerifySkips(t *testing.T) {
	cases := []struct {
		name  string
		build func(p *Program, s Slot)
		want  string
	}{
		{"past the end", func(p *Program, s Slot) {
			p.Add("skip", "skip", OpSkipUnless, []Arg{Imm(0), Imm(1), Imm(2)})
			p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
		}, "skips 2 steps, and 1 follow it"},
		{"a count from a slot", func(p *Program, s Slot) {
			p.Add("getpid", "getpid()", unix.SYS_GETPID, nil, SaveTo(s))
			p.Add("skip", "skip", OpSkipUnless, []Arg{Imm(0), Imm(1), s.Value()})
			p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
		}, "skips a count known only when it runs"},
		{"nested", func(p *Program, s Slot) {
			p.Add("skip", "skip", OpSkipUnless, []Arg{Imm(0), Imm(1), Imm(2)})
			p.Add("skip", "skip", OpSkipUnless, []Arg{Imm(0), Imm(1), Imm(1)})
			p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
		}, "inside the steps step 2 may skip"},
		{"a saved result", func(p *Program, s Slot) {
			p.Add("skip", "skip", OpSkipUnless, []Arg{Imm(0), Imm(1), Imm(1)}, SaveTo(s))
			p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
		}, "saves a result"},
		{"a slot saved only by a skippable step", func(p *Program, s Slot) {
			p.Add("skip", "skip", OpSkipUnless, []Arg{Imm(0), Imm(1), Imm(1)})
			p.Add("getpid", "getpid()", unix.SYS_GETPID, nil, SaveTo(s))
			p.Add("close", "close(s)", unix.SYS_CLOSE, []Arg{s.Value()})
		}, "reads slot 0 before any step saves it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := trampArena(t)
			p := NewProgram(a)
			c.build(p, p.NewSlot())
			if err := p.Verify(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Verify: got %v, want an error saying %q", err, c.want)
			}
		})
	}
	t.Run("a slot read inside the steps that may skip its saving", func(t *testing.T) {
		p := NewProgram(trampArena(t))
		s := p.NewSlot()
		p.Add("skip", "skip", OpSkipUnless, []Arg{Imm(0), Imm(1), Imm(2)})
		p.Add("getpid", "getpid()", unix.SYS_GETPID, nil, SaveTo(s))
		p.Add("close", "close(s)", unix.SYS_CLOSE, []Arg{s.Value()})
		p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
		if err := p.Verify(); err != nil {
			t.Errorf("Verify: got %v, want nil (the read is skipped with the save)", err)
		}
	})
}
