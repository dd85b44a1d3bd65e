package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// TestStateListPs: the JSON of state (runtime-spec's fields and runc's),
// list as a table and as JSON, ps as a table and as an array of host pids.
func TestStateListPs(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle("sleep 1000 & exec sleep 1000")
	tb.Spec.Annotations = map[string]string{"org.example.key": "value"}
	tb.save(t)

	if out := e.ok("list", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list --format json with no container: got %q, want []", out)
	}
	created, running := e.id("created"), e.id("running")
	t0 := time.Now().UTC()
	e.ok("create", "--bundle", tb.Dir, created)
	e.ok("create", "--bundle", tb.Dir, running)
	t1 := time.Now().UTC()
	e.ok("start", running)

	t.Run("state", func(t *testing.T) {
		out := e.ok("state", created)
		var raw map[string]any
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("state: %v; got %q", err, out)
		}
		var keys []string
		for k := range raw {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"annotations", "bundle", "created", "id", "ociVersion", "owner", "pid", "rootfs", "status"}; !slices.Equal(keys, want) {
			t.Errorf("state's fields: got %q, want %q", keys, want)
		}
		st, _, _ := e.state(created)
		for _, c := range []struct{ what, got, want string }{
			{"ociVersion", st.Version, rspec.Version},
			{"id", st.ID, created},
			{"status", string(st.Status), "created"},
			{"bundle", st.Bundle, tb.Dir},
			{"rootfs", st.Rootfs, tb.Rootfs},
			{"annotations", fmt.Sprint(st.Annotations), fmt.Sprint(tb.Spec.Annotations)},
			{"owner", st.Owner, strconv.Itoa(os.Geteuid())},
		} {
			if c.got != c.want {
				t.Errorf("state: %s: got %q, want %q", c.what, c.got, c.want)
			}
		}
		if st.Pid <= 0 || !procAlive(st.Pid) {
			t.Errorf("state: pid: got %d, want the created container's live process", st.Pid)
		}
		if st.Created.Before(t0.Truncate(time.Second)) || st.Created.After(t1) {
			t.Errorf("state: created: got %v, want a time between %v and %v (the create)", st.Created, t0, t1)
		}
	})

	t.Run("list", func(t *testing.T) {
		var list []StateOf
		out := e.ok("list", "--format", "json")
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("list --format json: %v; got %q", err, out)
		}
		var got []string
		for _, st := range list {
			got = append(got, fmt.Sprintf("%s %s %v", st.ID, st.Status, st.Pid > 0))
		}
		if want := []string{created + " created true", running + " running true"}; !slices.Equal(got, want) {
			t.Errorf("list --format json: got %q, want %q", got, want)
		}
		lines := strings.Split(strings.TrimSpace(e.ok("list")), "\n")
		if len(lines) != 3 || !slices.Equal(strings.Fields(lines[0]), []string{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}) {
			t.Fatalf("list: got %q, want a header and two rows", lines)
		}
		for i, st := range list {
			f := strings.Fields(lines[i+1])
			if want := []string{st.ID, strconv.Itoa(st.Pid), string(st.Status), st.Bundle, st.Created.Format(time.RFC3339Nano), st.Owner}; !slices.Equal(f, want) {
				t.Errorf("list row %d: got %q, want %q", i, f, want)
			}
		}
		if out := e.ok("list", "-q"); out != created+"\n"+running+"\n" {
			t.Errorf("list -q: got %q, want the two IDs", out)
		}
		e.fails("--format", "list", "--format", "yaml")
	})

	t.Run("ps", func(t *testing.T) {
		var pids []int
		waitFor(t, "two processes in the running container", func() bool {
			pids = nil
			json.Unmarshal([]byte(e.ok("ps", "--format", "json", running)), &pids)
			return len(pids) == 2
		})
		procs := cgroupFile(t, "pids", running, "cgroup.procs")
		var want []int
		for _, f := range strings.Fields(procs) {
			p, _ := strconv.Atoi(f)
			want = append(want, p)
		}
		slices.Sort(pids)
		slices.Sort(want)
		if !slices.Equal(pids, want) {
			t.Errorf("ps --format json: got %v, want the host pids of the container's cgroup %v", pids, want)
		}
		lines := strings.Split(strings.TrimSpace(e.ok("ps", running)), "\n")
		if len(lines) != 3 || !slices.Equal(strings.Fields(lines[0]), []string{"PID", "CMD"}) {
			t.Fatalf("ps: got %q, want a header and two rows", lines)
		}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if p, _ := strconv.Atoi(f[0]); !slices.Contains(pids, p) || strings.Join(f[1:], " ") != "sleep 1000" {
				t.Errorf("ps row: got %q, want a pid of %v and sleep 1000", l, pids)
			}
		}
		st, _, _ := e.state(created)
		if out := strings.TrimSpace(e.ok("ps", "--format", "json", created)); out != fmt.Sprintf("[%d]", st.Pid) {
			t.Errorf("ps --format json of a created container: got %s, want [%d]", out, st.Pid)
		}
		e.fails("--format", "ps", "--format", "yaml", running)
	})

	e.ok("delete", "--force", created)
	e.ok("delete", "--force", running)
}

