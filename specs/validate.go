package specs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/namespaces"
)

// Supported runtime-spec versions: 1.0.0 up to any 1.3.x, the version
// whose Go types minirun is built with.
const (
	MinVersion = "1.0.0"
	MaxVersion = "1.3.x"
)

// ValidateOptions says how much Validate checks and how it names things.
type ValidateOptions struct {
	// File names the config in messages ("spec.json"); empty leaves the
	// file off.
	File string
	// Dir is the folder a relative root.path or bind source is resolved
	// against when CheckFS is set; empty means the current directory.
	Dir string
	// CheckFS also checks the host: root.path must be an existing
	// directory and every bind mount's source must exist. Without it
	// Validate reads nothing and is a pure function of the spec.
	CheckFS bool
	// AllowNoProcess accepts a spec without process. runtime-spec allows
	// that in a config, but a container cannot be started without one, so
	// run and create leave this false.
	AllowNoProcess bool
}

// A FieldError is one thing wrong with a spec: the JSON path of the value
// ("mounts[2].destination", "linux.sysctl[\"net.ipv4.ip_forward\"]") and
// what is wrong with it.
type FieldError struct {
	Path, Msg string
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// A ValidationError is every problem Validate found: the checks of values
// in the order of the spec's fields, then the fields the policy refuses and
// the strings holding a NUL byte, again in the spec's order.
type ValidationError struct {
	File string
	Errs []FieldError
}

// Error renders one line per problem, each prefixed with the file:
// "spec.json: mounts[2].destination: must be absolute".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, fe := range e.Errs {
		if e.File != "" {
			lines[i] = e.File + ": " + fe.Error()
		} else {
			lines[i] = fe.Error()
		}
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each problem as its own error.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, fe := range e.Errs {
		errs[i] = fe
	}
	return errs
}

// checker collects FieldErrors.
type checker struct {
	opts ValidateOptions
	errs []FieldError
}

func (c *checker) add(p, format string, a ...any) {
	c.errs = append(c.errs, FieldError{p, fmt.Sprintf(format, a...)})
}

// pathMax is the kernel's PATH_MAX: a path and its NUL.
const pathMax = 4096

// abs checks that a path in the container is absolute, and not longer than
// the kernel takes.
func (c *checker) abs(p, v string) {
	switch {
	case v == "":
		c.add(p, "missing; give an absolute path")
	case !path.IsAbs(v):
		c.add(p, "%q must be absolute", v)
	case len(v) >= pathMax:
		c.add(p, "%d bytes; a path has at most %d (PATH_MAX)", len(v), pathMax-1)
	}
}

// hostPath resolves a host path from the config the way the runtime will.
func (c *checker) hostPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	dir := c.opts.Dir
	if dir == "" {
		dir = "."
	}
	return filepath.Join(dir, p)
}

// Validate checks s before anything is started and returns every problem
// at once as a *ValidationError, or nil. It never panics, whatever s holds.
// Every field the policy refuses (Policy) gets a line of its own.
func Validate(s *rspec.Spec, opts ValidateOptions) error {
	c := &checker{opts: opts}
	if s == nil {
		c.add("", "the config is empty (null)")
	} else {
		c.spec(s)
	}
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{File: opts.File, Errs: c.errs}
}

func (c *checker) spec(s *rspec.Spec) {
	c.version(s.Version)
	var ns []rspec.LinuxNamespace
	if s.Linux != nil {
		ns = s.Linux.Namespaces
	}
	c.root(s.Root)
	c.process(s)
	if s.Hostname != "" && !namespaces.Has(ns, rspec.UTSNamespace) {
		c.add("hostname", "needs a uts namespace in linux.namespaces; without one it would change the host's")
	}
	if s.Domainname != "" && !namespaces.Has(ns, rspec.UTSNamespace) {
		c.add("domainname", "needs a uts namespace in linux.namespaces; without one it would change the host's")
	}
	for i, m := range s.Mounts {
		c.mount(fmt.Sprintf("mounts[%d]", i), m)
		c.idmapped(fmt.Sprintf("mounts[%d]", i), m, ns)
	}
	if !namespaces.HasNew(ns, rspec.MountNamespace) {
		c.noMountNamespace(s, namespaces.Has(ns, rspec.MountNamespace))
	}
	c.hooks(s.Hooks)
	if s.Linux != nil {
		c.linux(s)
	}
	c.policy(s)
}

