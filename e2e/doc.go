// Package e2e drives an OCI runtime through the clients people use, offline,
// the way a user or a Kubernetes node would:
//
//   - podman, with --runtime and a fresh private store (run --rm, run -d +
//     exec + stop + rm, --memory and --pids-limit seen from inside, run -t
//     through a pty, the default seccomp profile);
//   - containerd's ctr against a private containerd (run --rm, task exec,
//     kill, pause and resume);
//   - a Kubernetes node's CRI path: a private containerd with its CRI plugin
//     and a runtime handler whose BinaryName is the runtime, driven by
//     crictl (a pod, a container, logs, exec, inspect, stats, a memory
//     limit seen from inside, stop and removal), with CNI's bridge plugin on
//     a bridge of the test's own;
//   - the OCI runtime-tools validation programs: every one runc passes on
//     this machine must pass with the runtime under test. runc's passes are
//     measured in the same run; when the runtime under test is runc itself,
//     it is held to the list of its passes measured when the test was
//     written (runcPasses), so that the test can still fail.
//
// The runtime under test is MINIRUN_E2E_RUNTIME=/path/to/binary, or by
// default the minirun binary the tests build (internal/testbin). Every test
// passes with MINIRUN_E2E_RUNTIME=/usr/sbin/runc; the same tests run
// unchanged against minirun once it has the lifecycle commands (create,
// start, state, kill, delete, exec). Until then, with the default runtime,
// they skip and say which commands are missing.
//
// Images are made here, never pulled: a busybox rootfs from Debian's
// busybox-static and a pause image from a tiny static Go program
// (testdata/pause), each written as an OCI image archive by Go code
// (oci_test.go), imported by `podman load` and `ctr images import`.
// crictl and the runtime-tools programs are built with `go install` from
// the Go module proxy once, into MINIRUN_E2E_TOOLS (default bin/e2e in the
// repository; `make e2e-tools` fills it).
//
// The tests need root and skip, saying why, without it or without a tool
// (podman, containerd, ctr, the CNI plugins, ip, busybox-static, go). Each
// test cleans up after itself even when it fails: containerd and its shims
// stopped, podman's containers and store removed, bridges and network
// namespaces deleted, shim sockets and CNI results removed, the runtime's
// state root emptied; and it fails if it left a cgroup, a mount, a network
// link or a process behind (the host is snapshotted before and after).
//
// One run at a time per machine: a second run waits for the first
// (a lock in /run/lock). A whole run takes about two minutes against runc
// with the tools built, about four and a half against another runtime
// (the validation programs run twice, once with runc); building crictl
// and the validation programs the first time adds about a minute.
// runtime-calls.md lists the runtime commands and flags each client called.
//
// Run:
//
//	make e2e                                       # the default runtime
//	MINIRUN_E2E_RUNTIME=/usr/sbin/runc go test -count=1 ./e2e/
//	MINIRUN_E2E_ARGV=/tmp/argv.log MINIRUN_E2E_RUNTIME=/usr/sbin/runc go test -count=1 ./e2e/
//
// MINIRUN_E2E_ARGV=FILE records every command line the clients give the
// runtime: the clients are handed a small sh script that appends its
// arguments to FILE and execs the runtime, leaving its stdio, fds and
// signal dispositions as the client made them; TestMain prints a summary of
// the commands and flags at the end.
package e2e
