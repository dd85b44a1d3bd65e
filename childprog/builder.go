package childprog

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
)

// builder appends syscall steps to a child program, each with its
// strace-like rendering for --explain. An fd a step opens lives in a result
// slot; fd values are named in the rendering (fd<rootfs>) since their
// numbers are only known when the child runs. The first arena error is kept
// and returned by Compile.
type builder struct {
	p     *clonecore.Program
	a     *clonecore.Arena
	err   error
	names map[clonecore.Slot]string
}

func newBuilder(a *clonecore.Arena) *builder {
	return &builder{p: clonecore.NewProgram(a), a: a, names: map[clonecore.Slot]string{}}
}

// fd is a file descriptor argument: a saved result (with a name for the
// listing), an int32 the parent writes into the arena before the start, or
// a constant such as AT_FDCWD.
type fd struct {
	arg  clonecore.Arg
	name string
}

func (b *builder) slotFD(s clonecore.Slot) fd { return fd{s.Value(), b.names[s]} }

// newResult reserves a slot for a result that is no fd (a step's -errno a
// later step looks at), named for the listing.
func (b *builder) newResult(name string) clonecore.Slot {
	s := b.p.NewSlot()
	b.names[s] = "result<" + name + ">"
	return s
}

// skipUnless adds an OpSkipUnless: unless the result saved in s is want
// (shown as wantShown), the child skips the steps added from here until
// the endSkip that takes the index it returns.
func (b *builder) skipUnless(label string, s clonecore.Slot, want int64, wantShown string) int {
	at := b.p.Len()
	name := b.names[s]
	b.p.AddFunc(label, func() string {
		return fmt.Sprintf("skip_unless(%s == %s, %d steps)", name, wantShown, b.p.SkippedBy(at))
	}, clonecore.OpSkipUnless, []clonecore.Arg{s.Value(), clonecore.Imm(want), clonecore.Imm(0)})
	return at
}

// endSkip ends the steps the skipUnless at index at guards.
func (b *builder) endSkip(at int) { b.p.SkipHere(at) }

// wordFD is an fd whose number the parent stores at address w.
func wordFD(w uintptr, name string) fd { return fd{clonecore.Int32At(w), name} }

var atFDCWD = fd{clonecore.Imm(unix.AT_FDCWD), "AT_FDCWD"}

// newFD reserves a slot for an fd a step will open, named for the listing.
func (b *builder) newFD(name string) clonecore.Slot {
	s := b.p.NewSlot()
	b.names[s] = "fd<" + name + ">"
	return s
}

// fail keeps err as the compile's error, unless one came first.
func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *builder) str(s string) uintptr {
	p, err := b.a.CString(s)
	if err != nil {
		b.fail(err)
	}
	return p
}

// word reserves one zeroed 64-bit word in the arena (an fd number the
// parent fills in, a TID the kernel writes, a read buffer).
func (b *builder) word() uintptr {
	p, err := b.a.Alloc(8)
	if err != nil {
		b.fail(err)
	}
	return p
}

func (b *builder) bytes(v []byte) uintptr {
	p, err := b.a.Bytes(v)
	if err != nil {
		b.fail(err)
	}
	return p
}

// words stores 64-bit words in the arena (a buffer, a value the kernel
// reads as an integer). A structure of the kernel's ABI goes through
// kstruct instead.
func (b *builder) words(w ...uint64) uintptr {
	return b.bytes(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), 8*len(w)))
}

// kstruct copies v, a structure of the kernel's ABI as golang.org/x/sys/unix
// declares it (unix.OpenHow, unix.MountAttr…), into the arena and returns
// its address and its size, which is what the kernel is told: the Go
// type's, never a number written by hand.
func kstruct[T any](b *builder, v T) (addr, size uintptr) {
	size = unsafe.Sizeof(v)
	return b.bytes(unsafe.Slice((*byte)(unsafe.Pointer(&v)), size)), size
}

func (b *builder) strs(ss []string) uintptr {
	p, err := b.a.CStrings(ss)
	if err != nil {
		b.fail(err)
	}
	return p
}

func (b *builder) add(label string, nr uintptr, explain string, args []clonecore.Arg, opts ...clonecore.StepOption) {
	b.p.Add(label, explain, nr, args, opts...)
}

// call renders "name(a, b, …)" and adds the step.
func (b *builder) call(label string, nr uintptr, name string, shown []string, args []clonecore.Arg, opts ...clonecore.StepOption) {
	b.add(label, nr, name+"("+strings.Join(shown, ", ")+")", args, opts...)
}