// noMountNamespace refuses what only a mount namespace of the container's
// own can hold. Without one the process shares the host's mounts (its root
// is root.path by chroot, docs/design.md "The container's filesystem"), so
// each of these would mount, or make device nodes, in the host's tree; in
// a joined one, in the tree of every process that shares it.
func (c *checker) noMountNamespace(s *rspec.Spec, joined bool) {
	fields := []struct {
		name, host string
		set        bool
	}{
		{"mounts", "mount in the host's mount namespace", len(s.Mounts) > 0},
		{"root.readonly", "make the host's mount of root.path read-only", s.Root != nil && s.Root.Readonly},
	}
	if l := s.Linux; l != nil {
		fields = append(fields, []struct {
			name, host string
			set        bool
		}{
			{"linux.maskedPaths", "mount over the host's paths", len(l.MaskedPaths) > 0},
			{"linux.readonlyPaths", "make the host's paths read-only", len(l.ReadonlyPaths) > 0},
			{"linux.rootfsPropagation", "change the propagation of the host's mounts", l.RootfsPropagation != ""},
			{"linux.devices", "make device nodes in the host's filesystem", len(l.Devices) > 0},
		}...)
	}
	for _, f := range fields {
		switch {
		case !f.set:
		case joined:
			c.add(f.name, "needs a new mount namespace: the joined one is the container's filesystem as it is, and minirun changes nothing in a namespace other processes share")
		default:
			c.add(f.name, "needs a mount namespace in linux.namespaces; without one it would %s", f.host)
		}
	}
}

func (c *checker) version(v string) {
	if v == "" {
		c.add("ociVersion", "missing; minirun supports %s to %s", MinVersion, MaxVersion)
		return
	}
	major, minor, _, pre, ok := parseVersion(v)
	if !ok {
		c.add("ociVersion", "%q is not a version (want MAJOR.MINOR.PATCH, such as %s)", v, rspec.Version)
		return
	}
	// The 1.0.0 release candidates predate the stable format.
	if major != 1 || minor > 3 || (minor == 0 && pre != "" && strings.HasPrefix(v, "1.0.0-")) {
		c.add("ociVersion", "%q is not supported; minirun supports %s to %s", v, MinVersion, MaxVersion)
	}
}

// parseVersion reads a semantic version: MAJOR.MINOR.PATCH with an
// optional -pre-release and +build.
func parseVersion(v string) (major, minor, patch int, pre string, ok bool) {
	core := v
	if i := strings.IndexByte(core, '+'); i >= 0 {
		core = core[:i]
	}
	if i := strings.IndexByte(core, '-'); i >= 0 {
		core, pre = core[:i], core[i+1:]
		if pre == "" {
			return 0, 0, 0, "", false
		}
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return 0, 0, 0, "", false
	}
	var n [3]int
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.TrimLeft(p, "0123456789") != "" || (len(p) > 1 && p[0] == '0') {
			return 0, 0, 0, "", false
		}
		n[i], _ = strconv.Atoi(p)
	}
	return n[0], n[1], n[2], pre, true
}

func (c *checker) root(r *rspec.Root) {
	switch {
	case r == nil:
		c.add("root", "missing; the container needs a root filesystem (root.path)")
	case r.Path == "":
		c.add("root.path", "missing; give the folder holding the container's files")
	case c.opts.CheckFS:
		p := c.hostPath(r.Path)
		st, err := os.Stat(p)
		shown := fmt.Sprintf("%q", r.Path)
		if p != r.Path {
			shown += " (" + p + ")"
		}
		switch {
		case errors.Is(err, os.ErrNotExist):
			c.add("root.path", "%s does not exist", shown)
		case err != nil:
			c.add("root.path", "%s: %v", shown, errors.Unwrap(err))
		case !st.IsDir():
			c.add("root.path", "%s is not a directory", shown)
		}
	}
}

