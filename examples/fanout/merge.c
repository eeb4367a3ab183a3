/* SPDX-License-Identifier: MIT */
/*
 * merge: the collector of the fan-out example. Reads every input with one
 * shmring_kernel_wait, and checks: on input i only sequence numbers with
 * seq % N == i arrive, each input in increasing order (a repeat is a
 * redelivery, counted), every value is 2 * seq, and at end of stream every
 * number 0..count-1 arrived exactly once. --expect N sets count.
 */
#include "../doubler/pair.h"

int main(int argc, char **argv)
{
	uint64_t expect = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
			expect = example_u64(argv[++i], "--expect");
		} else {
			fprintf(stderr, "usage: merge --expect N   (a kernel: run it with shmring-supervisor)\n");
			return 2;
		}
	}
	if (!expect) {
		fprintf(stderr, "merge: --expect N is required (it checks every number arrives)\n");
		return 2;
	}
	struct shmring_kernel *k = example_attach();
	unsigned n = shmring_kernel_ninputs(k);
	uint8_t *seen = calloc((size_t)(expect + 7) / 8, 1);
	uint64_t *next = calloc(n ? n : 1, sizeof(uint64_t));
	int *ended = calloc(n ? n : 1, sizeof(int));
	if (!seen || !next || !ended || n == 0) {
		fprintf(stderr, "merge: %s\n", n ? "out of memory" : "needs at least one input");
		return 2;
	}
	for (unsigned i = 0; i < n; i++)
		next[i] = i; /* input i carries i, i + n, i + 2n, ... */
	uint64_t got = 0, dup = 0;
	unsigned open = n;
	int stopped = 0;
	while (open) {
		int rc = shmring_kernel_wait(k, -1);
		if (rc == 0) {
			stopped = 1;
			break;
		}
		for (unsigned i = 0; i < n; i++) {
			if (ended[i])
				continue;
			struct shmring *in = shmring_kernel_input(k, i);
			const void *m;
			size_t len;
			/* drain what is there, up to a burst, then look at the others */
			for (int burst = 0; burst < 64; burst++) {
				rc = shmring_peek(in, &m, &len, 0);
				if (rc == -EAGAIN)
					break;
				if (rc == 0) {
					ended[i] = 1;
					open--;
					break;
				}
				if (rc < 0 || len != sizeof(struct pair)) {
					fprintf(stderr, "input %u: bad input (%s)\n", i,
						rc < 0 ? strerror(-rc) : "size");
					return 1;
				}
				struct pair p;
				memcpy(&p, m, sizeof(p));
				shmring_release(in);
				if (p.seq >= expect || p.seq % n != i || p.value != 2 * p.seq) {
					fprintf(stderr, "input %u: unexpected pair {%llu, %llu}\n", i,
						(unsigned long long)p.seq, (unsigned long long)p.value);
					return 1;
				}
				if (p.seq < next[i] || (seen[p.seq / 8] >> (p.seq % 8) & 1)) {
					dup++;
					continue;
				}
				if (p.seq != next[i]) {
					fprintf(stderr, "input %u: out of order or lost: expected %llu, got %llu\n",
						i, (unsigned long long)next[i], (unsigned long long)p.seq);
					return 1;
				}
				next[i] = p.seq + n;
				seen[p.seq / 8] |= (uint8_t)(1u << (p.seq % 8));
				got++;
			}
		}
	}
	printf("merged %llu from %u inputs, in order per input, %llu duplicates (redelivered)\n",
	       (unsigned long long)got, n, (unsigned long long)dup);
	if (!stopped && got != expect) {
		fprintf(stderr, "expected %llu distinct results, got %llu\n",
			(unsigned long long)expect, (unsigned long long)got);
		return 1;
	}
	free(seen);
	free(next);
	free(ended);
	return shmring_kernel_detach(k);
}
