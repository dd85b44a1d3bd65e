package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Problem is one linux.resources field a host cannot apply: its JSON path
// and why.
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string { return p.Path + ": " + p.Msg }

// ProblemsError carries the problems that stopped Create or Update, one
// line each.
type ProblemsError []Problem

func (e ProblemsError) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// step is one thing to do to a cgroup for one field: write value into
// file in the directory of hierarchy key ("" the cgroup2 one, else a v1
// controller), or, when run is set, call it with that directory (for
// writes whose order or value depends on what the files hold now).
type step struct {
	field    string
	key      string
	file     string
	value    string
	ifExists bool // a companion file some kernels lack (hugetlb's rsvd)
	run      func(dir string) error
	// explain, when set, turns the kernel's refusal of the write into a
	// message that says why.
	explain func(dir string, err error) error
}

// plan is what applying a set of resources takes on a host: the steps in
// order, the problems that forbid it, and the cgroup2 controllers the
// steps need enabled.
type plan struct {
	h        *Host
	update   bool
	steps    []step
	problems []Problem
	need     map[string]bool
}

func (p *plan) problem(path, format string, a ...any) {
	p.problems = append(p.problems, Problem{Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (p *plan) write(field, key, file, value string) {
	p.steps = append(p.steps, step{field: field, key: key, file: file, value: value})
	if key == "" {
		if c, _, ok := strings.Cut(file, "."); ok && c != "cgroup" {
			p.need[c] = true
		}
	}
}

// explain attaches an explanation of errors to the last step.
func (p *plan) explain(f func(dir string, err error) error) {
	p.steps[len(p.steps)-1].explain = f
}

func (p *plan) do(field, key, ctrl string, run func(dir string) error) {
	p.steps = append(p.steps, step{field: field, key: key, run: run})
	if key == "" && ctrl != "" {
		p.need[ctrl] = true
	}
}

// controller finds the hierarchy serving ctrl, or records one problem for
// each field given that needs it.
func (p *plan) controller(ctrl string, fields ...string) (key string, ok bool) {
	key, ok = p.h.where(ctrl)
	if !ok {
		for _, f := range fields {
			p.problem(f, "%s", p.h.missing(ctrl))
		}
	}
	return key, ok
}

// missing says why the host has no ctrl.
func (h *Host) missing(ctrl string) string {
	name := ctrl
	if n, ok := v2Names[ctrl]; ok && h.v2 != "" && len(h.v1) == 0 {
		name = n
	}
	switch ctrl {
	case "net_cls", "net_prio":
		if h.kind == V2 {
			return fmt.Sprintf("no %s controller on this host: %s exists only in cgroup v1", ctrl, ctrl)
		}
	}
	return fmt.Sprintf("no %s controller on this host", name)
}

// Check lists every field of r this host cannot apply, one problem per
// field, touching nothing. Device rules are checked without the
// container's linux.devices, which only add allow rules; Create checks
// them all. What only a write can tell (a value the kernel refuses, a
// cgroup2 file a kernel lacks) is reported by Create, naming the field.
func (h *Host) Check(r *rspec.LinuxResources) []Problem {
	p := h.plan(r, nil, false)
	return p.problems
}

// plan works out the steps for r and devs on this host.
func (h *Host) plan(r *rspec.LinuxResources, devs []rspec.LinuxDevice, update bool) *plan {
	p := &plan{h: h, update: update, need: map[string]bool{}}
	if r == nil {
		r = &rspec.LinuxResources{}
	}
	p.memory(r.Memory)
	p.cpu(r.CPU)
	p.pids(r.Pids)
	p.blockIO(r.BlockIO)
	p.hugepages(r.HugepageLimits)
	p.network(r.Network)
	p.rdma(r.Rdma)
	p.unified(r.Unified)
	if !update {
		p.devices(r.Devices, devs)
	}
	return p
}

func (p *plan) memory(m *rspec.LinuxMemory) {
	if m == nil {
		return
	}
	const base = "linux.resources.memory."
	var fields []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"limit", m.Limit != nil}, {"reservation", m.Reservation != nil}, {"swap", m.Swap != nil},
		{"kernel", m.Kernel != nil}, {"kernelTCP", m.KernelTCP != nil}, {"swappiness", m.Swappiness != nil},
		{"disableOOMKiller", m.DisableOOMKiller != nil}, {"useHierarchy", m.UseHierarchy != nil},
		{"checkBeforeUpdate", m.CheckBeforeUpdate != nil},
	} {
		if f.set {
			fields = append(fields, base+f.name)
		}
	}
	key, ok := p.controller("memory", fields...)
	if !ok {
		return
	}
	v2 := key == ""
	if m.Kernel != nil {
		p.problem(base+"kernel", "Linux no longer enforces kernel memory limits (memory.kmem.limit_in_bytes ignores writes; cgroup v2 has none)")
	}
	if m.Limit != nil && (*m.Limit == 0 || *m.Limit < -1) {
		p.problem(base+"limit", "%d is not a memory limit in bytes (-1 means no limit)", *m.Limit)
	}
	if v2 {
		p.memoryV2(m)
		return
	}
	if m.Swap != nil {
		switch {
		case *m.Swap == 0 || *m.Swap < -1:
			p.problem(base+"swap", "%d is not a memory+swap limit in bytes (-1 means no limit)", *m.Swap)
		case !p.h.hasFile(key, "memory.memsw.limit_in_bytes"):
			p.problem(base+"swap", "this host's memory controller has no memory.memsw.limit_in_bytes: swap accounting is off")
		case m.Limit != nil && *m.Swap != -1 && unlimited(*m.Swap) < unlimited(*m.Limit):
			p.problem(base+"swap", "memory+swap limit %d is below the memory limit %s", *m.Swap, limitString(*m.Limit))
		}
	}
	if m.Limit != nil || m.Swap != nil {
		limit, swap := m.Limit, m.Swap
		p.do(base+"limit", key, "", func(dir string) error {
			cur := int64(-1)
			if swap != nil || (limit != nil && *limit == -1) {
				if v, err := readInt(dir, "memory.memsw.limit_in_bytes"); err == nil {
					cur = v
				} else if !os.IsNotExist(err) {
					return err
				}
			}
			for _, w := range v1MemoryWrites(cur, limit, swap) {
				if err := writeFile(dir, w[0], w[1]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if m.Reservation != nil {
		if v, err := memValue(*m.Reservation, false); err != nil {
			p.problem(base+"reservation", "%v", err)
		} else {
			p.write(base+"reservation", key, "memory.soft_limit_in_bytes", v)
		}
	}
	if m.KernelTCP != nil {
		if !p.h.hasFile(key, "memory.kmem.tcp.limit_in_bytes") {
			p.problem(base+"kernelTCP", "this host's memory controller has no memory.kmem.tcp.limit_in_bytes")
		} else if v, err := memValue(*m.KernelTCP, false); err != nil {
			p.problem(base+"kernelTCP", "%v", err)
		} else {
			p.write(base+"kernelTCP", key, "memory.kmem.tcp.limit_in_bytes", v)
		}
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			p.problem(base+"swappiness", "%d is above 100", *m.Swappiness)
		} else {
			p.write(base+"swappiness", key, "memory.swappiness", strconv.FormatUint(*m.Swappiness, 10))
		}
	}
	if m.DisableOOMKiller != nil {
		p.write(base+"disableOOMKiller", key, "memory.oom_control", boolValue(*m.DisableOOMKiller))
	}
	if m.UseHierarchy != nil {
		p.write(base+"useHierarchy", key, "memory.use_hierarchy", boolValue(*m.UseHierarchy))
		if !*m.UseHierarchy {
			p.explain(func(_ string, err error) error {
				if errors.Is(err, unix.EINVAL) {
					return errors.New("this kernel always accounts memory hierarchically: memory.use_hierarchy refuses 0")
				}
				return err
			})
		}
	}
}

func (p *plan) memoryV2(m *rspec.LinuxMemory) {
	const base = "linux.resources.memory."
	if m.Limit != nil {
		v, _ := memValue(*m.Limit, true)
		p.write(base+"limit", "", "memory.max", v)
	}
	if m.Swap != nil {
		if p.update && m.Limit == nil {
			// The memory limit to subtract is the one the cgroup has.
			swap := *m.Swap
			p.do(base+"swap", "", "memory", func(dir string) error {
				cur, err := readLimit(dir, "memory.max")
				if err != nil {
					return err
				}
				v, err := swapV2(swap, &cur)
				if err != nil {
					return err
				}
				return writeFile(dir, "memory.swap.max", v)
			})
		} else if v, err := swapV2(*m.Swap, m.Limit); err != nil {
			p.problem(base+"swap", "%v", err)
		} else {
			p.write(base+"swap", "", "memory.swap.max", v)
		}
	}
	if m.Reservation != nil {
		if v, err := memValue(*m.Reservation, true); err != nil {
			p.problem(base+"reservation", "%v", err)
		} else {
			p.write(base+"reservation", "", "memory.low", v)
		}
	}
	if m.KernelTCP != nil {
		p.problem(base+"kernelTCP", "cgroup v2 has no kernel TCP memory limit (TCP buffers count as memory)")
	}
	if m.Swappiness != nil {
		p.problem(base+"swappiness", "cgroup v2 has no per-cgroup swappiness")
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		p.problem(base+"disableOOMKiller", "cgroup v2 cannot turn the OOM killer off")
	}
	if m.UseHierarchy != nil && !*m.UseHierarchy {
		p.problem(base+"useHierarchy", "cgroup v2 accounting is always hierarchical")
	}
	if m.CheckBeforeUpdate != nil {
		p.need["memory"] = true
	}
}

func limitString(v int64) string {
	if v == -1 {
		return "-1 (none)"
	}
	return strconv.FormatInt(v, 10)
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (p *plan) cpu(c *rspec.LinuxCPU) {
	if c == nil {
		return
	}
	const base = "linux.resources.cpu."
	var cpuFields []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"shares", c.Shares != nil}, {"quota", c.Quota != nil}, {"burst", c.Burst != nil},
		{"period", c.Period != nil}, {"realtimeRuntime", c.RealtimeRuntime != nil},
		{"realtimePeriod", c.RealtimePeriod != nil}, {"idle", c.Idle != nil},
	} {
		if f.set {
			cpuFields = append(cpuFields, base+f.name)
		}
	}
	if c.Quota != nil && (*c.Quota == 0 || *c.Quota < -1) {
		p.problem(base+"quota", "%d is not a quota in microseconds (-1 means no limit)", *c.Quota)
	}
	if c.Period != nil && *c.Period == 0 {
		p.problem(base+"period", "0 is not a period")
	}
	if len(cpuFields) > 0 {
		if key, ok := p.controller("cpu", cpuFields...); ok {
			if key == "" {
				p.cpuV2(c)
			} else {
				p.cpuV1(key, c)
			}
		}
	}
	var setFields []string
	if c.Cpus != "" {
		setFields = append(setFields, base+"cpus")
	}
	if c.Mems != "" {
		setFields = append(setFields, base+"mems")
	}
	if len(setFields) > 0 {
		if key, ok := p.controller("cpuset", setFields...); ok {
			if c.Cpus != "" {
				p.write(base+"cpus", key, "cpuset.cpus", c.Cpus)
			}
			if c.Mems != "" {
				p.write(base+"mems", key, "cpuset.mems", c.Mems)
			}
		}
	}
}

func (p *plan) cpuV1(key string, c *rspec.LinuxCPU) {
	const base = "linux.resources.cpu."
	need := func(field, file string) bool {
		if !p.h.hasFile(key, file) {
			p.problem(base+field, "this host's cpu controller has no %s", file)
			return false
		}
		return true
	}
	if c.Shares != nil {
		p.write(base+"shares", key, "cpu.shares", strconv.FormatUint(*c.Shares, 10))
	}
	if c.Period != nil {
		p.write(base+"period", key, "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10))
	}
	if c.Quota != nil {
		p.write(base+"quota", key, "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10))
	}
	if c.Burst != nil && need("burst", "cpu.cfs_burst_us") {
		p.write(base+"burst", key, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10))
	}
	if c.RealtimePeriod != nil && need("realtimePeriod", "cpu.rt_period_us") {
		p.write(base+"realtimePeriod", key, "cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10))
	}
	if c.RealtimeRuntime != nil && need("realtimeRuntime", "cpu.rt_runtime_us") {
		v := *c.RealtimeRuntime
		p.write(base+"realtimeRuntime", key, "cpu.rt_runtime_us", strconv.FormatInt(v, 10))
		p.explain(func(dir string, err error) error {
			// The kernel hands realtime time down the tree: a cgroup gets
			// at most what its parent has (a new cgroup has none).
			parent := filepath.Dir(dir)
			if have, perr := readInt(parent, "cpu.rt_runtime_us"); errors.Is(err, unix.EINVAL) && perr == nil && v > have {
				return fmt.Errorf("%d µs is more realtime runtime than the parent cgroup %s has (cpu.rt_runtime_us %d); give the parent some, or use a linux.cgroupsPath under one that has it", v, parent, have)
			}
			return err
		})
	}
	if c.Idle != nil && need("idle", "cpu.idle") {
		p.write(base+"idle", key, "cpu.idle", strconv.FormatInt(*c.Idle, 10))
	}
}

func (p *plan) cpuV2(c *rspec.LinuxCPU) {
	const base = "linux.resources.cpu."
	if c.Shares != nil {
		p.write(base+"shares", "", "cpu.weight", strconv.FormatUint(sharesToWeight(*c.Shares), 10))
	}
	switch {
	case c.Quota != nil:
		v := cpuMaxValue(*c.Quota, c.Period)
		field := base + "quota"
		p.write(field, "", "cpu.max", v)
	case c.Period != nil:
		// cpu.max takes the quota first; keep the one the cgroup has.
		period := *c.Period
		p.do(base+"period", "", "cpu", func(dir string) error {
			data, err := readFile(dir, "cpu.max")
			if err != nil {
				return err
			}
			quota, _, _ := strings.Cut(data, " ")
			return writeFile(dir, "cpu.max", quota+" "+strconv.FormatUint(period, 10))
		})
	}
	if c.Burst != nil {
		p.write(base+"burst", "", "cpu.max.burst", strconv.FormatUint(*c.Burst, 10))
	}
	if c.RealtimeRuntime != nil {
		p.problem(base+"realtimeRuntime", "cgroup v2 has no realtime CPU bandwidth settings")
	}
	if c.RealtimePeriod != nil {
		p.problem(base+"realtimePeriod", "cgroup v2 has no realtime CPU bandwidth settings")
	}
	if c.Idle != nil {
		p.write(base+"idle", "", "cpu.idle", strconv.FormatInt(*c.Idle, 10))
	}
}

// cpuMaxValue spells cgroup v2's cpu.max: "$QUOTA $PERIOD", "max" for no
// quota; the period is left as it is when not given.
func cpuMaxValue(quota int64, period *uint64) string {
	q := "max"
	if quota != -1 {
		q = strconv.FormatInt(quota, 10)
	}
	if period == nil {
		return q
	}
	return q + " " + strconv.FormatUint(*period, 10)
}

func (p *plan) pids(pl *rspec.LinuxPids) {
	if pl == nil || pl.Limit == nil {
		return
	}
	const field = "linux.resources.pids.limit"
	key, ok := p.controller("pids", field)
	if !ok {
		return
	}
	switch l := *pl.Limit; {
	case l < -1:
		p.problem(field, "%d is not a number of tasks (-1 means no limit)", l)
	case l == -1:
		p.write(field, key, "pids.max", "max")
	default:
		// 0 is a limit like any other, as runtime-spec says: no task may
		// be forked.
		p.write(field, key, "pids.max", strconv.FormatInt(l, 10))
	}
}

func (p *plan) blockIO(b *rspec.LinuxBlockIO) {
	if b == nil {
		return
	}
	const base = "linux.resources.blockIO."
	var fields []string
	if b.Weight != nil {
		fields = append(fields, base+"weight")
	}
	if b.LeafWeight != nil {
		fields = append(fields, base+"leafWeight")
	}
	throttles := []struct {
		name, v1, v2 string
		devs         []rspec.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops", b.ThrottleWriteIOPSDevice},
	}
	if len(b.WeightDevice) > 0 {
		fields = append(fields, base+"weightDevice")
	}
	for _, t := range throttles {
		if len(t.devs) > 0 {
			fields = append(fields, base+t.name)
		}
	}
	if len(fields) == 0 {
		return
	}
	key, ok := p.controller("blkio", fields...)
	if !ok {
		return
	}
	v2 := key == ""
	devNum := func(path string, d rspec.LinuxBlockIODevice) (string, bool) {
		if d.Major < 0 || d.Major > maxMajor || d.Minor < 0 || d.Minor > maxMinor {
			p.problem(path, "%d:%d is not a Linux device number", d.Major, d.Minor)
			return "", false
		}
		return fmt.Sprintf("%d:%d", d.Major, d.Minor), true
	}
	// v1's weight files are CFQ's blkio.weight or, since CFQ left Linux in
	// 5.0, BFQ's blkio.bfq.weight.
	v1Weight := ""
	if !v2 {
		switch {
		case p.h.hasFile(key, "blkio.weight"):
			v1Weight = "blkio.weight"
		case p.h.hasFile(key, "blkio.bfq.io_service_bytes"):
			v1Weight = "blkio.bfq.weight"
		}
	}
	if b.Weight != nil {
		w := *b.Weight
		switch {
		case v2:
			if _, err := blkioWeightToIOWeight(w); err != nil {
				p.problem(base+"weight", "%v", err)
				break
			}
			p.do(base+"weight", "", "io", func(dir string) error { return writeIOWeight(dir, "", w) })
		case v1Weight == "":
			p.problem(base+"weight", "this host's blkio controller has no weight file (neither CFQ's blkio.weight nor BFQ's blkio.bfq.weight)")
		default:
			p.write(base+"weight", key, v1Weight, strconv.FormatUint(uint64(w), 10))
		}
	}
	if b.LeafWeight != nil {
		switch {
		case v2:
			p.problem(base+"leafWeight", "cgroup v2 has no leaf weights")
		case !p.h.hasFile(key, "blkio.leaf_weight"):
			p.problem(base+"leafWeight", "this host has no blkio.leaf_weight: leaf weights left Linux with the CFQ scheduler in 5.0")
		default:
			p.write(base+"leafWeight", key, "blkio.leaf_weight", strconv.FormatUint(uint64(*b.LeafWeight), 10))
		}
	}
	for i, wd := range b.WeightDevice {
		path := fmt.Sprintf("%sweightDevice[%d]", base, i)
		dev, ok := devNum(path, wd.LinuxBlockIODevice)
		if !ok {
			continue
		}
		if wd.Weight == nil && wd.LeafWeight == nil {
			p.problem(path, "needs weight or leafWeight")
		}
		if wd.Weight != nil {
			w := *wd.Weight
			switch {
			case v2:
				if _, err := blkioWeightToIOWeight(w); err != nil {
					p.problem(path+".weight", "%v", err)
					break
				}
				p.do(path+".weight", "", "io", func(dir string) error { return writeIOWeight(dir, dev, w) })
			case v1Weight == "":
				p.problem(path+".weight", "this host's blkio controller has no weight file (neither CFQ's blkio.weight_device nor BFQ's blkio.bfq.weight_device)")
			default:
				p.write(path+".weight", key, v1Weight+"_device", fmt.Sprintf("%s %d", dev, w))
			}
		}
		if wd.LeafWeight != nil {
			switch {
			case v2:
				p.problem(path+".leafWeight", "cgroup v2 has no leaf weights")
			case !p.h.hasFile(key, "blkio.leaf_weight_device"):
				p.problem(path+".leafWeight", "this host has no blkio.leaf_weight_device: leaf weights left Linux with the CFQ scheduler in 5.0")
			default:
				p.write(path+".leafWeight", key, "blkio.leaf_weight_device", fmt.Sprintf("%s %d", dev, *wd.LeafWeight))
			}
		}
	}
	for _, t := range throttles {
		for i, d := range t.devs {
			path := fmt.Sprintf("%s%s[%d]", base, t.name, i)
			dev, ok := devNum(path, d.LinuxBlockIODevice)
			if !ok {
				continue
			}
			if v2 {
				rate := strconv.FormatUint(d.Rate, 10)
				if d.Rate == 0 {
					rate = "max" // 0 lifts the limit, as it does on v1
				}
				p.write(path, "", "io.max", fmt.Sprintf("%s %s=%s", dev, t.v2, rate))
			} else {
				p.write(path, key, t.v1, fmt.Sprintf("%s %d", dev, d.Rate))
			}
		}
	}
}

// writeIOWeight sets a cgroup v2 I/O weight: io.weight (iocost) takes the
// v2 scale, io.bfq.weight (BFQ) the v1 scale. dev "" is the default.
func writeIOWeight(dir, dev string, w uint16) error {
	if fileExists(filepath.Join(dir, "io.weight")) {
		v, err := blkioWeightToIOWeight(w)
		if err != nil {
			return err
		}
		if dev == "" {
			return writeFile(dir, "io.weight", fmt.Sprintf("default %d", v))
		}
		return writeFile(dir, "io.weight", fmt.Sprintf("%s %d", dev, v))
	}
	if fileExists(filepath.Join(dir, "io.bfq.weight")) {
		if dev == "" {
			return writeFile(dir, "io.bfq.weight", fmt.Sprintf("default %d", w))
		}
		return writeFile(dir, "io.bfq.weight", fmt.Sprintf("%s %d", dev, w))
	}
	return fmt.Errorf("%s has neither io.weight nor io.bfq.weight (no iocost or BFQ)", dir)
}

func (p *plan) hugepages(limits []rspec.LinuxHugepageLimit) {
	if len(limits) == 0 {
		return
	}
	const base = "linux.resources.hugepageLimits"
	key, ok := p.controller("hugetlb", base)
	if !ok {
		return
	}
	for i, l := range limits {
		path := fmt.Sprintf("%s[%d]", base, i)
		kb, err := parsePageSize(l.Pagesize)
		if err != nil {
			p.problem(path+".pageSize", "%v", err)
			continue
		}
		size := pageSizeName(kb)
		if !slices.Contains(p.h.hugePages, size) {
			have := "none"
			if len(p.h.hugePages) > 0 {
				have = strings.Join(p.h.hugePages, ", ")
			}
			p.problem(path+".pageSize", "%s is not a huge page size of this host (it has %s)", l.Pagesize, have)
			continue
		}
		limit, rsvd := "hugetlb."+size+".limit_in_bytes", "hugetlb."+size+".rsvd.limit_in_bytes"
		if key == "" {
			limit, rsvd = "hugetlb."+size+".max", "hugetlb."+size+".rsvd.max"
		}
		v := strconv.FormatUint(l.Limit, 10)
		p.write(path+".limit", key, limit, v)
		// Reservations are limited too where the kernel counts them, so a
		// task fails at mmap rather than with SIGBUS at a page fault.
		p.steps = append(p.steps, step{field: path + ".limit", key: key, file: rsvd, value: v, ifExists: true})
	}
}

func (p *plan) network(n *rspec.LinuxNetwork) {
	if n == nil {
		return
	}
	const base = "linux.resources.network."
	if n.ClassID != nil {
		if key, ok := p.controller("net_cls", base+"classID"); ok {
			if key == "" {
				p.problem(base+"classID", "net_cls exists only in cgroup v1")
			} else {
				p.write(base+"classID", key, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10))
			}
		}
	}
	if len(n.Priorities) > 0 {
		if key, ok := p.controller("net_prio", base+"priorities"); ok {
			if key == "" {
				p.problem(base+"priorities", "net_prio exists only in cgroup v1")
				return
			}
			for i, pr := range n.Priorities {
				if pr.Name == "" || strings.ContainsAny(pr.Name, " \n/") {
					p.problem(fmt.Sprintf("%spriorities[%d].name", base, i), "%q is not an interface name", pr.Name)
					continue
				}
				p.write(fmt.Sprintf("%spriorities[%d]", base, i), key, "net_prio.ifpriomap", fmt.Sprintf("%s %d", pr.Name, pr.Priority))
			}
		}
	}
}

func (p *plan) rdma(r map[string]rspec.LinuxRdma) {
	if len(r) == 0 {
		return
	}
	const base = "linux.resources.rdma"
	key, ok := p.controller("rdma", base)
	if !ok {
		return
	}
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		path := fmt.Sprintf("%s[%q]", base, n)
		l := r[n]
		if l.HcaHandles == nil && l.HcaObjects == nil {
			p.problem(path, "needs hcaHandles or hcaObjects")
			continue
		}
		if n == "" || strings.ContainsAny(n, " \n=") {
			p.problem(path, "%q is not an RDMA device name", n)
			continue
		}
		v := n
		if l.HcaHandles != nil {
			v += fmt.Sprintf(" hca_handle=%d", *l.HcaHandles)
		}
		if l.HcaObjects != nil {
			v += fmt.Sprintf(" hca_object=%d", *l.HcaObjects)
		}
		p.write(path, key, "rdma.max", v)
	}
}

// notSettings are cgroup2 core files that act on processes rather than
// configure the cgroup; linux.resources.unified may not write them.
var notSettings = map[string]string{
	"cgroup.procs":   "moves processes",
	"cgroup.threads": "moves threads",
	"cgroup.kill":    "kills every process",
}

func (p *plan) unified(u map[string]string) {
	if len(u) == 0 {
		return
	}
	const base = "linux.resources.unified"
	if p.h.v2 == "" {
		p.problem(base, "this host has no cgroup2 hierarchy (cgroup v1 only); write the v1 fields instead")
		return
	}
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		path := fmt.Sprintf("%s[%q]", base, k)
		ctrl, _, ok := strings.Cut(k, ".")
		if !ok || ctrl == "" || strings.ContainsAny(k, "/\n") || strings.HasPrefix(k, ".") {
			p.problem(path, "not a cgroup2 file name (controller.setting)")
			continue
		}
		if why, bad := notSettings[k]; bad {
			p.problem(path, "%s %s; it is not a setting", k, why)
			continue
		}
		if ctrl != "cgroup" && !p.h.v2ctl[ctrl] {
			msg := fmt.Sprintf("the %s controller is not on this host's cgroup2 hierarchy", ctrl)
			_, onV1 := p.h.v1[ctrl]
			for v1, v2 := range v2Names {
				if _, ok := p.h.v1[v1]; ok && v2 == ctrl {
					onV1 = true // io is v1's blkio, cpu also v1's cpuacct
				}
			}
			if onV1 {
				msg += " (cgroup v1 has it; use the v1 fields)"
			}
			p.problem(path, "%s", msg)
			continue
		}
		// Written after every other field, so a unified key wins over the
		// field that writes the same file; one line at a time, as files
		// such as io.max take one entry per write.
		for _, line := range strings.Split(strings.TrimRight(u[k], "\n"), "\n") {
			p.write(path, "", k, line)
		}
	}
}

func (p *plan) devices(spec []rspec.LinuxDeviceCgroup, devs []rspec.LinuxDevice) {
	rules, problems := deviceRules(spec, devs)
	p.problems = append(p.problems, problems...)
	if len(problems) > 0 {
		return
	}
	key, ok := p.h.where("devices")
	if !ok {
		p.problem("linux.resources.devices", "%s", p.h.missing("devices"))
		return
	}
	if key == "" {
		prog := deviceProgram(rules)
		p.do("linux.resources.devices", "", "", func(dir string) error { return attachDeviceProgram(dir, prog) })
		return
	}
	v1, err := toV1(rules)
	if err != nil {
		p.problem("linux.resources.devices", "%v", err)
		return
	}
	p.do("linux.resources.devices", key, "", func(dir string) error { return applyV1Devices(dir, v1) })
}

// applyV1Devices writes a v1 device list and reads it back: the kernel
// must hold exactly the list meant.
func applyV1Devices(dir string, v v1Devices) error {
	// One open per file for a run of writes into it.
	w := v.writes()
	for i := 0; i < len(w); {
		var values []string
		j := i
		for ; j < len(w) && w[j][0] == w[i][0]; j++ {
			values = append(values, w[j][1])
		}
		if err := writeValues(dir, w[i][0], values...); err != nil {
			return err
		}
		i = j
	}
	data, err := readFile(dir, "devices.list")
	if err != nil {
		return err
	}
	got := strings.Split(strings.TrimSpace(data), "\n")
	if data == "" || strings.TrimSpace(data) == "" {
		got = nil
	}
	slices.Sort(got)
	if want := v.list(); !slices.Equal(got, want) {
		return fmt.Errorf("devices.list reads %q after the writes, not %q", got, want)
	}
	return nil
}
