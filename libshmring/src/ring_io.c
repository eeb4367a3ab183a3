/* SPDX-License-Identifier: MIT */
/*
 * The data path: reserve/commit on the producer, peek/release on the
 * consumer, and publication.
 *
 * The record header is the commit flag (as in Aeron's log buffers): a record
 * becomes visible when the producer store-releases its non-zero header, and
 * the consumer polls the header of the next record, in the data line it has
 * to read anyway. The consumer never reads `head` on the fast path, so the
 * only line that crosses between the cores per message is the one holding
 * the message.
 *
 * Invariant Z: the 8 bytes at the producer's position (where the next header
 * goes) read as 0 to the consumer until that record is committed. The
 * producer keeps it by zeroing the slot after each record before releasing
 * the record's header, and by reserving those 8 bytes with every record.
 * A fresh segment is zero-filled, so Z holds from the start.
 *
 * Ordering (labels used below and in docs/ring.md):
 *   R1 producer: payload, then the next slot's zero, then store-release of
 *      the record header (or, for a batch, of the first held-back header)
 *   C1 consumer: load-acquire of the header at its position, then reads of
 *      the payload and of the slot after it
 *      R1 -> C1: a visible header means complete payload and a zeroed
 *      successor (or a later, valid header)
 *   C2 consumer: reads of the record, then store-release of `tail`
 *   P2 producer: load-acquire of `tail`, then overwrites the freed bytes
 *      C2 -> P2: the producer never overwrites bytes still being read
 *
 * Messages longer than a record travel as PIECE records (ring_piece.c):
 * ordinary records to everything here, with their own type, so the only
 * cost on this path is peek's type check, in its cold branch.
 *
 * `head` is still stored (before the header release, so tail <= head always)
 * for space accounting, statistics and a producer taking over; nothing
 * synchronises on it.
 *
 * Adaptive publication. A consumer that keeps up polls the header slot the
 * producer writes next, so at batch 1 each message moves that line between
 * the cores twice; a producer that holds its first header back and releases
 * a run of records at once lets the consumer read a run while the producer
 * writes the next (docs/benchmarks.md: the producer's hold is the whole
 * gain of batching). So a producer at the default batch of 1 holds while it
 * streams, and only then:
 *   - it streams when it commits SMR_HOLD_RUN (32) per SMR_STREAM_NS (4 us)
 *     or faster (the clock is read once per 32 commits, then once per run)
 *     and its thread waited for input on no ring in between
 *     (smr_tls_waits): a ping-pong or a request/reply never holds;
 *   - a hold ends at its 32nd commit, at the first commit after the stream
 *     stops, and at any publication (flush, a wait for room, close, detach);
 *   - a producer that goes quiet outside the library while it holds: the
 *     hold is offered in head.held, and a consumer that has waited
 *     SMR_TAKE_NS (2 us) for it, or goes to sleep, or polls it unchanged for
 *     2 us, takes it and makes it visible itself.
 * An explicit batch (shmring_set_batch > 1) offers its holds the same way.
 * Rings with a journal (a kernel's outputs, lineage.c) never hold
 * adaptively and never offer: their journal must know exactly which records
 * a consumer can see. Broadcast rings neither.
 *
 *   H1 producer: payload, the zero after it (Z), then store-release of the
 *      held word (position and length), then W2/W3 as for a publication:
 *      a consumer asleep or driven by an agent gets the batch released
 *      at once instead
 *   H2 consumer: load-acquire of the held word; a CAS sets SMR_HELD_TAKEN;
 *      it stores the header itself (the value the producer will store)
 *      H1 -> H2: a taken header's payload and successor zero are visible
 *   H3 producer, publishing: the header release (R1), then store-release
 *      of 0 to the held word: a take that fails on 0 finds the header
 *   H4 producer taking the role: exchange of the held word with 0; a taken
 *      one's header is stored again (idempotent), so the walk from tail
 *      (smr_producer_resume) steps over what the consumer may be reading
 *   H5 producer, each commit of an offered hold: after the header release,
 *      a load of the held word; taken, it publishes (W2..W4), as at batch
 *      1: what it commits is visible at once and the consumer may sleep.
 *      A consumer that took and then sleeps made its announcement and a
 *      membarrier (S2, S3) before it re-checks (S4): a commit whose load
 *      came after the membarrier sees TAKEN and wakes it, one before it is
 *      seen by S4. So only rings with asymmetric wakes offer holds.
 * The header store is idempotent: both ends store the same value at the
 * same position. The producer skips its store when its cached tail is past
 * the held record: the consumer took and released it, and the producer may
 * have written newer records over it since (a hold may span a wrap).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "journal.h"
#include "ring_internal.h"
#include "ring_piece.h"
#include "sys.h"

#define COLD __attribute__((noinline, cold))

static inline _Atomic uint64_t *hdr_at(const struct shmring *r, uint64_t pos)
{
	return (_Atomic uint64_t *)(void *)(r->data + (pos & r->mask));
}

/* Consumer: the position its waits wait for, the read-ahead cursor when one
 * is past its position (a consumer holding a window waits for the message
 * after it). */
static inline uint64_t wait_pos(const struct shmring *r)
{
	return (int64_t)(r->ahead - r->pos) > 0 ? r->ahead : r->pos;
}

/* A held record's length as the held word gives it, checked as peek checks
 * a header's: 0 when it cannot be one at at. */
static inline uint32_t held_len(const struct shmring *r, uint64_t w, uint64_t at)
{
	uint32_t len = (uint32_t)(w & SMR_HELD_LEN);
	return len && len <= r->max_msg && (at & r->mask) + smr_rec_size(len) <= r->cap ? len : 0;
}

/* ---- publication ------------------------------------------------------- */

/* W2..W4 (wait.c), its common case inline: on a ring with asymmetric
 * wakes, a peer that is awake and no wake owed cost a compiler barrier and
 * two loads of lines that stay in this cache. */
static inline void wake_peer(struct shmring *r)
{
	if (__builtin_expect(r->bcast_kind == SMR_BCAST_PRODUCER, 0)) {
		smr_bcast_wake(r, 0); /* broadcast: every consumer (ring_bcast.c) */
		return;
	}
	if (r->asym_wake) {
		atomic_signal_fence(memory_order_seq_cst); /* W2, light half */
		/* W3, acquire as in smr_wake_peer, which does it again when
		 * there is something to do. */
		if (!smr_load_acquire(&r->peer->sleeping) && !smr_load_relaxed(&r->owed))
			return;
	}
	smr_wake_peer(r);
}

