/* SPDX-License-Identifier: MIT */
/*
 * sink: checks every result of the doubler pipeline. Sequence numbers must
 * arrive in order; a number seen before is a redelivery after a crash
 * upstream (counted, allowed: at-least-once); a gap is a lost message (an
 * error). value must be 2 * seq (--factor F: F * seq). At end of stream it
 * prints what it counted and, with --expect N, fails unless all N arrived.
 * --from-any starts checking at the first number that arrives (for a sink
 * that is itself restarted, which cannot know where its predecessor was).
 * Exit status as pair.h says: 78 for a usage or configuration error, 1 for
 * a failure (a lost message, a wrong result), 0 finished or stopped.
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "pair.h"

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t expect = UINT64_MAX, factor = 2;
	int from_any = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
			expect = example_u64(argv[++i], "--expect");
		} else if (!strcmp(argv[i], "--from-any")) {
			from_any = 1; /* a restarted sink: start at whatever comes first */
		} else if (!strcmp(argv[i], "--factor") && i + 1 < argc) {
			factor = example_u64(argv[++i], "--factor");
		} else {
			fprintf(stderr, "unknown argument '%s'; usage: sink [--expect N] [--factor F] "
				"[--from-any]   (a kernel: run it with shmring-supervisor)\n", argv[i]);
			return SHMRING_EXIT_CONFIG;
		}
	}
	struct shmring_kernel *k = example_attach();
	struct shmring *in = example_port(k, "in");
	uint64_t next = 0, dup = 0;
	int stopped = 0;
	double first = 0;
	for (;;) {
		const void *m;
		size_t len;
		int rc = shmring_peek(in, &m, &len, 0);
		if (rc == -EAGAIN) {
			if (shmring_kernel_wait(k, -1) == 0) {
				stopped = 1;
				break;
			}
			continue;
		}
		if (rc == 0)
			break;
		if (rc < 0) {
			fprintf(stderr, "bad input: %s\n", strerror(-rc));
			return 1; /* failed: no detach, the ports stay open (pair.h) */
		}
		if (len != sizeof(struct pair)) {
			fprintf(stderr, "a %zu-byte message arrived, not a %zu-byte pair: connect \"in\" "
				"to a pair producer such as double\n", len, sizeof(struct pair));
			return SHMRING_EXIT_CONFIG;
		}
		struct pair p;
		memcpy(&p, m, sizeof(p));
		shmring_release(in);
		if (first == 0) {
			first = seconds();
			if (from_any)
				next = p.seq;
		}
		if (p.value != factor * p.seq) {
			fprintf(stderr, "wrong result: seq %llu value %llu\n",
				(unsigned long long)p.seq, (unsigned long long)p.value);
			return 1;
		}
		if (p.seq < next) {
			dup++;
		} else if (p.seq > next) {
			fprintf(stderr, "lost messages: expected seq %llu, got %llu\n",
				(unsigned long long)next, (unsigned long long)p.seq);
			return 1;
		} else {
			next++;
		}
	}
	double took = first > 0 ? seconds() - first : 0;
	printf("received %llu in order, %llu duplicates (redelivered), 0 lost; %.2f M msg/s\n",
	       (unsigned long long)next, (unsigned long long)dup,
	       took > 0 ? (double)next / took / 1e6 : 0.0);
	if (!stopped && expect != UINT64_MAX && next != expect) {
		fprintf(stderr, "expected %llu results, got %llu\n", (unsigned long long)expect,
			(unsigned long long)next);
		return 1;
	}
	return shmring_kernel_detach(k);
}
