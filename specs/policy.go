package specs

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// The policy: what minirun does with every field of runtime-spec's Spec
// (docs/design.md, rule 14). A config is refused, one line per field, for
// every field it sets that the policy refuses; nothing it sets is left
// alone without a written reason. TestPolicyCoversSpec walks runtime-spec's
// Go types and fails when a field has no rule, so a field a newer
// runtime-spec adds cannot be accepted by silence. The README's table is
// rendered from this one (TestPolicyREADME).
//
// When a piece of work lands (cgroups, seccomp, hooks), flipping its rule
// from Refused to Applied — with the test that proves it — is the whole
// change here.

// A Decision is what minirun does with one field.
type Decision uint8

const (
	// Applied: minirun does what the field asks; Rule.Test names the test
	// that shows it.
	Applied Decision = iota + 1
	// Refused: a config that sets the field is refused with Rule.Reason.
	Refused
	// Ignored: accepted and not acted on, for the written Rule.Reason.
	Ignored
	// Fields: an object (or list of objects) whose own fields each have
	// their rule.
	Fields
	// WithParent: decided by the nearest enclosing field that is Applied,
	// Refused or Ignored (the arguments of a refused hook, say).
	WithParent
)

func (d Decision) String() string {
	switch d {
	case Applied:
		return "applied"
	case Refused:
		return "refused"
	case Ignored:
		return "ignored"
	case Fields:
		return "its fields decide"
	case WithParent:
		return "with its parent"
	}
	return fmt.Sprintf("Decision(%d)", uint8(d))
}

// A Rule is the policy for one field.
type Rule struct {
	// Path is the field's JSON path as SpecField.Path writes it:
	// "process.user.uid", "mounts[].destination".
	Path     string
	Decision Decision
	// Test names the test that shows an Applied field at work, as
	// "package.TestName".
	Test string
	// Reason is, for Refused, what a config that sets the field is told
	// (after "path: "); for Ignored, why minirun may leave it alone; for
	// Applied, an optional note.
	Reason string
}

// Reasons shared by many rules.
const (
	// byHost: a linux.resources field is applied where this host's
	// cgroups have its controller, and refused, one line naming it and
	// why, where they do not (cgroups.Host.Check).
	byHost = "where the host's cgroups have its controller; refused, naming the field, where not"
)

func applied(path, test string, note ...string) Rule {
	return Rule{Path: path, Decision: Applied, Test: test, Reason: strings.Join(note, " ")}
}

func refused(path, reason string) Rule { return Rule{Path: path, Decision: Refused, Reason: reason} }

func ignored(path, reason string) Rule { return Rule{Path: path, Decision: Ignored, Reason: reason} }

func fields(path string) Rule { return Rule{Path: path, Decision: Fields} }

// withParent gives each of the fields below parent (named relative to it)
// a WithParent rule.
func withParent(parent string, children ...string) []Rule {
	rules := make([]Rule, len(children))
	for i, c := range children {
		sep := "."
		if strings.HasPrefix(c, "[]") {
			sep = ""
		}
		rules[i] = Rule{Path: parent + sep + c, Decision: WithParent}
	}
	return rules
}

// cat joins rules and lists of rules into one list.
func cat(parts ...any) []Rule {
	var out []Rule
	for _, p := range parts {
		switch p := p.(type) {
		case Rule:
			out = append(out, p)
		case []Rule:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("specs: cat: %T", p))
		}
	}
	return out
}

func hookRules(kind string) []Rule {
	return cat(applied("hooks."+kind, "container.TestHooks"), withParent("hooks."+kind, "[].path", "[].args", "[].env", "[].timeout"))
}

func idMountRules(field string) []Rule {
	return cat(applied(field, "container.TestRunIDMappedMounts"), withParent(field, "[].containerID", "[].hostID", "[].size"))
}

func throttleRules(field string) []Rule {
	return cat(applied(field, "cgroups.TestCreateAppliesV1BlockIO", byHost), withParent(field, "[].major", "[].minor", "[].rate"))
}

