/* SPDX-License-Identifier: MIT */
/*
 * shmring-checksum: pass every message from "in" to "out" unchanged and
 * print, at end of stream, the bytes and messages seen and their checksum
 * (64-bit FNV-1a over the byte stream, the same as `shmring-checksum --file
 * FILE` computes for a file, so a copy can be checked end to end).
 *
 * Restarts (kernel.h, "Exactly once"): the sum so far, with the bytes and
 * messages it covers, is the checkpoint, staged after a message is sent on
 * and folded in and published with its release. A restarted checksum says
 * "resumed after N bytes", gets the messages its predecessor had not
 * released, and what it sends again for them is dropped as a re-send: the
 * output is the input once, and the final line the sum of the whole stream.
 *
 * Exit status (util.h): 78 for a usage or configuration error (bad
 * arguments, a missing port, a message larger than the output ring's
 * largest, a --file that cannot be opened), 1 for a failure a restart may
 * cure, 0 when finished or stopped.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <fcntl.h>
#include <unistd.h>

#include "util.h"

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* What a restart resumes from (k_restore). */
struct sum_state {
	uint64_t h;     /* FNV-1a of the bytes so far */
	uint64_t bytes;
	uint64_t msgs;
};
static_assert(sizeof(struct sum_state) == 24, "a fixed layout, no padding");

/* Copy a message to out: 0, -ECANCELED on a stop, or -1 after one line. */
static int pass_on(struct shmring *out, const void *m, size_t len)
{
	void *w;
	int r;
	/* A consumer that died is restarted by the supervisor: its successor
	 * takes the ring over, and the wait goes on (a stop ends it). */
	while ((r = shmring_reserve(out, len, &w, -1)) == -EOWNERDEAD)
		;
	if (r == -ECANCELED)
		return r;
	if (r == -EMSGSIZE)
		k_config("a %zu-byte message does not fit the output ring (largest %zu): give the "
			 "ring from \"out\" at least the capacity of the ring into \"in\"", len,
			 shmring_max_message(out));
	if (r < 0)
		return fprintf(stderr, "reserve %zu: %s\n", len, strerror(-r)), -1;
	memcpy(w, m, len);
	shmring_commit(out, len);
	return 0;
}

#define USAGE "shmring-checksum   (a kernel: run it with shmring-supervisor), or: shmring-checksum --file FILE"

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--help"))
		k_help(USAGE);
	if (argc == 3 && !strcmp(argv[1], "--file")) { /* the same sum, of a file */
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			k_config("cannot open '%s': %s", argv[2], strerror(errno));
		static unsigned char b[1 << 16];
		uint64_t h = FNV_INIT, n = 0;
		ssize_t r;
		while ((r = read(fd, b, sizeof(b))) > 0)
			h = fnv(h, b, (size_t)r), n += (uint64_t)r;
		if (r < 0)
			fprintf(stderr, "read '%s' at %llu: %s\n", argv[2], (unsigned long long)n,
				strerror(errno));
		close(fd);
		if (r < 0)
			return 1;
		printf("fnv1a64 %016llx bytes %llu\n", (unsigned long long)h, (unsigned long long)n);
		return 0;
	}
	if (argc != 1)
		k_usage(USAGE, "unexpected argument '%s'", argv[1]);
	struct shmring_kernel *k = k_attach();
	struct shmring *in = k_port(k, "in"), *out = k_port(k, "out");
	struct sum_state st = { FNV_INIT, 0, 0 };
	if (k_restore(k, &st, sizeof(st)))
		printf("resumed after %llu bytes in %llu messages\n", (unsigned long long)st.bytes,
		       (unsigned long long)st.msgs);
	for (;;) {
		const void *m;
		size_t len;
		int r = k_next(k, in, &m, &len);
		if (r == -ECANCELED)
			return shmring_kernel_detach(k); /* stop */
		if (r == 0)
			break;
		if (r < 0)
			return 1; /* failed: ports left open (util.h) */
		r = pass_on(out, m, len);
		if (r == -ECANCELED)
			return shmring_kernel_detach(k);
		if (r < 0)
			return 1;
		st.h = fnv(st.h, m, len);
		st.bytes += len;
		st.msgs++;
		/* Covers this message: published with its release, both or neither. */
		k_checkpoint(k, &st, sizeof(st));
		shmring_release(in);
	}
	printf("fnv1a64 %016llx bytes %llu messages %llu\n", (unsigned long long)st.h,
	       (unsigned long long)st.bytes, (unsigned long long)st.msgs);
	return shmring_kernel_detach(k);
}
