package seccomp

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// src is where a random policy and its probes come from: math/rand for the
// differential test, the fuzzer's bytes for the fuzz target.
type src interface{ Intn(n int) int }

// byteSrc draws from fuzz input; once the bytes run out it gives zeros.
type byteSrc struct{ b []byte }

func (s *byteSrc) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	var v uint32
	for i := 0; i < 4 && len(s.b) > 0; i++ {
		v = v<<8 | uint32(s.b[0])
		s.b = s.b[1:]
	}
	return int(v % uint32(n))
}

var (
	specialNames = []string{
		"read", "write", "getpid", "personality", "socket", "socketcall", "ipc", "semop",
		"send", "recv", "stat64", "cacheflush", "set_tls", "clone", "no_such_call",
	}
	actions = []rspec.LinuxSeccompAction{
		rspec.ActKill, rspec.ActKillProcess, rspec.ActKillThread, rspec.ActTrap, rspec.ActErrno,
		rspec.ActTrace, rspec.ActAllow, rspec.ActLog, rspec.ActNotify,
	}
	ops = []rspec.LinuxSeccompOperator{
		rspec.OpNotEqual, rspec.OpLessThan, rspec.OpLessEqual, rspec.OpEqualTo,
		rspec.OpGreaterEqual, rspec.OpGreaterThan, rspec.OpMaskedEqual,
	}
	values = []uint64{0, 1, 2, 8, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 32, 1<<32 | 1,
		1<<32 | 8, 0xffffffff00000000, ^uint64(0), 0x7e020000, 0xff}
	tables = []sysTable{sysX86_64, sysI386, sysX32, sysAArch64, sysARM}
)

func pick[T any](r src, xs []T) T { return xs[r.Intn(len(xs))] }

func randValue(r src) uint64 {
	if r.Intn(4) == 0 {
		return uint64(r.Intn(1<<30))<<34 ^ uint64(r.Intn(1<<30))
	}
	return pick(r, values)
}

func randName(r src) string {
	if r.Intn(200) == 0 {
		return "" // invalid
	}
	if r.Intn(2) == 0 {
		return pick(r, specialNames)
	}
	return pick(r, pick(r, tables)).name
}

func randErrno(r src, a rspec.LinuxSeccompAction) *uint {
	if (a != rspec.ActErrno && a != rspec.ActTrace && r.Intn(100) != 0) || r.Intn(3) == 0 {
		return nil
	}
	e := uint(pick(r, []int{0, 1, 13, 38, 95, 4095}))
	if r.Intn(50) == 0 {
		e = uint(pick(r, []int{4096, 70000}))
	}
	return &e
}

