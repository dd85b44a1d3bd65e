package namespaces

import (
	"fmt"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// MaxIDMapLines is how many lines the kernel accepts in one uid_map or
// gid_map write (UID_GID_MAP_MAX_EXTENTS, since Linux 4.15).
const MaxIDMapLines = 340

// An IDMapError is one thing wrong with an id map: Index is the entry it is
// about, or -1 for the map as a whole.
type IDMapError struct {
	Index int
	Msg   string
}

// Error renders "[2]: size must be at least 1", or just the message for the
// whole map, so a caller can prefix the map's field name.
func (e IDMapError) Error() string {
	if e.Index < 0 {
		return e.Msg
	}
	return fmt.Sprintf("[%d]: %s", e.Index, e.Msg)
}

// ValidateIDMaps checks a uid or gid map the way the kernel's map_write
// (kernel/user_namespace.c) will, and returns every problem it finds:
// more than MaxIDMapLines entries, a size of 0, a range that runs past the
// last id (4294967294; 4294967295 is (uid_t)-1 and cannot be mapped), and
// ranges that overlap another entry's on the container side or the host
// side. An empty map is not an error here.
func ValidateIDMaps(maps []rspec.LinuxIDMapping) []IDMapError {
	var errs []IDMapError
	if len(maps) > MaxIDMapLines {
		errs = append(errs, IDMapError{-1, fmt.Sprintf("has %d entries, the kernel accepts at most %d", len(maps), MaxIDMapLines)})
	}
	const end = 1<<32 - 1 // first id that cannot be mapped
	for i, m := range maps {
		if m.Size == 0 {
			errs = append(errs, IDMapError{i, "size must be at least 1"})
			continue
		}
		if uint64(m.ContainerID)+uint64(m.Size) > end {
			errs = append(errs, IDMapError{i, fmt.Sprintf("container ids %d+%d run past the last id %d", m.ContainerID, m.Size, uint32(end-1))})
		}
		if uint64(m.HostID)+uint64(m.Size) > end {
			errs = append(errs, IDMapError{i, fmt.Sprintf("host ids %d+%d run past the last id %d", m.HostID, m.Size, uint32(end-1))})
		}
		for j := 0; j < i; j++ {
			o := maps[j]
			if o.Size == 0 {
				continue
			}
			if overlap(m.ContainerID, m.Size, o.ContainerID, o.Size) {
				errs = append(errs, IDMapError{i, fmt.Sprintf("container ids %s overlap [%d]'s %s", span(m.ContainerID, m.Size), j, span(o.ContainerID, o.Size))})
			}
			if overlap(m.HostID, m.Size, o.HostID, o.Size) {
				errs = append(errs, IDMapError{i, fmt.Sprintf("host ids %s overlap [%d]'s %s", span(m.HostID, m.Size), j, span(o.HostID, o.Size))})
			}
		}
	}
	return errs
}

// overlap reports whether [a, a+n) and [b, b+m) share an id.
func overlap(a, n, b, m uint32) bool {
	return uint64(a) < uint64(b)+uint64(m) && uint64(b) < uint64(a)+uint64(n)
}

// span renders an id range as "1000-1009", or "1000" for a single id.
func span(first, size uint32) string {
	if size == 1 {
		return strconv.FormatUint(uint64(first), 10)
	}
	return fmt.Sprintf("%d-%d", first, uint64(first)+uint64(size)-1)
}

// FormatIDMap renders maps as the text written to /proc/PID/uid_map or
// gid_map: one "CONTAINER HOST SIZE" line per entry, each ending in "\n".
// The kernel wants the whole map in one write.
func FormatIDMap(maps []rspec.LinuxIDMapping) string {
	var b strings.Builder
	for _, m := range maps {
		b.WriteString(strconv.FormatUint(uint64(m.ContainerID), 10))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(m.HostID), 10))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(m.Size), 10))
		b.WriteByte('\n')
	}
	return b.String()
}

// RootlessMapping returns the maps an unprivileged caller can write without
// help (newuidmap): its own uid and gid, each seen as 0 in the container.
// The gid map is only accepted after "deny" is written to setgroups.
func RootlessMapping(uid, gid uint32) (uidMap, gidMap []rspec.LinuxIDMapping) {
	return []rspec.LinuxIDMapping{{ContainerID: 0, HostID: uid, Size: 1}},
		[]rspec.LinuxIDMapping{{ContainerID: 0, HostID: gid, Size: 1}}
}
