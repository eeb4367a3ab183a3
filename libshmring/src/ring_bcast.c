/* SPDX-License-Identifier: MIT */
/*
 * Broadcast rings: one producer, up to SHMRING_BCAST_MAX consumers, one copy
 * of each message (docs/ring.md, "Broadcast rings"; layout.h for the
 * segment). Everything the SPSC ring does is reused: the record format,
 * invariant Z, reserve/commit, peek/release, the sleep protocol. What
 * differs reaches this file through hooks in ring.c, ring_io.c and wait.c,
 * each marked "broadcast":
 *
 *   - the producer's free space is bounded by the lowest tail over its
 *     consumers (the Disruptor's gating sequences); it is cached in
 *     r->peer_pos as the SPSC producer caches the tail, and refreshed
 *     (smr_bcast_refresh) only when the cache says the ring is full;
 *   - the producer wakes every consumer that announced sleep, one load of
 *     each consumer's control line per publication when none sleeps;
 *   - a `drop` consumer, or one that closed its end, never holds the
 *     producer: when the producer needs room such a consumer still holds,
 *     it moves the consumer's tail forward over whole records with a CAS
 *     (B1) and counts the messages skipped. A drop consumer publishes its
 *     tail with a CAS too (B2), and one of the two CASes fails: either the
 *     consumer's release came first, and the producer saw it; or the move
 *     came first, and the release returns -ESTALE (what it read may have
 *     been overwritten) and the consumer goes on from the new position.
 *
 * Ordering (labels continue ring_io.c's and wait.c's):
 *   B1 producer: CAS of a consumer's tail (acq_rel), then writes into the
 *      freed bytes. Acquire: pairs with that consumer's release CAS (B2)
 *      or store-release (C2), so its reads of the bytes are done.
 *   B2 drop consumer: CAS of its own tail (acq_rel) from the value it last
 *      published. Release: C2's role. Acquire on failure: pairs with B1,
 *      so the new position's records are the ones the producer meant.
 *   B3 drop consumer, at peek: load of its tail after C1's load-acquire of
 *      the header. A header the producer wrote after a move is a release
 *      (R1) sequenced after the move's B1: acquiring it makes the move
 *      visible to B3, so a header read from overwritten bytes is never
 *      trusted.
 *   P2 per consumer: the producer's load-acquire of each tail, as in SPSC.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ring_internal.h"
#include "shmring/bcast.h"
#include "sys.h"

static_assert(SHMRING_BCAST_BLOCK == SHMRING_BCAST_BLOCK_POLICY, "policy values");
static_assert(SHMRING_BCAST_DROP == SHMRING_BCAST_DROP_POLICY, "policy values");

/* Per handle, private to this process. Count and policies are copied out of
 * the header at attach and never re-read (the other side could change them). */
struct smr_bcast {
	struct smr_bcast_header *hdr;
	unsigned n;
	unsigned index;   /* consumer: which one */
	uint32_t policy[SHMRING_BCAST_MAX];
	uint64_t pub;     /* drop consumer: the tail it last published or found */
	/* Producer: consumers seen asleep in batch mode whose wake is
	 * deferred (bit i), each since position owed_from[i] (smr_bcast_wake). */
	uint32_t owed;
	uint64_t owed_from[SHMRING_BCAST_MAX];
	/* Producer: r->peer. The SPSC code reads the peer's closed flag, owner
	 * and sleeping flag through it; here they are all 0 (never closed,
	 * never dead, never asleep), and this file answers for the consumers. */
	struct smr_end_control none;
};

static inline struct smr_bcast_cons *cons(const struct shmring *r, unsigned i)
{
	return &r->bcast->hdr->cons[i];
}

struct smr_bcast *smr_bcast_new(unsigned index)
{
	struct smr_bcast *b = calloc(1, sizeof(*b));
	if (b)
		b->index = index;
	return b;
}

/* ---- create, attach ------------------------------------------------------ */

static int check_opts(const struct shmring_bcast_opts *bc)
{
	if (!bc || bc->consumers < 1 || bc->consumers > SHMRING_BCAST_MAX) {
		smr_seterr("a broadcast ring has 1 to %u consumers, not %u: split the "
			   "readers over several rings", SHMRING_BCAST_MAX, bc ? bc->consumers : 0);
		return -EINVAL;
	}
	for (unsigned i = 0; i < bc->consumers; i++)
		if (bc->policy[i] != SHMRING_BCAST_BLOCK && bc->policy[i] != SHMRING_BCAST_DROP) {
			smr_seterr("broadcast consumer %u has policy %d: use SHMRING_BCAST_BLOCK "
				   "or SHMRING_BCAST_DROP", i, (int)bc->policy[i]);
			return -EINVAL;
		}
	return 0;
}

