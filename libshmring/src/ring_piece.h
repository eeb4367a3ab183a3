/* SPDX-License-Identifier: MIT */
/*
 * Messages in pieces (ring_piece.c), and the few data-path helpers of
 * ring_io.c it uses. Never installed.
 */
#ifndef SHMRING_SRC_RING_PIECE_H
#define SHMRING_SRC_RING_PIECE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct shmring;

/* Largest piece record, header included; a ring of less than 4 of these
 * uses pieces of a quarter of the ring. Chosen by measurement (docs/ring.md,
 * "Messages in pieces"); a build may set another power of two. */
#ifndef SMR_PIECE_REC
#define SMR_PIECE_REC (64u << 10)
#endif

/* ring_piece.c */
int     smr_piece_send(struct shmring *r, const void *buf, size_t len, int timeout_ms);
ssize_t smr_piece_recv(struct shmring *r, void *buf, size_t cap, int timeout_ms);
/* peek / peek_ahead met a piece: -EMSGSIZE, with a line saying what to call. */
int     smr_piece_refuse(struct shmring *r, uint64_t off);
/* A successor consumer: how many messages in pieces its predecessor
 * peeked from [pos, ...): 1 for a first piece, 0 for the others. */
uint64_t smr_piece_walk_count(const struct shmring *r, uint64_t pos, uint32_t len);
void    smr_piece_free(struct shmring *r);

/* ring_io.c, for ring_piece.c */
/* Room for a record with a payload of len (<= max_msg) at r->pos, padding to
 * the end of the data area first when it does not fit before it; *buf is the
 * payload. Waits as reserve does. */
int  smr_rec_reserve(struct shmring *r, uint64_t len, void **buf, int timeout_ms);
/* Commit the reserved record as a PIECE of payload len and publish it at
 * once (R1), with the counters as they are. */
void smr_piece_commit(struct shmring *r, uint64_t len);
/* Nothing at the consumer's position: publish, end of stream (0), -EAGAIN,
 * wait (1: look again), as peek does. */
int  smr_peek_wait(struct shmring *r, int timeout_ms);
/* A kernel's output: the lineage entry of a message that ended at
 * head_after, everything up to r->pos visible (lineage.c). */
void smr_piece_lineage(struct shmring *r, uint64_t head_after);

#endif
