package container

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
)

// What the kernel offers and a config may ask for: each test runs it and
// reads it back from inside. Each was dropped without a word before
// (SCHED_BATCH ran as SCHED_OTHER, LINUX32 as the native personality).

// unprivileged makes the process uid 1000 with no capabilities, so that a
// setting that needs privilege shows that minirun made it before the
// process lost it.
func unprivileged(tb *testBundle) {
	tb.Spec.Process.User = rspec.User{UID: 1000, GID: 1000}
	tb.Spec.Process.Capabilities = nil
}

// TestRunScheduler sets process.scheduler and reads it back with
// sched_getattr.
func TestRunScheduler(t *testing.T) {
	needRoot(t, "sets scheduling policies that need CAP_SYS_NICE")
	cases := []struct {
		name         string
		sched        rspec.Scheduler
		unprivileged bool
		want         unix.SchedAttr // Policy, Flags, Nice, Priority compared
	}{
		{"SCHED_BATCH, nice 5", rspec.Scheduler{Policy: rspec.SchedBatch, Nice: 5}, false,
			unix.SchedAttr{Policy: unix.SCHED_BATCH, Nice: 5}},
		{"SCHED_IDLE, reset on fork", rspec.Scheduler{Policy: rspec.SchedIdle, Flags: []rspec.LinuxSchedulerFlag{rspec.SchedFlagResetOnFork}}, false,
			unix.SchedAttr{Policy: unix.SCHED_IDLE, Flags: unix.SCHED_FLAG_RESET_ON_FORK}},
		{"nice -5 for a process without CAP_SYS_NICE", rspec.Scheduler{Policy: rspec.SchedOther, Nice: -5}, true,
			unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: -5}},
		{"SCHED_FIFO 10 for a process without CAP_SYS_NICE", rspec.Scheduler{Policy: rspec.SchedFIFO, Priority: 10}, true,
			unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			if c.unprivileged {
				unprivileged(tb)
			}
			tb.Spec.Process.Scheduler = &c.sched
			if c.sched.Policy == rspec.SchedFIFO {
				// A real-time task needs real-time runtime in its cgroup
				// (CONFIG_RT_GROUP_SCHED): a new cgroup has none, and only
				// one right below the root can be given some.
				rt, period := int64(10000), uint64(1000000)
				tb.Spec.Linux.CgroupsPath = fmt.Sprintf("/minirun-test-rt-%d", os.Getpid())
				tb.Spec.Linux.Resources = &rspec.LinuxResources{CPU: &rspec.LinuxCPU{RealtimeRuntime: &rt, RealtimePeriod: &period}}
			}
			f := runFacts(t, tb)
			got := fmt.Sprintf("policy %d, flags %#x, nice %d, priority %d", f.Sched.Policy, f.Sched.Flags, f.Sched.Nice, f.Sched.Priority)
			want := fmt.Sprintf("policy %d, flags %#x, nice %d, priority %d", c.want.Policy, c.want.Flags, c.want.Nice, c.want.Priority)
			if got != want {
				t.Errorf("sched_getattr in the container: got %s, want %s", got, want)
			}
		})
	}
}

// TestRunIOPriority sets process.ioPriority and reads it back with
// ioprio_get.
func TestRunIOPriority(t *testing.T) {
	needRoot(t, "sets the real-time I/O class, which needs CAP_SYS_ADMIN")
	cases := []struct {
		name         string
		io           rspec.LinuxIOPriority
		unprivileged bool
		want         int
	}{
		{"best effort 3", rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_BE, Priority: 3}, false, 2<<13 | 3},
		{"idle", rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_IDLE}, false, 3 << 13},
		{"real time 2 for a process without capabilities", rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_RT, Priority: 2}, true, 1<<13 | 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			if c.unprivileged {
				unprivileged(tb)
			}
			tb.Spec.Process.IOPriority = &c.io
			if got := runFacts(t, tb).IOPrio; got != c.want {
				t.Errorf("ioprio_get in the container: got %#x, want %#x", got, c.want)
			}
		})
	}
}

