package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/namespaces"
	"golang.org/x/sys/unix"
)

// probes runs one probe at a time: each changes process-wide state for a
// moment (see the package doc).
var probes sync.Mutex

// What the child changes, and the marks it leaves.
const (
	// probeSignal is the signal whose disposition the child sets to
	// SIG_IGN. Go handles it only for os/signal, so minirun loses nothing
	// while it is ignored.
	probeSignal = unix.SIGWINCH
	// parentMark and childMark are the words in the MAP_PRIVATE page
	// before and after the child's store.
	parentMark = 0x6d696e6972756e00 // "minirun"
	childMark  = 0x70726f6265000000 // "probe"
	// firstFD is where the search for a free fd number starts; the child
	// dup3's /dev/null onto the first free one. Far above the fds a Go
	// program opens, so that minirun does not take it meanwhile.
	firstFD = 200
	// SysV semaphore constants of linux/sem.h.
	semUndo   = 0x1000
	semGetVal = 12 // semctl's GETVAL
)

// Check says whether f can be probed, before anything is started: the kernel
// must accept it (clonecore.Validate), and CLONE_INTO_CGROUP needs a cgroup
// directory, which a probe does not take.
func Check(f clonecore.Flags) error {
	if err := f.Validate(clonecore.UseProbe); err != nil {
		return err
	}
	if f&clonecore.INTO_CGROUP != 0 {
		return &clonecore.FlagError{Flags: f, Why: "CLONE_INTO_CGROUP needs a cgroup2 directory to start the child in, which a probe does not take"}
	}
	return nil
}

// Run starts one probe task with flags f, measures what it shares with
// minirun, puts back whatever the child changed in minirun, and returns the
// report. A refused flag set is an error wrapping clonecore.ErrInvalidFlags,
// before anything is started.
func Run(f clonecore.Flags) (*Report, error) {
	if err := Check(f); err != nil {
		return nil, err
	}
	probes.Lock()
	defer probes.Unlock()
	// One OS thread for the whole probe: the thread pointer compared is
	// this thread's, and the child's parent is this thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	p := &prober{flags: f, syncR: -1, syncW: -1, semid: -1, fd: -1}
	defer p.cleanup()
	if err := p.prepare(); err != nil {
		return nil, err
	}
	if err := p.build(); err != nil {
		return nil, err
	}
	return p.run()
}

// prober is the state of one probe.
type prober struct {
	flags clonecore.Flags
	arena *clonecore.Arena
	prog  *clonecore.Program
	// freeArena is false while a child might still use the arena.
	freeArena bool

	page         []byte // the MAP_PRIVATE page
	syncR, syncW int    // the sync pipe (blocking, O_CLOEXEC)
	fd           int    // the free fd number the child dup3's onto
	semid        int

	// Minirun before the probe.
	cwd, cwdTarget     string
	umask, umaskTarget uint32
	sigBefore          [65][4]uint64
	ownTP              uint64
	ownTPErr           error
	ownPolicy          int
	ownNS              map[string]uint64

	// Arena addresses.
	tpWord, ownTPWord, act, sembuf, syncBuf, sigBuf uintptr
	nsBuf                                           map[string]uintptr
	selfSyscall, selfStat                           uintptr

	// Result slots.
	sPid, sTid, sPpid, sPolicy, sSem, sSelfSyscall, sSelfStat clonecore.Slot

	vfork, held bool
	fsDone      bool // the filesystem context was measured and put back
	report      *Report
}

const selfBufSize = 512

