/* SPDX-License-Identifier: MIT */
/*
 * gen: the source of the doubler example. Sends --count pairs {seq, seq} on
 * its output port "out", then finishes (end of stream downstream); with
 * --hold it keeps the topology up until stopped (for inspecting it);
 * --pace N sleeps 1 ms after every N pairs (a run long enough to kill
 * kernels in, for tests). After
 * each send it checkpoints the next sequence number, so a restarted gen
 * resumes there ("resumed at seq N"); a pair its predecessor sent but had
 * not checkpointed is sent again, the same, and dropped by the library as a
 * re-send (kernel.h, "Exactly once"). Exit status as pair.h says: 78 for a
 * usage or configuration error, 1 for a failure, 0 finished or stopped.
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "pair.h"

int main(int argc, char **argv)
{
	uint64_t count = 1000000;
	int hold = 0;
	uint64_t pace = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = example_u64(argv[++i], "--count");
		} else if (!strcmp(argv[i], "--pace") && i + 1 < argc) {
			pace = example_u64(argv[++i], "--pace"); /* 1 ms of sleep every N pairs */
		} else if (!strcmp(argv[i], "--hold")) {
			hold = 1; /* after sending, wait for a stop instead of finishing */
		} else {
			fprintf(stderr, "unknown argument '%s'; usage: gen [--count N] [--pace N] [--hold]   (a kernel: "
				"run it with shmring-supervisor)\n", argv[i]);
			return SHMRING_EXIT_CONFIG;
		}
	}
	struct shmring_kernel *k = example_attach();
	struct shmring *out = example_port(k, "out");
	uint64_t seq = 0; /* the checkpoint: the next number to send */
	if (example_restore(k, &seq, sizeof(seq)))
		printf("resumed at seq %llu\n", (unsigned long long)seq);
	/* A busy loop checks the stop flag itself: reserve notices a stop only
	 * when it has to wait, and a fast consumer never makes it wait. */
	while (seq < count && !shmring_kernel_should_stop(k)) {
		struct pair p = { seq, seq };
		int rc = example_send(k, out, &p);
		if (rc == 1)
			break; /* asked to stop */
		if (rc < 0) {
			fprintf(stderr, "consumer closed after %llu messages\n", (unsigned long long)seq);
			return 1; /* failed: no detach, the ports stay open (pair.h) */
		}
		seq++;
		example_checkpoint(k, &seq, sizeof(seq)); /* after the send: where to go on */
		if (pace && seq % pace == 0) {
			struct timespec ms = { 0, 1000000 };
			nanosleep(&ms, NULL);
		}
	}
	printf("sent %llu\n", (unsigned long long)seq);
	while (hold && shmring_kernel_wait(k, -1) != 0)
		; /* no inputs: returns 0 only on a stop */
	return shmring_kernel_detach(k);
}
