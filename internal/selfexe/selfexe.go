// Package selfexe keeps minirun's own binary out of the reach of the
// containers it runs (CVE-2019-5736).
//
// Until its execve, the task that sets up a container is minirun: its
// /proc/self/exe is minirun's binary. A container whose process.args[0] is
// /proc/self/exe, or whose program is a script with #!/proc/self/exe, makes
// that execve run minirun's binary inside the container; a process of the
// container waiting there opens the new process's /proc/PID/exe O_PATH,
// and once nothing runs the binary (ETXTBSY no longer holds) reopens it
// for writing through /proc/self/fd and replaces it: the next root to run
// minirun runs the container's code. (The child's not being dumpable,
// docs/design.md rule 13, keeps other processes out of the child itself;
// it cannot keep the child from exec'ing its own binary.)
//
// So the commands that start a task in a container's namespaces run from a
// view of the binary that cannot be written: Ensure re-executes minirun
// from a detached read-only bind mount of its binary (open_tree and
// mount_setattr; root only), or else from a sealed memfd copy. Its
// /proc/self/exe then leads to a file that a write through it refuses
// (EROFS, EPERM). A binary that already is such — installed on a
// read-only mount, or bind-mounted read-only over itself — is left as it
// is, and costs nothing.
//
// On amd64 the same re-exec happens earlier, in minirun's first
// instructions, before the Go runtime starts (package boot): a second
// start of the runtime was most of what the guard cost. Ensure then finds
// the mark that start left, and checks that the binary is protected.
package selfexe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/boot"
)

// firstEntry is, in a re-executed minirun, when the first one's first
// instruction ran; 0 otherwise.
var firstEntry int64

// FirstEntry is when the minirun that re-executed this one began (its
// first instruction, CLOCK_MONOTONIC), or 0 if this one was not
// re-executed: the guard's cost, for run --trace.
func FirstEntry() int64 { return firstEntry }

// Protected reports whether the binary this process runs from cannot be
// written through /proc/self/exe: it lies on a read-only mount, or it is a
// memfd sealed against writes.
func Protected() (bool, error) {
	fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open /proc/self/exe: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return false, fmt.Errorf("statfs /proc/self/exe: %w", err)
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return true, nil
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	return err == nil && seals&unix.F_SEAL_WRITE != 0, nil
}

// writable reports whether this process may write its own binary: without
// privilege, a binary minirun cannot write, a container's root (mapped to
// minirun's uid at most) cannot either.
func writable() bool {
	return unix.Faccessat2(unix.AT_FDCWD, "/proc/self/exe", unix.W_OK, unix.AT_EACCESS) == nil
}

// Ensure makes sure minirun runs from a binary a container cannot write:
// if it does not, it re-executes minirun (same arguments and environment)
// from a read-only view of its binary and does not return. It returns nil
// when there is nothing to do.
func Ensure() error {
	// boot.GuardEnv marks a re-executed minirun, whether Go re-executed
	// it (below) or the amd64 entry did, before the runtime started
	// (package boot). Its value is the first minirun's entry time.
	if v, ok := os.LookupEnv(boot.GuardEnv); ok {
		os.Unsetenv(boot.GuardEnv)
		firstEntry, _ = strconv.ParseInt(v, 16, 64)
		// Exec'd through an fd, the process is named after it ("3"):
		// give it its own name back, for ps and pgrep.
		name := filepath.Base(os.Args[0])
		if len(name) > 15 {
			name = name[:15]
		}
		if p, err := unix.BytePtrFromString(name); err == nil {
			unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
		}
		if ok, err := Protected(); err != nil || !ok {
			return fmt.Errorf("protect minirun's binary from the container (CVE-2019-5736): re-executed, and still writable (%v)", err)
		}
		return nil
	}
	if ok, err := Protected(); err != nil {
		return fmt.Errorf("protect minirun's binary from the container (CVE-2019-5736): %w", err)
	} else if ok || !writable() {
		return nil
	}
	fd, how, err := readOnlyView()
	if err != nil {
		return fmt.Errorf("protect minirun's binary from the container (CVE-2019-5736): %w", err)
	}
	// The re-executed minirun's trace starts at this one's first
	// instruction (boot.Entry), so that the guard's cost shows in it.
	os.Setenv(boot.GuardEnv, strconv.FormatInt(boot.Entry(), 16))
	err = syscall.Exec("/proc/self/fd/"+strconv.Itoa(fd), os.Args, os.Environ())
	os.Unsetenv(boot.GuardEnv)
	unix.Close(fd)
	return fmt.Errorf("protect minirun's binary from the container (CVE-2019-5736): re-execute from a %s: %w", how, err)
}

// readOnlyView returns an fd of the running binary that cannot be written
// through: a detached read-only bind mount of the file when minirun may
// make one (the page cache is shared, nothing is copied), else a sealed
// memfd copy.
func readOnlyView() (fd int, how string, err error) {
	fd, bindErr := readOnlyBind()
	if bindErr == nil {
		return fd, "read-only bind mount", nil
	}
	fd, err = sealedCopy()
	if err != nil {
		return -1, "", errors.Join(fmt.Errorf("read-only bind mount: %w", bindErr), fmt.Errorf("sealed copy: %w", err))
	}
	return fd, "sealed copy", nil
}

func readOnlyBind() (int, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open_tree: %w", err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(tree)
		return -1, fmt.Errorf("mount_setattr: %w", err)
	}
	return tree, nil
}

func sealedCopy() (int, error) {
	fd, err := unix.MemfdCreate("minirun", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// A kernel older than 6.3 knows no MFD_EXEC; its memfds are
		// executable.
		fd, err = unix.MemfdCreate("minirun", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	if err := copyExe(fd); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("copy: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("seal: %w", err)
	}
	return fd, nil
}

// copyExe copies the running binary into fd, in the kernel (sendfile).
func copyExe(fd int) error {
	src, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	for {
		n, err := unix.Sendfile(fd, src, nil, 1<<30)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return err
		}
	}
}
