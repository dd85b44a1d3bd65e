package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/specs"
	"github.com/minirun/minirun/statedir"
)

// Every container gets a cgroup, as runc gives one: its limits live there,
// its device rules are enforced there, and it is how delete and kill --all
// find every process of it, orphans of a container without a PID
// namespace included. The cgroup is made before the clone; the process is
// cloned into its cgroup2 directory (CLONE_INTO_CGROUP) and, on a host
// with v1 hierarchies, joins each by itself as its first steps, before any
// of its code can fork (childprog's joinCgroups says why it, not minirun).

// cgroupPlan is what a start needs to know of the container's cgroup
// before it compiles: the host, the path, and the v1 hierarchies the
// process will join. A nil plan is a container without a cgroup (an
// unprivileged minirun asked for no limit, which it could not make
// anyway).
type cgroupPlan struct {
	host *cgroups.Host
	path string
	m    *cgroups.Manager // made by manager
}

// manager is the container's cgroup, not made yet.
func (p *cgroupPlan) manager() *cgroups.Manager {
	if p.m == nil {
		p.m = p.host.Manager(p.path)
	}
	return p.m
}

// note records where the container's cgroup will be in r, so that the
// record's first save has it: a start killed from then on leaves the
// cgroup for delete --force to find, and create need not save before it
// makes it.
func (p *cgroupPlan) note(r *statedir.Record) error {
	if p == nil {
		return nil
	}
	state, err := json.Marshal(p.manager().State())
	if err != nil {
		return err
	}
	r.Cgroup = state
	return nil
}

// planCgroup checks linux.resources against this host, one line per field
// it cannot apply, and resolves linux.cgroupsPath.
func planCgroup(b *specs.Bundle, id string, rootless bool) (*cgroupPlan, error) {
	var r *rspec.LinuxResources
	cgPath := ""
	if l := b.Spec.Linux; l != nil {
		r, cgPath = l.Resources, l.CgroupsPath
	}
	if rootless && !asksLimits(r) {
		// No cgroup is delegated to an unprivileged user here, and
		// nothing asked for needs one: runc goes without too.
		return nil, nil
	}
	host, err := cgroups.DetectHost()
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	var errs []specs.FieldError
	for _, p := range host.Check(r) {
		errs = append(errs, specs.FieldError{Path: p.Path, Msg: p.Msg})
	}
	if len(errs) > 0 {
		return nil, &specs.ValidationError{File: b.Path, Errs: errs}
	}
	path, err := cgroups.ResolvePath(cgPath, id)
	if err != nil {
		return nil, &specs.ValidationError{File: b.Path, Errs: []specs.FieldError{{Msg: err.Error()}}}
	}
	return &cgroupPlan{host: host, path: path}, nil
}

// asksLimits reports whether r asks for anything but device rules.
func asksLimits(r *rspec.LinuxResources) bool {
	if r == nil {
		return false
	}
	c := *r
	c.Devices = nil
	return !isZero(c)
}

func isZero(r rspec.LinuxResources) bool {
	data, _ := json.Marshal(r)
	return string(data) == "{}"
}

// tasks names the v1 hierarchies the process will join, in the order
// joinOf opens their tasks files.
func (p *cgroupPlan) tasks() []string {
	if p == nil {
		return nil
	}
	names, _ := v1Dirs(p.host.Manager(p.path))
	return names
}

// v1Dirs lists the container's directory in each v1 hierarchy once
// (controllers mounted together share one), named by the first of its
// keys in sorted order.
func v1Dirs(m *cgroups.Manager) (names, dirs []string) {
	paths := m.Paths()
	keys := make([]string, 0, len(paths))
	for k := range paths {
		if k != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(dirs, paths[k]) {
			names, dirs = append(names, k), append(dirs, paths[k])
		}
	}
	return names, dirs
}

// both runs f and then g at one point.
func both(f, g func(pid int) error) func(pid int) error {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(pid int) error {
		if err := f(pid); err != nil {
			return err
		}
		return g(pid)
	}
}

// cgroupJoin is how a process gets into a cgroup: cloned into its cgroup2
// directory, and joining each v1 hierarchy by itself, through its tasks
// file.
type cgroupJoin struct {
	into *os.File // for CLONE_INTO_CGROUP; nil without cgroup2
	// names and tasks are the v1 hierarchies and their tasks files,
	// opened for writing (CompileEnv.CgroupTasks).
	names []string
	tasks []*os.File
	enter func(pid int) error // a cgroup2 write at PointNamespaces; nil when there is none
}

