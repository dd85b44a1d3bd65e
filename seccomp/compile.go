package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options say how to compile a policy.
type Options struct {
	// Arch is the GOARCH whose kernel will run the filter: "amd64" or
	// "arm64". Empty means the one minirun runs on (runtime.GOARCH).
	Arch string
	// NoENOSYS turns off runc's answer for system calls newer than the
	// policy (see the package doc): they then get the default action.
	NoENOSYS bool
}

// Filter is a compiled policy.
type Filter struct {
	// Program is the classic BPF program, ready for a struct sock_fprog.
	Program []unix.SockFilter
	// Flags are the SECCOMP_FILTER_FLAG_* the seccomp(2) call that
	// installs Program must pass: LOG, SPEC_ALLOW and WAIT_KILLABLE_RECV
	// from linux.seccomp.flags, NEW_LISTENER when a rule notifies.
	Flags uintptr
	// Notify is true when a rule is SCMP_ACT_NOTIFY: the seccomp(2) call
	// returns the listener's fd.
	Notify bool
	// Skipped lists what the policy names that the filter leaves out:
	// system calls an ABI does not have (the way runc and libseccomp skip
	// them) and architectures this machine cannot run.
	Skipped []string

	arch    string
	def     uint32
	abis    []*abiPolicy
	asm     *asm  // the program before layout, for Explain
	pos     []int // asm.ins[i] is Program[pos[i]]
	dropped []int // syscalls[i] dropped: their action is the default
}

// FieldError is an error in one field of the config; Field is its JSON
// path (linux.seccomp.syscalls[3].args[0].op).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, a...)}
}

// cond is one argument comparison, normalised: for MASKED_EQ, mask is
// the OCI value and val its valueTwo; for the others mask is all ones.
type cond struct {
	idx  uint
	op   rspec.LinuxSeccompOperator
	val  uint64
	mask uint64
}

// rule is one rule of one system call on one ABI.
type rule struct {
	conds  []cond
	action uint32
	src    int // index in linux.seccomp.syscalls
}

// sysRules are the rules of one system call number on one ABI.
type sysRules struct {
	name   string
	uncond *rule  // the first unconditional rule, which decides alone
	conds  []rule // the conditional rules, in config order
}

// abiPolicy is the policy of one ABI in the filter.
type abiPolicy struct {
	abi    *abi
	listed bool // in linux.seccomp.architectures (or native)
	sys    map[uint32]*sysRules
	enosys bool   // numbers above maxNr answer ENOSYS
	maxNr  uint32 // the largest number the policy names on this ABI
	// socketcall and ipc: the multiplexers' numbers (i386), 0 if none.
	socketcall, ipc uint32
}

