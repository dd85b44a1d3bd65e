package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/namespaces"
	"golang.org/x/sys/unix"
)

// measureFS compares minirun's cwd and umask with what they were, and puts
// them back at once if the child's chdir and umask were minirun's.
func (p *prober) measureFS(lv *live) {
	p.fsDone = true
	res := Resource{Key: KeyFS}
	defer func() { p.set(res) }()
	cwd, err := unix.Getwd()
	if err != nil {
		res.Verdict, res.Evidence = "not measured", fmt.Sprintf("getcwd: %v", err)
		return
	}
	um, err := ownUmask()
	if err != nil {
		res.Verdict, res.Evidence = "not measured", err.Error()
		return
	}
	var restored []string
	if cwd != p.cwd {
		if err := unix.Chdir(p.cwd); err != nil {
			restored = append(restored, fmt.Sprintf("cwd %s NOT put back: %v", p.cwd, err))
		} else {
			restored = append(restored, "cwd "+p.cwd)
		}
	}
	if um != p.umask {
		unix.Umask(int(p.umask))
		restored = append(restored, fmt.Sprintf("umask %03o", p.umask))
	}
	res.Restored = strings.Join(restored, ", ")
	did := fmt.Sprintf("the child did chdir(%q) and umask(%03o)", p.cwdTarget, p.umaskTarget)
	if lv.status != nil {
		did += fmt.Sprintf(" (its /proc/%d: cwd %s, umask %s)", p.report.Child.TID, lv.cwd, lv.status["Umask"])
	}
	switch {
	case cwd != p.cwd && um != p.umask:
		res.Same, res.Verdict = boolp(true), "shared"
		res.Evidence = fmt.Sprintf("%s: minirun's cwd became %s (was %s) and its umask %03o (was %03o)", did, cwd, p.cwd, um, p.umask)
	case cwd == p.cwd && um == p.umask:
		res.Same, res.Verdict = boolp(false), "copied"
		res.Evidence = fmt.Sprintf("%s: minirun's cwd (%s) and umask (%03o) did not change", did, cwd, um)
	default:
		res.Verdict = "inconsistent"
		res.Evidence = fmt.Sprintf("%s: minirun's cwd %s (was %s), umask %03o (was %03o): one changed, not both", did, cwd, p.cwd, um, p.umask)
	}
}

// set records a resource's verdict.
func (p *prober) set(res Resource) {
	res.Name = resourceNames[res.Key]
	r := p.report
	for i := range r.Resources {
		if r.Resources[i].Key == res.Key {
			r.Resources[i] = res
			return
		}
	}
	r.Resources = append(r.Resources, res)
}

// measureAfter measures, once the child has exited, everything but the
// filesystem context, and puts back the fd it left in minirun's table.
func (p *prober) measureAfter(t *clonecore.Task, lv *live) {
	r := p.report
	pr := p.prog
	r.Child.SelfPID, r.Child.SelfTID, r.Child.SelfParent = int(pr.Result(p.sPid)), int(pr.Result(p.sTid)), int(pr.Result(p.sPpid))
	if lv.status != nil {
		r.Child.TGID, _ = strconv.Atoi(lv.status["Tgid"])
		r.Child.PPID, _ = strconv.Atoi(lv.status["PPid"])
	}
	p.measureVM()
	p.measureFiles()
	p.measureSighand(lv)
	p.measureThreadGroup()
	p.measureParent()
	p.measureSysvsem()
	p.measureTLS(t)
	p.measureStack(t, lv)
	p.measureSched(lv)
	p.measureNamespaces(lv)
	p.addNotes(t)
	// Report order.
	order := map[string]int{}
	for i, k := range Keys {
		order[k] = i
	}
	res := r.Resources
	for i := 1; i < len(res); i++ {
		for j := i; j > 0 && order[res[j].Key] < order[res[j-1].Key]; j-- {
			res[j], res[j-1] = res[j-1], res[j]
		}
	}
}

