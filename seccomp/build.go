package seccomp

import (
	"fmt"
	"sort"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data {int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6];}. Every ABI here is little-endian:
// an argument's low word comes first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// badArch is what a call from an ABI the filter does not list gets:
// libseccomp's default bad-architecture action, which runc keeps.
const badArch = unix.SECCOMP_RET_KILL_THREAD

// interval is a run of system call numbers [lo, hi] with one decision.
type interval struct {
	lo, hi uint32
	ret    uint32    // the action, when rules is nil
	rules  *sysRules // conditional rules
	ap     *abiPolicy
	bad    bool // a bad architecture, not the policy's
}

// same says whether two intervals decide alike by number alone.
func (v interval) same(w interval) bool {
	return v.rules == nil && w.rules == nil && v.ret == w.ret && v.bad == w.bad
}

// intervals cuts one ABI's range of numbers into runs that decide alike,
// merging neighbours: a run of allowed calls costs one comparison.
func (ap *abiPolicy) intervals(def uint32) []interval {
	var iv []interval
	add := func(v interval) {
		v.ap = ap
		if n := len(iv); n > 0 && iv[n-1].same(v) && iv[n-1].hi+1 == v.lo {
			iv[n-1].hi = v.hi
			return
		}
		iv = append(iv, v)
	}
	ret := func(lo, hi, r uint32) {
		add(interval{lo: lo, hi: hi, ret: r})
	}
	gap := func(lo, hi uint32) {
		if ap.enosys && hi > ap.maxNr {
			if lo <= ap.maxNr {
				ret(lo, ap.maxNr, def)
				lo = ap.maxNr + 1
			}
			ret(lo, hi, enosysRet)
			return
		}
		ret(lo, hi, def)
	}
	nrs := make([]uint32, 0, len(ap.sys))
	for nr := range ap.sys {
		// Numbers above the ENOSYS line answer ENOSYS before any rule,
		// as runc's stub runs before libseccomp's filter.
		if nr >= ap.abi.lo && nr <= ap.abi.hi && !(ap.enosys && nr > ap.maxNr) {
			nrs = append(nrs, nr)
		}
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	next, done := ap.abi.lo, false
	for _, nr := range nrs {
		if nr > next {
			gap(next, nr-1)
		}
		sr := ap.sys[nr]
		if sr.uncond != nil {
			ret(nr, nr, sr.uncond.action)
		} else {
			add(interval{lo: nr, hi: nr, rules: sr})
		}
		if nr == ap.abi.hi {
			done = true
			break
		}
		next = nr + 1
	}
	if !done {
		gap(next, ap.abi.hi)
	}
	return iv
}

const enosysRet = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// build emits the program:
//
//	ld arch; one jeq per audit arch; ret badArch
//	per audit arch: ld nr; a binary search over its intervals
func (f *Filter) build() ([]unix.SockFilter, error) {
	a := &asm{ins: make([]insn, 0, 1024), at: make([]int, 0, 1024)}
	a.load(offArch, note{text: "arch"})
	type group struct {
		audit uint32
		name  string
		iv    []interval
		entry label
	}
	var groups []*group
	for _, ap := range f.abis {
		var g *group
		for _, h := range groups {
			if h.audit == ap.abi.audit {
				g = h
			}
		}
		if g == nil {
			g = &group{audit: ap.abi.audit, name: ap.abi.name}
			groups = append(groups, g)
		} else {
			g.name += "+" + ap.abi.name
		}
		g.iv = append(g.iv, ap.intervals(f.def)...)
	}
	// x86_64 without x32: x32's numbers on the same audit arch are a bad
	// architecture (libseccomp's "nr >= __X32_SYSCALL_BIT" check).
	for _, g := range groups {
		sort.Slice(g.iv, func(i, j int) bool { return g.iv[i].lo < g.iv[j].lo })
		if last := g.iv[len(g.iv)-1]; last.hi != 0xffffffff {
			g.iv = append(g.iv, interval{lo: last.hi + 1, hi: 0xffffffff, ret: badArch, bad: true})
		}
		if g.iv[0].lo != 0 {
			g.iv = append([]interval{{lo: 0, hi: g.iv[0].lo - 1, ret: badArch, bad: true}}, g.iv...)
		}
	}
	for _, g := range groups {
		g.entry = a.newLabel(g.name)
		a.jumpNext(opJEQ, g.audit, g.entry, noLabel, note{text: auditName(g.audit)})
	}
	a.ret(badArch)
	for _, g := range groups {
		a.mark(g.entry)
		a.load(offNr, note{text: "nr"})
		f.tree(a, g.iv)
	}
	prog, pos, err := a.assemble()
	if err != nil {
		return nil, &FieldError{Field: "linux.seccomp", Err: err}
	}
	f.asm, f.pos = a, pos
	return prog, nil
}

// tree emits a binary search over sorted, contiguous intervals: each node
// asks "nr >= first number of the upper half?", so a call costs
// log2(len(iv)) comparisons before its leaf.
func (f *Filter) tree(a *asm, iv []interval) {
	if len(iv) == 1 {
		f.leaf(a, &iv[0])
		return
	}
	mid := len(iv) / 2
	upper := a.newLabel("")
	a.jumpNext(opJGE, iv[mid].lo, upper, noLabel, note{node: &iv[mid]})
	f.tree(a, iv[:mid])
	a.mark(upper)
	f.tree(a, iv[mid:])
}

func (f *Filter) leaf(a *asm, v *interval) {
	a.head = v
	if v.rules == nil {
		a.ret(v.ret)
		return
	}
	bits32 := v.ap.abi.bits32
	for _, r := range v.rules.conds {
		next := a.newLabel("")
		for _, c := range r.conds {
			emitCond(a, c, next, bits32)
		}
		a.ret(r.action)
		a.mark(next)
	}
	a.ret(f.def)
}

// describe names an interval for listings: "x86_64 0-3: read…close".
func (v *interval) describe() string {
	if v.bad {
		return fmt.Sprintf("%s-%s: not an ABI the policy lists", num(v.lo), num(v.hi))
	}
	abiName := "?"
	if v.ap != nil {
		abiName = v.ap.abi.name
	}
	r := abiName + " " + num(v.lo)
	if v.hi != v.lo {
		r += "-" + num(v.hi)
	}
	if v.ap != nil {
		first, last := v.ap.abi.table.name(v.lo), ""
		if v.hi != v.lo && v.hi-v.lo < 1024 {
			last = v.ap.abi.table.name(v.hi)
		}
		switch {
		case first != "" && last != "":
			r += ": " + first + "…" + last
		case first != "":
			r += ": " + first
		}
	}
	return r
}

// emitCond emits one argument comparison: it falls through when the
// comparison holds and jumps to fail when not. On 64-bit ABIs the argument
// is two 32-bit words (BPF loads 32 bits): the high word decides unless
// equal, then the low word, as libseccomp compares.
func emitCond(a *asm, c cond, fail label, bits32 bool) {
	lo := uint32(offArgs + 8*c.idx)
	hi := lo + 4
	vlo, vhi := uint32(c.val), uint32(c.val>>32)
	mlo, mhi := uint32(c.mask), uint32(c.mask>>32)
	n := note{c: &c, bits32: bits32}
	if bits32 {
		a.load(lo, n)
		switch c.op {
		case rspec.OpEqualTo:
			a.jumpNext(opJEQ, vlo, noLabel, fail, n)
		case rspec.OpNotEqual:
			a.jumpNext(opJEQ, vlo, fail, noLabel, n)
		case rspec.OpGreaterThan:
			a.jumpNext(opJGT, vlo, noLabel, fail, n)
		case rspec.OpGreaterEqual:
			a.jumpNext(opJGE, vlo, noLabel, fail, n)
		case rspec.OpLessThan:
			a.jumpNext(opJGE, vlo, fail, noLabel, n)
		case rspec.OpLessEqual:
			a.jumpNext(opJGT, vlo, fail, noLabel, n)
		case rspec.OpMaskedEqual:
			a.and(mlo)
			a.jumpNext(opJEQ, vlo&mlo, noLabel, fail, n)
		}
		return
	}
	pass := a.newLabel("")
	switch c.op {
	case rspec.OpEqualTo:
		a.load(hi, n)
		a.jumpNext(opJEQ, vhi, noLabel, fail, n)
		a.load(lo, n)
		a.jumpNext(opJEQ, vlo, noLabel, fail, n)
	case rspec.OpNotEqual:
		a.load(hi, n)
		a.jumpNext(opJEQ, vhi, noLabel, pass, n)
		a.load(lo, n)
		a.jumpNext(opJEQ, vlo, fail, noLabel, n)
	case rspec.OpMaskedEqual:
		if mhi != 0 {
			a.load(hi, n)
			a.and(mhi)
			a.jumpNext(opJEQ, vhi&mhi, noLabel, fail, n)
		}
		if mlo != 0 {
			a.load(lo, n)
			a.and(mlo)
			a.jumpNext(opJEQ, vlo&mlo, noLabel, fail, n)
		}
	case rspec.OpGreaterThan, rspec.OpGreaterEqual:
		a.load(hi, n)
		a.jumpNext(opJGT, vhi, pass, noLabel, n)
		a.jumpNext(opJEQ, vhi, noLabel, fail, n)
		a.load(lo, n)
		op := uint16(opJGT)
		if c.op == rspec.OpGreaterEqual {
			op = opJGE
		}
		a.jumpNext(op, vlo, noLabel, fail, n)
	case rspec.OpLessThan, rspec.OpLessEqual:
		a.load(hi, n)
		a.jumpNext(opJGT, vhi, fail, noLabel, n)
		a.jumpNext(opJEQ, vhi, noLabel, pass, n)
		a.load(lo, n)
		op := uint16(opJGE) // LT fails when lo >= v
		if c.op == rspec.OpLessEqual {
			op = opJGT // LE fails when lo > v
		}
		a.jumpNext(op, vlo, fail, noLabel, n)
	}
	a.mark(pass)
}

func auditName(audit uint32) string {
	switch audit {
	case unix.AUDIT_ARCH_X86_64:
		return "AUDIT_ARCH_X86_64"
	case unix.AUDIT_ARCH_I386:
		return "AUDIT_ARCH_I386"
	case unix.AUDIT_ARCH_AARCH64:
		return "AUDIT_ARCH_AARCH64"
	case unix.AUDIT_ARCH_ARM:
		return "AUDIT_ARCH_ARM"
	}
	return fmt.Sprintf("%#x", audit)
}

// retName renders a SECCOMP_RET_* value the way OCI names the action.
func retName(r uint32) string {
	data := r & unix.SECCOMP_RET_DATA
	switch r & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "SCMP_ACT_KILL_PROCESS"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "SCMP_ACT_KILL_THREAD"
	case unix.SECCOMP_RET_TRAP:
		return "SCMP_ACT_TRAP"
	case unix.SECCOMP_RET_ERRNO:
		return "SCMP_ACT_ERRNO(" + errnoName(data) + ")"
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("SCMP_ACT_TRACE(%d)", data)
	case unix.SECCOMP_RET_LOG:
		return "SCMP_ACT_LOG"
	case unix.SECCOMP_RET_USER_NOTIF:
		return "SCMP_ACT_NOTIFY"
	case unix.SECCOMP_RET_ALLOW:
		return "SCMP_ACT_ALLOW"
	}
	return fmt.Sprintf("%#x", r)
}

func errnoName(e uint32) string {
	if n := unix.ErrnoName(unix.Errno(e)); n != "" {
		return n
	}
	return fmt.Sprint(e)
}
