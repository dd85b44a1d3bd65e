package main

import (
	"strings"
	"testing"
)

// TestStartsContainerTasks: the commands that start a task in a
// container's namespaces are found behind any global flags, and nothing
// else is taken for one (a flag's value, an ID, an argument).
func TestStartsContainerTasks(t *testing.T) {
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"run config.json", true},
		{"create --bundle b id", true},
		{"exec id sh", true},
		{"start id", true},
		{"--root /x --debug --log /l --log-format json run id", true},
		{"--root=/x run id", true},
		{"-root run state", false}, // "run" is --root's value
		{"--log start state id", false},
		{"state run", false},
		{"delete exec", false},
		{"kill start", false},
		{"--debug", false},
		{"-- run", false},
		{"", false},
		{"spec", false},
		{"threads --isolate", false},
	} {
		if got := startsContainerTasks(strings.Fields(tc.args)); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.args, got, tc.want)
		}
	}
}
