package namespaces

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// detachedTmpfs makes a tmpfs that is mounted nowhere (fsopen, fsmount)
// and creates the named files in it, each owned by its uid:gid. The host's
// mount table never sees it; closing the fd frees it.
func detachedTmpfs(t *testing.T, owners map[string][2]int) int {
	t.Helper()
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		t.Fatalf("fsopen tmpfs: %v", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		t.Fatalf("fsconfig create: %v", err)
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("fsmount: %v", err)
	}
	t.Cleanup(func() { unix.Close(mnt) })
	for name, o := range owners {
		fd, err := unix.Openat(mnt, name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.Fchown(fd, o[0], o[1])
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
	}
	return mnt
}

// TestNewUserNS makes a user namespace with a mapping and idmaps a clone
// of a detached tmpfs with it: a file owned by a mapped id on the tmpfs
// is seen as its host id through the clone, as an idmapped mount shows it;
// an id the map leaves out is seen as the overflow id.
func TestNewUserNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: writes id maps other than its own and mounts a tmpfs")
	}
	ns, err := NewUserNS("1000 2000 10\n", "1000 3000 10\n")
	if err != nil {
		t.Fatalf("NewUserNS: %v", err)
	}
	defer ns.Close()
	if typ, err := unix.IoctlRetInt(int(ns.Fd()), nsGetNStype); err != nil || typ != unix.CLONE_NEWUSER {
		t.Fatalf("NS_GET_NSTYPE: got %#x, %v, want CLONE_NEWUSER", typ, err)
	}
	mnt := detachedTmpfs(t, map[string][2]int{"mapped": {1005, 1001}, "unmapped": {0, 0}})
	tree, err := unix.OpenTree(mnt, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		t.Fatalf("open_tree: %v", err)
	}
	defer unix.Close(tree)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns.Fd())}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		t.Fatalf("mount_setattr(MOUNT_ATTR_IDMAP): %v", err)
	}
	overflow := func(file string) uint32 {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var n uint32
		for _, c := range strings.TrimSpace(string(data)) {
			n = n*10 + uint32(c-'0')
		}
		return n
	}
	cases := []struct {
		name     string
		uid, gid uint32
	}{
		{"mapped", 2005, 3001},
		{"unmapped", overflow("/proc/sys/kernel/overflowuid"), overflow("/proc/sys/kernel/overflowgid")},
	}
	for _, c := range cases {
		var st unix.Stat_t
		if err := unix.Fstatat(tree, c.name, &st, 0); err != nil {
			t.Fatal(err)
		}
		if st.Uid != c.uid || st.Gid != c.gid {
			t.Errorf("%s through the idmapped clone: got %d:%d, want %d:%d", c.name, st.Uid, st.Gid, c.uid, c.gid)
		}
	}
}

// TestNewUserNSBadMap: a map the kernel refuses is an error naming it, and
// the task that was made for it is gone.
func TestNewUserNSBadMap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: writes id maps other than its own")
	}
	_, err := NewUserNS("0 0 1\n0 5 1\n", "0 0 1\n")
	if err == nil || !strings.Contains(err.Error(), `uid_map "0 0 1\n0 5 1\n"`) {
		t.Fatalf("NewUserNS with overlapping uid maps: got %v, want an error naming the uid_map", err)
	}
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil); err != unix.ECHILD {
		t.Errorf("wait4 after the failure: got pid %d, %v, want ECHILD (no child left)", pid, err)
	}
}
