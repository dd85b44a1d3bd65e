#!/usr/bin/env bash
# bench/run.sh: how long does it take to run /bin/true in a container?
#
# Times, side by side in one run on this machine, with hyperfine:
#   minirun   minirun run (bin/minirun from `make build`, or $MINIRUN)
#   crun      crun run (Debian)
#   runc      runc run (Debian)
#   unshare   unshare --fork --pid --mount --uts --ipc --net true
#   bwrap     bwrap --unshare-all, into the same rootfs, running /bin/true
# for /bin/true in a busybox-static rootfs built here from /bin/busybox, with
# the config `runc spec` writes (pid, network, ipc, uts and mount namespaces,
# root.readonly as runc gives it), changed only in process.terminal=false and
# process.args=["/bin/true"].
#
# What is fair, and what each figure is (the tables repeat it):
# - crun 1.8.1 refuses hybrid cgroups. So each round's hyperfine, with all six
#   commands in it, runs in one private mount namespace where the cgroup2
#   mount /sys/fs/cgroup/unified is replaced by an empty tmpfs (the recipe of
#   reference/machine-notes.md). The wrapper is paid once per round, by no
#   runtime; the host is untouched.
# - That namespace is not neutral: with no cgroup2 mount on the host, minirun
#   mounts no cgroup2 in the container either. So every round also times the
#   commands crun is not in, in the host's own mount namespace.
# - Two paces. Back to back, as hyperfine runs by default. And spaced, with
#   GAP seconds of sleep before each run (hyperfine --prepare): a lone start,
#   as a user sees it. They differ because mounting cgroup2 (minirun, in the
#   host's namespace) and writing a cgroup.procs (runc, crun) both take the
#   kernel's cgroup_threadgroup_rwsem for writing, whose rcu_sync waits for an
#   RCU grace period unless another writer passed a moment ago, as one did
#   in a back-to-back loop. minirun's process joins its v1 cgroups itself,
#   through their tasks files, which takes no such lock (childprog/cgroup.go).
# - runc and crun need a container id unique per run, so every command (all
#   of them) runs as `sh -c 'exec CMD'` and the id is the shell's pid. The row
#   `sh+true` is `sh -c 'exec ROOTFS/bin/true'`: that wrapper plus the exec of
#   the same static true; "net" columns subtract it.
# - runc, crun and minirun create cgroups (v1 here, a directory in every
#   hierarchy, as runc does); unshare and bwrap create none.
# - Rounds run the commands in a rotated order, so load from other work on
#   the machine spreads over all of them. Medians are over all rounds' runs;
#   CPU is hyperfine's user+system, the mean of the rounds' means.
# - Peak RSS is GNU time's %M around the runtime itself (no sh): ru_maxrss
#   from wait4, the maximum over the process and every descendant it waited
#   for. runc's covers `runc init` too; every runtime's covers the container's
#   /bin/true, whose own %M (a static busybox) is printed as the floor.
#
# Usage: bench/run.sh      as root; `make bench` runs it after bench/threads.sh
# Knobs: ROUNDS=4 rounds of WARMUP=3 + RUNS=30 back-to-back runs and
#        SPACED_RUNS=15 spaced runs (GAP=0.1 s; GAP=0 skips them) per command,
#        RSS_RUNS=10, MINIRUN=bin/minirun, OUT=bench/out, VERBOSE=1 shows
#        hyperfine's own reports
# Writes to OUT: run.json, run-host.json, run-spaced.json,
# run-spaced-host.json (all rounds merged, shaped like hyperfine's export;
# each round's export beside them as run-*roundN.json), run-rss.txt (name KiB
# per run), run-hyperfine.log and run.txt (the tables).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# die, need, positive, absolute_paths, in_private_ns
. "$here/lib.sh"
repo=$(dirname "$here")
ROUNDS=${ROUNDS:-4}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
SPACED_RUNS=${SPACED_RUNS:-15}
GAP=${GAP:-0.1}
RSS_RUNS=${RSS_RUNS:-10}
MINIRUN=${MINIRUN:-$repo/bin/minirun}
OUT=${OUT:-$repo/bench/out}
VERBOSE=${VERBOSE:-0}

