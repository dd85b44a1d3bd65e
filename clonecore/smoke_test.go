package clonecore

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestSmokeProgram(t *testing.T) {
	a, err := NewArena(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	for _, fl := range []Flags{0, VM, VM | FS | FILES | SIGHAND, Presets["thread"], FILES} {
		p := NewProgram(a)
		s := p.NewSlot()
		p.Add("getpid", "getpid()", unix.SYS_GETPID, nil, SaveTo(s))
		p.Add("mkdir", "mkdir(/)", unix.SYS_MKDIRAT, []Arg{Imm(unix.AT_FDCWD), Imm(mustStr(t, a, "/")), Imm(0o755)}, Tolerate(unix.EEXIST))
		task, err := Start(p, Options{Flags: fl})
		if err != nil {
			t.Fatal(fl, err)
		}
		if err := task.Join(); err != nil {
			t.Fatal(fl, err)
		}
		ws, err := task.Reap()
		t.Logf("%v tid=%d pid-in-child=%d done=%v ws=%v err=%v", task.Flags, task.TID, p.Result(s), task.Done(), ws, err)
	}
	p := NewProgram(a)
	p.Add("mkdir", "mkdir(/)", unix.SYS_MKDIRAT, []Arg{Imm(unix.AT_FDCWD), Imm(mustStr(t, a, "/")), Imm(0o755)})
	task, err := Start(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(task.Join())
	task.Reap()
}

func mustStr(t *testing.T, a *Arena, s string) uintptr {
	p, err := a.CString(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
