package procfs

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	text := `22 27 0:21 / /proc rw,relatime - proc proc rw
36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue
81 42 0:43 /bundle\040one/rootfs /tmp/a\040b\011c\012d\134e rw shared:1 - tmpfs my\040src rw,mode=755
90 81 0:44 / /x\04 ro unbindable - tmpfs tmpfs ro
`
	got, err := ParseMountinfo([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{ID: 22, Parent: 27, Major: 0, Minor: 21, Root: "/", Point: "/proc", Options: []string{"rw", "relatime"}, Optional: []string{},
			FSType: "proc", Source: "proc", Super: []string{"rw"}},
		{ID: 36, Parent: 35, Major: 98, Minor: 0, Root: "/mnt1", Point: "/mnt2", Options: []string{"rw", "noatime"}, Optional: []string{"master:1", "shared:7"},
			FSType: "ext3", Source: "/dev/root", Super: []string{"rw", "errors=continue"}},
		{ID: 81, Parent: 42, Major: 0, Minor: 43, Root: "/bundle one/rootfs", Point: "/tmp/a b\tc\nd\\e", Options: []string{"rw"}, Optional: []string{"shared:1"},
			FSType: "tmpfs", Source: "my src", Super: []string{"rw", "mode=755"}},
		{ID: 90, Parent: 81, Major: 0, Minor: 44, Root: "/", Point: `/x\04`, Options: []string{"ro"}, Optional: []string{"unbindable"},
			FSType: "tmpfs", Source: "tmpfs", Super: []string{"ro"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for _, line := range []string{
		"22 27 0:21 / /proc rw,relatime proc proc rw", // no separator
		"22 27 0:21 / /proc rw - proc proc",           // too few after it
		"x 27 0:21 / /proc rw - proc proc rw",         // bad id
		"22 27 021 / /proc rw - proc proc rw",         // bad device
	} {
		if _, err := ParseMountinfo([]byte(line + "\n")); err == nil || !strings.Contains(err.Error(), "mountinfo line") {
			t.Errorf("ParseMountinfo(%q): got %v, want an error naming the line", line, err)
		}
	}
}

// TestReadMountinfo reads this process's own: / is mounted somewhere.
func TestReadMountinfo(t *testing.T) {
	ms, err := ReadMountinfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Point == "/" {
			return
		}
	}
	t.Errorf("got %d mounts, none at /", len(ms))
}

func TestParseStatus(t *testing.T) {
	got := ParseStatus([]byte("Name:\tminirun\nUmask:\t0022\nUid:\t0\t0\t0\t0\nNSpid:\t42\t1\nno colon\nVmRSS:\t    1234 kB\n"))
	want := map[string]string{"Name": "minirun", "Umask": "0022", "Uid": "0 0 0 0", "NSpid": "42 1", "VmRSS": "1234 kB"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		text, comm string
		fields     []string
		err        string
	}{
		{"123 (minirun) S 1 123 123 0", "minirun", []string{"S", "1", "123", "123", "0"}, ""},
		{"123 (a) b) (c) R 1 2\n", "a) b) (c", []string{"R", "1", "2"}, ""},
		{"123 (x y) Z", "x y", []string{"Z"}, ""},
		{"123 minirun S", "", nil, "no command name"},
		{"123 )( S", "", nil, "no command name"},
		{"123 (minirun)", "", nil, "no state"},
	} {
		comm, fields, err := ParseStat(tc.text)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseStat(%q): got error %v, want one saying %q", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil || comm != tc.comm || !reflect.DeepEqual(fields, tc.fields) {
			t.Errorf("ParseStat(%q): got %q, %q, %v; want %q, %q", tc.text, comm, fields, err, tc.comm, tc.fields)
		}
	}
}
