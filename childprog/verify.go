package childprog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/minirun/minirun/clonecore"
)

// Verify checks a compiled plan against its own rules, beyond the
// program's (clonecore.Program.Verify): every int32 the child loads is a
// word the plan tells the parent to fill; every point has what the parent
// needs there (the notify and sync words; the gate's at PointReady; the
// console's and the listener's words, and a pidfd to take them with); the
// child tells the parent of each point once, in the plan's order; and the
// program ends in execve or a planned failure. Compile's output always
// passes; the fuzz test holds it to that.
func (p *Plan) Verify() error {
	var errs []error
	if err := p.Program.Verify(); err != nil {
		errs = append(errs, err)
	}
	filled := map[uintptr]bool{}
	for _, w := range []uintptr{p.NotifyFD, p.SyncFD, p.GateFD, p.ParentPidfd} {
		filled[w] = w != 0
	}
	for _, w := range p.JoinFDs {
		filled[w] = true
	}
	for _, w := range p.CloseFDs {
		filled[w] = true
	}
	for _, w := range p.StdioFDs {
		filled[w] = w != 0
	}
	for _, m := range p.IDMapped {
		filled[m.FD] = true
	}
	for _, w := range p.Program.Int32Words() {
		if !filled[w] {
			errs = append(errs, fmt.Errorf("the child loads an fd number at %#x, a word the plan does not give the parent to fill", w))
		}
	}
	if len(p.Points) > 0 && (p.NotifyFD == 0 || p.SyncFD == 0) {
		errs = append(errs, errors.New("points without a notify or sync pipe"))
	}
	for _, pt := range p.Points {
		var missing string
		switch pt {
		case PointReady:
			if p.GateFD == 0 {
				missing = "the gate's word"
			}
		case PointConsole:
			if p.Console == 0 || p.Flags&clonecore.PIDFD == 0 {
				missing = "the console's word or a pidfd"
			}
		case PointListener:
			if p.Listener == 0 || p.Seccomp == nil || !p.Seccomp.Notify || p.Flags&clonecore.PIDFD == 0 {
				missing = "the listener's word, a notifying filter or a pidfd"
			}
		}
		if missing != "" {
			errs = append(errs, fmt.Errorf("the %s point lacks %s", pt, missing))
		}
	}
	var told []string
	n := p.Program.Len()
	for i := range n {
		if rest, ok := strings.CutPrefix(p.Program.Call(i), "write(fd<notify>, ["); ok {
			name, _, _ := strings.Cut(rest, "]")
			told = append(told, name)
		}
	}
	var want []string
	for _, pt := range p.Points {
		want = append(want, pt.String())
	}
	if strings.Join(told, " ") != strings.Join(want, " ") {
		errs = append(errs, fmt.Errorf("the child tells the parent of points %q, the plan has %q", told, want))
	}
	if last := p.Program.Call(n - 1); n == 0 || !strings.HasPrefix(last, "execve(") && !strings.HasPrefix(last, "fail(") {
		errs = append(errs, errors.New("the program does not end in execve or a planned failure"))
	}
	return errors.Join(errs...)
}
