package seccomp

// The policy tables, for `minirun features` (runtime-spec's features.json
// "linux.seccomp" object).

// Actions are the actions Compile takes.
func Actions() []string {
	return []string{
		"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
		"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
	}
}

// Operators are the argument comparisons Compile takes.
func Operators() []string {
	return []string{
		"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
		"SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
	}
}

// Archs are the architectures whose system calls the filter can decide:
// those of the GOARCHes minirun builds for. Other OCI architectures are
// accepted and left out (their processes cannot run on these kernels).
func Archs() []string {
	return []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}
}

// Flags are the linux.seccomp.flags Compile takes.
func Flags() []string {
	return []string{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}
}

// KnownSyscalls are the system call names the tables hold for an
// architecture (nil for one minirun has no table for).
func KnownSyscalls(arch string) []string {
	for _, goarch := range []string{"amd64", "arm64"} {
		for _, a := range family(goarch) {
			if string(a.arch) == arch {
				names := make([]string, len(a.table))
				for i, e := range a.table {
					names[i] = e.name
				}
				return names
			}
		}
	}
	return nil
}
