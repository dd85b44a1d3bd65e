/*
 * pthread.c: the C baseline for minirun's thread benchmark (bench/threads.sh).
 *
 *   pthread create N   create and join N threads one after another, each
 *                      with a 64 KiB stack and nothing to do; print wall
 *                      ns/op and CPU (user+system) ns/op
 *   pthread mem N      create N threads with 64 KiB stacks that wait on a
 *                      barrier; print VmRSS growth per thread while they wait
 *
 * Built by bench/threads.sh with the machine's gcc: gcc -O2 -pthread.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { STACK = 64 << 10 };

static void *nothing(void *arg) { return arg; }

static pthread_barrier_t barrier;

static void *wait_barrier(void *arg)
{
	pthread_barrier_wait(&barrier); /* all started */
	pthread_barrier_wait(&barrier); /* released */
	return arg;
}

static long vmrss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "pthread: %s: %s\n", what, strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	pthread_attr_t attr;
	long n;
	int err;

	if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0 ||
	    (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "mem") != 0)) {
		fprintf(stderr, "usage: pthread create|mem N\n");
		return 2;
	}
	pthread_attr_init(&attr);
	if ((err = pthread_attr_setstacksize(&attr, STACK)) != 0)
		die("pthread_attr_setstacksize", err);

	if (strcmp(argv[1], "create") == 0) {
		pthread_t t;
		/* Warm up glibc's stack cache, as the Go benchmarks warm up. */
		for (long i = 0; i < 100; i++) {
			if ((err = pthread_create(&t, &attr, nothing, NULL)) != 0)
				die("pthread_create", err);
			pthread_join(t, NULL);
		}
		double t0 = now_ns(), c0 = cpu_ns();
		for (long i = 0; i < n; i++) {
			if ((err = pthread_create(&t, &attr, nothing, NULL)) != 0)
				die("pthread_create", err);
			if ((err = pthread_join(t, NULL)) != 0)
				die("pthread_join", err);
		}
		printf("%.0f %.0f\n", (now_ns() - t0) / n, (cpu_ns() - c0) / n);
		return 0;
	}

	pthread_t *ts = calloc(n, sizeof *ts);
	if (!ts)
		die("calloc", 12);
	pthread_barrier_init(&barrier, NULL, n + 1);
	long before = vmrss_kib();
	for (long i = 0; i < n; i++)
		if ((err = pthread_create(&ts[i], &attr, wait_barrier, NULL)) != 0)
			die("pthread_create", err);
	pthread_barrier_wait(&barrier);
	long held = vmrss_kib();
	pthread_barrier_wait(&barrier);
	for (long i = 0; i < n; i++)
		pthread_join(ts[i], NULL);
	printf("%ld\n", (held - before) * 1024 / n);
	return 0;
}
