package cgroups

import (
	"encoding/json"
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

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// readBack reads a cgroup file of the container for a test.
func readBack(t *testing.T, m *Manager, key, file string) string {
	t.Helper()
	dir, ok := m.Paths()[key]
	if !ok {
		t.Fatalf("no %q hierarchy in %v", key, m.Paths())
	}
	v, err := readFile(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// cgroupOf reads /proc/PID/cgroup into hierarchy (controllers or "") →
// path.
func cgroupOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 {
			out[f[1]] = f[2]
		}
	}
	return out
}

func TestCreateAppliesV1Limits(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "memory", "pids", "cpu", "cpuset")
	leaveNothing(t)
	r := &rspec.LinuxResources{
		Memory: &rspec.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20),
			Swappiness: u64(10), DisableOOMKiller: bp(false), KernelTCP: i64(16 << 20)},
		CPU:  &rspec.LinuxCPU{Shares: u64(512), Quota: i64(20000), Period: u64(100000), Burst: u64(5000), Idle: i64(0), Cpus: "0", Mems: "0"},
		Pids: &rspec.LinuxPids{Limit: i64(20)},
	}
	m := create(t, h, r, nil)
	for _, tc := range []struct{ key, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.memsw.limit_in_bytes", "100663296"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.swappiness", "10"},
		{"memory", "memory.kmem.tcp.limit_in_bytes", "16777216"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "20000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.cfs_burst_us", "5000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
		{"pids", "pids.max", "20"},
	} {
		if got := readBack(t, m, tc.key, tc.file); got != tc.want {
			t.Errorf("%s reads %q, want %q", tc.file, got, tc.want)
		}
	}
	if got := readBack(t, m, "memory", "memory.oom_control"); !strings.Contains(got, "oom_kill_disable 0") {
		t.Errorf("memory.oom_control reads %q, want oom_kill_disable 0", got)
	}
	// The default config's device list: deny everything but the defaults.
	got := strings.Split(readBack(t, m, "devices", "devices.list"), "\n")
	slices.Sort(got)
	want := []string{"c 136:* rwm", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm"}
	if !slices.Equal(got, want) {
		t.Errorf("devices.list = %q, want %q", got, want)
	}
}

// blockIO on v1: BFQ's weight where CFQ is gone, and a throttle on the
// machine's first disk.
func TestCreateAppliesV1BlockIO(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "blkio")
	major, minor, ok := firstDisk()
	if !ok {
		t.Skip("needs a block device to throttle")
	}
	leaveNothing(t)
	dev := rspec.LinuxBlockIODevice{Major: major, Minor: minor}
	r := &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{
		ThrottleReadBpsDevice:   []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1 << 20}},
		ThrottleWriteIOPSDevice: []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 100}},
	}}
	weightFile := ""
	switch {
	case h.hasFile("blkio", "blkio.weight"):
		weightFile = "blkio.weight"
	case h.hasFile("blkio", "blkio.bfq.io_service_bytes"):
		weightFile = "blkio.bfq.weight"
	}
	if weightFile != "" {
		r.BlockIO.Weight = u16(300)
	}
	m := create(t, h, r, nil)
	want := fmt.Sprintf("%d:%d", major, minor)
	if got := readBack(t, m, "blkio", "blkio.throttle.read_bps_device"); got != want+" 1048576" {
		t.Errorf("blkio.throttle.read_bps_device = %q, want %q", got, want+" 1048576")
	}
	if got := readBack(t, m, "blkio", "blkio.throttle.write_iops_device"); got != want+" 100" {
		t.Errorf("blkio.throttle.write_iops_device = %q, want %q", got, want+" 100")
	}
	if weightFile != "" {
		if got := readBack(t, m, "blkio", weightFile); !strings.HasSuffix(got, "300") {
			t.Errorf("%s = %q, want 300", weightFile, got)
		}
	}
}

// firstDisk finds a whole disk's numbers in /sys/block.
func firstDisk() (major, minor int64, ok bool) {
	ents, _ := os.ReadDir("/sys/block")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "loop") || strings.HasPrefix(e.Name(), "ram") {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "dev"))
		if err != nil {
			continue
		}
		a, b, found := strings.Cut(strings.TrimSpace(string(data)), ":")
		ma, err1 := strconv.ParseInt(a, 10, 64)
		mi, err2 := strconv.ParseInt(b, 10, 64)
		if found && err1 == nil && err2 == nil {
			return ma, mi, true
		}
	}
	return 0, 0, false
}

