package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
)

// linux.netDevices: host network interfaces moved into the container's
// network namespace, by name, through rtnetlink. A small client of our own
// (a few requests: look a link up, list its addresses, move, rename, set
// up, add an address) rather than a netlink library: the one everyone uses
// is far bigger than this and registers its tables at every start of
// minirun.
//
// runtime-spec asks the runtime to move each device in, under its new name,
// keep its permanent global addresses (a move between namespaces drops
// them) and set it up; and NOT to move it back out when the container
// ends: the kernel returns a physical device to the initial namespace when
// the namespace dies, and destroys a virtual one (veth, dummy…). What
// minirun does undo is a setup that fails after a move: the devices go
// back to the host under their own names, with their addresses, before the
// failed container's namespace is let go.

// netDevice is one device of linux.netDevices on its way in.
type netDevice struct {
	host, name string // its name on the host and in the container
	index      int32  // its index on the host
	up         bool   // it was up on the host
	addrs      []ifAddr
	moved      bool
	inIndex    int32 // its index in the container's namespace, once moved
}

// netDevicesWork looks every device of the spec up on the host, before
// anything starts, and adds their move to work's namespaces point. done
// must be called once start has returned: with false (the setup failed) it
// moves the devices back to the host, and says which it could not.
func netDevicesWork(s *rspec.Spec, work *parentWork) (done func(started bool) error, err error) {
	if s.Linux == nil || len(s.Linux.NetDevices) == 0 {
		return func(bool) error { return nil }, nil
	}
	host, err := dialRoute()
	if err != nil {
		return nil, fmt.Errorf("linux.netDevices: %w", err)
	}
	defer host.close()
	var devs []*netDevice
	for _, name := range specs.SortedKeys(s.Linux.NetDevices) {
		d := &netDevice{host: name, name: s.Linux.NetDevices[name].Name}
		if d.name == "" {
			d.name = name
		}
		f := netDeviceField(name)
		link, err := host.linkByName(name)
		if err != nil {
			if errors.Is(err, unix.ENODEV) {
				return nil, fmt.Errorf("%s: no network interface %q on the host", f, name)
			}
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		d.index, d.up = link.index, link.flags&unix.IFF_UP != 0
		if d.addrs, err = host.permanentAddrs(d.index); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		devs = append(devs, d)
	}
	m := &netMover{devs: devs}
	prev := work.Namespaces
	work.Namespaces = func(pid int) error {
		if err := m.moveIn(pid); err != nil {
			return err
		}
		return call(prev, pid)
	}
	return m.done, nil
}

func netDeviceField(host string) string { return fmt.Sprintf("linux.netDevices[%q]", host) }

// netMover moves the devices and, on failure, back.
type netMover struct {
	devs []*netDevice
	// ns is the container's network namespace, held from the move until
	// done: a namespace lives as long as an fd names it, so a failed
	// setup's devices can still be fetched back after its process is gone.
	ns *os.File
}

// moveIn moves every device into the network namespace of pid, renames
// it, gives it back its addresses and sets it up.
func (m *netMover) moveIn(pid int) error {
	ns, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return fmt.Errorf("linux.netDevices: the container's network namespace: %w", unwrapPath(err))
	}
	m.ns = ns
	host, err := dialRoute()
	if err != nil {
		return fmt.Errorf("linux.netDevices: %w", err)
	}
	defer host.close()
	inside, err := dialRouteIn(int(ns.Fd()))
	if err != nil {
		return fmt.Errorf("linux.netDevices: %w", err)
	}
	defer inside.close()
	for _, d := range m.devs {
		f := netDeviceField(d.host)
		if !strings.Contains(d.name, "%") {
			if _, err := inside.linkByName(d.name); err == nil {
				return fmt.Errorf("%s.name: %q already exists in the container's network namespace", f, d.name)
			}
		}
		_, err := inside.linkByName(d.host)
		hostNameInside := err == nil
		if err := host.setNamespace(d.index, int(ns.Fd()), d.name); err != nil {
			// The kernel moves first and renames after: a failed rename
			// leaves the device inside under its host name, to be fetched
			// back with the rest.
			if l, lerr := inside.linkByName(d.host); lerr == nil && !hostNameInside {
				d.moved, d.inIndex = true, l.index
			}
			if errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("%s.name: %q already exists in the container's network namespace", f, d.name)
			}
			return fmt.Errorf("%s: move into the container's network namespace as %q: %w", f, d.name, err)
		}
		d.moved = true
		// The kernel keeps the index unless the namespace has it taken;
		// look it up again by the new name ("eth%d" got a number).
		link, err := inside.linkByIndex(d.index)
		if err != nil {
			return fmt.Errorf("%s: find it in the container's network namespace: %w", f, err)
		}
		d.inIndex, d.name = link.index, link.name
		for _, a := range d.addrs {
			if err := inside.addAddr(d.inIndex, a); err != nil {
				return fmt.Errorf("%s: keep its address %s: %w", f, a, err)
			}
		}
		if err := inside.setUp(d.inIndex, true); err != nil {
			return fmt.Errorf("%s: set it up: %w", f, err)
		}
	}
	return nil
}

