/* SPDX-License-Identifier: MIT */
/*
 * Messages in pieces: shmring_send of more than shmring_max_message (half
 * the ring), of any length up to SHMRING_MSG_MAX, and its reassembly by shmring_recv or
 * piece by piece with shmring_peek_piece (docs/ring.md, "Messages in pieces").
 *
 * A message goes as consecutive PIECE records (layout.h), each an ordinary
 * record (R1/C1/C2/P2 as in ring_io.c) whose payload starts with
 * {total, offset}. Each piece is published as soon as it is written and
 * released as soon as it is copied, so the two ends copy at the same time,
 * through a ring that can stay in cache, as a socket's two ends do.
 *
 * Pieces already released may be overwritten, so a consumer that dies in
 * the middle of a message cannot leave it to its successor the way it
 * leaves a single record. Rendezvous instead (MPI's protocol for large
 * messages): send returns only once the consumer has released the last
 * piece, and until then the producer watches the consumer's `attaches`
 * counter. A new consumer whose starting tail (`taken_at`) lies inside the
 * message skips the pieces it finds there ("orphans": pieces at an offset
 * other than 0 with no message begun), counting one redelivery; the
 * producer sees it and sends the message again from offset 0. A successor
 * that starts at or before the first piece reads the message whole from
 * the ring, and the producer does not send it again.
 *
 * A consumer assembling a message that meets a first piece or a plain
 * message instead of the next piece drops what it had: the producer died
 * in the middle, or gave the message up (its send had not returned 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring_internal.h"
#include "ring_piece.h"

struct smr_piece {
	/* producer: the message being sent, kept across a send that returned
	 * early (-EAGAIN, -ETIMEDOUT, -EOWNERDEAD, ...) so the same send
	 * called again carries on */
	const void *tx_buf;
	uint64_t tx_len;
	uint64_t tx_off;   /* bytes written in this attempt */
	uint64_t tx_start; /* position of this attempt's first piece */
	uint64_t tx_end;   /* position after its last piece, once written */
	uint64_t tx_att;   /* the consumer's attaches, last seen */
	int      tx_active;
	/* consumer: the message being assembled */
	void    *rx_buf;   /* recv's buffer; NULL when read with peek_piece */
	uint64_t rx_total;
	uint64_t rx_off;   /* offset of the next piece */
	int      rx_active;
	int      rx_orphan; /* a run of orphans is being skipped (counted once) */
	/* consumer: the piece peek_piece handed out, until it is released */
	uint64_t pk_pos, pk_off;
	int      pk_held, pk_last;
};

static inline _Atomic uint64_t *hdr_at(const struct shmring *r, uint64_t pos)
{
	return (_Atomic uint64_t *)(void *)(r->data + (pos & r->mask));
}

static struct smr_piece *state(struct shmring *r)
{
	if (!r->piece)
		r->piece = calloc(1, sizeof(*r->piece));
	return r->piece;
}

void smr_piece_free(struct shmring *r)
{
	free(r->piece);
	r->piece = NULL;
}

static int corrupt(struct shmring *r, uint64_t off, const char *what)
{
	smr_seterr("shmring '%s': corrupt message piece at offset %llu (%s): the producer "
		   "wrote outside the protocol; recreate the ring", r->name,
		   (unsigned long long)off, what);
	return -EBADMSG;
}

/* ---- producer ---------------------------------------------------------- */

/* Message bytes in the next piece: pieces of SMR_PIECE_REC (a quarter of a
 * small ring), and one that fills the data area to its end instead of a pad. */
static uint64_t piece_bytes(const struct shmring *r, uint64_t left)
{
	uint64_t rec = r->cap / 4 < SMR_PIECE_REC ? r->cap / 4 : SMR_PIECE_REC;
	uint64_t contig = r->cap - (r->pos & r->mask);
	if (contig < rec && contig >= SHMRING_REC_HDR + 4 * SHMRING_PIECE_HDR)
		rec = contig;
	uint64_t room = rec - SHMRING_REC_HDR - SHMRING_PIECE_HDR;
	return left < room ? left : room;
}

