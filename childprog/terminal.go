package childprog

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
)

// terminal gives the process a pty from the container's own devpts
// (process.terminal). The child opens the master through /dev/ptmx, gets
// the peer with TIOCGPTPEER (no path lookup for the slave), hands the
// master's fd number to the parent and waits while the parent copies the
// master out of it with pidfd_getfd:
//
//	child                                    parent
//	  open /dev/ptmx = master
//	  TIOCSPTLCK 0; TIOCGPTPEER = slave
//	  *Console = master
//	  PointConsole: write(notify) ---------> pidfd_getfd(pidfd, *Console)
//	  read(sync) <---------------------------  write(sync)
//	  close master; setsid; TIOCSCTTY slave; slave on fds 0, 1, 2
func (c *compiler) terminal() {
	p := c.s.Process
	if !p.Terminal {
		return
	}
	label := "process.terminal"
	console := c.b.word()
	c.plan.Console = console
	c.plan.Flags |= clonecore.PIDFD
	master := c.b.newFD("ptmx")
	c.b.openat(label+": open the container's /dev/ptmx", atFDCWD, "/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0, master)
	zero := c.b.words(0)
	c.b.call(label+": unlock the pty", unix.SYS_IOCTL, "ioctl", []string{c.b.names[master], "TIOCSPTLCK", "&0"},
		[]clonecore.Arg{master.Value(), clonecore.Imm(unix.TIOCSPTLCK), clonecore.Imm(zero)})
	slave := c.b.newFD("pty")
	c.b.call(label+": open the pty's peer", unix.SYS_IOCTL, "ioctl", []string{c.b.names[master], "TIOCGPTPEER", "O_RDWR|O_NOCTTY"},
		[]clonecore.Arg{master.Value(), clonecore.Imm(unix.TIOCGPTPEER), clonecore.Imm(unix.O_RDWR | unix.O_NOCTTY)}, clonecore.SaveTo(slave))
	c.b.renameResult(slave)
	if cs := p.ConsoleSize; cs != nil {
		ws := c.b.bytes([]byte{byte(cs.Height), byte(cs.Height >> 8), byte(cs.Width), byte(cs.Width >> 8), 0, 0, 0, 0})
		c.b.call("process.consoleSize", unix.SYS_IOCTL, "ioctl", []string{c.b.names[slave], "TIOCSWINSZ", fmt.Sprintf("{rows=%d, cols=%d}", cs.Height, cs.Width)},
			[]clonecore.Arg{slave.Value(), clonecore.Imm(unix.TIOCSWINSZ), clonecore.Imm(ws)})
	}
	c.b.call(label+": hand the master's fd number to minirun", clonecore.OpStore, "store", []string{"&console", c.b.names[master]},
		[]clonecore.Arg{clonecore.Imm(console), master.Value()})
	c.point(PointConsole, label+": wait until minirun holds the master")
	c.b.close(label, c.b.slotFD(master))
	c.b.simple(label+": a session of its own", unix.SYS_SETSID, "setsid", nil)
	c.b.call(label+": the pty is the session's terminal", unix.SYS_IOCTL, "ioctl", []string{c.b.names[slave], "TIOCSCTTY", "0"},
		[]clonecore.Arg{slave.Value(), clonecore.Imm(unix.TIOCSCTTY), clonecore.Imm(0)})
	for fd := 0; fd < 3; fd++ {
		c.b.call(label+": the pty is stdin, stdout and stderr", unix.SYS_DUP3, "dup3", []string{c.b.names[slave], itoa(fd), "0"},
			[]clonecore.Arg{slave.Value(), clonecore.Imm(fd), clonecore.Imm(0)})
	}
	c.b.close(label, c.b.slotFD(slave))
}
