/* SPDX-License-Identifier: MIT */
/* Where each kernel runs and where each ring's memory lives, planned with hwloc. */
#ifndef SHMRING_SUPERVISOR_PLACEMENT_H
#define SHMRING_SUPERVISOR_PLACEMENT_H

#include <stdio.h>
#include <hwloc.h>

#include <sys/types.h>

#include "topology.h"

struct topo_plan {
	size_t nkernels, nrings;
	int  **cpus;        /* per kernel: OS cpu numbers it is bound to */
	size_t *ncpus;
	int   *placed_auto; /* per kernel: 1 if the planner chose */
	int   *ring_numa;   /* per ring: NUMA node of the consumer's cpu, -1 unknown */
	const char **ring_cache; /* per ring: closest level producer and consumer share */
	/* per kernel: 1 if it may have to share a cpu with another kernel (a
	 * cpu of its set is in another kernel's set, or it is unbound and the
	 * kernels outnumber the cpus). Its rings then wait without spinning
	 * and wake in batches (docs/supervisor.md, "Kernels sharing a cpu"). */
	int   *shares_cpu;
	/* Kernels of other running topologies the plan placed around: how
	 * many, of how many topologies, and per OS cpu (NULL when none). */
	unsigned others, other_topologies;
	unsigned *others_on_cpu;
	int    others_ncpu;
};

/* Kernels of other running topologies bound to each OS cpu (read from
 * their control segments; a kernel not running, or unbound, is not
 * counted). */
struct topo_others {
	unsigned *on_cpu;   /* ncpu entries */
	int       ncpu;
	unsigned  kernels, topologies;
	pid_t     same_pid; /* supervisor of a running topology of the name asked, or 0 */
};
/* Fill o for hw's OS cpus from one look at the running topologies: every
 * one but those called name, whose supervisor's pid is o->same_pid instead (run
 * refuses to start a second). 0 (all zero when nothing else runs or /proc
 * cannot be read), or -ENOMEM. Free with topo_others_free. */
int  topo_others_scan(struct topo_others *o, hwloc_topology_t hw, const char *name);
void topo_others_free(struct topo_others *o);

/*
 * Plan: explicit cpus as written (each must exist in hw); cpu: auto kernels
 * in graph order (breadth first from the sources, so neighbours are
 * consecutive) on one PU per core, cores in hwloc's logical order (cores
 * that share a cache are consecutive), avoiding cores of pinned kernels,
 * spreading over every core before a core's second PU is used, and sharing
 * only when there are more kernels than PUs. others (NULL: none): cores
 * where other topologies' kernels run come after free ones, fewest first.
 */
int  topo_place(const struct topology *t, hwloc_topology_t hw, const struct topo_others *others,
		struct topo_plan **plan, char *err, size_t errlen);
void topo_plan_print(FILE *f, const struct topology *t, const struct topo_plan *p);
void topo_plan_free(struct topo_plan *p);

/* Bits of topo_plan_ring_shared, the control segment's SMR_CTL_SHARED_*. */
#define TOPO_SHARED_FROM 1u /* the producer's kernel shares its cpu */
#define TOPO_SHARED_TO   2u /* the consumer's kernel shares its cpu */

/* TOPO_SHARED_* bits for ring r: its ends whose kernels share a cpu,
 * unless the topology set the ring's wait itself (then 0: as written). */
unsigned topo_plan_ring_shared(const struct topology *t, const struct topo_plan *p, size_t r);

/* bytes in the largest unit that holds it exactly: "64KiB", "1MiB", "5000B". */
void topo_size_str(char *buf, size_t len, uint64_t bytes);

#endif