/*
 * Does the consumer that holds the role now need this message again? Only
 * a new one (attaches moved) whose starting tail lies past the first piece
 * and, once all are written, before the end: the pieces before its tail
 * were released by its predecessor, and it skips the rest as orphans.
 */
static int taken_over(struct shmring *r, struct smr_piece *p)
{
	struct smr_end_counters *c = &r->hdr->cons_ctr;
	/* T2: acquire; pairs with the release of attaches by a consumer
	 * taking the role (T1, ring.c), which stored taken_at before it. */
	uint64_t a = smr_load_acquire(&c->attaches);
	if (a == p->tx_att)
		return 0;
	p->tx_att = a;
	uint64_t t = smr_load_relaxed(&c->taken_at); /* ordered by the acquire */
	if ((int64_t)(t - p->tx_start) <= 0)
		return 0; /* it reads the message from its first piece */
	return p->tx_off < p->tx_len || (int64_t)(p->tx_end - t) > 0;
}

/* Write the pieces not written yet, each published at once. */
static int send_pieces(struct shmring *r, struct smr_piece *p, int timeout_ms)
{
	while (p->tx_off < p->tx_len) {
		if (p->tx_off && taken_over(r, p))
			p->tx_off = 0; /* the new consumer needs it from the start */
		uint64_t n = piece_bytes(r, p->tx_len - p->tx_off);
		void *dst;
		int rc = smr_rec_reserve(r, SHMRING_PIECE_HDR + n, &dst, timeout_ms);
		if (rc < 0)
			return rc;
		if (p->tx_off == 0)
			p->tx_start = r->pos; /* after any pad */
		struct smr_piece_hdr ph = { .total = p->tx_len, .offset = p->tx_off };
		memcpy(dst, &ph, sizeof(ph));
		memcpy((uint8_t *)dst + SHMRING_PIECE_HDR, (const uint8_t *)p->tx_buf + p->tx_off, n);
		smr_piece_commit(r, SHMRING_PIECE_HDR + n); /* R1 */
		p->tx_off += n;
		if (p->tx_off == p->tx_len)
			p->tx_end = r->pos;
		smr_publish(r); /* W2..W4: a consumer waiting for this piece wakes */
	}
	return 0;
}

static void send_done(struct shmring *r, struct smr_piece *p)
{
	p->tx_active = 0;
	/* Counted once the consumer has it, not per attempt. Relaxed: single
	 * writer, for display. */
	r->msgs++;
	r->bytes += p->tx_len;
	smr_store_relaxed(&r->my_ctr->msgs, r->msgs);
	smr_store_relaxed(&r->my_ctr->bytes, r->bytes);
	/* A kernel's output: the journal says the message was sent only now
	 * that it was received whole (lineage.c). A kernel killed between the
	 * last piece and this line sends it again after its restart. */
	if (r->lin)
		smr_piece_lineage(r, p->tx_end);
}

static int send_begin(struct shmring *r, struct smr_piece *p, const void *buf, size_t len)
{
	if (r->suppress && smr_lin_suppress(r)) {
		/* A restarted kernel's repeat: dropped whole, counted once. */
		p->tx_active = 0;
		smr_lin_committed(r, 0, 0, 1);
		return 1;
	}
	if (r->pending)
		smr_publish(r); /* earlier commits first: none hides behind a held header */
	p->tx_buf = buf;
	p->tx_len = len;
	p->tx_off = 0;
	p->tx_active = 1;
	/* T2, as taken_over's: a takeover before this message is none. */
	p->tx_att = smr_load_acquire(&r->hdr->cons_ctr.attaches);
	return 0;
}

