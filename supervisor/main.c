/* SPDX-License-Identifier: MIT */
/*
 * shmring-supervisor: validate, launch, supervise and stop topologies.
 * Exit codes: see USAGE (and run.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "placement.h"
#include "run.h"
#include "topology.h"

#define USAGE \
	"usage: shmring-supervisor check FILE | check -e PIPELINE\n" \
	"       shmring-supervisor run FILE | run -e PIPELINE\n" \
	"       shmring-supervisor stop NAME\n" \
	"\n" \
	"  check FILE   validate a topology file and print where each kernel would run\n" \
	"               and where each ring's memory would live\n" \
	"  run FILE     launch the topology and supervise it in the foreground; kernel\n" \
	"               output lines are prefixed with the kernel's name; Ctrl-C or\n" \
	"               SIGTERM stops it (stop flag, grace period, then kill)\n" \
	"  stop NAME    stop the running topology NAME from another shell\n" \
	"  -e PIPELINE  a one-line topology instead of FILE, stages separated by a\n" \
	"               lone '!': -e 'gen --count 1000 ! double ! print'\n" \
	"\n" \
	"exit: 0 valid (check), finished (run), stopped (stop); 1 invalid topology, or\n" \
	"     stop: no such topology; 2 a kernel failed and stayed down; 3 restart\n" \
	"     intensity reached; 4 stopped on request; 5 stopped, some kernel killed\n" \
	"     after the grace period; 100 bad usage; 111 system error\n"

/* A topology from FILE or -e PIPELINE: 0, or the exit code after one line. */
static int load(const char *path, const char *pipeline, struct topology **t)
{
	char err[512];
	int rc = pipeline ? topo_parse_pipeline(pipeline, t, err, sizeof(err))
			  : topo_load(path, t, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "shmring-supervisor: %s\n", err);
		return rc == -EINVAL ? 1 : 111;
	}
	return 0;
}

static int check(const char *path, const char *pipeline)
{
	char err[512];
	struct topology *t;
	int rc = load(path, pipeline, &t);
	if (rc)
		return rc;
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

static int run(const char *path, const char *pipeline)
{
	struct topology *t;
	int rc = load(path, pipeline, &t);
	if (rc)
		return rc;
	if (pipeline) /* one-liners run side by side: name each after its supervisor */
		snprintf(t->name, sizeof(t->name), "pipeline-%d", (int)getpid());
	const char *q = getenv("SHMRING_QUIET");
	rc = run_topology(t, q && *q && strcmp(q, "0"));
	topo_free(t);
	return rc;
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
	if (argc == 3 && !strcmp(argv[1], "run"))
		return run(argv[2], NULL);
	if (argc == 4 && !strcmp(argv[1], "run") && !strcmp(argv[2], "-e"))
		return run(NULL, argv[3]);
	if (argc == 3 && !strcmp(argv[1], "stop"))
		return stop_topology(argv[2], 60000);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		fprintf(stderr, "shmring-supervisor: run takes one FILE, or -e PIPELINE\n");
	else if (argc >= 2 && !strcmp(argv[1], "stop"))
		fprintf(stderr, "shmring-supervisor: stop takes one topology NAME\n");
	else if (argc >= 2 && strcmp(argv[1], "check"))
		fprintf(stderr, "shmring-supervisor: unknown command '%s'\n", argv[1]);
	else
		fprintf(stderr, "shmring-supervisor: check takes one FILE, or -e PIPELINE\n");
	fputs(USAGE, stderr);
	return 100;
}
