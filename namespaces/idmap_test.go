package namespaces

import (
	"reflect"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func m(c, h, n uint32) rspec.LinuxIDMapping {
	return rspec.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
}

func TestValidateIDMaps(t *testing.T) {
	many := make([]rspec.LinuxIDMapping, MaxIDMapLines+1)
	for i := range many {
		many[i] = m(uint32(i), uint32(100000+i), 1)
	}
	tests := []struct {
		name string
		in   []rspec.LinuxIDMapping
		want []string
	}{
		{"empty", nil, nil},
		{"single", []rspec.LinuxIDMapping{m(0, 1000, 1)}, nil},
		{"subuid range", []rspec.LinuxIDMapping{m(0, 1000, 1), m(1, 100000, 65536)}, nil},
		{"adjacent", []rspec.LinuxIDMapping{m(0, 0, 10), m(10, 10, 10)}, nil},
		{"whole range", []rspec.LinuxIDMapping{m(0, 0, 4294967295)}, nil},
		{"max lines", many[:MaxIDMapLines], nil},
		{"too many", many, []string{"has 341 entries, the kernel accepts at most 340"}},
		{"size zero", []rspec.LinuxIDMapping{m(0, 1000, 1), m(1, 2000, 0)}, []string{"[1]: size must be at least 1"}},
		{"container overflow", []rspec.LinuxIDMapping{m(4294967295, 0, 1)}, []string{"[0]: container ids 4294967295+1 run past the last id 4294967294"}},
		{"host overflow", []rspec.LinuxIDMapping{m(0, 4294967290, 10)}, []string{"[0]: host ids 4294967290+10 run past the last id 4294967294"}},
		{"container overlap", []rspec.LinuxIDMapping{m(0, 1000, 10), m(5, 5000, 10)}, []string{"[1]: container ids 5-14 overlap [0]'s 0-9"}},
		{"host overlap", []rspec.LinuxIDMapping{m(0, 1000, 1), m(1, 1000, 1)}, []string{"[1]: host ids 1000 overlap [0]'s 1000"}},
		{"both overlap and zero", []rspec.LinuxIDMapping{m(0, 0, 5), m(0, 0, 0), m(2, 2, 1)}, []string{
			"[1]: size must be at least 1",
			"[2]: container ids 2 overlap [0]'s 0-4",
			"[2]: host ids 2 overlap [0]'s 0-4",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range ValidateIDMaps(tt.in) {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIDMapErrorIndex(t *testing.T) {
	errs := ValidateIDMaps([]rspec.LinuxIDMapping{m(0, 0, 1), m(1, 1, 0)})
	if len(errs) != 1 || errs[0].Index != 1 || errs[0].Msg != "size must be at least 1" {
		t.Errorf("got %+v, want one error at index 1", errs)
	}
}

func TestFormatIDMap(t *testing.T) {
	tests := []struct {
		name string
		in   []rspec.LinuxIDMapping
		want string
	}{
		{"empty", nil, ""},
		{"one", []rspec.LinuxIDMapping{m(0, 1000, 1)}, "0 1000 1\n"},
		{"two", []rspec.LinuxIDMapping{m(0, 1000, 1), m(1, 100000, 65536)}, "0 1000 1\n1 100000 65536\n"},
		{"max", []rspec.LinuxIDMapping{m(4294967294, 4294967294, 1)}, "4294967294 4294967294 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatIDMap(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRootlessMapping(t *testing.T) {
	u, g := RootlessMapping(1000, 1001)
	if want := []rspec.LinuxIDMapping{m(0, 1000, 1)}; !reflect.DeepEqual(u, want) {
		t.Errorf("uid map = %+v, want %+v", u, want)
	}
	if want := []rspec.LinuxIDMapping{m(0, 1001, 1)}; !reflect.DeepEqual(g, want) {
		t.Errorf("gid map = %+v, want %+v", g, want)
	}
	if got, want := FormatIDMap(u), "0 1000 1\n"; got != want {
		t.Errorf("FormatIDMap(uid map) = %q, want %q", got, want)
	}
}
