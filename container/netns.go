package container

import (
	"fmt"
	"os"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
	"github.com/minirun/minirun/namespaces"
)

// madeNetNS is a new network namespace minirun makes for a container on
// a thread of its own, alongside the state and the cgroups, so that the
// clone need not make it (childprog.CompileEnv.NetNS): making one is most
// of what a clone3 with namespaces costs, 0.6 ms here.
type madeNetNS struct {
	done       chan struct{}
	f          *os.File // /proc/thread-self/ns/net of the thread that made it
	err        error
	start, end int64 // CLOCK_MONOTONIC, for a trace
}

// netNSByParent reports whether minirun makes spec's network namespace
// itself: a new one is asked for, and no user namespace is made or
// joined (that one must own the network namespace, and only the child
// can make it there), and minirun has the privilege.
func netNSByParent(spec *rspec.Spec) bool {
	if spec.Linux == nil || os.Geteuid() != 0 {
		return false
	}
	ns := spec.Linux.Namespaces
	if namespaces.Has(ns, rspec.UserNamespace) {
		return false
	}
	for _, n := range ns {
		if n.Type == rspec.NetworkNamespace {
			return n.Path == ""
		}
	}
	return false
}

// makeNetNS starts making a network namespace for spec, when minirun
// makes it (netNSByParent); nil otherwise. A goroutine has the clone core
// start a thread that unshares the network namespace, opens it, and ends
// (newNetNS).
func makeNetNS(spec *rspec.Spec) *madeNetNS {
	if !netNSByParent(spec) {
		return nil
	}
	n := &madeNetNS{done: make(chan struct{})}
	go func() {
		defer close(n.done)
		n.start = clonecore.Now()
		n.f, n.err = newNetNS()
		n.end = clonecore.Now()
	}()
	return n
}

// newNetNS makes a network namespace and returns an fd of it. The unshare
// runs on a thread of the clone core's, a program of three steps, never
// on one of the Go runtime's: a goroutine that locked itself to a thread
// and changed its namespace would leave the thread there for good (the
// runtime cannot end its main thread), and whatever ran on it later —
// the hooks minirun starts, the netlink socket that gives a container's
// devices back — would run in the container's network namespace.
func newNetNS() (*os.File, error) {
	a, err := clonecore.NewArena(4096)
	if err != nil {
		return nil, err
	}
	defer a.Free()
	path, err := a.CString("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	word, err := a.Alloc(8)
	if err != nil {
		return nil, err
	}
	a.Store64(word, ^uint64(0))
	p := clonecore.NewProgram(a)
	fd := p.NewSlot()
	const label = "linux.namespaces: network: made by minirun on a thread of its own"
	p.Add(label, "unshare(CLONE_NEWNET)", unix.SYS_UNSHARE, []clonecore.Arg{clonecore.Imm(unix.CLONE_NEWNET)})
	p.Add(label, `openat(AT_FDCWD, "/proc/thread-self/ns/net", O_RDONLY|O_CLOEXEC) = fd<net>`, unix.SYS_OPENAT,
		[]clonecore.Arg{clonecore.Imm(unix.AT_FDCWD), clonecore.Imm(path), clonecore.Imm(unix.O_RDONLY | unix.O_CLOEXEC)}, clonecore.SaveTo(fd))
	p.Add(label, "*word = fd<net>", clonecore.OpStore, []clonecore.Arg{clonecore.Imm(word), fd.Value()})
	task, err := clonecore.Start(p, clonecore.Options{Flags: clonecore.Presets["thread"]})
	if err != nil {
		return nil, fmt.Errorf("linux.namespaces: network: start a thread to make it: %w", err)
	}
	if err := task.Join(); err != nil {
		return nil, fmt.Errorf("linux.namespaces: network: make it: %w", err)
	}
	n := a.Load64(word)
	if n == ^uint64(0) {
		return nil, fmt.Errorf("linux.namespaces: network: the thread that made it gave no fd")
	}
	return os.NewFile(uintptr(n), "network namespace"), nil
}

// file waits for the namespace and returns its fd; the trace gets its
// making as work done alongside.
func (n *madeNetNS) file(tr *Trace) (*os.File, error) {
	<-n.done
	tr.alongside("make the network namespace (unshare, on a thread of its own)", n.start, n.end)
	return n.f, n.err
}

// release lets go of minirun's hold on the namespace: the container's
// task keeps it (it entered it, or holds the fd until its execve).
func (n *madeNetNS) release() {
	if n == nil {
		return
	}
	<-n.done
	if n.f != nil {
		n.f.Close()
	}
}
