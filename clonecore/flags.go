package clonecore

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// Flags is a set of clone3(2) flags. The exit signal is not part of it: clone3
// passes it separately, and the legacy clone(2) entry puts it in the low byte,
// where bit 0x80 would be mistaken for CLONE_NEWTIME.
type Flags uint64

// The clone flags, with the values of linux/sched.h.
const (
	NEWTIME        Flags = 0x00000080  // new time namespace (clone3 only)
	VM             Flags = 0x00000100  // share the address space
	FS             Flags = 0x00000200  // share root, cwd and umask
	FILES          Flags = 0x00000400  // share the file descriptor table
	SIGHAND        Flags = 0x00000800  // share the signal handler table
	PIDFD          Flags = 0x00001000  // return a pidfd for the child
	PTRACE         Flags = 0x00002000  // trace the child if the parent is traced
	VFORK          Flags = 0x00004000  // suspend the parent until the child execs or exits
	PARENT         Flags = 0x00008000  // the child's parent is the caller's parent
	THREAD         Flags = 0x00010000  // same thread group as the caller
	NEWNS          Flags = 0x00020000  // new mount namespace
	SYSVSEM        Flags = 0x00040000  // share System V semaphore undo values
	SETTLS         Flags = 0x00080000  // set the child's thread pointer
	PARENT_SETTID  Flags = 0x00100000  // store the child's TID in the parent's memory
	CHILD_CLEARTID Flags = 0x00200000  // zero the TID word and wake its futex when the child exits or execs
	DETACHED       Flags = 0x00400000  // ignored by the kernel since 2.6
	UNTRACED       Flags = 0x00800000  // a tracer cannot force CLONE_PTRACE
	CHILD_SETTID   Flags = 0x01000000  // store the child's TID in the child's memory
	NEWCGROUP      Flags = 0x02000000  // new cgroup namespace
	NEWUTS         Flags = 0x04000000  // new UTS namespace (hostname, domainname)
	NEWIPC         Flags = 0x08000000  // new IPC namespace
	NEWUSER        Flags = 0x10000000  // new user namespace
	NEWPID         Flags = 0x20000000  // new PID namespace
	NEWNET         Flags = 0x40000000  // new network namespace
	IO             Flags = 0x80000000  // share the I/O context
	CLEAR_SIGHAND  Flags = 0x100000000 // reset caught signal handlers to default (clone3 only)
	INTO_CGROUP    Flags = 0x200000000 // start the child in the cgroup given by a directory fd (clone3 only)
)

// NamespaceFlags is every CLONE_NEW* flag.
const NamespaceFlags = NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME

// Presets name the flag sets people mean when they say "a thread", "fork",
// "vfork" or "a container".
var Presets = map[string]Flags{
	// What glibc's pthread_create passes to clone3 (nptl/pthread_create.c,
	// create_thread): a task in the caller's thread group sharing everything
	// a process owns, with its own TLS and a TID word the joiner can wait on.
	"thread": VM | FS | FILES | SIGHAND | THREAD | SYSVSEM | SETTLS | PARENT_SETTID | CHILD_CLEARTID,
	// What glibc's fork passes (sysdeps/unix/sysv/linux/arch-fork.h): share
	// nothing, plus the TID words glibc keeps for its own bookkeeping.
	"fork": CHILD_SETTID | CHILD_CLEARTID,
	// vfork(2): share the address space and suspend the parent until the
	// child execs or exits.
	"vfork": VM | VFORK,
	// A container: every namespace an OCI runtime creates by default.
	"container": NEWNS | NEWPID | NEWNET | NEWUTS | NEWIPC | NEWCGROUP,
}

