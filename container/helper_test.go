package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/procfs"
	"github.com/minirun/minirun/specs"
)

// The in-container helper is this test binary itself (os/exec's
// exec_test.go pattern): TestMain runs helperMain instead of the tests when
// helperEnv is set. It is static (TestMain checks), so a rootfs holding only
// the binary is enough to run it.
const helperEnv = "MINIRUN_HELPER"

// facts is what the helper reports from inside a container, as one line of
// JSON on stdout.
type facts struct {
	PID, PPID            int
	UID, GID, EUID, EGID int
	Groups               []int
	Hostname, Domainname string
	Cwd                  string
	Env                  []string
	Status               map[string]string // /proc/self/status, trimmed values
	Rlimits              map[string][2]uint64
	OOMScoreAdj          string
	Monotonic, Boottime  int64             // clock_gettime, whole seconds
	NS                   map[string]uint64 // /proc/self/ns/NAME → inode
	UIDMap, GIDMap       string            // fields joined by single spaces, one line per entry
	Mounts               []mountEntry
	Sched                unix.SchedAttr   // sched_getattr
	IOPrio               int              // ioprio_get: class<<13 | priority
	Personality          int              // personality(0xffffffff)
	Machine              string           // uname -m
	MemPolicy            int              // get_mempolicy's mode, with its mode flags
	MemNodes             uint64           // and the first word of its node mask
	Probes               map[string]probe // one per argument, keyed by it
	Errors               []string         // what the helper itself could not find out
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Root, Point, FSType, Source string
	Opts, Super                 []string // per-mount options, superblock options
	Optional                    []string // shared:N, master:N, unbindable…
}

// probe is what the helper found out about one path. Err fields hold an
// errno name ("EROFS") or "" when the operation worked.
type probe struct {
	Type         string // char, block, dir, file, symlink, fifo, socket
	Perm         uint32
	Major, Minor uint32
	UID, GID     uint32
	Link         string
	Content      string
	Entries      []string
	Err          string
}

// helperMain gathers facts and prints them; each argument asks one probe:
//
//	stat:PATH   lstat, and readlink for a symlink
//	read:PATH   the first 4 KiB of a file
//	ls:PATH     the names in a directory
//	write:PATH  open a file for writing, or create (and remove) one in a directory
//	wait        after printing, block until stdin ends (the test looks from outside)
//	exit:N      exit with status N after printing
func helperMain() int {
	if os.Getenv(helperEnv) == "hook" {
		return hookMain()
	}
	f := gatherFacts()
	code := 0
	wait := false
	for _, a := range os.Args[1:] {
		kind, arg, _ := strings.Cut(a, ":")
		var p probe
		switch kind {
		case "stat":
			p = statProbe(arg)
		case "read":
			p = readProbe(arg)
		case "ls":
			p = lsProbe(arg)
		case "write":
			p = writeProbe(arg)
		case "wait":
			wait = true
			continue
		case "exit":
			fmt.Sscan(arg, &code)
			continue
		default:
			if probeFn, ok := moreProbes[kind]; ok {
				p = probeFn(arg)
			} else {
				p.Err = "unknown probe"
			}
		}
		f.Probes[a] = p
	}
	line, err := json.Marshal(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 125
	}
	os.Stdout.Write(append(line, '\n'))
	if wait {
		io.Copy(io.Discard, os.Stdin)
	}
	return code
}

