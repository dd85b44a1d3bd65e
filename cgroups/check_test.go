package cgroups

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeHost builds a host from a description: v1 controllers (mounted at
// /sys/fs/cgroup/<name>), the files their roots have, and a cgroup2
// mount with its controllers.
func fakeHost(kind Kind, v1 []string, rootFiles []string, v2 string, v2ctl []string) *Host {
	h := &Host{kind: kind, v1: map[string]string{}, v2: v2, v2ctl: map[string]bool{}, hugePages: []string{"2MB", "1GB"}}
	for _, c := range v1 {
		h.v1[c] = filepath.Join("/sys/fs/cgroup", c)
	}
	for _, c := range v2ctl {
		h.v2ctl[c] = true
	}
	files := map[string]bool{}
	for _, f := range rootFiles {
		ctrl, _, _ := strings.Cut(f, ".")
		files[filepath.Join("/sys/fs/cgroup", ctrl, f)] = true
	}
	h.exists = func(p string) bool { return files[p] }
	return h
}

// hybridHost is the development machine: v1 controllers, hugetlb alone on
// the unified mount, a kernel with swap accounting, RT group scheduling
// and BFQ but no CFQ, and neither rdma, net_cls nor net_prio.
func hybridHost() *Host {
	return fakeHost(Hybrid,
		[]string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "name=systemd"},
		[]string{"memory.memsw.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes", "memory.swappiness",
			"cpu.cfs_burst_us", "cpu.rt_runtime_us", "cpu.rt_period_us", "cpu.idle", "blkio.bfq.io_service_bytes"},
		"/sys/fs/cgroup/unified", []string{"hugetlb"})
}

func v2FullHost() *Host {
	return fakeHost(V2, nil, nil, "/sys/fs/cgroup", []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"})
}

// v1OldHost is an older v1 machine: CFQ's weight files, net_cls and
// net_prio, but no swap accounting, no RT group scheduling, no burst.
func v1OldHost() *Host {
	return fakeHost(V1,
		[]string{"cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids", "net_cls", "net_prio"},
		[]string{"blkio.weight", "blkio.leaf_weight", "blkio.weight_device", "blkio.leaf_weight_device", "memory.swappiness"},
		"", nil)
}

func u16(v uint16) *uint16 { return &v }
func u32(v uint32) *uint32 { return &v }
func u64(v uint64) *uint64 { return &v }
func bp(v bool) *bool      { return &v }

// everything sets every linux.resources field once.
func everything() *rspec.LinuxResources {
	return &rspec.LinuxResources{
		Memory: &rspec.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(96 << 20),
			Kernel: i64(1 << 20), KernelTCP: i64(1 << 20), Swappiness: u64(10), DisableOOMKiller: bp(true),
			UseHierarchy: bp(false), CheckBeforeUpdate: bp(true)},
		CPU: &rspec.LinuxCPU{Shares: u64(1024), Quota: i64(20000), Period: u64(100000), Burst: u64(1000),
			RealtimeRuntime: i64(1000), RealtimePeriod: u64(100000), Cpus: "0", Mems: "0", Idle: i64(0)},
		Pids: &rspec.LinuxPids{Limit: i64(20)},
		BlockIO: &rspec.LinuxBlockIO{Weight: u16(500), LeafWeight: u16(300),
			WeightDevice:          []rspec.LinuxWeightDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(200)}},
			ThrottleReadBpsDevice: []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1 << 20}}},
		HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Network:        &rspec.LinuxNetwork{ClassID: u32(0x100001), Priorities: []rspec.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}},
		Rdma:           map[string]rspec.LinuxRdma{"mlx5_0": {HcaHandles: u32(2)}},
		Unified:        map[string]string{"memory.high": "50000000", "hugetlb.2MB.max": "4194304"},
	}
}

func problemStrings(ps []Problem) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return s
}

