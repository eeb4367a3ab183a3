/* SPDX-License-Identifier: MIT */
/* bcast-test: broadcast rings (shmring/bcast.h): conformance with 1, 2, 4
 * and 16 consumers in separate processes, both policies, dead consumers and
 * producers, closing, the kind checks at attach, and the statistics. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmring/bcast.h>
#include "../common/test-util.h"

static char name_buf[64];

static const char *uniq(const char *tag)
{
	return tu_name(name_buf, sizeof(name_buf), tag);
}

/* Message seq: 8 bytes of seq, then bytes derived from it; its length
 * varies from 8 to 8 + 600 so records of many sizes cross the wrap. */
static size_t msg_make(uint64_t seq, uint8_t *buf)
{
	size_t len = 8 + (size_t)(seq * 7919u % 601u);
	memcpy(buf, &seq, 8);
	for (size_t i = 8; i < len; i++)
		buf[i] = (uint8_t)(seq * 31u + i);
	return len;
}

/* 0 when buf is message seq, exactly. */
static int msg_check(uint64_t seq, const uint8_t *buf, size_t len)
{
	uint8_t want[8 + 601];
	size_t wl = msg_make(seq, want);
	return len == wl && memcmp(buf, want, len) == 0 ? 0 : -1;
}

static uint64_t msg_seq(const void *buf)
{
	uint64_t s;
	memcpy(&s, buf, 8);
	return s;
}

/* A ring of n consumers, every one with policy pol, made by this process
 * (the creator's handle in *owner, which keeps the name alive). */
static void bc_create(const char *name, unsigned n, enum shmring_bcast_policy pol,
		      size_t cap, struct shmring **owner)
{
	struct shmring_opts o;
	struct shmring_bcast_opts b = { .consumers = n };
	shmring_opts_init(&o);
	o.capacity = cap;
	for (unsigned i = 0; i < n; i++)
		b.policy[i] = pol;
	assert_int_equal(shmring_bcast_create(name, &o, &b, owner), 0);
}

/* A 4 KiB ring of two block consumers, its producer and both consumers
 * attached in this process. */
static void bc_open2(const char *name, struct shmring **owner, struct shmring **p,
		     struct shmring **c0, struct shmring **c1)
{
	bc_create(name, 2, SHMRING_BCAST_BLOCK, 4096, owner);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_PRODUCER, 0, p), 0);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 0, c0), 0);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 1, c1), 0);
}

/* ---- conformance, one process per consumer ---------------------------------- */

struct conf {
	const char *name;
	unsigned index;
	uint64_t msgs;
};

/* A consumer: every message in order and intact, then end of stream. Odd
 * indices sleep on the futex at once (wake-ups); even ones adapt. */
static int conf_consumer(void *arg)
{
	const struct conf *c = arg;
	struct shmring *r;
	uint8_t buf[8 + 601];
	if (shmring_bcast_attach(c->name, SHMRING_ROLE_CONSUMER, c->index, &r) < 0)
		return 10;
	if (c->index & 1)
		shmring_set_wait(r, SHMRING_WAIT_FUTEX, 0);
	for (uint64_t s = 0; s < c->msgs; s++) {
		ssize_t n = shmring_recv(r, buf, sizeof(buf), 20000);
		if (n <= 0)
			return 11;
		if (msg_check(s, buf, (size_t)n))
			return 12;
	}
	if (shmring_recv(r, buf, sizeof(buf), 20000) != 0)
		return 13; /* end of stream, after the last message */
	shmring_detach(r);
	return 0;
}

