// Package threads is the thread lab: it starts worker tasks through the
// clone core, each on a stack of its own (one mapping, a PROT_NONE guard
// page under every stack) with its own TLS block (CLONE_SETTLS), lets them
// do checkable work in shared memory, proves they are live kernel tasks
// while they wait, joins them on the TID word the kernel clears at exit,
// and reports what they shared with minirun and what they did not.
//
// With the thread preset the workers are threads: they join minirun's
// thread group and share its TGID. With any other flag set that has
// CLONE_VM (say vm,fs,files,sighand,settls,child_cleartid) they share
// memory but are thread groups of their own, and the report shows the
// difference. The workers never run Go: they run the clone core's worker
// kernel, a few dozen instructions of assembly.
//
// One run of the lab, as Run does it:
//
//	minirun (Go)                              worker i (assembly, signals blocked)
//	  arena: blocks, counter, array, hold
//	  stacks: N slots, guard + stack + TCB
//	  TCB(i) word 1 = TLSValue(i)
//	  StartKernel(KernelWork) × N  ───────────▶ record TLS word 1 and self pointer, SP,
//	                                            gettid, getpid; phase = 1
//	                                            LOCK INC counter × Work
//	                                            sum array[lo:hi]; phase = 2
//	  wait until every phase ≥ 2                FUTEX_WAIT on the hold word while it is 0
//	  read /proc/self/task or /proc/<tid>,            :
//	  VmRSS                                           :
//	  hold = 1, FUTEX_WAKE  ──────────────────────────▶ phase = 3; exit
//	  Join: FUTEX_WAIT on each TID word  ◀──── the kernel zeroes the TID word, wakes
//	  Reap the workers outside minirun's thread group
//	  free stacks and arena; build the Report
//
// Run takes no view of the host: it reads /proc/self and the workers' own
// gettid and getpid, so it works the same inside a container, where the
// report also shows each task's ids in the enclosing PID namespaces (the
// NSpid line of /proc/<tid>/status) when they are visible. With
// Config.Layout it also reads the address space while the workers hold,
// and Report.WriteSVG draws it.
//
// The experiments (Race, Crash, Exit, Parallel, Futex; experiment.go) show
// the article's other claims with the clone core's lab kernels: a crew of
// workers that are threads of minirun (crew.go), or, where a worker must
// fault or end its thread group, a host process of its own that clones
// them (ending.go). Each returns a report with checks, text and JSON.
package threads