func (c *checker) process(s *rspec.Spec) {
	p := s.Process
	if p == nil {
		if !c.opts.AllowNoProcess {
			c.add("process", "missing; the container needs a process to start (process.args)")
		}
		return
	}
	if len(p.Args) == 0 {
		c.add("process.args", "missing; give the program to run and its arguments")
	}
	if len(p.Args) > 0 && p.Args[0] == "" {
		c.add("process.args[0]", "must name the program to run")
	}
	for i, e := range p.Env {
		// A NUL byte is reported with every other string's (policyWalk).
		if !strings.Contains(e, "=") || strings.HasPrefix(e, "=") {
			c.add(fmt.Sprintf("process.env[%d]", i), "%q must be NAME=VALUE", e)
		}
	}
	c.execSize(p)
	c.abs("process.cwd", p.Cwd)
	if p.ConsoleSize != nil && !p.Terminal {
		c.add("process.consoleSize", "set but process.terminal is false; a console size needs a terminal")
	}
	if p.User.Umask != nil && *p.User.Umask > 0o777 {
		c.add("process.user.umask", "%#o is not a file mode mask (want 0 to 0777)", *p.User.Umask)
	}
	c.id("process.user.uid", p.User.UID)
	c.id("process.user.gid", p.User.GID)
	if n := len(p.User.AdditionalGids); n > MaxGroups {
		c.add("process.user.additionalGids", "%d groups; the kernel takes at most %d (NGROUPS_MAX)", n, MaxGroups)
	}
	for i, g := range p.User.AdditionalGids {
		c.id(fmt.Sprintf("process.user.additionalGids[%d]", i), g)
	}
	if p.Capabilities != nil {
		for _, set := range []struct {
			name  string
			names []string
		}{
			{"bounding", p.Capabilities.Bounding},
			{"effective", p.Capabilities.Effective},
			{"inheritable", p.Capabilities.Inheritable},
			{"permitted", p.Capabilities.Permitted},
			{"ambient", p.Capabilities.Ambient},
		} {
			for i, n := range set.names {
				if _, ok := CapabilityByName(n); !ok {
					c.add(fmt.Sprintf("process.capabilities.%s[%d]", set.name, i), "unknown capability %q", n)
				}
			}
		}
	}
	seen := map[string]int{}
	for i, r := range p.Rlimits {
		f := fmt.Sprintf("process.rlimits[%d]", i)
		if _, ok := RlimitByName(r.Type); !ok {
			c.add(f+".type", "unknown rlimit %q", r.Type)
		} else if j, dup := seen[r.Type]; dup {
			c.add(f+".type", "duplicate rlimit %q (also process.rlimits[%d])", r.Type, j)
		} else {
			seen[r.Type] = i
		}
		if r.Soft > r.Hard {
			c.add(f, "soft limit %d is above hard limit %d", r.Soft, r.Hard)
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		c.add("process.oomScoreAdj", "%d is out of range -1000 to 1000", *p.OOMScoreAdj)
	}
	if sc := p.Scheduler; sc != nil {
		c.scheduler(sc)
	}
	if a := p.ExecCPUAffinity; a != nil {
		for _, l := range []struct{ name, list string }{{"initial", a.Initial}, {"final", a.Final}} {
			if _, err := ParseCPUList(l.list); err != nil {
				c.add("process.execCPUAffinity."+l.name, "%v", err)
			}
		}
	}
	if io := p.IOPriority; io != nil {
		switch io.Class {
		case rspec.IOPRIO_CLASS_RT, rspec.IOPRIO_CLASS_BE, rspec.IOPRIO_CLASS_IDLE:
		default:
			c.add("process.ioPriority.class", "unknown class %q; want IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE", io.Class)
		}
		if io.Priority < 0 || io.Priority > 7 {
			c.add("process.ioPriority.priority", "%d is out of range 0 to 7", io.Priority)
		}
	}
}

func (c *checker) mount(f string, m rspec.Mount) {
	c.abs(f+".destination", m.Destination)
	o := ParseMountOptions(m.Options)
	bind := IsBind(m)
	switch {
	case m.Type == "" && !bind:
		c.add(f+".type", "missing; give a filesystem type (proc, tmpfs…) or a bind option")
	case bind && m.Source == "":
		c.add(f+".source", "missing; a bind mount needs a source")
	case bind && c.opts.CheckFS:
		if _, err := os.Stat(c.hostPath(m.Source)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				c.add(f+".source", "%q does not exist", m.Source)
			} else {
				c.add(f+".source", "%q: %v", m.Source, errors.Unwrap(err))
			}
		}
	}
	if o.IDMap && !bind {
		c.add(f+".options", "idmap and ridmap need a bind mount")
	}
	for i, opt := range m.Options {
		if why, ok := refusedMountOptions[opt]; ok {
			c.add(fmt.Sprintf("%s.options[%d]", f, i), "%q: %s", opt, why)
		}
	}
	if (len(m.UIDMappings) > 0) != (len(m.GIDMappings) > 0) {
		if len(m.UIDMappings) == 0 {
			c.add(f+".uidMappings", "missing; an idmapped mount needs both uidMappings and gidMappings")
		} else {
			c.add(f+".gidMappings", "missing; an idmapped mount needs both uidMappings and gidMappings")
		}
	}
	c.idMap(f+".uidMappings", m.UIDMappings)
	c.idMap(f+".gidMappings", m.GIDMappings)
}

// idmapped checks what an idmapped mount needs beyond its own fields: a
// bind mount to idmap, and a mapping, its own or (for a bare "idmap"
// option, which runtime-spec allows) the maps of a new user namespace.
func (c *checker) idmapped(f string, m rspec.Mount, ns []rspec.LinuxNamespace) {
	o := ParseMountOptions(m.Options)
	switch {
	case len(m.UIDMappings) > 0 && !IsBind(m):
		c.add(f+".uidMappings", "an idmapped mount needs a bind mount")
	case o.IDMap && IsBind(m) && len(m.UIDMappings) == 0 && len(m.GIDMappings) == 0 && !namespaces.HasNew(ns, rspec.UserNamespace):
		c.add(f+".options", "idmap and ridmap need uidMappings and gidMappings, or a new user namespace whose maps they take")
	}
}

func (c *checker) idMap(f string, maps []rspec.LinuxIDMapping) {
	for _, e := range namespaces.ValidateIDMaps(maps) {
		if e.Index < 0 {
			c.add(f, "%s", e.Msg)
		} else {
			c.add(fmt.Sprintf("%s[%d]", f, e.Index), "%s", e.Msg)
		}
	}
}

func (c *checker) hooks(h *rspec.Hooks) {
	if h == nil {
		return
	}
	for _, l := range []struct {
		name  string
		hooks []rspec.Hook
	}{
		{"prestart", h.Prestart},
		{"createRuntime", h.CreateRuntime},
		{"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer},
		{"poststart", h.Poststart},
		{"poststop", h.Poststop},
	} {
		for i, hk := range l.hooks {
			f := fmt.Sprintf("hooks.%s[%d]", l.name, i)
			c.abs(f+".path", hk.Path)
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				c.add(f+".timeout", "%d must be greater than 0 seconds", *hk.Timeout)
			}
		}
	}
}

