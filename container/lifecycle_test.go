package container

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
	"github.com/minirun/minirun/statedir"
)

// These tests drive minirun's OCI lifecycle through the binary, as
// containerd and podman do: create, start, state, kill, delete, exec …,
// each test with a state root of its own (--root).
//
// After create exits, the container's process is an orphan: the kernel
// gives it to the nearest subreaper. Each test makes the test process
// that subreaper (lcEnv), so that whatever minirun leaves running shows
// up as a child of the test — and the "nothing left" checks see it —
// and so that the zombies of containers it deleted are reaped here
// rather than piling up.

// lcEnv is one lifecycle test's state root and its checks.
type lcEnv struct {
	t      *testing.T
	dir    string // the test's scratch folder
	root   string // --root
	before hostState
	// prefix makes this test's container IDs (and so their cgroups,
	// /minirun/ID in every hierarchy) unlike any other's on the host.
	prefix string
}

// newLC sets up a lifecycle test: a scratch folder, a state root inside
// it (not made: minirun makes it), the test process as subreaper, and a
// cleanup that deletes every container left (a failed test's), reaps, and
// checks that nothing is left on the host and the root is gone.
func newLC(t *testing.T) *lcEnv {
	t.Helper()
	needRoot(t, "creates containers: namespaces, mounts and cgroups")
	if _, err := os.Stat(busyboxBin); err != nil {
		t.Skip("needs busybox-static at " + busyboxBin + " (Debian package busybox-static): " + err.Error())
	}
	// The first TempDir registers its removal first: it runs last, after
	// the containers using the folder are gone.
	e := &lcEnv{t: t, dir: tempDir(t)}
	e.root = filepath.Join(e.dir, "state")
	e.prefix = fmt.Sprintf("lt%04x-", rand.IntN(0x10000))
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	e.before = snapshotHost(t)
	t.Cleanup(func() {
		defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		left, _ := os.ReadDir(e.root)
		for _, d := range left {
			if _, stderr, code := e.mr("delete", "--force", d.Name()); code != 0 {
				t.Errorf("cleanup: delete --force %s: exit status %d: %s", d.Name(), code, stderr)
			}
		}
		e.reapUntilSettled()
		if _, err := os.Stat(e.root); err == nil {
			ents, _ := os.ReadDir(e.root)
			var names []string
			for _, d := range ents {
				names = append(names, d.Name())
			}
			t.Errorf("left behind: the state root %s: got entries %q, want the root removed once empty", e.root, names)
		}
		e.checkNothingLeft()
	})
	return e
}

// checkNothingLeft compares the host with the snapshot newLC took,
// looking at this test's containers alone in the host-wide state folder
// and cgroup trees, and at the mounts below its own temporary folders
// (where every mount of its containers' is made).
func (e *lcEnv) checkNothingLeft() {
	e.t.Helper()
	dir := filepath.Dir(e.dir) // the test's temporary folders: its bundles
	compareHost(e.t, e.before.only(e.prefix, dir), snapshotHost(e.t).only(e.prefix, dir))
}

// id is a container ID of this test's own.
func (e *lcEnv) id(name string) string { return e.prefix + name }

// reapUntilSettled waits (up to a deadline) until every child the test
// did not have before is a zombie, and reaps those: the processes of a
// deleted container are killed, but a process of a cgroup killed a moment
// ago may still be on its way out.
func (e *lcEnv) reapUntilSettled() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		live := 0
		for _, k := range childrenOf(os.Getpid()) {
			if slices.Contains(e.before.children, k) {
				continue
			}
			pid, _ := strconv.Atoi(strings.Fields(k)[0])
			if strings.HasSuffix(k, "(state Z)") {
				var ws unix.WaitStatus
				unix.Wait4(pid, &ws, unix.WNOHANG, nil)
				continue
			}
			live++
		}
		if live == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mrOpts are how one minirun command is run.
type mrOpts struct {
	stdin  io.Reader
	stdout *os.File   // nil: a file of the test's, read back
	extra  []*os.File // fds 3, 4, … of minirun
	env    []string   // added to the test's environment
}

// mr runs minirun --root ROOT args… and returns what it printed and its
// exit status.
func (e *lcEnv) mr(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	return e.mrWith(mrOpts{}, args...)
}

