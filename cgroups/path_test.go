package cgroups

import (
	"strings"
	"testing"
)

func TestResolvePath(t *testing.T) {
	for _, tc := range []struct {
		path, id string
		want     string
		wantErr  string
	}{
		{"", "web1", "/minirun/web1", ""},
		{"/kubepods/burstable/pod1/ctr", "x", "/kubepods/burstable/pod1/ctr", ""},
		{"/a//b/", "x", "/a/b", ""},
		{"mygroup/ctr", "x", "/minirun/mygroup/ctr", ""},
		{"./ctr", "x", "/minirun/ctr", ""},
		{"system.slice:docker:abc", "x", "", "--systemd-cgroup is not supported"},
		{":minirun:abc", "x", "", "--systemd-cgroup is not supported"},
		{"/a:b:c", "x", "/a:b:c", ""}, // absolute: a directory name with colons
		{"../escape", "x", "", `climbs out with ".."`},
		{"/a/../../etc", "x", "", `climbs out with ".."`},
		{"/", "x", "", "root cgroup"},
		{".", "x", "", "minirun's parent cgroup itself"},
		{"", "", "", "cannot name a cgroup"},
		{"", "a/b", "", "cannot name a cgroup"},
		{"", "..", "", "cannot name a cgroup"},
	} {
		got, err := ResolvePath(tc.path, tc.id)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ResolvePath(%q, %q) = %q, %v; want an error containing %q", tc.path, tc.id, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolvePath(%q, %q) = %q, %v; want %q", tc.path, tc.id, got, err, tc.want)
		}
	}
}
