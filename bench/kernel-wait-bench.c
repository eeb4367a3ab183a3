/* SPDX-License-Identifier: MIT */
/*
 * kernel-wait-bench: what input priorities add to a kernel's wait. One
 * process attaches as kernel "k" of two hand-built control segments (as
 * kernel-test builds them), each with four inputs that all hold a message,
 * so every call finds them ready and returns at once: the cost measured is
 * the call itself (flush of every port, stop check, scan of the inputs).
 * Three variants, interleaved in every round:
 *
 *   wait                 shmring_kernel_wait, the reference
 *   wait_ready normal    shmring_kernel_wait_ready, every input normal
 *   wait_ready high      shmring_kernel_wait_ready, the last input high
 *
 * Prints the median ns per call over the rounds with the interquartile
 * spread, and the ratio of each wait_ready variant to wait.
 *
 *   kernel-wait-bench [--rounds N] [--calls N] [--quick]
 *
 * Exit: 0 ran; 1 a call returned something else than 4 ready inputs, in
 * the wrong order; 100 bad usage; 111 the segments or rings could not be
 * made.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include "control.h"
#include "test-util.h"

#define USAGE "usage: kernel-wait-bench [--rounds N] [--calls N] [--quick]\n" \
	      "  --rounds: rounds, each timing every variant once (default 9)\n" \
	      "  --calls: calls per variant and round (default 1000000)\n" \
	      "  --quick: 3 rounds of 10000 calls, a smoke run (CI): no claims\n"

#define NIN 4u        /* inputs of the kernel under test, all ready */
#define MAX_ROUNDS 1000

enum variant { V_WAIT, V_READY_NORMAL, V_READY_HIGH, NVARIANTS };
static const char *const variant_names[NVARIANTS] = {
	"shmring_kernel_wait", "shmring_kernel_wait_ready, all normal",
	"shmring_kernel_wait_ready, one high",
};

/* One topology: kernel "k" (index 0) with inputs i0..i3, fed by "peer". */
struct topo {
	struct smr_ctl ctl;
	int ctl_fd;
	struct shmring *feed[NIN]; /* the producer ends, this process's */
	struct shmring_kernel *k;
};

static int die(const char *what, int rc)
{
	fprintf(stderr, "kernel-wait-bench: %s: %s\n", what, strerror(-rc));
	exit(111);
}

/* The control segment of one topology, input NIN-1 of priority last_prio,
 * published ACTIVE so attach returns at once; every input gets a message. */
static void make_topo(struct topo *t, const char *name, int32_t last_prio)
{
	int fd = smr_ctl_create(name, 2, NIN, &t->ctl);
	if (fd < 0)
		die("cannot create a control segment", fd);
	t->ctl_fd = fd;
	struct smr_ctl_header *h = t->ctl.h;
	strcpy(smr_ctl_kernels(h)[0].name, "k");
	strcpy(smr_ctl_kernels(h)[1].name, "peer");
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	for (unsigned r = 0; r < NIN; r++) {
		struct shmring_opts o;
		shmring_opts_init(&o);
		o.role = SHMRING_ROLE_PRODUCER;
		o.capacity = 4096;
		int rc = shmring_create(NULL, &o, &t->feed[r]);
		if (rc < 0)
			die("cannot create a ring", rc);
		cr[r] = (struct smr_ctl_ring){ .from_kernel = 1, .to_kernel = 0,
					       .fd = dup(shmring_fd(t->feed[r])), /* attach closes it */
					       .wait = SHMRING_WAIT_ADAPTIVE,
					       .capacity = shmring_capacity(t->feed[r]),
					       .to_priority = r == NIN - 1 ? last_prio : SMR_PRIO_NORMAL };
		snprintf(cr[r].from_port, SHMRING_CTL_NAME, "o%u", r);
		snprintf(cr[r].to_port, SHMRING_CTL_NAME, "i%u", r);
		if ((rc = shmring_send(t->feed[r], "x", 1, 0)) < 0)
			die("cannot fill a ring", rc);
	}
	h->state = SMR_TOPO_ACTIVE;
	smr_ctl_publish(h);
	char v[32];
	snprintf(v, sizeof(v), "fd:%d", dup(fd)); /* attach closes it */
	setenv("SHMRING_CONTROL", v, 1);
	setenv("SHMRING_KERNEL", "0", 1);
	int rc = shmring_kernel_attach(&t->k);
	if (rc < 0) {
		fprintf(stderr, "kernel-wait-bench: attach: %s\n", shmring_errmsg());
		exit(111);
	}
}

