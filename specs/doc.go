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
//   - generate.go: Generate builds the default config `minirun spec` writes
//     (like `runc spec`, with rootless and host-root variants), and
//     WriteConfig writes it into a bundle.
//
// Turning a validated spec into the program a container's process runs is
// package childprog's work.
package specs