// prepare records minirun's state and makes what the child will touch.
func (p *prober) prepare() error {
	var err error
	if p.arena, err = clonecore.NewArena(64 << 10); err != nil {
		return err
	}
	p.freeArena = true
	a := p.arena
	alloc := func(n int) uintptr {
		if err != nil {
			return 0
		}
		var q uintptr
		q, err = a.Alloc(n)
		return q
	}
	p.tpWord, p.ownTPWord = alloc(8), alloc(8)
	p.act = alloc(32)
	p.sembuf = alloc(8)
	p.syncBuf = alloc(8)
	p.sigBuf = alloc(32)
	p.selfSyscall, p.selfStat = alloc(selfBufSize), alloc(selfBufSize)
	p.nsBuf = map[string]uintptr{}
	for _, n := range nsLinks() {
		p.nsBuf[n] = alloc(int(unsafe.Sizeof(unix.Statx_t{})))
	}
	if err != nil {
		return err
	}

	// Filesystem context: cwd and umask, and different ones for the child.
	if p.cwd, err = unix.Getwd(); err != nil {
		return fmt.Errorf("getcwd: %w", err)
	}
	p.cwdTarget = "/"
	if p.cwd == "/" {
		p.cwdTarget = "/proc"
	}
	if p.umask, err = ownUmask(); err != nil {
		return err
	}
	p.umaskTarget = 0o077
	if p.umask == 0o077 {
		p.umaskTarget = 0o027
	}

	// Every signal's handler, raw, as the kernel holds it.
	for sig := 1; sig <= 64; sig++ {
		if p.sigBefore[sig], err = p.sigaction(sig); err != nil {
			return err
		}
	}
	// The child's new disposition: SIG_IGN, no flags, empty mask.
	a.Store64(p.act, 1)

	p.ownTP, p.ownTPErr = ownThreadPointer(a, p.ownTPWord)
	pol, _, e := unix.RawSyscall(unix.SYS_SCHED_GETSCHEDULER, 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("sched_getscheduler: %w", e)
	}
	p.ownPolicy = int(pol)
	p.ownNS = map[string]uint64{}
	for _, n := range nsLinks() {
		if p.ownNS[n], err = nsInode("/proc/thread-self/ns/" + n); err != nil {
			return err
		}
	}

	// Address space: a private page holding parentMark.
	if p.page, err = unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("mmap the private page: %w", err)
	}
	binary.NativeEndian.PutUint64(p.page, parentMark)

	// File descriptors: a number free in minirun's table.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	for n := firstFD; uint64(n) < lim.Cur; n++ {
		if _, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); errors.Is(err, unix.EBADF) {
			p.fd = n
			break
		}
	}
	if p.fd < 0 {
		return fmt.Errorf("no free fd number from %d up to RLIMIT_NOFILE (%d)", firstFD, lim.Cur)
	}

	// SysV semaphores: one private set of one semaphore at 0.
	id, _, e := unix.Syscall(unix.SYS_SEMGET, unix.IPC_PRIVATE, 1, unix.IPC_CREAT|0o600)
	if e != 0 {
		return fmt.Errorf("semget(IPC_PRIVATE): %w", e)
	}
	p.semid = int(id)
	// struct sembuf {sem_num 0, sem_op +1, sem_flg SEM_UNDO}
	sb := a.Slice(p.sembuf, 6)
	binary.NativeEndian.PutUint16(sb[0:], 0)
	binary.NativeEndian.PutUint16(sb[2:], 1)
	binary.NativeEndian.PutUint16(sb[4:], semUndo)

	// The sync pipe, blocking: the child reads it raw.
	p.vfork = p.flags&clonecore.VFORK != 0
	if !p.vfork {
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
			return fmt.Errorf("sync pipe: %w", err)
		}
		p.syncR, p.syncW = fds[0], fds[1]
	}
	return nil
}

// nsLinks are the /proc/<tid>/ns links read: each namespace of the
// namespaces table, in its order, and the for_children twins of pid and
// time, which are not namespaces a task is in but the ones its next
// children will be in. They differ from the task's own after unshare,
// setns, or a clone that creates the namespace for a task that does not
// enter it (CLONE_NEWTIME with CLONE_VM).
func nsLinks() []string {
	var links, twins []string
	for _, n := range namespaces.All() {
		links = append(links, n.ProcName)
		if n.ForChildren != "" {
			twins = append(twins, n.ForChildren)
		}
	}
	return append(links, twins...)
}

// sigaction reads minirun's disposition of sig, raw.
func (p *prober) sigaction(sig int) ([4]uint64, error) {
	var out [4]uint64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, p.sigBuf, 8, 0, 0); e != 0 {
		return out, fmt.Errorf("rt_sigaction(%d): read the handler: %w", sig, e)
	}
	for i := range out {
		out[i] = p.arena.Load64(p.sigBuf + uintptr(8*i))
	}
	return out, nil
}

// setSigaction writes back a disposition read by sigaction.
func (p *prober) setSigaction(sig int, v [4]uint64) error {
	for i := range v {
		p.arena.Store64(p.sigBuf+uintptr(8*i), v[i])
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), p.sigBuf, 0, 8, 0, 0); e != 0 {
		return fmt.Errorf("rt_sigaction(%d): put the handler back: %w", sig, e)
	}
	return nil
}

