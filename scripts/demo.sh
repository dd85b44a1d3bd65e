#!/usr/bin/env bash
# make demo: minirun's main jobs on embedded defaults — no download, no
# hand-made rootfs. Threads through the clone core, the flag lab, and a
# container built from the host's own /usr, /bin and /lib, with workers
# started inside it.
set -euo pipefail
bin=${1:-bin/minirun}
[ -x "$bin" ] || { echo "demo: $bin not found: run make build" >&2; exit 1; }

section() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

section "1. Four worker threads, each with its own stack and TLS, through raw clone"
"$bin" threads --count 4 --work 1000

section "2. fork versus thread: what the new task shares, measured by live probes"
"$bin" clone --compare fork,thread

section "3. A container from the host's own programs (minirun spec --host-root)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mode=()
if [ "$(id -u)" -ne 0 ]; then
	mode=(--rootless)
	echo "(not root: a rootless container, in a user namespace of its own)"
fi
"$bin" spec --host-root "${mode[@]}" --bundle "$tmp" -- sh -c '
echo "hostname: $(hostname)    my pid: $$"
echo "namespaces inside:"
for ns in pid mnt uts ipc net cgroup user; do printf "  %-7s %s\n" "$ns" "$(readlink /proc/self/ns/$ns)"; done'
"$bin" run "$tmp/config.json"
echo "namespaces of the host, for comparison:"
for ns in pid mnt uts ipc net cgroup user; do printf "  %-7s %s\n" "$ns" "$(readlink /proc/self/ns/$ns)"; done

section "4. Workers inside a container: namespace flags for the process, thread flags for its workers"
"$bin" threads --count 4 --work 1000 --isolate

section "5. The runtime's lifecycle, as podman and containerd drive it: create, start, exec, kill, delete"
id="demo-$$"
mkdir "$tmp/life"
"$bin" spec --host-root "${mode[@]}" --bundle "$tmp/life" -- sh -c 'echo "the container runs: pid $$"; exec sleep 600'
trap '"$bin" delete --force "$id" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "\$ minirun create --bundle … $id    (its process waits, reading exec.fifo)"
"$bin" create --bundle "$tmp/life" "$id"
"$bin" list
echo "\$ minirun start $id"
"$bin" start "$id"
sleep 0.2
echo "\$ minirun exec $id sh -c 'echo …'"
"$bin" exec "$id" sh -c 'echo "exec joined it: my pid $$, hostname $(hostname)"'
echo "\$ minirun ps $id"
"$bin" ps "$id"
echo "\$ minirun kill $id KILL; minirun delete $id"
"$bin" kill "$id" KILL
for _ in 1 2 3 4 5 6 7 8 9 10; do "$bin" state "$id" | grep -q '"stopped"' && break; sleep 0.1; done
"$bin" state "$id" | grep status
"$bin" delete "$id"
"$bin" list
