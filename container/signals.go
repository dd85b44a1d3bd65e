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
// Run and Create start the catch in a goroutine of its own just after the
// compile's (the newest goroutine runs first when they wait, and the
// compile fills its round trips), and wait for it only before they make
// anything. A command that exits once the call returns (minirun run,
// create, exec) hands in Options.Signals a catch it keeps (KeptSignals):
// it is never undone, as the process ends. Without one, the call makes a
// catch of its own and undoes it before it returns.
type Signals struct {
	C          chan os.Signal
	done       chan struct{}
	started    bool
	start, end int64 // CLOCK_MONOTONIC, for a trace
	own        bool  // made by the call that uses it, and undone by it
}

// KeptSignals is a catch for Options.Signals that the call starts and
// leaves in place when it returns: for a caller that exits then.
func KeptSignals() *Signals { return newSignals(false) }

func newSignals(own bool) *Signals {
	return &Signals{C: make(chan os.Signal, 16), done: make(chan struct{}), own: own}
}

// signalsFor returns the caller's catch, or a catch of the call's own.
func signalsFor(s *Signals) *Signals {
	if s != nil {
		return s
	}
	return newSignals(true)
}

// catch starts catching, in a goroutine; a second call does nothing.
func (s *Signals) catch() {
	if s.started {
		return
	}
	s.started = true
	go func() {
		defer close(s.done)
		s.start = clonecore.Now()
		signal.Notify(s.C, ForwardedSignals...)
		s.end = clonecore.Now()
	}()
}

// ready returns once the signals are caught (starting the catch if it
// was not), and puts the catch on the trace as work done alongside, and
// the wait for it, if any, as a phase.
func (s *Signals) ready(tr *Trace) {
	s.catch()
	select {
	case <-s.done:
	default:
		tr.Mark("wait for the forwarded signals to be caught")
		<-s.done
	}
	tr.alongside("catch the forwarded signals (signal.Notify)", s.start, s.end)
}

// release stops a catch the call made itself; the caller's stays.
func (s *Signals) release() {
	if s.own && s.started {
		<-s.done
		signal.Stop(s.C)
	}
}
