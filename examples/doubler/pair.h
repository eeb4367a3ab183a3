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

/* Attach or explain why not, as every example kernel starts. */
static inline struct shmring_kernel *example_attach(void)
{
	struct shmring_kernel *k;
	if (shmring_kernel_attach(&k) < 0) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		exit(2);
	}
	return k;
}

static inline struct shmring *example_port(struct shmring_kernel *k, const char *name)
{
	struct shmring *r = shmring_kernel_port(k, name);
	if (!r) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		exit(2);
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
			exit(1);
		}
		if (shmring_kernel_should_stop(k))
			return 1;
	}
}

static inline uint64_t example_u64(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s == '-') {
		fprintf(stderr, "%s: '%s' is not a non-negative integer\n", what, s);
		exit(2);
	}
	return v;
}

#endif
