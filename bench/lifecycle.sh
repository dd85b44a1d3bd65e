#!/usr/bin/env bash
# bench/lifecycle.sh: create + start + delete, minirun against crun and runc.
#
# The OCI lifecycle as a container engine drives it, three runtime
# processes a container: `create --bundle B ID && start ID && delete
# --force ID`, for /bin/true in a busybox-static rootfs with the config
# `runc spec` writes (terminal off, args /bin/true), timed with hyperfine.
# --force because a client does not wait for /bin/true to end between
# start and delete; on a stopped container it deletes, as delete does.
#
# What is fair is what bench/run.sh says (read its header): all three run
# in one private mount namespace per round, where the cgroup2 mount is an
# empty tmpfs because crun 1.8.1 refuses hybrid cgroups; every command runs
# as sh -c '…' with the shell's pid in its container id; rounds rotate the
# order; medians are over all rounds, with each round's ratio printed. The
# `sh` row is sh -c running the rootfs's static true three times, the
# floor of three process starts.
#
# Usage: bench/lifecycle.sh      as root
# Knobs: LIMITS=1 adds limits to the config (memory 256 MiB, 1024 pids,
#        CPU shares 512: issue 7's "create-to-running with a cgroup and
#        limits"), ROUNDS=4 rounds of WARMUP=3 + RUNS=20 runs per command,
#        MINIRUN=bin/minirun, OUT=bench/out
# Writes OUT/lifecycle.json (all rounds merged) and OUT/lifecycle.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# die, need, positive, absolute_paths, in_private_ns
. "$here/lib.sh"
repo=$(dirname "$here")
ROUNDS=${ROUNDS:-4}
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
MINIRUN=${MINIRUN:-$repo/bin/minirun}
OUT=${OUT:-$repo/bench/out}

[[ $(id -u) -eq 0 ]] || die "needs root: sudo $0"
need hyperfine hyperfine
need runc runc
need crun crun
need python3 python3
need unshare util-linux
[[ -x /bin/busybox ]] || die "/bin/busybox not found: apt-get install busybox-static"
[[ -x $MINIRUN ]] || die "$MINIRUN not found: make build"
positive ROUNDS RUNS WARMUP
absolute_paths

