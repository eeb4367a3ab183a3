/* SPDX-License-Identifier: MIT */
/*
 * shmring-checksum: pass every message from "in" to "out" unchanged and
 * print, at end of stream, the bytes and messages seen and their checksum
 * (64-bit FNV-1a over the byte stream, the same as `shmring-checksum --file
 * FILE` computes for a file, so a copy can be checked end to end).
 *
 * Exit status (util.h): 78 for a usage or configuration error (bad
 * arguments, a missing port, a message larger than the output ring's
 * largest, a --file that cannot be opened), 1 for a failure a restart may
 * cure, 0 when finished or stopped.
 */
#define _GNU_SOURCE
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
	uint64_t h = FNV_INIT, bytes = 0, msgs = 0;
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
		void *w;
		r = shmring_reserve(out, len, &w, -1);
		if (r == -ECANCELED)
			return shmring_kernel_detach(k);
		if (r == -EMSGSIZE)
			k_config("a %zu-byte message does not fit the output ring (largest %zu): give the "
				 "ring from \"out\" at least the capacity of the ring into \"in\"", len,
				 shmring_max_message(out));
		if (r < 0)
			return fprintf(stderr, "reserve %zu: %s\n", len, strerror(-r)), 1;
		memcpy(w, m, len);
		shmring_commit(out, len);
		h = fnv(h, m, len);
		bytes += len;
		msgs++;
		shmring_release(in);
	}
	printf("fnv1a64 %016llx bytes %llu messages %llu\n", (unsigned long long)h,
	       (unsigned long long)bytes, (unsigned long long)msgs);
	return shmring_kernel_detach(k);
}
