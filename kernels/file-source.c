/* SPDX-License-Identifier: MIT */
/*
 * shmring-file-source: stream a file into the output ring "out", one message
 * per chunk (--chunk, default 256 KiB), then finish (end of stream).
 *
 * Zero-copy: each chunk is read by io_uring straight into space reserved in
 * the ring, and committed with the length actually read (short reads are
 * fine: the next read starts where this one stopped). --direct opens the file
 * with O_DIRECT (no page cache); the ring's record payloads are not
 * block-aligned, so direct reads go through one aligned buffer and are
 * copied into the ring.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "util.h"

#define USAGE "usage: shmring-file-source FILE [--chunk SIZE] [--direct]   (a kernel: run it with shmring-supervisor)\n"

int main(int argc, char **argv)
{
	const char *path = NULL;
	uint64_t chunk = 256 * 1024;
	int direct = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			chunk = k_size(argv[++i], "--chunk");
		else if (!strcmp(argv[i], "--direct"))
			direct = 1;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			return fputs(USAGE, stderr), 2;
	}
	if (!path)
		return fputs(USAGE, stderr), 2;
	int fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		fprintf(stderr, "cannot open '%s': %s: fix the path in the topology\n", path, strerror(errno));
		return 1;
	}
	struct shmring_kernel *k = k_attach("file-source");
	struct shmring *out = k_port(k, "out");
	if (chunk > shmring_max_message(out)) {
		fprintf(stderr, "--chunk %llu is larger than the ring's largest message (%zu): "
			"use a smaller chunk or a larger ring\n", (unsigned long long)chunk,
			shmring_max_message(out));
		return 1;
	}
	if (direct)
		chunk = (chunk + 4095) & ~(uint64_t)4095;
	void *bounce = NULL;
	if (direct && posix_memalign(&bounce, 4096, chunk)) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	struct shmring_io *io = k_io(k);
	uint64_t off = 0, msgs = 0;
	int rc = 0;
	for (;;) {
		void *buf;
		int r = shmring_reserve(out, chunk, &buf, -1);
		if (r == -ECANCELED)
			break; /* stop */
		if (r == -EPIPE) {
			fprintf(stderr, "the consumer closed the ring after %llu bytes: stopping early\n",
				(unsigned long long)off);
			rc = 1;
			break;
		}
		if (r < 0) {
			fprintf(stderr, "reserve: %s\n", strerror(-r));
			rc = 1;
			break;
		}
		int n;
		do { /* EINTR / EAGAIN: submit the same read again */
			shmring_io_read(io, fd, direct ? bounce : buf, chunk, (int64_t)off, 1);
			n = k_io_result(io, 1);
		} while (n == -EINTR || n == -EAGAIN);
		if (n == -ECANCELED)
			break;
		if (n < 0) {
			fprintf(stderr, "read '%s' at %llu: %s\n", path, (unsigned long long)off, strerror(-n));
			rc = 1;
			break;
		}
		if (n == 0)
			break; /* end of file: the reservation is simply not committed */
		if (direct)
			memcpy(buf, bounce, (size_t)n);
		shmring_commit(out, (size_t)n);
		off += (uint64_t)n;
		msgs++;
	}
	printf("read %llu bytes in %llu messages from %s\n", (unsigned long long)off,
	       (unsigned long long)msgs, path);
	free(bounce);
	close(fd);
	if (rc)
		return rc; /* failed: not finished, the supervisor decides */
	return shmring_kernel_detach(k);
}
