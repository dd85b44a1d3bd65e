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
// again, each a wake-up of another thread: 0.3-0.5 ms each way on the
// project's machine with its CPUs free, twice that while the compile and
// the network namespace are being made beside it. So Run, Create and Exec
// wait for the catch before they do anything else, and a command that
// exits once the call returns (minirun run, create, exec) starts it as it
// starts itself (CatchSignals), while its command line is parsed, and
// never undoes it, as the process ends. Without one, the call makes a
// catch of its own and undoes it before it returns.
type Signals struct {
	C          chan os.Signal
	done       chan struct{}
	started    bool
	start, end int64 // CLOCK_MONOTONIC, for a trace
	own        bool  // made by the call that uses it, and undone by it
}

// CatchSignals starts catching the forwarded signals now, in a goroutine
// of its own, for Options.Signals: the call waits for it, and leaves it
// in place when it returns, for a caller that exits then.
func CatchSignals() *Signals {
	s := newSignals(false)
	s.catch()
	return s
}

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