func (p *prober) measureVM() {
	page := uintptr(unsafe.Pointer(unsafe.SliceData(p.page)))
	v := binary.NativeEndian.Uint64(p.page)
	did := fmt.Sprintf("the child stored %#x at %#x, in a MAP_PRIVATE page minirun filled with %#x", uint64(childMark), page, uint64(parentMark))
	res := Resource{Key: KeyVM}
	switch v {
	case childMark:
		res.Same, res.Verdict = boolp(true), "shared"
		res.Evidence = did + ": minirun reads the child's word"
	case parentMark:
		res.Same, res.Verdict = boolp(false), "copy-on-write"
		res.Evidence = did + ": minirun still reads its own (the child wrote into its copy)"
	default:
		res.Verdict = "not measured"
		res.Evidence = fmt.Sprintf("%s: minirun reads %#x, neither", did, v)
	}
	p.set(res)
}

func (p *prober) measureFiles() {
	res := Resource{Key: KeyFiles}
	did := fmt.Sprintf("the child dup3'd /dev/null onto fd %d, free in minirun's table", p.fd)
	_, err := unix.FcntlInt(uintptr(p.fd), unix.F_GETFD, 0)
	switch {
	case errors.Is(err, unix.EBADF):
		res.Same, res.Verdict = boolp(false), "copied"
		res.Evidence = did + fmt.Sprintf(": fd %d is still free in minirun's", p.fd)
	case err != nil:
		res.Verdict, res.Evidence = "not measured", fmt.Sprintf("%s: fcntl(%d, F_GETFD): %v", did, p.fd, err)
	default:
		link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", p.fd))
		if link != "/dev/null" {
			res.Verdict = "not measured"
			res.Evidence = fmt.Sprintf("%s: fd %d in minirun's is %s, not the child's /dev/null: minirun opened it meanwhile", did, p.fd, link)
			break
		}
		unix.Close(p.fd)
		res.Same, res.Verdict = boolp(true), "shared"
		res.Evidence = did + fmt.Sprintf(": fd %d appeared in minirun's, -> /dev/null", p.fd)
		res.Restored = fmt.Sprintf("fd %d closed", p.fd)
	}
	p.set(res)
}

// sigNames names the signals a report may mention.
func sigName(sig int) string {
	if s := unix.SignalName(unix.Signal(sig)); s != "" {
		return s
	}
	return fmt.Sprintf("signal %d", sig)
}

// handlerName renders a raw disposition's handler word.
func handlerName(v [4]uint64) string {
	switch v[0] {
	case 0:
		return "SIG_DFL"
	case 1:
		return "SIG_IGN"
	}
	return fmt.Sprintf("handler %#x", v[0])
}

// measureSighand compares every signal's disposition with what it was and
// puts back each that changed, exactly (Go's handler, flags, restorer, mask).
func (p *prober) measureSighand(lv *live) {
	res := Resource{Key: KeySighand}
	defer func() { p.set(res) }()
	changed := map[int][4]uint64{}
	for sig := 1; sig <= 64; sig++ {
		now, err := p.sigaction(sig)
		if err != nil {
			res.Verdict, res.Evidence = "not measured", err.Error()
			return
		}
		if now != p.sigBefore[sig] {
			changed[sig] = now
		}
	}
	did := fmt.Sprintf("the child set SIGWINCH to SIG_IGN; minirun's was %s", handlerName(p.sigBefore[probeSignal]))
	if now, ok := changed[int(probeSignal)]; ok {
		res.Same, res.Verdict = boolp(true), "shared"
		res.Evidence = fmt.Sprintf("%s and became %s", did, handlerName(now))
	} else {
		res.Same, res.Verdict = boolp(false), "separate"
		res.Evidence = did + " and did not change"
	}
	if lv.status != nil {
		own, err := readStatus("/proc/self/status")
		if err == nil {
			res.Evidence += fmt.Sprintf(" (caught: child %s, minirun %s)", lv.status["SigCgt"], own["SigCgt"])
		}
	}
	var restored, others []string
	for sig := 1; sig <= 64; sig++ {
		now, ok := changed[sig]
		if !ok {
			continue
		}
		if sig != int(probeSignal) {
			others = append(others, fmt.Sprintf("%s (%s -> %s)", sigName(sig), handlerName(p.sigBefore[sig]), handlerName(now)))
		}
		if err := p.setSigaction(sig, p.sigBefore[sig]); err != nil {
			restored = append(restored, err.Error())
			continue
		}
		restored = append(restored, sigName(sig)+" handler")
	}
	res.Restored = strings.Join(restored, ", ")
	if len(others) > 0 {
		note := "minirun's handlers of " + strings.Join(others, ", ") + " changed though the child set only SIGWINCH's"
		if p.flags&clonecore.NEWPID != 0 {
			note += ": the child was the init of a new PID namespace, and an exiting init sets SIGCHLD to SIG_IGN in its handler table (zap_pid_ns_processes) — here minirun's; the kernel then reaped the child itself"
		}
		p.report.Notes = append(p.report.Notes, note+"; put back")
	}
}