func TestCheckEveryField(t *testing.T) {
	const kernel = "linux.resources.memory.kernel: Linux no longer enforces kernel memory limits (memory.kmem.limit_in_bytes ignores writes; cgroup v2 has none)"
	for _, tc := range []struct {
		name string
		h    *Host
		want []string
	}{
		{"hybrid", hybridHost(), []string{
			kernel,
			"linux.resources.blockIO.leafWeight: this host has no blkio.leaf_weight: leaf weights left Linux with the CFQ scheduler in 5.0",
			"linux.resources.network.classID: no net_cls controller on this host",
			"linux.resources.network.priorities: no net_prio controller on this host",
			"linux.resources.rdma: no rdma controller on this host",
			`linux.resources.unified["memory.high"]: the memory controller is not on this host's cgroup2 hierarchy (cgroup v1 has it; use the v1 fields)`,
		}},
		{"v2", v2FullHost(), []string{
			kernel,
			"linux.resources.memory.kernelTCP: cgroup v2 has no kernel TCP memory limit (TCP buffers count as memory)",
			"linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness",
			"linux.resources.memory.disableOOMKiller: cgroup v2 cannot turn the OOM killer off",
			"linux.resources.memory.useHierarchy: cgroup v2 accounting is always hierarchical",
			"linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime CPU bandwidth settings",
			"linux.resources.cpu.realtimePeriod: cgroup v2 has no realtime CPU bandwidth settings",
			"linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights",
			"linux.resources.network.classID: no net_cls controller on this host: net_cls exists only in cgroup v1",
			"linux.resources.network.priorities: no net_prio controller on this host: net_prio exists only in cgroup v1",
		}},
		{"old v1", v1OldHost(), []string{
			kernel,
			"linux.resources.memory.swap: this host's memory controller has no memory.memsw.limit_in_bytes: swap accounting is off",
			"linux.resources.memory.kernelTCP: this host's memory controller has no memory.kmem.tcp.limit_in_bytes",
			"linux.resources.cpu.burst: this host's cpu controller has no cpu.cfs_burst_us",
			"linux.resources.cpu.realtimePeriod: this host's cpu controller has no cpu.rt_period_us",
			"linux.resources.cpu.realtimeRuntime: this host's cpu controller has no cpu.rt_runtime_us",
			"linux.resources.cpu.idle: this host's cpu controller has no cpu.idle",
			"linux.resources.cpu.cpus: no cpuset controller on this host",
			"linux.resources.cpu.mems: no cpuset controller on this host",
			"linux.resources.hugepageLimits: no hugetlb controller on this host",
			"linux.resources.rdma: no rdma controller on this host",
			"linux.resources.unified: this host has no cgroup2 hierarchy (cgroup v1 only); write the v1 fields instead",
		}},
	} {
		got := problemStrings(tc.h.Check(everything()))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Check(every field):\n got  %s\n want %s", tc.name, strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
		}
	}
}

func TestCheckMissingControllers(t *testing.T) {
	// A host with only a memory controller: each other field set names the
	// controller it lacks, once.
	h := fakeHost(V1, []string{"memory", "devices"}, []string{"memory.memsw.limit_in_bytes"}, "", nil)
	r := &rspec.LinuxResources{
		CPU:            &rspec.LinuxCPU{Shares: u64(512), Quota: i64(1000)},
		Pids:           &rspec.LinuxPids{Limit: i64(10)},
		BlockIO:        &rspec.LinuxBlockIO{Weight: u16(100), ThrottleWriteIOPSDevice: []rspec.LinuxThrottleDevice{{Rate: 5}}},
		HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}, {Pagesize: "1GB", Limit: 0}},
	}
	want := []string{
		"linux.resources.cpu.shares: no cpu controller on this host",
		"linux.resources.cpu.quota: no cpu controller on this host",
		"linux.resources.pids.limit: no pids controller on this host",
		"linux.resources.blockIO.weight: no blkio controller on this host",
		"linux.resources.blockIO.throttleWriteIOPSDevice: no blkio controller on this host",
		"linux.resources.hugepageLimits: no hugetlb controller on this host",
	}
	if got := problemStrings(h.Check(r)); !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// A host with no devices controller and no cgroup2 cannot enforce
	// device rules at all: that is refused too.
	h = fakeHost(V1, []string{"memory"}, nil, "", nil)
	want = []string{"linux.resources.devices: no devices controller on this host"}
	if got := problemStrings(h.Check(nil)); !slices.Equal(got, want) {
		t.Errorf("no devices controller: got %q, want %q", got, want)
	}
}

