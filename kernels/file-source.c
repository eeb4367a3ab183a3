/* SPDX-License-Identifier: MIT */
/*
 * shmring-file-source: stream a file into the output ring "out", one message
 * per chunk (--chunk, default 256 KiB), then finish (end of stream).
 *
 * Zero-copy: each chunk is read by io_uring straight into space reserved in
 * the ring. A short read is continued into the same chunk, so every message
 * but the last is exactly --chunk bytes: the messages depend on the file and
 * --chunk alone. --direct opens the file with O_DIRECT (no page cache); the
 * ring's record payloads are not block-aligned, so direct reads go through
 * one aligned buffer and are copied into the ring.
 *
 * Restarts (kernel.h, "Exactly once"): after each message it checkpoints
 * the offset to read next and the message count; a restarted source says
 * "resumed at byte N" and reads on from there. A message its predecessor
 * committed but had not checkpointed yet is read and sent again, identical
 * (the messages depend on the file alone), and the library drops it as a
 * re-send: the output holds the file once, whatever the kills.
 *
 * Exit status (util.h): 78 for a usage or configuration error (no FILE, a
 * file that cannot be opened, --chunk 0 or larger than the ring's largest
 * message, no port "out"), 1 for a failure a restart may cure (a read
 * error, the consumer closed the ring), 0 when finished or stopped.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define USAGE "shmring-file-source FILE [--chunk SIZE] [--direct]   (a kernel: run it with shmring-supervisor)"

/* What a restart resumes from (k_restore). */
struct source_state {
	uint64_t off;  /* the next byte to read */
	uint64_t msgs; /* messages sent before it */
};
static_assert(sizeof(struct source_state) == 16, "a fixed layout, no padding");

/*
 * Read len bytes at off into buf, fewer only at the end of the file: a short
 * read is continued, so a restarted source cuts the file into the same
 * messages as its predecessor. The bytes read, or -errno (-ECANCELED on a
 * stop). Under O_DIRECT a read that stops inside a block can only be the
 * file's end (and the next one would be misaligned).
 */
static int read_chunk(struct shmring_io *io, int fd, char *buf, size_t len, uint64_t off, int direct)
{
	size_t done = 0;
	while (done < len) {
		shmring_io_read(io, fd, buf + done, len - done, (int64_t)(off + done), 1);
		int n = k_io_result(io, 1);
		if (n == -EINTR || n == -EAGAIN)
			continue; /* submit the rest again */
		if (n < 0)
			return n;
		if (n == 0)
			break; /* end of file */
		done += (size_t)n;
		if (direct && done % 4096)
			break;
	}
	return (int)done; /* len <= 1 GiB (--chunk) */
}

/*
 * Send the file from the checkpointed offset on, one chunk a message, each
 * followed by its checkpoint. 0 at the end of the file or on a stop, 1
 * after one line on a failure.
 */
static int stream(struct shmring_kernel *k, struct shmring *out, int fd, const char *path,
		  uint64_t chunk, void *bounce)
{
	struct shmring_io *io = k_io(k);
	int direct = bounce != NULL;
	struct source_state st = { 0, 0 };
	if (k_restore(k, &st, sizeof(st)))
		printf("resumed at byte %llu (message %llu) of %s\n", (unsigned long long)st.off,
		       (unsigned long long)st.msgs, path);
	int rc = 0;
	/* The stop flag is checked every chunk: reserve notices a stop only
	 * when it has to wait, and a fast consumer never makes it wait. */
	while (!shmring_kernel_should_stop(k)) {
		void *buf;
		int r = shmring_reserve(out, chunk, &buf, -1);
		if (r == -EOWNERDEAD)
			continue; /* the consumer died: its successor takes the ring over */
		if (r == -ECANCELED)
			break; /* stop */
		if (r == -EPIPE) {
			fprintf(stderr, "the consumer closed the ring after %llu bytes: stopping early\n",
				(unsigned long long)st.off);
			rc = 1;
			break;
		}
		if (r < 0) {
			fprintf(stderr, "reserve: %s\n", strerror(-r));
			rc = 1;
			break;
		}
		int n = read_chunk(io, fd, direct ? bounce : buf, chunk, st.off, direct);
		if (n == -ECANCELED)
			break;
		if (n < 0) {
			fprintf(stderr, "read '%s' at %llu: %s\n", path, (unsigned long long)st.off,
				strerror(-n));
			rc = 1;
			break;
		}
		if (n == 0)
			break; /* end of file: the reservation is simply not committed */
		if (direct)
			memcpy(buf, bounce, (size_t)n);
		shmring_commit(out, (size_t)n);
		st.off += (uint64_t)n;
		st.msgs++;
		k_checkpoint(k, &st, sizeof(st)); /* after the send: where to go on */
	}
	printf("read %llu bytes in %llu messages from %s\n", (unsigned long long)st.off,
	       (unsigned long long)st.msgs, path);
	return rc;
}

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
	int rc = stream(k, out, fd, path, chunk, bounce);
	free(bounce);
	close(fd);
	if (rc)
		return rc; /* failed: not finished, ports left open (util.h) */
	return shmring_kernel_detach(k);
}
