#!/usr/bin/env bash
# bench/seccomp.sh: what does a seccomp filter cost each system call?
#
# One static Go program (seccomp/internal/getppidloop) times N getppid(2)
# calls in a tight loop (raw syscalls, one locked thread) and prints ns per
# call. It runs, side by side in each round:
#   none            on the host, no filter
#   minirun         on the host, after compiling Docker's default profile with
#                   minirun's seccomp package and installing it on itself
#   runc-none       in a runc container (busybox-free rootfs: the program
#                   alone), the config `runc spec` writes with no linux.seccomp
#   runc-docker     the same container with linux.seccomp = Docker's default
#                   profile: runc 1.1.5 compiles it with libseccomp (plus its
#                   -ENOSYS stub) and installs it
#   mr-none         the runc-none bundle run by minirun (bin/minirun)
#   mr-docker       the runc-docker bundle run by minirun: its seccomp package
#                   compiles the profile, its child program installs it
# Docker's profile is the one Docker hands a runtime on this machine
# (github.com/moby/profiles/seccomp, Docker's default capabilities), printed
# by seccomp/internal/dockerprofile; every filter comes from the same JSON.
#
# getppid is allowed by the profile, so each call runs the filter to its
# ALLOW and then the kernel's getppid: the filter's cost is a row minus its
# baseline (minirun - none, runc-docker - runc-none, mr-docker - mr-none).
# The kernel JITs the programs (net.core.bpf_jit_enable). Rounds rotate the
# order; medians are over rounds. TASKSET="taskset -c 1" (the default) pins
# every run to one CPU: the machine's two vCPUs see heavy steal when both
# are busy.
#
# Usage: bench/seccomp.sh   as root (runc; make build first for minirun)
# Knobs: ROUNDS=7, N=5000000 calls per run, TASKSET, OUT=bench/out
# Writes OUT/seccomp.txt (the table) and OUT/seccomp-runs.txt (every run).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
ROUNDS=${ROUNDS:-7}
N=${N:-5000000}
MINIRUN=${MINIRUN:-$repo/bin/minirun}
TASKSET=${TASKSET-taskset -c 1}
OUT=${OUT:-$here/out}

[ "$(id -u)" = 0 ] || { echo "bench/seccomp.sh: needs root (runc)" >&2; exit 1; }
for tool in runc jq go; do
	command -v "$tool" >/dev/null || { echo "bench/seccomp.sh: needs $tool" >&2; exit 1; }
done
[ -x "$MINIRUN" ] || { echo "bench/seccomp.sh: needs $MINIRUN (make build)" >&2; exit 1; }
mkdir -p "$OUT"
tmp=$(mktemp -d)
ids=()
cleanup() {
	for id in "${ids[@]}"; do
		runc delete -f "$id" >/dev/null 2>&1 || true
		"$MINIRUN" delete -f "$id" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

cd "$repo"
mkdir -p "$tmp/rootfs"
CGO_ENABLED=0 go build -o "$tmp/rootfs/loop" ./seccomp/internal/getppidloop
go run ./seccomp/internal/dockerprofile >"$tmp/docker.json"

# Two bundles sharing the rootfs: with and without the profile.
for b in none docker; do
	mkdir -p "$tmp/$b"
	(cd "$tmp/$b" && runc spec)
	jq --arg n "$N" --slurpfile prof "$tmp/docker.json" --arg b "$b" --arg root "$tmp/rootfs" '
		.process.terminal = false | .process.args = ["/loop", "-n", $n] | .root.path = $root |
		if $b == "docker" then .linux.seccomp = $prof[0] else del(.linux.seccomp) end
	' "$tmp/$b/config.json" >"$tmp/$b/c" && mv "$tmp/$b/c" "$tmp/$b/config.json"
done

run() { # name: prints "ns seccomp=MODE filters=N"
	local out
	case $1 in
	none) out=$($TASKSET "$tmp/rootfs/loop" -n "$N") ;;
	minirun) out=$($TASKSET "$tmp/rootfs/loop" -n "$N" -filter "$tmp/docker.json") ;;
	runc-none | runc-docker)
		local id="seccomp-bench-$$-${#ids[@]}"
		ids+=("$id")
		out=$($TASKSET runc run --bundle "$tmp/${1#runc-}" "$id")
		;;
	mr-none | mr-docker)
		local id="seccomp-bench-$$-${#ids[@]}"
		ids+=("$id")
		out=$($TASKSET "$MINIRUN" run --bundle "$tmp/${1#mr-}" "$id")
		;;
	esac
	echo "$out" | awk '{print $1, $3, $4}'
}

names=(none minirun runc-none runc-docker mr-none mr-docker)
# Each round: the four runs, then the filter costs of the round (paired
# differences, so that a busy moment weighs on both sides of one pair).
: >"$OUT/seccomp-runs.txt"
for ((r = 0; r < ROUNDS; r++)); do
	declare -A ns=()
	for ((k = 0; k < ${#names[@]}; k++)); do
		name=${names[$(((k + r) % ${#names[@]}))]}
		line=$(run "$name")
		echo "round$r $name $line" >>"$OUT/seccomp-runs.txt"
		ns[$name]=${line%% *}
		# The runs under a filter must show one, the others none.
		case "$name:$line" in
		none:*seccomp=0* | runc-none:*seccomp=0* | mr-none:*seccomp=0* | minirun:*seccomp=2* | runc-docker:*seccomp=2* | mr-docker:*seccomp=2*) ;;
		*) echo "bench/seccomp.sh: $name ran under the wrong filter: $line" >&2; exit 1 ;;
		esac
	done
	echo "round$r cost-minirun $(awk -v a="${ns[minirun]}" -v b="${ns[none]}" 'BEGIN {print a - b}')" >>"$OUT/seccomp-runs.txt"
	echo "round$r cost-runc $(awk -v a="${ns[runc-docker]}" -v b="${ns[runc-none]}" 'BEGIN {print a - b}')" >>"$OUT/seccomp-runs.txt"
	echo "round$r cost-mr $(awk -v a="${ns[mr-docker]}" -v b="${ns[mr-none]}" 'BEGIN {print a - b}')" >>"$OUT/seccomp-runs.txt"
	unset ns
done

median() { awk -v k="$1" '$2 == k {print $3}' "$OUT/seccomp-runs.txt" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
{
	echo "getppid(2) in a tight loop, $N calls a run, $ROUNDS rounds, ${TASKSET:-unpinned}; ns per call, medians"
	for name in "${names[@]}"; do printf '  %-13s %8s\n' "$name" "$(median "$name")"; done
	cm=$(median cost-minirun) cr=$(median cost-runc) cc=$(median cost-mr)
	printf '  %-15s %8s   (minirun - none, per round: the filter installed on the host)\n' "filter minirun" "$cm"
	printf '  %-15s %8s   (runc-docker - runc-none, per round)\n' "filter runc" "$cr"
	printf '  %-15s %8s   (mr-docker - mr-none, per round: the filter in a minirun container)\n' "filter mr" "$cc"
	awk -v a="$cm" -v b="$cr" 'BEGIN { if (b > 0) printf "minirun (host)/runc filter cost: %.2f\n", a / b }'
	awk -v a="$cc" -v b="$cr" 'BEGIN { if (b > 0) printf "minirun container/runc container filter cost: %.2f\n", a / b }'
	grep -E ' (minirun|runc-docker|mr-docker) ' "$OUT/seccomp-runs.txt" | awk '{print $5}' | sort | uniq -c | awk '{printf "  runs under a filter: %s with %s\n", $1, $2}'
} | tee "$OUT/seccomp.txt"
