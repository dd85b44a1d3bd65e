package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// How long a freeze may take to settle before it is called off. Tasks
// stopped in uninterruptible sleep (disk, NFS) freeze only when they wake.
const freezeTimeout = 5 * time.Second

// freezer says which freezer serves the container: the v1 freezer
// hierarchy's directory, or the cgroup2 directory (cgroup.freeze).
func (m *Manager) freezer() (dir string, v2 bool, err error) {
	if d, ok := m.dirs["freezer"]; ok {
		return d, false, nil
	}
	if d, ok := m.dirs[""]; ok {
		return d, true, nil
	}
	return "", false, errors.New("this host has no freezer")
}

// Freeze stops every process in the cgroup and returns once all are
// frozen: v1's freezer.state reads FROZEN, or cgroup2's cgroup.events
// says "frozen 1". If they do not all freeze in time the cgroup is
// thawed again and an error returned.
func (m *Manager) Freeze() error {
	dir, v2, err := m.freezer()
	if err != nil {
		return err
	}
	if v2 {
		if err := writeFile(dir, "cgroup.freeze", "1"); err != nil {
			return err
		}
		if err := waitEvent(dir, "frozen", "1", freezeTimeout); err != nil {
			_ = writeFile(dir, "cgroup.freeze", "0")
			return fmt.Errorf("freezing %s: %w", dir, err)
		}
		return nil
	}
	deadline := time.Now().Add(freezeTimeout)
	wait := 50 * time.Microsecond
	for i := 0; ; i++ {
		// Writing FROZEN again nudges tasks that were busy forking or
		// exiting when the freeze began.
		if i%8 == 0 {
			if err := writeFile(dir, "freezer.state", "FROZEN"); err != nil {
				return err
			}
		}
		state, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		if state == "FROZEN" {
			return nil
		}
		if time.Now().After(deadline) {
			_ = writeFile(dir, "freezer.state", "THAWED")
			return fmt.Errorf("freezing %s: still %s after %v (a task in uninterruptible sleep?)", dir, state, freezeTimeout)
		}
		time.Sleep(wait)
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// Thaw lets the cgroup's processes run again.
func (m *Manager) Thaw() error {
	dir, v2, err := m.freezer()
	if err != nil {
		return err
	}
	if !v2 {
		return writeFile(dir, "freezer.state", "THAWED")
	}
	if err := writeFile(dir, "cgroup.freeze", "0"); err != nil {
		return err
	}
	return waitEvent(dir, "frozen", "0", freezeTimeout)
}

// Frozen reports whether the cgroup is frozen: v1's freezer.state is
// FROZEN (not FREEZING), or cgroup2's cgroup.events says "frozen 1".
func (m *Manager) Frozen() (bool, error) {
	dir, v2, err := m.freezer()
	if err != nil {
		return false, err
	}
	if v2 {
		ev, err := readKeyed(dir, "cgroup.events")
		if err != nil {
			return false, err
		}
		return ev["frozen"] == 1, nil
	}
	state, err := readFile(dir, "freezer.state")
	return state == "FROZEN", err
}

// waitEvent waits until cgroup.events in dir holds "key value". The
// kernel signals a change of the file with POLLPRI.
func waitEvent(dir, key, value string, timeout time.Duration) error {
	fd, err := unix.Open(filepath.Join(dir, "cgroup.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 256)
	want := key + " " + value
	for {
		n, err := unix.Pread(fd, buf, 0)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == want {
				return nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("cgroup.events did not say %q within %v", want, timeout)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		if _, err := unix.Poll(fds, int(min(left, 100*time.Millisecond)/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return err
		}
	}
}

// primary is the directory that lists every process of the container:
// the cgroup2 one (every process is in it, on a hybrid host too), else a
// v1 one, the freezer's first as Signal freezes that.
func (m *Manager) primary() string {
	for _, k := range []string{"", "freezer", "pids", "memory"} {
		if d, ok := m.dirs[k]; ok {
			return d
		}
	}
	dirs := m.uniqueDirs(true)
	if len(dirs) == 0 {
		return ""
	}
	return dirs[0]
}

// Pids lists every process in the cgroup and in the cgroups below it,
// sorted (minirun ps, kill --all).
func (m *Manager) Pids() ([]int, error) {
	dir := m.primary()
	if dir == "" {
		return nil, errors.New("the container has no cgroup")
	}
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		ps, err := readPids(p)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		pids = append(pids, ps...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// Signal sends sig to every process in the cgroup (minirun kill --all).
// SIGKILL on a cgroup2 cgroup goes through cgroup.kill, which the kernel
// applies to the whole subtree at once, new forks included. Otherwise the
// cgroup is frozen, so no process forks one that the list misses, each
// process is signalled, and the cgroup thawed: a frozen process takes the
// signal when it thaws.
func (m *Manager) Signal(sig unix.Signal) error {
	if sig == unix.SIGKILL {
		if dir, ok := m.dirs[""]; ok && fileExists(filepath.Join(dir, "cgroup.kill")) {
			return writeFile(dir, "cgroup.kill", "1")
		}
	}
	var errs []error
	thaw := false
	if frozen, err := m.Frozen(); err == nil && !frozen {
		if err := m.Freeze(); err != nil {
			// Signal anyway: better most processes than none.
			errs = append(errs, err)
		} else {
			thaw = true
		}
	}
	pids, err := m.Pids()
	if err != nil {
		errs = append(errs, err)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			errs = append(errs, fmt.Errorf("signalling process %d: %w", pid, err))
		}
	}
	if thaw {
		if err := m.Thaw(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
