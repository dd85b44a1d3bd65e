package container

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hookFacts is what the helper, run as a hook (MINIRUN_HELPER=hook),
// appends to its log: one JSON line a run.
type hookFacts struct {
	Name     string // its argv[0]
	Args     []string
	Env      []string
	Hostname string
	NS       map[string]uint64
	Exists   map[string]bool // for each exists:PATH argument
	State    rspec.State     // what it read on stdin
	Daemon   int             // the pid of the daemon:PATH it started
	Errors   []string
}

// hookMain is the helper as a hook: os.Args[1] is the log file to append
// to; then exists:PATH (report whether PATH exists), sleep:SECONDS,
// exit:N, and daemon:BUSYBOX (start BUSYBOX sleep in the background,
// holding the hook's stdin, stdout and stderr, and do not wait for it).
func hookMain() int {
	f := hookFacts{Name: os.Args[0], Args: os.Args, Env: os.Environ(), Exists: map[string]bool{}}
	var u unix.Utsname
	unix.Uname(&u)
	f.Hostname = unix.ByteSliceToString(u.Nodename[:])
	var err error
	if f.NS, err = nsInodes("/proc/self/ns"); err != nil {
		f.Errors = append(f.Errors, "ns: "+err.Error())
	}
	if err := json.NewDecoder(os.Stdin).Decode(&f.State); err != nil {
		f.Errors = append(f.Errors, "stdin: "+err.Error())
	}
	code, sleep := 0, 0.0
	for _, a := range os.Args[2:] {
		kind, arg, _ := strings.Cut(a, ":")
		switch kind {
		case "exists":
			_, err := os.Stat(arg)
			f.Exists[arg] = err == nil
		case "sleep":
			fmt.Sscan(arg, &sleep)
		case "exit":
			fmt.Sscan(arg, &code)
		case "daemon":
			d := exec.Command(arg, "sleep", "100")
			d.Stdin, d.Stdout, d.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := d.Start(); err != nil {
				f.Errors = append(f.Errors, "daemon: "+err.Error())
			} else {
				f.Daemon = d.Process.Pid
			}
		}
	}
	line, _ := json.Marshal(f)
	log, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hook:", err)
		return 125
	}
	log.Write(append(line, '\n'))
	log.Close()
	time.Sleep(time.Duration(sleep * float64(time.Second)))
	if code != 0 {
		fmt.Fprintf(os.Stderr, "hook %s fails as asked\n", os.Args[0])
	}
	return code
}

// hookSetup is a bundle whose hooks are the helper, each logging to one
// file: the host sees it at log, the container at /log/hooks.log.
type hookSetup struct {
	tb  *testBundle
	log string
	// Paths the hooks report on: a file only the rootfs has, as the
	// container sees it and as the host does.
	inRootfs, onHost string
	// hostOnly is a copy of the helper that only the host has;
	// inContainer is the helper's path only the rootfs has.
	hostOnly, inContainer string
}

func (e *lcEnv) hookBundle(script string) *hookSetup {
	e.t.Helper()
	h := &hookSetup{tb: e.lcBundle(script)}
	logDir := filepath.Join(e.dir, "log")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	h.log = filepath.Join(logDir, "hooks.log")
	h.tb.Spec.Mounts = append(h.tb.Spec.Mounts, rspec.Mount{Destination: "/log", Type: "bind", Source: logDir, Options: []string{"rbind", "rw"}})
	h.tb.Spec.Hostname = "hookbox"
	h.tb.writeFile(e.t, "rootfs/marker-in-rootfs", "", 0o644)
	h.inRootfs, h.onHost = "/marker-in-rootfs", filepath.Join(h.tb.Rootfs, "marker-in-rootfs")
	h.tb.install(e.t, helperBin, "cbin/hookhelper")
	h.inContainer = "/cbin/hookhelper"
	h.hostOnly = filepath.Join(e.dir, "hostonly", "hookhelper")
	hostOnly := &testBundle{Rootfs: filepath.Dir(h.hostOnly)}
	if _, err := os.Stat(h.hostOnly); err != nil {
		hostOnly.install(e.t, helperBin, "hookhelper")
	}
	return h
}