int shmring_bcast_create(const char *name, const struct shmring_opts *opts,
			 const struct shmring_bcast_opts *bopts, struct shmring **ring)
{
	int rc = check_opts(bopts);
	if (rc < 0)
		return rc;
	if (opts && opts->role == SHMRING_ROLE_CONSUMER) {
		smr_seterr("a broadcast ring's creator is its producer or no end: attach "
			   "consumers by index with shmring_bcast_attach");
		return -EINVAL;
	}
	return smr_ring_create(name, opts, bopts, ring);
}

/* Called by smr_ring_create before it publishes the version. */
int smr_bcast_init(struct shmring *r, const struct shmring_bcast_opts *bc)
{
	if (!(r->bcast = smr_bcast_new(0)))
		return -ENOMEM;
	struct smr_bcast_header *h = (struct smr_bcast_header *)(void *)r->hdr;
	h->id.magic = SHMRING_BCAST_MAGIC;
	h->id.hdr_size = SHMRING_BCAST_DATA_OFFSET;
	h->info.consumers = bc->consumers;
	for (unsigned i = 0; i < bc->consumers; i++)
		h->info.policy[i] = (uint32_t)bc->policy[i];
	return 0;
}

int shmring_bcast_attach(const char *name_or_fd, enum shmring_role role, unsigned index,
			 struct shmring **ring)
{
	if (role != SHMRING_ROLE_CONSUMER)
		index = 0;
	if (index >= SHMRING_BCAST_MAX) {
		smr_seterr("broadcast consumer index %u is out of range: 0 to %u", index,
			   SHMRING_BCAST_MAX - 1);
		return -EINVAL;
	}
	return smr_ring_attach(name_or_fd, role, (int)index, ring);
}

static int wrong_kind(struct shmring *r)
{
	const struct smr_identity *id = &r->hdr->id;
	if (!r->bcast) {
		smr_seterr("ring '%s' is a broadcast ring (one producer, several consumers): "
			   "attach it with shmring_bcast_attach", r->name);
		return -EPROTO;
	}
	if (id->magic == SHMRING_MAGIC) {
		smr_seterr("ring '%s' is a single-consumer ring, not a broadcast ring: attach "
			   "it with shmring_attach", r->name);
		return -EPROTO;
	}
	smr_seterr("'%s' is not a shmring segment (bad magic 0x%016llx): check the name",
		   r->name, (unsigned long long)id->magic);
	return -EBADMSG;
}

/* ring.c's validate_header for a broadcast ring, or for a broadcast attach. */
int smr_bcast_validate(struct shmring *r, uint32_t version, uint64_t size)
{
	const struct smr_bcast_header *h = (const struct smr_bcast_header *)(void *)r->hdr;
	if (!r->bcast || h->id.magic != SHMRING_BCAST_MAGIC)
		return wrong_kind(r);
	if (version == 0) {
		smr_seterr("ring '%s' is not initialised yet: its creator is still setting "
			   "it up, or died doing so; retry, or remove it", r->name);
		return -EAGAIN;
	}
	if (version != SHMRING_LAYOUT_VERSION) {
		smr_seterr("ring '%s' has layout version %u, this library speaks %u: rebuild "
			   "both ends against the same libshmring", r->name, version,
			   SHMRING_LAYOUT_VERSION);
		return -EPROTO;
	}
	uint64_t cap = h->id.capacity;
	uint32_t n = h->info.consumers;
	if (h->id.hdr_size != SHMRING_BCAST_DATA_OFFSET || cap < SHMRING_MIN_CAPACITY ||
	    cap > SHMRING_MAX_CAPACITY || (cap & (cap - 1)) ||
	    h->id.max_msg != cap / 2 - SHMRING_REC_HDR || size != SHMRING_BCAST_DATA_OFFSET + cap ||
	    n < 1 || n > SHMRING_BCAST_MAX) {
		smr_seterr("broadcast ring '%s' has an inconsistent header (header %u, capacity "
			   "%llu, %u consumers, segment %llu bytes): the segment is corrupt; "
			   "remove and recreate it", r->name, h->id.hdr_size,
			   (unsigned long long)cap, n, (unsigned long long)size);
		return -EBADMSG;
	}
	struct smr_bcast *b = r->bcast;
	b->n = n;
	for (unsigned i = 0; i < n; i++)
		b->policy[i] = h->info.policy[i] == SHMRING_BCAST_DROP_POLICY
			? SHMRING_BCAST_DROP_POLICY : SHMRING_BCAST_BLOCK_POLICY;
	if (r->role == SHMRING_ROLE_CONSUMER && b->index >= n) {
		smr_seterr("broadcast ring '%s' has %u consumers: index %u does not exist "
			   "(use 0 to %u)", r->name, n, b->index, n - 1);
		return -EINVAL;
	}
	r->cap = cap;
	r->max_msg = cap / 2 - SHMRING_REC_HDR;
	/* As validate_header: unknown flag bits only add work for this end. */
	r->asym_sleep = (h->id.flags & SHMRING_ID_ASYM_WAKE) != 0;
	r->asym_wake = r->asym_sleep && smr_asym_register() == 0;
	return 0;
}