static void conformance(unsigned n)
{
	char tag[16];
	snprintf(tag, sizeof(tag), "conf%u", n);
	const char *name = uniq(tag);
	struct shmring *owner, *p;
	pid_t kids[SHMRING_BCAST_MAX];
	struct conf c[SHMRING_BCAST_MAX];
	const uint64_t msgs = 20000;
	bc_create(name, n, SHMRING_BCAST_BLOCK, 16384, &owner);
	for (unsigned i = 0; i < n; i++) {
		c[i] = (struct conf){ .name = name, .index = i, .msgs = msgs };
		kids[i] = tu_fork(conf_consumer, &c[i]);
		assert_true(kids[i] > 0);
	}
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_PRODUCER, 0, &p), 0);
	uint8_t buf[8 + 601];
	for (uint64_t s = 0; s < msgs; s++) {
		size_t len = msg_make(s, buf);
		assert_int_equal(shmring_send(p, buf, len, 20000), 0);
	}
	assert_int_equal(shmring_close(p), 0);
	uint64_t deadline = tu_now_ns() + 60000000000ull;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(tu_reap_by(kids[i], deadline), 0);
	struct shmring_bcast_consumer cs[SHMRING_BCAST_MAX];
	assert_int_equal(shmring_bcast_consumers(p, cs, SHMRING_BCAST_MAX), (int)n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(cs[i].msgs, msgs);
		assert_int_equal(cs[i].lag, 0);
		assert_int_equal(cs[i].skipped, 0);
	}
	shmring_detach(p);
	shmring_detach(owner);
	shmring_unlink(name);
}

static void every_consumer_gets_every_message_1(void **s) { (void)s; conformance(1); }
static void every_consumer_gets_every_message_2(void **s) { (void)s; conformance(2); }
static void every_consumer_gets_every_message_4(void **s) { (void)s; conformance(4); }
static void every_consumer_gets_every_message_16(void **s) { (void)s; conformance(16); }

/* ---- attach ------------------------------------------------------------------ */

static void attach_of_the_other_kind_is_refused_with_one_line(void **s)
{
	(void)s;
	const char *name = uniq("kind");
	struct shmring *owner, *spsc, *r;
	bc_create(name, 2, SHMRING_BCAST_BLOCK, 4096, &owner);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "shmring_bcast_attach"));
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_OBSERVER, &r), -EPROTO);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 2, &r), -EINVAL);
	assert_non_null(strstr(shmring_errmsg(), "index 2"));
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 16, &r), -EINVAL);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_OBSERVER, 0, &r), 0);
	shmring_detach(r);
	shmring_detach(owner);
	shmring_unlink(name);

	assert_int_equal(shmring_create(name, NULL, &spsc), 0);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 0, &r), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "shmring_attach"));
	assert_int_equal(shmring_bcast_consumers(spsc, NULL, 0), -EINVAL);
	shmring_detach(spsc);
	shmring_unlink(name);
}

static void create_checks_consumers_and_role(void **s)
{
	(void)s;
	struct shmring_bcast_opts b = { .consumers = SHMRING_BCAST_MAX + 1 };
	struct shmring_opts o;
	struct shmring *r;
	shmring_opts_init(&o);
	assert_int_equal(shmring_bcast_create(NULL, &o, &b, &r), -EINVAL);
	assert_non_null(strstr(shmring_errmsg(), "1 to 16 consumers"));
	b.consumers = 0;
	assert_int_equal(shmring_bcast_create(NULL, &o, &b, &r), -EINVAL);
	b.consumers = 2;
	b.policy[1] = (enum shmring_bcast_policy)7;
	assert_int_equal(shmring_bcast_create(NULL, &o, &b, &r), -EINVAL);
	b.policy[1] = SHMRING_BCAST_DROP;
	o.role = SHMRING_ROLE_CONSUMER;
	assert_int_equal(shmring_bcast_create(NULL, &o, &b, &r), -EINVAL);
	o.role = SHMRING_ROLE_PRODUCER;
	assert_int_equal(shmring_bcast_create(NULL, &o, &b, &r), 0);
	assert_int_equal(shmring_send(r, "x", 1, 0), 0);
	/* No messages in pieces on a broadcast ring (docs/ring.md): refused
	 * with one line, nothing sent. */
	size_t big = shmring_max_message(r) + 1;
	void *m = calloc(1, big);
	assert_non_null(m);
	assert_int_equal(shmring_send(r, m, big, 0), -EMSGSIZE);
	assert_non_null(strstr(shmring_errmsg(), "broadcast rings do not carry"));
	free(m);
	shmring_detach(r);
}

