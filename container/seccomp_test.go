package container

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	mobyseccomp "github.com/moby/profiles/seccomp"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/procfs"
	"github.com/minirun/minirun/specs"
)

// dockerCaps is Docker's default capability set: the profiles below are
// chosen for it, as Docker and podman hand them to a runtime.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func capsSpec() *rspec.Spec {
	return &rspec.Spec{Process: &rspec.Process{Capabilities: &rspec.LinuxCapabilities{
		Bounding: dockerCaps, Effective: dockerCaps, Permitted: dockerCaps,
	}}}
}

// dockerProfile is Docker's default profile as Docker hands it to a
// runtime on this machine.
func dockerProfile(t *testing.T) *rspec.LinuxSeccomp {
	t.Helper()
	p, err := mobyseccomp.GetDefaultProfile(capsSpec())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// podmanProfile is podman's default profile, the one installed with it
// (containers-common), converted the same way (its format is Docker's).
func podmanProfile(t *testing.T) *rspec.LinuxSeccomp {
	t.Helper()
	const file = "/usr/share/containers/seccomp.json"
	body, err := os.ReadFile(file)
	if err != nil {
		t.Skip("needs podman's default seccomp profile (Debian package golang-github-containers-common): " + err.Error())
	}
	p, err := mobyseccomp.LoadProfile(string(body), capsSpec())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withCaps gives the process Docker's capabilities and CAP_SYS_ADMIN:
// the kernel would then let it mount, unshare and set the hostname, so an
// EPERM for them is the filter's (the profiles are chosen for Docker's
// capabilities, without CAP_SYS_ADMIN).
func withCaps(s *rspec.Spec) {
	caps := append(slices.Clone(dockerCaps), "CAP_SYS_ADMIN")
	s.Process.Capabilities = &rspec.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
}

// profileCase is one profile, the probes it blocks and allows, and what
// each gives without a filter and under the profile.
type profileCase struct {
	name    string
	profile func(*testing.T) *rspec.LinuxSeccomp
	probes  []profileProbe
	script  string // a busybox script
	// scriptOut is what the script prints under the profile and without.
	scriptOut, scriptFree string
}

type profileProbe struct {
	probe          string
	filtered, free string // the errno name ("" for success)
}

var profileCases = []profileCase{
	{
		name: "docker", profile: dockerProfile,
		probes: []profileProbe{
			{"sys:unshare:0x04000000", "EPERM", ""}, // CLONE_NEWUTS
			{"mount:/mnt", "EPERM", ""},
			{"sys:keyctl:0,0xfffffffffffffffd", "EPERM", ""}, // KEYCTL_GET_KEYRING_ID, the session keyring
			{"sys:add_key:0,0,0,0,0", "EPERM", "EFAULT"},
			{"sys:personality:0x0008", "", ""},         // allowed by value
			{"sys:personality:0x0040000", "EPERM", ""}, // ADDR_NO_RANDOMIZE: not
			{"hostname:probe", "EPERM", ""},            // CAP_SYS_ADMIN's
		},
		script:     "unshare -u true 2>&1; echo unshare=$?; mount -t tmpfs none /mnt 2>&1; echo mount=$?; echo sh=ok",
		scriptOut:  "unshare: unshare(0x4000000): Operation not permitted\nunshare=1\nmount: permission denied (are you root?)\nmount=1\nsh=ok\n",
		scriptFree: "unshare=0\nmount=0\nsh=ok\n",
	},
	{
		name: "podman", profile: podmanProfile,
		probes: []profileProbe{
			{"hostname:probe", "EPERM", ""},
			{"sys:bpf:0xffff,0,0", "EPERM", "EINVAL"},            // CAP_SYS_ADMIN's
			{"sys:setns:0xffffffffffffffff,0", "EBADF", "EBADF"}, // listed as allowed first: that rule decides
			{"sys:add_key:0,0,0,0,0", "ENOSYS", "EFAULT"},        // not listed: the default action, ENOSYS
			{"sys:unshare:0x04000000", "", ""},                   // podman leaves these to capabilities
			{"mount:/mnt", "", ""},
		},
		script:     "hostname probe 2>&1; echo hostname=$?; echo sh=ok",
		scriptOut:  "hostname: sethostname: Operation not permitted\nhostname=1\nsh=ok\n",
		scriptFree: "hostname=0\nsh=ok\n",
	},
}

// TestRunSeccompProfiles runs the helper and a busybox shell under
// Docker's and podman's default profiles, with and without no_new_privs,
// and checks inside the container that the calls each profile blocks fail
// as it says, that what it allows works, that /proc/self/status shows a
// filter (Seccomp: 2) and NoNewPrivs as the config says; and the same
// container without linux.seccomp, where every probe gets the kernel's
// own answer.
func TestRunSeccompProfiles(t *testing.T) {
	needRoot(t, "creates namespaces and installs seccomp filters")
	for _, pc := range profileCases {
		for _, nnp := range []bool{true, false} {
			for _, filtered := range []bool{true, false} {
				name := fmt.Sprintf("%s/nnp=%v/filtered=%v", pc.name, nnp, filtered)
				t.Run(name, func(t *testing.T) {
					var probes []string
					for _, p := range pc.probes {
						probes = append(probes, p.probe)
					}
					tb := helperBundle(t, specs.GenerateOptions{}, probes...)
					tb.mkdirs(t, "mnt")
					withCaps(tb.Spec)
					tb.Spec.Process.NoNewPrivileges = nnp
					if filtered {
						tb.Spec.Linux.Seccomp = pc.profile(t)
					}
					before := snapshotHost(t)
					f := runFacts(t, tb)
					checkNothingLeft(t, before)
					wantMode, wantFilters := "0", "0"
					if filtered {
						wantMode, wantFilters = "2", "1"
					}
					wantNNP := "0"
					if nnp {
						wantNNP = "1"
					}
					for _, c := range []struct{ what, got, want string }{
						{"Seccomp", f.Status["Seccomp"], wantMode},
						{"Seccomp_filters", f.Status["Seccomp_filters"], wantFilters},
						{"NoNewPrivs", f.Status["NoNewPrivs"], wantNNP},
					} {
						if c.got != c.want {
							t.Errorf("/proc/self/status %s: got %q, want %q", c.what, c.got, c.want)
						}
					}
					for _, p := range pc.probes {
						want := p.free
						if filtered {
							want = p.filtered
						}
						if got := f.Probes[p.probe].Err; got != want {
							t.Errorf("%s: got errno %q, want %q", p.probe, got, want)
						}
					}
				})
			}
		}
		t.Run(pc.name+"/busybox", func(t *testing.T) {
			for _, filtered := range []bool{true, false} {
				tb := busyboxBundle(t, specs.GenerateOptions{}, pc.script)
				tb.mkdirs(t, "mnt")
				withCaps(tb.Spec)
				want := pc.scriptFree
				if filtered {
					tb.Spec.Linux.Seccomp = pc.profile(t)
					want = pc.scriptOut
				}
				before := snapshotHost(t)
				code, out, err := runCaptured(t, tb.save(t))
				checkNothingLeft(t, before)
				if err != nil || code != 0 {
					t.Fatalf("filtered %v: got status %d and error %v, want 0 and none; stdout %q", filtered, code, err, out)
				}
				if out != want {
					t.Errorf("filtered %v: the shell printed %q, want %q", filtered, out, want)
				}
			}
		})
	}
}

// TestExecSeccomp: a process minirun exec starts in a container gets the
// container's filter (its process options are exec's, the filter the
// container's), and a hook in the container's namespaces does not.
func TestExecSeccomp(t *testing.T) {
	needRoot(t, "creates namespaces and installs seccomp filters")
	root := tempDir(t)
	tb := helperBundle(t, specs.GenerateOptions{}, "wait")
	tb.Spec.Linux.Seccomp = dockerProfile(t)
	withCaps(tb.Spec)
	tb.mkdirs(t, "mnt")
	tb.save(t)
	before := snapshotHost(t)
	const id = "seccomp-exec"
	run := startBinary(t, nil, "--root", root, "run", "--bundle", tb.Dir, id)
	if f := parseFacts(t, run.line(t)); f.Status["Seccomp"] != "2" {
		t.Fatalf("the container's process: Seccomp %q, want 2", f.Status["Seccomp"])
	}
	out, stderr, code := runBinary(t, nil, "--root", root, "exec", id, "/helper", "sys:unshare:0x04000000", "mount:/mnt", "sys:keyctl:0,0xfffffffffffffffd")
	if code != 0 {
		t.Fatalf("exec: got status %d, want 0; stderr %q", code, stderr)
	}
	f := parseFacts(t, out)
	if got := f.Status["Seccomp"]; got != "2" {
		t.Errorf("exec'd process: Seccomp %q, want 2", got)
	}
	for _, p := range []string{"sys:unshare:0x04000000", "mount:/mnt", "sys:keyctl:0,0xfffffffffffffffd"} {
		if got := f.Probes[p].Err; got != "EPERM" {
			t.Errorf("exec'd process: %s: got %q, want EPERM (the container's filter)", p, got)
		}
	}
	if code := run.wait(t); code != 0 {
		t.Errorf("minirun run: got status %d, want 0; stderr %q", code, run.errors())
	}
	checkNothingLeft(t, before)
}

// TestRunSeccompHookUnfiltered: a createContainer hook runs in the
// container's namespaces with the runtime's privileges, and without the
// container's filter.
func TestRunSeccompHookUnfiltered(t *testing.T) {
	needRoot(t, "creates namespaces and installs seccomp filters")
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.Spec.Linux.Seccomp = dockerProfile(t)
	out := filepath.Join(tb.Dir, "hook-facts")
	// The hook is the helper, run through the shell so that its stdout,
	// the facts, lands in a file the test reads. It is resolved in the
	// runtime's mount view (the root is not pivoted yet).
	script := fmt.Sprintf("%s=facts %s sys:unshare:0x04000000 >%s", helperEnv, helperBin, out)
	tb.Spec.Hooks = &rspec.Hooks{CreateContainer: []rspec.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", script}}}}
	before := snapshotHost(t)
	runFacts(t, tb)
	checkNothingLeft(t, before)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the hook's facts: %v", err)
	}
	var f facts
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("the hook's facts: %v: %q", err, data)
	}
	if f.Status["Seccomp"] != "0" {
		t.Errorf("createContainer hook: Seccomp %q, want 0 (hooks are the runtime's)", f.Status["Seccomp"])
	}
}

// The kernel's struct seccomp_notif and seccomp_notif_resp (linux/seccomp.h);
// golang.org/x/sys/unix has the ioctl numbers but not the structures.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// listenerAgent is a seccomp agent for the tests: it accepts one
// connection on a unix socket, takes the listener and the container
// process state from it, and answers the first notification with errno.
type listenerAgent struct {
	path  string
	state chan rspec.ContainerProcessState
	notif chan seccompNotif
	err   chan error
}

// shortDir is a temporary folder with a path short enough for a unix
// socket's address.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "mr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startAgent(t *testing.T, dir string, errno unix.Errno) *listenerAgent {
	t.Helper()
	a := &listenerAgent{path: filepath.Join(dir, "agent.sock"), state: make(chan rspec.ContainerProcessState, 1),
		notif: make(chan seccompNotif, 1), err: make(chan error, 1)}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: a.path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		a.err <- a.serve(l, errno)
	}()
	return a
}

