package childprog

import (
	"fmt"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/namespaces"
)

// An IDMappedMount is a bind mount with an id mapping (mounts[i].uidMappings
// and gidMappings, the "idmap" and "ridmap" options): a file owned by id C
// on the source's filesystem is seen as id H through it, for each
// "C H size" line of the maps — runtime-spec's containerID and hostID, the
// way a user namespace's maps read.
//
// The parent makes it before the clone and the child only moves it into
// place. mount_setattr(MOUNT_ATTR_IDMAP) takes the mapping as a user
// namespace fd and works only on a detached tree (open_tree's clone), and
// the kernel wants CAP_SYS_ADMIN over that user namespace: a container with
// a user namespace of its own has none over one the parent made, while the
// parent, root on the host, has it over both. So the parent makes a user
// namespace with the maps (namespaces.NewUserNS), clones Source's tree,
// sets the mount's attributes and the mapping on it, and stores the tree's
// fd number at FD; the child move_mounts it onto the destination and sets
// the propagation and recursive attributes there, as for any bind mount.
type IDMappedMount struct {
	// Label names the mount in errors: "mounts[3]: bind /src on /data".
	Label string
	// Source is the host path whose tree is cloned (bind: the mount at
	// Source; rbind, Recursive: its submounts too).
	Source    string
	Recursive bool
	// RecursiveIDMap ("ridmap") maps every mount of the tree, not only
	// the top one.
	RecursiveIDMap bool
	// UIDMap and GIDMap are the maps' text, as for /proc/PID/uid_map.
	UIDMap, GIDMap string
	// AttrSet and AttrClr are the mount's MOUNT_ATTR_* flags (ro, nosuid…),
	// set on the tree (every mount of it when Recursive) before the
	// mapping.
	AttrSet, AttrClr uint64
	// FD is the arena word where the parent stores the tree's fd number.
	FD uintptr
}

// idmappedMount plans mounts[i] as an IDMappedMount and moves it onto tgt.
func (c *compiler) idmappedMount(i int, label, source string, tgt clonecore.Slot, m rspec.Mount, o mountPlan) {
	field := fmt.Sprintf("mounts[%d].uidMappings", i)
	uidMap, gidMap := namespaces.FormatIDMap(m.UIDMappings), namespaces.FormatIDMap(m.GIDMappings)
	if len(m.UIDMappings) == 0 {
		// A bare "idmap" takes the container's own maps (Validate has
		// made sure it has a new user namespace): a file owned by a
		// container id C on disk is seen as C inside.
		field = fmt.Sprintf("mounts[%d].options", i)
		uidMap, gidMap = c.plan.UIDMap, c.plan.GIDMap
	}
	switch {
	case c.env.Rootless:
		c.b.fail(fmt.Errorf("%s: an idmapped mount needs minirun to run as root: the mapping is made by minirun, outside the container", field))
		return
	}
	w := c.b.word()
	c.plan.IDMapped = append(c.plan.IDMapped, IDMappedMount{
		Label: label, Source: source, Recursive: o.recursive, RecursiveIDMap: o.ridmap,
		UIDMap: uidMap, GIDMap: gidMap, AttrSet: o.attrSet, AttrClr: o.attrClr, FD: w,
	})
	tree := wordFD(w, fmt.Sprintf("fd<mounts[%d] idmapped>", i))
	c.b.moveMount(label, tree, c.b.slotFD(tgt))
	c.b.propagate(label, tree, o)
	c.b.close(label, tree)
}

// explain renders what the parent does for m before the clone.
func (m IDMappedMount) explain() string {
	var b strings.Builder
	flags := "OPEN_TREE_CLONE"
	if m.Recursive {
		flags += "|AT_RECURSIVE"
	}
	fmt.Fprintf(&b, "open_tree(%q, %s)", m.Source, flags)
	if m.AttrSet != 0 || m.AttrClr != 0 {
		fmt.Fprintf(&b, ", mount_setattr({attr_set=%s, attr_clr=%s})", flagString(m.AttrSet, attrNames), flagString(m.AttrClr, attrNames))
	}
	rec := ""
	if m.RecursiveIDMap {
		rec = "AT_RECURSIVE, "
	}
	fmt.Fprintf(&b, ", mount_setattr(%s{attr_set=MOUNT_ATTR_IDMAP, userns_fd=a user namespace with uid_map %q, gid_map %q})",
		rec, m.UIDMap, m.GIDMap)
	return b.String()
}
