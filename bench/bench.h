/* SPDX-License-Identifier: MIT */
/* shmring-bench: shared definitions of the harness and the peers. */
#ifndef SHMRING_BENCH_H
#define SHMRING_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/ring.h>
#include "test-util.h" /* tu_now_ns: every timestamp of the harness and peers */

/* Everything a case needs, made in the parent before fork, in memory shared
 * with both children (MAP_SHARED | MAP_ANONYMOUS). */
struct bctx {
	size_t   size;        /* message size */
	uint64_t iters;       /* messages (throughput) or round trips (latency) */
	uint64_t warmup;
	uint32_t pace_us;     /* latency: gap between round trips (0 = back to back) */
	int      touch;       /* latency, zero-copy peers: write every byte and read every
			       * cache line of each message (else the first 8 bytes) */
	enum shmring_wait wait;
	uint32_t batch;       /* shmring publication batch */
	size_t   capacity;    /* throughput: ring (and raw slot ring) bytes */
	char     ring_a[32], ring_b[32]; /* "fd:N" of the two rings */
	int      fd_a[2], fd_b[2];       /* pipes, sockets, eventfds */
	char     endpoint[96];           /* ZeroMQ */
	/* cache-line ping-pong and futex words, each on its own 128-byte block */
	_Alignas(128) volatile uint32_t word_a;
	_Alignas(128) volatile uint32_t word_b;
	_Alignas(128) volatile int ready;
	/* results, written by the measuring child */
	uint64_t elapsed_ns;
	uint64_t rtt_count;
	int      failed;
	char     why[128];
	uint64_t *rtt;        /* latency samples, iters of them, shared */
};

static inline void bench_pace(uint32_t us)
{
	if (us)
		tu_sleep_ns((uint64_t)us * 1000u);
}

void bench_fail(struct bctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Latency payloads of the zero-copy cases: the first 8 bytes (the hand-over
 * alone), or with c->touch every byte written and every cache line read
 * (what a copying transport does to the message anyway). */
static inline void bench_fill(const struct bctx *c, void *p, uint64_t i)
{
	if (c->touch)
		__builtin_memset(p, (int)i, c->size);
	else
		__builtin_memcpy(p, &i, sizeof(i));
}

static inline uint64_t bench_read(const struct bctx *c, const void *p, size_t len)
{
	const volatile uint8_t *b = p;
	uint64_t sink = b[0];
	if (c->touch)
		for (size_t k = 64; k < len; k += 64)
			sink += b[k];
	return sink;
}

/* A case: side 0 measures (initiator / producer-timer), side 1 responds.
 * setup runs in the parent before fork; teardown after both exit. */
struct bcase {
	const char *name;
	int  (*setup)(struct bctx *c);
	void (*side[2])(struct bctx *c);
	void (*teardown)(struct bctx *c);
};

/* latency peers (peers.c) */
extern const struct bcase lat_raw_line, lat_futex_both, lat_futex_paced, lat_eventfd,
	lat_pipe, lat_unix, lat_zmq;
/* throughput peers (peers.c) */
extern const struct bcase tput_unix, tput_zmq, tput_raw;
/* iceoryx (peer-iceoryx.c, when built with it) */
extern const struct bcase lat_iox, tput_iox;
/* the peers in their fastest lossless settings (docs/benchmarks.md, "Peers
 * at their best"): peers.c and peer-iceoryx.c */
extern const struct bcase tput_zmq_tuned, tput_iox_tuned;
void bench_memcpy(struct bctx *c);

#endif