// Compile turns an OCI seccomp policy into a BPF filter. It never panics:
// whatever it cannot compile is an error naming the field.
func Compile(s *rspec.LinuxSeccomp, o Options) (*Filter, error) {
	const f = "linux.seccomp"
	if s == nil {
		return nil, fieldErr(f, "missing")
	}
	goarch := o.Arch
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	family := family(goarch)
	if family == nil {
		return nil, fieldErr(f, "no system call tables for GOARCH %q (only amd64 and arm64)", goarch)
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet, f+".defaultAction", f+".defaultErrnoRet")
	if err != nil {
		return nil, err
	}
	if s.DefaultAction == rspec.ActNotify {
		return nil, fieldErr(f+".defaultAction", "SCMP_ACT_NOTIFY cannot be the default: the listener itself needs system calls to answer")
	}
	flt := &Filter{arch: goarch, def: def}

	// The ABIs: the native one always (libseccomp puts it in every filter),
	// the compat ones when listed. Others valid for OCI cannot occur on
	// this kernel: the filter need not mention them.
	listed := map[*abi]bool{family[0]: true}
	explicit := map[*abi]bool{}
	for i, a := range s.Architectures {
		var found *abi
		for _, b := range family {
			if b.arch == a {
				found = b
			}
		}
		if found == nil {
			if !knownArch(a) {
				return nil, fieldErr(fmt.Sprintf("%s.architectures[%d]", f, i), "unknown architecture %q", a)
			}
			flt.Skipped = append(flt.Skipped, fmt.Sprintf("%s: not an ABI of %s, left out of the filter (its processes cannot run here)", a, goarch))
			continue
		}
		listed[found] = true
		explicit[found] = true
	}
	for _, a := range family {
		if listed[a] {
			ap := &abiPolicy{abi: a, listed: true, sys: make(map[uint32]*sysRules, 512)}
			if a.mux {
				ap.socketcall, _ = a.table.lookup("socketcall")
				ap.ipc, _ = a.table.lookup("ipc")
			}
			flt.abis = append(flt.abis, ap)
		}
	}

	for i, fl := range s.Flags {
		switch fl {
		case rspec.LinuxSeccompFlagLog:
			flt.Flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case rspec.LinuxSeccompFlagSpecAllow:
			flt.Flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case rspec.LinuxSeccompFlagWaitKillableRecv:
			flt.Flags |= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		default:
			return nil, fieldErr(fmt.Sprintf("%s.flags[%d]", f, i), "unknown flag %q", fl)
		}
	}

	missing := map[string][]string{} // name → ABIs that lack it
	// nrs[k][j]: the number of name j on ABI k, or noNr.
	nrs := make([][]uint32, len(flt.abis))
	for i, sc := range s.Syscalls {
		// The field's path, made only for an error: most policies have none.
		g := func() string { return fmt.Sprintf("%s.syscalls[%d]", f, i) }
		act, err := action(sc.Action, sc.ErrnoRet, "action", "errnoRet")
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = g() + "." + fe.Field
			}
			return nil, err
		}
		if len(sc.Names) == 0 {
			return nil, fieldErr(g()+".names", "missing; list the system calls the rule applies to")
		}
		conds := make([]cond, len(sc.Args))
		seen := [6]bool{}
		repeated := false
		for j, a := range sc.Args {
			h := func() string { return fmt.Sprintf("%s.args[%d]", g(), j) }
			if a.Index > 5 {
				return nil, fieldErr(h()+".index", "%d is out of range 0 to 5", a.Index)
			}
			c := cond{idx: a.Index, op: a.Op, val: a.Value, mask: ^uint64(0)}
			switch a.Op {
			case rspec.OpNotEqual, rspec.OpLessThan, rspec.OpLessEqual, rspec.OpEqualTo, rspec.OpGreaterEqual, rspec.OpGreaterThan:
			case rspec.OpMaskedEqual:
				c.mask, c.val = a.Value, a.ValueTwo
			default:
				return nil, fieldErr(h()+".op", "unknown operator %q", a.Op)
			}
			if seen[a.Index] {
				repeated = true
			}
			seen[a.Index] = true
			conds[j] = c
		}
		if sc.Action == rspec.ActNotify {
			flt.Notify = true
		}
		for j, n := range sc.Names {
			if n == "" {
				return nil, fieldErr(fmt.Sprintf("%s.names[%d]", g(), j), "must not be empty")
			}
		}
		// Look each name up once per ABI. The ENOSYS threshold counts every
		// name the policy gives, whatever its rule becomes (runc's
		// findLastSyscalls).
		for k, ap := range flt.abis {
			nrs[k] = nrs[k][:0]
			for _, n := range sc.Names {
				nr, ok := ap.abi.table.lookup(n)
				if !ok {
					nr = noNr
				} else if nr > ap.maxNr {
					ap.maxNr = nr
				}
				nrs[k] = append(nrs[k], nr)
			}
		}
		// A rule with the default action changes nothing and runc drops it
		// (libseccomp refuses it): dropping it also keeps it from shadowing
		// a later rule for the same call.
		if act == def {
			flt.dropped = append(flt.dropped, i)
			continue
		}
		// Rules: one with every condition, AND-ed; if an argument is
		// compared twice, runc adds each condition as a rule of its own
		// (libseccomp takes one comparison per argument), OR-ed.
		var sets [][]cond
		if repeated {
			for _, c := range conds {
				sets = append(sets, []cond{c})
			}
		} else {
			sets = [][]cond{conds}
		}
		for j, n := range sc.Names {
			for k, ap := range flt.abis {
				if !ap.add(n, nrs[k][j], sets, act, i) {
					missing[n] = append(missing[n], ap.abi.name)
				}
			}
		}
	}
	if flt.Flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 && !flt.Notify {
		for i, fl := range s.Flags {
			if fl == rspec.LinuxSeccompFlagWaitKillableRecv {
				return nil, fieldErr(fmt.Sprintf("%s.flags[%d]", f, i), "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a SCMP_ACT_NOTIFY rule: the kernel takes it only with a listener")
			}
		}
	}
	if flt.Notify {
		flt.Flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		flt.Skipped = append(flt.Skipped, fmt.Sprintf("%s: no such system call on %s", n, strings.Join(missing[n], ", ")))
	}

	// runc's -ENOSYS stub: unless the default already lets calls through
	// (or answers ENOSYS), a number above every one the policy names, on
	// an architecture the policy lists, is a call newer than the policy:
	// ENOSYS lets libc fall back to an older call instead of failing.
	stub := !o.NoENOSYS && !allowish(s.DefaultAction) &&
		!(s.DefaultErrnoRet != nil && *s.DefaultErrnoRet == uint(unix.ENOSYS))
	for _, ap := range flt.abis {
		ap.enosys = stub && explicit[ap.abi] && ap.maxNr > 0
	}

	prog, err := flt.build()
	if err != nil {
		return nil, err
	}
	if len(prog) > bpfMaxInsns {
		return nil, fieldErr(f, "the filter needs %d BPF instructions; the kernel takes at most %d (BPF_MAXINSNS): split the policy or use fewer argument rules", len(prog), bpfMaxInsns)
	}
	flt.Program = prog
	return flt, nil
}