/* ---- block ----------------------------------------------------------------- */

static void producer_waits_for_the_slowest_block_consumer(void **s)
{
	(void)s;
	const char *name = uniq("slow");
	struct shmring *owner, *p, *c0, *c1;
	uint8_t buf[8 + 601];
	bc_open2(name, &owner, &p, &c0, &c1);
	uint64_t sent = 0;
	while (shmring_send(p, "0123456789abcdef", 16, 0) == 0)
		sent++;
	assert_true(sent > 100);
	assert_int_equal(shmring_send(p, "x", 1, 0), -EAGAIN);
	for (uint64_t i = 0; i < sent; i++)
		assert_int_equal(shmring_recv(c0, buf, sizeof(buf), 0), 16);
	assert_int_equal(shmring_recv(c0, buf, sizeof(buf), 0), -EAGAIN);
	/* consumer 0 drained; consumer 1 still holds every byte */
	assert_int_equal(shmring_send(p, "x", 1, 0), -EAGAIN);
	assert_int_equal(shmring_send(p, "x", 1, 30), -ETIMEDOUT);
	assert_int_equal(shmring_recv(c1, buf, sizeof(buf), 0), 16);
	assert_int_equal(shmring_send(p, "x", 1, 0), 0);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(c1, &st), 0);
	assert_int_equal(st.msgs_out, 1);
	assert_int_equal(st.msgs_in, sent + 1);
	assert_int_equal(shmring_stats(c0, &st), 0);
	assert_int_equal(st.msgs_out, sent);
	struct shmring_bcast_consumer cs[2];
	assert_int_equal(shmring_bcast_consumers(owner, cs, 2), 2);
	assert_true(cs[0].lag > 0 && cs[0].lag < cs[1].lag); /* the one it has not read */
	assert_true(cs[1].lag > 4096 / 2);
	assert_int_equal(cs[1].pid, getpid());
	assert_int_equal(cs[0].policy, SHMRING_BCAST_BLOCK);
	shmring_detach(c0);
	shmring_detach(c1);
	shmring_detach(p);
	shmring_detach(owner);
	shmring_unlink(name);
}

struct victim {
	const char *name;
	unsigned index;
	uint64_t take; /* messages to receive before peeking one more and dying */
};

static int consume_then_die(void *arg)
{
	const struct victim *v = arg;
	struct shmring *r;
	uint8_t buf[8 + 601];
	if (shmring_bcast_attach(v->name, SHMRING_ROLE_CONSUMER, v->index, &r) < 0)
		return 10;
	for (uint64_t i = 0; i < v->take; i++)
		if (shmring_recv(r, buf, sizeof(buf), 20000) <= 0 || msg_seq(buf) != i)
			return 11;
	const void *m;
	size_t len;
	if (shmring_peek(r, &m, &len, 20000) <= 0)
		return 12;
	raise(SIGKILL);
	return 13;
}

