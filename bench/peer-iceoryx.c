/* SPDX-License-Identifier: MIT */
/*
 * iceoryx 2 (Debian's package, C binding) as a peer of shmring-bench:
 * publisher/subscriber pairs through RouDi's shared-memory pools, zero-copy
 * (loan, write in place, publish; take, read in place, release) -- the way
 * iceoryx's own examples use it. Two ways to wait, as iceoryx offers them:
 * busy-polling take (c->wait == SHMRING_WAIT_SPIN) and its WaitSet (any other
 * value). Needs a running RouDi: bench/run-all starts one with
 * bench/iceoryx-roudi.toml; shmring-bench runs these rows only with
 * --iceoryx.
 *
 * Each side is its own process with its own runtime (registered under a
 * name with its pid) and leaves with exit(), not _exit(), so the runtime
 * deregisters and RouDi gets its chunks back before the next case.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iceoryx_binding_c/config.h>
#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/wait_set.h>

#include "bench.h"

struct iox_end {
	iox_pub_storage_t pub_s;
	iox_sub_storage_t sub_s;
	iox_ws_storage_t ws_s;
	iox_pub_t pub;
	iox_sub_t sub;
	iox_ws_t ws;
};

static int setup_iox(struct bctx *c)
{
	static int seq;
	/* The instance name keeps cases (and concurrent runs) apart. */
	snprintf(c->endpoint, sizeof(c->endpoint), "b%d-%d", (int)getpid(), seq++);
	return 0;
}

static void start(const char *who)
{
	char name[64];
	snprintf(name, sizeof(name), "shmring-bench-%s-%d", who, (int)getpid());
	iox_set_loglevel(Iceoryx_LogLevel_Warn); /* its registration chatter off the tables */
	iox_runtime_init(name);
}

static void open_pub(struct bctx *c, struct iox_end *e, const char *event)
{
	iox_pub_options_t o;
	iox_pub_options_init(&o);
	o.historyCapacity = 0;
	/* Lossless, like every other row: a full subscriber queue blocks. */
	o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	e->pub = iox_pub_init(&e->pub_s, "shmring-bench", c->endpoint, event, &o);
}

static void open_sub(struct bctx *c, struct iox_end *e, const char *event, int waitset)
{
	iox_sub_options_t o;
	iox_sub_options_init(&o);
	o.queueCapacity = c->size > 65536 ? 16 : 256;
	o.historyRequest = 0;
	o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	e->sub = iox_sub_init(&e->sub_s, "shmring-bench", c->endpoint, event, &o);
	e->ws = NULL;
	if (waitset) {
		e->ws = iox_ws_init(&e->ws_s);
		if (iox_ws_attach_subscriber_state(e->ws, e->sub, SubscriberState_HAS_DATA, 0, NULL) !=
		    WaitSetResult_SUCCESS)
			bench_fail(c, "iceoryx: cannot attach the subscriber to a WaitSet");
	}
}

/* Until our publisher has its subscriber and our subscriber its publisher. */
static int connected(struct bctx *c, struct iox_end *e)
{
	for (int i = 0; i < 10000; i++) {
		int ok = (!e->pub || iox_pub_has_subscribers(e->pub)) &&
			 (!e->sub || iox_sub_get_subscription_state(e->sub) == SubscribeState_SUBSCRIBED);
		if (ok)
			return 0;
		usleep(1000);
	}
	bench_fail(c, "iceoryx: no peer after 10 s (is iox-roudi running with "
		      "bench/iceoryx-roudi.toml?)");
	return -1;
}

static const void *take(struct iox_end *e)
{
	const void *p;
	for (;;) {
		if (iox_sub_take_chunk(e->sub, &p) == ChunkReceiveResult_SUCCESS)
			return p;
		if (e->ws) {
			iox_notification_info_t info[1];
			uint64_t missed;
			iox_ws_wait(e->ws, info, 1, &missed);
		} else {
			__builtin_ia32_pause();
		}
	}
}

static int give(struct bctx *c, struct iox_end *e, uint64_t i)
{
	void *p;
	if (iox_pub_loan_chunk(e->pub, &p, (uint32_t)c->size) != AllocationResult_SUCCESS) {
		bench_fail(c, "iceoryx: no %zu-byte chunk (RouDi's pools: bench/iceoryx-roudi.toml)",
			   c->size);
		return -1;
	}
	bench_fill(c, p, i);
	iox_pub_publish_chunk(e->pub, p);
	return 0;
}

