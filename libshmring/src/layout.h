/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory layout of one ring segment. This is a wire format between
 * processes that may have been built at different times: fixed-width fields,
 * explicit padding, static_asserts on every offset. Bump SHMRING_LAYOUT_VERSION
 * on any change; attach refuses other versions with -EPROTO. The public
 * shmring/agent.h speaks this layout too (for a GPU): agent_check.c asserts
 * its constants against these, so a change here must be made there too.
 *
 *   offset     size  block                        written by
 *   0          128   identity                     creator, once
 *   128        128   producer index (head)        producer, every publish
 *   256        128   producer control             producer, cold
 *   384        128   producer counters            producer, every publish
 *   512        128   consumer index (tail)        consumer, every publish
 *   640        128   consumer control             consumer, cold
 *   768        128   consumer counters            consumer, every publish
 *   4096       cap   data: records, 8-aligned
 *
 * Blocks are 128 bytes, two cache lines, so the adjacent-line prefetcher does
 * not drag the producer's and consumer's hot lines into each other's caches
 * (DPDK's "cache guard"). Data starts on a page so it can later be registered
 * with io_uring or CUDA as-is.
 *
 * Indices (head, tail) are free-running 64-bit byte counts, masked with
 * capacity-1 on access; they never wrap in practice (2^64 bytes).
 *
 * A record is an 8-byte header followed by the payload, padded to 8 bytes:
 *   uint32 len   payload length in bytes (for a PAD record: bytes skipped
 *                after the header, up to the end of the data area)
 *   uint32 type  SHMRING_REC_MSG, SHMRING_REC_PAD or SHMRING_REC_PIECE
 * A record never wraps: when it does not fit before the end of the data
 * area, the producer writes a PAD record there and starts again at 0.
 *
 * A message larger than max_msg is sent (shmring_send) as consecutive PIECE
 * records (ring_piece.c). A piece's payload starts with struct smr_piece_hdr
 * (where its bytes go in the message, and the message's length), then
 * carries the message bytes.
 */
#ifndef SHMRING_SRC_LAYOUT_H
#define SHMRING_SRC_LAYOUT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

#define SHMRING_MAGIC          0x31474e4952524d53ull /* "SMRRING1" little-endian */
#define SHMRING_LAYOUT_VERSION 4u
#define SHMRING_BLOCK          128u
#define SHMRING_DATA_OFFSET    4096u
#define SHMRING_REC_HDR        8u
#define SHMRING_REC_ALIGN      8u  /* records, and so head and tail, are 8-aligned */
#define SHMRING_REC_TYPE_SHIFT 32  /* header word: len in the low half, type above */
#define SHMRING_REC_MSG        0x4d53u /* "SM" */
#define SHMRING_REC_PAD        0x4150u /* "PA" */
#define SHMRING_REC_PIECE      0x4950u /* "PI" */

/* identity.flags, set by the creator before it publishes the version. */
/* Wakers on this ring may skip the W2 fence: every sleeper on it calls
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) after announcing (wait.c). */
#define SHMRING_ID_ASYM_WAKE   1u

/* Capacity limits: a page at least; at most 1 GiB so a record length always
 * fits the 32-bit header field with room to spare. */
#define SHMRING_MIN_CAPACITY   4096ull
#define SHMRING_MAX_CAPACITY   (1ull << 30)

struct smr_identity {
	/* Published last, with release, by the creator; 0 = not ready yet, so a
	 * monitor that races creation sees "not ready" rather than garbage. */
	_Atomic uint32_t version;
	uint32_t hdr_size;     /* SHMRING_DATA_OFFSET */
	uint64_t magic;
	uint64_t capacity;     /* bytes in the data area, a power of two */
	uint64_t max_msg;      /* largest payload a record may carry */
	uint64_t created_ns;   /* CLOCK_REALTIME at creation */
	uint32_t creator_pid;
	uint32_t flags;
	char     name[64];     /* NUL-terminated, for shmring-stat */
	uint8_t  pad_[SHMRING_BLOCK - 48 - 64];
};

/* An "owner" word names the process holding a role: pid in the high half, the
 * low 32 bits of its start time (clock ticks since boot) in the low half, so a
 * recycled pid is not mistaken for the original process. 0 = nobody. */
struct smr_end_control {
	_Atomic uint64_t owner;
	/* Set by this end when it will never produce (producer: end of stream)
	 * or consume (consumer) again. Published with release. */
	_Atomic uint32_t closed;
	/* Sleep announcement and the futex word the peer bumps to wake us;
	 * see wait.c for the protocol. */
	_Atomic uint32_t sleeping;
	_Atomic uint32_t futex_seq;
	_Atomic uint32_t wait_strategy; /* informational, for shmring-stat */
	/* SMR_END_* bits this end's holder sets for its peer to read. */
	_Atomic uint32_t flags;
	uint8_t  pad_[SHMRING_BLOCK - 28];
};

/* end_control.flags. Consumer: its end is driven by an agent (agent.h),
 * which cannot take a held header (ring_io.c, "Adaptive publication"):
 * the producer must not hold any. */
#define SMR_END_AGENT 1u

struct smr_end_counters {
	_Atomic uint64_t msgs;    /* committed (producer) / released (consumer) */
	_Atomic uint64_t bytes;   /* payload bytes, same */
	_Atomic uint64_t stalls;  /* producer: found full; consumer: found empty */
	_Atomic uint64_t sleeps;  /* futex waits entered */
	_Atomic uint64_t wakes;   /* futex wakes issued to the peer */
	_Atomic uint64_t high_fill; /* producer only: highest fill seen at publish */
	_Atomic uint64_t attaches; /* times this role was taken */
	/* Consumer only: the end of the furthest record handed out by peek, so
	 * a successor can count what it delivers again ... */
	_Atomic uint64_t peeked;
	/* ... and that count, summed over every takeover (at-least-once made
	 * visible: shmring_stats().redelivered). */
	_Atomic uint64_t redelivered;
	/* Kernel ports with a journal (exactly-once, journal.h). Producer:
	 * sends a restarted kernel made again for input its predecessor had
	 * already answered, dropped instead of committed. Consumer: messages a
	 * restarted kernel skipped because its checkpoint already covered them.
	 * Carved from the padding: a segment without them reads 0. */
	_Atomic uint64_t suppressed;
	_Atomic uint64_t skipped;
	/* Consumer only: the tail its current holder took the role at, stored
	 * before `attaches` is released (ring.c). A producer in the middle of
	 * a message in pieces compares it with where the message starts, to
	 * tell whether the new consumer needs the message again (ring_piece.c). */
	_Atomic uint64_t taken_at;
	/* Adaptive publication (ring_io.c): producer, the holds it offered;
	 * consumer, the held headers it made visible itself. */
	_Atomic uint64_t holds;
	uint8_t  pad_[SHMRING_BLOCK - 104];
};

struct smr_index {
	_Atomic uint64_t pos;
	uint8_t  pad0_[56];
	/* Head only, on the block's second line (the producer stores pos at
	 * every commit of an offered run; the consumer reads these when it
	 * waits): the header a producer holds back, for the consumer to take
	 * (ring_io.c, "Adaptive publication"), 0 = none; and CLOCK_MONOTONIC
	 * ns no later than the held commit. */
	_Atomic uint64_t held;
	_Atomic uint64_t held_t;
	uint8_t  pad_[SHMRING_BLOCK - 80];
};

/* The held word: the held record's position / 8 (its low 32 bits) in the
 * high half, its payload length in the low 31 bits, and SMR_HELD_TAKEN once
 * the consumer took it. Positions of one hold never repeat within 2^35
 * bytes, more than the producer can get ahead of the consumer (1 GiB). */
#define SMR_HELD_TAKEN   0x80000000ull
#define SMR_HELD_UNDATED UINT64_MAX /* held_t of an explicit batch's run */
#define SMR_HELD_LEN     0x7fffffffull
static inline uint64_t smr_held_pack(uint64_t pos, uint32_t len)
{
	return ((pos >> 3) << 32) | len;
}

/* Does the (non-zero) word w name the record at pos? */
static inline int smr_held_names(uint64_t w, uint64_t pos)
{
	return w && (uint32_t)(w >> 32) == (uint32_t)(pos >> 3);
}

/* The position w names, taken as the one within 2^35 bytes after from:
 * the caller checks it lies within a ring of from. */
static inline uint64_t smr_held_at(uint64_t w, uint64_t from)
{
	return from + (uint64_t)((uint32_t)(w >> 32) - (uint32_t)(from >> 3)) * 8u;
}

struct smr_header {
	struct smr_identity     id;
	struct smr_index        head;  /* producer writes */
	struct smr_end_control  prod;
	struct smr_end_counters prod_ctr;
	struct smr_index        tail;  /* consumer writes */
	struct smr_end_control  cons;
	struct smr_end_counters cons_ctr;
};

static_assert(sizeof(_Atomic uint64_t) == 8, "lock-free 64-bit atomics required");
static_assert(sizeof(_Atomic uint32_t) == 4, "lock-free 32-bit atomics required");
static_assert(sizeof(struct smr_identity) == SHMRING_BLOCK, "identity block");
static_assert(sizeof(struct smr_end_control) == SHMRING_BLOCK, "control block");
static_assert(sizeof(struct smr_end_counters) == SHMRING_BLOCK, "counter block");
static_assert(sizeof(struct smr_index) == SHMRING_BLOCK, "index block");
static_assert(offsetof(struct smr_identity, version) == 0, "version is the first word");
static_assert(offsetof(struct smr_identity, magic) == 8, "magic");
static_assert(offsetof(struct smr_identity, name) == 48, "name");
static_assert(offsetof(struct smr_header, head) == 128, "head block");
static_assert(offsetof(struct smr_header, prod) == 256, "producer control");
static_assert(offsetof(struct smr_header, prod_ctr) == 384, "producer counters");
static_assert(offsetof(struct smr_header, tail) == 512, "tail block");
static_assert(offsetof(struct smr_header, cons) == 640, "consumer control");
static_assert(offsetof(struct smr_header, cons_ctr) == 768, "consumer counters");
static_assert(offsetof(struct smr_end_counters, suppressed) == 72, "suppressed counter");
static_assert(offsetof(struct smr_end_counters, skipped) == 80, "skipped counter");
static_assert(offsetof(struct smr_end_counters, taken_at) == 88, "taken_at word");
static_assert(offsetof(struct smr_end_counters, holds) == 96, "holds counter");
static_assert(offsetof(struct smr_end_control, flags) == 24, "end flags");
static_assert(offsetof(struct smr_index, held) == 64, "held word");
static_assert(offsetof(struct smr_index, held_t) == 72, "held time");
static_assert(sizeof(struct smr_header) <= SHMRING_DATA_OFFSET, "header fits before data");

/*
 * Broadcast rings (ring_bcast.c): one producer, up to SHMRING_BCAST_MAX
 * consumers, the same data area and record format. Their own magic, so an
 * SPSC attach (of any version of this library) refuses one rather than
 * misreading it; the layout version word is shared with the SPSC ring (the
 * record format is the same one).
 *
 *   offset          size   block
 *   0               512    identity, head, producer control and counters
 *                          (exactly as in struct smr_header)
 *   512 + 384*i     384    consumer i: tail, control, counters (consumer 0
 *                          sits where the SPSC consumer does)
 *   6656            128    broadcast info: consumer count and policies
 *   8192            cap    data
 *
 * 16 consumers: the issue asks for 16, and the producer's refresh reads every
 * consumer's tail line when it finds the ring full, so the count is kept to
 * what fits before the data in two pages.
 */
#define SHMRING_BCAST_MAGIC       0x3154534342524d53ull /* "SMRBCST1" little-endian */
#define SHMRING_BCAST_MAX 16 /* as in shmring/bcast.h, token for token */
#define SHMRING_BCAST_DATA_OFFSET 8192u
#define SHMRING_BCAST_BLOCK_POLICY 0u
#define SHMRING_BCAST_DROP_POLICY  1u

struct smr_bcast_cons {
	struct smr_index        tail; /* this consumer writes (the producer too,
					 by CAS, for a drop or closed consumer) */
	struct smr_end_control  ctl;
	struct smr_end_counters ctr;
};

struct smr_bcast_info {
	uint32_t consumers;                  /* 1..SHMRING_BCAST_MAX */
	uint32_t policy[SHMRING_BCAST_MAX];  /* SHMRING_BCAST_*_POLICY each */
	uint8_t  pad_[SHMRING_BLOCK - 4 - 4 * SHMRING_BCAST_MAX];
};

struct smr_bcast_header {
	struct smr_identity     id;
	struct smr_index        head;
	struct smr_end_control  prod;
	struct smr_end_counters prod_ctr;
	struct smr_bcast_cons   cons[SHMRING_BCAST_MAX];
	struct smr_bcast_info   info;
};

static_assert(sizeof(struct smr_bcast_cons) == 3 * SHMRING_BLOCK, "consumer blocks");
static_assert(sizeof(struct smr_bcast_info) == SHMRING_BLOCK, "broadcast info block");
static_assert(offsetof(struct smr_bcast_header, head) == offsetof(struct smr_header, head),
	      "broadcast head where the SPSC head is");
static_assert(offsetof(struct smr_bcast_header, prod_ctr) == offsetof(struct smr_header, prod_ctr),
	      "broadcast producer counters where the SPSC ones are");
static_assert(offsetof(struct smr_bcast_header, cons[0].tail) == offsetof(struct smr_header, tail),
	      "consumer 0's tail where the SPSC tail is");
static_assert(offsetof(struct smr_bcast_header, cons[0].ctr) == offsetof(struct smr_header, cons_ctr),
	      "consumer 0's counters where the SPSC ones are");
static_assert(offsetof(struct smr_bcast_header, info) == 6656, "broadcast info");
static_assert(sizeof(struct smr_bcast_header) <= SHMRING_BCAST_DATA_OFFSET,
	      "broadcast header fits before data");

/* The start of a PIECE record's payload; the message bytes follow. Written
 * by the producer before the record's header release (R1), read by the
 * consumer after its acquire (C1), and bound-checked like every length. */
struct smr_piece_hdr {
	uint64_t total;   /* the whole message's length, 1..SHMRING_MSG_MAX */
	uint64_t offset;  /* where this piece's bytes go in it */
};
#define SHMRING_PIECE_HDR 16u
static_assert(sizeof(struct smr_piece_hdr) == SHMRING_PIECE_HDR, "piece header");

static inline uint64_t smr_rec_size(uint64_t len)
{
	return (SHMRING_REC_HDR + len + SHMRING_REC_ALIGN - 1u) & ~(uint64_t)(SHMRING_REC_ALIGN - 1u);
}

static inline uint64_t smr_rec_pack(uint32_t len, uint32_t type)
{
	return (uint64_t)len | ((uint64_t)type << SHMRING_REC_TYPE_SHIFT);
}

#endif
