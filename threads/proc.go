package threads

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/minirun/minirun/internal/procfs"
)

// procStatus is what the lab reads from a task's status file.
type procStatus struct {
	State string // "S (sleeping)"
	Pid   int    // the task's id in /proc's PID namespace
	Tgid  int    // its thread group's id there
	NSpid []int  // the task's id in each PID namespace, from /proc's down
	RSS   int64  // VmRSS in bytes (thread group leaders only)
	// The parts of VmRSS: anonymous, file-backed (code) and shared memory.
	RSSAnon, RSSFile, RSSShmem int64
	Err                        string
}

// readStatus reads the lines of /proc/<tid>/status the lab uses.
func readStatus(path string) (procStatus, error) {
	var st procStatus
	m, err := procfs.ReadStatus(path)
	if err != nil {
		return st, err
	}
	st.State = m["State"]
	st.Pid, _ = strconv.Atoi(m["Pid"])
	st.Tgid, _ = strconv.Atoi(m["Tgid"])
	for _, f := range strings.Fields(m["NSpid"]) {
		if n, err := strconv.Atoi(f); err == nil {
			st.NSpid = append(st.NSpid, n)
		}
	}
	st.RSS, st.RSSAnon, st.RSSFile, st.RSSShmem = kiB(m["VmRSS"]), kiB(m["RssAnon"]), kiB(m["RssFile"]), kiB(m["RssShmem"])
	return st, nil
}

// kiB reads "1234 kB" as bytes.
func kiB(v string) int64 {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0
	}
	kb, _ := strconv.ParseInt(f[0], 10, 64)
	return kb << 10
}

// listTasks returns the TIDs in a task directory (/proc/self/task).
func listTasks(dir string) ([]int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(names))
	for _, n := range names {
		if t, err := strconv.Atoi(n); err == nil {
			tids = append(tids, t)
		}
	}
	return tids, nil
}

// observation is what /proc said about the workers while they held.
type observation struct {
	self    procStatus   // minirun's own status
	level   int          // minirun's PID namespace, counted from /proc's (0: the same)
	inTasks map[int]bool // workers (by TID in minirun's namespace) listed in /proc/self/task
	status  []procStatus // per worker, from its status file
}

// observe reads /proc while every worker holds. Thread workers are looked
// up in /proc/self/task; the others, being thread groups of their own, as
// /proc/<tid>. Each status file gives the kernel's Pid, Tgid, state and NSpid.
//
// /proc may belong to an outer PID namespace (a container that did not
// remount it): then its names are outer ids, and the lab finds its workers
// by the NSpid entry at minirun's own level, which is the id minirun knows.
func (l *lab) observe() observation {
	o := observation{inTasks: map[int]bool{}, status: make([]procStatus, len(l.tasks))}
	o.self, _ = readStatus("/proc/self/status")
	if len(o.self.NSpid) > 1 {
		o.level = len(o.self.NSpid) - 1
	}
	// innerID is a task's id in minirun's namespace, or -1 when it has none there.
	innerID := func(st procStatus, name int) int {
		if o.level == 0 {
			return name
		}
		if len(st.NSpid) > o.level {
			return st.NSpid[o.level]
		}
		return -1
	}
	tids, _ := listTasks("/proc/self/task")
	var byTID map[int]procStatus // outer /proc: every status read, keyed by inner id
	if o.level > 0 {
		byTID = map[int]procStatus{}
		for _, name := range tids {
			if st, err := readStatus(fmt.Sprintf("/proc/self/task/%d/status", name)); err == nil {
				o.inTasks[innerID(st, name)] = true
				if l.thread {
					byTID[innerID(st, name)] = st
				}
			}
		}
		if !l.thread {
			pids, _ := listTasks("/proc")
			for _, name := range pids {
				if st, err := readStatus(fmt.Sprintf("/proc/%d/status", name)); err == nil {
					byTID[innerID(st, name)] = st
				}
			}
		}
	} else {
		for _, t := range tids {
			o.inTasks[t] = true
		}
	}
	for i, t := range l.tasks {
		var st procStatus
		var err error
		switch {
		case o.level > 0:
			var ok bool
			if st, ok = byTID[t.TID]; !ok {
				err = fmt.Errorf("no task in /proc has id %d at minirun's PID namespace level %d", t.TID, o.level)
			}
		case l.thread:
			st, err = readStatus(fmt.Sprintf("/proc/self/task/%d/status", t.TID))
		default:
			st, err = readStatus(fmt.Sprintf("/proc/%d/status", t.TID))
		}
		if err != nil {
			st = procStatus{Err: err.Error()}
		}
		o.status[i] = st
	}
	return o
}

// kernelStack is the KernelStack line of /proc/meminfo in bytes: the kernel
// stacks of every task on the machine (0 if unreadable).
func kernelStack() int64 {
	m, err := procfs.ReadStatus("/proc/meminfo")
	if err != nil {
		return 0
	}
	return kiB(m["KernelStack"])
}
