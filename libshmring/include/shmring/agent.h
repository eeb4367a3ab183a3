/* SPDX-License-Identifier: MIT */
/*
 * shmring/agent.h - the ring protocol for agents that drive a ring end
 * through shared memory directly: a persistent GPU kernel polling a ring
 * registered as mapped host memory (cuda.h), or any code that cannot call
 * the library. One header, compiled two ways:
 *
 *   nvcc (__CUDACC__): __device__ functions; every shared word is accessed
 *     through cuda::atomic_ref with thread_scope_system, the scope that
 *     orders a GPU's accesses against a CPU's (read-modify-write atomics
 *     on mapped host memory are not atomic against the CPU over PCIe; this
 *     code has none).
 *   C11: static inline functions over <stdatomic.h>. The library's tests
 *     run this same code in a thread against the library (ring-test), so the
 *     GPU's protocol is checked on machines without a GPU.
 *
 * The protocol is the library's (ring_io.c, docs/ring.md), labels included:
 *   producer R1: payload, zero of the next slot, then store-release of the
 *     header; head is stored (relaxed) before the header, a hint.
 *   consumer C1: load-acquire of the header at its position; C2: after the
 *     reads, store-release of tail.
 *   producer P2: load-acquire of tail before overwriting freed bytes.
 * Differences, all on the agent's side only:
 *   - a producer agent never holds headers back (no batched publication);
 *     after the header it store-releases its msgs counter, which its host
 *     watches to wake a sleeping consumer (shmring_notify) -- a GPU cannot
 *     make the futex call, and the counter, unlike head, is written after
 *     the header, so a host that saw it change knows the record is visible;
 *   - an agent never sleeps and never wakes: calls return 0 for "nothing
 *     now"; the caller polls (and backs off) and its host does the wakes.
 *
 * An agent end is one thread's: the device kernel calls these from one thread
 * (payload work may be spread over the block; __syncthreads() before commit).
 * Everything read from shared memory is bounds-checked, as in the library.
 */
#ifndef SHMRING_AGENT_H
#define SHMRING_AGENT_H

#include <stdint.h>

#include "shmring/ring.h"

/*
 * Shared-word accessors, private to this header: every SHMRING_AGENT_*_
 * name (trailing underscore) is #undef'd at its end, so none reaches the
 * code that includes it.
 */
#if defined(__CUDACC__)
#include <cuda/atomic>
#define SHMRING_AGENT_FN_ static __host__ __device__ __forceinline__
#define SHMRING_AGENT_U64_(p) cuda::atomic_ref<uint64_t, cuda::thread_scope_system>(*(uint64_t *)(p))
#define SHMRING_AGENT_U32_(p) cuda::atomic_ref<uint32_t, cuda::thread_scope_system>(*(uint32_t *)(p))
#define SHMRING_AGENT_LOAD_ACQ64_(p)    SHMRING_AGENT_U64_(p).load(cuda::memory_order_acquire)
#define SHMRING_AGENT_LOAD_RLX64_(p)    SHMRING_AGENT_U64_(p).load(cuda::memory_order_relaxed)
#define SHMRING_AGENT_STORE_REL64_(p, v) SHMRING_AGENT_U64_(p).store((v), cuda::memory_order_release)
#define SHMRING_AGENT_STORE_RLX64_(p, v) SHMRING_AGENT_U64_(p).store((v), cuda::memory_order_relaxed)
#define SHMRING_AGENT_LOAD_ACQ32_(p)    SHMRING_AGENT_U32_(p).load(cuda::memory_order_acquire)
#define SHMRING_AGENT_LOAD_RLX32_(p)    SHMRING_AGENT_U32_(p).load(cuda::memory_order_relaxed)
#else
#include <stdatomic.h>
#define SHMRING_AGENT_FN_ static inline
#define SHMRING_AGENT_LOAD_ACQ64_(p) \
	atomic_load_explicit((_Atomic uint64_t *)(void *)(p), memory_order_acquire)
#define SHMRING_AGENT_LOAD_RLX64_(p) \
	atomic_load_explicit((_Atomic uint64_t *)(void *)(p), memory_order_relaxed)
#define SHMRING_AGENT_STORE_REL64_(p, v) \
	atomic_store_explicit((_Atomic uint64_t *)(void *)(p), (v), memory_order_release)
#define SHMRING_AGENT_STORE_RLX64_(p, v) \
	atomic_store_explicit((_Atomic uint64_t *)(void *)(p), (v), memory_order_relaxed)
#define SHMRING_AGENT_LOAD_ACQ32_(p) \
	atomic_load_explicit((_Atomic uint32_t *)(void *)(p), memory_order_acquire)
