package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// execBundle is a running container for exec: busybox, the helper at
// /helper, and a process that sleeps. It returns the container's ID and
// its process's pid.
func (e *lcEnv) execContainer(name string) (*testBundle, string, int) {
	e.t.Helper()
	tb := e.lcBundle("exec sleep 1000")
	tb.install(e.t, helperBin, "helper")
	tb.mkdirs(e.t, "work")
	tb.save(e.t)
	id := e.id(name)
	pidFile := filepath.Join(e.dir, name+".pid")
	e.ok("create", "--bundle", tb.Dir, "--pid-file", pidFile, id)
	e.ok("start", id)
	return tb, id, readPidFile(e.t, pidFile)
}

// execFacts runs the helper with exec (args before ID are exec's flags)
// and returns its facts.
func (e *lcEnv) execFacts(o mrOpts, flags []string, id string, probes ...string) *facts {
	e.t.Helper()
	args := append(append([]string{"exec"}, flags...), id)
	if len(probes) > 0 || !slices.Contains(flags, "--process") {
		args = append(append(args, "/helper"), probes...)
	}
	stdout, stderr, code := e.mrWith(o, args...)
	if code != 0 {
		e.t.Fatalf("minirun %q: got exit status %d, stderr %q, want 0", args, code, stderr)
	}
	return parseFacts(e.t, stdout)
}

