/* SPDX-License-Identifier: MIT */
/* The private handle and the helpers the ring modules share. Never installed. */
#ifndef SHMRING_SRC_RING_INTERNAL_H
#define SHMRING_SRC_RING_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmring/ring.h"
#include "layout.h"
#include "lineage.h"

/*
 * One process's view of one end. Fields the fast path uses come first and are
 * private to this process: capacity and mask are copied out of the header at
 * attach and never re-read, because the other process could change them.
 */
struct shmring {
	/* hot */
	uint8_t  *data;
	uint64_t  mask;
	uint64_t  cap;
	uint64_t  max_msg;
	uint64_t  pos;        /* producer: local head; consumer: local tail */
	uint64_t  peer_pos;   /* producer: cached copy of the consumer's tail */
	uint64_t  cur_rec;    /* record size reserved / peeked, 0 = none */
	uint32_t  cur_len;    /* payload length reserved / peeked */
	uint32_t  pending;    /* commits/releases not yet published */
	uint32_t  batch;
	uint64_t  msgs, bytes; /* local totals, copied to shared memory on publish */
	uint64_t  held_pos;   /* producer, batching: first header held back ... */
	uint64_t  held_hdr;   /* ... and its value, released by smr_publish */
	uint32_t  limit;      /* publish when pending reaches it: batch, or
				 SMR_HOLD_RUN during an adaptive hold */
	/* Producer, adaptive publication (ring_io.c): commits since this
	 * thread last waited on a ring (smr_tls_waits was seen_waits), whether
	 * they come at a stream's rate (the clock read at streak_t, when commits
	 * was streak_msgs), when the hold began, whether this ring may hold at
	 * all, and whether the hold in progress is offered in head.held. */
	uint32_t  streak;
	int       streaming;
	uint64_t  commits;    /* this handle's commits (msgs is reloaded) */
	uint64_t  streak_t, streak_msgs, held_t;
	uint64_t  seen_waits;
	int       adapt;
	int       offered;
	/* Consumer: take a held header at the next look (S4 of a sleep); an
	 * undated offer a poll saw first, and when (smr_take_due). */
	int       take;
	uint64_t  poll_w, poll_t;
	uint64_t  want;       /* producer: bytes a blocked reserve waits for */
	uint64_t  want_tail;  /* producer: position shmring_wait_released waits for */
	uint64_t  ahead;      /* consumer: read-ahead cursor (shmring_peek_ahead); waits
				 look there when it is past pos */
	int       held;
	/* Asymmetric wake (wait.c): asym_wake, W2 is a compiler barrier (the
	 * ring says so and this process is registered for membarrier);
	 * asym_sleep, the ring says so, so sleeps call membarrier. */
	int       asym_wake;
	int       asym_sleep;
	int       closed;     /* this end called shmring_close */
	/* A kernel's port with a journal (lineage.c), NULL for plain rings.
	 * suppress (producer): a restarted kernel's sends may repeat what the
	 * ring holds, reserve asks lineage.c; discard: the open reservation is
	 * such a repeat, in scratch memory, dropped at commit. */
	struct smr_lin_port *lin;
	int       suppress;
	int       discard;
	/* Messages in pieces (ring_piece.c): this end's state while one is
	 * sent or received, NULL when none ever was. */
	struct smr_piece *piece;
	/* Broadcast rings (ring_bcast.c): the handle's broadcast state, NULL
	 * for an SPSC ring, and which hooks apply (SMR_BCAST_*, 0 for none). */
	struct smr_bcast *bcast;
	int       bcast_kind;
	_Atomic uint64_t *my_index;   /* head (producer) or tail (consumer) */
	_Atomic uint64_t *peer_index; /* producer: the consumer's tail */
	struct smr_end_control  *me, *peer;
	struct smr_end_counters *my_ctr;
	/* Shared cores (wait.c, "Shared cores"). shared: this end's kernel
	 * shares its cpu, so it waits without spinning and sleeps announcing
	 * SMR_SLEEP_BATCH. owed: the peer sleeps in batch mode and was not yet
	 * woken for what this end published since owed_from (a position). Any
	 * thread of the process may flush it, hence atomic. */
	_Atomic uint32_t owed;   /* read at every publication */
	int       shared;
	int       peer_shared; /* the peer's end is `shared`: publish without W2 */
	uint64_t  owed_from;

