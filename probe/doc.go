// Package probe starts one task with a given set of clone flags through the
// clone core and measures what that task shares with minirun: the address
// space, the file descriptor table, the filesystem context (cwd and umask),
// the signal handler table, the thread group, the parent, the System V
// semaphore undo list, the thread pointer (TLS), the stack, the scheduling
// policy and each namespace. Nothing is taken from documentation: every
// verdict comes from a change the child made and minirun then looked for in
// itself, or from /proc. It is the engine of `minirun clone`.
//
// The child runs a program of raw syscalls (clonecore.Program) and never
// Go. Before the clone minirun records its own state; the child changes one
// thing of each kind, records what only it can see (its pid, its namespaces,
// its thread pointer) into the arena, and waits on a pipe; minirun reads
// /proc/<tid> while it waits, releases it, waits until it has fully exited,
// compares its own state with what it recorded, and puts back anything the
// child changed in it:
//
//	minirun (one locked OS thread)              child (signals blocked)
//	  record cwd, umask, every handler,
//	  its thread pointer, fd N free,
//	  a MAP_PRIVATE page = mark A,
//	  a semaphore set at 0, a sync pipe
//	  clone3(flags) -------------------------->  getpid, gettid, getppid, policy
//	                                             thread pointer -> arena
//	                                             statx /proc/thread-self/ns/* -> arena
//	                                             page = mark B
//	                                             /dev/null dup3'd onto fd N
//	                                             chdir, umask
//	                                             SIGWINCH -> SIG_IGN
//	                                             semop +1 with SEM_UNDO
//	  poll /proc/<tid>/syscall until it is  <..  read(sync pipe)   (waits)
//	  blocked in read; read its SP, state,
//	  status and ns links
//	  write one byte ------------------------->  returns; the program ends: exit(0)
//	  wait on a pidfd until it has exited        (the kernel undoes SEM_UNDO
//	  compare: page, fd N, cwd, umask,            on exit unless the undo
//	  handlers, semaphore value                   list is shared)
//	  restore cwd, umask, handlers; close fd N;
//	  remove the set; reap
//
// With CLONE_VFORK minirun is suspended in clone3 until the child exits, so
// the child cannot wait for it (that would deadlock); it reads its own
// /proc/thread-self/syscall and stat instead, and minirun measures the rest
// after the exit as usual.
//
// Probes change process-wide state for a moment (with CLONE_FS the child's
// chdir is minirun's), so they run one at a time, and nothing else in
// minirun should depend on its cwd, umask or SIGWINCH handler meanwhile.
package probe
