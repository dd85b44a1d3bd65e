package childprog

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// arenaSpecs are configs of every shape the compiler knows, the huge ones
// of issue 6 among them (10,000 env entries, 10,000 mounts, 2,000 long
// args failed with "child arena full" in a 256 KiB arena).
func arenaSpecs(t *testing.T) map[string]*rspec.Spec {
	t.Helper()
	out := map[string]*rspec.Spec{}
	for _, name := range []string{"runc-default", "rootless", "joins", "full"} {
		s, err := specs.Load(filepath.Join("testdata", "compile", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = s
	}
	gen := func(mutate func(s *rspec.Spec)) *rspec.Spec {
		s := specs.Generate(specs.GenerateOptions{})
		mutate(s)
		return s
	}
	out["generate"] = gen(func(*rspec.Spec) {})
	out["generate rootless"] = specs.Generate(specs.GenerateOptions{Rootless: true, UID: 1000, GID: 1000})
	out["generate host-root"] = specs.Generate(specs.GenerateOptions{HostRoot: true, Exists: func(string) bool { return true }})
	out["10,000 env entries"] = gen(func(s *rspec.Spec) {
		for i := range 10000 {
			s.Process.Env = append(s.Process.Env, fmt.Sprintf("VARIABLE_%05d=%s", i, strings.Repeat("v", 30)))
		}
	})
	out["2,000 long args"] = gen(func(s *rspec.Spec) {
		for range 2000 {
			s.Process.Args = append(s.Process.Args, strings.Repeat("a", 1000))
		}
	})
	out["10,000 mounts"] = gen(func(s *rspec.Spec) {
		for i := range 10000 {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: fmt.Sprintf("/m/%d", i), Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1k", "mode=755"}})
		}
	})
	out["deep mounts, short names"] = gen(func(s *rspec.Spec) {
		for i := range 10 {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: strings.Repeat("/a", 1000) + fmt.Sprint(i), Type: "tmpfs", Source: "tmpfs"})
		}
	})
	out["deep mounts, long names"] = gen(func(s *rspec.Spec) {
		for i := range 50 {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: strings.Repeat("/"+strings.Repeat("n", 250), 16) + fmt.Sprint(i),
				Type: "bind", Source: "/etc/hosts", Options: []string{"rbind", "ro", "rnosuid", "rprivate"}})
		}
	})
	out["many options"] = gen(func(s *rspec.Spec) {
		var opts []string
		for i := range 200 {
			opts = append(opts, fmt.Sprintf("opt%d=%s", i, strings.Repeat("x", 100)), "a,b,c,d,e,f")
		}
		s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/o", Type: "tmpfs", Source: "tmpfs", Options: opts})
	})
	out["devices, masks, sysctls"] = gen(func(s *rspec.Spec) {
		l := s.Linux
		for i := range 2000 {
			l.Devices = append(l.Devices, rspec.LinuxDevice{Path: fmt.Sprintf("/dev/d/%d/e/%d", i, i), Type: "c", Major: 1, Minor: 3, UID: new(uint32), GID: new(uint32)})
			l.MaskedPaths = append(l.MaskedPaths, fmt.Sprintf("/proc/masked/%d", i))
			l.ReadonlyPaths = append(l.ReadonlyPaths, fmt.Sprintf("/proc/readonly/%d", i))
		}
		l.Sysctl = map[string]string{}
		for i := range 2000 {
			l.Sysctl[fmt.Sprintf("net.ipv4.conf.eth%d.forwarding", i)] = "1"
		}
	})
	out["groups, capabilities, PATH, cwd"] = gen(func(s *rspec.Spec) {
		p := s.Process
		p.User.UID = 1000
		for i := range specs.MaxGroups {
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(i))
		}
		all := specs.Capabilities()
		p.Capabilities = &rspec.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all, Inheritable: all, Ambient: all}
		p.Env = append(p.Env, "PATH="+strings.Repeat("/usr/local/some/bin:", 1000)+"/bin")
		p.Cwd = strings.Repeat("/deep", 819)
		p.Terminal = true
		p.Scheduler = &rspec.Scheduler{Policy: rspec.SchedBatch}
		p.IOPriority = &rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_BE}
		p.ExecCPUAffinity = &rspec.CPUAffinity{Initial: "0-8191", Final: "0-8191"}
		s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolBind, Nodes: "0-8191"}
		s.Linux.Personality = &rspec.LinuxPersonality{Domain: rspec.PerLinux32}
	})
	return out
}

// TestArenaEstimate compiles every config of arenaSpecs: each must fit the
// arena its estimate sizes (with what starting the program takes), and the
// estimate must stay within a few times of what is used (past what every
// program costs), so that it keeps meaning something.
func TestArenaEstimate(t *testing.T) {
	for name, s := range arenaSpecs(t) {
		t.Run(name, func(t *testing.T) {
			env := testEnv()
			env.IsFile = func(p string) bool { return p == "/etc/hosts" }
			for i := range 10 {
				env.CgroupHierarchies = append(env.CgroupHierarchies, CgroupHierarchy{Dir: fmt.Sprintf("controller%d", i), FSType: "cgroup", Options: "cpu,cpuacct"})
			}
			plan, err := Compile(s, env)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			defer plan.Free()
			used := plan.Arena.Used() + plan.Program.StartSize()
			est := arenaEstimate(s, env)
			t.Logf("%d steps, %d bytes used, %d estimated (%.1f×)", plan.Program.Len(), used, est, float64(est)/float64(used))
			if used > est {
				t.Errorf("got %d bytes used, want at most the estimate, %d", used, est)
			}
			if est > 4*used+256<<10 {
				t.Errorf("estimate %d bytes: got more than 4 times the %d used and 256 KiB, want a bound that means something", est, used)
			}
		})
	}
}

// TestCompileLarge: the arena grows with the config: thousands of mounts
// and masked paths compile, and so do mounts whose long paths outgrow the
// first estimate of the room they need.
func TestCompileLarge(t *testing.T) {
	for _, c := range []struct {
		name   string
		n      int
		subdir string
	}{
		{"3000 mounts and masked paths", 3000, ""},
		{"200 mounts with long paths", 200, strings.Repeat("d", 250) + "/" + strings.Repeat("e", 250)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := loadSpec(t, "runc-default.json")
			for i := range c.n {
				dst := fmt.Sprintf("/m/%s/%d", c.subdir, i)
				s.Mounts = append(s.Mounts, rspec.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid"}})
				if c.subdir == "" {
					s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, fmt.Sprintf("/masked/f%d", i))
				}
			}
			plan, err := Compile(s, testEnv())
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			defer plan.Free()
			calls, labels := plan.Program.Steps()
			last := fmt.Sprintf("mounts[%d]", len(s.Mounts)-1)
			found, execs := false, false
			for i, l := range labels {
				found = found || strings.HasPrefix(l, last+":")
				execs = execs || strings.HasPrefix(calls[i], "execve(")
			}
			if !found || !execs {
				t.Errorf("program of %d steps: %s compiled %v, an execve %v; want every mount and the execve", len(calls), last, found, execs)
			}
		})
	}
}
