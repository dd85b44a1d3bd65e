// Package specs turns an OCI runtime-spec config (v1.3.0, the
// github.com/opencontainers/runtime-spec/specs-go types, imported as rspec
// because that package is also named specs) into something minirun can run.
//
//   - load.go: Load, Parse and LoadBundle read config.json; errors name the
//     file, the line:column and the JSON path of a bad value.
//   - validate.go: Validate checks a spec before anything starts and reports
//     every problem at once, one line each, each naming its JSON path
//     ("spec.json: mounts[2].destination: must be absolute"). The tables
//     the checks use (capabilities, rlimits, mount options) are exported
//     for the compiler and the features command.
//   - policy.go: Policy, what minirun does with every field of
//     runtime-spec's Spec — applied, refused or ignored, with the test or
//     the reason — which Validate enforces (one line per refused field);
//     walk.go finds every field by reflection over runtime-spec's types.
//   - validate_kernel.go: the checks of values the kernel takes (ids,
//     execve's sizes, the scheduler, CPU and node lists, memory policy,
//     interface names) and the policy walk, NUL bytes included.
//   - generate.go: Generate builds the default config `minirun spec` writes
//     (like `runc spec`, with rootless and host-root variants), and
//     WriteConfig writes it into a bundle.
//
// Turning a validated spec into the program a container's process runs is
// package childprog's work.
package specs
