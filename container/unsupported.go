package container

import (
	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// Unsupported lists the parts of a valid spec that minirun cannot apply
// yet. Each is refused rather than skipped: a container that silently
// runs without the label it asked for is worse than one that does not
// start. (linux.resources are checked against this
// host's cgroups by package cgroups, one line per field it cannot apply.)
func Unsupported(s *rspec.Spec, file string) error {
	var errs []specs.FieldError
	add := func(path, what string) {
		errs = append(errs, specs.FieldError{Path: path, Msg: what + " is not supported yet"})
	}
	if l := s.Linux; l != nil {
		if l.IntelRdt != nil {
			add("linux.intelRdt", "Intel RDT")
		}
	}
	if s.Process != nil {
		if s.Process.ApparmorProfile != "" {
			add("process.apparmorProfile", "an AppArmor profile")
		}
		if s.Process.SelinuxLabel != "" {
			add("process.selinuxLabel", "an SELinux label")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &specs.ValidationError{File: file, Errs: errs}
}