// restoreHandlers checks that every handler is as it was before the probe.
func (p *prober) restoreHandlers() error {
	for sig := 1; sig <= 64; sig++ {
		now, err := p.sigaction(sig)
		if err != nil {
			return err
		}
		if now != p.sigBefore[sig] {
			if err := p.setSigaction(sig, p.sigBefore[sig]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *prober) measureThreadGroup() {
	r := p.report
	res := Resource{Key: KeyThreadGroup}
	tgid, from := r.Child.SelfPID, fmt.Sprintf("getpid() in the child: %d", r.Child.SelfPID)
	if r.Child.TGID != 0 {
		tgid = r.Child.TGID
		from += fmt.Sprintf("; Tgid in /proc/%d/status: %d", r.Child.TID, r.Child.TGID)
	}
	from += fmt.Sprintf("; minirun's pid: %d", r.Minirun.PID)
	if tgid == r.Minirun.PID {
		res.Same, res.Verdict = boolp(true), "same"
		res.Evidence = from + fmt.Sprintf(": the child is thread %d of minirun", r.Child.TID)
	} else {
		res.Same, res.Verdict = boolp(false), "new"
		res.Evidence = from + fmt.Sprintf(": the child leads thread group %d", r.Child.TID)
	}
	p.set(res)
}

func (p *prober) measureParent() {
	r := p.report
	res := Resource{Key: KeyParent}
	ppid, from := r.Child.SelfParent, fmt.Sprintf("getppid() in the child: %d", r.Child.SelfParent)
	if r.Child.PPID != 0 {
		ppid = r.Child.PPID
		from += fmt.Sprintf("; PPid in /proc/%d/status: %d", r.Child.TID, r.Child.PPID)
	} else if ppid == 0 {
		from += " (its parent is outside its PID namespace)"
	}
	from += fmt.Sprintf("; minirun is %d, its parent %d", r.Minirun.PID, r.Minirun.PPID)
	switch ppid {
	case r.Minirun.PID:
		res.Same, res.Verdict = boolp(false), "minirun"
	case r.Minirun.PPID:
		res.Same, res.Verdict = boolp(true), "minirun's parent"
	default:
		res.Verdict = "not measured"
	}
	res.Evidence = from
	p.set(res)
}

func (p *prober) measureSysvsem() {
	res := Resource{Key: KeySysvsem}
	defer func() { p.set(res) }()
	did := fmt.Sprintf("the child did semop +1 with SEM_UNDO on minirun's set %d", p.semid)
	if v := p.prog.Result(p.sSem); v < 0 {
		e := unix.Errno(-v)
		res.Verdict = "not observable"
		res.Evidence = fmt.Sprintf("%s: %v", did, e)
		if e == unix.EINVAL && p.flags&clonecore.NEWIPC != 0 {
			res.Evidence += ": the child is in a new IPC namespace, where minirun's set does not exist; a new IPC namespace also means an undo list of its own (the kernel refuses CLONE_NEWIPC with CLONE_SYSVSEM)"
		}
		return
	}
	v, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(p.semid), 0, semGetVal, 0, 0, 0)
	if e != 0 {
		res.Verdict, res.Evidence = "not measured", fmt.Sprintf("%s: semctl(GETVAL): %v", did, e)
		return
	}
	switch v {
	case 0:
		res.Same, res.Verdict = boolp(false), "separate"
		res.Evidence = did + ": 0 after its exit (the kernel undid it from the child's own undo list)"
	case 1:
		res.Same, res.Verdict = boolp(true), "shared"
		res.Evidence = did + ": still 1 after its exit (the undo waits on the list it shares with minirun, until minirun exits)"
		res.Restored = fmt.Sprintf("set %d removed", p.semid)
	default:
		res.Verdict, res.Evidence = "not measured", fmt.Sprintf("%s: %d after its exit", did, v)
	}
}

func (p *prober) measureTLS(t *clonecore.Task) {
	res := Resource{Key: KeyTLS}
	defer func() { p.set(res) }()
	if tlsUnmeasurable != "" {
		res.Verdict, res.Evidence = "not measurable", tlsUnmeasurable
		return
	}
	if p.ownTPErr != nil {
		res.Verdict, res.Evidence = "not measured", p.ownTPErr.Error()
		return
	}
	child := p.arena.Load64(p.tpWord)
	mine := fmt.Sprintf("minirun's thread %d: %#x", p.report.Minirun.TID, p.ownTP)
	switch {
	case child == uint64(t.TCB) && t.Flags&clonecore.SETTLS != 0:
		res.Same, res.Verdict = boolp(false), "own TCB"
		res.Evidence = fmt.Sprintf("the child's %s is %#x, the TCB of the core's stack slot (CLONE_SETTLS); %s", tlsRegister, child, mine)
	case child == p.ownTP:
		res.Same, res.Verdict = boolp(true), "inherited"
		res.Evidence = fmt.Sprintf("the child's %s is %#x, that of the thread that cloned it (%s)", tlsRegister, child, mine)
	default:
		res.Same, res.Verdict = boolp(false), "other"
		res.Evidence = fmt.Sprintf("the child's %s is %#x; %s", tlsRegister, child, mine)
	}
}

func (p *prober) measureStack(t *clonecore.Task, lv *live) {
	res := Resource{Key: KeyStack}
	defer func() { p.set(res) }()
	var sc procSyscall
	var from string
	switch {
	case lv.sc.readable:
		sc, from = lv.sc, fmt.Sprintf("/proc/%d/syscall, read while the child waited in read()", t.TID)
	case p.vfork:
		var err error
		sc, err = parseSyscall(p.selfText(p.selfSyscall, p.sSelfSyscall))
		if err != nil {
			res.Verdict, res.Evidence = "not measured", err.Error()
			return
		}
		from = "the child's own /proc/thread-self/syscall (CLONE_VFORK: minirun was suspended)"
	default:
		res.Verdict, res.Evidence = "not measured", "the child did not reach its sync step"
		return
	}
	var here byte
	mine := uintptr(unsafe.Pointer(&here))
	where := fmt.Sprintf("the child's SP %#x (from %s)", sc.SP, from)
	if uintptr(sc.SP) >= t.StackLo && uintptr(sc.SP) < t.StackTop {
		res.Same, res.Verdict = boolp(false), "separate"
		res.Evidence = fmt.Sprintf("%s lies in the stack the core mapped for it [%#x, %#x); minirun's goroutine stack is near %#x", where, t.StackLo, t.StackTop, mine)
	} else {
		res.Verdict = "not measured"
		res.Evidence = fmt.Sprintf("%s lies outside the core's stack [%#x, %#x)", where, t.StackLo, t.StackTop)
	}
}

// selfText is what the vfork child read from one of its /proc files.
func (p *prober) selfText(buf uintptr, n clonecore.Slot) string {
	c := p.prog.Result(n)
	if c <= 0 || c >= selfBufSize {
		return ""
	}
	return string(p.arena.Slice(buf, int(c)))
}

func (p *prober) measureSched(lv *live) {
	r := p.report
	res := Resource{Key: KeySched}
	child := p.prog.Result(p.sPolicy)
	state, where := lv.state, fmt.Sprintf("/proc/%d/stat", r.Child.TID)
	if state == "" && p.vfork {
		state, _ = parseStatState(p.selfText(p.selfStat, p.sSelfStat))
		where = "its own /proc/thread-self/stat"
	}
	own := "?"
	if b, err := os.ReadFile("/proc/thread-self/stat"); err == nil {
		own, _ = parseStatState(string(b))
	}
	res.Evidence = fmt.Sprintf("the child: state %s in %s, %s; minirun's thread: state %s, %s",
		stateName(state), where, policyName(child), stateName(own), policyName(int64(p.ownPolicy)))
	if child == int64(p.ownPolicy) && state != "" {
		res.Same, res.Verdict = boolp(true), "identical"
	} else {
		res.Same, res.Verdict = boolp(false), "different"
	}
	p.set(res)
}

// inoOffset is where statx puts the inode number.
var inoOffset = unsafe.Offsetof(unix.Statx_t{}.Ino)

func (p *prober) measureNamespaces(lv *live) {
	r := p.report
	ino := func(n string) uint64 { return p.arena.Load64(p.nsBuf[n] + inoOffset) }
	for _, info := range namespaces.All() {
		n := info.ProcName
		ns := Namespace{Name: n, Child: ino(n), Proc: lv.ns[n], Minirun: p.ownNS[n]}
		ns.Same = ns.Child == ns.Minirun
		if fc := info.ForChildren; fc != "" {
			ns.ChildForChildren, ns.MinirunForChildren = ino(fc), p.ownNS[fc]
		}
		r.Namespaces = append(r.Namespaces, ns)
	}
}

// addNotes explains what the flags did beyond the table.
func (p *prober) addNotes(t *clonecore.Task) {
	r := p.report
	var notes []string
	if t.Added != 0 {
		notes = append(notes, fmt.Sprintf("the clone core added %v: a child in minirun's address space needs a thread pointer of its own (else it would use the TLS of the thread that cloned it) and a TID word the kernel clears when it exits", t.Added))
	}
	if p.vfork {
		notes = append(notes, "CLONE_VFORK: minirun's thread stayed in clone3 until the child exited, so the child could not wait on a sync step (it would wait for ever for a parent that waits for it); it read its own /proc files instead, and minirun measured the rest after its exit")
	}
	if p.flags&clonecore.NEWPID != 0 {
		notes = append(notes, fmt.Sprintf("CLONE_NEWPID: getpid() in the child is %d, getppid() %d: it is the init of a new PID namespace, and its parent lies outside it; minirun sees it as %d. The child's pid link is the new namespace; minirun's pid_for_children did not change: clone puts the child itself in the new namespace, while unshare(CLONE_NEWPID) changes only the namespace of a task's next children", r.Child.SelfPID, r.Child.SelfParent, r.Child.TID))
	}
	if ns := r.Namespace("time"); ns != nil && ns.ChildForChildren != 0 && ns.ChildForChildren != ns.Child {
		notes = append(notes, "CLONE_NEWTIME with CLONE_VM: the kernel made a time namespace but left the child in minirun's; the new one is only its time_for_children (copy_namespaces moves a child into it only without CLONE_VM, since the clock offsets live in its vDSO data, part of the address space)")
	}
	if p.flags&clonecore.CLEAR_SIGHAND != 0 {
		notes = append(notes, "CLONE_CLEAR_SIGHAND: the child's copy of the handler table started with every caught signal reset to SIG_DFL (its SigCgt above)")
	}
	if p.flags&clonecore.NEWUSER != 0 {
		notes = append(notes, "CLONE_NEWUSER: nobody wrote the child's uid_map, so inside its namespace it is the overflow user (65534); its files and IPC checks still use minirun's ids")
	}
	r.Notes = append(notes, r.Notes...)
}
