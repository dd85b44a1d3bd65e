package seccomp

import (
	"runtime"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestTablesAgreeWithXSys cross-checks the generated native table against
// golang.org/x/sys/unix, generated from kernel headers by other means.
func TestTablesAgreeWithXSys(t *testing.T) {
	tab := map[string]sysTable{"amd64": sysX86_64, "arm64": sysAArch64}[runtime.GOARCH]
	if tab == nil {
		t.Skip("no table for " + runtime.GOARCH)
	}
	for _, c := range []struct {
		name string
		nr   uintptr
	}{
		{"read", unix.SYS_READ}, {"getpid", unix.SYS_GETPID}, {"getppid", unix.SYS_GETPPID},
		{"clone", unix.SYS_CLONE}, {"clone3", unix.SYS_CLONE3}, {"unshare", unix.SYS_UNSHARE},
		{"mount", unix.SYS_MOUNT}, {"keyctl", unix.SYS_KEYCTL}, {"openat2", unix.SYS_OPENAT2},
		{"pidfd_open", unix.SYS_PIDFD_OPEN}, {"close_range", unix.SYS_CLOSE_RANGE},
		{"faccessat2", unix.SYS_FACCESSAT2}, {"seccomp", unix.SYS_SECCOMP},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP}, {"fchmodat2", unix.SYS_FCHMODAT2},
		{"mseal", unix.SYS_MSEAL}, {"listmount", unix.SYS_LISTMOUNT}, {"file_setattr", unix.SYS_FILE_SETATTR},
	} {
		if got, ok := tab.lookup(c.name); !ok || uintptr(got) != c.nr {
			t.Errorf("%s: table says %d (found %v), x/sys says %d", c.name, got, ok, c.nr)
		}
	}
}

// TestI386Socketcall attacks a policy that refuses socket(2) from an i386
// process: the same call through socketcall(2) must be refused too, as
// libseccomp refuses it; other socket calls through socketcall pass.
func TestI386Socketcall(t *testing.T) {
	s := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow,
		Architectures: []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86},
		Syscalls: []rspec.LinuxSyscall{
			{Names: []string{"socket"}, Action: rspec.ActErrno, ErrnoRet: u(13)},
			{Names: []string{"shmget"}, Action: rspec.ActErrno, ErrnoRet: u(14),
				Args: []rspec.LinuxSeccompArg{{Index: 2, Op: rspec.OpMaskedEqual, Value: 0x800, ValueTwo: 0x800}}},
		}}
	f, err := Compile(s, Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	socketcall, _ := sysI386.lookup("socketcall")
	ipc, _ := sysI386.lookup("ipc")
	socket, _ := sysI386.lookup("socket")
	errno := func(e uint32) uint32 { return unix.SECCOMP_RET_ERRNO | e }
	for _, c := range []struct {
		name string
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{"socket", socket, [6]uint64{2, 1}, errno(13)},
		{"socketcall(SYS_SOCKET)", socketcall, [6]uint64{1, 0xffd0}, errno(13)},
		{"socketcall(SYS_BIND)", socketcall, [6]uint64{2, 0xffd0}, unix.SECCOMP_RET_ALLOW},
		// ipc's rule keeps the call's other argument tests, on ipc's
		// arguments (libseccomp does the same).
		{"ipc(SHMGET, .., .., 0x800)", ipc, [6]uint64{23, 0, 0, 0x800}, unix.SECCOMP_RET_ALLOW},
		{"ipc(SHMGET, .., 0x800)", ipc, [6]uint64{23, 0, 0x800}, errno(14)},
		{"ipc(SEMOP)", ipc, [6]uint64{1}, unix.SECCOMP_RET_ALLOW},
	} {
		got, _, err := runBPF(f.Program, seccompData{arch: unix.AUDIT_ARCH_I386, nr: c.nr, args: c.args})
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, retName(got), retName(c.want))
		}
	}
}

