/* SPDX-License-Identifier: MIT */
/*
 * bcast-stress: one producer and N consumers of a broadcast ring push M
 * sequence-numbered messages of random sizes; every consumer checks every
 * message byte for byte. A watchdog fails the run instead of hanging.
 *
 *   bcast-stress [--consumers N] [--messages M] [--capacity BYTES]
 *                [--kill K] [--drop] [--threads] [--watchdog SECONDS]
 *
 * --kill K: consumer 1 (policy block) is killed with SIGKILL K times under
 *   load and a new process attaches as consumer 1 each time: every consumer,
 *   the restarted one included, must see every message (0 lost), those
 *   delivered again intact. With --drop, the drop consumer is the one
 *   killed: the others must see everything; its received + skipped may miss
 *   the total by at most K (a kill between its release and its note).
 * --drop: the last consumer has policy drop and is slow (it sleeps now and
 *   then): it must see messages in increasing order, intact, and what it
 *   missed must equal its skipped count; the others, policy block, must see
 *   everything.
 * --threads: the ends are threads of one process, for ThreadSanitizer.
 *
 * Exit: 0 all checks passed; 1 a check failed or the watchdog fired; 100 bad
 * usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <shmring/bcast.h>
#include "../common/test-util.h"

#define USAGE "usage: bcast-stress [--consumers N] [--messages M] [--capacity BYTES] " \
	      "[--kill K] [--drop] [--threads] [--watchdog SECONDS]\n"

/* Per consumer, in a shared anonymous mapping: survives a killed consumer. */
struct prog {
	/* next sequence number not yet verified (high 32 bits) and messages
	 * never seen, drop only (low 32): one word, one store per message, so a
	 * kill between two stores cannot make a message count twice when the
	 * successor is handed it again. */
	_Atomic uint64_t state;
	_Atomic uint64_t duplicates; /* delivered again after a kill, intact */
	_Atomic uint64_t stale;      /* drop: releases refused, view overwritten */
	_Atomic int      done;       /* saw end of stream */
};

static uint64_t prog_next(struct prog *p) { return atomic_load(&p->state) >> 32; }
static uint64_t prog_gaps(struct prog *p) { return atomic_load(&p->state) & 0xffffffffu; }

