// Package statedir keeps what minirun knows about each container between
// commands: create's process exits, and start, state, kill, exec and
// delete are separate processes that find the container here.
//
//	ROOT/                 /run/minirun, or $XDG_RUNTIME_DIR/minirun without privilege
//	  ID/                 one folder a container, made by create (mkdir: the ID is taken atomically)
//	    state.json        the Record, replaced whole (write a temporary file, rename)
//	    exec.fifo         while the container is created: its process waits reading it; start writes it
//
// Commands that change a container hold an exclusive flock on its folder
// for as long as they work on it, so two of them never interleave; state
// and list read without a lock (a rename makes every Record whole), so a
// hook that asks for the state while start holds the lock cannot
// deadlock. A pid alone is never trusted: the Record keeps the process's
// start time (field 22 of /proc/PID/stat), and a pid whose start time
// differs is a recycled one — the container's process is gone.
package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/specs"
)

// Errors clients match on (containerd and podman look for these words).
var (
	ErrNotExist = errors.New("does not exist")
	ErrExist    = errors.New("already exists")
)

// DefaultRoot is where the state lives when --root is not given:
// /run/minirun as root; $XDG_RUNTIME_DIR/minirun without privilege, or
// /tmp/minirun-UID when that is unset.
func DefaultRoot() string {
	if os.Geteuid() == 0 {
		return "/run/minirun"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "minirun")
	}
	return filepath.Join(os.TempDir(), "minirun-"+strconv.Itoa(os.Geteuid()))
}

// ValidateID refuses an ID that could not name a folder of its own under
// the root: empty, longer than a file name may be (NAME_MAX, 255 bytes:
// the ID names the state folder and the cgroup), "." or "..", a slash, a
// NUL, or any character outside letters, digits and "_+-.", as runc
// allows.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container ID: missing")
	}
	if len(id) > 255 {
		return fmt.Errorf("container ID: %d bytes; at most 255, as a file name", len(id))
	}
	if id == "." || id == ".." {
		return fmt.Errorf("container ID %q: not a name", id)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '+', r == '-', r == '.':
		default:
			return fmt.Errorf("container ID %q: %q is not allowed (letters, digits, _ + - . only)", id, r)
		}
	}
	return nil
}

// A Record is what the state folder keeps about one container.
type Record struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Rootfs string `json:"rootfs"`
	// Created is set when create began.
	Created time.Time `json:"created"`
	// Owner is the uid that created the container.
	Owner int `json:"owner"`
	// Pid is the container's process as minirun's PID namespace sees it,
	// and PidStart its start time; 0 until create has started it.
	Pid      int    `json:"pid,omitempty"`
	PidStart uint64 `json:"pidStart,omitempty"`
	// Ready is set once create has finished: the process waits for start.
	Ready bool `json:"ready,omitempty"`
	// Started is set once start has let the process exec.
	Started bool `json:"started,omitempty"`
	// Config is the spec the container was created from, as it was then:
	// exec, the hooks of start and delete, and the cgroup read it from
	// here, never again from the bundle.
	Config *rspec.Spec `json:"config"`
	// ConfigJSON, when set, is Config as JSON: the config file's own text
	// (specs.Bundle.Raw), which Save writes in Config's place rather than
	// encoding Config again. Read records have it too.
	ConfigJSON json.RawMessage `json:"-"`
	// Cgroup is where the container's cgroups are, for the commands that
	// act on them; empty when it has none.
	Cgroup json.RawMessage `json:"cgroup,omitempty"`
	// Rootless is set when minirun created the container without
	// privilege.
	Rootless bool `json:"rootless,omitempty"`
}

// A Dir is a state root.
type Dir struct{ Root string }

// A Container is one container's folder, held with its lock by the command
// working on it. Close releases the lock.
type Container struct {
	Dir  string
	ID   string
	lock *os.File
}

