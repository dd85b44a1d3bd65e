package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrNoCgroup2 says the host has no cgroup2 hierarchy, so a process cannot
// be started inside the cgroup with CLONE_INTO_CGROUP.
var ErrNoCgroup2 = errors.New("this host has no cgroup2 hierarchy")

// Manager is one container's cgroup: the same path in every hierarchy
// the host has.
type Manager struct {
	h    *Host
	path string
	// dirs maps each hierarchy key ("" cgroup2, else a v1 controller) to
	// the container's directory there.
	dirs map[string]string
	// created lists the directories Create made, parents first: what a
	// failed Create removes, and parents Destroy may remove.
	created           []string
	devices           []rspec.LinuxDeviceCgroup
	checkBeforeUpdate bool
}

// Manager returns the manager of the cgroup at path (from ResolvePath).
// Nothing is touched until Create.
func (h *Host) Manager(cgroupPath string) *Manager {
	m := &Manager{h: h, path: path.Clean("/" + cgroupPath), dirs: map[string]string{}}
	for k, mnt := range h.v1 {
		m.dirs[k] = filepath.Join(mnt, m.path)
	}
	if h.v2 != "" {
		m.dirs[""] = filepath.Join(h.v2, m.path)
	}
	return m
}

// Path is the cgroup path, the same in every hierarchy.
func (m *Manager) Path() string { return m.path }

// Paths maps each hierarchy to the container's directory there: v1
// controllers by name ("memory", "name=systemd"), the cgroup2 one by "".
func (m *Manager) Paths() map[string]string {
	p := make(map[string]string, len(m.dirs))
	for k, v := range m.dirs {
		p[k] = v
	}
	return p
}

