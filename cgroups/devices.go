package cgroups

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Access bits, as the kernel's BPF_DEVCG_ACC_* constants number them.
const (
	accMknod = unix.BPF_DEVCG_ACC_MKNOD
	accRead  = unix.BPF_DEVCG_ACC_READ
	accWrite = unix.BPF_DEVCG_ACC_WRITE
	accAll   = accMknod | accRead | accWrite
)

// Linux's dev_t holds a 12-bit major and a 20-bit minor number.
const (
	maxMajor = 1<<12 - 1
	maxMinor = 1<<20 - 1
)

// devRule is one device rule: allow or deny access to the devices of a
// type ('a' all, 'c' char, 'b' block) and numbers (-1: any).
type devRule struct {
	allow        bool
	typ          byte
	major, minor int64
	access       uint8
	src          string // where it came from, for messages
}

func (r devRule) String() string {
	verb := "deny"
	if r.allow {
		verb = "allow"
	}
	return verb + " " + r.v1Line()
}

// v1Line spells the rule as cgroup v1's devices.allow and devices.deny
// read it: "c 1:3 rwm", "b *:* m", "a".
func (r devRule) v1Line() string {
	if r.typ == 'a' && r.major < 0 && r.minor < 0 && r.access == accAll {
		return "a"
	}
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", r.typ, num(r.major), num(r.minor), accessString(r.access))
}

