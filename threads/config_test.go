package threads

import (
	"errors"
	"strings"
	"testing"

	"github.com/minirun/minirun/clonecore"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string
	}{
		{in: "65536", want: 65536},
		{in: "64K", want: 64 << 10},
		{in: "64k", want: 64 << 10},
		{in: "64KiB", want: 64 << 10},
		{in: "64kib", want: 64 << 10},
		{in: "1M", want: 1 << 20},
		{in: "1MiB", want: 1 << 20},
		{in: "2G", want: 2 << 30},
		{in: " 16K ", want: 16 << 10},
		{in: "0", want: 0},
		{in: "", wantErr: "not a size"},
		{in: "K", wantErr: "not a size"},
		{in: "64Q", wantErr: "not a size"},
		{in: "1.5M", wantErr: "not a size"},
		{in: "-64K", wantErr: "cannot be negative"},
		{in: "99999999999999999999", wantErr: "too large"},
		{in: "9999999999G", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSize(%q): got (%d, %v), want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q): got (%d, %v), want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for _, tt := range []struct {
		in   int
		want string
	}{{0, "0"}, {1000, "1000"}, {16 << 10, "16KiB"}, {3 << 20, "3MiB"}, {1 << 30, "1GiB"}, {1<<20 + 1<<10, "1025KiB"}} {
		if got := FormatSize(tt.in); got != tt.want {
			t.Errorf("FormatSize(%d): got %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseSize(FormatSize(tt.in)); err != nil || back != tt.in {
			t.Errorf("ParseSize(FormatSize(%d)): got (%d, %v), want %d", tt.in, back, err, tt.in)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	limits := Limits{ThreadsMax: 1000, NProc: 500, MaxMapCount: 65530, MapsInUse: 100}
	thread := clonecore.Presets["thread"]
	tests := []struct {
		name    string
		c       Config
		l       Limits
		field   string // "" means valid
		wantErr string
	}{
		{name: "defaults", c: Config{Count: 4}, l: limits},
		{name: "own thread groups", c: Config{Count: 4, Flags: clonecore.VM | clonecore.FS | clonecore.FILES | clonecore.SIGHAND | clonecore.SETTLS | clonecore.CHILD_CLEARTID}, l: limits},
		{name: "count zero", c: Config{Count: 0}, l: limits, field: "count", wantErr: "count: 0: must be at least 1"},
		{name: "count negative", c: Config{Count: -3}, l: limits, field: "count", wantErr: "count: -3: must be at least 1"},
		{name: "above threads-max", c: Config{Count: 1001}, l: limits, field: "count", wantErr: "count: 1001: above the kernel's limit of 1000 tasks (/proc/sys/kernel/threads-max)"},
		{name: "above nproc", c: Config{Count: 501}, l: limits, field: "count", wantErr: "count: 501: above RLIMIT_NPROC, 500 tasks for this user (ulimit -u)"},
		{name: "no limits known", c: Config{Count: 100000}, l: Limits{}},
		{name: "map count", c: Config{Count: 400}, l: Limits{MaxMapCount: 1000, MapsInUse: 100}, field: "count",
			wantErr: "count: 400: needs 1156 memory mappings (2 a worker: guard page and stack; minirun has 100) but vm.max_map_count is 1000: raise it with sysctl -w vm.max_map_count=1156"},
		{name: "stack too small", c: Config{Count: 1, StackSize: 8 << 10}, l: limits, field: "stack-size", wantErr: "stack-size: 8KiB: below the minimum of 16KiB"},
		{name: "stack smallest", c: Config{Count: 1, StackSize: 16 << 10}, l: limits},
		{name: "stack too large", c: Config{Count: 1, StackSize: 2 << 30}, l: limits, field: "stack-size", wantErr: "stack-size: 2GiB: above the maximum of 1GiB for one worker"},
		{name: "address space", c: Config{Count: 2000, StackSize: 1 << 30}, l: Limits{}, field: "stack-size", wantErr: "2000 stacks of 1GiB take more than 1024GiB of address space"},
		{name: "counter overflow", c: Config{Count: 4, Work: 1 << 63}, l: limits, field: "work", wantErr: "work: 9223372036854775808: 4 workers × 9223372036854775808 increments overflow the 64-bit counter"},
		{name: "no vm", c: Config{Count: 1, Flags: clonecore.SETTLS | clonecore.CHILD_CLEARTID}, l: limits, field: "flags", wantErr: "flags: CLONE_SETTLS|CLONE_CHILD_CLEARTID: a worker needs CLONE_VM"},
		{name: "thread without sighand", c: Config{Count: 1, Flags: thread &^ clonecore.SIGHAND}, l: limits, field: "flags", wantErr: "CLONE_THREAD requires CLONE_SIGHAND"},
		{name: "thread with newpid", c: Config{Count: 1, Flags: thread | clonecore.NEWPID}, l: limits, field: "flags", wantErr: "CLONE_NEWPID cannot be combined with CLONE_THREAD"},
		{name: "vfork", c: Config{Count: 1, Flags: clonecore.VM | clonecore.VFORK | clonecore.SETTLS | clonecore.CHILD_CLEARTID}, l: limits, field: "flags", wantErr: "cannot be a vfork child"},
		{name: "parent", c: Config{Count: 1, Flags: clonecore.VM | clonecore.PARENT | clonecore.SETTLS | clonecore.CHILD_CLEARTID}, l: limits, field: "flags", wantErr: "which minirun cannot reap"},
		{name: "into cgroup", c: Config{Count: 1, Flags: clonecore.VM | clonecore.INTO_CGROUP | clonecore.SETTLS | clonecore.CHILD_CLEARTID}, l: limits, field: "flags", wantErr: "needs a cgroup directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Check(tt.l)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Check: got %v, want no error", err)
				}
				if got.Flags == 0 || got.StackSize == 0 || got.Elems == 0 {
					t.Fatalf("Check: got %+v, want the defaults filled in", got)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Check: got %v, want a *ConfigError", err)
			}
			if ce.Field != tt.field {
				t.Errorf("field: got %q, want %q", ce.Field, tt.field)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error: got %q, want it to contain %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrBadConfig) {
				t.Errorf("errors.Is(%v, ErrBadConfig): got false, want true", err)
			}
		})
	}
}

func TestDefaultFlagsAreThePreset(t *testing.T) {
	c, err := Config{Count: 1}.Check(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := clonecore.Presets["thread"]; c.Flags != want {
		t.Fatalf("default flags: got %v, want %v", c.Flags, want)
	}
	if c.StackSize != DefaultStackSize {
		t.Fatalf("default stack: got %d, want %d", c.StackSize, DefaultStackSize)
	}
}

func TestTLSValuesDistinct(t *testing.T) {
	seen := map[uint64]int{}
	for i := 0; i < 100000; i++ {
		v := TLSValue(i)
		if j, dup := seen[v]; dup {
			t.Fatalf("TLSValue(%d) = TLSValue(%d) = %#x, want distinct values", i, j, v)
		}
		seen[v] = i
	}
}

func TestExpectedSum(t *testing.T) {
	for _, tt := range []struct{ i, elems int }{{0, 1}, {0, 64}, {3, 64}, {9999, 64}, {5, 0}} {
		var want uint64
		for k := tt.i * tt.elems; k < (tt.i+1)*tt.elems; k++ {
			want += uint64(k) + 1
		}
		if got := expectedSum(tt.i, tt.elems); got != want {
			t.Errorf("expectedSum(%d, %d): got %d, want %d", tt.i, tt.elems, got, want)
		}
	}
}