static void dead_block_consumer_holds_the_producer_until_a_successor_resumes(void **s)
{
	(void)s;
	const char *name = uniq("dead");
	struct shmring *owner, *p, *c0, *c1;
	uint8_t buf[8 + 601];
	bc_create(name, 2, SHMRING_BCAST_BLOCK, 8192, &owner);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_PRODUCER, 0, &p), 0);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 0, &c0), 0);
	uint64_t s0 = 0, seq = 0;
	for (; seq < 10; seq++)
		assert_int_equal(shmring_send(p, buf, msg_make(seq, buf), 0), 0);
	struct victim v = { .name = name, .index = 1, .take = 5 };
	assert_int_equal(tu_reap(tu_fork(consume_then_die, &v)), 128 + SIGKILL);
	/* the others go on; the producer fills up behind the dead consumer
	 * and waits (no -EOWNERDEAD: a successor will come) */
	for (;;) {
		for (; s0 < seq; s0++) { /* consumer 0 keeps up */
			ssize_t n = shmring_recv(c0, buf, sizeof(buf), 0);
			assert_true(n > 0);
			assert_int_equal(msg_check(s0, buf, (size_t)n), 0);
		}
		int rc = shmring_send(p, buf, msg_make(seq, buf), 0);
		if (rc == -EAGAIN)
			break;
		assert_int_equal(rc, 0);
		seq++;
	}
	assert_int_equal(shmring_recv(c0, buf, sizeof(buf), 0), -EAGAIN);
	assert_int_equal(shmring_send(p, buf, msg_make(seq, buf), 250), -ETIMEDOUT);
	/* the successor gets what the dead one had not released: from 5 on,
	 * message 5 counted as delivered again */
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 1, &c1), 0);
	for (uint64_t i = 5; i < seq; i++) {
		ssize_t n = shmring_recv(c1, buf, sizeof(buf), 0);
		assert_true(n > 0);
		assert_int_equal(msg_check(i, buf, (size_t)n), 0);
	}
	assert_int_equal(shmring_send(p, buf, msg_make(seq, buf), 0), 0);
	struct shmring_bcast_consumer cs[2];
	assert_int_equal(shmring_bcast_consumers(p, cs, 2), 2);
	assert_int_equal(cs[1].redelivered, 1);
	assert_int_equal(cs[1].attaches, 2);
	assert_int_equal(cs[0].redelivered, 0);
	shmring_detach(c0);
	shmring_detach(c1);
	shmring_detach(p);
	shmring_detach(owner);
	shmring_unlink(name);
}

static int produce_then_die(void *arg)
{
	struct shmring *p;
	uint8_t buf[8 + 601];
	if (shmring_bcast_attach(arg, SHMRING_ROLE_PRODUCER, 0, &p) < 0)
		return 10;
	for (uint64_t s = 0; s < 3; s++)
		if (shmring_send(p, buf, msg_make(s, buf), 0) < 0)
			return 11;
	raise(SIGKILL);
	return 12;
}

static void dead_producer_is_reported_to_every_consumer_after_drain(void **s)
{
	(void)s;
	const char *name = uniq("dprod");
	struct shmring *owner, *c[4];
	uint8_t buf[8 + 601];
	bc_create(name, 4, SHMRING_BCAST_BLOCK, 8192, &owner);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, i, &c[i]), 0);
	assert_int_equal(tu_reap(tu_fork(produce_then_die, (void *)name)), 128 + SIGKILL);
	for (unsigned i = 0; i < 4; i++) {
		for (uint64_t q = 0; q < 3; q++) {
			ssize_t n = shmring_recv(c[i], buf, sizeof(buf), 0);
			assert_true(n > 0);
			assert_int_equal(msg_check(q, buf, (size_t)n), 0);
		}
		assert_int_equal(shmring_recv(c[i], buf, sizeof(buf), 5000), -EOWNERDEAD);
		shmring_detach(c[i]);
	}
	shmring_detach(owner);
	shmring_unlink(name);
}

