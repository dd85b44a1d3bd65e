package specs

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Checks of values the kernel takes, and the walk that applies the policy.

// MaxID is the largest user or group id minirun accepts, as runc does. The
// kernel's uid_t is 32 bits, but (uid_t)-1 means "leave unchanged" to
// setresuid and chown: a process asked to run as 4294967295 would keep
// minirun's root.
const MaxID = 1<<31 - 1

// MaxGroups is the kernel's NGROUPS_MAX: setgroups refuses more.
const MaxGroups = 65536

// id checks a user or group id.
func (c *checker) id(f string, id uint32) {
	if id > MaxID {
		c.add(f, "%d is out of range 0 to %d", id, MaxID)
	}
}

// The kernel's limits on execve's arguments (fs/exec.c): one string at most
// MAX_ARG_STRLEN bytes with its NUL; all of them, with a pointer each, at
// most a quarter of the stack limit, capped at three quarters of 8 MiB and
// never below 128 KiB.
const (
	maxArgStrlen = 32 * 4096
	argMin       = 32 * 4096
	stackLimit   = 8 << 20 // _STK_LIM, the default RLIMIT_STACK
)

// execSize checks that execve will take process.args and process.env, so
// the failure is named here rather than as E2BIG from a started container.
func (c *checker) execSize(p *rspec.Process) {
	total := 8 * (max(len(p.Args), 1) + len(p.Env))
	args := 0
	for _, l := range []struct {
		name string
		strs []string
	}{{"process.args", p.Args}, {"process.env", p.Env}} {
		for i, s := range l.strs {
			if len(s)+1 > maxArgStrlen {
				c.add(fmt.Sprintf("%s[%d]", l.name, i), "%d bytes; execve takes at most %d in one string (MAX_ARG_STRLEN)", len(s), maxArgStrlen-1)
			}
			total += len(s) + 1
		}
		if l.name == "process.args" {
			args = total
		}
	}
	stack := uint64(stackLimit)
	stackFrom := "the default"
	if c.opts.CheckFS {
		var rl unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_STACK, &rl) == nil {
			stack, stackFrom = rl.Cur, "minirun's"
		}
	}
	for _, rl := range p.Rlimits {
		if rl.Type == "RLIMIT_STACK" {
			stack, stackFrom = rl.Soft, "process.rlimits'"
		}
	}
	limit := min(uint64(stackLimit/4*3), stack/4)
	limit = max(limit, argMin)
	if uint64(total) > limit {
		f := "process.env"
		if uint64(args) > limit {
			f = "process.args"
		}
		c.add(f, "process.args and process.env take %d bytes; execve takes at most %d here (a quarter of %s RLIMIT_STACK, %d)",
			total, limit, stackFrom, stack)
	}
}

// refusedMountOptions are mount options ParseMountOptions knows that the
// compiler does not apply yet.
var refusedMountOptions = map[string]string{
	"tmpcopyup": "copying the files under the destination into the new tmpfs is not applied yet",
	"remount":   "a remount of a mount the container does not have yet means nothing; give the options on the mount itself",
}

// Scheduling.

// schedPolicies are the policies sched_setattr takes (SCHED_ISO is in
// runtime-spec but was never merged into Linux).
var schedPolicies = map[rspec.LinuxSchedulerPolicy]int{
	rspec.SchedOther: unix.SCHED_NORMAL, rspec.SchedFIFO: unix.SCHED_FIFO, rspec.SchedRR: unix.SCHED_RR,
	rspec.SchedBatch: unix.SCHED_BATCH, rspec.SchedIdle: unix.SCHED_IDLE, rspec.SchedDeadline: unix.SCHED_DEADLINE,
}

