package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The OCI runtime-tools validation programs: each makes bundles from a
// rootfs tarball, drives the runtime named by $RUNTIME through its command
// line (and runtimetest inside the container), and prints TAP.
//
// About half of them cannot pass on this machine for any runtime (hybrid
// cgroups without blkio weights or hugetlb in v1, no AppArmor, no
// CAP_SYS_RESOURCE, hooks, pidfile and misc_props tests with bugs of their
// own), so the bar is runc's: every program runc passes here must pass
// with the runtime under test. runc's passes are computed live, in the same
// run on the same machine, because they depend on the machine (cgroup
// layout, capabilities) as much as on runc; when the runtime under test is
// runc itself, that one run is checked against runcPasses instead, the
// list measured when this test was written, so that the test can still
// fail (a harness or machine change that breaks runc).

// runcPasses are the programs runc 1.1.5 (Debian 1.1.5+ds1-1+deb12u1)
// passed on this machine (kernel 6.18, hybrid cgroups, no
// CAP_SYS_RESOURCE) with runtime-tools runtimeToolsVersion and the busybox
// rootfs of these tests, on 2026-11-30.
var runcPasses = []string{
	"config_updates_without_affect", "create", "default", "delete_only_create_resources",
	"hostname", "kill", "kill_no_effect", "killsig", "linux_cgroups_cpus",
	"linux_cgroups_relative_cpus", "linux_devices", "linux_masked_paths", "linux_ns_itype",
	"linux_ns_nopath", "linux_ns_path", "linux_ns_path_type", "linux_readonly_paths",
	"linux_sysctl", "linux_uid_mappings", "mounts", "process", "process_oom_score_adj",
	"process_user", "root_readonly_true", "state",
}

// runcPassesVersion is the runc --version first line runcPasses holds for.
const runcPassesVersion = "runc version 1.1.5+ds1"

// validationCgroups are the cgroup names the validation programs use
// (runtime-tools' cgroups.AbsCgroupPath /cgrouptest and RelCgroupPath
// testdir/cgrouptest/container): a cgroup path through one of them is
// this run's. testdir alone is too common a name to claim.
var validationCgroups = []string{"cgrouptest"}

// tapResult is what one validation program did.
type tapResult struct {
	exit              int // -1: did not start, or timed out
	planned, ok, fail int
	firstFailure      string
	output            string
	// mounts are what the program left mounted in the host's mount
	// namespace under its bundles (container mounts that propagated back
	// through a shared rootfs); the harness unmounts them.
	mounts []string
}

// pass: it exited 0 and every test it planned, at least one, passed.
func (r tapResult) pass() bool {
	return r.exit == 0 && r.planned > 0 && r.ok == r.planned && r.fail == 0
}

func (r tapResult) summary() string {
	if r.pass() {
		return fmt.Sprintf("pass (%d tests)", r.planned)
	}
	s := fmt.Sprintf("exit %d, %d/%d ok, %d not ok", r.exit, r.ok, r.planned, r.fail)
	if r.firstFailure != "" {
		s += ": " + r.firstFailure
	}
	return s
}

var (
	tapPlan = regexp.MustCompile(`^1\.\.(\d+)`)
	tapOK   = regexp.MustCompile(`^ok \d+`)
	tapFail = regexp.MustCompile(`^not ok \d+`)
)

// parseTAP counts the plans and results of the TAP streams in out (a
// program may print more than one: the plans add up).
func parseTAP(out string) tapResult {
	r := tapResult{output: out}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case tapPlan.MatchString(line):
			n, _ := strconv.Atoi(tapPlan.FindStringSubmatch(line)[1])
			r.planned += n
		case tapOK.MatchString(line):
			r.ok++
		case tapFail.MatchString(line):
			r.fail++
			if r.firstFailure == "" {
				r.firstFailure = line
			}
		}
	}
	return r
}

