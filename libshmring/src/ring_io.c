/* SPDX-License-Identifier: MIT */
/*
 * The data path: reserve/commit on the producer, peek/release on the
 * consumer, and publication of either index.
 *
 * Ordering, end to end (labels used in the comments below):
 *   P1 producer: record header + payload stores, then store-release(head)
 *   C1 consumer: load-acquire(head), then reads of header + payload
 *      P1 -> C1: the consumer sees every byte of a record once it sees head
 *   C2 consumer: reads of the record, then store-release(tail)
 *   P2 producer: load-acquire(tail), then overwrites the freed bytes
 *      C2 -> P2: the producer never overwrites bytes still being read
 *
 * Fast path: each side compares against its cached copy of the peer's index
 * and touches the peer's cache line only when that copy says "no room" /
 * "nothing new". No system call unless the peer announced it sleeps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "ring_internal.h"

/* A record header is read once into a local: the peer may be buggy and
 * scribble on it after we checked it. */
static inline uint64_t read_rec_hdr(const uint8_t *p)
{
	return *(const volatile uint64_t *)(const void *)p;
}

static inline void write_rec_hdr(uint8_t *p, uint32_t len, uint32_t type)
{
	*(volatile uint64_t *)(void *)p = smr_rec_pack(len, type);
}

void smr_publish(struct shmring *r)
{
	/* P1 (producer) / C2 (consumer): release. Every record written (or read)
	 * up to pos is complete before the peer can see the new index; pairs
	 * with the peer's load-acquire in refresh_peer (C1 / P2). */
	smr_store_release(r->my_index, r->pos);
	/* Relaxed: single writer, and readers of counters (shmring-stat) only
	 * want a recent value, not an ordering. */
	smr_store_relaxed(&r->my_ctr->msgs, r->msgs);
	smr_store_relaxed(&r->my_ctr->bytes, r->bytes);
	if (r->role == SHMRING_ROLE_PRODUCER) {
		uint64_t fill = r->pos - r->peer_pos; /* upper bound: tail may be ahead */
		if (fill > smr_load_relaxed(&r->my_ctr->high_fill))
			smr_store_relaxed(&r->my_ctr->high_fill, fill);
	}
	r->pending = 0;
	smr_wake_peer(r); /* W2..W4: fence, then wake only if the peer sleeps */
}

/*
 * Refresh the cached copy of the peer's index. Returns 0, or -EBADMSG when
 * the value cannot be right (moved backwards, beyond a full ring, or off the
 * 8-byte record grid): a buggy or hostile peer must not make us read or
 * write outside the data area.
 */
static inline int refresh_peer(struct shmring *r)
{
	/* C1 (consumer, loading head) / P2 (producer, loading tail): acquire;
	 * pairs with the peer's store-release in smr_publish (P1 / C2). */
	uint64_t p = smr_load_acquire(r->peer_index);
	uint64_t dist = r->role == SHMRING_ROLE_PRODUCER ? r->pos - p : p - r->pos;
	if (dist > r->cap || (p & 7u)) {
		smr_seterr("shmring '%s': shared %s index %llu is inconsistent with ours "
			   "(%llu): the segment is corrupt; recreate the ring",
			   r->name, r->role == SHMRING_ROLE_PRODUCER ? "tail" : "head",
			   (unsigned long long)p, (unsigned long long)r->pos);
		return -EBADMSG;
	}
	r->peer_pos = p;
	return 0;
}

/* ---- producer ---------------------------------------------------------- */

static uint64_t space_needed(const struct shmring *r, uint64_t rec)
{
	uint64_t contig = r->cap - (r->pos & r->mask);
	return rec <= contig ? rec : contig + rec;
}

static int producer_ready(struct shmring *r)
{
	int rc = refresh_peer(r);
	if (rc < 0)
		return rc;
	/* cur_rec carries the size we wait for while no reservation is open. */
	if (r->cap - (r->pos - r->peer_pos) >= space_needed(r, r->cur_rec))
		return 1;
	/* Relaxed: a flag; the consumer's close needs no data ordering. */
	if (smr_load_relaxed(&r->peer->closed))
		return -EPIPE;
	return 0;
}

int shmring_reserve(struct shmring *r, size_t len, void **buf, int timeout_ms)
{
	if (r->role != SHMRING_ROLE_PRODUCER)
		return -EBADF;
	if (r->cur_rec)
		return -EINVAL; /* one reservation at a time: commit it first */
	if (len == 0)
		return -EINVAL;
	if (len > r->max_msg)
		return -EMSGSIZE;
	uint64_t rec = smr_rec_size(len);
	uint64_t need = space_needed(r, rec);

	if (__builtin_expect(r->cap - (r->pos - r->peer_pos) < need, 0)) {
		int rc = refresh_peer(r);
		if (rc < 0)
			return rc;
		if (r->cap - (r->pos - r->peer_pos) < need) {
			/* Full. Publish our own pending commits first, or a consumer
			 * waiting for them and a producer waiting for room would wait
			 * on each other. */
			if (r->pending)
				smr_publish(r);
			if (smr_load_relaxed(&r->peer->closed))
				return -EPIPE;
			smr_counter_add(&r->my_ctr->stalls, 1);
			if (timeout_ms == 0)
				return -EAGAIN;
			r->cur_rec = rec;
			rc = smr_wait(r, timeout_ms, producer_ready);
			r->cur_rec = 0;
			if (rc < 0)
				return rc;
		}
	}

	uint64_t off = r->pos & r->mask;
	uint64_t contig = r->cap - off;
	if (rec > contig) {
		/* Does not fit before the end: pad to the end and start at 0. The
		 * pad is published with the message's commit. */
		write_rec_hdr(r->data + off, (uint32_t)(contig - SHMRING_REC_HDR), SHMRING_REC_PAD);
		r->pos += contig;
		off = 0;
	}
	r->cur_rec = rec;
	r->cur_len = (uint32_t)len;
	*buf = r->data + off + SHMRING_REC_HDR;
	return 0;
}

