package boot

// This architecture's system calls and the flags the assembly (go_asm.h)
// passes them: the package imports nothing, not even golang.org/x/sys/unix,
// so they are written here, and the tests check them against unix's.
const (
	sysClockGettime = 228
	clockMonotonic  = 1

	// The guard (entry_amd64.s).
	sysClose        = 3
	sysExecveat     = 322
	sysOpenTree     = 428
	sysMountSetattr = 442
	sysFaccessat2   = 439
	atFDCWD         = -100
	atEmptyPath     = 0x1000
	atEaccess       = 0x200
	wOK             = 2
	openTreeClone   = 1
	openTreeCloexec = 0x80000 // O_CLOEXEC
	mountAttrSize   = 32      // struct mount_attr, MOUNT_ATTR_SIZE_VER0
)
