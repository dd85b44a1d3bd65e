package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/minirun/minirun/internal/testbin"
)

// TestThreadsIsolate: the lab in a container of its own is PID 1 of a new
// PID namespace, its workers are its threads, and each shows two TIDs: the
// host's and the container's.
// Without privilege (uid 65534) the container gets a user namespace too.
func TestThreadsIsolate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the lab both as root and, through setpriv, as uid 65534")
	}
	for _, who := range []struct {
		name string
		wrap []string
	}{
		{"root", nil},
		{"uid 65534", []string{"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"}},
	} {
		t.Run(who.name, func(t *testing.T) {
			testThreadsIsolate(t, who.wrap)
		})
	}
}

func testThreadsIsolate(t *testing.T, wrap []string) {
	stdout, stderr, code := testbin.Run(t, minirunBin, "/", wrap, "threads", "--count", "3", "--work", "100", "--isolate", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		PID     int   `json:"pid"`
		NSpid   []int `json:"nspid"`
		Counter int   `json:"counter"`
		OK      bool  `json:"ok"`
		Workers []struct {
			TID   int   `json:"tid"`
			TGID  int   `json:"tgid"`
			NSpid []int `json:"nspid"`
		} `json:"workers"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	if !r.OK || r.Counter != 300 {
		t.Errorf("ok %v, counter %d; want true, 300", r.OK, r.Counter)
	}
	if r.PID != 1 || len(r.NSpid) != 2 || r.NSpid[1] != 1 || r.NSpid[0] == os.Getpid() {
		t.Errorf("lab pid %d NSpid %v, want pid 1 and NSpid [host-pid 1]", r.PID, r.NSpid)
	}
	if len(r.Workers) != 3 {
		t.Fatalf("got %d workers, want 3", len(r.Workers))
	}
	for _, w := range r.Workers {
		if w.TGID != 1 || len(w.NSpid) != 2 || w.NSpid[1] != w.TID || w.NSpid[0] == w.TID {
			t.Errorf("worker tid %d tgid %d NSpid %v: want tgid 1 and NSpid [host-tid tid]", w.TID, w.TGID, w.NSpid)
		}
	}
}
