/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"
#include "control.h"

static_assert(TOPO_SHARED_FROM == SMR_CTL_SHARED_FROM && TOPO_SHARED_TO == SMR_CTL_SHARED_TO,
	      "placement.h speaks the control segment's bits");

void topo_plan_free(struct topo_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nkernels; i++)
		free(p->cpus ? p->cpus[i] : NULL);
	free(p->cpus);
	free(p->ncpus);
	free(p->placed_auto);
	free(p->ring_numa);
	free(p->ring_cache);
	free(p->shares_cpu);
	free(p->others_on_cpu);
	free(p);
}

/* PUs in placement order: the first PU of every core, then the second PU
 * of every core, and so on. Within each round, cores by weight (byw, core
 * logical indices sorted by core_order): free cores, then cores where other
 * topologies' kernels run, fewest first, then cores holding a kernel pinned
 * here; ties in logical order. */
static size_t pu_order(hwloc_topology_t hw, const int *byw, int *out, size_t max)
{
	int ncores = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_CORE);
	size_t n = 0;
	for (unsigned round = 0;; round++) {
		size_t added = 0;
		for (int i = 0; i < ncores; i++) {
			hwloc_obj_t core = hwloc_get_obj_by_type(hw, HWLOC_OBJ_CORE, (unsigned)byw[i]);
			hwloc_obj_t pu = hwloc_get_obj_inside_cpuset_by_type(hw, core->cpuset,
									      HWLOC_OBJ_PU, round);
			if (pu && n < max) {
				out[n++] = (int)pu->os_index;
				added++;
			}
		}
		if (!added)
			return n;
	}
}

/* Core logical indices into byw, by weight (a stable insertion sort: ties
 * keep logical order; cores number in the hundreds at most). */
static void core_order(const unsigned *weight, int ncores, int *byw)
{
	for (int c = 0; c < ncores; c++) {
		int j = c;
		while (j > 0 && weight[byw[j - 1]] > weight[c]) {
			byw[j] = byw[j - 1];
			j--;
		}
		byw[j] = c;
	}
}

/* The weight of each core: UINT_MAX where a kernel of this topology is
 * pinned, else the kernels of other topologies bound to its PUs. The plan
 * keeps a copy of others for check to print. */
static int core_weights(hwloc_topology_t hw, const struct topo_others *o, unsigned *weight,
			int ncores, struct topo_plan *p)
{
	if (!o || !o->kernels)
		return 0;
	if (!(p->others_on_cpu = calloc((size_t)o->ncpu, sizeof(unsigned))))
		return -ENOMEM;
	memcpy(p->others_on_cpu, o->on_cpu, (size_t)o->ncpu * sizeof(unsigned));
	p->others_ncpu = o->ncpu;
	p->others = o->kernels;
	p->other_topologies = o->topologies;
	for (int cpu = 0; cpu < o->ncpu; cpu++) {
		hwloc_obj_t pu = o->on_cpu[cpu] ? hwloc_get_pu_obj_by_os_index(hw, (unsigned)cpu)
						: NULL;
		hwloc_obj_t core = pu ? hwloc_get_ancestor_obj_by_type(hw, HWLOC_OBJ_CORE, pu) : NULL;
		if (!core || core->logical_index >= (unsigned)ncores)
			continue;
		unsigned *w = &weight[core->logical_index];
		*w = *w > UINT_MAX - 1 - o->on_cpu[cpu] ? UINT_MAX - 1 : *w + o->on_cpu[cpu];
	}
	return 0;
}

static int numa_of(hwloc_topology_t hw, int cpu)
{
	hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(hw, (unsigned)cpu);
	int nn = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_NUMANODE);
	for (int i = 0; pu && i < nn; i++) {
		hwloc_obj_t node = hwloc_get_obj_by_type(hw, HWLOC_OBJ_NUMANODE, (unsigned)i);
		if (hwloc_bitmap_intersects(node->cpuset, pu->cpuset))
			return (int)node->os_index;
	}
	return -1;
}