func (c *checker) linux(s *rspec.Spec) {
	l := s.Linux
	ns := l.Namespaces
	seen := map[rspec.LinuxNamespaceType]int{}
	for i, n := range ns {
		f := fmt.Sprintf("linux.namespaces[%d]", i)
		if _, ok := namespaces.ByType(n.Type); !ok {
			c.add(f+".type", "unknown namespace type %q; known types are %s", n.Type, strings.Join(namespaces.Types(), ", "))
			continue
		}
		if j, dup := seen[n.Type]; dup {
			c.add(f, "duplicate namespace type %q (also linux.namespaces[%d])", n.Type, j)
			continue
		}
		seen[n.Type] = i
		if n.Path != "" && !filepath.IsAbs(n.Path) {
			c.add(f+".path", "%q must be absolute", n.Path)
		}
	}

	// User namespace and id maps.
	newUser := namespaces.HasNew(ns, rspec.UserNamespace)
	for _, m := range []struct {
		name string
		maps []rspec.LinuxIDMapping
	}{{"linux.uidMappings", l.UIDMappings}, {"linux.gidMappings", l.GIDMappings}} {
		switch {
		case len(m.maps) > 0 && !newUser:
			c.add(m.name, "set but linux.namespaces has no new user namespace to apply it to")
		case len(m.maps) == 0 && newUser:
			c.add(m.name, "missing; a new user namespace needs a map (see `minirun spec --rootless`)")
		}
		c.idMap(m.name, m.maps)
	}
	if newUser && s.Process != nil {
		u := s.Process.User
		c.mapped("process.user.uid", u.UID, "linux.uidMappings", l.UIDMappings)
		c.mapped("process.user.gid", u.GID, "linux.gidMappings", l.GIDMappings)
		for i, g := range u.AdditionalGids {
			c.mapped(fmt.Sprintf("process.user.additionalGids[%d]", i), g, "linux.gidMappings", l.GIDMappings)
		}
	}

	// Time namespace offsets.
	if len(l.TimeOffsets) > 0 && !namespaces.HasNew(ns, rspec.TimeNamespace) {
		c.add("linux.timeOffsets", "set but linux.namespaces has no new time namespace to apply them to")
	}
	for _, k := range SortedKeys(l.TimeOffsets) {
		f := fmt.Sprintf("linux.timeOffsets[%q]", k)
		if k != "monotonic" && k != "boottime" {
			c.add(f, "unknown clock; only monotonic and boottime can be offset")
		}
		if n := l.TimeOffsets[k].Nanosecs; n >= 1e9 {
			c.add(f+".nanosecs", "%d is not below 1000000000", n)
		}
	}

	// Sysctls: only namespaced ones, each with its namespace present
	// (new or joined): otherwise it would change the host.
	for _, k := range SortedKeys(l.Sysctl) {
		f := fmt.Sprintf("linux.sysctl[%q]", k)
		t, ok := sysctlNamespace(k)
		switch {
		case !ok:
			c.add(f, "not a namespaced sysctl; setting it would change the host")
		case !namespaces.Has(ns, t):
			c.add(f, "needs a %s namespace in linux.namespaces; without one it would change the host's", t)
		case k == "kernel.hostname" && s.Hostname != "":
			c.add(f, "conflicts with hostname; set one or the other")
		case k == "kernel.domainname" && s.Domainname != "":
			c.add(f, "conflicts with domainname; set one or the other")
		}
	}
	if len(l.NetDevices) > 0 && !namespaces.Has(ns, rspec.NetworkNamespace) {
		c.add("linux.netDevices", "needs a network namespace in linux.namespaces to move the devices into")
	}
	c.netDevices(l.NetDevices)
	if mp := l.MemoryPolicy; mp != nil {
		c.memoryPolicy(mp)
	}

	for i, d := range l.Devices {
		c.device(fmt.Sprintf("linux.devices[%d]", i), d)
	}
	for i, p := range l.MaskedPaths {
		c.abs(fmt.Sprintf("linux.maskedPaths[%d]", i), p)
	}
	for i, p := range l.ReadonlyPaths {
		c.abs(fmt.Sprintf("linux.readonlyPaths[%d]", i), p)
	}
	if p := l.RootfsPropagation; p != "" {
		if _, ok := propagationByName[p]; !ok {
			c.add("linux.rootfsPropagation", "unknown propagation %q; want shared, slave, private or unbindable (or rshared, rslave, rprivate, runbindable)", p)
		}
	}
	if p := l.Personality; p != nil {
		if p.Domain != rspec.PerLinux && p.Domain != rspec.PerLinux32 {
			c.add("linux.personality.domain", "unknown domain %q; want LINUX or LINUX32", p.Domain)
		}
		for i, fl := range p.Flags {
			c.add(fmt.Sprintf("linux.personality.flags[%d]", i), "%q: runtime-spec defines no personality flags", fl)
		}
	}
	if l.Seccomp != nil {
		c.seccomp(l.Seccomp)
	}
}

