package seccomp

import (
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// BenchmarkCompileDockerDefault: what compiling Docker's default profile
// costs minirun's start (target: at most 1 ms).
func BenchmarkCompileDockerDefault(b *testing.B) {
	p := dockerProfile(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(p, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetppid: what the filter costs each system call. A helper
// process makes b.N getppid calls in a tight loop, with no filter and under
// the compiled Docker and podman profiles; ns/op is per getppid, timed
// inside the helper (its start is not counted). bench/seccomp.sh runs the
// same loop under runc's libseccomp filter.
func BenchmarkGetppid(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    func(testing.TB) *rspec.LinuxSeccomp
	}{
		{"none", func(testing.TB) *rspec.LinuxSeccomp { return nil }},
		{"docker", dockerProfile},
		{"podman", podmanProfile},
	} {
		b.Run(bc.name, func(b *testing.B) {
			out, died, stderr := runHelperReq(b, helperReq{Policy: bc.p(b), Loop: b.N})
			if died != nil {
				b.Fatalf("helper died: %v: %s", died, stderr)
			}
			b.ReportMetric(float64(out.LoopNs)/float64(b.N), "ns/op")
		})
	}
}