static const char *shared_level(hwloc_topology_t hw, int a, int b)
{
	hwloc_obj_t x = hwloc_get_pu_obj_by_os_index(hw, (unsigned)a);
	hwloc_obj_t y = hwloc_get_pu_obj_by_os_index(hw, (unsigned)b);
	if (!x || !y)
		return "?";
	if (x == y)
		return "same cpu";
	hwloc_obj_t o = hwloc_get_common_ancestor_obj(hw, x, y);
	while (o && !hwloc_obj_type_is_cache(o->type) && o->type != HWLOC_OBJ_CORE &&
	       o->type != HWLOC_OBJ_PACKAGE && o->type != HWLOC_OBJ_MACHINE)
		o = o->parent;
	if (!o)
		return "?";
	switch (o->type) {
	case HWLOC_OBJ_CORE: return "core (SMT)";
	case HWLOC_OBJ_L1CACHE: return "L1";
	case HWLOC_OBJ_L2CACHE: return "L2";
	case HWLOC_OBJ_L3CACHE: return "L3";
	case HWLOC_OBJ_PACKAGE: return "package";
	default: return "machine";
	}
}

/* p->shares_cpu: kernels with a cpu in another kernel's set, and unbound
 * kernels when the kernels outnumber the cpus. Linear: a count of kernels
 * per cpu (each kernel once, even if its list repeats a cpu). */
static int mark_shared(struct topo_plan *p, int npus)
{
	int maxcpu = -1;
	for (size_t i = 0; i < p->nkernels; i++)
		for (size_t j = 0; j < p->ncpus[i]; j++)
			if (p->cpus[i][j] > maxcpu)
				maxcpu = p->cpus[i][j];
	size_t n = (size_t)maxcpu + 1;
	unsigned *users = calloc(n ? n : 1, sizeof(*users));
	size_t *last = malloc((n ? n : 1) * sizeof(*last));
	if (!users || !last) {
		free(users);
		free(last);
		return -ENOMEM;
	}
	for (size_t c = 0; c < n; c++)
		last[c] = SIZE_MAX;
	for (size_t i = 0; i < p->nkernels; i++)
		for (size_t j = 0; j < p->ncpus[i]; j++) {
			int c = p->cpus[i][j];
			if (c >= 0 && last[c] != i) {
				last[c] = i;
				users[c]++;
			}
		}
	int crowded = npus <= 0 || p->nkernels > (size_t)npus;
	for (size_t i = 0; i < p->nkernels; i++) {
		p->shares_cpu[i] = !p->ncpus[i] && crowded;
		for (size_t j = 0; j < p->ncpus[i]; j++)
			if (p->cpus[i][j] >= 0 && users[p->cpus[i][j]] > 1)
				p->shares_cpu[i] = 1;
	}
	free(users);
	free(last);
	return 0;
}

unsigned topo_plan_ring_shared(const struct topology *t, const struct topo_plan *p, size_t r)
{
	const struct topo_ring *g = &t->rings[r];
	if (g->wait_set)
		return 0;
	return (p->shares_cpu[g->from_kernel] ? TOPO_SHARED_FROM : 0) |
	       (p->shares_cpu[g->to_kernel] ? TOPO_SHARED_TO : 0);
}

