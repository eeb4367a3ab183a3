/* SPDX-License-Identifier: MIT */
/*
 * split: the source of the fan-out example. Deals pairs {seq, seq} round
 * robin over all of its outputs (seq % N goes to output seq % N), --count in
 * all, then finishes.
 */
#include "../doubler/pair.h"

int main(int argc, char **argv)
{
	uint64_t count = 1000000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = example_u64(argv[++i], "--count");
		} else {
			fprintf(stderr, "usage: split [--count N]   (a kernel: run it with shmring-supervisor)\n");
			return 2;
		}
	}
	struct shmring_kernel *k = example_attach();
	unsigned n = shmring_kernel_noutputs(k);
	if (n == 0) {
		fprintf(stderr, "split needs at least one output port\n");
		return 2;
	}
	uint64_t seq = 0;
	for (; seq < count; seq++) {
		struct pair p = { seq, seq };
		int rc = example_send(k, shmring_kernel_output(k, (unsigned)(seq % n)), &p);
		if (rc == 1)
			break;
		if (rc < 0) {
			fprintf(stderr, "a worker closed its input after %llu messages\n",
				(unsigned long long)seq);
			return 1;
		}
	}
	printf("dealt %llu over %u workers\n", (unsigned long long)seq, n);
	return shmring_kernel_detach(k);
}
