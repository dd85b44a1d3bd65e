package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The host check is what makes "nothing left behind" a test: it must see
// each kind of leftover that is this run's, none that is not, and sweep
// what it saw.
func TestHostCheck(t *testing.T) {
	needRoot(t)
	needTool(t, "ip", "iproute2")
	before, err := takeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var pidsRoot string
	for _, m := range cgroupMounts() {
		if filepath.Base(m) == "pids" || pidsRoot == "" {
			pidsRoot = m
		}
	}
	if pidsRoot == "" {
		t.Skip("needs a cgroup hierarchy mounted")
	}
	ourCgroup := filepath.Join(pidsRoot, tag+"-selftest", "leaf")
	notOurs := filepath.Join(pidsRoot, "minirun-e2e-selftest-not-ours")
	mnt := filepath.Join(workDir, "selftest-mount")
	link := tag + "st"
	for _, d := range []string{ourCgroup, notOurs, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		os.Remove(ourCgroup)
		os.Remove(filepath.Dir(ourCgroup))
		os.Remove(notOurs)
		exec.Command("ip", "link", "delete", link).Run()
	})
	if err := unix.Mount("selftest", mnt, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "ip", "link", "add", link, "type", "bridge")
	sleeper := exec.Command("sleep", "600")
	sleeper.Dir = mnt
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })

	after, err := takeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	l := diffHost(before, after, nil)
	for _, tc := range []struct {
		what  string
		items []string
		want  string
	}{
		{"cgroup with the tag (the top of the new subtree)", l.cgroups, filepath.Dir(ourCgroup)},
		{"mount in the run's folder", l.mounts, mnt + " (tmpfs selftest)"},
		{"link with the tag", l.links, link},
	} {
		if !slices.Contains(tc.items, tc.want) {
			t.Errorf("%s: got %q, want %q among them", tc.what, tc.items, tc.want)
		}
	}
	for _, c := range l.cgroups {
		if c == notOurs || c == ourCgroup {
			t.Errorf("cgroups: got %s, which is not this run's or not the top of a new subtree", c)
		}
	}
	if !slices.Contains(l.procs, sleeper.Process.Pid) {
		t.Errorf("processes: got %v, want the sleeper %d (its working folder is in the run's folder)", l.procs, sleeper.Process.Pid)
	}

	sweep(t, l)
	sleeper.Wait()
	again, err := takeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if l := diffHost(before, again, nil); !l.empty() {
		t.Errorf("after the sweep, still left:%s", l)
	}
	if _, err := os.Stat(notOurs); err != nil {
		t.Errorf("the sweep removed a cgroup that is not this run's: %v", err)
	}
	if strings.Contains(l.String(), notOurs) {
		t.Errorf("the report names a cgroup that is not this run's:%s", l)
	}
}