int smr_piece_send(struct shmring *r, const void *buf, size_t len, int timeout_ms)
{
	if (r->role != SHMRING_ROLE_PRODUCER)
		return -EBADF;
	if (r->cur_rec)
		return -EINVAL; /* a reservation is open */
	if (r->closed)
		return -EPIPE;
	if ((uint64_t)len > SHMRING_MSG_MAX) {
		smr_seterr("shmring '%s': a message of %zu bytes is larger than the %llu bytes "
			   "a ring carries: split it", r->name, len,
			   (unsigned long long)SHMRING_MSG_MAX);
		return -EMSGSIZE;
	}
	if (r->bcast) {
		/* The resend after a takeover watches the SPSC consumer block
		 * only: on a broadcast ring another consumer's successor could
		 * miss a message. Refused until it watches every consumer. */
		smr_seterr("shmring '%s': a message of %zu bytes needs pieces (longer than %llu "
			   "bytes), which broadcast rings do not carry yet: give the ring at "
			   "least twice the message's capacity", r->name, len,
			   (unsigned long long)r->max_msg);
		return -EMSGSIZE;
	}
	struct smr_piece *p = state(r);
	if (!p)
		return -ENOMEM;
	/* The same message again after an early return carries on; another
	 * one gives the first up (its consumer drops what it had of it). */
	if ((!p->tx_active || p->tx_buf != buf || p->tx_len != len) && send_begin(r, p, buf, len))
		return 0;
	for (;;) {
		int rc = send_pieces(r, p, timeout_ms);
		if (rc < 0)
			return rc;
		/* The rendezvous: until the last piece is released, a consumer
		 * taking over may need the message again from us. P2 inside. */
		rc = shmring_wait_released(r, p->tx_end, timeout_ms);
		if (rc < 0)
			return rc;
		if (!taken_over(r, p))
			break;
		p->tx_off = 0;
	}
	send_done(r, p);
	return 0;
}

/* ---- consumer ---------------------------------------------------------- */

enum { NEXT_PIECE = 1, NEXT_MSG = 2 };

struct piece_view {
	const uint8_t *data;
	uint64_t n, offset, total, rec;
};

/* Read and check the piece at off (its header hdr already acquired). */
static int view_piece(struct shmring *r, uint64_t off, uint32_t n, struct piece_view *v)
{
	if (n <= SHMRING_PIECE_HDR || n > r->max_msg || off + smr_rec_size(n) > r->cap)
		return corrupt(r, off, "record length");
	struct smr_piece_hdr ph;
	/* Plain reads: ordered after the header's acquire (C1), and read once. */
	memcpy(&ph, r->data + off + SHMRING_REC_HDR, sizeof(ph));
	v->n = n - SHMRING_PIECE_HDR;
	if (ph.total == 0 || ph.total > SHMRING_MSG_MAX || ph.offset >= ph.total ||
	    v->n > ph.total - ph.offset)
		return corrupt(r, off, "offset or total");
	v->data = r->data + off + SHMRING_REC_HDR + SHMRING_PIECE_HDR;
	v->offset = ph.offset;
	v->total = ph.total;
	v->rec = smr_rec_size(n);
	return 0;
}

/* A piece of a message begun before this consumer took over: release it
 * unread. The producer sends the message again (see the top); one
 * redelivery per run of them. */
static void skip_orphan(struct shmring *r, struct smr_piece *p, uint64_t rec)
{
	if (!p->rx_orphan) {
		smr_counter_add(&r->my_ctr->redelivered, 1);
		p->rx_orphan = 1;
	}
	r->pos += rec;
	r->cur_rec = 0;
	smr_publish(r); /* C2: the room is the producer's again */
}

/* The next piece in order at our position, skipping pads and orphans:
 * NEXT_PIECE with *v set, NEXT_MSG (a plain record: what was being
 * assembled is dropped), 0 at end of stream, or an error. */
