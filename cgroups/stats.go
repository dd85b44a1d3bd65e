package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The types below give Stats the JSON shape of runc's `events --stats`
// (its types package), field for field, so tools that read runc's output
// read minirun's.

// Event is one line of `events`: {"type":"stats"|"oom","id":…,"data":…}.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// Stats is a container's cgroup statistics.
type Stats struct {
	CPU               CPU                 `json:"cpu"`
	CPUSet            CPUSet              `json:"cpuset"`
	Memory            Memory              `json:"memory"`
	Pids              Pids                `json:"pids"`
	Blkio             Blkio               `json:"blkio"`
	Hugetlb           map[string]Hugetlb  `json:"hugetlb"`
	IntelRdt          IntelRdt            `json:"intel_rdt"`
	NetworkInterfaces []*NetworkInterface `json:"network_interfaces"`
}

// PSIData is one line of a pressure file.
type PSIData struct {
	Avg10  float64 `json:"avg10"`
	Avg60  float64 `json:"avg60"`
	Avg300 float64 `json:"avg300"`
	Total  uint64  `json:"total"`
}

// PSIStats is a cgroup2 pressure file (cpu.pressure, memory.pressure,
// io.pressure).
type PSIStats struct {
	Some PSIData `json:"some,omitzero"`
	Full PSIData `json:"full,omitzero"`
}

