/* SPDX-License-Identifier: MIT */
/* Where each kernel runs and where each ring's memory lives, planned with hwloc. */
#ifndef SHMRING_SUPERVISOR_PLACEMENT_H
#define SHMRING_SUPERVISOR_PLACEMENT_H

#include <stdio.h>
#include <hwloc.h>

#include "topology.h"

struct topo_plan {
	size_t nkernels, nrings;
	int  **cpus;        /* per kernel: OS cpu numbers it is bound to */
	size_t *ncpus;
	int   *placed_auto; /* per kernel: 1 if the planner chose */
	int   *ring_numa;   /* per ring: NUMA node of the consumer's cpu, -1 unknown */
	const char **ring_cache; /* per ring: closest level producer and consumer share */
};

/*
 * Plan: explicit cpus as written (each must exist in hw); cpu: auto kernels
 * in graph order (breadth first from the sources, so neighbours are
 * consecutive) on one PU per core, cores in hwloc's logical order (cores
 * that share a cache are consecutive), avoiding cores of pinned kernels,
 * spreading over every core before a core's second PU is used, and sharing
 * only when there are more kernels than PUs.
 */
int  topo_place(const struct topology *t, hwloc_topology_t hw, struct topo_plan **plan,
		char *err, size_t errlen);
void topo_plan_print(FILE *f, const struct topology *t, const struct topo_plan *p);
void topo_plan_free(struct topo_plan *p);

/* bytes in the largest unit that holds it exactly: "64KiB", "1MiB", "5000B". */
void topo_size_str(char *buf, size_t len, uint64_t bytes);

#endif
