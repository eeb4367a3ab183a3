/* SPDX-License-Identifier: MIT */
/*
 * A kernel's io_uring (io.h), and the sleep that waits for ring data, I/O
 * completions and the stop flag at once.
 *
 * Each queued operation carries, as user_data, a pointer to an op record
 * of ours (the caller's tag, and storage that must outlive the submission,
 * such as a timeout's timespec). Completions are drained from the CQ into a
 * list the caller takes from with shmring_io_complete, so our own futex
 * operation can be consumed wherever it sits in the CQ.
 *
 * libshmring-io, a library of its own: the only code of shmring that links
 * liburing. kernel.c (libshmring) reaches what it needs here through the
 * table shmring_io_init hands it (io_ops, io_internal.h), never by name.
 *
 * The sleep (io_sleep), with futex operations in io_uring (Linux 6.7):
 * IORING_OP_FUTEX_WAITV over the waitv vector wait.c built (stop flag and
 * every input's futex_seq, after the S1-S3 steps of the ring protocol), one
 * operation per FUTEX_WAITV_MAX words, so a kernel with more inputs than one
 * futex_waitv takes still sleeps on all of them; then
 * io_uring_submit_and_wait_timeout for one CQE: any I/O completion, or a
 * futex op completing because a producer or the supervisor woke one of its
 * words. Each futex op stays armed across calls until it completes: a
 * FUTEX_WAKE on any of its words completes it whatever values it was armed
 * with, and the producers' wake is FUTEX_WAKE(INT_MAX) (wait.c), so a parked
 * op never steals a wake from another waiter on the same word.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <liburing.h>

#include "shmring/io.h"
#include "io_internal.h"
#include "sys.h"

#ifndef IORING_OP_FUTEX_WAITV_NR
#define IORING_OP_FUTEX_WAITV_NR 53 /* liburing 2.3 predates it */
#endif

struct op {
	uint64_t tag;
	struct __kernel_timespec ts;
	struct op *next_free;
	int internal;       /* one of our futex ops, not a user op */
	int armed;          /* futex op: in the kernel, not yet completed */
};

struct shmring_io {
	struct io_uring ring;
	_Atomic uint32_t *stop; /* the kernel's stop flag */
	uint64_t slice_ns;
	int futex_ok;       /* IORING_OP_FUTEX_WAITV usable */
	struct op *fops;    /* futex ops, one per FUTEX_WAITV_MAX words of w */
	struct smr_futex_waitv *w; /* the vector they were armed with */
	unsigned nw;        /* words in w, fixed by the first sleep */
	struct op *ops, *free;
	unsigned nops;
	unsigned inflight;  /* user ops queued or submitted, not yet completed */
	struct done { struct op *op; int32_t res; } *done; /* completed, not yet taken */
	unsigned ndone, done_head, done_cap;
};

static int probe_futex(struct io_uring *ring)
{
	const char *e = getenv("SHMRING_IO_FUTEX");
	if (e && !strcmp(e, "0"))
		return 0; /* forced fallback (tests, or to compare) */
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	if (!p)
		return 0;
	int ok = io_uring_opcode_supported(p, IORING_OP_FUTEX_WAITV_NR);
	io_uring_free_probe(p);
	return ok;
}

static int io_new(unsigned entries, _Atomic uint32_t *stop, struct shmring_io **out)
{
	if (entries < 4 || entries > 4096) {
		smr_seterr("io_uring size %u is out of range: use 4 to 4096 entries", entries);
		return -EINVAL;
	}
	struct shmring_io *io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	int rc = io_uring_queue_init(entries, &io->ring, 0);
	if (rc < 0) {
		smr_seterr("cannot set up io_uring: %s%s", strerror(-rc),
			   rc == -EPERM ? " (io_uring is disabled: sysctl kernel.io_uring_disabled=0)"
			 : rc == -ENOMEM ? " (raise RLIMIT_MEMLOCK or use fewer entries)" : "");
		free(io);
		return rc;
	}
	io->nops = io->ring.cq.ring_entries;
	io->done_cap = io->nops;
	io->ops = calloc(io->nops, sizeof(*io->ops));
	io->done = calloc(io->done_cap, sizeof(*io->done));
	if (!io->ops || !io->done) {
		io_uring_queue_exit(&io->ring);
		free(io->ops);
		free(io->done);
		free(io);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < io->nops; i++) {
		io->ops[i].next_free = io->free;
		io->free = &io->ops[i];
	}
	io->stop = stop;
	io->slice_ns = smr_peer_check_ms() * 1000000ull;
	io->futex_ok = probe_futex(&io->ring);
	*out = io;
	return 0;
}

static void io_free(struct shmring_io *io)
{
	if (!io)
		return;
	/* Exiting the ring cancels what is in flight, our futex op included. */
	io_uring_queue_exit(&io->ring);
	free(io->ops);
	free(io->done);
	free(io->fops);
	free(io->w);
	free(io);
}

