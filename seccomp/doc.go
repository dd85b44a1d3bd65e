// Package seccomp compiles an OCI seccomp policy (runtime-spec v1.3.0
// linux.seccomp) into a classic BPF program for seccomp(2), in pure Go.
//
// runc and crun hand the policy to libseccomp, a C library. minirun builds
// without cgo, and its cloned child runs no Go at all: the parent compiles
// the filter here, copies Filter.Program into the child's memory, and the
// child installs it with one system call just before execve. Nothing in a
// Filter needs Go to run in the child.
//
// # What the kernel runs
//
// For every system call the kernel runs the program over struct
// seccomp_data {nr, arch, instruction_pointer, args[6]} and does what the
// returned SECCOMP_RET_* value says. The program first asks which ABI made
// the call (seccomp_data.arch, an AUDIT_ARCH_* value), then searches the
// call's number in a binary tree over intervals of numbers, each interval
// ending in its decision: a return, or a few argument tests. Docker's
// default profile on amd64 (architectures x86_64, x86, x32) starts so:
//
//	ld [arch]
//	jeq AUDIT_ARCH_X86_64 ──► ld [nr]
//	jeq AUDIT_ARCH_I386 ─┐    nr >= 0x4000003b? ── yes ──► …x32's numbers (bit 30 set)
//	ret KILL_THREAD      │    │ no
//	(any other ABI)      │    nr >= 305? ── yes ──► …
//	                     │    │ no
//	                     │    nr >= 213? ── yes ──► …
//	                     │    │ no
//	                     │    …
//	                     │    nr >= 41? ── yes ──► socket: ld [arg0 high]; ld [arg0]; …; ret ALLOW
//	                     │    │ no                         …; ret ERRNO(EPERM)
//	                     │    ret ALLOW                    (0-40: read…sendfile, one interval)
//	                     └──► ld [nr]; the same over i386's numbers
//
// Neighbouring numbers with the same decision make one interval: Docker's
// profile, some 350 names, is 66 intervals on x86_64 (121 on i386, 95 on
// x32), so a call costs the arch test, the load and seven comparisons
// before its return, at most 13 instructions. Explain prints the whole
// program of a policy with these labels.
//
// Classic BPF loads 32-bit words and its conditional jumps reach at most 255
// instructions ahead. A 64-bit argument is compared word by word (the high
// word decides unless equal, then the low one), as libseccomp does; a jump
// whose target lies farther goes through an unconditional BPF_JA placed
// right after it. A program longer than the kernel's 4096 instructions
// (BPF_MAXINSNS) is refused with an error naming linux.seccomp.
//
// # The policy's meaning
//
// The runtime spec leaves much to "what libseccomp does". This package
// implements the following, and its tests check the compiled programs
// against a separate evaluation of exactly these rules:
//
//   - ABIs. The native ABI (x86_64 on amd64, aarch64 on arm64) is always in
//     the filter, as libseccomp puts it in every filter; compat ABIs (x86
//     and x32 on amd64, arm on arm64) when listed in architectures. A call
//     from any other ABI gets KILL_THREAD, libseccomp's bad-architecture
//     action, which runc keeps. x32 calls arrive on AUDIT_ARCH_X86_64 with
//     __X32_SYSCALL_BIT (0x40000000) in nr: as in libseccomp, nr >=
//     0x40000000 there is x32, and without x32 listed it is a bad
//     architecture. Architectures of other machines (mips, s390x…) are
//     accepted and left out: the kernel here never reports them (Skipped).
//   - Names are looked up per ABI in tables generated from Linux's UAPI
//     headers (zsysnum.go). A name an ABI lacks is skipped there, and one no
//     ABI has is skipped everywhere, as runc and libseccomp do (Skipped).
//   - Actions: SCMP_ACT_KILL is KILL_THREAD (as in runc). ERRNO returns
//     errnoRet (default EPERM, at most 4095); TRACE hands the tracer errnoRet
//     (default EPERM, 16 bits). errnoRet on any other action is refused.
//   - A rule whose action equals the default action is dropped (runc drops
//     it; libseccomp refuses it).
//   - Arguments in one rule are AND-ed. If a rule compares one argument twice,
//     each comparison becomes a rule of its own, OR-ed (runc's fallback, as
//     libseccomp takes one comparison per argument per rule).
//     MASKED_EQ compares arg&value with valueTwo&value (libseccomp masks the
//     datum too); a word whose mask is zero is not compared, and a rule whose
//     comparisons all are such is unconditional (libseccomp 2.6; 2.5 compared
//     such a word with zero). On the 32-bit ABIs (x86, x32, arm) only the low 32 bits of
//     the argument and of the value are compared, as libseccomp does.
//   - Several rules for one call: the first rule without conditions decides
//     alone, whatever comes before or after it (libseccomp keeps the first
//     unconditional rule and drops conditional ones beside it). Otherwise
//     the conditional rules are tried in config order and the first that
//     matches decides ("only the first entry is effective", runtime-spec's
//     Linux configuration, on seccomp); none matching, the default action. For rules with
//     the same action this is libseccomp's OR; for overlapping rules with
//     different actions libseccomp's outcome depends on its internal tree
//     order or it refuses the policy (EEXIST), and config order is what the
//     spec states.
//   - On i386, socket and SysV IPC calls can also arrive multiplexed through
//     socketcall(2) and ipc(2). As libseccomp does, a rule for such a call is
//     also a rule for the multiplexer with argument 0 equal to the call's
//     number (linux/net.h, linux/ipc.h), keeping the rule's other argument
//     tests: a refused socket(2) is refused through socketcall too.
//   - runc's -ENOSYS answer: unless the default action lets calls through
//     (ALLOW, LOG, TRACE) or already is ERRNO(ENOSYS), on each ABI listed in
//     architectures a number above the largest one the policy names there
//     gets ERRNO(ENOSYS), before any rule: such a call is newer than the
//     policy, and ENOSYS makes libc fall back to an older call where EPERM
//     would fail (clone3 → clone, faccessat2 → faccessat). Options.NoENOSYS
//     turns it off.
//   - Flags: SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW and _WAIT_KILLABLE_RECV go
//     to Filter.Flags; a SCMP_ACT_NOTIFY rule adds _NEW_LISTENER and sets
//     Filter.Notify. WAIT_KILLABLE_RECV without a NOTIFY rule is refused (the
//     kernel refuses it without a listener). NOTIFY cannot be the default.
//
// # Installing it
//
// seccomp(SECCOMP_SET_MODE_FILTER, Filter.Flags, &sock_fprog{len(Program),
// Program}) (Encode gives the array's bytes). The kernel takes it from a
// task that has no_new_privs set or holds CAP_SYS_ADMIN in its user
// namespace; so, as runc does:
//
//   - process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS) and then the
//     filter, as the last step before execve, after capabilities and ids are
//     set: the filter then only sees execve and the container's own calls.
//   - otherwise: the filter goes in while the child still holds
//     CAP_SYS_ADMIN, before it drops capabilities, and every call the child
//     makes after it (capset, setresuid, execve…) must pass the filter.
//
// The child is one thread: no TSYNC. With Filter.Notify the call returns a
// listener fd, opened O_CLOEXEC: the parent must take it (pidfd_getfd, or
// SCM_RIGHTS) before the child's execve closes it, and the child must not
// make a notified call before the parent holds the listener.
package seccomp
