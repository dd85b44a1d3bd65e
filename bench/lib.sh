# bench/lib.sh: what the container benchmarks share. Sourced, not run.
#
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