/* Publication, inline on the data path; smr_publish for the rest. */
static inline int publish(struct shmring *r)
{
	if (r->role == SHMRING_ROLE_PRODUCER) {
		if (r->held) {
			/* Relaxed: head is a hint (see top); the release below
			 * orders it before the batch becomes visible. */
			smr_store_relaxed(r->my_index, r->pos);
			/* R1 for the whole batch: every header behind this one was
			 * written before it, so one release exposes them all. A
			 * consumer that took the hold stored this same value; one
			 * that also released it (our cached tail is past it) may
			 * have let us write newer records over it: no store then. */
			if (!r->offered || (int64_t)(r->peer_pos - r->held_pos) <= 0)
				smr_store_release(hdr_at(r, r->held_pos), r->held_hdr);
			if (r->offered) {
				/* H3: release, after the header: a consumer whose take
				 * fails on the cleared word finds the header. */
				smr_store_release(&r->hdr->head.held, 0);
				r->offered = 0;
			}
			r->held = 0;
			r->limit = r->batch;
		}
		uint64_t fill = r->pos - r->peer_pos; /* upper bound: tail may be ahead */
		if (fill > smr_load_relaxed(&r->my_ctr->high_fill))
			smr_store_relaxed(&r->my_ctr->high_fill, fill);
	} else {
		if (r->lin && r->lin->hot->nout) /* a kernel's outputs first (lineage.c) */
			smr_lin_before_tail(r);
		/* C2: release; pairs with the producer's load-acquire of tail
		 * (P2) in refresh_tail. Every read of the freed records is done.
		 * A broadcast drop consumer's tail is a CAS (ring_bcast.c). */
		if (__builtin_expect(r->bcast_kind == SMR_BCAST_DROP, 0))
			smr_bcast_publish_tail(r);
		else
			smr_store_release(r->my_index, r->pos);
	}
	/* Relaxed: single writer; counter readers only want a recent value. */
	smr_store_relaxed(&r->my_ctr->msgs, r->msgs);
	smr_store_relaxed(&r->my_ctr->bytes, r->bytes);
	r->pending = 0;
	wake_peer(r); /* W2..W4: wake only if the peer sleeps */
	return 0;
}

int smr_publish(struct shmring *r)
{
	return publish(r);
}

/* ---- producer ---------------------------------------------------------- */

/*
 * Refresh the cached tail. -EBADMSG when it cannot be right (ahead of our
 * head, more than a ring behind, or off the 8-byte grid): a buggy or hostile
 * consumer must not make us write over bytes it has not released.
 */
static int refresh_tail(struct shmring *r)
{
	if (r->bcast) /* broadcast: the slowest consumer's tail (ring_bcast.c) */
		return smr_bcast_refresh(r);
	/* P2: acquire; pairs with the consumer's store-release of tail (C2). */
	uint64_t t = smr_load_acquire(r->peer_index);
	if (r->pos - t > r->cap || (t & 7u)) {
		smr_seterr("shmring '%s': shared tail index %llu is inconsistent with head "
			   "%llu: the segment is corrupt; recreate the ring", r->name,
			   (unsigned long long)t, (unsigned long long)r->pos);
		return -EBADMSG;
	}
	r->peer_pos = t;
	return 0;
}

/* Bytes a record of size rec needs at the current position: padding to the
 * end of the data area if it does not fit before it, the record, and the
 * slot for the next header (invariant Z). */
static inline uint64_t space_needed(const struct shmring *r, uint64_t rec)
{
	uint64_t contig = r->cap - (r->pos & r->mask);
	return (rec <= contig ? rec : contig + rec) + SHMRING_REC_HDR;
}

static int producer_ready(struct shmring *r)
{
	int rc = refresh_tail(r);
	if (rc < 0)
		return rc;
	if (r->cap - (r->pos - r->peer_pos) >= r->want)
		return 1;
	/* Relaxed: a flag; the consumer's close orders nothing we read. */
	return smr_load_relaxed(&r->peer->closed) ? -EPIPE : 0;
}

/*
 * After a wait for room, let the room grow before writing on: until an
 * eighth of the ring is free, SMR_ROOM_NS at most. A producer faster than
 * its consumer finds the ring full; taking each record's room as soon as
 * it is free puts it right behind the consumer, in lock step: one transfer
 * of the tail's line between the cores for every few records, the
 * producer writing lines the consumer has just read (64 B, default
 * options: one run in 40 fell into it and stayed, 50 M messages at 15
 * instead of 90 M msg/s, 9 M full events; docs/ring.md, "A full ring").
 * Spinning, with a look at the tail every 8 pauses so the consumer's
 * stores to it are not fought over; not on a kernel's port that shares a
 * cpu (the supervisor placed it with other kernels), nor for a producer
 * that asked to sleep, to yield or to spin less than SMR_ROOM_NS, nor on a
 * broadcast ring (whose refresh moves drop consumers).
 */
static COLD void let_room_grow(struct shmring *r)
{
	if (r->bcast || r->shared || r->wait == SHMRING_WAIT_FUTEX ||
	    r->wait == SHMRING_WAIT_YIELD ||
	    (r->wait == SHMRING_WAIT_ADAPTIVE && (uint64_t)r->spin_us * 1000u < SMR_ROOM_NS))
		return;
	uint64_t low = r->cap / SMR_ROOM_DIV, t0 = smr_now_ns();
	while (r->cap - (r->pos - r->peer_pos) < low) {
		for (int i = 0; i < 8; i++)
			smr_cpu_relax();
		/* An error here is the next reserve's to report. */
		if (refresh_tail(r) < 0 || smr_now_ns() - t0 > SMR_ROOM_NS)
			return;
	}
}

/* The ring looked full from our cached tail: look again, then wait. */
static COLD int reserve_slow(struct shmring *r, uint64_t need, int timeout_ms)
{
	r->want = need; /* broadcast: how far a refresh moves drop consumers */
	int rc = refresh_tail(r);
	if (rc < 0)
		return rc;
	if (r->cap - (r->pos - r->peer_pos) >= need)
		return 0;
	/* Full. Publish our pending commits first, or a consumer waiting for
	 * them and we waiting for room would wait on each other. (Not a wait
	 * that ends a stream: a producer waiting for room is streaming.) */
	if (r->pending)
		smr_publish(r);
	if (smr_load_relaxed(&r->peer->closed))
		return -EPIPE;
	smr_counter_add(&r->my_ctr->stalls, 1);
	if (timeout_ms == 0)
		return -EAGAIN;
	r->want = need;
	rc = smr_wait(r, timeout_ms, producer_ready);
	if (rc < 0)
		return rc;
	let_room_grow(r);
	return 0;
}

