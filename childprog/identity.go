package childprog

import (
	"encoding/binary"
	"fmt"
	"path"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/specs"
)

// identity drops what the process must not keep, in the order that works:
// the bounding set while still privileged; groups, gid and uid (keeping the
// permitted set across the uid change); then capset and the ambient set.
//
// A config without process.capabilities gets none: every set empty, as
// runc does (docs/design.md, rule 14). Keeping minirun's own would let the
// process remount /proc/sys read-write, or, without a PID namespace, open
// minirun's /proc/PID/exe and overwrite the runtime (CVE-2019-5736). The
// bounding set matters most: a root process gains all of it at execve.
func (c *compiler) identity() {
	p := c.s.Process
	caps := p.Capabilities
	what, drop, from := "process.capabilities", "process.capabilities.bounding: drop ", ""
	if caps == nil {
		caps = &rspec.LinuxCapabilities{}
		what = "process.capabilities (absent, so none)"
		drop, from = what+": drop ", " from the bounding set"
	}
	keep := capSet(caps.Bounding)
	for n := 0; n <= c.env.LastCap; n++ {
		if keep&(1<<n) == 0 {
			c.b.prctl(drop+capName(n)+from, "PR_CAPBSET_DROP", unix.PR_CAPBSET_DROP, uintptr(n), capName(n))
		}
	}
	u := p.User
	if !(c.plan.SetgroupsDeny || c.env.SetgroupsDenied) || len(u.AdditionalGids) > 0 {
		gids := make([]byte, 4*len(u.AdditionalGids)+4)
		shown := make([]string, len(u.AdditionalGids))
		for i, g := range u.AdditionalGids {
			binary.NativeEndian.PutUint32(gids[4*i:], g)
			shown[i] = itoa(int(g))
		}
		c.b.simple("process.user.additionalGids", unix.SYS_SETGROUPS, "setgroups",
			[]string{itoa(len(u.AdditionalGids)), "[" + strings.Join(shown, ", ") + "]"}, uintptr(len(u.AdditionalGids)), c.b.bytes(gids))
	}
	g := itoa(int(u.GID))
	c.b.simple("process.user.gid", unix.SYS_SETRESGID, "setresgid", []string{g, g, g}, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID))
	if capSet(caps.Permitted) != 0 && u.UID != 0 {
		c.b.prctl("process.user.uid: keep the permitted capabilities across the change of uid", "PR_SET_KEEPCAPS", unix.PR_SET_KEEPCAPS, 1, "1")
	}
	uid := itoa(int(u.UID))
	c.b.simple("process.user.uid", unix.SYS_SETRESUID, "setresuid", []string{uid, uid, uid}, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID))
	eff, perm, inh := capSet(caps.Effective), capSet(caps.Permitted), capSet(caps.Inheritable)
	// Version 3 takes two data structs: the low 32 capabilities, then the high.
	var data [2]unix.CapUserData
	for i := range data {
		data[i] = unix.CapUserData{Effective: uint32(eff >> (32 * i)), Permitted: uint32(perm >> (32 * i)), Inheritable: uint32(inh >> (32 * i))}
	}
	hdr, _ := kstruct(c.b, unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3})
	dat, _ := kstruct(c.b, data)
	c.b.call(what+": effective, permitted, inheritable", unix.SYS_CAPSET, "capset",
		[]string{"{_LINUX_CAPABILITY_VERSION_3, 0}", fmt.Sprintf("{effective=%#x, permitted=%#x, inheritable=%#x}", eff, perm, inh)},
		[]clonecore.Arg{clonecore.Imm(hdr), clonecore.Imm(dat)})
	for _, name := range caps.Ambient {
		n, ok := specs.CapabilityByName(name)
		if !ok {
			continue
		}
		// The kernel raises only what is both permitted and inheritable;
		// runc's default spec lists ambient capabilities that are not
		// inheritable, and runc goes on without them: so does minirun
		// (EPERM tolerated), and the listing shows the attempt.
		var opts []clonecore.StepOption
		if (perm&inh)&(1<<n) == 0 {
			opts = append(opts, clonecore.Tolerate(unix.EPERM))
		}
		c.b.call("process.capabilities.ambient: raise "+name, unix.SYS_PRCTL, "prctl", []string{"PR_CAP_AMBIENT", "PR_CAP_AMBIENT_RAISE", name},
			[]clonecore.Arg{clonecore.Imm(unix.PR_CAP_AMBIENT), clonecore.Imm(unix.PR_CAP_AMBIENT_RAISE), clonecore.Imm(n), clonecore.Imm(0), clonecore.Imm(0)}, opts...)
	}
}

// capSet turns capability names into a bit set; Validate reports unknown names.
func capSet(names []string) uint64 {
	var set uint64
	for _, name := range names {
		if n, ok := specs.CapabilityByName(name); ok {
			set |= 1 << n
		}
	}
	return set
}

// exec runs process.args: once by path when args[0] holds a slash, else once
// for each directory of the container's PATH, each attempt tolerating the
// errnos that mean "not here" (what execvp does), then a failure naming it.
func (c *compiler) exec() {
	p := c.s.Process
	argv := c.b.strs(p.Args)
	envp := c.b.strs(p.Env)
	name := p.Args[0]
	if c.env.Path != "" {
		name = c.env.Path
	}
	label := "process.args[0]: " + name
	c.plan.ExecStep = c.b.p.Len()
	argShown := "[" + strings.Join(quoteAll(p.Args), ", ") + "]"
	envShown := fmt.Sprintf("[%d vars]", len(p.Env))
	if strings.Contains(name, "/") {
		c.b.call(label, unix.SYS_EXECVE, "execve", []string{q(name), argShown, envShown},
			[]clonecore.Arg{clonecore.Imm(c.b.str(name)), clonecore.Imm(argv), clonecore.Imm(envp)})
		return
	}
	for _, dir := range SearchPath(p.Env) {
		file := path.Join(dir, name)
		c.b.call(label, unix.SYS_EXECVE, "execve", []string{q(file), argShown, envShown},
			[]clonecore.Arg{clonecore.Imm(c.b.str(file)), clonecore.Imm(argv), clonecore.Imm(envp)},
			clonecore.Tolerate(unix.ENOENT, unix.ENOTDIR, unix.EACCES))
	}
	c.b.call(fmt.Sprintf("process.args[0]: %q: executable file not found in $PATH", name), clonecore.OpFail, "fail", []string{"ENOENT"},
		[]clonecore.Arg{clonecore.Imm(unix.ENOENT)})
}

// DefaultPath is searched when process.env has no PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// SearchPath lists the folders process.args[0] is looked for in: those of
// the PATH in env, or DefaultPath; an empty entry is the current folder.
func SearchPath(env []string) []string {
	p := DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			p = v
		}
	}
	var dirs []string
	for _, d := range strings.Split(p, ":") {
		if d == "" {
			d = "."
		}
		dirs = append(dirs, d)
	}
	return dirs
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = q(s)
	}
	return out
}

// capName names capability n for the listing.
func capName(n int) string {
	if name, ok := specs.CapabilityName(n); ok {
		return name
	}
	return "CAP_" + itoa(n)
}