// noNr marks a name an ABI does not have.
const noNr = ^uint32(0)

// bpfMaxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const bpfMaxInsns = 4096

func allowish(a rspec.LinuxSeccompAction) bool {
	return a == rspec.ActAllow || a == rspec.ActLog || a == rspec.ActTrace
}

// add records rule sets for name on this ABI; false if the ABI has no
// such call. On i386 the socket and SysV IPC calls are also reachable
// through socketcall(2) and ipc(2): as libseccomp does, each rule is added
// to the multiplexer too, with its first argument set to the call's number
// (the call's own argument 0 cannot be seen there; the others stay,
// compared with the multiplexer's arguments, as libseccomp leaves them).
func (ap *abiPolicy) add(name string, nr uint32, sets [][]cond, act uint32, src int) bool {
	found := false
	if nr != noNr {
		found = true
		for _, cs := range sets {
			ap.rule(nr, name, cs, act, src)
		}
	}
	if ap.abi.mux {
		for _, m := range [2]struct {
			mux   string
			nr    uint32
			table sysTable
		}{{"socketcall", ap.socketcall, socketcallTable}, {"ipc", ap.ipc, ipcTable}} {
			if m.nr == 0 {
				continue
			}
			call, ok := m.table.lookup(name)
			if !ok {
				continue
			}
			nr := m.nr
			found = true
			for _, cs := range sets {
				mcs := []cond{{idx: 0, op: rspec.OpEqualTo, val: uint64(call), mask: ^uint64(0)}}
				for _, c := range cs {
					if c.idx != 0 {
						mcs = append(mcs, c)
					}
				}
				ap.rule(nr, m.mux, mcs, act, src)
			}
		}
	}
	return found
}

// rule adds one rule for number nr. As in libseccomp, an unconditional
// rule decides alone: the first one stays, later ones are dropped, and it
// overrides every conditional rule for the call. Conditional rules are
// tried in config order; the first that matches decides (the runtime
// spec: "only the first entry is effective").
func (ap *abiPolicy) rule(nr uint32, name string, cs []cond, act uint32, src int) {
	sr := ap.sys[nr]
	if sr == nil {
		sr = &sysRules{name: name}
		ap.sys[nr] = sr
	}
	if sr.uncond != nil {
		return
	}
	// Conditions that compare nothing (a 32-bit ABI's MASKED_EQ with a mask
	// of zero in the low word) always hold; drop them so that a rule made
	// only of them becomes unconditional, as libseccomp's tree does.
	var keep []cond
	for _, c := range cs {
		if !alwaysTrue(c, ap.abi.bits32) {
			keep = append(keep, c)
		}
	}
	r := rule{conds: keep, action: act, src: src}
	if len(keep) == 0 {
		sr.uncond = &r
		sr.conds = nil
		return
	}
	sr.conds = append(sr.conds, r)
}

