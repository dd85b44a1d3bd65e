package childprog

import (
	"path"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// The arena's size. Everything the child reads — its steps, every string
// and struct they point to, its saved results — lives in one arena, and an
// arena cannot grow: the steps hold the addresses of what it has handed
// out, so moving it would move what they point at. Its size is therefore
// decided before the compile, as an upper bound computed from the config:
// a config with ten thousand mounts gets an arena that holds them. The
// bound is generous (a string is counted as if each of its path components
// cost a directory's steps) and costs little: the arena is mapped without
// reserving memory, and only the pages the compile writes are ever made.
// TestArenaEstimate compiles configs of every shape, huge ones included,
// and checks that the bound holds and is not wildly above what is used.

const (
	// stepCost bounds what one step costs: its 128 bytes, its result slot
	// and a small struct of the kernel's ABI it may point to.
	stepCost = 128 + 8 + 48
	// arenaBase covers what every program has whatever the config: the
	// lifeline, the points, /dev's symlinks, pivot_root, the terminal, the
	// last steps before execve, the child's block.
	arenaBase = 64 << 10
)

// strCost bounds a copied string of n bytes: its NUL and 16-byte alignment.
func strCost(n int) int { return n + 17 }

// pathCost bounds the steps that make and open a path inside the rootfs
// one component at a time: for each, a mkdirat of the component, an
// openat2 of the path so far with its open_how, a close. The components
// add up to the path; each path so far is at most the whole.
func pathCost(p string) int {
	k := strings.Count(p, "/") + 2
	return k*(3*stepCost+32+strCost(len(p))+17) + len(p)
}

// arenaEstimate is an upper bound of the arena a compile of s needs,
// including what starting its program takes.
func arenaEstimate(s *rspec.Spec, env CompileEnv) int {
	n := arenaBase + 8*strCost(len(env.Rootfs)) + 8*strCost(len(env.BundleDir))
	p := s.Process
	if p != nil {
		// argv and envp: a pointer and a string each.
		for _, l := range [][]string{p.Args, p.Env} {
			n += 16 + 8
			for _, a := range l {
				n += 8 + strCost(len(a))
			}
		}
		// One execve a directory of the container's PATH.
		name := 0
		if len(p.Args) > 0 {
			name = len(p.Args[0])
		}
		paths := []string{DefaultPath}
		for _, e := range p.Env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				paths = append(paths, v)
			}
		}
		for _, v := range paths {
			dirs := strings.Count(v, ":") + 1
			n += dirs*(stepCost+strCost(len("./")+name)) + len(v)
		}
		n += 2 * pathCost(path.Clean("/"+p.Cwd))
		n += len(p.Rlimits) * stepCost
		n += 4*len(p.User.AdditionalGids) + 32 + 3*stepCost
		n += (env.LastCap + 1 + 64) * stepCost // the bounding set, capset, ambient
		if c := p.Capabilities; c != nil {
			n += len(c.Ambient) * stepCost
		}
		n += 2*(1024+stepCost) + 2*stepCost // CPU affinity, scheduler, I/O priority
	}
	n += 2 * (stepCost + strCost(len(s.Hostname)+len(s.Domainname)))
	for _, m := range s.Mounts {
		n += pathCost(m.Destination) + 16*stepCost + 4*strCost(len(m.Source)+len(m.Type))
		for _, o := range m.Options {
			// An option is a flag, or fsconfig key=value pairs split at
			// commas: a step and two strings each.
			n += (strings.Count(o, ",") + 1) * (stepCost + 2*strCost(len(o)))
		}
		if m.Type == "cgroup" {
			for _, h := range env.CgroupHierarchies {
				n += pathCost(m.Destination+"/"+h.Dir) + 16*stepCost + 4*strCost(len(h.Options)+len(h.FSType)+len("cgroup"))
			}
			n += 2 * (pathCost(m.Destination) + 16*stepCost)
		}
	}
	for _, d := range defaultDevices {
		n += pathCost(d.Path) + 6*stepCost + 2*strCost(len(d.Path))
	}
	if l := s.Linux; l != nil {
		n += len(l.Namespaces) * (4*stepCost + 16)
		for _, d := range l.Devices {
			n += pathCost(d.Path) + 6*stepCost + 2*strCost(len(d.Path))
		}
		for _, m := range l.MaskedPaths {
			n += 4*stepCost + 4*strCost(len(m))
		}
		for _, r := range l.ReadonlyPaths {
			n += 4*stepCost + 4*strCost(len(r)) + 32
		}
		for k, v := range l.Sysctl {
			n += 4*stepCost + 2*strCost(len(k)+len(v)+len("/proc/sys/"))
		}
		n += 1024 + 2*stepCost // memory policy, personality
	}
	return n
}