/* A closed consumer whose position is the end of a stream that is over
 * (it read everything, or B1 moved its tail past what it left): a kernel
 * killed between its detach at end of stream and its exit. Its restart may
 * bind the end again and sees end of stream at once (nothing can move a
 * tail or the head of a closed stream). Acquire: pairs with the producer's
 * release of closed (after its last head store) and with the last release
 * of the tail (the consumer's C2, or the producer's B1). */
static int read_to_the_end(struct smr_bcast_header *h, struct smr_bcast_cons *c)
{
	return smr_load_acquire(&h->prod.closed) &&
	       smr_load_acquire(&c->tail.pos) == smr_load_acquire(&h->head.pos);
}

/* ring.c's bind_role: point the handle at this end's blocks. 1: claim the
 * role; 0: no role (observer, creator); negative: refused. */
int smr_bcast_bind(struct shmring *r)
{
	struct smr_bcast *b = r->bcast;
	struct smr_bcast_header *h = (struct smr_bcast_header *)(void *)r->hdr;
	b->hdr = h;
	if (!b->n) /* the creator's handle: validate_header never ran */
		b->n = h->info.consumers;
	for (unsigned i = 0; i < b->n; i++)
		b->policy[i] = h->info.policy[i];
	r->data = (uint8_t *)h + SHMRING_BCAST_DATA_OFFSET;
	if (r->role == SHMRING_ROLE_PRODUCER) {
		r->bcast_kind = SMR_BCAST_PRODUCER;
		r->my_index = &h->head.pos;
		r->me = &h->prod;
		r->peer = &b->none;
		r->my_ctr = &h->prod_ctr;
		return 1;
	}
	if (r->role != SHMRING_ROLE_CONSUMER)
		return 0;
	struct smr_bcast_cons *c = cons(r, b->index);
	/* Acquire: pairs with the closing consumer's release of closed; a
	 * closed consumer's tail belongs to the producer now (B1). */
	if (smr_load_acquire(&c->ctl.closed) && !read_to_the_end(h, c)) {
		smr_seterr("consumer %u of broadcast ring '%s' closed its end for good: "
			   "create the ring again to add a reader", b->index, r->name);
		return -EPIPE;
	}
	r->bcast_kind = b->policy[b->index] == SHMRING_BCAST_DROP_POLICY ? SMR_BCAST_DROP
									: SMR_BCAST_BLOCK;
	r->my_index = &c->tail.pos;
	r->me = &c->ctl;
	r->peer = &h->prod;
	r->my_ctr = &c->ctr;
	return 1;
}

/* smr_take_position's tail: a consumer's own; a producer resumes from the
 * lowest, from which every record up to head is intact (B1 keeps every
 * tail on a record boundary the producer has not overwritten). */
uint64_t smr_bcast_take_tail(struct shmring *r)
{
	struct smr_bcast *b = r->bcast;
	if (r->role == SHMRING_ROLE_CONSUMER) {
		/* Acquire: pairs with the previous holder's C2 or B2, or B1. */
		uint64_t t = smr_load_acquire(&cons(r, b->index)->tail.pos);
		b->pub = t;
		return t;
	}
	uint64_t head = smr_load_acquire(&b->hdr->head.pos), low = head;
	for (unsigned i = 0; i < b->n; i++) {
		uint64_t t = smr_load_acquire(&cons(r, i)->tail.pos); /* as above */
		if (head - t <= r->cap && head - t > head - low)
			low = t;
	}
	return low;
}

/* ---- the producer ---------------------------------------------------------- */