/* A restarted kernel repeats a send its predecessor committed (lineage.c):
 * hand out scratch memory; commit drops it and counts it as suppressed. */
static COLD int reserve_repeat(struct shmring *r, size_t len, void **buf)
{
	void *s = smr_lin_scratch(r, len);
	if (!s)
		return -ENOMEM;
	r->discard = 1;
	r->cur_rec = smr_rec_size(len);
	r->cur_len = (uint32_t)len;
	*buf = s;
	return 0;
}

/* Room for a record of payload len at our position (reserve after its
 * checks; the pieces of a large message). */
static inline int reserve_rec(struct shmring *r, size_t len, void **buf, int timeout_ms)
{
	uint64_t rec = smr_rec_size(len);
	uint64_t need = space_needed(r, rec);
	if (__builtin_expect(r->cap - (r->pos - r->peer_pos) < need, 0)) {
		int rc = reserve_slow(r, need, timeout_ms);
		if (rc < 0)
			return rc;
	}
	uint64_t off = r->pos & r->mask;
	uint64_t contig = r->cap - off;
	if (rec > contig) {
		/* Does not fit before the end: pad to the end and start at 0.
		 * Z for the slot at offset 0 first, then R1 for the pad. A pad
		 * not hidden behind a held batch is visible at once: move head
		 * over it first, so the consumer's tail never passes head. */
		smr_store_relaxed(hdr_at(r, r->pos + contig), 0);
		if (!r->held || r->offered) /* an offered hold may be taken */
			smr_store_relaxed(r->my_index, r->pos + contig);
		smr_store_release(hdr_at(r, r->pos),
				  smr_rec_pack((uint32_t)(contig - SHMRING_REC_HDR), SHMRING_REC_PAD));
		r->pos += contig;
		off = 0;
	}
	r->cur_rec = rec;
	r->cur_len = (uint32_t)len;
	*buf = r->data + off + SHMRING_REC_HDR;
	return 0;
}

int shmring_reserve(struct shmring *r, size_t len, void **buf, int timeout_ms)
{
	if (r->role != SHMRING_ROLE_PRODUCER)
		return -EBADF;
	if (r->cur_rec || len == 0)
		return -EINVAL; /* one reservation at a time; no empty messages */
	if (__builtin_expect(r->closed, 0))
		return -EPIPE; /* after end of stream nobody would read it */
	if (len > r->max_msg)
		return -EMSGSIZE;
	if (__builtin_expect(r->suppress, 0) && smr_lin_suppress(r))
		return reserve_repeat(r, len, buf);
	return reserve_rec(r, len, buf, timeout_ms);
}

int smr_rec_reserve(struct shmring *r, uint64_t len, void **buf, int timeout_ms)
{
	return reserve_rec(r, (size_t)len, buf, timeout_ms);
}

/* A message piece commits with its own type, published at once: the
 * consumer copies it while we write the next (ring_piece.c). */
void smr_piece_commit(struct shmring *r, uint64_t len)
{
	uint64_t at = r->pos, rec = smr_rec_size(len);
	/* Z, relaxed: ordered by the header release below. */
	smr_store_relaxed(hdr_at(r, at + rec), 0);
	r->pos = at + rec;
	r->cur_rec = 0;
	smr_store_relaxed(r->my_index, r->pos); /* head before header: tail <= head */
	/* R1: the piece header, its bytes and the zero above are visible
	 * before the record is; pairs with the consumer's C1. */
	smr_store_release(hdr_at(r, at), smr_rec_pack((uint32_t)len, SHMRING_REC_PIECE));
}

/* ---- adaptive publication (see the top) ------------------------------- */

_Thread_local uint64_t smr_tls_waits __attribute__((tls_model("initial-exec")));

/* A stream: at least SMR_HOLD_RUN commits per SMR_STREAM_NS since the last
 * clock read (streak_t, when r->commits was streak_msgs). now, the clock
 * just read, begins the next measure. */
static int stream_rate(struct shmring *r, uint64_t now)
{
	/* commits: this handle's own count (msgs is reloaded by a resync);
	 * a window is about SMR_HOLD_RUN commits, and a longer one is not
	 * believed (an unmeasured stretch in it could hide a pause). */
	uint64_t n = r->commits - r->streak_msgs;
	int fast = r->streak_t && n <= 2 * SMR_HOLD_RUN &&
		   n * SMR_STREAM_NS >= SMR_HOLD_RUN * (now - r->streak_t);
	r->streak_t = now;
	r->streak_msgs = r->commits;
	return fast;
}

void smr_stream_reset(struct shmring *r)
{
	r->streak = 0;
	r->streak_t = 0;
	r->streaming = 0;
	r->streak_msgs = r->commits;
}

/* The clock once per SMR_HOLD_RUN commits of a streak: are they a stream? */
static __attribute__((noinline)) void stream_clock(struct shmring *r)
{
	r->streaming = stream_rate(r, smr_now_ns());
}

/* Does this producer stream? A wait of this thread since the last commit
 * starts the count again. */
static inline int stream_state(struct shmring *r)
{
	uint64_t w = smr_tls_waits;
	if (__builtin_expect(w != r->seen_waits, 0)) {
		r->seen_waits = w;
		smr_stream_reset(r);
		return 0;
	}
	if (__builtin_expect((++r->streak & (SMR_HOLD_RUN - 1)) == 0, 0))
		stream_clock(r);
	return r->streaming;
}

/* At the start of an adaptive hold, the clock's one read per run: still
 * the rate of a stream since the last read (the run before, usually), so
 * the producer did not pause or slow down; the time dates the hold. A
 * failed check counts SMR_HOLD_RUN commits again before the next. */
static int still_streaming(struct shmring *r)
{
	if (r->streak_msgs == r->commits) { /* this commit's stream check just read it */
		r->held_t = r->streak_t;
		return 1;
	}
	uint64_t now = smr_now_ns();
	r->held_t = now;
	if (stream_rate(r, now))
		return 1;
	r->streaming = 0;
	r->streak = 0;
	return 0;
}

/* H1, then W2/W3: 1 when the hold must end at once (the consumer sleeps,
 * or an agent drives it and cannot take). */