func TestCheckValues(t *testing.T) {
	h := v2FullHost()
	for _, tc := range []struct {
		name string
		r    *rspec.LinuxResources
		want []string
	}{
		{"memory limit 0", &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: i64(0)}},
			[]string{"linux.resources.memory.limit: 0 is not a memory limit in bytes (-1 means no limit)"}},
		{"swap without limit on v2", &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Swap: i64(1 << 20)}},
			[]string{"linux.resources.memory.swap: cgroup v2 limits swap apart from memory, so a memory+swap limit needs linux.resources.memory.limit to subtract"}},
		{"cpu quota 0 and period 0", &rspec.LinuxResources{CPU: &rspec.LinuxCPU{Quota: i64(0), Period: u64(0)}},
			[]string{"linux.resources.cpu.quota: 0 is not a quota in microseconds (-1 means no limit)", "linux.resources.cpu.period: 0 is not a period"}},
		{"pids -2", &rspec.LinuxResources{Pids: &rspec.LinuxPids{Limit: i64(-2)}},
			[]string{"linux.resources.pids.limit: -2 is not a number of tasks (-1 means no limit)"}},
		{"blkio weight 5 on v2", &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{Weight: u16(5)}},
			[]string{"linux.resources.blockIO.weight: 5 is outside 10-1000, the blkio weight range that maps onto io.weight"}},
		{"weight device without weights", &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{WeightDevice: []rspec.LinuxWeightDevice{{}}}},
			[]string{"linux.resources.blockIO.weightDevice[0]: needs weight or leafWeight"}},
		{"throttle with a bad device", &rspec.LinuxResources{BlockIO: &rspec.LinuxBlockIO{ThrottleReadBpsDevice: []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: -1}}}}},
			[]string{"linux.resources.blockIO.throttleReadBpsDevice[0]: -1:0 is not a Linux device number"}},
		{"huge page size the host lacks", &rspec.LinuxResources{HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "4MB"}, {Pagesize: "2M"}}},
			[]string{"linux.resources.hugepageLimits[0].pageSize: 4MB is not a huge page size of this host (it has 2MB, 1GB)",
				`linux.resources.hugepageLimits[1].pageSize: "2M" is not a page size such as 2MB`}},
		{"rdma entry with no limit", &rspec.LinuxResources{Rdma: map[string]rspec.LinuxRdma{"mlx5_0": {}}},
			[]string{`linux.resources.rdma["mlx5_0"]: needs hcaHandles or hcaObjects`}},
		{"unified keys that are no settings", &rspec.LinuxResources{Unified: map[string]string{
			"cgroup.procs": "1", "memory": "1", "../memory.max": "1", "net_cls.classid": "1"}},
			[]string{`linux.resources.unified["../memory.max"]: not a cgroup2 file name (controller.setting)`,
				`linux.resources.unified["cgroup.procs"]: cgroup.procs moves processes; it is not a setting`,
				`linux.resources.unified["memory"]: not a cgroup2 file name (controller.setting)`,
				`linux.resources.unified["net_cls.classid"]: the net_cls controller is not on this host's cgroup2 hierarchy`}},
		{"bad device rules", &rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{
			{Type: "x"}, {Type: "c", Major: i64(5000)}, {Type: "a", Major: i64(1)}, {Type: "c", Access: "rwx"}}},
			[]string{`linux.resources.devices[0].type: "x" is not a, c or b`,
				"linux.resources.devices[1].major: 5000 is outside 0-4095, the range Linux device numbers have",
				"linux.resources.devices[2]: type a (all devices) takes no major or minor number",
				`linux.resources.devices[3].access: "rwx" holds 'x'; access is made of r, w and m`}},
		{"fine", &rspec.LinuxResources{Memory: &rspec.LinuxMemory{Limit: i64(-1), Swap: i64(-1), DisableOOMKiller: bp(false), UseHierarchy: bp(true)},
			Pids: &rspec.LinuxPids{Limit: i64(0)}, Unified: map[string]string{"cgroup.max.depth": "3", "memory.high": "max"}}, nil},
	} {
		if got := problemStrings(h.Check(tc.r)); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got  %q\n want %q", tc.name, got, tc.want)
		}
	}
}

// staticSteps lists the plain writes of a plan as "key file=value".
func staticSteps(p *plan) []string {
	var s []string
	for _, st := range p.steps {
		if st.run != nil {
			s = append(s, st.field+" (computed)")
			continue
		}
		s = append(s, st.key+" "+st.file+"="+st.value)
	}
	return s
}