func alwaysTrue(c cond, bits32 bool) bool {
	if c.op != rspec.OpMaskedEqual {
		return false
	}
	if bits32 {
		return uint32(c.mask) == 0
	}
	return c.mask == 0
}

// action encodes an OCI action as a SECCOMP_RET_* value.
func action(a rspec.LinuxSeccompAction, errno *uint, field, errnoField string) (uint32, error) {
	var ret uint32
	switch a {
	case "":
		return 0, fieldErr(field, "missing")
	case rspec.ActKill, rspec.ActKillThread:
		// runc maps SCMP_ACT_KILL to the thread kill, as libseccomp does.
		ret = unix.SECCOMP_RET_KILL_THREAD
	case rspec.ActKillProcess:
		ret = unix.SECCOMP_RET_KILL_PROCESS
	case rspec.ActTrap:
		ret = unix.SECCOMP_RET_TRAP
	case rspec.ActAllow:
		ret = unix.SECCOMP_RET_ALLOW
	case rspec.ActLog:
		ret = unix.SECCOMP_RET_LOG
	case rspec.ActNotify:
		ret = unix.SECCOMP_RET_USER_NOTIF
	case rspec.ActErrno:
		e := uint(unix.EPERM)
		if errno != nil {
			e = *errno
			// The kernel hands back -data as the return value; past
			// MAX_ERRNO (4095) libc would not see an error at all.
			if e > 4095 {
				return 0, fieldErr(errnoField, "%d is not an errno (0 to 4095)", e)
			}
		}
		return unix.SECCOMP_RET_ERRNO | uint32(e), nil
	case rspec.ActTrace:
		e := uint(unix.EPERM)
		if errno != nil {
			e = *errno
			if e > unix.SECCOMP_RET_DATA {
				return 0, fieldErr(errnoField, "%d does not fit the 16 bits SCMP_ACT_TRACE hands the tracer", e)
			}
		}
		return unix.SECCOMP_RET_TRACE | uint32(e), nil
	default:
		return 0, fieldErr(field, "unknown action %q", a)
	}
	if errno != nil {
		return 0, fieldErr(errnoField, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return a value; %s does not", a)
	}
	return ret, nil
}

func knownArch(a rspec.Arch) bool {
	for _, k := range allArchs {
		if k == a {
			return true
		}
	}
	return false
}

// allArchs are the architectures runtime-spec v1.3.0 names.
var allArchs = []rspec.Arch{
	rspec.ArchX86, rspec.ArchX86_64, rspec.ArchX32, rspec.ArchARM, rspec.ArchAARCH64,
	rspec.ArchMIPS, rspec.ArchMIPS64, rspec.ArchMIPS64N32, rspec.ArchMIPSEL, rspec.ArchMIPSEL64,
	rspec.ArchMIPSEL64N32, rspec.ArchPPC, rspec.ArchPPC64, rspec.ArchPPC64LE, rspec.ArchS390,
	rspec.ArchS390X, rspec.ArchPARISC, rspec.ArchPARISC64, rspec.ArchRISCV64, rspec.ArchLOONGARCH64,
	rspec.ArchM68K, rspec.ArchSH, rspec.ArchSHEB,
}

// Encode returns Program as the kernel reads it: an array of struct
// sock_filter {__u16 code; __u8 jt; __u8 jf; __u32 k;} in the machine's byte
// order, 8 bytes an instruction, ready to copy into memory the child
// points a struct sock_fprog at (len = len(Program)).
func (f *Filter) Encode() []byte {
	b := make([]byte, 0, 8*len(f.Program))
	for _, in := range f.Program {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b
}