func accessString(a uint8) string {
	var b strings.Builder
	if a&accRead != 0 {
		b.WriteByte('r')
	}
	if a&accWrite != 0 {
		b.WriteByte('w')
	}
	if a&accMknod != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

// full reports whether the rule covers every device and every access: it
// overrides everything before it.
func (r devRule) full() bool {
	return r.typ == 'a' && r.major < 0 && r.minor < 0 && r.access == accAll
}

// matches reports whether the rule applies to the device.
func (r devRule) matches(typ byte, major, minor int64) bool {
	return (r.typ == 'a' || r.typ == typ) &&
		(r.major < 0 || r.major == major) && (r.minor < 0 || r.minor == minor)
}

// defaultDevices are the devices every container may use whatever its
// rules say: runtime-spec's default devices, the console, ptmx and the
// pseudo-terminals under /dev/pts.
var defaultDevices = []struct {
	name         string
	major, minor int64
}{
	{"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
	{"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
	{"/dev/console", 5, 1}, {"/dev/ptmx", 5, 2}, {"/dev/pts/*", 136, -1},
}

// parseDeviceRule checks one linux.resources.devices entry. Unset type,
// major and minor mean all, as runtime-spec says; unset access means all
// three, like them. -1 is read as "any" too, since runc's own converted
// rules spell wildcards that way.
func parseDeviceRule(path string, d rspec.LinuxDeviceCgroup) (devRule, error) {
	r := devRule{allow: d.Allow, major: -1, minor: -1, src: path}
	switch d.Type {
	case "", "a":
		r.typ = 'a'
	case "c", "b":
		r.typ = d.Type[0]
	default:
		return r, fmt.Errorf("%s.type: %q is not a, c or b", path, d.Type)
	}
	num := func(field string, p *int64, limit int64) (int64, error) {
		if p == nil || *p == -1 {
			return -1, nil
		}
		if *p < 0 || *p > limit {
			return 0, fmt.Errorf("%s.%s: %d is outside 0-%d, the range Linux device numbers have", path, field, *p, limit)
		}
		return *p, nil
	}
	var err error
	if r.major, err = num("major", d.Major, maxMajor); err != nil {
		return r, err
	}
	if r.minor, err = num("minor", d.Minor, maxMinor); err != nil {
		return r, err
	}
	if r.typ == 'a' && (r.major >= 0 || r.minor >= 0) {
		return r, fmt.Errorf("%s: type a (all devices) takes no major or minor number", path)
	}
	if d.Access == "" {
		r.access = accAll
	}
	for _, c := range d.Access {
		switch c {
		case 'r':
			r.access |= accRead
		case 'w':
			r.access |= accWrite
		case 'm':
			r.access |= accMknod
		default:
			return r, fmt.Errorf("%s.access: %q holds %q; access is made of r, w and m", path, d.Access, c)
		}
	}
	return r, nil
}

// deviceRules builds the container's rule list: linux.resources.devices
// in order, then an allow rule for each default device and for each entry
// of linux.devices. Later rules override earlier ones, so a container
// always has its default devices and the ones its config creates.
func deviceRules(spec []rspec.LinuxDeviceCgroup, devs []rspec.LinuxDevice) ([]devRule, []Problem) {
	var rules []devRule
	var problems []Problem
	for i, d := range spec {
		path := fmt.Sprintf("linux.resources.devices[%d]", i)
		r, err := parseDeviceRule(path, d)
		if err != nil {
			p, msg, _ := strings.Cut(err.Error(), ": ")
			problems = append(problems, Problem{Path: p, Msg: msg})
			continue
		}
		rules = append(rules, r)
	}
	for _, d := range defaultDevices {
		rules = append(rules, devRule{allow: true, typ: 'c', major: d.major, minor: d.minor, access: accAll, src: "default device " + d.name})
	}
	for i, d := range devs {
		path := fmt.Sprintf("linux.devices[%d]", i)
		var typ byte
		switch d.Type {
		case "c", "u":
			typ = 'c'
		case "b":
			typ = 'b'
		case "p":
			continue // a FIFO is no device: the device cgroup does not see it
		default:
			problems = append(problems, Problem{Path: path + ".type", Msg: fmt.Sprintf("%q is not c, u, b or p", d.Type)})
			continue
		}
		if d.Major < 0 || d.Major > maxMajor || d.Minor < 0 || d.Minor > maxMinor {
			problems = append(problems, Problem{Path: path, Msg: fmt.Sprintf("%d:%d is not a Linux device number", d.Major, d.Minor)})
			continue
		}
		rules = append(rules, devRule{allow: true, typ: typ, major: d.Major, minor: d.Minor, access: accAll, src: path + " (" + d.Path + ")"})
	}
	return rules, problems
}

// effective drops the rules that a later full rule ("a *:* rwm")
// overrides entirely.
func effective(rules []devRule) []devRule {
	for i := len(rules) - 1; i >= 0; i-- {
		if rules[i].full() {
			return rules[i:]
		}
	}
	return rules
}

// decide is the meaning of a rule list, which the cgroup v1 lists and the
// eBPF program both implement: each access bit asked for is decided by
// the last rule that matches the device and names that bit; a bit no rule
// names is denied. An access is allowed when all its bits are.
func decide(rules []devRule, typ byte, major, minor int64, access uint8) bool {
	pending := access
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if !r.matches(typ, major, minor) {
			continue
		}
		if !r.allow && pending&r.access != 0 {
			return false
		}
		if r.allow {
			if pending &^= r.access; pending == 0 {
				return true
			}
		}
	}
	return pending == 0
}

// v1Devices is a cgroup v1 device list: a default (allow or deny) and
// exceptions to it, each a char or block device pattern.
type v1Devices struct {
	allowAll   bool
	exceptions []devRule
}

// covers reports whether a's devices include all of b's (same type).
func covers(a, b devRule) bool {
	return a.typ == b.typ && (a.major < 0 || a.major == b.major) && (a.minor < 0 || a.minor == b.minor)
}

// disjoint reports whether a and b share no device.
func disjoint(a, b devRule) bool {
	return a.typ != b.typ || (a.major >= 0 && b.major >= 0 && a.major != b.major) ||
		(a.minor >= 0 && b.minor >= 0 && a.minor != b.minor)
}

// intersect returns the devices a and b share, when they share any.
func intersect(a, b devRule) (devRule, bool) {
	if disjoint(a, b) {
		return devRule{}, false
	}
	i := devRule{allow: a.allow, typ: a.typ, major: max(a.major, b.major), minor: max(a.minor, b.minor)}
	return i, true
}

// maxExceptions bounds the list toV1 may build, far above any real config.
const maxExceptions = 4096

// toV1 turns a rule list into a cgroup v1 device list with exactly the
// meaning decide gives it, or says why v1 cannot hold it. The kernel's
// lists differ from an ordered rule list in three ways, each handled:
//   - "a" in devices.allow or devices.deny resets the list to allow-all or
//     deny-all, whatever access or numbers follow, so a partial rule for
//     all types becomes one for char and one for block devices;
//   - a rule against the default only trims an exception with exactly its
//     type and numbers, so the trimming is done here, and a rule that
//     would carve a hole out of a wider exception (allow c 1:*, then deny
//     c 1:3) is refused: a v1 list has no way to say it;
//   - in deny-all mode one exception must grant every bit asked for, so
//     where two exceptions overlap (c 1:* r and c *:3 w) the overlap gets
//     an exception of its own with both (c 1:3 rw).
func toV1(rules []devRule) (v1Devices, error) {
	rules = effective(rules)
	var out v1Devices
	if len(rules) > 0 && rules[0].full() {
		out.allowAll = rules[0].allow
		rules = rules[1:]
	}
	var expanded []devRule
	for _, r := range rules {
		if r.typ == 'a' {
			c, b := r, r
			c.typ, b.typ = 'c', 'b'
			expanded = append(expanded, c, b)
			continue
		}
		expanded = append(expanded, r)
	}
	ex := []devRule{}
	for _, r := range expanded {
		if r.allow != out.allowAll {
			// An exception: merge it with one of the same device pattern,
			// as the kernel does.
			if i := slices.IndexFunc(ex, func(e devRule) bool {
				return e.typ == r.typ && e.major == r.major && e.minor == r.minor
			}); i >= 0 {
				ex[i].access |= r.access
				continue
			}
			ex = append(ex, r)
			continue
		}
		// A rule back towards the default: trim the exceptions it covers.
		for i := range ex {
			e := &ex[i]
			if e.access&r.access == 0 || disjoint(r, *e) {
				continue
			}
			if !covers(r, *e) {
				return v1Devices{}, fmt.Errorf("%s (%s) carves a hole in %s (%s), which a cgroup v1 device list cannot express",
					r.src, r, e.src, e)
			}
			e.access &^= r.access
		}
		ex = slices.DeleteFunc(ex, func(e devRule) bool { return e.access == 0 })
	}
	if !out.allowAll {
		// Close the list under intersection so the most specific exception
		// matching a device holds every bit any matching one grants.
		for changed := true; changed; {
			changed = false
			for i := 0; i < len(ex); i++ {
				for j := 0; j < len(ex); j++ {
					in, ok := intersect(ex[i], ex[j])
					if !ok || i == j {
						continue
					}
					bits := ex[i].access | ex[j].access
					k := slices.IndexFunc(ex, func(e devRule) bool {
						return e.typ == in.typ && e.major == in.major && e.minor == in.minor
					})
					if k < 0 {
						in.access, in.src = bits, ex[i].src+" and "+ex[j].src
						ex = append(ex, in)
						changed = true
					} else if ex[k].access|bits != ex[k].access {
						ex[k].access |= bits
						changed = true
					}
					if len(ex) > maxExceptions {
						return v1Devices{}, fmt.Errorf("the device rules overlap into more than %d cgroup v1 exceptions", maxExceptions)
					}
				}
			}
		}
	}
	for i := range ex {
		ex[i].allow = !out.allowAll
	}
	out.exceptions = ex
	return out, nil
}

// writes returns what to write, in order, into a fresh cgroup's device
// files: the default first (which clears any exception), then each
// exception.
func (v v1Devices) writes() [][2]string {
	reset, add := "devices.deny", "devices.allow"
	if v.allowAll {
		reset, add = add, reset
	}
	w := [][2]string{{reset, "a"}}
	for _, e := range v.exceptions {
		w = append(w, [2]string{add, e.v1Line()})
	}
	return w
}

// list is what devices.list must read afterwards, sorted: the exceptions
// in deny-all mode; allow-all mode shows only "a *:* rwm".
func (v v1Devices) list() []string {
	if v.allowAll {
		return []string{"a *:* rwm"}
	}
	var l []string
	for _, e := range v.exceptions {
		l = append(l, e.v1Line())
	}
	slices.Sort(l)
	return l
}
