/* SPDX-License-Identifier: MIT */
/*
 * double: reads pairs on "in", writes {seq, 2 * value} on "out" (--factor N:
 * N * value), until end of stream or a stop request. Zero-copy both ways:
 * the result is written straight into the output ring, the input released
 * only after the commit (peek, send, release), so a crash in between
 * redelivers the input and never loses it. It keeps no state, so it needs
 * no checkpoint: a restarted double answers the redelivered pair again, and
 * the library drops that answer as a re-send, since the output already
 * holds it (kernel.h, "Exactly once"). Deterministic, so nothing reaches
 * the sink twice. Exit status as pair.h says: 78 for a usage or
 * configuration error, 1 for a failure, 0 finished or stopped.
 */
#include "pair.h"

int main(int argc, char **argv)
{
	uint64_t factor = 2;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--factor") && i + 1 < argc) {
			factor = example_u64(argv[++i], "--factor");
		} else {
			fprintf(stderr, "unknown argument '%s'; usage: double [--factor N]   (a kernel: run it "
				"with shmring-supervisor)\n", argv[i]);
			return SHMRING_EXIT_CONFIG;
		}
	}
	struct shmring_kernel *k = example_attach();
	struct shmring *in = example_port(k, "in");
	struct shmring *out = example_port(k, "out");
	uint64_t n = 0;
	/* The stop flag is checked every message (one load): with a backlog
	 * the wait below, which also notices a stop, is never reached. */
	while (!shmring_kernel_should_stop(k)) {
		const void *m;
		size_t len;
		int rc = shmring_peek(in, &m, &len, 0);
		if (rc == -EAGAIN) {
			if (shmring_kernel_wait(k, -1) == 0)
				break; /* stop requested */
			continue;
		}
		if (rc == 0)
			break; /* end of stream: finished */
		if (rc < 0) {
			fprintf(stderr, "bad input: %s\n", strerror(-rc));
			return 1; /* failed: no detach, the ports stay open (pair.h) */
		}
		if (len != sizeof(struct pair)) {
			fprintf(stderr, "a %zu-byte message arrived, not a %zu-byte pair: connect \"in\" "
				"to a pair producer such as gen\n", len, sizeof(struct pair));
			return SHMRING_EXIT_CONFIG;
		}
		struct pair p;
		memcpy(&p, m, sizeof(p));
		p.value *= factor;
		rc = example_send(k, out, &p);
		if (rc == 1)
			break;
		if (rc < 0) {
			fprintf(stderr, "consumer closed\n");
			return 1;
		}
		shmring_release(in); /* after the send: a crash redelivers, never loses */
		n++;
	}
	printf("doubled %llu\n", (unsigned long long)n); /* this instance's */
	return shmring_kernel_detach(k);
}