int shmring_io_uses_futex(const struct shmring_io *io)
{
	return io->futex_ok;
}

unsigned shmring_io_inflight(const struct shmring_io *io)
{
	return io->inflight;
}

/* A CQE's result. Its own function, never inlined, so that the TSan step
 * can name it (tests/tsan.supp): the CQE array is memory the kernel writes,
 * mapped by liburing's own mmap system call, which TSan does not see; it
 * keeps what it last knew of those addresses (once, another thread's
 * sodium_malloc that had used and unmapped the same range) and reports a
 * race with a thread that never touched the ring. */
static __attribute__((noinline)) int32_t smr_io_cqe_result(const struct io_uring_cqe *cqe)
{
	return cqe->res;
}

/* Move every CQE into the done list (ours are consumed here). */
static void drain(struct shmring_io *io)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
		struct op *o = io_uring_cqe_get_data(cqe);
		if (o && o->internal) {
			o->armed = 0;
		} else if (o) {
			/* Each user op keeps its record until it is taken, so the
			 * done list never holds more than nops entries. */
			unsigned slot = (io->done_head + io->ndone) % io->done_cap;
			io->done[slot] = (struct done){ .op = o, .res = smr_io_cqe_result(cqe) };
			io->ndone++;
		}
		io_uring_cqe_seen(&io->ring, cqe);
	}
}

static unsigned io_ready(struct shmring_io *io)
{
	drain(io);
	return io->ndone;
}

int shmring_io_complete(struct shmring_io *io, struct shmring_io_done *d)
{
	if (!io->ndone)
		drain(io);
	if (!io->ndone)
		return 0;
	struct done *e = &io->done[io->done_head];
	*d = (struct shmring_io_done){ .tag = e->op->tag, .res = e->res };
	e->op->next_free = io->free; /* the record is free once taken */
	io->free = e->op;
	io->done_head = (io->done_head + 1) % io->done_cap;
	io->ndone--;
	io->inflight--;
	return 1;
}

int shmring_io_submit(struct shmring_io *io)
{
	int rc = io_uring_submit(&io->ring);
	return rc;
}

/* An SQE and an op record for a user operation, or NULL (-EBUSY). */
static struct io_uring_sqe *get(struct shmring_io *io, uint64_t tag, struct op **op)
{
	if (!io->free)
		return NULL; /* every record is queued, in flight or done but not taken */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	if (!sqe) {
		io_uring_submit(&io->ring);
		sqe = io_uring_get_sqe(&io->ring);
		if (!sqe)
			return NULL;
	}
	struct op *o = io->free;
	io->free = o->next_free;
	o->tag = tag;
	o->internal = 0;
	io_uring_sqe_set_data(sqe, o);
	io->inflight++;
	if (op)
		*op = o;
	return sqe;
}

int shmring_io_read(struct shmring_io *io, int fd, void *buf, size_t len, int64_t offset, uint64_t tag)
{
	struct io_uring_sqe *sqe = get(io, tag, NULL);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, fd, buf, (unsigned)(len > UINT_MAX ? UINT_MAX : len),
			   offset < 0 ? (uint64_t)-1 : (uint64_t)offset);
	return 0;
}

int shmring_io_write(struct shmring_io *io, int fd, const void *buf, size_t len, int64_t offset,
		     uint64_t tag)
{
	struct io_uring_sqe *sqe = get(io, tag, NULL);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_write(sqe, fd, buf, (unsigned)(len > UINT_MAX ? UINT_MAX : len),
			    offset < 0 ? (uint64_t)-1 : (uint64_t)offset);
	return 0;
}

int shmring_io_recv(struct shmring_io *io, int fd, void *buf, size_t len, uint64_t tag)
{
	struct io_uring_sqe *sqe = get(io, tag, NULL);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv(sqe, fd, buf, len, 0);
	return 0;
}

int shmring_io_send(struct shmring_io *io, int fd, const void *buf, size_t len, uint64_t tag)
{
	struct io_uring_sqe *sqe = get(io, tag, NULL);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
	return 0;
}

int shmring_io_accept(struct shmring_io *io, int fd, uint64_t tag)
{
	struct io_uring_sqe *sqe = get(io, tag, NULL);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	return 0;
}

int shmring_io_connect(struct shmring_io *io, int fd, const struct sockaddr *addr, socklen_t len,
		       uint64_t tag)
{
	struct io_uring_sqe *sqe = get(io, tag, NULL);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_connect(sqe, fd, addr, len);
	return 0;
}

int shmring_io_poll(struct shmring_io *io, int fd, unsigned events, uint64_t tag)
{
	if (!events)
		return -EINVAL; /* it would never complete */
	struct io_uring_sqe *sqe = get(io, tag, NULL);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, events); /* one-shot: res = the ready events */
	return 0;
}

