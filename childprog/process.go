package childprog

import (
	"fmt"
	"path"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/specs"
)

// defaultDevices are the nodes every container's /dev gets (runtime-spec,
// "Default Devices").
var defaultDevices = []rspec.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// defaultLinks are /dev's standard symlinks.
var defaultLinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

// hasMount reports whether the spec mounts something at dest.
func (c *compiler) hasMount(dest string) bool {
	for _, m := range c.s.Mounts {
		if path.Clean(m.Destination) == dest {
			return true
		}
	}
	return false
}

// inUserNS: device nodes cannot be made there (mknod needs CAP_MKNOD in the
// initial user namespace); they are bind-mounted from the host instead.
func (c *compiler) inUserNS() bool {
	return c.plan.UserNS || len(c.plan.Joins) > 0 && c.plan.Joins[0].Flag == clonecore.NEWUSER
}

// devices creates the default devices and symlinks when /dev is a mount of
// the spec's, then linux.devices.
func (c *compiler) devices(r rootDirs) {
	var list []rspec.LinuxDevice
	var labels []string
	if c.hasMount("/dev") {
		for _, d := range defaultDevices {
			list = append(list, d)
			labels = append(labels, "/dev: default device "+d.Path)
		}
	}
	if c.s.Linux != nil {
		for i, d := range c.s.Linux.Devices {
			list = append(list, d)
			labels = append(labels, fmt.Sprintf("linux.devices[%d]: %s", i, d.Path))
		}
	}
	for i, d := range list {
		c.device(labels[i], r, d)
	}
	if !c.hasMount("/dev") {
		return
	}
	dev := c.b.mkdirAll("/dev: symlinks", r, "dev")
	for _, l := range defaultLinks {
		c.symlink("/dev: symlink "+l[0]+" -> "+l[1], l[1], dev, l[0])
	}
	if c.hasMount("/dev/pts") {
		c.symlink("/dev: symlink ptmx -> pts/ptmx", "pts/ptmx", dev, "ptmx")
	}
	c.b.close("/dev", c.b.slotFD(dev))
}

func (c *compiler) symlink(label, target string, dir clonecore.Slot, name string) {
	c.b.call(label, unix.SYS_SYMLINKAT, "symlinkat", []string{q(target), c.b.names[dir], q(name)},
		[]clonecore.Arg{clonecore.Imm(c.b.str(target)), dir.Value(), clonecore.Imm(c.b.str(name))}, clonecore.Tolerate(unix.EEXIST))
}

func (c *compiler) device(label string, r rootDirs, d rspec.LinuxDevice) {
	rel := strings.TrimPrefix(path.Clean(d.Path), "/")
	if c.inUserNS() {
		tgt := c.b.target(label, r, d.Path, true)
		c.b.bindMount(label, d.Path, tgt, mountPlan{})
		c.b.close(label, c.b.slotFD(tgt))
		return
	}
	dir := c.b.mkdirAll(label, r, path.Dir(rel))
	var dirFD fd
	if dir == clonecore.NoSlot {
		dirFD = r.root
	} else {
		dirFD = c.b.slotFD(dir)
	}
	name := path.Base(rel)
	mode := uint64(0o666)
	if d.FileMode != nil {
		mode = uint64(d.FileMode.Perm())
	}
	typ, typShown := uint64(unix.S_IFCHR), "S_IFCHR"
	switch d.Type {
	case "b":
		typ, typShown = unix.S_IFBLK, "S_IFBLK"
	case "p":
		typ, typShown = unix.S_IFIFO, "S_IFIFO"
	}
	devnum := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	c.b.call(label, unix.SYS_MKNODAT, "mknodat", []string{dirFD.name, q(name), fmt.Sprintf("%s|%#o", typShown, mode), fmt.Sprintf("makedev(%d, %d)", d.Major, d.Minor)},
		[]clonecore.Arg{dirFD.arg, clonecore.Imm(c.b.str(name)), clonecore.Imm(typ | mode), clonecore.Imm(devnum)}, clonecore.Tolerate(unix.EEXIST))
	if d.UID != nil || d.GID != nil {
		uid, gid := ^uint64(0), ^uint64(0) // -1: leave as is
		if d.UID != nil {
			uid = uint64(*d.UID)
		}
		if d.GID != nil {
			gid = uint64(*d.GID)
		}
		c.b.call(label, unix.SYS_FCHOWNAT, "fchownat", []string{dirFD.name, q(name), fmt.Sprint(int32(uid)), fmt.Sprint(int32(gid)), "AT_SYMLINK_NOFOLLOW"},
			[]clonecore.Arg{dirFD.arg, clonecore.Imm(c.b.str(name)), clonecore.Imm(uint32(uid)), clonecore.Imm(uint32(gid)), clonecore.Imm(unix.AT_SYMLINK_NOFOLLOW)})
	}
	if dir != clonecore.NoSlot {
		c.b.close(label, dirFD)
	}
}

