package childprog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/namespaces"
	"github.com/minirun/minirun/seccomp"
	"github.com/minirun/minirun/specs"
)

// CompileEnv holds the facts about the host that a compile needs, so that
// Compile itself does no I/O and can be tested anywhere (HostEnv gathers
// them on the running machine).
type CompileEnv struct {
	// BundleDir resolves relative bind-mount sources.
	BundleDir string
	// Rootfs is root.path made absolute.
	Rootfs string
	// IsFile says whether a host path is a file: a bind mount's source (its
	// destination is then created as a file, not a directory), or a masked
	// path under /proc or /sys (see maskAndReadonly). IsDir likewise.
	IsFile, IsDir func(path string) bool
	// ImageEntry reads the rootfs: mount destinations are resolved through
	// the image's symlinks with it (resolveInImage). nil takes them as
	// written, for the child's RESOLVE_IN_ROOT alone to follow.
	ImageEntry ImageEntry
	// LastCap is /proc/sys/kernel/cap_last_cap: the bounding set is
	// cleared of every capability up to it that the spec does not keep.
	LastCap int
	// CgroupUnified is true on a cgroup2-only host; otherwise
	// CgroupHierarchies lists what is mounted under /sys/fs/cgroup.
	CgroupUnified     bool
	CgroupHierarchies []CgroupHierarchy
	// NoPivot moves the rootfs onto / and chroots instead of pivot_root
	// (for a rootfs on a ramfs, where pivot_root is refused).
	NoPivot bool
	// DieWithParent keeps PR_SET_PDEATHSIG across the exec (minirun run).
	DieWithParent bool
	// Rootless is set when minirun runs without privilege: an
	// unprivileged gid_map needs setgroups denied first.
	Rootless bool
	// PreserveFDs passes fds 3 … 3+PreserveFDs-1 to the process.
	PreserveFDs int
	// Gate makes the child stop at PointReady even without a
	// startContainer hook: create leaves it there until start.
	Gate bool
	// Exec compiles a process that joins a running container (exec, and
	// the hooks that run in its namespaces): every namespace of the spec
	// is a join, and nothing of the container's own setup (filesystem,
	// hostname, sysctls) is done again. process.execCPUAffinity applies
	// to such a process, and not to a container's first (runtime-spec).
	Exec bool
	// Path, when set, is execve'd as it is, with process.args as argv (a
	// hook's path), instead of process.args[0] looked up in PATH.
	Path string
	// SessionKeyring, when set, is the name of a new session keyring the
	// process joins, so that it does not share the one minirun was
	// started in (runc does the same; --no-new-keyring leaves it unset).
	SessionKeyring string
	// SetgroupsDenied says the user namespace the process joins has
	// setgroups denied (/proc/PID/setgroups, a rootless container's): the
	// process keeps the group list it gets, and only a list the spec asks
	// for is attempted (and refused by the kernel, naming the field).
	SetgroupsDenied bool
	// Stdio gives the process stdin, stdout and stderr of the parent's
	// choosing (a hook's state pipe and its captured output): the parent
	// stores three fd numbers at Plan.StdioFDs.
	Stdio bool
	// ParentCheck makes the child check that minirun is alive once it
	// has asked to die with it, through a pidfd the parent stores at
	// Plan.ParentPidfd.
	ParentCheck bool
	// CloseFDs is how many fds of minirun's the child closes first: the
	// parent stores their numbers at Plan.CloseFDs.
	CloseFDs int
	// CgroupPath is the container's cgroup (the same path in every
	// hierarchy), "" when it has none: without a cgroup namespace, a
	// cgroup mount shows this cgroup's files, as runc binds them.
	CgroupPath string
	// Cgroup says the parent places the child in the container's cgroups
	// at PointNamespaces, writing its pid to cgroup.procs (a cgroup2
	// directory it could not be cloned into).
	Cgroup bool
	// NetNS says that the parent makes the container's new network
	// namespace itself, alongside its own work, and hands its fd at
	// Plan.NetNSFD: the child enters it (setns) instead of the clone
	// making it. Making a network namespace is most of what a clone3
	// with namespaces costs (0.6 ms on the project's machine); made on
	// another thread, it is off the path to the container's process.
	// Taken only where no user namespace is made or joined, which must
	// own the network namespace.
	NetNS bool
	// CgroupTasks names the cgroup v1 hierarchies ("memory",
	// "name=systemd") whose container cgroup the child joins by itself,
	// first of all (see joinCgroups): the parent opens each one's tasks
	// file and stores the fd numbers at Plan.CgroupTasks, in this order.
	CgroupTasks []string
	// SeccompArch is the GOARCH linux.seccomp is compiled for; empty is
	// the one minirun runs on (the golden tests fix it).
	SeccompArch string
}

// CgroupHierarchy is one cgroup mount of the host below /sys/fs/cgroup.
type CgroupHierarchy struct {
	Dir     string // below /sys/fs/cgroup: "memory", "cpu,cpuacct", "unified"
	FSType  string // "cgroup" or "cgroup2"
	Options string // the controllers (v1), e.g. "cpu,cpuacct" or "none,name=systemd"
}