// mapped checks that id has a mapping in maps.
func (c *checker) mapped(f string, id uint32, mapName string, maps []rspec.LinuxIDMapping) {
	if len(maps) == 0 {
		return // reported on the map
	}
	for _, m := range maps {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return
		}
	}
	c.add(f, "%d is not mapped by %s", id, mapName)
}

// sysctlNamespace says which namespace a sysctl lives in, following the
// kernel's per-namespace tables (and what runc allows).
func sysctlNamespace(key string) (rspec.LinuxNamespaceType, bool) {
	switch key {
	case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
		return rspec.IPCNamespace, true
	case "kernel.hostname", "kernel.domainname":
		return rspec.UTSNamespace, true
	}
	switch {
	case strings.HasPrefix(key, "fs.mqueue."):
		return rspec.IPCNamespace, true
	case strings.HasPrefix(key, "net."):
		return rspec.NetworkNamespace, true
	}
	return "", false
}

func (c *checker) device(f string, d rspec.LinuxDevice) {
	c.abs(f+".path", d.Path)
	if d.UID != nil {
		c.id(f+".uid", *d.UID)
	}
	if d.GID != nil {
		c.id(f+".gid", *d.GID)
	}
	switch d.Type {
	case "c", "b", "u":
		if d.Major < 0 || d.Major > maxDevMajor {
			c.add(f+".major", "%d is out of range 0 to %d", d.Major, maxDevMajor)
		}
		if d.Minor < 0 || d.Minor > maxDevMinor {
			c.add(f+".minor", "%d is out of range 0 to %d", d.Minor, maxDevMinor)
		}
	case "p":
	case "":
		c.add(f+".type", "missing; want c, b, u or p")
	default:
		c.add(f+".type", "unknown device type %q; want c, b, u or p", d.Type)
	}
	if d.FileMode != nil {
		// Permission bits, setuid/setgid/sticky, and the file type bits
		// of the device's own type (some tools write S_IFCHR|0666).
		var ifmt uint32
		switch d.Type {
		case "c", "u":
			ifmt = unix.S_IFCHR
		case "b":
			ifmt = unix.S_IFBLK
		case "p":
			ifmt = unix.S_IFIFO
		}
		m := uint32(*d.FileMode)
		if t := m & unix.S_IFMT; m&^(0o7777|unix.S_IFMT) != 0 || (t != 0 && t != ifmt) {
			c.add(f+".fileMode", "%#o is not a mode for this device (want permission bits, 0 to 07777)", m)
		}
	}
}

// The kernel's dev_t has a 12-bit major and a 20-bit minor.
const (
	maxDevMajor = 1<<12 - 1
	maxDevMinor = 1<<20 - 1
)

var (
	seccompActions = map[rspec.LinuxSeccompAction]bool{
		rspec.ActKill: true, rspec.ActKillProcess: true, rspec.ActKillThread: true, rspec.ActTrap: true,
		rspec.ActErrno: true, rspec.ActTrace: true, rspec.ActAllow: true, rspec.ActLog: true, rspec.ActNotify: true,
	}
	seccompArchs = map[rspec.Arch]bool{
		rspec.ArchX86: true, rspec.ArchX86_64: true, rspec.ArchX32: true, rspec.ArchARM: true,
		rspec.ArchAARCH64: true, rspec.ArchMIPS: true, rspec.ArchMIPS64: true, rspec.ArchMIPS64N32: true,
		rspec.ArchMIPSEL: true, rspec.ArchMIPSEL64: true, rspec.ArchMIPSEL64N32: true, rspec.ArchPPC: true,
		rspec.ArchPPC64: true, rspec.ArchPPC64LE: true, rspec.ArchS390: true, rspec.ArchS390X: true,
		rspec.ArchPARISC: true, rspec.ArchPARISC64: true, rspec.ArchRISCV64: true, rspec.ArchLOONGARCH64: true,
		rspec.ArchM68K: true, rspec.ArchSH: true, rspec.ArchSHEB: true,
	}
	seccompFlags = map[rspec.LinuxSeccompFlag]bool{
		rspec.LinuxSeccompFlagLog: true, rspec.LinuxSeccompFlagSpecAllow: true, rspec.LinuxSeccompFlagWaitKillableRecv: true,
	}
	seccompOps = map[rspec.LinuxSeccompOperator]bool{
		rspec.OpNotEqual: true, rspec.OpLessThan: true, rspec.OpLessEqual: true, rspec.OpEqualTo: true,
		rspec.OpGreaterEqual: true, rspec.OpGreaterThan: true, rspec.OpMaskedEqual: true,
	}
)