// MemoryEventCount holds cgroup2's memory.events counters.
type MemoryEventCount struct {
	Low     uint64 `json:"low,omitempty"`
	High    uint64 `json:"high,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	OOM     uint64 `json:"oom,omitempty"`
	OOMKill uint64 `json:"oom_kill,omitempty"`
}

// Hugetlb is one huge page size's usage.
type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// BlkioEntry is one device's count for one operation.
type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// Blkio is the block I/O done.
type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
	PSI                     *PSIStats    `json:"psi,omitempty"`
}

// Pids is the task count and its limit (0: none).
type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// Throttling is CFS bandwidth throttling.
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// CPUUsage is CPU time used, in nanoseconds.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

// CPU is CPU time and throttling.
type CPU struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
	PSI        *PSIStats  `json:"psi,omitempty"`
}

// CPUSet is the cpuset controller's settings.
type CPUSet struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

// MemoryEntry is one memory counter with its limit.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Memory is memory use.
type Memory struct {
	Cache      uint64            `json:"cache,omitempty"`
	Usage      MemoryEntry       `json:"usage,omitempty"`
	Swap       MemoryEntry       `json:"swap,omitempty"`
	Kernel     MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP  MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw        map[string]uint64 `json:"raw,omitempty"`
	PSI        *PSIStats         `json:"psi,omitempty"`
	EventCount MemoryEventCount  `json:"event_count"`
}

// IntelRdt is left empty: minirun does not manage resctrl.
type IntelRdt struct{}

// NetworkInterface is left out: interface counters are not cgroup
// statistics.
type NetworkInterface struct {
	Name      string
	RxBytes   uint64
	RxPackets uint64
	RxErrors  uint64
	RxDropped uint64
	TxBytes   uint64
	TxPackets uint64
	TxErrors  uint64
	TxDropped uint64
}

// Stats reads the container's statistics from whichever hierarchy serves
// each controller. A controller the host lacks leaves its part zero.
func (m *Manager) Stats() (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	var errs []error
	add := func(err error) {
		if err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if key, ok := m.h.where("cpu"); ok {
		if key == "" {
			add(m.cpuStatsV2(s))
		} else {
			add(m.cpuStatsV1(s))
		}
	}
	if key, ok := m.h.where("cpuset"); ok {
		add(cpusetStats(m.dirs[key], key == "", s))
	}
	if key, ok := m.h.where("memory"); ok {
		if key == "" {
			add(memoryStatsV2(m.dirs[""], s))
		} else {
			add(memoryStatsV1(m.dirs[key], s))
		}
	}
	if key, ok := m.h.where("pids"); ok {
		dir := m.dirs[key]
		cur, err := readUint(dir, "pids.current")
		add(err)
		lim, err := readUint(dir, "pids.max")
		add(err)
		s.Pids = Pids{Current: cur, Limit: lim}
	}
	if key, ok := m.h.where("blkio"); ok {
		add(blkioStats(m.dirs[key], key == "", s))
	}
	if key, ok := m.h.where("hugetlb"); ok {
		for _, size := range m.h.hugePages {
			add(hugetlbStats(m.dirs[key], key == "", size, s))
		}
	}
	if dir, ok := m.dirs[""]; ok {
		s.CPU.PSI = readPSI(dir, "cpu.pressure")
		s.Memory.PSI = readPSI(dir, "memory.pressure")
		s.Blkio.PSI = readPSI(dir, "io.pressure")
	}
	return s, errors.Join(errs...)
}

func (m *Manager) cpuStatsV1(s *Stats) error {
	if dir, ok := m.dirs["cpuacct"]; ok {
		total, err := readUint(dir, "cpuacct.usage")
		if err != nil {
			return err
		}
		s.CPU.Usage.Total = total
		if per, err := readFile(dir, "cpuacct.usage_percpu"); err == nil {
			s.CPU.Usage.Percpu = parseUints(per)
		}
		if per, err := readFile(dir, "cpuacct.usage_percpu_sys"); err == nil {
			s.CPU.Usage.PercpuKernel = parseUints(per)
		}
		if per, err := readFile(dir, "cpuacct.usage_percpu_user"); err == nil {
			s.CPU.Usage.PercpuUser = parseUints(per)
		}
		// cpuacct.stat counts USER_HZ ticks (100 a second on Linux).
		if st, err := readKeyed(dir, "cpuacct.stat"); err == nil {
			s.CPU.Usage.User = st["user"] * 10_000_000
			s.CPU.Usage.Kernel = st["system"] * 10_000_000
		}
	}
	if dir, ok := m.dirs["cpu"]; ok {
		st, err := readKeyed(dir, "cpu.stat")
		if err != nil {
			return err
		}
		s.CPU.Throttling = Throttling{Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledTime: st["throttled_time"]}
	}
	return nil
}

func (m *Manager) cpuStatsV2(s *Stats) error {
	st, err := readKeyed(m.dirs[""], "cpu.stat")
	if err != nil {
		return err
	}
	s.CPU.Usage.Total = st["usage_usec"] * 1000
	s.CPU.Usage.User = st["user_usec"] * 1000
	s.CPU.Usage.Kernel = st["system_usec"] * 1000
	s.CPU.Throttling = Throttling{Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledTime: st["throttled_usec"] * 1000}
	return nil
}

func parseUints(s string) []uint64 {
	var out []uint64
	for _, f := range strings.Fields(s) {
		if v, err := strconv.ParseUint(f, 10, 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// parseList reads a CPU or memory node list ("0-3,7").
func parseList(s string) []uint16 {
	var out []uint16
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				continue
			}
		}
		for v := a; v <= b; v++ {
			out = append(out, uint16(v))
		}
	}
	return out
}

func cpusetStats(dir string, v2 bool, s *Stats) error {
	cpus, mems := "cpuset.cpus", "cpuset.mems"
	if v2 {
		cpus, mems = "cpuset.cpus.effective", "cpuset.mems.effective"
	}
	c, err := readFile(dir, cpus)
	if err != nil {
		return err
	}
	mm, err := readFile(dir, mems)
	if err != nil {
		return err
	}
	s.CPUSet.CPUs, s.CPUSet.Mems = parseList(c), parseList(mm)
	if v2 {
		return nil
	}
	for f, p := range map[string]*uint64{
		"cpuset.cpu_exclusive": &s.CPUSet.CPUExclusive, "cpuset.mem_hardwall": &s.CPUSet.MemHardwall,
		"cpuset.mem_exclusive": &s.CPUSet.MemExclusive, "cpuset.memory_migrate": &s.CPUSet.MemoryMigrate,
		"cpuset.memory_spread_page": &s.CPUSet.MemorySpreadPage, "cpuset.memory_spread_slab": &s.CPUSet.MemorySpreadSlab,
		"cpuset.memory_pressure": &s.CPUSet.MemoryPressure, "cpuset.sched_load_balance": &s.CPUSet.SchedLoadBalance,
	} {
		if v, err := readUint(dir, f); err == nil {
			*p = v
		}
	}
	if v, err := readInt(dir, "cpuset.sched_relax_domain_level"); err == nil {
		s.CPUSet.SchedRelaxDomainLevel = v
	}
	return nil
}

func memoryStatsV1(dir string, s *Stats) error {
	entry := func(prefix string) (MemoryEntry, error) {
		var e MemoryEntry
		var err error
		if e.Usage, err = readUint(dir, prefix+"usage_in_bytes"); err != nil {
			return e, err
		}
		e.Max, _ = readUint(dir, prefix+"max_usage_in_bytes")
		e.Failcnt, _ = readUint(dir, prefix+"failcnt")
		e.Limit, _ = readUint(dir, prefix+"limit_in_bytes")
		return e, nil
	}
	var err error
	if s.Memory.Usage, err = entry("memory."); err != nil {
		return err
	}
	s.Memory.Swap, _ = entry("memory.memsw.")
	s.Memory.Kernel, _ = entry("memory.kmem.")
	s.Memory.KernelTCP, _ = entry("memory.kmem.tcp.")
	raw, err := readKeyed(dir, "memory.stat")
	if err != nil {
		return err
	}
	s.Memory.Raw = raw
	s.Memory.Cache = raw["total_cache"]
	if oc, err := readKeyed(dir, "memory.oom_control"); err == nil {
		s.Memory.EventCount.OOMKill = oc["oom_kill"]
	}
	return nil
}

func memoryStatsV2(dir string, s *Stats) error {
	cur, err := readUint(dir, "memory.current")
	if err != nil {
		return err
	}
	s.Memory.Usage.Usage = cur
	s.Memory.Usage.Limit, _ = readUint(dir, "memory.max")
	s.Memory.Usage.Max, _ = readUint(dir, "memory.peak")
	s.Memory.Swap.Usage, _ = readUint(dir, "memory.swap.current")
	s.Memory.Swap.Limit, _ = readUint(dir, "memory.swap.max")
	s.Memory.Swap.Max, _ = readUint(dir, "memory.swap.peak")
	raw, err := readKeyed(dir, "memory.stat")
	if err != nil {
		return err
	}
	s.Memory.Raw = raw
	s.Memory.Cache = raw["file"]
	if ev, err := readKeyed(dir, "memory.events"); err == nil {
		s.Memory.EventCount = MemoryEventCount{Low: ev["low"], High: ev["high"], Max: ev["max"], OOM: ev["oom"], OOMKill: ev["oom_kill"]}
		s.Memory.Usage.Failcnt = ev["max"]
	}
	return nil
}

// blkioStats reads v1's recursive throttle counters (which count all I/O
// whatever the scheduler) or cgroup2's io.stat.
func blkioStats(dir string, v2 bool, s *Stats) error {
	if !v2 {
		var err error
		if s.Blkio.IoServiceBytesRecursive, err = readBlkioFile(dir, "blkio.throttle.io_service_bytes_recursive"); err != nil {
			return err
		}
		s.Blkio.IoServicedRecursive, err = readBlkioFile(dir, "blkio.throttle.io_serviced_recursive")
		return err
	}
	data, err := readFile(dir, "io.stat")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		major, minor, ok := parseDev(f[0])
		if !ok {
			continue
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			e := BlkioEntry{Major: major, Minor: minor, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, e)
			case "wbytes":
				e.Op = "Write"
				s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, e)
			case "rios":
				e.Op = "Read"
				s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, e)
			case "wios":
				e.Op = "Write"
				s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, e)
			}
		}
	}
	return nil
}

func parseDev(s string) (major, minor uint64, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	ma, err1 := strconv.ParseUint(a, 10, 64)
	mi, err2 := strconv.ParseUint(b, 10, 64)
	return ma, mi, err1 == nil && err2 == nil
}

// readBlkioFile reads "MAJ:MIN Op value" lines.
func readBlkioFile(dir, file string) ([]BlkioEntry, error) {
	data, err := readFile(dir, file)
	if err != nil {
		return nil, err
	}
	var out []BlkioEntry
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		major, minor, ok := parseDev(f[0])
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, BlkioEntry{Major: major, Minor: minor, Op: f[1], Value: v})
	}
	return out, nil
}

func hugetlbStats(dir string, v2 bool, size string, s *Stats) error {
	var h Hugetlb
	var err error
	if v2 {
		if h.Usage, err = readUint(dir, "hugetlb."+size+".current"); err != nil {
			return err
		}
		if ev, err := readKeyed(dir, "hugetlb."+size+".events"); err == nil {
			h.Failcnt = ev["max"]
		}
	} else {
		if h.Usage, err = readUint(dir, "hugetlb."+size+".usage_in_bytes"); err != nil {
			return err
		}
		h.Max, _ = readUint(dir, "hugetlb."+size+".max_usage_in_bytes")
		h.Failcnt, _ = readUint(dir, "hugetlb."+size+".failcnt")
	}
	s.Hugetlb[size] = h
	return nil
}

// readPSI reads a pressure file; nil when the kernel has none.
func readPSI(dir, file string) *PSIStats {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil
	}
	var p PSIStats
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var d PSIData
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "avg10":
				d.Avg10, _ = strconv.ParseFloat(v, 64)
			case "avg60":
				d.Avg60, _ = strconv.ParseFloat(v, 64)
			case "avg300":
				d.Avg300, _ = strconv.ParseFloat(v, 64)
			case "total":
				d.Total, _ = strconv.ParseUint(v, 10, 64)
			}
		}
		switch f[0] {
		case "some":
			p.Some = d
		case "full":
			p.Full = d
		}
	}
	return &p
}
