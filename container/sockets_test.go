package container

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fdServer is a client's end of --console-socket or --pidfd-socket: a
// unix socket that receives one fd (SCM_RIGHTS) per connection. (Plain
// system calls: the net package would make the test binary, which is
// also the static in-container helper, link with cgo.)
type fdServer struct {
	path string
	got  chan received
}

type received struct {
	data string // the message's bytes: the pty's name for a console
	f    *os.File
	err  error
}

func newFDServer(t *testing.T, dir, name string) *fdServer {
	t.Helper()
	s := &fdServer{path: filepath.Join(dir, name), got: make(chan received, 4)}
	if len(s.path) >= 108 {
		t.Fatalf("socket path %s: %d bytes, too long for sun_path", s.path, len(s.path))
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: s.path}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		<-done
		unix.Close(fd)
		os.Remove(s.path)
	})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 20); n < 1 {
				continue
			}
			c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err != nil {
				continue
			}
			s.got <- receiveFD(c)
			unix.Close(c)
		}
	}()
	return s
}

func receiveFD(c int) received {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := unix.Recvmsg(c, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return received{err: err}
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return received{err: err}
	}
	var fds []int
	for _, m := range msgs {
		if more, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, more...)
		}
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return received{data: string(buf[:n]), err: fmt.Errorf("got %d fds, want 1", len(fds))}
	}
	// Non-blocking, so that the file's reads take deadlines.
	unix.SetNonblock(fds[0], true)
	return received{data: string(buf[:n]), f: os.NewFile(uintptr(fds[0]), "received fd")}
}

// next waits for the fd of the next connection.
func (s *fdServer) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-s.got:
		if r.err != nil {
			t.Fatalf("%s: receiving an fd: %v", s.path, r.err)
		}
		t.Cleanup(func() { r.f.Close() })
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: got no connection in 10 s", s.path)
	}
	return received{}
}

// readUntil reads from f until what it read holds want, and returns it.
func readUntil(t *testing.T, f *os.File, want string) string {
	t.Helper()
	var out bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	f.SetReadDeadline(deadline)
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), want) {
		n, err := f.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			// EIO: every holder of the pty's other end is gone.
			t.Fatalf("reading for %q: %v; got %q", want, err, out.String())
		}
	}
	return out.String()
}

// pidOfPidfd reads the pid a pidfd refers to from the test's fdinfo.
func pidOfPidfd(t *testing.T, f *os.File) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "Pid:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("fdinfo of the received fd: got %q, want a pidfd's Pid: line", data)
	return ""
}

// TestConsoleSocket: the pty master of process.terminal goes to the
// --console-socket with the pty's name; what is written to it reaches the
// container's shell and the shell's output comes back, and the devices a
// terminal needs (/dev/tty, /dev/pts/N) work through the device cgroup.
// exec --tty --detach hands its own pty over the same way.
func TestConsoleSocket(t *testing.T) {
	e := newLC(t)
	srv := newFDServer(t, e.dir, "console.sock")
	tb := e.lcBundle("")
	tb.Spec.Process.Args = []string{"sh"}
	tb.Spec.Process.Terminal = true
	tb.save(t)
	id := e.id("console")

	e.fails("--console-socket", "create", "--bundle", tb.Dir, id)
	e.ok("create", "--bundle", tb.Dir, "--console-socket", srv.path, id)
	master := srv.next(t)
	if master.data != "/dev/pts/0" {
		t.Errorf("the console message: got %q, want the pty's name in the container, /dev/pts/0", master.data)
	}
	e.ok("start", id)
	// The echo of the line holds $((6*7)), not its value.
	fmt.Fprintf(master.f, "echo hello-$((6*7)); echo a > /dev/tty && echo tty-$((1+1)); echo b > $(tty) && echo pts-$((2+2)); tty\n")
	out := readUntil(t, master.f, "/dev/pts/0\r\n")
	for _, want := range []string{"hello-42", "tty-2", "pts-4"} {
		if !strings.Contains(out, want) {
			t.Errorf("the shell's output: got %q, want %q in it", out, want)
		}
	}
	if strings.Contains(out, "not permitted") {
		t.Errorf("the shell's output: got %q, want no EPERM on the terminal's devices", out)
	}

	// exec --tty: its own pty, of the same devpts.
	e.fails("--console-socket", "exec", "--tty", "--detach", id, "sh")
	e.ok("exec", "--tty", "--detach", "--console-socket", srv.path, id, "sh")
	execMaster := srv.next(t)
	if execMaster.data != "/dev/pts/1" {
		t.Errorf("exec's console message: got %q, want /dev/pts/1", execMaster.data)
	}
	fmt.Fprintf(execMaster.f, "echo exec-$((3*3)); tty; exit\n")
	out = readUntil(t, execMaster.f, "/dev/pts/1\r\n")
	if !strings.Contains(out, "exec-9") {
		t.Errorf("exec's shell: got %q, want exec-9 in it", out)
	}

	fmt.Fprintf(master.f, "exit 3\n")
	e.waitStatus(id, "stopped")
	e.ok("delete", id)

	// Without a terminal there is nothing to send: --console-socket is
	// refused, not ignored (the client would wait on its socket for
	// ever).
	ntb := e.lcBundle("exec sleep 1000")
	ntb.save(t)
	e.fails("--console-socket", "create", "--bundle", ntb.Dir, "--console-socket", srv.path, id)
	e.fails("--console-socket", "run", "--detach", "--bundle", ntb.Dir, "--console-socket", srv.path, id)
	e.ok("create", "--bundle", ntb.Dir, id)
	e.ok("start", id)
	e.fails("--console-socket", "exec", "--detach", "--console-socket", srv.path, id, "true")
	e.fails("--console-socket", "exec", "--console-socket", srv.path, id, "true")
	e.ok("delete", "--force", id)
	select {
	case r := <-srv.got:
		t.Errorf("--console-socket without a terminal: got a connection (%q), want none", r.data)
	default:
	}
}