// nsOf reads the namespace inodes of a process, by /proc/PID/ns.
func nsOf(t *testing.T, pid int) map[string]uint64 {
	t.Helper()
	ns, err := nsInodes(fmt.Sprintf("/proc/%d/ns", pid))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func fmtNS(m map[string]uint64) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

// TestExecJoins: an exec'd process is in every namespace of the
// container's process and in its cgroup, with the process options of the
// flags or of --process, no fd of minirun's, and its exit status comes
// back when minirun waits for it.
func TestExecJoins(t *testing.T) {
	e := newLC(t)
	_, id, cpid := e.execContainer("exec")
	want := fmtNS(nsOf(t, cpid))

	// minirun gets three more fds than stdio; none may reach the process.
	var extra []*os.File
	for range 3 {
		f, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		extra = append(extra, f)
	}

	t.Run("flags", func(t *testing.T) {
		f := e.execFacts(mrOpts{extra: extra}, []string{"--env", "FOO=bar", "--env", helperEnv + "=facts", "--cwd", "/work",
			"--user", "1000:1001", "--additional-gids", "7", "--cap", "CAP_NET_RAW"}, id,
			"read:/proc/self/cgroup")
		if got := fmtNS(f.NS); got != want {
			t.Errorf("namespaces: got %s, want the container's %s", got, want)
		}
		// In the container's cgroup namespace, its own cgroup is the root.
		for _, l := range strings.Split(strings.TrimSpace(f.Probes["read:/proc/self/cgroup"].Content), "\n") {
			if !strings.HasSuffix(l, ":/") {
				t.Errorf("/proc/self/cgroup: got line %q, want every hierarchy at / (the container's cgroup)", l)
			}
		}
		// The shell's own fds (the Go helper's runtime opens some of its
		// own: cgroup files, epoll).
		stdout, stderr, code := e.mrWith(mrOpts{extra: extra}, "exec", id, "sh", "-c", "ls /proc/$$/fd; true")
		if got := strings.Fields(stdout); code != 0 || !slices.Equal(got, []string{"0", "1", "2"}) {
			t.Errorf("the fds of a process exec'd by a minirun with fds 3, 4 and 5 open: got %q (exit status %d, stderr %q), want 0 1 2", got, code, stderr)
		}
		// The container's env, with the flags' added.
		wantEnv := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "FOO=bar", helperEnv + "=facts"}
		// A uid other than 0 keeps only its bounding set across execve
		// without ambient capabilities.
		caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}
		for _, c := range []struct{ what, got, want string }{
			{"env", fmt.Sprint(f.Env), fmt.Sprint(wantEnv)},
			{"cwd", f.Cwd, "/work"},
			{"uid gid groups", fmt.Sprint(f.UID, f.GID, f.Groups), "1000 1001 [7]"},
			{"CapBnd", f.Status["CapBnd"], capBits(t, caps...)},
			{"NoNewPrivs (the container's)", f.Status["NoNewPrivs"], "1"},
		} {
			if c.got != c.want {
				t.Errorf("%s: got %s, want %s", c.what, c.got, c.want)
			}
		}
	})

	t.Run("process file", func(t *testing.T) {
		p := rspec.Process{
			Args: []string{"/helper"}, Env: []string{helperEnv + "=facts", "ONLY=this"}, Cwd: "/bin",
			User: rspec.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{3, 4}},
			Capabilities: &rspec.LinuxCapabilities{Bounding: []string{"CAP_SYS_ADMIN", "CAP_CHOWN"},
				Effective: []string{"CAP_CHOWN"}, Permitted: []string{"CAP_CHOWN"}, Inheritable: []string{"CAP_CHOWN"}, Ambient: []string{"CAP_CHOWN"}},
			Rlimits: []rspec.POSIXRlimit{{Type: "RLIMIT_NPROC", Soft: 77, Hard: 88}},
		}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(e.dir, "process.json")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f := e.execFacts(mrOpts{}, []string{"--process", file}, id)
		for _, c := range []struct{ what, got, want string }{
			{"namespaces", fmtNS(f.NS), want},
			{"env (exactly the process's)", fmt.Sprint(f.Env), fmt.Sprint(p.Env)},
			{"cwd", f.Cwd, "/bin"},
			{"uid gid groups", fmt.Sprint(f.UID, f.GID, f.Groups), "1000 1000 [3 4]"},
			{"CapBnd", f.Status["CapBnd"], capBits(t, "CAP_SYS_ADMIN", "CAP_CHOWN")},
			{"CapEff", f.Status["CapEff"], capBits(t, "CAP_CHOWN")},
			{"CapAmb", f.Status["CapAmb"], capBits(t, "CAP_CHOWN")},
			{"NoNewPrivs", f.Status["NoNewPrivs"], "0"},
			{"RLIMIT_NPROC", fmt.Sprint(f.Rlimits["RLIMIT_NPROC"]), "[77 88]"},
		} {
			if c.got != c.want {
				t.Errorf("%s: got %s, want %s", c.what, c.got, c.want)
			}
		}
	})

	t.Run("exit status", func(t *testing.T) {
		for _, c := range []struct {
			script string
			code   int
			stdout string
		}{
			{"echo out; exit 7", 7, "out\n"},
			{"exit 0", 0, ""},
			{"kill -9 $$", 137, ""},
		} {
			stdout, stderr, code := e.mr("exec", id, "sh", "-c", c.script)
			if code != c.code || stdout != c.stdout || stderr != "" {
				t.Errorf("exec sh -c %q: got exit status %d, stdout %q, stderr %q; want %d, %q and nothing", c.script, code, stdout, stderr, c.code, c.stdout)
			}
		}
	})

	t.Run("detach", func(t *testing.T) {
		pidFile := filepath.Join(e.dir, "exec.pid")
		e.ok("exec", "--detach", "--pid-file", pidFile, id, "sleep", "1000")
		pid := readPidFile(t, pidFile)
		if !procAlive(pid) {
			t.Fatalf("exec --detach: got process %d gone, want it running", pid)
		}
		if got := fmtNS(nsOf(t, pid)); got != want {
			t.Errorf("exec --detach's namespaces: got %s, want the container's %s", got, want)
		}
		cg := func(pid int) string {
			data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
			return string(data)
		}
		if got, want := cg(pid), cg(cpid); got != want || !strings.Contains(got, id) {
			t.Errorf("exec --detach's cgroups: got %q, want the container's %q", got, want)
		}
		var pids []int
		json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids)
		if !slices.Contains(pids, pid) || !slices.Contains(pids, cpid) {
			t.Errorf("ps: got %v, want the container's process %d and the exec'd %d", pids, cpid, pid)
		}
	})

	t.Run("refused", func(t *testing.T) {
		e.fails("process.args[0]", "exec", id, "/nosuch")
		e.fails("exec", "exec", "--cwd", "/nosuch", id, "true")
		e.fails("unknown capability", "exec", "--cap", "CAP_NOSUCH", id, "true")
		e.ok("pause", id)
		e.fails("paused", "exec", id, "true")
		e.ok("resume", id)
		e.ok("exec", id, "true")
	})

	e.ok("delete", "--force", id)
	e.fails("does not exist", "exec", id, "true")
}

