/* SPDX-License-Identifier: MIT */
/*
 * shmring-checksum: pass every message from "in" to "out" unchanged and
 * print, at end of stream, the bytes and messages seen and their checksum
 * (64-bit FNV-1a over the byte stream, the same as `shmring-checksum --file
 * FILE` computes for a file, so a copy can be checked end to end).
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

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--file")) { /* the same sum, of a file */
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fprintf(stderr, "%s: %s\n", argv[2], strerror(errno)), 1;
		static unsigned char b[1 << 16];
		uint64_t h = FNV_INIT, n = 0;
		ssize_t r;
		while ((r = read(fd, b, sizeof(b))) > 0)
			h = fnv(h, b, (size_t)r), n += (uint64_t)r;
		close(fd);
		printf("fnv1a64 %016llx bytes %llu\n", (unsigned long long)h, (unsigned long long)n);
		return r < 0;
	}
	if (argc != 1)
		return fputs("usage: shmring-checksum   (a kernel)\n       shmring-checksum --file FILE\n",
			     stderr), 2;
	struct shmring_kernel *k = k_attach("checksum");
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
			return 1;
		void *w;
		r = shmring_reserve(out, len, &w, -1);
		if (r == -ECANCELED)
			return shmring_kernel_detach(k);
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