static int corrupt_tail(struct shmring *r, unsigned i, uint64_t t)
{
	smr_seterr("broadcast ring '%s': consumer %u's tail %llu is inconsistent with head "
		   "%llu: the segment is corrupt; recreate the ring", r->name, i,
		   (unsigned long long)t, (unsigned long long)r->pos);
	return -EBADMSG;
}

/* From t, whole published records until target (or head, or a header not
 * published yet: a held batch); *msgs counts the messages stepped over.
 * The producer's own records: a bad header only stops the walk. */
static uint64_t walk_to(const struct shmring *r, uint64_t t, uint64_t target, uint64_t *msgs)
{
	uint64_t pos = t, n = 0;
	while ((int64_t)(target - pos) > 0 && pos != r->pos) {
		uint64_t off = pos & r->mask;
		/* Relaxed: the producer reads headers it wrote itself. */
		uint64_t h = smr_load_relaxed((_Atomic uint64_t *)(void *)(r->data + off));
		uint32_t len = (uint32_t)h, type = (uint32_t)(h >> 32);
		uint64_t step = type == SHMRING_REC_PAD ? r->cap - off : smr_rec_size(len);
		if (h == 0 || step > r->cap - off || len > r->max_msg ||
		    (type != SHMRING_REC_PAD && type != SHMRING_REC_MSG && type != SHMRING_REC_PIECE))
			break;
		if (type == SHMRING_REC_MSG)
			n++;
		else if (type == SHMRING_REC_PIECE) /* a message counts at its last piece */
			n += len > SHMRING_PIECE_HDR && ((const struct smr_piece_hdr *)(const void *)
				(r->data + off + SHMRING_REC_HDR))->offset + len - SHMRING_PIECE_HDR ==
				((const struct smr_piece_hdr *)(const void *)(r->data + off + SHMRING_REC_HDR))->total;
		pos += step;
	}
	*msgs = n;
	return pos;
}

/*
 * Move consumer i (drop, or closed) from t to where the producer has the
 * room it wants, plus an eighth of the ring so that a stalled consumer is
 * not moved again at every reserve. Returns its tail afterwards.
 */
static uint64_t move_consumer(struct shmring *r, unsigned i, uint64_t t)
{
	struct smr_bcast_cons *c = cons(r, i);
	uint64_t target = r->pos + r->want + r->cap / 8 - r->cap;
	for (int tries = 0; tries < 8 && (int64_t)(target - t) > 0; tries++) {
		uint64_t msgs, to = walk_to(r, t, target, &msgs);
		if (to == t)
			break;
		/* B1: acq_rel; pairs with the consumer's B2 or C2 (see the top). */
		if (atomic_compare_exchange_strong_explicit(&c->tail.pos, &t, to,
							    memory_order_acq_rel,
							    memory_order_acquire)) {
			/* Two writers (this producer, a restarted kernel's
			 * checkpoint skip): an atomic add. */
			atomic_fetch_add_explicit(&c->ctr.skipped, msgs, memory_order_relaxed);
			return to;
		}
		/* The consumer moved meanwhile: t is its new tail; again. */
		if (r->pos - t > r->cap || (t & 7u))
			return t; /* the caller's check reports it */
	}
	return t;
}

/* refresh_tail for a broadcast producer: r->peer_pos = the lowest tail of
 * every consumer after moving those that do not hold the producer. -EPIPE
 * once every consumer closed. */
int smr_bcast_refresh(struct shmring *r)
{
	struct smr_bcast *b = r->bcast;
	uint64_t low = r->pos;
	unsigned open = 0;
	for (unsigned i = 0; i < b->n; i++) {
		struct smr_bcast_cons *c = cons(r, i);
		/* Closed first, then tail: a consumer's last C2 precedes its
		 * release of closed. Acquire pairs with that release. */
		uint32_t closed = smr_load_acquire(&c->ctl.closed);
		uint64_t t = smr_load_acquire(&c->tail.pos); /* P2, per consumer */
		if (r->pos - t > r->cap || (t & 7u))
			return corrupt_tail(r, i, t);
		open += !closed;
		if (closed || b->policy[i] == SHMRING_BCAST_DROP_POLICY)
			t = move_consumer(r, i, t);
		if (r->pos - t > r->cap || (t & 7u))
			return corrupt_tail(r, i, t);
		if (r->pos - t > r->pos - low)
			low = t;
	}
	r->peer_pos = low;
	return open ? 0 : -EPIPE;
}