// Create takes the ID: it makes the container's folder (refusing an ID
// that exists) and locks it. On failure nothing is left.
func (d Dir) Create(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(d.Root, id)
	for tries := 0; ; tries++ {
		if err := os.MkdirAll(d.Root, 0o711); err != nil {
			return nil, fmt.Errorf("state root %s: %w", d.Root, unwrap(err))
		}
		err := os.Mkdir(dir, 0o711)
		if err == nil {
			break
		}
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrExist)
		}
		// ENOENT: the last container's Remove took the empty root away
		// between the two calls; make it again.
		if !errors.Is(err, os.ErrNotExist) || tries == 3 {
			os.Remove(d.Root) // if this made it, and no other uses it
			return nil, fmt.Errorf("container %q: %w", id, unwrap(err))
		}
	}
	c, err := lockDir(dir, id)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return c, nil
}

// Open finds container id and locks it; ErrNotExist if there is none.
func (d Dir) Open(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(d.Root, id)
	c, err := lockDir(dir, id)
	if err != nil {
		return nil, err
	}
	// A delete may have removed the folder while this waited for the lock.
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.Close()
			return nil, fmt.Errorf("container %q: %w", id, unwrap(err))
		}
		if _, derr := os.Stat(dir); derr != nil {
			c.Close()
			return nil, fmt.Errorf("container %q %w", id, ErrNotExist)
		}
		// The folder without a record: a create killed before its
		// first save. It is still the caller's to delete.
	}
	return c, nil
}

// lockDir opens dir and takes its flock. The folder may be removed (by a
// delete) and made again (by a create of the same ID) while this waits:
// the lock is only good if the locked folder is still the one at dir.
func lockDir(dir, id string) (*Container, error) {
	for {
		f, err := os.Open(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("container %q %w", id, ErrNotExist)
			}
			return nil, fmt.Errorf("container %q: %w", id, unwrap(err))
		}
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("container %q: lock %s: %w", id, dir, err)
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(dir, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return &Container{Dir: dir, ID: id, lock: f}, nil
		}
		f.Close() // removed, or replaced: look again
	}
}

// LockFile is the open folder whose flock the command holds. A process the
// command clones gets a copy of it, and with it the lock: it must close
// that copy at once.
func (c *Container) LockFile() *os.File { return c.lock }

// Close releases the container's lock.
func (c *Container) Close() {
	if c.lock != nil {
		c.lock.Close() // closing the last fd of the open file releases the flock
		c.lock = nil
	}
}

// Save replaces the container's record whole.
func (c *Container) Save(r *Record) error {
	data, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("container %q: encode state: %w", c.ID, err)
	}
	tmp, file := filepath.Join(c.Dir, ".state.json"), filepath.Join(c.Dir, "state.json")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("container %q: write state: %w", c.ID, unwrap(err))
	}
	// The new record takes the old one's place in one step, so a reader
	// finds one or the other, whole. Swapped with RENAME_EXCHANGE and the
	// old one unlinked, rather than renamed over it: ext4 (/run is on disk
	// on some machines, the project's among them) starts writing a file
	// out when it is renamed over another (auto_da_alloc), and a file
	// written out costs its blocks again when it is removed. Swapped, a
	// record that lives a few milliseconds, as a run's do, never reaches
	// the disk: 44 us a save instead of 83, 10 us to remove the last
	// instead of 189, measured here. The state of a boot means nothing
	// after a crash, so nothing is lost by not forcing it out. A first
	// record has nothing to swap with, and a file system without
	// RENAME_EXCHANGE takes a plain rename.
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, file, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		os.Remove(tmp) // the old record
		return nil
	case err == unix.ENOENT || err == unix.EINVAL:
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("container %q: write state %s: %w", c.ID, file, unwrap(err))
	}
	return nil
}

// Load reads the container's record; a folder a killed create left
// without one reads as a Record with only the ID.
func (c *Container) Load() (*Record, error) {
	r, err := readRecord(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return &Record{ID: c.ID}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", c.ID, err)
	}
	return r, nil
}

// FIFO is the path of the container's exec.fifo.
func (c *Container) FIFO() string { return filepath.Join(c.Dir, "exec.fifo") }

// Remove deletes the container's folder and everything in it, then
// releases the lock: the ID is free again.
func (c *Container) Remove() error {
	err := os.RemoveAll(c.Dir)
	c.Close()
	// The root goes too once it is empty: minirun leaves nothing behind
	// (a root still in use is not empty, and stays).
	os.Remove(filepath.Dir(c.Dir))
	if err != nil {
		return fmt.Errorf("container %q: remove state: %w", c.ID, unwrap(err))
	}
	return nil
}