static void successor_producer_continues_after_the_last_record(void **s)
{
	(void)s;
	const char *name = uniq("succ");
	struct shmring *owner, *p, *c[2];
	uint8_t buf[8 + 601];
	bc_create(name, 2, SHMRING_BCAST_BLOCK, 8192, &owner);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, i, &c[i]), 0);
	assert_int_equal(tu_reap(tu_fork(produce_then_die, (void *)name)), 128 + SIGKILL);
	/* consumer 0 read one already; the successor resumes behind the slowest */
	assert_true(shmring_recv(c[0], buf, sizeof(buf), 0) > 0);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_PRODUCER, 0, &p), 0);
	for (uint64_t q = 3; q < 6; q++)
		assert_int_equal(shmring_send(p, buf, msg_make(q, buf), 0), 0);
	assert_int_equal(shmring_close(p), 0);
	for (unsigned i = 0; i < 2; i++) {
		for (uint64_t q = i ? 0 : 1; q < 6; q++) {
			ssize_t n = shmring_recv(c[i], buf, sizeof(buf), 0);
			assert_true(n > 0);
			assert_int_equal(msg_check(q, buf, (size_t)n), 0);
		}
		assert_int_equal(shmring_recv(c[i], buf, sizeof(buf), 0), 0);
		shmring_detach(c[i]);
	}
	shmring_detach(p);
	shmring_detach(owner);
	shmring_unlink(name);
}

static void closed_consumer_stops_holding_the_producer_for_good(void **s)
{
	(void)s;
	const char *name = uniq("closed");
	struct shmring *owner, *p, *c0, *c1;
	uint8_t buf[8 + 601];
	bc_open2(name, &owner, &p, &c0, &c1);
	assert_int_equal(shmring_send(p, "abc", 3, 0), 0);
	assert_int_equal(shmring_close(c1), 0);
	shmring_detach(c1);
	/* a ring's worth and more, with consumer 1 gone */
	for (uint64_t q = 0; q < 2000; q++) {
		assert_int_equal(shmring_send(p, buf, msg_make(q, buf), 0), 0);
		ssize_t n = shmring_recv(c0, buf, sizeof(buf), 0);
		assert_true(n > 0);
	}
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 1, &c1), -EPIPE);
	assert_non_null(strstr(shmring_errmsg(), "closed its end"));
	assert_int_equal(shmring_close(c0), 0);
	/* nobody left: the producer's next wait for room says so */
	int rc = 0;
	for (int q = 0; q < 1000 && rc == 0; q++)
		rc = shmring_send(p, buf, msg_make(7, buf), 0);
	assert_int_equal(rc, -EPIPE);
	shmring_detach(c0);
	shmring_detach(p);
	shmring_detach(owner);
	shmring_unlink(name);
}

/* A kernel killed between its detach at end of stream and its exit is
 * restarted: its end, closed after it read everything of a stream that is
 * over, binds again and says end of stream at once. A consumer that closed
 * before the end stays refused. */
static void consumer_closed_at_end_of_stream_attaches_again_to_see_it(void **s)
{
	(void)s;
	const char *name = uniq("closed-eos");
	struct shmring *owner, *p, *c0, *c1;
	uint8_t buf[8 + 601];
	bc_open2(name, &owner, &p, &c0, &c1);
	for (uint64_t q = 0; q < 3; q++)
		assert_int_equal(shmring_send(p, buf, msg_make(q, buf), 0), 0);
	assert_int_equal(shmring_close(p), 0);
	assert_true(shmring_recv(c0, buf, sizeof(buf), 0) > 0); /* c0 leaves early */
	assert_int_equal(shmring_close(c0), 0);
	shmring_detach(c0);
	for (uint64_t q = 0; q < 3; q++)
		assert_true(shmring_recv(c1, buf, sizeof(buf), 0) > 0);
	assert_int_equal(shmring_recv(c1, buf, sizeof(buf), 0), 0);
	assert_int_equal(shmring_close(c1), 0);
	shmring_detach(c1);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 1, &c1), 0);
	assert_int_equal(shmring_recv(c1, buf, sizeof(buf), 0), 0);
	shmring_detach(c1);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 0, &c0), -EPIPE);
	assert_non_null(strstr(shmring_errmsg(), "closed its end"));
	shmring_detach(p);
	shmring_detach(owner);
	shmring_unlink(name);
}

/* ---- drop ------------------------------------------------------------------- */

