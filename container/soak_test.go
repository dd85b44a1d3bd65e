package container

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/procfs"
	"github.com/minirun/minirun/specs"
	"github.com/minirun/minirun/statedir"
)

// soakSizes are how many containers each part of TestSoak runs:
// MINIRUN_SOAK=full (make soak) for the long run, a short one otherwise
// (make test).
type soakSizes struct{ sequential, concurrent, cycles, kills int }

func soakSize() soakSizes {
	if os.Getenv("MINIRUN_SOAK") == "full" {
		return soakSizes{1000, 200, 1000, 200}
	}
	return soakSizes{50, 20, 50, 20}
}

// soakLeaks is what a soak must not leave: host mounts, the test's fds and
// children, state folders under its root, and cgroups of its containers.
type soakLeaks struct {
	mounts, fds, children, procs, state, cgroups []string
}

func soakSnapshot(t *testing.T, root, prefix string) soakLeaks {
	t.Helper()
	h := snapshotHost(t)
	l := soakLeaks{mounts: h.mounts, fds: h.fds, children: h.children}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		l.state = append(l.state, e.Name())
	}
	// Any live process in a cgroup of the soak's containers, wherever its
	// parent: a container's process outlives a killed minirun as init's.
	// (A zombie waiting for init to reap it holds nothing but its pid.)
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		cg, err := os.ReadFile("/proc/" + p.Name() + "/cgroup")
		if err != nil || !strings.Contains(string(cg), "/minirun/"+prefix) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + p.Name() + "/stat"); err == nil {
			if _, f, err := procfs.ParseStat(string(stat)); err == nil && len(f) > 0 && f[0] == "Z" {
				continue
			}
		}
		l.procs = append(l.procs, p.Name())
	}
	for _, pattern := range []string{"/sys/fs/cgroup/*/minirun/" + prefix + "*", "/sys/fs/cgroup/minirun/" + prefix + "*"} {
		m, _ := filepath.Glob(pattern)
		l.cgroups = append(l.cgroups, m...)
	}
	return l
}

// soakCheck reports, per kind, what is left that was not there before.
func soakCheck(t *testing.T, part string, before soakLeaks, root, prefix string) {
	t.Helper()
	after := soakSnapshot(t, root, prefix)
	// A process SIGKILLed a moment ago may still be on its way out.
	for i := 0; i < 100 && len(after.procs) > len(before.procs); i++ {
		time.Sleep(20 * time.Millisecond)
		after = soakSnapshot(t, root, prefix)
	}
	added := func(a, b []string) []string {
		var out []string
		for _, x := range b {
			if !slices.Contains(a, x) {
				out = append(out, x)
			}
		}
		return out
	}
	counts := []string{}
	for _, k := range []struct {
		what string
		a, b []string
	}{
		{"mounts", before.mounts, after.mounts}, {"fds", before.fds, after.fds},
		{"children", before.children, after.children}, {"container processes", before.procs, after.procs},
		{"state entries", before.state, after.state}, {"cgroups", before.cgroups, after.cgroups},
	} {
		left := added(k.a, k.b)
		counts = append(counts, fmt.Sprintf("%d %s", len(left), k.what))
		if len(left) > 0 {
			t.Errorf("%s: left %s: %q", part, k.what, left)
		}
	}
	t.Logf("%s: left %s", part, strings.Join(counts, ", "))
}