// build writes the child program.
func (p *prober) build() error {
	a := p.arena
	p.prog = clonecore.NewProgram(a)
	pr := p.prog
	var err error
	str := func(s string) uintptr {
		if err != nil {
			return 0
		}
		var q uintptr
		q, err = a.CString(s)
		return q
	}
	imm := func(v uintptr) clonecore.Arg { return clonecore.Imm(v) }

	if p.flags&(clonecore.THREAD|clonecore.PARENT) == 0 {
		// If minirun dies while the child waits, the child dies too.
		// Not for a thread, whose parent is minirun's parent and whose
		// SIGKILL would end minirun; nor for a CLONE_PARENT child.
		pr.Add("probe: die with minirun", "prctl(PR_SET_PDEATHSIG, SIGKILL)", unix.SYS_PRCTL,
			[]clonecore.Arg{imm(unix.PR_SET_PDEATHSIG), imm(uintptr(unix.SIGKILL))})
	}
	p.sPid, p.sTid, p.sPpid, p.sPolicy = pr.NewSlot(), pr.NewSlot(), pr.NewSlot(), pr.NewSlot()
	pr.Add("probe: thread group: getpid", "getpid()", unix.SYS_GETPID, nil, clonecore.SaveTo(p.sPid))
	pr.Add("probe: thread group: gettid", "gettid()", unix.SYS_GETTID, nil, clonecore.SaveTo(p.sTid))
	pr.Add("probe: parent: getppid", "getppid()", unix.SYS_GETPPID, nil, clonecore.SaveTo(p.sPpid))
	pr.Add("probe: scheduler: sched_getscheduler", "sched_getscheduler(0)", unix.SYS_SCHED_GETSCHEDULER,
		[]clonecore.Arg{imm(0)}, clonecore.SaveTo(p.sPolicy))
	addThreadPointerStep(pr, p.tpWord)
	for _, n := range nsLinks() {
		path := "/proc/thread-self/ns/" + n
		pr.Add("probe: namespaces: statx "+path, fmt.Sprintf("statx(AT_FDCWD, %q, 0, STATX_INO, %#x)", path, p.nsBuf[n]),
			unix.SYS_STATX, []clonecore.Arg{clonecore.Imm(unix.AT_FDCWD), imm(str(path)), imm(0), imm(unix.STATX_INO), imm(p.nsBuf[n])})
	}
	page := uintptr(unsafe.Pointer(unsafe.SliceData(p.page)))
	pr.Add("probe: address space: store into minirun's private page", fmt.Sprintf("*(uint64*)%#x = %#x", page, uint64(childMark)),
		clonecore.OpStore, []clonecore.Arg{imm(page), imm(uintptr(childMark))})
	null := pr.NewSlot()
	pr.Add("probe: file descriptors: open /dev/null", `openat(AT_FDCWD, "/dev/null", O_RDONLY|O_CLOEXEC)`, unix.SYS_OPENAT,
		[]clonecore.Arg{clonecore.Imm(unix.AT_FDCWD), imm(str("/dev/null")), imm(unix.O_RDONLY | unix.O_CLOEXEC)}, clonecore.SaveTo(null))
	pr.Add(fmt.Sprintf("probe: file descriptors: dup3 onto fd %d", p.fd), fmt.Sprintf("dup3(fd, %d, O_CLOEXEC)", p.fd), unix.SYS_DUP3,
		[]clonecore.Arg{null.Value(), imm(uintptr(p.fd)), imm(unix.O_CLOEXEC)}, clonecore.Expect(int64(p.fd)))
	pr.Add("probe: file descriptors: close the first fd", "close(fd)", unix.SYS_CLOSE, []clonecore.Arg{null.Value()})
	pr.Add("probe: filesystem context: chdir "+p.cwdTarget, fmt.Sprintf("chdir(%q)", p.cwdTarget), unix.SYS_CHDIR,
		[]clonecore.Arg{imm(str(p.cwdTarget))})
	pr.Add(fmt.Sprintf("probe: filesystem context: umask %03o", p.umaskTarget), fmt.Sprintf("umask(%03o)", p.umaskTarget), unix.SYS_UMASK,
		[]clonecore.Arg{imm(uintptr(p.umaskTarget))})
	pr.Add("probe: signal handlers: ignore SIGWINCH", "rt_sigaction(SIGWINCH, {SIG_IGN}, NULL, 8)", unix.SYS_RT_SIGACTION,
		[]clonecore.Arg{imm(uintptr(probeSignal)), imm(p.act), imm(0), imm(8)})
	// Tolerated: in a new IPC namespace the set does not exist (EINVAL).
	p.sSem = pr.NewSlot()
	pr.Add("probe: sysv semaphores: semop +1 with SEM_UNDO", fmt.Sprintf("semop(%d, {0, +1, SEM_UNDO}, 1)", p.semid), unix.SYS_SEMOP,
		[]clonecore.Arg{imm(uintptr(p.semid)), imm(p.sembuf), imm(1)},
		clonecore.SaveTo(p.sSem), clonecore.Tolerate(unix.EINVAL, unix.EIDRM, unix.EACCES, unix.EPERM))
	if p.vfork {
		// minirun is suspended until this child exits: it reads its
		// own /proc files, which report its own syscall (this read).
		p.sSelfSyscall, p.sSelfStat = p.addSelfRead(str, "/proc/thread-self/syscall", p.selfSyscall), p.addSelfRead(str, "/proc/thread-self/stat", p.selfStat)
	} else {
		if p.flags&clonecore.FILES == 0 {
			// Its own copy of the write end: without it, minirun's
			// death leaves the read below waiting for ever.
			pr.Add("probe: sync: close the copy of the write end", fmt.Sprintf("close(%d)", p.syncW), unix.SYS_CLOSE,
				[]clonecore.Arg{imm(uintptr(p.syncW))})
		}
		pr.Add("probe: sync: wait for minirun", fmt.Sprintf("read(%d, buf, 1)", p.syncR), unix.SYS_READ,
			[]clonecore.Arg{imm(uintptr(p.syncR)), imm(p.syncBuf), imm(1)}, clonecore.Expect(1))
	}
	return err
}