int shmring_commit(struct shmring *r, size_t len)
{
	if (r->role != SHMRING_ROLE_PRODUCER)
		return -EBADF;
	if (!r->cur_rec || len == 0 || len > r->cur_len)
		return -EINVAL;
	write_rec_hdr(r->data + (r->pos & r->mask), (uint32_t)len, SHMRING_REC_MSG);
	r->pos += smr_rec_size(len);
	r->cur_rec = 0;
	r->msgs++;
	r->bytes += len;
	if (++r->pending >= r->batch)
		smr_publish(r);
	return 0;
}

int shmring_send(struct shmring *r, const void *buf, size_t len, int timeout_ms)
{
	void *dst;
	int rc = shmring_reserve(r, len, &dst, timeout_ms);
	if (rc < 0)
		return rc;
	memcpy(dst, buf, len);
	return shmring_commit(r, len);
}

/* ---- consumer ---------------------------------------------------------- */

static int consumer_ready(struct shmring *r)
{
	int rc = refresh_peer(r);
	if (rc < 0)
		return rc;
	if (r->peer_pos != r->pos)
		return 1;
	/* Acquire: pairs with the producer's release of `closed` in
	 * shmring_close, which follows its final publish of head. */
	return smr_load_acquire(&r->peer->closed) ? 1 : 0;
}

/* Parse the record at pos. Returns its payload length, 0 if it was padding
 * (skipped), or -EBADMSG. Every length is checked against what the producer
 * has published and against the end of the data area. */
static int parse_record(struct shmring *r, const void **buf)
{
	uint64_t off = r->pos & r->mask;
	uint64_t avail = r->peer_pos - r->pos;
	uint64_t h = read_rec_hdr(r->data + off);
	uint32_t len = (uint32_t)h, type = (uint32_t)(h >> 32);

	if (type == SHMRING_REC_PAD) {
		uint64_t skip = r->cap - off;
		if ((uint64_t)len + SHMRING_REC_HDR != skip || skip > avail)
			goto corrupt;
		r->pos += skip;
		r->pending++; /* the freed bytes go back with the next release */
		return 0;
	}
	if (type != SHMRING_REC_MSG || len == 0 || len > r->max_msg)
		goto corrupt;
	uint64_t rec = smr_rec_size(len);
	if (rec > avail || off + rec > r->cap)
		goto corrupt;
	r->cur_rec = rec;
	r->cur_len = len;
	*buf = r->data + off + SHMRING_REC_HDR;
	return (int)len;
corrupt:
	smr_seterr("shmring '%s': corrupt record at offset %llu (type 0x%x, length %u, "
		   "%llu bytes published): the producer wrote outside the protocol",
		   r->name, (unsigned long long)off, type, len, (unsigned long long)avail);
	return -EBADMSG;
}

int shmring_peek(struct shmring *r, const void **buf, size_t *len, int timeout_ms)
{
	if (r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	int rc;
	if (r->cur_rec) {
		/* Already peeked: the same message again, re-validated (cheap). */
		r->cur_rec = 0;
	}
	for (;;) {
		if (__builtin_expect(r->pos == r->peer_pos, 0)) {
			if ((rc = refresh_peer(r)) < 0)
				return rc;
			if (r->pos == r->peer_pos) {
				/* Empty. Hand back what we consumed first, so a
				 * producer waiting for room can go on. */
				if (r->pending)
					smr_publish(r);
				if (smr_load_acquire(&r->peer->closed)) {
					/* closed was stored after the final head:
					 * one more look, then it is the end. */
					if ((rc = refresh_peer(r)) < 0)
						return rc;
					if (r->pos == r->peer_pos)
						return 0;
					continue;
				}
				smr_counter_add(&r->my_ctr->stalls, 1);
				if (timeout_ms == 0)
					return -EAGAIN;
				if ((rc = smr_wait(r, timeout_ms, consumer_ready)) < 0)
					return rc;
				continue;
			}
		}
		rc = parse_record(r, buf);
		if (rc != 0) {
			if (rc > 0)
				*len = (size_t)rc;
			return rc;
		}
	}
}

int shmring_release(struct shmring *r)
{
	if (r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	if (!r->cur_rec)
		return -EINVAL; /* nothing peeked */
	r->pos += r->cur_rec;
	r->cur_rec = 0;
	r->msgs++;
	r->bytes += r->cur_len;
	if (++r->pending >= r->batch)
		smr_publish(r);
	return 0;
}

ssize_t shmring_recv(struct shmring *r, void *buf, size_t cap, int timeout_ms)
{
	const void *src;
	size_t len;
	int rc = shmring_peek(r, &src, &len, timeout_ms);
	if (rc <= 0)
		return rc;
	if (len > cap) {
		r->cur_rec = 0; /* leave it in the ring: nothing is lost */
		return -EMSGSIZE;
	}
	memcpy(buf, src, len);
	shmring_release(r);
	return (ssize_t)len;
}

int shmring_flush(struct shmring *r)
{
	if (r->role != SHMRING_ROLE_PRODUCER && r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	if (r->pending)
		smr_publish(r);
	return 0;
}
