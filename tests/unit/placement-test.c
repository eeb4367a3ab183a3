/* SPDX-License-Identifier: MIT */
/* placement-test: the planner on synthetic machines this one is not. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "placement.h"
#include "../common/test-util.h"

/* 2 packages, a NUMA node each, 2 L3 per package, 4 cores per L3, SMT 2:
 * PUs 0-31, core c = PUs 2c and 2c+1, L3 = 8 PUs, package = 16 PUs. */
#define BIG "pack:2 [numa] l3:2 core:4 pu:2"

static char err[512];

static hwloc_topology_t machine(const char *synthetic)
{
	hwloc_topology_t hw;
	assert_int_equal(hwloc_topology_init(&hw), 0);
	assert_int_equal(hwloc_topology_set_synthetic(hw, synthetic), 0);
	assert_int_equal(hwloc_topology_load(hw), 0);
	return hw;
}

/* A chain k0 -> k1 -> ... of n kernels, cpu: auto unless pin0 >= 0. */
static struct topology *chain(size_t n, int pin0)
{
	struct tu_text y;
	FILE *f = tu_text_open(&y);
	assert_non_null(f);
	fprintf(f, "topology: chain\nkernels:\n");
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "  - { name: k%zu, exec: /bin/true", i);
		if (i == 0 && pin0 >= 0)
			fprintf(f, ", cpu: %d", pin0);
		if (i > 0)
			fprintf(f, ", inputs: [in]");
		if (i + 1 < n)
			fprintf(f, ", outputs: [out]");
		fprintf(f, " }\n");
	}
	fprintf(f, "rings:\n");
	for (size_t i = 0; i + 1 < n; i++)
		fprintf(f, "  - { from: k%zu.out, to: k%zu.in }\n", i, i + 1);
	assert_non_null(tu_text_close(&y));
	struct topology *t;
	if (topo_parse("chain.yaml", y.s, y.len, &t, err, sizeof(err)))
		fail_msg("%s", err);
	free(y.s);
	return t;
}

/* What `shmring-supervisor check` prints for the plan; the caller frees it. */
static char *plan_text(const struct topology *t, const struct topo_plan *p)
{
	struct tu_text x;
	FILE *f = tu_text_open(&x);
	assert_non_null(f);
	topo_plan_print(f, t, p);
	char *out = tu_text_close(&x);
	assert_non_null(out);
	return out;
}