// addSelfRead adds open, read and close of one of the child's own /proc files
// into buf, and returns the slot of the byte count.
func (p *prober) addSelfRead(str func(string) uintptr, path string, buf uintptr) clonecore.Slot {
	pr := p.prog
	fd, n := pr.NewSlot(), pr.NewSlot()
	pr.Add("probe: vfork: open "+path, fmt.Sprintf("openat(AT_FDCWD, %q, O_RDONLY|O_CLOEXEC)", path), unix.SYS_OPENAT,
		[]clonecore.Arg{clonecore.Imm(unix.AT_FDCWD), clonecore.Imm(str(path)), clonecore.Imm(unix.O_RDONLY | unix.O_CLOEXEC)}, clonecore.SaveTo(fd))
	pr.Add("probe: vfork: read "+path, fmt.Sprintf("read(fd, %#x, %d)", buf, selfBufSize-1), unix.SYS_READ,
		[]clonecore.Arg{fd.Value(), clonecore.Imm(buf), clonecore.Imm(selfBufSize - 1)}, clonecore.SaveTo(n))
	pr.Add("probe: vfork: close "+path, "close(fd)", unix.SYS_CLOSE, []clonecore.Arg{fd.Value()})
	return n
}

// live is what minirun read in /proc/<tid> while the child waited.
type live struct {
	sc      procSyscall
	state   string
	status  map[string]string
	ns      map[string]uint64
	cwd     string
	problem error
}

// run starts the child and measures.
func (p *prober) run() (*Report, error) {
	r := &Report{
		Asked:    p.flags.String(),
		FlagBits: uint64(p.flags),
		Minirun:  Identity{PID: os.Getpid(), TID: unix.Gettid(), PPID: os.Getppid()},
		Program:  strings.Split(strings.TrimRight(p.prog.Explain(), "\n"), "\n"),
	}
	p.report = r
	r.SemSet = p.semid
	t, err := clonecore.Start(p.prog, clonecore.Options{Flags: p.flags})
	if err != nil {
		return nil, err
	}
	// From here the child may use the arena until it has exited.
	p.freeArena = false
	r.Flags, r.FlagBits, r.Syscall, r.Child.TID = t.Flags.String(), uint64(t.Flags), t.Syscall, t.TID
	if t.Added != 0 {
		r.Added = t.Added.String()
	}
	exited := watchExit(t)

	var lv live
	var jerr error
	if p.vfork {
		jerr = t.Join()
	} else {
		joined := make(chan error, 1)
		go func() { joined <- t.Join() }()
		var early bool
		lv, early, jerr = p.waitHeld(t, joined)
		if !early {
			p.held = true
			p.measureFS(&lv) // as early as can be: with CLONE_FS it is minirun's
		}
		// Release the child: one byte. (Closing the write end would not
		// do: a child without CLONE_FILES has its own copy.)
		unix.Write(p.syncW, []byte{1})
		if !early {
			jerr = <-joined
		}
	}
	// The TID word is cleared before the child's exit undoes its
	// semaphores: wait for the exit itself.
	exited()
	p.freeArena = true
	r.Held = p.held

	if !p.fsDone {
		p.measureFS(&lv)
	}
	p.measureAfter(t, &lv)
	herr := p.restoreHandlers()
	r.Exit = p.reap(t)
	if herr != nil {
		return r, herr
	}
	if jerr != nil {
		return r, fmt.Errorf("probe child (%v): %w", t.Flags, jerr)
	}
	if lv.problem != nil {
		return r, lv.problem
	}
	return r, nil
}