func (c *checker) seccomp(sc *rspec.LinuxSeccomp) {
	const f = "linux.seccomp"
	notify := false
	switch {
	case sc.DefaultAction == "":
		c.add(f+".defaultAction", "missing; give the action for syscalls no rule names (SCMP_ACT_ERRNO, SCMP_ACT_ALLOW…)")
	case sc.DefaultAction == rspec.ActNotify:
		c.add(f+".defaultAction", "SCMP_ACT_NOTIFY cannot be the default: the listener itself needs syscalls to answer")
	case !seccompActions[sc.DefaultAction]:
		c.add(f+".defaultAction", "unknown action %q", sc.DefaultAction)
	}
	for i, a := range sc.Architectures {
		if !seccompArchs[a] {
			c.add(fmt.Sprintf("%s.architectures[%d]", f, i), "unknown architecture %q", a)
		}
	}
	for i, fl := range sc.Flags {
		if !seccompFlags[fl] {
			c.add(fmt.Sprintf("%s.flags[%d]", f, i), "unknown flag %q", fl)
		}
	}
	for i, sys := range sc.Syscalls {
		g := fmt.Sprintf("%s.syscalls[%d]", f, i)
		if len(sys.Names) == 0 {
			c.add(g+".names", "missing; list the syscalls the rule applies to")
		}
		for j, n := range sys.Names {
			if n == "" {
				c.add(fmt.Sprintf("%s.names[%d]", g, j), "must not be empty")
			}
		}
		switch {
		case sys.Action == "":
			c.add(g+".action", "missing")
		case !seccompActions[sys.Action]:
			c.add(g+".action", "unknown action %q", sys.Action)
		case sys.Action == rspec.ActNotify:
			notify = true
		}
		for j, a := range sys.Args {
			h := fmt.Sprintf("%s.args[%d]", g, j)
			if a.Index > 5 {
				c.add(h+".index", "%d is out of range 0 to 5", a.Index)
			}
			if !seccompOps[a.Op] {
				c.add(h+".op", "unknown operator %q", a.Op)
			}
		}
	}
	if notify && sc.ListenerPath == "" {
		c.add(f+".listenerPath", "missing; SCMP_ACT_NOTIFY needs a listener socket to send the notify fd to")
	}
}

// SortedKeys returns the keys of m in order, for output that does not
// depend on map iteration.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Capabilities and rlimits.

// capabilityNames is every capability name in the kernel's order: the
// index is the capability's number (linux/capability.h).
var capabilityNames = func() []string {
	byNum := map[int]string{
		unix.CAP_CHOWN: "CAP_CHOWN", unix.CAP_DAC_OVERRIDE: "CAP_DAC_OVERRIDE",
		unix.CAP_DAC_READ_SEARCH: "CAP_DAC_READ_SEARCH", unix.CAP_FOWNER: "CAP_FOWNER",
		unix.CAP_FSETID: "CAP_FSETID", unix.CAP_KILL: "CAP_KILL", unix.CAP_SETGID: "CAP_SETGID",
		unix.CAP_SETUID: "CAP_SETUID", unix.CAP_SETPCAP: "CAP_SETPCAP",
		unix.CAP_LINUX_IMMUTABLE: "CAP_LINUX_IMMUTABLE", unix.CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE",
		unix.CAP_NET_BROADCAST: "CAP_NET_BROADCAST", unix.CAP_NET_ADMIN: "CAP_NET_ADMIN",
		unix.CAP_NET_RAW: "CAP_NET_RAW", unix.CAP_IPC_LOCK: "CAP_IPC_LOCK", unix.CAP_IPC_OWNER: "CAP_IPC_OWNER",
		unix.CAP_SYS_MODULE: "CAP_SYS_MODULE", unix.CAP_SYS_RAWIO: "CAP_SYS_RAWIO",
		unix.CAP_SYS_CHROOT: "CAP_SYS_CHROOT", unix.CAP_SYS_PTRACE: "CAP_SYS_PTRACE",
		unix.CAP_SYS_PACCT: "CAP_SYS_PACCT", unix.CAP_SYS_ADMIN: "CAP_SYS_ADMIN",
		unix.CAP_SYS_BOOT: "CAP_SYS_BOOT", unix.CAP_SYS_NICE: "CAP_SYS_NICE",
		unix.CAP_SYS_RESOURCE: "CAP_SYS_RESOURCE", unix.CAP_SYS_TIME: "CAP_SYS_TIME",
		unix.CAP_SYS_TTY_CONFIG: "CAP_SYS_TTY_CONFIG", unix.CAP_MKNOD: "CAP_MKNOD", unix.CAP_LEASE: "CAP_LEASE",
		unix.CAP_AUDIT_WRITE: "CAP_AUDIT_WRITE", unix.CAP_AUDIT_CONTROL: "CAP_AUDIT_CONTROL",
		unix.CAP_SETFCAP: "CAP_SETFCAP", unix.CAP_MAC_OVERRIDE: "CAP_MAC_OVERRIDE",
		unix.CAP_MAC_ADMIN: "CAP_MAC_ADMIN", unix.CAP_SYSLOG: "CAP_SYSLOG",
		unix.CAP_WAKE_ALARM: "CAP_WAKE_ALARM", unix.CAP_BLOCK_SUSPEND: "CAP_BLOCK_SUSPEND",
		unix.CAP_AUDIT_READ: "CAP_AUDIT_READ", unix.CAP_PERFMON: "CAP_PERFMON", unix.CAP_BPF: "CAP_BPF",
		unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
	}
	names := make([]string, unix.CAP_LAST_CAP+1)
	for n, name := range byNum {
		names[n] = name
	}
	return names
}()