// Plan is a compiled container: what the parent passes to clone, the child
// program, and the parent's part of the protocol.
//
// The protocol is a list of named points (Points) where the child tells the
// parent it has got there — one byte, the point's number, on the notify
// pipe — and waits for one byte back before it goes on. The parent does
// that point's work in between:
//
//	parent                                      child (new namespaces)
//	  opens namespace paths, pipes; stores
//	  their fd numbers in the arena
//	  clone3(Flags) ------------------------->  setns(JoinFDs…), unshare
//	                           <- - - - - - - -  PointNamespaces
//	  id maps, clock offsets, cgroup             read(sync)
//	  write(sync) - - - - - - - - - - - - - ->  [double fork], mounts
//	                           <- - - - - - - -  PointMounted
//	  createRuntime, createContainer hooks       read(sync)
//	  write(sync) - - - - - - - - - - - - - ->  pivot_root, pty
//	                           <- - - - - - - -  PointConsole
//	  pidfd_getfd the pty master                 read(sync)
//	  write(sync) - - - - - - - - - - - - - ->  [seccomp], identity, capabilities
//	                           <- - - - - - - -  PointListener (a notifying filter)
//	  pidfd_getfd the listener, send it          read(sync)
//	  write(sync) - - - - - - - - - - - - - ->
//	                           <- - - - - - - -  PointReady
//	  startContainer hooks (create: exits;       read(gate)
//	  start writes the gate, exec.fifo)
//	  write(gate) - - - - - - - - - - - - - ->  [seccomp], execve
//	  EOF on the exec pipe: exec'd, or the
//	  block names the failing step
//
// A plan has only the points it needs, in that order; one with none runs
// from clone to execve without a word.
type Plan struct {
	Flags   clonecore.Flags
	Program *clonecore.Program
	Arena   *clonecore.Arena
	// Points are the points the child stops at, in the order it reaches them.
	Points []Point
	// NotifyFD and SyncFD are the arena words for the write end of the
	// notify pipe and the read end of the sync pipe; GateFD for the fd the
	// child reads at PointReady (the sync pipe's again for run, exec.fifo
	// for create). 0 when the plan has no point that uses them.
	NotifyFD, SyncFD, GateFD uintptr
	// Joins are the namespaces entered by path; the parent opens each and
	// stores the fd number (int32) at the matching JoinFDs word.
	Joins   []namespaces.Join
	JoinFDs []uintptr
	// UserNS is set when the clone makes a user namespace; the parent
	// writes UIDMap and GIDMap (and "deny" to setgroups when
	// SetgroupsDeny) at PointNamespaces.
	UserNS         bool
	UIDMap, GIDMap string
	SetgroupsDeny  bool
	// TimeOffsets, for a new time namespace, is what the parent writes to
	// /proc/PID/timens_offsets ("monotonic S N" lines) at PointNamespaces.
	TimeOffsets string
	// NetDevices are the host interfaces of linux.netDevices the parent
	// moves into the container's network namespace at PointNamespaces.
	NetDevices []string
	// NetNSFD is the arena word for the fd of the network namespace the
	// parent made (CompileEnv.NetNS), 0 when the clone makes it.
	NetNSFD uintptr
	// DoubleFork is set when a PID namespace is joined: the cloned task
	// forks (with CLONE_PARENT, so minirun is the parent) and exits; the
	// container's process is the grandchild, whose TID (in minirun's PID
	// namespace) is left at GrandchildTID.
	DoubleFork    bool
	GrandchildTID uintptr
	// ParentPidfd is the arena word for a pidfd of minirun's
	// (CompileEnv.ParentCheck): the fd field of a struct pollfd.
	ParentPidfd uintptr
	// CloseFDs are the arena words for the fds of minirun's the child
	// closes first (CompileEnv.CloseFDs).
	CloseFDs []uintptr
	// CgroupTasks are the arena words for the fds of the tasks files of
	// CompileEnv.CgroupTasks' hierarchies, in that order.
	CgroupTasks []uintptr
	// StdioFDs, with CompileEnv.Stdio, are the arena words for the fds the
	// process gets as 0, 1 and 2.
	StdioFDs [3]uintptr
	// IDMapped are the idmapped bind mounts, which the parent prepares
	// before the clone: it stores each detached tree's fd number at its FD
	// word, and the child moves it into place (see IDMappedMount).
	IDMapped []IDMappedMount
	// Console is set for process.terminal: the arena word where the child
	// leaves the pty master's fd number at PointConsole; the parent takes
	// the master with pidfd_getfd (see terminal).
	Console uintptr
	// Seccomp is linux.seccomp compiled (nil without one); the child
	// installs it (see seccomp.go for where). Its Skipped says what the
	// policy names that the filter leaves out.
	Seccomp *seccomp.Filter
	// Listener is set when the filter notifies: the arena word where the
	// child leaves the listener's fd number at PointListener; the parent
	// takes it with pidfd_getfd and sends it to linux.seccomp.listenerPath.
	Listener uintptr
	// SeccompStep is the index of the step that installs the filter, -1
	// without one: a step after it that fails may have been refused by
	// the filter. ExecStep is the first execve's.
	SeccompStep, ExecStep int
}

// A Point is a named place in a child program where the child stops,
// tells the parent, and waits for it (see Plan).
type Point uint8