	/* cold */
	struct smr_header *hdr;
	size_t    map_len;
	int       fd;
	enum shmring_role role;
	enum shmring_wait wait;
	uint32_t  spin_us;
	uint64_t  peer_check_ms; /* sleep slice and dead-peer check interval */
	uint64_t  owner_word;  /* what we stored in me->owner */
	/* A kernel's port: its stop flag in the control segment. Waits end with
	 * -ECANCELED once it is non-zero; NULL for plain rings. */
	_Atomic uint32_t *cancel;
	char      name[SHMRING_NAME_MAX + 1];
};

/*
 * Private, but exported from libshmring.so: the few functions libshmring-io
 * (io.c, a library of its own) calls in it. In no installed header and no
 * interface promise: both libraries come from the same build.
 */
#define SMR_EXPORT __attribute__((visibility("default")))

/* error.c */
SMR_EXPORT void smr_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* wait.c */
/* What a sleeping end stores in its `sleeping` flag (S2): wake me at the
 * next publication, or (a kernel on a shared cpu) wake me once a quarter of
 * the ring has moved or you are about to wait; I look again by myself
 * within SMR_SHARED_SLICE_NS. A waker clears the flag when it wakes. */
#define SMR_SLEEP_NOW   1u
#define SMR_SLEEP_BATCH 2u
#define SMR_SHARED_SLICE_NS 2000000ull   /* the bound on an unseen message: 2 ms */
#define SMR_SHARED_IDLE_NS  50000000ull  /* idle this long: ask for SMR_SLEEP_NOW */
typedef int (*smr_ready_fn)(struct shmring *r);

/* Adaptive publication (ring_io.c): a streaming producer holds up to
 * SMR_HOLD_RUN commits; it streams when it commits SMR_HOLD_RUN per
 * SMR_STREAM_NS or faster without a wait of its thread between them; a
 * consumer that looks for a commit held SMR_TAKE_NS takes it itself. */
#define SMR_HOLD_RUN   32u
#define SMR_STREAM_NS  4000ull
#define SMR_TAKE_NS    2000ull
/* A producer that waited for room lets the consumer free an eighth of the
 * ring, or SMR_ROOM_NS at most, before it writes on (ring_io.c,
 * let_room_grow). */
#define SMR_ROOM_DIV   8u
#define SMR_ROOM_NS    4000ull
/* Waits of this thread on any ring (any ring call that found nothing to do
 * and waited, or would have): a producer whose thread waited between two
 * commits is not streaming. */
extern _Thread_local uint64_t smr_tls_waits __attribute__((tls_model("initial-exec")));
static inline void smr_note_wait(void)
{
	smr_tls_waits++;
}
/* The held header at position at, if the producer offered one: made
 * visible by this consumer. 1 when it did. */
int  smr_take_held(struct shmring *r, uint64_t at);
/* ... only if it was offered SMR_TAKE_NS before now (0: the clock is read
 * if an offer is there), or by this process; and that at the position a
 * consumer's wait waits for. */
int  smr_take_due(struct shmring *r, uint64_t at, uint64_t now, uint64_t since);
int  smr_consumer_take_due(struct shmring *r, uint64_t now, uint64_t since);
int  smr_consumer_offered(const struct shmring *r);
/* Forget a measured stream (takeover, a new batch): count again. */
void smr_stream_reset(struct shmring *r);
/* A producer taking the role: end the hold its predecessor left. */
void smr_end_hold(struct shmring *r, uint64_t tail);
int  smr_wait(struct shmring *r, int timeout_ms, smr_ready_fn ready);

struct smr_futex_waitv;
struct shmring_io;
struct smr_io_ops;

