package namespaces

import (
	"os"
	"reflect"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/clonecore"
)

func TestTable(t *testing.T) {
	tests := []struct {
		typ         rspec.LinuxNamespaceType
		flag        clonecore.Flags
		unix        uintptr
		proc        string
		order       int
		forChildren string
		name        string
	}{
		{rspec.UserNamespace, clonecore.NEWUSER, unix.CLONE_NEWUSER, "user", 0, "", "user"},
		{rspec.IPCNamespace, clonecore.NEWIPC, unix.CLONE_NEWIPC, "ipc", 1, "", "IPC"},
		{rspec.UTSNamespace, clonecore.NEWUTS, unix.CLONE_NEWUTS, "uts", 2, "", "UTS"},
		{rspec.NetworkNamespace, clonecore.NEWNET, unix.CLONE_NEWNET, "net", 3, "", "network"},
		{rspec.PIDNamespace, clonecore.NEWPID, unix.CLONE_NEWPID, "pid", 4, "pid_for_children", "PID"},
		{rspec.TimeNamespace, clonecore.NEWTIME, unix.CLONE_NEWTIME, "time", 5, "time_for_children", "time"},
		{rspec.CgroupNamespace, clonecore.NEWCGROUP, unix.CLONE_NEWCGROUP, "cgroup", 6, "", "cgroup"},
		{rspec.MountNamespace, clonecore.NEWNS, unix.CLONE_NEWNS, "mnt", 7, "", "mount"},
	}
	if got, want := len(All()), len(tests); got != want {
		t.Fatalf("len(All()) = %d, want %d", got, want)
	}
	var union clonecore.Flags
	for i, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			want := Info{Type: tt.typ, Flag: tt.flag, ProcName: tt.proc, JoinOrder: tt.order, ForChildren: tt.forChildren, Name: tt.name}
			if got := All()[i]; got != want {
				t.Errorf("All()[%d] = %+v, want %+v", i, got, want)
			}
			if got, ok := ByType(tt.typ); !ok || got != want {
				t.Errorf("ByType(%q) = %+v, %v; want %+v, true", tt.typ, got, ok, want)
			}
			if got, ok := ByFlag(tt.flag); !ok || got != want {
				t.Errorf("ByFlag(%v) = %+v, %v; want %+v, true", tt.flag, got, ok, want)
			}
			if got, ok := ByProcName(tt.proc); !ok || got != want {
				t.Errorf("ByProcName(%q) = %+v, %v; want %+v, true", tt.proc, got, ok, want)
			}
			if got := uintptr(tt.flag); got != tt.unix {
				t.Errorf("flag = %#x, want the kernel's %#x", got, tt.unix)
			}
			if got, want := want.ProcPath(42), "/proc/42/ns/"+tt.proc; got != want {
				t.Errorf("ProcPath(42) = %q, want %q", got, want)
			}
			if got, want := want.ProcPath(0), "/proc/self/ns/"+tt.proc; got != want {
				t.Errorf("ProcPath(0) = %q, want %q", got, want)
			}
			// The running kernel (6.18) has every namespace; its files
			// are readable links for the caller's own process.
			if _, err := os.Readlink(want.ProcPath(0)); err != nil {
				t.Errorf("the kernel has no %s: %v", want.ProcPath(0), err)
			}
			if tt.forChildren != "" {
				if _, err := os.Readlink("/proc/self/ns/" + tt.forChildren); err != nil {
					t.Errorf("the kernel has no /proc/self/ns/%s: %v", tt.forChildren, err)
				}
			}
		})
		union |= tt.flag
	}
	if union != clonecore.NamespaceFlags {
		t.Errorf("table flags = %v, want clonecore.NamespaceFlags %v", union, clonecore.NamespaceFlags)
	}
	if got, want := Types(), []string{"user", "ipc", "uts", "network", "pid", "time", "cgroup", "mount"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Types() = %q, want %q", got, want)
	}
}

func TestNotFound(t *testing.T) {
	if got, ok := ByType("net"); ok {
		t.Errorf(`ByType("net") = %+v, true; want not found (the OCI name is "network")`, got)
	}
	if got, ok := ByType(""); ok {
		t.Errorf(`ByType("") = %+v, true; want not found`, got)
	}
	for _, f := range []clonecore.Flags{0, clonecore.VM, clonecore.NEWNS | clonecore.NEWPID} {
		if got, ok := ByFlag(f); ok {
			t.Errorf("ByFlag(%v) = %+v, true; want not found", f, got)
		}
	}
	if got, ok := ByProcName("network"); ok {
		t.Errorf(`ByProcName("network") = %+v, true; want not found (the file is "net")`, got)
	}
}

