/* SPDX-License-Identifier: MIT */
/*
 * sink: checks every result of the doubler pipeline. Sequence numbers must
 * arrive in order, each once; value must be 2 * seq (--factor F: F * seq).
 * A number seen before is counted as a duplicate, a gap as lost messages
 * (one line at the first). At end of stream it prints what it counted and
 * fails if anything was lost or, with --expect N, unless all N arrived.
 *
 * Restarts (kernel.h, "Exactly once"): its counts are the checkpoint,
 * staged before each release and published with it, so a restarted sink
 * resumes exactly after the last pair its predecessor released ("resumed
 * at seq N"), and a duplicate is counted only if one really reaches it.
 * With the kernels upstream restarted too, duplicates and lost stay 0.
 * --from-any starts checking at the first number that arrives when there
 * is no checkpoint to resume from (a supervisor that keeps no journal).
 * --lossy accepts gaps (still counted as lost): the reader of a broadcast
 * ring with slow: drop, which skips what it is too slow for. --slow-us N
 * sleeps N microseconds on each pair before releasing it (a blocking reader
 * holds it meanwhile, as one working on the message in place), to play a
 * slow reader.
 *
 * Exit status as pair.h says: 78 for a usage or configuration error, 1 for
 * a failure (a lost message, a wrong result), 0 finished or stopped.
 */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <time.h>

#include "pair.h"

/* The checkpoint (pair.h). */
struct tally {
	uint64_t next; /* the sequence number expected next */
	uint64_t got;  /* in order, each once */
	uint64_t dup;
	uint64_t lost;
};
static_assert(sizeof(struct tally) == 32, "a fixed layout, no padding");

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Count one pair: 0, or 1 after one line (a wrong result). */
static int check(struct tally *t, const struct pair *p, uint64_t factor)
{
	if (p->value != factor * p->seq) {
		fprintf(stderr, "wrong result: seq %llu value %llu\n", (unsigned long long)p->seq,
			(unsigned long long)p->value);
		return 1;
	}
	if (p->seq < t->next) {
		t->dup++;
		return 0;
	}
	if (p->seq > t->next) {
		if (t->lost == 0)
			fprintf(stderr, "lost messages: expected seq %llu, got %llu\n",
				(unsigned long long)t->next, (unsigned long long)p->seq);
		t->lost += p->seq - t->next;
	}
	t->next = p->seq + 1;
	t->got++;
	return 0;
}

/*
 * Check pairs until end of stream (1), a stop (0), or a failure (-1 after
 * one line). from_any: the first pair sets where checking starts.
 */
static int drain(struct shmring_kernel *k, struct shmring *in, struct tally *t, uint64_t factor,
		 int from_any, int lossy, uint64_t slow_us)
{
	for (;;) {
		const void *m;
		size_t len;
		if (shmring_kernel_should_stop(k))
			return 0; /* as the wait's stop below, also with a backlog */
		int rc = shmring_peek(in, &m, &len, 0);
		if (rc == -EAGAIN) {
			if (shmring_kernel_wait(k, -1) == 0)
				return 0;
			continue;
		}
		if (rc == 0)
			return 1;
		if (rc < 0) {
			fprintf(stderr, "bad input: %s\n", strerror(-rc));
			return -1;
		}
		if (len != sizeof(struct pair)) {
			fprintf(stderr, "a %zu-byte message arrived, not a %zu-byte pair: connect \"in\" "
				"to a pair producer such as double\n", len, sizeof(struct pair));
			exit(SHMRING_EXIT_CONFIG);
		}
		struct pair p;
		memcpy(&p, m, sizeof(p));
		/* A lossy (drop-policy) reader releases first: -ESTALE says the
		 * producer moved past p while we copied it, so the copy may be
		 * torn and is dropped; the gap is counted at the next pair. Its
		 * checkpoint goes out with the next release. */
		if (lossy && (rc = shmring_release(in)) == -ESTALE)
			continue;
		if (from_any && t->got == 0 && t->dup == 0)
			t->next = p.seq;
		if (check(t, &p, factor))
			return -1;
		example_checkpoint(k, t, sizeof(*t)); /* covers p: out with its release (lossy: the next) */
		if (slow_us) { /* the work on the message, done in place: held till the release */
			struct timespec ts = { (time_t)(slow_us / 1000000), (long)(slow_us % 1000000) * 1000 };
			nanosleep(&ts, NULL);
		}
		if (!lossy)
			rc = shmring_release(in);
		if (rc < 0) {
			fprintf(stderr, "release failed: %s\n", strerror(-rc));
			return -1;
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t expect = UINT64_MAX, factor = 2;
	int from_any = 0, lossy = 0;
	uint64_t slow_us = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
			expect = example_u64(argv[++i], "--expect");
		} else if (!strcmp(argv[i], "--from-any")) {
			from_any = 1;
		} else if (!strcmp(argv[i], "--lossy")) {
			lossy = 1;
		} else if (!strcmp(argv[i], "--slow-us") && i + 1 < argc) {
			slow_us = example_u64(argv[++i], "--slow-us");
		} else if (!strcmp(argv[i], "--factor") && i + 1 < argc) {
			factor = example_u64(argv[++i], "--factor");
		} else {
			fprintf(stderr, "unknown argument '%s'; usage: sink [--expect N] [--factor F] "
				"[--from-any] [--lossy] [--slow-us N]   (a kernel: run it with shmring-supervisor)\n", argv[i]);
			return SHMRING_EXIT_CONFIG;
		}
	}
	struct shmring_kernel *k = example_attach();
	struct shmring *in = example_port(k, "in");
	struct tally t = { 0, 0, 0, 0 };
	if (example_restore(k, &t, sizeof(t))) {
		printf("resumed at seq %llu\n", (unsigned long long)t.next);
		from_any = 0; /* the checkpoint says where */
	}
	uint64_t got0 = t.got;
	double start = seconds();
	int rc = drain(k, in, &t, factor, from_any, lossy, slow_us);
	if (rc < 0)
		return 1; /* failed: no detach, the ports stay open (pair.h) */
	double took = seconds() - start;
	printf("received %llu in order, %llu duplicates (redelivered), %llu lost; %.2f M msg/s\n",
	       (unsigned long long)t.got, (unsigned long long)t.dup, (unsigned long long)t.lost,
	       took > 0 ? (double)(t.got - got0) / took / 1e6 : 0.0);
	if (rc == 1 && ((t.lost && !lossy) || (expect != UINT64_MAX && t.got != expect))) {
		fprintf(stderr, "expected %llu results, got %llu (%llu lost)\n",
			(unsigned long long)(expect != UINT64_MAX ? expect : t.got + t.lost),
			(unsigned long long)t.got, (unsigned long long)t.lost);
		return 1;
	}
	return shmring_kernel_detach(k);
}
