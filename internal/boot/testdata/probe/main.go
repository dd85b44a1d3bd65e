// Command probe prints what package boot recorded, for its tests: the
// entry, init and main times, the guard's mark (GuardEnv, "-" if unset),
// whether its binary lies on a read-only mount, and how many PROBE_
// variables its environment holds.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/minirun/minirun/internal/boot"
)

func main() {
	boot.MarkMain()
	mark, ok := os.LookupEnv(boot.GuardEnv)
	if !ok {
		mark = "-"
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/proc/self/exe", &st); err != nil {
		fmt.Println("statfs:", err)
		os.Exit(1)
	}
	n := 0
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PROBE_") {
			n++
		}
	}
	const stRdonly = 1
	fmt.Println(boot.Entry(), boot.Init(), boot.Main(), mark, st.Flags&stRdonly != 0, n)
}
