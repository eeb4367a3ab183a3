/* SPDX-License-Identifier: MIT */
/*
 * The alternatives a user would pick instead of shmring, each written the
 * plain way its documentation shows, plus the physical floor (a raw cache
 * line bouncing between two cores) and ceiling (single-core memcpy).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"

static void record(struct bctx *c, uint64_t i, uint64_t t0)
{
	uint64_t dt = tu_now_ns() - t0;
	if (i >= c->warmup)
		c->rtt[i - c->warmup] = dt;
}

/* ---- raw cache line: the floor ------------------------------------------ */

static void raw_init(struct bctx *c)
{
	uint64_t n = c->warmup + c->iters;
	for (uint64_t i = 1; i <= n; i++) {
		uint64_t t0 = tu_now_ns();
		__atomic_store_n(&c->word_a, (uint32_t)i, __ATOMIC_RELEASE);
		while (__atomic_load_n(&c->word_b, __ATOMIC_ACQUIRE) != (uint32_t)i)
			__builtin_ia32_pause();
		record(c, i - 1, t0);
	}
}

static void raw_resp(struct bctx *c)
{
	uint64_t n = c->warmup + c->iters;
	for (uint64_t i = 1; i <= n; i++) {
		while (__atomic_load_n(&c->word_a, __ATOMIC_ACQUIRE) != (uint32_t)i)
			__builtin_ia32_pause();
		__atomic_store_n(&c->word_b, (uint32_t)i, __ATOMIC_RELEASE);
	}
}

const struct bcase lat_raw_line = { "raw cache line", NULL, { raw_init, raw_resp }, NULL };

/* ---- futex: both sides sleep; and a paced wake of a sleeping peer -------- */

static void fwait(volatile uint32_t *w, uint32_t v)
{
	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == v)
		syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void fwake(volatile uint32_t *w, uint32_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void futex_init(struct bctx *c)
{
	uint64_t n = c->warmup + c->iters;
	for (uint64_t i = 1; i <= n; i++) {
		bench_pace(c->pace_us);
		uint64_t t0 = tu_now_ns();
		fwake(&c->word_a, (uint32_t)i);
		if (c->pace_us) { /* paced: we spin for the reply, only the peer sleeps */
			while (__atomic_load_n(&c->word_b, __ATOMIC_ACQUIRE) != (uint32_t)i)
				__builtin_ia32_pause();
		} else {
			fwait(&c->word_b, (uint32_t)(i - 1));
		}
		record(c, i - 1, t0);
	}
}

static void futex_resp(struct bctx *c)
{
	uint64_t n = c->warmup + c->iters;
	for (uint64_t i = 1; i <= n; i++) {
		fwait(&c->word_a, (uint32_t)(i - 1));
		fwake(&c->word_b, (uint32_t)i);
	}
}

const struct bcase lat_futex_both = { "futex, both sleep", NULL, { futex_init, futex_resp }, NULL };
const struct bcase lat_futex_paced = { "futex wake of a sleeping peer", NULL,
				       { futex_init, futex_resp }, NULL };

/* ---- eventfd, pipe, unix socket: one fd pair each way --------------------- */

static int full_io(int fd, void *buf, size_t len, int wr)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = wr ? write(fd, (char *)buf + done, len - done)
			       : read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int setup_eventfd(struct bctx *c)
{
	c->fd_a[0] = eventfd(0, 0);
	c->fd_b[0] = eventfd(0, 0);
	return c->fd_a[0] < 0 || c->fd_b[0] < 0 ? -1 : 0;
}

static void efd_init(struct bctx *c)
{
	uint64_t one = 1, v, n = c->warmup + c->iters;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = tu_now_ns();
		if (write(c->fd_a[0], &one, 8) != 8 || read(c->fd_b[0], &v, 8) != 8)
			{ bench_fail(c, "eventfd i/o failed"); return; }
		record(c, i, t0);
	}
}

static void efd_resp(struct bctx *c)
{
	uint64_t one = 1, v, n = c->warmup + c->iters;
	for (uint64_t i = 0; i < n; i++)
		if (read(c->fd_a[0], &v, 8) != 8 || write(c->fd_b[0], &one, 8) != 8)
			return;
}

static void close_fds(struct bctx *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->fd_a[i] > 0)
			close(c->fd_a[i]);
		if (c->fd_b[i] > 0)
			close(c->fd_b[i]);
	}
}

const struct bcase lat_eventfd = { "eventfd", setup_eventfd, { efd_init, efd_resp }, close_fds };

static int setup_pipes(struct bctx *c)
{
	return pipe(c->fd_a) < 0 || pipe(c->fd_b) < 0 ? -1 : 0;
}

