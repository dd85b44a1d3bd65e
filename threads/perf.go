package threads

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's own count of a task's system calls: a perf counter on a
// syscall tracepoint, opened for one TID (perf_event_open with pid = the
// TID counts that thread alone). Reading the tracepoint's id needs tracefs
// (mounted, or mountable in a private namespace: CAP_SYS_ADMIN); opening
// the counter needs perf_event_paranoid to allow it (or CAP_PERFMON).
// Where either is missing the futex experiment says why and relies on its
// lock's own counts.

// tracefsDirs are where tracefs is mounted, the current place first.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// tracepointID reads the id of a tracepoint ("syscalls/sys_enter_futex")
// from a mounted tracefs, or, where none is mounted, from one mounted for
// the moment in a mount namespace of a thread's own (privateTracepointID).
func tracepointID(name string) (uint64, error) {
	var errs []error
	for _, dir := range tracefsDirs {
		id, err := readTracepointID(dir, name)
		if err == nil {
			return id, nil
		}
		errs = append(errs, err)
	}
	id, err := privateTracepointID(tracefsDirs[0], name)
	if err == nil {
		return id, nil
	}
	errs = append(errs, err)
	return 0, fmt.Errorf("tracepoint %s: no tracefs with it (mount -t tracefs nodev /sys/kernel/tracing): %w", name, errors.Join(errs...))
}

func readTracepointID(dir, name string) (uint64, error) {
	b, err := os.ReadFile(dir + "/events/" + name + "/id")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// privateTracepointID mounts tracefs on dir in a mount namespace that only
// a thread of its own sees, reads the id, and lets the thread end: the Go
// runtime ends a thread whose goroutine returns locked to it, and the
// namespace and the mount go with it. The host's mounts never change. It
// needs CAP_SYS_ADMIN; without it the error says so.
func privateTracepointID(dir, name string) (uint64, error) {
	type result struct {
		id  uint64
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread ends with the goroutine
		var r result
		defer func() { ch <- r }()
		if r.err = unix.Unshare(unix.CLONE_NEWNS); r.err != nil {
			r.err = fmt.Errorf("a private mount namespace for tracefs: %w", r.err)
			return
		}
		if r.err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); r.err != nil {
			r.err = fmt.Errorf("make / private in the tracefs thread's namespace: %w", r.err)
			return
		}
		if r.err = unix.Mount("nodev", dir, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); r.err != nil {
			r.err = fmt.Errorf("mount tracefs on %s in a private namespace: %w", dir, r.err)
			return
		}
		r.id, r.err = readTracepointID(dir, name)
	}()
	r := <-ch
	return r.id, r.err
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
