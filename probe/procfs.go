package probe

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/minirun/minirun/internal/procfs"
)

// nsInode returns the inode of a namespace link such as /proc/123/ns/net.
func nsInode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("%s: no inode", path)
	}
	return st.Ino, nil
}

// procSyscall is a parsed /proc/<tid>/syscall: the syscall the task is
// blocked in, its arguments, and its user stack and program counters.
type procSyscall struct {
	Nr       int64
	Args     [6]uint64
	SP, PC   uint64
	Running  bool // the task was running: the file says only "running"
	Blocked  bool // blocked but not in a syscall: "-1 sp pc"
	Raw      string
	readable bool
}

// parseSyscall parses the text of /proc/<tid>/syscall.
func parseSyscall(text string) (procSyscall, error) {
	s := procSyscall{Raw: strings.TrimSpace(text), readable: true}
	f := strings.Fields(s.Raw)
	switch {
	case len(f) == 1 && f[0] == "running":
		s.Running = true
		return s, nil
	case len(f) == 3 && f[0] == "-1":
		s.Blocked, s.Nr = true, -1
		sp, err1 := strconv.ParseUint(f[1], 0, 64)
		pc, err2 := strconv.ParseUint(f[2], 0, 64)
		if err1 != nil || err2 != nil {
			return s, fmt.Errorf("syscall file %q: bad stack or program counter", s.Raw)
		}
		s.SP, s.PC = sp, pc
		return s, nil
	case len(f) != 9:
		return s, fmt.Errorf("syscall file %q: want 9 fields (nr, 6 arguments, sp, pc), got %d", s.Raw, len(f))
	}
	nr, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return s, fmt.Errorf("syscall file %q: bad syscall number", s.Raw)
	}
	s.Nr = nr
	var v [8]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 0, 64); err != nil {
			return s, fmt.Errorf("syscall file %q: field %d: %v", s.Raw, i+2, err)
		}
	}
	copy(s.Args[:], v[:6])
	s.SP, s.PC = v[6], v[7]
	return s, nil
}

// readSyscall reads /proc/<tid>/syscall.
func readSyscall(tid int) (procSyscall, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", tid))
	if err != nil {
		return procSyscall{}, err
	}
	return parseSyscall(string(b))
}

// parseStatState returns the state letter of a /proc/<tid>/stat line.
func parseStatState(text string) (string, error) {
	_, f, err := procfs.ParseStat(text)
	if err != nil {
		return "", err
	}
	return f[0], nil
}

// stateNames are the letters of /proc/<tid>/stat's state field.
var stateNames = map[string]string{
	"R": "running", "S": "sleeping", "D": "disk sleep", "T": "stopped", "t": "tracing stop",
	"X": "dead", "Z": "zombie", "P": "parked", "I": "idle",
}

func stateName(s string) string {
	if n, ok := stateNames[s]; ok {
		return s + " (" + n + ")"
	}
	return s
}

// readStatus reads the "Key:\tvalue" lines of a /proc status file.
func readStatus(path string) (map[string]string, error) { return procfs.ReadStatus(path) }

// ownUmask reads minirun's umask without changing it: umask(2) can only set
// it, and setting it even for a moment races with every other thread.
func ownUmask() (uint32, error) {
	st, err := readStatus("/proc/thread-self/status")
	if err != nil {
		return 0, err
	}
	v, ok := st["Umask"]
	if !ok {
		return 0, fmt.Errorf("/proc/thread-self/status: no Umask line")
	}
	u, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("/proc/thread-self/status: Umask %q: %v", v, err)
	}
	return uint32(u), nil
}

// schedPolicyNames name sched_getscheduler's results.
var schedPolicyNames = map[int64]string{
	0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE", 7: "SCHED_EXT",
}

func policyName(p int64) string {
	if n, ok := schedPolicyNames[p]; ok {
		return n
	}
	return fmt.Sprintf("policy %d", p)
}