// TestSoak runs many containers and checks that none leaves anything:
// sequential runs in-process (the runtime's own fds and children are the
// test's), concurrent runs of the binary, create/start/kill/delete cycles,
// and minirun killed with SIGKILL at random moments of run or create, then
// delete --force. It logs the time each took. make soak runs the long
// version (MINIRUN_SOAK=full: 1000, 200, 1000, 200).
func TestSoak(t *testing.T) {
	needRoot(t, "runs containers")
	n := soakSize()
	root := tempDir(t)
	prefix := fmt.Sprintf("soak%d-", os.Getpid())
	tb := helperBundle(t, specs.GenerateOptions{})
	b := tb.save(t)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()

	t.Run("sequential", func(t *testing.T) {
		before := soakSnapshot(t, root, prefix)
		rt := &Runtime{Dir: statedir.Dir{Root: root}}
		saved, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			t.Fatal(err)
		}
		unix.Dup3(int(devnull.Fd()), 1, 0)
		start := time.Now()
		failed := 0
		for i := 0; i < n.sequential; i++ {
			if code, err := rt.Run(fmt.Sprintf("%sseq%d", prefix, i), b, Options{}); err != nil || code != 0 {
				failed++
				if failed < 5 {
					t.Errorf("run %d: status %d, error %v", i, code, err)
				}
			}
		}
		d := time.Since(start)
		unix.Dup3(saved, 1, 0)
		unix.Close(saved)
		t.Logf("sequential: %d containers in %v, %v each, %d failed", n.sequential, d.Round(time.Millisecond), (d / time.Duration(n.sequential)).Round(time.Microsecond), failed)
		soakCheck(t, "sequential", before, root, prefix)
	})

	t.Run("concurrent", func(t *testing.T) {
		before := soakSnapshot(t, root, prefix)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan string, n.concurrent)
		for i := 0; i < n.concurrent; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var stderr bytes.Buffer
				cmd := exec.Command(minirunBin, "--root", root, "run", "--bundle", tb.Dir, fmt.Sprintf("%sconc%d", prefix, i))
				cmd.Stdout, cmd.Stderr = devnull, &stderr
				if err := cmd.Run(); err != nil {
					errs <- fmt.Sprintf("run %d: %v: %s", i, err, stderr.String())
				}
			}()
		}
		wg.Wait()
		d := time.Since(start)
		close(errs)
		failed := 0
		for e := range errs {
			if failed++; failed < 5 {
				t.Error(e)
			}
		}
		t.Logf("concurrent: %d containers at once in %v, %d failed", n.concurrent, d.Round(time.Millisecond), failed)
		soakCheck(t, "concurrent", before, root, prefix)
	})

	// The lifecycle's container waits on its stdin, a pipe the test holds.
	wait := helperBundle(t, specs.GenerateOptions{}, "wait")
	wait.save(t)
	// minirun's stderr is a file, not a pipe: a created container holds
	// what create gave it, and a pipe would keep Run waiting for EOF.
	errFile, err := os.CreateTemp(t.TempDir(), "stderr-")
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	minirun := func(stdin *os.File, args ...string) (string, error) {
		errFile.Truncate(0)
		errFile.Seek(0, 0)
		cmd := exec.Command(minirunBin, append([]string{"--root", root}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, devnull, errFile
		err := cmd.Run()
		out, _ := os.ReadFile(errFile.Name())
		return string(out), err
	}

	t.Run("lifecycle", func(t *testing.T) {
		before := soakSnapshot(t, root, prefix)
		stdinR, stdinW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		rt := &Runtime{Dir: statedir.Dir{Root: root}}
		start := time.Now()
		failed := 0
		for i := 0; i < n.cycles; i++ {
			id := fmt.Sprintf("%scycle%d", prefix, i)
			err := func() error {
				for _, args := range [][]string{{"create", "--bundle", wait.Dir, id}, {"start", id}, {"kill", id, "KILL"}} {
					if out, err := minirun(stdinR, args...); err != nil {
						return fmt.Errorf("%s: %v: %s", args[0], err, out)
					}
				}
				for j := 0; ; j++ {
					st, err := rt.State(id)
					if err != nil {
						return err
					}
					if st.Status == "stopped" {
						break
					}
					if j == 2000 {
						return fmt.Errorf("still %s 2s after kill", st.Status)
					}
					time.Sleep(time.Millisecond)
				}
				if out, err := minirun(nil, "delete", id); err != nil {
					return fmt.Errorf("delete: %v: %s", err, out)
				}
				return nil
			}()
			if err != nil {
				minirun(nil, "delete", "--force", id)
				if failed++; failed < 5 {
					t.Errorf("cycle %d: %v", i, err)
				}
			}
		}
		stdinR.Close()
		stdinW.Close()
		d := time.Since(start)
		t.Logf("lifecycle: %d create/start/kill/delete cycles in %v, %v each, %d failed", n.cycles, d.Round(time.Millisecond), (d / time.Duration(n.cycles)).Round(time.Microsecond), failed)
		soakCheck(t, "lifecycle", before, root, prefix)
	})

	t.Run("kill -9", func(t *testing.T) {
		before := soakSnapshot(t, root, prefix)
		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, seed))
		t.Logf("kill -9: seed %d", seed)
		stdinR, stdinW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		rt := &Runtime{Dir: statedir.Dir{Root: root}}
		left := map[string]int{} // what each kill left, by status
		start := time.Now()
		failed := 0
		for i := 0; i < n.kills; i++ {
			id := fmt.Sprintf("%skill%d", prefix, i)
			verb := []string{"run", "create"}[i%2]
			cmd := exec.Command(minirunBin, "--root", root, verb, "--bundle", wait.Dir, id)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, devnull, devnull
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Somewhere between minirun's start and a running container.
			time.Sleep(time.Duration(rng.IntN(30000)) * time.Microsecond)
			cmd.Process.Signal(unix.SIGKILL)
			cmd.Wait()
			if st, err := rt.State(id); err == nil {
				left[string(st.Status)]++
			} else {
				left["nothing"]++
			}
			if out, err := minirun(nil, "delete", "--force", id); err != nil {
				if failed++; failed < 5 {
					t.Errorf("%s %d killed, then delete --force: %v: %s", verb, i, err, out)
				}
			}
		}
		stdinR.Close()
		stdinW.Close()
		d := time.Since(start)
		t.Logf("kill -9: %d runs and creates killed at random, each then deleted with --force, in %v, %d deletes failed", n.kills, d.Round(time.Millisecond), failed)
		t.Logf("kill -9: what the kills left for delete --force, by status: %v", left)
		soakCheck(t, "kill -9", before, root, prefix)
	})
}