// TestGlobalFlags: --root is where the state lives; --log with
// --log-format json gets one {"level","msg","time"} line per error (and
// per warning); --systemd-cgroup and unknown formats are refused clearly.
func TestGlobalFlags(t *testing.T) {
	e := newLC(t)
	tb := e.lcBundle("exec sleep 1000")
	tb.Spec.Hooks = &rspec.Hooks{Poststart: []rspec.Hook{{Path: "/bin/false", Args: []string{"false"}}}}
	tb.save(t)
	id := e.id("global")

	t.Run("root", func(t *testing.T) {
		e.ok("create", "--bundle", tb.Dir, id)
		if _, err := os.Stat(filepath.Join(e.root, id, "state.json")); err != nil {
			t.Errorf("create --root %s: got %v, want its state there", e.root, err)
		}
		if _, err := os.Stat(filepath.Join("/run/minirun", id)); err == nil {
			t.Errorf("create --root %s: got state in /run/minirun too, want it under --root alone", e.root)
		}
		other := filepath.Join(e.dir, "other")
		if _, stderr, code := runBinary(t, nil, "--root", other, "state", id); code == 0 || !strings.Contains(stderr, "does not exist") {
			t.Errorf("state under another --root: got exit status %d, stderr %q; want \"does not exist\"", code, stderr)
		}
		if out, _, _ := runBinary(t, nil, "--root", other, "list", "-q"); out != "" {
			t.Errorf("list under another --root: got %q, want nothing", out)
		}
	})

	t.Run("log json", func(t *testing.T) {
		log := filepath.Join(e.dir, "log.json")
		_, stderr, code := e.mr("--log", log, "--log-format", "json", "state", e.id("nosuch"))
		if code == 0 || !strings.Contains(stderr, "does not exist") {
			t.Errorf("state of an unknown ID: got exit status %d, stderr %q", code, stderr)
		}
		// A poststart hook that fails is a warning, logged too.
		_, stderr, code = e.mr("--log", log, "--log-format", "json", "start", id)
		if code != 0 || !strings.Contains(stderr, "warning") {
			t.Errorf("start with a failing poststart hook: got exit status %d, stderr %q; want 0 and a warning", code, stderr)
		}
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		want := []struct{ level, msg string }{{"error", "does not exist"}, {"warning", "hooks.poststart[0]"}}
		if len(lines) != len(want) {
			t.Fatalf("--log: got %d lines %q, want %d", len(lines), lines, len(want))
		}
		for i, l := range lines {
			var entry map[string]string
			if err := json.Unmarshal([]byte(l), &entry); err != nil {
				t.Errorf("--log line %d: %v; got %q", i, err, l)
				continue
			}
			tm, err := time.Parse(time.RFC3339Nano, entry["time"])
			if len(entry) != 3 || entry["level"] != want[i].level || !strings.Contains(entry["msg"], want[i].msg) || err != nil || time.Since(tm) > time.Hour || time.Since(tm) < 0 {
				t.Errorf("--log line %d: got %q, want exactly level %q, a msg with %q and this run's time", i, l, want[i].level, want[i].msg)
			}
		}
	})

	t.Run("log text", func(t *testing.T) {
		log := filepath.Join(e.dir, "log.txt")
		e.mr("--log", log, "kill", e.id("nosuch"))
		data, _ := os.ReadFile(log)
		f := strings.SplitN(strings.TrimSpace(string(data)), " ", 3)
		if len(f) != 3 || f[1] != "error" || !strings.Contains(f[2], "does not exist") {
			t.Errorf("--log with --log-format text: got %q, want \"TIME error MSG\"", data)
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Errorf("--log with --log-format text: its time %q: %v", f[0], err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--systemd-cgroup", "state", id}, "--systemd-cgroup"},
			{[]string{"--systemd-cgroup", "create", "--bundle", tb.Dir, e.id("systemd")}, "--systemd-cgroup"},
			{[]string{"--log-format", "xml", "state", id}, "--log-format"},
			{[]string{"--rootless", "maybe", "state", id}, "--rootless"},
		} {
			_, stderr, code := e.mr(c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("minirun %q: got exit status %d, stderr %q; want 2 and a message naming %s", c.args, code, stderr, c.want)
			}
		}
		if got := e.status(e.id("systemd")); !strings.Contains(got, "does not exist") {
			t.Errorf("create with --systemd-cgroup: got state %q, want nothing created", got)
		}
	})

	e.ok("delete", "--force", id)
}