// schedFlags are the sched_setattr flags minirun passes on.
var schedFlags = map[rspec.LinuxSchedulerFlag]uint64{
	rspec.SchedFlagResetOnFork: unix.SCHED_FLAG_RESET_ON_FORK, rspec.SchedFlagReclaim: unix.SCHED_FLAG_RECLAIM,
	rspec.SchedFlagDLOverrun: unix.SCHED_FLAG_DL_OVERRUN, rspec.SchedFlagKeepPolicy: unix.SCHED_FLAG_KEEP_POLICY,
	rspec.SchedFlagKeepParams: unix.SCHED_FLAG_KEEP_PARAMS,
}

// SchedPolicy returns the kernel's number for a scheduling policy name.
func SchedPolicy(p rspec.LinuxSchedulerPolicy) (int, bool) {
	n, ok := schedPolicies[p]
	return n, ok
}

// SchedFlag returns the kernel's bit for a sched_setattr flag name.
func SchedFlag(f rspec.LinuxSchedulerFlag) (uint64, bool) {
	n, ok := schedFlags[f]
	return n, ok
}

func (c *checker) scheduler(sc *rspec.Scheduler) {
	const f = "process.scheduler"
	switch _, ok := schedPolicies[sc.Policy]; {
	case sc.Policy == rspec.SchedISO:
		c.add(f+".policy", "SCHED_ISO is not a Linux scheduling policy")
	case !ok:
		c.add(f+".policy", "unknown scheduling policy %q", sc.Policy)
	}
	if sc.Nice < -20 || sc.Nice > 19 {
		c.add(f+".nice", "%d is out of range -20 to 19", sc.Nice)
	}
	realtime := sc.Policy == rspec.SchedFIFO || sc.Policy == rspec.SchedRR
	switch {
	case realtime && (sc.Priority < 1 || sc.Priority > 99):
		c.add(f+".priority", "%d is out of range 1 to 99 for %s", sc.Priority, sc.Policy)
	case !realtime && sc.Priority != 0:
		c.add(f+".priority", "%d: only SCHED_FIFO and SCHED_RR take a priority (want 0)", sc.Priority)
	}
	for i, fl := range sc.Flags {
		switch _, ok := schedFlags[fl]; {
		case fl == rspec.SchedFlagUtilClampMin || fl == rspec.SchedFlagUtilClampMax:
			c.add(fmt.Sprintf("%s.flags[%d]", f, i), "%s: runtime-spec carries no clamp value, so the kernel would clamp to 0", fl)
		case !ok:
			c.add(fmt.Sprintf("%s.flags[%d]", f, i), "unknown flag %q", fl)
		}
	}
	if sc.Policy != rspec.SchedDeadline {
		for _, v := range []struct {
			name string
			v    uint64
		}{{"runtime", sc.Runtime}, {"deadline", sc.Deadline}, {"period", sc.Period}} {
			if v.v != 0 {
				c.add(f+"."+v.name, "%d: only SCHED_DEADLINE takes a %s (want 0)", v.v, v.name)
			}
		}
		return
	}
	// The kernel's rules for a deadline task (sched/deadline.c), said
	// before it is asked: runtime at least 1024 ns, runtime <= deadline <=
	// period (a period of 0 means the deadline).
	switch {
	case sc.Runtime < 1024:
		c.add(f+".runtime", "%d ns: SCHED_DEADLINE needs a runtime of at least 1024 ns", sc.Runtime)
	case sc.Deadline < sc.Runtime:
		c.add(f+".deadline", "%d ns is below the runtime, %d ns", sc.Deadline, sc.Runtime)
	case sc.Period != 0 && sc.Period < sc.Deadline:
		c.add(f+".period", "%d ns is below the deadline, %d ns", sc.Period, sc.Deadline)
	}
}

// CPU and node lists.

// maxListID bounds the numbers in a CPU or node list: no kernel is built
// for more CPUs (NR_CPUS) or nodes (MAX_NUMNODES).
const maxListID = 8191

// ParseCPUList reads a list of CPUs as runtime-spec writes it, "0-3,7",
// into the CPUs in order; "" is no CPU.
func ParseCPUList(s string) ([]int, error) { return parseList(s, "CPU") }

