/* SPDX-License-Identifier: MIT */
/*
 * shmring: single-producer / single-consumer rings of variable-length
 * messages in one shared mapping, for separate processes.
 *
 * Conventions (liburing's): int functions return 0 or a count on success and
 * a negative errno on failure; nothing sets errno. Lookups return NULL. After
 * a failure of a cold-path call (create, attach) shmring_errmsg() holds one
 * human line that names the problem and the fix.
 *
 * Every blocking call takes timeout_ms: 0 = try once (-EAGAIN if it would
 * block), > 0 = wait at most that long (-ETIMEDOUT), -1 = wait forever
 * (a dead peer still ends the wait with -EOWNERDEAD).
 *
 * See docs/ring.md for the memory layout, the wait protocol and every error.
 */
#ifndef SHMRING_RING_H
#define SHMRING_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_VERSION_MAJOR 0
#define SHMRING_VERSION_MINOR 1

/* Longest message shmring_send and shmring_recv carry (1 TiB); messages
 * longer than shmring_max_message (half the ring) travel in pieces. */
#define SHMRING_MSG_MAX (1ull << 40)

/* Longest ring name (without the terminating NUL). */
#define SHMRING_NAME_MAX 63

/* Public entry points; everything else in the library is hidden. */
#define SHMRING_API __attribute__((visibility("default")))

struct shmring;

enum shmring_role {
	SHMRING_ROLE_NONE = 0,     /* creator handle: stats, fd; no data */
	SHMRING_ROLE_PRODUCER = 1,
	SHMRING_ROLE_CONSUMER = 2,
	SHMRING_ROLE_OBSERVER = 3, /* read-only mapping, stats only */
};

enum shmring_wait {
	SHMRING_WAIT_ADAPTIVE = 0, /* spin for spin_us, then sleep on a futex */
	SHMRING_WAIT_SPIN = 1,     /* busy-poll; never sleeps */
	SHMRING_WAIT_YIELD = 2,    /* poll with sched_yield() between tries */
	SHMRING_WAIT_FUTEX = 3,    /* sleep at once */
};

struct shmring_opts {
	size_t   capacity;   /* data bytes; rounded up to a power of two, 4 KiB..1 GiB */
	enum shmring_wait wait; /* strategy of the handle create returns */
	uint32_t spin_us;    /* adaptive: how long to spin before sleeping */
	uint32_t batch;      /* publish every N commits/releases (1 = each) */
	enum shmring_role role; /* role of the handle create returns */
};

/* Defaults: 1 MiB, adaptive, 50 us spin, batch 1, role NONE. */
SHMRING_API void shmring_opts_init(struct shmring_opts *opts);

/*
 * Create a ring. name: [A-Za-z0-9_.-]{1,63}, not starting with '.' or '-'; the
 * segment is /dev/shm/shmring.NAME, mode 0600, created exclusively (-EEXIST if
 * it exists). name NULL: an anonymous ring (memfd, mode 0600 too) reachable
 * only through shmring_fd(), for passing to children. opts may be NULL for
 * defaults.
 */
SHMRING_API int shmring_create(const char *name, const struct shmring_opts *opts, struct shmring **ring);

/*
 * Attach to an existing ring as role. name_or_fd: a ring name, or "fd:N" for
 * an inherited descriptor (it is duplicated; the caller keeps its own). Each
 * of PRODUCER and CONSUMER may be held by one live process at a time
 * (-EBUSY); a role whose holder died is taken over. The handle uses the
 * adaptive strategy and batch 1 until shmring_set_wait/_set_batch.
 */
SHMRING_API int shmring_attach(const char *name_or_fd, enum shmring_role role, struct shmring **ring);

/*
 * Publish what is pending, give up the role (without closing the stream:
 * another process may take the role and carry on) and free the handle.
 * A message peeked but not released is delivered again to the next consumer.
 */
SHMRING_API void shmring_detach(struct shmring *ring);

/* Remove a named ring's segment; mappings that exist stay valid. */
SHMRING_API int shmring_unlink(const char *name);

SHMRING_API int shmring_set_wait(struct shmring *ring, enum shmring_wait wait, uint32_t spin_us);
SHMRING_API int shmring_set_batch(struct shmring *ring, uint32_t batch);

/*
 * Producer, zero-copy: reserve room for len bytes, write them at *buf, then
 * commit(len2) with 0 < len2 <= len. One reservation at a time.
 * Errors: -EINVAL (len 0, reservation outstanding), -EMSGSIZE (len larger than
 * shmring_max_message), -EBADF (not the producer), -EAGAIN / -ETIMEDOUT
 * (full), -EPIPE (consumer closed, or this producer already closed),
 * -EOWNERDEAD (consumer died while we waited), -EBADMSG (the shared tail
 * index is corrupt), -ECANCELED (a kernel's port: the supervisor asked the
 * kernel to stop while it waited; see kernel.h).
 */
