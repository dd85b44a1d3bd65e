package container

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/namespaces"
	"github.com/minirun/minirun/statedir"
)

// Processes lists the host pids of every process of container id.
func (rt *Runtime) Processes(id string) ([]int, error) {
	r, err := rt.Dir.Read(id)
	if err != nil {
		return nil, err
	}
	if st := status(r); st != rspec.StateRunning && st != rspec.StateCreated {
		return nil, nil
	}
	return processes(r)
}

// processes finds the container's processes: those of its cgroup; for a
// container without one, with a PID namespace of its own, every process
// in it, and without, its process and that process's descendants.
func processes(r *statedir.Record) ([]int, error) {
	if m, err := cgroupOf(r); m != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return m.Pids()
	}
	if r.Pid == 0 || statedir.Check(r.Pid, r.PidStart) == statedir.Gone {
		return nil, nil
	}
	if r.Config != nil && r.Config.Linux != nil && namespaces.Has(r.Config.Linux.Namespaces, rspec.PIDNamespace) {
		return inNamespace(r.Pid)
	}
	return descendants(r.Pid)
}

// inNamespace lists the processes whose PID namespace is pid's.
func inNamespace(pid int) ([]int, error) {
	info, _ := namespaces.ByType(rspec.PIDNamespace)
	want, err := os.Readlink(info.ProcPath(pid))
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	var pids []int
	for _, p := range allPids() {
		if got, err := os.Readlink(info.ProcPath(p)); err == nil && got == want {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// descendants lists pid and every process below it in the process tree.
func descendants(pid int) ([]int, error) {
	children := map[int][]int{}
	for _, p := range allPids() {
		if pp, ok := ppid(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	sort.Ints(out)
	return out, nil
}

func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// ppid reads field 4 of /proc/PID/stat, counted from the command's ')'.
func ppid(pid int) (int, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// killAll signals every process of the container: through its cgroup
// (cgroup.kill for SIGKILL where there is one), or for a container
// without one, the container's own process first (killing a PID
// namespace's init kills the rest).
func (rt *Runtime) killAll(r *statedir.Record, sig unix.Signal) error {
	if ok, err := signalCgroup(r, sig); ok {
		return err
	}
	err := rt.kill(r, sig)
	pids, perr := processes(r)
	for _, p := range pids {
		if p == r.Pid {
			continue
		}
		if e := unix.Kill(p, sig); e != nil && !errors.Is(e, unix.ESRCH) && err == nil {
			err = fmt.Errorf("container %q: signal process %d: %w", r.ID, p, e)
		}
	}
	if err == nil {
		err = perr
	}
	return err
}