// The points, in the order a program reaches them.
const (
	// PointNamespaces: the child's namespaces exist and it has entered
	// none of the new PID or time namespaces' children yet. The parent
	// writes the id maps and clock offsets and places it in its cgroup.
	PointNamespaces Point = iota + 1
	// PointMounted: every mount is made and pivot_root is next. The
	// parent runs the createRuntime and createContainer hooks.
	PointMounted
	// PointConsole: the pty master's fd number is at Plan.Console.
	PointConsole
	// PointListener: the seccomp filter is installed and its listener's
	// fd number is at Plan.Listener.
	PointListener
	// PointReady: execve is next. The parent runs the startContainer
	// hooks; create leaves the child here, reading exec.fifo.
	PointReady
)

var pointNames = [...]string{PointNamespaces: "namespaces", PointMounted: "mounted", PointConsole: "console", PointListener: "listener", PointReady: "ready"}

func (p Point) String() string {
	if int(p) < len(pointNames) && pointNames[p] != "" {
		return pointNames[p]
	}
	return "point " + strconv.Itoa(int(p))
}

// Has reports whether the child stops at p.
func (p *Plan) Has(pt Point) bool {
	for _, q := range p.Points {
		if q == pt {
			return true
		}
	}
	return false
}

// Free releases the arena. Call it after the child has exec'd or exited.
func (p *Plan) Free() {
	if p != nil {
		p.Arena.Free()
	}
}

// Explain renders the plan as the listing --explain prints.
func (p *Plan) Explain() string {
	var b strings.Builder
	for _, m := range p.IDMapped {
		fmt.Fprintf(&b, "parent before the clone: %s: %s\n", m.Label, m.explain())
	}
	fmt.Fprintf(&b, "clone3(flags=%s, exit_signal=SIGCHLD)\n", p.Flags)
	for _, pt := range p.Points {
		fmt.Fprintf(&b, "parent at %s: %s\n", pt, strings.Join(p.parentWork(pt), "; "))
	}
	fmt.Fprintf(&b, "child program, %d steps:\n", p.Program.Len())
	b.WriteString(p.Program.Explain())
	p.explainSeccomp(&b)
	return b.String()
}

// parentWork says what the parent does at point pt, for the listing.
func (p *Plan) parentWork(pt Point) []string {
	var w []string
	switch pt {
	case PointNamespaces:
		if p.UserNS {
			w = append(w, fmt.Sprintf("write /proc/PID/uid_map %q", p.UIDMap))
			if p.SetgroupsDeny {
				w = append(w, `write /proc/PID/setgroups "deny"`)
			}
			w = append(w, fmt.Sprintf("write /proc/PID/gid_map %q", p.GIDMap))
		}
		if p.TimeOffsets != "" {
			w = append(w, fmt.Sprintf("write /proc/PID/timens_offsets %q", p.TimeOffsets))
		}
		if len(p.NetDevices) > 0 {
			w = append(w, "move "+strings.Join(p.NetDevices, ", ")+" into the network namespace (rtnetlink)")
		}
	case PointMounted:
		w = append(w, "run the prestart, createRuntime and createContainer hooks")
	case PointConsole:
		w = append(w, "pidfd_getfd the pty master")
	case PointListener:
		w = append(w, "pidfd_getfd the seccomp listener", "send it and the container's state to linux.seccomp.listenerPath")
	case PointReady:
		w = append(w, "run the startContainer hooks")
	}
	if pt == PointReady {
		return append(w, "release the child (write 1 byte to the gate)")
	}
	return append(w, "release the child (write 1 byte to the sync pipe)")
}

type compiler struct {
	s       *rspec.Spec
	env     CompileEnv
	b       *builder
	plan    *Plan
	madeCwd bool // process.cwd was created inside the rootfs
	// null holds a detached mount of the host's /dev/null, taken before
	// pivot_root, for the masks (maskAndReadonly); NoSlot without one.
	null clonecore.Slot
}

// Compile turns a validated spec into a Plan. It is a pure function of the
// spec and env (the arena it fills is its only side effect), so golden tests
// need neither root nor a rootfs.
func Compile(s *rspec.Spec, env CompileEnv) (*Plan, error) {
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, fmt.Errorf("process.args: must name a program to run")
	}
	// The arena holds the program (128 bytes a step) and its strings: its
	// size is an upper bound computed from the config (arenaEstimate). An
	// estimate that were ever short would be found out by the compile,
	// which starts again with four times the room.
	size := arenaEstimate(s, env)
	if e := env.ImageEntry; e != nil {
		// The image is read once per path: many mounts share their
		// parent folders (a thousand below /m read /m once, not a
		// thousand times).
		seen := map[string]imageEntry{}
		env.ImageEntry = func(rel string) (string, bool, bool) {
			r, ok := seen[rel]
			if !ok {
				r.link, r.isLink, r.exists = e(rel)
				seen[rel] = r
			}
			return r.link, r.isLink, r.exists
		}
	}
	for {
		plan, err := compileIn(s, env, size)
		if !errors.Is(err, clonecore.ErrArenaFull) || size > 1<<30 {
			return plan, err
		}
		size *= 4
	}
}

// imageEntry is what an ImageEntry said of a path.
type imageEntry struct {
	link           string
	isLink, exists bool
}