static void pipeline_neighbours_share_a_cache_and_not_a_core(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine(BIG);
	struct topology *t = chain(3, -1);
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(p->ncpus[i], 1);
		assert_int_equal(p->placed_auto[i], 1);
		assert_int_equal(p->cpus[i][0], (int)(2 * i)); /* first PU of cores 0, 1, 2 */
	}
	assert_string_equal(p->ring_cache[0], "L3");
	assert_string_equal(p->ring_cache[1], "L3");
	assert_int_equal(p->ring_numa[0], 0);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void kernels_spread_over_cores_before_sharing_one(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine(BIG);
	struct topology *t = chain(18, -1);
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(p->cpus[i][0], (int)(2 * i)); /* one per core */
	assert_int_equal(p->cpus[16][0], 1);                    /* then SMT siblings */
	assert_int_equal(p->cpus[17][0], 3);
	assert_string_equal(p->ring_cache[2], "L3");             /* k2 -> k3: PUs 4, 6 */
	assert_string_equal(p->ring_cache[3], "package");        /* PUs 6 -> 8: next L3 */
	assert_string_equal(p->ring_cache[7], "machine");        /* PUs 14 -> 16: next package */
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void auto_kernels_avoid_the_core_of_a_pinned_one(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine(BIG);
	struct topology *t = chain(3, 1); /* k0 pinned to PU 1 = core 0's sibling */
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	assert_int_equal(p->placed_auto[0], 0);
	assert_int_equal(p->cpus[0][0], 1);
	assert_int_equal(p->cpus[1][0], 2);
	assert_int_equal(p->cpus[2][0], 4);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

/* Other running topologies' kernels on PUs 0, 2 (two), 3 and 9: cores 0
 * and 1 hold them (1 and 3 kernels), core 4 one. */
static struct topo_others others_on(unsigned *on_cpu, int ncpu)
{
	memset(on_cpu, 0, (size_t)ncpu * sizeof(*on_cpu));
	on_cpu[0] = 1;
	on_cpu[2] = 2;
	on_cpu[3] = 1;
	on_cpu[9] = 1;
	return (struct topo_others){ .on_cpu = on_cpu, .ncpu = ncpu, .kernels = 5,
				     .topologies = 2 };
}

static void auto_kernels_go_where_no_other_topology_runs(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine(BIG);
	struct topology *t = chain(3, -1);
	unsigned on[32];
	struct topo_others o = others_on(on, 32);
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, &o, &p, err, sizeof(err)), 0);
	/* cores 0, 1 and 4 are used elsewhere: the free cores 2, 3, 5 */
	assert_int_equal(p->cpus[0][0], 4);
	assert_int_equal(p->cpus[1][0], 6);
	assert_int_equal(p->cpus[2][0], 10);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(p->shares_cpu[i], 0);
	char *x = plan_text(t, p);
	assert_non_null(strstr(x, "cpus used by 5 kernels of 2 other running topologies: "
				  "0 (1), 2 (2), 3 (1), 9 (1)\n"));
	free(x);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void with_no_free_core_the_least_used_come_first(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine("core:3 pu:1");
	struct topology *t = chain(3, -1);
	unsigned on[3] = { 2, 1, 3 };
	struct topo_others o = { .on_cpu = on, .ncpu = 3, .kernels = 6, .topologies = 1 };
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, &o, &p, err, sizeof(err)), 0);
	assert_int_equal(p->cpus[0][0], 1);
	assert_int_equal(p->cpus[1][0], 0);
	assert_int_equal(p->cpus[2][0], 2);
	char *x = plan_text(t, p);
	assert_non_null(strstr(x, "of 1 other running topology: 0 (2), 1 (1), 2 (3)\n"));
	free(x);
	topo_plan_free(p);
	/* nothing else running: the plan and its text are as before */
	o.kernels = 0;
	assert_int_equal(topo_place(t, hw, &o, &p, err, sizeof(err)), 0);
	assert_int_equal(p->cpus[0][0], 0);
	x = plan_text(t, p);
	assert_null(strstr(x, "other running"));
	free(x);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void more_kernels_than_cpus_share_round_robin(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine("core:2 pu:1");
	struct topology *t = chain(3, -1);
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	assert_int_equal(p->cpus[0][0], 0);
	assert_int_equal(p->cpus[1][0], 1);
	assert_int_equal(p->cpus[2][0], 0);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void ring_memory_follows_the_consumer_numa_node(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine(BIG);
	const char *y = "topology: x\nkernels:\n"
			"  - { name: a, exec: /bin/true, cpu: 0, outputs: [out] }\n"
			"  - { name: b, exec: /bin/true, cpu: [16, 17], inputs: [in] }\n"
			"rings:\n  - { from: a.out, to: b.in }\n";
	struct topology *t;
	struct topo_plan *p;
	assert_int_equal(topo_parse("x.yaml", y, strlen(y), &t, err, sizeof(err)), 0);
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	assert_int_equal(p->ncpus[1], 2);
	assert_int_equal(p->ring_numa[0], 1);
	assert_string_equal(p->ring_cache[0], "machine");
	char *out = plan_text(t, p);
	assert_non_null(strstr(out, "16,17"));
	assert_non_null(strstr(out, "a.out -> b.in"));
	free(out);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void a_cpu_the_machine_lacks_is_an_error(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine("core:2 pu:1");
	struct topology *t = chain(2, 5);
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), -EINVAL);
	assert_null(p);
	assert_non_null(strstr(err, "chain.yaml:3: kernel 'k0': cpu 5 does not exist on this machine (2 cpus)"));
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void fan_out_places_workers_next_to_their_source(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine(BIG);
	const char *y = "topology: fan\nkernels:\n"
			"  - { name: sink, exec: /bin/true, inputs: [a, b] }\n"
			"  - { name: w1, exec: /bin/true, inputs: [in], outputs: [out] }\n"
			"  - { name: src, exec: /bin/true, outputs: [a, b] }\n"
			"  - { name: w2, exec: /bin/true, inputs: [in], outputs: [out] }\n"
			"rings:\n  - { from: src.a, to: w1.in }\n  - { from: src.b, to: w2.in }\n"
			"  - { from: w1.out, to: sink.a }\n  - { from: w2.out, to: sink.b }\n";
	struct topology *t;
	struct topo_plan *p;
	assert_int_equal(topo_parse("fan.yaml", y, strlen(y), &t, err, sizeof(err)), 0);
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	/* graph order src, w1, w2, sink, whatever the file order */
	assert_int_equal(p->cpus[2][0], 0);
	assert_int_equal(p->cpus[1][0], 2);
	assert_int_equal(p->cpus[3][0], 4);
	assert_int_equal(p->cpus[0][0], 6);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void the_plan_prints_the_capacity_each_ring_is_made_with(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine(BIG);
	const char *y = "topology: x\nkernels:\n"
			"  - { name: a, exec: /bin/true, outputs: [o1, o2, o3, o4] }\n"
			"  - { name: b, exec: /bin/true, inputs: [i1, i2, i3, i4] }\n"
			"rings:\n  - { from: a.o1, to: b.i1, capacity: 5000 }\n"
			"  - { from: a.o2, to: b.i2, capacity: 64KiB }\n"
			"  - { from: a.o3, to: b.i3 }\n"
			"  - { from: a.o4, to: b.i4, capacity: 1GiB }\n";
	struct topology *t;
	struct topo_plan *p;
	assert_int_equal(topo_parse("x.yaml", y, strlen(y), &t, err, sizeof(err)), 0);
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	char *out = plan_text(t, p);
	/* 5000 was printed as "4K" while the ring made holds 8 KiB. */
	if (!strstr(out, "a.o1 -> b.i1                              8KiB* ") ||
	    !strstr(out, "a.o2 -> b.i2                              64KiB ") ||
	    !strstr(out, "a.o3 -> b.i3                               1MiB ") ||
	    !strstr(out, "a.o4 -> b.i4                               1GiB ") ||
	    !strstr(out, "* capacity rounded up to a power of two, the size the ring is made with: "
			 "a.o1 -> b.i1 asked for 5000 bytes (1 ring so marked)"))
		fail_msg("unexpected plan:\n%s", out);
	free(out);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
	char b[24];
	topo_size_str(b, sizeof(b), 5000);
	assert_string_equal(b, "5000B");
	topo_size_str(b, sizeof(b), 3ull << 20);
	assert_string_equal(b, "3MiB");
}

/* The planner marks the kernels that share a cpu, and their rings' ends,
 * unless the file set the ring's wait: those wait without spinning and
 * wake in batches (wait.c, "Shared cores"). */
static void kernels_sharing_a_cpu_get_rings_that_wait_without_spinning(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine("core:2 pu:1");
	/* Two kernels on two cpus: nobody shares, nothing changes. */
	struct topology *t = chain(2, -1);
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	assert_false(p->shares_cpu[0] || p->shares_cpu[1]);
	assert_int_equal(topo_plan_ring_shared(t, p, 0), 0);
	char *out = plan_text(t, p);
	assert_null(strstr(out, "share a cpu"));
	free(out);
	topo_plan_free(p);
	topo_free(t);
	/* Three on two: k0 and k2 take turns on cpu 0, k1 has cpu 1. */
	t = chain(3, -1);
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	assert_int_equal(p->cpus[0][0], p->cpus[2][0]);
	assert_true(p->shares_cpu[0] && !p->shares_cpu[1] && p->shares_cpu[2]);
	assert_int_equal(topo_plan_ring_shared(t, p, 0), TOPO_SHARED_FROM);
	assert_int_equal(topo_plan_ring_shared(t, p, 1), TOPO_SHARED_TO);
	out = plan_text(t, p);
	assert_non_null(strstr(out, "2 of 3 kernels share a cpu with another kernel: k0 k2"));
	free(out);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
	/* Pinned to the same cpu on a big machine: they share; a ring whose
	 * wait the file set keeps it (no bits); the third kernel is alone. */
	hw = machine(BIG);
	static const char y[] =
		"topology: pinned\nkernels:\n"
		"  - { name: a, exec: /bin/true, cpu: 3, outputs: [o1, o2] }\n"
		"  - { name: b, exec: /bin/true, cpu: [5, 3], inputs: [i] }\n"
		"  - { name: c, exec: /bin/true, inputs: [i] }\n"
		"rings:\n"
		"  - { from: a.o1, to: b.i }\n"
		"  - { from: a.o2, to: c.i, wait: spin }\n";
	if (topo_parse("pinned.yaml", y, sizeof(y) - 1, &t, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	assert_true(p->shares_cpu[0] && p->shares_cpu[1] && !p->shares_cpu[2]);
	assert_int_equal(topo_plan_ring_shared(t, p, 0), TOPO_SHARED_FROM | TOPO_SHARED_TO);
	assert_int_equal(topo_plan_ring_shared(t, p, 1), 0); /* wait: spin, as written */
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

static void the_largest_topology_is_planned_in_linear_time(void **s)
{
	(void)s;
	/* A chain of 1024 kernels, four rings between neighbours (4092 rings),
	 * every fourth kernel pinned to a list of 64 cpus, on 512 cpus; the file
	 * lists the kernels backwards. */
	hwloc_topology_t hw = machine("pack:4 [numa] l3:4 core:16 pu:2");
	struct tu_text y;
	FILE *f = tu_text_open(&y);
	assert_non_null(f);
	fprintf(f, "topology: big\nkernels:\n");
	for (int k = 1023; k >= 0; k--) {
		fprintf(f, "  - { name: k%d, exec: /bin/true", k);
		if (k < 1023)
			fprintf(f, ", outputs: [a2, b2, c2, d2]");
		if (k > 0)
			fprintf(f, ", inputs: [a, b, c, d]");
		if (k % 4 == 0) {
			fprintf(f, ", cpu: [");
			for (int c = 0; c < 64; c++)
				fprintf(f, "%s%d", c ? ", " : "", (k + c * 8) % 512);
			fprintf(f, "]");
		}
		fprintf(f, " }\n");
	}
	fprintf(f, "rings:\n");
	for (int r = 0; r < 4092; r++)
		fprintf(f, "  - { from: k%d.%c2, to: k%d.%c }\n", r % 1023, "abcd"[r / 1023],
			r % 1023 + 1, "abcd"[r / 1023]);
	assert_non_null(tu_text_close(&y));
	struct topology *t;
	uint64_t t0 = tu_now_ns();
	int rc = topo_parse("big.yaml", y.s, y.len, &t, err, sizeof(err));
	free(y.s);
	if (rc)
		fail_msg("%s", err);
	size_t order[1024];
	assert_int_equal(topo_graph_order(t, order), 0);
	for (size_t i = 0; i < 1024; i++) /* the chain from its source k0 */
		assert_int_equal(order[i], 1023 - i);
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, NULL, &p, err, sizeof(err)), 0);
	char *out = plan_text(t, p);
	double took = tu_since_s(t0);
	print_message("  parse, order, place and print: %.2f s\n", took);
	assert_true(took < 20.0);
	assert_non_null(strstr(out, "1024 kernels, 4092 rings"));
	assert_int_equal(p->ncpus[1023], 64); /* k0: pinned, last in the file */
	free(out);
	topo_plan_free(p);
	topo_free(t);
	hwloc_topology_destroy(hw);
}

int main(void)
{
	unsetenv("HWLOC_SYNTHETIC");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pipeline_neighbours_share_a_cache_and_not_a_core),
		cmocka_unit_test(kernels_spread_over_cores_before_sharing_one),
		cmocka_unit_test(auto_kernels_avoid_the_core_of_a_pinned_one),
		cmocka_unit_test(auto_kernels_go_where_no_other_topology_runs),
		cmocka_unit_test(with_no_free_core_the_least_used_come_first),
		cmocka_unit_test(more_kernels_than_cpus_share_round_robin),
		cmocka_unit_test(ring_memory_follows_the_consumer_numa_node),
		cmocka_unit_test(a_cpu_the_machine_lacks_is_an_error),
		cmocka_unit_test(fan_out_places_workers_next_to_their_source),
		cmocka_unit_test(the_plan_prints_the_capacity_each_ring_is_made_with),
		cmocka_unit_test(kernels_sharing_a_cpu_get_rings_that_wait_without_spinning),
		cmocka_unit_test(the_largest_topology_is_planned_in_linear_time),
	};
	return cmocka_run_group_tests_name("placement", tests, NULL, NULL);
}
