/* SPDX-License-Identifier: MIT */
/*
 * The cpus that other running topologies' kernels are bound to, read from
 * their control segments (found as shmring-stat finds them), so that the
 * planner places this topology's kernels on free cores first
 * (placement.h, docs/topology.md "Placement"). The same look tells run
 * whether a topology of its own name runs already.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "placement.h"
#include "control.h"
#include "discover.h"

/* Count into o the kernels of one topology that run bound to a cpu. */
static void count_topology(struct topo_others *o, const struct running_topo *rt)
{
	int fd = topo_open_control(rt);
	if (fd < 0)
		return; /* it ended meanwhile */
	struct smr_ctl c;
	char why[256];
	int rc = smr_ctl_attach(fd, SMR_CTL_READ, "its control segment", &c, why, sizeof(why));
	close(fd);
	if (rc < 0)
		return; /* unreadable: shmring-stat says why; placing goes on without it */
	unsigned counted = 0;
	for (uint32_t i = 0;; i++) {
		struct smr_ctl_kernel *k = smr_ctl_kernel(&c, i);
		if (!k)
			break;
		/* Relaxed: a snapshot; a kernel starting or ending meanwhile is
		 * counted or not, either is a fair plan. Every value is checked
		 * against the range before it indexes anything. */
		int32_t cpu = atomic_load_explicit(&k->cpu, memory_order_relaxed);
		int32_t pid = atomic_load_explicit(&k->pid, memory_order_relaxed);
		if (pid > 0 && cpu >= 0 && cpu < o->ncpu) {
			o->on_cpu[cpu]++;
			counted++;
		}
	}
	smr_ctl_detach(&c);
	if (counted) {
		o->kernels += counted;
		o->topologies++;
	}
}

int topo_others_scan(struct topo_others *o, hwloc_topology_t hw, const char *name)
{
	memset(o, 0, sizeof(*o));
	int ncpu = 0; /* OS cpu numbers may have gaps: up to the highest PU's */
	for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_PU, NULL); pu;
	     pu = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_PU, pu))
		if ((int)pu->os_index >= ncpu)
			ncpu = (int)pu->os_index + 1;
	if (ncpu <= 0)
		return 0;
	if (!(o->on_cpu = calloc((size_t)ncpu, sizeof(*o->on_cpu))))
		return -ENOMEM;
	o->ncpu = ncpu;
	struct running_topo *ok = NULL;
	struct topo_unreadable *bad = NULL;
	size_t nok = 0, nbad = 0;
	int rc = topo_scan(NULL, &ok, &nok, &bad, &nbad);
	if (rc == -ENOMEM) {
		topo_others_free(o);
		return rc;
	}
	if (rc < 0)
		return 0; /* /proc unreadable: plan as if alone */
	for (size_t i = 0; i < nok; i++) {
		if (strcmp(ok[i].name, name) != 0)
			count_topology(o, &ok[i]);
		else if (!o->same_pid)
			o->same_pid = ok[i].pid; /* this topology, running already */
	}
	free(ok);
	free(bad);
	return 0;
}

void topo_others_free(struct topo_others *o)
{
	free(o->on_cpu);
	memset(o, 0, sizeof(*o));
}