// Capabilities lists every capability name minirun knows, CAP_CHOWN to
// CAP_CHECKPOINT_RESTORE, in the kernel's numbering order.
func Capabilities() []string { return append([]string(nil), capabilityNames...) }

// CapabilityByName returns the number of a capability name ("CAP_KILL" is
// 5). Names are matched exactly, as runtime-spec writes them.
func CapabilityByName(name string) (int, bool) {
	for i, n := range capabilityNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// rlimits maps each RLIMIT_* name to its resource number on this GOARCH.
var rlimits = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}

// CapabilityName returns the name of capability number n, if it has one.
func CapabilityName(n int) (string, bool) {
	if n >= 0 && n < len(capabilityNames) && capabilityNames[n] != "" {
		return capabilityNames[n], true
	}
	return "", false
}

// RlimitByName returns the resource number for setrlimit/prlimit of an
// RLIMIT_* name.
func RlimitByName(name string) (int, bool) {
	n, ok := rlimits[name]
	return n, ok
}

// Rlimits lists the RLIMIT_* names minirun knows, sorted.
func Rlimits() []string { return SortedKeys(rlimits) }

// Mount options.

// MountOpts is what a mount's options ask for, split the way the kernel
// takes it: flags for mount(2), a propagation change made with a separate
// mount(2) call, data for the filesystem, and attributes for a recursive
// mount_setattr(2).
type MountOpts struct {
	// Flags are the MS_* flags to pass (MS_BIND, MS_REC, MS_RDONLY,
	// MS_NOSUID…), after every option has been applied in order: "ro"
	// then "rw" leaves MS_RDONLY clear.
	Flags uintptr
	// Cleared are the MS_* flags an option explicitly turned off ("rw",
	// "suid", "dev", "exec", "atime"…) and no later option turned back on;
	// a bind remount needs to know them.
	Cleared uintptr
	// Propagation is MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE,
	// with MS_REC for the r-variants; 0 when no option names one. The last
	// propagation option wins.
	Propagation uintptr
	// Data is every option the table does not know, comma-joined in order,
	// for the filesystem to parse ("mode=755,size=65536k"), as runc does.
	Data string
	// AttrSet and AttrClr are MOUNT_ATTR_* bits for mount_setattr(2) with
	// AT_RECURSIVE, from "rro", "rnosuid", "rnoatime"…. An access-time
	// option also puts MOUNT_ATTR__ATIME in AttrClr, as the kernel requires.
	AttrSet, AttrClr uint64
	// IDMap is set by "idmap" or "ridmap": the mount gets the mount's
	// uidMappings/gidMappings; RecursiveIDMap is set by "ridmap".
	IDMap, RecursiveIDMap bool
	// TmpCopyUp is runc's "tmpcopyup" extension: copy the files under the
	// destination into the new tmpfs.
	TmpCopyUp bool
}

// mountFlagOption is an option that sets or clears MS_* flags.
type mountFlagOption struct {
	flag  uintptr
	clear bool
}

// mountFlagTable is every fstab-style option that maps to mount(2) flags.
var mountFlagTable = map[string]mountFlagOption{
	"defaults":      {0, false},
	"ro":            {unix.MS_RDONLY, false},
	"rw":            {unix.MS_RDONLY, true},
	"nosuid":        {unix.MS_NOSUID, false},
	"suid":          {unix.MS_NOSUID, true},
	"nodev":         {unix.MS_NODEV, false},
	"dev":           {unix.MS_NODEV, true},
	"noexec":        {unix.MS_NOEXEC, false},
	"exec":          {unix.MS_NOEXEC, true},
	"sync":          {unix.MS_SYNCHRONOUS, false},
	"async":         {unix.MS_SYNCHRONOUS, true},
	"dirsync":       {unix.MS_DIRSYNC, false},
	"remount":       {unix.MS_REMOUNT, false},
	"mand":          {unix.MS_MANDLOCK, false},
	"nomand":        {unix.MS_MANDLOCK, true},
	"noatime":       {unix.MS_NOATIME, false},
	"atime":         {unix.MS_NOATIME, true},
	"nodiratime":    {unix.MS_NODIRATIME, false},
	"diratime":      {unix.MS_NODIRATIME, true},
	"relatime":      {unix.MS_RELATIME, false},
	"norelatime":    {unix.MS_RELATIME, true},
	"strictatime":   {unix.MS_STRICTATIME, false},
	"nostrictatime": {unix.MS_STRICTATIME, true},
	"lazytime":      {unix.MS_LAZYTIME, false},
	"nolazytime":    {unix.MS_LAZYTIME, true},
	"iversion":      {unix.MS_I_VERSION, false},
	"noiversion":    {unix.MS_I_VERSION, true},
	"silent":        {unix.MS_SILENT, false},
	"loud":          {unix.MS_SILENT, true},
	"nosymfollow":   {unix.MS_NOSYMFOLLOW, false},
	"symfollow":     {unix.MS_NOSYMFOLLOW, true},
	"bind":          {unix.MS_BIND, false},
	"rbind":         {unix.MS_BIND | unix.MS_REC, false},
}