// TestPidfdSocket: --pidfd-socket receives a pidfd of the container's
// process (create) and of an exec'd one.
func TestPidfdSocket(t *testing.T) {
	e := newLC(t)
	srv := newFDServer(t, e.dir, "pidfd.sock")
	tb := e.lcBundle("exec sleep 1000")
	tb.save(t)
	id := e.id("pidfd")
	pidFile := filepath.Join(e.dir, "pid")
	e.ok("create", "--bundle", tb.Dir, "--pidfd-socket", srv.path, "--pid-file", pidFile, id)
	if got, want := pidOfPidfd(t, srv.next(t).f), fmt.Sprint(readPidFile(t, pidFile)); got != want {
		t.Errorf("create's pidfd: got one of process %s, want the container's %s", got, want)
	}
	e.ok("start", id)
	execPidFile := filepath.Join(e.dir, "exec.pid")
	e.ok("exec", "--detach", "--pidfd-socket", srv.path, "--pid-file", execPidFile, id, "sleep", "1000")
	if got, want := pidOfPidfd(t, srv.next(t).f), fmt.Sprint(readPidFile(t, execPidFile)); got != want {
		t.Errorf("exec's pidfd: got one of process %s, want the exec'd %s", got, want)
	}
	e.ok("delete", "--force", id)
}

// TestPreserveFDs: --preserve-fds N, or LISTEN_FDS=N in minirun's
// environment, passes exactly fds 3 … 3+N-1 to the container's process,
// and no other fd of minirun's; without either, none.
func TestPreserveFDs(t *testing.T) {
	e := newLC(t)
	// The shell writes to the fds it got, then becomes a sleep whose fds
	// the test lists.
	tb := e.lcBundle("for fd in 3 4 5; do (echo to-$fd >&$fd) 2>/dev/null; done; exec sleep 1000")
	tb.save(t)
	cases := []struct {
		name string
		args []string
		env  []string
		want []string // the process's fds
	}{
		{"none", nil, nil, []string{"0", "1", "2"}},
		{"--preserve-fds 2", []string{"--preserve-fds", "2"}, nil, []string{"0", "1", "2", "3", "4"}},
		{"LISTEN_FDS=2", nil, []string{"LISTEN_FDS=2"}, []string{"0", "1", "2", "3", "4"}},
		{"--preserve-fds 1 with LISTEN_FDS=2", []string{"--preserve-fds", "1"}, []string{"LISTEN_FDS=2"}, []string{"0", "1", "2", "3", "4"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// minirun's fds 3, 4 and 5: three pipes.
			var readers, writers []*os.File
			for range 3 {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				readers, writers = append(readers, r), append(writers, w)
			}
			id := e.id(fmt.Sprintf("fds%d", i))
			pidFile := filepath.Join(e.dir, id+".pid")
			args := append(append([]string{"create", "--bundle", tb.Dir, "--pid-file", pidFile}, c.args...), id)
			_, stderr, code := e.mrWith(mrOpts{extra: writers, env: c.env}, args...)
			for _, w := range writers {
				w.Close()
			}
			if code != 0 {
				t.Fatalf("create: got exit status %d, stderr %q", code, stderr)
			}
			pid := readPidFile(t, pidFile)
			e.ok("start", id)
			for j, r := range readers {
				fd := 3 + j
				want := ""
				if fd < 3+len(c.want)-3 {
					want = fmt.Sprintf("to-%d\n", fd)
				}
				// A passed fd's pipe stays open in the process: read the
				// line; any other must be closed everywhere: EOF.
				r.SetReadDeadline(time.Now().Add(10 * time.Second))
				got := make([]byte, len(want))
				n, err := io.ReadFull(r, got)
				if string(got[:n]) != want || err != nil {
					t.Errorf("what the container wrote to fd %d: got %q (%v), want %q", fd, got[:n], err, want)
				}
				if want == "" {
					if _, err := r.Read(make([]byte, 1)); err != io.EOF {
						t.Errorf("fd %d of minirun, not passed: got %v reading its pipe, want EOF (no copy left open)", fd, err)
					}
				}
			}
			waitFor(t, "the shell to exec sleep", func() bool {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				return string(comm) == "sleep\n"
			})
			if got := procFDs(t, pid); !slices.Equal(got, c.want) {
				t.Errorf("the container's fds: got %q, want %q", got, c.want)
			}
			e.ok("delete", "--force", id)
		})
	}

	t.Run("exec", func(t *testing.T) {
		rtb := e.lcBundle("exec sleep 1000")
		rtb.save(t)
		id := e.id("fdsexec")
		e.ok("create", "--bundle", rtb.Dir, id)
		e.ok("start", id)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		null, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		defer null.Close()
		stdout, stderr, code := e.mrWith(mrOpts{extra: []*os.File{w, null}}, "exec", "--preserve-fds", "1", id,
			"sh", "-c", "echo from-exec >&3; ls /proc/$$/fd; true")
		w.Close()
		if got := strings.Join(strings.Fields(stdout), " "); code != 0 || got != "0 1 2 3" {
			t.Errorf("exec --preserve-fds 1: got fds %q (exit status %d, stderr %q), want 0 1 2 3", got, code, stderr)
		}
		r.SetReadDeadline(time.Now().Add(10 * time.Second))
		if got, _ := io.ReadAll(r); string(got) != "from-exec\n" {
			t.Errorf("exec --preserve-fds 1: fd 3 got %q, want from-exec", got)
		}
		e.ok("delete", "--force", id)
	})
}
