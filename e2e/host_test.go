package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What a test may leave on the host, and how the tests find it: a snapshot
// of the host before the test and another after its cleanups; whatever is
// new, stays new for a moment, and is this run's, is left behind. The
// machine is shared (other sessions start shells, containers and cgroups
// of their own at the same time), so only what can be told to be this
// run's counts, and only that is ever removed:
//   - a cgroup whose path has the run's tag (every client is given a cgroup
//     parent or namespace with it) or a name the test declares (the
//     validation suite's fixed cgroup paths);
//   - a mount whose mount point or source is in the run's folder or has
//     the tag (overlays, network namespaces, shm);
//   - a network link with the tag (bridges), or a veth whose peer was in
//     a namespace of ours (gone with it, so not checked apart);
//   - an entry new in a shared folder (the runtimes' default state roots,
//     CNI's results, containerd's shim sockets) that has the tag in its
//     name, names the run's folder in its files (a runtime's state holds
//     its bundle's path), or is a socket no one listens on any more;
//   - a process started since the snapshot whose command line, executable,
//     working folder or root is in the run's folder.

// watchedDirs are the shared folders clients and runtimes write to.
var watchedDirs = []string{
	"/run/containerd/s", "/run/containerd/runc", "/run/containerd/fifo",
	"/run/containerd/io.containerd.runtime.v2.task",
	"/var/lib/cni/results", "/var/lib/cni/networks",
	"/run/netns", "/run/runc", "/run/minirun", "/run/crun",
	"/var/lib/containers", "/run/containers", "/run/libpod",
	"/etc/cni/net.d",
}

type hostSnapshot struct {
	cgroups map[string]bool // hierarchy mount point + "/" + path
	mounts  map[string]bool // "mount point (fstype source)"
	links   map[string]bool // network interface names
	files   map[string]bool // watched folders and their entries
	procs   map[string]bool // "pid start-time" of every process
}

func takeSnapshot() (hostSnapshot, error) {
	s := hostSnapshot{cgroups: map[string]bool{}, mounts: map[string]bool{}, links: map[string]bool{}, files: map[string]bool{}, procs: map[string]bool{}}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return s, err
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			s.procs[procKey(pid)] = true
		}
	}
	mounts, err := readMounts()
	if err != nil {
		return s, err
	}
	for _, m := range mounts {
		s.mounts[m.String()] = true
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			err := filepath.WalkDir(m.point, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return nil // a cgroup removed while walking
				}
				if d.IsDir() && p != m.point {
					s.cgroups[p] = true
				}
				return nil
			})
			if err != nil {
				return s, err
			}
		}
	}
	ifaces, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return s, err
	}
	for _, i := range ifaces {
		s.links[i.Name()] = true
	}
	for _, d := range watchedDirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		s.files[d] = true
		for _, e := range entries {
			s.files[filepath.Join(d, e.Name())] = true
		}
	}
	return s, nil
}

// leftovers is what after has that before had not, as the test should not
// have left it; each list sorted.
type leftovers struct {
	cgroups, mounts, links, files []string
	procs                         []int
}

func (l leftovers) empty() bool {
	return len(l.cgroups)+len(l.mounts)+len(l.links)+len(l.files)+len(l.procs) == 0
}

func (l leftovers) String() string {
	var b strings.Builder
	for _, part := range []struct {
		what  string
		items []string
	}{{"cgroups", l.cgroups}, {"mounts", l.mounts}, {"network links", l.links}, {"files", l.files}} {
		if len(part.items) > 0 {
			fmt.Fprintf(&b, "\n  %s: %s", part.what, strings.Join(part.items, ", "))
		}
	}
	for _, pid := range l.procs {
		fmt.Fprintf(&b, "\n  process %d: %s", pid, procDescription(pid))
	}
	return b.String()
}