/* W2..W4 towards every consumer (wait.c): the fence once, then each one's
 * flag. always: bump and wake every consumer (close, notify). */
void smr_bcast_wake(struct shmring *r, int always)
{
	struct smr_bcast *b = r->bcast;
	/* W2: full fence, or with asymmetric wakes the compiler's half (each
	 * sleeper's S3 membarrier supplies the rest); pairs with S3. */
	if (r->asym_wake)
		atomic_signal_fence(memory_order_seq_cst);
	else
		smr_fence_full();
	for (unsigned i = 0; i < b->n; i++) {
		struct smr_end_control *ctl = &cons(r, i)->ctl;
		uint32_t bit = 1u << i;
		if (!always) {
			/* W3: acquire pairs with that consumer's S2. */
			uint32_t s = smr_load_acquire(&ctl->sleeping);
			if (!s) {
				b->owed &= ~bit; /* awake: it re-checks before it sleeps */
				continue;
			}
			/* A consumer on a shared cpu (it sleeps in batch mode):
			 * defer its wake until a quarter of the ring moved since
			 * it was first seen asleep, as smr_wake_peer does for an
			 * SPSC peer (wait.c, "Shared cores"); r->owed makes this
			 * process's next wait, flush or detach pay it
			 * (smr_wake_owed), and the sleeper looks by itself within
			 * SMR_SHARED_SLICE_NS. */
			if (s == SMR_SLEEP_BATCH) {
				if (!(b->owed & bit)) {
					b->owed |= bit;
					b->owed_from[i] = r->pos;
					smr_store_relaxed(&r->owed, 1u); /* our own flag */
					continue;
				}
				if (r->pos - b->owed_from[i] < r->cap / 4)
					continue;
			}
			/* The producer is the only waker of a consumer's flag:
			 * the exchange (P5) holds. */
			if (!atomic_exchange_explicit(&ctl->sleeping, 0u, memory_order_acq_rel))
				continue;
		}
		b->owed &= ~bit;
		/* W4 as smr_wake_peer_always: change the word, then wake. */
		smr_fetch_add_release(&ctl->futex_seq, 1u);
		if (smr_futex_wake(&ctl->futex_seq, INT_MAX) >= 0)
			smr_counter_add(&r->my_ctr->wakes, 1);
	}
	/* Relaxed: this process's own flag. Stored only when it changes: this
	 * runs at every publication. */
	if (!b->owed && smr_load_relaxed(&r->owed))
		smr_store_relaxed(&r->owed, 0u);
}

/* ---- a drop consumer -------------------------------------------------------- */

/* B3: did the producer move our tail? Then go on from there: whatever was
 * peeked is gone (its release would say -ESTALE). */
int smr_bcast_moved(struct shmring *r)
{
	struct smr_bcast *b = r->bcast;
	/* Acquire: pairs with B1, so the records at the new position are
	 * what the producer stepped to (see the top for why after C1). */
	uint64_t t = smr_load_acquire(r->my_index);
	if (t == b->pub)
		return 0;
	b->pub = t;
	r->pos = t;
	r->pending = 0;
	r->cur_rec = 0;
	return 1;
}

/* B2: publish r->pos with a CAS from what we last published. -ESTALE when
 * the producer moved us first (we are then at its position). */
static int cas_tail(struct shmring *r, uint64_t to)
{
	struct smr_bcast *b = r->bcast;
	uint64_t exp = b->pub;
	/* acq_rel: release as C2 (reads of the records done), acquire on
	 * failure pairs with B1. */
	if (atomic_compare_exchange_strong_explicit(r->my_index, &exp, to, memory_order_acq_rel,
						    memory_order_acquire)) {
		b->pub = to;
		return 0;
	}
	b->pub = exp;
	r->pos = exp;
	r->pending = 0;
	r->cur_rec = 0;
	return -ESTALE;
}

void smr_bcast_publish_tail(struct shmring *r)
{
	(void)cas_tail(r, r->pos); /* a failure resynchronises; peek looks again */
}

/* shmring_release for a drop consumer: every release is published (a CAS)
 * so that it can tell whether what it read was still there. */
int smr_bcast_release(struct shmring *r)
{
	uint64_t to = r->pos + r->cur_rec;
	uint32_t len = r->cur_len;
	r->cur_rec = 0;
	if (cas_tail(r, to) < 0)
		return -ESTALE;
	r->pos = to;
	r->msgs++;
	r->bytes += len;
	r->pending = 0;
	/* Relaxed: single writer; counter readers only want a recent value. */
	smr_store_relaxed(&r->my_ctr->msgs, r->msgs);
	smr_store_relaxed(&r->my_ctr->bytes, r->bytes);
	smr_wake_peer(r); /* W2..W4: the producer may wait for room */
	return 0;
}