int topo_place(const struct topology *t, hwloc_topology_t hw, const struct topo_others *others,
	       struct topo_plan **out, char *err, size_t errlen)
{
	struct topo_plan *p = calloc(1, sizeof(*p));
	int ncores = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_CORE);
	int npus = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_PU);
	size_t nc = ncores > 0 ? (size_t)ncores : 1;
	unsigned *busy = calloc(nc, sizeof(unsigned)); /* each core's weight */
	int *byw = calloc(nc, sizeof(int));
	int *pool = calloc(npus > 0 ? (size_t)npus : 1, sizeof(int));
	size_t *order = calloc(t->nkernels, sizeof(size_t));
	int rc = -ENOMEM;
	*out = NULL;
	if (!p || !busy || !byw || !pool || !order || core_weights(hw, others, busy, ncores, p) < 0)
		goto done;
	p->nkernels = t->nkernels;
	p->nrings = t->nrings;
	p->cpus = calloc(t->nkernels, sizeof(int *));
	p->ncpus = calloc(t->nkernels, sizeof(size_t));
	p->placed_auto = calloc(t->nkernels, sizeof(int));
	p->ring_numa = calloc(t->nrings + 1, sizeof(int));
	p->ring_cache = calloc(t->nrings + 1, sizeof(char *));
	p->shares_cpu = calloc(t->nkernels + 1, sizeof(int));
	if (!p->cpus || !p->ncpus || !p->placed_auto || !p->ring_numa || !p->ring_cache ||
	    !p->shares_cpu)
		goto done;

	for (size_t i = 0; i < t->nkernels; i++) {
		const struct topo_kernel *k = &t->kernels[i];
		for (size_t j = 0; j < k->ncpus; j++) {
			hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(hw, (unsigned)k->cpus[j]);
			if (!pu) {
				snprintf(err, errlen, "%s:%d: kernel '%s': cpu %d does not exist on this "
					 "machine (%d cpus); fix cpu, or use cpu: auto", t->file, k->line,
					 k->name, k->cpus[j], npus);
				rc = -EINVAL;
				goto done;
			}
			hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(hw, HWLOC_OBJ_CORE, pu);
			if (core && core->logical_index < (unsigned)ncores)
				busy[core->logical_index] = UINT_MAX;
		}
		if (k->ncpus) {
			if (!(p->cpus[i] = malloc(k->ncpus * sizeof(int))))
				goto done;
			memcpy(p->cpus[i], k->cpus, k->ncpus * sizeof(int));
			p->ncpus[i] = k->ncpus;
		}
	}
	core_order(busy, ncores, byw);
	size_t npool = pu_order(hw, byw, pool, (size_t)npus);
	if (topo_graph_order(t, order) < 0)
		for (size_t i = 0; i < t->nkernels; i++)
			order[i] = i;
	size_t next = 0;
	for (size_t n = 0; n < t->nkernels; n++) {
		size_t i = order[n];
		if (t->kernels[i].ncpus || !npool)
			continue;
		if (!(p->cpus[i] = malloc(sizeof(int))))
			goto done;
		p->cpus[i][0] = pool[next++ % npool]; /* shares only past npool kernels */
		p->ncpus[i] = 1;
		p->placed_auto[i] = 1;
	}
	if (mark_shared(p, npus) < 0)
		goto done;
	for (size_t r = 0; r < t->nrings; r++) {
		const struct topo_ring *g = &t->rings[r];
		int from = p->ncpus[g->from_kernel] ? p->cpus[g->from_kernel][0] : -1;
		int to = p->ncpus[g->to_kernel] ? p->cpus[g->to_kernel][0] : -1;
		p->ring_numa[r] = to >= 0 ? numa_of(hw, to) : -1;
		p->ring_cache[r] = from >= 0 && to >= 0 ? shared_level(hw, from, to) : "?";
	}
	*out = p;
	p = NULL;
	rc = 0;
done:
	topo_plan_free(p);
	free(busy);
	free(byw);
	free(pool);
	free(order);
	return rc;
}

