package threads

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/minirun/minirun/clonecore"
	"golang.org/x/sys/unix"
)

// The kernel's own count of a task's system calls: a perf counter on a
// syscall tracepoint, opened for one TID (perf_event_open with pid = the
// TID counts that thread alone). Reading the tracepoint's id needs tracefs
// (mounted, or mountable in a child's own mount namespace: CAP_SYS_ADMIN); opening
// the counter needs perf_event_paranoid to allow it (or CAP_PERFMON).
// Where either is missing the futex experiment says why and relies on its
// lock's own counts.

// tracefsDirs are where tracefs is mounted, the current place first.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// tracepointIDs reads the ids of tracepoints ("syscalls/sys_enter_futex")
// from a mounted tracefs, or, where none is mounted, from one that a child
// mounts in a mount namespace of its own (privateTracepointIDs).
func tracepointIDs(names ...string) (map[string]uint64, error) {
	var errs []error
	for _, dir := range tracefsDirs {
		ids := map[string]uint64{}
		var err error
		for _, name := range names {
			if ids[name], err = readTracepointID(dir, name); err != nil {
				break
			}
		}
		if err == nil {
			return ids, nil
		}
		errs = append(errs, err)
	}
	ids, err := privateTracepointIDs(tracefsDirs[0], names)
	if err == nil {
		return ids, nil
	}
	errs = append(errs, err)
	return nil, fmt.Errorf("tracepoints %s: no tracefs with them (mount -t tracefs nodev /sys/kernel/tracing): %w", strings.Join(names, ", "), errors.Join(errs...))
}

func readTracepointID(dir, name string) (uint64, error) {
	b, err := os.ReadFile(dir + "/events/" + name + "/id")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// privateTracepointIDs has a child of the clone core, in a mount namespace
// of its own, make its mounts private, mount tracefs on dir and read each
// tracepoint's id into the arena; the mount ends with the child and its
// namespace, and the host's mounts never change. A new mount namespace
// needs CAP_SYS_ADMIN: without it the error says so.
func privateTracepointIDs(dir string, names []string) (map[string]uint64, error) {
	arena, err := clonecore.NewArena(16 << 10)
	if err != nil {
		return nil, err
	}
	defer arena.Free()
	const bufSize = 32
	root, err1 := arena.CString("/")
	mnt, err2 := arena.CString(dir)
	fstype, err3 := arena.CString("tracefs")
	src, err4 := arena.CString("nodev")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	p := clonecore.NewProgram(arena)
	p.Add("tracefs: private mounts", `mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)`, unix.SYS_MOUNT,
		[]clonecore.Arg{clonecore.Imm(0), clonecore.Imm(root), clonecore.Imm(0), clonecore.Imm(unix.MS_REC | unix.MS_PRIVATE), clonecore.Imm(0)})
	p.Add("tracefs: mount it in this namespace", fmt.Sprintf(`mount("nodev", %q, "tracefs", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)`, dir), unix.SYS_MOUNT,
		[]clonecore.Arg{clonecore.Imm(src), clonecore.Imm(mnt), clonecore.Imm(fstype), clonecore.Imm(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC), clonecore.Imm(0)})
	bufs := make([]uintptr, len(names))
	for i, name := range names {
		path, err := arena.CString(dir + "/events/" + name + "/id")
		if err != nil {
			return nil, err
		}
		if bufs[i], err = arena.Alloc(bufSize); err != nil {
			return nil, err
		}
		fd := p.NewSlot()
		p.Add("tracefs: "+name, fmt.Sprintf("openat(AT_FDCWD, %q, O_RDONLY|O_CLOEXEC)", dir+"/events/"+name+"/id"), unix.SYS_OPENAT,
			[]clonecore.Arg{clonecore.Imm(unix.AT_FDCWD), clonecore.Imm(path), clonecore.Imm(unix.O_RDONLY | unix.O_CLOEXEC)}, clonecore.SaveTo(fd))
		p.Add("tracefs: "+name, "read(fd, buf, 31)", unix.SYS_READ, []clonecore.Arg{fd.Value(), clonecore.Imm(bufs[i]), clonecore.Imm(bufSize - 1)})
	}
	task, err := clonecore.Start(p, clonecore.Options{Flags: clonecore.NEWNS})
	if err != nil {
		return nil, fmt.Errorf("a child in a mount namespace of its own for tracefs: %w", err)
	}
	jerr := task.Join()
	if _, err := task.Reap(); err != nil {
		return nil, err
	}
	if jerr != nil {
		return nil, jerr
	}
	ids := map[string]uint64{}
	for i, name := range names {
		b := arena.Slice(bufs[i], bufSize)
		if k := bytes.IndexByte(b, 0); k >= 0 {
			b = b[:k]
		}
		id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("tracepoint %s: id %q: %w", name, b, err)
		}
		ids[name] = id
	}
	return ids, nil
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