// ParseNodeList reads a list of memory nodes, "0-1,3".
func ParseNodeList(s string) ([]int, error) { return parseList(s, "node") }

func parseList(s, noun string) ([]int, error) {
	var out []int
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		switch {
		case err1 != nil || err2 != nil || a < 0 || b < 0:
			return nil, fmt.Errorf("%q is not a %s list (want numbers and ranges, such as 0-3,7)", s, noun)
		case b < a:
			return nil, fmt.Errorf("%q: the range %d-%d runs backwards", s, a, b)
		case b > maxListID:
			return nil, fmt.Errorf("%q: %s %d is out of range 0 to %d", s, noun, b, maxListID)
		}
		for i := a; i <= b; i++ {
			if !slices.Contains(out, i) {
				out = append(out, i)
			}
		}
	}
	return out, nil
}

// Memory policy.

var memPolicyModes = map[rspec.MemoryPolicyModeType]int{
	rspec.MpolDefault: unix.MPOL_DEFAULT, rspec.MpolBind: unix.MPOL_BIND, rspec.MpolInterleave: unix.MPOL_INTERLEAVE,
	rspec.MpolWeightedInterleave: unix.MPOL_WEIGHTED_INTERLEAVE, rspec.MpolPreferred: unix.MPOL_PREFERRED,
	rspec.MpolPreferredMany: unix.MPOL_PREFERRED_MANY, rspec.MpolLocal: unix.MPOL_LOCAL,
}

var memPolicyFlags = map[rspec.MemoryPolicyFlagType]int{
	rspec.MpolFNumaBalancing: unix.MPOL_F_NUMA_BALANCING, rspec.MpolFRelativeNodes: unix.MPOL_F_RELATIVE_NODES,
	rspec.MpolFStaticNodes: unix.MPOL_F_STATIC_NODES,
}

// MemPolicyMode returns the kernel's number for a set_mempolicy mode.
func MemPolicyMode(m rspec.MemoryPolicyModeType) (int, bool) {
	n, ok := memPolicyModes[m]
	return n, ok
}

// MemPolicyFlag returns the kernel's bit for a set_mempolicy mode flag.
func MemPolicyFlag(f rspec.MemoryPolicyFlagType) (int, bool) {
	n, ok := memPolicyFlags[f]
	return n, ok
}

func (c *checker) memoryPolicy(mp *rspec.LinuxMemoryPolicy) {
	const f = "linux.memoryPolicy"
	_, ok := memPolicyModes[mp.Mode]
	if !ok {
		c.add(f+".mode", "unknown mode %q", mp.Mode)
	}
	relative := false
	for i, fl := range mp.Flags {
		if _, ok := memPolicyFlags[fl]; !ok {
			c.add(fmt.Sprintf("%s.flags[%d]", f, i), "unknown flag %q", fl)
		}
		relative = relative || fl == rspec.MpolFRelativeNodes
	}
	if slices.Contains(mp.Flags, rspec.MpolFRelativeNodes) && slices.Contains(mp.Flags, rspec.MpolFStaticNodes) {
		c.add(f+".flags", "MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other")
	}
	nodes, err := ParseNodeList(mp.Nodes)
	if err != nil {
		c.add(f+".nodes", "%v", err)
		return
	}
	switch mp.Mode {
	case rspec.MpolDefault, rspec.MpolLocal:
		if len(nodes) > 0 {
			c.add(f+".nodes", "%s takes no nodes", mp.Mode)
		}
	case rspec.MpolBind, rspec.MpolInterleave, rspec.MpolWeightedInterleave, rspec.MpolPreferredMany:
		if len(nodes) == 0 {
			c.add(f+".nodes", "missing; %s needs at least one node", mp.Mode)
		}
	}
	if !c.opts.CheckFS || relative || len(nodes) == 0 {
		return
	}
	// Relative nodes are folded onto whatever nodes there are; others
	// must exist, or set_mempolicy says only EINVAL.
	data, err := os.ReadFile("/sys/devices/system/node/online")
	if err != nil {
		return // no NUMA support in this kernel: let it answer
	}
	online, err := ParseNodeList(strings.TrimSpace(string(data)))
	if err != nil {
		return
	}
	for _, n := range nodes {
		if !slices.Contains(online, n) {
			c.add(f+".nodes", "node %d does not exist on this host (its nodes: %s)", n, strings.TrimSpace(string(data)))
			return
		}
	}
}

