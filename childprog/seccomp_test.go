package childprog

import (
	"errors"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/seccomp"
)

// stepCalls returns the name of each step's call ("seccomp", "store",
// "write") and its label, in program order.
func stepCalls(p *Plan) (names, labels []string) {
	calls, labels := p.Program.Steps()
	for _, c := range calls {
		name, _, _ := strings.Cut(c, "(")
		names = append(names, name)
	}
	return names, labels
}

// indexOf returns the index of the first step whose listing line starts
// with prefix at or after from, or -1.
func indexOf(p *Plan, prefix string, from int) int {
	calls, _ := p.Program.Steps()
	for i := from; i < len(calls); i++ {
		if strings.HasPrefix(calls[i], prefix) {
			return i
		}
	}
	return -1
}

// TestCompileSeccompPlacement checks where the filter goes in each case
// the kernel and the protocol decide (see seccomp.go): before the
// capabilities are dropped without no_new_privs; after the gate, as the
// last step before execve, with it; before the gate when its listener must
// reach the agent while the container is created.
func TestCompileSeccompPlacement(t *testing.T) {
	noNotify := func(s *rspec.Spec) {
		s.Linux.Seccomp.Syscalls = slices.DeleteFunc(s.Linux.Seccomp.Syscalls, func(sc rspec.LinuxSyscall) bool { return sc.Action == rspec.ActNotify })
		s.Linux.Seccomp.ListenerPath = ""
	}
	noHooks := func(s *rspec.Spec) { s.Hooks = nil }
	tests := []struct {
		name   string
		file   string
		modify []func(*rspec.Spec)
		gate   bool
		// order: listing prefixes that must come in this order; the
		// seccomp call is "seccomp(".
		order  []string
		points []Point
	}{
		{name: "without no_new_privs: before the bounding set, the ids and capset", file: "seccomp.json",
			order: []string{`fchdir(fd</>)`, `seccomp(`, `prctl(PR_CAPBSET_DROP`, `setgroups(`, `setresgid(`, `setresuid(`, `capset(`, `execve(`}},
		{name: "without no_new_privs, gate: the gate's read is filtered too", file: "seccomp.json", gate: true,
			order:  []string{`seccomp(`, `capset(`, `write(fd<notify>, [ready]`, `read(fd<gate>`, `execve(`},
			points: []Point{PointReady}},
		{name: "no_new_privs, gate: after the gate, the last step before execve", file: "seccomp-nnp.json", modify: []func(*rspec.Spec){noNotify},
			order:  []string{`prctl(PR_SET_NO_NEW_PRIVS`, `rt_sigprocmask(`, `read(fd<gate>`, `seccomp(`, `execve(`},
			points: []Point{PointReady}},
		{name: "no_new_privs, no gate: the last step before execve", file: "seccomp-nnp.json", modify: []func(*rspec.Spec){noNotify, noHooks},
			order: []string{`prctl(PR_SET_NO_NEW_PRIVS`, `rt_sigprocmask(`, `seccomp(`, `execve(`}},
		{name: "no_new_privs, notify, gate: the listener before the gate", file: "seccomp-nnp.json",
			order:  []string{`prctl(PR_SET_NO_NEW_PRIVS`, `seccomp(`, `store(&listener`, `write(fd<notify>, [listener]`, `read(fd<sync>`, `write(fd<notify>, [ready]`, `read(fd<gate>`, `execve(`},
			points: []Point{PointListener, PointReady}},
		{name: "no_new_privs, notify, no gate", file: "seccomp-nnp.json", modify: []func(*rspec.Spec){noHooks},
			order:  []string{`prctl(PR_SET_NO_NEW_PRIVS`, `seccomp(`, `store(&listener`, `write(fd<notify>, [listener]`, `read(fd<sync>`, `execve(`},
			points: []Point{PointListener}},
		{name: "without no_new_privs, notify: the listener before the capabilities are dropped", file: "seccomp-nnp.json",
			modify: []func(*rspec.Spec){noHooks, func(s *rspec.Spec) { s.Process.NoNewPrivileges = false }},
			order:  []string{`seccomp(`, `store(&listener`, `write(fd<notify>, [listener]`, `read(fd<sync>`, `setresuid(`, `execve(`},
			points: []Point{PointListener}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := loadSpec(t, tt.file)
			for _, m := range tt.modify {
				m(s)
			}
			env := testEnv()
			env.Gate = tt.gate
			p, err := Compile(s, env)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Free()
			at := 0
			for _, want := range tt.order {
				i := indexOf(p, want, at)
				if i < 0 {
					t.Fatalf("%s missing after step %d (or out of order); listing:\n%s", want, at, p.Program.Explain())
				}
				at = i
			}
			names, _ := stepCalls(p)
			if n := strings.Count(strings.Join(names, " "), "seccomp"); n != 1 {
				t.Errorf("seccomp steps: got %d, want 1", n)
			}
			if !slices.Equal(p.Points, tt.points) {
				t.Errorf("points: got %v, want %v", p.Points, tt.points)
			}
			if got, want := p.Listener != 0, slices.Contains(tt.points, PointListener); got != want {
				t.Errorf("Listener word set: got %v, want %v", got, want)
			}
			if p.Seccomp == nil || len(p.Seccomp.Program) == 0 {
				t.Errorf("Plan.Seccomp: got %v, want the compiled filter", p.Seccomp)
			}
			if !strings.Contains(p.Explain(), "\nlinux.seccomp, compiled:\nseccomp filter for amd64") {
				t.Errorf("the listing lacks the filter after the program")
			}
		})
	}
}

