package childprog

import (
	"fmt"
	"path"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/namespaces"
	"github.com/minirun/minirun/specs"
)

// mountPlan is a mount's options sorted the way the new mount API takes
// them: per-mount attributes for fsmount/mount_setattr, superblock flags and
// filesystem data for fsconfig, propagation, and the recursive attributes
// ("rro", "rnosuid"…) applied to the whole tree afterwards.
type mountPlan struct {
	bind, recursive  bool
	attrSet, attrClr uint64 // MOUNT_ATTR_*
	propagation      uint64 // MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE
	recPropagation   bool
	sbFlags          []string
	data             []string // key or key=value
	recSet, recClr   uint64   // MOUNT_ATTR_* with AT_RECURSIVE
	idmap, ridmap    bool     // "idmap", "ridmap" (recursive)
}

// msToAttr pairs mount(2) flags with their mount attributes.
var msToAttr = []struct {
	ms   uintptr
	attr uint64
}{
	{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME}, {unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// msToSB pairs mount(2) flags that belong to the superblock with the flag
// names fsconfig takes for them.
var msToSB = []struct {
	ms   uintptr
	name string
}{
	{unix.MS_SYNCHRONOUS, "sync"}, {unix.MS_DIRSYNC, "dirsync"}, {unix.MS_LAZYTIME, "lazytime"},
	{unix.MS_SILENT, "silent"}, {unix.MS_MANDLOCK, "mand"}, {unix.MS_I_VERSION, "iversion"},
}

// planMount turns ParseMountOptions' result into a mountPlan.
func planMount(typ string, opts []string) mountPlan {
	o := specs.ParseMountOptions(opts)
	m := mountPlan{
		bind:           typ == "bind" || o.Flags&unix.MS_BIND != 0,
		recursive:      o.Flags&unix.MS_REC != 0,
		propagation:    uint64(o.Propagation &^ unix.MS_REC),
		recPropagation: o.Propagation&unix.MS_REC != 0,
		recSet:         o.AttrSet,
		recClr:         o.AttrClr,
		idmap:          o.IDMap,
		ridmap:         o.RecursiveIDMap,
	}
	for _, f := range msToAttr {
		if o.Flags&f.ms != 0 {
			m.attrSet |= f.attr
		} else if o.Cleared&f.ms != 0 {
			m.attrClr |= f.attr
		}
	}
	switch {
	case o.Flags&unix.MS_NOATIME != 0:
		m.attrSet, m.attrClr = m.attrSet|unix.MOUNT_ATTR_NOATIME, m.attrClr|unix.MOUNT_ATTR__ATIME
	case o.Flags&unix.MS_STRICTATIME != 0:
		m.attrSet, m.attrClr = m.attrSet|unix.MOUNT_ATTR_STRICTATIME, m.attrClr|unix.MOUNT_ATTR__ATIME
	case o.Flags&unix.MS_RELATIME != 0 || o.Cleared&(unix.MS_NOATIME|unix.MS_STRICTATIME) != 0:
		m.attrClr |= unix.MOUNT_ATTR__ATIME // relatime is the 0 of the atime field
	}
	for _, f := range msToSB {
		if o.Flags&f.ms != 0 {
			m.sbFlags = append(m.sbFlags, f.name)
		}
	}
	if o.Data != "" {
		m.data = strings.Split(o.Data, ",")
	}
	return m
}

// dirs is where the compile keeps the fds of directories it opened.
type rootDirs struct {
	root fd // the rootfs, O_PATH
}

// mkdirAll creates every directory of rel (a clean path relative to the
// rootfs) one component at a time, each resolved inside the rootfs with
// openat2(RESOLVE_IN_ROOT), so a symlink in the image cannot lead outside
// it. It returns the slot holding an O_PATH fd of rel itself.
//
// resolve adds RESOLVE_* flags to every open (RESOLVE_NO_SYMLINKS for a
// destination that must be a folder of its own).
func (b *builder) mkdirAll(label string, r rootDirs, rel string, resolve ...uint64) clonecore.Slot {
	how := inRoot(resolve)
	dir := r.root
	parts := strings.Split(rel, "/")
	var last clonecore.Slot = clonecore.NoSlot
	for i, part := range parts {
		if part == "" || part == "." {
			continue
		}
		b.mkdirat(label, dir, part, 0o755)
		s := b.newFD(path.Join(parts[:i+1]...))
		b.openat2(label, r.root, path.Join(parts[:i+1]...), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, how, s)
		if last != clonecore.NoSlot {
			b.close(label, b.slotFD(last))
		}
		last = s
		dir = b.slotFD(s)
	}
	return last
}

// openTarget opens a mount's destination that the image has already
// (inImage), inside the rootfs, and returns the slot of the O_PATH fd, as
// target does after making it.
func (b *builder) openTarget(label string, r rootDirs, rel string, file bool, resolve ...uint64) clonecore.Slot {
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if !file {
		flags |= unix.O_DIRECTORY
	}
	s := b.newFD(rel)
	b.openat2(label, r.root, rel, flags, 0, inRoot(resolve), s)
	return s
}

// inRoot is RESOLVE_IN_ROOT with the RESOLVE_* flags given.
func inRoot(resolve []uint64) uint64 {
	how := uint64(unix.RESOLVE_IN_ROOT)
	for _, f := range resolve {
		how |= f
	}
	return how
}

// destination is the fd of a mount's destination: opened at once where
// the image has it (there, inImage), made first otherwise (target).
func (b *builder) destination(label string, r rootDirs, dest, rel string, there, file bool, resolve ...uint64) clonecore.Slot {
	if there {
		return b.openTarget(label, r, rel, file, resolve...)
	}
	return b.target(label, r, dest, file, resolve...)
}

// subdir makes folder name in the folder dir, rel inside the rootfs (an
// O_PATH fd of a tmpfs the child made itself), and opens it, beneath dir
// and through no symlink.
func (b *builder) subdir(label string, dir clonecore.Slot, rel, name string) clonecore.Slot {
	b.mkdirat(label, b.slotFD(dir), name, 0o755)
	s := b.newFD(rel + "/" + name)
	b.openat2(label, b.slotFD(dir), name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0,
		unix.RESOLVE_BENEATH|unix.RESOLVE_NO_SYMLINKS|unix.RESOLVE_NO_MAGICLINKS, s)
	return s
}

// target creates a mount's destination inside the rootfs — a directory, or
// an empty file when a file is bind-mounted — and returns the slot of an
// O_PATH fd of it for move_mount.
//
// resolve adds RESOLVE_* flags to the opens of a folder's components.
func (b *builder) target(label string, r rootDirs, dest string, file bool, resolve ...uint64) clonecore.Slot {
	rel := strings.TrimPrefix(path.Clean(dest), "/")
	if rel == "" {
		s := b.newFD("/")
		b.openat2(label, r.root, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, unix.RESOLVE_IN_ROOT, s)
		return s
	}
	if !file {
		return b.mkdirAll(label, r, rel, resolve...)
	}
	// mknodat makes an empty file without opening anything: whatever the
	// image already has there (EEXIST) is left alone, since opening it
	// could have side effects or wait for ever (a FIFO opened for writing
	// waits for a reader). The parent has resolved the image's symlinks
	// along a mount's destination (resolveInImage), so dest is normally
	// none; one there all the same is followed by the O_PATH open below,
	// inside the rootfs.
	dir, dirFD := clonecore.NoSlot, r.root
	if parent := path.Dir(rel); parent != "." {
		dir = b.mkdirAll(label, r, parent)
		dirFD = b.slotFD(dir)
	}
	b.lazy(label, unix.SYS_MKNODAT, func() string { return rendered("mknodat", "", dirFD.name, q(path.Base(rel)), "S_IFREG|0644", "0") },
		[]clonecore.Arg{dirFD.arg, clonecore.Imm(b.str(path.Base(rel))), clonecore.Imm(unix.S_IFREG | 0o644), clonecore.Imm(0)},
		clonecore.Tolerate(unix.EEXIST))
	if dir != clonecore.NoSlot {
		b.close(label, dirFD)
	}
	s := b.newFD(rel)
	b.openat2(label, r.root, rel, unix.O_PATH|unix.O_CLOEXEC, 0, unix.RESOLVE_IN_ROOT, s)
	return s
}

// bindMount clones the tree at source, sets its attributes and moves it onto
// the target fd: open_tree + mount_setattr + move_mount.
func (b *builder) bindMount(label string, source string, tgt clonecore.Slot, o mountPlan) {
	flags := uint64(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	shown := "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC"
	if o.recursive {
		flags |= unix.AT_RECURSIVE
		shown += "|AT_RECURSIVE"
	}
	tree := b.newFD("tree")
	result := b.names[tree]
	b.lazy(label, unix.SYS_OPEN_TREE, func() string { return rendered("open_tree", result, "AT_FDCWD", q(source), shown) },
		[]clonecore.Arg{clonecore.Imm(unix.AT_FDCWD), clonecore.Imm(b.str(source)), clonecore.Imm(flags)}, clonecore.SaveTo(tree))
	if o.attrSet != 0 || o.attrClr != 0 {
		at := uint64(unix.AT_EMPTY_PATH)
		if o.recursive {
			at |= unix.AT_RECURSIVE
		}
		b.mountSetattr(label, b.slotFD(tree), "", at, unix.MountAttr{Attr_set: o.attrSet, Attr_clr: o.attrClr})
	}
	b.moveMount(label, b.slotFD(tree), b.slotFD(tgt))
	b.propagate(label, b.slotFD(tree), o)
	b.close(label, b.slotFD(tree))
}

// fsMount creates a new filesystem (fsopen, fsconfig, fsmount) and moves it
// onto the target fd.
func (b *builder) fsMount(label, fstype, source string, tgt clonecore.Slot, o mountPlan) {
	mnt := b.fsCreate(label, fstype, source, o)
	b.moveMount(label, b.slotFD(mnt), b.slotFD(tgt))
	b.propagate(label, b.slotFD(mnt), o)
	b.close(label, b.slotFD(mnt))
}

// fsCreate creates a new filesystem (fsopen, fsconfig, fsmount) and returns
// the slot of the detached mount's fd.
func (b *builder) fsCreate(label, fstype, source string, o mountPlan) clonecore.Slot {
	fsfd := b.newFD(fstype)
	fsName := b.names[fsfd]
	b.lazy(label, unix.SYS_FSOPEN, func() string { return rendered("fsopen", fsName, q(fstype), "FSOPEN_CLOEXEC") },
		[]clonecore.Arg{clonecore.Imm(b.str(fstype)), clonecore.Imm(unix.FSOPEN_CLOEXEC)}, clonecore.SaveTo(fsfd))
	if source != "" {
		b.fsconfig(label, fsfd, unix.FSCONFIG_SET_STRING, "source", source)
	}
	for _, f := range o.sbFlags {
		b.fsconfig(label, fsfd, unix.FSCONFIG_SET_FLAG, f, "")
	}
	for _, d := range o.data {
		for _, kv := range strings.Split(d, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				b.fsconfig(label, fsfd, unix.FSCONFIG_SET_STRING, k, v)
			} else if kv != "" {
				b.fsconfig(label, fsfd, unix.FSCONFIG_SET_FLAG, kv, "")
			}
		}
	}
	b.fsconfig(label, fsfd, unix.FSCONFIG_CMD_CREATE, "", "")
	mnt := b.newFD("mnt")
	mntName, attrSet := b.names[mnt], o.attrSet
	b.lazy(label, unix.SYS_FSMOUNT, func() string {
		return rendered("fsmount", mntName, fsName, "FSMOUNT_CLOEXEC", flagString(attrSet, attrNames))
	}, []clonecore.Arg{fsfd.Value(), clonecore.Imm(unix.FSMOUNT_CLOEXEC), clonecore.Imm(o.attrSet)}, clonecore.SaveTo(mnt))
	b.close(label, b.slotFD(fsfd))
	return mnt
}

var fsconfigCmds = map[int]string{
	unix.FSCONFIG_SET_FLAG:   "FSCONFIG_SET_FLAG",
	unix.FSCONFIG_SET_STRING: "FSCONFIG_SET_STRING",
	unix.FSCONFIG_CMD_CREATE: "FSCONFIG_CMD_CREATE",
}

func (b *builder) fsconfig(label string, fsfd clonecore.Slot, cmd int, key, value string) {
	k, v := clonecore.Imm(0), clonecore.Imm(0)
	if key != "" {
		k = clonecore.Imm(b.str(key))
	}
	if cmd == unix.FSCONFIG_SET_STRING {
		v = clonecore.Imm(b.str(value))
	}
	name := b.names[fsfd]
	b.lazy(label, unix.SYS_FSCONFIG, func() string {
		ks, vs := "NULL", "NULL"
		if key != "" {
			ks = q(key)
		}
		if cmd == unix.FSCONFIG_SET_STRING {
			vs = q(value)
		}
		return rendered("fsconfig", "", name, fsconfigCmds[cmd], ks, vs, "0")
	}, []clonecore.Arg{fsfd.Value(), clonecore.Imm(cmd), k, v, clonecore.Imm(0)})
}

func (b *builder) moveMount(label string, from, to fd) {
	b.lazy(label, unix.SYS_MOVE_MOUNT, func() string {
		return rendered("move_mount", "", from.name, `""`, to.name, `""`, "MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH")
	}, []clonecore.Arg{from.arg, clonecore.Imm(b.str("")), to.arg, clonecore.Imm(b.str("")),
		clonecore.Imm(unix.MOVE_MOUNT_F_EMPTY_PATH | unix.MOVE_MOUNT_T_EMPTY_PATH)})
}

// propagate sets a mount's propagation type and its recursive attributes
// ("rro", "rnosuid"…), once it is attached.
func (b *builder) propagate(label string, mnt fd, o mountPlan) {
	if o.recSet != 0 || o.recClr != 0 {
		b.mountSetattr(label, mnt, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, unix.MountAttr{Attr_set: o.recSet, Attr_clr: o.recClr})
	}
	if o.propagation == 0 {
		return
	}
	at := uint64(unix.AT_EMPTY_PATH)
	if o.recPropagation {
		at |= unix.AT_RECURSIVE
	}
	b.mountSetattr(label, mnt, "", at, unix.MountAttr{Propagation: o.propagation})
}

// mounts compiles spec.mounts in order.
func (c *compiler) mounts(r rootDirs) {
	covered := mountedSet{} // the destinations mounted on so far, resolved
	for i, m := range c.s.Mounts {
		o := planMount(m.Type, m.Options)
		typ := m.Type
		what := typ
		if o.bind {
			what = "bind " + m.Source
		}
		label := fmt.Sprintf("mounts[%d]: %s on %s", i, what, m.Destination)
		rel := strings.TrimPrefix(path.Clean("/"+m.Destination), "/")
		there := false // the image has the destination: nothing to make
		if c.env.ImageEntry != nil {
			resolved, err := resolveInImage(m.Destination, c.env.ImageEntry, covered)
			if err != nil {
				c.b.fail(fmt.Errorf("mounts[%d].destination: %s: %w", i, m.Destination, err))
				continue
			}
			if resolved != rel {
				label += " -> /" + resolved
			}
			rel = resolved
			there = inImage(rel, c.env.ImageEntry, covered)
		}
		if (typ == "proc" || typ == "sysfs") && !o.bind && rel != strings.TrimPrefix(path.Clean("/"+m.Destination), "/") {
			// A procfs or sysfs mounted where a symlink leads is not
			// where linux.maskedPaths, linux.readonlyPaths and the
			// process look for it (CVE-2019-16884's fake /proc).
			c.b.fail(fmt.Errorf("mounts[%d].destination: %s: a symlink in the image (-> /%s): proc and sysfs are mounted only on a folder of their own", i, m.Destination, rel))
			continue
		}
		covered[rel] = true
		m.Destination = "/" + rel
		if typ == "cgroup" && !o.bind {
			c.cgroupMount(label, r, m, o)
			continue
		}
		if (typ == "proc" || typ == "sysfs") && !o.bind {
			// The same in the child, should the image change in between:
			// no symlink on the way.
			tgt := c.b.destination(label, r, m.Destination, rel, there, false, unix.RESOLVE_NO_SYMLINKS)
			c.b.fsMount(label, typ, m.Source, tgt, o)
			c.b.close(label, c.b.slotFD(tgt))
			continue
		}
		source := m.Source
		if o.bind && !path.IsAbs(source) {
			source = path.Join(c.env.BundleDir, source)
		}
		file := false
		if o.bind {
			file = c.env.IsFile(source)
		}
		tgt := c.b.destination(label, r, m.Destination, rel, there, file)
		switch {
		case o.bind && (o.idmap || len(m.UIDMappings) > 0):
			c.idmappedMount(i, label, source, tgt, m, o)
		case o.bind:
			c.b.bindMount(label, source, tgt, o)
		default:
			c.b.fsMount(label, typ, source, tgt, o)
		}
		c.b.close(label, c.b.slotFD(tgt))
	}
}

// cgroupMount mounts the cgroup filesystem as the host has it: cgroup2 alone
// on a unified host; on a v1 or hybrid host a tmpfs with one mount of each
// hierarchy below it (what a container sees of /sys/fs/cgroup under runc).
// With a new cgroup namespace each hierarchy shows the container's cgroup as
// its root.
//
// Without a cgroup namespace of its own a new cgroup mount would show the
// host's whole tree anyway, so the host's tree is bind-mounted instead,
// recursively and with the mount's attributes on every submount, as runc
// does. That also spares the kernel's synchronize_rcu on every new cgroup2
// mount (cgroup_favor_dynmods), 10-15 ms on a quiet machine. In a user
// namespace it is the only way: cgroup v1 cannot be mounted there at all.
func (c *compiler) cgroupMount(label string, r rootDirs, m rspec.Mount, o mountPlan) {
	var nsList []rspec.LinuxNamespace
	if c.s.Linux != nil {
		nsList = c.s.Linux.Namespaces
	}
	newNS := namespaces.HasNew(nsList, rspec.CgroupNamespace) && !c.inUserNS()
	hidden := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC)
	// bindOwn binds the container's own cgroup in the hierarchy mounted
	// at /sys/fs/cgroup/dir onto dest: without a cgroup namespace, what a
	// new mount of the hierarchy would show from the container's cgroup.
	bindOwn := func(dir string, tgt clonecore.Slot) {
		c.b.bindMount(label, path.Join("/sys/fs/cgroup", dir, c.env.CgroupPath), tgt, mountPlan{bind: true, recursive: true,
			attrSet: o.attrSet | hidden, recSet: o.recSet})
		c.b.close(label, c.b.slotFD(tgt))
	}
	switch {
	case !newNS && c.env.CgroupPath == "":
		// No cgroup of its own (an unprivileged minirun makes none), and
		// no namespace to root a new mount at it: the host's tree, as it
		// is. In a user namespace a bind is the only way anyway: cgroup v1
		// cannot be mounted there.
		tgt := c.b.target(label, r, m.Destination, false)
		c.b.bindMount(label, "/sys/fs/cgroup", tgt, mountPlan{bind: true, recursive: true,
			recSet: o.attrSet | o.recSet | hidden})
		c.b.close(label, c.b.slotFD(tgt))
		return
	case c.env.CgroupUnified || len(c.env.CgroupHierarchies) == 0:
		if !newNS {
			bindOwn("", c.b.target(label, r, m.Destination, false))
			return
		}
		tgt := c.b.target(label, r, m.Destination, false)
		c.b.fsMount(label, "cgroup2", "cgroup", tgt, mountPlan{attrSet: o.attrSet, propagation: o.propagation, recPropagation: o.recPropagation})
		c.b.close(label, c.b.slotFD(tgt))
		return
	}
	tgt := c.b.target(label, r, m.Destination, false)
	c.b.fsMount(label, "tmpfs", "tmpfs", tgt, mountPlan{attrSet: (o.attrSet &^ unix.MOUNT_ATTR_RDONLY) | hidden, data: []string{"mode=755"}})
	c.b.close(label, c.b.slotFD(tgt))
	// The tmpfs just made, opened once: each hierarchy's folder is made
	// and opened in it (nothing else can be there yet), not walked to
	// from the rootfs again.
	topRel := strings.TrimPrefix(m.Destination, "/")
	top := c.b.openTarget(label, r, topRel, false)
	have := map[string]bool{}
	for _, h := range c.env.CgroupHierarchies {
		have[h.Dir] = true
	}
	for _, h := range c.env.CgroupHierarchies {
		sub := c.b.subdir(label, top, topRel, h.Dir)
		if !newNS {
			bindOwn(h.Dir, sub)
		} else {
			ho := mountPlan{attrSet: o.attrSet | hidden}
			if h.Options != "" {
				ho.data = []string{h.Options}
			}
			c.b.fsMount(label, h.FSType, "cgroup", sub, ho)
			c.b.close(label, c.b.slotFD(sub))
		}
		// A hierarchy of several controllers ("cpu,cpuacct") is also
		// reachable by each controller's name, as on the host.
		if strings.Contains(h.Dir, ",") {
			for _, ctl := range strings.Split(h.Dir, ",") {
				if !have[ctl] {
					c.symlink(label+": "+ctl+" is "+h.Dir, h.Dir, top, ctl)
				}
			}
		}
	}
	if o.attrSet&unix.MOUNT_ATTR_RDONLY != 0 {
		// The tmpfs was writable so the hierarchies' directories could be
		// made in it; now make it read-only like the rest.
		c.b.mountSetattr(label, c.b.slotFD(top), "", unix.AT_EMPTY_PATH, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	}
	c.b.close(label, c.b.slotFD(top))
}