static int next_piece(struct shmring *r, struct smr_piece *p, int timeout_ms, struct piece_view *v)
{
	for (;;) {
		uint64_t off = r->pos & r->mask;
		/* C1: acquire; pairs with the producer's header release (R1). */
		uint64_t h = smr_load_acquire(hdr_at(r, r->pos));
		uint32_t n = (uint32_t)h, type = (uint32_t)(h >> SHMRING_REC_TYPE_SHIFT);
		if (h == 0) {
			int rc = smr_peek_wait(r, timeout_ms);
			if (rc == 0)
				p->rx_active = 0; /* closed in the middle: given up */
			if (rc <= 0)
				return rc;
		} else if (type == SHMRING_REC_PAD) {
			if ((uint64_t)n + SHMRING_REC_HDR != r->cap - off || r->cap - off > r->cap / 2)
				return corrupt(r, off, "pad");
			r->pos += r->cap - off;
			r->pending++; /* the skipped bytes go back with the next release */
		} else if (type != SHMRING_REC_PIECE) {
			p->rx_active = 0;
			p->rx_orphan = 0;
			return NEXT_MSG; /* peek checks it */
		} else {
			int rc = view_piece(r, off, n, v);
			if (rc < 0)
				return rc;
			if (v->offset == 0) {
				p->rx_orphan = 0;
				return NEXT_PIECE; /* a message starts (again) */
			}
			if (p->rx_active) {
				if (v->offset != p->rx_off || v->total != p->rx_total)
					return corrupt(r, off, "out of order");
				return NEXT_PIECE;
			}
			skip_orphan(r, p, v->rec);
		}
	}
}

/* A message starts at our position: from here on its pieces are expected. */
static void rx_begin(struct shmring *r, struct smr_piece *p, uint64_t total, void *buf)
{
	p->rx_active = 1;
	p->rx_total = total;
	p->rx_off = 0;
	p->rx_buf = buf;
	if (r->lin)
		smr_lin_peeked(r); /* sends now answer this message (lineage.c) */
}

/* Relaxed, as peek's: read by a successor counting redeliveries. */
static inline void mark_peeked(struct shmring *r, uint64_t rec)
{
	smr_store_relaxed(&r->my_ctr->peeked, r->pos + rec);
}

/* peek_piece's piece not released yet is handed out again: undo its
 * bookkeeping. One released: nothing to do, rx_* already look past it. */
static void rx_sync(struct shmring *r, struct smr_piece *p)
{
	if (!p->pk_held)
		return;
	p->pk_held = 0;
	if (r->pos != p->pk_pos)
		return;
	p->rx_off = p->pk_off;
	p->rx_active = p->pk_off != 0;
	if (!p->pk_last)
		r->msgs++; /* see peek_piece */
	r->cur_rec = 0;
}

/* Copy one piece and release it at once, so the producer can reuse it. */
static int recv_piece(struct shmring *r, struct smr_piece *p, const struct piece_view *v)
{
	memcpy((uint8_t *)p->rx_buf + v->offset, v->data, v->n);
	int last = v->offset + v->n == v->total;
	mark_peeked(r, v->rec);
	r->pos += v->rec;
	r->cur_rec = 0;
	r->bytes += v->n;
	r->msgs += (uint64_t)last;
	p->rx_off = v->offset + v->n;
	p->rx_active = !last;
	if (last && r->lin && r->lin->hot->staged)
		smr_lin_released(r); /* a staged checkpoint covers the whole message */
	smr_publish(r); /* C2, W2..W4: the producer waits for this room, or for the last */
	return last;
}

