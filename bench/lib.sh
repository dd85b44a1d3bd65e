# bench/lib.sh: what the container benchmarks share. Sourced, not run,
# right after a script sets $here.
#
# die MSG: print "bench/SCRIPT: MSG" on stderr and exit 1.
die() {
	printf 'bench/%s: %s\n' "$(basename "$0")" "$*" >&2
	exit 1
}

# need TOOL PACKAGE: die unless TOOL is on PATH, naming the Debian package.
need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found: apt-get install $2"
}

# positive NAME…: die unless each variable named holds a positive number.
positive() {
	local n
	for n in "$@"; do
		[[ ${!n} =~ ^[0-9]+$ && ${!n} -gt 0 ]] || die "$n=${!n}: want a positive number"
	done
}

# absolute_paths: MINIRUN and OUT made absolute (OUT made if missing), as
# the benchmarks change directory and enter other namespaces.
absolute_paths() {
	MINIRUN=$(cd "$(dirname "$MINIRUN")" && pwd)/$(basename "$MINIRUN")
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
}

# in_private_ns CMD…: run CMD in a private mount namespace where crun can
# run. crun 1.8.1 refuses hybrid cgroups (v1 controllers plus a cgroup2
# mount), so on a hybrid host the cgroup2 mount /sys/fs/cgroup/unified is
# replaced there by an empty tmpfs (reference: the machine notes); the
# host's own namespace is untouched. Every runtime of a comparison runs in
# such a namespace alike.
hybrid=0
if [[ $(stat -f -c %T /sys/fs/cgroup) != cgroup2fs && -d /sys/fs/cgroup/unified &&
	$(stat -f -c %T /sys/fs/cgroup/unified) == cgroup2fs ]]; then
	hybrid=1
fi
in_private_ns() {
	if ((hybrid)); then
		unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified &&
			mount -t tmpfs -o size=64m,mode=755 none /sys/fs/cgroup/unified && exec "$@"' sh "$@"
	else
		unshare --mount --propagation private "$@"
	fi
}
