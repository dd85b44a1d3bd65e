// Package cgroups gives each container a cgroup: it places the container,
// applies linux.resources and the device rules, and later freezes, lists,
// signals, measures and removes it. All of it is the parent's work, in Go;
// the container's own child program never touches a cgroup file.
//
// # Hosts
//
// DetectHost reads /proc/self/mountinfo at run time and finds one of three
// layouts. Each controller is served by the hierarchy that has it.
//
//   - cgroup v1: one hierarchy per controller under /sys/fs/cgroup/<name>
//     (cpu, cpuacct, cpuset, memory, devices, freezer, blkio, pids,
//     hugetlb, net_cls, net_prio, rdma, and named ones such as
//     name=systemd). The container gets a directory in every one.
//   - cgroup v2: one cgroup2 hierarchy at /sys/fs/cgroup; the controllers
//     a container needs are enabled in cgroup.subtree_control of each
//     parent, from the root down.
//   - hybrid: v1 hierarchies for the controllers plus a cgroup2 mount
//     (systemd puts it at /sys/fs/cgroup/unified) holding whatever v1 did
//     not take. The container gets a directory in both: v1 for the
//     controllers v1 has, cgroup2 for the rest (on the machine minirun is
//     developed on, only hugetlb) and for its core files.
//
// # Files used
//
// Placement: linux.cgroupsPath absolute is used as it is below each mount;
// relative goes under /minirun; empty becomes /minirun/<container id>.
// /minirun (Parent) stays once made: Destroy removes what is below it,
// never Parent itself (docs/design.md, rule 18). In a v1 cpuset
// hierarchy it is made with cgroup.clone_children set.
// On v2 and hybrid hosts the container's first process is started inside
// the cgroup2 directory by clone3's CLONE_INTO_CGROUP (IntoFD); the v1
// directories get its pid written to cgroup.procs (Enter) while it waits.
// A new v1 cpuset directory copies cpuset.cpus and cpuset.mems from its
// parent, as the kernel leaves them empty.
//
//	field (linux.resources.)   cgroup v1 file                     cgroup v2 file
//	memory.limit               memory.limit_in_bytes              memory.max
//	memory.reservation         memory.soft_limit_in_bytes         memory.low
//	memory.swap                memory.memsw.limit_in_bytes        memory.swap.max (= swap - limit)
//	memory.kernelTCP           memory.kmem.tcp.limit_in_bytes     refused: none
//	memory.swappiness          memory.swappiness                  refused: none
//	memory.disableOOMKiller    memory.oom_control                 refused when true: none
//	memory.useHierarchy        memory.use_hierarchy               refused when false: always on
//	memory.checkBeforeUpdate   memory.usage_in_bytes, at update   memory.current, at update
//	memory.kernel              refused everywhere: Linux ignores kernel memory limits now
//	cpu.shares                 cpu.shares                         cpu.weight (converted)
//	cpu.quota, cpu.period      cpu.cfs_quota_us, cpu.cfs_period_us cpu.max ("quota period")
//	cpu.burst                  cpu.cfs_burst_us                   cpu.max.burst
//	cpu.realtimeRuntime/Period cpu.rt_runtime_us, cpu.rt_period_us refused: none
//	cpu.idle                   cpu.idle                           cpu.idle
//	cpu.cpus, cpu.mems         cpuset.cpus, cpuset.mems           cpuset.cpus, cpuset.mems
//	pids.limit                 pids.max                           pids.max
//	blockIO.weight             blkio.weight or blkio.bfq.weight   io.weight (converted) or io.bfq.weight
//	blockIO.leafWeight         blkio.leaf_weight (CFQ only)       refused: none
//	blockIO.weightDevice       blkio.[bfq.]weight_device          io.weight or io.bfq.weight, per device
//	blockIO.throttle*          blkio.throttle.{read,write}_{bps,iops}_device   io.max (rbps, wbps, riops, wiops)
//	hugepageLimits             hugetlb.<size>.limit_in_bytes (+ .rsvd.limit_in_bytes)   hugetlb.<size>.max (+ .rsvd.max)
//	network.classID            net_cls.classid                    refused: none
//	network.priorities         net_prio.ifpriomap                 refused: none
//	rdma                       rdma.max                           rdma.max
//	unified                    refused on a v1-only host          the named file, after all other fields
//	devices                    devices.deny, devices.allow        an eBPF BPF_CGROUP_DEVICE program
//
// On a hybrid host each row takes the v1 column when v1 has the controller
// and the v2 column otherwise. The freezer is v1's freezer.state where a
// v1 freezer hierarchy exists, else cgroup2's cgroup.freeze and
// cgroup.events. Processes are listed from cgroup.procs of the cgroup2
// directory when there is one (every process is in it, on a hybrid host
// too), else of a v1 one; SIGKILL for the whole container goes through
// cgroup2's cgroup.kill when there is one, any other signal through
// freeze, signal each, thaw. Stats read cpuacct.*, cpu.stat, memory.*,
// pids.*, blkio.throttle.*, hugetlb.* (v1) or cpu.stat, memory.*, pids.*,
// io.stat, hugetlb.*, *.pressure (v2); OOM events come from an eventfd on
// memory.oom_control (v1) or from memory.events (v2).
//
// A field whose controller the host lacks, or that the host's kind of
// cgroup cannot express, is refused by Check with one line naming it, and
// Create makes nothing. Create undoes what it made when a write fails,
// and names the field; where the kernel's EINVAL has a known reason the
// message says it (realtime runtime needs a parent cgroup that has some
// to hand down, and a new /minirun has none; kernels since 5.x refuse
// memory.use_hierarchy 0).
//
// # Device rules
//
// The rules are linux.resources.devices in order, then an allow rule
// (rwm) for each default device (/dev/null, zero, full, random, urandom,
// tty, console 5:1, ptmx 5:2, /dev/pts/* 136:*) and for each entry of
// linux.devices. Anything no rule allows is denied. Each access bit (r, w,
// m) is decided by the last rule that matches the device and names the
// bit. cgroup2 enforces this with an eBPF program attached to the
// container's cgroup with BPF_F_ALLOW_MULTI; v1 with devices.deny "a" and
// one devices.allow line per exception, computed to mean exactly the same
// and read back from devices.list. A list v1 cannot express (an allow
// carved out of a wider deny, or the reverse) is refused on v1.
//
// # Why not github.com/opencontainers/cgroups
//
// runc's cgroup package was evaluated first; it does not fit here. Its
// cgroup2 code takes /sys/fs/cgroup as the cgroup2 root (a constant), so
// it cannot create a cgroup on a hybrid host's unified mount; it takes
// its own Resources type (runc's spec conversion is not in it); its eBPF
// device filter is reachable only through a package that also pulls in
// systemd and D-Bus, and it skips device rules silently in a user
// namespace, which would break this project's fail-closed rule.
package cgroups