// hook is one hook that logs as name, at log (as the hook sees it), with
// the extra helper arguments.
func hook(path, name, log string, extra ...string) rspec.Hook {
	return rspec.Hook{Path: path, Args: append([]string{name, log}, extra...), Env: []string{helperEnv + "=hook", "HOOK=" + name}}
}

// logged reads the hooks' log.
func (h *hookSetup) logged(t *testing.T) []hookFacts {
	t.Helper()
	f, err := os.Open(h.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var all []hookFacts
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var hf hookFacts
		if err := json.Unmarshal(sc.Bytes(), &hf); err != nil {
			t.Fatalf("%s: %v in %q", h.log, err, sc.Text())
		}
		all = append(all, hf)
	}
	return all
}

func names(fs []hookFacts) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name)
	}
	return n
}

// TestHooks runs all six hooks and checks each at its moment, in its
// namespaces, with its state on stdin and exactly its own env and args.
func TestHooks(t *testing.T) {
	e := newLC(t)
	h := e.hookBundle(`echo '{"Name":"program"}' >> /log/hooks.log; exec sleep 1000`)
	check := []string{"exists:" + h.inRootfs, "exists:" + h.onHost}
	h.tb.Spec.Hooks = &rspec.Hooks{
		Prestart:        []rspec.Hook{hook(helperBin, "prestart", h.log, check...)},
		CreateRuntime:   []rspec.Hook{hook(helperBin, "createRuntime", h.log, check...)},
		CreateContainer: []rspec.Hook{hook(h.hostOnly, "createContainer", h.log, check...)},
		StartContainer:  []rspec.Hook{hook(h.inContainer, "startContainer", "/log/hooks.log", check...)},
		Poststart:       []rspec.Hook{hook(helperBin, "poststart", h.log, check...)},
		Poststop:        []rspec.Hook{hook(helperBin, "poststop", h.log, check...)},
	}
	h.tb.Spec.Annotations = map[string]string{"org.example.hooks": "yes"}
	h.tb.save(t)
	id := e.id("hooks")
	pidFile := filepath.Join(e.dir, "pid")

	e.ok("create", "--bundle", h.tb.Dir, "--pid-file", pidFile, id)
	if got, want := names(h.logged(t)), []string{"prestart", "createRuntime", "createContainer"}; !slices.Equal(got, want) {
		t.Fatalf("after create: got %q logged, want %q", got, want)
	}
	pid := readPidFile(t, pidFile)
	e.ok("start", id)
	waitFor(t, "the program and poststart in the log", func() bool {
		n := names(h.logged(t))
		return slices.Contains(n, "program") && slices.Contains(n, "poststart")
	})
	e.ok("kill", id, "KILL")
	e.waitStatus(id, "stopped")
	e.ok("delete", id)
	logged := h.logged(t)
	got := names(logged)
	// poststart runs once the program has exec'd: it and the program's
	// own line come in either order, after startContainer.
	want := []string{"prestart", "createRuntime", "createContainer", "startContainer"}
	if len(got) != 7 || !slices.Equal(got[:4], want) || !slices.Equal(slices.Sorted(slices.Values(got[4:6])), []string{"poststart", "program"}) || got[6] != "poststop" {
		t.Errorf("the order of the hooks and the program: got %q, want %q, then poststart and program in either order, then poststop", got, want)
	}

	hostname, _ := os.Hostname()
	hostNS := nsOf(t, os.Getpid())
	// The container's namespaces, as its process had them (it is gone
	// now: the container hooks' own reports are compared with the
	// startContainer hook's, which the program shared).
	var containerNS map[string]uint64
	for _, f := range logged {
		if f.Name == "startContainer" {
			containerNS = f.NS
		}
	}
	for _, f := range logged {
		if f.Name == "program" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			var hk rspec.Hook
			switch f.Name {
			case "prestart":
				hk = h.tb.Spec.Hooks.Prestart[0]
			case "createRuntime":
				hk = h.tb.Spec.Hooks.CreateRuntime[0]
			case "createContainer":
				hk = h.tb.Spec.Hooks.CreateContainer[0]
			case "startContainer":
				hk = h.tb.Spec.Hooks.StartContainer[0]
			case "poststart":
				hk = h.tb.Spec.Hooks.Poststart[0]
			case "poststop":
				hk = h.tb.Spec.Hooks.Poststop[0]
			}
			inContainer := f.Name == "createContainer" || f.Name == "startContainer"
			wantStatus := map[string]rspec.ContainerState{
				"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
				"startContainer": "created", "poststart": "running", "poststop": "stopped",
			}[f.Name]
			wantHost, wantNS := hostname, hostNS
			if inContainer {
				wantNS = containerNS
			}
			switch f.Name {
			case "startContainer":
				wantHost = "hookbox"
			case "createContainer":
				// It runs in the container's UTS namespace (the
				// namespaces say so), but before the child program sets
				// the hostname (childprog sets it with the process, after
				// pivot_root), as runc's does: it sees the host's name
				// copied in. Not checked until that moves.
				wantHost = f.Hostname
			}
			// Before pivot_root the container's mount namespace still
			// shows the host's tree; from startContainer on, the rootfs
			// is its root.
			wantExists := map[string]bool{h.inRootfs: false, h.onHost: true}
			if f.Name == "startContainer" {
				wantExists = map[string]bool{h.inRootfs: true, h.onHost: false}
			}
			for _, c := range []struct{ what, got, want string }{
				{"errors", fmt.Sprint(f.Errors), "[]"},
				{"args", fmt.Sprintf("%q", f.Args), fmt.Sprintf("%q", hk.Args)},
				{"env", fmt.Sprintf("%q", f.Env), fmt.Sprintf("%q", hk.Env)},
				{"hostname", f.Hostname, wantHost},
				{"namespaces", fmtNS(f.NS), fmtNS(wantNS)},
				{"exists", fmt.Sprint(f.Exists), fmt.Sprint(wantExists)},
				{"state: status", string(f.State.Status), string(wantStatus)},
				{"state: id, bundle, annotations", fmt.Sprint(f.State.ID, " ", f.State.Bundle, " ", f.State.Annotations), fmt.Sprint(id, " ", h.tb.Dir, " ", h.tb.Spec.Annotations)},
				{"state: ociVersion", f.State.Version, rspec.Version},
			} {
				if c.got != c.want {
					t.Errorf("%s: got %s, want %s", c.what, c.got, c.want)
				}
			}
			if f.Name != "poststop" && f.State.Pid != pid {
				t.Errorf("state: pid: got %d, want the container's %d", f.State.Pid, pid)
			}
		})
	}
	if containerNS == nil || fmtNS(containerNS) == fmtNS(hostNS) {
		t.Errorf("startContainer's namespaces: got %s, want the container's, not the host's %s", fmtNS(containerNS), fmtNS(hostNS))
	}
}