static void cpu_list(char *buf, size_t len, const int *cpus, size_t n)
{
	buf[0] = '\0';
	for (size_t j = 0; j < n; j++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%d", j ? "," : "", cpus[j]);
	if (!n)
		snprintf(buf, len, "any");
}

/* Inputs whose priority is not normal, one line each: what the kernel's
 * wait reports first (high) or last (low). Nothing when all are normal. */
static void print_priorities(FILE *f, const struct topology *t)
{
	int any = 0;
	for (size_t i = 0; i < t->nkernels; i++) {
		const struct topo_kernel *k = &t->kernels[i];
		for (size_t j = 0; j < k->ninputs; j++) {
			int prio = topo_input_priority(k, j);
			if (prio == TOPO_PRIO_NORMAL)
				continue;
			char port[2 * TOPO_NAME_MAX + 2];
			snprintf(port, sizeof(port), "%s.%s", k->name, k->inputs[j]);
			if (!any++)
				fprintf(f, "\n%-36s %s\n", "input (the others normal)", "priority");
			fprintf(f, "%-36s %s\n", port, prio == TOPO_PRIO_HIGH ? "high" : "low");
		}
	}
}

/* Where other running topologies' kernels are, when the plan placed
 * around them: "cpus used by 3 kernels of 2 other running topologies: 0 (2),
 * 1 (1); placed on the free ones first". */
static void print_others(FILE *f, const struct topo_plan *p)
{
	if (!p->others)
		return;
	fprintf(f, "\ncpus used by %u kernel%s of %u other running topolog%s:", p->others,
		p->others == 1 ? "" : "s", p->other_topologies, p->other_topologies == 1 ? "y" : "ies");
	for (int c = 0, shown = 0; c < p->others_ncpu; c++) {
		if (!p->others_on_cpu[c])
			continue;
		if (shown++ == 16) {
			fprintf(f, " ...");
			break;
		}
		fprintf(f, "%s %d (%u)", shown > 1 ? "," : "", c, p->others_on_cpu[c]);
	}
	fprintf(f, "\n(cpu: auto kernels go to the cpus no other topology uses first)\n");
}

/* The kernels that share a cpu, on one line, and what that changes: the
 * rings they use wait without spinning and wake in batches. */
static void print_shared(FILE *f, const struct topology *t, const struct topo_plan *p)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nkernels; i++)
		n += p->shares_cpu[i] != 0;
	if (!n)
		return;
	fprintf(f, "\n%zu of %zu kernels share a cpu with another kernel:", n, t->nkernels);
	for (size_t i = 0, shown = 0; i < t->nkernels; i++) {
		if (!p->shares_cpu[i])
			continue;
		if (shown++ == 8) {
			fprintf(f, " ...");
			break;
		}
		fprintf(f, " %s", t->kernels[i].name);
	}
	fprintf(f, "\n(on rings without wait: they sleep at once and are woken in batches, "
		"at most 2 ms late)\n");
}

void topo_plan_print(FILE *f, const struct topology *t, const struct topo_plan *p)
{
	static const char *const waits[] = { "adaptive", "spin", "yield", "futex" };
	char cpus[64], rings[96];
	topo_rings_phrase(t, rings, sizeof(rings));
	fprintf(f, "topology %s (%s): %zu kernels, %s\n\n", t->name, t->file, t->nkernels, rings);
	fprintf(f, "%-20s %-10s %-8s %-10s %s\n", "kernel", "cpu", "placed", "restart", "exec");
	for (size_t i = 0; i < t->nkernels; i++) {
		cpu_list(cpus, sizeof(cpus), p->cpus[i], p->ncpus[i]);
		fprintf(f, "%-20s %-10s %-8s %-10s %s\n", t->kernels[i].name, cpus,
			p->placed_auto[i] ? "auto" : "explicit", topo_restart_names[t->kernels[i].restart],
			t->kernels[i].exec);
	}
	print_priorities(f, t);
	print_others(f, p);
	print_shared(f, t, p);
	if (!t->nrings)
		return;
	fprintf(f, "\n%-36s %10s %-9s %-5s %s\n", "ring", "capacity", "wait", "numa", "shared by the ends");
	size_t rounded = 0, first = 0;
	for (size_t r = 0; r < t->nrings; r++) {
		const struct topo_ring *g = &t->rings[r];
		char name[160], numa[16], cap[24];
		snprintf(name, sizeof(name), "%s.%s -> %s.%s", t->kernels[g->from_kernel].name,
			 g->from_port, t->kernels[g->to_kernel].name, g->to_port);
		snprintf(numa, sizeof(numa), "%d", p->ring_numa[r]);
		/* What the ring holds, not what was asked: a marked one was rounded. */
		topo_size_str(cap, sizeof(cap), g->capacity);
		if (g->capacity != g->capacity_asked && g->capacity_asked) {
			strcat(cap, "*");
			if (!rounded++)
				first = r;
		}
		fprintf(f, "%-36s %10s %-9s %-5s %s\n", name, cap, waits[g->wait],
			p->ring_numa[r] >= 0 ? numa : "-", p->ring_cache[r]);
	}
	if (rounded) {
		const struct topo_ring *g = &t->rings[first];
		fprintf(f, "\n* capacity rounded up to a power of two, the size the ring is made "
			"with: %s.%s -> %s.%s asked for %llu bytes (%zu ring%s so marked)\n",
			t->kernels[g->from_kernel].name, g->from_port, t->kernels[g->to_kernel].name,
			g->to_port, (unsigned long long)g->capacity_asked, rounded, rounded == 1 ? "" : "s");
	}
}

void topo_size_str(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;
	while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)bytes, units[u]);
}