// done lets the namespace go; when the setup failed it first moves every
// device that went in back to the host, under its own name, with its
// addresses and its state.
func (m *netMover) done(started bool) error {
	if m.ns == nil {
		return nil
	}
	defer func() { m.ns.Close(); m.ns = nil }()
	if started {
		return nil
	}
	var lost []string
	for _, d := range m.devs {
		if d.moved {
			lost = append(lost, d.host)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	self, err := os.Open("/proc/self/ns/net")
	if err != nil {
		return netLost(lost, err)
	}
	defer self.Close()
	inside, err := dialRouteIn(int(m.ns.Fd()))
	if err != nil {
		return netLost(lost, err)
	}
	defer inside.close()
	host, err := dialRoute()
	if err != nil {
		return netLost(lost, err)
	}
	defer host.close()
	lost, err = lost[:0], nil
	for _, d := range m.devs {
		if !d.moved {
			continue
		}
		if err = inside.setNamespace(d.inIndex, int(self.Fd()), d.host); err != nil {
			lost = append(lost, d.host)
			continue
		}
		link, lerr := host.linkByName(d.host)
		if lerr != nil {
			continue
		}
		for _, a := range d.addrs {
			host.addAddr(link.index, a)
		}
		if d.up {
			host.setUp(link.index, true)
		}
	}
	if len(lost) > 0 {
		return netLost(lost, err)
	}
	return nil
}

func netLost(devs []string, err error) error {
	return fmt.Errorf("linux.netDevices: %s could not be moved back to the host (%v)", strings.Join(devs, ", "), err)
}

// A small rtnetlink client.

type route struct {
	fd  int
	seq uint32
}

// dialRoute opens an rtnetlink socket in minirun's network namespace.
func dialRoute() (*route, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rtnetlink bind: %w", err)
	}
	return &route{fd: fd}, nil
}

// dialRouteIn opens an rtnetlink socket in the network namespace nsfd
// names: a socket belongs to the namespace it was made in, so a goroutine
// locked to its thread enters the namespace, makes it, and comes back. A
// thread that cannot come back is never unlocked, so it ends with the
// goroutine rather than run other Go code in the container's namespace.
func dialRouteIn(nsfd int) (*route, error) {
	type result struct {
		r   *route
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("open this thread's network namespace: %w", err)}
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter the container's network namespace: %w", err)}
			return
		}
		r, err := dialRoute()
		if unix.Setns(self, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{r, err}
	}()
	res := <-ch
	return res.r, res.err
}

func (r *route) close() { unix.Close(r.fd) }

// nlAttr is one rtattr: a type and its payload.
type nlAttr struct {
	typ  uint16
	data []byte
}

func align4(n int) int { return (n + 3) &^ 3 }