// TestHookFailures: a failing or slow (timeout) prestart, createRuntime or
// createContainer hook fails create and leaves nothing, the poststop
// hooks having run; a failing startContainer hook fails start and the
// container is not left running; a failing poststart or poststop hook is a
// warning.
func TestHookFailures(t *testing.T) {
	e := newLC(t)
	one := 1
	cases := []struct {
		name   string
		set    func(h *rspec.Hooks, hk rspec.Hook)
		kind   string // the failing hook's field
		extra  []string
		create bool // create fails
		start  bool // start fails
		warn   string
	}{
		{name: "prestart", kind: "prestart", create: true, set: func(h *rspec.Hooks, hk rspec.Hook) { h.Prestart = []rspec.Hook{hk} }},
		{name: "createRuntime", kind: "createRuntime", create: true, set: func(h *rspec.Hooks, hk rspec.Hook) { h.CreateRuntime = []rspec.Hook{hk} }},
		{name: "createContainer", kind: "createContainer", create: true, set: func(h *rspec.Hooks, hk rspec.Hook) { h.CreateContainer = []rspec.Hook{hk} }},
		{name: "createRuntime timeout", kind: "createRuntime", extra: []string{"sleep:100"}, create: true, set: func(h *rspec.Hooks, hk rspec.Hook) {
			hk.Timeout = &one
			h.CreateRuntime = []rspec.Hook{hk}
		}},
		{name: "startContainer", kind: "startContainer", start: true, set: func(h *rspec.Hooks, hk rspec.Hook) { h.StartContainer = []rspec.Hook{hk} }},
		{name: "startContainer timeout", kind: "startContainer", extra: []string{"sleep:100"}, start: true, set: func(h *rspec.Hooks, hk rspec.Hook) {
			hk.Timeout = &one
			h.StartContainer = []rspec.Hook{hk}
		}},
		{name: "poststart", kind: "poststart", warn: "start", set: func(h *rspec.Hooks, hk rspec.Hook) { h.Poststart = []rspec.Hook{hk} }},
		{name: "poststop", kind: "poststop", warn: "delete", set: func(h *rspec.Hooks, hk rspec.Hook) { h.Poststop = []rspec.Hook{hk} }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := e.hookBundle(`echo '{"Name":"program"}' >> /log/hooks.log; exec sleep 1000`)
			os.Remove(h.log)
			h.tb.Spec.Hooks = &rspec.Hooks{}
			fail := append([]string{"exit:3"}, c.extra...)
			path, log := helperBin, h.log
			switch c.kind {
			case "createContainer":
				path = h.hostOnly
			case "startContainer":
				path, log = h.inContainer, "/log/hooks.log"
			}
			c.set(h.tb.Spec.Hooks, hook(path, c.kind, log, fail...))
			if c.kind != "poststop" {
				h.tb.Spec.Hooks.Poststop = []rspec.Hook{hook(helperBin, "poststop", h.log)}
			}
			h.tb.save(t)
			id := e.id(fmt.Sprintf("hookfail%d", i))
			wantMsg := fmt.Sprintf("hooks.%s[0]", c.kind)
			// The hook's own words come with its exit status.
			reason := "exit status 3: hook " + c.kind + " fails as asked"
			if len(c.extra) > 0 {
				reason = "timeout of 1s"
			}

			_, stderr, code := e.mr("create", "--bundle", h.tb.Dir, id)
			if c.create {
				if code == 0 || !strings.Contains(stderr, wantMsg) || !strings.Contains(stderr, reason) {
					t.Errorf("create with a failing %s hook: got exit status %d, stderr %q; want a failure naming %s and %q", c.kind, code, stderr, wantMsg, reason)
				}
				if got := e.status(id); !strings.Contains(got, "does not exist") {
					t.Errorf("after the failed create: got state %q, want \"does not exist\"", got)
				}
				if got, want := names(h.logged(t)), []string{c.kind, "poststop"}; !slices.Equal(got, want) {
					t.Errorf("logged: got %q, want %q (the poststop hooks run after a failed create)", got, want)
				}
				return
			}
			if code != 0 {
				t.Fatalf("create: got exit status %d, stderr %q, want 0", code, stderr)
			}
			_, stderr, code = e.mr("start", id)
			switch {
			case c.start:
				if code == 0 || !strings.Contains(stderr, wantMsg) || !strings.Contains(stderr, reason) {
					t.Errorf("start with a failing %s hook: got exit status %d, stderr %q; want a failure naming %s and %q", c.kind, code, stderr, wantMsg, reason)
				}
				e.waitStatus(id, "stopped")
				if slices.Contains(names(h.logged(t)), "program") {
					t.Errorf("start with a failing %s hook: got the program run, want it never run", c.kind)
				}
			case c.warn == "start":
				if code != 0 || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, wantMsg) {
					t.Errorf("start with a failing %s hook: got exit status %d, stderr %q; want 0 and a warning naming %s", c.kind, code, stderr, wantMsg)
				}
				if got := e.status(id); got != "running" {
					t.Errorf("after a failing poststart hook: got status %q, want running", got)
				}
			default:
				if code != 0 {
					t.Fatalf("start: got exit status %d, stderr %q, want 0", code, stderr)
				}
			}
			_, stderr, code = e.mr("delete", "--force", id)
			if c.warn == "delete" {
				if code != 0 || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, wantMsg) {
					t.Errorf("delete with a failing poststop hook: got exit status %d, stderr %q; want 0 and a warning naming %s", code, stderr, wantMsg)
				}
			} else if code != 0 {
				t.Errorf("delete: got exit status %d, stderr %q, want 0", code, stderr)
			}
			if got := e.status(id); !strings.Contains(got, "does not exist") {
				t.Errorf("after delete: got state %q, want \"does not exist\"", got)
			}
			if got := names(h.logged(t)); len(got) == 0 || got[len(got)-1] != "poststop" {
				t.Errorf("logged: got %q, want poststop last", got)
			}
		})
	}
}

