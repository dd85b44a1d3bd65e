package cgroups

import (
	"github.com/minirun/minirun/internal/procfs"

	"maps"
	"testing"
)

// known is /proc/cgroups of a kernel with every controller.
var known = map[string]bool{"cpuset": true, "cpu": true, "cpuacct": true, "blkio": true, "memory": true,
	"devices": true, "freezer": true, "net_cls": true, "perf_event": true, "net_prio": true,
	"hugetlb": true, "pids": true, "rdma": true, "misc": true}

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		info   string
		wantV1 map[string]string
		wantV2 string
		kind   Kind
	}{
		{
			name: "hybrid, as on the development machine",
			info: `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
			wantV1: map[string]string{"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct",
				"memory": "/sys/fs/cgroup/memory", "devices": "/sys/fs/cgroup/devices", "name=systemd": "/sys/fs/cgroup/systemd"},
			wantV2: "/sys/fs/cgroup/unified",
			kind:   Hybrid,
		},
		{
			name: "pure v2",
			info: `25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`,
			wantV1: map[string]string{},
			wantV2: "/sys/fs/cgroup",
			kind:   V2,
		},
		{
			name: "v1 with controllers mounted together, a second mount and options that are no controllers",
			info: `30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio,clone_children
32 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
99 25 0:28 / /mnt/again\040memory rw - cgroup cgroup rw,memory
`,
			wantV1: map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
				"net_cls": "/sys/fs/cgroup/net_cls,net_prio", "net_prio": "/sys/fs/cgroup/net_cls,net_prio",
				"memory": "/sys/fs/cgroup/memory"},
			kind: V1,
		},
		{
			name:   "a mount point with a space",
			info:   `41 31 0:38 / /mnt/cgroup\040two rw - cgroup2 cgroup2 rw` + "\n",
			wantV1: map[string]string{},
			wantV2: "/mnt/cgroup two",
			kind:   V2,
		},
	} {
		mounts, err := procfs.ParseMountinfo([]byte(tc.info))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		v1, v2 := cgroupMounts(mounts, known)
		if !maps.Equal(v1, tc.wantV1) || v2 != tc.wantV2 {
			t.Errorf("%s: got v1 %v, v2 %q; want %v, %q", tc.name, v1, v2, tc.wantV1, tc.wantV2)
		}
		if k := kindOf(v1, v2); k != tc.kind {
			t.Errorf("%s: kind %v, want %v", tc.name, k, tc.kind)
		}
	}
}

func TestWhere(t *testing.T) {
	h := hybridHost()
	for _, tc := range []struct {
		ctrl    string
		wantKey string
		wantOK  bool
	}{
		{"memory", "memory", true}, {"hugetlb", "", true}, {"devices", "devices", true},
		{"freezer", "freezer", true}, {"rdma", "", false}, {"net_cls", "", false}, {"blkio", "blkio", true},
	} {
		if key, ok := h.where(tc.ctrl); key != tc.wantKey || ok != tc.wantOK {
			t.Errorf("hybrid where(%q) = %q, %v; want %q, %v", tc.ctrl, key, ok, tc.wantKey, tc.wantOK)
		}
	}
	v2 := v2FullHost()
	for _, tc := range []struct {
		ctrl   string
		wantOK bool
	}{
		{"blkio", true}, {"cpuacct", true}, {"devices", true}, {"freezer", true}, {"net_prio", false}, {"rdma", true}, {"perf_event", false},
	} {
		if key, ok := v2.where(tc.ctrl); key != "" || ok != tc.wantOK {
			t.Errorf("v2 where(%q) = %q, %v; want \"\", %v", tc.ctrl, key, ok, tc.wantOK)
		}
	}
}

func TestManagerPaths(t *testing.T) {
	m := hybridHost().Manager("minirun/c1")
	want := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu/minirun/c1", "cpuacct": "/sys/fs/cgroup/cpuacct/minirun/c1",
		"cpuset": "/sys/fs/cgroup/cpuset/minirun/c1", "memory": "/sys/fs/cgroup/memory/minirun/c1",
		"devices": "/sys/fs/cgroup/devices/minirun/c1", "freezer": "/sys/fs/cgroup/freezer/minirun/c1",
		"blkio": "/sys/fs/cgroup/blkio/minirun/c1", "pids": "/sys/fs/cgroup/pids/minirun/c1",
		"name=systemd": "/sys/fs/cgroup/name=systemd/minirun/c1", "": "/sys/fs/cgroup/unified/minirun/c1",
	}
	if got := m.Paths(); !maps.Equal(got, want) || m.Path() != "/minirun/c1" {
		t.Errorf("Paths() = %v, Path() = %q; want %v, /minirun/c1", got, m.Path(), want)
	}
	s := m.State()
	if s.Path != "/minirun/c1" || s.Mounts[""] != "/sys/fs/cgroup/unified" || s.Mounts["memory"] != "/sys/fs/cgroup/memory" {
		t.Errorf("State() = %+v", s)
	}
	if fd, err := v1OldHost().Manager("/x").IntoFD(); err != ErrNoCgroup2 {
		t.Errorf("IntoFD on a v1-only host = %d, %v; want ErrNoCgroup2", fd, err)
	}
}