#define SHMRING_AGENT_LOAD_RLX32_(p) \
	atomic_load_explicit((_Atomic uint32_t *)(void *)(p), memory_order_relaxed)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ring layout this protocol speaks, a wire format. The library states
 * each of these again from its own layout definitions at build time (a
 * static_assert per constant, and per width and alignment of every shared
 * word reached through struct shmring_mapping), so a layout change that
 * would leave this header behind does not compile. The word offsets
 * themselves come from shmring_mapping at run time.
 *
 * A record: an 8-byte header, {u32 len (low half), u32 type (high half)},
 * then the payload, padded to 8 bytes.
 */
#define SHMRING_AGENT_LAYOUT_VERSION 4u
#define SHMRING_AGENT_REC_HDR        8u
#define SHMRING_AGENT_REC_ALIGN      8u
#define SHMRING_AGENT_REC_TYPE_SHIFT 32
#define SHMRING_AGENT_REC_MSG        0x4d53u /* "SM" */
#define SHMRING_AGENT_REC_PAD        0x4150u /* "PA" */
/* A piece of a message larger than max_msg (shmring_send).
 * An agent does not reassemble them: its peek reports one as
 * SHMRING_AGENT_CORRUPT. Keep an agent's messages within max_message. */
#define SHMRING_AGENT_REC_PIECE      0x4950u /* "PI" */

/* Results besides a length / 1. */
#define SHMRING_AGENT_EMPTY   0   /* nothing now: poll again */
#define SHMRING_AGENT_EOS     (-1) /* consumer: producer closed, all read */
#define SHMRING_AGENT_CORRUPT (-2) /* a shared word broke the protocol */
#define SHMRING_AGENT_CLOSED  (-3) /* producer: the consumer closed its end */
#define SHMRING_AGENT_TOOBIG  (-4) /* producer: larger than the ring's max message */

/* One end as an agent sees it. Plain data: pass it to a device kernel by
 * value, or keep it in device memory. Pointers are the agent's (device
 * pointers for a GPU). */
struct shmring_agent_end {
	uint8_t  *data;
	uint64_t  mask, cap, max_msg;
	uint64_t  pos;       /* this end's position */
	uint64_t  peer_pos;  /* producer: cached tail */
	uint64_t  cur_rec;   /* record reserved / peeked, 0 = none */
	uint32_t  cur_len;
	uint32_t  pending;   /* consumer: releases not yet published */
	uint32_t  batch;     /* consumer: publish tail every N releases */
	int       role;      /* SHMRING_ROLE_PRODUCER / _CONSUMER */
	uint64_t  msgs, bytes;
	uint64_t *head, *tail;
	uint32_t *peer_closed;
	uint64_t *my_msgs, *my_bytes;
	uint64_t *peeked;    /* consumer */
};

SHMRING_AGENT_FN_ uint64_t shmring_agent_rec_size(uint64_t len)
{
	return (SHMRING_AGENT_REC_HDR + len + SHMRING_AGENT_REC_ALIGN - 1u) &
	       ~(uint64_t)(SHMRING_AGENT_REC_ALIGN - 1u);
}

/*
 * Set up an end from a mapping (shmring_mapping, in the host process).
 * base: the agent's address of m->base (cudaHostGetDevicePointer's, or
 * m->base itself for a CPU agent). The counters are read through m->base,
 * on the host, so the totals continue. batch: consumer publication interval.
 */
SHMRING_AGENT_FN_ void shmring_agent_init(struct shmring_agent_end *e,
					  const struct shmring_mapping *m, void *base, uint32_t batch)
{
	uint8_t *b = (uint8_t *)base;
	const uint8_t *hb = (const uint8_t *)m->base;
	int prod = m->role == SHMRING_ROLE_PRODUCER;
	e->data = b + m->data_offset;
	e->cap = m->capacity;
	e->mask = m->capacity - 1;
	e->max_msg = m->max_message;
	e->pos = m->pos;
	e->peer_pos = SHMRING_AGENT_LOAD_ACQ64_(hb + m->tail);
	e->cur_rec = 0;
	e->cur_len = 0;
	e->pending = 0;
	e->batch = batch ? batch : 1;
	e->role = m->role;
	e->head = (uint64_t *)(b + m->head);
	e->tail = (uint64_t *)(b + m->tail);
	e->peer_closed = (uint32_t *)(b + (prod ? m->consumer_closed : m->producer_closed));
	e->my_msgs = (uint64_t *)(b + (prod ? m->producer_msgs : m->consumer_msgs));
	e->my_bytes = (uint64_t *)(b + (prod ? m->producer_bytes : m->consumer_bytes));
	e->peeked = (uint64_t *)(b + m->consumer_peeked);
	e->msgs = SHMRING_AGENT_LOAD_RLX64_(hb + (prod ? m->producer_msgs : m->consumer_msgs));
	e->bytes = SHMRING_AGENT_LOAD_RLX64_(hb + (prod ? m->producer_bytes : m->consumer_bytes));
}