// RemoveIfEmpty removes the root if no container is left in it (a create
// killed between making the root and the container's folder leaves it
// empty); a root in use stays.
func (d Dir) RemoveIfEmpty() {
	os.Remove(d.Root)
}

// Read reads container id's record without locking it.
func (d Dir) Read(id string) (*Record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(d.Root, id)
	r, err := readRecord(dir)
	if errors.Is(err, os.ErrNotExist) {
		if _, derr := os.Stat(dir); derr == nil {
			return &Record{ID: id}, nil // being created, or a killed create
		}
		return nil, fmt.Errorf("container %q %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	return r, nil
}

func readRecord(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	r, err := decodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("state.json: %w", err)
	}
	return r, nil
}

// recordJSON is a Record as state.json holds it, with its Config as JSON
// text: encoding/json finds every field of Record but Config in the
// embedded recordFields (the outer Config hides the inner one), and the
// spec is encoded or decoded apart. A spec is the bulk of a record, and
// encoding/json's first encode or decode of its 63 struct types costs
// 0.7 ms in a fresh process, which every command that reads or writes a
// record is; specs.Decode decodes it without reflection, and a record made
// from a config file keeps that file's text (ConfigJSON) and need not
// encode it at all.
type recordJSON struct {
	*recordFields
	Config json.RawMessage `json:"config"`
}

// recordFields is Record without its methods.
type recordFields Record

func encodeRecord(r *Record) ([]byte, error) {
	cfg := r.ConfigJSON
	if cfg == nil {
		var err error
		if cfg, err = json.Marshal(r.Config); err != nil {
			return nil, err
		}
	}
	return json.Marshal(recordJSON{(*recordFields)(r), cfg})
}

func decodeRecord(data []byte) (*Record, error) {
	var r Record
	rj := recordJSON{recordFields: (*recordFields)(&r)}
	if err := json.Unmarshal(data, &rj); err != nil {
		return nil, err
	}
	if len(rj.Config) > 0 && string(rj.Config) != "null" {
		s, err := specs.Decode(rj.Config)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		r.Config, r.ConfigJSON = s, rj.Config
	}
	return &r, nil
}

// IDs lists the containers under the root, sorted.
func (d Dir) IDs() ([]string, error) {
	ents, err := os.ReadDir(d.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state root %s: %w", d.Root, unwrap(err))
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// StartTime reads field 22 of /proc/PID/stat: when the process started, in
// clock ticks after boot. With the pid it names one process for good.
func StartTime(pid int) (uint64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.start, nil
}

// Liveness is what became of a recorded process.
type Liveness int

const (
	// Gone: no such process, or the pid now names another (recycled).
	Gone Liveness = iota
	// Zombie: it has exited and waits for its parent to reap it, or it
	// is on its way out (killed, in the kernel's exit path).
	Zombie
	// Alive: it runs (or sleeps, or is stopped or frozen).
	Alive
)

// Check says what became of process pid that started at start.
func Check(pid int, start uint64) Liveness {
	if pid <= 0 {
		return Gone
	}
	st, err := readStat(pid)
	if err != nil || st.start != start {
		return Gone
	}
	// A task in the exit path has ended for every purpose but the
	// kernel's bookkeeping. The init of a PID namespace stays there, not a
	// zombie, until every other process of its namespace is reaped — and
	// a process exec joined to the container (a double fork's grandchild)
	// has the client's subreaper, not the init, for its parent: a client
	// that reaps only after delete returns would keep delete waiting.
	if st.state == 'Z' || st.state == 'X' || st.flags&pfExiting != 0 {
		return Zombie
	}
	return Alive
}

// pfExiting is PF_EXITING of the kernel's task flags (field 9 of
// /proc/PID/stat): set as the task enters do_exit.
const pfExiting = 0x4

type procStat struct {
	state byte
	flags uint64
	start uint64
}

// readStat reads the state (field 3), flags (field 9) and start time
// (field 22) of /proc/PID/stat. The command name (field 2) is in
// parentheses and may hold spaces and parentheses itself: fields are
// counted from the last ')'.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	// f[6] is field 9 (flags).
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: flags: %w", pid, err)
	}
	return procStat{state: f[0][0], flags: flags, start: start}, nil
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
