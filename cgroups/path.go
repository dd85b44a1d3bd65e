package cgroups

import (
	"fmt"
	"path"
	"strings"
)

// Parent is the cgroup that holds the containers whose linux.cgroupsPath
// is relative or empty, in every hierarchy: minirun's own corner, as runc
// keeps one of its own.
const Parent = "minirun"

// ResolvePath turns linux.cgroupsPath into the container's cgroup path,
// the same in every hierarchy and relative to each hierarchy's mount:
// an absolute path is taken as it is, a relative one goes under /minirun,
// and an empty one becomes /minirun/<id>. systemd's "slice:prefix:name"
// form is refused: that names a unit for systemd to make, and minirun
// does not talk to systemd.
func ResolvePath(cgroupsPath, id string) (string, error) {
	if cgroupsPath == "" {
		if id == "" || strings.Contains(id, "/") || id == "." || id == ".." {
			return "", fmt.Errorf("container id %q cannot name a cgroup", id)
		}
		return "/" + Parent + "/" + id, nil
	}
	if !strings.HasPrefix(cgroupsPath, "/") && strings.Count(cgroupsPath, ":") == 2 {
		return "", fmt.Errorf("linux.cgroupsPath: %q is systemd's slice:prefix:name form, which needs --systemd-cgroup; --systemd-cgroup is not supported", cgroupsPath)
	}
	for _, part := range strings.Split(cgroupsPath, "/") {
		if part == ".." {
			return "", fmt.Errorf("linux.cgroupsPath: %q climbs out with \"..\"", cgroupsPath)
		}
	}
	p := cgroupsPath
	if !strings.HasPrefix(p, "/") {
		if p = path.Clean("/" + Parent + "/" + p); p == "/"+Parent {
			return "", fmt.Errorf("linux.cgroupsPath: %q names minirun's parent cgroup itself", cgroupsPath)
		}
	}
	p = path.Clean(p)
	if p == "/" {
		return "", fmt.Errorf("linux.cgroupsPath: %q is the root cgroup, which no container may take", cgroupsPath)
	}
	return p, nil
}