[[ $(id -u) -eq 0 ]] || die "needs root (the runtimes make namespaces and mounts): sudo $0"
need hyperfine hyperfine
need runc runc
need crun crun
need bwrap bubblewrap
need unshare util-linux
need python3 python3
need sh dash
need sleep coreutils
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found: apt-get install time"
[[ -x /bin/busybox ]] || die "/bin/busybox not found: apt-get install busybox-static"
[[ -x $MINIRUN ]] || die "$MINIRUN not found: make build"
positive ROUNDS RUNS WARMUP SPACED_RUNS RSS_RUNS
[[ $GAP =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "GAP=$GAP: want seconds, like 0.1 (0 skips the spaced runs)"
spaced=1
[[ $GAP =~ ^0+(\.0+)?$ ]] && spaced=0
absolute_paths

tmp=$(mktemp -d "${TMPDIR:-/tmp}/minirun-bench.XXXXXX")
idp="mrb$$x" # every container id this script makes starts with it

cleanup() {
	local id
	for id in $(runc list -q 2>/dev/null | grep "^$idp" || true); do
		runc delete -f "$id" >/dev/null 2>&1 || echo "bench/run.sh: runc delete -f $id failed" >&2
	done
	for id in $(in_private_ns crun list -q 2>/dev/null | grep "^$idp" || true); do
		in_private_ns crun delete -f "$id" >/dev/null 2>&1 || echo "bench/run.sh: crun delete -f $id failed" >&2
	done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Paths go into `sh -c '…'` strings: keep them free of quoting trouble.
for p in "$tmp" "$MINIRUN"; do
	[[ $p =~ ^[A-Za-z0-9/._+-]+$ ]] || die "$p: a path this script does not quote; set TMPDIR or MINIRUN"
done

# The rootfs: a static busybox, the two names the configs use, and the mount
# points, so that no runtime's first run pays for making them.
bundle=$tmp/bundle
rootfs=$bundle/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
cp /bin/busybox "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/true"
ln -s busybox "$rootfs/bin/sh"
(cd "$bundle" && runc spec)

# minirun and runc read runc's config with the two changes; crun reads its own
# copy, whose ociVersion is lowered to 1.1.0 when runc wrote one above 1.1.x.
mkdir -p "$tmp/crun"
oci_note=$(
	python3 - "$bundle/config.json" "$tmp/crun/config.json" "$rootfs" <<'EOF'
import json, re, sys
src, crun_dst, rootfs = sys.argv[1:]
with open(src) as f:
    c = json.load(f)
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
with open(src, "w") as f:
    json.dump(c, f, indent=2)
v = c["ociVersion"]
m = re.match(r"(\d+)\.(\d+)", v)
note = f"ociVersion {v} for all"
if not m or (int(m[1]), int(m[2])) > (1, 1):
    c["ociVersion"] = "1.1.0"
    note = f"ociVersion {v}, crun's copy 1.1.0 (crun 1.8.1 rejects newer)"
c["root"]["path"] = rootfs
with open(crun_dst, "w") as f:
    json.dump(c, f, indent=2)
ns = ",".join(n["type"] for n in c["linux"]["namespaces"])
print(f"{note}; namespaces {ns}; root.readonly={str(c['root'].get('readonly', False)).lower()}")
EOF
)

# Each command as an argv line; ID stands for a fresh container id.
names=(sh minirun crun runc unshare bwrap)
declare -A argv=(
	[sh]="$rootfs/bin/true"
	[minirun]="$MINIRUN run --bundle $bundle ID"
	[crun]="crun run --bundle $tmp/crun ID"
	[runc]="runc run --bundle $bundle ID"
	[unshare]="unshare --fork --pid --mount --uts --ipc --net true"
	[bwrap]="bwrap --unshare-all --die-with-parent --ro-bind $rootfs / --proc /proc --dev /dev /bin/true"
)

# cmd NAME ID: NAME's argv line with its container id.
cmd() { printf '%s' "${argv[$1]//ID/$2}"; }

echo "== smoke run: each command once, in the private mount namespace"
for n in "${names[@]}"; do
	# shellcheck disable=SC2046 # cmd's output is an argv line, split on purpose
	if ! out=$(in_private_ns $(cmd "$n" "${idp}smoke$n") 2>&1) || [[ -n $out ]]; then
		printf '%s\n' "$out" >&2
		[[ $n == sh ]] && die "the busybox rootfs does not run; is /bin/busybox static? apt-get install busybox-static"
		die "$n: $(cmd "$n" ID): failed or wrote output (above)"
	fi
	echo "  $n: ok"
done

# hyperfine_round WRAP JSON RUNS GAP NAME…: one hyperfine over the named
# commands, run by WRAP (in_private_ns, or command for the host's namespace),
# each command as sh -c 'exec …' with the shell's pid in its container id,
# and GAP seconds of sleep before each run unless GAP is 0.
hyperfine_round() {
	local wrap=$1 json=$2 runs=$3 gap=$4 n
	shift 4
	local -a hf=(hyperfine -N --warmup "$WARMUP" --runs "$runs" --export-json "$json")
	[[ $gap == 0 ]] || hf+=(--prepare "sleep $gap")
	for n in "$@"; do
		hf+=(-n "$n" "sh -c 'exec $(cmd "$n" "$idp\$\$")'")
	done
	printf '%s %s\n' "$wrap" "${hf[*]}" >>"$OUT/run-hyperfine.log"
	if [[ $VERBOSE == 1 ]]; then
		"$wrap" "${hf[@]}" | tee -a "$OUT/run-hyperfine.log"
	else
		"$wrap" "${hf[@]}" >>"$OUT/run-hyperfine.log" 2>&1 ||
			die "hyperfine failed; its report: $OUT/run-hyperfine.log"
	fi
}

sets=(run run-host)
((spaced)) && sets+=(run-spaced run-spaced-host)
echo "== hyperfine: $ROUNDS rounds; per round and command $WARMUP warmup + $RUNS runs back to back$( ((spaced)) && echo " and $SPACED_RUNS spaced by ${GAP}s")"
echo "   (hyperfine's reports: $OUT/run-hyperfine.log)"
for s in run run-host run-spaced run-spaced-host; do
	rm -f "$OUT/$s.json" "$OUT/$s"-round*.json
done
: >"$OUT/run-hyperfine.log"
for ((r = 1; r <= ROUNDS; r++)); do
	order=() host=()
	for ((i = 0; i < ${#names[@]}; i++)); do
		order+=("${names[(i + r - 1) % ${#names[@]}]}")
	done
	for n in "${order[@]}"; do
		[[ $n == crun ]] || host+=("$n")
	done
	echo "  round $r/$ROUNDS, order ${order[*]}; load $(cut -d' ' -f1-3 /proc/loadavg)"
	hyperfine_round in_private_ns "$OUT/run-round$r.json" "$RUNS" 0 "${order[@]}"
	hyperfine_round command "$OUT/run-host-round$r.json" "$RUNS" 0 "${host[@]}"
	if ((spaced)); then
		hyperfine_round in_private_ns "$OUT/run-spaced-round$r.json" "$SPACED_RUNS" "$GAP" "${order[@]}"
		hyperfine_round command "$OUT/run-spaced-host-round$r.json" "$SPACED_RUNS" "$GAP" "${host[@]}"
	fi
done

# One file per set, shaped like hyperfine's, for all rounds: every run's
# time, median and mean over all of them, user and system the mean of the
# rounds' means, and each round's own figures under "rounds".
python3 - "$OUT" "$ROUNDS" "${sets[@]}" <<'EOF'
import json, statistics, sys
out, rounds, sets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for s in sets:
    merged = {}
    for i in range(1, rounds + 1):
        with open(f"{out}/{s}-round{i}.json") as f:
            results = json.load(f)["results"]
        for r in results:
            m = merged.setdefault(r["command"], {"command": r["command"], "times": [], "exit_codes": [], "rounds": []})
            m["times"] += r["times"]
            m["exit_codes"] += r["exit_codes"]
            m["rounds"].append({k: r[k] for k in ("median", "mean", "stddev", "min", "user", "system")})
    for m in merged.values():
        t = m["times"]
        m.update(mean=statistics.mean(t), stddev=statistics.stdev(t) if len(t) > 1 else 0.0,
                 median=statistics.median(t), min=min(t), max=max(t),
                 user=statistics.mean(x["user"] for x in m["rounds"]),
                 system=statistics.mean(x["system"] for x in m["rounds"]))
    with open(f"{out}/{s}.json", "w") as f:
        json.dump({"results": list(merged.values())}, f, indent=2)
EOF

echo "== peak RSS: /usr/bin/time -f %M around each runtime itself, $RSS_RUNS runs, private mount namespace"
rss=$OUT/run-rss.txt
: >"$rss"
for n in "${names[@]}"; do
	for ((i = 0; i < RSS_RUNS; i++)); do
		# shellcheck disable=SC2046 # cmd's output is an argv line, split on purpose
		in_private_ns /usr/bin/time -f "$n %M" -a -o "$rss" $(cmd "$n" "${idp}rss$i$n")
	done
done

facts="$(nproc) CPUs, kernel $(uname -r), load now $(cut -d' ' -f1-3 /proc/loadavg)
$(hyperfine --version), runc $(runc --version | sed -n 's/^runc version //p'), $(crun --version | head -1), bubblewrap $(bwrap --version | cut -d' ' -f2), minirun $(cd "$repo" && git describe --always --dirty 2>/dev/null || echo '?')"
if ((hybrid)); then
	ns_note="hybrid cgroups here; the private namespace has an empty tmpfs on /sys/fs/cgroup/unified, as crun needs"
else
	ns_note="no hybrid cgroups here; the private namespace keeps the host's cgroup mounts"
fi
runs_note="$ROUNDS rounds x ($WARMUP warmup + $RUNS) back to back"
((spaced)) && runs_note+=", $ROUNDS x $SPACED_RUNS spaced by ${GAP}s"
python3 - "$OUT" "$rss" "$runs_note" "$RSS_RUNS" "$facts" "$ns_note" "$oci_note" "$GAP" <<'EOF' | tee "$OUT/run.txt"
import json, os, statistics, sys
out, rss_path, runs_note, rss_runs, facts, ns_note, oci_note, gap = sys.argv[1:]
def load(name):
    path = f"{out}/{name}.json"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return {r["command"]: r for r in json.load(f)["results"]}
b2b, b2b_host, sp, sp_host = (load(s) for s in ("run", "run-host", "run-spaced", "run-spaced-host"))
rss = {}
with open(rss_path) as f:
    for line in f:
        name, kib = line.split()
        rss.setdefault(name, []).append(int(kib))
ms = lambda s: s * 1e3
wall = lambda r: ms(r["median"])
cpu = lambda r: ms(r["user"] + r["system"])
mib = lambda kib: kib / 1024
ratio = lambda a, b: f"{a / b:.2f}" if b > 0 else "n/a"
label = {"sh": "sh+true (base)"}
cgroups = {"crun": "v1, creates", "runc": "v1, creates", "minirun": "v1, creates"}
m = "minirun"

print(f"\nrun /bin/true in a busybox-static rootfs, `runc spec` config: {oci_note}")
print(f"{runs_note} per command (hyperfine -N, order rotated per round); peak RSS over {rss_runs} runs")
print(facts)
print("every command ran as sh -c 'exec CMD' (a unique container id per run); net = minus the sh+true row")

def table(title, res, host=False):
    base_w, base_c = wall(res["sh"]), cpu(res["sh"])
    print(f"\n{title}")
    print(f"{'':16} {'wall':>7} {'net':>6} {'mean ± sd':>15} {'min':>6} {'CPU u+s':>8} {'net':>6} {'peak RSS':>9} {'max':>6}  cgroups")
    print(f"{'':16} {'median':>7} {'':>6} {'':>15} {'':>6} {'mean':>8}")
    print(f"{'':16} {'ms':>7} {'ms':>6} {'ms':>15} {'ms':>6} {'ms':>8} {'ms':>6} {'MiB':>9} {'MiB':>6}")
    for n, r in res.items():
        k = rss.get(n, [0])
        net_w = "" if n == "sh" else f"{wall(r) - base_w:6.2f}"
        net_c = "" if n == "sh" else f"{cpu(r) - base_c:6.2f}"
        sd = f"{ms(r['mean']):6.2f} ± {ms(r['stddev']):5.2f}"
        print(f"{label.get(n, n):16} {wall(r):7.2f} {net_w:>6} {sd:>15} {ms(r['min']):6.2f} {cpu(r):8.2f} {net_c:>6} "
              f"{mib(statistics.median(k)):9.2f} {mib(max(k)):6.2f}  {cgroups.get(n, 'none')}")

def ratios(res, host, crun_res):
    print(f"{'  minirun / X':16} {'wall':>6} {'net wall':>9} {'CPU':>6} {'net CPU':>8} {'peak RSS':>9}")
    for x in ("crun", "runc", "unshare", "bwrap"):
        rx = crun_res[x] if x == "crun" else res[x]
        bw, bc = wall(res["sh"]), cpu(res["sh"])
        print(f"  {x:14} {ratio(wall(res[m]), wall(rx)):>6} {ratio(wall(res[m]) - bw, wall(rx) - bw):>9} "
              f"{ratio(cpu(res[m]), cpu(rx)):>6} {ratio(cpu(res[m]) - bc, cpu(rx) - bc):>8} "
              f"{ratio(statistics.median(rss[m]), statistics.median(rss[x])):>9}")
    if not host:
        per = lambda x: ", ".join(f"{a['median'] / b['median']:.2f}" for a, b in zip(res[m]["rounds"], res[x]["rounds"]))
        print(f"  wall medians per round: minirun/crun {per('crun')}; minirun/runc {per('runc')}")

pace = [("back to back", b2b, b2b_host)]
if sp:
    pace.append((f"spaced, {gap}s of sleep before each run", sp, sp_host))
letter = iter("ABCD")
for name, res, hres in pace:
    table(f"{next(letter)}. {name}, private mount namespace ({ns_note})", res)
    ratios(res, False, res)
    table(f"{next(letter)}. {name}, the host's own mount namespace: crun cannot run here; "
          "minirun also mounts cgroup2 in the container", hres, True)
    print("  (crun's ratios against crun's row in the private namespace)")
    ratios(hres, True, res)

# Issue 10's targets, on the private namespace's rows (the only ones with crun).
print("\ntargets (issue 10), wall medians in the private namespace:")
def target(what, got, limit):
    print(f"  {what}: {got:.2f} (<= {limit}) -> {'met' if got <= limit else 'MISSED'}")
target("back to back, minirun / crun", wall(b2b[m]) / wall(b2b["crun"]), 0.5)
target("back to back, minirun / bwrap", wall(b2b[m]) / wall(b2b["bwrap"]), 1.3)
if sp:
    target(f"spaced by {gap}s (a lone start), minirun / crun", wall(sp[m]) / wall(sp["crun"]), 0.3)
peak = mib(max(rss[m]))
print(f"  minirun peak RSS: {peak:.2f} MiB (<= 6) -> {'met' if peak <= 6 else 'MISSED'}")
print("peak RSS: GNU time %M of the runtime run directly, i.e. the max over it and the children it reaped"
      f" (runc's includes runc init; all include the container's busybox true, alone {mib(statistics.median(rss['sh'])):.2f} MiB)")
EOF
