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
 *
 * Exit status (util.h): 78 for a usage or configuration error (no FILE, a
 * file that cannot be opened, --chunk 0 or larger than the ring's largest
 * message, no port "out"), 1 for a failure a restart may cure (a read
 * error, the consumer closed the ring), 0 when finished or stopped.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define USAGE "shmring-file-source FILE [--chunk SIZE] [--direct]   (a kernel: run it with shmring-supervisor)"

int main(int argc, char **argv)
{
	const char *path = NULL;
	uint64_t chunk = 256 * 1024;
	int direct = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			chunk = k_size(argv[++i], "--chunk", 1u << 30); /* one read: under 2 GiB */
		else if (!strcmp(argv[i], "--direct"))
			direct = 1;
		else if (!strcmp(argv[i], "--help"))
			k_help(USAGE);
		else if (argv[i][0] == '-')
			k_usage(USAGE, "%s '%s'", strcmp(argv[i], "--chunk") ? "unknown option" : "no SIZE after",
				argv[i]);
		else if (path)
			k_usage(USAGE, "one FILE only, not '%s' and '%s'", path, argv[i]);
		else
			path = argv[i];
	}
	if (!path)
		k_usage(USAGE, "no FILE to read");
	/* Everything that does not need the topology is checked before attaching:
	 * a kernel that cannot start says so before the others start. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0 && direct && errno == EINVAL)
		k_config("cannot open '%s' with --direct: its file system has no O_DIRECT (tmpfs?): "
			 "drop --direct", path);
	if (fd < 0)
		k_config("cannot open '%s': %s: fix the path in the topology", path, strerror(errno));
	struct stat fst;
	if (fstat(fd, &fst) == 0 && S_ISDIR(fst.st_mode)) {
		close(fd);
		k_config("'%s' is a directory: name a file", path);
	}
	uint64_t rchunk = direct ? (chunk + 4095) & ~(uint64_t)4095 : chunk; /* whole blocks */
	int status = 1;
	struct shmring_kernel *k = k_try_attach(&status);
	if (!k) {
		close(fd);
		return status;
	}
	struct shmring *out = k_port(k, "out");
	if (rchunk > shmring_max_message(out)) {
		close(fd);
		k_config("--chunk %llu%s is larger than the ring's largest message (%zu): "
			 "use a smaller chunk or a larger ring", (unsigned long long)rchunk,
			 direct ? " (whole 4 KiB blocks for --direct)" : "", shmring_max_message(out));
	}
	chunk = rchunk;
	void *bounce = NULL;
	if (direct && posix_memalign(&bounce, 4096, chunk)) {
		fprintf(stderr, "out of memory for a %llu-byte --direct buffer\n", (unsigned long long)chunk);
		close(fd);
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
		return rc; /* failed: not finished, ports left open (util.h) */
	return shmring_kernel_detach(k);
}
