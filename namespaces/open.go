package namespaces

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
)

// nsGetNStype is NS_GET_NSTYPE of linux/nsfs.h, _IO(0xb7, 0x3): the
// CLONE_NEW* type of the namespace an nsfs fd refers to.
const nsGetNStype = 0xb703

// Open opens the namespace file of a join for setns, without side effects
// and without waiting: O_NONBLOCK, so a FIFO at the path cannot hang
// minirun (an open for reading blocks until a writer comes), and O_NOCTTY,
// so a terminal cannot become minirun's. The file must then be a namespace
// of the join's type (NS_GET_NSTYPE), or it is closed and refused, naming
// the entry.
func Open(j Join) (*os.File, error) {
	fd, err := unix.Open(j.Path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s namespace %s: %w", j.Field(), j.Type, j.Path, err)
	}
	t, err := unix.IoctlRetInt(fd, nsGetNStype)
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("%s: %s is not a namespace file (want /proc/PID/ns/%s or a bind mount of one)", j.Field(), j.Path, j.ProcName)
		}
		return nil, fmt.Errorf("%s: %s: NS_GET_NSTYPE: %w", j.Field(), j.Path, err)
	}
	if got := clonecore.Flags(t); got != j.Flag {
		unix.Close(fd)
		what := got.String()
		if info, ok := ByFlag(got); ok {
			what = string(info.Type)
		}
		return nil, fmt.Errorf("%s: %s is a %s namespace, not %s", j.Field(), j.Path, what, j.Type)
	}
	return os.NewFile(uintptr(fd), j.Path), nil
}