static void free_topo(struct topo *t)
{
	shmring_kernel_detach(t->k);
	for (unsigned r = 0; r < NIN; r++)
		shmring_detach(t->feed[r]);
	smr_ctl_detach(&t->ctl);
	close(t->ctl_fd);
}

/* ns per call of variant v over calls calls; exits 1 on a wrong answer. */
static double time_variant(enum variant v, struct topo *normal, struct topo *high, long calls)
{
	struct shmring_kernel *k = v == V_READY_HIGH ? high->k : normal->k;
	struct shmring *ready[NIN];
	long wrong = 0;
	uint64_t t0 = tu_now_ns();
	for (long i = 0; i < calls; i++)
		wrong += (v == V_WAIT ? shmring_kernel_wait(k, 0)
				      : shmring_kernel_wait_ready(k, 0, ready, NIN)) != (int)NIN;
	double ns = (double)(tu_now_ns() - t0) / (double)calls;
	/* the answer, checked once, outside the timed loop */
	struct shmring *first = v == V_READY_HIGH ? shmring_kernel_input(k, NIN - 1)
						  : shmring_kernel_input(k, 0);
	if (wrong || (v != V_WAIT && ready[0] != first)) {
		fprintf(stderr, "kernel-wait-bench: %s did not report the %u inputs in priority "
			"order: a bug in the wait\n", variant_names[v], NIN);
		exit(1);
	}
	return ns;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median and the interquartile range of n sorted samples. */
static void summarise(double *s, int n, double *median, double *iqr)
{
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	*median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	*iqr = s[(3 * (n - 1)) / 4] - s[(n - 1) / 4];
}

static long parse_count(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v > max) {
		fprintf(stderr, "kernel-wait-bench: '%s' is not a count from 1 to %ld\n%s", s, max,
			USAGE);
		exit(100);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "rounds", required_argument, 0, 'r' },
					      { "calls", required_argument, 0, 'c' },
					      { "quick", no_argument, 0, 'q' },
					      { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
	long rounds = 9, calls = 1000000;
	for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (o == 'r')
			rounds = parse_count(optarg, MAX_ROUNDS);
		else if (o == 'c')
			calls = parse_count(optarg, 1000000000L);
		else if (o == 'q')
			rounds = 3, calls = 10000;
		else
			return fputs(USAGE, o == 'h' ? stdout : stderr), o == 'h' ? 0 : 100;
	}
	if (optind < argc)
		return fprintf(stderr, "kernel-wait-bench: unexpected '%s'\n%s", argv[optind], USAGE), 100;
	char name[SHMRING_CTL_NAME];
	struct topo normal, high;
	make_topo(&normal, tu_name(name, sizeof(name), "waitn"), SMR_PRIO_NORMAL);
	make_topo(&high, tu_name(name, sizeof(name), "waith"), SMR_PRIO_HIGH);
	static double samples[NVARIANTS][MAX_ROUNDS];
	for (long r = 0; r < rounds; r++)
		for (int j = 0; j < NVARIANTS; j++) { /* a rotating order: no variant always first */
			enum variant v = (enum variant)((r + j) % NVARIANTS);
			samples[v][r] = time_variant(v, &normal, &high, calls);
		}
	printf("kernel-wait-bench: %u ready inputs, %ld calls a variant, %ld rounds: median ns "
	       "per call (interquartile range)\n", NIN, calls, rounds);
	double med[NVARIANTS], iqr;
	for (int v = 0; v < NVARIANTS; v++) {
		summarise(samples[v], (int)rounds, &med[v], &iqr);
		printf("%-40s %8.1f ns  (%.1f)\n", variant_names[v], med[v], iqr);
	}
	printf("ratio to shmring_kernel_wait: all normal %.3f, one high %.3f\n",
	       med[V_READY_NORMAL] / med[V_WAIT], med[V_READY_HIGH] / med[V_WAIT]);
	free_topo(&normal);
	free_topo(&high);
	return 0;
}