// mrWith runs minirun with o. Its stdout and stderr are files, not pipes:
// a container's process inherits them and outlives the command, and
// waiting for a pipe's end would wait for the container.
func (e *lcEnv) mrWith(o mrOpts, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	stdout, stderr, code, err := e.mrRaw(o, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return stdout, stderr, code
}

// mrRaw is mrWith for any goroutine: it reports what went wrong instead
// of failing the test.
func (e *lcEnv) mrRaw(o mrOpts, args ...string) (stdout, stderr string, code int, err error) {
	lc, err := e.command(o, args...)
	if err != nil {
		return "", "", 0, err
	}
	if err := lc.cmd.Start(); err != nil {
		lc.close()
		return "", "", 0, fmt.Errorf("starting minirun %q: %w", args, err)
	}
	// A hang is a bug, reported as such, not a test that never ends.
	timer := time.AfterFunc(30*time.Second, func() { lc.cmd.Process.Kill() })
	lc.cmd.Wait()
	timer.Stop()
	code = lc.cmd.ProcessState.ExitCode()
	stdout, stderr = lc.read()
	if ws, ok := lc.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return stdout, stderr, code, fmt.Errorf("minirun %q: killed by %v (hung for 30 s?); stderr %q", args, ws.Signal(), stderr)
	}
	return stdout, stderr, code, nil
}

// lcCmd is a minirun command whose stderr (and stdout, unless the test
// gave one) go to files read back when it has ended.
type lcCmd struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File
}

// command prepares minirun --root ROOT args… with o.
func (e *lcEnv) command(o mrOpts, args ...string) (*lcCmd, error) {
	lc := &lcCmd{cmd: exec.Command(minirunBin, append([]string{"--root", e.root}, args...)...)}
	lc.cmd.Stdin = o.stdin
	lc.cmd.ExtraFiles = o.extra
	if len(o.env) > 0 {
		lc.cmd.Env = append(os.Environ(), o.env...)
	}
	var err error
	if lc.stderr, err = os.CreateTemp(e.dir, "stderr-"); err != nil {
		return nil, err
	}
	lc.cmd.Stderr = lc.stderr
	if o.stdout != nil {
		lc.cmd.Stdout = o.stdout
	} else {
		if lc.stdout, err = os.CreateTemp(e.dir, "stdout-"); err != nil {
			lc.close()
			return nil, err
		}
		lc.cmd.Stdout = lc.stdout
	}
	return lc, nil
}

// read returns what the command printed, and removes its files.
func (lc *lcCmd) read() (stdout, stderr string) {
	if lc.stdout != nil {
		data, _ := os.ReadFile(lc.stdout.Name())
		stdout = string(data)
	}
	data, _ := os.ReadFile(lc.stderr.Name())
	lc.close()
	return stdout, string(data)
}

func (lc *lcCmd) close() {
	for _, f := range []*os.File{lc.stdout, lc.stderr} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}