// process sets up everything of the process but its filesystem: names,
// sysctls, limits, cwd, scheduling and the other settings that need
// privilege, identity, capabilities, and finally execve.
func (c *compiler) process() {
	s, p := c.s, c.s.Process
	c.terminal()
	if c.env.Stdio {
		for i := range c.plan.StdioFDs {
			w := c.b.word()
			c.plan.StdioFDs[i] = w
			f := wordFD(w, "fd<"+[]string{"stdin", "stdout", "stderr"}[i]+">")
			c.b.call("minirun: the process's stdio", unix.SYS_DUP3, "dup3", []string{f.name, itoa(i), "0"},
				[]clonecore.Arg{f.arg, clonecore.Imm(i), clonecore.Imm(0)})
		}
	}
	if c.env.Exec {
		// The container's names are set already; a joined process only
		// needs its own.
	} else if s.Hostname != "" {
		c.b.simple("hostname", unix.SYS_SETHOSTNAME, "sethostname", []string{q(s.Hostname), itoa(len(s.Hostname))}, c.b.str(s.Hostname), uintptr(len(s.Hostname)))
	}
	if s.Domainname != "" && !c.env.Exec {
		c.b.simple("domainname", unix.SYS_SETDOMAINNAME, "setdomainname", []string{q(s.Domainname), itoa(len(s.Domainname))}, c.b.str(s.Domainname), uintptr(len(s.Domainname)))
	}
	for i, rl := range p.Rlimits {
		res, ok := specs.RlimitByName(rl.Type)
		if !ok {
			continue // Validate reports it
		}
		lim := c.b.words(rl.Soft, rl.Hard)
		c.b.call(fmt.Sprintf("process.rlimits[%d]: %s", i, rl.Type), unix.SYS_PRLIMIT64, "prlimit64",
			[]string{"0", rl.Type, fmt.Sprintf("{cur=%d, max=%d}", rl.Soft, rl.Hard), "NULL"},
			[]clonecore.Arg{clonecore.Imm(0), clonecore.Imm(res), clonecore.Imm(lim), clonecore.Imm(0)})
	}
	if c.env.SessionKeyring != "" {
		// ENOSYS: a kernel built without keys, where there is no keyring
		// to share.
		c.b.call("minirun: a session keyring of the container's own ("+c.env.SessionKeyring+")", unix.SYS_KEYCTL, "keyctl",
			[]string{"KEYCTL_JOIN_SESSION_KEYRING", q(c.env.SessionKeyring)},
			[]clonecore.Arg{clonecore.Imm(unix.KEYCTL_JOIN_SESSION_KEYRING), clonecore.Imm(c.b.str(c.env.SessionKeyring))},
			clonecore.Tolerate(unix.ENOSYS))
	}
	c.cwd()
	c.settings()
	early := c.seccompBeforeIdentity()
	if early {
		// close_range is newer than many profiles' allow lists (runc
		// closes with fcntl): before the filter, it need not pass it.
		// The child opens nothing it keeps from here to execve.
		c.closeOnExec()
		c.installSeccomp("without no_new_privs the kernel wants CAP_SYS_ADMIN, so before the capabilities are dropped; every call from here on passes it")
	}
	c.identity()
	umask := uint64(0o022)
	if p.User.Umask != nil {
		umask = uint64(*p.User.Umask)
	}
	c.b.simple("process.user.umask", unix.SYS_UMASK, "umask", []string{fmt.Sprintf("%#o", umask)}, uintptr(umask))
	if p.NoNewPrivileges {
		c.b.prctl("process.noNewPrivileges", "PR_SET_NO_NEW_PRIVS", unix.PR_SET_NO_NEW_PRIVS, 1, "1")
	}
	if c.env.DieWithParent {
		// Set once more, last: the kernel clears the parent-death signal
		// when the credentials change (process.user, a user namespace's
		// uid 0) and never hands it to a fork's child (the double fork
		// of a PID namespace join).
		c.b.prctl("minirun: die with minirun (set again: a change of uid and the double fork clear it)", "PR_SET_PDEATHSIG", unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), "SIGKILL")
	} else {
		c.b.prctl("minirun: the container outlives minirun from here on", "PR_SET_PDEATHSIG", unix.PR_SET_PDEATHSIG, 0, "0")
	}
	if !early {
		c.closeOnExec()
	}
	empty := c.b.words(0)
	c.b.simple("minirun: unblock every signal for the process", unix.SYS_RT_SIGPROCMASK, "rt_sigprocmask", []string{"SIG_SETMASK", "[]", "NULL", "8"},
		unix.SIG_SETMASK, empty, 0, 8)
	h := c.s.Hooks
	gate := c.env.Gate || h != nil && len(h.StartContainer) > 0
	late := c.plan.Seccomp != nil && p.NoNewPrivileges
	if late && gate && c.plan.Seccomp.Notify {
		c.installSeccomp("no_new_privs; before the gate, so that its listener reaches the agent while the container is created")
	}
	if gate {
		c.point(PointReady, "minirun: wait to be started (runtime-spec: start)")
	}
	c.execAffinity(true)
	if late && !(gate && c.plan.Seccomp.Notify) {
		c.installSeccomp("no_new_privs: the last step before execve")
	}
	c.exec()
}