// TestRunPersonality sets linux.personality: LINUX32 makes uname report a
// 32-bit machine.
func TestRunPersonality(t *testing.T) {
	needRoot(t, "creates namespaces")
	machine32 := map[string]string{"amd64": "i686", "arm64": "armv8l"}[runtime.GOARCH]
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		domain  rspec.LinuxPersonalityDomain
		persona int
		machine string
	}{
		{rspec.PerLinux32, 0x0008, machine32},
		{rspec.PerLinux, 0, unix.ByteSliceToString(u.Machine[:])},
	}
	for _, c := range cases {
		t.Run(string(c.domain), func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			tb.Spec.Linux.Personality = &rspec.LinuxPersonality{Domain: c.domain}
			f := runFacts(t, tb)
			if got := f.Personality & 0xff; got != c.persona {
				t.Errorf("personality(0xffffffff) & PER_MASK: got %#x, want %#x", got, c.persona)
			}
			if c.machine != "" && f.Machine != c.machine {
				t.Errorf("uname -m: got %q, want %q", f.Machine, c.machine)
			}
		})
	}
}

// TestRunMemoryPolicy sets linux.memoryPolicy and reads it back with
// get_mempolicy; a node the host does not have is refused by name.
func TestRunMemoryPolicy(t *testing.T) {
	needRoot(t, "creates namespaces")
	cases := []struct {
		name       string
		mp         rspec.LinuxMemoryPolicy
		mode       int
		nodes      uint64
		checkNodes bool
	}{
		{"bind to node 0", rspec.LinuxMemoryPolicy{Mode: rspec.MpolBind, Nodes: "0"}, unix.MPOL_BIND, 1, true},
		{"interleave, static nodes", rspec.LinuxMemoryPolicy{Mode: rspec.MpolInterleave, Nodes: "0", Flags: []rspec.MemoryPolicyFlagType{rspec.MpolFStaticNodes}},
			unix.MPOL_INTERLEAVE | unix.MPOL_F_STATIC_NODES, 1, true},
		{"default", rspec.LinuxMemoryPolicy{Mode: rspec.MpolDefault}, unix.MPOL_DEFAULT, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			tb.Spec.Linux.MemoryPolicy = &c.mp
			f := runFacts(t, tb)
			if f.MemPolicy != c.mode || c.checkNodes && f.MemNodes != c.nodes {
				t.Errorf("get_mempolicy in the container: got mode %#x, nodes %#x, want %#x, %#x", f.MemPolicy, f.MemNodes, c.mode, c.nodes)
			}
		})
	}
	t.Run("a node that does not exist", func(t *testing.T) {
		data, err := os.ReadFile("/sys/devices/system/node/online")
		if err != nil {
			t.Skip("no NUMA information on this host: " + err.Error())
		}
		online, err := specs.ParseNodeList(strings.TrimSpace(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		missing := online[len(online)-1] + 1
		tb := helperBundle(t, specs.GenerateOptions{})
		tb.Spec.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolBind, Nodes: fmt.Sprint(missing)}
		runRefused(t, tb, fmt.Sprintf("linux.memoryPolicy.nodes: node %d does not exist on this host (its nodes: %s)", missing, strings.TrimSpace(string(data))))
	})
}

// TestExecCPUAffinity compiles a process as exec will (CompileEnv.Exec):
// it runs on process.execCPUAffinity.initial while it is set up — read
// from outside at the ready point — and on final once it runs; without a
// final, on every CPU again. runtime-spec applies it to no container's
// first process, so a config's run ignores it (the policy says so).
func TestExecCPUAffinity(t *testing.T) {
	needRoot(t, "creates namespaces")
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.Count() < 2 || !set.IsSet(0) || !set.IsSet(1) {
		t.Skipf("needs CPUs 0 and 1 to run on; this test may use %d", set.Count())
	}
	tb := busyboxBundle(t, specs.GenerateOptions{}, "exec sleep 100")
	tb.install(t, helperBin, "helper")
	tb.Spec.Process.ExecCPUAffinity = &rspec.CPUAffinity{Initial: "1"}
	tb.save(t)
	root := tempDir(t)
	id := "affinity"
	runDetached(t, "--root", root, "run", "--detach", "--bundle", tb.Dir, id)
	t.Cleanup(func() { runBinary(t, nil, "--root", root, "delete", "--force", id) })
	cases := []struct {
		name     string
		affinity rspec.CPUAffinity
		final    string
	}{
		{"initial 1, final 0", rspec.CPUAffinity{Initial: "1", Final: "0"}, "0"},
		{"initial 1, no final", rspec.CPUAffinity{Initial: "1"}, "0-1"},
		{"final 1 only", rspec.CPUAffinity{Final: "1"}, "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := *tb.Spec.Process
			p.Args = []string{"/helper"}
			p.Env = append(p.Env, helperEnv+"=facts")
			p.ExecCPUAffinity = &c.affinity
			file := tb.writeJSON(t, "process.json", &p)
			stdout, stderr, code := runBinary(t, nil, "--root", root, "exec", "--process", file, id)
			if code != 0 {
				t.Fatalf("exec: exit status %d: %s", code, stderr)
			}
			if f := parseFacts(t, stdout); f.Status["Cpus_allowed_list"] != c.final {
				t.Errorf("CPUs of the exec'd process: got %q, want %q", f.Status["Cpus_allowed_list"], c.final)
			}
		})
	}
	// The container's own process ignores it (runtime-spec: "not
	// applicable to the container's init process").
	if got := procStatus(t, containerPID(t, root, id))["Cpus_allowed_list"]; got != "0-1" {
		t.Errorf("CPUs of the container's own process: got %q, want 0-1", got)
	}
}

