package boot

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestGuardConstants: what entry_amd64.s passes the kernel is what
// golang.org/x/sys/unix says.
func TestGuardConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"SYS_close", sysClose, unix.SYS_CLOSE},
		{"SYS_execveat", sysExecveat, unix.SYS_EXECVEAT},
		{"SYS_open_tree", sysOpenTree, unix.SYS_OPEN_TREE},
		{"SYS_mount_setattr", sysMountSetattr, unix.SYS_MOUNT_SETATTR},
		{"SYS_faccessat2", sysFaccessat2, unix.SYS_FACCESSAT2},
		{"AT_FDCWD", atFDCWD, unix.AT_FDCWD},
		{"AT_EMPTY_PATH", atEmptyPath, unix.AT_EMPTY_PATH},
		{"AT_EACCESS", atEaccess, unix.AT_EACCESS},
		{"W_OK", wOK, unix.W_OK},
		{"OPEN_TREE_CLONE", openTreeClone, unix.OPEN_TREE_CLONE},
		{"OPEN_TREE_CLOEXEC", openTreeCloexec, unix.OPEN_TREE_CLOEXEC},
		{"MOUNT_ATTR_SIZE_VER0", mountAttrSize, unix.MOUNT_ATTR_SIZE_VER0},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
}
