package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Kubernetes node's path: kubelet talks CRI to containerd's CRI plugin,
// which runs pods and containers through the runc shim with a runtime
// handler, as a RuntimeClass names one. crictl stands in for the kubelet.

// criHandler is the runtime handler's name, as a RuntimeClass's handler.
const criHandler = "minirun-e2e"

// cniNet is a CNI network of the test's own: a bridge it made itself (with
// the gateway's address, so the bridge plugin need not be a gateway and
// turns on no forwarding), a subnet from the benchmarking range no real
// network uses, host-local's leases in the test's folder.
type cniNet struct {
	name, bridge, confDir string
	subnet                *net.IPNet
}

// newCNINet writes the network's conf and makes its bridge; the test's
// cleanup deletes the bridge and the CNI results this network left.
func newCNINet(t *testing.T, dir string) *cniNet {
	t.Helper()
	needTool(t, "ip", "iproute2")
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		needFile(t, filepath.Join("/usr/lib/cni", p), "containernetworking-plugins")
	}
	n := &cniNet{name: tag + "-net", bridge: tag + "br", confDir: filepath.Join(dir, "net.d")}
	// A /24 of 198.18.0.0/15 (RFC 2544) not on any interface here.
	addrs, _ := net.InterfaceAddrs()
	for i := 0; i < 256 && n.subnet == nil; i++ {
		_, cand, _ := net.ParseCIDR(fmt.Sprintf("198.18.%d.0/24", (os.Getpid()+i)%256))
		free := true
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (cand.Contains(ipn.IP) || ipn.Contains(cand.IP)) {
				free = false
			}
		}
		if free {
			n.subnet = cand
		}
	}
	if n.subnet == nil {
		t.Fatal("no free /24 in 198.18.0.0/16 for the pods' network")
	}
	gw := net.IPv4(n.subnet.IP[0], n.subnet.IP[1], n.subnet.IP[2], 1)
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.name,
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": n.bridge, "isGateway": false, "ipMasq": false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": n.subnet.String(), "gateway": gw.String()}}},
				"dataDir": filepath.Join(dir, "ipam"),
			},
		}},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	if err := os.MkdirAll(n.confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.confDir, "10-"+n.name+".conflist"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	const results = "/var/lib/cni/results"
	made := map[string]bool{}
	for _, d := range []string{"/var/lib/cni", results} {
		if _, err := os.Stat(d); err != nil {
			made[d] = true
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "delete", n.bridge).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip link delete %s: %v %s", n.bridge, err, out)
		}
		for e := range dirEntries(results) {
			if strings.HasPrefix(e, n.name+"-") {
				os.Remove(filepath.Join(results, e))
			}
		}
		for _, d := range []string{results, "/var/lib/cni"} {
			if made[d] {
				os.Remove(d) // only when empty
			}
		}
	})
	mustRun(t, nil, "ip", "link", "add", n.bridge, "type", "bridge")
	mustRun(t, nil, "ip", "addr", "add", gw.String()+"/24", "dev", n.bridge)
	mustRun(t, nil, "ip", "link", "set", n.bridge, "up")
	return n
}

// crictl runs crictl against containerd's CRI socket, with a config file of
// the test's own (never the host's /etc/crictl.yaml).
type crictl struct {
	bin, config string
}

func (c crictl) run(args ...string) result {
	return run(nil, append([]string{c.bin, "--config", c.config}, args...)...)
}

func (c crictl) mustRun(t *testing.T, args ...string) result {
	t.Helper()
	return mustRun(t, nil, append([]string{c.bin, "--config", c.config}, args...)...)
}