func gatherFacts() *facts {
	f := &facts{
		PID: os.Getpid(), PPID: os.Getppid(),
		UID: os.Getuid(), GID: os.Getgid(), EUID: os.Geteuid(), EGID: os.Getegid(),
		Env:     os.Environ(),
		Status:  map[string]string{},
		Rlimits: map[string][2]uint64{},
		NS:      map[string]uint64{},
		Probes:  map[string]probe{},
	}
	note := func(what string, err error) {
		f.Errors = append(f.Errors, what+": "+err.Error())
	}
	var err error
	if f.Groups, err = os.Getgroups(); err != nil {
		note("getgroups", err)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		note("uname", err)
	}
	f.Hostname, f.Domainname = unix.ByteSliceToString(u.Nodename[:]), unix.ByteSliceToString(u.Domainname[:])
	f.Machine = unix.ByteSliceToString(u.Machine[:])
	if a, err := unix.SchedGetAttr(0, 0); err != nil {
		note("sched_getattr", err)
	} else {
		f.Sched = *a
	}
	const ioprioWhoProcess = 1
	if r, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0); e != 0 {
		note("ioprio_get", e)
	} else {
		f.IOPrio = int(r)
	}
	if r, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0); e != 0 {
		note("personality", e)
	} else {
		f.Personality = int(r)
	}
	var mode int32
	var nodes [16]uint64
	if _, _, e := unix.Syscall6(unix.SYS_GET_MEMPOLICY, uintptr(unsafe.Pointer(&mode)), uintptr(unsafe.Pointer(&nodes[0])), 64*16, 0, 0, 0); e == unix.EPERM {
		// A seccomp profile (Docker's) refuses it: not the helper's to know.
		f.MemPolicy = -1
	} else if e != 0 {
		note("get_mempolicy", e)
	} else {
		f.MemPolicy, f.MemNodes = int(mode), nodes[0]
	}
	if f.Cwd, err = os.Getwd(); err != nil {
		note("getwd", err)
	}
	if f.Status, err = procfs.ReadStatus("/proc/self/status"); err != nil {
		note("status", err)
	}
	for _, name := range specs.Rlimits() {
		res, _ := specs.RlimitByName(name)
		var rl unix.Rlimit
		if err := unix.Getrlimit(res, &rl); err == nil {
			f.Rlimits[name] = [2]uint64{rl.Cur, rl.Max}
		}
	}
	if data, err := os.ReadFile("/proc/self/oom_score_adj"); err != nil {
		note("oom_score_adj", err)
	} else {
		f.OOMScoreAdj = strings.TrimSpace(string(data))
	}
	f.Monotonic, f.Boottime = clockSeconds(unix.CLOCK_MONOTONIC), clockSeconds(unix.CLOCK_BOOTTIME)
	if f.NS, err = nsInodes("/proc/self/ns"); err != nil {
		note("ns", err)
	}
	f.UIDMap, f.GIDMap = idMap("/proc/self/uid_map"), idMap("/proc/self/gid_map")
	if f.Mounts, err = readMountinfo("/proc/self/mountinfo"); err != nil {
		note("mountinfo", err)
	}
	return f
}

// nsInodes maps each file of a /proc/PID/ns folder to its namespace's inode.
func nsInodes(dir string) (map[string]uint64, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, n.Name()), &st); err == nil {
			m[n.Name()] = st.Ino
		}
	}
	return m, nil
}

// idMap reads a uid_map or gid_map as "0 65534 1" lines.
func idMap(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return "error: " + errName(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// readMountinfo reads a mountinfo file into the facts' form.
func readMountinfo(file string) ([]mountEntry, error) {
	ms, err := procfs.ReadMountinfo(file)
	if err != nil {
		return nil, err
	}
	es := make([]mountEntry, len(ms))
	for i, m := range ms {
		es[i] = mountEntry{Root: m.Root, Point: m.Point, FSType: m.FSType, Source: m.Source,
			Opts: m.Options, Super: m.Super, Optional: m.Optional}
	}
	return es, nil
}

func statProbe(p string) probe {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return probe{Err: errName(err)}
	}
	pr := probe{Perm: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		pr.Type = "char"
	case unix.S_IFBLK:
		pr.Type = "block"
	case unix.S_IFDIR:
		pr.Type = "dir"
	case unix.S_IFREG:
		pr.Type = "file"
	case unix.S_IFLNK:
		pr.Type = "symlink"
		pr.Link, _ = os.Readlink(p)
	case unix.S_IFIFO:
		pr.Type = "fifo"
	case unix.S_IFSOCK:
		pr.Type = "socket"
	}
	if pr.Type == "char" || pr.Type == "block" {
		pr.Major, pr.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	}
	return pr
}

func readProbe(p string) probe {
	fh, err := os.Open(p)
	if err != nil {
		return probe{Err: errName(err)}
	}
	defer fh.Close()
	buf := make([]byte, 4096)
	n, err := io.ReadFull(fh, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return probe{Err: errName(err)}
	}
	return probe{Content: string(buf[:n])}
}

func lsProbe(p string) probe {
	es, err := os.ReadDir(p)
	if err != nil {
		return probe{Err: errName(err)}
	}
	pr := probe{Entries: []string{}}
	for _, e := range es {
		pr.Entries = append(pr.Entries, e.Name())
	}
	sort.Strings(pr.Entries)
	return pr
}

func writeProbe(p string) probe {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		name := filepath.Join(p, ".minirun-probe")
		fd, err := unix.Open(name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return probe{Err: errName(err)}
		}
		unix.Close(fd)
		unix.Unlink(name)
		return probe{}
	}
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return probe{Err: errName(err)}
	}
	unix.Close(fd)
	return probe{}
}

// errName turns an error into its errno's name, EROFS, or its text.
func errName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}

// clockSeconds reads a clock, whole seconds (-1 on error).
func clockSeconds(clock int32) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return -1
	}
	return ts.Sec
}
