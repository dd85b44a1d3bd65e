// Command getppidloop times a tight loop of getppid(2) calls, the cost of a
// system call under a seccomp filter, for bench/seccomp.sh. With -filter it
// first compiles an OCI linux.seccomp policy with minirun's seccomp package
// and installs it on itself; without, it runs under whatever filter it was
// started with (runc's, in the benchmark's container).
//
// It is built static (CGO_ENABLED=0) so that it runs alone in a container.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/seccomp"
)

func main() {
	n := flag.Int("n", 10000000, "how many getppid calls to time")
	filter := flag.String("filter", "", "an OCI linux.seccomp policy (JSON) to compile and install first")
	flag.Parse()
	runtime.LockOSThread()
	if *filter != "" {
		if err := install(*filter); err != nil {
			fmt.Fprintln(os.Stderr, "getppidloop:", err)
			os.Exit(1)
		}
	}
	start := time.Now()
	for i := 0; i < *n; i++ {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	el := time.Since(start)
	// Say which filters ran: the benchmark checks it measured what it meant.
	mode, filters := "?", "?"
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
				mode = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "Seccomp_filters:"); ok {
				filters = strings.TrimSpace(v)
			}
		}
	}
	fmt.Printf("%.1f ns/getppid seccomp=%s filters=%s\n", float64(el.Nanoseconds())/float64(*n), mode, filters)
}

func install(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s rspec.LinuxSeccomp
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f, err := seccomp.Compile(&s, seccomp.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(f.Program)), Filter: &f.Program[0]}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		f.Flags|unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f.Program)
	if e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}
