package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sharedCache is where podman keeps what it keeps outside its store.
const sharedCache = "/var/lib/containers"

// podman is a podman with a store, config and runtime of its own: every
// call goes through it.
type podman struct {
	bin          string
	dir          string
	env          []string
	global       []string
	cgroupParent string
}

// newPodman makes a fresh podman store in a folder of the test's: its own
// --root, --runroot and --tmpdir, the cgroupfs cgroup manager, events in
// a file, no network, and a containers.conf (CONTAINERS_CONF) whose
// default_ulimits need no raise of a hard limit (podman as root asks for
// nofile=1048576 otherwise, and this machine has no CAP_SYS_RESOURCE).
// The test's cleanup removes every container, unmounts the store and
// deletes it.
func newPodman(t *testing.T) *podman {
	t.Helper()
	bin := needTool(t, "podman", "podman")
	needTool(t, "conmon", "conmon")
	// podman refuses a runroot longer than 50 characters: short names.
	dir, err := os.MkdirTemp(workDir, "pm")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"root", "run", "tmp", "net", "volumes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%[1]s/events.log"
tmp_dir = "%[1]s/tmp"
volume_path = "%[1]s/volumes"

[network]
network_config_dir = "%[1]s/net"
`, dir)
	storage := fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = "%[1]s/root"
runroot = "%[1]s/run"
`, dir)
	for name, text := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &podman{
		bin: bin,
		dir: dir,
		env: []string{
			"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
			"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
			"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(dir, "registries.conf"),
		},
		global: []string{
			"--root", filepath.Join(dir, "root"),
			"--runroot", filepath.Join(dir, "run"),
			"--tmpdir", filepath.Join(dir, "tmp"),
			"--storage-driver", "overlay",
			"--cgroup-manager", "cgroupfs",
			"--events-backend", "file",
			"--runtime", runtimePath,
		},
		// A cgroup parent of the run's own: the host check then tells the
		// runtime's leftovers from another session's cgroups.
		cgroupParent: "/" + tag + "-podman",
	}
	if err := os.WriteFile(filepath.Join(dir, "registries.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// podman keeps a cache of blob digests in /var/lib/containers/cache
	// whatever its --root; a folder that was not there is removed.
	_, err = os.Stat(sharedCache)
	hadCache := err == nil
	t.Cleanup(func() {
		if r := run(p.env, p.argv("rm", "--all", "--force", "--time", "0")...); r.code != 0 {
			t.Errorf("cleanup: %v", r)
		}
		// The containers' conmons are gone with them; this kills any
		// that was left, by pid.
		for _, pid := range processesMentioning(dir) {
			t.Logf("cleanup: killing %d: %s", pid, procDescription(pid))
			syscall.Kill(pid, syscall.SIGKILL)
		}
		removeAll(t, dir)
		removeClientCgroups(p.cgroupParent + "/conmon")
		if !hadCache {
			if out, err := exec.Command("find", sharedCache).CombinedOutput(); err == nil {
				t.Logf("cleanup: removing what podman left in %s:\n%s", sharedCache, out)
			}
			os.RemoveAll(sharedCache)
		}
	})
	return p
}

func (p *podman) argv(args ...string) []string {
	return append(append([]string{p.bin}, p.global...), args...)
}

func (p *podman) run(args ...string) result { return run(p.env, p.argv(args...)...) }

func (p *podman) mustRun(t *testing.T, args ...string) result {
	t.Helper()
	return mustRun(t, p.env, p.argv(args...)...)
}

// load loads the busybox image from its OCI archive.
func (p *podman) load(t *testing.T) {
	t.Helper()
	r := p.mustRun(t, "load", "--input", busyboxArchive(t))
	if !strings.Contains(r.stdout+r.stderr, busyboxImage) {
		t.Fatalf("podman load named the image otherwise than %s: %v", busyboxImage, r)
	}
}

// processesMentioning lists processes whose command line, executable,
// working folder or root lies in dir.
func processesMentioning(dir string) []int {
	var pids []int
	for _, pid := range ourProcesses() {
		if procMentions(pid, []string{dir}) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupValue is a shell snippet that prints a cgroup file's value as the
// container sees it: the v1 file if there is one, else the v2 file.
func cgroupValue(v1, v2 string) string {
	return fmt.Sprintf("cat /sys/fs/cgroup/%s 2>/dev/null || cat /sys/fs/cgroup/%s", v1, v2)
}

func TestPodman(t *testing.T) {
	needRuntime(t, "exec")
	watchHost(t)
	p := newPodman(t)
	p.load(t)

	t.Run("run --rm", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			args     []string
			want     string // stdout
			wantCode int
		}{
			{"output and status", []string{"sh", "-c", "echo hello from podman; exit 3"}, "hello from podman\n", 3},
			{"success", []string{"true"}, "", 0},
			{"environment", []string{"--env", "GREETING=hi there", busyboxImage, "sh", "-c", `echo "$GREETING"`}, "hi there\n", 0},
			{"working folder and user", []string{"--workdir", "/tmp", "--user", "65534:65534", busyboxImage, "sh", "-c", "pwd; id -u; id -g"}, "/tmp\n65534\n65534\n", 0},
			// podman reads the runtime's error for these: 127 when the
			// program does not exist, 126 when it cannot be run.
			{"no such program", []string{"/no/such/program"}, "", 127},
			{"not executable", []string{"/etc/passwd"}, "", 126},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := []string{"run", "--rm", "--cgroup-parent", p.cgroupParent}
				if strings.HasPrefix(tc.args[0], "--") {
					args = append(args, tc.args...)
				} else {
					args = append(append(args, busyboxImage), tc.args...)
				}
				r := p.run(args...)
				if r.code != tc.wantCode || r.stdout != tc.want {
					t.Errorf("got exit status %d, stdout %q; want %d, %q\n%v", r.code, r.stdout, tc.wantCode, tc.want, r)
				}
			})
		}
		if r := p.mustRun(t, "ps", "--all", "--quiet"); strings.TrimSpace(r.stdout) != "" {
			t.Errorf("containers left after run --rm: %q", r.stdout)
		}
	})

	t.Run("run -d, exec, stop, rm", func(t *testing.T) {
		name := tag + "-detached"
		// The shell exits 7 on SIGTERM: stop's signal must reach it.
		p.mustRun(t, "run", "--detach", "--name", name, "--cgroup-parent", p.cgroupParent, busyboxImage,
			"sh", "-c", `trap "exit 7" TERM; echo started; while :; do sleep 0.1; done`)
		for _, tc := range []struct {
			name     string
			args     []string
			want     string
			wantCode int
		}{
			{"output", []string{"sh", "-c", "echo from exec; echo to stderr >&2"}, "from exec\n", 0},
			{"exit status", []string{"sh", "-c", "exit 4"}, "", 4},
			{"same pid namespace", []string{"sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"}, `sh -c trap "exit 7" TERM; echo started; while :; do sleep 0.1; done `, 0},
			{"environment", []string{"--env", "X=exec env", name, "sh", "-c", `echo "$X"`}, "exec env\n", 0},
			{"user", []string{"--user", "65534", name, "id", "-u"}, "65534\n", 0},
			{"working folder", []string{"--workdir", "/proc", name, "pwd"}, "/proc\n", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := []string{"exec"}
				if strings.HasPrefix(tc.args[0], "--") {
					args = append(args, tc.args...)
				} else {
					args = append(append(args, name), tc.args...)
				}
				r := p.run(args...)
				if r.code != tc.wantCode || r.stdout != tc.want {
					t.Errorf("got exit status %d, stdout %q; want %d, %q\n%v", r.code, r.stdout, tc.wantCode, tc.want, r)
				}
			})
		}
		p.mustRun(t, "stop", "--time", "20", name)
		r := p.mustRun(t, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
		if got, want := strings.TrimSpace(r.stdout), "exited 7"; got != want {
			t.Errorf("after stop: got state %q, want %q (the shell's SIGTERM trap)", got, want)
		}
		r = p.mustRun(t, "logs", name)
		if r.stdout != "started\n" {
			t.Errorf("logs: got %q, want %q", r.stdout, "started\n")
		}
		p.mustRun(t, "rm", name)
		if r := p.run("inspect", name); r.code == 0 {
			t.Errorf("the container is still there after rm: %v", r)
		}
	})

	t.Run("limits seen inside", func(t *testing.T) {
		r := p.mustRun(t, "run", "--rm", "--cgroup-parent", p.cgroupParent,
			"--memory", "64m", "--pids-limit", "42", busyboxImage, "sh", "-c",
			cgroupValue("memory/memory.limit_in_bytes", "memory.max")+"; "+cgroupValue("pids/pids.max", "pids.max"))
		if got, want := r.stdout, "67108864\n42\n"; got != want {
			t.Errorf("memory limit and pids limit read inside: got %q, want %q", got, want)
		}
	})

	t.Run("run -t through a pty", func(t *testing.T) {
		master, slave, err := openPty()
		if err != nil {
			t.Fatal(err)
		}
		defer master.Close()
		// podman gives the container's terminal the size of its own.
		if err := setWinsize(slave, 33, 97); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(p.bin, p.argv("run", "--rm", "--interactive", "--tty", "--cgroup-parent", p.cgroupParent, busyboxImage, "sh")[1:]...)
		cmd.Env = append(os.Environ(), p.env...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		out := readPty(master)
		// Typed as a person would: sh reads it from its terminal.
		if _, err := master.Write([]byte("tty; stty size; [ -t 0 ] && echo stdin-is-a-tty; exit 5\r")); err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case err = <-waited:
		case <-time.After(cmdTimeout):
			cmd.Process.Kill()
			err = <-waited
			t.Errorf("podman run -t did not end; the terminal showed:\n%s", out)
		}
		master.Close()
		<-out.done
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		screen := strings.ReplaceAll(out.String(), "\r", "")
		if code != 5 {
			t.Errorf("got exit status %d, want 5; the terminal showed:\n%s", code, screen)
		}
		for _, want := range []string{"\n/dev/pts/0\n", "\n33 97\n", "\nstdin-is-a-tty\n"} {
			if !strings.Contains(screen, want) {
				t.Errorf("the terminal did not show %q; it showed:\n%s", strings.TrimSpace(want), screen)
			}
		}
	})

	t.Run("default seccomp profile", func(t *testing.T) {
		needSeccomp(t)
		for _, tc := range []struct {
			name string
			opts []string
			want string
		}{
			// /proc/self/status's Seccomp: 2 is filter mode, 0 none.
			{"default profile", nil, "Seccomp:\t2\n"},
			{"unconfined", []string{"--security-opt", "seccomp=unconfined"}, "Seccomp:\t0\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := append([]string{"run", "--rm", "--cgroup-parent", p.cgroupParent}, tc.opts...)
				r := p.mustRun(t, append(args, busyboxImage, "grep", "^Seccomp:", "/proc/self/status")...)
				if r.stdout != tc.want {
					t.Errorf("got %q, want %q", r.stdout, tc.want)
				}
			})
		}
	})
}

// needSeccomp skips the test when the runtime under test is minirun and its
// `features` shows no seccomp support yet; any other runtime is tested.
func needSeccomp(t *testing.T) {
	t.Helper()
	if !runtimeIsMinirun() {
		return
	}
	var f struct {
		Linux struct {
			Seccomp struct {
				Enabled *bool `json:"enabled"`
			} `json:"seccomp"`
		} `json:"linux"`
	}
	out, err := exec.Command(realRuntime, "features").Output()
	if err == nil {
		err = json.Unmarshal(out, &f)
	}
	if err != nil || f.Linux.Seccomp.Enabled == nil || !*f.Linux.Seccomp.Enabled {
		t.Skip("seccomp lands with issue 9 (minirun features shows no seccomp support)")
	}
}
