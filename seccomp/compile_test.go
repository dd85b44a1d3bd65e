package seccomp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestCompileErrors(t *testing.T) {
	ok := func() *rspec.LinuxSeccomp {
		return &rspec.LinuxSeccomp{DefaultAction: rspec.ActErrno, Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"read"}, Action: rspec.ActAllow},
			{Names: []string{"write", "close"}, Action: rspec.ActAllow, Args: []rspec.LinuxSeccompArg{{Index: 0, Op: rspec.OpEqualTo, Value: 1}}},
		}}
	}
	for _, tc := range []struct {
		name   string
		change func(*rspec.LinuxSeccomp) *rspec.LinuxSeccomp
		arch   string
		want   string
	}{
		{"nil", func(*rspec.LinuxSeccomp) *rspec.LinuxSeccomp { return nil }, "", "linux.seccomp: missing"},
		{"no tables", nil, "riscv64", `linux.seccomp: no system call tables for GOARCH "riscv64" (only amd64 and arm64)`},
		{"default missing", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.DefaultAction = ""; return s }, "",
			"linux.seccomp.defaultAction: missing"},
		{"default notify", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.DefaultAction = rspec.ActNotify; return s }, "",
			"linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default: the listener itself needs system calls to answer"},
		{"default errno too big", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.DefaultErrnoRet = u(5000); return s }, "",
			"linux.seccomp.defaultErrnoRet: 5000 is not an errno (0 to 4095)"},
		{"default errno on kill", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp {
			s.DefaultAction, s.DefaultErrnoRet = rspec.ActKillProcess, u(1)
			return s
		}, "", "linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return a value; SCMP_ACT_KILL_PROCESS does not"},
		{"unknown arch", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp {
			s.Architectures = []rspec.Arch{rspec.ArchX86, "x86"}
			return s
		}, "", `linux.seccomp.architectures[1]: unknown architecture "x86"`},
		{"unknown flag", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp {
			s.Flags = []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_TSYNC"}
			return s
		}, "", `linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_TSYNC"`},
		{"wait killable without notify", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp {
			s.Flags = []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagWaitKillableRecv}
			return s
		}, "", "linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a SCMP_ACT_NOTIFY rule: the kernel takes it only with a listener"},
		{"action unknown", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.Syscalls[1].Action = "ALLOW"; return s }, "",
			`linux.seccomp.syscalls[1].action: unknown action "ALLOW"`},
		{"action missing", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.Syscalls[0].Action = ""; return s }, "",
			"linux.seccomp.syscalls[0].action: missing"},
		{"names missing", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.Syscalls[0].Names = nil; return s }, "",
			"linux.seccomp.syscalls[0].names: missing; list the system calls the rule applies to"},
		{"name empty", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.Syscalls[1].Names[1] = ""; return s }, "",
			"linux.seccomp.syscalls[1].names[1]: must not be empty"},
		{"arg index", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.Syscalls[1].Args[0].Index = 6; return s }, "",
			"linux.seccomp.syscalls[1].args[0].index: 6 is out of range 0 to 5"},
		{"arg op", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.Syscalls[1].Args[0].Op = "=="; return s }, "",
			`linux.seccomp.syscalls[1].args[0].op: unknown operator "=="`},
		{"errno too big", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp {
			s.Syscalls[1].Action, s.Syscalls[1].ErrnoRet = rspec.ActErrno, u(4096)
			return s
		}, "", "linux.seccomp.syscalls[1].errnoRet: 4096 is not an errno (0 to 4095)"},
		{"trace value too big", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp {
			s.Syscalls[1].Action, s.Syscalls[1].ErrnoRet = rspec.ActTrace, u(70000)
			return s
		}, "", "linux.seccomp.syscalls[1].errnoRet: 70000 does not fit the 16 bits SCMP_ACT_TRACE hands the tracer"},
		{"errno on allow", func(s *rspec.LinuxSeccomp) *rspec.LinuxSeccomp { s.Syscalls[0].ErrnoRet = u(1); return s }, "",
			"linux.seccomp.syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return a value; SCMP_ACT_ALLOW does not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			if tc.change != nil {
				s = tc.change(s)
			}
			_, err := Compile(s, Options{Arch: tc.arch})
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("got  %q\nwant %q", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(tc.want, fe.Field+": ") {
				t.Fatalf("error %v does not carry its field as a FieldError", err)
			}
		})
	}
}