// propagationByName is every propagation option.
var propagationByName = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// mountAttrOption is a recursive option for mount_setattr(2).
type mountAttrOption struct {
	attr  uint64
	clear bool
}

// mountAttrTable is every recursive ("r"-prefixed) option runtime-spec
// defines for mount_setattr. The access-time attributes are an enum, not
// bits: "rnoatime", "rstrictatime" and "rrelatime" select one, and the
// clearing forms ("ratime", "rnostrictatime", "rnorelatime") return to the
// kernel's default, relatime (MOUNT_ATTR_RELATIME is 0). Clearing one
// atime bit alone would be refused with EINVAL.
var mountAttrTable = map[string]mountAttrOption{
	"rro":            {unix.MOUNT_ATTR_RDONLY, false},
	"rrw":            {unix.MOUNT_ATTR_RDONLY, true},
	"rnosuid":        {unix.MOUNT_ATTR_NOSUID, false},
	"rsuid":          {unix.MOUNT_ATTR_NOSUID, true},
	"rnodev":         {unix.MOUNT_ATTR_NODEV, false},
	"rdev":           {unix.MOUNT_ATTR_NODEV, true},
	"rnoexec":        {unix.MOUNT_ATTR_NOEXEC, false},
	"rexec":          {unix.MOUNT_ATTR_NOEXEC, true},
	"rnodiratime":    {unix.MOUNT_ATTR_NODIRATIME, false},
	"rdiratime":      {unix.MOUNT_ATTR_NODIRATIME, true},
	"rnosymfollow":   {unix.MOUNT_ATTR_NOSYMFOLLOW, false},
	"rsymfollow":     {unix.MOUNT_ATTR_NOSYMFOLLOW, true},
	"rnoatime":       {unix.MOUNT_ATTR_NOATIME, false},
	"ratime":         {unix.MOUNT_ATTR_RELATIME, false},
	"rstrictatime":   {unix.MOUNT_ATTR_STRICTATIME, false},
	"rnostrictatime": {unix.MOUNT_ATTR_RELATIME, false},
	"rrelatime":      {unix.MOUNT_ATTR_RELATIME, false},
	"rnorelatime":    {unix.MOUNT_ATTR_RELATIME, false},
}

// atimeOptions are the mountAttrTable entries that select an atime mode.
var atimeOptions = map[string]bool{
	"rnoatime": true, "ratime": true, "rstrictatime": true, "rnostrictatime": true, "rrelatime": true, "rnorelatime": true,
}

// ParseMountOptions splits a mount's options into flags, propagation,
// filesystem data and recursive attributes, applying them in order. It
// never fails: an option the table does not know goes to Data for the
// filesystem to accept or refuse, as runc does.
func ParseMountOptions(opts []string) MountOpts {
	var o MountOpts
	var data []string
	for _, opt := range opts {
		if f, ok := mountFlagTable[opt]; ok {
			if f.clear {
				o.Flags &^= f.flag
				o.Cleared |= f.flag
			} else {
				o.Flags |= f.flag
				o.Cleared &^= f.flag
			}
			continue
		}
		if p, ok := propagationByName[opt]; ok {
			o.Propagation = p
			continue
		}
		if a, ok := mountAttrTable[opt]; ok {
			switch {
			case atimeOptions[opt]:
				o.AttrSet = o.AttrSet&^unix.MOUNT_ATTR__ATIME | a.attr
				o.AttrClr |= unix.MOUNT_ATTR__ATIME
			case a.clear:
				o.AttrSet &^= a.attr
				o.AttrClr |= a.attr
			default:
				o.AttrSet |= a.attr
				o.AttrClr &^= a.attr
			}
			continue
		}
		switch opt {
		case "idmap":
			o.IDMap = true
		case "ridmap":
			o.IDMap, o.RecursiveIDMap = true, true
		case "tmpcopyup":
			o.TmpCopyUp = true
		case "":
		default:
			data = append(data, opt)
		}
	}
	o.Data = strings.Join(data, ",")
	return o
}

// MountOptionNames lists every option ParseMountOptions knows, sorted, for
// the features command.
func MountOptionNames() []string {
	var names []string
	for n := range mountFlagTable {
		names = append(names, n)
	}
	for n := range propagationByName {
		names = append(names, n)
	}
	for n := range mountAttrTable {
		names = append(names, n)
	}
	names = append(names, "idmap", "ridmap", "tmpcopyup")
	sort.Strings(names)
	return names
}

// IsBind reports whether m is a bind mount: type "bind", or a "bind" or
// "rbind" option (runtime-spec leaves the type of a bind mount free; runc
// and crun accept "bind" and "none").
func IsBind(m rspec.Mount) bool {
	return m.Type == "bind" || ParseMountOptions(m.Options).Flags&unix.MS_BIND != 0
}