static int offer_hold(struct shmring *r, uint64_t at, uint32_t len)
{
	r->offered = 1;
	smr_counter_add(&r->my_ctr->holds, 1);
	/* When the hold began (still_streaming's clock), or undated (an
	 * explicit batch: smr_take_due). Relaxed: the release below
	 * publishes it. */
	smr_store_relaxed(&r->hdr->head.held_t, r->limit == r->batch ? SMR_HELD_UNDATED : r->held_t);
	/* H1: release; pairs with the acquire in smr_take_held (H2). */
	smr_store_release(&r->hdr->head.held, smr_held_pack(at, len));
	/* W2 (wait.c): the offer before the look at the sleeper's flag, as a
	 * header before it: the sleeper's re-check (S4) takes the offer, or we
	 * see its flag. Light where the sleeper pays (asymmetric wakes). */
	if (r->asym_wake)
		atomic_signal_fence(memory_order_seq_cst);
	else
		smr_fence_full();
	/* W3, acquire as in smr_wake_peer; flags relaxed (the consumer's
	 * mapping fences and takes, so a missed flag costs nothing). */
	return smr_load_acquire(&r->peer->sleeping) != 0 ||
	       (smr_load_relaxed(&r->peer->flags) & SMR_END_AGENT);
}

/* H2 on the word w, naming the record at `at`. */
static int take_word(struct shmring *r, _Atomic uint64_t *hw, uint64_t w, uint64_t at)
{
	/* From shared memory: checked, and ignored (the consumer waits for
	 * the producer's own release) when wrong. */
	uint32_t len = held_len(r, w, at);
	if (!len)
		return 0;
	/* The CAS decides against a producer taking the role over (H4): it
	 * steps over a taken record, and forgets one not taken. Failed: the
	 * producer published (the header is coming) or a new one took over. */
	if (!(w & SMR_HELD_TAKEN) && !smr_cas_strong(hw, &w, w | SMR_HELD_TAKEN))
		return 0;
	/* The header the producer will store too. Relaxed: this thread reads
	 * it next (C1), and what it publishes was acquired above. */
	smr_store_relaxed(hdr_at(r, at), smr_rec_pack(len, SHMRING_REC_MSG));
	smr_counter_add(&r->my_ctr->holds, 1);
	r->take = 0;
	return 1;
}

int smr_take_held(struct shmring *r, uint64_t at)
{
	_Atomic uint64_t *hw = &r->hdr->head.held;
	/* H2: acquire; pairs with the producer's release of the word (H1). */
	uint64_t w = smr_load_acquire(hw);
	return smr_held_names(w, at) ? take_word(r, hw, w, at) : 0;
}

/* Take a hold at `at` that is due: offered SMR_TAKE_NS before now (the
 * bound on how late a held commit is seen by a consumer that looks), or
 * by a producer in this process (a consumer here that finds nothing is not
 * racing a stream it would slow down: often the same thread sent it). An
 * explicit batch's run is not dated (a clock read per run costs its
 * producer a tenth): it is due SMR_TAKE_NS after `since`, when this
 * consumer began to wait, or (since 0, a poll) first saw the offer. */
int smr_take_due(struct shmring *r, uint64_t at, uint64_t now, uint64_t since)
{
	if (r->bcast)
		return 0; /* broadcast rings never hold adaptively */
	/* Acquire: held_t below is this offer's, not an older one (H1 stores
	 * it before its release), and the payload is visible to take_word
	 * (H2). A wrong time from a buggy producer only takes early or late;
	 * take_word's CAS checks the word again. */
	_Atomic uint64_t *hw = &r->hdr->head.held;
	uint64_t w = smr_load_acquire(hw); /* H2's acquire: take_word below */
	if (!smr_held_names(w, at))
		return 0;
	if (smr_load_relaxed(&r->peer->owner) != r->owner_word) {
		if (!now)
			now = smr_now_ns(); /* 0: read it only for an offer here */
		uint64_t t = smr_load_relaxed(&r->hdr->head.held_t);
		if (t == SMR_HELD_UNDATED) {
			if (!since && w != r->poll_w) {
				r->poll_w = w; /* a poll's first sight of this run */
				r->poll_t = now;
			}
			t = since ? since : r->poll_t;
		}
		if ((int64_t)(now - t) < (int64_t)SMR_TAKE_NS)
			return 0;
	}
	return take_word(r, hw, w, at);
}

/* Is a run offered at the position a consumer's wait waits for? A look,
 * for a wait over many inputs that reads the clock only if one is. */
int smr_consumer_offered(const struct shmring *r)
{
	/* Relaxed: a look; smr_take_due acquires the word. */
	return !r->bcast && smr_held_names(smr_load_relaxed(&r->hdr->head.held), wait_pos(r));
}

/* The same at the position a consumer's wait waits for. */
int smr_consumer_take_due(struct shmring *r, uint64_t now, uint64_t since)
{
	return smr_take_due(r, wait_pos(r), now, since);
}

void smr_end_hold(struct shmring *r, uint64_t tail)
{
	if (r->bcast)
		return;
	/* H4: the exchange against a consumer's CAS (H2): taken before it, or
	 * not at all. */
	uint64_t w = atomic_exchange_explicit(&r->hdr->head.held, 0, memory_order_acq_rel);
	if (!(w & SMR_HELD_TAKEN))
		return; /* none, or never visible: the walk stops there */
	/* Where: the position whose low bits the word names, within a ring
	 * of tail; its length checked as peek checks one. */
	uint64_t at = smr_held_at(w, tail);
	uint32_t len = held_len(r, w, at);
	if (at - tail >= r->cap || !len)
		return;
	/* Release, as R1; the same value the consumer stored, if it did. */
	smr_store_release(hdr_at(r, at), smr_rec_pack(len, SHMRING_REC_MSG));
}

/* A kernel's output commits the record ending at head_after: the pair it
 * answers counts one more, and its journal entry says so (lineage.c has
 * the slow case: a restarted kernel still under what the ring held). */
static inline void lineage_commit(struct shmring *r, uint64_t head_after, uint64_t published)
{
	struct smr_lin_hot *h = r->lin->hot;
	if (!h->entries)
		return; /* no lineage for this kernel (too many ports) */
	size_t i = (size_t)r->lin->index * h->nin1 + h->attr;
	struct smr_lin_pair *e = &h->pairs[i];
	if (__builtin_expect(e->lim, 0)) {
		smr_lin_committed(r, head_after, published, 0);
		return;
	}
	if (e->seen && e->p == h->attr_p) {
		e->n++;
	} else {
		e->p = h->attr_p;
		e->n = 1;
		e->seen = 1;
	}
	smr_jnl_lineage_write(&h->entries[i], head_after, e->p, e->n, published);
}

void smr_piece_lineage(struct shmring *r, uint64_t head_after)
{
	lineage_commit(r, head_after, r->pos);
}

