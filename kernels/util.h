/* SPDX-License-Identifier: MIT */
/* What every standard kernel shares: attach or explain, ports, arguments. */
#ifndef SHMRING_KERNELS_UTIL_H
#define SHMRING_KERNELS_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmring/io.h>
#include <shmring/shmring.h>

static inline struct shmring_kernel *k_attach(const char *prog)
{
	struct shmring_kernel *k;
	if (shmring_kernel_attach(&k) < 0) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		exit(2);
	}
	(void)prog;
	return k;
}

static inline struct shmring *k_port(struct shmring_kernel *k, const char *name)
{
	struct shmring *r = shmring_kernel_port(k, name);
	if (!r) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		exit(2);
	}
	return r;
}

static inline struct shmring_io *k_io(struct shmring_kernel *k)
{
	struct shmring_io *io;
	if (shmring_io_init(k, 64, &io) < 0) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		exit(1);
	}
	return io;
}

/* "65536", "64K", "64KiB", "1M" ... as bytes; exits on nonsense. */
static inline uint64_t k_size(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mul = 1;
	if (!strcmp(end, "K") || !strcmp(end, "KiB"))
		mul = 1024;
	else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
		mul = 1024 * 1024;
	else if (*end)
		mul = 0;
	if (errno || !*s || *s == '-' || !mul || !v) {
		fprintf(stderr, "%s: '%s' is not a size (bytes, or K/KiB, M/MiB)\n", what, s);
		exit(2);
	}
	return v * mul;
}

/*
 * The next message of input `in`, waiting (rings, I/O and stop, in one
 * sleep) while there is none: its length (> 0, *m points at it until
 * shmring_release), 0 at end of stream, -ECANCELED when a stop was
 * requested, or another error after one line on stderr.
 */
static inline int k_next(struct shmring_kernel *k, struct shmring *in, const void **m, size_t *len)
{
	for (;;) {
		int r = shmring_peek(in, m, len, 0);
		if (r != -EAGAIN) {
			if (r < 0)
				fprintf(stderr, "peek: %s\n", strerror(-r));
			return r;
		}
		if (shmring_kernel_wait(k, -1) == 0)
			return -ECANCELED;
	}
}

/*
 * Wait for the one operation in flight and return its result; on a stop,
 * returns -ECANCELED (the operation is cancelled when the io_uring is torn
 * down at detach).
 */
static inline int k_io_result(struct shmring_io *io, uint64_t tag)
{
	struct shmring_io_done d;
	for (;;) {
		while (shmring_io_complete(io, &d) > 0)
			if (d.tag == tag)
				return d.res;
		int rc = shmring_io_wait(io, -1);
		if (rc == 0)
			return -ECANCELED;
	}
}

#endif