// request sends one message and returns the payloads of the answers (a
// dump's messages, or none for an acknowledged change), or the errno the
// kernel answered with.
func (r *route) request(typ, flags uint16, body []byte, attrs ...nlAttr) ([][]byte, error) {
	r.seq++
	msg := make([]byte, unix.SizeofNlMsghdr, 256)
	msg = append(msg, body...)
	for _, a := range attrs {
		msg = append(msg, make([]byte, align4(len(msg))-len(msg))...)
		var h [unix.SizeofRtAttr]byte
		binary.NativeEndian.PutUint16(h[0:], uint16(unix.SizeofRtAttr+len(a.data)))
		binary.NativeEndian.PutUint16(h[2:], a.typ)
		msg = append(append(msg, h[:]...), a.data...)
	}
	hdr := unix.NlMsghdr{Len: uint32(len(msg)), Type: typ, Flags: flags | unix.NLM_F_REQUEST | unix.NLM_F_ACK, Seq: r.seq}
	copy(msg, unsafe.Slice((*byte)(unsafe.Pointer(&hdr)), unix.SizeofNlMsghdr))
	if err := unix.Sendto(r.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	var out [][]byte
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(r.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			h := (*unix.NlMsghdr)(unsafe.Pointer(&b[0]))
			if int(h.Len) < unix.SizeofNlMsghdr || int(h.Len) > len(b) {
				return nil, errors.New("rtnetlink: a truncated answer")
			}
			payload := b[unix.SizeofNlMsghdr:h.Len]
			b = b[min(align4(int(h.Len)), len(b)):]
			if h.Seq != r.seq {
				continue
			}
			switch h.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(payload) < 4 {
					return nil, errors.New("rtnetlink: a truncated error")
				}
				if e := int32(binary.NativeEndian.Uint32(payload)); e != 0 {
					return nil, unix.Errno(-e)
				}
				// The acknowledgement of a change or a get; a dump ends
				// with NLMSG_DONE. (NLM_F_EXCL of a new object shares a
				// bit with NLM_F_DUMP: a dump has both of its bits.)
				if flags&unix.NLM_F_DUMP != unix.NLM_F_DUMP {
					return out, nil
				}
			default:
				out = append(out, append([]byte(nil), payload...))
			}
		}
	}
}

// attrs splits the rtattrs after a fixed header of n bytes.
func attrs(payload []byte, n int) map[uint16][]byte {
	m := map[uint16][]byte{}
	if len(payload) < n {
		return m
	}
	for b := payload[align4(n):]; len(b) >= unix.SizeofRtAttr; {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		m[binary.NativeEndian.Uint16(b[2:])] = b[unix.SizeofRtAttr:l]
		b = b[min(align4(l), len(b)):]
	}
	return m
}

func cString(s string) []byte { return append([]byte(s), 0) }

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func ifinfo(index int32, flags, change uint32) []byte {
	m := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: index, Flags: flags, Change: change}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfInfomsg)...)
}

// link is what minirun needs of an interface.
type link struct {
	index int32
	flags uint32
	name  string
}

func parseLink(msgs [][]byte) (link, error) {
	if len(msgs) == 0 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return link{}, errors.New("rtnetlink: no link in the answer")
	}
	m := (*unix.IfInfomsg)(unsafe.Pointer(&msgs[0][0]))
	name := attrs(msgs[0], unix.SizeofIfInfomsg)[unix.IFLA_IFNAME]
	return link{index: m.Index, flags: m.Flags, name: unix.ByteSliceToString(name)}, nil
}

func (r *route) linkByName(name string) (link, error) {
	msgs, err := r.request(unix.RTM_GETLINK, 0, ifinfo(0, 0, 0), nlAttr{unix.IFLA_IFNAME, cString(name)})
	if err != nil {
		return link{}, err
	}
	return parseLink(msgs)
}

