package seccomp

import (
	"os"
	"runtime"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerCaps is Docker's default capability set: the profile's rules that
// depend on capabilities are chosen by it (no CAP_SYS_ADMIN: unshare,
// mount, clone with namespace flags stay refused).
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func specWithCaps() *rspec.Spec {
	return &rspec.Spec{Process: &rspec.Process{Capabilities: &rspec.LinuxCapabilities{
		Bounding: dockerCaps, Effective: dockerCaps, Permitted: dockerCaps,
	}}}
}

// dockerProfile is Docker's default profile as Docker hands it to a
// runtime on this machine (moby/profiles picks the architectures by
// runtime.GOARCH and the rules by capabilities and kernel version).
func dockerProfile(t testing.TB) *rspec.LinuxSeccomp {
	t.Helper()
	p, err := mobyseccomp.GetDefaultProfile(specWithCaps())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// podmanProfile is podman's default profile from testdata, converted the
// same way (containers/common's format is Docker's).
func podmanProfile(t testing.TB) *rspec.LinuxSeccomp {
	t.Helper()
	body, err := os.ReadFile("testdata/podman-seccomp.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := mobyseccomp.LoadProfile(string(body), specWithCaps())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProfilesCompile(t *testing.T) {
	for _, tc := range []struct {
		name string
		get  func(testing.TB) *rspec.LinuxSeccomp
	}{{"docker", dockerProfile}, {"podman", podmanProfile}} {
		for _, goarch := range []string{"amd64", "arm64"} {
			t.Run(tc.name+"/"+goarch, func(t *testing.T) {
				p := tc.get(t)
				if goarch != runtime.GOARCH {
					// The profile as the runtime of the other machine would get
					// it (its rules chosen for this one's GOARCH: close enough
					// for comparing the filter with the reference).
					q := *p
					q.Architectures = map[string][]rspec.Arch{
						"amd64": {rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32},
						"arm64": {rspec.ArchAARCH64, rspec.ArchARM},
					}[goarch]
					p = &q
				}
				f, err := Compile(p, Options{Arch: goarch})
				if err != nil {
					t.Fatal(err)
				}
				if err := checkProgram(f.Program); err != nil {
					t.Fatalf("the kernel would refuse the program: %v", err)
				}
				// Every call the profile names, and its neighbours, decide
				// as the reference says; and the tree keeps each decision
				// short.
				maxSteps := 0
				var names []string
				for _, sc := range p.Syscalls {
					names = append(names, sc.Names...)
				}
				for _, ap := range f.abis {
					for _, n := range names {
						nr, ok := ap.abi.table.lookup(n)
						if !ok {
							continue
						}
						for _, d := range []uint32{nr - 1, nr, nr + 1} {
							for _, args := range [][6]uint64{{}, {1, 2, 3}, {0x7e020000}, {8}, {40}, {^uint64(0)}} {
								sd := seccompData{nr: d, arch: ap.abi.audit, args: args}
								got, steps, err := runBPF(f.Program, sd)
								if err != nil {
									t.Fatal(err)
								}
								if want := refDecide(p, goarch, false, sd); got != want {
									t.Fatalf("%s %s (%d) args %#x: filter %s, reference %s", ap.abi.name, n, d, args, retName(got), retName(want))
								}
								if rules := ap.sys[d]; (rules == nil || rules.uncond != nil) && steps > maxSteps {
									maxSteps = steps
								}
							}
						}
					}
				}
				t.Logf("%d instructions; at most %d run for a call decided by its number alone; %d skipped", len(f.Program), maxSteps, len(f.Skipped))
				// log2 of a few hundred intervals, the arch check and the
				// loads: a chain would be hundreds.
				if maxSteps > 20 {
					t.Errorf("a call decided by number alone runs %d instructions, want at most 20", maxSteps)
				}
			})
		}
	}
}
