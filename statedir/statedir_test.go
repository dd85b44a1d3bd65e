package statedir

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidateID(t *testing.T) {
	for _, c := range []struct {
		id   string
		want string // "" for valid
	}{
		{"web-1", ""},
		{"a.b_c+d", ""},
		{strings.Repeat("x", 255), ""},
		{"", "container ID: missing"},
		{".", `container ID ".": not a name`},
		{"..", `container ID "..": not a name`},
		{"a/b", `container ID "a/b": '/' is not allowed (letters, digits, _ + - . only)`},
		{"../x", `container ID "../x": '/' is not allowed (letters, digits, _ + - . only)`},
		{"a\x00b", `container ID "a\x00b": '\x00' is not allowed (letters, digits, _ + - . only)`},
		{"a b", `container ID "a b": ' ' is not allowed (letters, digits, _ + - . only)`},
		{strings.Repeat("x", 256), "container ID: 256 bytes; at most 255, as a file name"},
	} {
		err := ValidateID(c.id)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("ValidateID(%q): got %q, want %q", c.id, got, c.want)
		}
	}
}

// TestCreateOpenRemove walks one container's folder through its life.
func TestCreateOpenRemove(t *testing.T) {
	d := Dir{Root: filepath.Join(t.TempDir(), "root")}
	c, err := d.Create("one")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create("one"); !errors.Is(err, ErrExist) {
		t.Errorf("a second Create: got %v, want ErrExist", err)
	}
	// Before the first Save the folder reads as a record with only the ID:
	// a create killed that early is still the caller's to delete.
	if r, err := d.Read("one"); err != nil || r.ID != "one" || r.Pid != 0 {
		t.Errorf("Read before Save: got %+v, %v", r, err)
	}
	r := &Record{ID: "one", Bundle: "/b", Pid: 42, PidStart: 7, Ready: true}
	if err := c.Save(r); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Read("one"); err != nil || got.Pid != 42 || got.PidStart != 7 || !got.Ready || got.Bundle != "/b" {
		t.Errorf("Read: got %+v, %v", got, err)
	}
	if ids, err := d.IDs(); err != nil || len(ids) != 1 || ids[0] != "one" {
		t.Errorf("IDs: got %v, %v", ids, err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read("one"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Read after Remove: got %v, want ErrNotExist", err)
	}
	if _, err := d.Open("one"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Open after Remove: got %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(d.Root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the empty root after the last Remove: got %v, want it gone", err)
	}
}

// TestLock: a command that opens a container waits for the one holding
// it, and finds out if that one deleted it meanwhile.
func TestLock(t *testing.T) {
	d := Dir{Root: t.TempDir()}
	c, err := d.Create("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(&Record{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		c2, err := d.Open("x")
		if err == nil {
			c2.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned (%v) while another held the lock", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.Remove()
	if err := <-opened; !errors.Is(err, ErrNotExist) {
		t.Errorf("Open waiting on a container that was deleted: got %v, want ErrNotExist", err)
	}
}

// TestCreateRace: of many concurrent creates of one ID exactly one wins.
func TestCreateRace(t *testing.T) {
	d := Dir{Root: t.TempDir()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for range 20 {
		wg.Go(func() {
			c, err := d.Create("same")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
				c.Close()
			case errors.Is(err, ErrExist):
				lost++
			default:
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != 19 {
		t.Errorf("got %d created and %d told it exists, want 1 and 19", won, lost)
	}
}

// TestCheck tells a live process from a recycled pid and an ended one.
func TestCheck(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skip("needs sleep(1): " + err.Error())
	}
	pid := cmd.Process.Pid
	start, err := StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	if got := Check(pid, start); got != Alive {
		t.Errorf("a running process: got %v, want Alive", got)
	}
	if got := Check(pid, start+1); got != Gone {
		t.Errorf("the pid with another start time (recycled): got %v, want Gone", got)
	}
	cmd.Process.Kill()
	for i := 0; i < 200 && Check(pid, start) == Alive; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if got := Check(pid, start); got != Zombie {
		t.Errorf("an ended, unreaped process: got %v, want Zombie", got)
	}
	cmd.Wait()
	if got := Check(pid, start); got != Gone {
		t.Errorf("a reaped process: got %v, want Gone", got)
	}
	if got := Check(0, 0); got != Gone {
		t.Errorf("pid 0: got %v, want Gone", got)
	}
}

// TestStartTimeOddName: a command name may hold spaces and parentheses,
// and /proc/PID/stat is read from the last ')'.
func TestStartTimeOddName(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep(1): " + err.Error())
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(t.TempDir(), "a) R 1 (b")
	if err := os.WriteFile(odd, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	start, err := StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	self, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if start < self {
		t.Errorf("start time of a process started after this one: got %d, want at least %d", start, self)
	}
	if got := Check(cmd.Process.Pid, start); got != Alive {
		t.Errorf("got %v, want Alive", got)
	}
}

// TestCreateLeavesNoRoot: a create that fails leaves no state root it
// made, and one that succeeds makes it; Remove of the last container
// takes the root away.
func TestCreateLeavesNoRoot(t *testing.T) {
	root := t.TempDir() + "/state"
	d := Dir{Root: root}
	// A folder name the kernel would refuse (longer than NAME_MAX) is
	// refused before anything is made.
	if _, err := d.Create(strings.Repeat("x", 256)); err == nil {
		t.Fatalf("Create of a 256-byte ID: got nil, want an error")
	}
	if _, err := os.Stat(root); err == nil {
		t.Errorf("after a refused Create: got the root %s made, want none", root)
	}
	c, err := d.Create("ok")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create("ok"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Create of an ID that exists: got %v, want \"already exists\"", err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); err == nil {
		t.Errorf("after the last Remove: got the root %s, want it removed", root)
	}
}