ssize_t smr_piece_recv(struct shmring *r, void *buf, size_t cap, int timeout_ms)
{
	struct smr_piece *p = state(r);
	if (!p)
		return -ENOMEM;
	rx_sync(r, p);
	if (p->rx_active && p->rx_buf != buf) {
		smr_seterr("shmring '%s': a message in pieces is half read %s: %s", r->name,
			   p->rx_buf ? "into another buffer" : "with shmring_peek_piece",
			   p->rx_buf ? "call shmring_recv again with the same buffer"
				     : "read the rest with shmring_peek_piece");
		return -EINVAL;
	}
	for (;;) {
		struct piece_view v;
		int rc = next_piece(r, p, timeout_ms, &v);
		if (rc <= 0)
			return rc; /* a timeout keeps what was copied: call again */
		if (rc == NEXT_MSG)
			return shmring_recv(r, buf, cap, timeout_ms);
		if (v.offset == 0) {
			if (v.total > cap) {
				smr_seterr("shmring '%s': message of %llu bytes, buffer of %zu: it "
					   "stays in the ring; receive it into a larger buffer",
					   r->name, (unsigned long long)v.total, cap);
				return -EMSGSIZE;
			}
			rx_begin(r, p, v.total, buf);
		}
		if (recv_piece(r, p, &v))
			return (ssize_t)v.total;
	}
}

int shmring_peek_piece(struct shmring *r, const void **buf, size_t *len,
		       struct shmring_piece *info, int timeout_ms)
{
	if (r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	struct smr_piece *p = state(r);
	if (!p)
		return -ENOMEM;
	rx_sync(r, p);
	struct piece_view v;
	int rc = next_piece(r, p, timeout_ms, &v);
	if (rc <= 0)
		return rc;
	if (rc == NEXT_MSG) { /* a plain message is one piece */
		rc = shmring_peek(r, buf, len, timeout_ms);
		if (rc > 0)
			*info = (struct shmring_piece){ .offset = 0, .total = (uint64_t)rc };
		return rc;
	}
	if (v.offset == 0)
		rx_begin(r, p, v.total, NULL);
	mark_peeked(r, v.rec);
	/* shmring_release releases it: it moves by cur_rec and counts cur_len
	 * bytes and one message, so a piece that is not the last one takes
	 * that message back here. */
	r->cur_rec = v.rec;
	r->cur_len = (uint32_t)v.n;
	p->pk_held = 1;
	p->pk_pos = r->pos;
	p->pk_off = v.offset;
	p->pk_last = v.offset + v.n == v.total;
	if (!p->pk_last)
		r->msgs--;
	/* Whatever the batch, its release publishes (C2): the producer waits
	 * for this room, or for the last piece (the rendezvous). */
	if (r->pending + 1 < r->batch)
		r->pending = r->batch - 1;
	p->rx_off = v.offset + v.n;
	p->rx_active = !p->pk_last;
	*buf = v.data;
	*len = (size_t)v.n;
	*info = (struct shmring_piece){ .offset = v.offset, .total = v.total };
	return (int)v.n;
}

/* ---- peek, read-ahead and takeover meeting pieces ----------------------- */

int smr_piece_refuse(struct shmring *r, uint64_t off)
{
	struct smr_piece_hdr ph = { 0, 0 };
	uint32_t n = (uint32_t)smr_load_acquire(hdr_at(r, off)); /* C1, as peek's */
	if (n > SHMRING_PIECE_HDR && off + smr_rec_size(n) <= r->cap)
		memcpy(&ph, r->data + off + SHMRING_REC_HDR, sizeof(ph));
	smr_seterr("shmring '%s': message of %llu bytes in pieces: read it with shmring_recv "
		   "or shmring_peek_piece, or make the ring larger than twice it", r->name,
		   (unsigned long long)ph.total);
	return -EMSGSIZE;
}

uint64_t smr_piece_walk_count(const struct shmring *r, uint64_t pos, uint32_t len)
{
	(void)len; /* the caller checked the record */
	struct smr_piece_hdr ph;
	memcpy(&ph, r->data + (pos & r->mask) + SHMRING_REC_HDR, sizeof(ph));
	return ph.offset == 0;
}