func (a *listenerAgent) serve(l *net.UnixListener, errno unix.Errno) error {
	c, err := l.AcceptUnix()
	if err != nil {
		return err
	}
	defer c.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return fmt.Errorf("control messages: %v (%d)", err, len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return fmt.Errorf("SCM_RIGHTS: %v (%d fds)", err, len(fds))
	}
	listener := fds[0]
	defer unix.Close(listener)
	var st rspec.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		return fmt.Errorf("the state: %v: %q", err, buf[:n])
	}
	a.state <- st
	var req seccompNotif
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return fmt.Errorf("SECCOMP_IOCTL_NOTIF_RECV: %v", e)
		}
		break
	}
	// The notification names the thread that made the call (a Go
	// program's system calls come from any of its threads): while it
	// waits for the answer, its thread group is the process.
	if st, err := procfs.ReadStatus(fmt.Sprintf("/proc/%d/status", req.Pid)); err == nil {
		if tgid, err := strconv.Atoi(st["Tgid"]); err == nil {
			req.Pid = uint32(tgid)
		}
	}
	a.notif <- req
	resp := seccompNotifResp{ID: req.ID, Error: -int32(errno)}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); e != 0 {
		return fmt.Errorf("SECCOMP_IOCTL_NOTIF_SEND: %v", e)
	}
	return nil
}