SHMRING_API int shmring_reserve(struct shmring *ring, size_t len, void **buf, int timeout_ms);
SHMRING_API int shmring_commit(struct shmring *ring, size_t len);
/* Give the open reservation back unpublished (the writer failed half-way);
 * the next reserve reuses its room. -EINVAL if none is open, -EBADF if not
 * the producer. */
SHMRING_API int shmring_abandon(struct shmring *ring);

/*
 * Consumer, zero-copy: peek returns the length of the next message (> 0),
 * with *buf pointing at it in the ring, valid until release; or 0 at end of
 * stream (producer closed and everything was read). Peeking again before
 * release returns the same message.
 * Errors: -EBADF (not the consumer), -EAGAIN / -ETIMEDOUT (empty),
 * -EMSGSIZE (the next message is in pieces: shmring_peek_piece or recv),
 * -EOWNERDEAD (producer died without closing, ring drained), -EBADMSG (a
 * record in shared memory is corrupt), -ECANCELED (a kernel's port: a stop
 * was requested while it waited).
 */
SHMRING_API int shmring_peek(struct shmring *ring, const void **buf, size_t *len, int timeout_ms);
SHMRING_API int shmring_release(struct shmring *ring);

/*
 * Consumer, read-ahead: look at messages past the next one without
 * releasing anything, e.g. to keep a window of messages sent over a network
 * until the far end acknowledges them (a message leaves the ring only once
 * it is safe elsewhere; a consumer that dies before redelivers them all).
 * *cursor is a position (shmring_position); one before this end's position
 * (0 included) starts at it. peek_ahead returns the message at *cursor like
 * peek (its length, 0 at end of stream, -EAGAIN / -ETIMEDOUT, -EBADMSG,
 * -EOWNERDEAD, -ECANCELED, -EMSGSIZE for a message in pieces), with *cursor moved past it and *at (may be NULL)
 * set to the message's own position; the buffer stays valid until it is
 * released. release_to releases every message before pos, a position a
 * peek_ahead returned in *cursor (or this end's position: nothing); 0,
 * -EINVAL for any other pos. Do not mix with peek/release between a
 * peek_ahead and the release_to that covers it. On a kernel's input, a
 * staged checkpoint (kernel.h) is published with release_to and covers
 * everything it releases.
 */
SHMRING_API int shmring_peek_ahead(struct shmring *ring, uint64_t *cursor, uint64_t *at,
				   const void **buf, size_t *len, int timeout_ms);
SHMRING_API int shmring_release_to(struct shmring *ring, uint64_t pos);

/*
 * Copying wrappers. send: 0 or as reserve (-ECANCELED included). recv: the
 * message length, 0 at end of stream, -EMSGSIZE if cap is too small (the
 * message stays in the ring), or as peek (-ECANCELED included).
 *
 * Messages longer than shmring_max_message, up to SHMRING_MSG_MAX, go in
 * pieces (docs/ring.md, "Messages in pieces"): both ends copy at the same
 * time and the receiver gets one message. Such a send returns 0 only once
 * the consumer has released the whole message: a consumer that takes over
 * in the middle gets it again from the start (counted in redelivered). A
 * send or recv that returns early in the middle of one (-EAGAIN,
 * -ETIMEDOUT, -EOWNERDEAD, -ECANCELED) keeps its place: call it again with
 * the same buffer and length to carry on. A send of another message gives
 * the first up; its consumer drops what it had of it.
 */
SHMRING_API int     shmring_send(struct shmring *ring, const void *buf, size_t len, int timeout_ms);
SHMRING_API ssize_t shmring_recv(struct shmring *ring, void *buf, size_t cap, int timeout_ms);

/*
 * Consumer, zero-copy, for messages in pieces: the next piece of the
 * message being read, in order, in place, valid until shmring_release.
 * *info says where it goes: info->offset in a message of info->total bytes;
 * offset 0 starts a message (drop any half-read one: its producer gave it
 * up), offset + length = total ends it. A plain message is one piece
 * (offset 0, total its length). Returns the piece's length (> 0), 0 at end
 * of stream, or as peek. shmring_peek and shmring_peek_ahead refuse a
 * piece with -EMSGSIZE.
 */
struct shmring_piece {
	uint64_t offset;
	uint64_t total;
};
SHMRING_API int shmring_peek_piece(struct shmring *ring, const void **buf, size_t *len,
				   struct shmring_piece *info, int timeout_ms);

/* Publish pending commits (producer) or releases (consumer) now. */
SHMRING_API int shmring_flush(struct shmring *ring);

