package threads

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's own count of a task's system calls: a perf counter on a
// syscall tracepoint, opened for one TID (perf_event_open with pid = the
// TID counts that thread alone). Reading the tracepoint's id needs tracefs;
// opening the counter needs perf_event_paranoid to allow it (or
// CAP_PERFMON). Where either is missing the futex experiment says why and
// relies on its lock's own counts.

// tracefsDirs are where tracefs is mounted, the current place first.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// tracepointID reads the id of a tracepoint ("syscalls/sys_enter_futex").
func tracepointID(name string) (uint64, error) {
	var errs []error
	for _, dir := range tracefsDirs {
		b, err := os.ReadFile(dir + "/events/" + name + "/id")
		if err == nil {
			return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("tracepoint %s: no tracefs with it (mount -t tracefs nodev /sys/kernel/tracing): %w", name, errors.Join(errs...))
}

// syscallCounter counts one tracepoint's events in one task.
type syscallCounter struct{ fd int }

// openSyscallCounter starts counting tracepoint id in task tid.
func openSyscallCounter(tid int, id uint64) (*syscallCounter, error) {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_TRACEPOINT,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Config: id,
	}
	fd, err := unix.PerfEventOpen(&attr, tid, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("perf_event_open on tid %d: %w (see /proc/sys/kernel/perf_event_paranoid)", tid, err)
	}
	return &syscallCounter{fd: fd}, nil
}

// read returns the events counted so far.
func (c *syscallCounter) read() (uint64, error) {
	var b [8]byte
	n, err := unix.Read(c.fd, b[:])
	if err != nil || n != 8 {
		return 0, fmt.Errorf("read a perf counter: %d bytes, %v", n, err)
	}
	return binary.NativeEndian.Uint64(b[:]), nil
}

func (c *syscallCounter) close() {
	if c != nil && c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}