// TestRunSeccompNotify: a SCMP_ACT_NOTIFY rule. The agent at listenerPath
// gets the listener and the container process state as runtime-spec says,
// and answers the process's notified mkdir with EXDEV, which the process
// sees; with and without no_new_privs (the listener is taken at a
// different place), and as create would (a gate: before it).
func TestRunSeccompNotify(t *testing.T) {
	needRoot(t, "creates namespaces and installs seccomp filters")
	for _, tc := range []struct {
		name       string
		nnp        bool
		doubleFork bool
	}{{"no_new_privs", true, false}, {"without no_new_privs", false, false}, {"a joined PID namespace", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{}, "mkdir:/notified")
			tb.Spec.Root.Readonly = false
			tb.Spec.Process.NoNewPrivileges = tc.nnp
			if tc.doubleFork {
				setNamespacePath(tb, rspec.PIDNamespace, "/proc/self/ns/pid")
			}
			agent := startAgent(t, shortDir(t), unix.EXDEV)
			tb.Spec.Linux.Seccomp = &rspec.LinuxSeccomp{
				DefaultAction:    rspec.ActAllow,
				ListenerPath:     agent.path,
				ListenerMetadata: "test=notify",
				// The helper's mkdir probe is mkdirat (x/sys/unix's Mkdir).
				Syscalls: []rspec.LinuxSyscall{{Names: []string{"mkdirat"}, Action: rspec.ActNotify}},
			}
			before := snapshotHost(t)
			done := make(chan *facts, 1)
			go func() { done <- runFacts(t, tb) }()
			var st rspec.ContainerProcessState
			select {
			case st = <-agent.state:
			case err := <-agent.err:
				t.Fatalf("the agent: %v", err)
			case <-time.After(time.Minute):
				t.Fatal("the agent got no listener in a minute")
			}
			n := <-agent.notif
			f := <-done
			checkNothingLeft(t, before)
			if err := <-agent.err; err != nil {
				t.Fatalf("the agent: %v", err)
			}
			if st.Version != rspec.Version || !slices.Equal(st.Fds, []string{rspec.SeccompFdName}) || st.Metadata != "test=notify" {
				t.Errorf("state: got version %q fds %q metadata %q, want %q [seccompFd] test=notify", st.Version, st.Fds, st.Metadata, rspec.Version)
			}
			if st.State.Status != rspec.StateCreating || st.State.Bundle != tb.Dir || st.State.Pid != st.Pid || st.Pid <= 0 {
				t.Errorf("state.state: got %+v with pid %d, want creating, bundle %s, the process's pid", st.State, st.Pid, tb.Dir)
			}
			if int(n.Pid) != st.Pid {
				t.Errorf("the notification came from pid %d, want the process the state names, %d", n.Pid, st.Pid)
			}
			if n.Nr != unix.SYS_MKDIRAT {
				t.Errorf("the notification: system call %d, want mkdirat (%d)", n.Nr, unix.SYS_MKDIRAT)
			}
			if got := f.Probes["mkdir:/notified"].Err; got != "EXDEV" {
				t.Errorf("the notified mkdir: got %q, want EXDEV, the agent's answer", got)
			}
		})
	}
}