// waitHeld waits until the child is blocked in its sync read and reads
// /proc/<tid> then. early is true when the child ended first: a step failed.
func (p *prober) waitHeld(t *clonecore.Task, joined chan error) (lv live, early bool, jerr error) {
wait:
	for {
		select {
		case jerr = <-joined:
			return lv, true, jerr
		default:
		}
		sc, err := readSyscall(t.TID)
		if err == nil && !sc.Running && sc.Nr == unix.SYS_READ && sc.Args[0] == uint64(p.syncR) {
			lv.sc = sc
			break wait
		}
		time.Sleep(20 * time.Microsecond)
	}
	dir := fmt.Sprintf("/proc/%d", t.TID)
	b, err := os.ReadFile(dir + "/stat")
	if err == nil {
		lv.state, err = parseStatState(string(b))
	}
	if err == nil {
		lv.status, err = readStatus(dir + "/status")
	}
	if err == nil {
		lv.cwd, err = os.Readlink(dir + "/cwd")
	}
	lv.ns = map[string]uint64{}
	for _, n := range nsLinks() {
		if err != nil {
			break
		}
		lv.ns[n], err = nsInode(dir + "/ns/" + n)
	}
	if err != nil {
		lv.problem = fmt.Errorf("reading the waiting child's /proc: %w", err)
	}
	return lv, false, nil
}

// watchExit returns a function that waits until t has exited: through a
// pidfd (PIDFD_THREAD for a thread), or until its /proc entry is gone.
func watchExit(t *clonecore.Task) func() {
	flags := 0
	if t.Flags&clonecore.THREAD != 0 {
		flags = unix.PIDFD_THREAD // a pidfd for this one thread
	}
	fd, err := unix.PidfdOpen(t.TID, flags)
	if errors.Is(err, unix.ESRCH) {
		return func() {} // gone already: a thread, or reaped by its parent
	}
	if err != nil {
		// A kernel without PIDFD_THREAD (before 6.9).
		return func() {
			path := fmt.Sprintf("/proc/%d/task/%d", os.Getpid(), t.TID)
			for {
				if _, err := os.Stat(path); err != nil {
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	return func() {
		defer unix.Close(fd)
		for {
			_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
			if err != unix.EINTR {
				return
			}
		}
	}
}

// cleanup removes what prepare made. The arena is freed only once no child
// can touch it.
func (p *prober) cleanup() {
	for _, fd := range []int{p.syncR, p.syncW} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	if p.semid >= 0 {
		unix.Syscall(unix.SYS_SEMCTL, uintptr(p.semid), 0, unix.IPC_RMID)
	}
	if p.page != nil {
		unix.Munmap(p.page)
	}
	if p.freeArena {
		p.arena.Free()
	}
}

// reap collects the child's exit status, and says who reaped it.
func (p *prober) reap(t *clonecore.Task) string {
	switch {
	case t.Flags&clonecore.THREAD != 0:
		return "exited (SYS_exit); a thread of minirun is not reaped"
	case t.Flags&clonecore.PARENT != 0:
		return "exited; minirun's parent reaps it (CLONE_PARENT made it minirun's sibling)"
	}
	ws, err := t.Reap()
	switch {
	case errors.Is(err, unix.ECHILD):
		return "exited and was reaped by the kernel: minirun's SIGCHLD was SIG_IGN when it exited"
	case err != nil:
		return fmt.Sprintf("exited; reaping it: %v", err)
	case ws.Exited():
		return fmt.Sprintf("exit status %d, reaped by minirun", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by %v, reaped by minirun", ws.Signal())
	}
	return fmt.Sprintf("wait status %#x, reaped by minirun", uint32(ws))
}