func (r *route) linkByIndex(index int32) (link, error) {
	msgs, err := r.request(unix.RTM_GETLINK, 0, ifinfo(index, 0, 0))
	if err != nil {
		return link{}, err
	}
	return parseLink(msgs)
}

// setNamespace moves a link into the network namespace nsfd names, under
// a new name (the kernel renames it on the way, and picks the number of a
// "%d" template).
func (r *route) setNamespace(index int32, nsfd int, name string) error {
	_, err := r.request(unix.RTM_NEWLINK, 0, ifinfo(index, 0, 0),
		nlAttr{unix.IFLA_NET_NS_FD, u32(uint32(nsfd))}, nlAttr{unix.IFLA_IFNAME, cString(name)})
	return err
}

func (r *route) setUp(index int32, up bool) error {
	var flags uint32
	if up {
		flags = unix.IFF_UP
	}
	_, err := r.request(unix.RTM_NEWLINK, 0, ifinfo(index, flags, unix.IFF_UP))
	return err
}

// ifAddr is an address of a link, as the kernel listed it: its header
// and the attributes that make it again.
type ifAddr struct {
	msg   unix.IfAddrmsg
	attrs []nlAttr
}

func (a ifAddr) String() string {
	for _, at := range a.attrs {
		if at.typ == unix.IFA_LOCAL || at.typ == unix.IFA_ADDRESS {
			var s string
			switch len(at.data) {
			case 4:
				s = fmt.Sprintf("%d.%d.%d.%d", at.data[0], at.data[1], at.data[2], at.data[3])
			case 16:
				for i := 0; i < 16; i += 2 {
					if i > 0 {
						s += ":"
					}
					s += strconv.FormatUint(uint64(at.data[i])<<8|uint64(at.data[i+1]), 16)
				}
			}
			return fmt.Sprintf("%s/%d", s, a.msg.Prefixlen)
		}
	}
	return "?"
}

// permanentAddrs lists a link's permanent addresses of global scope, the
// ones runtime-spec asks to keep (IFA_F_PERMANENT, RT_SCOPE_UNIVERSE).
func (r *route) permanentAddrs(index int32) ([]ifAddr, error) {
	msgs, err := r.request(unix.RTM_GETADDR, unix.NLM_F_DUMP, make([]byte, unix.SizeofIfAddrmsg))
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []ifAddr
	for _, m := range msgs {
		if len(m) < unix.SizeofIfAddrmsg {
			continue
		}
		h := *(*unix.IfAddrmsg)(unsafe.Pointer(&m[0]))
		at := attrs(m, unix.SizeofIfAddrmsg)
		flags := uint32(h.Flags)
		if f, ok := at[unix.IFA_FLAGS]; ok && len(f) == 4 {
			flags = binary.NativeEndian.Uint32(f)
		}
		if int32(h.Index) != index || h.Scope != unix.RT_SCOPE_UNIVERSE || flags&unix.IFA_F_PERMANENT == 0 {
			continue
		}
		// The address is made again as it was, but not tentative: the
		// kernel would run duplicate address detection on it as on a new
		// IPv6 address, and it was in use already. Whether it is a
		// secondary one the kernel decides again.
		flags = flags&^(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED|unix.IFA_F_SECONDARY) | unix.IFA_F_NODAD
		h.Flags = uint8(flags)
		a := ifAddr{msg: h}
		for _, t := range []uint16{unix.IFA_ADDRESS, unix.IFA_LOCAL, unix.IFA_BROADCAST} {
			if v, ok := at[t]; ok {
				a.attrs = append(a.attrs, nlAttr{t, v})
			}
		}
		a.attrs = append(a.attrs, nlAttr{unix.IFA_FLAGS, u32(flags)})
		out = append(out, a)
	}
	return out, nil
}

func (r *route) addAddr(index int32, a ifAddr) error {
	h := a.msg
	h.Index = uint32(index)
	body := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&h)), unix.SizeofIfAddrmsg)...)
	_, err := r.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body, a.attrs...)
	return err
}
