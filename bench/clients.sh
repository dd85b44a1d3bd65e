#!/usr/bin/env bash
# bench/clients.sh: how long does a container take to start through the
# clients people use, with each runtime?
#
# Times, side by side in one run on this machine, with hyperfine (-N, no
# shell), for each runtime given:
#   podman   podman run --rm IMG /bin/true      (--runtime PATH; a fresh
#            private store, cgroupfs, no network, as the e2e tests use)
#   ctr      ctr run --rm IMG ID /bin/true      (--runc-binary PATH against
#            a private containerd, CRI plugin off)
#   crictl   crictl runp + create + start: a pod and one container in it,
#            through containerd's CRI plugin with one runtime handler per
#            runtime (runc shim, BinaryName PATH), as a Kubernetes node
#            starts a pod; a small sh script runs the three crictl calls,
#            and every pod is removed before each run, untimed (--prepare)
# The image is a busybox-static rootfs made here (podman import, saved as
# an OCI archive for containerd), and a pause image built from
# e2e/testdata/pause. Nothing is pulled.
#
# What is fair, and what each figure is:
# - The runtimes are called by daemons (conmon, containerd's shim), not by
#   the command hyperfine times: only wall time is comparable. hyperfine's
#   CPU figures are the client's alone and are not printed.
# - crun 1.8.1 refuses hybrid cgroups. When crun is among the runtimes on a
#   hybrid host, the whole client stack (podman, conmon, containerd, its
#   shims, hyperfine) runs in one private mount namespace whose
#   /sys/fs/cgroup/unified is an empty tmpfs (reference/machine-notes.md),
#   every runtime alike; the host's mount namespace is untouched. Without
#   crun, everything runs in the host's own namespace.
# - Rounds run the runtimes in a rotated order, so load from other work on
#   the machine spreads over all of them; medians are over all rounds' runs.
# - Ratios are wall-time medians against each peer, per client.
#
# Usage: bench/clients.sh [RUNTIME…]     as root; RUNTIME is minirun, crun,
#        runc or a path (default: minirun crun runc). A runtime without the
#        lifecycle commands (create, start, state, kill, delete, exec) is
#        left out, and the report says so.
# Knobs: ROUNDS=3 rounds of WARMUP=2 + RUNS=10 runs per command,
#        CLIENTS="podman ctr crictl", MINIRUN=bin/minirun,
#        CRICTL=bin/e2e/crictl (make e2e-tools builds it), OUT=bench/out,
#        VERBOSE=1 shows hyperfine's own reports
# Writes to OUT: clients-CLIENT.json (all rounds merged, shaped like
# hyperfine's export), clients-hyperfine.log and clients.txt (the table).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# die, need, positive
. "$here/lib.sh"
repo=$(dirname "$here")
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-podman ctr crictl}
MINIRUN=${MINIRUN:-$repo/bin/minirun}
CRICTL=${CRICTL:-$repo/bin/e2e/crictl}
OUT=${OUT:-$repo/bench/out}
VERBOSE=${VERBOSE:-0}

[[ $(id -u) -eq 0 ]] || die "needs root (the clients make namespaces, mounts and cgroups): sudo $0"
positive ROUNDS RUNS WARMUP
for c in $CLIENTS; do
	[[ $c == podman || $c == ctr || $c == crictl ]] || die "CLIENTS: $c is not one of podman, ctr, crictl"
done
need hyperfine hyperfine
need python3 python3
need unshare util-linux
need go golang
[[ -x /bin/busybox ]] || die "/bin/busybox not found: apt-get install busybox-static"
need podman podman
need conmon conmon
need containerd containerd
need ctr containerd
need ip iproute2
for p in bridge host-local loopback; do
	[[ -x /usr/lib/cni/$p ]] || die "/usr/lib/cni/$p not found: apt-get install containernetworking-plugins"
done
[[ -x $CRICTL ]] || die "$CRICTL not found: make e2e-tools"

hybrid=0
if [[ $(stat -f -c %T /sys/fs/cgroup) != cgroup2fs && -d /sys/fs/cgroup/unified &&
	$(stat -f -c %T /sys/fs/cgroup/unified) == cgroup2fs ]]; then
	hybrid=1
