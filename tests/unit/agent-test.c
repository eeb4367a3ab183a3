/* SPDX-License-Identifier: MIT */
/*
 * agent-test: the protocol of shmring/agent.h -- the code a persistent GPU
 * kernel runs against rings in mapped host memory -- run here by a CPU
 * thread against the library, so it is checked on machines without a GPU.
 *
 * The agent thread consumes ring A and produces ring B (doubling each
 * value, odd message sizes so records wrap and pad); a host thread watches
 * both ends and does the wakes (shmring_agent_watch), as cuda.c's host loop
 * does for a GPU. The library ends on the other side use the adaptive and
 * futex strategies, so they sleep, and run with 60 s sleep slices: a wake
 * the host missed would hang the test (TIMEOUT fails it), not slow it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmring/agent.h>
#include <shmring/ring.h>
#include "../common/ring-pair.h"

static void ring_open(struct tu_pair *p, size_t capacity, enum shmring_wait wait)
{
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = capacity;
	o.wait = wait;
	assert_int_equal(tu_pair_open(p, &o), 0);
	assert_int_equal(shmring_set_wait(p->prod, wait, 20), 0);
	assert_int_equal(shmring_set_wait(p->cons, wait, 20), 0);
}

/* Message i: 8-byte value i, then filler up to a length that varies. */
static size_t msg_len(uint64_t i)
{
	return 8 + (size_t)((i * 37) % 300);
}

struct agent {
	struct shmring_agent_end in, out;
	_Atomic int done;
	int64_t result;     /* EOS, or the error that ended it */
	uint64_t handled;
};

/* What the GPU kernel of examples/gpu-doubler does, one thread. */
static void *agent_main(void *arg)
{
	struct agent *a = arg;
	for (;;) {
		const void *m;
		int64_t n = shmring_agent_peek(&a->in, &m);
		if (n == SHMRING_AGENT_EMPTY) {
			sched_yield();
			continue;
		}
		if (n < 0) {
			a->result = n;
			break;
		}
		void *o;
		int rc;
		while ((rc = shmring_agent_reserve(&a->out, (uint64_t)n, &o)) == SHMRING_AGENT_EMPTY)
			sched_yield();
		if (rc < 0) {
			a->result = rc;
			break;
		}
		memcpy(o, m, (size_t)n);
		uint64_t v;
		memcpy(&v, m, 8);
		v *= 2;
		memcpy(o, &v, 8);
		shmring_agent_commit(&a->out, (uint64_t)n);
		shmring_agent_release(&a->in);
		a->handled++;
	}
	shmring_agent_publish(&a->in);
	shmring_agent_publish(&a->out);
	atomic_store(&a->done, 1);
	return NULL;
}

struct host {
	struct shmring_agent_watch w[2];
	struct agent *a;
	uint64_t wakes_seen;
};

static void *host_main(void *arg)
{
	struct host *h = arg;
	while (!atomic_load(&h->a->done)) {
		int moved = shmring_agent_watch_poll(&h->w[0]) | shmring_agent_watch_poll(&h->w[1]);
		h->wakes_seen += (uint64_t)moved;
		if (!moved)
			usleep(50);
	}
	/* The agent's last publication, then done. */
	shmring_agent_watch_poll(&h->w[0]);
	shmring_agent_watch_poll(&h->w[1]);
	return NULL;
}

struct sender {
	struct shmring *r;
	uint64_t from, count;
	int rc;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	uint8_t buf[512];
	memset(buf, 0xa5, sizeof(buf));
	for (uint64_t i = s->from; i < s->from + s->count; i++) {
		memcpy(buf, &i, 8);
		int rc = shmring_send(s->r, buf, msg_len(i), -1);
		if (rc < 0) {
			s->rc = rc;
			return NULL;
		}
	}
	s->rc = 0;
	return NULL;
}

