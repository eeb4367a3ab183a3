/* SPDX-License-Identifier: MIT */
/*
 * shmring-file-sink: write every message of the input ring "in" to a file,
 * in order, until end of stream; then fsync (--no-sync skips it) and finish.
 *
 * Zero-copy: io_uring writes straight from the ring (the message stays
 * peeked until its write completed, then it is released; a crash in between
 * redelivers it and the write at the same offset is repeated, so the file
 * comes out the same). Short writes continue where they stopped. --direct
 * writes through O_DIRECT, via one aligned buffer.
 *
 * Exit status (util.h): 78 for a usage or configuration error (no FILE, a
 * path that cannot be written, no port "in"), 1 for a failure a restart may
 * cure (a write error), 0 when finished or stopped.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define USAGE "shmring-file-sink FILE [--direct] [--no-sync]   (a kernel: run it with shmring-supervisor)"

int main(int argc, char **argv)
{
	const char *path = NULL;
	int direct = 0, sync = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--direct"))
			direct = 1;
		else if (!strcmp(argv[i], "--no-sync"))
			sync = 0;
		else if (!strcmp(argv[i], "--help"))
			k_help(USAGE);
		else if (argv[i][0] == '-')
			k_usage(USAGE, "unknown option '%s'", argv[i]);
		else if (path)
			k_usage(USAGE, "one FILE only, not '%s' and '%s'", path, argv[i]);
		else
			path = argv[i];
	}
	if (!path)
		k_usage(USAGE, "no FILE to write");
	/* Opened before attaching, so a path that cannot be written is reported
	 * before the topology starts; never truncated here: a restarted sink
	 * continues the same file, and whether to start it afresh depends on
	 * what the ring delivered so far (below). A file created here is removed
	 * again if attaching fails. */
	int oflags = O_WRONLY | O_CLOEXEC | (direct ? O_DIRECT : 0), created = 0;
	int fd = open(path, oflags);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, oflags | O_CREAT | O_EXCL, 0644);
		if (fd >= 0)
			created = 1;
		else if (errno == EEXIST) /* created meanwhile */
			fd = open(path, oflags);
	}
	if (fd < 0 && direct && errno == EINVAL)
		k_config("cannot open '%s' with --direct: its file system has no O_DIRECT (tmpfs?): "
			 "drop --direct", path);
	if (fd < 0)
		k_config("cannot open '%s' for writing: %s: fix the path in the topology", path,
			 strerror(errno));
	int status = 1;
	struct shmring_kernel *k = k_try_attach(&status);
	if (!k) {
		close(fd);
		if (created)
			unlink(path);
		return status;
	}
	struct shmring *in = shmring_kernel_port(k, "in");
	if (!in) {
		close(fd);
		if (created)
			unlink(path);
		k_config("%s", shmring_errmsg());
	}
	struct shmring_stats st;
	shmring_stats(in, &st);
	uint64_t off = st.bytes_out, msgs = 0; /* released so far, by us or a predecessor */
	struct stat fst;
	int regular = fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode); /* not /dev/null, a FIFO */
	if (off == 0 && regular && ftruncate(fd, 0) < 0) {
		fprintf(stderr, "cannot truncate '%s': %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	size_t cap = shmring_max_message(in);
	void *bounce = NULL;
	if (direct && posix_memalign(&bounce, 4096, (cap + 4095) & ~(size_t)4095)) {
		fprintf(stderr, "out of memory for a %zu-byte --direct buffer\n", cap);
		close(fd);
		return 1;
	}
	struct shmring_io *io = k_io(k);
	int rc = 0, finished = 0;
	while (!rc) {
		const void *m;
		size_t len;
		int r = k_next(k, in, &m, &len);
		if (r == -ECANCELED)
			break; /* stop */
		if (r == 0) {
			finished = 1;
			break;
		}
		if (r < 0) {
			rc = 1;
			break;
		}
		const char *p = m;
		size_t wlen = len;
		if (direct) { /* whole blocks; the tail is trimmed by ftruncate below */
			memcpy(bounce, m, len);
			p = bounce;
			wlen = (len + 4095) & ~(size_t)4095;
		}
		size_t done = 0;
		while (done < wlen) {
			shmring_io_write(io, fd, p + done, wlen - done, (int64_t)(off + done), 2);
			int n = k_io_result(io, 2);
			if (n == -EINTR || n == -EAGAIN)
				continue;
			if (n == -ECANCELED)
				goto stopped;
			if (n <= 0) {
				fprintf(stderr, "write '%s' at %llu: %s\n", path,
					(unsigned long long)(off + done), n ? strerror(-n) : "wrote nothing");
				rc = 1;
				break;
			}
			done += (size_t)n;
		}
		if (rc)
			break;
		off += len;
		msgs++;
		shmring_release(in);
	}
stopped:
	if (finished && regular &&
	    ((direct && ftruncate(fd, (off_t)off) < 0) || (sync && fsync(fd) < 0))) {
		fprintf(stderr, "finishing '%s': %s\n", path, strerror(errno));
		rc = 1;
	}
	close(fd);
	free(bounce);
	printf("wrote %llu bytes in %llu messages to %s\n", (unsigned long long)off,
	       (unsigned long long)msgs, path);
	if (rc)
		return rc; /* failed: not finished, ports left open (util.h) */
	return shmring_kernel_detach(k);
}
