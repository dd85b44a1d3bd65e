package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/procfs"
)

// Kind is the layout of a host's cgroup hierarchies.
type Kind int

const (
	// V1 hosts have only cgroup v1 hierarchies, one per controller (or per
	// group of controllers mounted together).
	V1 Kind = iota + 1
	// V2 hosts have one cgroup2 hierarchy holding every controller.
	V2
	// Hybrid hosts have v1 hierarchies for the controllers and a cgroup2
	// mount beside them (systemd's /sys/fs/cgroup/unified) holding whatever
	// controllers v1 did not take, often none.
	Hybrid
)

func (k Kind) String() string {
	switch k {
	case V1:
		return "cgroup v1"
	case V2:
		return "cgroup v2"
	case Hybrid:
		return "hybrid (cgroup v1 controllers and a cgroup2 mount)"
	}
	return "unknown"
}

// Host is what a machine offers: its v1 hierarchies by controller, its
// cgroup2 mount and the controllers there, and its huge page sizes. Every
// controller is served by the hierarchy that has it: on a hybrid host the
// v1 hierarchy when v1 has it, the cgroup2 mount otherwise.
type Host struct {
	kind Kind
	// v1 maps each v1 controller ("memory", "cpu", "name=systemd" for a
	// named hierarchy) to the mount point of its hierarchy.
	v1 map[string]string
	// v2 is the cgroup2 mount, "" when there is none.
	v2 string
	// v2ctl holds the controllers in the cgroup2 root's cgroup.controllers.
	v2ctl map[string]bool
	// hugePages holds the huge page sizes as cgroup file names spell them
	// ("2MB", "1GB").
	hugePages []string
	// exists says whether a file exists; a fake host answers from a list.
	exists func(path string) bool
}

// Kind reports the host's layout.
func (h *Host) Kind() Kind { return h.kind }

// V2Mount is the cgroup2 mount point, or "" when the host has none.
func (h *Host) V2Mount() string { return h.v2 }

// v2Names maps the v1 controllers a cgroup2 hierarchy names differently.
var v2Names = map[string]string{"blkio": "io", "cpuacct": "cpu"}

// where tells which hierarchy serves controller ctrl (named as v1 names it):
// key "" is the cgroup2 directory, any other key a v1 controller.
func (h *Host) where(ctrl string) (key string, ok bool) {
	if _, ok := h.v1[ctrl]; ok {
		return ctrl, true
	}
	if h.v2 == "" {
		return "", false
	}
	name := ctrl
	if n, ok := v2Names[ctrl]; ok {
		name = n
	}
	switch ctrl {
	case "devices", "freezer":
		// Pseudo-controllers of cgroup2: an eBPF program and cgroup.freeze.
		return "", true
	}
	return "", h.v2ctl[name]
}

// mount returns the mount point of the hierarchy behind key.
func (h *Host) mount(key string) string {
	if key == "" {
		return h.v2
	}
	return h.v1[key]
}

// hasFile reports whether the root of the hierarchy serving key has the
// file name. It answers only for v1, whose root cgroup shows every file a
// feature adds; a cgroup2 root shows few, so there the write decides.
func (h *Host) hasFile(key, name string) bool {
	if key == "" {
		return true
	}
	return h.exists(filepath.Join(h.v1[key], name))
}

// DetectHost reads /proc/self/mountinfo, /proc/cgroups and the cgroup2
// root to learn which hierarchies this machine has.
func DetectHost() (*Host, error) {
	known, err := readKnownControllers("/proc/cgroups")
	if err != nil {
		return nil, err
	}
	mounts, err := procfs.ReadMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	v1, v2 := cgroupMounts(mounts, known)
	h := &Host{kind: kindOf(v1, v2), v1: v1, v2: v2, exists: fileExists}
	if h.kind == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	if v2 != "" {
		if h.v2ctl, err = readControllers(v2); err != nil {
			return nil, err
		}
	}
	h.hugePages = readHugePageSizes("/sys/kernel/mm/hugepages")
	return h, nil
}

// kindOf tells the layout from the hierarchies; 0 when there is none. A
// named v1 hierarchy with no controller (name=systemd) does not make a
// host hybrid.
func kindOf(v1 map[string]string, v2 string) Kind {
	var v1ctl int
	for c := range v1 {
		if !strings.HasPrefix(c, "name=") {
			v1ctl++
		}
	}
	switch {
	case v1ctl == 0 && v2 == "":
		if len(v1) > 0 {
			return V1
		}
		return 0
	case v1ctl == 0:
		return V2
	case v2 == "":
		return V1
	}
	return Hybrid
}

// V2Host returns a host that treats the cgroup2 mount at mount as its
// only hierarchy, whatever else is mounted. Tests use it to run the
// cgroup2 code on a hybrid machine's unified mount.
func V2Host(mount string) (*Host, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", mount, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("%s is not a cgroup2 mount", mount)
	}
	ctl, err := readControllers(mount)
	if err != nil {
		return nil, err
	}
	return &Host{kind: V2, v1: map[string]string{}, v2: filepath.Clean(mount), v2ctl: ctl,
		hugePages: readHugePageSizes("/sys/kernel/mm/hugepages"), exists: fileExists}, nil
}

func fileExists(path string) bool {
	return unix.Access(path, unix.F_OK) == nil
}

// readKnownControllers lists the controllers the kernel has, from
// /proc/cgroups: on a v1 mount's super options they are what tells a
// controller from an option such as "clone_children".
func readKnownControllers(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if f := strings.Fields(line); len(f) > 0 {
			known[f[0]] = true
		}
	}
	return known, nil
}

func readControllers(dir string) (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	ctl := map[string]bool{}
	for _, c := range strings.Fields(string(data)) {
		ctl[c] = true
	}
	return ctl, nil
}

// cgroupMounts finds the cgroup hierarchies among the mounts: each v1
// controller (and named hierarchy) with its mount point, and the first
// cgroup2 mount. When a hierarchy is mounted twice the first mount wins.
func cgroupMounts(mounts []procfs.Mount, known map[string]bool) (v1 map[string]string, v2 string) {
	v1 = map[string]string{}
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup2":
			if v2 == "" {
				v2 = m.Point
			}
		case "cgroup":
			for _, opt := range m.Super {
				if known[opt] || strings.HasPrefix(opt, "name=") {
					if _, dup := v1[opt]; !dup {
						v1[opt] = m.Point
					}
				}
			}
		}
	}
	return v1, v2
}

// readHugePageSizes lists the huge page sizes the kernel offers, named as
// the hugetlb controller's files name them.
func readHugePageSizes(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var kbs []uint64
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		s, ok = strings.CutSuffix(s, "kB")
		if !ok {
			continue
		}
		if kb, err := strconv.ParseUint(s, 10, 64); err == nil {
			kbs = append(kbs, kb)
		}
	}
	sort.Slice(kbs, func(i, j int) bool { return kbs[i] < kbs[j] })
	var sizes []string
	for _, kb := range kbs {
		sizes = append(sizes, pageSizeName(kb))
	}
	return sizes
}

// v1Keys lists the v1 controllers in a stable order.
func (h *Host) v1Keys() []string {
	keys := make([]string, 0, len(h.v1))
	for k := range h.v1 {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