fi

# The runtimes: a label and a path each.
labels=() paths=() left_out=()
[[ $# -gt 0 ]] || set -- minirun crun runc
for r in "$@"; do
	case $r in
	minirun) l=minirun p=$MINIRUN ;;
	crun | runc) l=$r p=$(command -v "$r" || true) ;;
	*) l=$(basename "$r") p=$r ;;
	esac
	if [[ $l == minirun && ! -x $p ]]; then
		left_out+=("minirun (not built at $p: make build)")
		continue
	fi
	[[ -n $p && -x $p ]] || die "$r: no such runtime ($p)"
	p=$(cd "$(dirname "$p")" && pwd)/$(basename "$p")
	[[ $p =~ ^[A-Za-z0-9/._+-]+$ ]] || die "$p: a path this script does not quote"
	missing=""
	for c in create start state kill delete exec; do
		"$p" "$c" --help >/dev/null 2>&1 || missing+=" $c"
	done
	if [[ -n $missing ]]; then
		left_out+=("$l ($p has no$missing)")
		continue
	fi
	[[ " ${labels[*]} " == *" $l "* ]] && die "$l given twice"
	labels+=("$l") paths+=("$p")
done
[[ ${#labels[@]} -gt 0 ]] || die "no runtime to time: ${left_out[*]}"

# crun on a hybrid host: the whole stack in a private mount namespace.
if ((hybrid)) && [[ " ${labels[*]} " == *" crun "* ]] && [[ -z ${MINIRUN_CLIENTS_NS:-} ]]; then
	echo "== crun and hybrid cgroups: the whole client stack runs in a private mount namespace (empty tmpfs on /sys/fs/cgroup/unified)"
	exec unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified &&
		mount -t tmpfs -o size=64m,mode=755 none /sys/fs/cgroup/unified && exec "$@"' sh \
		env MINIRUN_CLIENTS_NS=1 "$0" "$@"
fi
ns_note="the host's own mount namespace"
[[ -n ${MINIRUN_CLIENTS_NS:-} ]] && ns_note="a private mount namespace with an empty tmpfs on /sys/fs/cgroup/unified (for crun), all runtimes alike"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Short: podman refuses a runroot longer than 50 characters.
tmp=$(mktemp -d /tmp/mrc.XXXXXX)
chmod 755 "$tmp"
tag=mrc$$
bridge=${tag}br
cgparent=/$tag
ns=$tag
sock=$tmp/containerd.sock
ctrd_pid=""
shim_sockets_before=$(ls /run/containerd/s 2>/dev/null || true)
had_run_containerd=0 had_var_lib_cni=0 had_var_lib_containers=0
[[ -d /run/containerd ]] && had_run_containerd=1
[[ -d /var/lib/cni ]] && had_var_lib_cni=1
[[ -d /var/lib/containers ]] && had_var_lib_containers=1

pm() { # podman with the private store
	CONTAINERS_CONF=$tmp/containers.conf CONTAINERS_STORAGE_CONF=$tmp/storage.conf \
		CONTAINERS_REGISTRIES_CONF=$tmp/registries.conf \
		podman --root "$tmp/pm/root" --runroot "$tmp/pm/run" --tmpdir "$tmp/pm/tmp" \
		--storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"
}
ctrc() { ctr --address "$sock" "$@"; }
cri() { "$CRICTL" --config "$tmp/crictl.yaml" "$@"; }

cleanup() {
	set +e
	if [[ -n $ctrd_pid ]]; then
		cri rmp --force --all >/dev/null 2>&1
		for id in $(ctrc -n "$ns" task ls -q 2>/dev/null); do
			ctrc -n "$ns" task kill -s SIGKILL "$id" >/dev/null 2>&1
			sleep 0.2
			ctrc -n "$ns" task delete --force "$id" >/dev/null 2>&1
		done
		for id in $(ctrc -n "$ns" container ls -q 2>/dev/null); do
			ctrc -n "$ns" container delete "$id" >/dev/null 2>&1
		done
		kill "$ctrd_pid" 2>/dev/null
		wait "$ctrd_pid" 2>/dev/null
	fi
	pm rm --all --force --time 0 >/dev/null 2>&1
	# Whatever of this run's still runs (a shim, a conmon): by pid.
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $pid == "$$" ]] && continue
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "$tmp"; then
			kill -9 "$pid" 2>/dev/null
		fi
	done
	for s in $(ls /run/containerd/s 2>/dev/null); do
		grep -qx -- "$s" <<<"$shim_sockets_before" || rm -f "/run/containerd/s/$s"
	done
	((had_run_containerd)) || rmdir /run/containerd/s /run/containerd 2>/dev/null
	ip link delete "$bridge" 2>/dev/null
	rm -f /var/lib/cni/results/"$tag"-net-* 2>/dev/null
	((had_var_lib_cni)) || rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
	((had_var_lib_containers)) || rm -rf /var/lib/containers
	for root in /sys/fs/cgroup/*/; do
		for d in "$root$tag"/* "$root$tag" "$root$tag-podman"/* "$root$tag-podman" "$root$ns"/* "$root$ns"; do
			[[ -d $d ]] && rmdir "$d" 2>/dev/null
		done
	done
	grep -F " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== images: a busybox-static rootfs and a pause program, made here"
mkdir -p "$tmp/rootfs/bin" "$tmp/pause" "$tmp/pm/root" "$tmp/pm/run" "$tmp/pm/tmp"
(
	cd "$tmp/rootfs"
	mkdir -p proc sys dev etc tmp root sbin usr/bin usr/sbin
	cp /bin/busybox bin/busybox
	for a in $(/bin/busybox --list-full); do
		[[ $a == bin/busybox ]] && continue
		mkdir -p "$(dirname "$a")"
		ln -sf /bin/busybox "$a"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >etc/passwd
	echo 'root:x:0:' >etc/group
)
(cd "$repo/e2e/testdata/pause" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$tmp/pause/pause" .)
cat >"$tmp/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$tmp/pm/events.log"
[network]
network_config_dir = "$tmp/pm/net"
EOF
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/pm/root"\nrunroot = "%s/pm/run"\n' "$tmp" "$tmp" >"$tmp/storage.conf"
: >"$tmp/registries.conf"
img=localhost/minirun-bench/busybox:1
pause=localhost/minirun-bench/pause:1
tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
tar -C "$tmp/pause" -cf "$tmp/pause.tar" .
pm import -q "$tmp/rootfs.tar" "$img" >/dev/null
pm import -q --change 'ENTRYPOINT ["/pause"]' "$tmp/pause.tar" "$pause" >/dev/null
pm save -q --format oci-archive -o "$tmp/busybox.oci.tar" "$img"
pm save -q --format oci-archive -o "$tmp/pause.oci.tar" "$pause"

echo "== a private containerd with the CRI plugin, a runtime handler per runtime, CNI on bridge $bridge"
mkdir -p "$tmp/net.d" "$tmp/logs"
handlers=""
for i in "${!labels[@]}"; do
	handlers+="
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.${labels[$i]}]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.${labels[$i]}.options]
        BinaryName = \"${paths[$i]}\"
        Root = \"$tmp/cri-root/${labels[$i]}\"
        SystemdCgroup = false"
done
cat >"$tmp/config.toml" <<EOF
version = 2
root = "$tmp/root"
state = "$tmp/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$tmp/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "${labels[0]}"$handlers
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$tmp/net.d"
    max_conf_num = 1
EOF
# The bridge and its address are made here, so that the bridge plugin is no
# gateway and turns on no forwarding; a /24 of the benchmarking range.
sub=198.18.$(($$ % 256))
ip link add "$bridge" type bridge
ip addr add "$sub.1/24" dev "$bridge"
ip link set "$bridge" up
cat >"$tmp/net.d/10-$tag.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "$tag-net", "plugins": [{"type": "bridge", "bridge": "$bridge",
 "isGateway": false, "ipMasq": false, "ipam": {"type": "host-local", "dataDir": "$tmp/ipam",
 "ranges": [[{"subnet": "$sub.0/24", "gateway": "$sub.1"}]]}}]}
EOF
containerd --config "$tmp/config.toml" >"$tmp/containerd.log" 2>&1 &
ctrd_pid=$!
for _ in $(seq 100); do
	ctrc version >/dev/null 2>&1 && break
	kill -0 "$ctrd_pid" 2>/dev/null || die "containerd exited: $(tail -5 "$tmp/containerd.log")"
	sleep 0.1
done
ctrc version >/dev/null 2>&1 || die "containerd does not answer: $(tail -5 "$tmp/containerd.log")"
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\npull-image-on-create: false\n' "$sock" "$sock" >"$tmp/crictl.yaml"
ctrc -n "$ns" images import --base-name localhost/minirun-bench/busybox "$tmp/busybox.oci.tar" >/dev/null
for f in busybox pause; do
	ctrc -n k8s.io images import --base-name "localhost/minirun-bench/$f" "$tmp/$f.oci.tar" >/dev/null
done
for _ in $(seq 100); do
	[[ $(cri images -q 2>/dev/null | wc -l) -ge 2 ]] && break
	sleep 0.1
done
echo "{\"metadata\": {\"name\": \"bench\", \"namespace\": \"default\", \"uid\": \"$tag\"}, \"log_directory\": \"$tmp/logs\", \"linux\": {\"cgroup_parent\": \"$cgparent\"}}" >"$tmp/pod.json"
echo "{\"metadata\": {\"name\": \"c\"}, \"image\": {\"image\": \"$img\"}, \"command\": [\"/bin/sleep\", \"3600\"], \"log_path\": \"c.log\"}" >"$tmp/ctr.json"
cat >"$tmp/cri-start.sh" <<EOF
set -e
pod=\$("$CRICTL" --config "$tmp/crictl.yaml" runp --runtime "\$1" "$tmp/pod.json")
c=\$("$CRICTL" --config "$tmp/crictl.yaml" create "\$pod" "$tmp/ctr.json" "$tmp/pod.json")
"$CRICTL" --config "$tmp/crictl.yaml" start "\$c" >/dev/null
EOF

# cmd CLIENT I: the argv line hyperfine runs for runtime I.
cmd() {
	local l=${labels[$2]} p=${paths[$2]}
	case $1 in
	podman)
		printf 'env CONTAINERS_CONF=%s CONTAINERS_STORAGE_CONF=%s CONTAINERS_REGISTRIES_CONF=%s podman --root %s --runroot %s --tmpdir %s --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime %s run --rm --cgroup-parent %s %s /bin/true' \
			"$tmp/containers.conf" "$tmp/storage.conf" "$tmp/registries.conf" "$tmp/pm/root" "$tmp/pm/run" "$tmp/pm/tmp" "$p" "$cgparent-podman" "$img"
		;;
	ctr)
		printf 'ctr --address %s --namespace %s run --rm --runc-binary %s --runc-root %s --fifo-dir %s %s %s /bin/true' \
			"$sock" "$ns" "$p" "$tmp/ctr-root/$l" "$tmp/fifo" "$img" "b$l"
		;;
	crictl) printf 'sh %s %s' "$tmp/cri-start.sh" "$l" ;;
	esac
}

echo "== smoke run: each client once with each runtime"
for c in $CLIENTS; do
	for i in "${!labels[@]}"; do
		# shellcheck disable=SC2046 # cmd's output is an argv line, split on purpose
		if ! out=$($(cmd "$c" "$i") 2>&1); then
			printf '%s\n' "$out" >&2
			[[ $c == crictl ]] && tail -20 "$tmp/containerd.log" >&2
			die "$c with ${labels[$i]} failed (above)"
		fi
		[[ $c == crictl ]] && cri rmp --force --all >/dev/null
		echo "  $c ${labels[$i]}: ok"
	done
done

echo "== hyperfine: $ROUNDS rounds; per round, client and runtime $WARMUP warmup + $RUNS runs (order rotated per round)"
echo "   (hyperfine's reports: $OUT/clients-hyperfine.log)"
: >"$OUT/clients-hyperfine.log"
for c in $CLIENTS; do
	rm -f "$OUT/clients-$c"-round*.json
done
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	for ((i = 0; i < ${#labels[@]}; i++)); do
		order+=($(((i + r - 1) % ${#labels[@]})))
	done
	echo "  round $r/$ROUNDS, order$(for i in "${order[@]}"; do printf ' %s' "${labels[$i]}"; done); load $(cut -d' ' -f1-3 /proc/loadavg)"
	for c in $CLIENTS; do
		hf=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/clients-$c-round$r.json")
		for i in "${order[@]}"; do
			# Every pod goes before each crictl run, untimed.
			[[ $c == crictl ]] && hf+=(--prepare "$CRICTL --config $tmp/crictl.yaml rmp --force --all")
			hf+=(-n "${labels[$i]}" "$(cmd "$c" "$i")")
		done
		printf '%s\n' "${hf[*]}" >>"$OUT/clients-hyperfine.log"
		if [[ $VERBOSE == 1 ]]; then
			"${hf[@]}" | tee -a "$OUT/clients-hyperfine.log"
		else
			"${hf[@]}" >>"$OUT/clients-hyperfine.log" 2>&1 || die "hyperfine failed; its report: $OUT/clients-hyperfine.log"
		fi
	done
	cri rmp --force --all >/dev/null
done

facts="$(nproc) CPUs, kernel $(uname -r), $(hyperfine --version), podman $(podman --version | awk '{print $3}'), containerd $(containerd --version | awk '{print $3}'), crictl v1.37.0"
vers=""
for i in "${!labels[@]}"; do
	vers+="${labels[$i]}: $("${paths[$i]}" --version 2>/dev/null | head -1); "
done
python3 - "$OUT" "$ROUNDS" "$RUNS" "$WARMUP" "$facts" "$vers" "$ns_note" "${left_out[*]:-}" "$CLIENTS" "${labels[@]}" <<'EOF' | tee "$OUT/clients.txt"
import json, statistics, sys
out, rounds, runs, warmup, facts, vers, ns_note, left_out, clients = sys.argv[1:10]
labels = sys.argv[10:]
rounds = int(rounds)
what = {
    "podman": "podman run --rm IMG /bin/true",
    "ctr": "ctr run --rm IMG ID /bin/true",
    "crictl": "crictl runp + create + start (a pod and one container)",
}
print(f"\ncontainer start through clients: {rounds} rounds x ({warmup} warmup + {runs}) runs per client and runtime, hyperfine -N")
print(facts)
print(vers.rstrip("; "))
print(f"everything ran in {ns_note}")
if left_out:
    print(f"left out: {left_out}")
med = {}
for c in clients.split():
    merged = {}
    for r in range(1, rounds + 1):
        with open(f"{out}/clients-{c}-round{r}.json") as f:
            for res in json.load(f)["results"]:
                m = merged.setdefault(res["command"], {"command": res["command"], "times": [], "rounds": []})
                m["times"] += res["times"]
                m["rounds"].append(res["median"])
    for m in merged.values():
        t = m["times"]
        m.update(median=statistics.median(t), mean=statistics.mean(t),
                 stddev=statistics.stdev(t) if len(t) > 1 else 0.0, min=min(t), max=max(t))
    with open(f"{out}/clients-{c}.json", "w") as f:
        json.dump({"results": list(merged.values())}, f, indent=2)
    med[c] = merged
ms = lambda s: s * 1e3
print(f"\n{'wall, ms':58} " + " ".join(f"{l:>16}" for l in labels))
for c, merged in med.items():
    print(f"{what[c]:58} " + " ".join(
        f"{ms(merged[l]['median']):7.1f} ±{ms(merged[l]['stddev']):6.1f}  " for l in labels))
print("(median ± standard deviation over all runs)")
if len(labels) > 1:
    print(f"\nratios of medians, row / column")
    for c, merged in med.items():
        print(f"  {c}")
        print(f"    {'':10} " + " ".join(f"{l:>9}" for l in labels))
        for a in labels:
            print(f"    {a:10} " + " ".join(f"{merged[a]['median'] / merged[b]['median']:9.2f}" for b in labels))
        per = "; ".join(
            f"{a}/{b} " + ", ".join(f"{x / y:.2f}" for x, y in zip(merged[a]["rounds"], merged[b]["rounds"]))
            for i, a in enumerate(labels) for b in labels[i + 1:])
        print(f"    per round: {per}")
EOF