static void drop_consumer_skips_and_counts_while_the_others_get_everything(void **s)
{
	(void)s;
	const char *name = uniq("drop");
	struct shmring *owner, *p, *c0, *c1;
	struct shmring_opts o;
	struct shmring_bcast_opts b = { .consumers = 2,
					.policy = { SHMRING_BCAST_BLOCK, SHMRING_BCAST_DROP } };
	uint8_t buf[8 + 601];
	shmring_opts_init(&o);
	o.capacity = 4096;
	assert_int_equal(shmring_bcast_create(name, &o, &b, &owner), 0);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_PRODUCER, 0, &p), 0);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 0, &c0), 0);
	assert_int_equal(shmring_bcast_attach(name, SHMRING_ROLE_CONSUMER, 1, &c1), 0);
	const uint64_t total = 3000;
	/* consumer 1 peeks message 0 and holds it while the ring laps */
	assert_int_equal(shmring_send(p, buf, msg_make(0, buf), 0), 0);
	assert_int_equal(shmring_recv(c0, buf, sizeof(buf), 0) > 0, 1);
	const void *m;
	size_t len;
	assert_true(shmring_peek(c1, &m, &len, 0) > 0);
	for (uint64_t q = 1; q < total; q++) {
		/* never waits: consumer 1 does not hold the producer */
		assert_int_equal(shmring_send(p, buf, msg_make(q, buf), 0), 0);
		ssize_t n = shmring_recv(c0, buf, sizeof(buf), 0);
		assert_true(n > 0);
		assert_int_equal(msg_check(q, buf, (size_t)n), 0);
	}
	assert_int_equal(shmring_release(c1), -ESTALE); /* message 0 was overwritten */
	assert_int_equal(shmring_close(p), 0);
	uint64_t got = 0, last = 0;
	for (;;) {
		ssize_t n = shmring_recv(c1, buf, sizeof(buf), 0);
		if (n == 0)
			break;
		assert_true(n > 0);
		uint64_t q = msg_seq(buf);
		assert_int_equal(msg_check(q, buf, (size_t)n), 0);
		if (got)
			assert_int_equal(q, last + 1); /* after a skip, in order again */
		last = q;
		got++;
	}
	assert_int_equal(last, total - 1);
	struct shmring_bcast_consumer cs[2];
	assert_int_equal(shmring_bcast_consumers(p, cs, 2), 2);
	assert_int_equal(cs[1].policy, SHMRING_BCAST_DROP);
	assert_true(cs[1].skipped > 0);
	assert_int_equal(cs[1].skipped + got, total); /* every message: read or counted */
	assert_int_equal(cs[0].skipped, 0);
	assert_int_equal(cs[0].msgs, total);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(c1, &st), 0);
	assert_int_equal(st.skipped, cs[1].skipped);
	shmring_detach(c0);
	shmring_detach(c1);
	shmring_detach(p);
	shmring_detach(owner);
	shmring_unlink(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_consumer_gets_every_message_1),
		cmocka_unit_test(every_consumer_gets_every_message_2),
		cmocka_unit_test(every_consumer_gets_every_message_4),
		cmocka_unit_test(every_consumer_gets_every_message_16),
		cmocka_unit_test(attach_of_the_other_kind_is_refused_with_one_line),
		cmocka_unit_test(create_checks_consumers_and_role),
		cmocka_unit_test(producer_waits_for_the_slowest_block_consumer),
		cmocka_unit_test(dead_block_consumer_holds_the_producer_until_a_successor_resumes),
		cmocka_unit_test(dead_producer_is_reported_to_every_consumer_after_drain),
		cmocka_unit_test(successor_producer_continues_after_the_last_record),
		cmocka_unit_test(closed_consumer_stops_holding_the_producer_for_good),
		cmocka_unit_test(consumer_closed_at_end_of_stream_attaches_again_to_see_it),
		cmocka_unit_test(drop_consumer_skips_and_counts_while_the_others_get_everything),
	};
	return cmocka_run_group_tests_name("bcast", tests, NULL, NULL);
}
