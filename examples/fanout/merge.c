/* SPDX-License-Identifier: MIT */
/*
 * merge: the collector of the fan-out example. Reads every input with one
 * shmring_kernel_wait, and checks: on input i only sequence numbers with
 * seq % N == i arrive, each input in increasing order (a repeat is a
 * duplicate, counted), every value is 2 * seq, and at end of stream every
 * number 0..count-1 arrived exactly once. --expect N sets count. Since
 * input i carries only numbers of residue i, in order, "each input in
 * order, no repeat" already means "each number at most once".
 *
 * Restarts (kernel.h, "Exactly once"): what it expects next on each input,
 * and its counts, are the checkpoint, staged before each release and
 * published with it: a restarted merge resumes exactly after what its
 * predecessor released, and with split and the workers restarted too, no
 * number arrives twice. Exit status as pair.h says: 78 for a usage or
 * configuration error, 1 for a failure (a lost or unexpected number), 0
 * finished or stopped.
 */
#include <assert.h>

#include "../doubler/pair.h"

/* The checkpoint (pair.h): a header, then next[n] -- the number input i
 * expects next (i, i + n, i + 2n, ...). */
struct tally {
	uint64_t n;   /* inputs: a checkpoint of another topology is refused */
	uint64_t got; /* distinct numbers, in order per input */
	uint64_t dup;
	uint64_t next[];
};
static_assert(sizeof(struct tally) == 24, "a fixed layout, no padding");

/* The most inputs whose expectations fit a checkpoint. */
#define MERGE_MAX_INPUTS ((SHMRING_CHECKPOINT_MAX - sizeof(struct tally)) / sizeof(uint64_t))

/* A fresh tally for n inputs, or the predecessor's (said in one line). NULL
 * when out of memory. */
static struct tally *start(struct shmring_kernel *k, unsigned n, size_t *size)
{
	*size = sizeof(struct tally) + n * sizeof(uint64_t);
	struct tally *t = calloc(1, *size);
	if (!t)
		return NULL;
	if (example_restore(k, t, *size)) {
		if (t->n != n) {
			fprintf(stderr, "merge: its checkpoint is for %llu inputs, not %u: restart the "
				"whole topology\n", (unsigned long long)t->n, n);
			exit(SHMRING_EXIT_CONFIG);
		}
		printf("resumed after %llu numbers\n", (unsigned long long)t->got);
		return t;
	}
	t->n = n;
	for (unsigned i = 0; i < n; i++)
		t->next[i] = i;
	return t;
}

/* Check one pair of input i: 0, or the exit status after one line. */
static int check(struct tally *t, unsigned i, const struct pair *p, uint64_t expect)
{
	if (p->seq >= expect || p->seq % t->n != i || p->value != 2 * p->seq) {
		fprintf(stderr, "input %u: unexpected pair {%llu, %llu}\n", i,
			(unsigned long long)p->seq, (unsigned long long)p->value);
		return 1;
	}
	if (p->seq < t->next[i]) {
		t->dup++;
		return 0;
	}
	if (p->seq != t->next[i]) {
		fprintf(stderr, "input %u: out of order or lost: expected %llu, got %llu\n", i,
			(unsigned long long)t->next[i], (unsigned long long)p->seq);
		return 1;
	}
	t->next[i] = p->seq + t->n;
	t->got++;
	return 0;
}

/*
 * Take what input i holds, up to a burst, then let the others have a turn.
 * 0, or the exit status after one line; *ended set at end of stream.
 */
static int take(struct shmring_kernel *k, unsigned i, struct tally *t, size_t size,
		uint64_t expect, int *ended)
{
	struct shmring *in = shmring_kernel_input(k, i);
	for (int burst = 0; burst < 64; burst++) {
		const void *m;
		size_t len;
		int r = shmring_peek(in, &m, &len, 0);
		if (r == -EAGAIN)
			return 0;
		if (r == 0) {
			*ended = 1;
			return 0;
		}
		if (r < 0) {
			fprintf(stderr, "input %u: bad input (%s)\n", i, strerror(-r));
			return 1;
		}
		if (len != sizeof(struct pair)) {
			fprintf(stderr, "input %u: a %zu-byte message arrived, not a %zu-byte pair: "
				"connect it to a worker such as double\n", i, len, sizeof(struct pair));
			return SHMRING_EXIT_CONFIG;
		}
		struct pair p;
		memcpy(&p, m, sizeof(p));
		int rc = check(t, i, &p, expect);
		if (rc)
			return rc;
		example_checkpoint(k, t, size); /* covers p: published with its release */
		shmring_release(in);
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t expect = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
			expect = example_u64(argv[++i], "--expect");
		} else {
			fprintf(stderr, "unknown argument '%s'; usage: merge --expect N   (a kernel: run it "
				"with shmring-supervisor)\n", argv[i]);
			return SHMRING_EXIT_CONFIG;
		}
	}
	if (expect == 0 || expect > (1ull << 40)) {
		fprintf(stderr, "merge: --expect N is required, 1 to 2^40 (it checks every number "
			"arrives)\n");
		return SHMRING_EXIT_CONFIG;
	}
	struct shmring_kernel *k = example_attach();
	unsigned n = shmring_kernel_ninputs(k);
	if (n == 0 || n > MERGE_MAX_INPUTS) {
		fprintf(stderr, "merge has %u inputs: connect 1 to %zu workers' outputs to it in the "
			"topology\n", n, (size_t)MERGE_MAX_INPUTS);
		return SHMRING_EXIT_CONFIG;
	}
	size_t size;
	struct tally *t = start(k, n, &size);
	int *ended = calloc(n, sizeof(int));
	int rc = 0, stopped = 0;
	if (!t || !ended) {
		fprintf(stderr, "merge: out of memory for %u inputs\n", n);
		rc = 1;
		goto out;
	}
	unsigned open = n;
	while (open && !rc) {
		if (shmring_kernel_wait(k, -1) == 0) {
			stopped = 1;
			break;
		}
		for (unsigned i = 0; i < n && !rc; i++) {
			if (ended[i])
				continue;
			rc = take(k, i, t, size, expect, &ended[i]);
			if (ended[i])
				open--;
		}
	}
	if (!rc) {
		printf("merged %llu from %u inputs, in order per input, %llu duplicates (redelivered)\n",
		       (unsigned long long)t->got, n, (unsigned long long)t->dup);
		if (!stopped && t->got != expect) {
			fprintf(stderr, "expected %llu distinct results, got %llu\n",
				(unsigned long long)expect, (unsigned long long)t->got);
			rc = 1;
		}
	}
out:
	free(t);
	free(ended);
	/* failed: no detach, the ports stay open (pair.h) */
	return rc ? rc : shmring_kernel_detach(k);
}