/* What one round of the sleep protocol (wait.c) sleeps on. */
struct smr_sleep_set {
	struct shmring *const *ends; /* n ends whose futex_seq is slept on */
	unsigned n;
	_Atomic uint32_t *stop;      /* a stop flag also slept on, or NULL */
	int (*recheck)(void *arg);   /* S4: non-zero ends the wait (no sleep) */
	void *arg;
	struct smr_futex_waitv *w;   /* scratch, n + 1 entries */
	/* Ends with `shared` set announce SMR_SLEEP_BATCH and the sleep is at
	 * most SMR_SHARED_SLICE_NS; 0: every end announces SMR_SLEEP_NOW (a
	 * wait idle for SMR_SHARED_IDLE_NS asks to be woken at once again). */
	int batch;
	/* S5 in this io_uring, through the table io.c gave the kernel
	 * (io_internal.h), or NULL: smr_futex_sleep. */
	struct shmring_io *io;
	const struct smr_io_ops *io_ops;
};
/* S1-S6 once: announce on every end, re-check, and unless that found
 * something, *stop is set or slice_ns is 0, sleep at most slice_ns. Returns
 * the re-check's non-zero result, or 0: the caller looks again. */
int  smr_sleep(const struct smr_sleep_set *s, uint64_t slice_ns);
/* S5 without io_uring: futex_waitv on w (any n; see wait.c for n > 128). */
SMR_EXPORT void smr_futex_sleep(struct smr_futex_waitv *w, unsigned n, uint64_t slice_ns);
void smr_wake_peer(struct shmring *r);
/* 0 once this process is registered for membarrier's global expedited
 * barrier (again after a fork), -1 where the kernel refuses it. */
int  smr_asym_register(void);
void smr_wake_peer_always(struct shmring *r);
/* S3 of the sleep protocol alone: a full fence, and membarrier where the
 * peer's W2 is light (asymmetric wakes). */
void smr_sleeper_fence(const struct shmring *r);
/* Shared cores (wait.c): the wake this end owes its peer, now. */
void smr_wake_owed(struct shmring *r);
/* The rings whose owed wakes every wait of this process flushes before it
 * spins or sleeps (a kernel's ports; NULL, 0 to forget them). */
void smr_wake_register(struct shmring *const *rings, unsigned n);
void smr_wake_flush_all(void);
uint64_t smr_shared_idle_ns(void);
uint64_t smr_owner_word_self(void);
SMR_EXPORT uint64_t smr_peer_check_ms(void);
bool smr_owner_alive(uint64_t owner);

/* lineage.c's hooks, the ones short enough to inline (lineage.h). */
static inline void smr_lin_peeked(struct shmring *r)
{
	r->lin->hot->attr = r->lin->index; /* sends now answer this message */
	r->lin->hot->attr_p = r->pos;
}

/* ring_io.c */
int  smr_publish(struct shmring *r);
int  smr_producer_resume(struct shmring *r, uint64_t tail);
int  smr_take_position(struct shmring *r, uint64_t *tail);
void smr_count_redelivered(struct shmring *r, uint64_t tail);
int  smr_walk_records(const struct shmring *r, uint64_t from, uint64_t to, uint64_t *msgs,
		      uint64_t *bytes);
int  smr_consumer_ready(struct shmring *r);

/* ring_bcast.c: broadcast rings, reached from ring.c, ring_io.c and wait.c
 * through these hooks only (each call site is marked "broadcast"). */
#define SMR_BCAST_PRODUCER 1 /* r->peer is a private dummy; wakes go to every consumer */
#define SMR_BCAST_BLOCK    2 /* a consumer on the SPSC path, one of several wakers */
#define SMR_BCAST_DROP     3 /* a consumer whose tail the producer may move (CAS) */
struct shmring_bcast_opts;
int  smr_ring_create(const char *name, const struct shmring_opts *opts,
		     const struct shmring_bcast_opts *bc, struct shmring **ring);
int  smr_ring_attach(const char *name_or_fd, enum shmring_role role, int bcast_index,
		     struct shmring **ring);
struct smr_bcast *smr_bcast_new(unsigned index);
int  smr_bcast_init(struct shmring *r, const struct shmring_bcast_opts *bc);
int  smr_bcast_validate(struct shmring *r, uint32_t version, uint64_t size);
int  smr_bcast_bind(struct shmring *r);
uint64_t smr_bcast_take_tail(struct shmring *r);
int  smr_bcast_refresh(struct shmring *r);
void smr_bcast_wake(struct shmring *r, int always);
int  smr_bcast_moved(struct shmring *r);
int  smr_bcast_release(struct shmring *r);
void smr_bcast_publish_tail(struct shmring *r);
int  smr_bcast_stats(const struct shmring *r, struct shmring_stats *st);

#endif
