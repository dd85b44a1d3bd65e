package container

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
)

// sharedDir mounts a tmpfs on a temporary folder and makes it shared, the
// way systemd leaves a host's mounts: a mount made below a peer of it, in
// any mount namespace, would appear in the host's too. It is unmounted at
// the end of the test.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := tempDir(t)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", dir, err)
	}
	return dir
}

// moveBundle moves a test bundle into dir (a bundle folder of its own
// there), so that its rootfs lies on dir's filesystem.
func moveBundle(t *testing.T, tb *testBundle, dir string) {
	t.Helper()
	nd, err := os.MkdirTemp(dir, "bundle-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(nd, 0o755); err != nil {
		t.Fatal(err)
	}
	// The rootfs holds only what the helper bundles put there: copy it.
	err = filepath.Walk(tb.Rootfs, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tb.Rootfs, p)
		dst := filepath.Join(nd, "rootfs", rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(dst, fi.Mode().Perm())
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, dst)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tb.Dir, tb.Rootfs = nd, filepath.Join(nd, "rootfs")
}

// TestRunRootfsPropagation runs every value of linux.rootfsPropagation
// with the bundle on a shared mount: each must start, the container's / must
// have the propagation asked for, and no mount the container makes — its
// rootfs, /proc, /dev, a shared tmpfs of its own — may appear in the host's
// mount namespace, during the run or after it.
func TestRunRootfsPropagation(t *testing.T) {
	needRoot(t, "mounts a shared tmpfs and creates mount namespaces")
	shared := sharedDir(t)
	cases := []struct {
		propagation string
		noPivot     bool
		want        string // an optional field of / in the container's mountinfo
		notWant     []string
	}{
		{"", false, "master:", []string{"shared:", "unbindable"}}, // rslave, runc's default
		{"shared", false, "shared:", []string{"unbindable"}},
		{"rshared", false, "shared:", []string{"unbindable"}},
		{"slave", false, "master:", []string{"shared:", "unbindable"}},
		{"rslave", false, "master:", []string{"shared:", "unbindable"}},
		{"private", false, "", []string{"shared:", "master:", "unbindable"}},
		{"rprivate", false, "", []string{"shared:", "master:", "unbindable"}},
		{"unbindable", false, "unbindable", []string{"shared:", "master:"}},
		{"runbindable", false, "unbindable", []string{"shared:", "master:"}},
		{"rshared", true, "shared:", []string{"unbindable"}},
		{"", true, "master:", []string{"shared:", "unbindable"}},
	}
	for _, c := range cases {
		name := c.propagation
		if name == "" {
			name = "default"
		}
		args := []string{"run"}
		if c.noPivot {
			name += " --no-pivot"
			args = append(args, "--no-pivot")
		}
		t.Run(name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{}, "wait")
			moveBundle(t, tb, shared)
			tb.Spec.Linux.RootfsPropagation = c.propagation
			tb.Spec.Mounts = append(tb.Spec.Mounts, rspec.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"shared"}})
			tb.save(t)
			before := snapshotHost(t)
			run := startBinary(t, nil, append(args, tb.config())...)
			line, err := run.lines.ReadString('\n')
			if err == nil {
				// While the container runs, with every mount made.
				run.containerPID(t)
				if got := snapshotHost(t).mounts; !slices.Equal(got, before.mounts) {
					t.Errorf("the host's mounts while the container runs: got %d lines, want the %d of before:\n%s", len(got), len(before.mounts), strings.Join(got, "\n"))
				}
			}
			code := run.wait(t)
			checkNothingLeft(t, before)
			if err != nil || code != 0 {
				t.Fatalf("minirun run: got exit status %d and %q, want 0 and the facts; stderr %q", code, line, run.errors())
			}
			f := parseFacts(t, line)
			root := f.mount("/")
			if root == nil {
				t.Fatalf("got no mount at / in the container, want the rootfs")
			}
			if c.want != "" && !slices.ContainsFunc(root.Optional, func(o string) bool { return strings.HasPrefix(o, c.want) }) {
				t.Errorf("propagation of /: got %q, want %s", root.Optional, c.want)
			}
			for _, n := range c.notWant {
				if slices.ContainsFunc(root.Optional, func(o string) bool { return strings.HasPrefix(o, n) }) {
					t.Errorf("propagation of /: got %q, want no %s", root.Optional, n)
				}
			}
		})
	}
}
