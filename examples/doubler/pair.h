/* SPDX-License-Identifier: MIT */
/* The message every example kernel passes: a sequence number and a value. */
#ifndef SHMRING_EXAMPLE_PAIR_H
#define SHMRING_EXAMPLE_PAIR_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmring/shmring.h>

struct pair {
	uint64_t seq;
	uint64_t value;
};

/*
 * How an example kernel leaves. A usage or configuration error (a bad
 * argument, a port the topology lacks, messages of the wrong size) prints
 * one line and exits SHMRING_EXIT_CONFIG (78): the supervisor does not
 * restart it, since a restart cannot help. A failure a restart may cure
 * exits 1 WITHOUT shmring_kernel_detach, which would close the ports and
 * so tell the neighbours the stream ended, as if the kernel had finished: a
 * failed kernel leaves them open for its successor. The handle stays in
 * example_kernel until the process exits (reachable, so LeakSanitizer does
 * not count it as a leak). Finished or stopped: shmring_kernel_detach, 0.
 */
static struct shmring_kernel *volatile example_kernel;

/* Attach or explain why not, as every example kernel starts. */
static inline struct shmring_kernel *example_attach(void)
{
	struct shmring_kernel *k;
	int rc = shmring_kernel_attach(&k);
	if (rc == -ECANCELED)
		exit(0); /* the topology stopped before it started: nothing to do */
	if (rc < 0) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		/* not started by a supervisor, or by one it cannot work with */
		exit(rc == -ENOENT || rc == -EINVAL || rc == -EPROTO ? SHMRING_EXIT_CONFIG : 1);
	}
	example_kernel = k;
	return k;
}

static inline struct shmring *example_port(struct shmring_kernel *k, const char *name)
{
	struct shmring *r = shmring_kernel_port(k, name);
	if (!r) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		exit(SHMRING_EXIT_CONFIG);
	}
	return r;
}

/*
 * Send one pair, waiting for room (a stop request ends the wait).
 * 0 sent; 1 stop requested; -EPIPE the consumer closed for good. A consumer
 * that died is restarted by the supervisor: keep trying.
 */
static inline int example_send(struct shmring_kernel *k, struct shmring *out, const struct pair *p)
{
	for (;;) {
		void *buf;
		int rc = shmring_reserve(out, sizeof(*p), &buf, 100);
		if (rc == 0) {
			memcpy(buf, p, sizeof(*p));
			return shmring_commit(out, sizeof(*p));
		}
		if (rc == -EPIPE)
			return rc;
		if (rc == -ECANCELED)
			return 1; /* a stop was requested while we waited */
		if (rc != -ETIMEDOUT && rc != -EOWNERDEAD) {
			fprintf(stderr, "send: %s\n", strerror(-rc));
			exit(rc == -EMSGSIZE ? SHMRING_EXIT_CONFIG : 1);
		}
		if (shmring_kernel_should_stop(k))
			return 1;
	}
}

/*
 * Checkpoints (kernel.h, "Exactly once"): what a kernel needs to resume
 * after a crash, in a fixed layout of uint64_t fields. example_restore
 * copies the state the predecessor published: 1, or 0 on a first start.
 * A state of another size was written by another build of the kernel:
 * exit 78 (configuration). example_checkpoint stages the state: published
 * with the next release of an input message, at once in a source; its one
 * possible error here is -ENOTSUP (the supervisor keeps no journal), and the
 * kernel then works on as before, at least once.
 */
static inline int example_restore(struct shmring_kernel *k, void *state, size_t len)
{
	ssize_t n = shmring_kernel_restore(k, state, len);
	if (n == 0)
		return 0;
	if (n != (ssize_t)len) {
		fprintf(stderr, "kernel '%s': its checkpoint is not %zu bytes: another build of it "
			"wrote it; restart the whole topology\n", shmring_kernel_name(k), len);
		exit(SHMRING_EXIT_CONFIG);
	}
	return 1;
}

static inline void example_checkpoint(struct shmring_kernel *k, const void *state, size_t len)
{
	(void)shmring_kernel_checkpoint(k, state, len);
}

static inline uint64_t example_u64(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s < '0' || *s > '9') {
		fprintf(stderr, "%s: '%s' is not a non-negative integer\n", what, s);
		exit(SHMRING_EXIT_CONFIG);
	}
	return v;
}

#endif