// TestTooBig: past BPF_MAXINSNS the compiler says so instead of handing
// the kernel a program it will refuse with EINVAL.
func TestTooBig(t *testing.T) {
	s := &rspec.LinuxSeccomp{DefaultAction: rspec.ActErrno}
	for i := 0; i < 1000; i++ {
		s.Syscalls = append(s.Syscalls, rspec.LinuxSyscall{Names: []string{"ioctl"}, Action: rspec.ActAllow,
			Args: []rspec.LinuxSeccompArg{{Index: 1, Op: rspec.OpEqualTo, Value: uint64(i)}}})
	}
	_, err := Compile(s, Options{Arch: "amd64"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "linux.seccomp" || !strings.Contains(err.Error(), "the kernel takes at most 4096 (BPF_MAXINSNS)") {
		t.Fatalf("got %v, want a linux.seccomp error about BPF_MAXINSNS", err)
	}
	// Just under the limit, it compiles.
	s.Syscalls = s.Syscalls[:700]
	f, err := Compile(s, Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Program) > bpfMaxInsns {
		t.Fatalf("%d instructions", len(f.Program))
	}
}

// TestLongJumps builds a policy whose tree must jump farther than the 255
// instructions a conditional jump reaches, and checks every number on
// every ABI against the reference.
func TestLongJumps(t *testing.T) {
	s := &rspec.LinuxSeccomp{DefaultAction: rspec.ActErrno,
		Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32}}
	// Conditional rules on many calls make big leaves; the arch dispatch
	// and the upper halves of the trees then lie far away.
	for i, e := range sysX86_64 {
		if i%3 != 0 {
			continue
		}
		s.Syscalls = append(s.Syscalls, rspec.LinuxSyscall{Names: []string{e.name}, Action: rspec.ActAllow,
			Args: []rspec.LinuxSeccompArg{{Index: uint(i % 6), Op: rspec.OpGreaterEqual, Value: uint64(i) << 30}}})
	}
	f, err := Compile(s, Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	// The assembler's own instructions are at f.pos; the others are the
	// long jumps it added, each reaching past a conditional jump's 255.
	own := map[int]bool{}
	for _, p := range f.pos {
		own[p] = true
	}
	islands := 0
	for i, in := range f.Program {
		if !own[i] {
			islands++
			if in.Code != unix.BPF_JMP|unix.BPF_JA || in.K < 253 {
				t.Fatalf("instruction %d: a long jump that is not one: %+v", i, in)
			}
		}
	}
	if islands == 0 {
		t.Fatalf("%d instructions and no long jump: the test no longer tests long jumps", len(f.Program))
	}
	checked := 0
	for _, a := range []*abi{abiX86_64, abiI386, abiX32} {
		for _, e := range a.table {
			for _, nr := range []uint32{e.nr, e.nr + 1} {
				for _, args := range [][6]uint64{{}, {^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}, {1 << 40, 1 << 40, 1 << 40, 1 << 40, 1 << 40, 1 << 40}} {
					d := seccompData{nr: nr, arch: a.audit, args: args}
					got, _, err := runBPF(f.Program, d)
					if err != nil {
						t.Fatal(err)
					}
					if want := refDecide(s, "amd64", false, d); got != want {
						t.Fatalf("%s nr %d: filter %s, reference %s", a.name, nr, retName(got), retName(want))
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d instructions, %d long jumps, %d calls checked", len(f.Program), islands, checked)
}

// TestSkipped: names an ABI lacks are reported, per ABI; architectures of
// other machines are reported and left out.
func TestSkipped(t *testing.T) {
	s := &rspec.LinuxSeccomp{DefaultAction: rspec.ActErrno,
		Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchS390X},
		Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"read", "stat64", "no_such_call", "newfstatat"}, Action: rspec.ActAllow},
		}}
	f, err := Compile(s, Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SCMP_ARCH_S390X: not an ABI of amd64, left out of the filter (its processes cannot run here)",
		"newfstatat: no such system call on i386",
		"no_such_call: no such system call on x86_64, i386",
		"stat64: no such system call on x86_64",
	}
	if fmt.Sprint(f.Skipped) != fmt.Sprint(want) {
		t.Fatalf("Skipped:\ngot  %q\nwant %q", f.Skipped, want)
	}
}

// TestFlags: the flags the installing seccomp(2) call must pass.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  []rspec.LinuxSeccompFlag
		notify bool
		want   uintptr
	}{
		{"none", nil, false, 0},
		{"log", []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagLog}, false, unix.SECCOMP_FILTER_FLAG_LOG},
		{"spec allow", []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagSpecAllow}, false, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
		{"notify", nil, true, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER},
		{"notify, wait killable", []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlagWaitKillableRecv}, true,
			unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Flags: tc.flags,
				Syscalls: []rspec.LinuxSyscall{{Names: []string{"read"}, Action: rspec.ActErrno}}}
			if tc.notify {
				s.Syscalls = append(s.Syscalls, rspec.LinuxSyscall{Names: []string{"write"}, Action: rspec.ActNotify})
			}
			f, err := Compile(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if f.Flags != tc.want || f.Notify != tc.notify {
				t.Fatalf("got flags %#x notify %v, want %#x %v", f.Flags, f.Notify, tc.want, tc.notify)
			}
		})
	}
}

