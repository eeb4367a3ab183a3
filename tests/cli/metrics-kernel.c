/* SPDX-License-Identifier: MIT */
/*
 * metrics-kernel: a kernel that publishes metrics and a note the way a
 * network bridge does, for tests/cli/stat.sh; it has no ports and holds
 * until it is stopped.
 *
 *   metrics-kernel [--note TEXT] [--level N] [--extra N] [--tick N]
 *
 * Each start adds 1 to the counter "starts" (kept in the journal across
 * restarts, so a restarted kernel's count goes on), sets the gauge
 * "in_flight_bytes" to N (--level, default 0) and the note to TEXT; --extra N
 * registers N more counters, extra_0 .. extra_N-1, each holding its index
 * times 1000, to fill the table; --tick N adds N to the counter "ticks"
 * every 100 ms, for rates. Exit 78 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmring/kernel.h>

struct args {
	const char *note;
	unsigned long long level;
	unsigned long extra;
	unsigned long long tick;
};

static int parse(int argc, char **argv, struct args *a)
{
	*a = (struct args){ .note = "" };
	for (int i = 1; i < argc; i++) {
		char *end = NULL;
		if (i + 1 >= argc) {
			fprintf(stderr, "metrics-kernel: '%s' needs a value\n", argv[i]);
			return -1;
		}
		if (!strcmp(argv[i], "--note"))
			a->note = argv[++i];
		else if (!strcmp(argv[i], "--level"))
			a->level = strtoull(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--extra"))
			a->extra = strtoul(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--tick"))
			a->tick = strtoull(argv[++i], &end, 10);
		else
			end = argv[i];
		if (end && *end) {
			fprintf(stderr, "metrics-kernel: bad argument '%s' (usage: [--note TEXT] "
				"[--level N] [--extra N] [--tick N])\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* Register what the arguments ask for: the index of "ticks" (-1 without
 * --tick), or -2 after one line. */
static int publish(struct shmring_kernel *k, const struct args *a)
{
	int starts = shmring_kernel_metric(k, "starts");
	int level = shmring_kernel_metric(k, "in_flight_bytes");
	if (starts < 0 || level < 0) {
		fprintf(stderr, "metrics-kernel: cannot register a metric: %s\n",
			strerror(-(starts < 0 ? starts : level)));
		return -2;
	}
	shmring_kernel_metric_add(k, starts, 1);
	shmring_kernel_metric_set(k, level, a->level);
	for (unsigned long i = 0; i < a->extra; i++) {
		char name[32];
		snprintf(name, sizeof(name), "extra_%lu", i);
		int x = shmring_kernel_metric(k, name);
		if (x < 0) {
			fprintf(stderr, "metrics-kernel: cannot register %s: %s\n", name, strerror(-x));
			return -2;
		}
		shmring_kernel_metric_set(k, x, i * 1000);
	}
	if (a->note[0] && shmring_kernel_set_note(k, a->note) < 0) {
		fprintf(stderr, "metrics-kernel: cannot set the note: no journal\n");
		return -2;
	}
	int ticks = a->tick ? shmring_kernel_metric(k, "ticks") : -1;
	if (a->tick && ticks < 0) {
		fprintf(stderr, "metrics-kernel: cannot register ticks: %s\n", strerror(-ticks));
		return -2;
	}
	return ticks;
}

int main(int argc, char **argv)
{
	struct args a;
	if (parse(argc, argv, &a) < 0)
		return SHMRING_EXIT_CONFIG;
	struct shmring_kernel *k;
	if (shmring_kernel_attach(&k) < 0) {
		fprintf(stderr, "metrics-kernel: %s\n", shmring_errmsg());
		return 1;
	}
	int ticks = publish(k, &a);
	if (ticks < -1) {
		shmring_kernel_detach(k);
		return SHMRING_EXIT_CONFIG;
	}
	/* No inputs: the wait ends only on a stop (0) or its timeout. */
	while (!shmring_kernel_should_stop(k)) {
		int rc = shmring_kernel_wait(k, a.tick ? 100 : 1000);
		if (rc < 0 && rc != -ETIMEDOUT) {
			fprintf(stderr, "metrics-kernel: wait: %s\n", strerror(-rc));
			break;
		}
		shmring_kernel_metric_add(k, ticks, a.tick); /* -1 (no --tick): ignored */
	}
	return shmring_kernel_detach(k);
}