// resource is a linux.resources field, applied through the cgroups.
func resource(field, test string) Rule { return applied("linux.resources."+field, test, byHost) }

func idMapRules(field, test string) []Rule {
	return cat(applied(field, test), withParent(field, "[].containerID", "[].hostID", "[].size"))
}

// platform refuses a section for another operating system.
func platform(name, os string, children ...string) []Rule {
	return cat(refused(name, "for "+os+" containers; minirun runs Linux containers"), withParent(name, children...))
}

// policy is the table, in the order of runtime-spec's types. It is built
// on first use, not at package initialisation: that took 0.2 ms and
// 116 KB of every minirun command, and only those that read a config
// (run, create, spec, features…) need it.
var policy = sync.OnceValue(func() []Rule { return policyRules() })

func policyRules() []Rule {
	return cat(
		applied("ociVersion", "specs.TestValidateVersions", "1.0.0 to 1.3.x"),

		fields("process"),
		applied("process.terminal", "container.TestRunTerminal"),
		applied("process.consoleSize", "container.TestRunTerminal"),
		withParent("process.consoleSize", "height", "width"),
		fields("process.user"),
		applied("process.user.uid", "container.TestRunProcess", "0 to 2147483647"),
		applied("process.user.gid", "container.TestRunProcess", "0 to 2147483647"),
		applied("process.user.umask", "container.TestRunProcess"),
		applied("process.user.additionalGids", "container.TestRunProcess", "at most 65536 (NGROUPS_MAX)"),
		refused("process.user.username", "for Windows containers; a Linux process runs as process.user.uid"),
		applied("process.args", "container.TestRunBusybox"),
		refused("process.commandLine", "for Windows containers; give process.args"),
		applied("process.env", "container.TestRunProcess"),
		applied("process.cwd", "container.TestRunCwd"),
		applied("process.capabilities", "container.TestRunNoCapabilities", "absent means none: every set empty"),
		applied("process.capabilities.bounding", "container.TestRunProcess"),
		applied("process.capabilities.effective", "container.TestRunProcess"),
		applied("process.capabilities.inheritable", "container.TestRunProcess"),
		applied("process.capabilities.permitted", "container.TestRunProcess"),
		applied("process.capabilities.ambient", "container.TestRunProcess"),
		applied("process.rlimits", "container.TestRunProcess"),
		withParent("process.rlimits", "[].type", "[].hard", "[].soft"),
		applied("process.noNewPrivileges", "container.TestRunProcess"),
		refused("process.apparmorProfile", "AppArmor profiles are not applied yet"),
		applied("process.oomScoreAdj", "container.TestRunProcess"),
		applied("process.scheduler", "container.TestRunScheduler", "sched_setattr while still privileged"),
		withParent("process.scheduler", "policy", "nice", "priority", "flags", "runtime", "deadline", "period"),
		refused("process.selinuxLabel", "SELinux labels are not applied yet"),
		applied("process.ioPriority", "container.TestRunIOPriority", "ioprio_set"),
		withParent("process.ioPriority", "class", "priority"),
		ignored("process.execCPUAffinity", "runtime-spec: \"not applicable to the container's init process\"; "+
			"applied to a process exec starts (childprog.CompileEnv.Exec; container.TestExecCPUAffinity)"),
		withParent("process.execCPUAffinity", "initial", "final"),

		fields("root"),
		applied("root.path", "container.TestRunFilesystem"),
		applied("root.readonly", "container.TestRunFilesystem"),
		applied("hostname", "container.TestRunFilesystem", "needs a UTS namespace"),
		applied("domainname", "container.TestRunFilesystem", "needs a UTS namespace"),

		fields("mounts"),
		applied("mounts[].destination", "container.TestRunFilesystem"),
		applied("mounts[].type", "container.TestRunFilesystem"),
		applied("mounts[].source", "container.TestRunFilesystem"),
		applied("mounts[].options", "container.TestRunFilesystem", "tmpcopyup and remount are refused"),
		idMountRules("mounts[].uidMappings"),
		idMountRules("mounts[].gidMappings"),

		fields("hooks"),
		hookRules("prestart"),
		hookRules("createRuntime"),
		hookRules("createContainer"),
		hookRules("startContainer"),
		hookRules("poststart"),
		hookRules("poststop"),

		ignored("annotations", "metadata for clients; never interpreted"),

		fields("linux"),
		idMapRules("linux.uidMappings", "container.TestRunRootless"),
		idMapRules("linux.gidMappings", "container.TestRunRootless"),
		applied("linux.sysctl", "container.TestRunSysctl", "namespaced sysctls only"),
		fields("linux.resources"),
		applied("linux.resources.devices", "container.TestCgroupDevices", "v1 device lists or a cgroup2 eBPF program; the default devices and linux.devices are allowed too"),
		withParent("linux.resources.devices", "[].allow", "[].type", "[].major", "[].minor", "[].access"),
		fields("linux.resources.memory"),
		resource("memory.limit", "container.TestCgroupLimitsVisible"),
		resource("memory.reservation", "cgroups.TestCreateAppliesV1Limits"),
		resource("memory.swap", "cgroups.TestCreateAppliesV1Limits"),
		refused("linux.resources.memory.kernel", "Linux no longer enforces a kernel memory limit"),
		resource("memory.kernelTCP", "cgroups.TestPlanFiles"),
		resource("memory.swappiness", "cgroups.TestCreateAppliesV1Limits"),
		resource("memory.disableOOMKiller", "cgroups.TestPlanFiles"),
		resource("memory.useHierarchy", "cgroups.TestPlanFiles"),
		resource("memory.checkBeforeUpdate", "cgroups.TestUpdateV1"),
		fields("linux.resources.cpu"),
		resource("cpu.shares", "container.TestCgroupLimitsVisible"),
		resource("cpu.quota", "container.TestCgroupLimitsVisible"),
		resource("cpu.burst", "cgroups.TestPlanFiles"),
		resource("cpu.period", "container.TestCgroupLimitsVisible"),
		resource("cpu.realtimeRuntime", "cgroups.TestPlanFiles"),
		resource("cpu.realtimePeriod", "cgroups.TestPlanFiles"),
		resource("cpu.cpus", "container.TestCgroupLimitsVisible"),
		resource("cpu.mems", "cgroups.TestCreateAppliesV1Limits"),
		resource("cpu.idle", "cgroups.TestPlanFiles"),
		fields("linux.resources.pids"),
		resource("pids.limit", "container.TestCgroupPidsLimit"),
		fields("linux.resources.blockIO"),
		resource("blockIO.weight", "cgroups.TestCreateAppliesV1BlockIO"),
		resource("blockIO.leafWeight", "cgroups.TestPlanFiles"),
		resource("blockIO.weightDevice", "cgroups.TestCreateAppliesV1BlockIO"),
		withParent("linux.resources.blockIO.weightDevice", "[].major", "[].minor", "[].weight", "[].leafWeight"),
		throttleRules("linux.resources.blockIO.throttleReadBpsDevice"),
		throttleRules("linux.resources.blockIO.throttleWriteBpsDevice"),
		throttleRules("linux.resources.blockIO.throttleReadIOPSDevice"),
		throttleRules("linux.resources.blockIO.throttleWriteIOPSDevice"),
		resource("hugepageLimits", "cgroups.TestHugetlbV2"),
		withParent("linux.resources.hugepageLimits", "[].pageSize", "[].limit"),
		fields("linux.resources.network"),
		resource("network.classID", "cgroups.TestPlanFiles"),
		resource("network.priorities", "cgroups.TestPlanFiles"),
		withParent("linux.resources.network.priorities", "[].name", "[].priority"),
		resource("rdma", "cgroups.TestCheckEveryField"),
		withParent("linux.resources.rdma", "[].hcaHandles", "[].hcaObjects"),
		resource("unified", "cgroups.TestCheckUnifiedOnHybrid"),
		applied("linux.cgroupsPath", "cgroups.TestResolvePath", "absolute as given, relative under /minirun; systemd's slice:prefix:name is refused"),
		applied("linux.namespaces", "container.TestRunFilesystem"),
		applied("linux.namespaces[].type", "container.TestRunFilesystem"),
		applied("linux.namespaces[].path", "container.TestRunJoin"),
		applied("linux.devices", "container.TestRunFilesystem"),
		withParent("linux.devices", "[].path", "[].type", "[].major", "[].minor", "[].fileMode", "[].uid", "[].gid"),
		applied("linux.netDevices", "container.TestRunNetDevices", "moved in by netlink, renamed, addresses kept, set up; "+
			"the kernel takes them back when the network namespace ends"),
		withParent("linux.netDevices", "[].name"),
		applied("linux.seccomp", "container.TestRunSeccompProfiles", "compiled to classic BPF in Go, installed as late as the kernel allows"),
		withParent("linux.seccomp", "defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
			"listenerMetadata", "syscalls", "syscalls[].names", "syscalls[].action", "syscalls[].errnoRet",
			"syscalls[].args", "syscalls[].args[].index", "syscalls[].args[].value", "syscalls[].args[].valueTwo", "syscalls[].args[].op"),
		applied("linux.rootfsPropagation", "childprog.TestCompileShape"),
		applied("linux.maskedPaths", "container.TestRunFilesystem"),
		applied("linux.readonlyPaths", "container.TestRunFilesystem"),
		refused("linux.mountLabel", "SELinux mount labels are not applied yet"),
		refused("linux.intelRdt", "Intel RDT (resctrl) is not supported"),
		withParent("linux.intelRdt", "closID", "schemata", "l3CacheSchema", "memBwSchema", "enableMonitoring"),
		applied("linux.memoryPolicy", "container.TestRunMemoryPolicy", "set_mempolicy"),
		withParent("linux.memoryPolicy", "mode", "nodes", "flags"),
		applied("linux.personality", "container.TestRunPersonality", "LINUX or LINUX32; runtime-spec defines no flags"),
		withParent("linux.personality", "domain", "flags"),
		applied("linux.timeOffsets", "container.TestRunTimeOffsets"),
		withParent("linux.timeOffsets", "[].secs", "[].nanosecs"),

		platform("solaris", "Solaris", "milestone", "limitpriv", "maxShmMemory", "anet", "anet[].linkname", "anet[].lowerLink",
			"anet[].allowedAddress", "anet[].configureAllowedAddress", "anet[].defrouter", "anet[].linkProtection",
			"anet[].macAddress", "cappedCPU", "cappedCPU.ncpus", "cappedMemory", "cappedMemory.physical", "cappedMemory.swap"),
		platform("windows", "Windows", "layerFolders", "devices", "devices[].id", "devices[].idType", "resources",
			"resources.memory", "resources.memory.limit", "resources.cpu", "resources.cpu.count", "resources.cpu.shares",
			"resources.cpu.maximum", "resources.cpu.affinity", "resources.cpu.affinity[].mask", "resources.cpu.affinity[].group",
			"resources.storage", "resources.storage.iops", "resources.storage.bps", "resources.storage.sandboxSize",
			"credentialSpec", "servicing", "ignoreFlushesDuringBoot", "hyperv", "hyperv.utilityVMPath", "network",
			"network.endpointList", "network.allowUnqualifiedDNSQuery", "network.DNSSearchList",
			"network.networkSharedContainerName", "network.networkNamespace"),
		platform("vm", "virtual-machine", "hypervisor", "hypervisor.path", "hypervisor.parameters", "kernel", "kernel.path",
			"kernel.parameters", "kernel.initrd", "image", "image.path", "image.format", "hwconfig", "hwconfig.deviceTree",
			"hwconfig.vcpus", "hwconfig.memory", "hwconfig.dtdevs", "hwconfig.iomems", "hwconfig.iomems[].firstGFN",
			"hwconfig.iomems[].firstMFN", "hwconfig.iomems[].nrMFNs", "hwconfig.irqs"),
		platform("zos", "z/OS", "namespaces", "namespaces[].type", "namespaces[].path"),
		platform("freebsd", "FreeBSD", "devices", "devices[].path", "devices[].mode", "jail", "jail.parent", "jail.host",
			"jail.ip4", "jail.ip4Addr", "jail.ip6", "jail.ip6Addr", "jail.vnet", "jail.interface", "jail.vnetInterfaces",
			"jail.sysvmsg", "jail.sysvsem", "jail.sysvshm", "jail.enforceStatfs", "jail.allow", "jail.allow.setHostname",
			"jail.allow.rawSockets", "jail.allow.chflags", "jail.allow.mount", "jail.allow.quotas", "jail.allow.socketAf",
			"jail.allow.mlock", "jail.allow.reservedPorts", "jail.allow.suser"),
	)
}

