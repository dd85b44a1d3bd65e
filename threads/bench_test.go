package threads

import (
	"runtime"
	"testing"
	"time"

	"github.com/minirun/minirun/clonecore"
)

// reportCPU adds the CPU time (user + system, all threads) per iteration
// since start to b's results as cpu-ns/op. Work the kernel defers to other
// tasks (RCU callbacks freeing an exited task) is not in it.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkCreateJoin is one thread-preset worker with no work, created
// through the clone core and joined on its TID word, per iteration, on one
// reused stack slot and block: the cost of a task, not of the lab around it.
// bench/threads.sh runs it pinned to one CPU beside C's pthread_create and
// BenchmarkGoThread.
func BenchmarkCreateJoin(b *testing.B) {
	arena, err := clonecore.NewArena(1 << 12)
	if err != nil {
		b.Fatal(err)
	}
	defer arena.Free()
	stacks, err := clonecore.NewStacks(1, DefaultStackSize)
	if err != nil {
		b.Fatal(err)
	}
	defer stacks.Free()
	block, err := arena.Alloc(clonecore.BlockSize)
	if err != nil {
		b.Fatal(err)
	}
	counter, err := arena.Alloc(8)
	if err != nil {
		b.Fatal(err)
	}
	arena.Store64(block+clonecore.WorkerCounter, uint64(counter))
	arena.Store64(block+clonecore.WorkerArray, uint64(counter))
	stacks.SetTLSWord(0, 1, TLSValue(0))
	o := clonecore.Options{Flags: clonecore.Presets["thread"]}
	cpu0 := cpuTime()
	for b.Loop() {
		t, err := clonecore.StartKernel(clonecore.KernelWork, arena, block, stacks, 0, o)
		if err != nil {
			b.Fatal(err)
		}
		if err := t.Join(); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
	if got := arena.Load64(block + clonecore.WorkerPhase); got != clonecore.PhaseLeaving {
		b.Fatalf("last worker's phase: got %d, want 3", got)
	}
}

// BenchmarkGoThread is the Go runtime's own way to get a fresh OS thread: a
// goroutine that locks its thread and returns without unlocking it, so the
// runtime terminates the thread, and the next iteration needs a new one.
func BenchmarkGoThread(b *testing.B) {
	done := make(chan struct{})
	cpu0 := cpuTime()
	for b.Loop() {
		go func() {
			runtime.LockOSThread()
			done <- struct{}{}
		}()
		<-done
	}
	reportCPU(b, cpu0)
}

// BenchmarkLab is the whole lab for four workers: arena, stacks, clones,
// hold, /proc, join and report.
func BenchmarkLab(b *testing.B) {
	for b.Loop() {
		r, err := Run(Config{Count: 4, Work: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if !r.OK {
			b.Fatalf("checks failed: %v", r.Failed())
		}
	}
}