// flagNames lists every flag once, in bit order, with its canonical name.
var flagNames = []struct {
	f    Flags
	name string
}{
	{NEWTIME, "CLONE_NEWTIME"},
	{VM, "CLONE_VM"},
	{FS, "CLONE_FS"},
	{FILES, "CLONE_FILES"},
	{SIGHAND, "CLONE_SIGHAND"},
	{PIDFD, "CLONE_PIDFD"},
	{PTRACE, "CLONE_PTRACE"},
	{VFORK, "CLONE_VFORK"},
	{PARENT, "CLONE_PARENT"},
	{THREAD, "CLONE_THREAD"},
	{NEWNS, "CLONE_NEWNS"},
	{SYSVSEM, "CLONE_SYSVSEM"},
	{SETTLS, "CLONE_SETTLS"},
	{PARENT_SETTID, "CLONE_PARENT_SETTID"},
	{CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"},
	{DETACHED, "CLONE_DETACHED"},
	{UNTRACED, "CLONE_UNTRACED"},
	{CHILD_SETTID, "CLONE_CHILD_SETTID"},
	{NEWCGROUP, "CLONE_NEWCGROUP"},
	{NEWUTS, "CLONE_NEWUTS"},
	{NEWIPC, "CLONE_NEWIPC"},
	{NEWUSER, "CLONE_NEWUSER"},
	{NEWPID, "CLONE_NEWPID"},
	{NEWNET, "CLONE_NEWNET"},
	{IO, "CLONE_IO"},
	{CLEAR_SIGHAND, "CLONE_CLEAR_SIGHAND"},
	{INTO_CGROUP, "CLONE_INTO_CGROUP"},
}

// aliases are the short names ParseFlags accepts besides the canonical ones.
var aliases = map[string]Flags{
	"mnt": NEWNS, "ns": NEWNS, "mount": NEWNS,
	"pid": NEWPID, "net": NEWNET, "network": NEWNET, "uts": NEWUTS, "ipc": NEWIPC,
	"user": NEWUSER, "cgroup": NEWCGROUP, "time": NEWTIME,
}

// knownFlags is the union of every named flag.
var knownFlags = func() Flags {
	var all Flags
	for _, n := range flagNames {
		all |= n.f
	}
	return all
}()

// String renders the set as canonical names joined by "|", in bit order, with
// any bit that has no name as one hex number at the end: CLONE_VM|CLONE_THREAD|0x1.
// The empty set is "0".
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
		}
	}
	if rest := f &^ knownFlags; rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint64(rest)))
	}
	return strings.Join(parts, "|")
}

// Names returns the canonical names of the flags in the set, in bit order.
func (f Flags) Names() []string {
	var names []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	return names
}

// Count returns how many flags are in the set.
func (f Flags) Count() int { return bits.OnesCount64(uint64(f)) }

// FlagByName returns the flag with the given canonical name or alias.
func FlagByName(name string) (Flags, bool) {
	key := strings.ToLower(strings.TrimSpace(name))
	key = strings.TrimPrefix(key, "clone_")
	if f, ok := aliases[key]; ok {
		return f, true
	}
	for _, n := range flagNames {
		if strings.ToLower(strings.TrimPrefix(n.name, "CLONE_")) == key {
			return n.f, true
		}
	}
	return 0, false
}

// ParseFlags reads a flag list such as "vm,fs,files", "CLONE_VM|CLONE_THREAD",
// "thread" or "container,user": names with or without CLONE_, in any case,
// separated by commas, "|" or spaces. A preset name stands for its whole set,
// and a number (0x100) stands for its bits. An unknown name is an error that
// lists the valid ones.
//
// "thread" and "vfork" name both a preset and a flag. They are the preset
// when the rest of the list is presets and namespaces ("thread",
// "thread,newpid", "vfork,user"), and the single flag among other flags
// ("vm,sighand,thread,settls" is CLONE_THREAD, not the whole preset).
// "clone_thread" is always the flag.
func ParseFlags(s string) (Flags, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || r == ' ' || r == '\t' })
	if len(fields) == 0 {
		return 0, fmt.Errorf("empty flag list: give flag names (vm,fs,files…) or a preset (%s)", strings.Join(PresetNames(), ", "))
	}
	// Do presets stand among flags of other kinds?
	amongFlags := false
	for _, field := range fields {
		key := strings.ToLower(field)
		if n, ok := FlagByName(key); ok && Presets[key] == 0 && n&NamespaceFlags == 0 {
			amongFlags = true
		}
	}
	var f Flags
	for _, field := range fields {
		key := strings.ToLower(field)
		if n, isFlag := FlagByName(key); isFlag && (amongFlags || Presets[key] == 0) {
			f |= n
			continue
		}
		if p, ok := Presets[key]; ok {
			f |= p
			continue
		}
		if n, ok := FlagByName(key); ok {
			f |= n
			continue
		}
		var v uint64
		if _, err := fmt.Sscanf(key, "0x%x", &v); err == nil && strings.HasPrefix(key, "0x") {
			f |= Flags(v)
			continue
		}
		return 0, fmt.Errorf("unknown clone flag %q: valid names are %s; presets are %s",
			field, strings.Join(ValidNames(), ", "), strings.Join(PresetNames(), ", "))
	}
	return f, nil
}

// ValidNames lists the short names ParseFlags accepts for single flags.
func ValidNames() []string {
	var names []string
	for _, n := range flagNames {
		names = append(names, strings.ToLower(strings.TrimPrefix(n.name, "CLONE_")))
	}
	for a := range aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	return names
}

// PresetNames lists the presets in a stable order.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
