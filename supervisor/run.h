/* SPDX-License-Identifier: MIT */
/* shmring-supervisor run and stop: launch and supervise a topology. */
#ifndef SHMRING_SUPERVISOR_RUN_H
#define SHMRING_SUPERVISOR_RUN_H

#include "topology.h"

/* How a run ended: the supervisor's exit code. */
enum run_exit {
	RUN_OK = 0,         /* ended by itself: every kernel finished its stream */
	RUN_INVALID = 1,    /* the topology is invalid (as check) */
	RUN_FAILED = 2,     /* a kernel failed and its policy did not restart it */
	RUN_INTENSITY = 3,  /* restart intensity reached: too many crashes */
	RUN_STOPPED = 4,    /* stopped on request; every kernel left in the grace period */
	RUN_KILLED = 5,     /* stopped on request; some kernel had to be killed */
	RUN_SYSTEM = 111,   /* system error (fork, memory, ...) */
};

/* Launch t (already validated), supervise it in the foreground, return how
 * it ended. workdir: where the kernels run (the topology file's folder), NULL
 * for the supervisor's own working directory. quiet: no summary lines. */
int run_topology(struct topology *t, const char *workdir, int quiet);

/* Ask the running topology `name` to stop (SIGTERM to its supervisor) and
 * wait up to wait_ms for it to end. 0 stopped, 1 not running, 111 error. */
int stop_topology(const char *name, int wait_ms);

#endif