static int setup_unix(struct bctx *c)
{
	return socketpair(AF_UNIX, SOCK_STREAM, 0, c->fd_a) < 0 ? -1 : 0;
}

/* Initiator writes on wr_a and reads rd_b; responder the other way round. */
static void fdpp(struct bctx *c, int wr, int rd, int initiator)
{
	char *buf = calloc(1, c->size);
	uint64_t n = c->warmup + c->iters;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = tu_now_ns();
		if (initiator) {
			if (full_io(wr, buf, c->size, 1) || full_io(rd, buf, c->size, 0))
				{ bench_fail(c, "i/o failed"); return; }
			record(c, i, t0);
		} else if (full_io(rd, buf, c->size, 0) || full_io(wr, buf, c->size, 1)) {
			return;
		}
	}
	free(buf);
}

static void pipe_init(struct bctx *c) { fdpp(c, c->fd_a[1], c->fd_b[0], 1); }
static void pipe_resp(struct bctx *c) { fdpp(c, c->fd_b[1], c->fd_a[0], 0); }
static void unix_init(struct bctx *c) { fdpp(c, c->fd_a[0], c->fd_a[0], 1); }
static void unix_resp(struct bctx *c) { fdpp(c, c->fd_a[1], c->fd_a[1], 0); }

const struct bcase lat_pipe = { "pipe", setup_pipes, { pipe_init, pipe_resp }, close_fds };
const struct bcase lat_unix = { "unix socket", setup_unix, { unix_init, unix_resp }, close_fds };

/* ---- ZeroMQ ipc:// (PAIR), context made after fork ------------------------ */

static int setup_zmq(struct bctx *c)
{
	static int seq;
	snprintf(c->endpoint, sizeof(c->endpoint), "ipc:///tmp/shmring-bench-%d-%d.ipc",
		 (int)getpid(), seq++);
	return 0;
}

static void *zsock(struct bctx *c, void **ctx, int type, int bind)
{
	*ctx = zmq_ctx_new();
	void *s = zmq_socket(*ctx, type);
	int hwm = 100000;
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if ((bind ? zmq_bind(s, c->endpoint) : zmq_connect(s, c->endpoint)) != 0) {
		bench_fail(c, "zmq %s %s: %s", bind ? "bind" : "connect", c->endpoint,
			   zmq_strerror(zmq_errno()));
		return NULL;
	}
	return s;
}

static void zmq_lat(struct bctx *c, int initiator)
{
	void *ctx, *s = zsock(c, &ctx, ZMQ_PAIR, !initiator);
	char *buf = calloc(1, c->size);
	uint64_t n = c->warmup + c->iters;
	for (uint64_t i = 0; s && i < n; i++) {
		uint64_t t0 = tu_now_ns();
		if (initiator) {
			if (zmq_send(s, buf, c->size, 0) < 0 || zmq_recv(s, buf, c->size, 0) < 0)
				{ bench_fail(c, "zmq i/o: %s", zmq_strerror(zmq_errno())); return; }
			record(c, i, t0);
		} else if (zmq_recv(s, buf, c->size, 0) < 0 || zmq_send(s, buf, c->size, 0) < 0) {
			break;
		}
	}
	if (s)
		zmq_close(s);
	zmq_ctx_term(ctx);
	free(buf);
}

static void zmq_lat_init(struct bctx *c) { zmq_lat(c, 1); }
static void zmq_lat_resp(struct bctx *c) { zmq_lat(c, 0); }

static void unlink_zmq(struct bctx *c)
{
	unlink(c->endpoint + strlen("ipc://"));
}

const struct bcase lat_zmq = { "ZeroMQ ipc://", setup_zmq, { zmq_lat_init, zmq_lat_resp }, unlink_zmq };

/* ---- throughput peers: side 1 (receiver) times, from first byte to last -- */

static void unix_tx(struct bctx *c)
{
	char *buf = calloc(1, c->size);
	for (uint64_t i = 0; i < c->warmup + c->iters; i++)
		if (full_io(c->fd_a[0], buf, c->size, 1))
			break;
	free(buf);
}

static void unix_rx(struct bctx *c)
{
	char *buf = calloc(1, c->size);
	uint64_t t0 = 0;
	for (uint64_t i = 0; i < c->warmup + c->iters; i++) {
		if (i == c->warmup)
			t0 = tu_now_ns();
		if (full_io(c->fd_a[1], buf, c->size, 0))
			{ bench_fail(c, "unix socket read failed"); return; }
	}
	c->elapsed_ns = tu_now_ns() - t0;
	free(buf);
}

const struct bcase tput_unix = { "unix socket", setup_unix, { unix_tx, unix_rx }, close_fds };