/* ---- statistics ------------------------------------------------------------- */

static void fill_one(const struct shmring *r, unsigned i, uint64_t head,
		     struct shmring_bcast_consumer *o)
{
	const struct smr_bcast_cons *c = cons(r, i);
	/* Relaxed throughout: statistics, read while the ends run. */
	o->position = smr_load_relaxed(&c->tail.pos);
	o->lag = head - o->position <= r->cap ? head - o->position : 0;
	o->msgs = smr_load_relaxed(&c->ctr.msgs);
	o->bytes = smr_load_relaxed(&c->ctr.bytes);
	o->skipped = smr_load_relaxed(&c->ctr.skipped);
	o->redelivered = smr_load_relaxed(&c->ctr.redelivered);
	o->empty_events = smr_load_relaxed(&c->ctr.stalls);
	o->sleeps = smr_load_relaxed(&c->ctr.sleeps);
	o->attaches = smr_load_relaxed(&c->ctr.attaches);
	o->pid = (pid_t)(smr_load_relaxed(&c->ctl.owner) >> 32);
	o->closed = (int)smr_load_relaxed(&c->ctl.closed);
	o->policy = r->bcast->policy[i] == SHMRING_BCAST_DROP_POLICY ? SHMRING_BCAST_DROP
								      : SHMRING_BCAST_BLOCK;
}

int shmring_bcast_consumers(const struct shmring *r, struct shmring_bcast_consumer *out,
			    unsigned n)
{
	if (!r || !r->bcast)
		return -EINVAL;
	const struct smr_bcast *b = r->bcast;
	/* Relaxed: for display; each tail is compared with it as a hint. */
	uint64_t head = smr_load_relaxed(&b->hdr->head.pos);
	for (unsigned i = 0; i < b->n && i < n; i++)
		fill_one(r, i, head, &out[i]);
	return (int)b->n;
}

/*
 * shmring_stats on a broadcast handle: the producer's counters, and a
 * consumer's: this consumer's on a consumer handle; on any other, the
 * slowest consumer's (the one that bounds the fill).
 */
int smr_bcast_stats(const struct shmring *r, struct shmring_stats *st)
{
	const struct smr_bcast *b = r->bcast;
	const struct smr_bcast_header *h = b->hdr;
	struct shmring_bcast_consumer c, slow = { 0 };
	memset(st, 0, sizeof(*st));
	uint64_t head = smr_load_relaxed(&h->head.pos);
	unsigned pick = 0;
	for (unsigned i = 0; i < b->n; i++) {
		fill_one(r, i, head, &c);
		if (r->role == SHMRING_ROLE_CONSUMER ? i == b->index : i == 0 || c.lag > slow.lag) {
			slow = c;
			pick = i;
		}
	}
	st->capacity = r->cap;
	st->max_message = r->max_msg;
	st->fill = slow.lag;
	/* Relaxed throughout: statistics, each a single-writer word. */
	st->high_fill = smr_load_relaxed(&h->prod_ctr.high_fill);
	st->msgs_in = smr_load_relaxed(&h->prod_ctr.msgs);
	st->bytes_in = smr_load_relaxed(&h->prod_ctr.bytes);
	st->suppressed = smr_load_relaxed(&h->prod_ctr.suppressed);
	st->full_events = smr_load_relaxed(&h->prod_ctr.stalls);
	st->producer_sleeps = smr_load_relaxed(&h->prod_ctr.sleeps);
	st->producer_wakes = smr_load_relaxed(&h->prod_ctr.wakes);
	st->producer_pid = (pid_t)(smr_load_relaxed(&h->prod.owner) >> 32);
	st->producer_closed = (int)smr_load_relaxed(&h->prod.closed);
	st->msgs_out = slow.msgs;
	st->bytes_out = slow.bytes;
	st->redelivered = slow.redelivered;
	st->skipped = slow.skipped;
	st->empty_events = slow.empty_events;
	st->consumer_sleeps = slow.sleeps;
	st->consumer_wakes = smr_load_relaxed(&h->cons[pick].ctr.wakes);
	st->consumer_pid = slow.pid;
	st->consumer_closed = slow.closed;
	return 0;
}
