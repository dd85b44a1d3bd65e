package cgroups

import (
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func BenchmarkDetectHost(b *testing.B) {
	for b.Loop() {
		if _, err := DetectHost(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchResources is what a container typically asks for on each host:
// on v1 (the real host) memory, pids and CPU limits and the default
// device rules; on the unified mount, which has only hugetlb, a huge page
// limit and the device rules (the eBPF program).
func benchResources(h *Host) *rspec.LinuxResources {
	r := &rspec.LinuxResources{Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	if _, ok := h.where("memory"); ok {
		r.Memory = &rspec.LinuxMemory{Limit: i64(256 << 20)}
	}
	if _, ok := h.where("pids"); ok {
		r.Pids = &rspec.LinuxPids{Limit: i64(1024)}
	}
	if _, ok := h.where("cpu"); ok {
		r.CPU = &rspec.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000)}
	}
	if key, ok := h.where("hugetlb"); ok && key == "" {
		r.HugepageLimits = []rspec.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}}
	}
	return r
}

// waiting starts a process that waits on its stdin, outside any cgroup
// of the benchmark; closing stdin ends it.
func waiting(b *testing.B, attr *syscall.SysProcAttr) (*exec.Cmd, io.WriteCloser) {
	cmd := exec.Command("/bin/busybox", "cat")
	cmd.SysProcAttr = attr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd, in
}

// BenchmarkCreateEnterDestroy times the cgroup work of one container
// alone: Create (directories, limits, device rules), Enter of its
// process, and Destroy after the process has exited. Starting and
// reaping the process are not timed.
func BenchmarkCreateEnterDestroy(b *testing.B) {
	for _, tc := range []struct {
		name string
		host func(testing.TB) *Host
	}{{"v1", realHost}, {"v2", unifiedHost}} {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.host(b)
			restoreSubtreeControl(b)
			r := benchResources(h)
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				cmd, in := waiting(b, nil)
				b.StartTimer()
				m := h.Manager(fmt.Sprintf("/%s/bench-%d", Parent, i))
				if err := m.Create(r, nil); err != nil {
					b.Fatal(err)
				}
				if err := m.Enter(cmd.Process.Pid, false); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				in.Close()
				_ = cmd.Wait()
				b.StartTimer()
				if err := m.Destroy(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlace compares the ways to put a new process in a cgroup:
// starting it and then writing its pid into cgroup.procs (of every v1
// hierarchy, as a container on this hybrid host needs, or of a cgroup2
// directory), against starting it inside with CLONE_INTO_CGROUP. Each is
// timed from the start of the process to its exit. "idle" runs wait
// 50 ms (untimed) before each start: the first write to cgroup.procs
// after a quiet spell waits for an RCU grace period (the kernel's
// cgroup_threadgroup_rwsem), which back-to-back runs hide.
func BenchmarkPlace(b *testing.B) {
	v1h := realHost(b)
	needV1(b, v1h, "memory")
	v2h := unifiedHost(b)
	hyb := v1h.Manager("/" + Parent + "/bench-place")
	uni := v2h.Manager("/" + Parent + "/bench-place-v2")
	for _, m := range []*Manager{hyb, uni} {
		if err := m.Create(nil, nil); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = m.Destroy() })
	}
	uniFD, err := uni.IntoFD()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(uniFD) })
	hybFD, err := hyb.IntoFD()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(hybFD) })
	for _, idle := range []time.Duration{0, 50 * time.Millisecond} {
		for _, tc := range []struct {
			name  string
			m     *Manager
			clone int // a cgroup2 directory fd to start in, or -1
			enter bool
			skip  bool
		}{
			{"v1 exec+Enter", hyb, -1, true, true},
			{"cgroup2 exec+Enter", uni, -1, true, false},
			{"cgroup2 CLONE_INTO_CGROUP", uni, uniFD, false, false},
			// What a container on this hybrid host does: CLONE_INTO_CGROUP
			// for the unified mount, Enter for the v1 hierarchies.
			{"hybrid CLONE_INTO_CGROUP+Enter v1", hyb, hybFD, true, true},
		} {
			name := tc.name
			if idle > 0 {
				name += " idle"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					if idle > 0 {
						b.StopTimer()
						time.Sleep(idle)
						b.StartTimer()
					}
					var attr *syscall.SysProcAttr
					if tc.clone >= 0 {
						attr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: tc.clone}
					}
					cmd, in := waiting(b, attr)
					if tc.enter {
						if err := tc.m.Enter(cmd.Process.Pid, tc.skip); err != nil {
							b.Fatal(err)
						}
					}
					in.Close()
					if err := cmd.Wait(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
