package childprog

import (
	"strings"
	"testing"
)

// fakeImage is an image as ImageEntry sees it: each path a directory or
// file (""), or a symlink (its target after "->").
type fakeImage map[string]string

func (im fakeImage) entry(rel string) (string, bool, bool) {
	v, ok := im[rel]
	if !ok {
		return "", false, false
	}
	if link, isLink := strings.CutPrefix(v, "->"); isLink {
		return link, true, true
	}
	return "", false, true
}

func TestResolveInImage(t *testing.T) {
	im := fakeImage{
		"etc":             "",
		"etc/resolv.conf": "->../run/systemd/resolve/stub-resolv.conf", // Ubuntu's, dangling
		"etc/hosts":       "->/etc/hosts.real",
		"etc/hosts.real":  "",
		"etc/abs":         "->/host/secret/file",                  // absolute, dangling
		"etc/up":          "->../../../../../../host/secret/file", // climbs past the root
		"etc/dir-link":    "->../var/lib",                         // a link to a directory
		"var":             "",
		"var/lib":         "",
		"var/run":         "->/run", // Debian's, /run absent
		"loop1":           "->loop2",
		"loop2":           "->/loop1",
		"self":            "->.",
		"run-link":        "->/dev/shm/x", // into a mount made earlier
		"dev":             "",
		"dev/shm":         "",
		"dev/shm/x":       "->/escape", // the image's, hidden by the mount
		"file":            "",
		"chain":           "->etc/abs",
		"dots":            "->./etc/../etc/./resolv.conf",
	}
	cases := []struct {
		dest    string
		covered []string
		want    string
		err     bool
	}{
		{dest: "/etc/resolv.conf", want: "run/systemd/resolve/stub-resolv.conf"},
		{dest: "/etc/hosts", want: "etc/hosts.real"},
		{dest: "/etc/abs", want: "host/secret/file"},
		{dest: "/etc/up", want: "host/secret/file"},
		{dest: "/chain", want: "host/secret/file"},
		{dest: "/dots", want: "run/systemd/resolve/stub-resolv.conf"},
		{dest: "/etc/dir-link/x/y", want: "var/lib/x/y"},
		{dest: "/var/run/lock", want: "run/lock"},
		{dest: "/../../etc/hosts", want: "etc/hosts.real"},
		{dest: "/self/self/etc/hosts", want: "etc/hosts.real"},
		{dest: "/new/../../a/./b", want: "a/b"},
		{dest: "/", want: ""},
		{dest: "/etc", want: "etc"},
		{dest: "/file", want: "file"},
		{dest: "/loop1", err: true},
		{dest: "/loop1/x", err: true},
		// Below an earlier mount the image is hidden: the walk stops there.
		{dest: "/run-link", covered: []string{"dev", "dev/shm"}, want: "dev/shm/x"},
		{dest: "/dev/shm/x", covered: []string{"dev/shm"}, want: "dev/shm/x"},
		{dest: "/dev/shm/x/../../y", covered: []string{"dev/shm"}, want: "dev/y"},
		{dest: "/dev/shm/x", covered: []string{"dev/sh"}, want: "escape"},
		{dest: "/etc/resolv.conf", covered: []string{"run"}, want: "run/systemd/resolve/stub-resolv.conf"},
		{dest: "/etc/hosts", covered: []string{""}, want: "etc/hosts"},
	}
	for _, c := range cases {
		got, err := resolveInImage(c.dest, im.entry, mountedOf(c.covered))
		switch {
		case c.err && err == nil:
			t.Errorf("resolveInImage(%q, covered %q): got %q, want an error", c.dest, c.covered, got)
		case !c.err && (err != nil || got != c.want):
			t.Errorf("resolveInImage(%q, covered %q): got %q, %v, want %q", c.dest, c.covered, got, err, c.want)
		}
	}
}

// mountedOf is the set of dirs.
func mountedOf(dirs []string) mountedSet {
	s := mountedSet{}
	for _, d := range dirs {
		s[d] = true
	}
	return s
}
