package container

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/childprog"
)

// checkExecutable looks for process.args[0] in the root of process pid the
// way its execve will (a path as it is, relative to process.cwd; a bare
// name in each folder of the PATH), while create still runs: the program
// runs only at start, but clients read create's error for it. podman turns
// "executable file not found" and "no such file or directory" into exit
// status 127, "permission denied" into 126.
//
// The root is opened through /proc/PID/root, and every candidate with
// openat2(RESOLVE_IN_ROOT) from it, so a symlink in the image resolves
// inside the container, as it will for the process.
func checkExecutable(pid int, p *rspec.Process) error {
	root, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("process.args[0]: the container's root: %w", err)
	}
	defer unix.Close(root)
	name := p.Args[0]
	var candidates []string
	// inCwd makes a relative path absolute from process.cwd.
	inCwd := func(p2 string) string {
		if path.IsAbs(p2) {
			return p2
		}
		return path.Join("/", p.Cwd, p2)
	}
	switch {
	case strings.Contains(name, "/"):
		candidates = []string{inCwd(name)}
	default:
		for _, dir := range childprog.SearchPath(p.Env) {
			candidates = append(candidates, path.Join(inCwd(dir), name))
		}
	}
	denied := false
	for _, c := range candidates {
		switch err := executable(root, c); {
		case err == nil:
			return nil
		case errors.Is(err, unix.EACCES):
			denied = true
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP):
		default:
			return fmt.Errorf("process.args[0]: %q: %w", c, err)
		}
	}
	switch {
	case denied:
		return fmt.Errorf("process.args[0]: %q: permission denied", name)
	case strings.Contains(name, "/"):
		return fmt.Errorf("process.args[0]: %q: no such file or directory", name)
	}
	return fmt.Errorf("process.args[0]: %q: executable file not found in $PATH", name)
}

// executable checks that file, inside root, is something execve can run:
// a regular file with an execute bit, on a mount that allows exec.
func executable(root int, file string) error {
	fd, err := unix.Openat2(root, file, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		return unix.EACCES
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err == nil && fs.Flags&unix.ST_NOEXEC != 0 {
		return unix.EACCES
	}
	return nil
}
