package cgroups

import (
	"slices"
	"strings"
	"testing"
)

func TestSharesToWeight(t *testing.T) {
	for _, tc := range []struct {
		shares, want uint64
	}{
		{0, 1}, {1, 1}, {2, 1}, // the kernel counts shares below 2 as 2
		{3, 2},
		{1024, 100},            // default to default
		{2048, 174}, {512, 59}, // points on the curve either side
		{262144, 10000}, {1 << 20, 10000}, // maximum to maximum, and beyond
	} {
		if got := sharesToWeight(tc.shares); got != tc.want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", tc.shares, got, tc.want)
		}
	}
	// More shares never means less weight, and every weight is in range.
	prev := uint64(0)
	for s := uint64(2); s <= 262144; s += 97 {
		w := sharesToWeight(s)
		if w < prev || w < 1 || w > 10000 {
			t.Fatalf("sharesToWeight(%d) = %d after %d: not monotonic in 1-10000", s, w, prev)
		}
		prev = w
	}
}

func TestBlkioWeightToIOWeight(t *testing.T) {
	for _, tc := range []struct {
		w       uint16
		want    uint64
		wantErr string
	}{
		{10, 1, ""}, {1000, 10000, ""}, {500, 4950, ""}, {100, 910, ""},
		{9, 0, "outside 10-1000"}, {0, 0, "outside 10-1000"}, {1001, 0, "outside 10-1000"},
	} {
		got, err := blkioWeightToIOWeight(tc.w)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("blkioWeightToIOWeight(%d) error = %v, want one containing %q", tc.w, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("blkioWeightToIOWeight(%d) = %d, %v; want %d", tc.w, got, err, tc.want)
		}
	}
}

func i64(v int64) *int64 { return &v }

func TestSwapV2(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name    string
		swap    int64
		limit   *int64
		want    string
		wantErr string
	}{
		{"memory+swap minus memory", 96 * mib, i64(64 * mib), "33554432", ""},
		{"equal means no swap", 64 * mib, i64(64 * mib), "0", ""},
		{"no limit stays no limit", -1, i64(64 * mib), "max", ""},
		{"no limit without a memory limit", -1, nil, "max", ""},
		{"below the memory limit", 32 * mib, i64(64 * mib), "", "below the memory limit"},
		{"nothing to subtract", 64 * mib, nil, "", "needs linux.resources.memory.limit"},
		{"unlimited memory", 64 * mib, i64(-1), "", "no cgroup v2 equivalent"},
		{"zero", 0, i64(64 * mib), "", "not a memory+swap limit"},
		{"negative", -2, i64(64 * mib), "", "not a memory+swap limit"},
	} {
		got, err := swapV2(tc.swap, tc.limit)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: swapV2(%d) error = %v, want one containing %q", tc.name, tc.swap, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: swapV2(%d) = %q, %v; want %q", tc.name, tc.swap, got, err, tc.want)
		}
	}
}

func TestV1MemoryWrites(t *testing.T) {
	const none = 9223372036854771712 // what memory.memsw.limit_in_bytes reads with no limit
	const mem, sw = "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
	for _, tc := range []struct {
		name        string
		cur         int64
		limit, swap *int64
		want        [][2]string
	}{
		{"fresh cgroup: memory first", none, i64(64 << 20), i64(96 << 20),
			[][2]string{{mem, "67108864"}, {sw, "100663296"}}},
		{"raising memory past memory+swap: swap first", 64 << 20, i64(128 << 20), i64(128 << 20),
			[][2]string{{sw, "134217728"}, {mem, "134217728"}}},
		{"lowering both: memory first", 128 << 20, i64(32 << 20), i64(32 << 20),
			[][2]string{{mem, "33554432"}, {sw, "33554432"}}},
		{"both unlimited from a limit: swap first", 64 << 20, i64(-1), i64(-1),
			[][2]string{{sw, "-1"}, {mem, "-1"}}},
		{"unlimited memory alone lifts memory+swap", 64 << 20, i64(-1), nil,
			[][2]string{{sw, "-1"}, {mem, "-1"}}},
		{"unlimited memory when memory+swap is already unlimited", none, i64(-1), nil,
			[][2]string{{mem, "-1"}}},
		{"memory alone", none, i64(64 << 20), nil, [][2]string{{mem, "67108864"}}},
		{"memory+swap alone", none, nil, i64(64 << 20), [][2]string{{sw, "67108864"}}},
		{"nothing", none, nil, nil, nil},
	} {
		if got := v1MemoryWrites(tc.cur, tc.limit, tc.swap); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPageSizes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		kb      uint64
		name    string
		wantErr bool
	}{
		{"2MB", 2048, "2MB", false}, {"1GB", 1 << 20, "1GB", false}, {"64KB", 64, "64KB", false},
		{"2048kB", 2048, "2MB", false}, {"32MB", 32 << 10, "32MB", false}, {"512MB", 512 << 10, "512MB", false},
		{"2M", 0, "", true}, {"MB", 0, "", true}, {"0MB", 0, "", true}, {"-2MB", 0, "", true}, {"", 0, "", true},
	} {
		kb, err := parsePageSize(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("parsePageSize(%q) = %d, want an error", tc.in, kb)
			}
			continue
		}
		if err != nil || kb != tc.kb {
			t.Errorf("parsePageSize(%q) = %d, %v; want %d", tc.in, kb, err, tc.kb)
			continue
		}
		if got := pageSizeName(kb); got != tc.name {
			t.Errorf("pageSizeName(%d) = %q, want %q", kb, got, tc.name)
		}
	}
}

func TestMemValue(t *testing.T) {
	for _, tc := range []struct {
		v       int64
		v2      bool
		want    string
		wantErr bool
	}{
		{-1, true, "max", false}, {-1, false, "-1", false}, {4096, true, "4096", false},
		{0, false, "0", false}, {-2, true, "", true},
	} {
		got, err := memValue(tc.v, tc.v2)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("memValue(%d, v2=%v) = %q, %v; want %q (error %v)", tc.v, tc.v2, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCPUMaxValue(t *testing.T) {
	p := uint64(100000)
	for _, tc := range []struct {
		quota  int64
		period *uint64
		want   string
	}{
		{20000, &p, "20000 100000"}, {-1, &p, "max 100000"}, {50000, nil, "50000"}, {-1, nil, "max"},
	} {
		if got := cpuMaxValue(tc.quota, tc.period); got != tc.want {
			t.Errorf("cpuMaxValue(%d, %v) = %q, want %q", tc.quota, tc.period, got, tc.want)
		}
	}
}
