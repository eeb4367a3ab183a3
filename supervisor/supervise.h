/* SPDX-License-Identifier: MIT */
/*
 * The restart decisions of shmring-supervisor, kept free of processes so they
 * are unit-tested directly (tests/unit/supervise-test.c). Erlang/OTP
 * semantics, with one dataflow rule on top: a kernel that finished its stream
 * (exit 0 after shmring_kernel_detach closed its ports) is never restarted,
 * whatever its policy; restarting a finished source would replay its stream.
 */
#ifndef SHMRING_SUPERVISOR_SUPERVISE_H
#define SHMRING_SUPERVISOR_SUPERVISE_H

#include <stddef.h>
#include <stdint.h>

#include "topology.h"

enum sv_exit {
	SV_FINISHED, /* exit 0 and detached after finishing: done for good */
	SV_NORMAL,   /* exit 0 without finishing (OTP "normal") */
	SV_FAILED,   /* non-zero exit or killed by a signal */
};

/* What a wait status plus the kernel's finished flag mean. */
enum sv_exit sv_classify(int wait_status, int finished);

/* Should a kernel with this policy be restarted after this exit? */
int sv_should_restart(enum topo_restart policy, enum sv_exit how);

/*
 * Which kernels a restart of kernel `failed` takes down with it: sets
 * member[i] = 1 for each, failed included. order[] is the graph order
 * (topo_graph_order); done[i] marks kernels that are finished or gone for
 * good, which are never taken. one_for_one: the failed kernel only;
 * one_for_all: every kernel not done; rest_for_one: the failed one and those
 * after it in graph order.
 */
void sv_restart_set(enum topo_strategy s, size_t n, const size_t *order, const int *done,
		    size_t failed, int *member);

/*
 * Restart intensity: at most `max` restarts within `period_ns`. Record one
 * restart at `now`; returns 1 if that is one too many (the topology must
 * stop), 0 if allowed.
 */
struct sv_intensity {
	unsigned max;
	uint64_t period_ns;
	uint64_t *times; /* ring of the last max+1 restart times */
	unsigned count, next;
};
int  sv_intensity_init(struct sv_intensity *in, unsigned max, uint64_t period_ns);
int  sv_intensity_record(struct sv_intensity *in, uint64_t now_ns);
/* Restarts within the period before now (for messages). */
unsigned sv_intensity_recent(const struct sv_intensity *in, uint64_t now_ns);
void sv_intensity_free(struct sv_intensity *in);

#endif
