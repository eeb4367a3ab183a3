/* SPDX-License-Identifier: MIT */
/*
 * shmring-file-sink: write every message of the input ring "in" to a file,
 * in order, until end of stream; then fsync (--no-sync skips it) and finish.
 *
 * Zero-copy: io_uring writes straight from the ring (a message stays in
 * the ring until its write completed, then it is released), up to 8 writes
 * in flight on a regular file (one on a FIFO or a device). Short writes
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

/*
 * Cut a regular file at len, unless it has that size already: a truncation
 * to 0 makes ext4 (auto_da_alloc) start writing the whole file back at
 * close, inside this kernel, which a plain copy never pays. 0, or -1 with
 * errno.
 */
static int cut(int fd, uint64_t len)
{
	struct stat fst;
	if (fstat(fd, &fst) < 0)
		return -1;
	return (uint64_t)fst.st_size == len ? 0 : ftruncate(fd, (off_t)len);
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
	if (st->off == 0 && is_regular(fd) && cut(fd, 0) < 0) {
		fprintf(stderr, "cannot truncate '%s': %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Several writes in flight (io_uring runs a file's buffered writes one
 * after another on its worker, so a queue keeps it busy while this kernel
 * reaps, releases and peeks): the messages of a read-ahead window
 * (shmring_peek_ahead), each written at its own offset. They complete in
 * any order; the completed prefix is released at once (release_to), its
 * checkpoint staged before, so a restart rewrites at most the window.
 */
#define WINDOW 8

struct slot {
	const char *p;   /* the message (or --direct's bounce buffer) */
	size_t len;      /* its bytes in the file */
	size_t wlen;     /* bytes to write: len, or whole blocks for --direct */
	size_t done;     /* written so far */
	uint64_t off;    /* where it goes */
	uint64_t cursor; /* the ring position after it: release_to */
};

struct window {
	struct slot s[WINDOW];
	unsigned head, n; /* the oldest message, and how many are held */
	unsigned max;     /* the most held at once (reported) */
	unsigned limit;   /* WINDOW, or 1 (a FIFO, a device, --direct) */
	uint64_t cursor;  /* peek_ahead's */
	uint64_t next;    /* the offset of the next message peeked */
};

/* Queue the rest of slot i's write (its tag is i). */
static void submit(struct shmring_io *io, int fd, const struct slot *sl, unsigned i)
{
	shmring_io_write(io, fd, sl->p + sl->done, sl->wlen - sl->done, (int64_t)(sl->off + sl->done), i);
}

/*
 * Peek messages into the window while it has room, queueing their writes:
 * 1 when the stream ended, 0 otherwise (none ready, or the window full),
 * -ECANCELED on a stop, or -1 after one line.
 */
static int fill(struct shmring_io *io, struct shmring *in, int fd, void *bounce, struct window *w)
{
	while (w->n < w->limit) {
		const void *m;
		size_t len;
		int r = shmring_peek_ahead(in, &w->cursor, NULL, &m, &len, 0);
		if (r == -EAGAIN)
			return 0;
		if (r <= 0) {
			if (r < 0 && r != -ECANCELED)
				fprintf(stderr, "peek: %s\n", strerror(-r));
			return r == 0 ? 1 : r == -ECANCELED ? r : -1;
		}
		unsigned i = (w->head + w->n) % WINDOW;
		struct slot *sl = &w->s[i];
		*sl = (struct slot){ m, len, len, 0, w->next, w->cursor };
		if (bounce) { /* limit 1: the buffer is free */
			memcpy(bounce, m, len);
			sl->p = bounce;
			sl->wlen = (len + 4095) & ~(size_t)4095;
		}
		submit(io, fd, sl, i);
		w->next += len;
		if (++w->n > w->max)
			w->max = w->n;
	}
	return 0;
}

/* Take the finished writes, queueing again what a short write left: 0,
 * or -1 after one line. */
static int reap(struct shmring_io *io, int fd, const char *path, struct window *w)
{
	struct shmring_io_done d;
	while (shmring_io_complete(io, &d) > 0) {
		struct slot *sl = &w->s[d.tag % WINDOW];
		if (d.res <= 0 && d.res != -EINTR && d.res != -EAGAIN) {
			fprintf(stderr, "write '%s' at %llu: %s\n", path,
				(unsigned long long)(sl->off + sl->done),
				d.res ? strerror(-d.res) : "wrote nothing");
			return -1;
		}
		if (d.res > 0)
			sl->done += (size_t)d.res;
		if (sl->done < sl->wlen)
			submit(io, fd, sl, (unsigned)d.tag);
	}
	return 0;
}

/* Release the written prefix of the window, its checkpoint staged first. */
static void release(struct shmring_kernel *k, struct shmring *in, struct window *w,
		    struct sink_state *st)
{
	uint64_t to = 0;
	while (w->n && w->s[w->head].done == w->s[w->head].wlen) {
		st->off += w->s[w->head].len;
		st->msgs++;
		to = w->s[w->head].cursor;
		w->head = (w->head + 1) % WINDOW;
		w->n--;
	}
	if (!to)
		return;
	k_checkpoint(k, st, sizeof(*st));
	shmring_release_to(in, to);
}

/*
 * Write every message at its offset, up to WINDOW at once, until the end of
 * the stream and the last write. FINISHED at end of stream, 0 on a stop, 1
 * on a failure (after one line). --direct (bounce) writes whole blocks
 * through the aligned buffer; finish trims the last one.
 */
static int drain(struct shmring_kernel *k, struct shmring *in, int fd, const char *path,
		 void *bounce, struct sink_state *st, unsigned *max_inflight)
{
	struct shmring_io *io = k_io(k);
	/* One write at a time where order is not in the offsets: a FIFO, a
	 * device (a blocked write would let the next one pass it), --direct. */
	struct window w = { .limit = bounce || !is_regular(fd) ? 1 : WINDOW, .next = st->off };
	w.cursor = shmring_position(in);
	int ended = 0, rc;
	for (;;) {
		if (shmring_kernel_should_stop(k))
			return 0;
		if (!ended && (rc = fill(io, in, fd, bounce, &w)) != 0) {
			if (rc < 0)
				return rc == -ECANCELED ? 0 : 1;
			ended = 1;
		}
		*max_inflight = w.max;
		if (!w.n && ended)
			return FINISHED;
		/* Nothing held: sleep on the ring. Writes in flight: on them
		 * (the ring's wait would return at once for what is held). */
		rc = w.n ? shmring_io_wait(io, -1) : shmring_kernel_wait(k, -1);
		if (rc == 0)
			return 0; /* stop */
		if (reap(io, fd, path, &w) < 0)
			return 1;
		release(k, in, &w, st);
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
	if (cut(fd, st->off) == 0 && (!sync || fsync(fd) == 0))
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
	unsigned inflight = 0;
	int rc = drain(k, in, fd, path, bounce, &st, &inflight);
	if (rc == FINISHED)
		rc = finish(fd, path, &st, sync);
	close(fd);
	free(bounce);
	printf("wrote %llu bytes in %llu messages to %s (at most %u writes in flight)\n",
	       (unsigned long long)st.off, (unsigned long long)st.msgs, path, inflight);
	if (rc)
		return rc; /* failed: not finished, ports left open (util.h) */
	return shmring_kernel_detach(k);
}