tmp=$(mktemp -d "${TMPDIR:-/tmp}/minirun-lifecycle.XXXXXX")
idp="mrl$$x"
cleanup() {
	local id
	for id in $(runc list -q 2>/dev/null | grep "^$idp" || true); do
		runc delete -f "$id" >/dev/null 2>&1 || true
	done
	for id in $(in_private_ns crun list -q 2>/dev/null | grep "^$idp" || true); do
		in_private_ns crun delete -f "$id" >/dev/null 2>&1 || true
	done
	for id in $("$MINIRUN" list -q 2>/dev/null | grep "^$idp" || true); do
		in_private_ns "$MINIRUN" delete -f "$id" >/dev/null 2>&1 || true
	done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for p in "$tmp" "$MINIRUN"; do
	[[ $p =~ ^[A-Za-z0-9/._+-]+$ ]] || die "$p: a path this script does not quote; set TMPDIR or MINIRUN"
done

bundle=$tmp/bundle
rootfs=$bundle/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
cp /bin/busybox "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/true"
(cd "$bundle" && runc spec)
mkdir -p "$tmp/crun"
python3 - "$bundle/config.json" "$tmp/crun/config.json" "$rootfs" "${LIMITS:-}" <<'EOF'
import json, re, sys
src, crun_dst, rootfs, limits = sys.argv[1:]
c = json.load(open(src))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
if limits:
    r = c["linux"].setdefault("resources", {})
    r["memory"] = {"limit": 256 << 20}
    r["pids"] = {"limit": 1024}
    r["cpu"] = {"shares": 512}
json.dump(c, open(src, "w"), indent=2)
m = re.match(r"(\d+)\.(\d+)", c["ociVersion"])
if not m or (int(m[1]), int(m[2])) > (1, 1):
    c["ociVersion"] = "1.1.0"
c["root"]["path"] = rootfs
json.dump(c, open(crun_dst, "w"), indent=2)
EOF

names=(sh minirun crun runc)
declare -A line=(
	[sh]="$rootfs/bin/true && $rootfs/bin/true && $rootfs/bin/true"
	[minirun]="$MINIRUN create --bundle $bundle ID && $MINIRUN start ID && $MINIRUN delete --force ID"
	[crun]="crun create --bundle $tmp/crun ID && crun start ID && crun delete --force ID"
	[runc]="runc create --bundle $bundle ID && runc start ID && runc delete --force ID"
)

echo "== smoke run: each once, in the private mount namespace"
for n in "${names[@]}"; do
	id=${idp}smoke$n
	if ! out=$(in_private_ns sh -c "${line[$n]//ID/$id}" 2>&1) || [[ -n $out ]]; then
		printf '%s\n' "$out" >&2
		die "$n: failed or wrote output (above)"
	fi
	echo "  $n: ok"
done

echo "== hyperfine: $ROUNDS rounds of $WARMUP warmup + $RUNS runs, back to back (log: $OUT/lifecycle-hyperfine.log)"
: >"$OUT/lifecycle-hyperfine.log"
for ((r = 1; r <= ROUNDS; r++)); do
	hf=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/lifecycle-round$r.json")
	for ((i = 0; i < ${#names[@]}; i++)); do
		n=${names[(i + r - 1) % ${#names[@]}]}
		hf+=(-n "$n" "sh -c '${line[$n]//ID/$idp\$\$}'")
	done
	echo "  round $r/$ROUNDS; load $(cut -d' ' -f1-3 /proc/loadavg)"
	in_private_ns "${hf[@]}" >>"$OUT/lifecycle-hyperfine.log" 2>&1 || die "hyperfine failed: $OUT/lifecycle-hyperfine.log"
done

facts="$(nproc) CPUs, kernel $(uname -r), load now $(cut -d' ' -f1-3 /proc/loadavg); $(crun --version | head -1), runc $(runc --version | sed -n 's/^runc version //p'), minirun $(cd "$repo" && git describe --always --dirty 2>/dev/null || echo '?')"
python3 - "$OUT" "$ROUNDS" "$facts" "${LIMITS:-}" <<'EOF' | tee "$OUT/lifecycle.txt"
import json, statistics, sys
out, rounds, facts, limits = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
merged = {}
for i in range(1, rounds + 1):
    for r in json.load(open(f"{out}/lifecycle-round{i}.json"))["results"]:
        m = merged.setdefault(r["command"], {"command": r["command"], "times": [], "rounds": []})
        m["times"] += r["times"]
        m["rounds"].append({k: r[k] for k in ("median", "mean", "user", "system")})
for m in merged.values():
    m["median"] = statistics.median(m["times"])
    m["cpu"] = statistics.mean(x["user"] + x["system"] for x in m["rounds"])
json.dump({"results": list(merged.values())}, open(f"{out}/lifecycle.json", "w"), indent=2)
ms = lambda s: s * 1e3
what = "runc spec's config" + (" with limits (memory 256 MiB, 1024 pids, CPU shares 512)" if limits else "")
print(f"\ncreate + start + delete --force of /bin/true, {what}, back to back, {rounds} rounds")
print(facts)
print(f"{'':10} {'wall median ms':>15} {'net ms':>8} {'CPU mean ms':>12}")
base = merged["sh"]
for n, m in merged.items():
    net = "" if n == "sh" else f"{ms(m['median'] - base['median']):8.2f}"
    print(f"{n:10} {ms(m['median']):15.2f} {net:>8} {ms(m['cpu']):12.2f}")
mr = merged["minirun"]
for x in ("crun", "runc"):
    per = ", ".join(f"{a['median'] / b['median']:.2f}" for a, b in zip(mr["rounds"], merged[x]["rounds"]))
    print(f"minirun / {x}: wall {mr['median'] / merged[x]['median']:.2f} (per round {per}), CPU {mr['cpu'] / merged[x]['cpu']:.2f}")
a = mr["median"] / merged["crun"]["median"]
print(f"target: minirun <= 0.5 x crun: {a:.2f} x -> {'met' if a <= 0.5 else 'MISSED'}")
EOF