// TestHookDaemon: a hook that starts a daemon and exits at once has
// finished, though the daemon still holds its stdin, stdout and stderr:
// create and start go on without waiting for the daemon.
func TestHookDaemon(t *testing.T) {
	e := newLC(t)
	h := e.hookBundle(`echo '{"Name":"program"}' >> /log/hooks.log; exec sleep 1000`)
	ten := 10
	daemon := func(hk rspec.Hook, busybox string) rspec.Hook {
		hk.Args = append(hk.Args, "daemon:"+busybox)
		hk.Timeout = &ten
		return hk
	}
	h.tb.Spec.Hooks = &rspec.Hooks{
		CreateRuntime:   []rspec.Hook{daemon(hook(helperBin, "createRuntime", h.log), busyboxBin)},
		CreateContainer: []rspec.Hook{daemon(hook(h.hostOnly, "createContainer", h.log), busyboxBin)},
		StartContainer:  []rspec.Hook{daemon(hook(h.inContainer, "startContainer", "/log/hooks.log"), "/bin/busybox")},
		Poststart:       []rspec.Hook{daemon(hook(helperBin, "poststart", h.log), busyboxBin)},
	}
	h.tb.save(t)
	id := e.id("daemon")
	// The daemons are the test's to end; those in the container's PID
	// namespace end with it.
	defer func() {
		for _, f := range h.logged(t) {
			if f.Daemon > 0 && (f.Name == "createRuntime" || f.Name == "poststart") {
				killProc(t, f.Daemon)
			}
		}
	}()
	if _, stderr, code := e.mr("create", "--bundle", h.tb.Dir, id); code != 0 {
		t.Fatalf("create with hooks that leave daemons: got exit status %d, stderr %q, want 0", code, stderr)
	}
	if _, stderr, code := e.mr("start", id); code != 0 || stderr != "" {
		t.Errorf("start with hooks that leave daemons: got exit status %d, stderr %q, want 0 and no warning", code, stderr)
	}
	for _, f := range h.logged(t) {
		if f.Name != "program" && (f.Daemon <= 0 || len(f.Errors) > 0) {
			t.Errorf("%s: got daemon %d, errors %q; want a daemon started", f.Name, f.Daemon, f.Errors)
		}
	}
	e.ok("delete", "--force", id)
}