SHMRING_AGENT_FN_ uint64_t *shmring_agent_hdr(const struct shmring_agent_end *e, uint64_t pos)
{
	return (uint64_t *)(void *)(e->data + (pos & e->mask));
}

/* Make this end's progress visible: consumer, tail (C2); both, counters. */
SHMRING_AGENT_FN_ void shmring_agent_publish(struct shmring_agent_end *e)
{
	if (e->role == SHMRING_ROLE_CONSUMER) {
		/* C2: release; every read of the freed records is done. Pairs
		 * with the producer's P2 and with the host's acquire of tail. */
		SHMRING_AGENT_STORE_REL64_(e->tail, e->pos);
		SHMRING_AGENT_STORE_RLX64_(e->my_bytes, e->bytes);
		SHMRING_AGENT_STORE_RLX64_(e->my_msgs, e->msgs);
	} else {
		SHMRING_AGENT_STORE_RLX64_(e->my_bytes, e->bytes);
		/* Release, after the headers: the host acquires msgs and then
		 * wakes a sleeping consumer, which must find the records. */
		SHMRING_AGENT_STORE_REL64_(e->my_msgs, e->msgs);
	}
	e->pending = 0;
}

/*
 * Consumer: the next message. Returns its length (> 0) with *buf in the ring,
 * valid until release; SHMRING_AGENT_EMPTY, _EOS or _CORRUPT. Peeking again
 * before release returns the same message.
 */
SHMRING_AGENT_FN_ int64_t shmring_agent_peek(struct shmring_agent_end *e, const void **buf)
{
	for (;;) {
		uint64_t off = e->pos & e->mask;
		/* C1: acquire; pairs with the producer's header release (R1). */
		uint64_t h = SHMRING_AGENT_LOAD_ACQ64_(shmring_agent_hdr(e, e->pos));
		if (h == 0) {
			if (e->pending)
				shmring_agent_publish(e); /* a producer waiting for room */
			/* Acquire: closed is released after the last header. */
			if (!SHMRING_AGENT_LOAD_ACQ32_(e->peer_closed))
				return SHMRING_AGENT_EMPTY;
			h = SHMRING_AGENT_LOAD_ACQ64_(shmring_agent_hdr(e, e->pos));
			if (h == 0)
				return SHMRING_AGENT_EOS;
		}
		uint32_t n = (uint32_t)h, type = (uint32_t)(h >> SHMRING_AGENT_REC_TYPE_SHIFT);
		uint64_t rec = shmring_agent_rec_size(n);
		if (type == SHMRING_AGENT_REC_MSG && n != 0 && n <= e->max_msg && off + rec <= e->cap) {
			e->cur_rec = rec;
			e->cur_len = n;
			/* Relaxed: read only by a successor taking the role over. */
			SHMRING_AGENT_STORE_RLX64_(e->peeked, e->pos + rec);
			*buf = e->data + off + SHMRING_AGENT_REC_HDR;
			return (int64_t)n;
		}
		/* A pad runs exactly to the end and is shorter than half the ring
		 * (ring_io.c): two never follow each other, the loop ends. */
		if (type != SHMRING_AGENT_REC_PAD || (uint64_t)n + SHMRING_AGENT_REC_HDR != e->cap - off ||
		    e->cap - off > e->cap / 2)
			return SHMRING_AGENT_CORRUPT;
		e->pos += e->cap - off;
		e->pending++; /* the skipped bytes go back with the next release */
	}
}

SHMRING_AGENT_FN_ void shmring_agent_release(struct shmring_agent_end *e)
{
	e->pos += e->cur_rec;
	e->cur_rec = 0;
	e->msgs++;
	e->bytes += e->cur_len;
	if (++e->pending >= e->batch)
		shmring_agent_publish(e);
}

/*
 * Producer: room for len bytes. Returns 1 with *buf in the ring, or
 * SHMRING_AGENT_EMPTY (full: poll again), _CLOSED, _TOOBIG, _CORRUPT.
 */
