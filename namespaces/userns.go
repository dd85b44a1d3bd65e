package namespaces

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
)

// NewUserNS makes a user namespace with the given uid_map and gid_map text
// (FormatIDMap's) and returns an fd of it (/proc/PID/ns/user, O_CLOEXEC),
// which keeps it alive after the task that made it is gone. It is what an
// idmapped mount needs: mount_setattr(MOUNT_ATTR_IDMAP) takes the mapping
// as a user namespace fd. Writing maps other than one's own ids needs
// CAP_SETUID and CAP_SETGID, so it is for a privileged caller.
//
// A Go program cannot unshare a user namespace (it has many threads), so
// the namespace comes from a clone: a child program of one step that waits
// on a pipe, cloned with CLONE_NEWUSER. It shares minirun's memory and fd
// table (CLONE_VM|CLONE_FILES), so the clone copies nothing; while it
// waits the parent writes its maps and opens its namespace, then one byte
// lets it exit, and it is joined and reaped.
//
//	parent                                 child (new user namespace)
//	  clone3(NEWUSER|VM|FILES) ---------->  prctl(PR_SET_PDEATHSIG, SIGKILL)
//	                                         read(pipe, buf, 1)
//	  write /proc/TID/uid_map, gid_map         :
//	  open /proc/TID/ns/user                   :
//	  write(pipe, 1 byte) - - - - - - - - ->  exit(0)
//	  join, reap
func NewUserNS(uidMap, gidMap string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("user namespace for a mapping: pipe: %w", err)
	}
	defer r.Close()
	defer w.Close()
	arena, err := clonecore.NewArena(4 << 10)
	if err != nil {
		return nil, err
	}
	defer arena.Free()
	fdWord, err := arena.Alloc(8)
	if err != nil {
		return nil, err
	}
	buf, err := arena.Alloc(8)
	if err != nil {
		return nil, err
	}
	arena.Store32(fdWord, uint32(r.Fd()))
	p := clonecore.NewProgram(arena)
	// The pipe's write end is in the fd table the child shares: should
	// minirun die before it writes, nothing else would end the child.
	p.Add("die with minirun", "prctl(PR_SET_PDEATHSIG, SIGKILL)", unix.SYS_PRCTL,
		[]clonecore.Arg{clonecore.Imm(unix.PR_SET_PDEATHSIG), clonecore.Imm(uintptr(unix.SIGKILL))})
	p.Add("wait for the maps", "read(fd<pipe>, buf, 1)", unix.SYS_READ,
		[]clonecore.Arg{clonecore.Int32At(fdWord), clonecore.Imm(buf), clonecore.Imm(1)})
	t, err := clonecore.Start(p, clonecore.Options{Flags: clonecore.NEWUSER | clonecore.VM | clonecore.FILES})
	if err != nil {
		return nil, fmt.Errorf("user namespace for a mapping: %w", err)
	}
	ns, err := mapAndOpen(t.TID, uidMap, gidMap)
	// Let it go whatever happened, and wait for it.
	_, werr := w.Write([]byte{1})
	jerr := t.Join()
	t.Reap()
	if err == nil {
		err = errors.Join(werr, jerr)
	}
	if err != nil {
		if ns != nil {
			ns.Close()
		}
		return nil, err
	}
	return ns, nil
}

// mapAndOpen writes the maps of task tid's user namespace and opens it.
func mapAndOpen(tid int, uidMap, gidMap string) (*os.File, error) {
	dir := "/proc/" + strconv.Itoa(tid) + "/"
	if err := os.WriteFile(dir+"uid_map", []byte(uidMap), 0); err != nil {
		return nil, fmt.Errorf("user namespace for a mapping: uid_map %q: %w", uidMap, err)
	}
	if err := os.WriteFile(dir+"gid_map", []byte(gidMap), 0); err != nil {
		return nil, fmt.Errorf("user namespace for a mapping: gid_map %q: %w", gidMap, err)
	}
	f, err := os.OpenFile(dir+"ns/user", os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("user namespace for a mapping: %w", err)
	}
	return f, nil
}