static void finish(struct bctx *c, struct iox_end *e)
{
	if (e->ws)
		iox_ws_deinit(e->ws);
	if (e->sub)
		iox_sub_deinit(e->sub);
	if (e->pub)
		iox_pub_deinit(e->pub);
	fflush(NULL);
	exit(c->failed); /* runs the runtime's destructor: deregisters */
}

static void iox_pingpong(struct bctx *c, int initiator)
{
	struct iox_end e = { 0 };
	start(initiator ? "ping" : "pong");
	open_pub(c, &e, initiator ? "ping" : "pong");
	open_sub(c, &e, initiator ? "pong" : "ping", c->wait != SHMRING_WAIT_SPIN);
	if (!c->failed && connected(c, &e) == 0) {
		uint64_t n = c->warmup + c->iters, sink = 0;
		for (uint64_t i = 0; i < n; i++) {
			if (initiator)
				bench_pace(c->pace_us);
			uint64_t t0 = tu_now_ns();
			if (initiator && give(c, &e, i) < 0)
				break;
			const void *r = take(&e);
			sink += bench_read(c, r, c->size);
			iox_sub_release_chunk(e.sub, r);
			if (!initiator && give(c, &e, i) < 0)
				break;
			if (initiator && i >= c->warmup)
				c->rtt[i - c->warmup] = tu_now_ns() - t0;
		}
		(void)sink;
		/* The responder's last chunk must reach the initiator before
		 * the responder's publisher goes away. */
		if (!initiator)
			usleep(100000);
	}
	finish(c, &e);
}

static void iox_lat_init(struct bctx *c) { iox_pingpong(c, 1); }
static void iox_lat_resp(struct bctx *c) { iox_pingpong(c, 0); }

const struct bcase lat_iox = { "iceoryx", setup_iox, { iox_lat_init, iox_lat_resp }, NULL };

/* One way: the sender writes every byte in place (as shmring's zero-copy
 * rows do), the receiver reads every cache line in place. */