func (j cgroupJoin) close() {
	if j.into != nil {
		j.into.Close()
	}
	for _, f := range j.tasks {
		f.Close()
	}
}

// joinOf opens what a process needs to join m.
func joinOf(m *cgroups.Manager) (cgroupJoin, error) {
	var j cgroupJoin
	if fd, err := m.IntoFD(); err == nil {
		j.into = os.NewFile(uintptr(fd), "cgroup "+m.Path())
	} else if !errors.Is(err, cgroups.ErrNoCgroup2) {
		return j, err
	}
	names, dirs := v1Dirs(m)
	for _, d := range dirs {
		// unix.Open, not os.OpenFile: the file is the child's to write,
		// and os would register it with Go's poller on the way (three
		// more system calls each).
		fd, err := unix.Open(filepath.Join(d, "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			j.close()
			return cgroupJoin{}, fmt.Errorf("opening cgroup %s: %w", d, err)
		}
		j.tasks = append(j.tasks, os.NewFile(uintptr(fd), filepath.Join(d, "tasks")))
	}
	j.names = names
	if dir, v2 := m.Paths()[""]; v2 && j.into == nil {
		j.enter = func(pid int) error {
			if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
				return fmt.Errorf("moving process %d into its cgroup %s: %w", pid, dir, unwrapPath(err))
			}
			return nil
		}
	}
	return j, nil
}

// create makes the container's cgroup with its limits and device rules,
// recorded before it is made (so a create killed from here on leaves it
// for delete --force), and returns how its process joins it.
func (p *cgroupPlan) create(c *statedir.Container, r *statedir.Record, b *specs.Bundle) (*cgroups.Manager, cgroupJoin, error) {
	if p == nil {
		return nil, cgroupJoin{}, nil
	}
	m := p.manager()
	var res *rspec.LinuxResources
	var devs []rspec.LinuxDevice
	if l := b.Spec.Linux; l != nil {
		res, devs = l.Resources, l.Devices
	}
	save := func() error {
		state, err := json.Marshal(m.State())
		if err != nil {
			return err
		}
		r.Cgroup = state
		return c.Save(r)
	}
	if r.Cgroup == nil {
		if err := save(); err != nil {
			return nil, cgroupJoin{}, err
		}
	}
	if err := m.Create(res, devs); err != nil {
		return nil, cgroupJoin{}, fmt.Errorf("cgroups: %w", err)
	}
	if err := save(); err != nil {
		m.Destroy()
		return nil, cgroupJoin{}, err
	}
	j, err := joinOf(m)
	if err != nil {
		m.Destroy()
		return nil, cgroupJoin{}, fmt.Errorf("cgroups: %w", err)
	}
	return m, j, nil
}

// cgroupOf loads the recorded cgroup of a container; nil if it has none.
func cgroupOf(r *statedir.Record) (*cgroups.Manager, error) {
	if len(r.Cgroup) == 0 {
		return nil, nil
	}
	var s cgroups.State
	if err := json.Unmarshal(r.Cgroup, &s); err != nil {
		return nil, fmt.Errorf("container %q: its cgroup record: %w", r.ID, err)
	}
	m, err := cgroups.Load(s)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", r.ID, err)
	}
	return m, nil
}

// joinCgroup is how a process started in a running container joins its
// cgroup; a zero cgroupJoin when the container has none.
func joinCgroup(r *statedir.Record) (cgroupJoin, error) {
	m, err := cgroupOf(r)
	if m == nil || err != nil {
		return cgroupJoin{}, err
	}
	j, err := joinOf(m)
	if err != nil {
		return j, fmt.Errorf("container %q: %w", r.ID, err)
	}
	return j, nil
}

// signalCgroup signals every process of the container's cgroup (with
// SIGKILL through cgroup.kill where there is one); false when the
// container has no cgroup.
func signalCgroup(r *statedir.Record, sig unix.Signal) (bool, error) {
	m, err := cgroupOf(r)
	if m == nil || err != nil {
		return false, err
	}
	return true, m.Signal(sig)
}
