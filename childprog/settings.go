package childprog

import (
	"fmt"
	"strings"
	"unsafe"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/specs"
)

// The process's scheduling, I/O priority, memory policy, personality and
// CPU affinity. Each survives execve. They are set while the child is
// still privileged, before identity drops what it must not keep: a real-time
// policy, a negative nice or the real-time I/O class needs CAP_SYS_NICE (or
// CAP_SYS_ADMIN) that the process itself may not have.

// The kernel's I/O priority ABI (linux/ioprio.h); x/sys/unix has no names
// for it.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
)

var ioprioClasses = map[rspec.IOPriorityClass]uint64{
	rspec.IOPRIO_CLASS_RT: 1, rspec.IOPRIO_CLASS_BE: 2, rspec.IOPRIO_CLASS_IDLE: 3,
}

// Personalities (linux/personality.h).
const (
	perLinux   = 0x0000
	perLinux32 = 0x0008
)

// settings compiles process.scheduler, process.ioPriority,
// linux.memoryPolicy and linux.personality.
func (c *compiler) settings() {
	p := c.s.Process
	if sc := p.Scheduler; sc != nil {
		c.scheduler(sc)
	}
	if io := p.IOPriority; io != nil {
		class, ok := ioprioClasses[io.Class]
		if ok {
			prio := class<<ioprioClassShift | uint64(io.Priority)
			c.b.call("process.ioPriority", unix.SYS_IOPRIO_SET, "ioprio_set",
				[]string{"IOPRIO_WHO_PROCESS", "0", fmt.Sprintf("IOPRIO_PRIO_VALUE(%s, %d)", io.Class, io.Priority)},
				[]clonecore.Arg{clonecore.Imm(ioprioWhoProcess), clonecore.Imm(0), clonecore.Imm(prio)})
		}
	}
	l := c.s.Linux
	if l == nil {
		return
	}
	if mp := l.MemoryPolicy; mp != nil {
		c.memoryPolicy(mp)
	}
	if pe := l.Personality; pe != nil {
		persona, shown := uint64(perLinux), "PER_LINUX"
		if pe.Domain == rspec.PerLinux32 {
			persona, shown = perLinux32, "PER_LINUX32"
		}
		c.b.simple("linux.personality: "+string(pe.Domain), unix.SYS_PERSONALITY, "personality", []string{shown}, uintptr(persona))
	}
}

// scheduler sets process.scheduler with sched_setattr, which takes every
// field runtime-spec has (policy, flags, nice, priority, and a deadline
// task's runtime, deadline and period) in one call.
func (c *compiler) scheduler(sc *rspec.Scheduler) {
	policy, ok := specs.SchedPolicy(sc.Policy)
	if !ok {
		return // Validate reports it
	}
	var flags uint64
	var names []string
	for _, f := range sc.Flags {
		if bit, ok := specs.SchedFlag(f); ok {
			flags |= bit
			names = append(names, string(f))
		}
	}
	attr := unix.SchedAttr{
		Size: unix.SizeofSchedAttr, Policy: uint32(policy), Flags: flags, Nice: sc.Nice, Priority: uint32(sc.Priority),
		Runtime: sc.Runtime, Deadline: sc.Deadline, Period: sc.Period,
	}
	at := c.b.bytes(unsafe.Slice((*byte)(unsafe.Pointer(&attr)), unix.SizeofSchedAttr))
	flagShown := "0"
	if len(names) > 0 {
		flagShown = strings.Join(names, "|")
	}
	shown := fmt.Sprintf("{policy=%s, flags=%s, nice=%d, priority=%d", sc.Policy, flagShown, sc.Nice, sc.Priority)
	if sc.Policy == rspec.SchedDeadline {
		shown += fmt.Sprintf(", runtime=%d, deadline=%d, period=%d", sc.Runtime, sc.Deadline, sc.Period)
	}
	c.b.call("process.scheduler", unix.SYS_SCHED_SETATTR, "sched_setattr", []string{"0", shown + "}", "0"},
		[]clonecore.Arg{clonecore.Imm(0), clonecore.Imm(at), clonecore.Imm(0)})
}

// memoryPolicy sets linux.memoryPolicy with set_mempolicy: the mode with
// its flags, and a node mask of 64-bit words.
func (c *compiler) memoryPolicy(mp *rspec.LinuxMemoryPolicy) {
	mode, ok := specs.MemPolicyMode(mp.Mode)
	nodes, err := specs.ParseNodeList(mp.Nodes)
	if !ok || err != nil {
		return // Validate reports it
	}
	shown := string(mp.Mode)
	for _, f := range mp.Flags {
		if bit, ok := specs.MemPolicyFlag(f); ok {
			mode |= bit
			shown += "|" + string(f)
		}
	}
	maskAt, maxNode := uintptr(0), uint64(0)
	maskShown := "NULL"
	if len(nodes) > 0 {
		mask := bitmap(nodes)
		maskAt = c.b.words(mask...)
		// The kernel counts maxnode one past the last bit it reads.
		maxNode = uint64(64*len(mask)) + 1
		maskShown = "{" + mp.Nodes + "}"
	}
	c.b.call("linux.memoryPolicy", unix.SYS_SET_MEMPOLICY, "set_mempolicy", []string{shown, maskShown, fmt.Sprint(maxNode)},
		[]clonecore.Arg{clonecore.Imm(mode), clonecore.Imm(maskAt), clonecore.Imm(maxNode)})
}

// bitmap sets bit n of a list of 64-bit words for each n.
func bitmap(ns []int) []uint64 {
	top := 0
	for _, n := range ns {
		top = max(top, n)
	}
	words := make([]uint64, top/64+1)
	for _, n := range ns {
		words[n/64] |= 1 << (n % 64)
	}
	return words
}

// allCPUs is a mask of every CPU a kernel can have: sched_setaffinity
// keeps those that exist and the cpuset allows.
var allCPUs = func() []uint64 {
	m := make([]uint64, 8192/64)
	for i := range m {
		m[i] = ^uint64(0)
	}
	return m
}()

// execAffinity compiles process.execCPUAffinity for a process exec starts
// (runtime-spec: it does not apply to a container's first process).
// "initial" is where the process runs while it is set up, before it is in
// the container's cgroup; "final" is where it runs once it is there, set
// last before execve. Without "final" the kernel decides: the affinity is
// reset to every CPU, which the kernel narrows to what the cgroup's cpuset
// allows, as moving a task into a cpuset would.
func (c *compiler) execAffinity(final bool) {
	a := c.s.Process.ExecCPUAffinity
	if !c.env.Exec || a == nil {
		return
	}
	if !final {
		if cpus, err := specs.ParseCPUList(a.Initial); err == nil && len(cpus) > 0 {
			c.setAffinity("process.execCPUAffinity.initial", bitmap(cpus), a.Initial)
		}
		return
	}
	switch cpus, err := specs.ParseCPUList(a.Final); {
	case err == nil && len(cpus) > 0:
		c.setAffinity("process.execCPUAffinity.final", bitmap(cpus), a.Final)
	case a.Initial != "":
		c.setAffinity("process.execCPUAffinity: no final, so every CPU the cgroup allows", allCPUs, "all")
	}
}

func (c *compiler) setAffinity(label string, mask []uint64, shown string) {
	at := c.b.words(mask...)
	c.b.call(label, unix.SYS_SCHED_SETAFFINITY, "sched_setaffinity", []string{"0", fmt.Sprint(8 * len(mask)), "{" + shown + "}"},
		[]clonecore.Arg{clonecore.Imm(0), clonecore.Imm(8 * len(mask)), clonecore.Imm(at)})
}