static void zmq_tx(struct bctx *c)
{
	void *ctx, *s = zsock(c, &ctx, ZMQ_PUSH, 0);
	char *buf = calloc(1, c->size);
	for (uint64_t i = 0; s && i < c->warmup + c->iters; i++)
		if (zmq_send(s, buf, c->size, 0) < 0)
			break;
	if (s) {
		int linger = -1;
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s);
	}
	zmq_ctx_term(ctx);
	free(buf);
}

static void zmq_rx(struct bctx *c)
{
	void *ctx, *s = zsock(c, &ctx, ZMQ_PULL, 1);
	char *buf = calloc(1, c->size);
	uint64_t t0 = 0;
	for (uint64_t i = 0; s && i < c->warmup + c->iters; i++) {
		if (i == c->warmup)
			t0 = tu_now_ns();
		if (zmq_recv(s, buf, c->size, 0) < 0)
			{ bench_fail(c, "zmq recv: %s", zmq_strerror(zmq_errno())); return; }
	}
	c->elapsed_ns = tu_now_ns() - t0;
	if (s)
		zmq_close(s);
	zmq_ctx_term(ctx);
	free(buf);
}

const struct bcase tput_zmq = { "ZeroMQ ipc://", setup_zmq, { zmq_tx, zmq_rx }, unlink_zmq };

/*
 * ZeroMQ at its best, still lossless: the throughput settings libzmq
 * documents (zmq_setsockopt(3)), on both ends: no high-water mark (0: the
 * PUSH never blocks on a count, PULL queues what arrives), socket buffers
 * as large as the kernel allows (net.core.wmem_max / rmem_max cap them),
 * and the batch sizes of its encoder and decoder raised where the library
 * takes them (ZMQ_IN/OUT_BATCH_SIZE are draft options: a stable build,
 * like Debian's, answers EINVAL and keeps its 8 KiB). Messages are built
 * and read in place (zmq_msg_init_size + zmq_msg_send, zmq_msg_recv), so
 * the application makes no copy of its own, like shmring's zero-copy rows:
 * the sender writes every byte, the receiver reads every cache line. The
 * receiver checks every message: its size and its sequence number (first
 * 8 bytes); a lost, short or reordered message fails the case.
 */
#ifndef ZMQ_IN_BATCH_SIZE
#define ZMQ_IN_BATCH_SIZE 101
#define ZMQ_OUT_BATCH_SIZE 102
#endif

static void *zsock_tuned(struct bctx *c, void **ctx, int type, int bind)
{
	*ctx = zmq_ctx_new();
	void *s = zmq_socket(*ctx, type);
	int hwm = 0, buf = 4 << 20, batch = 256 << 10;
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_SNDBUF, &buf, sizeof(buf));
	zmq_setsockopt(s, ZMQ_RCVBUF, &buf, sizeof(buf));
	/* EINVAL on a build without draft options: its default stays. */
	(void)zmq_setsockopt(s, ZMQ_IN_BATCH_SIZE, &batch, sizeof(batch));
	(void)zmq_setsockopt(s, ZMQ_OUT_BATCH_SIZE, &batch, sizeof(batch));
	if ((bind ? zmq_bind(s, c->endpoint) : zmq_connect(s, c->endpoint)) != 0) {
		bench_fail(c, "zmq %s %s: %s", bind ? "bind" : "connect", c->endpoint,
			   zmq_strerror(zmq_errno()));
		return NULL;
	}
	return s;
}

static void zmq_tuned_tx(struct bctx *c)
{
	void *ctx, *s = zsock_tuned(c, &ctx, ZMQ_PUSH, 0);
	for (uint64_t i = 0; s && i < c->warmup + c->iters && !c->failed; i++) {
		zmq_msg_t m;
		zmq_msg_init_size(&m, c->size);
		bench_fill(c, zmq_msg_data(&m), i); /* c->touch: every byte */
		memcpy(zmq_msg_data(&m), &i, sizeof(i)); /* the sequence number */
		if (zmq_msg_send(&m, s, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
	}
	/* libzmq's I/O thread delivers what is queued while we wait for the
	 * receiver's verdict (it has everything, or it failed and left: then
	 * nothing would take the rest, and linger 0 drops it). */
	while (s && !__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&c->failed, __ATOMIC_RELAXED))
		usleep(1000);
	if (s) {
		int linger = c->failed ? 0 : -1;
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s);
	}
	zmq_ctx_term(ctx);
}

