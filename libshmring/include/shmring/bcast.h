/* SPDX-License-Identifier: MIT */
/*
 * shmring broadcast rings: one producer, up to SHMRING_BCAST_MAX consumers,
 * one copy of each message in one shared mapping, each consumer at its own
 * pace. Only creation and attachment are new: the handles these calls return
 * work with the ring.h functions (shmring_reserve/commit/send on the
 * producer, shmring_peek/release/recv on a consumer, flush, close, stats,
 * detach), so a kernel does not know whether its port is broadcast.
 *
 * Per consumer, a policy for when it lags:
 *   SHMRING_BCAST_BLOCK  the producer waits for it (nothing is lost); a
 *                        consumer that died still holds the producer until a
 *                        successor attaches as the same index and goes on
 *                        from its position (what the dead one peeked but did
 *                        not release is delivered again and counted).
 *   SHMRING_BCAST_DROP   the producer never waits for it: when it needs
 *                        room this consumer still holds, it moves the
 *                        consumer's position past the oldest messages and
 *                        counts them as skipped. The consumer's release of a
 *                        message that was overwritten meanwhile returns
 *                        -ESTALE (its zero-copy view was not valid); recv
 *                        retries by itself.
 * A consumer that closes its end stops holding the producer for good; its
 * index cannot be attached again.
 *
 * Conventions as in ring.h; see docs/ring.md, "Broadcast rings".
 */
#ifndef SHMRING_BCAST_H
#define SHMRING_BCAST_H

#include <shmring/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most consumers one broadcast ring has. */
#define SHMRING_BCAST_MAX 16

enum shmring_bcast_policy {
	SHMRING_BCAST_BLOCK = 0, /* the producer waits for this consumer */
	SHMRING_BCAST_DROP = 1,  /* this consumer skips what it is too slow for */
};

struct shmring_bcast_opts {
	unsigned consumers; /* 1..SHMRING_BCAST_MAX */
	enum shmring_bcast_policy policy[SHMRING_BCAST_MAX]; /* per consumer index */
};

/*
 * Create a broadcast ring of bopts->consumers consumers (indices 0..n-1).
 * name and opts as for shmring_create; opts->role may be NONE or PRODUCER
 * (a consumer attaches by index with shmring_bcast_attach).
 */
SHMRING_API int shmring_bcast_create(const char *name, const struct shmring_opts *opts,
				     const struct shmring_bcast_opts *bopts, struct shmring **ring);

/*
 * Attach to a broadcast ring: as PRODUCER (index ignored), as CONSUMER
 * index, or as OBSERVER (index ignored; stats only). A dead holder's role
 * is taken over, as with shmring_attach. shmring_attach refuses a broadcast
 * ring and this call an SPSC ring, each with a line naming the other.
 */
SHMRING_API int shmring_bcast_attach(const char *name_or_fd, enum shmring_role role,
				     unsigned index, struct shmring **ring);

/* One consumer of a broadcast ring, as shmring_bcast_consumers reports it. */
struct shmring_bcast_consumer {
	uint64_t position;    /* its published position (bytes released, padding included) */
	uint64_t lag;         /* head minus position: bytes it has still to read */
	uint64_t msgs, bytes; /* released */
	uint64_t skipped;     /* messages moved past unread (drop policy) */
	uint64_t redelivered; /* handed out again to a successor */
	uint64_t empty_events, sleeps;
	uint64_t attaches;    /* times its role was taken */
	pid_t    pid;         /* 0 = not attached */
	int      closed;
	enum shmring_bcast_policy policy;
};

/*
 * Fill out[0..n-1] with the ring's consumers, in index order. Returns the
 * number of consumers the ring has (which may exceed n: only n are filled),
 * or -EINVAL when ring is not a broadcast ring. Any handle of the ring,
 * observers included; reads only, never disturbs the data path.
 */
SHMRING_API int shmring_bcast_consumers(const struct shmring *ring,
					struct shmring_bcast_consumer *out, unsigned n);

#ifdef __cplusplus
}
#endif

#endif
