package container

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/internal/procfs"
	"github.com/minirun/minirun/specs"
)

// HostEnv gathers the facts about this machine that specs.Compile needs.
func HostEnv(b *specs.Bundle) childprog.CompileEnv {
	env := childprog.CompileEnv{
		BundleDir: b.Dir,
		Rootfs:    b.RootFS,
		IsFile: func(p string) bool {
			st, err := os.Stat(p)
			return err == nil && !st.IsDir()
		},
		IsDir: func(p string) bool {
			st, err := os.Stat(p)
			return err == nil && st.IsDir()
		},
		ImageEntry:  imageEntry(b.RootFS),
		LastCap:     lastCap(),
		Rootless:    os.Geteuid() != 0,
		ParentCheck: true,
	}
	// Only a cgroup filesystem mount needs the host's cgroup layout:
	// spare the mountinfo read on the start path otherwise.
	for _, m := range b.Spec.Mounts {
		if m.Type == "cgroup" {
			env.CgroupUnified, env.CgroupHierarchies = cgroupLayout()
			break
		}
	}
	return env
}

// imageEntry reads the rootfs for the compiler's resolveInImage: rel's
// directories are no symlinks (the walk resolved them), so a plain lstat
// of the joined path sees what RESOLVE_IN_ROOT would. Anything that cannot
// be read counts as missing; the child's own steps then say what is wrong.
func imageEntry(rootfs string) childprog.ImageEntry {
	return func(rel string) (string, bool, bool) {
		p := filepath.Join(rootfs, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return "", false, false
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return "", false, true
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", false, false
		}
		return link, true, true
	}
}

// lastCap reads the highest capability number the kernel knows.
func lastCap() int {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 40
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 40
	}
	return n
}

// cgroupLayout reads /proc/self/mountinfo for the cgroup mounts below
// /sys/fs/cgroup: unified is true when /sys/fs/cgroup itself is cgroup2.
func cgroupLayout() (unified bool, hierarchies []childprog.CgroupHierarchy) {
	mounts, err := procfs.ReadMountinfo("/proc/self/mountinfo")
	if err != nil {
		return false, nil
	}
	for _, m := range mounts {
		if m.FSType != "cgroup" && m.FSType != "cgroup2" {
			continue
		}
		if m.Point == "/sys/fs/cgroup" && m.FSType == "cgroup2" {
			return true, nil
		}
		rel, err := filepath.Rel("/sys/fs/cgroup", m.Point)
		if err != nil || strings.HasPrefix(rel, "..") || strings.Contains(rel, "/") {
			continue
		}
		h := childprog.CgroupHierarchy{Dir: rel, FSType: m.FSType}
		if m.FSType == "cgroup" {
			var keep []string
			for _, o := range m.Super {
				if o == "rw" || o == "ro" {
					continue
				}
				keep = append(keep, o)
			}
			h.Options = strings.Join(keep, ",")
		}
		hierarchies = append(hierarchies, h)
	}
	return false, hierarchies
}