func TestDetectHostMatchesTheMounts(t *testing.T) {
	h := realHost(t)
	for k, mnt := range h.v1 {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			t.Errorf("v1 %s at %s: statfs type %#x, %v; want cgroup", k, mnt, st.Type, err)
		}
	}
	if h.v2 != "" {
		var st unix.Statfs_t
		if err := unix.Statfs(h.v2, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Errorf("cgroup2 at %s: statfs type %#x, %v; want cgroup2", h.v2, st.Type, err)
		}
	}
	var want Kind
	switch _, hasMem := h.v1["memory"]; {
	case hasMem && h.v2 != "":
		want = Hybrid
	case hasMem:
		want = V1
	case h.v2 != "":
		want = V2
	}
	if h.Kind() != want {
		t.Errorf("Kind() = %v, want %v for %v and %q", h.Kind(), want, h.v1, h.v2)
	}
}

// A process started with CLONE_INTO_CGROUP is in the cgroup2 directory
// from its first instruction; Enter puts it in the v1 ones. Started
// plainly, Enter puts it everywhere.
func TestPlacement(t *testing.T) {
	h := realHost(t)
	leaveNothing(t)
	m := create(t, h, nil, nil)
	for _, into := range []bool{true, false} {
		if into && h.V2Mount() == "" {
			continue
		}
		p := start(t, m, into)
		got := cgroupOf(t, p.pid())
		for hier, path := range got {
			if hier == "" && h.V2Mount() == "" {
				continue
			}
			if path != m.Path() {
				t.Errorf("into=%v: process is in %q in hierarchy %q, want %q", into, path, hier, m.Path())
			}
		}
		if len(got) < len(m.uniqueDirs(true)) {
			t.Errorf("into=%v: /proc/PID/cgroup lists %d hierarchies, the container has %d", into, len(got), len(m.uniqueDirs(true)))
		}
		pids, err := m.Pids()
		if err != nil || !slices.Contains(pids, p.pid()) {
			t.Errorf("into=%v: Pids() = %v, %v; want it to hold %d", into, pids, err, p.pid())
		}
		p.kill()
	}
}

// A 20-task limit stops a fork loop at 20, and Destroy kills the loop's
// orphans too (there is no PID namespace here to do it). The loop is the
// helper's, which keeps going when a fork fails; its own threads count
// against the limit like its children.
func TestPidsLimitStopsForkLoop(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "pids")
	leaveNothing(t)
	m := create(t, h, &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: i64(20)}}, nil)
	p := start(t, m, h.V2Mount() != "")
	var spawned int
	if _, err := fmt.Sscanf(p.ask(t, "spawn 50"), "spawned %d", &spawned); err != nil {
		t.Fatal(err)
	}
	if spawned == 0 || spawned >= 20 {
		t.Errorf("the helper forked %d of 50 under a 20-task limit", spawned)
	}
	if got := readBack(t, m, "pids", "pids.current"); got != "20" {
		t.Errorf("pids.current = %s after a loop of 50 forks, want 20", got)
	}
	ev, err := readKeyed(m.Paths()["pids"], "pids.events")
	if err != nil || ev["max"] == 0 {
		t.Errorf("pids.events = %v, %v; want forks refused (max > 0)", ev, err)
	}
	pids, err := m.Pids()
	if err != nil || len(pids) != spawned+1 {
		t.Fatalf("Pids() = %v, %v; want the helper and its %d children", pids, err, spawned)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()
	// The children were orphaned when the helper died: they came to this
	// process (a subreaper), and must all be dead, killed.
	for _, pid := range pids {
		if pid == p.pid() {
			continue
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			t.Errorf("reaping %d: %v", pid, err)
		} else if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
			t.Errorf("process %d ended with %v, want killed by SIGKILL", pid, ws)
		}
	}
	for _, d := range m.uniqueDirs(true) {
		if fileExists(d) {
			t.Errorf("%s still exists after Destroy", d)
		}
	}
}

