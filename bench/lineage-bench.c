/* SPDX-License-Identifier: MIT */
/*
 * lineage-bench: what exactly-once restarts cost on the 64-byte path. Two
 * kernels, "p" (a source: reserve, fill, commit) and "c" (peek, read,
 * release), attached through hand-built control segments (as kernel-test
 * builds them) in two forked processes pinned to cores 0 and 1. Two
 * variants, interleaved in every round:
 *
 *   plain     no journal: the kernels as before exactly-once (at-least-once)
 *   lineage   a journal each: p writes a lineage entry per commit, c's peek
 *             and release go through their hooks (lineage.c)
 *
 * Every round first times a raw cache-line round trip between the two
 * processes, which says where the host placed the two vCPUs ("near" under
 * 300 ns, else "far"); medians are taken per placement, never across both.
 * Prints, per placement, the median messages/s of each variant over its
 * rounds with the interquartile spread, and the ratio lineage / plain.
 *
 *   lineage-bench [--rounds N] [--msgs N] [--size B] [--quick]
 *
 * Exit: 0 ran; 1 a message arrived wrong or a kernel failed; 100 bad usage;
 * 111 the segments or rings could not be made.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include "control.h"
#include "journal.h"
#include "test-util.h"

#define USAGE "usage: lineage-bench [--rounds N] [--msgs N] [--size B] [--quick]\n" \
	      "  --rounds: rounds, each timing both variants (default 9)\n" \
	      "  --msgs: messages per variant and round (default 5000000)\n" \
	      "  --size: payload bytes (default 64)\n" \
	      "  --quick: 2 rounds of 100000 messages, a smoke run (CI): no claims\n"
#define MAX_ROUNDS 200
#define NEAR_NS 300.0

static long g_msgs = 5000000;
static size_t g_size = 64;

static void die(const char *what, int rc)
{
	fprintf(stderr, "lineage-bench: %s: %s\n", what, strerror(-rc));
	exit(111);
}

/* Kernels p (0) -> c (1) over one 1 MiB ring; journals when lineage. The
 * segment is published ACTIVE, so attach returns once the kernel is ready. */
static int make_topo(int lineage, struct smr_ctl *ctl, struct shmring **ring, int jfd[2])
{
	int fd = smr_ctl_create(lineage ? "bench-lin" : "bench-plain", 2, 1, ctl);
	if (fd < 0)
		die("cannot create a control segment", fd);
	struct smr_ctl_header *h = ctl->h;
	struct smr_ctl_kernel *k = smr_ctl_kernels(h);
	strcpy(k[0].name, "p");
	strcpy(k[1].name, "c");
	int rc = shmring_create(NULL, NULL, ring);
	if (rc < 0)
		die("cannot create a ring", rc);
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	cr[0] = (struct smr_ctl_ring){ .from_kernel = 0, .to_kernel = 1, .fd = shmring_fd(*ring),
				       .wait = SHMRING_WAIT_ADAPTIVE,
				       .capacity = shmring_capacity(*ring) };
	strcpy(cr[0].from_port, "out");
	strcpy(cr[0].to_port, "in");
	for (int i = 0; i < 2; i++) {
		jfd[i] = -1;
		if (lineage && (jfd[i] = smr_jnl_create("bench", k[i].name, i, 1 - i)) < 0)
			die("cannot create a journal", jfd[i]);
		k[i].journal_fd = jfd[i];
	}
	h->state = SMR_TOPO_ACTIVE;
	smr_ctl_publish(h);
	return fd;
}

/* What the two sides and the parent share. */
struct shared {
	_Atomic uint64_t line; /* the raw round trip's cache line */
	char pad_[56];
	double rt;             /* c: ns per raw round trip */
	double result;         /* c: messages per second */
};

#define RT_STEPS 20000u

/* A forked side: it inherits the ring, journal and control descriptors
 * under the numbers the segment names; attach closes what it takes. */
struct side {
	int ctl_fd, index, cpu;
	struct shared *sh;
};

static int run_p(struct shmring_kernel *k)
{
	struct shmring *out = shmring_kernel_port(k, "out");
	for (long i = 0; i < g_msgs; i++) {
		void *b;
		if (shmring_reserve(out, g_size, &b, -1) < 0)
			return 1;
		memcpy(b, &i, sizeof(i));
		shmring_commit(out, g_size);
	}
	return shmring_kernel_detach(k);
}

static int run_c(struct shmring_kernel *k, double *result)
{
	struct shmring *in = shmring_kernel_port(k, "in");
	uint64_t t0 = 0;
	for (long i = 0; i < g_msgs; i++) {
		const void *m;
		size_t len;
		if (shmring_peek(in, &m, &len, -1) <= 0)
			return 1;
		if (i == 0)
			t0 = tu_now_ns();
		long v;
		memcpy(&v, m, sizeof(v));
		shmring_release(in);
		if (v != i || len != g_size)
			return 1;
	}
	*result = (double)(g_msgs - 1) * 1e9 / (double)(tu_now_ns() - t0);
	return shmring_kernel_detach(k) ? 1 : 0;
}

