/* SPDX-License-Identifier: MIT */
/*
 * shmring-supervisor: validate a topology and plan where it runs.
 *
 * Exit: 0 valid; 1 the topology is invalid (one line FILE:LINE says why and
 * how to fix it); 100 bad usage; 111 system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "placement.h"
#include "topology.h"

#define USAGE \
	"usage: shmring-supervisor check FILE\n" \
	"       shmring-supervisor check -e 'gen --count 1000 ! double ! print'\n" \
	"\n" \
	"  check FILE   validate a topology file and print where each kernel would run\n" \
	"               and where each ring's memory would live\n" \
	"  check -e P   the same for a one-line pipeline: stages separated by a lone '!'\n" \
	"\n" \
	"exit: 0 valid, 1 invalid topology, 100 bad usage, 111 system error\n"

static int check(const char *path, const char *pipeline)
{
	char err[512];
	struct topology *t;
	int rc = pipeline ? topo_parse_pipeline(pipeline, &t, err, sizeof(err))
			  : topo_load(path, &t, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "shmring-supervisor: %s\n", err);
		return rc == -EINVAL ? 1 : 111;
	}
	hwloc_topology_t hw;
	if (hwloc_topology_init(&hw) < 0 || hwloc_topology_load(hw) < 0) {
		fprintf(stderr, "shmring-supervisor: cannot read this machine's topology (hwloc): %s\n",
			strerror(errno));
		topo_free(t);
		return 111;
	}
	int npus = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_PU);
	struct topo_plan *plan = NULL;
	rc = topo_check_host(t, npus, NULL, err, sizeof(err));
	if (rc == 0)
		rc = topo_place(t, hw, &plan, err, sizeof(err));
	if (rc == 0)
		topo_plan_print(stdout, t, plan);
	else
		fprintf(stderr, "shmring-supervisor: %s\n", err);
	topo_plan_free(plan);
	hwloc_topology_destroy(hw);
	topo_free(t);
	return rc == 0 ? 0 : rc == -ENOMEM ? 111 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(USAGE, stdout);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "check"))
		return check(argv[2], NULL);
	if (argc == 4 && !strcmp(argv[1], "check") && !strcmp(argv[2], "-e"))
		return check(NULL, argv[3]);
	if (argc >= 2 && strcmp(argv[1], "check"))
		fprintf(stderr, "shmring-supervisor: unknown command '%s'\n", argv[1]);
	else
		fprintf(stderr, "shmring-supervisor: check takes one FILE, or -e PIPELINE\n");
	fputs(USAGE, stderr);
	return 100;
}