// containerPID asks `minirun state` for a container's pid.
func containerPID(t *testing.T, root, id string) int {
	t.Helper()
	stdout, stderr, code := runBinary(t, nil, "--root", root, "state", id)
	if code != 0 {
		t.Fatalf("state: exit status %d: %s", code, stderr)
	}
	var st struct{ Pid int }
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.Pid == 0 {
		t.Fatalf("state: %q: %v", stdout, err)
	}
	return st.Pid
}

// procStatus reads /proc/PID/status into trimmed values.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// captureStdout runs f with fd 1 on a file and returns what was written.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	file, err := os.CreateTemp(t.TempDir(), "stdout-")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	saved, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup3(int(file.Fd()), 1, 0); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			unix.Dup3(saved, 1, 0)
			unix.Close(saved)
		}()
		f()
	}()
	data, err := os.ReadFile(file.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRunLarge runs the configs that filled the child's fixed 256 KiB
// arena ("child arena full", no field named): the arena is sized from the
// config now.
func TestRunLarge(t *testing.T) {
	needRoot(t, "creates mount namespaces")
	cases := []struct {
		name   string
		mutate func(tb *testBundle)
		check  func(t *testing.T, f *facts)
	}{
		{"10,000 env entries", func(tb *testBundle) {
			for i := range 10000 {
				tb.Spec.Process.Env = append(tb.Spec.Process.Env, fmt.Sprintf("VARIABLE_%05d=%s", i, strings.Repeat("v", 30)))
			}
		}, func(t *testing.T, f *facts) {
			if got := len(f.Env); got != 10003 {
				t.Errorf("environment: got %d entries, want 10003", got)
			}
		}},
		{"2,000 long args", func(tb *testBundle) {
			for i := range 2000 {
				tb.Spec.Process.Args = append(tb.Spec.Process.Args, fmt.Sprintf("stat:/%04d%s", i, strings.Repeat("a", 900)))
			}
		}, func(t *testing.T, f *facts) {
			if got := len(f.Probes); got != 2000 {
				t.Errorf("arguments: got %d probes, want 2000", got)
			}
		}},
		{"10,000 mounts", func(tb *testBundle) {
			tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/m", Type: "tmpfs", Source: "tmpfs"})
			for i := range 10000 {
				tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: fmt.Sprintf("/m/%d", i), Type: "tmpfs", Source: "tmpfs", Options: []string{"size=4k"}})
			}
		}, func(t *testing.T, f *facts) {
			n := 0
			for _, m := range f.Mounts {
				if strings.HasPrefix(m.Point, "/m/") {
					n++
				}
			}
			if n != 10000 {
				t.Errorf("mounts below /m: got %d, want 10000", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			c.mutate(tb)
			before := snapshotHost(t)
			f := runFacts(t, tb)
			checkNothingLeft(t, before)
			c.check(t, f)
		})
	}
}

// writeJSON writes v as JSON to rel below the bundle folder.
func (b *testBundle) writeJSON(t *testing.T, rel string, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b.writeFile(t, rel, string(data), 0o644)
}

// runDetached runs minirun for a command that leaves a container running
// (run --detach, create): its stdio are files, not pipes, which the
// container would keep open and runBinary wait on.
func runDetached(t *testing.T, args ...string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out-")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(minirunBin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		data, _ := os.ReadFile(out.Name())
		t.Fatalf("minirun %s: %v: %s", strings.Join(args, " "), err, data)
	}
}