// randPolicy makes a policy; most are valid, some are not (the compiler
// must then refuse them with a FieldError, not panic).
func randPolicy(r src) *rspec.LinuxSeccomp {
	s := &rspec.LinuxSeccomp{DefaultAction: pick(r, actions)}
	if s.DefaultAction == rspec.ActNotify && r.Intn(10) != 0 {
		s.DefaultAction = rspec.ActErrno
	}
	s.DefaultErrnoRet = randErrno(r, s.DefaultAction)
	for _, a := range []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32, rspec.ArchAARCH64, rspec.ArchARM, rspec.ArchMIPS, "SCMP_ARCH_NONE"} {
		if a == "SCMP_ARCH_NONE" && r.Intn(20) != 0 {
			continue
		}
		if r.Intn(3) == 0 {
			s.Architectures = append(s.Architectures, a)
		}
	}
	for _, fl := range []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog, rspec.LinuxSeccompFlagSpecAllow, rspec.LinuxSeccompFlagWaitKillableRecv} {
		if r.Intn(8) == 0 {
			s.Flags = append(s.Flags, fl)
		}
	}
	n := r.Intn(12)
	for i := 0; i < n; i++ {
		sc := rspec.LinuxSyscall{Action: pick(r, actions)}
		sc.ErrnoRet = randErrno(r, sc.Action)
		for j := 1 + r.Intn(3); j > 0; j-- {
			sc.Names = append(sc.Names, randName(r))
		}
		for j := r.Intn(4); j > 0; j-- {
			a := rspec.LinuxSeccompArg{Index: uint(r.Intn(3)), Op: pick(r, ops), Value: randValue(r), ValueTwo: randValue(r)}
			if r.Intn(200) == 0 {
				a.Index = 6
			}
			if r.Intn(200) == 0 {
				a.Op = "SCMP_CMP_SOMETIMES"
			}
			sc.Args = append(sc.Args, a)
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	return s
}

// randProbe makes a system call the filter could see: mostly numbers the
// policy names (and their neighbours) on a real ABI.
func randProbe(r src, s *rspec.LinuxSeccomp, goarch string) seccompData {
	var d seccompData
	arches := []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM}
	d.arch = pick(r, arches)
	if r.Intn(20) == 0 {
		d.arch = uint32(r.Intn(1 << 30))
	}
	var t sysTable
	switch d.arch {
	case unix.AUDIT_ARCH_X86_64:
		t = sysX86_64
		if r.Intn(3) == 0 {
			t = sysX32
		}
	case unix.AUDIT_ARCH_I386:
		t = sysI386
	case unix.AUDIT_ARCH_AARCH64:
		t = sysAArch64
	default:
		t = sysARM
	}
	var names []string
	for _, sc := range s.Syscalls {
		names = append(names, sc.Names...)
	}
	names = append(names, "socketcall", "ipc", "read")
	switch r.Intn(6) {
	case 0:
		d.nr = uint32(r.Intn(1 << 31))
	case 1:
		d.nr = pick(r, []uint32{0, 0x3fffffff, 0x40000000, 0x40000001, 0x7fffffff, 0x80000000, 0xbfffffff, 0xc0000000, 0xffffffff, 0xf0002})
	default:
		nr, _ := t.lookup(pick(r, names))
		d.nr = nr + uint32(r.Intn(3)) - 1
	}
	for i := range d.args {
		d.args[i] = randValue(r)
		if r.Intn(3) == 0 {
			d.args[i] = uint64(r.Intn(30))
		}
	}
	return d
}

// checkOne compiles s and compares the filter with the reference on n
// probes. It returns an error describing the first disagreement.
func checkOne(r src, s *rspec.LinuxSeccomp, goarch string, noENOSYS bool, probes int) error {
	f, err := Compile(s, Options{Arch: goarch, NoENOSYS: noENOSYS})
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			return fmt.Errorf("error without a field: %v", err)
		}
		return nil
	}
	if err := checkProgram(f.Program); err != nil {
		return fmt.Errorf("the kernel would refuse the program: %v", err)
	}
	for i := 0; i < probes; i++ {
		d := randProbe(r, s, goarch)
		got, _, err := runBPF(f.Program, d)
		if err != nil {
			return err
		}
		want := refDecide(s, goarch, noENOSYS, d)
		if got != want {
			return fmt.Errorf("arch %#x nr %#x args %#x: filter says %s (%#x), reference %s (%#x)\n%s",
				d.arch, d.nr, d.args, retName(got), got, retName(want), want, f.Explain())
		}
	}
	return nil
}

func TestDifferential(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	n := 3000
	if testing.Short() {
		n = 300
	}
	compiled := 0
	for i := 0; i < n; i++ {
		s := randPolicy(r)
		goarch := pick(r, []string{"amd64", "arm64"})
		if _, err := Compile(s, Options{Arch: goarch}); err == nil {
			compiled++
		}
		if err := checkOne(r, s, goarch, r.Intn(4) == 0, 200); err != nil {
			t.Fatalf("policy %d (%s): %v", i, goarch, err)
		}
	}
	// The generator must mostly make policies that compile, or the test
	// checks little.
	if compiled < n/3 {
		t.Fatalf("only %d of %d random policies compiled", compiled, n)
	}
	t.Logf("%d of %d random policies compiled and agreed with the reference", compiled, n)
}

func FuzzCompileAgrees(f *testing.F) {
	f.Add([]byte("seed"))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &byteSrc{b: data}
		s := randPolicy(r)
		goarch := pick(r, []string{"amd64", "arm64"})
		if err := checkOne(r, s, goarch, r.Intn(2) == 0, 50); err != nil {
			t.Fatal(err)
		}
	})
}