int shmring_commit(struct shmring *r, size_t len)
{
	if (r->role != SHMRING_ROLE_PRODUCER)
		return -EBADF;
	if (!r->cur_rec || len == 0 || len > r->cur_len)
		return -EINVAL;
	if (__builtin_expect(r->discard, 0)) {
		r->discard = 0;
		r->cur_rec = 0;
		smr_lin_committed(r, 0, 0, 1);
		return 0;
	}
	uint64_t at = r->pos, rec = smr_rec_size(len);
	uint64_t h = smr_rec_pack((uint32_t)len, SHMRING_REC_MSG);
	/* Z: the slot after this record reads 0 before the record is visible.
	 * Relaxed: the release of the header below orders it. */
	smr_store_relaxed(hdr_at(r, at + rec), 0);
	r->pos = at + rec;
	r->cur_rec = 0;
	r->msgs++;
	r->commits++;
	r->bytes += len;
	/* The lineage entry before the header release (R1) publishes the
	 * record: a successor that sees the record sees the entry. What the
	 * consumer can see now: up to the held header, or to this record. */
	if (r->lin)
		lineage_commit(r, r->pos, r->held ? r->held_pos : at);
	if (r->held) {
		/* Behind the held header. An offered hold may be taken: head
		 * first then (tail <= head). */
		if (r->offered)
			smr_store_relaxed(r->my_index, r->pos);
		smr_store_release(hdr_at(r, at), h); /* R1, visible with the hold */
		/* H5: taken, this record is visible now, and the consumer may
		 * sleep after reading it: publish (W2..W4 wake it). Relaxed, on
		 * our own line; after the release above (a sleeper's membarrier
		 * orders the two: only rings with asymmetric wakes offer). */
		if (r->offered && (smr_load_relaxed(&r->hdr->head.held) & SMR_HELD_TAKEN)) {
			++r->pending;
			return publish(r);
		}
		if (++r->pending >= r->limit)
			return publish(r); /* the next run's start checks the clock */
		/* An adaptive hold ends when this thread waits for input. */
		if (r->limit != r->batch && smr_tls_waits != r->seen_waits)
			return publish(r);
		return 0;
	}
	int adapt = r->adapt && !r->lin;
	if (r->batch > 1 || (adapt && stream_state(r) && still_streaming(r))) {
		/* First of a batch: hold its header back; the records after it
		 * stay invisible behind it until smr_publish releases it. */
		r->held = 1;
		r->held_pos = at;
		r->held_hdr = h;
		if (r->batch == 1)
			r->limit = SMR_HOLD_RUN;
		++r->pending;
		if (adapt) {
			smr_store_relaxed(r->my_index, r->pos); /* tail <= head, as below */
			if (offer_hold(r, at, (uint32_t)len))
				return publish(r);
		}
		return r->pending >= r->limit ? publish(r) : 0;
	}
	if (r->batch == 1)
		smr_store_relaxed(r->my_index, r->pos); /* head before header: tail <= head */
	smr_store_release(hdr_at(r, at), h); /* R1 */
	if (++r->pending >= r->limit)
		return publish(r);
	return 0;
}

int shmring_abandon(struct shmring *r)
{
	if (r->role != SHMRING_ROLE_PRODUCER)
		return -EBADF;
	if (!r->cur_rec)
		return -EINVAL;
	/* Nothing of the record was published (a pad reserve wrote before it
	 * is a record of its own, and harmless); our position did not move
	 * past it, so the next reserve hands the same room out again. A
	 * suppressed repeat (discard) was not counted yet: lineage.c counts
	 * at commit, and smr_lin_suppress only looks. */
	r->cur_rec = 0;
	r->discard = 0;
	return 0;
}

int shmring_send(struct shmring *r, const void *buf, size_t len, int timeout_ms)
{
	void *dst;
	/* Longer than a record can be: in pieces, which both ends copy at
	 * once, of any length (ring_piece.c). Where reserve says -EMSGSIZE, so
	 * every message that went as one record still does. */
	if (__builtin_expect(len > r->max_msg, 0))
		return smr_piece_send(r, buf, len, timeout_ms);
	int rc = shmring_reserve(r, len, &dst, timeout_ms);
	if (rc < 0)
		return rc;
	memcpy(dst, buf, len);
	return shmring_commit(r, len);
}

/* ---- consumer ---------------------------------------------------------- */

int smr_consumer_ready(struct shmring *r)
{
	uint64_t at = wait_pos(r); /* C1 there */
	if (smr_load_acquire(hdr_at(r, at)) != 0)
		return 1;
	if (r->take && smr_take_held(r, at))
		return 1; /* waited SMR_TAKE_NS: a held header made visible */
	if (r->bcast_kind == SMR_BCAST_DROP && smr_bcast_moved(r))
		return 1; /* broadcast: overtaken, look at the new position */
	/* Acquire: pairs with the producer's release of `closed`, which comes
	 * after its last header release. */
	return smr_load_acquire(&r->peer->closed) ? 1 : 0;
}

static COLD int corrupt(struct shmring *r, uint64_t off, uint32_t type, uint32_t len)
{
	smr_seterr("shmring '%s': corrupt record at offset %llu (type 0x%x, length %u): "
		   "the producer wrote outside the protocol; recreate the ring",
		   r->name, (unsigned long long)off, type, len);
	return -EBADMSG;
}

/* Nothing visible at our position: hand back what we consumed, then end of
 * stream, -EAGAIN, or wait. Returns 1 to look again. */
static COLD int peek_slow(struct shmring *r, int timeout_ms)
{
	smr_note_wait();
	if (r->pending)
		smr_publish(r); /* a producer waiting for room can go on */
	if (smr_load_acquire(&r->peer->closed)) {
		/* closed was released after the last header: one more look. */
		return smr_load_acquire(hdr_at(r, r->pos)) != 0 ? 1 : 0;
	}
	/* A poll takes a run offered long enough ago, or by this process; a
	 * wait does so in its spin (wait.c), with the clock it reads anyway. */
	if (timeout_ms == 0 && smr_take_due(r, r->pos, 0, 0))
		return 1;
	smr_counter_add(&r->my_ctr->stalls, 1);
	if (timeout_ms == 0)
		return -EAGAIN;
	int rc = smr_wait(r, timeout_ms, smr_consumer_ready);
	return rc < 0 ? rc : 1;
}

int smr_peek_wait(struct shmring *r, int timeout_ms)
{
	return peek_slow(r, timeout_ms);
}