var policyIndex = sync.OnceValue(func() map[string]Rule {
	m := make(map[string]Rule, len(policy()))
	for _, r := range policy() {
		m[r.Path] = r
	}
	return m
})

// Warm builds the tables a validation reads — the policy, its index and
// each field's effective rule, the tree of the spec's fields — which are
// otherwise built by the first Validate. A command that will validate a
// config calls it in a goroutine of its own as it starts, so that they are
// built alongside its command line's parse rather than after it.
func Warm() {
	effectiveIndex()
	specTree()
}

// Policy returns the rule of every field, in the order of runtime-spec's
// types.
func Policy() []Rule { return slices.Clone(policy()) }

// PolicyFor returns the rule for a field's path ("mounts[].destination").
func PolicyFor(path string) (Rule, bool) {
	r, ok := policyIndex()[path]
	return r, ok
}

// effective is Effective, looked up once for every rule.
var effectiveIndex = sync.OnceValue(func() map[string]Rule {
	m := make(map[string]Rule, len(policy()))
	for _, r := range policy() {
		m[r.Path] = Effective(r.Path)
	}
	return m
})

func effective(path string) Rule {
	if r, ok := effectiveIndex()[path]; ok {
		return r
	}
	return Rule{Path: path}
}

// Effective is the decision that holds for a field: its own, or for a
// WithParent field the nearest enclosing field's.
// A field without a rule gets a Rule with no Decision.
func Effective(path string) Rule {
	r, ok := PolicyFor(path)
	for ok && r.Decision == WithParent {
		r, ok = PolicyFor(parentPath(r.Path))
	}
	if !ok {
		return Rule{Path: path}
	}
	return r
}