struct cfg {
	unsigned consumers;
	uint64_t messages;
	size_t capacity;
	unsigned kill;
	int drop;
	int threads;
	unsigned watchdog;
	char name[64];
	struct prog *prog; /* [consumers] */
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

#define MAX_LEN 1500

static size_t msg_make(uint64_t seq, uint8_t *b)
{
	uint64_t h = mix(seq);
	size_t len = 8 + (size_t)(h % (MAX_LEN - 8));
	memcpy(b, &seq, 8);
	for (size_t i = 8; i < len; i++)
		b[i] = (uint8_t)(h >> (i % 7 * 8)) ^ (uint8_t)i;
	return len;
}

static int msg_ok(const uint8_t *b, size_t len, uint64_t *seq)
{
	uint8_t want[MAX_LEN];
	memcpy(seq, b, 8);
	size_t wl = msg_make(*seq, want);
	return len == wl && memcmp(b, want, len) == 0;
}

/* Note message seq as seen: a repeat, the next one, or (drop) after a gap. */
static int account(struct prog *p, unsigned i, uint64_t seq, int gaps_allowed)
{
	uint64_t next = prog_next(p);
	if (seq < next) { /* delivered again after a kill */
		atomic_fetch_add(&p->duplicates, 1);
		return 0;
	}
	if (seq > next && !gaps_allowed) {
		fprintf(stderr, "bcast-stress: consumer %u: lost %llu..%llu\n", i,
			(unsigned long long)next, (unsigned long long)seq - 1);
		return 1;
	}
	atomic_store(&p->state, (seq + 1) << 32 | (prog_gaps(p) + (seq - next)));
	return 0;
}

static int consume(struct cfg *c, unsigned i)
{
	struct shmring *r;
	struct prog *p = &c->prog[i];
	int rc = shmring_bcast_attach(c->name, SHMRING_ROLE_CONSUMER, i, &r);
	if (rc < 0) {
		fprintf(stderr, "bcast-stress: consumer %u: %s\n", i, shmring_errmsg());
		return 1;
	}
	int slow = c->drop && i == c->consumers - 1;
	if (i % 2) /* half of them sleep at once: the wake-up path */
		shmring_set_wait(r, SHMRING_WAIT_FUTEX, 0);
	for (uint64_t n = 0;; n++) {
		const void *m;
		size_t len;
		uint64_t seq;
		rc = shmring_peek(r, &m, &len, 60000);
		if (rc == 0)
			break;
		if (rc < 0) {
			fprintf(stderr, "bcast-stress: consumer %u: peek: %s\n", i, strerror(-rc));
			return 1;
		}
		int ok = msg_ok(m, len, &seq);
		if (slow && n % 256 == 0)
			tu_sleep_ms(1); /* lag behind: the producer must not wait */
		/* A drop consumer's view is only valid once its release succeeds
		 * (-ESTALE: overwritten while read, discard it); a block consumer
		 * notes its progress first, so a kill between the two shows as a
		 * message delivered again, never as a loss. */
		if (slow && (rc = shmring_release(r)) == -ESTALE) {
			atomic_fetch_add(&p->stale, 1);
			continue;
		}
		if (!ok) {
			fprintf(stderr, "bcast-stress: consumer %u: message %llu corrupt\n", i,
				(unsigned long long)seq);
			return 1;
		}
		if ((rc = account(p, i, seq, slow)) != 0)
			return rc;
		if (!slow && (rc = shmring_release(r)) < 0) {
			fprintf(stderr, "bcast-stress: consumer %u: release: %s\n", i, strerror(-rc));
			return 1;
		}
	}
	atomic_store(&p->done, 1);
	shmring_detach(r);
	return 0;
}

static int produce(struct cfg *c)
{
	struct shmring *r;
	uint8_t b[MAX_LEN];
	if (shmring_bcast_attach(c->name, SHMRING_ROLE_PRODUCER, 0, &r) < 0) {
		fprintf(stderr, "bcast-stress: producer: %s\n", shmring_errmsg());
		return 1;
	}
	for (uint64_t s = 0; s < c->messages; s++) {
		size_t len = msg_make(s, b);
		int rc;
		/* -EOWNERDEAD never comes: a dead block consumer is waited for */
		while ((rc = shmring_send(r, b, len, 60000)) == -ETIMEDOUT)
			;
		if (rc < 0) {
			fprintf(stderr, "bcast-stress: producer: send %llu: %s\n",
				(unsigned long long)s, strerror(-rc));
			return 1;
		}
	}
	shmring_close(r);
	shmring_detach(r);
	return 0;
}

struct job {
	struct cfg *c;
	int index; /* -1: producer */
};

static int job_run(void *arg)
{
	struct job *j = arg;
	return j->index < 0 ? produce(j->c) : consume(j->c, (unsigned)j->index);
}

static void *job_thread(void *arg)
{
	return (void *)(intptr_t)job_run(arg);
}

static int run_threads(struct cfg *c)
{
	pthread_t t[SHMRING_BCAST_MAX + 1];
	struct job j[SHMRING_BCAST_MAX + 1];
	unsigned n = c->consumers + 1;
	for (unsigned i = 0; i < n; i++) {
		j[i] = (struct job){ .c = c, .index = (int)i - 1 };
		pthread_create(&t[i], NULL, job_thread, &j[i]);
	}
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += c->watchdog;
	int bad = 0;
	for (unsigned i = 0; i < n; i++) {
		void *rv;
		if (pthread_timedjoin_np(t[i], &rv, &dl)) {
			fprintf(stderr, "bcast-stress: watchdog: not done after %u s\n", c->watchdog);
			_exit(1);
		}
		bad |= rv != NULL;
	}
	return bad;
}

static int run_procs(struct cfg *c)
{
	pid_t pid[SHMRING_BCAST_MAX + 1];
	struct job j[SHMRING_BCAST_MAX + 1];
	unsigned n = c->consumers + 1;
	uint64_t deadline = tu_now_ns() + (uint64_t)c->watchdog * 1000000000ull;
	for (unsigned i = 0; i < n; i++) {
		j[i] = (struct job){ .c = c, .index = (int)i - 1 };
		pid[i] = tu_fork(job_run, &j[i]);
	}
	/* Kill consumer 1 under load, and start a successor each time. */
	unsigned seed = (unsigned)getpid();
	for (unsigned k = 0; k < c->kill; k++) {
		tu_sleep_ms(10 + rand_r(&seed) % 40);
		if (atomic_load(&c->prog[c->drop ? c->consumers - 1 : 1].done))
			break;
		unsigned v = c->drop ? c->consumers : 2; /* the victim's job */
		kill(pid[v], SIGKILL);
		tu_reap(pid[v]);
		pid[v] = tu_fork(job_run, &j[v]);
	}
	int bad = 0;
	for (unsigned i = 0; i < n; i++) {
		int rc = tu_reap_by(pid[i], deadline);
		if (rc == -ETIMEDOUT)
			fprintf(stderr, "bcast-stress: watchdog: %s %d not done after %u s\n",
				i ? "consumer" : "producer", (int)i - 1, c->watchdog);
		bad |= rc != 0;
	}
	return bad;
}

static int check(const struct cfg *c)
{
	struct shmring *o;
	struct shmring_bcast_consumer cs[SHMRING_BCAST_MAX];
	int bad = 0;
	if (shmring_bcast_attach(c->name, SHMRING_ROLE_OBSERVER, 0, &o) < 0 ||
	    shmring_bcast_consumers(o, cs, SHMRING_BCAST_MAX) != (int)c->consumers) {
		fprintf(stderr, "bcast-stress: cannot read the consumers: %s\n", shmring_errmsg());
		return 1;
	}
	for (unsigned i = 0; i < c->consumers; i++) {
		struct prog *p = &c->prog[i];
		/* Distinct messages seen, from `next` (one store per message):
		 * a separate counter could count a message twice when a kill
		 * lands between it and `next`, and the successor is handed the
		 * message again. */
		uint64_t gaps = prog_gaps(p), got = prog_next(p) - gaps;
		int slow = c->drop && i == c->consumers - 1;
		uint64_t seen = got + cs[i].skipped;
		int ok = atomic_load(&p->done) && prog_next(p) == c->messages &&
			 (slow ? seen <= c->messages && seen + c->kill >= c->messages
			       : got == c->messages && !gaps);
		printf("consumer %2u %s: %llu received, %llu skipped (%llu gaps seen), %llu "
		       "redelivered (%llu duplicates seen), %llu stale, %llu attaches%s\n", i,
		       slow ? "drop " : "block", (unsigned long long)got,
		       (unsigned long long)cs[i].skipped, (unsigned long long)gaps,
		       (unsigned long long)cs[i].redelivered,
		       (unsigned long long)atomic_load(&p->duplicates),
		       (unsigned long long)atomic_load(&p->stale),
		       (unsigned long long)cs[i].attaches, ok ? "" : "  FAILED");
		bad |= !ok;
	}
	shmring_detach(o);
	return bad;
}

static long long number(const char *opt, const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end || v < 0) {
		fprintf(stderr, "bcast-stress: %s wants a number, not '%s'\n%s", opt, s, USAGE);
		exit(100);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct cfg c = { .consumers = 4, .messages = 1000000, .capacity = 64 * 1024,
			 .watchdog = 240 };
	static const struct option opts[] = {
		{ "consumers", required_argument, NULL, 'n' },
		{ "messages", required_argument, NULL, 'm' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "kill", required_argument, NULL, 'k' },
		{ "drop", no_argument, NULL, 'D' },
		{ "threads", no_argument, NULL, 't' },
		{ "watchdog", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n': c.consumers = (unsigned)number("--consumers", optarg); break;
		case 'm': c.messages = (uint64_t)number("--messages", optarg); break;
		case 'c': c.capacity = (size_t)number("--capacity", optarg); break;
		case 'k': c.kill = (unsigned)number("--kill", optarg); break;
		case 'D': c.drop = 1; break;
		case 't': c.threads = 1; break;
		case 'w': c.watchdog = (unsigned)number("--watchdog", optarg); break;
		case 'h': fputs(USAGE, stdout); return 0;
		default: fputs(USAGE, stderr); return 100;
		}
	}
	if (c.messages >= 1ull << 32) { /* struct prog packs a count in 32 bits */
		fprintf(stderr, "bcast-stress: --messages below 4294967296\n%s", USAGE);
		return 100;
	}
	if (c.consumers < 1 || c.consumers > SHMRING_BCAST_MAX || (c.kill && c.consumers < 2) ||
	    (c.kill && c.threads) || (c.drop && c.consumers < 2)) {
		fprintf(stderr, "bcast-stress: 1 to %d consumers (2 or more with --kill or "
			"--drop; --kill needs processes)\n%s", SHMRING_BCAST_MAX, USAGE);
		return 100;
	}
	c.prog = mmap(NULL, sizeof(struct prog) * c.consumers, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c.prog == MAP_FAILED)
		return 1;
	tu_name(c.name, sizeof(c.name), "bcast-stress");
	struct shmring_opts ro;
	struct shmring_bcast_opts bo = { .consumers = c.consumers };
	shmring_opts_init(&ro);
	ro.capacity = c.capacity;
	if (c.drop)
		bo.policy[c.consumers - 1] = SHMRING_BCAST_DROP;
	struct shmring *owner;
	if (shmring_bcast_create(c.name, &ro, &bo, &owner) < 0) {
		fprintf(stderr, "bcast-stress: %s\n", shmring_errmsg());
		return 1;
	}
	uint64_t t0 = tu_now_ns();
	int bad = c.threads ? run_threads(&c) : run_procs(&c);
	double secs = tu_since_s(t0);
	bad |= check(&c);
	printf("%llu messages to %u consumers in %.2f s%s\n", (unsigned long long)c.messages,
	       c.consumers, secs, bad ? ": FAILED" : "");
	shmring_detach(owner);
	shmring_unlink(c.name);
	return bad ? 1 : 0;
}
