package seccomp

import (
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// refDecide is the reference the compiled filters are checked against: a
// direct reading of the policy for one system call, written from the
// semantics the package doc states, sharing nothing with the compiler but
// the system call tables.
func refDecide(s *rspec.LinuxSeccomp, goarch string, noENOSYS bool, d seccompData) uint32 {
	ret := func(a rspec.LinuxSeccompAction, errno *uint) uint32 {
		e := uint32(unix.EPERM)
		if errno != nil {
			e = uint32(*errno)
		}
		switch a {
		case rspec.ActKill, rspec.ActKillThread:
			return 0
		case rspec.ActKillProcess:
			return 0x80000000
		case rspec.ActTrap:
			return 0x00030000
		case rspec.ActErrno:
			return 0x00050000 | e
		case rspec.ActTrace:
			return 0x7ff00000 | e
		case rspec.ActLog:
			return 0x7ffc0000
		case rspec.ActNotify:
			return 0x7fc00000
		case rspec.ActAllow:
			return 0x7fff0000
		}
		panic("reference: unknown action " + a)
	}
	def := ret(s.DefaultAction, s.DefaultErrnoRet)

	// Which ABI made the call?
	type abiRef struct {
		arch   rspec.Arch
		table  sysTable
		bits32 bool
		mux    bool
	}
	var who *abiRef
	var native rspec.Arch
	switch goarch {
	case "amd64":
		native = rspec.ArchX86_64
		switch {
		case d.arch == unix.AUDIT_ARCH_X86_64 && d.nr < 0x40000000:
			who = &abiRef{rspec.ArchX86_64, sysX86_64, false, false}
		case d.arch == unix.AUDIT_ARCH_X86_64:
			who = &abiRef{rspec.ArchX32, sysX32, true, false}
		case d.arch == unix.AUDIT_ARCH_I386:
			who = &abiRef{rspec.ArchX86, sysI386, true, true}
		}
	case "arm64":
		native = rspec.ArchAARCH64
		switch d.arch {
		case unix.AUDIT_ARCH_AARCH64:
			who = &abiRef{rspec.ArchAARCH64, sysAArch64, false, false}
		case unix.AUDIT_ARCH_ARM:
			who = &abiRef{rspec.ArchARM, sysARM, true, false}
		}
	}
	if who == nil {
		return 0 // an ABI of another machine: the bad-arch action
	}
	listed := who.arch == native
	explicit := false
	for _, a := range s.Architectures {
		if a == who.arch {
			listed, explicit = true, true
		}
	}
	if !listed {
		return 0
	}

	// runc's ENOSYS stub.
	if !noENOSYS && explicit && s.DefaultAction != rspec.ActAllow && s.DefaultAction != rspec.ActLog &&
		s.DefaultAction != rspec.ActTrace && !(s.DefaultErrnoRet != nil && *s.DefaultErrnoRet == uint(unix.ENOSYS)) {
		var max uint32
		for _, sc := range s.Syscalls {
			for _, n := range sc.Names {
				if nr, ok := who.table.lookup(n); ok && nr > max {
					max = nr
				}
			}
		}
		if max > 0 && d.nr > max {
			return 0x00050000 | uint32(unix.ENOSYS)
		}
	}

	// Every rule that names this call, in config order.
	type refRule struct {
		args []rspec.LinuxSeccompArg
		ret  uint32
	}
	var rules []refRule
	for _, sc := range s.Syscalls {
		r := ret(sc.Action, sc.ErrnoRet)
		if r == def {
			continue
		}
		// Split when an argument is compared twice.
		sets := [][]rspec.LinuxSeccompArg{sc.Args}
		count := map[uint]int{}
		for _, a := range sc.Args {
			count[a.Index]++
		}
		for _, c := range count {
			if c > 1 {
				sets = nil
				for _, a := range sc.Args {
					sets = append(sets, []rspec.LinuxSeccompArg{a})
				}
				break
			}
		}
		for _, n := range sc.Names {
			if nr, ok := who.table.lookup(n); ok && nr == d.nr {
				for _, set := range sets {
					rules = append(rules, refRule{set, r})
				}
			}
			if !who.mux {
				continue
			}
			for _, m := range []struct {
				mux string
				t   sysTable
			}{{"socketcall", socketcallTable}, {"ipc", ipcTable}} {
				call, ok := m.t.lookup(n)
				muxNr, ok2 := who.table.lookup(m.mux)
				if !ok || !ok2 || muxNr != d.nr {
					continue
				}
				for _, set := range sets {
					args := []rspec.LinuxSeccompArg{{Index: 0, Op: rspec.OpEqualTo, Value: uint64(call)}}
					for _, a := range set {
						if a.Index != 0 {
							args = append(args, a)
						}
					}
					rules = append(rules, refRule{args, r})
				}
			}
		}
	}
	holds := func(a rspec.LinuxSeccompArg) bool {
		arg, v := d.args[a.Index], a.Value
		if who.bits32 {
			arg, v = uint64(uint32(arg)), uint64(uint32(v))
		}
		switch a.Op {
		case rspec.OpEqualTo:
			return arg == v
		case rspec.OpNotEqual:
			return arg != v
		case rspec.OpLessThan:
			return arg < v
		case rspec.OpLessEqual:
			return arg <= v
		case rspec.OpGreaterThan:
			return arg > v
		case rspec.OpGreaterEqual:
			return arg >= v
		case rspec.OpMaskedEqual:
			m, v2 := a.Value, a.ValueTwo
			if who.bits32 {
				m, v2 = uint64(uint32(m)), uint64(uint32(v2))
			}
			return arg&m == v2&m
		}
		panic("reference: unknown op")
	}
	// A rule whose every comparison is vacuous (a mask of zero) is
	// unconditional.
	uncond := func(r refRule) bool {
		for _, a := range r.args {
			m := a.Value
			if who.bits32 {
				m = uint64(uint32(m))
			}
			if a.Op != rspec.OpMaskedEqual || m != 0 {
				return false
			}
		}
		return true
	}
	for _, r := range rules {
		if uncond(r) {
			return r.ret
		}
	}
	for _, r := range rules {
		all := true
		for _, a := range r.args {
			all = all && holds(a)
		}
		if all {
			return r.ret
		}
	}
	return def
}