// uniqueDirs lists the container's directories once each (controllers
// mounted together share one), in a stable order.
func (m *Manager) uniqueDirs(withV2 bool) []string {
	var dirs []string
	for k, d := range m.dirs {
		if k == "" && !withV2 {
			continue
		}
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	return dirs
}

// Create makes the cgroup in every hierarchy and applies r and the
// device rules (linux.resources.devices, then the default devices and
// those of linux.devices) before any process is in it. Any problem Check
// would report stops it before anything is made; on any later failure it
// removes everything it made.
func (m *Manager) Create(r *rspec.LinuxResources, devices []rspec.LinuxDevice) (err error) {
	p := m.h.plan(r, devices, false)
	if len(p.problems) > 0 {
		return ProblemsError(p.problems)
	}
	defer func() {
		if err != nil {
			m.removeCreated()
		}
	}()
	if err := m.makeDirs(); err != nil {
		return err
	}
	if err := m.enable(p.need); err != nil {
		return err
	}
	if err := m.run(p.steps); err != nil {
		return err
	}
	if r != nil {
		m.devices = slices.Clone(r.Devices)
		if r.Memory != nil && r.Memory.CheckBeforeUpdate != nil {
			m.checkBeforeUpdate = *r.Memory.CheckBeforeUpdate
		}
	}
	return nil
}

// makeDirs makes the container's directory in each hierarchy, with any
// parent missing. A directory already there is taken if no process is in
// it (runtime-spec: a non-empty cgroup is unfit for a new container).
func (m *Manager) makeDirs() error {
	if m.path == "/" {
		return errors.New("the root cgroup cannot be a container's cgroup")
	}
	for _, k := range m.keysByDir() {
		dir := m.dirs[k]
		mnt := m.h.mount(k)
		made, err := m.mkdirAll(mnt, dir)
		if err != nil {
			return err
		}
		if made {
			continue // new, so empty
		}
		if pids, err := readPids(dir); err != nil {
			return err
		} else if len(pids) > 0 {
			return fmt.Errorf("cgroup %s already has processes in it (%d)", dir, len(pids))
		}
	}
	return nil
}

// keysByDir lists one key per distinct directory.
func (m *Manager) keysByDir() []string {
	seen := map[string]bool{}
	var keys []string
	all := make([]string, 0, len(m.dirs))
	for k := range m.dirs {
		all = append(all, k)
	}
	slices.Sort(all)
	for _, k := range all {
		if !seen[m.dirs[k]] {
			seen[m.dirs[k]] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// mkdirAll makes dir and its missing parents below mnt, recording what
// it made, and reports whether it made dir itself. A parent another
// container's Destroy removes between two mkdirs is made again.
func (m *Manager) mkdirAll(mnt, dir string) (made bool, err error) {
	rel, err := filepath.Rel(mnt, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false, fmt.Errorf("%s is not under %s", dir, mnt)
	}
	for attempt := 0; ; attempt++ {
		cur := mnt
		for _, part := range strings.Split(rel, "/") {
			cur = filepath.Join(cur, part)
			if err = unix.Mkdir(cur, 0o755); err == nil {
				made = true
				m.created = append(m.created, cur)
				if err := m.initDir(mnt, cur); err != nil {
					return false, err
				}
				if err := m.initParent(mnt, cur); err != nil {
					return false, err
				}
				continue
			}
			made = false
			if err == unix.EEXIST {
				// Another container may have made it a moment ago and
				// not filled it yet: a cpuset left empty would pass its
				// emptiness on to ours.
				if err := m.initDir(mnt, cur); err != nil {
					return false, err
				}
				err = nil
				continue
			}
			break
		}
		if err == nil {
			return made, nil
		}
		if err != unix.ENOENT || attempt == 5 {
			return false, fmt.Errorf("making cgroup %s: %w", cur, err)
		}
	}
}

// initDir prepares a new directory: a v1 cpuset cgroup starts with no
// CPUs and no memory nodes, and no task can join it until it has some
// (ENOSPC), so it takes its parent's. It is called for a parent that
// existed already too: made by a concurrent Create, which may not have
// filled it yet (writing the same values twice is harmless).
func (m *Manager) initDir(mnt, dir string) error {
	if cs, ok := m.h.v1["cpuset"]; !ok || cs != mnt {
		return nil
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		v, err := readFile(dir, f)
		if err != nil {
			return err
		}
		if v != "" {
			continue
		}
		pv, err := readFile(filepath.Dir(dir), f)
		if err != nil {
			return err
		}
		if err := writeFile(dir, f, pv); err != nil {
			return err
		}
	}
	return nil
}

// initParent prepares minirun's parent cgroup (Parent) in a v1 cpuset
// hierarchy, when Create has just made it: with cgroup.clone_children
// set, each container's cpuset directory made below it starts with the
// parent's CPUs and memory nodes, and initDir finds nothing to copy.
func (m *Manager) initParent(mnt, dir string) error {
	if cs, ok := m.h.v1["cpuset"]; !ok || cs != mnt || dir != filepath.Join(mnt, Parent) {
		return nil
	}
	return writeFile(dir, "cgroup.clone_children", "1")
}

// removeCreated undoes makeDirs after a failed Create.
func (m *Manager) removeCreated() {
	for i := len(m.created) - 1; i >= 0; i-- {
		_ = rmdirRetry(m.created[i])
	}
	m.created = nil
}

// enable turns the cgroup2 controllers the steps need on in every
// ancestor's cgroup.subtree_control, from the mount down, so the
// container's directory has their files. memory and pids are turned on
// too where the cgroup2 hierarchy has them, for Stats.
func (m *Manager) enable(need map[string]bool) error {
	dir, ok := m.dirs[""]
	if !ok {
		return nil
	}
	var ctrls []string
	for c := range need {
		ctrls = append(ctrls, c)
	}
	for _, c := range []string{"memory", "pids"} {
		if m.h.v2ctl[c] && !need[c] {
			ctrls = append(ctrls, c)
		}
	}
	if len(ctrls) == 0 {
		return nil
	}
	slices.Sort(ctrls)
	for _, c := range ctrls {
		if !m.h.v2ctl[c] {
			return fmt.Errorf("the %s controller is not on the cgroup2 hierarchy at %s", c, m.h.v2)
		}
	}
	rel, err := filepath.Rel(m.h.v2, dir)
	if err != nil {
		return err
	}
	cur := m.h.v2
	for _, part := range strings.Split(rel, "/") {
		have, err := readFile(cur, "cgroup.subtree_control")
		if err != nil {
			return err
		}
		var add []string
		for _, c := range ctrls {
			if !slices.Contains(strings.Fields(have), c) {
				add = append(add, "+"+c)
			}
		}
		if len(add) > 0 {
			if err := writeFile(cur, "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
				return fmt.Errorf("enabling the %s controllers: %w", strings.Join(ctrls, ", "), err)
			}
		}
		cur = filepath.Join(cur, part)
	}
	return nil
}

// run carries out the steps, stopping at the first error, which names
// the field.
func (m *Manager) run(steps []step) error {
	for _, s := range steps {
		dir, ok := m.dirs[s.key]
		if !ok {
			return fmt.Errorf("%s: the container has no cgroup in the hierarchy for it", s.field)
		}
		if s.run != nil {
			if err := s.run(dir); err != nil {
				return fmt.Errorf("%s: %w", s.field, err)
			}
			continue
		}
		if s.ifExists && !fileExists(filepath.Join(dir, s.file)) {
			continue
		}
		if err := writeFile(dir, s.file, s.value); err != nil {
			if s.explain != nil {
				err = s.explain(dir, err)
			}
			return fmt.Errorf("%s: %w", s.field, err)
		}
	}
	return nil
}

// IntoFD opens the container's cgroup2 directory for clone3's
// CLONE_INTO_CGROUP, which starts the child inside it with no write to
// cgroup.procs. The caller closes the fd. ErrNoCgroup2 when the host has
// no cgroup2 hierarchy: then Enter does it all.
func (m *Manager) IntoFD() (int, error) {
	dir, ok := m.dirs[""]
	if !ok {
		return -1, ErrNoCgroup2
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening cgroup %s: %w", dir, err)
	}
	return fd, nil
}

// Enter moves process pid into the container's cgroup in every v1
// hierarchy, and in the cgroup2 one unless skipV2 (the process was
// started there with CLONE_INTO_CGROUP). The caller holds the process
// at a sync step meanwhile, so it forks nothing before it is inside.
func (m *Manager) Enter(pid int, skipV2 bool) error {
	if pid <= 0 {
		// 0 in cgroup.procs means the writer: minirun itself.
		return fmt.Errorf("moving process %d into its cgroup: not a process", pid)
	}
	for _, k := range m.keysByDir() {
		if k == "" && skipV2 {
			continue
		}
		if err := writeFile(m.dirs[k], "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("moving process %d into its cgroup: %w", pid, err)
		}
	}
	return nil
}

// Update applies r to the running container's cgroup (minirun update).
// Fields r leaves out stay as they are. Device rules cannot change while
// the container runs (the change could not be made at once); the same
// rules again are accepted. With memory.checkBeforeUpdate (from r or from
// Create), a memory limit below what the container uses now is refused.
// The caller saves State afterwards.
func (m *Manager) Update(r *rspec.LinuxResources) error {
	if r == nil {
		return nil
	}
	p := m.h.plan(r, nil, true)
	problems := p.problems
	if r.Devices != nil && !devicesEqual(r.Devices, m.devices) {
		problems = append(problems, Problem{Path: "linux.resources.devices", Msg: "device rules cannot change while the container runs"})
	}
	if len(problems) > 0 {
		return ProblemsError(problems)
	}
	check := m.checkBeforeUpdate
	if r.Memory != nil && r.Memory.CheckBeforeUpdate != nil {
		check = *r.Memory.CheckBeforeUpdate
	}
	if check && r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit != -1 {
		usage, err := m.memoryUsage()
		if err != nil {
			return fmt.Errorf("linux.resources.memory.checkBeforeUpdate: %w", err)
		}
		if usage > uint64(*r.Memory.Limit) {
			return fmt.Errorf("linux.resources.memory.limit: %d is below the %d bytes the container uses now (checkBeforeUpdate)", *r.Memory.Limit, usage)
		}
	}
	if err := m.enable(p.need); err != nil {
		return err
	}
	if err := m.run(p.steps); err != nil {
		return err
	}
	if r.Memory != nil && r.Memory.CheckBeforeUpdate != nil {
		m.checkBeforeUpdate = *r.Memory.CheckBeforeUpdate
	}
	return nil
}

func devicesEqual(a, b []rspec.LinuxDeviceCgroup) bool {
	return slices.EqualFunc(a, b, func(x, y rspec.LinuxDeviceCgroup) bool {
		eq := func(p, q *int64) bool { return (p == nil) == (q == nil) && (p == nil || *p == *q) }
		return x.Allow == y.Allow && x.Type == y.Type && x.Access == y.Access && eq(x.Major, y.Major) && eq(x.Minor, y.Minor)
	})
}

func (m *Manager) memoryUsage() (uint64, error) {
	key, ok := m.h.where("memory")
	if !ok {
		return 0, errors.New(m.h.missing("memory"))
	}
	if key == "" {
		return readUint(m.dirs[""], "memory.current")
	}
	return readUint(m.dirs[key], "memory.usage_in_bytes")
}

// Destroy kills every process left in the cgroup, removes the
// container's directory (and any cgroup the container made below it) in
// every hierarchy, then the parents Create made or that sit in minirun's
// own /minirun, when no other container uses them. Removing what is
// already gone is no error.
func (m *Manager) Destroy() error {
	if pids, _ := m.Pids(); len(pids) > 0 {
		_ = m.Signal(unix.SIGKILL)
		if dir, ok := m.dirs["freezer"]; ok {
			// v1-frozen tasks cannot die: let them.
			_ = writeFile(dir, "freezer.state", "THAWED")
		}
	}
	var errs []error
	for _, dir := range m.uniqueDirs(true) {
		if err := removeTree(dir); err != nil {
			errs = append(errs, err)
		}
	}
	// Parents go too, when empty, if this Manager made them or they lie
	// below minirun's Parent; Parent itself stays, as it is every
	// container's (docs/design.md, rule 18).
	for _, k := range m.keysByDir() {
		mnt := m.h.mount(k)
		parent := filepath.Join(mnt, Parent)
		for dir := filepath.Dir(m.dirs[k]); dir != mnt && dir != parent && strings.HasPrefix(dir, mnt+"/"); dir = filepath.Dir(dir) {
			ours := slices.Contains(m.created, dir) || strings.HasPrefix(dir, parent+"/")
			if !ours || unix.Rmdir(dir) != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// removeTree removes a cgroup directory and every cgroup below it,
// deepest first. A cgroup still holding a process (one killed a moment
// ago and not yet gone) refuses rmdir with EBUSY: it is killed again and
// the rmdir retried for a while.
func removeTree(dir string) error {
	// Most often there is nothing below: try at once.
	switch err := unix.Rmdir(dir); err {
	case nil, unix.ENOENT:
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return rmdirRetry(dir)
}

func rmdirRetry(dir string) error {
	wait := 100 * time.Microsecond
	for i := 0; ; i++ {
		err := unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || i == 60 {
			return fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		if pids, _ := readPids(dir); len(pids) > 0 {
			for _, pid := range pids {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// State is what a later minirun command needs to find the cgroup again:
// saved in the container's state file, read back with Load.
type State struct {
	// Path is the cgroup path, the same in every hierarchy.
	Path string `json:"path"`
	// Mounts maps each hierarchy the container uses to its mount point:
	// v1 controllers by name, the cgroup2 hierarchy by "".
	Mounts map[string]string `json:"mounts"`
	// Created lists the directories Create made, parents first.
	Created []string `json:"created,omitempty"`
	// Devices are the linux.resources.devices rules applied.
	Devices []rspec.LinuxDeviceCgroup `json:"devices,omitempty"`
	// CheckBeforeUpdate is memory.checkBeforeUpdate as last set.
	CheckBeforeUpdate bool `json:"checkBeforeUpdate,omitempty"`
}

// State returns what to save.
func (m *Manager) State() State {
	s := State{Path: m.path, Mounts: map[string]string{}, Created: slices.Clone(m.created),
		Devices: slices.Clone(m.devices), CheckBeforeUpdate: m.checkBeforeUpdate}
	for k := range m.dirs {
		s.Mounts[k] = m.h.mount(k)
	}
	return s
}

// Load rebuilds a Manager from a saved State. Every mount must still be
// a cgroup filesystem.
func Load(s State) (*Manager, error) {
	if !strings.HasPrefix(s.Path, "/") || path.Clean(s.Path) != s.Path || s.Path == "/" {
		return nil, fmt.Errorf("cgroup state: %q is not a container cgroup path", s.Path)
	}
	h := &Host{v1: map[string]string{}, exists: fileExists}
	checked := map[string]bool{}
	for k, mnt := range s.Mounts {
		if !filepath.IsAbs(mnt) {
			return nil, fmt.Errorf("cgroup state: mount %q is not absolute", mnt)
		}
		if !checked[mnt] {
			var st unix.Statfs_t
			if err := unix.Statfs(mnt, &st); err != nil {
				return nil, fmt.Errorf("cgroup state: %s: %w", mnt, err)
			}
			want := int64(unix.CGROUP_SUPER_MAGIC)
			if k == "" {
				want = unix.CGROUP2_SUPER_MAGIC
			}
			if int64(st.Type) != want {
				return nil, fmt.Errorf("cgroup state: %s is no longer the cgroup mount it was", mnt)
			}
			checked[mnt] = true
		}
		if k == "" {
			h.v2 = mnt
		} else {
			h.v1[k] = mnt
		}
	}
	if h.kind = kindOf(h.v1, h.v2); h.kind == 0 {
		return nil, errors.New("cgroup state: no hierarchy")
	}
	if h.v2 != "" {
		var err error
		if h.v2ctl, err = readControllers(h.v2); err != nil {
			return nil, err
		}
	}
	h.hugePages = readHugePageSizes("/sys/kernel/mm/hugepages")
	m := h.Manager(s.Path)
	m.created = slices.Clone(s.Created)
	m.devices = slices.Clone(s.Devices)
	m.checkBeforeUpdate = s.CheckBeforeUpdate
	return m, nil
}
