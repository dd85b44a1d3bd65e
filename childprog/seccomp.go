package childprog

import (
	"fmt"
	"strings"
	"unsafe"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/seccomp"
)

// Where the filter goes. The kernel takes a filter from a task that has
// no_new_privs set or holds CAP_SYS_ADMIN in its user namespace, and from
// then on every system call of the task and of what it execs passes the
// filter. So, as late as the kernel allows:
//
//   - process.noNewPrivileges: after PR_SET_NO_NEW_PRIVS, and after the
//     ready point (the gate) too, as the last step before execve. The
//     filter then constrains the container's process, not minirun's setup,
//     and the gate's read is not filtered.
//   - otherwise: before the capabilities and ids are dropped (identity),
//     while the child still holds CAP_SYS_ADMIN. Every call the child makes
//     after it — prctl, setgroups, setresgid, setresuid, capset, umask,
//     close_range, rt_sigprocmask, the points' write and read, execve —
//     must then pass the filter, as under runc.
//
// A filter with SCMP_ACT_NOTIFY rules returns a listener fd, opened
// O_CLOEXEC: the child leaves its number at Plan.Listener and stops at
// PointListener right after the seccomp call, and the parent copies the
// listener out with pidfd_getfd before the child goes on. The child's only
// calls in between are the point's write and read (listenerCalls): a rule
// that notifies either would wait for an answer no one can give yet, so
// Compile refuses it. When the child also stops at its gate (create, or
// startContainer hooks), the listener must reach its agent before create
// returns (runtime-spec sends it the container's state while creating), so
// the filter goes in before the gate there.

// listenerCalls are the system calls the child makes between installing a
// notifying filter and the parent holding its listener: the point's write
// and read, and without privilege the prctl that makes it dumpable for the
// parent (see point). TestCompileSeccompListenerCalls checks the list
// against the program.
func (c *compiler) listenerCalls() []string {
	if c.env.Rootless {
		return []string{"prctl", "write", "read"}
	}
	return []string{"write", "read"}
}

// seccompFilter compiles linux.seccomp for env's architecture and refuses
// what the child could not install.
func (c *compiler) seccompFilter() error {
	l := c.s.Linux
	if l == nil || l.Seccomp == nil {
		return nil
	}
	f, err := seccomp.Compile(l.Seccomp, seccomp.Options{Arch: c.env.SeccompArch})
	if err != nil {
		return err
	}
	if f.Notify {
		for i, sc := range l.Seccomp.Syscalls {
			if sc.Action != rspec.ActNotify {
				continue
			}
			for j, n := range sc.Names {
				for _, call := range c.listenerCalls() {
					if n == call {
						return &seccomp.FieldError{Field: fmt.Sprintf("linux.seccomp.syscalls[%d].names[%d]", i, j),
							Err: fmt.Errorf("SCMP_ACT_NOTIFY on %s: the container's process makes this call to hand the listener to minirun, before any agent holds the listener to answer it", n)}
					}
				}
			}
		}
	}
	c.plan.Seccomp = f
	return nil
}

// sockFprog is struct sock_fprog with the filter's address as a number:
// unix.SockFprog holds a Go pointer, and the filter lives in the arena.
type sockFprog struct {
	Len    uint16
	_      [6]byte
	Filter uint64
}

// The layout must be the kernel's (unix.SockFprog's).
var (
	_ [unsafe.Sizeof(sockFprog{}) - unsafe.Sizeof(unix.SockFprog{})]byte
	_ [unsafe.Sizeof(unix.SockFprog{}) - unsafe.Sizeof(sockFprog{})]byte
	_ [unsafe.Offsetof(sockFprog{}.Filter) - unsafe.Offsetof(unix.SockFprog{}.Filter)]byte
)

var seccompFlagNames = []flagName{
	{unix.SECCOMP_FILTER_FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"},
	{unix.SECCOMP_FILTER_FLAG_LOG, "SECCOMP_FILTER_FLAG_LOG"},
	{unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
	{unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, "SECCOMP_FILTER_FLAG_NEW_LISTENER"},
	{unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"},
}

// installSeccomp adds the seccomp(2) call that installs the filter, and for
// a notifying filter the hand-over of its listener (PointListener).
func (c *compiler) installSeccomp(why string) {
	f := c.plan.Seccomp
	if f == nil {
		return
	}
	prog := c.b.bytes(f.Encode())
	fprog, _ := kstruct(c.b, sockFprog{Len: uint16(len(f.Program)), Filter: uint64(prog)})
	label := fmt.Sprintf("linux.seccomp: install the filter, %d instructions (%s)", len(f.Program), why)
	args := []clonecore.Arg{clonecore.Imm(unix.SECCOMP_SET_MODE_FILTER), clonecore.Imm(f.Flags), clonecore.Imm(fprog)}
	shown := []string{"SECCOMP_SET_MODE_FILTER", flagString(uint64(f.Flags), seccompFlagNames), fmt.Sprintf("{len=%d, filter=…}", len(f.Program))}
	c.plan.SeccompStep = c.b.p.Len()
	if !f.Notify {
		c.b.call(label, unix.SYS_SECCOMP, "seccomp", shown, args)
		return
	}
	listener := c.b.newFD("seccomp listener")
	c.b.call(label, unix.SYS_SECCOMP, "seccomp", shown, args, clonecore.SaveTo(listener))
	c.b.renameResult(listener)
	word := c.b.word()
	c.plan.Listener = word
	c.plan.Flags |= clonecore.PIDFD
	c.b.call("linux.seccomp.listenerPath: hand the listener's fd number to minirun", clonecore.OpStore, "store",
		[]string{"&listener", c.b.names[listener]}, []clonecore.Arg{clonecore.Imm(word), listener.Value()})
	// The child keeps its copy until execve closes it (O_CLOEXEC): a
	// close here would be one more call to pass the filter.
	c.point(PointListener, "linux.seccomp.listenerPath: wait until minirun holds the listener")
}

// seccompBeforeIdentity says whether the filter goes in before the
// capabilities are dropped: without no_new_privs the kernel wants
// CAP_SYS_ADMIN of the child, which it holds only until then.
func (c *compiler) seccompBeforeIdentity() bool {
	return c.plan.Seccomp != nil && !c.s.Process.NoNewPrivileges
}

// seccompBeforeGate says whether a no_new_privs filter goes in before the
// ready point: a notifying filter's listener must reach its agent before
// create returns.
func (c *compiler) seccompBeforeGate() bool {
	return c.plan.Seccomp != nil && c.s.Process.NoNewPrivileges && c.plan.Seccomp.Notify
}

// explainSeccomp renders the filter for --explain, after the program.
func (p *Plan) explainSeccomp(b *strings.Builder) {
	if p.Seccomp == nil {
		return
	}
	b.WriteString("\nlinux.seccomp, compiled:\n")
	b.WriteString(p.Seccomp.Explain())
}
