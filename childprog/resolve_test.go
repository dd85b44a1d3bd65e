package childprog

import (
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
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

// TestInImage: a destination is opened at once only when the image has
// every component of it as itself and no earlier mount covers any.
func TestInImage(t *testing.T) {
	im := fakeImage{"m": "", "m/1": "", "dev": "", "dev/shm": "", "link": "->m", "m/link": "->1", "file": ""}
	cases := []struct {
		rel     string
		covered []string
		want    bool
	}{
		{rel: "m/1", want: true},
		{rel: "m", want: true},
		{rel: "file", want: true},
		{rel: "m/2", want: false},        // missing: the child makes it
		{rel: "new/deeper", want: false}, // missing from the first component
		{rel: "link", want: false},       // a symlink is left to RESOLVE_IN_ROOT
		{rel: "m/link", want: false},
		{rel: "dev/shm", covered: []string{"dev"}, want: false}, // a tmpfs on /dev hides the image's
		{rel: "m/1", covered: []string{"m/1"}, want: false},     // a second mount on the same folder
		{rel: "m/1", covered: []string{""}, want: false},        // a mount on the rootfs itself
		{rel: "m/1", covered: []string{"m/10"}, want: true},     // a sibling covers nothing here
		{rel: "", want: false},                                  // the rootfs is opened another way
	}
	for _, c := range cases {
		if got := inImage(c.rel, im.entry, mountedOf(c.covered)); got != c.want {
			t.Errorf("inImage(%q, covered %q) = %v, want %v", c.rel, c.covered, got, c.want)
		}
	}
	if inImage("m/1", nil, nil) {
		t.Error("inImage without an ImageEntry: true, want false (nothing is known of the image)")
	}
}

// TestCompileOpensWhatTheImageHas: a mount onto a folder the image has
// is one openat2 from the rootfs, no mkdirat; a folder it lacks is made,
// component by component, as before.
func TestCompileOpensWhatTheImageHas(t *testing.T) {
	s := loadSpec(t, "runc-default.json")
	s.Mounts = append(s.Mounts,
		rspec.Mount{Destination: "/m/1", Type: "tmpfs", Source: "tmpfs"},
		rspec.Mount{Destination: "/m/new", Type: "tmpfs", Source: "tmpfs"})
	env := testEnv()
	im := fakeImage{"proc": "", "dev": "", "sys": "", "m": "", "m/1": ""}
	env.ImageEntry = im.entry
	plan, err := Compile(s, env)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Free()
	calls, labels := plan.Program.Steps()
	steps := func(label string) []string {
		var out []string
		for i, l := range labels {
			if l == label {
				out = append(out, calls[i])
			}
		}
		return out
	}
	have := steps("mounts[7]: tmpfs on /m/1")
	if len(have) == 0 || !strings.HasPrefix(have[0], `openat2(fd<rootfs>, "m/1", {flags=O_DIRECTORY|O_CLOEXEC|O_PATH`) {
		t.Errorf("/m/1, in the image: first step %q, want the openat2 of m/1", have)
	}
	for _, c := range have {
		if strings.HasPrefix(c, "mkdirat(") {
			t.Errorf("/m/1, in the image: %s, want no folder made", c)
		}
	}
	lacks := steps("mounts[8]: tmpfs on /m/new")
	if len(lacks) < 2 || lacks[0] != `mkdirat(fd<rootfs>, "m", 0755)` || !strings.HasPrefix(lacks[2], `mkdirat(fd<m>, "new", 0755)`) {
		t.Errorf("/m/new, not in the image: steps %q, want m and new made first", lacks)
	}
}