int shmring_io_timeout(struct shmring_io *io, uint64_t ms, uint64_t tag)
{
	struct op *o;
	struct io_uring_sqe *sqe = get(io, tag, &o);
	if (!sqe)
		return -EBUSY;
	o->ts.tv_sec = (long long)(ms / 1000);
	o->ts.tv_nsec = (long long)(ms % 1000) * 1000000;
	io_uring_prep_timeout(sqe, &o->ts, 0, 0);
	return 0;
}

/* The futex ops and vector for n words: sized by the first sleep, since a
 * kernel always sleeps on the same words, and an armed op stands for the
 * words it was armed with. 0 for another n: the caller falls back. */
static int futex_room(struct shmring_io *io, unsigned n)
{
	if (io->w)
		return n == io->nw;
	unsigned nops = (n + FUTEX_WAITV_MAX - 1) / FUTEX_WAITV_MAX;
	io->fops = calloc(nops, sizeof(*io->fops));
	io->w = calloc(n, sizeof(*io->w));
	if (!io->fops || !io->w) {
		free(io->fops);
		free(io->w);
		io->fops = NULL;
		io->w = NULL;
		return 0;
	}
	for (unsigned i = 0; i < nops; i++)
		io->fops[i].internal = 1;
	io->nw = n;
	return 1;
}

/* Queue a FUTEX_WAITV for each group of words whose op is not armed. One
 * left unarmed (no SQE) only means that group waits for the slice. */
static void arm_futex(struct shmring_io *io, const struct smr_futex_waitv *w)
{
	for (unsigned first = 0, i = 0; first < io->nw; first += FUTEX_WAITV_MAX, i++) {
		struct op *o = &io->fops[i];
		if (o->armed)
			continue;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
		if (!sqe) {
			io_uring_submit(&io->ring);
			if (!(sqe = io_uring_get_sqe(&io->ring)))
				return;
		}
		unsigned cnt = io->nw - first < FUTEX_WAITV_MAX ? io->nw - first : FUTEX_WAITV_MAX;
		/* The kernel reads the vector at submission: keep our copy. */
		memcpy(io->w + first, w + first, cnt * sizeof(*w));
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_FUTEX_WAITV_NR;
		sqe->addr = (uintptr_t)(io->w + first);
		sqe->len = cnt;
		io_uring_sqe_set_data(sqe, o);
		o->armed = 1;
	}
}

/*
 * Sleep for at most slice_ns until one of the n futex words in w is woken
 * (or differs from its value), an I/O completes, or the slice ends. The
 * caller did S1-S4 of the ring protocol for every word and re-checks
 * everything afterwards, so an early or spurious return is harmless.
 */
static void io_sleep(struct shmring_io *io, const struct smr_futex_waitv *w, unsigned n,
		     uint64_t slice_ns)
{
	io_uring_submit(&io->ring);
	drain(io);
	if (io->ndone)
		return;
	if (!io->futex_ok || !futex_room(io, n)) {
		/* Fallback: sleep on the words; while I/O is in flight, in 1 ms
		 * slices so its completion is noticed within one. */
		if (io->inflight && slice_ns > 1000000ull)
			slice_ns = 1000000ull;
		smr_futex_sleep((struct smr_futex_waitv *)w, n, slice_ns);
		drain(io);
		return;
	}
	arm_futex(io, w);
	struct __kernel_timespec ts = { .tv_sec = (long long)(slice_ns / 1000000000ull),
					.tv_nsec = (long long)(slice_ns % 1000000000ull) };
	struct io_uring_cqe *cqe;
	io_uring_submit_and_wait_timeout(&io->ring, &cqe, 1, &ts, NULL);
	drain(io);
}

int shmring_io_wait(struct shmring_io *io, int timeout_ms)
{
	uint64_t now = smr_now_ns();
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		io_uring_submit(&io->ring);
		drain(io);
		if (io->ndone)
			return (int)io->ndone;
		/* Acquire: pairs with the supervisor's release of the flag. */
		if (smr_load_acquire(io->stop))
			return 0;
		now = smr_now_ns();
		if (now >= deadline)
			return timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
		uint64_t slice = deadline - now < io->slice_ns ? deadline - now : io->slice_ns;
		struct __kernel_timespec ts = { .tv_sec = (long long)(slice / 1000000000ull),
						.tv_nsec = (long long)(slice % 1000000000ull) };
		struct io_uring_cqe *cqe;
		io_uring_submit_and_wait_timeout(&io->ring, &cqe, 1, &ts, NULL);
	}
}

/* kernel.c (libshmring) reaches everything above through this table only. */
static const struct smr_io_ops io_ops = {
	.version = SMR_IO_OPS_VERSION,
	.size = sizeof(struct smr_io_ops),
	.create = io_new,
	.destroy = io_free,
	.ready = io_ready,
	.submit = shmring_io_submit,
	.sleep = io_sleep,
};

int shmring_io_init(struct shmring_kernel *k, unsigned entries, struct shmring_io **io)
{
	return smr_kernel_io_init(k, entries, &io_ops, io);
}
