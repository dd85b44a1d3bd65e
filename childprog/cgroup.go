package childprog

// joinCgroups moves the child into the container's cgroup in each cgroup
// v1 hierarchy (CompileEnv.CgroupTasks) before it does anything else: it
// writes "0", meaning itself, to the hierarchy's tasks file, through an fd
// the parent opened before the clone.
//
// Why the child and not the parent, and tasks and not cgroup.procs: to
// move a thread group, the kernel takes cgroup_threadgroup_rwsem for
// writing, and that waits for an RCU grace period unless another writer
// passed a moment before: about 6 ms for a lone start on the project's VM,
// more under load, for the parent's write of the child's pid to
// cgroup.procs. A thread that moves itself alone cannot exit or exec under
// the kernel's hands, so cgroup_procs_write_start takes no such lock for
// it: the same move costs tens of microseconds. The child is a thread
// group of its own (it is never cloned with CLONE_THREAD), so its thread is
// the whole process, and everything it forks later is born inside. The
// kernel checks the credentials the file was opened with (the parent's),
// so the write works from a new user namespace too.
func (c *compiler) joinCgroups() {
	for _, h := range c.env.CgroupTasks {
		w := c.b.word()
		c.plan.CgroupTasks = append(c.plan.CgroupTasks, w)
		c.b.write("linux.cgroupsPath: join the container's cgroup in the "+h+" hierarchy (itself, by its tasks file)",
			wordFD(w, "fd<"+h+" tasks>"), "0")
	}
}
