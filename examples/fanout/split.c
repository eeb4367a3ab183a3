/* SPDX-License-Identifier: MIT */
/*
 * split: the source of the fan-out example. Deals pairs {seq, seq} round
 * robin over all of its outputs (seq % N goes to output seq % N), --count in
 * all, then finishes. After each send it checkpoints the next sequence
 * number, as the doubler's gen does, so a restarted split resumes there and
 * its one possible repeat is dropped as a re-send. Exit status as pair.h
 * says: 78 for a usage or configuration error, 1 for a failure, 0 finished
 * or stopped.
 */
#include "../doubler/pair.h"

int main(int argc, char **argv)
{
	uint64_t count = 1000000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = example_u64(argv[++i], "--count");
		} else {
			fprintf(stderr, "unknown argument '%s'; usage: split [--count N]   (a kernel: run it "
				"with shmring-supervisor)\n", argv[i]);
			return SHMRING_EXIT_CONFIG;
		}
	}
	struct shmring_kernel *k = example_attach();
	unsigned n = shmring_kernel_noutputs(k);
	if (n == 0) {
		fprintf(stderr, "split has no output: give it outputs in the topology, one per worker\n");
		return SHMRING_EXIT_CONFIG;
	}
	uint64_t seq = 0; /* the checkpoint: the next number to deal */
	if (example_restore(k, &seq, sizeof(seq)))
		printf("resumed at seq %llu\n", (unsigned long long)seq);
	while (seq < count && !shmring_kernel_should_stop(k)) { /* as gen */
		struct pair p = { seq, seq };
		int rc = example_send(k, shmring_kernel_output(k, (unsigned)(seq % n)), &p);
		if (rc == 1)
			break;
		if (rc < 0) {
			fprintf(stderr, "a worker closed its input after %llu messages\n",
				(unsigned long long)seq);
			return 1;
		}
		seq++;
		example_checkpoint(k, &seq, sizeof(seq));
	}
	printf("dealt %llu over %u workers\n", (unsigned long long)seq, n);
	return shmring_kernel_detach(k);
}
