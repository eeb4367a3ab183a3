/* SPDX-License-Identifier: MIT */
/*
 * merge: the collector of the fan-out example. Reads every input with one
 * shmring_kernel_wait, and checks: on input i only sequence numbers with
 * seq % N == i arrive, each input in increasing order (a repeat is a
 * redelivery, counted), every value is 2 * seq, and at end of stream every
 * number 0..count-1 arrived exactly once. --expect N sets count. Exit
 * status as pair.h says: 78 for a usage or configuration error, 1 for a
 * failure (a lost or unexpected number), 0 finished or stopped.
 */
#include "../doubler/pair.h"

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
	if (n == 0) {
		fprintf(stderr, "merge has no input: connect the workers' outputs to it in the topology\n");
		return SHMRING_EXIT_CONFIG;
	}
	uint8_t *seen = calloc((size_t)(expect + 7) / 8, 1);
	uint64_t *next = calloc(n, sizeof(uint64_t));
	int *ended = calloc(n, sizeof(int));
	int rc = 0, stopped = 0;
	if (!seen || !next || !ended) {
		fprintf(stderr, "merge: out of memory for --expect %llu\n", (unsigned long long)expect);
		rc = 1;
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		next[i] = i; /* input i carries i, i + n, i + 2n, ... */
	uint64_t got = 0, dup = 0;
	unsigned open = n;
	while (open && !rc) {
		if (shmring_kernel_wait(k, -1) == 0) {
			stopped = 1;
			break;
		}
		for (unsigned i = 0; i < n && !rc; i++) {
			if (ended[i])
				continue;
			struct shmring *in = shmring_kernel_input(k, i);
			const void *m;
			size_t len;
			/* drain what is there, up to a burst, then look at the others */
			for (int burst = 0; burst < 64; burst++) {
				int r = shmring_peek(in, &m, &len, 0);
				if (r == -EAGAIN)
					break;
				if (r == 0) {
					ended[i] = 1;
					open--;
					break;
				}
				if (r < 0) {
					fprintf(stderr, "input %u: bad input (%s)\n", i, strerror(-r));
					rc = 1;
					break;
				}
				if (len != sizeof(struct pair)) {
					fprintf(stderr, "input %u: a %zu-byte message arrived, not a %zu-byte "
						"pair: connect it to a worker such as double\n", i, len,
						sizeof(struct pair));
					rc = SHMRING_EXIT_CONFIG;
					break;
				}
				struct pair p;
				memcpy(&p, m, sizeof(p));
				shmring_release(in);
				if (p.seq >= expect || p.seq % n != i || p.value != 2 * p.seq) {
					fprintf(stderr, "input %u: unexpected pair {%llu, %llu}\n", i,
						(unsigned long long)p.seq, (unsigned long long)p.value);
					rc = 1;
					break;
				}
				if (p.seq < next[i] || (seen[p.seq / 8] >> (p.seq % 8) & 1)) {
					dup++;
					continue;
				}
				if (p.seq != next[i]) {
					fprintf(stderr, "input %u: out of order or lost: expected %llu, got %llu\n",
						i, (unsigned long long)next[i], (unsigned long long)p.seq);
					rc = 1;
					break;
				}
				next[i] = p.seq + n;
				seen[p.seq / 8] |= (uint8_t)(1u << (p.seq % 8));
				got++;
			}
		}
	}
	if (!rc) {
		printf("merged %llu from %u inputs, in order per input, %llu duplicates (redelivered)\n",
		       (unsigned long long)got, n, (unsigned long long)dup);
		if (!stopped && got != expect) {
			fprintf(stderr, "expected %llu distinct results, got %llu\n",
				(unsigned long long)expect, (unsigned long long)got);
			rc = 1;
		}
	}
out:
	free(seen);
	free(next);
	free(ended);
	/* failed: no detach, the ports stay open (pair.h) */
	return rc ? rc : shmring_kernel_detach(k);
}