SHMRING_AGENT_FN_ int shmring_agent_reserve(struct shmring_agent_end *e, uint64_t len, void **buf)
{
	if (len == 0 || len > e->max_msg)
		return SHMRING_AGENT_TOOBIG;
	uint64_t rec = shmring_agent_rec_size(len);
	uint64_t off = e->pos & e->mask, contig = e->cap - off;
	/* The record (after padding to the end if it does not fit before it)
	 * and the next header's slot (invariant Z, ring_io.c). */
	uint64_t need = (rec <= contig ? rec : contig + rec) + SHMRING_AGENT_REC_HDR;
	if (e->cap - (e->pos - e->peer_pos) < need) {
		/* P2: acquire; pairs with the consumer's release of tail (C2). */
		uint64_t t = SHMRING_AGENT_LOAD_ACQ64_(e->tail);
		if (e->pos - t > e->cap || (t & (SHMRING_AGENT_REC_ALIGN - 1u)))
			return SHMRING_AGENT_CORRUPT;
		e->peer_pos = t;
		if (e->cap - (e->pos - t) < need)
			return SHMRING_AGENT_LOAD_RLX32_(e->peer_closed) ? SHMRING_AGENT_CLOSED
									 : SHMRING_AGENT_EMPTY;
	}
	if (rec > contig) {
		/* Z for the slot at 0, head over the pad, then R1 for the pad. */
		SHMRING_AGENT_STORE_RLX64_(shmring_agent_hdr(e, e->pos + contig), (uint64_t)0);
		SHMRING_AGENT_STORE_RLX64_(e->head, e->pos + contig);
		SHMRING_AGENT_STORE_REL64_(shmring_agent_hdr(e, e->pos),
			(uint64_t)(contig - SHMRING_AGENT_REC_HDR) |
			((uint64_t)SHMRING_AGENT_REC_PAD << SHMRING_AGENT_REC_TYPE_SHIFT));
		e->pos += contig;
		off = 0;
	}
	e->cur_rec = rec;
	e->cur_len = (uint32_t)len;
	*buf = e->data + off + SHMRING_AGENT_REC_HDR;
	return 1;
}

/* Producer: publish the reserved record with len <= the reserved length. */
SHMRING_AGENT_FN_ void shmring_agent_commit(struct shmring_agent_end *e, uint64_t len)
{
	uint64_t at = e->pos, rec = shmring_agent_rec_size(len);
	/* Z: the next slot reads 0 before the record is visible; relaxed, the
	 * header's release orders it. Head before header: tail <= head. */
	SHMRING_AGENT_STORE_RLX64_(shmring_agent_hdr(e, at + rec), (uint64_t)0);
	SHMRING_AGENT_STORE_RLX64_(e->head, at + rec);
	/* R1: the payload and the zero above are visible before the header. */
	SHMRING_AGENT_STORE_REL64_(shmring_agent_hdr(e, at),
		len | ((uint64_t)SHMRING_AGENT_REC_MSG << SHMRING_AGENT_REC_TYPE_SHIFT));
	e->pos = at + rec;
	e->cur_rec = 0;
	e->msgs++;
	e->bytes += len;
	shmring_agent_publish(e);
}

/*
 * The agent's host: the process that holds the end's role and cannot leave
 * the futex wakes to an agent that cannot make system calls. It watches one
 * shared word per end -- the consumer agent's tail, the producer agent's
 * msgs counter, both stored with release after the progress they announce --
 * and when it moved, wakes the peer if that sleeps (shmring_notify: the
 * library's W2..W4, so the peer's S1..S6 sleep cannot miss it). Host code
 * only.
 */
struct shmring_agent_watch {
	struct shmring *ring;
	const uint64_t *word;
	uint64_t last;
};

static inline void shmring_agent_watch_init(struct shmring_agent_watch *w, struct shmring *ring,
					    const struct shmring_mapping *m)
{
	const uint8_t *hb = (const uint8_t *)m->base;
	w->ring = ring;
	w->word = (const uint64_t *)(const void *)(hb + (m->role == SHMRING_ROLE_PRODUCER
							 ? m->producer_msgs : m->tail));
	w->last = SHMRING_AGENT_LOAD_ACQ64_(w->word);
}

/* 1 if the agent made progress since the last look (and the peer was woken
 * if it slept), else 0. */
static inline int shmring_agent_watch_poll(struct shmring_agent_watch *w)
{
	/* Acquire: pairs with the agent's release of the word, so what it
	 * announces (headers, freed space) is visible before the wake. */
	uint64_t v = SHMRING_AGENT_LOAD_ACQ64_(w->word);
	if (v == w->last)
		return 0;
	w->last = v;
	shmring_notify(w->ring);
	return 1;
}

#ifdef __cplusplus
}
#endif

#undef SHMRING_AGENT_FN_
#undef SHMRING_AGENT_U64_
#undef SHMRING_AGENT_U32_
#undef SHMRING_AGENT_LOAD_ACQ64_
#undef SHMRING_AGENT_LOAD_RLX64_
#undef SHMRING_AGENT_STORE_REL64_
#undef SHMRING_AGENT_STORE_RLX64_
#undef SHMRING_AGENT_LOAD_ACQ32_
#undef SHMRING_AGENT_LOAD_RLX32_
#endif