// closeOnExec marks every fd of minirun's but the process's stdio and
// preserved fds close-on-exec, so that none reaches the process.
func (c *compiler) closeOnExec() {
	first := 3 + c.env.PreserveFDs
	c.b.simple("minirun: no fd of minirun's reaches the process (close-on-exec from fd "+itoa(first)+")", unix.SYS_CLOSE_RANGE, "close_range",
		[]string{itoa(first), "~0U", "CLOSE_RANGE_CLOEXEC"}, uintptr(first), uintptr(^uint32(0)), unix.CLOSE_RANGE_CLOEXEC)
}

// sysctls writes linux.sysctl, each key through /proc/sys of the host's
// /proc (before the chroot of a container without a mount namespace): the
// namespaced sysctls are the writer's namespaces', whichever procfs is
// written.
func (c *compiler) sysctls() {
	if l := c.s.Linux; l != nil {
		for _, k := range specs.SortedKeys(l.Sysctl) {
			c.writeFile(fmt.Sprintf("linux.sysctl[%q]", k), sysctlPath(k), l.Sysctl[k])
		}
	}
}

// sysctlsOwnProc writes linux.sysctl through a procfs of the child's own,
// detached, never mounted in the container: the container's /proc may be
// the image's (a folder of fake files where the config mounts no proc),
// where a write would land in a file and the kernel keep its value — the
// class of CVE-2019-16884. (The namespaced sysctls are the writer's
// namespaces', whichever procfs is written.)
func (c *compiler) sysctlsOwnProc() {
	l := c.s.Linux
	if l == nil || len(l.Sysctl) == 0 {
		return
	}
	const label = "linux.sysctl: a procfs of the child's own, never the container's /proc"
	mnt := c.b.fsCreate(label, "proc", "proc", mountPlan{attrSet: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC})
	for _, k := range specs.SortedKeys(l.Sysctl) {
		label := fmt.Sprintf("linux.sysctl[%q]", k)
		rel := strings.TrimPrefix(sysctlPath(k), "/proc/")
		f := c.b.newFD(rel)
		c.b.openat(label, c.b.slotFD(mnt), rel, unix.O_WRONLY|unix.O_CLOEXEC, 0, f)
		c.b.write(label, c.b.slotFD(f), l.Sysctl[k])
		c.b.close(label, c.b.slotFD(f))
	}
	c.b.close(label, c.b.slotFD(mnt))
}

// makeCwd creates process.cwd inside the rootfs, before the root may become
// read-only (runc creates it too).
func (c *compiler) makeCwd(r rootDirs) {
	rel := strings.TrimPrefix(path.Clean("/"+c.s.Process.Cwd), "/")
	if rel == "" {
		return
	}
	c.madeCwd = true
	c.b.close("process.cwd: "+c.s.Process.Cwd, c.b.slotFD(c.b.mkdirAll("process.cwd: "+c.s.Process.Cwd, r, rel)))
}

func (c *compiler) writeFile(label, file, value string) {
	f := c.b.newFD(file)
	c.b.openat(label, atFDCWD, file, unix.O_WRONLY|unix.O_CLOEXEC, 0, f)
	c.b.write(label, c.b.slotFD(f), value)
	c.b.close(label, c.b.slotFD(f))
}

// cwd enters process.cwd, creating it first if the image lacks it and the
// filesystem step did not (a container without a mount namespace). It is
// resolved inside the process's root, from an fd of "/", with
// RESOLVE_IN_ROOT: ".." stops at the root, and a magic link such as
// /proc/self/fd/N — which would lead to whatever minirun holds open as fd
// N, a folder of the host's (CVE-2024-21626) — is refused with EXDEV.
// A plain chdir would follow it.
func (c *compiler) cwd() {
	cwd := path.Clean(c.s.Process.Cwd)
	if cwd == "" || cwd == "." {
		cwd = "/"
	}
	label := "process.cwd: " + cwd
	rel := strings.TrimPrefix(path.Clean("/"+cwd), "/")
	root := c.b.newFD("/")
	c.b.openat(label+" (resolved inside the root: no magic link leads out, CVE-2024-21626)", atFDCWD, "/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, root)
	dir := root
	switch {
	case rel == "":
	case c.madeCwd || c.env.Exec:
		// Made inside the rootfs already; a joined process finds it
		// there or fails, as runc exec does.
		dir = c.b.newFD(rel)
		c.b.openat2(label, c.b.slotFD(root), rel,
			unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, unix.RESOLVE_IN_ROOT, dir)
	default:
		dir = c.b.mkdirAll(label, rootDirs{root: c.b.slotFD(root)}, rel)
	}
	c.b.call(label, unix.SYS_FCHDIR, "fchdir", []string{c.b.names[dir]}, []clonecore.Arg{dir.Value()})
	if dir != root {
		c.b.close(label, c.b.slotFD(dir))
	}
	c.b.close(label, c.b.slotFD(root))
}
