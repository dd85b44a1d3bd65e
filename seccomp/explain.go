package seccomp

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Explain renders the filter for people: the policy per ABI (which system
// calls get which action), then the BPF program with its labels and jump
// targets.
func (f *Filter) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seccomp filter for %s (system call tables of Linux %s)\n", f.arch, headersVersion)
	fmt.Fprintf(&b, "default action: %s\n", retName(f.def))
	fmt.Fprintf(&b, "other ABIs:     %s (libseccomp's bad-architecture action)\n", retName(badArch))
	fmt.Fprintf(&b, "flags:          %s\n", flagNames(f.Flags))
	for _, ap := range f.abis {
		f.explainABI(&b, ap)
	}
	if len(f.Skipped) > 0 {
		fmt.Fprintf(&b, "\nskipped (%d):\n", len(f.Skipped))
		for _, s := range f.Skipped {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	for _, i := range f.dropped {
		fmt.Fprintf(&b, "linux.seccomp.syscalls[%d]: the default action; dropped, as runc does\n", i)
	}
	fmt.Fprintf(&b, "\nBPF program, %d instructions (the kernel takes up to %d):\n", len(f.Program), bpfMaxInsns)
	type listLine struct {
		labels []string
		note   note
	}
	lines := make([]listLine, len(f.Program))
	for i := range lines {
		lines[i].note.text = "long jump" // unless an instruction of asm lands here
	}
	for i, in := range f.asm.ins {
		lines[f.pos[i]].note = in.note
	}
	for l, i := range f.asm.at {
		if name := f.asm.names[label(l)]; i >= 0 && name != "" {
			lines[f.pos[i]].labels = append(lines[f.pos[i]].labels, name)
		}
	}
	for i, in := range f.Program {
		l := lines[i]
		for _, name := range l.labels {
			fmt.Fprintf(&b, "%s:\n", name)
		}
		if l.note.head != nil {
			fmt.Fprintf(&b, "%s:\n", l.note.head.describe())
		}
		text := disasm(i, in)
		if n := l.note.render(in); n != "" {
			text = fmt.Sprintf("%-36s ; %s", text, n)
		}
		fmt.Fprintf(&b, "  %4d  %s\n", i, text)
	}
	return b.String()
}

func (f *Filter) explainABI(b *strings.Builder, ap *abiPolicy) {
	a := ap.abi
	fmt.Fprintf(b, "\n%s (%s, nr %#x-%#x):\n", a.name, auditName(a.audit), a.lo, a.hi)
	byAct := map[uint32][]string{}
	var conds []uint32
	for nr, sr := range ap.sys {
		if ap.enosys && nr > ap.maxNr {
			continue
		}
		if sr.uncond != nil {
			byAct[sr.uncond.action] = append(byAct[sr.uncond.action], sr.name)
		} else {
			conds = append(conds, nr)
		}
	}
	acts := make([]uint32, 0, len(byAct))
	for r := range byAct {
		acts = append(acts, r)
	}
	sort.Slice(acts, func(i, j int) bool { return acts[i] < acts[j] })
	for _, r := range acts {
		names := byAct[r]
		sort.Strings(names)
		fmt.Fprintf(b, "  %s (%d):\n", retName(r), len(names))
		wrap(b, names, "    ", 100)
	}
	sort.Slice(conds, func(i, j int) bool { return conds[i] < conds[j] })
	if len(conds) > 0 {
		fmt.Fprintf(b, "  by arguments, the first rule that matches decides:\n")
	}
	for _, nr := range conds {
		sr := ap.sys[nr]
		fmt.Fprintf(b, "    %s (%d):\n", sr.name, nr)
		for _, r := range sr.conds {
			var cs []string
			for _, c := range r.conds {
				cs = append(cs, condString(c, a.bits32))
			}
			fmt.Fprintf(b, "      if %s: %s  (syscalls[%d])\n", strings.Join(cs, " && "), retName(r.action), r.src)
		}
		fmt.Fprintf(b, "      else: %s\n", retName(f.def))
	}
	if ap.enosys {
		fmt.Fprintf(b, "  nr above %d (%s), newer than the policy: %s\n", ap.maxNr, a.table.name(ap.maxNr), retName(enosysRet))
	}
	fmt.Fprintf(b, "  any other nr: %s\n", retName(f.def))
}

func condString(c cond, bits32 bool) string {
	w := "arg"
	v, m := c.val, c.mask
	if bits32 {
		w, v, m = "arg(32 bits)", uint64(uint32(v)), uint64(uint32(m))
	}
	if c.op == "SCMP_CMP_MASKED_EQ" {
		return fmt.Sprintf("%s%d & %#x == %#x", w, c.idx, m, v&m)
	}
	ops := map[string]string{
		"SCMP_CMP_NE": "!=", "SCMP_CMP_LT": "<", "SCMP_CMP_LE": "<=", "SCMP_CMP_EQ": "==",
		"SCMP_CMP_GE": ">=", "SCMP_CMP_GT": ">",
	}
	return fmt.Sprintf("%s%d %s %#x", w, c.idx, ops[string(c.op)], v)
}

func wrap(b *strings.Builder, words []string, indent string, width int) {
	line := indent
	for _, w := range words {
		if len(line)+len(w)+1 > width && line != indent {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = indent
		}
		line += w + " "
	}
	if line != indent {
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
}

func flagNames(fl uintptr) string {
	if fl == 0 {
		return "none"
	}
	var n []string
	for _, x := range []struct {
		bit  uintptr
		name string
	}{
		{unix.SECCOMP_FILTER_FLAG_LOG, "SECCOMP_FILTER_FLAG_LOG"},
		{unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
		{unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, "SECCOMP_FILTER_FLAG_NEW_LISTENER"},
		{unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"},
	} {
		if fl&x.bit != 0 {
			n = append(n, x.name)
		}
	}
	return strings.Join(n, "|")
}

// disasm renders one instruction; jump targets are absolute indices.
func disasm(i int, in unix.SockFilter) string {
	switch in.Code {
	case opLdAbs:
		return fmt.Sprintf("ld   [%d]", in.K)
	case opAnd:
		return fmt.Sprintf("and  #%#x", in.K)
	case opRet:
		return fmt.Sprintf("ret  #%#x", in.K)
	case opJA:
		return fmt.Sprintf("ja   %d", i+1+int(in.K))
	}
	ops := map[uint16]string{opJEQ: "jeq", opJGT: "jgt", opJGE: "jge", opJSET: "jset"}
	if op, ok := ops[in.Code]; ok {
		return fmt.Sprintf("%-4s #%#x, %d, %d", op, in.K, i+1+int(in.Jt), i+1+int(in.Jf))
	}
	return fmt.Sprintf("code %#x k %#x jt %d jf %d", in.Code, in.K, in.Jt, in.Jf)
}

// render says what an instruction does, in the policy's words.
func (n note) render(in unix.SockFilter) string {
	switch {
	case n.text != "":
		return n.text
	case n.ret:
		return retName(in.K)
	case n.node != nil:
		r := fmt.Sprintf("nr >= %s", num(n.node.lo))
		if n.node.ap != nil {
			if name := n.node.ap.abi.table.name(n.node.lo); name != "" {
				r += " (" + name + ")"
			}
		}
		return r
	case n.c != nil:
		if in.Code == opLdAbs {
			if (in.K-offArgs)%8 == 4 {
				return fmt.Sprintf("arg%d, high word", n.c.idx)
			}
			return fmt.Sprintf("arg%d", n.c.idx)
		}
		if in.Code == opAnd {
			return ""
		}
		return condString(*n.c, n.bits32)
	}
	return ""
}

// num prints a system call number: x32's and ARM's private ones in hex.
func num(v uint32) string {
	if v >= 0x10000 {
		return fmt.Sprintf("%#x", v)
	}
	return fmt.Sprint(v)
}
