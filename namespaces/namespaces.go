// Package namespaces holds minirun's one table of Linux namespaces: each
// runtime-spec namespace type ("pid", "network", …) with its CLONE_NEW* flag
// and its /proc/PID/ns name. Everything else here is derived from that table:
// which namespaces a spec creates and which it joins (Plan, in the order the
// joins must happen), and the uid/gid maps a user namespace is given
// (ValidateIDMaps, FormatIDMap, RootlessMapping).
//
// The table is data, checked once by the tests, and the functions are
// pure, but Open, which opens a namespace file for a join, safely.
package namespaces

import (
	"fmt"
	"strconv"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/clonecore"
)

// Info describes one kind of namespace.
type Info struct {
	// Type is the runtime-spec name: "pid", "network", "mount", …
	Type rspec.LinuxNamespaceType
	// Flag is the CLONE_NEW* flag that creates it with clone or unshare,
	// and the nstype argument that joins it with setns.
	Flag clonecore.Flags
	// ProcName is its file in /proc/PID/ns: "pid", "net", "mnt", …
	ProcName string
	// ForChildren is, for the two kinds a task enters only through its
	// children (pid, time), the /proc/PID/ns file of the one its next
	// children will be in: "pid_for_children", "time_for_children".
	ForChildren string
	// Name is how reports name it: "PID", "network", "mount", …
	Name string
	// JoinOrder is its place among the setns calls that join existing
	// namespaces: lower joins first (see Plan).
	JoinOrder int
}

// ProcPath returns the file that names the namespace of process pid:
// /proc/PID/ns/NAME. A pid of 0 or less names the caller ("self").
func (i Info) ProcPath(pid int) string {
	p := "self"
	if pid > 0 {
		p = strconv.Itoa(pid)
	}
	return "/proc/" + p + "/ns/" + i.ProcName
}

// table is every namespace Linux has, in the order joins happen (Plan
// explains the order); JoinOrder is the index.
var table = []Info{
	{Type: rspec.UserNamespace, Flag: clonecore.NEWUSER, ProcName: "user", Name: "user"},
	{Type: rspec.IPCNamespace, Flag: clonecore.NEWIPC, ProcName: "ipc", Name: "IPC"},
	{Type: rspec.UTSNamespace, Flag: clonecore.NEWUTS, ProcName: "uts", Name: "UTS"},
	{Type: rspec.NetworkNamespace, Flag: clonecore.NEWNET, ProcName: "net", Name: "network"},
	{Type: rspec.PIDNamespace, Flag: clonecore.NEWPID, ProcName: "pid", ForChildren: "pid_for_children", Name: "PID"},
	{Type: rspec.TimeNamespace, Flag: clonecore.NEWTIME, ProcName: "time", ForChildren: "time_for_children", Name: "time"},
	{Type: rspec.CgroupNamespace, Flag: clonecore.NEWCGROUP, ProcName: "cgroup", Name: "cgroup"},
	{Type: rspec.MountNamespace, Flag: clonecore.NEWNS, ProcName: "mnt", Name: "mount"},
}

func init() {
	for i := range table {
		table[i].JoinOrder = i
	}
}

// All returns every namespace in join order (user first, mount last).
// The slice is a copy.
func All() []Info {
	return append([]Info(nil), table...)
}

// ByType returns the namespace with the runtime-spec type t.
func ByType(t rspec.LinuxNamespaceType) (Info, bool) {
	for _, i := range table {
		if i.Type == t {
			return i, true
		}
	}
	return Info{}, false
}

// ByFlag returns the namespace created by the single CLONE_NEW* flag f.
// A set of several flags, or a flag that is not a namespace, is not found.
func ByFlag(f clonecore.Flags) (Info, bool) {
	for _, i := range table {
		if i.Flag == f {
			return i, true
		}
	}
	return Info{}, false
}

// ByProcName returns the namespace whose /proc/PID/ns file is name ("mnt").
func ByProcName(name string) (Info, bool) {
	for _, i := range table {
		if i.ProcName == name {
			return i, true
		}
	}
	return Info{}, false
}

// Types lists the runtime-spec types in join order, for messages.
func Types() []string {
	s := make([]string, len(table))
	for i, n := range table {
		s[i] = string(n.Type)
	}
	return s
}

// A Join is an existing namespace the container enters with setns(2).
type Join struct {
	Info
	// Path is the namespace file to open (for example /proc/42/ns/net or a
	// bind mount of one under /run/netns).
	Path string
	// Index is the entry's position in linux.namespaces, for messages:
	// "linux.namespaces[3]: setns /run/netns/a: …".
	Index int
}

// Field returns the entry's JSON path: linux.namespaces[Index].
func (j Join) Field() string { return fmt.Sprintf("linux.namespaces[%d]", j.Index) }

// Plan splits a spec's linux.namespaces into the namespaces the clone
// creates (newFlags, the CLONE_NEW* bits to pass) and the existing ones it
// joins by path (joins). An entry with a path is a join, never a new
// namespace. Entries whose type is not in the table are ignored (the spec
// validator reports them), and so is a repeated type after its first entry.
//
// The joins come back in the order the setns calls must be made:
//
//  1. user first. setns into a user namespace gives the caller a full set
//     of capabilities in it, and so over every namespace it owns; the
//     namespaces a container joins are normally owned by the user
//     namespace it joins too (both come from the same earlier container),
//     and entering them needs CAP_SYS_ADMIN there. A process that is
//     already root in the initial user namespace keeps nothing it needs by
//     going first: it loses privilege over namespaces the host owns, which a
//     container sharing a user namespace never asks for.
//  2. ipc, uts, net: independent of one another, and of the rest.
//  3. pid, then time: both take effect only for children created after the
//     setns (the double fork that joining a PID namespace needs); time also
//     refuses a multi-threaded caller, which the child never is.
//  4. cgroup: its root is the caller's cgroup at the time of the join, so
//     it comes after anything that might move the task.
//  5. mount last. After setns(CLONE_NEWNS) paths resolve in the joined mount
//     view, where the other namespace files (/proc/PID/ns/…, /run/netns/…)
//     may not exist; it also resets root and cwd to the namespace's root.
//     Opening every path before the first setns avoids the first problem
//     entirely, and the compiler does that; the order still holds so a
//     listing reads in the order things happen.
func Plan(ns []rspec.LinuxNamespace) (newFlags clonecore.Flags, joins []Join) {
	var seen clonecore.Flags
	for idx, n := range ns {
		info, ok := ByType(n.Type)
		if !ok || seen&info.Flag != 0 {
			continue
		}
		seen |= info.Flag
		if n.Path != "" {
			joins = append(joins, Join{Info: info, Path: n.Path, Index: idx})
			continue
		}
		newFlags |= info.Flag
	}
	// An insertion sort keeps equal orders stable; there are at most eight.
	for i := 1; i < len(joins); i++ {
		for j := i; j > 0 && joins[j].JoinOrder < joins[j-1].JoinOrder; j-- {
			joins[j], joins[j-1] = joins[j-1], joins[j]
		}
	}
	return newFlags, joins
}

// Has reports whether ns has an entry of type t (new or joined).
func Has(ns []rspec.LinuxNamespace, t rspec.LinuxNamespaceType) bool {
	for _, n := range ns {
		if n.Type == t {
			return true
		}
	}
	return false
}

// HasNew reports whether ns creates a new namespace of type t: an entry of
// that type without a path.
func HasNew(ns []rspec.LinuxNamespace, t rspec.LinuxNamespaceType) bool {
	for _, n := range ns {
		if n.Type == t && n.Path == "" {
			return true
		}
	}
	return false
}