int shmring_peek(struct shmring *r, const void **buf, size_t *len, int timeout_ms)
{
	if (r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	for (;;) {
		uint64_t off = r->pos & r->mask;
		/* C1: acquire; pairs with the producer's header release (R1).
		 * Read once into a local: a buggy producer may change it. */
		uint64_t h = smr_load_acquire(hdr_at(r, r->pos));
		/* Broadcast drop consumer: was our position moved (the producer
		 * needed the room)? After C1: a header written after the move
		 * is acquired with the move (ring_bcast.c). */
		if (__builtin_expect(r->bcast_kind == SMR_BCAST_DROP, 0) && smr_bcast_moved(r))
			continue;
		if (__builtin_expect(h == 0, 0)) {
			int rc = peek_slow(r, timeout_ms);
			if (rc == 0 && r->lin)
				smr_lin_peeked(r); /* end of stream answers too */
			if (rc <= 0)
				return rc; /* 0: end of stream */
			continue;
		}
		uint32_t n = (uint32_t)h, type = (uint32_t)(h >> 32);
		uint64_t rec = smr_rec_size(n);
		if (__builtin_expect(type == SHMRING_REC_MSG && n != 0 && n <= r->max_msg &&
				     off + rec <= r->cap, 1)) {
			r->cur_rec = rec;
			r->cur_len = n;
			/* Relaxed, on the consumer's own counter line (no one reads it
			 * on a fast path): only a successor taking the role over reads
			 * it, after this process died or gave the role back. */
			smr_store_relaxed(&r->my_ctr->peeked, r->pos + rec);
			if (r->lin)
				smr_lin_peeked(r);
			*buf = r->data + off + SHMRING_REC_HDR;
			*len = n;
			return (int)n;
		}
		if (type == SHMRING_REC_PIECE) /* a large message (ring_piece.c) */
			return smr_piece_refuse(r, off);
		/* A pad runs exactly to the end of the data area, and is shorter
		 * than the largest record (a longer one could never be needed):
		 * so two pads never follow each other and this loop ends. */
		if (type != SHMRING_REC_PAD || (uint64_t)n + SHMRING_REC_HDR != r->cap - off ||
		    r->cap - off > r->cap / 2)
			return corrupt(r, off, type, n);
		r->pos += r->cap - off;
		r->pending++; /* the skipped bytes go back with the next release */
	}
}

int shmring_release(struct shmring *r)
{
	if (r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	if (!r->cur_rec)
		return -EINVAL; /* nothing peeked */
	if (__builtin_expect(r->bcast_kind == SMR_BCAST_DROP, 0))
		return smr_bcast_release(r); /* broadcast: a CAS, or -ESTALE */
	r->pos += r->cur_rec;
	r->cur_rec = 0;
	r->msgs++;
	r->bytes += r->cur_len;
	if (r->lin && r->lin->hot->staged) /* a checkpoint goes with this release */
		smr_lin_released(r);
	if (++r->pending >= r->batch)
		return publish(r);
	return 0;
}

/* ---- read-ahead ---------------------------------------------------------- */

/*
 * Count the records in [from, to): 0 with *msgs and *bytes set when `to` is
 * a record boundary reached by valid records within a ring's reach of
 * from, else -EINVAL. Everything comes from shared memory: each step is
 * checked, as peek checks it. For release_to and a restarted kernel's skip
 * of what its checkpoint covers (lineage.c).
 */
/* A PIECE header that bounds-checks (its own piece header is checked where
 * it is used). */
static inline int piece_ok(const struct shmring *r, uint64_t off, uint32_t type, uint32_t len)
{
	return type == SHMRING_REC_PIECE && len > SHMRING_PIECE_HDR && len <= r->max_msg &&
	       off + smr_rec_size(len) <= r->cap;
}

int smr_walk_records(const struct shmring *r, uint64_t from, uint64_t to, uint64_t *msgs,
		     uint64_t *bytes)
{
	if (to - from > r->cap || (to & 7u) || (from & 7u))
		return -EINVAL;
	uint64_t pos = from, n = 0, b = 0;
	while (pos != to) {
		uint64_t off = pos & r->mask;
		/* Acquire, as peek's C1: the header was committed before. */
		uint64_t h = smr_load_acquire(hdr_at(r, pos));
		uint32_t len = (uint32_t)h, type = (uint32_t)(h >> 32);
		uint64_t step;
		if (type == SHMRING_REC_MSG && len && len <= r->max_msg &&
		    off + smr_rec_size(len) <= r->cap) {
			step = smr_rec_size(len);
			n++;
			b += len;
		} else if (piece_ok(r, off, type, len)) {
			/* A message counts at its last piece, and by its bytes. */
			struct smr_piece_hdr ph;
			memcpy(&ph, r->data + off + SHMRING_REC_HDR, sizeof(ph));
			step = smr_rec_size(len);
			n += ph.offset + (len - SHMRING_PIECE_HDR) == ph.total;
			b += len - SHMRING_PIECE_HDR;
		} else if (type == SHMRING_REC_PAD && (uint64_t)len + SHMRING_REC_HDR == r->cap - off) {
			step = r->cap - off;
		} else {
			return -EINVAL;
		}
		if (to - pos < step)
			return -EINVAL;
		pos += step;
	}
	*msgs = n;
	*bytes = b;
	return 0;
}

/* Nothing at the cursor: end of stream (0), -EAGAIN, or wait (1: look again). */
static COLD int ahead_slow(struct shmring *r, uint64_t cursor, int timeout_ms)
{
	smr_note_wait();
	if (r->pending)
		smr_publish(r);
	if (smr_load_acquire(&r->peer->closed))
		return smr_load_acquire(hdr_at(r, cursor)) != 0 ? 1 : 0;
	if (timeout_ms == 0 && smr_take_due(r, cursor, 0, 0))
		return 1;
	smr_counter_add(&r->my_ctr->stalls, 1);
	if (timeout_ms == 0)
		return -EAGAIN;
	r->ahead = cursor; /* smr_consumer_ready looks there */
	int rc = smr_wait(r, timeout_ms, smr_consumer_ready);
	return rc < 0 ? rc : 1;
}

int shmring_peek_ahead(struct shmring *r, uint64_t *cursor, uint64_t *at, const void **buf,
		       size_t *len, int timeout_ms)
{
	if (r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	uint64_t c = (int64_t)(*cursor - r->pos) < 0 ? r->pos : *cursor;
	/* A ring's worth past our position is our own oldest record again
	 * (the producer never fills the last 8 bytes): no cursor gets there. */
	if (c - r->pos >= r->cap || (c & 7u))
		return -EINVAL; /* not a position of this ring's window */
	for (;;) {
		uint64_t off = c & r->mask;
		uint64_t h = smr_load_acquire(hdr_at(r, c)); /* C1 */
		if (h == 0) {
			int rc = ahead_slow(r, c, timeout_ms);
			if (rc <= 0)
				return rc;
			continue;
		}
		uint32_t n = (uint32_t)h, type = (uint32_t)(h >> 32);
		uint64_t rec = smr_rec_size(n);
		if (type == SHMRING_REC_MSG && n != 0 && n <= r->max_msg && off + rec <= r->cap) {
			/* Relaxed, as peek's: for a successor's redelivery count. */
			if (c + rec > smr_load_relaxed(&r->my_ctr->peeked))
				smr_store_relaxed(&r->my_ctr->peeked, c + rec);
			if (at)
				*at = c;
			*cursor = c + rec;
			r->ahead = c + rec; /* a kernel's wait now waits for the next */
			*buf = r->data + off + SHMRING_REC_HDR;
			*len = n;
			return (int)n;
		}
		if (type == SHMRING_REC_PIECE)
			return smr_piece_refuse(r, off);
		if (type != SHMRING_REC_PAD || (uint64_t)n + SHMRING_REC_HDR != r->cap - off ||
		    r->cap - off > r->cap / 2)
			return corrupt(r, off, type, n);
		c += r->cap - off;
	}
}

int shmring_release_to(struct shmring *r, uint64_t pos)
{
	if (r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	uint64_t msgs, bytes;
	/* Only what was read ahead: releasing records never handed out would
	 * lose them unseen. */
	uint64_t reach = wait_pos(r);
	if ((int64_t)(pos - reach) > 0 || smr_walk_records(r, r->pos, pos, &msgs, &bytes) < 0)
		return -EINVAL;
	if (pos == r->pos)
		return 0;
	r->pos = pos;
	r->cur_rec = 0;
	r->msgs += msgs;
	r->bytes += bytes;
	if (r->lin && r->lin->hot->staged)
		smr_lin_released(r);
	return smr_publish(r); /* one publication for the whole window */
}

ssize_t shmring_recv(struct shmring *r, void *buf, size_t cap, int timeout_ms)
{
	for (;;) {
		const void *src = NULL; /* set by a peek > 0; the compiler cannot see that */
		size_t len = 0;
		int rc = shmring_peek(r, &src, &len, timeout_ms);
		if (rc <= 0) /* -EMSGSIZE from peek: a message in pieces */
			return rc == -EMSGSIZE ? smr_piece_recv(r, buf, cap, timeout_ms) : rc;
		if (len > cap) {
			r->cur_rec = 0; /* leave it in the ring: nothing is lost */
			return -EMSGSIZE;
		}
		memcpy(buf, src, len);
		/* A broadcast drop consumer's copy may have been overwritten
		 * while it was made (-ESTALE): take the next message instead. */
		if (__builtin_expect(shmring_release(r) != -ESTALE, 1))
			return (ssize_t)len;
	}
}

int shmring_flush(struct shmring *r)
{
	if (r->role != SHMRING_ROLE_PRODUCER && r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	if (r->pending)
		smr_publish(r);
	smr_wake_owed(r); /* a wake deferred towards a sleeper on a shared cpu */
	return 0;
}

/*
 * A producer taking the role continues after the last visible record. The
 * shared head is only a hint (a crashed producer may have stored it and died
 * before releasing the header), so walk the visible headers from the tail,
 * which the consumer never moves past a visible record, to the first empty
 * slot. Returns 0 with r->pos set, or -EBADMSG.
 */
int smr_producer_resume(struct shmring *r, uint64_t tail)
{
	uint64_t pos = tail;
	while (pos - tail < r->cap) {
		uint64_t off = pos & r->mask;
		uint64_t h = smr_load_acquire(hdr_at(r, pos));
		if (h == 0)
			break;
		uint32_t n = (uint32_t)h, type = (uint32_t)(h >> 32);
		uint64_t step;
		if ((type == SHMRING_REC_MSG && n != 0 && n <= r->max_msg &&
		     off + smr_rec_size(n) <= r->cap) || piece_ok(r, off, type, n))
			step = smr_rec_size(n);
		else if (type == SHMRING_REC_PAD && (uint64_t)n + SHMRING_REC_HDR == r->cap - off)
			step = r->cap - off;
		else
			return corrupt(r, off, type, n);
		pos += step;
	}
	if (pos - tail >= r->cap)
		return corrupt(r, pos & r->mask, 0, 0);
	r->pos = pos;
	return 0;
}

/*
 * A consumer taking the role re-reads from the tail what its predecessor
 * peeked but never released. Count those messages: walk the records from the
 * tail to the predecessor's furthest peek. Everything here comes from shared
 * memory, so each step is bounds-checked and the walk is capped; a bad value
 * only ends the count early (peek itself reports corrupt records).
 */
void smr_count_redelivered(struct shmring *r, uint64_t tail)
{
	/* Relaxed: the predecessor is dead (its stores are all visible) or gave
	 * the role back with a release CAS that our claim acquired. */
	uint64_t peeked = smr_load_relaxed(&r->my_ctr->peeked);
	if (peeked <= tail || peeked - tail > r->cap)
		return;
	uint64_t pos = tail, n = 0;
	for (uint64_t steps = 0; pos < peeked && steps < r->cap / SHMRING_REC_HDR; steps++) {
		uint64_t off = pos & r->mask;
		/* Acquire, as peek's C1: the header was committed before. */
		uint64_t h = smr_load_acquire(hdr_at(r, pos));
		uint32_t len = (uint32_t)h, type = (uint32_t)(h >> 32);
		if (type == SHMRING_REC_MSG && len != 0 && len <= r->max_msg &&
		    off + smr_rec_size(len) <= r->cap) {
			n++;
			pos += smr_rec_size(len);
		} else if (piece_ok(r, off, type, len)) {
			n += smr_piece_walk_count(r, pos, len);
			pos += smr_rec_size(len);
		} else if (type == SHMRING_REC_PAD && off != 0) {
			pos += r->cap - off;
		} else {
			break;
		}
	}
	smr_counter_add(&r->my_ctr->redelivered, n);
	/* Counted once: a successor of ours that never peeks must not count
	 * the same messages again. Relaxed, as peek's store. */
	smr_store_relaxed(&r->my_ctr->peeked, tail);
}

/* ---- positions and agents ---------------------------------------------- */

uint64_t shmring_position(const struct shmring *r)
{
	return r->pos;
}

static int released_ready(struct shmring *r)
{
	int rc = refresh_tail(r); /* P2: acquire of tail */
	if (rc < 0)
		return rc;
	if ((int64_t)(r->peer_pos - r->want_tail) >= 0)
		return 1;
	/* Relaxed, as producer_ready: a flag. */
	return smr_load_relaxed(&r->peer->closed) ? -EPIPE : 0;
}

int shmring_wait_released(struct shmring *r, uint64_t pos, int timeout_ms)
{
	if (r->role != SHMRING_ROLE_PRODUCER)
		return -EBADF;
	if ((int64_t)(pos - r->pos) > 0)
		return -EINVAL; /* never committed: nobody could release it */
	r->want_tail = pos;
	int rc = released_ready(r);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	/* The consumer may be waiting for commits we hold back. */
	smr_note_wait();
	if (r->pending)
		smr_publish(r);
	if (timeout_ms == 0)
		return -EAGAIN;
	rc = smr_wait(r, timeout_ms, released_ready);
	return rc < 0 ? rc : 0;
}

/* An agent will drive this consumer end and cannot take a held header:
 * tell the producer not to hold (SMR_END_AGENT), then take what it holds
 * now. The flag's store, a full fence (and membarrier, where the producer's
 * W2 is light), then the look: the producer's offer (H1, W2, W3) sees the
 * flag, or we see the offer. */
static void agent_consumer(struct shmring *r)
{
	atomic_fetch_or_explicit(&r->me->flags, SMR_END_AGENT, memory_order_seq_cst);
	smr_sleeper_fence(r);
	/* The hold may be ahead of our position (records before it not read
	 * yet): its position is the one within a ring of ours whose low bits
	 * the word names. Storing its header ahead of us is safe: the
	 * producer cannot reuse bytes we have not released. */
	_Atomic uint64_t *hw = &r->hdr->head.held;
	uint64_t w = smr_load_acquire(hw); /* H2 */
	uint64_t at = smr_held_at(w, r->pos);
	if (w && at - r->pos < r->cap && smr_load_acquire(hdr_at(r, at)) == 0)
		take_word(r, hw, w, at);
}

int shmring_mapping(struct shmring *r, struct shmring_mapping *m)
{
	if (r->role != SHMRING_ROLE_PRODUCER && r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	if (r->cur_rec)
		return -EBUSY; /* a reservation or peek is open */
	if (r->bcast)
		return -EOPNOTSUPP; /* broadcast: no agent layout (yet) */
	if (r->pending)
		smr_publish(r); /* a hold too */
	if (r->role == SHMRING_ROLE_CONSUMER)
		agent_consumer(r);
	*m = (struct shmring_mapping){
		.base = r->hdr,
		.length = r->map_len,
		.data_offset = SHMRING_DATA_OFFSET,
		.capacity = r->cap,
		.max_message = r->max_msg,
		.pos = r->pos,
		.role = (int)r->role,
		.head = offsetof(struct smr_header, head.pos),
		.tail = offsetof(struct smr_header, tail.pos),
		.producer_closed = offsetof(struct smr_header, prod.closed),
		.consumer_closed = offsetof(struct smr_header, cons.closed),
		.producer_msgs = offsetof(struct smr_header, prod_ctr.msgs),
		.producer_bytes = offsetof(struct smr_header, prod_ctr.bytes),
		.consumer_msgs = offsetof(struct smr_header, cons_ctr.msgs),
		.consumer_bytes = offsetof(struct smr_header, cons_ctr.bytes),
		.consumer_peeked = offsetof(struct smr_header, cons_ctr.peeked),
	};
	return 0;
}

/*
 * Take up this end's position from shared memory: a process taking over the
 * role at attach, or this one taking its end back from an agent (resync).
 * Its own position is stale or unset, so only the shared words can be
 * checked, against each other. *tailp: the tail it started from.
 */
int smr_take_position(struct shmring *r, uint64_t *tailp)
{
	/* Acquire both, tail first (so head >= tail): pairs with the previous
	 * holder's release of tail (C2) and, for head, with nothing (a hint);
	 * a producer's records are acquired header by header in the walk. */
	uint64_t tail = r->bcast ? smr_bcast_take_tail(r) /* broadcast (ring_bcast.c) */
				 : smr_load_acquire(&r->hdr->tail.pos);
	uint64_t head = smr_load_acquire(&r->hdr->head.pos);
	if (head - tail > r->cap || (head & 7u) || (tail & 7u)) {
		smr_seterr("ring '%s': head %llu and tail %llu are inconsistent: the segment "
			   "is corrupt; remove it (shmring_unlink) and recreate", r->name,
			   (unsigned long long)head, (unsigned long long)tail);
		return -EBADMSG;
	}
	if (r->role == SHMRING_ROLE_PRODUCER) {
		r->peer_pos = tail;
		smr_end_hold(r, tail); /* H4: a predecessor's hold, before the walk */
		smr_stream_reset(r);   /* a stream measured before is not ours */
		int rc = smr_producer_resume(r, tail);
		if (rc < 0)
			return rc;
		/* Relaxed: a hint; the walk may have moved it either way. */
		smr_store_relaxed(r->my_index, r->pos);
	} else {
		r->pos = tail;
	}
	/* Relaxed: the previous holder's final values are ordered by the claim's
	 * acquire (claim_role) or by its host having seen the agent finish; a
	 * crashed one's may be a batch behind. Counters, for display. */
	r->msgs = smr_load_relaxed(&r->my_ctr->msgs);
	r->bytes = smr_load_relaxed(&r->my_ctr->bytes);
	*tailp = tail;
	return 0;
}

int shmring_resync(struct shmring *r)
{
	if (r->role != SHMRING_ROLE_PRODUCER && r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	uint64_t tail;
	int rc = smr_take_position(r, &tail);
	if (rc < 0)
		return rc;
	r->pending = 0;
	r->held = r->offered = 0; /* a hold was published or ended (H4) */
	r->limit = r->batch;
	if (r->role == SHMRING_ROLE_CONSUMER) /* no agent's any more: holds may be taken */
		atomic_fetch_and_explicit(&r->me->flags, ~SMR_END_AGENT, memory_order_relaxed);
	return 0;
}

void shmring_notify(struct shmring *r)
{
	if (r->role != SHMRING_ROLE_PRODUCER && r->role != SHMRING_ROLE_CONSUMER)
		return;
	smr_wake_peer(r); /* W2..W4 */
	smr_wake_owed(r); /* an explicit notify always wakes */
}
