package specs

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// TestValidateKernelLimits asserts the messages for values the kernel
// cannot take or would take differently from what the config means: ids it
// cannot hold, NUL bytes it would cut a string at, execve's sizes, and the
// settings of the scheduler, memory policy, personality and network
// devices. Every case would have run before (each is a check that did not
// exist), some with more privilege than asked.
func TestValidateKernelLimits(t *testing.T) {
	long := strings.Repeat("a", 131072)
	tests := []struct {
		name   string
		mutate func(s *rspec.Spec)
		want   []string
	}{
		// ids: (uid_t)-1 leaves the id unchanged, so 4294967295 was root.
		{"uid -1", func(s *rspec.Spec) { s.Process.User.UID = 4294967295 },
			[]string{`process.user.uid: 4294967295 is out of range 0 to 2147483647`}},
		{"gid 2^31", func(s *rspec.Spec) { s.Process.User.GID = 1 << 31 },
			[]string{`process.user.gid: 2147483648 is out of range 0 to 2147483647`}},
		{"ids at the edge", func(s *rspec.Spec) {
			s.Process.User = rspec.User{UID: MaxID, GID: MaxID, AdditionalGids: []uint32{MaxID}}
		}, nil},
		{"additional gid", func(s *rspec.Spec) { s.Process.User.AdditionalGids = []uint32{5, 4294967295} },
			[]string{`process.user.additionalGids[1]: 4294967295 is out of range 0 to 2147483647`}},
		{"too many groups", func(s *rspec.Spec) { s.Process.User.AdditionalGids = make([]uint32, MaxGroups+1) },
			[]string{`process.user.additionalGids: 65537 groups; the kernel takes at most 65536 (NGROUPS_MAX)`}},
		{"device ids", func(s *rspec.Spec) {
			s.Linux.Devices = []rspec.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 3, UID: ptr(uint32(4294967295)), GID: ptr(uint32(4294967295))}}
		}, []string{
			`linux.devices[0].uid: 4294967295 is out of range 0 to 2147483647`,
			`linux.devices[0].gid: 4294967295 is out of range 0 to 2147483647`,
		}},

		// NUL bytes: the kernel reads a string up to its first NUL.
		{"NUL in a mount destination", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/tmp\x00/../etc", Type: "tmpfs", Source: "tmpfs"})
		}, []string{`mounts[1].destination: contains a NUL byte`}},
		{"NUL everywhere", func(s *rspec.Spec) {
			s.Process.Cwd = "/tmp\x00x"
			s.Process.Args = []string{"sh", "a\x00"}
			s.Process.Env = []string{"A=\x00"}
			s.Root.Path = "rootfs\x00"
			s.Hostname = "h\x00"
			s.Domainname = "d\x00"
			addNS(s, rspec.LinuxNamespace{Type: "uts"}, rspec.LinuxNamespace{Type: "network", Path: "/proc/1/ns/net\x00"})
			s.Mounts[0].Source = "proc\x00"
			s.Mounts[0].Type = "proc\x00"
			s.Mounts[0].Options = []string{"nosuid", "mode=1\x00"}
			s.Linux.MaskedPaths = []string{"/proc/kcore\x00"}
			s.Linux.ReadonlyPaths = []string{"/proc/sys\x00"}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward\x00": "1", "net.core.somaxconn": "1\x00"}
			s.Linux.Devices = []rspec.LinuxDevice{{Path: "/dev/x\x00", Type: "c", Major: 1, Minor: 3}}
			s.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"eth9": {Name: "e\x00"}}
			s.Process.Rlimits = []rspec.POSIXRlimit{{Type: "RLIMIT_NOFILE\x00"}}
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"monotonic\x00": {}}
			s.Annotations = map[string]string{"metadata": "never reaches the kernel\x00"}
		}, []string{
			`process.rlimits[0].type: unknown rlimit "RLIMIT_NOFILE\x00"`,
			`linux.timeOffsets: set but linux.namespaces has no new time namespace to apply them to`,
			`linux.timeOffsets["monotonic\x00"]: unknown clock; only monotonic and boottime can be offset`,
			`linux.netDevices["eth9"].name: "e\x00": an interface name has no '/', ':', space or NUL`,
			`process.args[1]: contains a NUL byte`,
			`process.env[0]: contains a NUL byte`,
			`process.cwd: contains a NUL byte`,
			`process.rlimits[0].type: contains a NUL byte`,
			`root.path: contains a NUL byte`,
			`hostname: contains a NUL byte`,
			`domainname: contains a NUL byte`,
			`mounts[0].type: contains a NUL byte`,
			`mounts[0].source: contains a NUL byte`,
			`mounts[0].options[1]: contains a NUL byte`,
			`linux.sysctl["net.core.somaxconn"]: contains a NUL byte`,
			`linux.sysctl["net.ipv4.ip_forward\x00"]: the key contains a NUL byte`,
			`linux.namespaces[3].path: contains a NUL byte`,
			`linux.devices[0].path: contains a NUL byte`,
			`linux.netDevices["eth9"].name: contains a NUL byte`,
			`linux.maskedPaths[0]: contains a NUL byte`,
			`linux.readonlyPaths[0]: contains a NUL byte`,
			`linux.timeOffsets["monotonic\x00"]: the key contains a NUL byte`,
		}},

		// execve's sizes.
		{"argument too long", func(s *rspec.Spec) { s.Process.Args = []string{"sh", long} },
			[]string{`process.args[1]: 131072 bytes; execve takes at most 131071 in one string (MAX_ARG_STRLEN)`}},
		{"environment too big", func(s *rspec.Spec) {
			for range 20 {
				s.Process.Env = append(s.Process.Env, "X="+long[:120000])
			}
		}, []string{`process.env: process.args and process.env take 2400231 bytes; execve takes at most 2097152 here (a quarter of the default RLIMIT_STACK, 8388608)`}},
		{"environment fits a bigger stack", func(s *rspec.Spec) {
			for range 20 {
				s.Process.Env = append(s.Process.Env, "X="+long[:120000])
			}
			s.Process.Rlimits = []rspec.POSIXRlimit{{Type: "RLIMIT_STACK", Soft: 16 << 20, Hard: 16 << 20}}
		}, nil},

		// mount options the compiler does not apply
		{"refused mount options", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "remount"}})
		}, []string{
			`mounts[1].options[0]: "tmpcopyup": copying the files under the destination into the new tmpfs is not applied yet`,
			`mounts[1].options[1]: "remount": a remount of a mount the container does not have yet means nothing; give the options on the mount itself`,
		}},

		// scheduler
		{"scheduler batch", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedBatch, Nice: 5} }, nil},
		{"scheduler ISO", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedISO} },
			[]string{`process.scheduler.policy: SCHED_ISO is not a Linux scheduling policy`}},
		{"scheduler priorities", func(s *rspec.Spec) {
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedFIFO, Priority: 100, Runtime: 5}
		}, []string{
			`process.scheduler.priority: 100 is out of range 1 to 99 for SCHED_FIFO`,
			`process.scheduler.runtime: 5: only SCHED_DEADLINE takes a runtime (want 0)`,
		}},
		{"scheduler priority for other", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedOther, Priority: 3} },
			[]string{`process.scheduler.priority: 3: only SCHED_FIFO and SCHED_RR take a priority (want 0)`}},
		{"scheduler flags", func(s *rspec.Spec) {
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedOther,
				Flags: []rspec.LinuxSchedulerFlag{rspec.SchedFlagResetOnFork, rspec.SchedFlagUtilClampMax, "SCHED_FLAG_FAST"}}
		}, []string{
			`process.scheduler.flags[1]: SCHED_FLAG_UTIL_CLAMP_MAX: runtime-spec carries no clamp value, so the kernel would clamp to 0`,
			`process.scheduler.flags[2]: unknown flag "SCHED_FLAG_FAST"`,
		}},
		{"scheduler deadline", func(s *rspec.Spec) {
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedDeadline, Runtime: 10000, Deadline: 5000}
		}, []string{`process.scheduler.deadline: 5000 ns is below the runtime, 10000 ns`}},
		{"scheduler deadline runtime", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedDeadline} },
			[]string{`process.scheduler.runtime: 0 ns: SCHED_DEADLINE needs a runtime of at least 1024 ns`}},

		// CPU lists
		{"exec CPU affinity", func(s *rspec.Spec) { s.Process.ExecCPUAffinity = &rspec.CPUAffinity{Initial: "0-1,3", Final: "3-1"} },
			[]string{`process.execCPUAffinity.final: "3-1": the range 3-1 runs backwards`}},
		{"exec CPU affinity junk", func(s *rspec.Spec) { s.Process.ExecCPUAffinity = &rspec.CPUAffinity{Initial: "all"} },
			[]string{`process.execCPUAffinity.initial: "all" is not a CPU list (want numbers and ranges, such as 0-3,7)`}},

		// memory policy
		{"memory policy bind", func(s *rspec.Spec) {
			s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolBind, Nodes: "0", Flags: []rspec.MemoryPolicyFlagType{rspec.MpolFStaticNodes}}
		}, nil},
		{"memory policy bad", func(s *rspec.Spec) {
			s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: "MPOL_FAST", Nodes: "0",
				Flags: []rspec.MemoryPolicyFlagType{rspec.MpolFRelativeNodes, rspec.MpolFStaticNodes, "MPOL_F_X"}}
		}, []string{
			`linux.memoryPolicy.mode: unknown mode "MPOL_FAST"`,
			`linux.memoryPolicy.flags[2]: unknown flag "MPOL_F_X"`,
			`linux.memoryPolicy.flags: MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other`,
		}},
		{"memory policy nodes", func(s *rspec.Spec) { s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolInterleave} },
			[]string{`linux.memoryPolicy.nodes: missing; MPOL_INTERLEAVE needs at least one node`}},
		{"memory policy local", func(s *rspec.Spec) {
			s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolLocal, Nodes: "1"}
		},
			[]string{`linux.memoryPolicy.nodes: MPOL_LOCAL takes no nodes`}},

		// personality
		{"personality flags", func(s *rspec.Spec) {
			s.Linux.Personality = &rspec.LinuxPersonality{Domain: rspec.PerLinux32, Flags: []rspec.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}}
		}, []string{`linux.personality.flags[0]: "ADDR_NO_RANDOMIZE": runtime-spec defines no personality flags`}},

		// network devices
		{"net devices", func(s *rspec.Spec) {
			addNS(s, rspec.LinuxNamespace{Type: "network"})
			s.Linux.NetDevices = map[string]rspec.LinuxNetDevice{
				"dummy0": {Name: "eth0"}, "dummy1": {Name: "eth%d"}, "dummy2": {Name: "eth%d"}, "dummy3": {},
			}
		}, nil},
		{"net device names", func(s *rspec.Spec) {
			addNS(s, rspec.LinuxNamespace{Type: "network"})
			s.Linux.NetDevices = map[string]rspec.LinuxNetDevice{
				"a/b": {}, "averyveryverylongname": {}, "lo": {}, "d%d": {}, "e0": {Name: "x:1"}, "e1": {Name: "c0"},
				"e2": {Name: "c0"}, "e3": {Name: "%s%d"}, "c0": {},
			}
		}, []string{
			`linux.netDevices["a/b"]: "a/b": an interface name has no '/', ':', space or NUL`,
			`linux.netDevices["averyveryverylongname"]: "averyveryverylongname" is 21 bytes; an interface name has at most 15 (IFNAMSIZ)`,
			`linux.netDevices["d%d"]: "d%d": a host interface is named without a template`,
			`linux.netDevices["e0"].name: "x:1": an interface name has no '/', ':', space or NUL`,
			`linux.netDevices["e1"].name: "c0" is also the name of linux.netDevices["c0"] in the container`,
			`linux.netDevices["e2"].name: "c0" is also the name of linux.netDevices["c0"] in the container`,
			`linux.netDevices["e3"].name: "%s%d": a template has one %d and no other %`,
			`linux.netDevices["lo"]: the loopback interface belongs to its network namespace and cannot move`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.mutate(s)
			err := Validate(s, ValidateOptions{})
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestValidateMemoryPolicyNodes asks the host which nodes it has: one that
// does not exist is named before set_mempolicy can say only EINVAL.
func TestValidateMemoryPolicyNodes(t *testing.T) {
	data, err := os.ReadFile("/sys/devices/system/node/online")
	if err != nil {
		t.Skip("no NUMA information in /sys on this host: " + err.Error())
	}
	online, err := ParseNodeList(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	missing := online[len(online)-1] + 1
	s := baseSpec()
	s.Root.Path = t.TempDir()
	s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolBind, Nodes: "0," + strconv.Itoa(missing)}
	want := "linux.memoryPolicy.nodes: node " + strconv.Itoa(missing) + " does not exist on this host (its nodes: " + strings.TrimSpace(string(data)) + ")"
	if got := errString(Validate(s, ValidateOptions{CheckFS: true})); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Relative nodes are folded onto the host's: any number will do.
	s.Linux.MemoryPolicy.Flags = []rspec.MemoryPolicyFlagType{rspec.MpolFRelativeNodes}
	if err := Validate(s, ValidateOptions{CheckFS: true}); err != nil {
		t.Errorf("relative nodes: got %v, want nil", err)
	}
}

// TestParseCPUList reads runtime-spec's lists.
func TestParseCPUList(t *testing.T) {
	cases := []struct {
		in   string
		want []int
		err  string
	}{
		{"", nil, ""},
		{"0", []int{0}, ""},
		{"0-3,7", []int{0, 1, 2, 3, 7}, ""},
		{"3,1-2,3", []int{3, 1, 2}, ""},
		{"8191", []int{8191}, ""},
		{"8192", nil, `"8192": CPU 8192 is out of range 0 to 8191`},
		{"1-", nil, `"1-" is not a CPU list (want numbers and ranges, such as 0-3,7)`},
		{"-1", nil, `"-1" is not a CPU list (want numbers and ranges, such as 0-3,7)`},
		{"a", nil, `"a" is not a CPU list (want numbers and ranges, such as 0-3,7)`},
	}
	for _, c := range cases {
		got, err := ParseCPUList(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: got %v, %v, want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, %v, want %v", c.in, got, err, c.want)
		}
	}
}