// Network devices.

// ifNameSize is the kernel's IFNAMSIZ: a name and its NUL.
const ifNameSize = 16

// checkIfName says what is wrong with a network interface name, the way
// the kernel's dev_valid_name judges it; "" when nothing is. A template
// ("eth%d") is allowed where the kernel picks the number.
func checkIfName(name string, template bool) string {
	switch {
	case name == "":
		return "an empty interface name"
	case len(name) >= ifNameSize:
		return fmt.Sprintf("%q is %d bytes; an interface name has at most %d (IFNAMSIZ)", name, len(name), ifNameSize-1)
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not an interface name", name)
	case strings.ContainsAny(name, "/: \t\n\v\f\r\x00"):
		return fmt.Sprintf("%q: an interface name has no '/', ':', space or NUL", name)
	case !template && strings.Contains(name, "%"):
		return fmt.Sprintf("%q: a host interface is named without a template", name)
	case template && strings.Count(name, "%") > 0 && (strings.Count(name, "%") != 1 || !strings.Contains(name, "%d")):
		return fmt.Sprintf("%q: a template has one %%d and no other %%", name)
	}
	return ""
}

func (c *checker) netDevices(devs map[string]rspec.LinuxNetDevice) {
	names := map[string]string{}
	for _, host := range SortedKeys(devs) {
		f := fmt.Sprintf("linux.netDevices[%q]", host)
		if why := checkIfName(host, false); why != "" {
			c.add(f, "%s", why)
			continue
		}
		if host == "lo" {
			c.add(f, "the loopback interface belongs to its network namespace and cannot move")
			continue
		}
		name := devs[host].Name
		if name == "" {
			name = host
		} else if why := checkIfName(name, true); why != "" {
			c.add(f+".name", "%s", why)
			continue
		}
		if other, dup := names[name]; dup && !strings.Contains(name, "%") {
			c.add(f+".name", "%q is also the name of linux.netDevices[%q] in the container", name, other)
		} else if !dup {
			names[name] = host
		}
	}
}

// The policy walk.

// hostNotes add what the host says to a refusal, when Validate may look
// (CheckFS): a profile for a security module this kernel does not run.
var hostNotes = map[string]func() string{
	"process.apparmorProfile": func() string {
		if data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err == nil && strings.TrimSpace(string(data)) == "Y" {
			return ""
		}
		return "; AppArmor is not enabled on this host either"
	},
	"process.selinuxLabel": selinuxNote,
	"linux.mountLabel":     selinuxNote,
}

func selinuxNote() string {
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		return ""
	}
	return "; SELinux is not enabled on this host either"
}

// policy refuses every field s sets that the policy refuses, one line each,
// and every string holding a NUL byte in a field it applies.
func (c *checker) policy(s *rspec.Spec) {
	walkSpec(s, func(n *fieldNode, at *configPath, v reflect.Value) bool {
		r := effective(n.path)
		switch r.Decision {
		case Refused:
			msg := r.Reason
			if note := hostNotes[n.path]; note != nil && c.opts.CheckFS {
				msg += note()
			}
			c.add(at.String(), "%s", msg)
			return false
		case Ignored:
			return false
		case Applied, Fields:
		default:
			// A field without a rule (TestPolicyCoversSpec sees to it
			// that there is none): refuse rather than guess.
			c.add(at.String(), "minirun has no policy for this field, so it refuses it")
			return false
		}
		nulStrings(at, v, func(q, what string) {
			if what == "key" {
				c.add(q, "the key contains a NUL byte")
			} else {
				c.add(q, "contains a NUL byte")
			}
		})
		return true
	})
}
