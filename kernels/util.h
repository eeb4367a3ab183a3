/* SPDX-License-Identifier: MIT */
/*
 * What every standard kernel shares: arguments, attach or explain, ports,
 * and how a kernel leaves.
 *
 * Exit statuses. A usage or configuration error (a bad argument, a port the
 * topology lacks, an input that cannot be opened, an address that does not
 * resolve, a message larger than the ring) prints one line naming the
 * problem and the fix and exits SHMRING_EXIT_CONFIG (78): the supervisor
 * does not restart such a kernel, since a restart cannot help. Arguments
 * are checked before attaching wherever they can be. A failure that a
 * restart may cure (the peer went away, EIO) exits 1. Finished or stopped:
 * shmring_kernel_detach, 0.
 *
 * A failed kernel exits WITHOUT shmring_kernel_detach: detach closes the
 * ports when no stop was requested, which tells the neighbours the stream
 * ended as if this kernel had finished, while a failed kernel leaves them
 * open for the successor the supervisor may start. Its handle stays in
 * k_self until the process exits (reachable, so LeakSanitizer does not
 * count it as a leak), and the system takes the mappings back.
 */
#ifndef SHMRING_KERNELS_UTIL_H
#define SHMRING_KERNELS_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmring/io.h>
#include <shmring/shmring.h>

/* This kernel, once attached. volatile: written once, read by no one, and
 * still kept, so that a failed kernel's handle stays reachable. */
static struct shmring_kernel *volatile k_self;

/* A usage or configuration error: one line, then exit 78 (not restarted). */
__attribute__((format(printf, 1, 2), noreturn)) static inline void k_config(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(SHMRING_EXIT_CONFIG);
}

/* Bad arguments: the problem and the usage, on one line, exit 78. */
__attribute__((format(printf, 2, 3), noreturn)) static inline void k_usage(const char *usage,
									  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; usage: %s\n", usage);
	exit(SHMRING_EXIT_CONFIG);
}

/* --help: the usage on stdout, exit 0. */
__attribute__((noreturn)) static inline void k_help(const char *usage)
{
	printf("usage: %s\n", usage);
	exit(0);
}

/*
 * Attach to the supervisor: the handle, or NULL with *status set to what to
 * exit with, after one line on stderr. Not started by a supervisor, or a
 * control segment it cannot use: 78. The topology stopped before it started:
 * 0, silently (the supervisor says why). Out of memory or descriptors: 1.
 */
static inline struct shmring_kernel *k_try_attach(int *status)
{
	struct shmring_kernel *k;
	int rc = shmring_kernel_attach(&k);
	if (rc == 0) {
		k_self = k;
		return k;
	}
	if (rc == -ECANCELED) {
		*status = 0;
		return NULL;
	}
	const char *why = shmring_errmsg();
	fprintf(stderr, "%s\n", *why ? why : strerror(-rc));
	*status = rc == -ENOENT || rc == -EINVAL || rc == -EPROTO ? SHMRING_EXIT_CONFIG : 1;
	return NULL;
}

/* Attach, or exit as k_try_attach says. */
static inline struct shmring_kernel *k_attach(void)
{
	int status = 1;
	struct shmring_kernel *k = k_try_attach(&status);
	if (!k)
		exit(status);
	return k;
}

/* The ring behind a port; a port the topology lacks is a configuration
 * error (the message names the ports there are). */
static inline struct shmring *k_port(struct shmring_kernel *k, const char *name)
{
	struct shmring *r = shmring_kernel_port(k, name);
	if (!r)
		k_config("%s", shmring_errmsg());
	return r;
}

/* The kernel's io_uring (freed by detach). io_uring disabled or missing is
 * configuration (78); running out of memory or locked memory, 1. */
static inline struct shmring_io *k_io(struct shmring_kernel *k)
{
	struct shmring_io *io;
	int rc = shmring_io_init(k, 64, &io);
	if (rc == -EPERM || rc == -ENOSYS)
		k_config("%s: this kernel needs io_uring (see the sysctl kernel.io_uring_disabled)",
			 shmring_errmsg());
	if (rc < 0) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		exit(1);
	}
	return io;
}

/*
 * Checkpoints (kernel.h, "Exactly once"): a kernel keeps the state it needs
 * to resume in a fixed layout of uint64_t fields. k_restore copies the
 * state its predecessor published into *state: 1, or 0 on the first start
 * (and under a supervisor that gave it no journal). A state of another size
 * was written by another build of this kernel: a configuration error (78),
 * since guessing its fields would corrupt the output.
 */
static inline int k_restore(struct shmring_kernel *k, void *state, size_t len)
{
	ssize_t n = shmring_kernel_restore(k, state, len);
	if (n == 0)
		return 0;
	if (n != (ssize_t)len)
		k_config("kernel '%s': its checkpoint is %s than the %zu bytes of this build's: "
			 "another build of it wrote it; restart the whole topology",
			 shmring_kernel_name(k), n > 0 ? "smaller" : "larger", len); /* -EMSGSIZE */
	return 1;
}

/*
 * Stage *state as the checkpoint: published with the next input release,
 * at once when no input message is held (a source). The states here are a
 * few words, far under SHMRING_CHECKPOINT_MAX, so the one error left is
 * -ENOTSUP: no journal, and the kernel works on, at least once, as before.
 */
static inline void k_checkpoint(struct shmring_kernel *k, const void *state, size_t len)
{
	(void)shmring_kernel_checkpoint(k, state, len);
}

/* "65536", "64K", "64KiB", "1M" ... as bytes, 1 to `max`; anything else is
 * a usage error. */
static inline uint64_t k_size(const char *s, const char *what, uint64_t max)
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
	if (!*s || *s < '0' || *s > '9' || end == s || !mul)
		k_config("%s '%s' is not a size: give bytes, or K/KiB, M/MiB (e.g. 256K)", what, s);
	if (v == 0)
		k_config("%s %s: must be at least 1 byte", what, s);
	if (errno == ERANGE || v > max / mul)
		k_config("%s %s is too large: at most %llu bytes", what, s, (unsigned long long)max);
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
		/* Every message: with a backlog the wait below, which also
		 * notices a stop, is never reached. */
		if (shmring_kernel_should_stop(k))
			return -ECANCELED;
		int r = shmring_peek(in, m, len, 0);
		if (r != -EAGAIN) {
			if (r < 0 && r != -ECANCELED)
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
