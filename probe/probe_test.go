package probe

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/minirun/minirun/clonecore"
	"golang.org/x/sys/unix"
)

// sharingKeys are the resources a flag decides, with the flag that shares
// each one according to clone(2).
var sharingKeys = []string{KeyVM, KeyFiles, KeyFS, KeySighand, KeyThreadGroup, KeyParent, KeySysvsem}

// semanticsCases are flag sets with what clone(2) says each shares with the
// caller: CLONE_VM the address space, CLONE_FILES the fd table, CLONE_FS cwd
// and umask, CLONE_SIGHAND the handler table, CLONE_THREAD the thread group
// (and the caller's parent), CLONE_PARENT the caller's parent, CLONE_SYSVSEM
// the semaphore undo list; CLONE_SETTLS a thread pointer of its own
// (otherwise the caller's is inherited); CLONE_NEW* a new namespace (but
// CLONE_NEWTIME with CLONE_VM leaves the child in the caller's).
var semanticsCases = []struct {
	name   string
	flags  clonecore.Flags
	shared []string // keys of sharingKeys whose Same must be true; the rest false
	// unobservable are keys of sharingKeys with no verdict (Same nil).
	unobservable []string
	ownTLS       bool     // the thread pointer is the core's TCB, not the caller's
	newNS        []string // namespaces the child is in and minirun is not
	root         string   // why the case needs root, if it does
}{
	{name: "nothing", flags: 0},
	{name: "fork", flags: clonecore.Presets["fork"]},
	{name: "vm", flags: clonecore.VM, shared: []string{KeyVM}, ownTLS: true},
	{name: "files", flags: clonecore.FILES, shared: []string{KeyFiles}},
	{name: "fs", flags: clonecore.FS, shared: []string{KeyFS}},
	{name: "sysvsem", flags: clonecore.SYSVSEM, shared: []string{KeySysvsem}},
	{name: "vm,fs,files", flags: clonecore.VM | clonecore.FS | clonecore.FILES, shared: []string{KeyVM, KeyFS, KeyFiles}, ownTLS: true},
	{name: "vm,sighand", flags: clonecore.VM | clonecore.SIGHAND, shared: []string{KeyVM, KeySighand}, ownTLS: true},
	{name: "thread", flags: clonecore.Presets["thread"], shared: []string{KeyVM, KeyFiles, KeyFS, KeySighand, KeyThreadGroup, KeyParent, KeySysvsem}, ownTLS: true},
	{name: "thread without sysvsem", flags: clonecore.VM | clonecore.SIGHAND | clonecore.THREAD, shared: []string{KeyVM, KeySighand, KeyThreadGroup, KeyParent}, ownTLS: true},
	{name: "thread with a pidfd", flags: clonecore.VM | clonecore.SIGHAND | clonecore.THREAD | clonecore.PIDFD, shared: []string{KeyVM, KeySighand, KeyThreadGroup, KeyParent}, ownTLS: true},
	{name: "vfork", flags: clonecore.Presets["vfork"], shared: []string{KeyVM}, ownTLS: true},
	{name: "vfork without vm", flags: clonecore.VFORK},
	{name: "vfork thread", flags: clonecore.VM | clonecore.SIGHAND | clonecore.THREAD | clonecore.VFORK, shared: []string{KeyVM, KeySighand, KeyThreadGroup, KeyParent}, ownTLS: true},
	{name: "parent", flags: clonecore.PARENT, shared: []string{KeyParent}},
	{name: "files,parent", flags: clonecore.FILES | clonecore.PARENT, shared: []string{KeyFiles, KeyParent}},
	{name: "settls without vm", flags: clonecore.SETTLS, ownTLS: true},
	{name: "clear_sighand", flags: clonecore.CLEAR_SIGHAND},
	{name: "pidfd", flags: clonecore.PIDFD},
	{name: "user", flags: clonecore.NEWUSER, newNS: []string{"user"}},
	{name: "container", flags: clonecore.Presets["container"], unobservable: []string{KeySysvsem}, newNS: []string{"mnt", "pid", "net", "uts", "ipc", "cgroup"}, root: "new namespaces other than user need CAP_SYS_ADMIN"},
	{name: "time", flags: clonecore.NEWTIME, newNS: []string{"time"}, root: "a time namespace needs CAP_SYS_ADMIN"},
	{name: "vm,time", flags: clonecore.VM | clonecore.NEWTIME, shared: []string{KeyVM}, ownTLS: true, root: "a time namespace needs CAP_SYS_ADMIN"},
	{name: "vm,sighand,pid", flags: clonecore.VM | clonecore.SIGHAND | clonecore.NEWPID, shared: []string{KeyVM, KeySighand}, ownTLS: true, newNS: []string{"pid"}, root: "a PID namespace needs CAP_SYS_ADMIN"},
	{name: "pid,parent", flags: clonecore.NEWPID | clonecore.PARENT, shared: []string{KeyParent}, newNS: []string{"pid"}, root: "a PID namespace needs CAP_SYS_ADMIN"},
	{name: "user,parent", flags: clonecore.NEWUSER | clonecore.PARENT, shared: []string{KeyParent}, newNS: []string{"user"}},
}

