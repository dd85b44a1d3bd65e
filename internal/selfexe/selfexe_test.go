package selfexe

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/boot"
)

// The tests run a copy of the test binary, which in helper mode calls
// Ensure and says what it found: whether it was re-executed, whether its
// binary is protected now, and how (statfs, seals).
const helperEnv = "MINIRUN_SELFEXE_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		_, reexeced := os.LookupEnv(boot.GuardEnv)
		if err := Ensure(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		ok, err := Protected()
		comm, _ := os.ReadFile("/proc/self/comm")
		fmt.Printf("reexeced=%v protected=%v how=%q err=%v comm=%s\n", reexeced, ok, how(), err, strings.TrimSpace(string(comm)))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// how says what protects the running binary: a read-only mount, seals,
// or nothing.
func how() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/proc/self/exe", &st); err == nil && st.Flags&unix.ST_RDONLY != 0 {
		return "read-only mount"
	}
	fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err.Error()
	}
	defer unix.Close(fd)
	if seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0); err == nil && seals&unix.F_SEAL_WRITE != 0 {
		return "sealed copy"
	}
	return "nothing"
}

// copyTest copies the test binary to a folder of its own, owned by uid.
func copyTest(t *testing.T, uid int) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "helper")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(bin, uid, uid); err != nil {
		t.Fatal(err)
	}
	return bin
}

func runHelper(t *testing.T, wrap []string, bin string) string {
	t.Helper()
	argv := append(append([]string{}, wrap...), bin)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%q: %v: %s", argv, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestEnsure: a writable binary is re-executed from a read-only bind mount
// (root) or a sealed copy (without privilege); one that is protected
// already, or that the caller cannot write anyway, is left alone.
func TestEnsure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes bind mounts and runs the binary as uid 65534")
	}
	nobody := []string{"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux): " + err.Error())
	}
	t.Run("root, writable: a read-only bind mount", func(t *testing.T) {
		got := runHelper(t, nil, copyTest(t, 0))
		if want := `reexeced=true protected=true how="read-only mount" err=<nil> comm=helper`; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
	t.Run("without privilege, writable: a sealed copy", func(t *testing.T) {
		got := runHelper(t, nobody, copyTest(t, 65534))
		if want := `reexeced=true protected=true how="sealed copy" err=<nil> comm=helper`; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
	t.Run("without privilege, root's binary: nothing to do", func(t *testing.T) {
		got := runHelper(t, nobody, copyTest(t, 0))
		if want := `reexeced=false protected=false how="nothing" err=<nil> comm=helper`; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
	t.Run("root, bound read-only already: nothing to do", func(t *testing.T) {
		bin := copyTest(t, 0)
		if err := unix.Mount(bin, bin, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		defer unix.Unmount(bin, unix.MNT_DETACH)
		if err := unix.Mount("", bin, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			t.Fatal(err)
		}
		got := runHelper(t, nil, bin)
		if want := `reexeced=false protected=true how="read-only mount" err=<nil> comm=helper`; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
}
