package container

import (
	"os"
	"os/signal"

	"github.com/minirun/minirun/clonecore"
)

// Signals is the catch of the forwarded signals (ForwardedSignals) by a
// container's setup and, attached, by its waiting minirun: a signal that
// arrives during the setup ends it with nothing left behind, and one that
// arrives later goes to the container's process.
//
// Catching is slow: signal.Notify makes a round trip to a thread the Go
// runtime keeps for it, per signal, and undoing it (signal.Stop) as many
// again: 0.3-0.5 ms each way on the project's machine, spent waiting. So
// the catch is made alongside other work, by a goroutine, and waited for
// only before the setup makes anything. A command that exits once the call
// returns (minirun run, create, exec) starts it as it starts itself, and
// hands it in Options.Signals; it is never undone, as the process ends.
// Without one, Run, Create and Exec catch the signals themselves and stop
// catching them before they return.
type Signals struct {
	C          chan os.Signal
	done       chan struct{}
	start, end int64 // CLOCK_MONOTONIC, for a trace
	own        bool  // made by the call that uses it, and undone by it
}

// CatchSignals starts catching the forwarded signals, in a goroutine of
// its own, for the rest of the process's life (see Signals).
func CatchSignals() *Signals { return catchSignals(false) }

func catchSignals(own bool) *Signals {
	s := &Signals{C: make(chan os.Signal, 16), done: make(chan struct{}), own: own}
	go func() {
		defer close(s.done)
		s.start = clonecore.Now()
		signal.Notify(s.C, ForwardedSignals...)
		s.end = clonecore.Now()
	}()
	return s
}

// signalsFor returns the caller's catch, or a catch of the call's own.
func signalsFor(s *Signals) *Signals {
	if s != nil {
		return s
	}
	return catchSignals(true)
}

// ready returns once the signals are caught, and puts the catch on the
// trace as work done alongside.
func (s *Signals) ready(tr *Trace) {
	<-s.done
	tr.alongside("catch the forwarded signals (signal.Notify)", s.start, s.end)
}

// release stops a catch the call made itself; the caller's stays.
func (s *Signals) release() {
	if s.own {
		<-s.done
		signal.Stop(s.C)
	}
}