// TestENOSYS: runc's answer for calls newer than the policy, and when it
// does not apply.
func TestENOSYS(t *testing.T) {
	docker := dockerProfile(t)
	addKey, _ := sysX86_64.lookup("add_key")
	x32addKey, _ := sysX32.lookup("add_key")
	allowDefault := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, Architectures: []rspec.Arch{rspec.ArchX86_64},
		Syscalls: []rspec.LinuxSyscall{{Names: []string{"read"}, Action: rspec.ActErrno}}}
	unlisted := &rspec.LinuxSeccomp{DefaultAction: rspec.ActErrno,
		Syscalls: []rspec.LinuxSyscall{{Names: []string{"read"}, Action: rspec.ActAllow}}}
	eperm, enosys := unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM), unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)
	for _, c := range []struct {
		name     string
		s        *rspec.LinuxSeccomp
		noENOSYS bool
		arch, nr uint32
		want     uint32
	}{
		{"docker, a call it does not name", docker, false, unix.AUDIT_ARCH_X86_64, addKey, eperm},
		{"docker, a number above all it names", docker, false, unix.AUDIT_ARCH_X86_64, 1000, enosys},
		{"docker, x32, above", docker, false, unix.AUDIT_ARCH_X86_64, x32addKey + 1000, enosys},
		{"docker, x32, not named", docker, false, unix.AUDIT_ARCH_X86_64, x32addKey, eperm},
		{"docker, i386, above", docker, false, unix.AUDIT_ARCH_I386, 1000, enosys},
		{"docker, NoENOSYS", docker, true, unix.AUDIT_ARCH_X86_64, 1000, eperm},
		{"default allow", allowDefault, false, unix.AUDIT_ARCH_X86_64, 1000, unix.SECCOMP_RET_ALLOW},
		// runc adds the answer only for the architectures the policy lists.
		{"no architectures listed", unlisted, false, unix.AUDIT_ARCH_X86_64, 1000, eperm},
	} {
		f, err := Compile(c.s, Options{Arch: "amd64", NoENOSYS: c.noENOSYS})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := runBPF(f.Program, seccompData{arch: c.arch, nr: c.nr})
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, retName(got), retName(c.want))
		}
	}
}

// TestPrecedence: how rules for one call combine (the package doc).
func TestPrecedence(t *testing.T) {
	getpid, _ := sysX86_64.lookup("getpid")
	arg := func(op rspec.LinuxSeccompOperator, v uint64) []rspec.LinuxSeccompArg {
		return []rspec.LinuxSeccompArg{{Index: 0, Op: op, Value: v}}
	}
	errno := func(e uint32) uint32 { return unix.SECCOMP_RET_ERRNO | e }
	for _, c := range []struct {
		name  string
		rules []rspec.LinuxSyscall
		arg0  uint64
		want  uint32
	}{
		{"first unconditional wins over a later one",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(5)}, {Action: rspec.ActErrno, ErrnoRet: u(6)}}, 0, errno(5)},
		{"unconditional wins over an earlier conditional",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(5), Args: arg(rspec.OpEqualTo, 0)}, {Action: rspec.ActErrno, ErrnoRet: u(6)}}, 0, errno(6)},
		{"unconditional wins over a later conditional",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(6)}, {Action: rspec.ActErrno, ErrnoRet: u(5), Args: arg(rspec.OpEqualTo, 0)}}, 0, errno(6)},
		{"conditional: first match in config order",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(5), Args: arg(rspec.OpLessThan, 10)}, {Action: rspec.ActErrno, ErrnoRet: u(6), Args: arg(rspec.OpEqualTo, 3)}}, 3, errno(5)},
		{"conditional: a later rule when the first does not match",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(5), Args: arg(rspec.OpLessThan, 2)}, {Action: rspec.ActErrno, ErrnoRet: u(6), Args: arg(rspec.OpEqualTo, 3)}}, 3, errno(6)},
		{"conditional: none match, the default",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(5), Args: arg(rspec.OpLessThan, 2)}}, 3, unix.SECCOMP_RET_ALLOW},
		{"a rule with the default action is dropped, not shadowing",
			[]rspec.LinuxSyscall{{Action: rspec.ActAllow}, {Action: rspec.ActErrno, ErrnoRet: u(6)}}, 0, errno(6)},
		{"one argument compared twice: OR",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(7), Args: []rspec.LinuxSeccompArg{
				{Index: 0, Op: rspec.OpEqualTo, Value: 1}, {Index: 0, Op: rspec.OpEqualTo, Value: 2}}}}, 2, errno(7)},
		{"two arguments: AND",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(7), Args: []rspec.LinuxSeccompArg{
				{Index: 0, Op: rspec.OpEqualTo, Value: 2}, {Index: 1, Op: rspec.OpEqualTo, Value: 2}}}}, 2, unix.SECCOMP_RET_ALLOW},
		{"a 64-bit value: the high word counts",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(8), Args: arg(rspec.OpGreaterThan, 1<<32)}}, 1<<32 | 1, errno(8)},
		{"a 64-bit value: not greater",
			[]rspec.LinuxSyscall{{Action: rspec.ActErrno, ErrnoRet: u(8), Args: arg(rspec.OpGreaterThan, 1<<32)}}, 0xffffffff, unix.SECCOMP_RET_ALLOW},
	} {
		s := &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow}
		for _, r := range c.rules {
			r.Names = []string{"getpid"}
			s.Syscalls = append(s.Syscalls, r)
		}
		f, err := Compile(s, Options{Arch: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := runBPF(f.Program, seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: getpid, args: [6]uint64{c.arg0}})
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, retName(got), retName(c.want))
		}
	}
}