// TestExplain: the rendering names the policy's parts and lists the
// program with its labels.
func TestExplain(t *testing.T) {
	f, err := Compile(dockerProfile(t), Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	e := f.Explain()
	for _, want := range []string{
		"default action: SCMP_ACT_ERRNO(EPERM)",
		"x86_64 (AUDIT_ARCH_X86_64, nr 0x0-0x3fffffff):",
		"i386 (AUDIT_ARCH_I386",
		"x32 (AUDIT_ARCH_X86_64, nr 0x40000000-0xffffffff):",
		"SCMP_ACT_ERRNO(ENOSYS) (1):\n    clone3\n",
		"personality (135):",
		"socket (359):",
		"newer than the policy: SCMP_ACT_ERRNO(ENOSYS)",
		"BPF program, ",
		"x86_64+x32:\n",
		"; AUDIT_ARCH_I386",
		"; long jump",
	} {
		if !strings.Contains(e, want) {
			t.Errorf("Explain lacks %q", want)
		}
	}
	if n := strings.Count(e, "\n  "); n < len(f.Program) {
		t.Errorf("Explain has %d indented lines, fewer than the %d instructions", n, len(f.Program))
	}
}

func TestFeatures(t *testing.T) {
	for _, a := range Actions() {
		if _, err := action(rspec.LinuxSeccompAction(a), nil, "f", "e"); err != nil {
			t.Errorf("Actions lists %s, which Compile refuses: %v", a, err)
		}
	}
	for _, a := range Archs() {
		if KnownSyscalls(a) == nil {
			t.Errorf("Archs lists %s, which has no table", a)
		}
	}
	for _, op := range Operators() {
		s := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Syscalls: []rspec.LinuxSyscall{{Names: []string{"read"},
			Action: rspec.ActErrno, Args: []rspec.LinuxSeccompArg{{Op: rspec.LinuxSeccompOperator(op)}}}}}
		if _, err := Compile(s, Options{}); err != nil {
			t.Errorf("Operators lists %s, which Compile refuses: %v", op, err)
		}
	}
	for _, fl := range Flags() {
		s := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Flags: []rspec.LinuxSeccompFlag{rspec.LinuxSeccompFlag(fl)},
			Syscalls: []rspec.LinuxSyscall{{Names: []string{"read"}, Action: rspec.ActNotify}}}
		if _, err := Compile(s, Options{}); err != nil {
			t.Errorf("Flags lists %s, which Compile refuses: %v", fl, err)
		}
	}
}

// TestEncode: the bytes are the kernel's struct sock_filter array, the
// same memory as []unix.SockFilter.
func TestEncode(t *testing.T) {
	f, err := Compile(dockerProfile(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := f.Encode()
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&f.Program[0])), len(f.Program)*int(unsafe.Sizeof(f.Program[0])))
	if !bytes.Equal(b, raw) {
		t.Fatalf("Encode differs from the in-memory []unix.SockFilter (%d and %d bytes)", len(b), len(raw))
	}
}