// parentPath is the path of the field that holds p: "mounts" for
// "mounts[].destination", "" for a top-level field.
func parentPath(p string) string {
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(p[:i], "[]")
}

// PolicyMarkdown renders the policy as the table the README carries: one
// row per field that decides for itself, a WithParent field folded into
// its parent's row.
func PolicyMarkdown() string {
	var b strings.Builder
	b.WriteString("| field | minirun | shown by, or why |\n|---|---|---|\n")
	for _, r := range policy() {
		if r.Decision == Fields || r.Decision == WithParent {
			continue
		}
		name := "`" + r.Path + "`"
		switch n := countWithParent(r.Path); n {
		case 0:
		case 1:
			name += " (and its field)"
		default:
			name += fmt.Sprintf(" (and its %d fields)", n)
		}
		var why string
		switch r.Decision {
		case Applied:
			why = "`" + r.Test + "`"
			if r.Reason != "" {
				why += "; " + r.Reason
			}
		default:
			why = r.Reason
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, r.Decision, strings.ReplaceAll(why, "|", `\|`))
	}
	return b.String()
}

// countWithParent counts the WithParent rules that r's decision covers.
func countWithParent(path string) int {
	n := 0
	for _, r := range policy() {
		if r.Decision == WithParent && strings.HasPrefix(r.Path, path) && r.Path != path &&
			(r.Path[len(path)] == '.' || r.Path[len(path)] == '[') && Effective(r.Path).Path == path {
			n++
		}
	}
	return n
}
