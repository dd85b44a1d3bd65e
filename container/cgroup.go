package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

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
// with v1 hierarchies, written into each while it waits at
// PointNamespaces, before any of its code can fork.

// cgroupPlan is what a start needs to know of the container's cgroup
// before it compiles: the host, the path, and whether a v1 hierarchy
// will need the process's pid written at PointNamespaces. A nil plan is
// a container without a cgroup (an unprivileged minirun asked for no
// limit, which it could not make anyway).
type cgroupPlan struct {
	host *cgroups.Host
	path string
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

// enters reports whether the process must be written into a v1 hierarchy
// at PointNamespaces.
func (p *cgroupPlan) enters() bool { return p != nil && p.host.Kind() != cgroups.V2 }

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
// directory, and written into each v1 hierarchy at PointNamespaces.
type cgroupJoin struct {
	into  *os.File            // for CLONE_INTO_CGROUP; nil without cgroup2
	enter func(pid int) error // the v1 writes; nil when there are none
}

func (j cgroupJoin) close() {
	if j.into != nil {
		j.into.Close()
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
	if _, v2 := m.Paths()[""]; len(m.Paths()) > 1 || !v2 || j.into == nil {
		skipV2 := j.into != nil
		j.enter = func(pid int) error { return m.Enter(pid, skipV2) }
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
	m := p.host.Manager(p.path)
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
	if err := save(); err != nil {
		return nil, cgroupJoin{}, err
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
