#!/usr/bin/env bash
# bench/scale.sh: how the start grows with mounts and masked paths, minirun
# against crun.
#
# `run` of /bin/true with runc spec's config plus N tmpfs mounts (at /m/I,
# nosuid,nodev,size=64k) and N more masked paths, for N in SIZES (10 100
# 1000). The mount points are in the rootfs beforehand, so neither runtime
# makes them. Masked paths are in /proc and /sys in practice, so these are
# the first N files under /sys/devices/system (the container has a sysfs
# of its own there, as runc spec's config asks), each masked by a bind of
# /dev/null. The slope is the cost of one
# more mount and masked path: (t(largest N) - t(smallest N)) / the N between,
# from the medians; the target is minirun's slope no worse than crun's.
# process.rlimits' RLIMIT_NOFILE is raised from 1024 to 8192 in every
# config: crun sets it before it mounts, and holds an fd per mount.
#
# What is fair is what bench/run.sh says (read its header): one private
# mount namespace per round with an empty tmpfs on the cgroup2 mount (crun
# 1.8.1 refuses hybrid cgroups), sh -c '…' and the shell's pid as the
# container id, rotated order, medians over all rounds.
#
# Usage: bench/scale.sh      as root
# Knobs: SIZES="10 100 1000", ROUNDS=3 rounds of WARMUP=2 + RUNS=10 runs per
#        command and size, MINIRUN=bin/minirun, OUT=bench/out
# Writes OUT/scale.json (all rounds merged) and OUT/scale.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# die, need, positive, absolute_paths, in_private_ns
. "$here/lib.sh"
repo=$(dirname "$here")
SIZES=${SIZES:-10 100 1000}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-2}
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
read -r -a sizes <<<"$SIZES"
((${#sizes[@]} >= 2)) || die "SIZES=$SIZES: want at least two sizes"
for s in "${sizes[@]}"; do
	[[ $s =~ ^[0-9]+$ ]] || die "SIZES: $s is not a number"
done
absolute_paths

tmp=$(mktemp -d "${TMPDIR:-/tmp}/minirun-scale.XXXXXX")
idp="mrs$$x"
cleanup() {
	local id
	for id in $(in_private_ns crun list -q 2>/dev/null | grep "^$idp" || true); do
		in_private_ns crun delete -f "$id" >/dev/null 2>&1 || true
	done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for p in "$tmp" "$MINIRUN"; do
	[[ $p =~ ^[A-Za-z0-9/._+-]+$ ]] || die "$p: a path this script does not quote; set TMPDIR or MINIRUN"
done

# One rootfs with mount points and files for the largest N; one bundle per
# N and runtime (crun's with ociVersion 1.1.0, which crun 1.8.1 needs).
rootfs=$tmp/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
cp /bin/busybox "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/true"
(cd "$tmp" && runc spec)
python3 - "$tmp" "$rootfs" "${sizes[@]}" <<'EOF'
import json, os, re, sys
tmp, rootfs, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
base = json.load(open(f"{tmp}/config.json"))
base["process"]["terminal"] = False
base["process"]["args"] = ["/bin/true"]
base["root"]["path"] = rootfs
for rl in base["process"].get("rlimits", []):
    if rl["type"] == "RLIMIT_NOFILE":
        rl["hard"] = rl["soft"] = 8192
for i in range(max(sizes)):
    os.makedirs(f"{rootfs}/m/{i}", exist_ok=True)
sysfiles = []
for d, dirs, files in os.walk("/sys/devices/system"):
    dirs.sort()
    sysfiles += [os.path.join(d, f) for f in sorted(files) if os.path.isfile(os.path.join(d, f))]
if len(sysfiles) < max(sizes):
    sys.exit(f"only {len(sysfiles)} files under /sys/devices/system, fewer than {max(sizes)}")
for n in sizes:
    c = json.loads(json.dumps(base))
    c["mounts"] += [{"destination": f"/m/{i}", "type": "tmpfs", "source": "tmpfs",
                     "options": ["nosuid", "nodev", "mode=755", "size=64k"]} for i in range(n)]
    c["linux"]["maskedPaths"] += sysfiles[:n]
    for rt in ("minirun", "crun"):
        d = f"{tmp}/{rt}-{n}"
        os.makedirs(d)
        if rt == "crun":
            m = re.match(r"(\d+)\.(\d+)", c["ociVersion"])
            if not m or (int(m[1]), int(m[2])) > (1, 1):
                c = dict(c, ociVersion="1.1.0")
        json.dump(c, open(f"{d}/config.json", "w"))
EOF

cmd() { # cmd RUNTIME N ID
	case $1 in
	minirun) printf '%s run --bundle %s %s' "$MINIRUN" "$tmp/minirun-$2" "$3" ;;
	crun) printf 'crun run --bundle %s %s' "$tmp/crun-$2" "$3" ;;
	esac
}

echo "== smoke run: each runtime at the largest size, in the private mount namespace"
for rt in minirun crun; do
	# shellcheck disable=SC2046 # cmd's output is an argv line, split on purpose
	if ! out=$(in_private_ns $(cmd "$rt" "${sizes[-1]}" "${idp}smoke$rt") 2>&1) || [[ -n $out ]]; then
		printf '%s\n' "$out" >&2
		die "$rt failed or wrote output (above)"
	fi
	echo "  $rt: ok"
done

echo "== hyperfine: sizes ${sizes[*]}; $ROUNDS rounds of $WARMUP warmup + $RUNS runs each (log: $OUT/scale-hyperfine.log)"
: >"$OUT/scale-hyperfine.log"
for ((r = 1; r <= ROUNDS; r++)); do
	hf=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/scale-round$r.json")
	order=(minirun crun)
	((r % 2 == 0)) && order=(crun minirun)
	for n in "${sizes[@]}"; do
		for rt in "${order[@]}"; do
			hf+=(-n "$rt $n" "sh -c 'exec $(cmd "$rt" "$n" "$idp\$\$")'")
		done
	done
	echo "  round $r/$ROUNDS; load $(cut -d' ' -f1-3 /proc/loadavg)"
	in_private_ns "${hf[@]}" >>"$OUT/scale-hyperfine.log" 2>&1 || die "hyperfine failed: $OUT/scale-hyperfine.log"
done

facts="$(nproc) CPUs, kernel $(uname -r), load now $(cut -d' ' -f1-3 /proc/loadavg); $(crun --version | head -1), minirun $(cd "$repo" && git describe --always --dirty 2>/dev/null || echo '?')"
python3 - "$OUT" "$ROUNDS" "$facts" "${sizes[@]}" <<'EOF' | tee "$OUT/scale.txt"
import json, statistics, sys
out, rounds, facts, sizes = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(s) for s in sys.argv[4:]]
merged = {}
for i in range(1, rounds + 1):
    for r in json.load(open(f"{out}/scale-round{i}.json"))["results"]:
        m = merged.setdefault(r["command"], {"command": r["command"], "times": [], "rounds": []})
        m["times"] += r["times"]
        m["rounds"].append(r["median"])
for m in merged.values():
    m["median"] = statistics.median(m["times"])
json.dump({"results": list(merged.values())}, open(f"{out}/scale.json", "w"), indent=2)
med = lambda rt, n: merged[f"{rt} {n}"]["median"] * 1e3
print(f"\nrun /bin/true with runc spec's config + N tmpfs mounts + N masked paths, {rounds} rounds, medians")
print(facts)
print(f"{'N':>6} {'minirun ms':>11} {'crun ms':>9} {'minirun/crun':>13}")
for n in sizes:
    print(f"{n:6} {med('minirun', n):11.2f} {med('crun', n):9.2f} {med('minirun', n) / med('crun', n):13.2f}")
lo, hi = sizes[0], sizes[-1]
slope = lambda rt: (med(rt, hi) - med(rt, lo)) / (hi - lo) * 1e3
sm, sc = slope("minirun"), slope("crun")
print(f"per mount + masked path, from N={lo} to N={hi}: minirun {sm:.1f} us, crun {sc:.1f} us, ratio {sm / sc:.2f}")
print(f"target: minirun's slope no worse than crun's: {'met' if sm <= sc else 'MISSED'}")
EOF