// compileIn compiles into an arena of size bytes.
func compileIn(s *rspec.Spec, env CompileEnv, size int) (plan *Plan, err error) {
	arena, err := clonecore.NewArena(size)
	if err != nil {
		return nil, err
	}
	c := &compiler{s: s, env: env, b: newBuilder(arena), plan: &Plan{Arena: arena, Program: nil, SeccompStep: -1}, null: clonecore.NoSlot}
	c.plan.Program = c.b.p
	defer func() {
		if err != nil {
			arena.Free()
			plan = nil
		}
	}()
	if err := c.seccompFilter(); err != nil {
		return nil, err
	}
	var nsList []rspec.LinuxNamespace
	if s.Linux != nil {
		nsList = s.Linux.Namespaces
	}
	newNS, joins := namespaces.Plan(nsList)
	c.plan.Joins = joins
	userJoin := false
	for _, j := range joins {
		userJoin = userJoin || j.Flag == clonecore.NEWUSER
	}
	// The clone makes the new namespaces, but two kinds are unshared by
	// the child instead: all of them when a joined user namespace must own
	// them (they would belong to minirun's otherwise), and a time
	// namespace always, so minirun can write its clock offsets before any
	// task enters it (the kernel freezes them then; a CLONE_VM child would
	// stay outside it anyway).
	// A new PID namespace goes with it then: the task that forks into the
	// time namespace must not be the PID namespace's init (init cannot
	// fork with CLONE_PARENT, and the container's process must be PID 1).
	cloneNS := newNS
	if newNS&clonecore.NEWTIME != 0 {
		cloneNS &^= clonecore.NEWTIME | clonecore.NEWPID
	}
	if userJoin {
		cloneNS = 0
	}
	// A new cgroup namespace takes the task's cgroups at the time as its
	// root: when the task joins its cgroups after the clone (by itself, or
	// by the parent at PointNamespaces), the namespace is made after that,
	// not by the clone.
	lateCgroupNS := (env.Cgroup || len(env.CgroupTasks) > 0) && newNS&clonecore.NEWCGROUP != 0
	if lateCgroupNS {
		cloneNS &^= clonecore.NEWCGROUP
	}
	netMade := env.NetNS && !env.Exec && cloneNS&clonecore.NEWNET != 0 && cloneNS&clonecore.NEWUSER == 0 && !userJoin
	if netMade {
		cloneNS &^= clonecore.NEWNET
	}
	c.plan.Flags = cloneNS | clonecore.CLEAR_SIGHAND
	// Sharing minirun's address space spares copying its page tables (the
	// child execs soon); setns into a user namespace refuses a task whose
	// memory is shared, so a user-namespace join forks instead.
	if !userJoin {
		c.plan.Flags |= clonecore.VM
	}

	c.lifeline()
	c.joinCgroups()
	c.execAffinity(false)
	early := newNS &^ cloneNS
	if lateCgroupNS {
		early &^= clonecore.NEWCGROUP
	}
	if netMade {
		early &^= clonecore.NEWNET
		c.enterNetNS()
	}
	c.joinNamespaces(early)
	c.timeOffsets(newNS)
	c.userNamespace(cloneNS)
	c.namespacesPoint()
	if lateCgroupNS {
		c.b.simple("linux.namespaces: a new cgroup namespace, rooted at the container's cgroup now that minirun has put it there",
			unix.SYS_UNSHARE, "unshare", []string{"CLONE_NEWCGROUP"}, unix.CLONE_NEWCGROUP)
	}
	c.doubleFork()
	if env.Exec {
		c.oomScoreAdj()
	} else {
		c.b.simple("minirun: device nodes and directories get exactly the modes asked for", unix.SYS_UMASK, "umask", []string{"0"}, 0)
		c.oomScoreAdj()
		switch {
		case newNS&clonecore.NEWNS != 0:
			c.filesystem()
		case c.joinsMount():
			// A joined mount namespace is the container's filesystem as
			// it is: setns made its root the process's root, and nothing
			// in it is changed (Validate refuses what would).
			c.sysctlsOwnProc()
		default:
			c.sysctls()
			c.chrootRootfs()
		}
	}
	c.process()
	if c.b.err != nil {
		return nil, c.b.err
	}
	return c.plan, nil
}

func (c *compiler) joinsMount() bool {
	for _, j := range c.plan.Joins {
		if j.Flag == clonecore.NEWNS {
			return true
		}
	}
	return false
}

// lifeline makes the child die with minirun while it is being set up, so a
// killed minirun leaves no half-made container behind. minirun may have
// died before the child asked: its parent is then another process, and
// the check fails and ends it. Then the child lets go of the fds of
// minirun's it must not hold (a state folder's lock would keep every
// other command waiting while a created container waits for start).
func (c *compiler) lifeline() {
	c.dumpable(false, "minirun: not dumpable until execve (docs/design.md, rule 13)")
	c.b.prctl("minirun: die with minirun during setup", "PR_SET_PDEATHSIG", unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), "SIGKILL")
	if c.env.ParentCheck {
		// A pidfd of minirun's, polled without waiting: readable once
		// minirun has exited. (getppid cannot tell: in a new PID
		// namespace the parent is outside it, and reads as 0.)
		pfd := c.b.words(0)
		c.plan.ParentPidfd = pfd
		f := wordFD(pfd, "fd<minirun's pidfd>")
		c.b.call("minirun: still alive (or it died before the line above)", unix.SYS_PPOLL, "ppoll",
			[]string{"[{" + f.name + ", POLLIN}]", "1", "{0, 0}", "NULL", "8"},
			[]clonecore.Arg{clonecore.Imm(pfd), clonecore.Imm(1), clonecore.Imm(c.b.words(0, 0)), clonecore.Imm(0), clonecore.Imm(8)},
			clonecore.Expect(0))
		c.b.p.Annotate(" == 0")
		c.b.close("minirun: still alive", f)
	}
	for i := 0; i < c.env.CloseFDs; i++ {
		w := c.b.word()
		c.plan.CloseFDs = append(c.plan.CloseFDs, w)
		f := wordFD(w, "fd<minirun's "+strconv.Itoa(i)+">")
		c.b.call("minirun: let go of an fd of minirun's the container must not hold", unix.SYS_CLOSE, "close", []string{f.name}, []clonecore.Arg{f.arg})
	}
}

