package clonecore

import (
	"errors"
	"strings"
	"testing"
)

func TestFlagsString(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{0, "0"},
		{VM, "CLONE_VM"},
		{VM | THREAD, "CLONE_VM|CLONE_THREAD"},
		{THREAD | VM, "CLONE_VM|CLONE_THREAD"},
		{VM | 0x11, "CLONE_VM|0x11"},
		{NEWTIME | INTO_CGROUP, "CLONE_NEWTIME|CLONE_INTO_CGROUP"},
		{Presets["thread"], "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint64(tt.f), got, tt.want)
		}
	}
}

// TestFlagNames: every flag has one canonical name and one bit, and the
// names parse back to it, with or without CLONE_, in any case.
func TestFlagNames(t *testing.T) {
	var seen Flags
	for _, n := range flagNames {
		if n.f.Count() != 1 {
			t.Errorf("%s is %#x: want exactly one bit", n.name, uint64(n.f))
		}
		if seen&n.f != 0 {
			t.Errorf("%s: bit %#x named twice", n.name, uint64(n.f))
		}
		seen |= n.f
		short := strings.TrimPrefix(n.name, "CLONE_")
		spellings := []string{n.name, strings.ToLower(n.name)}
		if Presets[strings.ToLower(short)] == 0 { // alone, "thread" and "vfork" are presets
			spellings = append(spellings, short, strings.ToLower(short))
		}
		for _, spelling := range spellings {
			got, err := ParseFlags(spelling)
			if err != nil || got != n.f {
				t.Errorf("ParseFlags(%q) = %v, %v; want %v", spelling, got, err, n.f)
			}
		}
	}
	if seen != knownFlags {
		t.Errorf("known flags %v, want %v", knownFlags, seen)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		in   string
		want Flags
	}{
		{"vm,fs,files", VM | FS | FILES},
		{"CLONE_VM|CLONE_THREAD|CLONE_SIGHAND", VM | THREAD | SIGHAND},
		{"vm fs\tfiles", VM | FS | FILES},
		{"mnt,pid,net,uts,ipc,user,cgroup,time", NEWNS | NEWPID | NEWNET | NEWUTS | NEWIPC | NEWUSER | NEWCGROUP | NEWTIME},
		{"newns", NEWNS}, {"ns", NEWNS}, {"mount", NEWNS}, {"network", NEWNET},
		{"settls,parent_settid,child_cleartid", SETTLS | PARENT_SETTID | CHILD_CLEARTID},
		{"thread", Presets["thread"]},
		{"fork", CHILD_SETTID | CHILD_CLEARTID},
		{"vfork", VM | VFORK},
		{"container", NEWNS | NEWPID | NEWNET | NEWUTS | NEWIPC | NEWCGROUP},
		{"container,user", Presets["container"] | NEWUSER},
		// Among flags, "thread" and "vfork" are the single flags; with
		// namespaces, the presets.
		{"vm,sighand,thread,settls", VM | SIGHAND | THREAD | SETTLS},
		{"vm,vfork", VM | VFORK},
		{"thread,newpid", Presets["thread"] | NEWPID},
		{"vfork,user,net", Presets["vfork"] | NEWUSER | NEWNET},
		{"clone_thread", THREAD},
		{"0x100", VM},
		{"vm,0x80", VM | NEWTIME},
	}
	for _, tt := range tests {
		got, err := ParseFlags(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseFlags(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestParseFormatRoundTrip: String's output parses back to the same set.
func TestParseFormatRoundTrip(t *testing.T) {
	for _, f := range []Flags{VM, Presets["thread"], Presets["container"] | NEWUSER, knownFlags, NEWTIME | VM | 0x11} {
		got, err := ParseFlags(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFlags(%q) = %v, %v; want %v", f.String(), got, err, f)
		}
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, in := range []string{"", " , ", "vmm", "vm,bogus", "0xzz"} {
		_, err := ParseFlags(in)
		if err == nil {
			t.Errorf("ParseFlags(%q) = nil error, want one", in)
			continue
		}
		if strings.Trim(in, " ,") != "" && !strings.Contains(err.Error(), "valid names are") {
			t.Errorf("ParseFlags(%q): %q does not list the valid names", in, err)
		}
	}
	_, err := ParseFlags("vm,bogus")
	if want := `unknown clone flag "bogus"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want it to start with %s", err, want)
	}
}

// TestKernelRuleMessages: every rule refuses its own combination with its
// own words, and Validate says nothing of a set that breaks no rule.
func TestKernelRuleMessages(t *testing.T) {
	for _, r := range KernelRules {
		// The smallest set that breaks this rule and no earlier one: a
		// thread brings the handlers and memory it needs along.
		f := r.If
		if f&THREAD != 0 && r.Then == 0 {
			f |= SIGHAND | VM
		}
		if f&SIGHAND != 0 && r.Then != VM {
			f |= VM
		}
		err := f.Validate(UseProbe)
		var fe *FlagError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidFlags) {
			t.Errorf("Validate(%v) = %v, want a FlagError", f, err)
			continue
		}
		if fe.Why != r.Why {
			t.Errorf("Validate(%v) says %q, want %q", f, fe.Why, r.Why)
		}
		if want := f.String() + ": " + r.Why; err.Error() != want {
			t.Errorf("Validate(%v) = %q, want %q", f, err, want)
		}
	}
	for _, f := range []Flags{0, VM, VM | SIGHAND, VM | SIGHAND | THREAD, Presets["thread"], Presets["container"] | NEWUSER, Presets["fork"]} {
		if err := f.Validate(UseProbe); err != nil {
			t.Errorf("Validate(%v) = %v, want nil", f, err)
		}
	}
}

// TestValidateUses: the rules of minirun's own uses.
func TestValidateUses(t *testing.T) {
	tests := []struct {
		f    Flags
		u    Use
		want string // a part of the message, "" for no error
	}{
		{Presets["thread"], UseWorker, ""},
		{VM | FS | FILES | SIGHAND | SETTLS | CHILD_CLEARTID, UseWorker, ""},
		{SETTLS | CHILD_CLEARTID, UseWorker, "needs CLONE_VM"},
		{VM | CHILD_CLEARTID, UseWorker, "needs CLONE_SETTLS"},
		{VM | SETTLS, UseWorker, "needs CLONE_CHILD_CLEARTID"},
		{VM | SETTLS | CHILD_CLEARTID | VFORK, UseWorker, "vfork"},
		{Presets["container"], UseProcess, ""},
		{Presets["container"] | FILES, UseProcess, "cannot share"},
		{VM | VFORK, UseProcess, "cannot share"},
		{Presets["vfork"], UseProbe, ""},
		{0x11, UseProbe, "unknown bits 0x11"},
	}
	for _, tt := range tests {
		err := tt.f.Validate(tt.u)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%v, %d) = %v, want nil", tt.f, tt.u, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%v, %d) = %v, want an error containing %q", tt.f, tt.u, err, tt.want)
		}
	}
}

func TestPresets(t *testing.T) {
	for _, name := range PresetNames() {
		f := Presets[name]
		if f == 0 {
			t.Errorf("preset %s is empty", name)
		}
		if err := f.Validate(UseProbe); err != nil {
			t.Errorf("preset %s (%v) refused: %v", name, f, err)
		}
	}
	if err := Presets["thread"].Validate(UseWorker); err != nil {
		t.Errorf("the thread preset cannot start a worker: %v", err)
	}
	if err := Presets["container"].Validate(UseProcess); err != nil {
		t.Errorf("the container preset cannot start a container: %v", err)
	}
}
