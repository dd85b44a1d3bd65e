package container

import (
	"encoding/json"
	"fmt"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/statedir"
)

// StatePaused is runc's status for a frozen container (runtime-spec's
// states have none; podman and containerd read this one).
const StatePaused rspec.ContainerState = "paused"

// managed opens container id's record and cgroup for a command that acts
// on a created or running container through its cgroup.
func (rt *Runtime) managed(id, op string) (*statedir.Container, *statedir.Record, *cgroups.Manager, error) {
	c, err := rt.Dir.Open(id)
	if err != nil {
		return nil, nil, nil, err
	}
	r, err := c.Load()
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	if st := status(r); st != rspec.StateRunning && st != rspec.StateCreated {
		c.Close()
		return nil, nil, nil, fmt.Errorf("container %q: container not running (status %s); cannot %s", id, st, op)
	}
	m, err := cgroupOf(r)
	if err == nil && m == nil {
		err = fmt.Errorf("container %q has no cgroup (it was created without privilege); cannot %s", id, op)
	}
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return c, r, m, nil
}

// Pause freezes every process of the container (v1 freezer, or
// cgroup.freeze).
func (rt *Runtime) Pause(id string) error {
	c, _, m, err := rt.managed(id, "pause")
	if err != nil {
		return err
	}
	defer c.Close()
	if err := m.Freeze(); err != nil {
		return fmt.Errorf("container %q: %w", id, err)
	}
	return nil
}

// Resume thaws a paused container.
func (rt *Runtime) Resume(id string) error {
	c, _, m, err := rt.managed(id, "resume")
	if err != nil {
		return err
	}
	defer c.Close()
	if frozen, err := m.Frozen(); err == nil && !frozen {
		return fmt.Errorf("container %q is not paused", id)
	}
	if err := m.Thaw(); err != nil {
		return fmt.Errorf("container %q: %w", id, err)
	}
	return nil
}

// Update changes the resources of a running container; fields r leaves
// out stay as they are. The record keeps the new values, so exec and a
// later update see them.
func (rt *Runtime) Update(id string, r *rspec.LinuxResources) error {
	c, rec, m, err := rt.managed(id, "update")
	if err != nil {
		return err
	}
	defer c.Close()
	host, err := cgroups.DetectHost()
	if err != nil {
		return fmt.Errorf("cgroups: %w", err)
	}
	if problems := host.Check(r); len(problems) > 0 {
		return cgroups.ProblemsError(problems)
	}
	if err := m.Update(r); err != nil {
		return fmt.Errorf("container %q: %w", id, err)
	}
	state, err := json.Marshal(m.State())
	if err != nil {
		return err
	}
	rec.Cgroup = state
	return c.Save(rec)
}

// Stats returns the container's cgroup statistics, as runc's events
// --stats prints them.
func (rt *Runtime) Stats(id string) (*cgroups.Stats, error) {
	c, _, m, err := rt.managed(id, "read its stats")
	if err != nil {
		return nil, err
	}
	c.Close()
	return m.Stats()
}

// Events streams the container's stats every interval and its OOM kills
// as they happen, until stop is closed or the container is gone.
func (rt *Runtime) Events(id string, interval time.Duration, stop <-chan struct{}) (<-chan cgroups.Event, error) {
	c, _, m, err := rt.managed(id, "watch its events")
	if err != nil {
		return nil, err
	}
	c.Close()
	return m.Events(interval, stop)
}

// paused reports whether a running container's cgroup is frozen.
func paused(r *statedir.Record) bool {
	m, err := cgroupOf(r)
	if m == nil || err != nil {
		return false
	}
	frozen, err := m.Frozen()
	return err == nil && frozen
}