// TestCompileSeccompListenerCalls: between the seccomp call of a notifying
// filter and the end of the listener point the child makes exactly the
// calls listenerCalls names (Compile refuses a notify rule on them), with
// and without privilege.
func TestCompileSeccompListenerCalls(t *testing.T) {
	for _, rootless := range []bool{false, true} {
		for _, nnp := range []bool{false, true} {
			s := loadSpec(t, "seccomp-nnp.json")
			s.Process.NoNewPrivileges = nnp
			env := testEnv()
			env.Rootless = rootless
			p, err := Compile(s, env)
			if err != nil {
				t.Fatal(err)
			}
			names, _ := stepCalls(p)
			from := slices.Index(names, "seccomp")
			to := indexOf(p, "read(fd<sync>", from)
			if from < 0 || to < 0 {
				t.Fatalf("rootless %v nnp %v: no seccomp call or listener point; listing:\n%s", rootless, nnp, p.Program.Explain())
			}
			var got []string
			for _, n := range names[from+1 : to+1] {
				if n != "store" && !slices.Contains(got, n) {
					got = append(got, n)
				}
			}
			want := (&compiler{env: env}).listenerCalls()
			slices.Sort(got)
			want = slices.Sorted(slices.Values(want))
			if !slices.Equal(got, want) {
				t.Errorf("rootless %v nnp %v: calls between the filter and the listener point: got %q, want %q", rootless, nnp, got, want)
			}
			p.Free()
		}
	}
}

// TestCompileSeccompRefused: what the compiler refuses, naming the field.
func TestCompileSeccompRefused(t *testing.T) {
	tests := []struct {
		name     string
		rootless bool
		modify   func(*rspec.LinuxSeccomp)
		want     string
	}{
		{name: "notify on write", modify: func(sc *rspec.LinuxSeccomp) {
			sc.Syscalls = append(sc.Syscalls, rspec.LinuxSyscall{Names: []string{"openat", "write"}, Action: rspec.ActNotify})
		}, want: "linux.seccomp.syscalls[2].names[1]: SCMP_ACT_NOTIFY on write: the container's process makes this call to hand the listener to minirun, before any agent holds the listener to answer it"},
		{name: "notify on read", modify: func(sc *rspec.LinuxSeccomp) {
			sc.Syscalls[0].Names = append(sc.Syscalls[0].Names, "read")
		}, want: "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY on read: the container's process makes this call to hand the listener to minirun, before any agent holds the listener to answer it"},
		{name: "notify on prctl without privilege", rootless: true, modify: func(sc *rspec.LinuxSeccomp) {
			sc.Syscalls[0].Names = append(sc.Syscalls[0].Names, "prctl")
		}, want: "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY on prctl: the container's process makes this call to hand the listener to minirun, before any agent holds the listener to answer it"},
		{name: "the compiler's own refusal", modify: func(sc *rspec.LinuxSeccomp) {
			sc.Syscalls[1].Action = rspec.ActAllow
		}, want: "linux.seccomp.syscalls[1].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return a value; SCMP_ACT_ALLOW does not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := loadSpec(t, "seccomp-nnp.json")
			tt.modify(s.Linux.Seccomp)
			env := testEnv()
			env.Rootless = tt.rootless
			p, err := Compile(s, env)
			var fe *seccomp.FieldError
			if err == nil || !errors.As(err, &fe) || err.Error() != tt.want {
				p.Free()
				t.Fatalf("Compile: got %v, want a *seccomp.FieldError %q", err, tt.want)
			}
		})
	}
	// prctl is the container's to notify when minirun has privilege.
	s := loadSpec(t, "seccomp-nnp.json")
	s.Linux.Seccomp.Syscalls[0].Names = append(s.Linux.Seccomp.Syscalls[0].Names, "prctl")
	p, err := Compile(s, testEnv())
	if err != nil {
		t.Fatalf("notify on prctl as root: got %v, want it compiled", err)
	}
	p.Free()
}
