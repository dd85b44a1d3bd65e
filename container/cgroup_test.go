package container

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
)

// Issue 7's container-level tests: limits seen and enforced inside a
// busybox container, the device attacks, orphans without a PID namespace,
// and the commands on a container's cgroup (events, pause, update).

// v1Hierarchy is the host's v1 mount of controller, skipping the test
// where there is none (these tests read the v1 files this host has).
func v1Hierarchy(t *testing.T, controller string) string {
	t.Helper()
	dir := "/sys/fs/cgroup/" + controller
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		t.Skipf("needs a cgroup v1 %s hierarchy at %s", controller, dir)
	}
	return dir
}

// cgroupFile reads a file of container id's cgroup, as the host sees it.
func cgroupFile(t *testing.T, controller, id, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(v1Hierarchy(t, controller), cgroups.Parent, id, file))
	if err != nil {
		t.Fatalf("the container's cgroup: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// outLines reads the key=value lines a script wrote to a rootfs file.
func (b *testBundle) keyValues(rel string) map[string]string {
	data, _ := os.ReadFile(filepath.Join(b.Rootfs, rel))
	kv := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// runToEnd creates and starts a container and waits until its process
// has ended, leaving it to delete.
func (e *lcEnv) runToEnd(tb *testBundle, id string) {
	e.t.Helper()
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	e.waitStatus(id, "stopped")
}

// TestCgroupLimitsVisible: the limits of linux.resources are in the
// container's own cgroup files, as the container sees them under its
// /sys/fs/cgroup (the default config mounts the hierarchies there, in its
// cgroup namespace) and as the host does.
func TestCgroupLimitsVisible(t *testing.T) {
	e := newLC(t)
	for _, c := range []string{"memory", "pids", "cpu", "cpuset"} {
		v1Hierarchy(t, c)
	}
	files := []string{"memory/memory.limit_in_bytes", "pids/pids.max", "cpu/cpu.shares", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us", "cpuset/cpuset.cpus"}
	tb := e.lcBundle("for f in " + strings.Join(files, " ") + "; do read v < /sys/fs/cgroup/$f; echo $f=$v; done > /out")
	tb.Spec.Linux.Resources.Memory = &rspec.LinuxMemory{Limit: ptr(int64(64 << 20))}
	tb.Spec.Linux.Resources.Pids = &rspec.LinuxPids{Limit: ptr(int64(50))}
	tb.Spec.Linux.Resources.CPU = &rspec.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(20000)), Period: ptr(uint64(100000)), Cpus: "0"}
	tb.save(t)
	id := e.id("limits")
	e.runToEnd(tb, id)
	want := map[string]string{
		"memory/memory.limit_in_bytes": "67108864", "pids/pids.max": "50", "cpu/cpu.shares": "512",
		"cpu/cpu.cfs_quota_us": "20000", "cpu/cpu.cfs_period_us": "100000", "cpuset/cpuset.cpus": "0",
	}
	got := tb.keyValues("out")
	for _, f := range files {
		ctrl, file, _ := strings.Cut(f, "/")
		if got[f] != want[f] {
			t.Errorf("in the container: /sys/fs/cgroup/%s: got %q, want %q", f, got[f], want[f])
		}
		if host := cgroupFile(t, ctrl, id, file); host != want[f] {
			t.Errorf("on the host: %s of the container's cgroup: got %q, want %q", f, host, want[f])
		}
	}
	e.ok("delete", id)
}

// TestCgroupPidsLimit: a fork loop stops at pids.limit.
func TestCgroupPidsLimit(t *testing.T) {
	e := newLC(t)
	v1Hierarchy(t, "pids")
	// The loop runs in a subshell, which dies at its first failed fork;
	// its sleeps stay, and the shell reads the counters with builtins
	// (a fork would fail too).
	tb := e.lcBundle(`( while :; do sleep 1000 & done ) 2>/dev/null
read peak < /sys/fs/cgroup/pids/pids.peak; read ev < /sys/fs/cgroup/pids/pids.events
echo "peak=$peak" > /out; echo "events=$ev" >> /out; exec sleep 1000`)
	tb.Spec.Linux.Resources.Pids = &rspec.LinuxPids{Limit: ptr(int64(20))}
	tb.save(t)
	id := e.id("pids")
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	waitFor(t, "the fork loop to end", func() bool { return tb.exists("out") && len(tb.keyValues("out")) == 2 })
	got := tb.keyValues("out")
	if got["peak"] != "20" {
		t.Errorf("pids.peak in the container: got %q, want 20 (the limit)", got["peak"])
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(got["events"], "max ")); err != nil || n < 1 {
		t.Errorf("pids.events in the container: got %q, want max N with N ≥ 1 (forks refused)", got["events"])
	}
	var pids []int
	json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids)
	if len(pids) < 2 || len(pids) > 20 {
		t.Errorf("ps after the fork loop: got %d processes, want between 2 and 20", len(pids))
	}
	e.ok("delete", "--force", id)
}

// TestCgroupOOM: a process that allocates past a 32 MiB limit is killed
// by the OOM killer; events streams an oom event and events --stats
// counts the kill, while the container goes on.
func TestCgroupOOM(t *testing.T) {
	e := newLC(t)
	v1Hierarchy(t, "memory")
	tb := e.lcBundle(`while [ ! -e /go ]; do sleep 0.01; done
sh -c 'a=$(head -c 64m /dev/zero | tr "\000" x); echo survived'; echo "status=$?" > /out; exec sleep 1000`)
	tb.Spec.Linux.Resources.Memory = &rspec.LinuxMemory{Limit: ptr(int64(32 << 20))}
	tb.save(t)
	id := e.id("oom")
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	events := e.start(mrOpts{}, "events", "--interval", "1h", id)
	// events arms its OOM watch before the allocation starts: wait until
	// it holds an eventfd.
	waitFor(t, "events to watch for OOM", func() bool {
		for _, fd := range procFDsOrNone(events.cmd.Process.Pid) {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", events.cmd.Process.Pid, fd)); l == "anon_inode:[eventfd]" {
				return true
			}
		}
		return false
	})
	if err := os.WriteFile(filepath.Join(tb.Rootfs, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the allocating shell to end", func() bool { return tb.keyValues("out")["status"] != "" })
	if got := tb.keyValues("out")["status"]; got != "137" {
		t.Errorf("the allocating shell: got exit status %s, want 137 (SIGKILL from the OOM killer)", got)
	}
	var st struct {
		Type string
		Data cgroups.Stats
	}
	if err := json.Unmarshal([]byte(e.ok("events", "--stats", id)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != "stats" || st.Data.Memory.EventCount.OOMKill < 1 || st.Data.Memory.Usage.Limit != 32<<20 {
		t.Errorf("events --stats: got type %q, oom_kill %d, limit %d; want stats, at least 1, %d", st.Type, st.Data.Memory.EventCount.OOMKill, st.Data.Memory.Usage.Limit, 32<<20)
	}
	if got := e.status(id); got != "running" {
		t.Errorf("after the OOM kill of another process: got status %q, want running", got)
	}
	// The stream ends when the container is gone.
	e.ok("delete", "--force", id)
	done := make(chan struct{})
	go func() {
		events.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		events.cmd.Process.Kill()
		<-done
		t.Errorf("events: got it still running 10 s after the container was deleted, want it ended")
	}
	stdout, stderr := events.read()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var ev struct{ Type, ID string }
		if json.Unmarshal([]byte(l), &ev) == nil {
			lines = append(lines, ev.Type+" "+ev.ID)
		}
	}
	if !slices.Contains(lines, "oom "+id) {
		t.Errorf("events: got %q (stderr %q), want an oom event for %s", lines, stderr, id)
	}
}

func procFDsOrNone(pid int) []string {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	var fds []string
	for _, d := range ents {
		fds = append(fds, d.Name())
	}
	return fds
}

// TestCgroupCPUQuota: a quota of 0.2 CPU holds a busy loop near 20%, by
// cpuacct's usage over about 1.5 s (a wide margin: this is about the
// quota being enforced, not about timing).
func TestCgroupCPUQuota(t *testing.T) {
	e := newLC(t)
	v1Hierarchy(t, "cpuacct")
	tb := e.lcBundle("while :; do :; done")
	tb.Spec.Linux.Resources.CPU = &rspec.LinuxCPU{Quota: ptr(int64(20000)), Period: ptr(uint64(100000))}
	tb.save(t)
	id := e.id("cpu")
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	usage := func() (uint64, time.Time) {
		v, err := strconv.ParseUint(cgroupFile(t, "cpuacct", id, "cpuacct.usage"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v, time.Now()
	}
	time.Sleep(200 * time.Millisecond) // past the first period
	u0, t0 := usage()
	time.Sleep(1500 * time.Millisecond)
	u1, t1 := usage()
	share := float64(u1-u0) / float64(t1.Sub(t0).Nanoseconds())
	t.Logf("the busy loop used %.3f of a CPU", share)
	// The upper bound is the quota's; the lower one only says the loop
	// ran (on a host busy with other work it may get less than its quota).
	if share < 0.02 || share > 0.35 {
		t.Errorf("a busy loop under a quota of 0.2 CPU: got %.3f of a CPU, want about 0.2 (0.02 to 0.35)", share)
	}
	e.ok("delete", "--force", id)
}

// TestCgroupDevices: the attacks of issue 7 — device nodes shipped in the
// image (a char node of /dev/kmsg's number, a block device) and a mknod
// by a process with CAP_MKNOD — get EPERM from the device cgroup, as root
// with every capability minirun has and as uid 1000 with none, while the
// default devices work.
func TestCgroupDevices(t *testing.T) {
	e := newLC(t)
	v1Hierarchy(t, "devices")
	// Every capability minirun holds: its hooks' set.
	caps := allCapabilities()
	tests := []struct {
		label, cmd string
		root       bool // only as root with CAP_MKNOD
		want       string
	}{
		{"read image kmsg", "head -c1 /img/kmsg", false, "EPERM"},
		{"write image kmsg", "sh -c 'echo x > /img/kmsg'", false, "EPERM"},
		{"read image block device", "head -c1 /img/blk", false, "EPERM"},
		{"mknod kmsg", "mknod /res/kmsg c 1 11", true, "EPERM"},
		{"mknod block device", "mknod /res/blk b 8 0", true, "EPERM"},
		{"mknod null", "mknod /res/null c 1 3", true, "OK"},
		{"read /dev/zero", "head -c1 /dev/zero", false, "OK"},
		{"write /dev/null", "sh -c 'echo x > /dev/null'", false, "OK"},
		{"read /dev/urandom", "head -c1 /dev/urandom", false, "OK"},
	}
	for _, user := range []string{"root with every capability", "uid 1000 without capabilities"} {
		t.Run(user, func(t *testing.T) {
			root := strings.HasPrefix(user, "root")
			var script strings.Builder
			for i, c := range tests {
				if c.root && !root {
					continue
				}
				fmt.Fprintf(&script, "if %s >/dev/null 2>/res/err; then echo %d=OK; else echo %d=$(cat /res/err); fi >> /res/out\n", c.cmd, i, i)
			}
			tb := e.lcBundle(script.String())
			tb.mkdirs(t, "img", "res")
			if err := os.Chmod(filepath.Join(tb.Rootfs, "res"), 0o777); err != nil {
				t.Fatal(err)
			}
			for _, n := range []struct {
				name  string
				mode  uint32
				major uint32
				minor uint32
			}{{"kmsg", unix.S_IFCHR, 1, 11}, {"blk", unix.S_IFBLK, 8, 0}} {
				node := filepath.Join(tb.Rootfs, "img", n.name)
				if err := unix.Mknod(node, n.mode|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
					t.Fatal(err)
				}
				// Past the umask: readable and writable by anyone, so
				// that only the device cgroup stands in the way.
				if err := os.Chmod(node, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if root {
				tb.Spec.Process.Capabilities = caps
				tb.Spec.Process.NoNewPrivileges = false
				if !slices.Contains(caps.Bounding, "CAP_MKNOD") {
					t.Fatal("minirun's own capabilities lack CAP_MKNOD")
				}
			} else {
				tb.Spec.Process.User = rspec.User{UID: 1000, GID: 1000}
				tb.Spec.Process.Capabilities = &rspec.LinuxCapabilities{}
			}
			tb.save(t)
			id := e.id(fmt.Sprintf("devices-%v", root))
			e.runToEnd(tb, id)
			got := tb.keyValues("res/out")
			for i, c := range tests {
				if c.root && !root {
					continue
				}
				res := got[strconv.Itoa(i)]
				ok := res == "OK"
				if c.want == "EPERM" {
					ok = strings.Contains(res, "Operation not permitted")
				}
				if !ok {
					t.Errorf("%s (%s): got %q, want %s", c.label, c.cmd, res, c.want)
				}
			}
			e.ok("delete", id)
		})
	}
}

// TestCgroupOrphansWithoutPIDNamespace: without a PID namespace the
// container's 500 daemons (setsid, orphaned when its process ends) are
// not ended by the kernel with it; delete, and run ending, kill them all
// through the cgroup.
func TestCgroupOrphansWithoutPIDNamespace(t *testing.T) {
	e := newLC(t)
	v1Hierarchy(t, "pids")
	// A sleep length no other process on the host has.
	mark := strconv.Itoa(100000 + rand.IntN(800000))
	tb := e.lcBundle(`i=0; while [ $i -lt 500 ]; do setsid sleep ` + mark + ` & i=$((i+1)); done
read n < /sys/fs/cgroup/pids/pids.current; echo "n=$n" > /out`)
	tb.Spec.Linux.Namespaces = slices.DeleteFunc(tb.Spec.Linux.Namespaces, func(n rspec.LinuxNamespace) bool { return n.Type == rspec.PIDNamespace })
	tb.save(t)
	sleepers := func() []int {
		var pids []int
		for _, p := range allPids() {
			if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); err == nil && string(data) == "sleep\x00"+mark+"\x00" && procAlive(p) {
				pids = append(pids, p)
			}
		}
		return pids
	}

	t.Run("delete", func(t *testing.T) {
		id := e.id("orphans")
		e.runToEnd(tb, id)
		if got := tb.keyValues("out")["n"]; got != "501" {
			t.Errorf("pids.current before the process ended: got %q, want 501 (it and its 500 daemons)", got)
		}
		// The last daemons may still be between fork and exec.
		waitFor(t, "500 daemons running sleep", func() bool { return len(sleepers()) == 500 })
		left := sleepers()
		e.ok("delete", id)
		waitGone(t, "after delete", left)
	})

	t.Run("run", func(t *testing.T) {
		os.Remove(filepath.Join(tb.Rootfs, "out"))
		id := e.id("orphans-run")
		if _, stderr, code := e.mr("run", "--bundle", tb.Dir, id); code != 0 {
			t.Fatalf("run: got exit status %d, stderr %q, want 0", code, stderr)
		}
		if got := tb.keyValues("out")["n"]; got != "501" {
			t.Errorf("pids.current before the process ended: got %q, want 501", got)
		}
		// Killed, they may take a moment to be gone; a sleeper left
		// unkilled would still be there 10 s later.
		waitGone(t, "after run ended", sleepers())
		if got := e.status(id); !strings.Contains(got, "does not exist") {
			t.Errorf("after run ended: got state %q, want \"does not exist\"", got)
		}
	})
}

// TestCgroupStats: events --stats shows memory and pids usage that moves
// when the container allocates and forks.
func TestCgroupStats(t *testing.T) {
	e := newLC(t)
	v1Hierarchy(t, "memory")
	v1Hierarchy(t, "pids")
	tb := e.lcBundle("exec sleep 1000")
	tb.save(t)
	id := e.id("stats")
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	stats := func() cgroups.Stats {
		var ev struct {
			Type, ID string
			Data     cgroups.Stats
		}
		out := e.ok("events", "--stats", id)
		if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.Type != "stats" || ev.ID != id {
			t.Fatalf("events --stats: got %q (%v), want a stats event for %s", out, err, id)
		}
		return ev.Data
	}
	s0 := stats()
	if s0.Pids.Current != 1 || s0.Memory.Usage.Usage == 0 {
		t.Errorf("before: got pids %d, memory usage %d; want 1 process and some memory", s0.Pids.Current, s0.Memory.Usage.Usage)
	}
	// A shell that holds 24 MiB in a variable, and four more sleeps.
	e.ok("exec", "--detach", id, "sh", "-c", `a=$(head -c 24m /dev/zero | tr "\000" x); touch /allocated; while :; do sleep 1; done`)
	for range 4 {
		e.ok("exec", "--detach", id, "sleep", "1000")
	}
	waitFor(t, "the exec'd shell to allocate", func() bool { return tb.exists("allocated") })
	var s1 cgroups.Stats
	waitFor(t, "the stats to move", func() bool {
		s1 = stats()
		return s1.Memory.Usage.Usage >= s0.Memory.Usage.Usage+16<<20 && s1.Pids.Current >= 6
	})
	t.Logf("memory usage %d → %d bytes, pids %d → %d", s0.Memory.Usage.Usage, s1.Memory.Usage.Usage, s0.Pids.Current, s1.Pids.Current)

	// The stream: a stats event every --interval until SIGTERM.
	events := e.start(mrOpts{}, "events", "--interval", "50ms", id)
	waitFor(t, "three stats events", func() bool {
		data, _ := os.ReadFile(events.stdout.Name())
		return strings.Count(string(data), "\n") >= 3
	})
	events.cmd.Process.Signal(unix.SIGTERM)
	events.cmd.Wait()
	stdout, stderr := events.read()
	if code := events.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("events stopped by SIGTERM: got exit status %d, stderr %q, want 0", code, stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var ev struct {
			Type, ID string
			Data     cgroups.Stats
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Type != "stats" || ev.ID != id || ev.Data.Pids.Current < 6 {
			t.Errorf("events --interval: got line %q (%v), want a stats event for %s with its 6 processes", l, err, id)
		}
	}
	e.ok("delete", "--force", id)
	e.fails("does not exist", "events", "--stats", id)
}

// procState is the state letter of /proc/PID/stat and its name in
// status.
func procState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "gone"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "State:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// TestCgroupPauseResume: pause freezes every process of the container
// (state says paused, the kernel shows them frozen, a counter stops),
// resume thaws them; delete --force of a paused container leaves nothing.
func TestCgroupPauseResume(t *testing.T) {
	e := newLC(t)
	v1Hierarchy(t, "freezer")
	tb := e.lcBundle(`sleep 1000 & i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.01; done`)
	tb.save(t)
	id := e.id("pause")
	e.ok("create", "--bundle", tb.Dir, id)
	e.fails("not paused", "resume", id)
	e.ok("start", id)
	count := func() int {
		data, _ := os.ReadFile(filepath.Join(tb.Rootfs, "count"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return n
	}
	waitFor(t, "the counter to run", func() bool { return count() > 2 })
	e.ok("pause", id)
	var pids []int
	json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids)
	if len(pids) < 2 {
		t.Errorf("ps of the paused container: got %v, want the shell and its sleep at least", pids)
	}
	if got := e.status(id); got != "paused" {
		t.Errorf("after pause: got status %q, want paused", got)
	}
	if got := cgroupFile(t, "freezer", id, "freezer.state"); got != "FROZEN" {
		t.Errorf("freezer.state after pause: got %q, want FROZEN", got)
	}
	for _, p := range pids {
		// A task the freezer holds sleeps uninterruptibly.
		if st := procState(p); !strings.HasPrefix(st, "D") {
			t.Errorf("process %d after pause: got state %q, want D (frozen)", p, st)
		}
	}
	c0 := count()
	time.Sleep(100 * time.Millisecond)
	if c1 := count(); c1 != c0 {
		t.Errorf("the counter while paused: got %d then %d, want it stopped", c0, c1)
	}
	e.fails("paused", "exec", id, "true")

	e.ok("resume", id)
	if got := e.status(id); got != "running" {
		t.Errorf("after resume: got status %q, want running", got)
	}
	waitFor(t, "the counter to run again", func() bool { return count() > c0 })
	e.fails("not paused", "resume", id)

	// A task the v1 freezer holds cannot die: kill KILL, and delete
	// --force, of a paused container must thaw it.
	e.ok("pause", id)
	e.ok("kill", id, "KILL")
	e.waitStatus(id, "stopped")
	e.ok("delete", id)
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	e.ok("pause", id)
	json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids)
	e.ok("delete", "--force", id)
	waitGone(t, "after delete --force of a paused container", pids)
}

// TestCgroupUpdate: update changes the container's cgroup files, from
// flags and from --resources -, and refuses what it cannot apply,
// changing nothing.
func TestCgroupUpdate(t *testing.T) {
	e := newLC(t)
	for _, c := range []string{"memory", "pids", "cpu"} {
		v1Hierarchy(t, c)
	}
	tb := e.lcBundle("exec sleep 1000")
	tb.Spec.Linux.Resources.Memory = &rspec.LinuxMemory{Limit: ptr(int64(64 << 20))}
	tb.Spec.Linux.Resources.Pids = &rspec.LinuxPids{Limit: ptr(int64(50))}
	tb.save(t)
	id := e.id("update")
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	files := func() string {
		return fmt.Sprint(cgroupFile(t, "memory", id, "memory.limit_in_bytes"), " ", cgroupFile(t, "pids", id, "pids.max"), " ",
			cgroupFile(t, "cpu", id, "cpu.shares"), " ", cgroupFile(t, "cpu", id, "cpu.cfs_quota_us"))
	}
	shares := cgroupFile(t, "cpu", id, "cpu.shares")
	if got, want := files(), fmt.Sprint(64<<20, " 50 ", shares, " -1"); got != want {
		t.Fatalf("before update: got %s, want %s", got, want)
	}

	e.ok("update", "--memory", "100m", "--pids-limit", "30", id)
	if got, want := files(), fmt.Sprint(100<<20, " 30 ", shares, " -1"); got != want {
		t.Errorf("after update --memory 100m --pids-limit 30: got %s, want %s", got, want)
	}
	if out, _, _ := e.mr("exec", id, "cat", "/sys/fs/cgroup/pids/pids.max"); strings.TrimSpace(out) != "30" {
		t.Errorf("pids.max in the container after update: got %q, want 30", out)
	}
	_, stderr, code := e.mrWith(mrOpts{stdin: strings.NewReader(`{"cpu":{"shares":256,"quota":30000,"period":100000}}`)}, "update", "--resources", "-", id)
	if code != 0 {
		t.Fatalf("update --resources -: got exit status %d, stderr %q", code, stderr)
	}
	if got, want := files(), fmt.Sprint(100<<20, " 30 256 30000"); got != want {
		t.Errorf("after update --resources -: got %s, want %s", got, want)
	}

	before := files()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--pids-limit", "abc"}, "pids-limit"},
		{[]string{"--memory", "-5"}, "memory"},
		{[]string{"--resources", "/nosuch"}, "resources"},
		{[]string{"--memory", "4096"}, "memory"}, // below what it uses
	} {
		e.fails(c.want, append(append([]string{"update"}, c.args...), id)...)
	}
	if got := files(); got != before {
		t.Errorf("after refused updates: got %s, want unchanged %s", got, before)
	}
	e.ok("kill", id, "KILL")
	e.waitStatus(id, "stopped")
	e.fails("not running", "update", "--pids-limit", "10", id)
	e.ok("delete", id)
}