// enterNetNS enters the new network namespace the parent made
// (CompileEnv.NetNS), whose fd it stores at Plan.NetNSFD.
func (c *compiler) enterNetNS() {
	w := c.b.word()
	c.plan.NetNSFD = w
	field := "linux.namespaces"
	for i, n := range c.s.Linux.Namespaces {
		if n.Type == rspec.NetworkNamespace {
			field = fmt.Sprintf("linux.namespaces[%d]", i)
			break
		}
	}
	label := field + ": network: a new one, made by minirun on a thread of its own while it made the cgroups (unshare), entered here"
	f := wordFD(w, "fd<the new network namespace>")
	c.b.call(label, unix.SYS_SETNS, "setns", []string{f.name, "CLONE_NEWNET"}, []clonecore.Arg{f.arg, clonecore.Imm(unix.CLONE_NEWNET)})
}

// joinNamespaces enters every namespace given by path, in namespaces.Plan's
// order, then unshares the new namespaces the clone did not make.
func (c *compiler) joinNamespaces(unshare clonecore.Flags) {
	for _, j := range c.plan.Joins {
		w := c.b.word()
		c.plan.JoinFDs = append(c.plan.JoinFDs, w)
		label := fmt.Sprintf("%s: join the %s namespace at %s", j.Field(), j.Type, j.Path)
		f := wordFD(w, "fd<"+j.Path+">")
		c.b.call(label, unix.SYS_SETNS, "setns", []string{f.name, j.Flag.String()}, []clonecore.Arg{f.arg, clonecore.Imm(uintptr(j.Flag))})
		if j.Flag == clonecore.NEWUSER {
			// minirun's uid 0 means nothing there: become the joined
			// namespace's root, or nothing the child makes has an owner.
			label := j.Field() + ": become root of the joined user namespace"
			c.b.simple(label, unix.SYS_SETRESGID, "setresgid", []string{"0", "0", "0"}, 0, 0, 0)
			c.b.simple(label, unix.SYS_SETRESUID, "setresuid", []string{"0", "0", "0"}, 0, 0, 0)
		}
		if j.Flag&(clonecore.NEWPID|clonecore.NEWTIME) != 0 {
			c.plan.DoubleFork = true
		}
	}
	if unshare != 0 {
		label := "linux.namespaces: new namespaces owned by the joined user namespace"
		if len(c.plan.Joins) == 0 || c.plan.Joins[0].Flag != clonecore.NEWUSER {
			label = "linux.namespaces: new time (and PID) namespaces, entered by the fork below"
		}
		c.b.simple(label, unix.SYS_UNSHARE, "unshare", []string{unshare.String()}, uintptr(unshare))
		if unshare&(clonecore.NEWPID|clonecore.NEWTIME) != 0 {
			c.plan.DoubleFork = true
		}
	}
}

// doubleFork forks once more when the PID or time namespace of the
// process-to-be was joined or unshared: both take effect only for children.
// CLONE_PARENT makes minirun the new task's parent, so it reaps the
// container's process itself; the middle task exits at once. It comes after
// the wait for the parent, so the parent writes id maps and clock offsets
// before any task enters the new namespaces.
func (c *compiler) doubleFork() {
	if !c.plan.DoubleFork {
		return
	}
	tid := c.b.word()
	c.plan.GrandchildTID = tid
	flags := uintptr(unix.CLONE_PARENT | unix.CLONE_PARENT_SETTID | uintptr(unix.SIGCHLD))
	res := c.b.p.NewSlot()
	c.b.call("linux.namespaces: enter the PID and time namespaces of children (fork)", unix.SYS_CLONE, "clone",
		[]string{"CLONE_PARENT|CLONE_PARENT_SETTID|SIGCHLD", "NULL", "&grandchild_tid", "NULL", "0"},
		// clone(flags, stack, parent_tid, …): the same first three on
		// every architecture.
		[]clonecore.Arg{clonecore.Imm(flags), clonecore.Imm(0), clonecore.Imm(tid), clonecore.Imm(0), clonecore.Imm(0)},
		clonecore.SaveTo(res))
	c.b.call("linux.namespaces: the middle task of the double fork exits", clonecore.OpExitIf, "exit_if", []string{"pid != 0", "0"},
		[]clonecore.Arg{res.Value(), clonecore.Imm(0)})
}

// timeOffsets hands linux.timeOffsets to the parent, which writes them to
// /proc/PID/timens_offsets at PointNamespaces: the file names the time
// namespace the child has unshared, and the kernel freezes the offsets
// once a task has entered it (the double fork's child, after the point).
func (c *compiler) timeOffsets(newNS clonecore.Flags) {
	l := c.s.Linux
	if newNS&clonecore.NEWTIME == 0 || l == nil || len(l.TimeOffsets) == 0 {
		return
	}
	var b strings.Builder
	for _, clock := range specs.SortedKeys(l.TimeOffsets) {
		o := l.TimeOffsets[clock]
		fmt.Fprintf(&b, "%s %d %d\n", clock, o.Secs, o.Nanosecs)
	}
	c.plan.TimeOffsets = b.String()
}