// TestProbeSemantics runs a probe for each case and checks every measured
// verdict against clone(2)'s semantics.
func TestProbeSemantics(t *testing.T) {
	for _, tc := range semanticsCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root != "" && os.Geteuid() != 0 {
				t.Skip("needs root: " + tc.root)
			}
			r, err := Run(tc.flags)
			if err != nil {
				t.Fatalf("Run(%v): %v", tc.flags, err)
			}
			for _, key := range sharingKeys {
				res := r.Resource(key)
				if res == nil {
					t.Errorf("%s: missing from the report", key)
					continue
				}
				switch {
				case slices.Contains(tc.unobservable, key):
					if res.Same != nil {
						t.Errorf("%s: got same=%v (%s), want no verdict", key, *res.Same, res.Evidence)
					}
				case res.Same == nil:
					t.Errorf("%s: got no verdict (%s: %s), want same=%v", key, res.Verdict, res.Evidence, slices.Contains(tc.shared, key))
				case *res.Same != slices.Contains(tc.shared, key):
					t.Errorf("%s: got same=%v (%s: %s), want %v", key, *res.Same, res.Verdict, res.Evidence, !*res.Same)
				}
			}
			checkAlways(t, r, tc.ownTLS)
			var gotNS []string
			for _, ns := range r.Namespaces {
				if !ns.Same {
					gotNS = append(gotNS, ns.Name)
				}
				if r.Held && ns.Proc != ns.Child {
					t.Errorf("namespace %s: statx in the child says %d, /proc/%d/ns %d", ns.Name, ns.Child, r.Child.TID, ns.Proc)
				}
			}
			sort.Strings(gotNS)
			want := append([]string(nil), tc.newNS...)
			sort.Strings(want)
			if !slices.Equal(gotNS, want) {
				t.Errorf("new namespaces: got %v, want %v", gotNS, want)
			}
			if wantHeld := tc.flags&clonecore.VFORK == 0; r.Held != wantHeld {
				t.Errorf("held: got %v, want %v", r.Held, wantHeld)
			}
		})
	}
}

// checkAlways checks what every probe measures the same whatever the flags:
// a stack of its own in the core's slot, the caller's scheduling policy, the
// thread pointer (the core's TCB or the caller's), and its identity.
func checkAlways(t *testing.T, r *Report, ownTLS bool) {
	t.Helper()
	if res := r.Resource(KeyStack); res == nil || res.Same == nil || *res.Same || res.Verdict != "separate" {
		t.Errorf("stack: got %+v, want separate, in the core's stack", res)
	}
	if res := r.Resource(KeySched); res == nil || res.Same == nil || !*res.Same || res.Verdict != "identical" {
		t.Errorf("scheduler view: got %+v, want identical", res)
	}
	tls := r.Resource(KeyTLS)
	switch {
	case tls == nil:
		t.Errorf("tls: missing from the report")
	case runtime.GOARCH != "amd64":
		if tls.Same != nil || !strings.Contains(tls.Evidence, "not measurable on "+runtime.GOARCH) {
			t.Errorf("tls on %s: got %+v, want not measurable", runtime.GOARCH, tls)
		}
	case ownTLS && tls.Verdict != "own TCB":
		t.Errorf("tls: got %s (%s), want own TCB", tls.Verdict, tls.Evidence)
	case !ownTLS && tls.Verdict != "inherited":
		t.Errorf("tls: got %s (%s), want inherited", tls.Verdict, tls.Evidence)
	}
	if r.Child.TID <= 0 || r.Child.SelfTID <= 0 {
		t.Errorf("child ids: got %+v, want a TID seen from both sides", r.Child)
	}
	if len(r.Resources) != len(Keys) {
		t.Errorf("resources: got %d, want %d (one for each of %v)", len(r.Resources), len(Keys), Keys)
	}
	for i, res := range r.Resources {
		if i < len(Keys) && res.Key != Keys[i] {
			t.Errorf("resource %d: got %s, want %s (report order)", i, res.Key, Keys[i])
		}
	}
}

// state is what a probe must leave in minirun as it found it.
type state struct {
	cwd   string
	umask uint32
	sigs  [65][4]uint64
	fds   map[string]string
}

