/* SPDX-License-Identifier: MIT */
/*
 * Exactly once, at the library level (kernel.h "Exactly once", journal.h): a
 * kernel with a journal is killed with SIGKILL at a chosen point, a second
 * instance takes its ports over as the supervisor's restart does, and the
 * consumer must see every output exactly once, in order per input; the
 * output ring's counters say how many repeats were dropped (suppressed) and
 * the input ring's how many redelivered messages the checkpoint covered
 * (skipped). Each test builds a control segment and a journal by hand, as
 * shmring-supervisor does; the producer, the consumer and both instances of
 * the kernel are forked children.
 *
 * Kill points: after the K-th send (before the release of the input it
 * answers: the window a duplicate comes from; for a 1:N kernel also between
 * two sends of one input), and right after the K-th release (for a source:
 * its checkpoint). K runs over several seeds: the first and last event, and
 * others spread in between. Shapes: 1:1, 1:3 on one output, 1 on each of 2
 * outputs, a 4:1 fold keeping its sum in the checkpoint, a 7:1 fold whose
 * rest is sent at end of stream, a merge of 3 inputs served in random
 * order, a zip of 2 inputs (a checkpoint covering a message still held, so
 * a restart skips it), and sources with 1 and 3 sends per checkpoint. Then:
 * a restart killed too, every port batched, the checkpoint API's answers,
 * and journals that lie (corrupt, or naming a record a kill inside a commit
 * left unpublished).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#include <shmring/shmring.h>
#include "control.h"
#include "journal.h"
#include "ring_internal.h" /* a ring's published head and tail (the stale lineage test) */
#include "../common/test-util.h"

#define MAX_IN   3
#define MAX_OUT  2
/* Messages per input (per source): a multiple of 3 and 4, so that 1:3,
 * 4:1 and 3-per-checkpoint shapes end on a whole group. The rings are the
 * smallest (4 KiB, about 170 records), so each one wraps many times. */
#define N_MSGS   600u
#define RING_CAP 4096u
/* How long any child may wait for anything before it gives up and says so;
 * the parent kills one still running 5 s later. Generous for the
 * sanitizers; a passing run takes milliseconds. */
#define CHILD_WAIT_NS (20ull * 1000000000u)

/* An input message, and what the kernels send: which input and message it
 * answers (the group, for the fold), the k-th record for it, a value. */
struct msg {
	uint64_t seq, value;
};
struct rec {
	uint64_t in, seq, k, value;
};

enum shape {
	MAP,     /* 1:1: {seq, 2 * value} */
	FAN3,    /* 1:N: three records per input on one output */
	SPLIT2,  /* 1:N: one record per input on each of two outputs */
	FOLD4,   /* N:1: the sum of every 4 inputs, the partial sum checkpointed */
	FOLD7,   /* the same by 7: at end of stream the rest (end of stream answers) */
	MERGE3,  /* 3 inputs -> 1 output, whichever input is ready, random order */
	ZIP2,    /* 2 inputs -> 1 output, one from each, both released after a checkpoint */
	SOURCE,  /* no input: send seq, checkpoint seq + 1 */
	SOURCE3, /* no input: three sends per checkpoint */
};

struct shape_info {
	const char *name;
	unsigned nin, nout;
	unsigned sends_per_in; /* sends per input message (0: the fold) */
	unsigned group;        /* the fold: inputs per sum */
};

static const struct shape_info shapes[] = {
	[MAP] = { "1:1 map", 1, 1, 1 },          [FAN3] = { "1:3 fan", 1, 1, 3 },
	[SPLIT2] = { "1:2 split", 1, 2, 2 },     [FOLD4] = { "4:1 fold", 1, 1, 0, 4 },
	[FOLD7] = { "7:1 fold with a rest", 1, 1, 0, 7 },
	[MERGE3] = { "3:1 merge", 3, 1, 1 },     [ZIP2] = { "2:1 zip", 2, 1, 1 },
	[SOURCE] = { "source", 0, 1, 1 },        [SOURCE3] = { "source, 3 per checkpoint", 0, 1, 3 },
};

enum kill_at { KILL_NONE, KILL_AFTER_SEND, KILL_AFTER_RELEASE };
static const char *const kill_names[] = { "never", "after send", "after release" };

/* Facts the children write for the parent (a shared mapping). */
struct report {
	int64_t restored[3];    /* what shmring_kernel_restore returned, per instance */
	uint64_t got[MAX_OUT];  /* records the consumer read, per output */
	uint64_t dups;          /* repeats the consumer allowed (allow_dups) */
	char why[3][256];       /* a failing child's line: kernel, producer, consumer */
};
enum { WHY_KERNEL, WHY_PRODUCER, WHY_CONSUMER };

/* One topology: kernel 0 "k" under test, 1 "src" (the producer: this
 * test's child), 2 "dst" (the consumer: another child). src.o<i> -> k.in<i>,
 * k.out<j> -> dst.i<j>. */
struct topo {
	enum shape shape;
	unsigned nin, nout;
	struct shmring *in[MAX_IN], *out[MAX_OUT]; /* creator handles: stats, fds */
	struct smr_ctl ctl;
	int ctl_fd, jnl_fd;
	struct smr_jnl jnl;                        /* this process's view */
	struct report *rep;
	/* What the children do */
	enum kill_at kill;
	uint64_t kill_k;
	uint32_t seed;
	int instance;   /* 0: the first, killed; then each restart */
	int allow_dups; /* the consumer counts repeats instead of failing */
	uint32_t batch; /* the kernel's ports publish every `batch` (0, 1: each) */
};

static struct report *report_map(void)
{
	struct report *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(r != MAP_FAILED);
	memset(r, 0, sizeof(*r));
	return r;
}

/* A child's failure: one line for the parent, and an exit code. */
static int child_fail(struct topo *t, int who, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int child_fail(struct topo *t, int who, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->rep->why[who], sizeof(t->rep->why[who]), fmt, ap);
	va_end(ap);
	return code;
}