// userNamespace gives the parent the id maps to write for a new user
// namespace.
func (c *compiler) userNamespace(newNS clonecore.Flags) {
	if newNS&clonecore.NEWUSER == 0 {
		return
	}
	l := c.s.Linux
	c.plan.UserNS = true
	c.plan.UIDMap = namespaces.FormatIDMap(l.UIDMappings)
	c.plan.GIDMap = namespaces.FormatIDMap(l.GIDMappings)
	// Without privilege the kernel takes only a single mapping of the
	// caller's own gid, and only once setgroups is denied; wider maps go
	// through newgidmap, which may leave setgroups allowed.
	c.plan.SetgroupsDeny = c.env.Rootless && len(l.GIDMappings) == 1 && l.GIDMappings[0].Size == 1
}

// namespacesPoint stops the child for the parent's work on its new
// namespaces, when there is any, and then makes it root of a new user
// namespace whose maps give it one.
func (c *compiler) namespacesPoint() {
	var why []string
	if c.plan.UserNS {
		why = append(why, "the id maps")
	}
	if c.plan.TimeOffsets != "" {
		why = append(why, "the clock offsets")
	}
	if c.env.Cgroup {
		why = append(why, "its cgroups")
	}
	var what string
	if len(why) > 0 {
		what = "write " + strings.Join(why, ", ")
	}
	if l := c.s.Linux; l != nil && len(l.NetDevices) > 0 {
		c.plan.NetDevices = specs.SortedKeys(l.NetDevices)
		if what != "" {
			what += " and "
		}
		what += "move the network devices in"
	}
	if what == "" {
		return
	}
	c.point(PointNamespaces, "linux.namespaces: wait for minirun to "+what)
	if !c.plan.UserNS {
		return
	}
	l := c.s.Linux
	if maps(l.GIDMappings, 0) {
		c.b.simple("linux.gidMappings: become gid 0 of the new user namespace", unix.SYS_SETRESGID, "setresgid", []string{"0", "0", "0"}, 0, 0, 0)
	}
	if maps(l.UIDMappings, 0) {
		c.b.simple("linux.uidMappings: become uid 0 of the new user namespace", unix.SYS_SETRESUID, "setresuid", []string{"0", "0", "0"}, 0, 0, 0)
	}
}

func maps(m []rspec.LinuxIDMapping, id uint32) bool {
	for _, e := range m {
		if id >= e.ContainerID && id-e.ContainerID < e.Size {
			return true
		}
	}
	return false
}

// dumpable sets the child's dumpable flag (docs/design.md, rule 13). A task
// that is not dumpable has its /proc/PID files owned by root and refuses
// ptrace access — /proc/PID/exe (minirun's binary, until execve), mem,
// fd, ns — to anyone without CAP_SYS_PTRACE over minirun's user
// namespace: a process of the container cannot reach into the task that
// sets it up, or into a created container's process waiting to be
// started. With CLONE_VM the flag is minirun's own too: the memory is
// minirun's. execve gives the process a flag of its own.
func (c *compiler) dumpable(on bool, label string) {
	v, shown := uintptr(0), "0"
	if on {
		v, shown = 1, "1"
	}
	c.b.prctl(label, "PR_SET_DUMPABLE", unix.PR_SET_DUMPABLE, v, shown)
}

// point stops the child at pt: it writes the point's number on the notify
// pipe and reads one byte from the sync pipe (from the gate at
// PointReady) before it goes on.
//
// Without privilege minirun needs the child dumpable while it works on it
// (it writes /proc/PID/uid_map, opens /proc/PID/ns, takes fds with
// pidfd_getfd, none of which it may do to a task that is not dumpable
// without CAP_SYS_PTRACE), so there the child is dumpable while it waits
// at a point, and not again once released.
func (c *compiler) point(pt Point, label string) {
	if c.env.Rootless {
		c.dumpable(true, "minirun: dumpable while minirun works on it at the "+pt.String()+" point (minirun runs without privilege)")
		defer c.dumpable(false, "minirun: not dumpable again (docs/design.md, rule 13)")
	}
	c.plan.Points = append(c.plan.Points, pt)
	if c.plan.NotifyFD == 0 {
		c.plan.NotifyFD, c.plan.SyncFD = c.b.word(), c.b.word()
	}
	buf := c.b.words(uint64(pt))
	nf := wordFD(c.plan.NotifyFD, "fd<notify>")
	c.b.call(label, unix.SYS_WRITE, "write", []string{nf.name, fmt.Sprintf("[%s]", pt), "1"},
		[]clonecore.Arg{nf.arg, clonecore.Imm(buf), clonecore.Imm(1)}, clonecore.Expect(1))
	from := wordFD(c.plan.SyncFD, "fd<sync>")
	if pt == PointReady {
		c.plan.GateFD = c.b.word()
		from = wordFD(c.plan.GateFD, "fd<gate>")
	}
	rbuf := c.b.word()
	c.b.call(label, unix.SYS_READ, "read", []string{from.name, "buf", "1"},
		[]clonecore.Arg{from.arg, clonecore.Imm(rbuf), clonecore.Imm(1)}, clonecore.Expect(1))
}

