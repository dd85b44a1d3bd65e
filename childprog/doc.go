// Package childprog compiles an OCI runtime-spec config into a child
// program: the flat list of raw system calls (clonecore.Program) that a
// cloned child runs, in assembly, from the clone to execve. The child never
// runs Go (docs/design.md, "Why the child never runs Go"), so everything a
// container's process needs — namespaces joined, mounts, pivot_root, device
// nodes, identity, capabilities, limits — is decided here, in Go, before
// the clone.
//
// Compile is a pure function of the spec and a CompileEnv of host facts
// gathered elsewhere (container.HostEnv): it reads nothing from the
// machine, so the golden listings in testdata/compile need neither root nor
// a rootfs. Its result, a Plan, is the clone flags, the program, and what
// the parent must do at each point where the child stops and waits for it.
//
//   - compile.go: Plan, CompileEnv, Compile; namespaces, the user
//     namespace and the double fork.
//   - mounts.go: the rootfs and every mount, with the fd-based mount API.
//   - process.go: default devices and linux.devices, sysctls, cwd,
//     rlimits and the last steps before execve.
//   - settings.go: scheduler, I/O priority, memory policy, personality,
//     and an exec'd process's CPU affinity, set while still privileged.
//   - identity.go: groups, uid and gid, capabilities (none when the spec
//     names none), execve.
//   - seccomp.go: linux.seccomp, compiled by package seccomp and installed
//     as late as the kernel allows; a notifying filter's listener.
//   - cgroup.go: the child's own join of its cgroup v1 hierarchies.
//   - arena.go: the upper bound of the arena a config needs, computed
//     before the compile.
//   - terminal.go: process.terminal, a pty from the container's devpts.
//   - builder.go: one method per system call, each rendered strace-like
//     for --explain.
package childprog
