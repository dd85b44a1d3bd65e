package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/specs"
)

// TestRunHooks runs a container with every kind of hook under `minirun
// run`: each runs once, in runtime-spec's order, in the namespaces it
// belongs to (the container's UTS and mount namespaces only for
// createContainer and startContainer), with the state on its stdin and
// exactly its own env.
func TestRunHooks(t *testing.T) {
	needRoot(t, "creates namespaces")
	tb := busyboxBundle(t, specs.GenerateOptions{}, `echo "process $(readlink /proc/self/ns/uts) $(hostname)" >> /hooks.log`)
	tb.Spec.Root.Readonly = false
	log := filepath.Join(tb.Rootfs, "hooks.log")
	if err := os.WriteFile(log, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	hostUTS, err := os.Readlink("/proc/self/ns/uts")
	if err != nil {
		t.Fatal(err)
	}
	hostName, _ := os.Hostname()
	// One line per hook: its kind, the UTS namespace and hostname it sees,
	// the status and id it read on stdin, and the env it was started with
	// (its environ, not the shell's variables). createContainer runs before
	// pivot_root, so it finds the log by the host's path; startContainer
	// after, by the container's.
	script := func(kind, logPath string) string {
		// The shell opens its own environ itself (a redirection, no
		// fork): /proc/$$ would name another process where /proc is the
		// host's and $$ a pid of the container's PID namespace.
		return `exec 3</proc/self/environ; read -r state; echo "` + kind + ` $(readlink /proc/self/ns/uts) $(hostname)` +
			` $(echo "$state" | sed 's/.*"status":"\([a-z]*\)".*/\1/') $(echo "$state" | sed 's/.*"id":"\([^"]*\)".*/\1/')` +
			` env=$(tr '\0' ' ' <&3)" >> ` + logPath
	}
	hook := func(kind string) rspec.Hook {
		return rspec.Hook{Path: busyboxBin, Args: []string{"sh", "-c", script(kind, log)}, Env: []string{"HOOK=" + kind}}
	}
	tb.Spec.Hooks = &rspec.Hooks{
		Prestart:        []rspec.Hook{hook("prestart")},
		CreateRuntime:   []rspec.Hook{hook("createRuntime")},
		CreateContainer: []rspec.Hook{hook("createContainer")},
		StartContainer:  []rspec.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", script("startContainer", "/hooks.log")}, Env: []string{"HOOK=startContainer"}}},
		Poststart:       []rspec.Hook{hook("poststart")},
		Poststop:        []rspec.Hook{hook("poststop")},
	}
	tb.save(t)
	before := snapshotHost(t)
	if _, stderr, code := runBinary(t, nil, "run", "--bundle", tb.Dir, "hooked"); code != 0 {
		t.Fatalf("run: exit status %d: %s", code, stderr)
	}
	checkNothingLeft(t, before)
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(got) != 7 {
		t.Fatalf("hooks.log: got %d lines, want 7:\n%s", len(got), data)
	}
	// The process and poststart race (poststart runs once the process has
	// exec'd): find the process's line for its namespace.
	var ctrUTS string
	for _, l := range got[4:6] {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "process" {
			ctrUTS = f[1]
		}
	}
	if ctrUTS == "" || ctrUTS == hostUTS {
		t.Fatalf("hooks.log: no line of the container's process in its own UTS namespace:\n%s", data)
	}
	ctr := tb.Spec.Hostname
	line := func(kind, uts, name, status string) string {
		return kind + " " + uts + " " + name + " " + status + " hooked env=HOOK=" + kind + " "
	}
	want := []string{
		line("prestart", hostUTS, hostName, "creating"),
		line("createRuntime", hostUTS, hostName, "creating"),
		// The container's namespace, whose hostname is set after
		// pivot_root, as runc sets it: still the host's copy here.
		line("createContainer", ctrUTS, hostName, "creating"),
		line("startContainer", ctrUTS, ctr, "created"),
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("hooks.log line %d: got %q, want %q", i+1, got[i], w)
		}
	}
	if p := line("poststart", hostUTS, hostName, "running"); got[4] != p && got[5] != p {
		t.Errorf("hooks.log lines 5-6: got %q, want one to be %q", got[4:6], p)
	}
	if w := strings.TrimSpace(line("poststop", hostUTS, hostName, "stopped")); got[6] != w {
		t.Errorf("hooks.log line 7: got %q, want %q", got[6], w)
	}
}