// filesystem builds the container's mount namespace: propagation, the
// rootfs bind, every mount, /dev, pivot_root, masked and read-only paths.
func (c *compiler) filesystem() {
	// Every mount of the new namespace becomes a slave first, whatever
	// linux.rootfsPropagation asks: a copy of a shared host mount is a
	// peer of it, so the rootfs bind and every mount below it would appear
	// in the host's namespace too. A slave receives from the host and sends
	// nothing back. It also leaves no mount shared, as pivot_root needs of
	// the new root and of its parent, and no mount unbindable, as the
	// rootfs bind needs. The propagation asked for is set on the new root
	// once it is the root (rootPropagation).
	c.b.mount("linux.rootfsPropagation: every mount rslave first, so no mount made here reaches the host", "", "/", "", unix.MS_SLAVE|unix.MS_REC, "")
	rootfs := c.env.Rootfs
	c.b.mount("root.path: bind the rootfs onto itself, so it is a mount pivot_root can use", rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, "")
	root := c.b.newFD("rootfs")
	c.b.openat("root.path: open the rootfs; every mount resolves inside it", atFDCWD, rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, root)
	r := rootDirs{root: c.b.slotFD(root)}
	c.mounts(r)
	c.devices(r)
	c.makeCwd(r)
	if h := c.s.Hooks; h != nil && len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer) > 0 {
		c.point(PointMounted, "hooks: wait while minirun runs the prestart, createRuntime and createContainer hooks")
	}
	c.takeNull()
	c.pivot(r)
	c.sysctlsOwnProc()
	c.maskAndReadonly()
	c.rootPropagation()
}

// pivot makes the rootfs the root: pivot_root(".", ".") stacks the old root
// on top of the new one, and a lazy unmount takes it away (no directory to
// put it in is needed).
func (c *compiler) pivot(r rootDirs) {
	if c.env.NoPivot {
		c.b.call("--no-pivot: enter the rootfs", unix.SYS_FCHDIR, "fchdir", []string{r.root.name}, []clonecore.Arg{r.root.arg})
		c.b.mount("--no-pivot: move the rootfs onto /", ".", "/", "", unix.MS_MOVE, "")
		c.b.simple("--no-pivot: chroot into it", unix.SYS_CHROOT, "chroot", []string{q(".")}, c.b.str("."))
	} else {
		c.b.call("root.path: pivot_root into the rootfs", unix.SYS_FCHDIR, "fchdir", []string{r.root.name}, []clonecore.Arg{r.root.arg})
		c.b.simple("root.path: pivot_root into the rootfs", unix.SYS_PIVOT_ROOT, "pivot_root", []string{q("."), q(".")}, c.b.str("."), c.b.str("."))
		c.b.simple("root.path: detach the old root", unix.SYS_UMOUNT2, "umount2", []string{q("."), "MNT_DETACH"}, c.b.str("."), unix.MNT_DETACH)
	}
	c.b.close("root.path", r.root)
	c.b.simple("root.path: start at the new root", unix.SYS_CHDIR, "chdir", []string{q("/")}, c.b.str("/"))
}

// chrootRootfs makes root.path the process's root when it has no mount
// namespace of its own: chroot changes the root of this task alone, where
// pivot_root would change it for every process of the host's mount
// namespace. From here on every path resolves inside the rootfs, as after
// pivot_root; Validate has refused every field that would have mounted
// something in the host's namespace.
func (c *compiler) chrootRootfs() {
	const label = "root.path: no mount namespace: enter the rootfs with chroot, which changes this process's root alone"
	c.b.simple(label, unix.SYS_CHDIR, "chdir", []string{q(c.env.Rootfs)}, c.b.str(c.env.Rootfs))
	c.b.simple(label, unix.SYS_CHROOT, "chroot", []string{q(".")}, c.b.str("."))
	c.b.simple("root.path: start at the new root", unix.SYS_CHDIR, "chdir", []string{q("/")}, c.b.str("/"))
}

// oomScoreAdj writes process.oomScoreAdj through the host's /proc, before
// the root changes: a container without a mount namespace has no /proc of
// its own, and one with a mount namespace need not mount one. It comes
// after the double fork, so the container's process writes its own.
func (c *compiler) oomScoreAdj() {
	if p := c.s.Process; p.OOMScoreAdj != nil {
		c.writeFile("process.oomScoreAdj", "/proc/self/oom_score_adj", itoa(*p.OOMScoreAdj))
	}
}

// rootPropagation sets linux.rootfsPropagation on the container's root,
// now that it is the root, and last: the masks and read-only paths are
// bind mounts, which an unbindable tree would refuse. A shared root is a peer group of the
// container's own (its master, if any, still the host's mount, which
// receives nothing from a slave).
func (c *compiler) rootPropagation() {
	l := c.s.Linux
	if l == nil || l.RootfsPropagation == "" {
		return
	}
	prop := specs.ParseMountOptions([]string{l.RootfsPropagation}).Propagation
	c.b.mount("linux.rootfsPropagation: "+l.RootfsPropagation, "", "/", "", prop, "")
}

