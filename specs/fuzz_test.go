package specs

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParseMountOptions feeds comma-separated option lists to the mount
// option parser: it never panics, and what it returns keeps its own
// rules. No MS_* flag is both set and cleared, nor a non-atime attribute;
// at most one access-time mode is set, and a set one comes with the
// clearing of the atime field (mount_setattr's rule); propagation is one
// of the kernel's four, recursive or not; Data holds exactly the options
// no table knows, in order; idmapped mounts come only from "idmap" and
// "ridmap". Applying a list twice changes nothing but Data (each option
// sets its state outright, the last one winning).
func FuzzParseMountOptions(f *testing.F) {
	for _, seed := range []string{
		"nosuid,noexec,nodev,ro", "rbind,rprivate,rro,rnoatime", "bind,ro,rw,rshared", "mode=755,size=65536k",
		"rstrictatime,ratime,rrelatime", "idmap,ridmap,tmpcopyup", "", ",,", "nosuid,suid,dev,nodev,exec,noexec",
		"rslave,slave,private,unbindable,runbindable", "rnosymfollow,rsymfollow,rnodiratime,rdiratime",
	} {
		f.Add(seed)
	}
	atimes := []uint64{unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR_NOATIME, unix.MOUNT_ATTR_STRICTATIME}
	props := []uintptr{0, unix.MS_SHARED, unix.MS_SLAVE, unix.MS_PRIVATE, unix.MS_UNBINDABLE}
	f.Fuzz(func(t *testing.T, list string) {
		opts := strings.Split(list, ",")
		o := ParseMountOptions(opts)
		if o.Flags&o.Cleared != 0 {
			t.Errorf("%q: flags %#x both set and cleared", list, o.Flags&o.Cleared)
		}
		if both := (o.AttrSet &^ unix.MOUNT_ATTR__ATIME) & o.AttrClr; both != 0 {
			t.Errorf("%q: attributes %#x both set and cleared", list, both)
		}
		if atime := o.AttrSet & unix.MOUNT_ATTR__ATIME; !slices.Contains(atimes, atime) {
			t.Errorf("%q: access-time mode %#x, want one of the kernel's", list, atime)
		} else if atime != 0 && o.AttrClr&unix.MOUNT_ATTR__ATIME != unix.MOUNT_ATTR__ATIME {
			t.Errorf("%q: access-time mode %#x set without clearing the field", list, atime)
		}
		if !slices.Contains(props, o.Propagation&^unix.MS_REC) || (o.Propagation == unix.MS_REC) {
			t.Errorf("%q: propagation %#x", list, o.Propagation)
		}
		if o.AttrSet&unix.MOUNT_ATTR_IDMAP != 0 {
			t.Errorf("%q: MOUNT_ATTR_IDMAP set by an option", list)
		}
		var unknown []string
		idmap := false
		for _, opt := range opts {
			_, flag := mountFlagTable[opt]
			_, prop := propagationByName[opt]
			_, attr := mountAttrTable[opt]
			switch {
			case opt == "idmap" || opt == "ridmap":
				idmap = true
			case flag || prop || attr || opt == "" || opt == "tmpcopyup":
			default:
				unknown = append(unknown, opt)
			}
		}
		if o.Data != strings.Join(unknown, ",") {
			t.Errorf("%q: data %q, want the unknown options %q", list, o.Data, strings.Join(unknown, ","))
		}
		if o.IDMap != idmap {
			t.Errorf("%q: IDMap %v, want %v", list, o.IDMap, idmap)
		}
		twice := ParseMountOptions(append(slices.Clone(opts), opts...))
		twice.Data = o.Data
		if twice != o {
			t.Errorf("%q applied twice: got %+v, want %+v", list, twice, o)
		}
	})
}
