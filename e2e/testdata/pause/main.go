// Command pause is the e2e tests' pod sandbox image: the process that holds
// a pod's namespaces. It does nothing but wait for signals: it reaps every
// child that exits (as PID 1 of a pod that shares its PID namespace, it
// inherits the orphans) and exits 0 on SIGTERM or SIGINT. Built static,
// alone in its image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		// One SIGCHLD may stand for several exits: reap until none is left.
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