// lazy adds a step whose explain line render makes (with rendered) only
// when something asks for it: an error, --explain, --trace. The steps each
// mount and masked path takes are added so, which took half of a long
// config's compile when they were rendered up front, and most starts
// render none of them.
func (b *builder) lazy(label string, nr uintptr, render func() string, args []clonecore.Arg, opts ...clonecore.StepOption) {
	b.p.AddFunc(label, render, nr, args, opts...)
}

// rendered is the explain line of a call: "name(a, b, …)", and " = " and
// the fd's name for a call that returns one (result, "" if none).
func rendered(name, result string, shown ...string) string {
	line := name + "(" + strings.Join(shown, ", ") + ")"
	if result != "" {
		line += " = " + result
	}
	return line
}

func q(s string) string { return strconv.Quote(s) }

// Flag tables for the listing.
type flagName struct {
	v    uint64
	name string
}

func flagString(v uint64, table []flagName) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	for _, f := range table {
		if f.v != 0 && v&f.v == f.v {
			parts = append(parts, f.name)
			v &^= f.v
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("%#x", v))
	}
	return strings.Join(parts, "|")
}

var openFlagNames = []flagName{
	{unix.O_WRONLY, "O_WRONLY"}, {unix.O_RDWR, "O_RDWR"}, {unix.O_CREAT, "O_CREAT"},
	{unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"}, {unix.O_TRUNC, "O_TRUNC"},
	{unix.O_DIRECTORY, "O_DIRECTORY"}, {unix.O_NOFOLLOW, "O_NOFOLLOW"},
	{unix.O_CLOEXEC, "O_CLOEXEC"}, {unix.O_PATH, "O_PATH"},
}

var mountFlagNames = []flagName{
	{unix.MS_RDONLY, "MS_RDONLY"}, {unix.MS_NOSUID, "MS_NOSUID"}, {unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"}, {unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"},
	{unix.MS_REMOUNT, "MS_REMOUNT"}, {unix.MS_MANDLOCK, "MS_MANDLOCK"},
	{unix.MS_DIRSYNC, "MS_DIRSYNC"}, {unix.MS_NOATIME, "MS_NOATIME"},
	{unix.MS_NODIRATIME, "MS_NODIRATIME"}, {unix.MS_BIND, "MS_BIND"}, {unix.MS_MOVE, "MS_MOVE"},
	{unix.MS_REC, "MS_REC"}, {unix.MS_SILENT, "MS_SILENT"}, {unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
	{unix.MS_PRIVATE, "MS_PRIVATE"}, {unix.MS_SLAVE, "MS_SLAVE"}, {unix.MS_SHARED, "MS_SHARED"},
	{unix.MS_RELATIME, "MS_RELATIME"}, {unix.MS_STRICTATIME, "MS_STRICTATIME"},
	{unix.MS_LAZYTIME, "MS_LAZYTIME"},
}

var attrNames = []flagName{
	{unix.MOUNT_ATTR_RDONLY, "MOUNT_ATTR_RDONLY"}, {unix.MOUNT_ATTR_NOSUID, "MOUNT_ATTR_NOSUID"},
	{unix.MOUNT_ATTR_NODEV, "MOUNT_ATTR_NODEV"}, {unix.MOUNT_ATTR_NOEXEC, "MOUNT_ATTR_NOEXEC"},
	{unix.MOUNT_ATTR_NOATIME, "MOUNT_ATTR_NOATIME"}, {unix.MOUNT_ATTR_STRICTATIME, "MOUNT_ATTR_STRICTATIME"},
	{unix.MOUNT_ATTR_NODIRATIME, "MOUNT_ATTR_NODIRATIME"}, {unix.MOUNT_ATTR_NOSYMFOLLOW, "MOUNT_ATTR_NOSYMFOLLOW"},
	{unix.MOUNT_ATTR_IDMAP, "MOUNT_ATTR_IDMAP"},
}

var atNames = []flagName{{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"}, {unix.AT_RECURSIVE, "AT_RECURSIVE"}}

var resolveNames = []flagName{
	{unix.RESOLVE_IN_ROOT, "RESOLVE_IN_ROOT"}, {unix.RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS"},
	{unix.RESOLVE_NO_SYMLINKS, "RESOLVE_NO_SYMLINKS"}, {unix.RESOLVE_BENEATH, "RESOLVE_BENEATH"},
}

// Steps, one method a syscall.

func (b *builder) openat2(label string, dir fd, path string, flags, mode, resolve uint64, save clonecore.Slot, opts ...clonecore.StepOption) {
	how, size := kstruct(b, unix.OpenHow{Flags: flags, Mode: mode, Resolve: resolve})
	result := b.names[save]
	b.lazy(label, unix.SYS_OPENAT2, func() string {
		return rendered("openat2", result, dir.name, q(path),
			fmt.Sprintf("{flags=%s, mode=%#o, resolve=%s}", flagString(flags, openFlagNames), mode, flagString(resolve, resolveNames)), itoa(int(size)))
	}, []clonecore.Arg{dir.arg, clonecore.Imm(b.str(path)), clonecore.Imm(how), clonecore.Imm(size)},
		append(opts, clonecore.SaveTo(save))...)
}

// mountSetattr changes the attributes or propagation of the mount at path
// from dir (an fd with AT_EMPTY_PATH and path "").
func (b *builder) mountSetattr(label string, dir fd, path string, at uint64, attr unix.MountAttr, opts ...clonecore.StepOption) {
	addr, size := kstruct(b, attr)
	b.lazy(label, unix.SYS_MOUNT_SETATTR, func() string {
		var fields []string
		if attr.Attr_set != 0 || attr.Attr_clr != 0 {
			fields = append(fields, "attr_set="+flagString(attr.Attr_set, attrNames), "attr_clr="+flagString(attr.Attr_clr, attrNames))
		}
		if attr.Propagation != 0 {
			fields = append(fields, "propagation="+flagString(attr.Propagation, mountFlagNames))
		}
		return rendered("mount_setattr", "", dir.name, q(path), flagString(at, atNames), "{"+strings.Join(fields, ", ")+"}", itoa(int(size)))
	}, []clonecore.Arg{dir.arg, clonecore.Imm(b.str(path)), clonecore.Imm(at), clonecore.Imm(addr), clonecore.Imm(size)}, opts...)
}

// renameResult makes a listing show "= fd<name>" after a step that saves one.
func (b *builder) renameResult(s clonecore.Slot) {
	b.p.Annotate(" = " + b.names[s])
}

func (b *builder) openat(label string, dir fd, path string, flags uint64, mode uint64, save clonecore.Slot, opts ...clonecore.StepOption) {
	b.call(label, unix.SYS_OPENAT, "openat", []string{dir.name, q(path), flagString(flags, openFlagNames), fmt.Sprintf("%#o", mode)},
		[]clonecore.Arg{dir.arg, clonecore.Imm(b.str(path)), clonecore.Imm(flags), clonecore.Imm(mode)},
		append(opts, clonecore.SaveTo(save))...)
	b.renameResult(save)
}

func (b *builder) close(label string, f fd) {
	b.lazy(label, unix.SYS_CLOSE, func() string { return rendered("close", "", f.name) }, []clonecore.Arg{f.arg})
}

func (b *builder) mkdirat(label string, dir fd, name string, mode uint64) {
	b.lazy(label, unix.SYS_MKDIRAT, func() string { return rendered("mkdirat", "", dir.name, q(name), fmt.Sprintf("%#o", mode)) },
		[]clonecore.Arg{dir.arg, clonecore.Imm(b.str(name)), clonecore.Imm(mode)}, clonecore.Tolerate(unix.EEXIST))
}

func (b *builder) mount(label, source, target, fstype string, flags uintptr, data string, opts ...clonecore.StepOption) {
	show := func(s string) (string, uintptr) {
		if s == "" {
			return "NULL", 0
		}
		return q(s), b.str(s)
	}
	ss, sp := show(source)
	ts, tp := show(target)
	fs, fp := show(fstype)
	ds, dp := show(data)
	b.call(label, unix.SYS_MOUNT, "mount", []string{ss, ts, fs, flagString(uint64(flags), mountFlagNames), ds},
		[]clonecore.Arg{clonecore.Imm(sp), clonecore.Imm(tp), clonecore.Imm(fp), clonecore.Imm(flags), clonecore.Imm(dp)}, opts...)
}

func (b *builder) write(label string, f fd, data string, opts ...clonecore.StepOption) {
	b.call(label, unix.SYS_WRITE, "write", []string{f.name, q(data), strconv.Itoa(len(data))},
		[]clonecore.Arg{f.arg, clonecore.Imm(b.bytes([]byte(data))), clonecore.Imm(len(data))},
		append(opts, clonecore.Expect(int64(len(data))))...)
}

func (b *builder) prctl(label string, name string, option uintptr, arg2 uintptr, argShown string, opts ...clonecore.StepOption) {
	b.call(label, unix.SYS_PRCTL, "prctl", []string{name, argShown},
		[]clonecore.Arg{clonecore.Imm(option), clonecore.Imm(arg2), clonecore.Imm(0), clonecore.Imm(0), clonecore.Imm(0)}, opts...)
}

func (b *builder) simple(label string, nr uintptr, name string, shown []string, args ...uintptr) {
	a := make([]clonecore.Arg, len(args))
	for i, v := range args {
		a[i] = clonecore.Imm(v)
	}
	b.call(label, nr, name, shown, a)
}