// TestRunSeccompRefused: policies minirun cannot install are refused
// before anything starts, one line naming the field, exit status 2, and
// nothing is left.
func TestRunSeccompRefused(t *testing.T) {
	needRoot(t, "starts minirun on configs meant to run")
	for _, tc := range []struct {
		name   string
		policy *rspec.LinuxSeccomp
		want   string
	}{
		{"notify on the listener's own write", &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, ListenerPath: "/run/none.sock",
			Syscalls: []rspec.LinuxSyscall{{Names: []string{"write"}, Action: rspec.ActNotify}}},
			"linux.seccomp.syscalls[0].names[0]: SCMP_ACT_NOTIFY on write: the container's process makes this call to hand the listener to minirun, before any agent holds the listener to answer it"},
		{"errnoRet on allow", &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow, DefaultErrnoRet: ptr(uint(5))},
			"linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return a value; SCMP_ACT_ALLOW does not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := helperBundle(t, specs.GenerateOptions{})
			tb.Spec.Linux.Seccomp = tc.policy
			tb.save(t)
			before := snapshotHost(t)
			_, stderr, code := runBinary(t, nil, "run", tb.config())
			checkNothingLeft(t, before)
			if want := "minirun: " + tb.config() + ": " + tc.want + "\n"; code != 2 || stderr != want {
				t.Errorf("got status %d, stderr %q; want 2, %q", code, stderr, want)
			}
		})
	}
}

