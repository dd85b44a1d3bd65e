package probe

// Report is what one probe measured.
type Report struct {
	// Asked are the flags asked for; Flags those given to the kernel;
	// Added the part of Flags the clone core added (CLONE_SETTLS and the
	// TID word flags for a child in minirun's address space).
	Asked    string `json:"asked"`
	Flags    string `json:"flags"`
	Added    string `json:"added,omitempty"`
	FlagBits uint64 `json:"flag_bits"`
	// Syscall is clone3, or clone on a kernel without it.
	Syscall string `json:"syscall"`
	// Child is the probe task as minirun sees it (its TID in minirun's PID
	// namespace) and as it saw itself (getpid, gettid, getppid in its own).
	Child   ChildIdentity `json:"child"`
	Minirun Identity      `json:"minirun"`
	// Held says whether the child waited on its sync step while minirun
	// read /proc/<tid>: false with CLONE_VFORK (see the package doc).
	Held bool `json:"held"`
	// SemSet is the SysV semaphore set the child used, removed since.
	SemSet int `json:"sem_set"`
	// Exit says how the child ended and who reaped it.
	Exit string `json:"exit"`
	// Resources are the measured verdicts, in the order of Keys.
	Resources  []Resource  `json:"resources"`
	Namespaces []Namespace `json:"namespaces"`
	// Notes explain what the flags did that the table alone does not say.
	Notes []string `json:"notes,omitempty"`
	// Program is the child program, one step a line.
	Program []string `json:"program"`
}

// Identity is a task's ids as minirun sees them.
type Identity struct {
	PID  int `json:"pid"`
	TID  int `json:"tid"`
	PPID int `json:"ppid"`
}

// ChildIdentity is the probe task's ids: TID and, while it waited, the TGID
// and parent from /proc/<tid>/status, as minirun sees them; and the
// results of getpid, gettid and getppid in the child, which differ in a new
// PID namespace (pid 1, parent 0).
type ChildIdentity struct {
	TID        int `json:"tid"`
	TGID       int `json:"tgid,omitempty"`
	PPID       int `json:"ppid,omitempty"`
	SelfPID    int `json:"getpid"`
	SelfTID    int `json:"gettid"`
	SelfParent int `json:"getppid"`
}

// The keys of the resources a probe measures, in report order.
const (
	KeyVM          = "vm"
	KeyFiles       = "files"
	KeyFS          = "fs"
	KeySighand     = "sighand"
	KeyThreadGroup = "thread_group"
	KeyParent      = "parent"
	KeySysvsem     = "sysvsem"
	KeyTLS         = "tls"
	KeyStack       = "stack"
	KeySched       = "sched"
)

// Keys lists the resource keys in report order.
var Keys = []string{KeyVM, KeyFiles, KeyFS, KeySighand, KeyThreadGroup, KeyParent, KeySysvsem, KeyTLS, KeyStack, KeySched}

// resourceNames are the names reports print for the keys.
var resourceNames = map[string]string{
	KeyVM:          "address space",
	KeyFiles:       "file descriptors",
	KeyFS:          "filesystem context",
	KeySighand:     "signal handlers",
	KeyThreadGroup: "thread group",
	KeyParent:      "parent",
	KeySysvsem:     "SysV semaphore undo",
	KeyTLS:         "thread pointer (TLS)",
	KeyStack:       "stack",
	KeySched:       "scheduler view",
}

// Resource is one thing a task may share with minirun, measured.
type Resource struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	// Same says whether the child's is minirun's: the same address space,
	// table, thread group, parent, thread pointer, stack or scheduling
	// policy. Nil when it could not be measured (Verdict says why).
	Same *bool `json:"same"`
	// Verdict is the word the article's tables use: "shared" or
	// "copy-on-write" for memory, "same" or "new" for the thread group...
	Verdict string `json:"verdict"`
	// Evidence is what was measured, in words and numbers.
	Evidence string `json:"evidence"`
	// Restored is what minirun put back after the child changed it.
	Restored string `json:"restored,omitempty"`
}

// Namespace is one namespace of the child next to minirun's.
type Namespace struct {
	Name string `json:"name"`
	// Child is the inode of the namespace the child is in: from statx in
	// the child of /proc/thread-self/ns/NAME, and checked against
	// /proc/<tid>/ns/NAME while the child waited.
	Child uint64 `json:"child"`
	// Proc is the inode of /proc/<tid>/ns/NAME as minirun read it while
	// the child waited (0 when it could not wait: CLONE_VFORK).
	Proc    uint64 `json:"proc,omitempty"`
	Minirun uint64 `json:"minirun"`
	Same    bool   `json:"same"`
	// ChildForChildren and MinirunForChildren are pid_for_children or
	// time_for_children, for pid and time.
	ChildForChildren   uint64 `json:"child_for_children,omitempty"`
	MinirunForChildren uint64 `json:"minirun_for_children,omitempty"`
}

// Resource returns the resource with the given key, or nil.
func (r *Report) Resource(key string) *Resource {
	for i := range r.Resources {
		if r.Resources[i].Key == key {
			return &r.Resources[i]
		}
	}
	return nil
}

// Namespace returns the namespace with the given name, or nil.
func (r *Report) Namespace(name string) *Namespace {
	for i := range r.Namespaces {
		if r.Namespaces[i].Name == name {
			return &r.Namespaces[i]
		}
	}
	return nil
}

// NewNamespaces lists the namespaces the child is in that minirun is not.
func (r *Report) NewNamespaces() []string {
	var out []string
	for _, n := range r.Namespaces {
		if !n.Same {
			out = append(out, n.Name)
		}
	}
	return out
}

func boolp(b bool) *bool { return &b }