// diffHost lists what after has that before had not and is this run's;
// extraCgroups are cgroup names besides the tag that are the test's.
func diffHost(before, after hostSnapshot, extraCgroups []string) leftovers {
	var l leftovers
	for p := range after.cgroups {
		if before.cgroups[p] || !ours(p, extraCgroups) {
			continue
		}
		// Report the top of a new subtree only.
		if parent := filepath.Dir(p); !after.cgroups[parent] || before.cgroups[parent] || !ours(parent, extraCgroups) {
			l.cgroups = append(l.cgroups, p)
		}
	}
	for m := range after.mounts {
		if !before.mounts[m] && (strings.Contains(m, workDir) || strings.Contains(m, tag)) {
			l.mounts = append(l.mounts, m)
		}
	}
	for n := range after.links {
		if !before.links[n] && strings.Contains(n, tag) {
			l.links = append(l.links, n)
		}
	}
	for f := range after.files {
		if !before.files[f] && !slices.Contains(watchedDirs, f) && fileIsOurs(f) {
			l.files = append(l.files, f)
		}
	}
	// Only a process started since: the test's own ancestors (go test, a
	// make's shell) name the same folders.
	for _, pid := range ourProcesses() {
		if !before.procs[procKey(pid)] {
			l.procs = append(l.procs, pid)
		}
	}
	for _, s := range [][]string{l.cgroups, l.mounts, l.links, l.files} {
		sort.Strings(s)
	}
	return l
}

// ours says whether a cgroup path is this run's: it has the tag, or one of
// its folders is named in extra.
func ours(p string, extra []string) bool {
	if strings.Contains(p, tag) {
		return true
	}
	for _, part := range strings.Split(p, "/") {
		if slices.Contains(extra, part) {
			return true
		}
	}
	return false
}

// fileIsOurs says whether an entry of a shared folder is this run's: its
// name has the tag, a file in it (or it) names the run's folder, or it is
// a socket that no one listens on.
func fileIsOurs(f string) bool {
	if strings.Contains(filepath.Base(f), tag) {
		return true
	}
	fi, err := os.Lstat(f)
	if err != nil {
		return false
	}
	if fi.Mode()&os.ModeSocket != 0 {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return false
		}
		defer unix.Close(fd)
		return unix.Connect(fd, &unix.SockaddrUnix{Name: f}) == unix.ECONNREFUSED
	}
	found := false
	filepath.WalkDir(f, func(p string, d os.DirEntry, err error) error {
		if err != nil || found || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err != nil || !info.Mode().IsRegular() || info.Size() > 1<<20 {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), workDir) {
			found = true
		}
		return nil
	})
	return found
}

// ourProcesses lists the processes that belong to this run: any but the
// test itself whose command line, executable, working folder or root lies
// in the run's folder (a containerd, a shim, a conmon, a container whose
// rootfs is there, a validation program, which runs from a folder there).
func ourProcesses() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	places := []string{workDir}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if procMentions(pid, places) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procKey names a process for as long as it lives: its pid and its start
// time (a pid is reused, the pair is not).
func procKey(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	// The command name, in parentheses, may hold spaces: fields count
	// from the last ')'. The start time is field 22, the 20th after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 20 {
		return strconv.Itoa(pid)
	}
	return strconv.Itoa(pid) + " " + f[19]
}

func procMentions(pid int, places []string) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	var seen []string
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
		seen = append(seen, strings.ReplaceAll(string(b), "\x00", " "))
	}
	for _, l := range []string{"exe", "cwd", "root"} {
		if t, err := os.Readlink(dir + "/" + l); err == nil && t != "/" {
			seen = append(seen, t)
		}
	}
	for _, s := range seen {
		for _, p := range places {
			if p != "" && strings.Contains(s, p) {
				return true
			}
		}
	}
	return false
}