static uint32_t rnd_next(uint32_t *s)
{
	*s ^= *s << 13; /* xorshift32: deterministic per seed, never 0 */
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static uint64_t value_of(unsigned in, uint64_t seq)
{
	return seq * 1000u + in + 1u;
}

/* ---- the topology ---- */

static void add_ring(struct smr_ctl_ring *cr, struct shmring **ring, uint32_t from, uint32_t to,
		     const char *fport, const char *tport)
{
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = RING_CAP;
	assert_int_equal(shmring_create(NULL, &o, ring), 0);
	cr->from_kernel = from;
	cr->to_kernel = to;
	snprintf(cr->from_port, SHMRING_CTL_NAME, "%s", fport);
	snprintf(cr->to_port, SHMRING_CTL_NAME, "%s", tport);
	cr->fd = shmring_fd(*ring); /* children inherit it; attach closes only theirs */
	cr->wait = SHMRING_WAIT_ADAPTIVE;
}

/* journal: 1 a journal for "k", 0 none (journal_fd -1). */
static void topo_build(struct topo *t, enum shape s, int journal)
{
	memset(t, 0, sizeof(*t));
	t->shape = s;
	t->nin = shapes[s].nin;
	t->nout = shapes[s].nout;
	t->jnl_fd = -1;
	t->ctl_fd = smr_ctl_create("lineage", 3, t->nin + t->nout, &t->ctl);
	assert_true(t->ctl_fd >= 0);
	struct smr_ctl_header *h = t->ctl.h;
	struct smr_ctl_kernel *kb = smr_ctl_kernels(h);
	strcpy(kb[0].name, "k");
	strcpy(kb[1].name, "src");
	strcpy(kb[2].name, "dst");
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	char a[16], b[16];
	for (unsigned i = 0; i < t->nin; i++) {
		snprintf(a, sizeof(a), "o%u", i);
		snprintf(b, sizeof(b), "in%u", i);
		add_ring(&cr[i], &t->in[i], 1, 0, a, b);
	}
	for (unsigned j = 0; j < t->nout; j++) {
		snprintf(a, sizeof(a), "out%u", j);
		snprintf(b, sizeof(b), "i%u", j);
		add_ring(&cr[t->nin + j], &t->out[j], 0, 2, a, b);
	}
	if (journal) {
		t->jnl_fd = smr_jnl_create("lineage", "k", t->nin, t->nout);
		assert_true(t->jnl_fd >= 0);
		kb[0].journal_fd = t->jnl_fd;
		char why[160];
		assert_int_equal(smr_jnl_attach(t->jnl_fd, t->nin, t->nout, &t->jnl, why, sizeof(why)), 0);
	}
	/* Active from the start: attach's barrier lets the kernel run at once. */
	atomic_store(&h->state, (uint32_t)SMR_TOPO_ACTIVE);
	smr_ctl_publish(h);
	t->rep = report_map();
	t->rep->restored[0] = t->rep->restored[1] = t->rep->restored[2] = -1;
}

static void topo_free(struct topo *t)
{
	for (unsigned i = 0; i < t->nin; i++)
		shmring_detach(t->in[i]);
	for (unsigned j = 0; j < t->nout; j++)
		shmring_detach(t->out[j]);
	smr_jnl_detach(&t->jnl);
	if (t->jnl_fd >= 0)
		close(t->jnl_fd);
	smr_ctl_detach(&t->ctl);
	close(t->ctl_fd);
	munmap(t->rep, sizeof(*t->rep));
	unsetenv("SHMRING_CONTROL");
	unsetenv("SHMRING_KERNEL");
}

/* The environment shmring-supervisor gives kernel `kernel` (attach closes
 * the descriptor it names, so it gets a copy). */
static void env_for(struct topo *t, unsigned kernel)
{
	char v[32];
	snprintf(v, sizeof(v), "fd:%d", dup(t->ctl_fd));
	setenv("SHMRING_CONTROL", v, 1);
	snprintf(v, sizeof(v), "%u", kernel);
	setenv("SHMRING_KERNEL", v, 1);
}

/* ---- the kernel under test (a forked child) ---- */

/* Where it dies: the kill plan and what it counted so far. */
static struct {
	enum kill_at at;
	uint64_t k, sends, releases;
} kp;

static void count_event(enum kill_at what, uint64_t *n)
{
	if (++*n == kp.k && kp.at == what)
		raise(SIGKILL);
}

/* Send one record, waiting for room (the consumer is slow at times; it
 * never dies unless it found a fault: -EOWNERDEAD ends the run at once). */
static int ksend(struct shmring *out, uint64_t in, uint64_t seq, uint64_t k, uint64_t value)
{
	struct rec r = { in, seq, k, value };
	uint64_t until = tu_now_ns() + CHILD_WAIT_NS;
	int rc;
	while ((rc = shmring_send(out, &r, sizeof(r), 100)) == -ETIMEDOUT)
		if (tu_now_ns() > until)
			break;
	if (rc == 0)
		count_event(KILL_AFTER_SEND, &kp.sends);
	return rc;
}

/* The next message of an input: 1 (in *m), 0 at end of stream, or -errno
 * (-EOWNERDEAD: the producer, which never dies unless it found a fault). */
static int kpeek(struct shmring *in, struct msg *m, int timeout_ms)
{
	uint64_t until = tu_now_ns() + CHILD_WAIT_NS;
	for (;;) {
		const void *p;
		size_t len;
		int rc = shmring_peek(in, &p, &len, timeout_ms < 0 ? 100 : timeout_ms);
		if (rc == -ETIMEDOUT && timeout_ms < 0 && tu_now_ns() < until)
			continue;
		if (rc <= 0)
			return rc;
		if (len != sizeof(*m))
			return -EBADMSG;
		memcpy(m, p, sizeof(*m));
		return 1;
	}
}

static void krelease(struct shmring *in)
{
	shmring_release(in);
	count_event(KILL_AFTER_RELEASE, &kp.releases);
}

struct kctx {
	struct topo *t;
	struct shmring_kernel *k;
	struct shmring *in[MAX_IN], *out[MAX_OUT];
};

#define KFAIL(c, ...) child_fail((c)->t, WHY_KERNEL, 20, __VA_ARGS__)

/* MAP, FAN3, SPLIT2: peek, send what derives from it, release. */
static int run_stateless(struct kctx *c)
{
	enum shape s = c->t->shape;
	for (;;) {
		struct msg m;
		int rc = kpeek(c->in[0], &m, -1);
		if (rc == 0)
			return 0;
		if (rc < 0)
			return KFAIL(c, "peek: %s", strerror(-rc));
		for (unsigned k = 0; k < shapes[s].sends_per_in; k++) {
			struct shmring *out = c->out[s == SPLIT2 ? k : 0];
			uint64_t v = s == MAP ? 2 * m.value : m.value + (s == FAN3 ? k : 0);
			if ((rc = ksend(out, 0, m.seq, k, v)) < 0)
				return KFAIL(c, "send %llu.%u: %s", (unsigned long long)m.seq, k,
					     strerror(-rc));
		}
		krelease(c->in[0]);
	}
}

struct fold_state {
	uint64_t count, sum, group;
};

/* FOLD4, FOLD7: the partial sum lives in the checkpoint, staged before
 * each release (it covers the message held); at end of stream the rest is
 * sent, attributed to the end of stream. */
static int run_fold(struct kctx *c)
{
	unsigned group = shapes[c->t->shape].group;
	struct fold_state st = { 0, 0, 0 };
	ssize_t n = shmring_kernel_restore(c->k, &st, sizeof(st));
	c->t->rep->restored[c->t->instance] = n;
	if (n != 0 && n != (ssize_t)sizeof(st))
		return KFAIL(c, "restore returned %zd", n);
	for (;;) {
		struct msg m;
		int rc = kpeek(c->in[0], &m, -1);
		if (rc == 0 && st.count && (rc = ksend(c->out[0], 0, st.group, 0, st.sum)) < 0)
			return KFAIL(c, "send the rest: %s", strerror(-rc));
		if (rc == 0)
			return 0;
		if (rc < 0)
			return KFAIL(c, "peek: %s", strerror(-rc));
		st.sum += m.value;
		if (++st.count == group) {
			if ((rc = ksend(c->out[0], 0, st.group, 0, st.sum)) < 0)
				return KFAIL(c, "send: %s", strerror(-rc));
			st = (struct fold_state){ 0, 0, st.group + 1 };
		}
		if ((rc = shmring_kernel_checkpoint(c->k, &st, sizeof(st))) < 0)
			return KFAIL(c, "checkpoint: %s", strerror(-rc));
		krelease(c->in[0]);
	}
}

/* MERGE3: serve a ready input chosen at random; an input at end of stream
 * is done. Nothing is checkpointed: lineage alone keeps it exactly once. */
static int merge_pick(struct kctx *c, const int *ended, uint32_t *rnd)
{
	struct shmring *ready[MAX_IN];
	int n = shmring_kernel_wait_ready(c->k, 100, ready, MAX_IN);
	unsigned cand[MAX_IN], nc = 0;
	for (int r = 0; r < n && r < MAX_IN; r++)
		for (unsigned i = 0; i < MAX_IN; i++)
			if (ready[r] == c->in[i] && !ended[i])
				cand[nc++] = i;
	if (nc)
		return (int)cand[rnd_next(rnd) % nc];
	for (unsigned i = 0; i < MAX_IN; i++) /* only ended ones are ready: wait on another */
		if (!ended[i])
			return (int)i;
	return -1;
}

static int run_merge(struct kctx *c)
{
	int ended[MAX_IN] = { 0 };
	unsigned open = MAX_IN;
	uint32_t rnd = c->t->seed * 2654435761u + 1u + (uint32_t)c->t->instance;
	uint64_t until = tu_now_ns() + CHILD_WAIT_NS;
	while (open) {
		int i = merge_pick(c, ended, &rnd);
		struct msg m;
		int rc = kpeek(c->in[i], &m, 1);
		if (rc == -ETIMEDOUT) {
			if (tu_now_ns() > until)
				return KFAIL(c, "input %d: nothing for %llu s", i,
					     (unsigned long long)(CHILD_WAIT_NS / 1000000000u));
			continue;
		}
		if (rc < 0)
			return KFAIL(c, "peek %d: %s", i, strerror(-rc));
		if (rc == 0) {
			ended[i] = 1;
			open--;
			continue;
		}
		if ((rc = ksend(c->out[0], (unsigned)i, m.seq, 0, m.value)) < 0)
			return KFAIL(c, "send: %s", strerror(-rc));
		krelease(c->in[i]);
	}
	return 0;
}

/* ZIP2: one message from each input, both sent, a checkpoint covering both,
 * then the two releases. Killed between them, the restart finds the second
 * message covered by the checkpoint and skips it. */
static int run_zip(struct kctx *c)
{
	uint64_t pairs = 0;
	ssize_t n = shmring_kernel_restore(c->k, &pairs, sizeof(pairs));
	c->t->rep->restored[c->t->instance] = n;
	for (;;) {
		struct msg a, b;
		int ra = kpeek(c->in[0], &a, -1), rc;
		if (ra < 0)
			return KFAIL(c, "peek 0: %s", strerror(-ra));
		if (ra > 0 && (rc = ksend(c->out[0], 0, a.seq, 0, a.value)) < 0)
			return KFAIL(c, "send: %s", strerror(-rc));
		int rb = kpeek(c->in[1], &b, -1);
		if (rb < 0 || (ra == 0) != (rb == 0))
			return KFAIL(c, "peek 1: %d (input 0: %d)", rb, ra);
		if (ra == 0)
			return 0;
		if ((rc = ksend(c->out[0], 1, b.seq, 0, b.value)) < 0)
			return KFAIL(c, "send: %s", strerror(-rc));
		pairs++;
		if ((rc = shmring_kernel_checkpoint(c->k, &pairs, sizeof(pairs))) < 0)
			return KFAIL(c, "checkpoint: %s", strerror(-rc));
		krelease(c->in[0]);
		krelease(c->in[1]);
	}
}

/* SOURCE, SOURCE3: send, then checkpoint the position to resume from (a
 * checkpoint counts as the source's "release"). */
static int run_source(struct kctx *c)
{
	uint64_t next = 0;
	ssize_t n = shmring_kernel_restore(c->k, &next, sizeof(next));
	c->t->rep->restored[c->t->instance] = n;
	unsigned per = shapes[c->t->shape].sends_per_in;
	while (next < N_MSGS) {
		int rc;
		for (unsigned b = 0; b < per; b++)
			if ((rc = ksend(c->out[0], 0, next + b, 0, 3 * (next + b))) < 0)
				return KFAIL(c, "send: %s", strerror(-rc));
		next += per;
		if ((rc = shmring_kernel_checkpoint(c->k, &next, sizeof(next))) < 0)
			return KFAIL(c, "checkpoint: %s", strerror(-rc));
		count_event(KILL_AFTER_RELEASE, &kp.releases);
	}
	return 0;
}

static int kernel_child(void *arg)
{
	struct topo *t = arg;
	kp.at = t->kill;
	kp.k = t->kill_k;
	env_for(t, 0);
	struct kctx c = { .t = t };
	if (shmring_kernel_attach(&c.k) < 0)
		return KFAIL(&c, "instance %d: attach: %s", t->instance, shmring_errmsg());
	for (unsigned i = 0; i < t->nin; i++)
		c.in[i] = shmring_kernel_input(c.k, i);
	for (unsigned j = 0; j < t->nout; j++)
		c.out[j] = shmring_kernel_output(c.k, j);
	int rc;
	for (unsigned i = 0; i < t->nin + t->nout && t->batch > 1; i++)
		shmring_set_batch(i < t->nin ? c.in[i] : c.out[i - t->nin], t->batch);
	switch (t->shape) {
	case FOLD4:
	case FOLD7: rc = run_fold(&c); break;
	case MERGE3: rc = run_merge(&c); break;
	case ZIP2: rc = run_zip(&c); break;
	case SOURCE:
	case SOURCE3: rc = run_source(&c); break;
	default: rc = run_stateless(&c); break;
	}
	if (rc)
		return rc; /* failed: ports left open, as a kernel that fails does */
	return shmring_kernel_detach(c.k) == 0 ? 0 : KFAIL(&c, "detach: %s", shmring_errmsg());
}

/* ---- producer and consumer (forked children) ---- */

static int attach_all(struct shmring *const *rings, unsigned n, enum shmring_role role,
		      struct shmring **out)
{
	for (unsigned i = 0; i < n; i++) {
		char v[32];
		snprintf(v, sizeof(v), "fd:%d", shmring_fd(rings[i]));
		int rc = shmring_attach(v, role, &out[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Feeds every input N_MSGS messages in a random interleaving, never
 * blocking on one ring (the zip waits on the other), then closes them. */
static int producer_child(void *arg)
{
	struct topo *t = arg;
	struct shmring *p[MAX_IN];
	int rc = attach_all(t->in, t->nin, SHMRING_ROLE_PRODUCER, p);
	if (rc < 0)
		return child_fail(t, WHY_PRODUCER, 30, "attach: %s", shmring_errmsg());
	uint64_t next[MAX_IN] = { 0 }, until = tu_now_ns() + CHILD_WAIT_NS;
	uint32_t rnd = t->seed * 747796405u + 7u;
	unsigned left = t->nin;
	while (left) {
		unsigned first = rnd_next(&rnd) % t->nin, sent = 0;
		for (unsigned d = 0; d < t->nin && !sent; d++) {
			unsigned i = (first + d) % t->nin;
			if (next[i] == N_MSGS)
				continue;
			struct msg m = { next[i], value_of(i, next[i]) };
			rc = shmring_send(p[i], &m, sizeof(m), 0);
			if (rc == 0 && ++next[i] == N_MSGS)
				left--;
			if (rc == 0)
				sent = 1;
			else if (rc != -EAGAIN && rc != -EOWNERDEAD)
				return child_fail(t, WHY_PRODUCER, 31, "send: %s", strerror(-rc));
		}
		if (!sent && tu_now_ns() > until)
			return child_fail(t, WHY_PRODUCER, 32, "every input full for %llu s",
					  (unsigned long long)(CHILD_WAIT_NS / 1000000000u));
		if (!sent)
			tu_sleep_ns(100000);
	}
	for (unsigned i = 0; i < t->nin; i++) {
		shmring_close(p[i]);
		shmring_detach(p[i]);
	}
	return 0;
}

/* The idx-th record output j must carry from origin `in` (an input, or 0
 * for a source), and how many there are in all. */
static uint64_t expect_rec(enum shape s, unsigned j, unsigned in, uint64_t idx, struct rec *w)
{
	*w = (struct rec){ in, idx, 0, value_of(in, idx) };
	switch (s) {
	case MAP: w->value = 2 * value_of(0, idx); return N_MSGS;
	case FAN3:
		*w = (struct rec){ 0, idx / 3, idx % 3, value_of(0, idx / 3) + idx % 3 };
		return 3u * N_MSGS;
	case SPLIT2: w->k = j; return N_MSGS;
	case FOLD4:
	case FOLD7: {
		uint64_t g = shapes[s].group;
		w->value = 0;
		for (uint64_t q = g * idx; q < g * idx + g && q < N_MSGS; q++)
			w->value += value_of(0, q);
		return (N_MSGS + g - 1) / g;
	}
	case SOURCE:
	case SOURCE3: w->value = 3 * idx; return N_MSGS;
	default: return N_MSGS; /* MERGE3, ZIP2 */
	}
}

/* One record of output j: the next one expected from its origin? */
static int check_rec(struct topo *t, unsigned j, const struct rec *r, uint64_t *next)
{
	unsigned norigin = t->nin ? t->nin : 1;
	struct rec w;
	if (r->in >= norigin)
		return child_fail(t, WHY_CONSUMER, 40, "output %u: a record from input %llu", j,
				  (unsigned long long)r->in);
	uint64_t total = expect_rec(t->shape, j, (unsigned)r->in, next[r->in], &w);
	if (next[r->in] < total && !memcmp(r, &w, sizeof(w))) {
		next[r->in]++;
		return 0;
	}
	if (t->allow_dups && next[r->in] > 0) {
		expect_rec(t->shape, j, (unsigned)r->in, next[r->in] - 1, &w);
		if (!memcmp(r, &w, sizeof(w))) {
			t->rep->dups++;
			return 0;
		}
	}
	expect_rec(t->shape, j, (unsigned)r->in, next[r->in], &w);
	return child_fail(t, WHY_CONSUMER, 41,
			  "output %u, record %llu from input %llu: got {seq %llu, k %llu, value %llu}, "
			  "want {seq %llu, k %llu, value %llu}%s", j, (unsigned long long)next[r->in],
			  (unsigned long long)r->in, (unsigned long long)r->seq,
			  (unsigned long long)r->k, (unsigned long long)r->value,
			  (unsigned long long)w.seq, (unsigned long long)w.k,
			  (unsigned long long)w.value,
			  next[r->in] >= total ? " (more records than sent)" : "");
}

/* At the end of output j: every origin complete? */
static int check_complete(struct topo *t, unsigned j, const uint64_t *next)
{
	unsigned norigin = t->nin ? t->nin : 1;
	for (unsigned i = 0; i < norigin; i++) {
		struct rec w;
		uint64_t total = expect_rec(t->shape, j, i, 0, &w);
		if (next[i] != total)
			return child_fail(t, WHY_CONSUMER, 42,
					  "output %u: %llu records from input %u at end of stream, "
					  "want %llu", j, (unsigned long long)next[i], i,
					  (unsigned long long)total);
	}
	return 0;
}

/* Reads every output (never blocking on one: the kernel may wait for room
 * on another), checking each record as it comes. */
static int consumer_child(void *arg)
{
	struct topo *t = arg;
	struct shmring *c[MAX_OUT];
	if (attach_all(t->out, t->nout, SHMRING_ROLE_CONSUMER, c) < 0)
		return child_fail(t, WHY_CONSUMER, 43, "attach: %s", shmring_errmsg());
	uint64_t next[MAX_OUT][MAX_IN] = { { 0 } }, until = tu_now_ns() + CHILD_WAIT_NS;
	int ended[MAX_OUT] = { 0 };
	unsigned open = t->nout;
	while (open) {
		int got = 0;
		for (unsigned j = 0; j < t->nout; j++) {
			struct rec r;
			ssize_t n = ended[j] ? -EAGAIN : shmring_recv(c[j], &r, sizeof(r), 0);
			if (n == 0) {
				ended[j] = 1, open--;
				if (check_complete(t, j, next[j]))
					return 44;
			} else if (n == (ssize_t)sizeof(r)) {
				got = 1;
				t->rep->got[j]++;
				if (check_rec(t, j, &r, next[j]))
					return 45;
			} else if (n != -EAGAIN && n != -EOWNERDEAD) {
				return child_fail(t, WHY_CONSUMER, 46, "output %u: recv %zd", j, n);
			}
		}
		if (!got && tu_now_ns() > until)
			return child_fail(t, WHY_CONSUMER, 47, "nothing arrived for %llu s",
					  (unsigned long long)(CHILD_WAIT_NS / 1000000000u));
		if (!got)
			tu_sleep_ns(100000);
	}
	for (unsigned j = 0; j < t->nout; j++)
		shmring_detach(c[j]);
	return 0;
}

/* ---- one run: kill, restart, check ---- */

/* What the counters must say after one kill at K and the restart. */
struct expect {
	uint64_t suppressed[MAX_OUT];
	uint64_t skipped[MAX_IN];
	uint64_t gen;          /* checkpoint the restart resumed from, 0 none */
	int check_redelivered; /* redelivered[] is exact */
	uint64_t redelivered[MAX_IN];
};

static void expect_after_send(const struct topo *t, uint64_t k, struct expect *e)
{
	uint64_t g = shapes[t->shape].group;
	e->check_redelivered = t->shape != MERGE3; /* which input it was: random */
	e->redelivered[0] = 1;
	e->suppressed[0] = 1;
	switch (t->shape) {
	case FAN3: e->suppressed[0] = (k - 1) % 3 + 1; break;
	case SPLIT2: e->suppressed[1] = k % 2 == 0; break;
	case FOLD4:
	case FOLD7: /* the (g k)-th input, not yet released; or the rest, at the end */
		e->gen = g * k <= N_MSGS ? g * k - 1 : N_MSGS;
		e->redelivered[0] = g * k <= N_MSGS;
		break;
	case ZIP2: /* odd: after input 0's record, input 1 not yet peeked */
		e->suppressed[0] = k % 2 ? 1 : 2;
		e->redelivered[1] = k % 2 == 0;
		e->gen = (k - 1) / 2;
		break;
	case SOURCE: e->gen = k - 1; e->redelivered[0] = 0; break;
	case SOURCE3:
		e->suppressed[0] = (k - 1) % 3 + 1;
		e->gen = (k - 1) / 3;
		e->redelivered[0] = 0;
		break;
	default: break;
	}
}

static void expect_after_release(const struct topo *t, uint64_t k, struct expect *e)
{
	e->check_redelivered = 1;
	switch (t->shape) {
	case FOLD4:
	case FOLD7: e->gen = k; break;
	case ZIP2: /* odd: input 0 released, input 1 held but covered */
		e->gen = (k + 1) / 2;
		e->skipped[1] = k % 2;
		e->redelivered[1] = k % 2;
		break;
	case SOURCE:
	case SOURCE3: e->gen = k; break;
	default: break;
	}
}

/* Children of the run in progress (producer, consumer, kernel), killed
 * when a check fails. */
static pid_t live[3];

static void kill_live(void)
{
	for (unsigned i = 0; i < 3; i++)
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			tu_reap(live[i]);
			live[i] = 0;
		}
}

static char run_label[200];

/* A failed run: its children killed, what they said, everything freed (so
 * that a sanitizer reports the failure, not a leak it causes), then fail. */
static void run_fail(struct topo *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run_fail(struct topo *t, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kill_live();
	fprintf(stderr, "%s\n  kernel: %s\n  producer: %s\n  consumer: %s\n", run_label,
		t->rep->why[WHY_KERNEL], t->rep->why[WHY_PRODUCER], t->rep->why[WHY_CONSUMER]);
	topo_free(t);
	fail_msg("%s", msg);
}

#define RUN_FAIL(t, ...) run_fail((t), __VA_ARGS__)

enum { LIVE_PRODUCER, LIVE_CONSUMER, LIVE_KERNEL };

static int reap_live(unsigned slot)
{
	int rc = tu_reap_by(live[slot], tu_now_ns() + CHILD_WAIT_NS + 5000000000ull);
	live[slot] = 0;
	return rc;
}

static void check_counters(struct topo *t, const struct expect *e)
{
	struct shmring_stats st;
	for (unsigned j = 0; j < t->nout; j++) {
		assert_int_equal(shmring_stats(t->out[j], &st), 0);
		if (st.suppressed != e->suppressed[j])
			RUN_FAIL(t, "%s: output %u: %llu suppressed, want %llu", run_label, j,
				 (unsigned long long)st.suppressed, (unsigned long long)e->suppressed[j]);
	}
	uint64_t skipped = 0;
	for (unsigned i = 0; i < t->nin; i++) {
		assert_int_equal(shmring_stats(t->in[i], &st), 0);
		skipped += st.skipped;
		if (st.skipped != e->skipped[i] ||
		    (e->check_redelivered && st.redelivered != e->redelivered[i]))
			RUN_FAIL(t, "%s: input %u: %llu skipped, %llu redelivered; want %llu, %llu",
				 run_label, i, (unsigned long long)st.skipped,
				 (unsigned long long)st.redelivered, (unsigned long long)e->skipped[i],
				 (unsigned long long)e->redelivered[i]);
	}
	struct smr_ctl_kernel *kb = smr_ctl_kernels(t->ctl.h);
	uint32_t resumes = atomic_load(&kb->resumes);
	uint64_t gen = atomic_load(&kb->resumed_gen), kskipped = atomic_load(&kb->skipped);
	if (resumes != (e->gen != 0) || gen != e->gen || kskipped != skipped)
		RUN_FAIL(t, "%s: kernel block: %u resumes from generation %llu, %llu skipped; want "
			 "%d, %llu, %llu", run_label, resumes, (unsigned long long)gen,
			 (unsigned long long)kskipped, e->gen != 0, (unsigned long long)e->gen,
			 (unsigned long long)skipped);
}

/* Everything sent was consumed, and the counts say so: a skipped message
 * was consumed too, its bytes included. */
static void check_inputs_drained(struct topo *t)
{
	struct shmring_stats st;
	for (unsigned i = 0; i < t->nin; i++) {
		assert_int_equal(shmring_stats(t->in[i], &st), 0);
		if (st.msgs_out != st.msgs_in || st.bytes_out != st.bytes_in || st.fill)
			RUN_FAIL(t, "%s: input %u: %llu messages / %llu bytes in, %llu / %llu out, "
				 "%llu bytes left", run_label, i, (unsigned long long)st.msgs_in,
				 (unsigned long long)st.bytes_in, (unsigned long long)st.msgs_out,
				 (unsigned long long)st.bytes_out, (unsigned long long)st.fill);
	}
}

static int calls_restore(enum shape s)
{
	return s == FOLD4 || s == FOLD7 || s == ZIP2 || s == SOURCE || s == SOURCE3;
}

/* What each instance's restore returned: 0 at the first start, the state
 * after a kill that left a checkpoint (gen: its generation). */
static void check_restored(struct topo *t, int instance, uint64_t gen)
{
	size_t len = t->shape == FOLD4 || t->shape == FOLD7 ? sizeof(struct fold_state)
							      : sizeof(uint64_t);
	int64_t want = instance == 0 || gen == 0 ? 0 : (int64_t)len;
	if (calls_restore(t->shape) && t->rep->restored[instance] != want)
		RUN_FAIL(t, "%s: instance %d: restore returned %lld, want %lld", run_label, instance,
			 (long long)t->rep->restored[instance], (long long)want);
}

/* A run: the kernel killed kills[0], then each restart killed at the next
 * point, and the last restart run to the end. */
struct plan {
	enum shape shape;
	uint32_t seed;
	unsigned nkill;             /* 1 or 2 */
	enum kill_at at[2];
	uint64_t k[2];              /* counted from that instance's start */
	uint32_t batch;             /* 0, 1: every release and commit published */
	void (*between)(struct topo *t); /* after the first kill, before the restart */
};

static void run_instance(struct topo *t, int instance, enum kill_at at, uint64_t k)
{
	t->instance = instance;
	t->kill = at;
	t->kill_k = k;
	live[LIVE_KERNEL] = tu_fork(kernel_child, t);
	int rc = reap_live(LIVE_KERNEL), want = at == KILL_NONE ? 0 : 128 + SIGKILL;
	if (rc != want)
		RUN_FAIL(t, "%s: instance %d ended with %d, want %d%s", run_label, instance, rc, want,
			 want ? " (killed)" : "");
}

static void run_plan(const struct plan *p)
{
	struct topo t;
	topo_build(&t, p->shape, 1);
	t.seed = p->seed;
	t.batch = p->batch;
	int n = snprintf(run_label, sizeof(run_label), "%s%s, killed %s #%llu", shapes[p->shape].name,
			 p->batch > 1 ? ", batched ports" : "", kill_names[p->at[0]],
			 (unsigned long long)p->k[0]);
	if (p->nkill > 1)
		n += snprintf(run_label + n, sizeof(run_label) - (size_t)n, ", then %s #%llu",
			      kill_names[p->at[1]], (unsigned long long)p->k[1]);
	snprintf(run_label + n, sizeof(run_label) - (size_t)n, " (seed %u)", p->seed);
	live[LIVE_PRODUCER] = t.nin ? tu_fork(producer_child, &t) : 0;
	live[LIVE_CONSUMER] = tu_fork(consumer_child, &t);
	for (unsigned i = 0; i < p->nkill; i++) {
		run_instance(&t, (int)i, p->at[i], p->k[i]);
		if (i == 0 && p->between)
			p->between(&t);
	}
	run_instance(&t, (int)p->nkill, KILL_NONE, 0);
	int rc;
	if ((rc = reap_live(LIVE_CONSUMER)) != 0 || (t.nin && (rc = reap_live(LIVE_PRODUCER)) != 0))
		RUN_FAIL(&t, "%s: a peer ended with %d", run_label, rc);
	check_restored(&t, 0, 0);
	if (p->nkill == 1 && p->batch <= 1 && !p->between) {
		struct expect e;
		memset(&e, 0, sizeof(e));
		if (p->at[0] == KILL_AFTER_SEND)
			expect_after_send(&t, p->k[0], &e);
		else
			expect_after_release(&t, p->k[0], &e);
		check_counters(&t, &e);
		check_restored(&t, 1, e.gen);
	}
	check_inputs_drained(&t);
	topo_free(&t);
}

/* Events instance 1 goes through: sends, or releases (source: checkpoints). */
static uint64_t events(enum shape s, enum kill_at at)
{
	unsigned g = shapes[s].group;
	if (s == SOURCE || s == SOURCE3) /* N_MSGS sends, one checkpoint per sends_per_in */
		return at == KILL_AFTER_SEND ? N_MSGS : N_MSGS / shapes[s].sends_per_in;
	if (at == KILL_AFTER_SEND)
		return g ? (N_MSGS + g - 1) / g
			 : (uint64_t)shapes[s].nin * N_MSGS * shapes[s].sends_per_in;
	return (uint64_t)shapes[s].nin * N_MSGS;
}

/* The kill point of seed i: the first event, the last, then spread at
 * random, each residue of `period` (sends per input: between two sends of
 * one input, after the last) taken in turn. */
static uint64_t pick_k(enum shape s, enum kill_at at, uint32_t seed)
{
	uint64_t max = events(s, at);
	if (seed == 0)
		return 1;
	if (seed == 1)
		return max;
	unsigned period = at == KILL_AFTER_SEND && shapes[s].sends_per_in ? shapes[s].sends_per_in : 1;
	if (s == ZIP2)
		period = 2; /* after input 0's send or release, or input 1's */
	uint32_t r = seed * 2654435761u;
	uint64_t k = 1 + rnd_next(&r) % (max - period);
	return k - (k - 1) % period + (seed % period); /* k - 1 = seed (mod period) */
}

#define SEEDS 8u

static void kill_and_restart(enum shape s, enum kill_at at)
{
	for (uint32_t seed = 0; seed < SEEDS; seed++) {
		struct plan p = { .shape = s, .seed = seed, .nkill = 1, .at = { at },
				  .k = { pick_k(s, at, seed) } };
		run_plan(&p);
	}
}

#define KILL_TEST(fn, shape, at)                                                        \
	static void fn(void **state)                                                    \
	{                                                                               \
		(void)state;                                                            \
		kill_and_restart(shape, at);                                            \
	}

KILL_TEST(map_killed_after_send_repeats_nothing, MAP, KILL_AFTER_SEND)
KILL_TEST(map_killed_after_release_loses_nothing, MAP, KILL_AFTER_RELEASE)
KILL_TEST(fan3_killed_between_sends_of_one_input_repeats_nothing, FAN3, KILL_AFTER_SEND)
KILL_TEST(fan3_killed_after_release_loses_nothing, FAN3, KILL_AFTER_RELEASE)
KILL_TEST(split2_killed_between_outputs_repeats_nothing, SPLIT2, KILL_AFTER_SEND)
KILL_TEST(split2_killed_after_release_loses_nothing, SPLIT2, KILL_AFTER_RELEASE)
KILL_TEST(fold4_killed_before_its_checkpoint_sends_the_sum_once, FOLD4, KILL_AFTER_SEND)
KILL_TEST(fold4_killed_after_release_resumes_from_its_checkpoint, FOLD4, KILL_AFTER_RELEASE)
KILL_TEST(fold7_killed_after_the_rest_at_end_of_stream_sends_it_once, FOLD7, KILL_AFTER_SEND)
KILL_TEST(merge3_killed_after_send_repeats_nothing, MERGE3, KILL_AFTER_SEND)
KILL_TEST(merge3_killed_after_release_loses_nothing, MERGE3, KILL_AFTER_RELEASE)
KILL_TEST(zip2_killed_after_send_repeats_nothing, ZIP2, KILL_AFTER_SEND)
KILL_TEST(zip2_killed_between_releases_skips_the_covered_message, ZIP2, KILL_AFTER_RELEASE)
KILL_TEST(source_killed_before_its_checkpoint_resumes_without_repeat, SOURCE, KILL_AFTER_SEND)
KILL_TEST(source_killed_after_its_checkpoint_resumes_there, SOURCE, KILL_AFTER_RELEASE)
KILL_TEST(source3_killed_between_sends_resumes_without_repeat, SOURCE3, KILL_AFTER_SEND)
KILL_TEST(source3_killed_after_its_checkpoint_resumes_there, SOURCE3, KILL_AFTER_RELEASE)

/* Killed, restarted, the restart killed too (early, often among its
 * repeats), restarted again: still exactly once. */
static void killed_twice_still_exactly_once(void **state)
{
	(void)state;
	static const enum shape which[] = { MAP, FAN3, SPLIT2, FOLD4, MERGE3, ZIP2, SOURCE3 };
	for (unsigned w = 0; w < sizeof(which) / sizeof(which[0]); w++)
		for (uint32_t seed = 0; seed < 4; seed++) {
			enum kill_at a0 = seed & 1 ? KILL_AFTER_RELEASE : KILL_AFTER_SEND;
			enum kill_at a1 = seed & 2 ? KILL_AFTER_RELEASE : KILL_AFTER_SEND;
			/* the restart has at least 8 events left, so it dies too */
			uint64_t k0 = pick_k(which[w], a0, seed + 2), last = events(which[w], a0) - 8;
			struct plan p = { .shape = which[w], .seed = seed + 10, .nkill = 2,
					  .at = { a0, a1 }, .k = { k0 < last ? k0 : last, 1 + seed % 3 } };
			run_plan(&p);
		}
}

/* The same with every port batched (shmring_set_batch 8): releases and
 * commits become visible 8 at a time, or when an input's release publishes
 * the outputs first. A checkpoint must not cover input whose outputs are
 * still held back, nor a source's sends it has not published. */
static void batched_ports_still_exactly_once(void **state)
{
	(void)state;
	static const enum shape which[] = { MAP, FAN3, FOLD4, ZIP2, SOURCE, SOURCE3 };
	for (unsigned w = 0; w < sizeof(which) / sizeof(which[0]); w++)
		for (uint32_t seed = 0; seed < 6; seed++) {
			enum kill_at at = seed & 1 ? KILL_AFTER_RELEASE : KILL_AFTER_SEND;
			struct plan p = { .shape = which[w], .seed = seed, .nkill = 1, .at = { at },
					  .k = { pick_k(which[w], at, seed + 2) }, .batch = 8 };
			run_plan(&p);
		}
}

/* ---- the checkpoint API, in this process ---- */

/* Attach "k" here. The kernel closes the descriptors it inherits (the rings'
 * and the journal's), so it gets copies. */
static struct shmring_kernel *attach_here(struct topo *t)
{
	struct smr_ctl_ring *cr = smr_ctl_rings(t->ctl.h);
	for (unsigned r = 0; r < t->nin + t->nout; r++)
		cr[r].fd = dup(shmring_fd(r < t->nin ? t->in[r] : t->out[r - t->nin]));
	if (t->jnl_fd >= 0)
		smr_ctl_kernels(t->ctl.h)[0].journal_fd = dup(t->jnl_fd);
	env_for(t, 0);
	struct shmring_kernel *k = NULL;
	int rc = shmring_kernel_attach(&k);
	if (rc < 0)
		fail_msg("attach: %s", shmring_errmsg());
	return k;
}

/* Attach here, expecting a refusal: its error, and the message in msg. */
static int attach_refused(struct topo *t, char *msg, size_t cap)
{
	struct smr_ctl_ring *cr = smr_ctl_rings(t->ctl.h);
	for (unsigned r = 0; r < t->nin + t->nout; r++)
		cr[r].fd = dup(shmring_fd(r < t->nin ? t->in[r] : t->out[r - t->nin]));
	env_for(t, 0);
	struct shmring_kernel *k = NULL;
	int rc = shmring_kernel_attach(&k);
	assert_null(k);
	snprintf(msg, cap, "%s", shmring_errmsg());
	return rc;
}

/* Leave as a stopped kernel does: the ports stay open for a successor. */
static void stop_and_detach(struct topo *t, struct shmring_kernel *k)
{
	struct smr_ctl_kernel *kb = smr_ctl_kernels(t->ctl.h);
	atomic_store(&kb->stop, 1u);
	shmring_kernel_detach(k);
	atomic_store(&kb->stop, 0u);
}

static uint64_t jnl_gen(const struct topo *t)
{
	return atomic_load(&t->jnl.h->gen);
}

static void restore_is_0_on_first_start_then_the_last_state(void **s)
{
	(void)s;
	struct topo t;
	topo_build(&t, SOURCE, 1);
	struct shmring_kernel *k = attach_here(&t);
	char buf[64];
	assert_int_equal(shmring_kernel_restore(k, buf, sizeof(buf)), 0);
	/* no input message held: each checkpoint is published at once */
	assert_int_equal(shmring_kernel_checkpoint(k, "one", 3), 0);
	assert_int_equal(jnl_gen(&t), 1);
	assert_int_equal(shmring_kernel_checkpoint(k, "second", 6), 0);
	assert_int_equal(jnl_gen(&t), 2);
	stop_and_detach(&t, k);
	struct smr_ctl_kernel *kb = smr_ctl_kernels(t.ctl.h);
	assert_int_equal(atomic_load(&kb->resumes), 0);
	k = attach_here(&t);
	assert_int_equal(shmring_kernel_restore(k, buf, 5), -EMSGSIZE);
	assert_int_equal(shmring_kernel_restore(k, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "second", 6);
	assert_int_equal(atomic_load(&kb->resumes), 1);
	assert_int_equal(atomic_load(&kb->resumed_gen), 2);
	/* an empty state is a state too: restore says 0, the generation moves */
	assert_int_equal(shmring_kernel_checkpoint(k, NULL, 0), 0);
	assert_int_equal(jnl_gen(&t), 3);
	stop_and_detach(&t, k);
	topo_free(&t);
}

static void checkpoint_refuses_more_than_SHMRING_CHECKPOINT_MAX(void **s)
{
	(void)s;
	struct topo t;
	topo_build(&t, SOURCE, 1);
	struct shmring_kernel *k = attach_here(&t);
	uint8_t *big = malloc(SHMRING_CHECKPOINT_MAX + 1), *back = malloc(SHMRING_CHECKPOINT_MAX);
	assert_non_null(big);
	assert_non_null(back);
	for (size_t i = 0; i <= SHMRING_CHECKPOINT_MAX; i++)
		big[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(shmring_kernel_checkpoint(k, big, SHMRING_CHECKPOINT_MAX + 1), -EMSGSIZE);
	assert_int_equal(jnl_gen(&t), 0); /* nothing published */
	assert_int_equal(shmring_kernel_checkpoint(k, big, SHMRING_CHECKPOINT_MAX), 0);
	assert_int_equal(jnl_gen(&t), 1);
	stop_and_detach(&t, k);
	k = attach_here(&t);
	assert_int_equal(shmring_kernel_restore(k, back, SHMRING_CHECKPOINT_MAX - 1), -EMSGSIZE);
	assert_int_equal(shmring_kernel_restore(k, back, SHMRING_CHECKPOINT_MAX), SHMRING_CHECKPOINT_MAX);
	assert_memory_equal(back, big, SHMRING_CHECKPOINT_MAX);
	stop_and_detach(&t, k);
	free(big);
	free(back);
	topo_free(&t);
}

static void checkpoint_without_a_journal_is_ENOTSUP(void **s)
{
	(void)s;
	struct topo t;
	topo_build(&t, MAP, 0);
	struct shmring_kernel *k = attach_here(&t);
	assert_int_equal(shmring_kernel_checkpoint(k, "x", 1), -ENOTSUP);
	char buf[8];
	assert_int_equal(shmring_kernel_restore(k, buf, sizeof(buf)), 0);
	stop_and_detach(&t, k);
	topo_free(&t);
}

/* A 16-byte message is a 24-byte record (8-byte header): the positions a
 * checkpoint holds are ring positions, record ends. */
#define REC16 24u

static struct shmring *producer_here(struct topo *t, unsigned i)
{
	char v[32];
	struct shmring *p;
	snprintf(v, sizeof(v), "fd:%d", shmring_fd(t->in[i]));
	assert_int_equal(shmring_attach(v, SHMRING_ROLE_PRODUCER, &p), 0);
	return p;
}

static void checkpoint_is_published_with_the_release_of_the_held_message(void **s)
{
	(void)s;
	struct topo t;
	topo_build(&t, MAP, 1);
	struct shmring_kernel *k = attach_here(&t);
	struct shmring *p = producer_here(&t, 0), *in = shmring_kernel_input(k, 0);
	struct msg m = { 0, 1 };
	assert_int_equal(shmring_send(p, &m, sizeof(m), 0), 0);
	assert_int_equal(shmring_send(p, &m, sizeof(m), 0), 0);
	const void *b;
	size_t len;
	assert_int_equal(shmring_peek(in, &b, &len, 0), (int)sizeof(m));
	assert_int_equal(shmring_kernel_checkpoint(k, "a", 1), 0);
	assert_int_equal(jnl_gen(&t), 0); /* staged: the message is held */
	assert_int_equal(shmring_release(in), 0);
	assert_int_equal(jnl_gen(&t), 1);
	uint64_t gen, slen;
	const uint64_t *tails;
	const uint8_t *state;
	assert_int_equal(smr_jnl_current(&t.jnl, &gen, &tails, &state, &slen), 0);
	assert_int_equal(tails[0], REC16); /* it covers the message released with it */
	assert_int_equal(slen, 1);
	/* a release with nothing staged publishes nothing ... */
	assert_int_equal(shmring_peek(in, &b, &len, 0), (int)sizeof(m));
	assert_int_equal(shmring_release(in), 0);
	assert_int_equal(jnl_gen(&t), 1);
	/* ... and with nothing held, a checkpoint is published at once */
	assert_int_equal(shmring_kernel_checkpoint(k, "bb", 2), 0);
	assert_int_equal(smr_jnl_current(&t.jnl, &gen, &tails, &state, &slen), 0);
	assert_int_equal(gen, 2);
	assert_int_equal(tails[0], 2 * REC16);
	assert_memory_equal(state, "bb", 2);
	shmring_detach(p);
	stop_and_detach(&t, k);
	topo_free(&t);
}

/* ---- journals that lie ---- */

static int one_line(const char *msg)
{
	return msg[0] && !strchr(msg, '\n');
}

static void checkpoint_slot_of_another_generation_is_refused(void **s)
{
	(void)s;
	struct topo t;
	topo_build(&t, SOURCE, 1);
	struct shmring_kernel *k = attach_here(&t);
	assert_int_equal(shmring_kernel_checkpoint(k, "one", 3), 0);
	assert_int_equal(shmring_kernel_checkpoint(k, "two", 3), 0);
	stop_and_detach(&t, k);
	/* gen 2 names slot 0; make slot 0 say generation 4 */
	struct smr_jnl_slot *slot = (struct smr_jnl_slot *)(void *)t.jnl.slots[0];
	assert_int_equal(slot->gen, 2);
	slot->gen = 4;
	char msg[512];
	smr_ctl_kernels(t.ctl.h)[0].journal_fd = dup(t.jnl_fd);
	assert_int_equal(attach_refused(&t, msg, sizeof(msg)), -EBADMSG);
	assert_true(one_line(msg));
	assert_non_null(strstr(msg, "kernel 'k': its journal"));
	assert_non_null(strstr(msg, "restart the topology"));
	/* and a state length past the limit, the same */
	slot->gen = 2;
	slot->len = SHMRING_JNL_STATE_MAX + 1;
	smr_ctl_kernels(t.ctl.h)[0].journal_fd = dup(t.jnl_fd);
	assert_int_equal(attach_refused(&t, msg, sizeof(msg)), -EBADMSG);
	/* repaired, it is read again */
	slot->len = 3;
	k = attach_here(&t);
	char buf[8];
	assert_int_equal(shmring_kernel_restore(k, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "two", 3);
	stop_and_detach(&t, k);
	topo_free(&t);
}

static void checkpoint_position_off_a_record_boundary_is_refused(void **s)
{
	(void)s;
	struct topo t;
	topo_build(&t, MAP, 1);
	struct shmring_kernel *k = attach_here(&t);
	struct shmring *p = producer_here(&t, 0), *in = shmring_kernel_input(k, 0);
	struct msg m = { 0, 1 };
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmring_send(p, &m, sizeof(m), 0), 0);
	const void *b;
	size_t len;
	assert_int_equal(shmring_peek(in, &b, &len, 0), (int)sizeof(m));
	assert_int_equal(shmring_kernel_checkpoint(k, "a", 1), 0);
	assert_int_equal(shmring_release(in), 0);
	stop_and_detach(&t, k);
	uint64_t *tails = (uint64_t *)(void *)(t.jnl.slots[1] + sizeof(struct smr_jnl_slot));
	assert_int_equal(tails[0], REC16);
	char msg[512];
	static const uint64_t lies[] = { REC16 + 12, REC16 + 8, 100u * RING_CAP };
	for (unsigned i = 0; i < 3; i++) { /* mid-record, inside a record, past the ring */
		tails[0] = lies[i];
		smr_ctl_kernels(t.ctl.h)[0].journal_fd = dup(t.jnl_fd);
		assert_int_equal(attach_refused(&t, msg, sizeof(msg)), -EBADMSG);
		assert_true(one_line(msg));
		assert_non_null(strstr(msg, "no record boundary"));
	}
	/* the truth: the second message is covered, skipped at attach */
	tails[0] = 2 * REC16;
	k = attach_here(&t);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(t.in[0], &st), 0);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.msgs_out, 2);
	assert_int_equal(shmring_peek(shmring_kernel_input(k, 0), &b, &len, 0), (int)sizeof(m));
	assert_int_equal(shmring_release(shmring_kernel_input(k, 0)), 0);
	assert_int_equal(shmring_stats(t.in[0], &st), 0);
	assert_int_equal(st.msgs_out, 3);
	assert_int_equal(st.bytes_out, st.bytes_in); /* a skipped message's bytes count as out */
	shmring_detach(p);
	stop_and_detach(&t, k);
	topo_free(&t);
}

static void journal_descriptor_that_is_no_journal_is_refused(void **s)
{
	(void)s;
	struct topo t;
	char msg[512];
	topo_build(&t, MAP, 1);
	struct smr_ctl_kernel *kb = smr_ctl_kernels(t.ctl.h);
	/* the control segment's own descriptor: a memfd, not a journal */
	kb->journal_fd = t.ctl_fd;
	assert_int_equal(attach_refused(&t, msg, sizeof(msg)), -EPROTO);
	assert_true(one_line(msg));
	assert_non_null(strstr(msg, "as its journal, which is none"));
	assert_true(fcntl(t.ctl_fd, F_GETFD) >= 0); /* not closed */
	/* a number that is not open */
	kb->journal_fd = 1000;
	assert_int_equal(attach_refused(&t, msg, sizeof(msg)), -EPROTO);
	/* a journal made for other ports (2 inputs, not 1) */
	int other = smr_jnl_create("lineage", "k", 2, 1);
	assert_true(other >= 0);
	kb->journal_fd = other;
	assert_int_equal(attach_refused(&t, msg, sizeof(msg)), -EBADMSG);
	assert_true(one_line(msg));
	assert_non_null(strstr(msg, "journal"));
	/* ours, with its magic scribbled */
	t.jnl.h->magic ^= 1;
	kb->journal_fd = dup(t.jnl_fd);
	assert_int_equal(attach_refused(&t, msg, sizeof(msg)), -EBADMSG);
	assert_non_null(strstr(msg, "not a shmring journal"));
	t.jnl.h->magic ^= 1;
	topo_free(&t);
}

/* ---- lineage that lies: killed after a send, corrupted, restarted ---- */

/* Start a MAP run and kill the first instance after send k. */
static void start_killed(struct topo *t, uint64_t k, int allow_dups)
{
	topo_build(t, MAP, 1);
	t->kill = KILL_AFTER_SEND;
	t->kill_k = k;
	t->allow_dups = allow_dups;
	snprintf(run_label, sizeof(run_label), "1:1 map, killed after send #%llu, lineage corrupted",
		 (unsigned long long)k);
	live[LIVE_PRODUCER] = tu_fork(producer_child, t);
	live[LIVE_CONSUMER] = tu_fork(consumer_child, t);
	run_instance(t, 0, KILL_AFTER_SEND, k);
	t->kill = KILL_NONE;
	t->instance = 1;
}

static uint64_t newest_head_after(const struct smr_jnl_entry *e)
{
	uint64_t a = atomic_load(&e->v[0].head_after), b = atomic_load(&e->v[1].head_after);
	return a > b ? a : b;
}

static void lineage_past_the_output_head_is_ignored_at_least_once(void **s)
{
	(void)s;
	struct topo t;
	start_killed(&t, 100, 1);
	/* both versions claim records the output never got: not believed, so
	 * the repeat of the last input goes through (at-least-once) */
	struct smr_jnl_entry *e = smr_jnl_entry(&t.jnl, 0, 0);
	assert_non_null(e);
	uint64_t past = newest_head_after(e) + 16u * RING_CAP;
	atomic_store(&e->v[0].head_after, past);
	atomic_store(&e->v[1].head_after, past + 40);
	live[LIVE_KERNEL] = tu_fork(kernel_child, &t);
	int rc = reap_live(LIVE_KERNEL);
	if (rc != 0 || (rc = reap_live(LIVE_CONSUMER)) != 0 || (rc = reap_live(LIVE_PRODUCER)) != 0)
		RUN_FAIL(&t, "%s: a child ended with %d", run_label, rc);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(t.out[0], &st), 0);
	if (st.suppressed != 0 || t.rep->dups != 1 || t.rep->got[0] != N_MSGS + 1)
		RUN_FAIL(&t, "%s: %llu suppressed, %llu repeats among %llu records; want 0, 1, %u",
			 run_label, (unsigned long long)st.suppressed, (unsigned long long)t.rep->dups,
			 (unsigned long long)t.rep->got[0], N_MSGS + 1);
	topo_free(&t);
}

static void lineage_naming_an_input_never_produced_is_refused(void **s)
{
	(void)s;
	struct topo t;
	start_killed(&t, 100, 0);
	struct smr_jnl_entry *e = smr_jnl_entry(&t.jnl, 0, 0);
	assert_non_null(e);
	for (int v = 0; v < 2; v++)
		atomic_fetch_add(&e->v[v].p, 1000u * RING_CAP);
	live[LIVE_KERNEL] = tu_fork(kernel_child, &t);
	int rc = reap_live(LIVE_KERNEL);
	const char *why = t.rep->why[WHY_KERNEL];
	if (rc != 20 || !one_line(why) || !strstr(why, "lineage names an input position never produced"))
		RUN_FAIL(&t, "%s: the restart ended with %d, saying '%s'; want 20 (attach refused) "
			 "and one line naming the lineage", run_label, rc, why);
	kill_live();
	topo_free(&t);
}

/*
 * A kill inside a commit, between the lineage entry and the release of the
 * record's header, leaves a version naming a record the output never got
 * (journal.h: valid only at or before the head a successor finds). The
 * first restart finds it invalid; but once that restart's sends to other
 * inputs move the head past it, a second restart must still not believe
 * it, or it drops that input's next record as a repeat: lost. Emulated
 * here after a clean kill (after a release): input i's next message
 * "peeked", its record "reserved" at the output's head, the entry written,
 * the header never released.
 */
static void plant_unpublished_version(struct topo *t)
{
	unsigned i = t->seed % t->nin;
	struct shmring *in = t->in[i], *out = t->out[0];
	uint64_t tail = atomic_load(&in->hdr->tail.pos), head = atomic_load(&out->hdr->head.pos);
	struct smr_jnl_entry *e = smr_jnl_entry(&t->jnl, 0, i);
	assert_non_null(e);
	unsigned v = atomic_load(&e->v[0].head_after) <= atomic_load(&e->v[1].head_after) ? 0 : 1;
	atomic_store(&e->v[v].head_after, UINT64_MAX);
	atomic_store(&e->v[v].p, tail);
	atomic_store(&e->v[v].n, 1);
	atomic_store(&e->v[v].head_after, head + sizeof(struct rec) + 8); /* one record on */
}

static void lineage_of_a_record_never_published_is_not_believed_later(void **state)
{
	(void)state;
	for (uint32_t seed = 0; seed < SEEDS; seed++) {
		struct plan p = { .shape = MERGE3, .seed = seed, .nkill = 2,
				  .at = { KILL_AFTER_RELEASE, KILL_AFTER_SEND },
				  .k = { pick_k(MERGE3, KILL_AFTER_RELEASE, seed + 2), 1 },
				  .between = plant_unpublished_version };
		run_plan(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restore_is_0_on_first_start_then_the_last_state),
		cmocka_unit_test(checkpoint_refuses_more_than_SHMRING_CHECKPOINT_MAX),
		cmocka_unit_test(checkpoint_without_a_journal_is_ENOTSUP),
		cmocka_unit_test(checkpoint_is_published_with_the_release_of_the_held_message),
		cmocka_unit_test(checkpoint_slot_of_another_generation_is_refused),
		cmocka_unit_test(checkpoint_position_off_a_record_boundary_is_refused),
		cmocka_unit_test(journal_descriptor_that_is_no_journal_is_refused),
		cmocka_unit_test(lineage_past_the_output_head_is_ignored_at_least_once),
		cmocka_unit_test(lineage_naming_an_input_never_produced_is_refused),
		cmocka_unit_test(map_killed_after_send_repeats_nothing),
		cmocka_unit_test(map_killed_after_release_loses_nothing),
		cmocka_unit_test(fan3_killed_between_sends_of_one_input_repeats_nothing),
		cmocka_unit_test(fan3_killed_after_release_loses_nothing),
		cmocka_unit_test(split2_killed_between_outputs_repeats_nothing),
		cmocka_unit_test(split2_killed_after_release_loses_nothing),
		cmocka_unit_test(fold4_killed_before_its_checkpoint_sends_the_sum_once),
		cmocka_unit_test(fold4_killed_after_release_resumes_from_its_checkpoint),
		cmocka_unit_test(fold7_killed_after_the_rest_at_end_of_stream_sends_it_once),
		cmocka_unit_test(merge3_killed_after_send_repeats_nothing),
		cmocka_unit_test(merge3_killed_after_release_loses_nothing),
		cmocka_unit_test(zip2_killed_after_send_repeats_nothing),
		cmocka_unit_test(zip2_killed_between_releases_skips_the_covered_message),
		cmocka_unit_test(source_killed_before_its_checkpoint_resumes_without_repeat),
		cmocka_unit_test(source_killed_after_its_checkpoint_resumes_there),
		cmocka_unit_test(source3_killed_between_sends_resumes_without_repeat),
		cmocka_unit_test(source3_killed_after_its_checkpoint_resumes_there),
		cmocka_unit_test(killed_twice_still_exactly_once),
		cmocka_unit_test(batched_ports_still_exactly_once),
		cmocka_unit_test(lineage_of_a_record_never_published_is_not_believed_later),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