func TestPlanFiles(t *testing.T) {
	r := &rspec.LinuxResources{
		Memory:         &rspec.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(-1)},
		CPU:            &rspec.LinuxCPU{Shares: u64(1024), Quota: i64(20000), Period: u64(100000), Cpus: "0-1", Idle: i64(1)},
		Pids:           &rspec.LinuxPids{Limit: i64(-1)},
		BlockIO:        &rspec.LinuxBlockIO{ThrottleWriteBpsDevice: []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 254, Minor: 0}, Rate: 0}}},
		HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}},
		Unified:        map[string]string{"io.max": "254:0 rbps=10\n254:0 wiops=5\n"},
	}
	for _, tc := range []struct {
		name string
		h    *Host
		r    *rspec.LinuxResources
		want []string
		need []string
	}{
		{"v2", v2FullHost(), r, []string{
			" memory.max=67108864", " memory.swap.max=33554432", " memory.low=max",
			" cpu.weight=100", " cpu.max=20000 100000", " cpu.idle=1", " cpuset.cpus=0-1",
			" pids.max=max",
			" io.max=254:0 wbps=max",
			" hugetlb.2MB.max=8388608", " hugetlb.2MB.rsvd.max=8388608",
			" io.max=254:0 rbps=10", " io.max=254:0 wiops=5",
			"linux.resources.devices (computed)",
		}, []string{"cpu", "cpuset", "hugetlb", "io", "memory", "pids"}},
		{"hybrid", hybridHost(), &rspec.LinuxResources{
			Memory:         r.Memory,
			CPU:            &rspec.LinuxCPU{Shares: u64(1024), Quota: i64(-1), Period: u64(50000), RealtimeRuntime: i64(-1), Mems: "0"},
			Pids:           &rspec.LinuxPids{Limit: i64(20)},
			BlockIO:        &rspec.LinuxBlockIO{Weight: u16(300), WeightDevice: []rspec.LinuxWeightDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 254}, Weight: u16(10)}}},
			HugepageLimits: []rspec.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 0}},
			Unified:        map[string]string{"hugetlb.2MB.max": "0"},
		}, []string{
			"linux.resources.memory.limit (computed)", "memory memory.soft_limit_in_bytes=-1",
			"cpu cpu.shares=1024", "cpu cpu.cfs_period_us=50000", "cpu cpu.cfs_quota_us=-1", "cpu cpu.rt_runtime_us=-1", "cpuset cpuset.mems=0",
			"pids pids.max=20",
			"blkio blkio.bfq.weight=300", "blkio blkio.bfq.weight_device=254:0 10",
			" hugetlb.1GB.max=0", " hugetlb.1GB.rsvd.max=0",
			" hugetlb.2MB.max=0",
			"linux.resources.devices (computed)",
		}, []string{"hugetlb"}},
		{"old v1", v1OldHost(), &rspec.LinuxResources{
			BlockIO: &rspec.LinuxBlockIO{Weight: u16(300), LeafWeight: u16(200),
				WeightDevice:           []rspec.LinuxWeightDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 8, Minor: 16}, Weight: u16(10), LeafWeight: u16(20)}},
				ThrottleReadIOPSDevice: []rspec.LinuxThrottleDevice{{LinuxBlockIODevice: rspec.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 100}}},
			Network: &rspec.LinuxNetwork{ClassID: u32(0x100001), Priorities: []rspec.LinuxInterfacePriority{{Name: "eth0", Priority: 5}, {Name: "lo", Priority: 1}}},
			Memory:  &rspec.LinuxMemory{Swappiness: u64(0), DisableOOMKiller: bp(true), UseHierarchy: bp(true)},
		}, []string{
			"memory memory.swappiness=0", "memory memory.oom_control=1", "memory memory.use_hierarchy=1",
			"blkio blkio.weight=300", "blkio blkio.leaf_weight=200", "blkio blkio.weight_device=8:16 10",
			"blkio blkio.leaf_weight_device=8:16 20", "blkio blkio.throttle.read_iops_device=8:16 100",
			"net_cls net_cls.classid=1048577", "net_prio net_prio.ifpriomap=eth0 5", "net_prio net_prio.ifpriomap=lo 1",
			"linux.resources.devices (computed)",
		}, nil},
	} {
		p := tc.h.plan(tc.r, nil, false)
		if len(p.problems) > 0 {
			t.Errorf("%s: unexpected problems %q", tc.name, problemStrings(p.problems))
			continue
		}
		if got := staticSteps(p); !slices.Equal(got, tc.want) {
			t.Errorf("%s: steps\n got  %q\n want %q", tc.name, got, tc.want)
		}
		var need []string
		for c := range p.need {
			need = append(need, c)
		}
		slices.Sort(need)
		if !slices.Equal(need, tc.need) {
			t.Errorf("%s: cgroup2 controllers needed %q, want %q", tc.name, need, tc.need)
		}
	}
}

// On a hybrid host a unified key for a controller v1 holds is refused
// with a pointer to the v1 field, under its cgroup2 name too.
func TestCheckUnifiedOnHybrid(t *testing.T) {
	r := &rspec.LinuxResources{Unified: map[string]string{"io.max": "8:0 rbps=1", "cpu.max": "max", "hugetlb.2MB.max": "0", "misc.max": "x 1"}}
	want := []string{
		`linux.resources.unified["cpu.max"]: the cpu controller is not on this host's cgroup2 hierarchy (cgroup v1 has it; use the v1 fields)`,
		`linux.resources.unified["io.max"]: the io controller is not on this host's cgroup2 hierarchy (cgroup v1 has it; use the v1 fields)`,
		`linux.resources.unified["misc.max"]: the misc controller is not on this host's cgroup2 hierarchy`,
	}
	if got := problemStrings(hybridHost().Check(r)); !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