func procDescription(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// watchHost snapshots the host now and, when the test ends (after every
// cleanup registered later, which runs first), fails the test if anything
// of this run's stayed, then removes what it can of it so the next test
// starts clean. extraCgroups are cgroup names besides the tag the test's
// clients use.
func watchHost(t *testing.T, extraCgroups ...string) {
	t.Helper()
	before, err := takeSnapshot()
	if err != nil {
		t.Fatalf("snapshot of the host: %v", err)
	}
	t.Cleanup(func() {
		var l leftovers
		// Give what is still going away (a shim exiting, another
		// session's container) a moment: only what stays counts.
		waitFor(3*time.Second, func() bool {
			after, err := takeSnapshot()
			if err != nil {
				t.Errorf("snapshot of the host: %v", err)
				return true
			}
			l = diffHost(before, after, extraCgroups)
			return l.empty()
		})
		if l.empty() {
			return
		}
		t.Errorf("left behind on the host:%s", l)
		sweep(t, l)
	})
}

// sweep removes leftovers: kills the run's processes, unmounts, removes
// cgroups (deepest first), links and files.
func sweep(t *testing.T, l leftovers) {
	for _, pid := range l.procs {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(l.procs) > 0 {
		time.Sleep(200 * time.Millisecond)
	}
	mounts := slices.Clone(l.mounts)
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		point, _, _ := strings.Cut(m, " (")
		if err := unix.Unmount(point, unix.MNT_DETACH); err != nil {
			t.Logf("sweep: unmount %s: %v", point, err)
		}
	}
	for _, c := range l.cgroups {
		removeCgroupTree(t, c)
	}
	for _, n := range l.links {
		if out, err := exec.Command("ip", "link", "delete", n).CombinedOutput(); err != nil {
			t.Logf("sweep: ip link delete %s: %v %s", n, err, out)
		}
	}
	files := slices.Clone(l.files)
	sort.Sort(sort.Reverse(sort.StringSlice(files)))
	for _, f := range files {
		if err := os.RemoveAll(f); err != nil {
			t.Logf("sweep: %v", err)
		}
	}
}

// removeCgroupTree removes the cgroup folder p and every one below it,
// deepest first; a cgroup with processes stays, and is said so.
func removeCgroupTree(t *testing.T, p string) {
	var dirs []string
	filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, q)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil && err != unix.ENOENT {
			t.Logf("sweep: rmdir %s: %v", dirs[i], err)
		}
	}
}

// cgroupMounts lists the mount points of the cgroup hierarchies.
func cgroupMounts() []string {
	ms, _ := readMounts()
	var out []string
	for _, m := range ms {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			out = append(out, m.point)
		}
	}
	return out
}

// removeClientCgroups removes, in every hierarchy, the cgroup folders a
// client named as parents of its containers' (podman's --cgroup-parent, a
// pod's cgroup_parent, ctr's namespace): the runtime makes them on the
// way to a container's cgroup but, like runc, leaves them, as they are the
// client's. Each rel is removed only when empty, deepest first; what is
// left in them is the runtime's, and the host check reports it.
func removeClientCgroups(rels ...string) {
	for _, root := range cgroupMounts() {
		for _, rel := range rels {
			for p := filepath.Join(root, rel); p != root && strings.HasPrefix(p, root+"/"); p = filepath.Dir(p) {
				if err := unix.Rmdir(p); err != nil && err != unix.ENOENT {
					break
				}
			}
		}
	}
}

type mountEntry struct{ point, fstype, source string }

func (m mountEntry) String() string { return m.point + " (" + m.fstype + " " + m.source + ")" }

// readMounts reads the test's mount table (the host's: the tests run in
// its mount namespace).
func readMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root point options [optional…] - fstype source super
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, mountEntry{point: unescapeMount(fields[4]), fstype: fields[sep+1], source: fields[sep+2]})
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts every mount at or below dir, deepest first (what
// a client's overlay or netns left there when it was killed, what
// propagated back from a container), and returns their mount points.
func unmountUnder(t testing.TB, dir string) []string {
	points, err := unmountAll(dir)
	if err != nil {
		t.Logf("unmounting under %s: %v", dir, err)
	}
	return points
}

func unmountAll(dir string) ([]string, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	var points []string
	for _, m := range ms {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			points = append(points, m.point)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return points, errors.Join(errs...)
}

// removeAll removes a test's folder after unmounting what is under it,
// never crossing into another file system it could not unmount.
func removeAll(t *testing.T, dir string) {
	unmountUnder(t, dir)
	if out, err := exec.Command("rm", "-rf", "--one-file-system", dir).CombinedOutput(); err != nil {
		t.Errorf("removing %s: %v %s", dir, err, out)
	}
}
