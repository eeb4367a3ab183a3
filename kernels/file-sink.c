/* SPDX-License-Identifier: MIT */
/*
 * shmring-file-sink: write every message of the input ring "in" to a file,
 * in order, until end of stream; then fsync (--no-sync skips it) and finish.
 *
 * Zero-copy: io_uring writes straight from the ring (the message stays
 * peeked until its write completed, then it is released). Short writes
 * continue where they stopped. --direct writes through O_DIRECT, via one
 * aligned buffer.
 *
 * Restarts (kernel.h, "Exactly once"): the writes are idempotent. Each
 * message is written at an explicit offset, the one the checkpoint keeps;
 * the checkpoint {offset after it} is staged before its release and
 * published with it. A restarted sink says "resumed at byte N", reopens
 * the file without truncating it and goes on at N: a message its
 * predecessor wrote but had not released comes again and is written again
 * at the same offset. The first start truncates the file; the finish
 * truncates it to the final offset, so nothing of a longer earlier file
 * stays past the end.
 *
 * Exit status (util.h): 78 for a usage or configuration error (no FILE, a
 * path that cannot be written, no port "in"), 1 for a failure a restart may
 * cure (a write error), 0 when finished or stopped.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Not /dev/null, a FIFO: a file that can be truncated and synced. */
static int is_regular(int fd)
{
	struct stat fst;
	return fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode);
}

#define USAGE "shmring-file-sink FILE [--direct] [--no-sync]   (a kernel: run it with shmring-supervisor)"

/* What a restart resumes from (k_restore). */
struct sink_state {
	uint64_t off;  /* where the next message goes: the bytes written before it */
	uint64_t msgs;
};
static_assert(sizeof(struct sink_state) == 16, "a fixed layout, no padding");

/* drain's outcomes besides 0 (stopped) and 1 (failed). */
#define FINISHED 2

/*
 * Where to write: the checkpoint's offset after a restart; else what the
 * input released so far (a predecessor's, when the supervisor keeps no
 * journal), and a first start (nothing released) truncates the file. 0, or
 * -1 after one line.
 */
static int start(struct shmring_kernel *k, struct shmring *in, int fd, const char *path,
		 struct sink_state *st)
{
	if (k_restore(k, st, sizeof(*st))) {
		printf("resumed at byte %llu (message %llu) of %s\n", (unsigned long long)st->off,
		       (unsigned long long)st->msgs, path);
		return 0;
	}
	struct shmring_stats rs;
	shmring_stats(in, &rs);
	*st = (struct sink_state){ rs.bytes_out, rs.msgs_out };
	if (st->off == 0 && is_regular(fd) && ftruncate(fd, 0) < 0) {
		fprintf(stderr, "cannot truncate '%s': %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Write len bytes of p at off, continuing short writes: 0, -ECANCELED on a
 * stop, or -1 after one line. */
static int write_at(struct shmring_io *io, int fd, const char *path, const char *p, size_t len,
		    uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		shmring_io_write(io, fd, p + done, len - done, (int64_t)(off + done), 2);
		int n = k_io_result(io, 2);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n == -ECANCELED)
			return n;
		if (n <= 0) {
			fprintf(stderr, "write '%s' at %llu: %s\n", path, (unsigned long long)(off + done),
				n ? strerror(-n) : "wrote nothing");
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/*
 * Write every message at st->off: peek, write, stage the checkpoint of the
 * offset after it, release (the checkpoint is published with the release).
 * FINISHED at end of stream, 0 on a stop, 1 on a failure (after one line).
 * --direct (bounce) writes whole blocks through the aligned buffer; finish
 * trims the last one.
 */
static int drain(struct shmring_kernel *k, struct shmring *in, int fd, const char *path,
		 void *bounce, struct sink_state *st)
{
	struct shmring_io *io = k_io(k);
	for (;;) {
		const void *m;
		size_t len;
		int r = k_next(k, in, &m, &len);
		if (r == -ECANCELED)
			return 0; /* stop */
		if (r == 0)
			return FINISHED;
		if (r < 0)
			return 1;
		const char *p = m;
		size_t wlen = len;
		if (bounce) {
			memcpy(bounce, m, len);
			p = bounce;
			wlen = (len + 4095) & ~(size_t)4095;
		}
		r = write_at(io, fd, path, p, wlen, st->off);
		if (r == -ECANCELED)
			return 0;
		if (r < 0)
			return 1;
		st->off += len;
		st->msgs++;
		k_checkpoint(k, st, sizeof(*st));
		shmring_release(in);
	}
}

/*
 * The stream ended: cut the file at its end (bytes past it are a longer
 * earlier file's, or --direct's padding) and fsync unless --no-sync. 0, or 1
 * after one line.
 */
static int finish(int fd, const char *path, const struct sink_state *st, int sync)
{
	if (!is_regular(fd))
		return 0; /* /dev/null, a FIFO: nothing to cut or sync */
	if (ftruncate(fd, (off_t)st->off) == 0 && (!sync || fsync(fd) == 0))
		return 0;
	fprintf(stderr, "finishing '%s': %s\n", path, strerror(errno));
	return 1;
}

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
	 * before the topology starts; never truncated here (no O_TRUNC): a
	 * restarted sink continues the same file, and only a first start makes
	 * it afresh (start). A file created here is removed again if attaching
	 * fails. */
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
	struct sink_state st;
	if (start(k, in, fd, path, &st) < 0) {
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
	int rc = drain(k, in, fd, path, bounce, &st);
	if (rc == FINISHED)
		rc = finish(fd, path, &st, sync);
	close(fd);
	free(bounce);
	printf("wrote %llu bytes in %llu messages to %s\n", (unsigned long long)st.off,
	       (unsigned long long)st.msgs, path);
	if (rc)
		return rc; /* failed: not finished, ports left open (util.h) */
	return shmring_kernel_detach(k);
}
