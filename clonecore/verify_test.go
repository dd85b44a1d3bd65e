package clonecore

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestVerify: a sound program passes; each broken one names its fault.
func TestVerify(t *testing.T) {
	newArena := func(t *testing.T, size int) *Arena {
		a, err := NewArena(size)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Free)
		return a
	}
	tests := []struct {
		name  string
		build func(t *testing.T) *Program
		want  string // "" for a sound program
	}{
		{"sound", func(t *testing.T) *Program {
			a := newArena(t, 1<<16)
			p := NewProgram(a)
			s := p.NewSlot()
			w, _ := a.Alloc(8)
			p.Add("open", "openat()", unix.SYS_OPENAT, []Arg{Imm(unix.AT_FDCWD), Imm(0), Imm(0)}, SaveTo(s))
			p.Add("close", "close()", unix.SYS_CLOSE, []Arg{s.Value()})
			p.Add("close the parent's", "close()", unix.SYS_CLOSE, []Arg{Int32At(w)})
			p.Add("store", "store()", OpStore, []Arg{Imm(w), s.Value()})
			return p
		}, ""},
		{"slot read before it is saved", func(t *testing.T) *Program {
			p := NewProgram(newArena(t, 1<<16))
			s := p.NewSlot()
			p.Add("close", "close(fd<x>)", unix.SYS_CLOSE, []Arg{s.Value()})
			p.Add("open", "openat()", unix.SYS_OPENAT, nil, SaveTo(s))
			return p
		}, "step 0 (close(fd<x>)): argument 0 reads slot 0 before any step saves it"},
		{"slot out of range", func(t *testing.T) *Program {
			p := NewProgram(newArena(t, 1<<16))
			p.Add("close", "close()", unix.SYS_CLOSE, []Arg{Slot(3).Value()})
			return p
		}, "step 0 (close()): argument 0 reads slot 3 of 0"},
		{"int32 outside the arena", func(t *testing.T) *Program {
			p := NewProgram(newArena(t, 1<<16))
			p.Add("close", "close()", unix.SYS_CLOSE, []Arg{Int32At(8)})
			return p
		}, "step 0 (close()): argument 0 loads an int32 at 0x8, outside the arena"},
		{"store outside the arena", func(t *testing.T) *Program {
			p := NewProgram(newArena(t, 1<<16))
			p.Add("store", "store()", OpStore, []Arg{Imm(16), Imm(1)})
			return p
		}, "step 0 (store()): stores at 0x10, outside the arena"},
		{"no label", func(t *testing.T) *Program {
			p := NewProgram(newArena(t, 1<<16))
			p.Add("", "getpid()", unix.SYS_GETPID, nil)
			return p
		}, "step 0 (getpid()): no label"},
		{"no room to start", func(t *testing.T) *Program {
			a := newArena(t, 4096)
			p := NewProgram(a)
			for i := 0; i < 31; i++ {
				p.Add("getpid", "getpid()", unix.SYS_GETPID, nil)
			}
			return p
		}, "the arena has 4096 bytes left, and Start needs 4240"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build(t).Verify()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