/*
 * Close this end. Producer: flush, then end of stream; the consumer drains
 * and then reads 0; later reserves fail with -EPIPE. Consumer: the producer's next blocking reserve fails with
 * -EPIPE. Idempotent.
 */
SHMRING_API int shmring_close(struct shmring *ring);

/* Shared counters, read without disturbing either end. */
struct shmring_stats {
	uint64_t capacity;
	uint64_t max_message;
	uint64_t fill;           /* bytes between tail and head now */
	uint64_t high_fill;      /* highest fill the producer saw at publish */
	uint64_t msgs_in, bytes_in;   /* committed by the producer */
	uint64_t msgs_out, bytes_out; /* released by the consumer */
	uint64_t redelivered;    /* handed out again to a consumer that took over
				    from one that peeked them and died or detached */
	uint64_t full_events;    /* producer found the ring full */
	uint64_t empty_events;   /* consumer found the ring empty */
	uint64_t producer_sleeps, consumer_sleeps; /* futex waits entered */
	uint64_t producer_wakes, consumer_wakes;   /* futex wakes issued by each side */
	pid_t    producer_pid, consumer_pid;       /* 0 = not attached */
	int      producer_closed, consumer_closed;
	/* Kernel ports (exactly-once, kernel.h): */
	uint64_t suppressed;     /* sends a restarted producer made again for input
				    already answered, dropped instead of doubled */
	uint64_t skipped;        /* redelivered messages a restarted consumer's
				    checkpoint already covered, skipped */
	/* Adaptive publication (docs/ring.md): */
	uint64_t holds;          /* runs of commits the producer held back */
	uint64_t taken;          /* held runs the consumer made visible itself
				    (the producer had gone quiet) */
};
SHMRING_API int shmring_stats(const struct shmring *ring, struct shmring_stats *st);

SHMRING_API size_t      shmring_capacity(const struct shmring *ring);
SHMRING_API size_t      shmring_max_message(const struct shmring *ring);
SHMRING_API int         shmring_fd(const struct shmring *ring);
SHMRING_API const char *shmring_name(const struct shmring *ring); /* "" for anonymous */

/* The last cold-path error of this thread, as one line; "" if none. */
SHMRING_API const char *shmring_errmsg(void);

/*
 * Positions. A ring end's position is the free-running count of ring bytes it
 * has committed (producer) or released (consumer), padding included.
 * shmring_position: this end's, after its last commit or release.
 * shmring_wait_released (producer): wait until the consumer has published
 * the release of everything before pos, e.g. the position after the commit
 * of a message that lends the consumer a buffer (cuda.h returns device
 * buffers to their pool this way). 0, -EPIPE (the consumer closed before
 * getting there), -EAGAIN (timeout 0), -ETIMEDOUT, -EOWNERDEAD, -ECANCELED.
 */
SHMRING_API uint64_t shmring_position(const struct shmring *ring);
SHMRING_API int shmring_wait_released(struct shmring *ring, uint64_t pos, int timeout_ms);

/*
 * For an agent that drives this end through the shared memory itself rather
 * than through these calls: a persistent GPU kernel polling the registered
 * mapping (cuda.h). Most programs never need these.
 *
 * shmring_mapping flushes what is pending and describes the mapping: where
 * it is, where the records start, and the byte offsets of the shared words of
 * the protocol (docs/ring.md), so the agent needs no copy of the layout.
 * While the agent runs, this process must not call the data functions on
 * this end. shmring_resync takes the end back: it takes up the position and
 * counters the agent left in shared memory (a producer walks the visible
 * records from the tail, as one taking over after a crash does).
 * shmring_notify wakes the peer if it sleeps; an agent that cannot make
 * system calls (a GPU) has its host call it after each publication.
 */
struct shmring_mapping {
	void    *base;        /* the whole mapping, page-aligned */
	size_t   length;
	size_t   data_offset; /* records start here; capacity bytes */
	uint64_t capacity;
	uint64_t max_message;
	uint64_t pos;         /* this end's position */
	int      role;        /* enum shmring_role of this end */
	/* Byte offsets from base of the shared words. */
	size_t   head, tail;                /* uint64: producer's, consumer's index */
	size_t   producer_closed, consumer_closed; /* uint32 flags */
	size_t   producer_msgs, producer_bytes;     /* uint64 counters */
	size_t   consumer_msgs, consumer_bytes;
	size_t   consumer_peeked;           /* uint64: end of the furthest peek */
};
SHMRING_API int  shmring_mapping(struct shmring *ring, struct shmring_mapping *m);
SHMRING_API int  shmring_resync(struct shmring *ring);
SHMRING_API void shmring_notify(struct shmring *ring);

#ifdef __cplusplus
}
#endif
#endif