// inspect runs crictl inspect or inspectp and decodes its JSON into v.
func (c crictl) inspect(t *testing.T, v any, args ...string) {
	t.Helper()
	r := c.mustRun(t, append([]string{args[0], "--output", "json"}, args[1:]...)...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
}

// sysctl reads a value under /proc/sys.
func sysctl(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}

func TestCRI(t *testing.T) {
	needRuntime(t, "exec")
	watchHost(t)
	forwarding := map[string]string{}
	for _, s := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"} {
		forwarding[s] = sysctl(t, s)
	}
	cli := crictl{bin: crictlBinary(t)}
	dir, err := os.MkdirTemp(workDir, "cri")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(t, dir) })
	cni := newCNINet(t, dir)
	stateRoot := filepath.Join(dir, "runtime-root")
	cgroupParent := "/" + tag + "-cri"
	criConf := fmt.Sprintf(`
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[1]q
  # Without CAP_SYS_RESOURCE a runtime cannot give the sandbox the
  # oom_score_adj of -998 the plugin asks for.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = %[2]q
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[2]s]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[2]s.options]
        BinaryName = %[3]q
        Root = %[4]q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[5]q
    max_conf_num = 1
`, pauseImage, criHandler, runtimePath, stateRoot, cni.confDir)
	ctrd := startContainerd(t, criConf)
	cli.config = filepath.Join(dir, "crictl.yaml")
	crictlConf := fmt.Sprintf("runtime-endpoint: unix://%[1]s\nimage-endpoint: unix://%[1]s\ntimeout: 60\ndebug: false\npull-image-on-create: false\n", ctrd.sock)
	if err := os.WriteFile(cli.config, []byte(crictlConf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Every pod, with its containers, before containerd stops.
		if r := cli.run("rmp", "--force", "--all"); r.code != 0 {
			t.Errorf("cleanup: %v", r)
		}
		checkStateRootEmpty(t, filepath.Join(stateRoot, "k8s.io"))
		removeClientCgroups(cgroupParent)
		for s, v := range forwarding {
			if got := sysctl(t, s); got != v {
				t.Errorf("%s changed from %s to %s: nothing here may turn on forwarding", s, v, got)
			}
		}
	})
	for _, img := range []string{pauseArchive(t), busyboxArchive(t)} {
		ctrd.mustCtr(t, "k8s.io", "images", "import", img)
	}
	// The CRI plugin learns of imported images from containerd's events.
	if !waitFor(30*time.Second, func() bool {
		r := cli.run("images", "--quiet")
		return r.code == 0 && strings.Count(r.stdout, "sha256:") >= 2
	}) {
		t.Fatalf("the CRI plugin does not list the imported images: %v\ncontainerd's log ends:\n%s", cli.run("images"), ctrd.logTail())
	}

	logDir := filepath.Join(dir, "logs")
	podConfig := map[string]any{
		"metadata":      map[string]any{"name": "e2e-pod", "namespace": "default", "uid": tag + "-pod", "attempt": 0},
		"hostname":      "e2e-pod",
		"log_directory": logDir,
		"linux": map[string]any{
			"cgroup_parent": cgroupParent,
		},
	}
	containerConfig := map[string]any{
		"metadata": map[string]any{"name": "busybox"},
		"image":    map[string]any{"image": busyboxImage},
		"command": []string{"sh", "-c",
			`echo hello from cri; trap "echo got TERM; exit 0" TERM; while :; do sleep 0.1; done`},
		"log_path": "busybox.log",
		"linux": map[string]any{
			"resources": map[string]any{"memory_limit_in_bytes": 67108864},
		},
	}
	podFile, ctrFile := filepath.Join(dir, "pod.json"), filepath.Join(dir, "container.json")
	for f, v := range map[string]any{podFile: podConfig, ctrFile: containerConfig} {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	r := cli.run("runp", "--runtime", criHandler, podFile)
	if r.code != 0 {
		t.Fatalf("%v\ncontainerd's log ends:\n%s", r, ctrd.logTail())
	}
	pod := strings.TrimSpace(r.stdout)

	t.Run("inspectp", func(t *testing.T) {
		var v struct {
			Status struct {
				State   string `json:"state"`
				Network struct {
					IP string `json:"ip"`
				} `json:"network"`
			} `json:"status"`
			Info struct {
				RuntimeHandler string `json:"runtimeHandler"`
				RuntimeOptions struct {
					BinaryName string `json:"binary_name"`
				} `json:"runtimeOptions"`
				Pid int `json:"pid"`
			} `json:"info"`
		}
		cli.inspect(t, &v, "inspectp", pod)
		if v.Status.State != "SANDBOX_READY" {
			t.Errorf("pod state: got %q, want SANDBOX_READY", v.Status.State)
		}
		if ip := net.ParseIP(v.Status.Network.IP); ip == nil || !cni.subnet.Contains(ip) {
			t.Errorf("pod address: got %q, want one in %s (the CNI network's)", v.Status.Network.IP, cni.subnet)
		}
		if v.Info.RuntimeHandler != criHandler || v.Info.RuntimeOptions.BinaryName != runtimePath {
			t.Errorf("pod runtime: got handler %q binary %q, want %q and %q",
				v.Info.RuntimeHandler, v.Info.RuntimeOptions.BinaryName, criHandler, runtimePath)
		}
		if v.Info.Pid <= 0 {
			t.Errorf("pod sandbox pid: got %d", v.Info.Pid)
		} else if path, _, err := memoryCgroup(v.Info.Pid); err != nil || !strings.HasPrefix(path, cgroupParent+"/") {
			t.Errorf("the sandbox's memory cgroup: got %q (%v), want one under the pod's cgroup_parent %s", path, err, cgroupParent)
		}
	})

	r = cli.run("create", pod, ctrFile, podFile)
	if r.code != 0 {
		t.Fatalf("%v\ncontainerd's log ends:\n%s", r, ctrd.logTail())
	}
	ctr := strings.TrimSpace(r.stdout)
	r = cli.run("start", ctr)
	if r.code != 0 {
		t.Fatalf("%v\ncontainerd's log ends:\n%s", r, ctrd.logTail())
	}

	t.Run("logs", func(t *testing.T) {
		var r result
		waitFor(10*time.Second, func() bool {
			r = cli.run("logs", ctr)
			return r.stdout != ""
		})
		if r.stdout != "hello from cri\n" {
			t.Errorf("logs: got %q, want %q\n%v", r.stdout, "hello from cri\n", r)
		}
	})

	t.Run("exec", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			args     []string
			want     string
			wantCode int // the container's status; crictl says it in its message
		}{
			{"output", []string{"sh", "-c", "echo from exec"}, "from exec\n", 0},
			{"exit status", []string{"sh", "-c", "exit 3"}, "", 3},
			{"memory limit seen inside", []string{"sh", "-c", cgroupValue("memory/memory.limit_in_bytes", "memory.max")}, "67108864\n", 0},
			{"hostname", []string{"hostname"}, "e2e-pod\n", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := cli.run(append([]string{"exec", "--sync", ctr}, tc.args...)...)
				// crictl exits 1 when the command fails, and says the
				// command's own status only in its message ("… exited
				// with 3: …"); it ends what it prints with blank lines.
				code := r.code
				if code != 0 {
					code = -1
					if _, after, ok := strings.Cut(r.stderr, "' exited with "); ok {
						fmt.Sscanf(after, "%d", &code)
					}
				}
				r.stdout = strings.TrimRight(r.stdout, "\n")
				tc.want = strings.TrimRight(tc.want, "\n")
				if code != tc.wantCode || r.stdout != tc.want {
					t.Errorf("got status %d, stdout %q; want %d, %q\n%v", code, r.stdout, tc.wantCode, tc.want, r)
				}
			})
		}
	})

	t.Run("inspect", func(t *testing.T) {
		var v struct {
			Status struct {
				State string `json:"state"`
			} `json:"status"`
			Info struct {
				Pid int `json:"pid"`
			} `json:"info"`
		}
		cli.inspect(t, &v, "inspect", ctr)
		if v.Status.State != "CONTAINER_RUNNING" || v.Info.Pid <= 0 {
			t.Errorf("container: got state %q pid %d, want CONTAINER_RUNNING and a pid", v.Status.State, v.Info.Pid)
		}
		path, limit, err := memoryCgroup(v.Info.Pid)
		if err != nil || !strings.HasPrefix(path, cgroupParent+"/") || limit != "67108864" {
			t.Errorf("the container's memory cgroup: got %q limit %q (%v), want one under %s with limit 67108864", path, limit, err, cgroupParent)
		}
	})

	t.Run("stats", func(t *testing.T) {
		var v struct {
			Stats []struct {
				Attributes struct {
					ID string `json:"id"`
				} `json:"attributes"`
				Memory struct {
					WorkingSetBytes struct {
						Value string `json:"value"`
					} `json:"workingSetBytes"`
				} `json:"memory"`
			} `json:"stats"`
		}
		r := cli.mustRun(t, "stats", "--output", "json", "--id", ctr)
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		// The shim reads the container's cgroup: a working set above
		// zero says it found the container's processes there.
		if len(v.Stats) != 1 || v.Stats[0].Attributes.ID != ctr || v.Stats[0].Memory.WorkingSetBytes.Value == "" || v.Stats[0].Memory.WorkingSetBytes.Value == "0" {
			t.Errorf("stats: got %s, want one entry for %s with a working set above 0", r.stdout, ctr)
		}
	})

	t.Run("stop, rm, stopp, rmp", func(t *testing.T) {
		cli.mustRun(t, "stop", "--timeout", "20", ctr)
		var v struct {
			Status struct {
				State    string `json:"state"`
				ExitCode int    `json:"exitCode"`
			} `json:"status"`
		}
		cli.inspect(t, &v, "inspect", ctr)
		if v.Status.State != "CONTAINER_EXITED" || v.Status.ExitCode != 0 {
			t.Errorf("after stop: got %q status %d, want CONTAINER_EXITED 0 (the TERM trap's)", v.Status.State, v.Status.ExitCode)
		}
		if r := cli.run("logs", ctr); r.stdout != "hello from cri\ngot TERM\n" {
			t.Errorf("logs after stop: got %q, want the TERM trap's line too", r.stdout)
		}
		cli.mustRun(t, "rm", ctr)
		if r := cli.mustRun(t, "ps", "--all", "--quiet"); strings.TrimSpace(r.stdout) != "" {
			t.Errorf("containers after rm: %q", r.stdout)
		}
		cli.mustRun(t, "stopp", pod)
		var p struct {
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		}
		cli.inspect(t, &p, "inspectp", pod)
		if p.Status.State != "SANDBOX_NOTREADY" {
			t.Errorf("after stopp: got %q, want SANDBOX_NOTREADY", p.Status.State)
		}
		cli.mustRun(t, "rmp", pod)
		if r := cli.mustRun(t, "pods", "--quiet"); strings.TrimSpace(r.stdout) != "" {
			t.Errorf("pods after rmp: %q", r.stdout)
		}
	})
}