func TestAllIsACopy(t *testing.T) {
	a := All()
	a[0].ProcName = "changed"
	if got := All()[0].ProcName; got != "user" {
		t.Errorf("after changing a copy, All()[0].ProcName = %q, want %q", got, "user")
	}
}

func TestPlan(t *testing.T) {
	ns := func(typ rspec.LinuxNamespaceType, path string) rspec.LinuxNamespace {
		return rspec.LinuxNamespace{Type: typ, Path: path}
	}
	info := func(typ rspec.LinuxNamespaceType) Info {
		i, _ := ByType(typ)
		return i
	}
	tests := []struct {
		name      string
		in        []rspec.LinuxNamespace
		wantFlags clonecore.Flags
		wantJoins []Join
	}{
		{"none", nil, 0, nil},
		{"runc default", []rspec.LinuxNamespace{
			ns("pid", ""), ns("network", ""), ns("ipc", ""), ns("uts", ""), ns("mount", ""), ns("cgroup", ""),
		}, clonecore.Presets["container"], nil},
		{"all new", []rspec.LinuxNamespace{
			ns("pid", ""), ns("network", ""), ns("ipc", ""), ns("uts", ""), ns("mount", ""), ns("cgroup", ""), ns("user", ""), ns("time", ""),
		}, clonecore.NamespaceFlags, nil},
		{"path means join", []rspec.LinuxNamespace{ns("network", "/run/netns/a")}, 0, []Join{
			{Info: info("network"), Path: "/run/netns/a", Index: 0},
		}},
		{"joins sorted user first mount last", []rspec.LinuxNamespace{
			ns("mount", "/proc/9/ns/mnt"), ns("pid", ""), ns("network", "/proc/9/ns/net"), ns("user", "/proc/9/ns/user"), ns("uts", ""),
			ns("cgroup", "/proc/9/ns/cgroup"), ns("ipc", "/proc/9/ns/ipc"), ns("time", "/proc/9/ns/time"),
		}, clonecore.NEWPID | clonecore.NEWUTS, []Join{
			{Info: info("user"), Path: "/proc/9/ns/user", Index: 3},
			{Info: info("ipc"), Path: "/proc/9/ns/ipc", Index: 6},
			{Info: info("network"), Path: "/proc/9/ns/net", Index: 2},
			{Info: info("time"), Path: "/proc/9/ns/time", Index: 7},
			{Info: info("cgroup"), Path: "/proc/9/ns/cgroup", Index: 5},
			{Info: info("mount"), Path: "/proc/9/ns/mnt", Index: 0},
		}},
		{"unknown type ignored", []rspec.LinuxNamespace{ns("net", ""), ns("uts", "")}, clonecore.NEWUTS, nil},
		{"repeat ignored after first", []rspec.LinuxNamespace{ns("uts", ""), ns("uts", "/proc/1/ns/uts")}, clonecore.NEWUTS, nil},
		{"repeated join keeps first", []rspec.LinuxNamespace{ns("ipc", "/a"), ns("ipc", "")}, 0, []Join{
			{Info: info("ipc"), Path: "/a", Index: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, joins := Plan(tt.in)
			if flags != tt.wantFlags {
				t.Errorf("flags = %v, want %v", flags, tt.wantFlags)
			}
			if !reflect.DeepEqual(joins, tt.wantJoins) {
				t.Errorf("joins = %+v, want %+v", joins, tt.wantJoins)
			}
		})
	}
}

func TestJoinField(t *testing.T) {
	_, joins := Plan([]rspec.LinuxNamespace{{Type: "pid"}, {Type: "uts"}, {Type: "network", Path: "/run/netns/x"}})
	if len(joins) != 1 {
		t.Fatalf("got %d joins, want 1", len(joins))
	}
	if got, want := joins[0].Field(), "linux.namespaces[2]"; got != want {
		t.Errorf("Field() = %q, want %q", got, want)
	}
}

func TestHas(t *testing.T) {
	in := []rspec.LinuxNamespace{{Type: "pid"}, {Type: "uts", Path: "/proc/1/ns/uts"}}
	tests := []struct {
		typ         rspec.LinuxNamespaceType
		has, hasNew bool
	}{
		{"pid", true, true},
		{"uts", true, false},
		{"network", false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			if got := Has(in, tt.typ); got != tt.has {
				t.Errorf("Has = %v, want %v", got, tt.has)
			}
			if got := HasNew(in, tt.typ); got != tt.hasNew {
				t.Errorf("HasNew = %v, want %v", got, tt.hasNew)
			}
		})
	}
}