static void zmq_tuned_rx(struct bctx *c)
{
	void *ctx, *s = zsock_tuned(c, &ctx, ZMQ_PULL, 1);
	uint64_t t0 = 0, sink = 0, i;
	zmq_msg_t m;
	zmq_msg_init(&m);
	for (i = 0; s && i < c->warmup + c->iters; i++) {
		uint64_t seq;
		if (i == c->warmup)
			t0 = tu_now_ns();
		if (zmq_msg_recv(&m, s, 0) < 0) {
			bench_fail(c, "zmq recv: %s", zmq_strerror(zmq_errno()));
			break;
		}
		memcpy(&seq, zmq_msg_data(&m), sizeof(seq));
		if (zmq_msg_size(&m) != c->size || seq != i) {
			bench_fail(c, "ZeroMQ tuned: message %llu arrived as %llu, %zu bytes (lost, "
				   "reordered or cut)", (unsigned long long)i,
				   (unsigned long long)seq, zmq_msg_size(&m));
			break;
		}
		sink += bench_read(c, zmq_msg_data(&m), c->size); /* every line */
	}
	c->elapsed_ns = tu_now_ns() - t0;
	(void)sink; /* the reads are volatile */
	__atomic_store_n(&c->ready, 1, __ATOMIC_RELEASE); /* pairs with the sender's wait */
	zmq_msg_close(&m);
	if (s)
		zmq_close(s);
	zmq_ctx_term(ctx);
}

const struct bcase tput_zmq_tuned = { "ZeroMQ ipc:// tuned", setup_zmq,
				      { zmq_tuned_tx, zmq_tuned_rx }, unlink_zmq };

/* Single-core memcpy into a destination as large as the benchmark's ring, so
 * the footprint (and the cache misses) match the ring's copying path. */
void bench_memcpy(struct bctx *c)
{
	size_t span = 4u << 20;
	char *src = malloc(c->size), *dst = malloc(span);
	memset(src, 1, c->size);
	memset(dst, 2, span);
	size_t off = 0;
	uint64_t t0 = 0;
	for (uint64_t i = 0; i < c->warmup + c->iters; i++) {
		if (i == c->warmup)
			t0 = tu_now_ns();
		if (off + c->size > span)
			off = 0;
		memcpy(dst + off, src, c->size);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		off += c->size;
	}
	c->elapsed_ns = tu_now_ns() - t0;
	free(src);
	free(dst);
}

/* ---- raw slot ring: the simplest cross-core hand-off one could write ------ */
/*
 * Fixed slots, each starting with a sequence word (0 = free), no bounds
 * checks, no wake-ups, both sides spinning. The producer copies the payload
 * in and store-releases the sequence; the consumer load-acquires it, copies
 * the payload out and store-releases 0. What remains is the cost of moving
 * the bytes between the two cores: a ceiling for any SPSC queue on this
 * machine at this message size.
 */
static uint8_t *raw_area;

static size_t raw_slot(const struct bctx *c)
{
	return (c->size + 8 + 63) & ~(size_t)63;
}

static int setup_raw(struct bctx *c)
{
	raw_area = mmap(NULL, c->capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return raw_area == MAP_FAILED ? -1 : 0;
}

static void raw_tx(struct bctx *c)
{
	size_t slot = raw_slot(c), nslots = c->capacity / slot;
	char *buf = calloc(1, c->size);
	for (uint64_t i = 0; i < c->warmup + c->iters; i++) {
		uint64_t *seq = (uint64_t *)(void *)(raw_area + (i % nslots) * slot);
		while (__atomic_load_n(seq, __ATOMIC_ACQUIRE) != 0)
			__builtin_ia32_pause();
		memcpy(seq + 1, buf, c->size);
		__atomic_store_n(seq, i + 1, __ATOMIC_RELEASE);
	}
	free(buf);
}

static void raw_rx(struct bctx *c)
{
	size_t slot = raw_slot(c), nslots = c->capacity / slot;
	char *buf = calloc(1, c->size);
	uint64_t t0 = 0;
	for (uint64_t i = 0; i < c->warmup + c->iters; i++) {
		if (i == c->warmup)
			t0 = tu_now_ns();
		uint64_t *seq = (uint64_t *)(void *)(raw_area + (i % nslots) * slot);
		while (__atomic_load_n(seq, __ATOMIC_ACQUIRE) != i + 1)
			__builtin_ia32_pause();
		memcpy(buf, seq + 1, c->size);
		__atomic_store_n(seq, 0, __ATOMIC_RELEASE);
	}
	c->elapsed_ns = tu_now_ns() - t0;
	free(buf);
}

static void teardown_raw(struct bctx *c)
{
	munmap(raw_area, c->capacity);
}

const struct bcase tput_raw = { "raw slot ring", setup_raw, { raw_tx, raw_rx }, teardown_raw };