/* Receive count doubled messages in order from r, checking every byte. */
static void expect_doubled(struct shmring *r, uint64_t from, uint64_t count)
{
	uint8_t buf[512];
	for (uint64_t i = from; i < from + count; i++) {
		ssize_t n = shmring_recv(r, buf, sizeof(buf), -1);
		if (n != (ssize_t)msg_len(i))
			fail_msg("message %llu: length %zd, want %zu (%s)", (unsigned long long)i, n,
				 msg_len(i), shmring_errmsg());
		uint64_t v;
		memcpy(&v, buf, 8);
		if (v != 2 * i)
			fail_msg("message %llu: value %llu, want %llu", (unsigned long long)i,
				 (unsigned long long)v, (unsigned long long)(2 * i));
		for (ssize_t k = 8; k < n; k++)
			if (buf[k] != 0xa5)
				fail_msg("message %llu: byte %zd is 0x%02x", (unsigned long long)i, k, buf[k]);
	}
}

static void run_agent(enum shmring_wait wait, uint32_t batch, uint64_t count)
{
	struct tu_pair a, b;
	/* 4 KiB: the sender fills A long before the agent has drained it, the
	 * agent fills B before the receiver keeps up; records wrap every ~25. */
	ring_open(&a, 4096, wait);
	ring_open(&b, 4096, wait);

	/* The agent takes A's consumer end and B's producer end. */
	struct shmring_mapping ma, mb;
	assert_int_equal(shmring_mapping(a.cons, &ma), 0);
	assert_int_equal(shmring_mapping(b.prod, &mb), 0);
	assert_int_equal(ma.role, SHMRING_ROLE_CONSUMER);
	assert_int_equal(mb.role, SHMRING_ROLE_PRODUCER);
	assert_int_equal(ma.capacity, 4096);
	struct agent ag = { 0 };
	shmring_agent_init(&ag.in, &ma, ma.base, batch);
	shmring_agent_init(&ag.out, &mb, mb.base, 1);
	struct host h = { .a = &ag };
	shmring_agent_watch_init(&h.w[0], a.cons, &ma);
	shmring_agent_watch_init(&h.w[1], b.prod, &mb);

	pthread_t ta, th, ts;
	struct sender s = { .r = a.prod, .from = 0, .count = count, .rc = 1 };
	assert_int_equal(pthread_create(&ta, NULL, agent_main, &ag), 0);
	assert_int_equal(pthread_create(&th, NULL, host_main, &h), 0);
	assert_int_equal(pthread_create(&ts, NULL, sender_main, &s), 0);
	expect_doubled(b.cons, 0, count);
	assert_int_equal(pthread_join(ts, NULL), 0);
	assert_int_equal(s.rc, 0);
	/* End of stream reaches the agent through A, as a GPU kernel's does. */
	assert_int_equal(shmring_close(a.prod), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(ag.result, SHMRING_AGENT_EOS);
	assert_int_equal(ag.handled, count);

	/* The host takes both ends back and carries on where the agent
	 * stopped: B's producer continues after the agent's last record. */
	assert_int_equal(shmring_resync(a.cons), 0);
	assert_int_equal(shmring_resync(b.prod), 0);
	const void *m;
	size_t len;
	assert_int_equal(shmring_peek(a.cons, &m, &len, 0), 0); /* EOS, nothing left */
	uint8_t buf[512];
	memset(buf, 0xa5, sizeof(buf));
	for (uint64_t i = count; i < count + 100; i++) {
		uint64_t v = 2 * i;
		memcpy(buf, &v, 8);
		assert_int_equal(shmring_send(b.prod, buf, msg_len(i), 1000), 0);
		expect_doubled(b.cons, i, 1);
	}
	assert_int_equal(shmring_close(b.prod), 0);
	assert_int_equal(shmring_peek(b.cons, &m, &len, 1000), 0);

	/* Counters carry on across the hand-overs. */
	struct shmring_stats st;
	assert_int_equal(shmring_stats(b.owner, &st), 0);
	assert_int_equal(st.msgs_in, count + 100);
	assert_int_equal(st.msgs_out, count + 100);
	assert_int_equal(shmring_stats(a.owner, &st), 0);
	assert_int_equal(st.msgs_in, count);
	assert_int_equal(st.msgs_out, count);
	tu_pair_close(&a);
	tu_pair_close(&b);
}

static void agent_doubles_every_message_with_adaptive_peers(void **state)
{
	(void)state;
	run_agent(SHMRING_WAIT_ADAPTIVE, 1, 200000);
}

static void agent_doubles_every_message_with_sleeping_peers(void **state)
{
	(void)state;
	/* Peers sleep at once, so every wake is the host's; batch 4 holds
	 * the agent's tail back until it runs dry. */
	run_agent(SHMRING_WAIT_FUTEX, 4, 50000);
}

static void agent_reports_corrupt_records_and_closed_consumers(void **state)
{
	(void)state;
	struct tu_pair r;
	ring_open(&r, 4096, SHMRING_WAIT_SPIN);
	struct shmring_mapping mc, mp;
	assert_int_equal(shmring_mapping(r.cons, &mc), 0);
	assert_int_equal(shmring_mapping(r.prod, &mp), 0);
	struct shmring_agent_end c, p;
	shmring_agent_init(&c, &mc, mc.base, 1);
	shmring_agent_init(&p, &mp, mp.base, 1);
	const void *m = NULL;
	void *o = NULL;
	assert_int_equal(shmring_agent_peek(&c, &m), SHMRING_AGENT_EMPTY);
	assert_int_equal(shmring_agent_reserve(&p, 0, &o), SHMRING_AGENT_TOOBIG);
	assert_int_equal(shmring_agent_reserve(&p, mp.max_message + 1, &o), SHMRING_AGENT_TOOBIG);
	assert_int_equal(shmring_agent_reserve(&p, 100, &o), 1);
	memset(o, 7, 100);
	shmring_agent_commit(&p, 100);
	assert_int_equal(shmring_agent_peek(&c, &m), 100);
	assert_int_equal(((const uint8_t *)m)[99], 7);
	/* A header no producer could have written: a length past the end. */
	uint64_t *hdr = shmring_agent_hdr(&c, c.pos);
	uint64_t saved = *hdr;
	*hdr = 4096ull | ((uint64_t)SHMRING_AGENT_REC_MSG << 32);
	assert_int_equal(shmring_agent_peek(&c, &m), SHMRING_AGENT_CORRUPT);
	*hdr = saved;
	shmring_agent_release(&c);
	/* A tail off the 8-byte grid, seen by a producer that needs room. */
	assert_true(mp.max_message >= 2000);
	assert_int_equal(shmring_agent_reserve(&p, 2000, &o), 1);
	shmring_agent_commit(&p, 2000);
	uint64_t *tail = (uint64_t *)(void *)((uint8_t *)mc.base + mc.tail);
	saved = *tail;
	*tail = saved + 3;
	assert_int_equal(shmring_agent_reserve(&p, 2000, &o), SHMRING_AGENT_CORRUPT);
	*tail = saved;
	/* Full: with the pad to the end, 2000 bytes need 3992 free. */
	assert_int_equal(shmring_agent_reserve(&p, 2000, &o), SHMRING_AGENT_EMPTY);
	/* The consumer closes: the producer agent learns it. */
	assert_int_equal(shmring_resync(r.cons), 0);
	assert_int_equal(shmring_close(r.cons), 0);
	assert_int_equal(shmring_agent_reserve(&p, 2000, &o), SHMRING_AGENT_CLOSED);
	/* The producer closes after its last record: EOS after it. */
	struct tu_pair q;
	ring_open(&q, 4096, SHMRING_WAIT_SPIN);
	assert_int_equal(shmring_mapping(q.cons, &mc), 0);
	shmring_agent_init(&c, &mc, mc.base, 1);
	assert_int_equal(shmring_send(q.prod, "x", 1, 0), 0);
	assert_int_equal(shmring_close(q.prod), 0);
	assert_int_equal(shmring_agent_peek(&c, &m), 1);
	shmring_agent_release(&c);
	assert_int_equal(shmring_agent_peek(&c, &m), SHMRING_AGENT_EOS);
	tu_pair_close(&q);
	tu_pair_close(&r);
}

static void mapping_refuses_open_reservations_and_observers(void **state)
{
	(void)state;
	struct tu_pair r;
	ring_open(&r, 4096, SHMRING_WAIT_SPIN);
	struct shmring_mapping m;
	void *o;
	assert_int_equal(shmring_mapping(r.owner, &m), -EBADF);
	assert_int_equal(shmring_reserve(r.prod, 8, &o, 0), 0);
	assert_int_equal(shmring_mapping(r.prod, &m), -EBUSY);
	assert_int_equal(shmring_commit(r.prod, 8), 0);
	assert_int_equal(shmring_mapping(r.prod, &m), 0);
	assert_int_equal(m.pos, 16);
	assert_int_equal(m.data_offset % 4096, 0);
	assert_true(m.length >= m.data_offset + m.capacity);
	assert_int_equal(shmring_resync(r.owner), -EBADF);
	tu_pair_close(&r);
}

static void wait_released_returns_when_the_consumer_passes(void **state)
{
	(void)state;
	struct tu_pair r;
	ring_open(&r, 4096, SHMRING_WAIT_ADAPTIVE);
	assert_int_equal(shmring_send(r.prod, "abcdefgh", 8, 0), 0);
	uint64_t lent = shmring_position(r.prod);
	assert_int_equal(lent, 16);
	assert_int_equal(shmring_wait_released(r.prod, lent + 8, 0), -EINVAL);
	assert_int_equal(shmring_wait_released(r.prod, lent, 0), -EAGAIN);
	assert_int_equal(shmring_wait_released(r.prod, lent, 30), -ETIMEDOUT);
	char buf[8];
	assert_int_equal(shmring_recv(r.cons, buf, sizeof(buf), 0), 8);
	assert_int_equal(shmring_position(r.cons), 16);
	assert_int_equal(shmring_wait_released(r.prod, lent, 0), 0);
	assert_int_equal(shmring_send(r.prod, "abcdefgh", 8, 0), 0);
	assert_int_equal(shmring_close(r.cons), 0);
	assert_int_equal(shmring_wait_released(r.prod, shmring_position(r.prod), -1), -EPIPE);
	tu_pair_close(&r);
}

/* agent.h's shared-word accessors are its own: none reaches the code that
 * includes it (the names of today, and the ones before the rename). */
static void agent_header_keeps_its_accessors_private(void **state)
{
	(void)state;
	int leaked = 0;
#if defined(SHMRING_AGENT_FN_) || defined(SHMRING_AGENT_U64_) || defined(SHMRING_AGENT_U32_) || \
	defined(SHMRING_AGENT_LOAD_ACQ64_) || defined(SHMRING_AGENT_LOAD_RLX64_) ||           \
	defined(SHMRING_AGENT_STORE_REL64_) || defined(SHMRING_AGENT_STORE_RLX64_) ||         \
	defined(SHMRING_AGENT_LOAD_ACQ32_) || defined(SHMRING_AGENT_LOAD_RLX32_)
	leaked = 1;
#endif
#if defined(SMR_AGENT_FN) || defined(smr_agent_load_acquire64) || \
	defined(smr_agent_store_release64) || defined(smr_agent_load_acquire32)
	leaked = 1;
#endif
	assert_int_equal(leaked, 0);
	/* What it does export is the record format it writes. */
	assert_int_equal(shmring_agent_rec_size(1), SHMRING_AGENT_REC_HDR + SHMRING_AGENT_REC_ALIGN);
	assert_int_equal(shmring_agent_rec_size(SHMRING_AGENT_REC_ALIGN),
			 SHMRING_AGENT_REC_HDR + SHMRING_AGENT_REC_ALIGN);
}

int main(void)
{
	/* 60 s sleep slices: a missed wake-up hangs instead of costing 100 ms. */
	setenv("SHMRING_PEER_CHECK_MS", "60000", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agent_doubles_every_message_with_adaptive_peers),
		cmocka_unit_test(agent_doubles_every_message_with_sleeping_peers),
		cmocka_unit_test(agent_reports_corrupt_records_and_closed_consumers),
		cmocka_unit_test(mapping_refuses_open_reservations_and_observers),
		cmocka_unit_test(wait_released_returns_when_the_consumer_passes),
		cmocka_unit_test(agent_header_keeps_its_accessors_private),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