func TestFreezeThaw(t *testing.T) {
	for _, tc := range []struct {
		name string
		host func(testing.TB) *Host
	}{{"v1", realHost}, {"v2", unifiedHost}} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.host(t)
			if tc.name == "v1" {
				needV1(t, h, "freezer")
			}
			leaveNothing(t)
			m := create(t, h, nil, nil)
			p := start(t, m, h.V2Mount() != "", "/bin/busybox", "sleep", "1000")
			if err := m.Freeze(); err != nil {
				t.Fatal(err)
			}
			if frozen, err := m.Frozen(); err != nil || !frozen {
				t.Errorf("Frozen() = %v, %v after Freeze", frozen, err)
			}
			if tc.name == "v1" {
				if got := readBack(t, m, "freezer", "freezer.state"); got != "FROZEN" {
					t.Errorf("freezer.state = %q, want FROZEN", got)
				}
				// A task frozen by the v1 freezer sleeps uninterruptibly.
				if st, err := procState(p.pid()); err != nil || st != 'D' {
					t.Errorf("frozen process state %q, %v; want D", st, err)
				}
			} else if ev, err := readKeyed(m.Paths()[""], "cgroup.events"); err != nil || ev["frozen"] != 1 {
				t.Errorf("cgroup.events = %v, %v; want frozen 1", ev, err)
			}
			if err := m.Thaw(); err != nil {
				t.Fatal(err)
			}
			if frozen, err := m.Frozen(); err != nil || frozen {
				t.Errorf("Frozen() = %v, %v after Thaw", frozen, err)
			}
			if !eventually(func() bool { st, _ := procState(p.pid()); return st == 'S' }) {
				st, _ := procState(p.pid())
				t.Errorf("thawed process state %q, want S", st)
			}
		})
	}
}

func TestSignal(t *testing.T) {
	for _, tc := range []struct {
		name string
		host func(testing.TB) *Host
		sig  unix.Signal
	}{
		{"v1 SIGTERM: freeze, signal each, thaw", realHost, unix.SIGTERM},
		{"hybrid SIGKILL: cgroup.kill", realHost, unix.SIGKILL},
		{"v2 SIGKILL: cgroup.kill", unifiedHost, unix.SIGKILL},
		{"v2 SIGUSR1: freeze, signal each, thaw", unifiedHost, unix.SIGUSR1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.host(t)
			leaveNothing(t)
			m := create(t, h, nil, nil)
			ps := []*proc{start(t, m, h.V2Mount() != "", "/bin/busybox", "sleep", "1000"),
				start(t, m, h.V2Mount() != "", "/bin/busybox", "sleep", "1000")}
			if err := m.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				_ = p.wait()
				if got := p.signaled(); got != syscall.Signal(tc.sig) {
					t.Errorf("process %d ended by signal %v, want %v", p.pid(), got, tc.sig)
				}
			}
			if frozen, err := m.Frozen(); err != nil || frozen {
				t.Errorf("Frozen() = %v, %v after Signal; want thawed", frozen, err)
			}
		})
	}
}