// start starts a command in the background; the test waits for it.
func (e *lcEnv) start(o mrOpts, args ...string) *lcCmd {
	e.t.Helper()
	lc, err := e.command(o, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := lc.cmd.Start(); err != nil {
		lc.close()
		e.t.Fatalf("starting minirun %q: %v", args, err)
	}
	// A test that failed half-way leaves it to this.
	e.t.Cleanup(func() {
		if lc.cmd.ProcessState == nil {
			lc.cmd.Process.Kill()
			lc.cmd.Wait()
		}
		lc.close()
	})
	return lc
}

// ok runs a command that must succeed and returns its stdout.
func (e *lcEnv) ok(args ...string) string {
	e.t.Helper()
	stdout, stderr, code := e.mr(args...)
	if code != 0 {
		e.t.Fatalf("minirun %s: got exit status %d (stderr %q), want 0", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// fails runs a command that must fail saying want, and returns its stderr.
func (e *lcEnv) fails(want string, args ...string) string {
	e.t.Helper()
	stdout, stderr, code := e.mr(args...)
	if code == 0 || !strings.Contains(stderr, want) {
		e.t.Errorf("minirun %s: got exit status %d, stderr %q, stdout %q; want a failure saying %q", strings.Join(args, " "), code, stderr, stdout, want)
	}
	return stderr
}

// state runs minirun state ID; ok is false when it fails (the error's
// text is in errText).
func (e *lcEnv) state(id string) (st StateOf, errText string, ok bool) {
	e.t.Helper()
	stdout, stderr, code := e.mr("state", id)
	if code != 0 {
		return st, stderr, false
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		e.t.Fatalf("state %s: %v; got %q", id, err, stdout)
	}
	return st, "", true
}

// status is container id's status, "" with the error when state fails.
func (e *lcEnv) status(id string) string {
	e.t.Helper()
	st, errText, ok := e.state(id)
	if !ok {
		return "error: " + strings.TrimSpace(errText)
	}
	return string(st.Status)
}

// waitStatus polls state until the container is in status want.
func (e *lcEnv) waitStatus(id string, want rspec.ContainerState) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := e.status(id)
		if got == string(want) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("state %s: got status %q, want %q (waited 10 s)", id, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond until it holds; what describes it when it never does.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lcBundle is a busybox bundle running script with a writable rootfs, so
// that the script can leave files for the test to find.
func (e *lcEnv) lcBundle(script string) *testBundle {
	e.t.Helper()
	tb := busyboxBundle(e.t, specs.GenerateOptions{}, script)
	tb.Spec.Root.Readonly = false
	return tb
}

// exists reports whether rel exists in the bundle's rootfs (as the host
// sees it).
func (b *testBundle) exists(rel string) bool {
	_, err := os.Lstat(filepath.Join(b.Rootfs, rel))
	return err == nil
}

// readPidFile reads a pid file as runc writes it: the number alone.
func readPidFile(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %s: got %q, want a pid, the number alone", path, data)
	}
	return pid
}

// waitGone waits until none of pids is alive. A killed process may take
// a moment: the init of a PID namespace, once the container reads as
// stopped, still waits in the kernel for its namespace's other processes
// to be reaped.
func waitGone(t *testing.T, what string, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var alive []string
		for _, p := range pids {
			if procAlive(p) {
				alive = append(alive, fmt.Sprintf("%d (%s)", p, procState(p)))
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: got processes %q alive 10 s later, want every process of the container ended", what, alive)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procAlive reports whether pid is a process that has not ended (a
// zombie has).
func procAlive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}

// TestLifecycleStates walks a container through runtime-spec's states
// with the binary, and tries every operation in every state where it is
// wrong: each must fail with the words clients match and change nothing.
func TestLifecycleStates(t *testing.T) {
	e := newLC(t)
	// The program leaves /started when it runs, then waits until the test
	// makes /stop: it ends by itself.
	tb := e.lcBundle("touch /started; while [ ! -e /stop ]; do sleep 0.01; done")
	tb.save(t)
	id := e.id("states")
	pidFile := filepath.Join(e.dir, "pid")

	e.ok("create", "--bundle", tb.Dir, "--pid-file", pidFile, id)
	// The pid file is written before create returns, and names the
	// process state reports, which exists and has not exec'd the
	// program: it is still minirun's clone, and /started is not there.
	pid := readPidFile(t, pidFile)
	st, errText, ok := e.state(id)
	if !ok || st.Status != rspec.StateCreated || st.Pid != pid {
		t.Fatalf("state after create: got %+v (%s), want status created, pid %d", st, errText, pid)
	}
	if !procAlive(pid) {
		t.Fatalf("the created container's process %d: got gone, want it waiting", pid)
	}
	// The same file, not the same path: minirun runs from a read-only
	// view of its binary (internal/selfexe), a path of its own.
	exe, err1 := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	bin, err2 := os.Stat(minirunBin)
	if err1 != nil || err2 != nil || !os.SameFile(exe, bin) {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		t.Errorf("the created container's process's executable: got %q (%v, %v), want minirun's %q (the program must not have run yet)", link, err1, err2, minirunBin)
	}
	if tb.exists("started") {
		t.Errorf("after create: got /started in the rootfs, want none (the program must not run before start)")
	}

	// Created: delete without --force, and create again, are refused.
	e.fails("stop it first", "delete", id)
	e.fails("already exists", "create", "--bundle", tb.Dir, id)
	if got := e.status(id); got != "created" {
		t.Errorf("after the refused operations: got status %q, want created", got)
	}

	e.ok("start", id)
	waitFor(t, "/started in the rootfs", func() bool { return tb.exists("started") })
	if st, _, _ := e.state(id); st.Status != rspec.StateRunning || st.Pid != pid {
		t.Errorf("state after start: got status %q pid %d, want running, pid %d", st.Status, st.Pid, pid)
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == minirunBin {
		t.Errorf("the started container's process: got executable %q, want the program", exe)
	}

	// Running: start again, delete without --force, create again.
	e.fails("not created", "start", id)
	e.fails("stop it first", "delete", id)
	e.fails("already exists", "create", "--bundle", tb.Dir, id)
	if st, _, _ := e.state(id); st.Status != rspec.StateRunning || st.Pid != pid || !procAlive(pid) {
		t.Errorf("after the refused operations: got status %q pid %d (alive %v), want running, pid %d alive", st.Status, st.Pid, procAlive(pid), pid)
	}

	// The process ends by itself: stopped.
	if err := os.WriteFile(filepath.Join(tb.Rootfs, "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(id, rspec.StateStopped)
	e.fails("not created", "start", id)
	e.fails("container not running", "kill", id)
	e.fails("container not running", "kill", id, "KILL")
	e.fails("container not running", "exec", id, "true")
	if got := e.status(id); got != "stopped" {
		t.Errorf("after the refused operations: got status %q, want stopped", got)
	}

	e.ok("delete", id)
	if got := e.status(id); !strings.Contains(got, "does not exist") {
		t.Errorf("state after delete: got %q, want an error saying the container does not exist", got)
	}
	// The ID is free again: run --detach is create and start in one.
	os.Remove(filepath.Join(tb.Rootfs, "started"))
	os.Remove(filepath.Join(tb.Rootfs, "stop"))
	e.ok("run", "--detach", "--bundle", tb.Dir, "--pid-file", pidFile, id)
	if st, _, _ := e.state(id); st.Status != rspec.StateRunning || st.Pid != readPidFile(t, pidFile) {
		t.Errorf("state after run --detach: got status %q pid %d, want running with the pid file's pid", st.Status, st.Pid)
	}
	waitFor(t, "/started after run --detach", func() bool { return tb.exists("started") })
	e.ok("delete", "--force", id)
}

// TestLifecycleUnknownAndBadIDs: every command on an ID that does not
// exist says so and makes nothing; delete --force of one succeeds; an ID
// that could not be a folder of its own is refused before anything is
// made.
func TestLifecycleUnknownAndBadIDs(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle("true")
	tb.save(t)
	id := e.id("nosuch")
	for _, args := range [][]string{
		{"state", id}, {"start", id}, {"kill", id}, {"kill", id, "KILL"}, {"kill", "--all", id},
		{"delete", id}, {"exec", id, "true"}, {"ps", id}, {"pause", id}, {"resume", id},
		{"update", "--pids-limit", "10", id}, {"events", "--stats", id},
	} {
		e.fails("does not exist", args...)
	}
	e.ok("delete", "--force", id)
	if _, err := os.Stat(e.root); err == nil {
		t.Errorf("after commands on an unknown ID: got the state root %s made, want nothing made", e.root)
	}

	// An ID with NUL cannot be an argument: ValidateID is asked directly
	// (statedir's tests have the whole table).
	if err := statedir.ValidateID("a\x00b"); err == nil {
		t.Errorf("ValidateID(%q): got nil, want an error", "a\x00b")
	}
	for _, bad := range []string{"", "a/b", "/abs", "..", ".", "../x", "x/..", "a b", strings.Repeat("x", 256)} {
		for _, args := range [][]string{
			{"create", "--bundle", tb.Dir, bad}, {"run", "--bundle", tb.Dir, bad}, {"state", bad}, {"start", bad},
			{"kill", bad}, {"delete", bad}, {"delete", "--force", bad}, {"exec", bad, "true"},
		} {
			_, stderr, code := e.mr(args...)
			if code == 0 || !strings.Contains(stderr, "container ID") {
				t.Errorf("minirun %q: got exit status %d, stderr %q; want a refusal naming the container ID", args, code, stderr)
			}
		}
	}
	if _, err := os.Stat(e.root); err == nil {
		t.Errorf("after refused IDs: got the state root %s made, want nothing made", e.root)
	}
}

// readLines reads a file the container appends lines to.
func (b *testBundle) readLines(rel string) []string {
	data, _ := os.ReadFile(filepath.Join(b.Rootfs, rel))
	return strings.Fields(string(data))
}

// TestLifecycleKill: kill takes a signal by number, by name and by
// SIG-name, SIGTERM by default, and reaches the container's process alone
// unless --all; a pid whose start time is not the recorded one (a recycled
// pid) is never signalled.
func TestLifecycleKill(t *testing.T) {
	e := newLC(t)
	// PID 1 of its namespace gets only the signals it has handlers for:
	// each handler appends the signal's name to /sigs.
	tb := e.lcBundle(`for s in TERM USR1 USR2 HUP INT; do trap "echo $s >> /sigs" $s; done
touch /ready; while :; do sleep 0.01; done`)
	tb.save(t)
	id := e.id("kill")
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	waitFor(t, "/ready", func() bool { return tb.exists("ready") })
	cases := []struct {
		args []string
		want string
	}{
		{nil, "TERM"},
		{[]string{"USR1"}, "USR1"},
		{[]string{"SIGUSR2"}, "USR2"},
		{[]string{"1"}, "HUP"},
		{[]string{"sigint"}, "INT"},
	}
	for i, c := range cases {
		e.ok(append([]string{"kill", id}, c.args...)...)
		waitFor(t, fmt.Sprintf("signal %s in /sigs", c.want), func() bool { return len(tb.readLines("sigs")) > i })
		if got := tb.readLines("sigs"); got[i] != c.want {
			t.Errorf("kill %s %q: got the container's handler for %q, want %q (all: %q)", id, c.args, got[i], c.want, got)
		}
	}
	for _, bad := range []string{"NOSUCH", "0", "65", "-9", "SIG"} {
		if _, stderr, code := e.mr("kill", id, bad); code != 2 || !strings.Contains(stderr, "signal") {
			t.Errorf("kill %s %q: got exit status %d, stderr %q; want 2 and a message about the signal", id, bad, code, stderr)
		}
	}
	if got := e.status(id); got != "running" {
		t.Errorf("after the signals it handles: got status %q, want running", got)
	}
	e.ok("kill", id, "KILL")
	e.waitStatus(id, rspec.StateStopped)
	e.ok("delete", id)

	// A created container can be killed: it stops, its program never ran.
	e.ok("create", "--bundle", tb.Dir, id)
	os.Remove(filepath.Join(tb.Rootfs, "ready"))
	e.ok("kill", id, "9")
	e.waitStatus(id, rspec.StateStopped)
	if tb.exists("ready") {
		t.Errorf("a created container killed: got its program run (/ready), want never")
	}
	e.ok("delete", id)
}

// TestLifecycleKillAll: SIGTERM to PID 1 of the container (a shell with
// no handler for it) is ignored, as the kernel does for a namespace's
// init; kill --all sends it to every process, and the container ends.
func TestLifecycleKillAll(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle(`sleep 1000 & sleep 1000 & sleep 1000 & touch /ready; wait; touch /waited`)
	tb.save(t)
	id := e.id("killall")
	e.ok("create", "--bundle", tb.Dir, id)
	e.ok("start", id)
	waitFor(t, "/ready", func() bool { return tb.exists("ready") })
	var pids []int
	waitFor(t, "4 processes in ps", func() bool {
		pids = nil
		json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids)
		return len(pids) == 4
	})
	e.ok("kill", id, "TERM")
	if got := e.status(id); got != "running" {
		t.Errorf("after SIGTERM to PID 1 without a handler: got status %q, want running", got)
	}
	e.ok("kill", "--all", id, "TERM")
	e.waitStatus(id, rspec.StateStopped)
	waitGone(t, "after kill --all TERM", pids)
	if !tb.exists("waited") {
		t.Errorf("after kill --all TERM: got the shell killed, want it to see its children end (wait returned) and exit")
	}
	e.ok("delete", id)
}

// TestLifecycleRecycledPid fakes a recycled pid: the record's start time
// no longer matches the process's. minirun must treat the container's
// process as gone and never signal the process the pid now names.
func TestLifecycleRecycledPid(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle("exec sleep 1000")
	tb.save(t)
	id := e.id("recycled")
	pidFile := filepath.Join(e.dir, "pid")
	e.ok("create", "--bundle", tb.Dir, "--pid-file", pidFile, id)
	e.ok("start", id)
	pid := readPidFile(t, pidFile)
	startTime, err := statedir.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}

	stateFile := filepath.Join(e.root, id, "state.json")
	setPidStart := func(v uint64) {
		t.Helper()
		data, err := os.ReadFile(stateFile)
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		if _, ok := rec["pidStart"]; !ok {
			t.Fatalf("state.json: got no pidStart field in %s", data)
		}
		rec["pidStart"] = v
		if data, err = json.Marshal(rec); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stateFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setPidStart(startTime + 1)
	stderr := e.fails("not running", "kill", id, "KILL")
	if !procAlive(pid) {
		t.Fatalf("kill with a recycled pid: got process %d killed (stderr %q), want it untouched", pid, stderr)
	}
	e.fails("not running", "kill", "--all", id, "KILL")
	e.fails("not running", "exec", id, "true")
	if st, _, _ := e.state(id); st.Status != rspec.StateStopped || st.Pid != 0 {
		t.Errorf("state with a recycled pid: got status %q pid %d, want stopped and no pid", st.Status, st.Pid)
	}
	if !procAlive(pid) {
		t.Fatalf("after kill, exec and state with a recycled pid: got process %d ended, want it untouched", pid)
	}
	// With the true start time it is the container's process again.
	setPidStart(startTime)
	if got := e.status(id); got != "running" {
		t.Errorf("state with the true start time: got %q, want running", got)
	}
	e.ok("kill", id, "KILL")
	e.waitStatus(id, rspec.StateStopped)
	e.ok("delete", id)
}

// TestLifecycleConcurrent runs commands at the same time: creates of one
// ID (exactly one wins), creates and deletes of different IDs (all
// succeed), and state while another command holds the container's lock
// (it does not wait for it).
func TestLifecycleConcurrent(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle("exec sleep 1000")
	tb.save(t)

	t.Run("same ID", func(t *testing.T) {
		id := e.id("same")
		type result struct {
			stderr string
			code   int
			err    error
		}
		results := make([]result, 20)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				_, stderr, code, err := e.mrRaw(mrOpts{}, "create", "--bundle", tb.Dir, id)
				results[i] = result{stderr, code, err}
			})
		}
		wg.Wait()
		won := 0
		for i, r := range results {
			switch {
			case r.err != nil:
				t.Errorf("create %d: %v", i, r.err)
			case r.code == 0:
				won++
			case !strings.Contains(r.stderr, "already exists"):
				t.Errorf("create %d of 20 of one ID: got exit status %d, stderr %q; want success or \"already exists\"", i, r.code, r.stderr)
			}
		}
		if won != 1 {
			t.Errorf("20 creates of one ID at once: got %d successes, want exactly 1", won)
		}
		if got := e.status(id); got != "created" {
			t.Errorf("after the creates: got status %q, want created", got)
		}
		e.ok("start", id)
		e.ok("delete", "--force", id)
	})

	t.Run("different IDs", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 100)
		for i := range 6 {
			wg.Go(func() {
				id := e.id(fmt.Sprintf("diff%d", i))
				for round := range 2 {
					for _, args := range [][]string{
						{"create", "--bundle", tb.Dir, id}, {"start", id}, {"state", id}, {"delete", "--force", id},
					} {
						_, stderr, code, err := e.mrRaw(mrOpts{}, args...)
						if err != nil || code != 0 {
							errs <- fmt.Sprintf("round %d: minirun %q: exit status %d, %v, stderr %q", round, args, code, err, stderr)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for m := range errs {
			t.Error(m)
		}
	})

	t.Run("state while locked", func(t *testing.T) {
		id := e.id("locked")
		e.ok("create", "--bundle", tb.Dir, id)
		// Hold the container's lock as a command working on it would.
		lock, err := os.Open(filepath.Join(e.root, id))
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		// start waits for the lock …
		start := e.start(mrOpts{}, "start", id)
		exited := make(chan struct{})
		go func() {
			start.cmd.Wait()
			close(exited)
		}()
		// … while state and list read without it.
		if got := e.status(id); got != "created" {
			t.Errorf("state while the lock is held: got %q, want created", got)
		}
		if out := e.ok("list", "--quiet"); strings.TrimSpace(out) != id {
			t.Errorf("list while the lock is held: got %q, want %q", out, id)
		}
		select {
		case <-exited:
			_, stderr := start.read()
			t.Errorf("start while another command holds the lock: got it ended (status %d, stderr %q), want it waiting", start.cmd.ProcessState.ExitCode(), stderr)
		default:
		}
		lock.Close()
		<-exited
		if code := start.cmd.ProcessState.ExitCode(); code != 0 {
			_, stderr := start.read()
			t.Errorf("start once the lock is released: got exit status %d, stderr %q, want 0", code, stderr)
		} else {
			start.read()
		}
		if got := e.status(id); got != "running" {
			t.Errorf("after start: got status %q, want running", got)
		}
		e.ok("delete", "--force", id)
	})
}

// TestLifecycleKilledAnywhere kills create, and run, with SIGKILL at
// random moments of their work: delete --force must then always leave
// nothing — no process, cgroup, state or mount.
func TestLifecycleKilledAnywhere(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle("exec sleep 1000")
	tb.save(t)
	for _, cmd := range []string{"create", "run"} {
		t.Run(cmd, func(t *testing.T) {
			id := e.id("killed-" + cmd)
			// Where the kills landed, by what the state folder says.
			phases := map[string]int{}
			defer func() { t.Logf("%s killed at: %v", cmd, phases) }()
			for round := range 20 {
				lc := e.start(mrOpts{}, cmd, "--bundle", tb.Dir, id)
				delay := time.Duration(rand.IntN(30_000)) * time.Microsecond
				time.Sleep(delay)
				lc.cmd.Process.Kill()
				lc.cmd.Wait()
				lc.read()
				phase := e.status(id)
				if strings.Contains(phase, "does not exist") {
					phase = "no state yet"
				}
				phases[phase]++
				if _, stderr, code := e.mr("delete", "--force", id); code != 0 {
					t.Errorf("round %d (killed after %v): delete --force: got exit status %d, stderr %q, want 0", round, delay, code, stderr)
				}
				if got := e.status(id); !strings.Contains(got, "does not exist") {
					t.Errorf("round %d (killed after %v): state after delete --force: got %q, want \"does not exist\"", round, delay, got)
				}
				e.reapUntilSettled()
				for _, pattern := range []string{"/sys/fs/cgroup/*/minirun/" + id, "/sys/fs/cgroup/*/minirun/" + id + "/*"} {
					if m, _ := filepath.Glob(pattern); len(m) > 0 {
						t.Errorf("round %d (killed after %v): got cgroups %q left, want none", round, delay, m)
					}
				}
				e.checkNothingLeft()
				if t.Failed() {
					break
				}
			}
		})
	}
}

// TestLifecycleLateFailures: what fails once the container's process
// exists — the pid file, the console or pidfd socket — fails the command
// and leaves nothing: no process, no state, no cgroup. So does a process
// that dies while created, for start.
func TestLifecycleLateFailures(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle("touch /started; exec sleep 1000")
	tb.save(t)
	badPid := filepath.Join(e.dir, "nosuch", "pid")
	noSocket := filepath.Join(e.dir, "nosuch.sock")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"create --pid-file in a missing folder", []string{"create", "--pid-file", badPid}, "--pid-file"},
		{"create --pidfd-socket nobody listens on", []string{"create", "--pidfd-socket", noSocket}, "--pidfd-socket"},
		{"run --detach --pid-file in a missing folder", []string{"run", "--detach", "--pid-file", badPid}, "--pid-file"},
		{"run --pidfd-socket nobody listens on", []string{"run", "--pidfd-socket", noSocket}, "--pidfd-socket"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(filepath.Join(tb.Rootfs, "started"))
			id := e.id(fmt.Sprintf("late%d", i))
			args := append(append(slices.Clone(c.args), "--bundle", tb.Dir), id)
			_, stderr, code := e.mr(args...)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("minirun %q: got exit status %d, stderr %q; want a failure naming %s", args, code, stderr, c.want)
			}
			if got := e.status(id); !strings.Contains(got, "does not exist") {
				t.Errorf("after the failure: got state %q, want \"does not exist\"", got)
			}
			e.reapUntilSettled()
			e.checkNothingLeft()
		})
	}

	t.Run("console socket nobody listens on", func(t *testing.T) {
		ttb := e.lcBundle("")
		ttb.Spec.Process.Args = []string{"sh"}
		ttb.Spec.Process.Terminal = true
		ttb.save(t)
		id := e.id("lateconsole")
		e.fails("--console-socket", "create", "--bundle", ttb.Dir, "--console-socket", noSocket, id)
		if got := e.status(id); !strings.Contains(got, "does not exist") {
			t.Errorf("after the failure: got state %q, want \"does not exist\"", got)
		}
		e.reapUntilSettled()
		e.checkNothingLeft()
	})

	t.Run("exec --pid-file in a missing folder", func(t *testing.T) {
		id := e.id("lateexec")
		e.ok("create", "--bundle", tb.Dir, id)
		e.ok("start", id)
		e.fails("--pid-file", "exec", "--detach", "--pid-file", badPid, id, "sleep", "999")
		var pids []int
		json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids)
		if len(pids) != 1 {
			t.Errorf("after a failed exec: got processes %v in the container, want its own process alone", pids)
		}
		e.ok("delete", "--force", id)
	})

	t.Run("start after the process died", func(t *testing.T) {
		id := e.id("latestart")
		pidFile := filepath.Join(e.dir, "late.pid")
		e.ok("create", "--bundle", tb.Dir, "--pid-file", pidFile, id)
		killProc(t, readPidFile(t, pidFile))
		e.waitStatus(id, "stopped")
		e.fails("stopped", "start", id)
		e.ok("delete", id)
	})
}

// TestLifecycleInterrupted: a signal to create while it works ends it
// with nothing left and status 128+N, as run's setup does. At a random
// moment, create either finishes (status 0, the container created) or
// leaves nothing at all — never a half-made container.
func TestLifecycleInterrupted(t *testing.T) {
	e := newLC(t)
	h := e.hookBundle("exec sleep 1000")
	h.tb.Spec.Hooks = &rspec.Hooks{
		CreateRuntime: []rspec.Hook{hook(helperBin, "createRuntime", h.log, "sleep:0.3")},
		Poststop:      []rspec.Hook{hook(helperBin, "poststop", h.log)},
	}
	h.tb.save(t)
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGINT} {
		t.Run(unix.SignalName(sig)+" during a hook", func(t *testing.T) {
			os.Remove(h.log)
			id := e.id("interrupted")
			pidFile := filepath.Join(e.dir, "pid")
			lc := e.start(mrOpts{}, "create", "--bundle", h.tb.Dir, "--pid-file", pidFile, id)
			waitFor(t, "the createRuntime hook", func() bool { return len(h.logged(t)) > 0 })
			lc.cmd.Process.Signal(sig)
			lc.cmd.Wait()
			_, stderr := lc.read()
			if code := lc.cmd.ProcessState.ExitCode(); code != 128+int(sig) || !strings.Contains(stderr, "interrupted by "+unix.SignalName(sig)) {
				t.Errorf("create interrupted: got exit status %d, stderr %q; want %d and a message naming %s", code, stderr, 128+int(sig), unix.SignalName(sig))
			}
			if got := e.status(id); !strings.Contains(got, "does not exist") {
				t.Errorf("after the interrupted create: got state %q, want \"does not exist\"", got)
			}
			if _, err := os.Stat(pidFile); err == nil {
				t.Errorf("after the interrupted create: got a pid file, want none")
			}
			if got := names(h.logged(t)); !slices.Equal(got, []string{"createRuntime", "poststop"}) {
				t.Errorf("hooks: got %q, want createRuntime, then poststop (a failed create continues at delete)", got)
			}
			e.reapUntilSettled()
			e.checkNothingLeft()
		})
	}

	t.Run("SIGTERM at random", func(t *testing.T) {
		tb := e.lcBundle("exec sleep 1000")
		tb.save(t)
		id := e.id("sigterm")
		outcomes := map[string]int{}
		defer func() { t.Logf("outcomes: %v", outcomes) }()
		for round := range 15 {
			lc := e.start(mrOpts{}, "create", "--bundle", tb.Dir, id)
			delay := time.Duration(rand.IntN(30_000)) * time.Microsecond
			time.Sleep(delay)
			lc.cmd.Process.Signal(unix.SIGTERM)
			lc.cmd.Wait()
			_, stderr := lc.read()
			code := lc.cmd.ProcessState.ExitCode()
			st := e.status(id)
			outcomes[fmt.Sprintf("exit %d, %s", code, strings.TrimPrefix(st, "error: minirun: container \""+id+"\" "))]++
			switch {
			case st == "created":
				// It had finished: the signal came after.
			case strings.Contains(st, "does not exist"):
			default:
				t.Errorf("round %d (SIGTERM after %v): got exit status %d (stderr %q) and state %q; want the container created, or nothing", round, delay, code, stderr, st)
			}
			e.ok("delete", "--force", id)
			e.reapUntilSettled()
			e.checkNothingLeft()
			if t.Failed() {
				break
			}
		}
	})
}
