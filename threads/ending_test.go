package threads

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/minirun/minirun/clonecore"
)

// TestCrashAndExit runs both experiments and checks each case against what
// the test reads itself from the report's tasks: the claim is shown only
// when the faulting (or exit_group) thread takes its whole group with it,
// and a process of its own only itself.
func TestCrashAndExit(t *testing.T) {
	for _, exp := range []struct {
		name string
		run  func(EndConfig) (*EndReport, error)
		want []string
	}{
		{"crash", Crash, []string{"thread/fault", "process/fault", "thread/overflow", "process/overflow"}},
		{"exit", Exit, []string{"thread/exit", "process/exit", "thread/exit_group", "process/exit_group"}},
	} {
		t.Run(exp.name, func(t *testing.T) {
			r, err := exp.run(EndConfig{Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			r.WriteText(&text)
			t.Log("\n" + text.String())
			var names []string
			for _, c := range r.Checks {
				names = append(names, c.Name)
				if c.Verdict() != "PASS" {
					t.Errorf("check %s: got %s %s, want PASS", c.Name, c.Verdict(), c.Detail)
				}
			}
			if got, want := strings.Join(names, ","), strings.Join(exp.want, ","); got != want {
				t.Errorf("checks: got %s, want %s", got, want)
			}
			for _, ec := range r.Cases {
				dies := ec.ThreadGroup && ec.Action != ActExit
				if len(ec.Workers) != 3 {
					t.Fatalf("%s: %d workers, want 3", ec.Name, len(ec.Workers))
				}
				if ec.Host.TID == r.PID || ec.Host.PPid != r.PID {
					t.Errorf("%s: host %d with parent %d, want a child of minirun %d", ec.Name, ec.Host.TID, ec.Host.PPid, r.PID)
				}
				for i, w := range ec.Workers {
					if w.TID == ec.Host.TID || w.TID <= 0 {
						t.Errorf("%s: worker %d: tid %d", ec.Name, i, w.TID)
					}
					if ec.ThreadGroup != (w.Tgid == ec.Host.TID) {
						t.Errorf("%s: worker %d: tgid %d, host %d, thread group %v", ec.Name, i, w.Tgid, ec.Host.TID, ec.ThreadGroup)
					}
					if i > 0 && w.Alive == dies {
						t.Errorf("%s: sibling %d alive after worker 0 acted: %v, want %v", ec.Name, i, w.Alive, !dies)
					}
				}
				if ec.Host.Alive == dies {
					t.Errorf("%s: host alive after: %v, want %v", ec.Name, ec.Host.Alive, !dies)
				}
				if ec.Workers[0].Alive {
					t.Errorf("%s: worker 0 alive after it acted", ec.Name)
				}
			}
			var js bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back EndReport
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Cases) != 4 || back.Cases[0].Host.Status != r.Cases[0].Host.Status {
				t.Errorf("JSON round trip: %v, %+v", err, back.Cases)
			}
		})
	}
}

// TestEndVerdicts breaks one fact of a good case at a time.
func TestEndVerdicts(t *testing.T) {
	good := func(a EndAction, thread bool) EndCase {
		ec := EndCase{Name: "x", Action: a, ThreadGroup: thread, Host: EndTask{TID: 10, Tgid: 10, PPid: 1, Alive: true, Status: "exited 0"}}
		for i := 0; i < 3; i++ {
			w := EndTask{TID: 11 + i, Tgid: 10, PPid: 1, Alive: true, Phase: clonecore.LabLeaving}
			if !thread {
				w.Tgid, w.PPid, w.Status = w.TID, 10, "exited 0"
			}
			ec.Workers = append(ec.Workers, w)
		}
		w0, host := ec.wantStatus()
		ec.Host.Status = host
		ec.Workers[0].Alive, ec.Workers[0].Phase = false, clonecore.LabRunning
		if !thread {
			ec.Workers[0].Status = w0
		}
		if ec.groupDies() {
			ec.Host.Alive = false
			for i := range ec.Workers {
				ec.Workers[i].Alive, ec.Workers[i].Phase = false, clonecore.LabReady
			}
			ec.Workers[0].Phase = clonecore.LabRunning
		}
		if a == ActOverflow {
			ec.StackLo, ec.Lowest = 0x1000, 0x1040
		}
		return ec
	}
	tests := []struct {
		name   string
		a      EndAction
		thread bool
		break_ func(*EndCase)
		want   string
	}{
		{"sibling survived a group fault", ActFault, true, func(ec *EndCase) { ec.Workers[2].Alive = true }, "worker 2: alive after worker 0 acted true"},
		{"host survived a group fault", ActFault, true, func(ec *EndCase) { ec.Host.Alive = true }, "host alive after worker 0 acted: true, want false"},
		{"wrong host status", ActExitGroup, true, func(ec *EndCase) { ec.Host.Status = "exited 0" }, "host: exited 0, want exited 42"},
		{"process sibling died", ActFault, false, func(ec *EndCase) { ec.Workers[1].Alive = false }, "worker 1: gone after worker 0 acted, want alive"},
		{"process worker 0 status", ActExit, false, func(ec *EndCase) { ec.Workers[0].Status = "exited 0" }, "worker 0: exited 0, want exited 42"},
		{"not a thread", ActExit, true, func(ec *EndCase) { ec.Workers[1].Tgid = 12 }, "worker 1 (tid 12): Tgid 12 before, want the host's 10"},
		{"not a process", ActExit, false, func(ec *EndCase) { ec.Workers[1].PPid = 1 }, "worker 1 (tid 12): Tgid 12 and PPid 1 before"},
		{"overflow elsewhere", ActOverflow, false, func(ec *EndCase) { ec.Lowest = 0x2000 }, "lowest address written 0x2000"},
		{"exit sibling never left", ActExit, true, func(ec *EndCase) { ec.Workers[1].Phase = clonecore.LabReady }, "worker 1: phase 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ec := good(tt.a, tt.thread)
			if ok, d := ec.verdict(); !ok {
				t.Fatalf("good case: got FAIL %s", d)
			}
			tt.break_(&ec)
			if ok, d := ec.verdict(); ok || !strings.Contains(d, tt.want) {
				t.Errorf("got ok=%v %q, want FAIL with %q", ok, d, tt.want)
			}
		})
	}
}

func TestEndConfig(t *testing.T) {
	for _, n := range []int{1, -1, MaxLabWorkers + 1} {
		_, err := EndConfig{Workers: n}.Check()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "count" {
			t.Errorf("workers %d: got %v, want a ConfigError on count", n, err)
		}
	}
	if c, err := (EndConfig{}).Check(); err != nil || c.Workers != DefaultEndWorkers {
		t.Errorf("default: got %+v %v", c, err)
	}
}
