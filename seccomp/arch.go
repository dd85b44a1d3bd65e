package seccomp

import (
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sysEntry is one system call of one ABI: its name and the number the
// kernel puts in seccomp_data.nr for it (x32's carry __X32_SYSCALL_BIT).
type sysEntry struct {
	name string
	nr   uint32
}

// sysTable is an ABI's system calls sorted by name. The tables are
// generated (zsysnum.go) as plain composite literals, which the linker lays
// out as data: looking a name up costs a binary search and importing the
// package costs no init-time work.
type sysTable []sysEntry

func (t sysTable) lookup(name string) (uint32, bool) {
	lo, hi := 0, len(t)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t) && t[lo].name == name {
		return t[lo].nr, true
	}
	return 0, false
}

// name returns the system call with number nr, for listings.
func (t sysTable) name(nr uint32) string {
	for _, e := range t {
		if e.nr == nr {
			return e.name
		}
	}
	return ""
}

// x32SyscallBit marks an x32 system call in seccomp_data.nr on the
// AUDIT_ARCH_X86_64 audit arch (arch/x86/include/uapi/asm/unistd.h).
const x32SyscallBit = 0x40000000

// abi is one system call ABI a filter can meet: the audit arch the kernel
// reports in seccomp_data.arch and the range of nr that belongs to it.
type abi struct {
	arch  rspec.Arch // the OCI/libseccomp name, SCMP_ARCH_…
	name  string     // short name for listings
	audit uint32     // AUDIT_ARCH_…
	// lo and hi bound nr: x86_64 and x32 share AUDIT_ARCH_X86_64 and are
	// told apart by __X32_SYSCALL_BIT, the way libseccomp does (nr >=
	// 0x40000000 is x32).
	lo, hi uint32
	// bits32: arguments are compared on their low 32 bits only, with the
	// value truncated to 32 bits (libseccomp's ARCH_SIZE_32 ABIs).
	bits32 bool
	// mux: socket and SysV IPC calls can also arrive multiplexed through
	// socketcall(2) and ipc(2) (i386).
	mux   bool
	table sysTable
}

var (
	abiX86_64  = &abi{rspec.ArchX86_64, "x86_64", unix.AUDIT_ARCH_X86_64, 0, x32SyscallBit - 1, false, false, sysX86_64}
	abiX32     = &abi{rspec.ArchX32, "x32", unix.AUDIT_ARCH_X86_64, x32SyscallBit, 0xffffffff, true, false, sysX32}
	abiI386    = &abi{rspec.ArchX86, "i386", unix.AUDIT_ARCH_I386, 0, 0xffffffff, true, true, sysI386}
	abiAArch64 = &abi{rspec.ArchAARCH64, "aarch64", unix.AUDIT_ARCH_AARCH64, 0, 0xffffffff, false, false, sysAArch64}
	abiARM     = &abi{rspec.ArchARM, "arm", unix.AUDIT_ARCH_ARM, 0, 0xffffffff, true, false, sysARM}
)

// family gives the ABIs the kernel of a GOARCH minirun builds for runs:
// the native one first, then the compat ones a config may list. (A switch,
// not a map: the package has nothing to initialise at start.)
func family(goarch string) []*abi {
	switch goarch {
	case "amd64":
		return []*abi{abiX86_64, abiI386, abiX32}
	case "arm64":
		return []*abi{abiAArch64, abiARM}
	}
	return nil
}