// TestExecStopped: exec into a stopped container fails, and runs nothing.
func TestExecStopped(t *testing.T) {
	e := newLC(t)
	tb, id, _ := e.execContainer("stopped")
	e.ok("kill", id, "KILL")
	e.waitStatus(id, "stopped")
	e.fails("container not running", "exec", id, "touch", "/ran")
	if tb.exists("ran") {
		t.Errorf("exec into a stopped container: got its command run, want nothing run")
	}
	e.ok("delete", id)
}

// procFDs lists a process's fds as the host sees them.
func procFDs(t *testing.T, pid int) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, d := range ents {
		fds = append(fds, d.Name())
	}
	slices.SortFunc(fds, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return fds
}

// killProc kills a process the test adopted and waits until it has ended.
func killProc(t *testing.T, pid int) {
	t.Helper()
	unix.Kill(pid, unix.SIGKILL)
	waitFor(t, fmt.Sprintf("process %d to end", pid), func() bool { return !procAlive(pid) })
}

// TestExecAttached: an attached exec passes stdio through and forwards
// signals; its exit status is the process's.
func TestExecAttached(t *testing.T) {
	e := newLC(t)
	tb, id, _ := e.execContainer("attached")
	stdout, stderr, code := e.mrWith(mrOpts{stdin: strings.NewReader("through stdin\n")}, "exec", id, "cat")
	if code != 0 || stdout != "through stdin\n" {
		t.Errorf("exec cat: got exit status %d, stdout %q, stderr %q; want 0 and what stdin held", code, stdout, stderr)
	}
	lc := e.start(mrOpts{}, "exec", id, "sh", "-c", `trap "exit 42" TERM; touch /trapping; while :; do sleep 0.01; done`)
	waitFor(t, "the exec'd shell to trap SIGTERM", func() bool { return tb.exists("trapping") })
	lc.cmd.Process.Signal(unix.SIGTERM)
	lc.cmd.Wait()
	stdout, stderr = lc.read()
	if code := lc.cmd.ProcessState.ExitCode(); code != 42 {
		t.Errorf("SIGTERM to an attached exec: got exit status %d (stdout %q, stderr %q), want 42 (the process's trap)", code, stdout, stderr)
	}
	e.ok("delete", "--force", id)
}

// TestExecUserNamespace: exec joins a container's user namespace too,
// first, so that its other namespaces are entered with the privilege
// the user namespace gives.
func TestExecUserNamespace(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle("exec sleep 1000")
	tb.Spec.Linux.Namespaces = append(tb.Spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
	tb.Spec.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	tb.Spec.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	tb.chown(t, 100000, 100000)
	tb.save(t)
	id := e.id("userns")
	pidFile := filepath.Join(e.dir, "pid")
	e.ok("create", "--bundle", tb.Dir, "--pid-file", pidFile, id)
	e.ok("start", id)
	cpid := readPidFile(t, pidFile)
	execPid := filepath.Join(e.dir, "exec.pid")
	e.ok("exec", "--detach", "--pid-file", execPid, id, "sleep", "1000")
	pid := readPidFile(t, execPid)
	if got, want := fmtNS(nsOf(t, pid)), fmtNS(nsOf(t, cpid)); got != want {
		t.Errorf("exec's namespaces: got %s, want the container's %s", got, want)
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !strings.Contains(string(status), "Uid:\t100000\t100000\t100000\t100000") {
		t.Errorf("exec'd process as the host sees it: got %s, want uid 100000 (the container's root)", status)
	}
	if stdout, stderr, code := e.mr("exec", id, "sh", "-c", "id -u; touch /made-by-exec"); code != 0 || stdout != "0\n" {
		t.Errorf("exec id -u: got exit status %d, stdout %q, stderr %q; want 0 and 0", code, stdout, stderr)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(tb.Rootfs, "made-by-exec"), &st); err != nil || st.Uid != 100000 {
		t.Errorf("a file exec's root made: got owner %d (%v), want host uid 100000", st.Uid, err)
	}
	e.ok("delete", "--force", id)
}
