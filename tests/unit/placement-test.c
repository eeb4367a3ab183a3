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
	char *y = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&y, &len);
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
	fclose(f);
	struct topology *t;
	if (topo_parse("chain.yaml", y, len, &t, err, sizeof(err)))
		fail_msg("%s", err);
	free(y);
	return t;
}

static void pipeline_neighbours_share_a_cache_and_not_a_core(void **s)
{
	(void)s;
	hwloc_topology_t hw = machine(BIG);
	struct topology *t = chain(3, -1);
	struct topo_plan *p;
	assert_int_equal(topo_place(t, hw, &p, err, sizeof(err)), 0);
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
	assert_int_equal(topo_place(t, hw, &p, err, sizeof(err)), 0);
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
	assert_int_equal(topo_place(t, hw, &p, err, sizeof(err)), 0);
	assert_int_equal(p->placed_auto[0], 0);
	assert_int_equal(p->cpus[0][0], 1);
	assert_int_equal(p->cpus[1][0], 2);
	assert_int_equal(p->cpus[2][0], 4);
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
	assert_int_equal(topo_place(t, hw, &p, err, sizeof(err)), 0);
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
	assert_int_equal(topo_place(t, hw, &p, err, sizeof(err)), 0);
	assert_int_equal(p->ncpus[1], 2);
	assert_int_equal(p->ring_numa[0], 1);
	assert_string_equal(p->ring_cache[0], "machine");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	topo_plan_print(f, t, p);
	fclose(f);
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
	assert_int_equal(topo_place(t, hw, &p, err, sizeof(err)), -EINVAL);
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
	assert_int_equal(topo_place(t, hw, &p, err, sizeof(err)), 0);
	/* graph order src, w1, w2, sink, whatever the file order */
	assert_int_equal(p->cpus[2][0], 0);
	assert_int_equal(p->cpus[1][0], 2);
	assert_int_equal(p->cpus[3][0], 4);
	assert_int_equal(p->cpus[0][0], 6);
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
		cmocka_unit_test(more_kernels_than_cpus_share_round_robin),
		cmocka_unit_test(ring_memory_follows_the_consumer_numa_node),
		cmocka_unit_test(a_cpu_the_machine_lacks_is_an_error),
		cmocka_unit_test(fan_out_places_workers_next_to_their_source),
	};
	return cmocka_run_group_tests_name("placement", tests, NULL, NULL);
}