static void iox_tx(struct bctx *c)
{
	struct iox_end e = { 0 };
	start("tx");
	open_pub(c, &e, "data");
	if (connected(c, &e) == 0)
		for (uint64_t i = 0; i < c->warmup + c->iters; i++)
			if (give(c, &e, i) < 0)
				break;
	/* Stay until the receiver has taken everything. */
	while (!c->failed && !__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	finish(c, &e);
}

static void iox_rx(struct bctx *c)
{
	struct iox_end e = { 0 };
	start("rx");
	/* Busy-polling, iceoryx's fastest mode, whatever the shmring wait
	 * strategy of the run (a WaitSet adds a semaphore post per publish). */
	open_sub(c, &e, "data", 0);
	uint64_t t0 = 0, sink = 0;
	if (connected(c, &e) == 0) {
		for (uint64_t i = 0; i < c->warmup + c->iters; i++) {
			if (i == c->warmup)
				t0 = tu_now_ns();
			const void *r = take(&e);
			sink += bench_read(c, r, c->size);
			iox_sub_release_chunk(e.sub, r);
		}
		c->elapsed_ns = tu_now_ns() - t0;
	}
	(void)sink;
	__atomic_store_n(&c->ready, 1, __ATOMIC_RELEASE);
	finish(c, &e);
}

const struct bcase tput_iox = { "iceoryx", setup_iox, { iox_tx, iox_rx }, NULL };

/*
 * iceoryx at its best, still lossless (docs/benchmarks.md, "Peers at their
 * best"). What the default row leaves to iceoryx, this one takes over:
 *
 * - the subscriber queue is the largest the library allows
 *   (iox_cfg_max_subscriber_queue_capacity(), 256 in Debian's build) up to
 *   64 KiB, as many as RouDi's pools hold above (16, as in the plain row);
 * - the subscriber busy-polls and keeps up to TUNED_HOLD chunks before it
 *   releases them together (it releases at once whenever the queue is
 *   empty), so the pool's free list changes hands in bursts;
 * - the publisher never meets a full queue: a credit window in memory the
 *   two sides share (the receiver publishes how many chunks it has taken
 *   every 1/16 of the window) makes it spin with `pause` before a publish
 *   that would not fit, where iceoryx's blocking publisher would retake
 *   its lock and call sched_yield in a loop (chunk_distributor.inl).
 *
 * The receiver checks every chunk's sequence number (first 8 bytes) and,
 * at the end, that iceoryx lost none (iox_sub_has_lost_chunks).
 */
enum { TUNED_HOLD = 32 };

static uint32_t tuned_queue(const struct bctx *c)
{
	return c->size > 65536 ? 16 : iox_cfg_max_subscriber_queue_capacity();
}

/* The receiver reports its count every 1/16 of the window, so the sender
 * refills the queue long before it runs dry. */
static uint32_t tuned_step(const struct bctx *c)
{
	uint32_t step = tuned_queue(c) / 16;
	return step ? step : 1;
}

static void iox_tuned_tx(struct bctx *c)
{
	struct iox_end e = { 0 };
	start("tx");
	open_pub(c, &e, "data");
	uint32_t window = tuned_queue(c), taken = 0;
	if (connected(c, &e) == 0)
		for (uint64_t i = 0; i < c->warmup + c->iters; i++) {
			/* Relaxed: word_b is a count, no data is published through
			 * it (iceoryx's queue orders the chunks themselves); a stale
			 * value only makes us wait a little longer. */
			while ((uint32_t)i - taken >= window && !__atomic_load_n(&c->failed, __ATOMIC_RELAXED)) {
				__builtin_ia32_pause();
				taken = __atomic_load_n(&c->word_b, __ATOMIC_RELAXED);
			}
			if (c->failed)
				break;
			void *p;
			if (iox_pub_loan_chunk(e.pub, &p, (uint32_t)c->size) != AllocationResult_SUCCESS) {
				bench_fail(c, "iceoryx: no %zu-byte chunk (RouDi's pools: "
					   "bench/iceoryx-roudi.toml)", c->size);
				break;
			}
			bench_fill(c, p, i);
			memcpy(p, &i, sizeof(i)); /* the sequence number */
			iox_pub_publish_chunk(e.pub, p);
		}
	while (!c->failed && !__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	finish(c, &e);
}

static void release_held(struct iox_end *e, const void **held, unsigned *n)
{
	for (unsigned k = 0; k < *n; k++)
		iox_sub_release_chunk(e->sub, held[k]);
	*n = 0;
}

/* The next chunk, its sequence checked; NULL (and the case failed) if not i. */
static const void *tuned_take(struct bctx *c, struct iox_end *e, uint64_t i,
			      const void **held, unsigned *nheld)
{
	const void *p;
	uint64_t seq;
	while (iox_sub_take_chunk(e->sub, &p) != ChunkReceiveResult_SUCCESS) {
		release_held(e, held, nheld); /* give the pool back before we wait */
		if (__atomic_load_n(&c->failed, __ATOMIC_RELAXED)) /* the sender gave up */
			return NULL;
		__builtin_ia32_pause();
	}
	memcpy(&seq, p, sizeof(seq));
	if (seq == i)
		return p;
	bench_fail(c, "iceoryx tuned: chunk %llu arrived as %llu (lost or reordered)",
		   (unsigned long long)i, (unsigned long long)seq);
	iox_sub_release_chunk(e->sub, p);
	return NULL;
}

static void iox_tuned_rx(struct bctx *c)
{
	struct iox_end e = { 0 };
	iox_sub_options_t o;
	const void *held[TUNED_HOLD];
	unsigned nheld = 0, hold = c->size > 65536 ? 1 : TUNED_HOLD;
	uint32_t step = tuned_step(c);
	start("rx");
	iox_sub_options_init(&o);
	o.queueCapacity = tuned_queue(c);
	o.historyRequest = 0;
	o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	e.sub = iox_sub_init(&e.sub_s, "shmring-bench", c->endpoint, "data", &o);
	uint64_t t0 = 0, sink = 0, n = c->warmup + c->iters;
	if (connected(c, &e) == 0) {
		for (uint64_t i = 0; i < n; i++) {
			if (i == c->warmup)
				t0 = tu_now_ns();
			const void *r = tuned_take(c, &e, i, held, &nheld);
			if (!r)
				break;
			sink += bench_read(c, r, c->size);
			held[nheld++] = r;
			if (nheld == hold)
				release_held(&e, held, &nheld);
			/* Relaxed: a count for the sender's window, see iox_tuned_tx. */
			if ((i + 1) % step == 0)
				__atomic_store_n(&c->word_b, (uint32_t)(i + 1), __ATOMIC_RELAXED);
		}
		c->elapsed_ns = tu_now_ns() - t0;
		release_held(&e, held, &nheld);
		if (!c->failed && iox_sub_has_lost_chunks(e.sub))
			bench_fail(c, "iceoryx tuned: the subscriber lost chunks");
	}
	(void)sink;
	__atomic_store_n(&c->ready, 1, __ATOMIC_RELEASE);
	finish(c, &e);
}

const struct bcase tput_iox_tuned = { "iceoryx tuned", setup_iox, { iox_tuned_tx, iox_tuned_rx },
				      NULL };
