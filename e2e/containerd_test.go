package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerd is a private containerd: its root, state, sockets, config and
// log in a folder of the test's own.
type containerd struct {
	dir, sock, ctrBin string
	cmd               *exec.Cmd
	exited            chan struct{}
}

// shimSocketDir is where containerd 1.6 puts its shims' sockets whatever
// its state folder.
const shimSocketDir = "/run/containerd/s"

// startContainerd writes a config and starts containerd with it, waiting
// until it answers. Without cri the CRI plugin is disabled; with it, cri is
// the plugin's own table (written after the rest). The test's cleanup, in
// this order: whatever cleanup registered before is done; containerd is
// stopped; any shim of it still running is killed; the shim sockets it
// made are removed; what it mounted is unmounted and its folder deleted.
func startContainerd(t *testing.T, cri string) *containerd {
	t.Helper()
	bin := needTool(t, "containerd", "containerd")
	needTool(t, "containerd-shim-runc-v2", "containerd")
	ctrBin := needTool(t, "ctr", "containerd")
	dir, err := os.MkdirTemp(workDir, "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), ctrBin: ctrBin, exited: make(chan struct{})}
	disabled := []string{
		// Snapshotters that probe the host (modules, devices) and are not used.
		`"io.containerd.snapshotter.v1.aufs"`, `"io.containerd.snapshotter.v1.btrfs"`,
		`"io.containerd.snapshotter.v1.devmapper"`, `"io.containerd.snapshotter.v1.zfs"`,
	}
	if cri == "" {
		disabled = append(disabled, `"io.containerd.grpc.v1.cri"`)
	}
	config := fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
oom_score = 0
disabled_plugins = [%[2]s]

[grpc]
  address = "%[1]s/containerd.sock"

[ttrpc]
  address = "%[1]s/containerd.sock.ttrpc"

[debug]
  address = "%[1]s/debug.sock"
  level = "debug"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
%[3]s`, dir, strings.Join(disabled, ", "), cri)
	configFile := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirEntries(shimSocketDir)
	hadRun := map[string]bool{}
	for _, d := range []string{shimSocketDir, filepath.Dir(shimSocketDir)} {
		if _, err := os.Stat(d); err == nil {
			hadRun[d] = true
		}
	}
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "--config", configFile)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	// Its own process group, so that a ^C to the test does not reach it
	// before the cleanup stops it in order.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		log.Close()
		t.Fatal(err)
	}
	log.Close()
	go func() {
		c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stop(t)
		for _, pid := range processesMentioning(dir) {
			t.Logf("cleanup: killing %d, left by containerd: %s", pid, procDescription(pid))
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for name := range dirEntries(shimSocketDir) {
			if !before[name] {
				os.Remove(filepath.Join(shimSocketDir, name))
			}
		}
		// The folders containerd made for them, when they were not
		// there and are empty now.
		for _, d := range []string{shimSocketDir, filepath.Dir(shimSocketDir)} {
			if !hadRun[d] {
				os.Remove(d)
			}
		}
		removeAll(t, dir)
	})
	ready := waitFor(30*time.Second, func() bool {
		select {
		case <-c.exited:
			return true
		default:
		}
		return run(nil, ctrBin, "--address", c.sock, "version").code == 0
	})
	select {
	case <-c.exited:
		t.Fatalf("containerd exited: %s\n%s", c.cmd.ProcessState, c.logTail())
	default:
	}
	if !ready {
		t.Fatalf("containerd did not answer on %s within 30 s:\n%s", c.sock, c.logTail())
	}
	return c
}

// stop stops containerd: SIGTERM, then SIGKILL if it has not exited in
// 10 s.
func (c *containerd) stop(t *testing.T) {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("containerd did not stop on SIGTERM within 10 s; killing it")
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// logTail is the end of containerd's log, for a failure message.
func (c *containerd) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// ctr runs ctr against this containerd in namespace ns.
func (c *containerd) ctr(ns string, args ...string) result {
	return run(nil, append([]string{c.ctrBin, "--address", c.sock, "--namespace", ns}, args...)...)
}

func (c *containerd) mustCtr(t *testing.T, ns string, args ...string) result {
	t.Helper()
	r := c.ctr(ns, args...)
	if r.code != 0 || r.err != nil {
		t.Fatalf("%v (%v)\ncontainerd's log ends:\n%s", r, r.err, c.logTail())
	}
	return r
}

// dirEntries is the set of names in dir (empty when there is no dir).
func dirEntries(dir string) map[string]bool {
	m := map[string]bool{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		m[e.Name()] = true
	}
	return m
}

// taskStatus is a task's STATUS column in `ctr task ls`, "" when not
// listed.
func (c *containerd) taskStatus(t *testing.T, ns, id string) (status string, pid int) {
	t.Helper()
	r := c.mustCtr(t, ns, "task", "ls")
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			pid, _ = strconv.Atoi(f[1])
			return f[2], pid
		}
	}
	return "", 0
}

// checkStateRootEmpty fails the test if the runtime left state for a
// container in its root folder after every container was deleted.
func checkStateRootEmpty(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("the runtime left state in its root %s after every container was deleted: %s", root, strings.Join(names, ", "))
	}
}

func TestContainerd(t *testing.T) {
	needRuntime(t, "exec")
	watchHost(t)
	ns := tag + "-ctr"
	c := startContainerd(t, "")
	stateRoot := filepath.Join(c.dir, "runtime-root")
	fifos := filepath.Join(c.dir, "fifo")
	t.Cleanup(func() {
		// Every task and container, so the runtime deletes its state
		// and cgroups before containerd stops.
		r := c.ctr(ns, "task", "ls", "--quiet")
		for _, id := range strings.Fields(r.stdout) {
			c.ctr(ns, "task", "kill", "--signal", "SIGKILL", id)
			waitFor(10*time.Second, func() bool { s, _ := c.taskStatus(t, ns, id); return s == "STOPPED" || s == "" })
			if r := c.ctr(ns, "task", "delete", "--force", id); r.code != 0 {
				t.Errorf("cleanup: %v", r)
			}
		}
		r = c.ctr(ns, "container", "ls", "--quiet")
		for _, id := range strings.Fields(r.stdout) {
			if r := c.ctr(ns, "container", "delete", id); r.code != 0 {
				t.Errorf("cleanup: %v", r)
			}
		}
		checkStateRootEmpty(t, filepath.Join(stateRoot, ns))
		removeClientCgroups(ns)
	})
	c.mustCtr(t, ns, "images", "import", busyboxArchive(t))
	if r := c.mustCtr(t, ns, "images", "ls", "--quiet"); !strings.Contains(r.stdout, busyboxImage) {
		t.Fatalf("ctr images import did not name the image %s: %q", busyboxImage, r.stdout)
	}
	runFlags := []string{"--runc-binary", runtimePath, "--runc-root", stateRoot, "--fifo-dir", fifos}

	t.Run("run --rm", func(t *testing.T) {
		for i, tc := range []struct {
			name     string
			flags    []string
			args     []string
			want     string
			wantCode int
		}{
			{"output and status", nil, []string{"sh", "-c", "echo hello from ctr; exit 3"}, "hello from ctr\n", 3},
			{"success", nil, []string{"true"}, "", 0},
			{"environment", []string{"--env", "GREETING=hi there"}, []string{"sh", "-c", `echo "$GREETING"; echo "$PATH"`}, "hi there\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", 0},
			{"cwd", []string{"--cwd", "/tmp"}, []string{"pwd"}, "/tmp\n", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := fmt.Sprintf("%s-run%d", tag, i)
				args := append(append([]string{"run", "--rm"}, runFlags...), tc.flags...)
				args = append(append(args, busyboxImage, id), tc.args...)
				r := c.ctr(ns, args...)
				if r.code != tc.wantCode || r.stdout != tc.want {
					t.Errorf("got exit status %d, stdout %q; want %d, %q\n%v", r.code, r.stdout, tc.wantCode, tc.want, r)
				}
				if r := c.ctr(ns, "container", "info", id); r.code == 0 {
					t.Errorf("the container is still there after run --rm")
				}
			})
		}
	})

	t.Run("task exec, pause, resume, kill", func(t *testing.T) {
		id := tag + "-task"
		// The shell exits 7 on SIGTERM: kill's signal must reach it.
		c.mustCtr(t, ns, append(append([]string{"run", "--detach", "--memory-limit", "67108864"}, runFlags...), busyboxImage, id,
			"sh", "-c", `trap "exit 7" TERM; while :; do sleep 0.1; done`)...)
		status, pid := c.taskStatus(t, ns, id)
		if status != "RUNNING" || pid <= 0 {
			t.Fatalf("after run -d: got status %q pid %d, want RUNNING and a pid", status, pid)
		}

		// ctr's default spec mounts no cgroup file system in the
		// container: the limit is read on the host, in the cgroup the
		// task's process is in, which must be the cgroupsPath ctr gave
		// (/namespace/id): the shim reads its statistics there.
		t.Run("cgroup and memory limit", func(t *testing.T) {
			path, limit, err := memoryCgroup(pid)
			if err != nil {
				t.Fatal(err)
			}
			if want := "/" + ns + "/" + id; path != want {
				t.Errorf("the task's memory cgroup: got %s, want %s", path, want)
			}
			if limit != "67108864" {
				t.Errorf("memory limit of the task's cgroup: got %s, want 67108864", limit)
			}
		})
		for i, tc := range []struct {
			name     string
			flags    []string
			args     []string
			want     string
			wantCode int
		}{
			{"output and status", nil, []string{"sh", "-c", "echo from exec; exit 4"}, "from exec\n", 4},
			{"same pid namespace", nil, []string{"sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"}, `sh -c trap "exit 7" TERM; while :; do sleep 0.1; done `, 0},
			{"cwd", []string{"--cwd", "/proc"}, []string{"pwd"}, "/proc\n", 0},
			{"user", []string{"--user", "65534"}, []string{"id", "-u"}, "65534\n", 0},
		} {
			t.Run("exec "+tc.name, func(t *testing.T) {
				args := append([]string{"task", "exec", "--exec-id", fmt.Sprintf("exec%d", i), "--fifo-dir", fifos}, tc.flags...)
				r := c.ctr(ns, append(append(args, id), tc.args...)...)
				if r.code != tc.wantCode || r.stdout != tc.want {
					t.Errorf("got exit status %d, stdout %q; want %d, %q\n%v", r.code, r.stdout, tc.wantCode, tc.want, r)
				}
			})
		}

		t.Run("ps", func(t *testing.T) {
			r := c.mustCtr(t, ns, "task", "ps", id)
			if !strings.Contains(r.stdout, strconv.Itoa(pid)) {
				t.Errorf("task ps does not list the task's pid %d:\n%s", pid, r.stdout)
			}
		})

		t.Run("pause and resume", func(t *testing.T) {
			if runtimeIsMinirun() && !(runtimeHas("pause") && runtimeHas("resume")) {
				t.Skip("minirun has no pause/resume yet: they land with the cgroups issue")
			}
			c.mustCtr(t, ns, "task", "pause", id)
			if s, _ := c.taskStatus(t, ns, id); s != "PAUSED" {
				t.Errorf("after task pause: got status %q, want PAUSED", s)
			}
			c.mustCtr(t, ns, "task", "resume", id)
			if s, _ := c.taskStatus(t, ns, id); s != "RUNNING" {
				t.Errorf("after task resume: got status %q, want RUNNING", s)
			}
			// Running again for real: an exec still answers.
			r := c.ctr(ns, "task", "exec", "--exec-id", "after-resume", "--fifo-dir", fifos, id, "echo", "awake")
			if r.code != 0 || r.stdout != "awake\n" {
				t.Errorf("exec after resume: %v", r)
			}
		})

		t.Run("kill", func(t *testing.T) {
			c.mustCtr(t, ns, "task", "kill", id)
			if !waitFor(20*time.Second, func() bool { s, _ := c.taskStatus(t, ns, id); return s == "STOPPED" }) {
				s, _ := c.taskStatus(t, ns, id)
				t.Fatalf("after task kill: status %q 20 s later, want STOPPED", s)
			}
			// delete reports the exit status: 7, from the trap on SIGTERM.
			r := c.mustCtr(t, ns, "task", "delete", id)
			if want := "exit with non-zero exit code 7"; !strings.Contains(r.stderr, want) {
				t.Errorf("task delete after SIGTERM: want %q (the trap's status), got %v", want, r)
			}
			if s, _ := c.taskStatus(t, ns, id); s != "" {
				t.Errorf("the task is still listed after delete: %q", s)
			}
			c.mustCtr(t, ns, "container", "delete", id)
		})

		t.Run("kill -s SIGKILL", func(t *testing.T) {
			id := tag + "-sigkill"
			// Traps TERM and goes on: only SIGKILL ends it.
			c.mustCtr(t, ns, append(append([]string{"run", "--detach"}, runFlags...), busyboxImage, id,
				"sh", "-c", `trap "" TERM; while :; do sleep 0.1; done`)...)
			c.mustCtr(t, ns, "task", "kill", "--signal", "SIGKILL", id)
			if !waitFor(20*time.Second, func() bool { s, _ := c.taskStatus(t, ns, id); return s == "STOPPED" }) {
				s, _ := c.taskStatus(t, ns, id)
				t.Fatalf("after task kill -s SIGKILL: status %q 20 s later, want STOPPED", s)
			}
			r := c.mustCtr(t, ns, "task", "delete", id)
			if want := "exit with non-zero exit code 137"; !strings.Contains(r.stderr, want) {
				t.Errorf("task delete after SIGKILL: want %q, got %v", want, r)
			}
			c.mustCtr(t, ns, "container", "delete", id)
		})
	})
}

// memoryCgroup returns the memory cgroup pid is in, as /proc/PID/cgroup
// gives it, and the limit in force there: memory.limit_in_bytes on a v1
// hierarchy, memory.max on cgroup2.
func memoryCgroup(pid int) (path, limit string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", "", err
	}
	var file string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if slices.Contains(strings.Split(f[1], ","), "memory") {
			path, file = f[2], filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes")
			break
		}
		if f[0] == "0" && f[1] == "" {
			path, file = f[2], filepath.Join("/sys/fs/cgroup", f[2], "memory.max")
		}
	}
	if file == "" {
		return "", "", fmt.Errorf("no memory cgroup for %d in:\n%s", pid, b)
	}
	v, err := os.ReadFile(file)
	return path, strings.TrimSpace(string(v)), err
}
