package container

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
)

// threadNetNS returns the network namespace inode of each of this
// process's threads, by TID.
func threadNetNS(t *testing.T) map[string]uint64 {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, task := range tasks {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join("/proc/self/task", task.Name(), "ns/net"), &st); err == nil {
			m[task.Name()] = st.Ino
		}
	}
	return m
}

// TestNewNetNS: the network namespace minirun makes for a container
// (netNSByParent) is a new one, and no thread of minirun's is left in it
// or in any but minirun's own: a Go thread that had been moved there would
// run later hooks and netlink requests in the container's namespace.
func TestNewNetNS(t *testing.T) {
	needRoot(t, "makes network namespaces")
	var own unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &own); err != nil {
		t.Fatal(err)
	}
	before := snapshotHost(t)
	for range 20 {
		f, err := newNetNS()
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Ino == own.Ino {
			t.Errorf("the namespace made: inode %d (%v), want a new one (minirun's is %d)", st.Ino, err, own.Ino)
		}
		if typ, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE); err != nil || typ != unix.CLONE_NEWNET {
			t.Errorf("the namespace made: type %#x (%v), want CLONE_NEWNET", typ, err)
		}
		f.Close()
	}
	// And through a whole run, which makes one alongside its cgroups.
	tb := helperBundle(t, specs.GenerateOptions{})
	if !netNSByParent(tb.Spec) {
		t.Fatalf("netNSByParent: false for %v, want minirun to make the network namespace", tb.Spec.Linux.Namespaces)
	}
	f := runFacts(t, tb)
	if f.NS["net"] == 0 || f.NS["net"] == own.Ino {
		t.Errorf("the container's network namespace: inode %d, want a new one (minirun's is %d)", f.NS["net"], own.Ino)
	}
	for tid, ino := range threadNetNS(t) {
		if ino != own.Ino {
			t.Errorf("thread %s of minirun's is in network namespace %d, want minirun's %d", tid, ino, own.Ino)
		}
	}
	checkNothingLeft(t, before)
}