static int side_main(void *arg)
{
	struct side *s = arg;
	tu_pin_cpu(s->cpu);
	/* The raw round trip first: p bumps even values, c odd ones; c times
	 * it from its second turn. */
	uint64_t t0 = 0;
	for (uint64_t v = (uint64_t)s->index; v < RT_STEPS; v += 2) {
		while (atomic_load_explicit(&s->sh->line, memory_order_acquire) != v)
			;
		if (v == (uint64_t)s->index + 2)
			t0 = tu_now_ns();
		atomic_store_explicit(&s->sh->line, v + 1, memory_order_release);
	}
	if (s->index == 1) /* round trips from v == 2 to the end */
		s->sh->rt = (double)(tu_now_ns() - t0) / ((RT_STEPS - 4) / 2.0);
	char env[32];
	snprintf(env, sizeof(env), "fd:%d", s->ctl_fd);
	setenv("SHMRING_CONTROL", env, 1);
	snprintf(env, sizeof(env), "%d", s->index);
	setenv("SHMRING_KERNEL", env, 1);
	struct shmring_kernel *k;
	if (shmring_kernel_attach(&k) < 0) {
		fprintf(stderr, "lineage-bench: attach: %s\n", shmring_errmsg());
		return 1;
	}
	return s->index == 0 ? run_p(k) : run_c(k, &s->sh->result);
}

/* One variant once: messages/s, and the raw round trip in ns (*rt). */
static double run_variant(int lineage, double *rt)
{
	struct smr_ctl ctl;
	struct shmring *ring;
	int jfd[2];
	int fd = make_topo(lineage, &ctl, &ring, jfd);
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("cannot map a shared page", -12);
	struct side s[2];
	pid_t pid[2];
	for (int i = 0; i < 2; i++) {
		s[i] = (struct side){ .ctl_fd = fd, .index = i, .cpu = i, .sh = sh };
		pid[i] = tu_fork(side_main, &s[i]);
	}
	int bad = 0;
	for (int i = 0; i < 2; i++)
		bad |= tu_reap(pid[i]) != 0;
	double r = sh->result;
	*rt = sh->rt;
	munmap(sh, sizeof(*sh));
	shmring_detach(ring);
	for (int i = 0; i < 2; i++)
		if (jfd[i] >= 0)
			close(jfd[i]);
	smr_ctl_detach(&ctl);
	close(fd);
	if (bad) {
		fprintf(stderr, "lineage-bench: a kernel failed or a message arrived wrong\n");
		exit(1);
	}
	return r;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median and interquartile spread (% of the median) of n values, sorted. */
static double median(double *v, int n, double *spread)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	double m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*spread = m > 0 ? (v[(3 * n) / 4 < n ? (3 * n) / 4 : n - 1] - v[n / 4]) / m * 100 : 0;
	return m;
}

static void report(const char *where, double *plain, double *lin, int n)
{
	if (n == 0)
		return;
	double sp, sl;
	double mp = median(plain, n, &sp), ml = median(lin, n, &sl);
	printf("%s placement, %d round%s, %zu B messages:\n", where, n, n == 1 ? "" : "s", g_size);
	printf("  plain (no journal)   %8.2f M msg/s  (spread %.1f%%)\n", mp / 1e6, sp);
	printf("  lineage (journal)    %8.2f M msg/s  (spread %.1f%%)\n", ml / 1e6, sl);
	printf("  ratio lineage/plain  %8.3f\n", mp > 0 ? ml / mp : 0);
}

int main(int argc, char **argv)
{
	int rounds = 9;
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' }, { "msgs", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' }, { "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 'm')
			g_msgs = atol(optarg);
		else if (c == 's')
			g_size = (size_t)atol(optarg);
		else if (c == 'q')
			rounds = 2, g_msgs = 100000;
		else
			return fputs(USAGE, c == 'h' ? stdout : stderr), c == 'h' ? 0 : 100;
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || g_msgs < 2 || g_size < sizeof(long) ||
	    g_size > 65536 || optind != argc)
		return fputs(USAGE, stderr), 100;
	double p[2][MAX_ROUNDS], l[2][MAX_ROUNDS];
	int n[2] = { 0, 0 };
	for (int r = 0; r < rounds; r++) {
		double rt0, rt1, a, b;
		/* Alternate which goes first, so drift does not favour one. */
		if (r % 2) {
			b = run_variant(1, &rt1);
			a = run_variant(0, &rt0);
		} else {
			a = run_variant(0, &rt0);
			b = run_variant(1, &rt1);
		}
		int near0 = rt0 < NEAR_NS, near1 = rt1 < NEAR_NS;
		printf("round %d: raw round trip %.0f / %.0f ns (%s): plain %.2f, lineage %.2f M msg/s%s\n",
		       r + 1, rt0, rt1, near0 ? "near" : "far", a / 1e6, b / 1e6,
		       near0 != near1 ? " -- placement changed within the round: left out" : "");
		if (near0 != near1)
			continue;
		p[near0][n[near0]] = a;
		l[near0][n[near0]++] = b;
	}
	report("near", p[1], l[1], n[1]);
	report("far", p[0], l[0], n[0]);
	return 0;
}