// validationDir makes a folder to run the programs from: they copy
// ./runtimetest into each bundle and unpack ./rootfs-GOARCH.tar.gz.
func validationDir(t *testing.T, tools string) string {
	t.Helper()
	dir, err := os.MkdirTemp(workDir, "validation")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(filepath.Join(tools, "runtimetest"), filepath.Join(dir, "runtimetest"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(busyboxRootfsTarGz(t), filepath.Join(dir, "rootfs-"+runtime.GOARCH+".tar.gz"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runValidation runs one program against rt, from dir, with its own
// temporary folder for its bundles, and cleans what the suite itself
// leaves: mounts that propagated back from a container into a bundle it
// made shared, its bundles, and the parents of its relative cgroup path,
// which the runtime makes on the way but, like runc, leaves as the
// client's.
func runValidation(t *testing.T, tools, dir, rt, program string) tapResult {
	tmp := filepath.Join(dir, "tmp-"+program)
	if err := os.Mkdir(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o1777)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(tools, program))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RUNTIME="+rt, "TMPDIR="+tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := parseTAP(out.String())
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.exit = -1
		r.firstFailure = "timed out after 2 minutes"
	case err == nil:
	case errors.As(err, &ee):
		r.exit = ee.ExitCode()
	default:
		r.exit = -1
		r.firstFailure = err.Error()
	}
	r.mounts = unmountUnder(t, tmp)
	removeAll(t, tmp)
	removeCgroupsNamed(t, "testdir/cgrouptest")
	return r
}

// removeCgroupsNamed removes, in every hierarchy and at any depth (a
// relative cgroupsPath lies under the runtime's own cgroup), the empty
// cgroup folders whose path ends in rel, and their parents up to rel's
// first part.
func removeCgroupsNamed(t *testing.T, rel string) {
	depth := strings.Count(rel, "/") + 1
	for _, root := range cgroupMounts() {
		var found []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasSuffix(p, "/"+rel) {
				found = append(found, p)
			}
			return nil
		})
		for _, p := range found {
			for i := 0; i < depth; i, p = i+1, filepath.Dir(p) {
				if err := os.Remove(p); err != nil {
					break
				}
			}
		}
	}
}

// secondTry is a program's second run after its first failed: some
// programs race with the container they start (killsig signals a shell
// that may not have set its trap yet, under load), and one failure of
// theirs says nothing of the runtime. The output keeps both.
func secondTry(first, again tapResult) tapResult {
	again.mounts = append(first.mounts, again.mounts...)
	again.output = "first try: " + first.summary() + "\nsecond try:\n" + again.output
	return again
}

func TestValidation(t *testing.T) {
	needRuntime(t)
	needFile(t, "/bin/busybox", "busybox-static")
	runc := needTool(t, "runc", "runc")
	needTool(t, "tar", "tar")
	watchHost(t, validationCgroups...)
	tools, programs := validationTools(t)
	t.Cleanup(func() { removeCgroupsNamed(t, "testdir/cgrouptest") })

	same := false
	if a, err := os.Stat(realRuntime); err == nil {
		if b, err := os.Stat(runc); err == nil {
			same = os.SameFile(a, b)
		}
	}
	results := map[string]tapResult{}
	dir := validationDir(t, tools)
	for _, p := range programs {
		results[p] = runValidation(t, tools, dir, runtimePath, p)
	}
	var baseline map[string]bool
	// What runc's run of each program left mounted; nil when runc is not
	// run apart (the runtime under test is runc).
	var peerMounts map[string][]string
	if same {
		out, _ := exec.Command(runc, "--version").Output()
		version, _, _ := strings.Cut(string(out), "\n")
		if version != runcPassesVersion {
			t.Logf("the runtime under test is runc, %q: no list of its passes here (runcPasses is for %q); checking only that it passes some", version, runcPassesVersion)
			baseline = map[string]bool{}
			for p, r := range results {
				baseline[p] = r.pass()
			}
			if len(baseline) == 0 {
				t.Errorf("runc passes no validation program here: the harness is broken")
			}
		} else {
			t.Logf("the runtime under test is runc itself: checking it against runcPasses, its passes measured here before")
			baseline = map[string]bool{}
			for _, p := range runcPasses {
				baseline[p] = true
			}
		}
	} else {
		baseline = map[string]bool{}
		peerMounts = map[string][]string{}
		rdir := validationDir(t, tools)
		for _, p := range programs {
			r := runValidation(t, tools, rdir, runc, p)
			baseline[p] = r.pass()
			peerMounts[p] = r.mounts
		}
	}

	for _, p := range programs {
		if baseline[p] && !results[p].pass() {
			results[p] = secondTry(results[p], runValidation(t, tools, dir, runtimePath, p))
		}
	}

	var passed, peer []string
	for _, p := range programs {
		r := results[p]
		if r.pass() {
			passed = append(passed, p)
		}
		if baseline[p] {
			peer = append(peer, p)
		}
		t.Run(p, func(t *testing.T) {
			// A container's mounts propagate back to the host through
			// a shared rootfs (linux_rootfs_propagation): runc leaves
			// them too, and the suite does not unmount them. Only what
			// runc did not leave counts against the runtime.
			if len(r.mounts) > 0 {
				if peerMounts != nil && len(peerMounts[p]) == 0 {
					t.Errorf("left mounted in the host's namespace, where runc left nothing: %s", strings.Join(r.mounts, ", "))
				} else {
					t.Logf("left mounted in the host's namespace (runc too; unmounted): %s", strings.Join(r.mounts, ", "))
				}
			}
			why, refused := strongerThanRunc[p]
			switch {
			case baseline[p] && !r.pass() && refused && isMinirun(realRuntime) && strings.Contains(r.output, "mount namespace"):
				t.Skipf("runc passes it here by %s; %s refuses the config: %s", why, filepath.Base(realRuntime), r.summary())
			case baseline[p] && !r.pass():
				t.Errorf("runc passes it here; %s: %s\n%s", filepath.Base(realRuntime), r.summary(), tail(r.output, 3000))
			case !baseline[p] && !r.pass():
				t.Skipf("runc does not pass it here either; %s: %s", filepath.Base(realRuntime), r.summary())
			}
		})
	}
	for _, p := range peer {
		if !slices.Contains(programs, p) {
			t.Errorf("%s: in the list of runc's passes but not among the programs built", p)
		}
	}
	t.Logf("%s passes %d of %d programs: %s", filepath.Base(realRuntime), len(passed), len(programs), strings.Join(passed, " "))
	t.Logf("runc passes %d here: %s", len(peer), strings.Join(peer, " "))
}

// strongerThanRunc are the programs runc passes here only by doing what
// minirun refuses on purpose (docs/design.md, "The container's
// filesystem"), each with what runc does. minirun must fail them by
// refusing the config, which the program reports as a failed create.
var strongerThanRunc = map[string]string{
	// The config has mounts but no mount namespace: runc makes the
	// container's /proc, /dev, /sys… in the host's mount namespace, where
	// they stay after the container is gone (the harness unmounts them).
	"linux_ns_itype": "mounting the container's filesystems in the host's mount namespace, and leaving them there",
	// The config joins another process's mount namespace and has mounts:
	// runc mounts into it and pivot_roots inside it, which changes the
	// root of the process that holds the namespace.
	"linux_ns_path": "mounting into a joined mount namespace and moving its root from under the process that shares it",
}

// isMinirun reports whether the runtime under test is minirun.
func isMinirun(path string) bool {
	out, err := exec.Command(path, "--version").Output()
	return err == nil && strings.HasPrefix(string(out), "minirun ")
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
