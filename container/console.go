package container

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
	"github.com/minirun/minirun/clonecore"
)

// takeConsole copies the pty master out of the child with pidfd_getfd, at
// PointConsole, and sizes the pty: process.consoleSize (the child did
// that), or minirun's own terminal's size.
func takeConsole(task *clonecore.Task, plan *childprog.Plan, size *rspec.Box) (*os.File, error) {
	master, err := takeFD(task, plan, plan.Console, "pty master")
	if err != nil {
		return nil, fmt.Errorf("process.terminal: take the pty master from the container: %w", err)
	}
	if size == nil {
		if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
			unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
		}
	}
	return master, nil
}

// takeFD copies an fd of the container's process out of it with
// pidfd_getfd: the one whose number the child left at arena word w.
func takeFD(task *clonecore.Task, plan *childprog.Plan, w uintptr, name string) (*os.File, error) {
	pidfd := task.PidFD
	if plan.DoubleFork {
		// The fd was opened by the grandchild, whose TID the middle task
		// left before it forked.
		var err error
		if pidfd, err = unix.PidfdOpen(int(int32(plan.Arena.Load64(plan.GrandchildTID))), 0); err != nil {
			return nil, fmt.Errorf("pidfd of the container's process: %w", err)
		}
		defer unix.Close(pidfd)
	}
	fd, err := unix.PidfdGetfd(pidfd, int(int32(plan.Arena.Load64(w))), 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// consoleRelay copies between minirun's stdio and the pty master, with
// minirun's terminal (if stdin is one) in raw mode so that keys reach the
// container's line discipline untouched.
type consoleRelay struct {
	master  *os.File
	in      *os.File
	saved   *unix.Termios
	outDone chan struct{}
	once    sync.Once
}

func newConsoleRelay(master, in, out *os.File) (*consoleRelay, error) {
	r := &consoleRelay{master: master, in: in, outDone: make(chan struct{})}
	if t, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS); err == nil {
		saved := *t
		raw := *t
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, &raw); err != nil {
			return nil, fmt.Errorf("process.terminal: raw mode for minirun's terminal: %w", err)
		}
		r.saved = &saved
	}
	go func() {
		io.Copy(master, in) // ends with minirun; the pty outlives nothing
	}()
	go func() {
		io.Copy(out, master) // EIO once every holder of the pty's peer is gone
		close(r.outDone)
	}()
	return r, nil
}

// resize copies minirun's terminal size onto the pty.
func (r *consoleRelay) resize() {
	if ws, err := unix.IoctlGetWinsize(int(r.in.Fd()), unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// finish drains what the process wrote before it ended and restores
// minirun's terminal.
func (r *consoleRelay) finish() {
	r.once.Do(func() {
		<-r.outDone
		r.master.Close()
		if r.saved != nil {
			unix.IoctlSetTermios(int(r.in.Fd()), unix.TCSETS, r.saved)
		}
	})
}

// sendConsole sends the pty master to the unix socket at path, as runc
// does for --console-socket: one message whose data is the pty's name and
// whose SCM_RIGHTS carries the master. The caller closes its copy.
func sendConsole(path string, master *os.File) error {
	name := "/dev/ptmx"
	if n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN); err == nil {
		name = "/dev/pts/" + strconv.Itoa(int(n))
	}
	if err := sendFD(path, name, int(master.Fd())); err != nil {
		return fmt.Errorf("--console-socket %s: %w", path, err)
	}
	return nil
}

// sendPidfd sends a pidfd of process pid to the unix socket at path
// (--pidfd-socket).
func sendPidfd(path string, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("--pidfd-socket: pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if err := sendFD(path, "pidfd", fd); err != nil {
		return fmt.Errorf("--pidfd-socket %s: %w", path, err)
	}
	return nil
}

// sendFD connects to the unix socket at path and sends fd with data.
func sendFD(path, data string, fd int) error {
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	if err := unix.Connect(s, &unix.SockaddrUnix{Name: path}); err != nil {
		return err
	}
	return unix.Sendmsg(s, []byte(data), unix.UnixRights(fd), nil, 0)
}
