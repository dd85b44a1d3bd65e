// Command dockerprofile prints Docker's default seccomp profile as Docker
// hands it to a runtime on this machine (an OCI linux.seccomp object, for
// this GOARCH, with Docker's default capabilities), for bench/seccomp.sh.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	mobyseccomp "github.com/moby/profiles/seccomp"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerCaps is Docker's default capability set.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func main() {
	spec := &rspec.Spec{Process: &rspec.Process{Capabilities: &rspec.LinuxCapabilities{
		Bounding: dockerCaps, Effective: dockerCaps, Permitted: dockerCaps,
	}}}
	p, err := mobyseccomp.GetDefaultProfile(spec)
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerprofile:", err)
		os.Exit(1)
	}
}