// maskAndReadonly applies linux.maskedPaths, linux.readonlyPaths and
// root.readonly, after pivot_root, when "/" is the container's root and no
// path can lead outside it.
func (c *compiler) maskAndReadonly() {
	l := c.s.Linux
	if l != nil {
		for i, p := range l.MaskedPaths {
			label := fmt.Sprintf("linux.maskedPaths[%d]: mask %s", i, p)
			// A directory gets an empty read-only tmpfs, a file /dev/null.
			// Under /proc and /sys the kernel decides which a path is, the
			// same here as on the host, so the host says. Elsewhere both
			// are tried, each failing with ENOTDIR where it does not fit
			// (a tmpfs is made before the kernel finds that out, which is
			// why the host's word is worth having).
			//
			// Where both are tried, /dev/null follows only where the tmpfs
			// said ENOTDIR, a file: mounted (a folder) or ENOENT (nothing
			// there, as for most of a default config's /proc paths on a
			// given kernel) leave nothing to do, and a clone of /dev/null
			// made for nothing costs an RCU grace period when it is closed
			// unmounted (45 us here, against 7 us for the tmpfs's try).
			kernel := strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/sys/")
			file := kernel && c.env.IsFile != nil && c.env.IsFile(p)
			dir := kernel && !file && c.env.IsDir != nil && c.env.IsDir(p)
			if file {
				c.maskWithNull(label, p)
				continue
			}
			tmpfs := []clonecore.StepOption{clonecore.Tolerate(unix.ENOENT, unix.ENOTDIR)}
			res := clonecore.NoSlot
			if !dir {
				res = c.b.newResult("tmpfs")
				tmpfs = append(tmpfs, clonecore.SaveTo(res))
			}
			c.b.mount(label, "tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0k", tmpfs...)
			if !dir {
				skip := c.b.skipUnless(label, res, -int64(unix.ENOTDIR), "-ENOTDIR")
				c.maskWithNull(label, p)
				c.b.endSkip(skip)
			}
		}
		if c.null != clonecore.NoSlot {
			c.b.close("linux.maskedPaths", c.b.slotFD(c.null))
		}
		for i, p := range l.ReadonlyPaths {
			label := fmt.Sprintf("linux.readonlyPaths[%d]: %s read-only", i, p)
			c.b.mount(label, p, p, "", unix.MS_BIND|unix.MS_REC, "", clonecore.Tolerate(unix.ENOENT))
			c.setattr(label, p, unix.AT_RECURSIVE, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC,
				clonecore.Tolerate(unix.ENOENT))
		}
	}
	if c.s.Root != nil && c.s.Root.Readonly {
		c.setattr("root.readonly: the root mount read-only", "/", 0, unix.MOUNT_ATTR_RDONLY)
	}
}

// takeNull clones the host's /dev/null, before pivot_root, as the mount
// the masks of linux.maskedPaths are made of. The container's own /dev/null
// is the image's, or a node in a /dev the container may share: a symlink
// there to /proc/sys/kernel/core_pattern made the mask a writable
// core_pattern (CVE-2025-31133). The host's is what minirun trusts.
func (c *compiler) takeNull() {
	l := c.s.Linux
	if l == nil || len(l.MaskedPaths) == 0 {
		return
	}
	c.null = c.b.newFD("/dev/null")
	c.b.call("linux.maskedPaths: the host's /dev/null, for the masks (CVE-2025-31133: not the container's)", unix.SYS_OPEN_TREE, "open_tree",
		[]string{"AT_FDCWD", q("/dev/null"), "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC"},
		[]clonecore.Arg{clonecore.Imm(unix.AT_FDCWD), clonecore.Imm(c.b.str("/dev/null")), clonecore.Imm(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)},
		clonecore.SaveTo(c.null))
	c.b.renameResult(c.null)
}

// maskWithNull covers the file at p with a clone of the host's /dev/null
// (takeNull). ENOENT: nothing there to mask.
func (c *compiler) maskWithNull(label, p string) {
	tree := c.b.newFD("mask")
	null, treeName := c.b.names[c.null], c.b.names[tree]
	c.b.lazy(label, unix.SYS_OPEN_TREE, func() string {
		return rendered("open_tree", treeName, null, `""`, "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_EMPTY_PATH")
	}, []clonecore.Arg{c.null.Value(), clonecore.Imm(c.b.str("")), clonecore.Imm(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)},
		clonecore.SaveTo(tree))
	tolerate := clonecore.Tolerate(unix.ENOENT)
	c.b.lazy(label, unix.SYS_MOVE_MOUNT, func() string {
		return rendered("move_mount", "", treeName, `""`, "AT_FDCWD", q(p), "MOVE_MOUNT_F_EMPTY_PATH")
	}, []clonecore.Arg{tree.Value(), clonecore.Imm(c.b.str("")), clonecore.Imm(unix.AT_FDCWD), clonecore.Imm(c.b.str(p)), clonecore.Imm(unix.MOVE_MOUNT_F_EMPTY_PATH)},
		tolerate)
	c.b.close(label, c.b.slotFD(tree))
}

// setattr sets mount attributes on the mount at path p.
func (c *compiler) setattr(label, p string, at uint64, set uint64, opts ...clonecore.StepOption) {
	c.b.mountSetattr(label, atFDCWD, p, at, unix.MountAttr{Attr_set: set}, opts...)
}

// sysctlPath turns net.ipv4.ip_forward into /proc/sys/net/ipv4/ip_forward.
func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

func itoa(i int) string { return strconv.Itoa(i) }
