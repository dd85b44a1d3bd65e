package container

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/namespaces"
)

// idmappedTrees makes the detached, idmapped trees of a plan's idmapped
// mounts (childprog.IDMappedMount says why the parent makes them) and
// returns them, each fd's number stored in its arena word. Mounts with the
// same maps share one user namespace, closed once every tree has it. On
// failure nothing is left open.
func idmappedTrees(plan *childprog.Plan) (trees []*os.File, err error) {
	userns := map[[2]string]*os.File{}
	defer func() {
		for _, ns := range userns {
			ns.Close()
		}
		if err != nil {
			for _, t := range trees {
				t.Close()
			}
			trees = nil
		}
	}()
	for _, m := range plan.IDMapped {
		key := [2]string{m.UIDMap, m.GIDMap}
		ns, ok := userns[key]
		if !ok {
			if ns, err = namespaces.NewUserNS(m.UIDMap, m.GIDMap); err != nil {
				return nil, fmt.Errorf("%s: %w", m.Label, err)
			}
			userns[key] = ns
		}
		t, err := idmappedTree(m, ns)
		if err != nil {
			return nil, err
		}
		trees = append(trees, t)
		plan.Arena.Store32(m.FD, uint32(t.Fd()))
	}
	return trees, nil
}

// idmappedTree clones m.Source's tree, detached, sets the mount's
// attributes on it and then the mapping of the user namespace ns.
func idmappedTree(m childprog.IDMappedMount, ns *os.File) (*os.File, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	var rec uint
	if m.Recursive {
		flags |= unix.AT_RECURSIVE
		rec = unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, uint(flags))
	if err != nil {
		return nil, fmt.Errorf("%s: open_tree %s: %w", m.Label, m.Source, err)
	}
	tree := os.NewFile(uintptr(fd), m.Source)
	if m.AttrSet != 0 || m.AttrClr != 0 {
		attr := unix.MountAttr{Attr_set: m.AttrSet, Attr_clr: m.AttrClr}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|rec, &attr); err != nil {
			tree.Close()
			return nil, fmt.Errorf("%s: mount_setattr: %w", m.Label, err)
		}
	}
	rec = 0
	if m.RecursiveIDMap {
		rec = unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|rec, &attr); err != nil {
		tree.Close()
		if errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("%s: idmap the mount: %w (the filesystem of %s may not support idmapped mounts)", m.Label, err, m.Source)
		}
		return nil, fmt.Errorf("%s: idmap the mount: %w", m.Label, err)
	}
	return tree, nil
}
