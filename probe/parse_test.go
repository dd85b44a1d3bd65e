package probe

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/minirun/minirun/clonecore"
)

func TestParseColumns(t *testing.T) {
	for _, tc := range []struct {
		values []string
		labels []string
		flags  []clonecore.Flags
	}{
		{[]string{"fork,thread"}, []string{"fork", "thread"}, []clonecore.Flags{clonecore.Presets["fork"], clonecore.Presets["thread"]}},
		{[]string{"vm,fs,files"}, []string{"vm,fs,files"}, []clonecore.Flags{clonecore.VM | clonecore.FS | clonecore.FILES}},
		{[]string{"fork;vm,fs,files"}, []string{"fork", "vm,fs,files"}, []clonecore.Flags{clonecore.Presets["fork"], clonecore.VM | clonecore.FS | clonecore.FILES}},
		{[]string{"fork", "vm|files"}, []string{"fork", "vm|files"}, []clonecore.Flags{clonecore.Presets["fork"], clonecore.VM | clonecore.FILES}},
		{[]string{"fork,user"}, []string{"fork,user"}, []clonecore.Flags{clonecore.Presets["fork"] | clonecore.NEWUSER}},
		{[]string{" fork ; vfork "}, []string{"fork", "vfork"}, []clonecore.Flags{clonecore.Presets["fork"], clonecore.Presets["vfork"]}},
	} {
		t.Run(strings.Join(tc.values, " "), func(t *testing.T) {
			cols, err := ParseColumns(tc.values)
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			var labels []string
			var flags []clonecore.Flags
			for _, c := range cols {
				labels, flags = append(labels, c.Label), append(flags, c.Flags)
			}
			if !slices.Equal(labels, tc.labels) {
				t.Errorf("labels: got %q, want %q", labels, tc.labels)
			}
			if !slices.Equal(flags, tc.flags) {
				t.Errorf("flags: got %v, want %v", flags, tc.flags)
			}
		})
	}
}

func TestParseColumnsErrors(t *testing.T) {
	for _, tc := range []struct {
		values  []string
		want    []string
		invalid bool // wraps clonecore.ErrInvalidFlags
	}{
		{[]string{"fork;bogus"}, []string{`"fork;bogus": column 2 (bogus): unknown clone flag "bogus"`, "valid names are"}, false},
		{[]string{"fork;newns,fs"}, []string{"column 2 (newns,fs)", "CLONE_NEWNS cannot be combined with CLONE_FS"}, true},
		{[]string{"thread,newpid"}, []string{"column 1", "CLONE_NEWPID cannot be combined with CLONE_THREAD"}, true},
		{[]string{"fork;;thread"}, []string{"column 2 is empty"}, false},
		{nil, []string{"no flag sets to compare"}, false},
	} {
		t.Run(strings.Join(tc.values, " "), func(t *testing.T) {
			_, err := ParseColumns(tc.values)
			if err == nil {
				t.Fatalf("got no error, want one saying %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
			if got := errors.Is(err, clonecore.ErrInvalidFlags); got != tc.invalid {
				t.Errorf("errors.Is(err, ErrInvalidFlags): got %v, want %v", got, tc.invalid)
			}
		})
	}
}

func TestParseSyscall(t *testing.T) {
	for _, tc := range []struct {
		text string
		want procSyscall
		err  string
	}{
		{"0 0x5 0x7f00 0x1 0x0 0x0 0x0 0x7ffd10 0x401000\n",
			procSyscall{Nr: 0, Args: [6]uint64{5, 0x7f00, 1}, SP: 0x7ffd10, PC: 0x401000}, ""},
		{"running\n", procSyscall{Running: true}, ""},
		{"-1 0x7ffd10 0x401000\n", procSyscall{Nr: -1, Blocked: true, SP: 0x7ffd10, PC: 0x401000}, ""},
		{"0 0x5 0x7f00\n", procSyscall{}, "want 9 fields"},
		{"x 0x5 0x7f00 0x1 0x0 0x0 0x0 0x7ffd10 0x401000", procSyscall{}, "bad syscall number"},
	} {
		t.Run(strings.TrimSpace(tc.text), func(t *testing.T) {
			got, err := parseSyscall(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error: got %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			got.Raw, got.readable = "", false
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseStatState(t *testing.T) {
	for _, tc := range []struct {
		text, want, err string
	}{
		{"123 (minirun) S 1 123 123 0", "S", ""},
		{"123 (a) b) (c) R 1 2", "R", ""},
		{"123 (x y) Z", "Z", ""},
		{"123 minirun S", "", "no command name"},
		{"123 (minirun)", "", "no state"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			got, err := parseStatState(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error: got %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestCompareForkThread fills the article's tables from live probes and
// checks each cell against what the article says of fork and of a thread.
func TestCompareForkThread(t *testing.T) {
	cols, err := ParseColumns([]string{"fork,thread"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compare(cols)
	if err != nil {
		t.Fatal(err)
	}
	tlsFork, tlsThread := "no (caller's)", "yes (own TCB)"
	if tlsUnmeasurable != "" {
		tlsFork, tlsThread = "not measurable", "not measurable"
	}
	want := map[string][2]string{
		"virtual memory":      {"copy-on-write", "shared"},
		"file descriptors":    {"copied", "shared"},
		"thread group":        {"new", "same"},
		"TLS support":         {tlsFork, tlsThread},
		"used for threads":    {"no", "yes"},
		"stack":               {"separate", "separate"},
		"signal handlers":     {"separate", "shared"},
		"scheduler view":      {"identical", "identical"},
		"filesystem context":  {"copied", "shared"},
		"SysV semaphore undo": {"separate", "shared"},
		"parent":              {"minirun", "minirun's parent"},
		"namespaces":          {"minirun's", "minirun's"},
	}
	if len(c.Features) != len(want) {
		t.Errorf("rows: got %d, want %d", len(c.Features), len(want))
	}
	for _, f := range c.Features {
		w, ok := want[f.Feature]
		if !ok {
			t.Errorf("row %q: not expected", f.Feature)
			continue
		}
		if len(f.Cells) != 2 || f.Cells[0] != w[0] || f.Cells[1] != w[1] {
			t.Errorf("%s: got %q, want %q", f.Feature, f.Cells, w)
		}
	}
	if len(c.Columns) != 2 || c.Columns[0].Label != "fork" || c.Columns[1].Label != "thread" {
		t.Errorf("columns: got %+v, want fork and thread", c.Columns)
	}
}