// TestRunSeccompSkippedDebug: a system call no ABI of this machine has is
// left out of the filter, as runc leaves it, and --debug says so.
func TestRunSeccompSkippedDebug(t *testing.T) {
	needRoot(t, "runs a container")
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.Spec.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow,
		Syscalls: []rspec.LinuxSyscall{{Names: []string{"no_such_call", "kexec_load"}, Action: rspec.ActErrno}}}
	tb.save(t)
	_, stderr, code := runBinary(t, nil, "--debug", "run", tb.config())
	if want := "minirun: debug: linux.seccomp: skipped no_such_call: no such system call on x86_64\n"; code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("--debug: got status %d, stderr %q; want 0 and %q", code, stderr, want)
	}
	_, stderr, _ = runBinary(t, nil, "run", tb.config())
	if strings.Contains(stderr, "skipped") {
		t.Errorf("without --debug: got stderr %q, want nothing about skipped calls", stderr)
	}
}

// TestRunSeccompRefusesSetup: without no_new_privs the filter goes in while
// the child still has its setup to finish; a policy that refuses one of
// those calls fails the start naming the step's field, and saying the
// filter may be why. With no_new_privs the same policy only meets the
// container's process.
func TestRunSeccompRefusesSetup(t *testing.T) {
	needRoot(t, "runs containers")
	for _, nnp := range []bool{false, true} {
		tb := helperBundle(t, specs.GenerateOptions{})
		tb.Spec.Process.NoNewPrivileges = nnp
		tb.Spec.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow,
			Syscalls: []rspec.LinuxSyscall{{Names: []string{"capset"}, Action: rspec.ActErrno, ErrnoRet: ptr(uint(unix.EPERM))}}}
		before := snapshotHost(t)
		code, _, err := runCaptured(t, tb.save(t))
		checkNothingLeft(t, before)
		want := "process.capabilities: effective, permitted, inheritable: operation not permitted (the call ran under linux.seccomp's filter, which may have refused it)"
		switch {
		case !nnp && (err == nil || err.Error() != want):
			t.Errorf("without no_new_privs: got status %d, error %v; want %q", code, err, want)
		case nnp && (err != nil || code != 0):
			t.Errorf("with no_new_privs: got status %d, error %v; want it to run", code, err)
		}
	}
	// The execve's own failure is left as the kernel says it: clients
	// read it (podman: "permission denied" is 126).
	tb := helperBundle(t, specs.GenerateOptions{})
	tb.writeFile(t, "rootfs/notexec", "data\n", 0o644)
	tb.Spec.Process.Args = []string{"/notexec"}
	tb.Spec.Process.NoNewPrivileges = false
	tb.Spec.Linux.Seccomp = &rspec.LinuxSeccomp{DefaultAction: rspec.ActAllow,
		Syscalls: []rspec.LinuxSyscall{{Names: []string{"kexec_load"}, Action: rspec.ActErrno}}}
	if _, _, err := runCaptured(t, tb.save(t)); err == nil || err.Error() != "process.args[0]: /notexec: permission denied" {
		t.Errorf("a file that cannot be run: got %v, want process.args[0]: /notexec: permission denied", err)
	}
}

// TestRunSeccompOldAllowList: a profile written before close_range (the
// runtime-tools suite's, older Docker ones) without no_new_privs. The
// filter then goes in while the child is privileged, and every step after
// it must pass it: minirun's close-on-exec step comes before it, as runc
// closes with fcntl, so such a profile runs.
func TestRunSeccompOldAllowList(t *testing.T) {
	needRoot(t, "creates namespaces and installs seccomp filters")
	profile := dockerProfile(t)
	var kept []rspec.LinuxSyscall
	for _, sc := range profile.Syscalls {
		names := slices.DeleteFunc(slices.Clone(sc.Names), func(n string) bool { return n == "close_range" })
		if len(names) > 0 {
			sc.Names = names
			kept = append(kept, sc)
		}
	}
	profile.Syscalls = kept
	tb := busyboxBundle(t, specs.GenerateOptions{}, "echo ran")
	tb.Spec.Process.NoNewPrivileges = false
	tb.Spec.Linux.Seccomp = profile
	before := snapshotHost(t)
	code, out, err := runCaptured(t, tb.save(t))
	checkNothingLeft(t, before)
	if err != nil || code != 0 || out != "ran\n" {
		t.Errorf("got status %d, error %v, stdout %q; want 0, none, \"ran\"", code, err, out)
	}
}
