#!/usr/bin/env bash
# bench/threads.sh: what a thread costs, three ways, side by side in one run
# on this machine (make bench calls it).
#
#   minirun    a thread-preset worker created through the clone core and
#              joined on its TID word (BenchmarkCreateJoin in threads/)
#   pthread    C pthread_create + pthread_join, 64 KiB stacks (bench/pthread.c,
#              built here with the machine's gcc)
#   go-thread  a goroutine that locks its OS thread and returns without
#              unlocking it, so the Go runtime ends the thread and makes
#              another (BenchmarkGoThread)
#
# Each is pinned to one CPU (taskset -c $CPU): on these VMs a cross-CPU
# wake-up costs more than the thread (reference/machine-notes.md). The three
# run in turn, ROUNDS times, and the medians are compared; every round is
# printed too. CPU time is user+system of the process, per thread; the
# kernel's deferred freeing of exited tasks (RCU) is in neither column.
# Memory: VmRSS growth per worker with 10,000 workers held at once.
#
# Environment: N (threads a round, 20000), ROUNDS (5), CPU (1), WORKERS (10000).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20000}
ROUNDS=${ROUNDS:-5}
CPU=${CPU:-1}
WORKERS=${WORKERS:-10000}
out=bench/out
mkdir -p "$out"
export CGO_ENABLED=0

gcc -O2 -Wall -pthread -o "$out/pthread" bench/pthread.c
go test -c -o "$out/threads.test" ./threads
go build -o "$out/minirun" ./cmd/minirun
pin=(taskset -c "$CPU")

# gobench NAME prints "wall-ns cpu-ns" per op of one Go benchmark.
gobench() {
	"${pin[@]}" "$out/threads.test" -test.run '^$' -test.bench "^$1\$" -test.benchtime "${N}x" |
		awk -v name="$1" '$1 ~ "^"name { for (i = 1; i < NF; i++) { if ($(i+1) == "ns/op") w = $i; if ($(i+1) == "cpu-ns/op") c = $i }; print w, c }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

declare -A wall cpu
echo "create+join per thread: $N a round, $ROUNDS rounds, pinned to CPU $CPU ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '  %-6s %22s %22s %22s\n' round "minirun wall/cpu ns" "pthread wall/cpu ns" "go-thread wall/cpu ns"
for r in $(seq "$ROUNDS"); do
	read -r mw mc < <(gobench BenchmarkCreateJoin)
	read -r pw pc < <("${pin[@]}" "$out/pthread" create "$N")
	read -r gw gc < <(gobench BenchmarkGoThread)
	wall[minirun]+="$mw " cpu[minirun]+="$mc "
	wall[pthread]+="$pw " cpu[pthread]+="$pc "
	wall[go]+="$gw " cpu[go]+="$gc "
	printf '  %-6s %22s %22s %22s\n' "$r" "$mw / $mc" "$pw / $pc" "$gw / $gc"
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
mw=$(med "${wall[minirun]}") mc=$(med "${cpu[minirun]}")
pw=$(med "${wall[pthread]}") pc=$(med "${cpu[pthread]}")
gw=$(med "${wall[go]}") gc=$(med "${cpu[go]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '  %-6s %22s %22s %22s\n' median "$mw / $mc" "$pw / $pc" "$gw / $gc"
echo
echo "ns/op (median wall)   minirun $mw   pthread $pw   go-thread $gw"
echo "minirun/pthread       $(ratio "$mw" "$pw") wall, $(ratio "$mc" "$pc") cpu   (target: 0.80 or less)"
echo "minirun/go-thread     $(ratio "$mw" "$gw") wall, $(ratio "$mc" "$gc") cpu"
echo

json=$("${pin[@]}" "$out/minirun" threads --count "$WORKERS" --stack-size 64K --json)
mrss=$(sed -n 's/.*"rss_growth_per_worker": *\([0-9-]*\).*/\1/p' <<<"$json")
mok=$(sed -n 's/^  "ok": *\([a-z]*\).*/\1/p' <<<"$json")
prss=$("${pin[@]}" "$out/pthread" mem "$WORKERS")
echo "memory per worker, $WORKERS held at once, 64 KiB stacks (VmRSS growth / N; kernel stacks not counted)"
echo "  minirun $mrss bytes (all checks passed: $mok)   pthread $prss bytes"