func snapshot(t *testing.T) state {
	t.Helper()
	a, err := clonecore.NewArena(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	p := &prober{arena: a}
	if p.sigBuf, err = a.Alloc(32); err != nil {
		t.Fatal(err)
	}
	var s state
	if s.cwd, err = unix.Getwd(); err != nil {
		t.Fatal(err)
	}
	if s.umask, err = ownUmask(); err != nil {
		t.Fatal(err)
	}
	for sig := 1; sig <= 64; sig++ {
		if s.sigs[sig], err = p.sigaction(sig); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	s.fds = map[string]string{}
	for _, e := range ents {
		link, _ := os.Readlink("/proc/self/fd/" + e.Name())
		s.fds[e.Name()] = link
	}
	return s
}

// TestProbeRestores checks that minirun's cwd, umask, every signal handler
// and its fd table are as they were after each probe, whatever the child
// changed in them, and that the semaphore set is gone.
func TestProbeRestores(t *testing.T) {
	// A first probe starts the runtime's poller (the core's exec pipe),
	// whose fds then stay.
	if _, err := Run(0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags clonecore.Flags
		root  string
	}{
		{"thread", clonecore.Presets["thread"], ""},
		{"vm,fs,files", clonecore.VM | clonecore.FS | clonecore.FILES, ""},
		{"fs", clonecore.FS, ""},
		{"files", clonecore.FILES, ""},
		{"vm,sighand", clonecore.VM | clonecore.SIGHAND, ""},
		{"vfork thread", clonecore.VM | clonecore.SIGHAND | clonecore.THREAD | clonecore.FS | clonecore.FILES | clonecore.VFORK, ""},
		// Its exit sets minirun's SIGCHLD to SIG_IGN (zap_pid_ns_processes).
		{"vm,sighand,pid", clonecore.VM | clonecore.SIGHAND | clonecore.NEWPID, "a PID namespace needs CAP_SYS_ADMIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root != "" && os.Geteuid() != 0 {
				t.Skip("needs root: " + tc.root)
			}
			before := snapshot(t)
			r, err := Run(tc.flags)
			if err != nil {
				t.Fatalf("Run(%v): %v", tc.flags, err)
			}
			after := snapshot(t)
			if after.cwd != before.cwd {
				t.Errorf("cwd: got %s, want %s", after.cwd, before.cwd)
			}
			if after.umask != before.umask {
				t.Errorf("umask: got %03o, want %03o", after.umask, before.umask)
			}
			for sig := 1; sig <= 64; sig++ {
				if after.sigs[sig] != before.sigs[sig] {
					t.Errorf("signal %d: got disposition %#x, want %#x", sig, after.sigs[sig], before.sigs[sig])
				}
			}
			for fd, link := range after.fds {
				if before.fds[fd] != link {
					t.Errorf("fd %s: got %s left open, want it as before (%q)", fd, link, before.fds[fd])
				}
			}
			for fd, link := range before.fds {
				if _, ok := after.fds[fd]; !ok {
					t.Errorf("fd %s (%s): got closed, want it open", fd, link)
				}
			}
			// IPC_STAT with no buffer: EINVAL for a set that is gone,
			// EFAULT for one that is still there.
			if _, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(r.SemSet), 0, unix.IPC_STAT, 0, 0, 0); e != unix.EINVAL {
				t.Errorf("semaphore set %d: semctl(IPC_STAT) got %v, want EINVAL: the set should be gone", r.SemSet, e)
			}
		})
	}
}

// TestProbeRefuses checks that a flag set the kernel refuses is refused up
// front, with the rule in words, and starts nothing.
func TestProbeRefuses(t *testing.T) {
	for _, tc := range []struct {
		flags clonecore.Flags
		want  string
	}{
		{clonecore.NEWNS | clonecore.FS, "CLONE_NEWNS cannot be combined with CLONE_FS"},
		{clonecore.THREAD, "CLONE_THREAD requires CLONE_SIGHAND"},
		{clonecore.SIGHAND, "CLONE_SIGHAND requires CLONE_VM"},
		{clonecore.DETACHED, "clone3 refuses CLONE_DETACHED"},
		{clonecore.INTO_CGROUP, "CLONE_INTO_CGROUP needs a cgroup2 directory"},
		{clonecore.Flags(0x1), "unknown bits 0x1"},
	} {
		t.Run(tc.flags.String(), func(t *testing.T) {
			r, err := Run(tc.flags)
			if r != nil {
				t.Errorf("report: got %+v, want none", r)
			}
			if !errors.Is(err, clonecore.ErrInvalidFlags) || !strings.Contains(fmt.Sprint(err), tc.want) {
				t.Errorf("error: got %v, want one wrapping ErrInvalidFlags and saying %q", err, tc.want)
			}
		})
	}
}

// BenchmarkRun measures one whole probe: prepare, clone, wait while it is
// held, release, wait for the exit, compare and put back.
func BenchmarkRun(b *testing.B) {
	for _, name := range []string{"fork", "thread", "vfork"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(clonecore.Presets[name]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