// Stats follow the container: memory and task counts rise when it
// allocates and forks.
func TestStatsMove(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "memory", "pids", "cpuacct")
	leaveNothing(t)
	m := create(t, h, &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: i64(100)}}, nil)
	p := start(t, m, h.V2Mount() != "")
	p.ask(t, "alloc 1")
	s1, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	p.ask(t, "alloc 48")
	if ans := p.ask(t, "spawn 3"); ans != "spawned 3" {
		t.Fatalf("spawn: %q", ans)
	}
	s2, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s1.Memory.Usage.Usage == 0 || s2.Memory.Usage.Usage < s1.Memory.Usage.Usage+40<<20 {
		t.Errorf("memory usage %d then %d after allocating 48 MiB; want a rise of at least 40 MiB", s1.Memory.Usage.Usage, s2.Memory.Usage.Usage)
	}
	if s1.Pids.Current == 0 || s2.Pids.Current < s1.Pids.Current+3 || s2.Pids.Limit != 100 {
		t.Errorf("pids %+v then %+v after 3 forks; want a rise of 3 and limit 100", s1.Pids, s2.Pids)
	}
	if s2.CPU.Usage.Total == 0 {
		t.Errorf("cpu usage total 0 after running")
	}
	data, err := json.Marshal(Event{Type: "stats", ID: "c1", Data: s2})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"type":"stats"`, `"id":"c1"`, `"memory":{`, `"usage":{"limit":`, `"pids":{"current":`, `"cpu":{"usage":{"total":`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("stats JSON lacks %s: %s", key, data)
		}
	}
}

// deviceCases are the attacks of issue 7 and the devices a container
// needs, as the helper process inside the cgroup sees them.
func checkDevices(t *testing.T, m *Manager, h *Host) {
	dir := t.TempDir()
	blk := filepath.Join(dir, "disk")
	kmsg := filepath.Join(dir, "kmsg")
	allowed := filepath.Join(dir, "allowed")
	// Made here, outside the cgroup: the image's device nodes.
	for _, n := range []struct {
		path         string
		mode         uint32
		major, minor uint32
	}{{blk, unix.S_IFBLK, 7, 0}, {kmsg, unix.S_IFCHR, 1, 11}, {allowed, unix.S_IFCHR, 1, 12}} {
		if err := unix.Mknod(n.path, n.mode|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatal(err)
		}
	}
	p := start(t, m, h.V2Mount() != "")
	for _, tc := range []struct {
		cmd, want string
	}{
		{"open /dev/null wronly", "ok"},
		{"open /dev/zero rdonly", "ok"},
		{"open /dev/urandom rdonly", "ok"},
		{"open /dev/ptmx rdonly", "ok"},
		{"open " + blk + " rdonly", "EPERM"},
		{"open " + kmsg + " wronly", "EPERM"},
		{"open /dev/kmsg wronly", "EPERM"},
		{"mknod " + filepath.Join(dir, "kmsg2") + " 1 11", "EPERM"},
		{"open " + allowed + " rdonly", "ENXIO"}, // 1:12 is allowed (linux.devices) but no driver has it
	} {
		if got := p.ask(t, tc.cmd); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.cmd, got, tc.want)
		}
	}
	// /dev/tty is allowed: with no controlling terminal it fails, but not
	// with EPERM.
	if got := p.ask(t, "open /dev/tty rdonly"); got == "EPERM" {
		t.Errorf("open /dev/tty: EPERM, want it allowed")
	}
}

func TestDevicesEnforced(t *testing.T) {
	for _, tc := range []struct {
		name string
		host func(testing.TB) *Host
	}{{"v1 devices.allow", realHost}, {"v2 eBPF program", unifiedHost}} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.host(t)
			if tc.name == "v1 devices.allow" {
				needV1(t, h, "devices")
			}
			leaveNothing(t)
			r := &rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
			m := create(t, h, r, []rspec.LinuxDevice{{Path: "/dev/allowed", Type: "c", Major: 1, Minor: 12}})
			checkDevices(t, m, h)
		})
	}
}

// With no linux.resources.devices at all the default is still deny.
func TestDevicesDenyByDefault(t *testing.T) {
	h := unifiedHost(t)
	leaveNothing(t)
	m := create(t, h, nil, nil)
	p := start(t, m, true)
	if got := p.ask(t, "open /dev/kmsg wronly"); got != "EPERM" {
		t.Errorf("open /dev/kmsg with no rules: %s, want EPERM", got)
	}
	if got := p.ask(t, "open /dev/null wronly"); got != "ok" {
		t.Errorf("open /dev/null with no rules: %s, want ok", got)
	}
}

// hugetlb lives on the cgroup2 mount of the development machine: the
// real (hybrid) host and the unified-only host both write it there.
func TestHugetlbV2(t *testing.T) {
	for _, tc := range []struct {
		name string
		host func(testing.TB) *Host
	}{{"unified only", unifiedHost}, {"hybrid", realHost}} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.host(t)
			if key, ok := h.where("hugetlb"); !ok || key != "" || !slices.Contains(h.hugePages, "2MB") {
				t.Skip("needs the hugetlb controller on the cgroup2 mount and 2MB pages")
			}
			leaveNothing(t)
			m := create(t, h, &rspec.LinuxResources{HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}}, nil)
			if got := readBack(t, m, "", "hugetlb.2MB.max"); got != "4194304" {
				t.Errorf("hugetlb.2MB.max = %s, want 4194304", got)
			}
			if fileExists(filepath.Join(m.Paths()[""], "hugetlb.2MB.rsvd.max")) {
				if got := readBack(t, m, "", "hugetlb.2MB.rsvd.max"); got != "4194304" {
					t.Errorf("hugetlb.2MB.rsvd.max = %s, want 4194304", got)
				}
			}
			if err := m.Update(&rspec.LinuxResources{HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}},
				Unified: map[string]string{"hugetlb.1GB.max": "0"}}); err != nil {
				t.Fatal(err)
			}
			if got := readBack(t, m, "", "hugetlb.2MB.max"); got != "8388608" {
				t.Errorf("hugetlb.2MB.max = %s after Update, want 8388608", got)
			}
			if got := readBack(t, m, "", "hugetlb.1GB.max"); got != "0" {
				t.Errorf("hugetlb.1GB.max = %s after a unified Update, want 0", got)
			}
			s, err := m.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := s.Hugetlb["2MB"]; !ok {
				t.Errorf("Stats().Hugetlb = %v, want a 2MB entry", s.Hugetlb)
			}
		})
	}
}

func TestUpdateV1(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "memory", "pids", "cpu")
	leaveNothing(t)
	r := &rspec.LinuxResources{
		Memory:  &rspec.LinuxMemory{Limit: i64(64 << 20), Swap: i64(64 << 20), CheckBeforeUpdate: bp(true)},
		Pids:    &rspec.LinuxPids{Limit: i64(20)},
		Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	m := create(t, h, r, nil)
	steps := []struct {
		name        string
		limit, swap int64
	}{
		{"raise both past memory+swap", 128 << 20, 128 << 20},
		{"lower both", 32 << 20, 48 << 20},
		{"lift both", -1, -1},
		{"set again", 64 << 20, 64 << 20},
	}
	for _, s := range steps {
		if err := m.Update(&rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: i64(s.limit), Swap: i64(s.swap)}}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		lim, _ := readInt(m.Paths()["memory"], "memory.limit_in_bytes")
		sw, _ := readInt(m.Paths()["memory"], "memory.memsw.limit_in_bytes")
		if unlimited(lim) != unlimited(s.limit) || unlimited(sw) != unlimited(s.swap) {
			t.Errorf("%s: memory %d, memory+swap %d; want %d, %d", s.name, lim, sw, s.limit, s.swap)
		}
	}
	if err := m.Update(&rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: i64(30)}, CPU: &rspec.LinuxCPU{Quota: i64(50000), Shares: u64(256)}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, file, want string }{
		{"pids", "pids.max", "30"}, {"cpu", "cpu.cfs_quota_us", "50000"}, {"cpu", "cpu.shares", "256"},
	} {
		if got := readBack(t, m, tc.key, tc.file); got != tc.want {
			t.Errorf("%s = %s after Update, want %s", tc.file, got, tc.want)
		}
	}
	// The same device rules again are fine; others are refused.
	if err := m.Update(&rspec.LinuxResources{Devices: r.Devices}); err != nil {
		t.Errorf("Update with the same device rules: %v", err)
	}
	err := m.Update(&rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.devices: device rules cannot change") {
		t.Errorf("Update with other device rules: %v, want a refusal", err)
	}
	// checkBeforeUpdate (set at Create): a limit below use is refused.
	p := start(t, m, h.V2Mount() != "")
	p.ask(t, "alloc 40")
	err = m.Update(&rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: i64(16 << 20), Swap: i64(16 << 20)}})
	if err == nil || !strings.Contains(err.Error(), "checkBeforeUpdate") {
		t.Errorf("Update below the usage: %v, want a checkBeforeUpdate refusal", err)
	}
	if got := readBack(t, m, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
		t.Errorf("memory.limit_in_bytes = %s after a refused Update, want it unchanged", got)
	}
	// A field the host lacks is refused by Update as by Create.
	err = m.Update(&rspec.LinuxResources{Rdma: map[string]rspec.LinuxRdma{"x": {HcaHandles: u32(1)}}})
	if _, ok := h.where("rdma"); !ok && (err == nil || !strings.Contains(err.Error(), "linux.resources.rdma")) {
		t.Errorf("Update with rdma: %v, want a refusal naming linux.resources.rdma", err)
	}
}

// A 32 MiB limit gets the OOM killer, and Events reports it.
func TestOOMEvent(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "memory")
	leaveNothing(t)
	m := create(t, h, &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: i64(32 << 20), Swap: i64(32 << 20)}}, nil)
	stop := make(chan struct{})
	defer close(stop)
	events, err := m.Events(0, stop)
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, m, h.V2Mount() != "")
	fmt.Fprintln(p.in, "alloc 64")
	_ = p.wait()
	if sig := p.signaled(); sig != syscall.SIGKILL {
		t.Errorf("allocating 64 MiB under a 32 MiB limit ended with signal %v, want SIGKILL", sig)
	}
	select {
	case ev := <-events:
		if ev.Type != "oom" {
			t.Errorf("event %q, want oom", ev.Type)
		}
	case <-time.After(10 * time.Second):
		t.Error("no oom event")
	}
	if n, err := m.OOMKills(); err != nil || n == 0 {
		t.Errorf("OOMKills() = %d, %v; want at least 1", n, err)
	}
}

func TestEventsStats(t *testing.T) {
	h := unifiedHost(t)
	leaveNothing(t)
	m := create(t, h, nil, nil)
	stop := make(chan struct{})
	events, err := m.Events(10*time.Millisecond, stop)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case ev := <-events:
			if _, ok := ev.Data.(*Stats); ev.Type != "stats" || !ok {
				t.Errorf("event %q with %T, want stats", ev.Type, ev.Data)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no stats event")
		}
	}
	close(stop)
	for range events {
	}
}

// A write the kernel refuses fails Create with the field named, and
// removes everything Create made; a field Check refuses makes nothing.
func TestCreateFailureLeavesNothing(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "cpuset")
	leaveNothing(t)
	m := h.Manager(testPath(t) + "/deeper/still")
	err := m.Create(&rspec.LinuxResources{CPU: &rspec.LinuxCPU{Cpus: "999"}}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.cpu.cpus: ") {
		t.Fatalf("Create with cpus 999: %v, want an error naming linux.resources.cpu.cpus", err)
	}
	for _, d := range m.created {
		t.Errorf("Create still lists %s as made", d)
	}
	for _, d := range m.uniqueDirs(true) {
		if fileExists(d) {
			t.Errorf("%s left behind by a failed Create", d)
		}
	}
	err = m.Create(&rspec.LinuxResources{Memory: &rspec.LinuxMemory{Kernel: i64(1 << 20)}}, nil)
	if err == nil || !strings.Contains(err.Error(), "linux.resources.memory.kernel") {
		t.Errorf("Create with memory.kernel: %v, want a refusal naming it", err)
	}
}

// The kernel's terse EINVAL gets an explanation where the reason is known.
func TestCreateExplainsRefusals(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "memory", "cpu")
	leaveNothing(t)
	// A new cgroup under /minirun has no realtime runtime to hand down.
	m := h.Manager(testPath(t))
	err := m.Create(&rspec.LinuxResources{CPU: &rspec.LinuxCPU{RealtimeRuntime: i64(1000)}}, nil)
	if h.hasFile("cpu", "cpu.rt_runtime_us") && (err == nil || !strings.Contains(err.Error(),
		"linux.resources.cpu.realtimeRuntime: 1000 µs is more realtime runtime than the parent cgroup")) {
		t.Errorf("Create with realtimeRuntime 1000: %v, want a refusal naming the parent's budget", err)
	}
	// Kernels since 5.x account hierarchically always.
	err = m.Create(&rspec.LinuxResources{Memory: &rspec.LinuxMemory{UseHierarchy: bp(false)}}, nil)
	if err == nil {
		t.Cleanup(func() { _ = m.Destroy() })
		if got := readBack(t, m, "memory", "memory.use_hierarchy"); got != "0" {
			t.Errorf("useHierarchy false accepted but memory.use_hierarchy reads %s", got)
		}
	} else if !strings.Contains(err.Error(), "linux.resources.memory.useHierarchy: this kernel always accounts memory hierarchically") {
		t.Errorf("Create with useHierarchy false: %v, want it applied or explained", err)
	}
}

func TestCreateRefusesABusyCgroup(t *testing.T) {
	h := realHost(t)
	leaveNothing(t)
	m := create(t, h, nil, nil)
	start(t, m, h.V2Mount() != "", "/bin/busybox", "sleep", "1000")
	err := h.Manager(m.Path()).Create(nil, nil)
	if err == nil || !strings.Contains(err.Error(), "already has processes") {
		t.Errorf("second Create on a busy cgroup: %v, want a refusal", err)
	}
}

// State survives JSON, and a Manager loaded from it finds, freezes and
// destroys the same cgroup.
func TestStateLoad(t *testing.T) {
	h := realHost(t)
	leaveNothing(t)
	m := h.Manager(testPath(t))
	if err := m.Create(&rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}, nil); err != nil {
		t.Fatal(err)
	}
	p := start(t, m, h.V2Mount() != "", "/bin/busybox", "sleep", "1000")
	data, err := json.Marshal(m.State())
	if err != nil {
		t.Fatal(err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	l, err := Load(s)
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(l.Paths(), m.Paths()) {
		t.Errorf("loaded paths %v, want %v", l.Paths(), m.Paths())
	}
	if pids, err := l.Pids(); err != nil || !slices.Equal(pids, []int{p.pid()}) {
		t.Errorf("loaded Pids() = %v, %v; want [%d]", pids, err, p.pid())
	}
	if err := l.Freeze(); err != nil {
		t.Error(err)
	}
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()
	if sig := p.signaled(); sig != syscall.SIGKILL {
		t.Errorf("process ended with signal %v after Destroy of a frozen cgroup, want SIGKILL", sig)
	}
	if err := l.Destroy(); err != nil {
		t.Errorf("second Destroy: %v, want nothing to do", err)
	}
	if _, err := Load(State{Path: "relative", Mounts: s.Mounts}); err == nil {
		t.Error("Load took a relative path")
	}
	if _, err := Load(State{Path: "/x", Mounts: map[string]string{"memory": "/tmp"}}); err == nil {
		t.Error("Load took a mount that is no cgroup filesystem")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCreateUnderEmptyCpusetParent: a parent cpuset cgroup another
// container's Create has just made, and not filled yet, must not leave
// ours without CPUs and memory nodes (ENOSPC when a process joins it):
// make soak's concurrent runs hit that race.
func TestCreateUnderEmptyCpusetParent(t *testing.T) {
	h := realHost(t)
	needV1(t, h, "cpuset")
	leaveNothing(t)
	// Not under Parent, whose cgroup.clone_children fills a new cpuset.
	parent := fmt.Sprintf("/%s-test-%d-emptyparent", Parent, os.Getpid())
	dir := filepath.Join(h.v1["cpuset"], parent)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	if v, _ := readFile(dir, "cpuset.cpus"); v != "" {
		t.Fatalf("a new cpuset cgroup has cpus %q, want none", v)
	}
	m := h.Manager(parent + "/child")
	if err := m.Create(nil, nil); err != nil {
		t.Fatal(err)
	}
	defer m.Destroy()
	sleep := exec.Command("sleep", "10")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Wait()
	defer sleep.Process.Kill()
	if err := m.Enter(sleep.Process.Pid, false); err != nil {
		t.Errorf("Enter: %v, want the process in the cgroup", err)
	}
}

// TestParentStays: Create makes minirun's Parent where it is missing
// (with cgroup.clone_children in a v1 cpuset hierarchy, so the
// container's cpuset starts with the parent's CPUs), and Destroy removes
// the container's directory and the ones it made below Parent, never
// Parent itself (docs/design.md, rule 18).
func TestParentStays(t *testing.T) {
	h := realHost(t)
	leaveNothing(t)
	for _, mnt := range h.v1 {
		if err := unix.Rmdir(filepath.Join(mnt, Parent)); err != nil && err != unix.ENOENT {
			t.Skipf("%s: %v: another container is under it; this test needs Parent made afresh", filepath.Join(mnt, Parent), err)
		}
	}
	m := h.Manager(testPath(t) + "/a/b")
	if err := m.Create(nil, nil); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if cs, ok := h.v1["cpuset"]; ok {
		parent := filepath.Join(cs, Parent)
		if v, err := readFile(parent, "cgroup.clone_children"); v != "1" {
			t.Errorf("%s/cgroup.clone_children: got %q (%v), want 1", parent, v, err)
		}
		want, _ := readFile(parent, "cpuset.cpus")
		if got, err := readFile(m.dirs["cpuset"], "cpuset.cpus"); want == "" || got != want {
			t.Errorf("the container's cpuset.cpus: got %q (%v), want the parent's %q", got, err, want)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for k, dir := range m.dirs {
		mnt := h.mount(k)
		if !fileExists(filepath.Join(mnt, Parent)) {
			t.Errorf("hierarchy %q: %s is gone, want it kept", k, filepath.Join(mnt, Parent))
		}
		for d := dir; d != filepath.Join(mnt, Parent); d = filepath.Dir(d) {
			if fileExists(d) {
				t.Errorf("hierarchy %q: %s is left, want it removed", k, d)
			}
		}
	}
}
