/* SPDX-License-Identifier: MIT */
/*
 * The restart decisions of shmring-supervisor and the lifecycle table of a
 * kernel, kept free of processes so they are unit-tested directly
 * (tests/unit/supervise-test.c). Erlang/OTP semantics, with one dataflow
 * rule on top: a kernel that finished its stream (exit 0 after
 * shmring_kernel_detach closed its ports) is never restarted, whatever its
 * policy; restarting a finished source would replay its stream.
 */
#ifndef SHMRING_SUPERVISOR_SUPERVISE_H
#define SHMRING_SUPERVISOR_SUPERVISE_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/ring.h>

#include "topology.h"

enum sv_exit {
	SV_FINISHED, /* exit 0 and detached after finishing: done for good */
	SV_NORMAL,   /* exit 0 without finishing (OTP "normal") */
	SV_FAILED,   /* non-zero exit or killed by a signal */
	SV_CONFIG,   /* exit SHMRING_EXIT_CONFIG (78): bad usage or configuration */
};

/* What a wait status plus the kernel's finished flag mean. Exit 78
 * (SHMRING_EXIT_CONFIG) is SV_CONFIG whatever the flag. */
enum sv_exit sv_classify(int wait_status, int finished);

/* Should a kernel with this policy be restarted after this exit? Never for
 * SV_FINISHED (the stream would replay) nor SV_CONFIG (retrying cannot fix a
 * missing file or a bad argument: the supervisor stops the topology). */
int sv_should_restart(enum topo_restart policy, enum sv_exit how);

/*
 * The lifecycle of one kernel, as the supervisor sees it: one table indexed
 * by state and event (docs/supervisor.md has the same table). run.c feeds
 * the events, moves the kernel to the next state, and performs the action
 * the cell names; nothing else changes a kernel's state.
 *
 * READY and ACTIVE are the kernel's own states in the control segment (it
 * writes them): the supervisor reads them to activate the topology and to
 * name late kernels, and decides nothing on them. A kernel's exit means the
 * same before and after it reported ready, so RUNNING covers all three.
 */
enum sv_state {
	SV_ST_DOWN,           /* not started yet: the initial state only */
	SV_ST_RUNNING,        /* launched (the kernel reports READY, ACTIVE) */
	SV_ST_RESTARTING,     /* asked to stop for its restart group; grace running */
	SV_ST_RESTART_KILLED, /* ... grace over: SIGKILLed */
	SV_ST_RESTART_PENDING, /* down; started again once its restart group is down */
	SV_ST_STOPPING,       /* asked to stop with the topology; grace running */
	SV_ST_KILLED,         /* ... grace over: SIGKILLed */
	SV_ST_KILLED_NOW,     /* SIGKILLed at once (second signal, system error) */
	SV_ST_EXITED,         /* exited while the topology stops */
	SV_ST_FINISHED,       /* finished its stream: never started again */
	SV_ST_GONE,           /* gone for good: could not start, exit 78, left down */
	SV_NSTATES
};

enum sv_event {
	SV_EV_SPAWNED,       /* started (exec'd) */
	SV_EV_SPAWN_FAILED,  /* could not be started (pipe, clone, bind, chdir, exec) */
	SV_EV_EXIT_FINISHED, /* exited 0 after finishing its stream */
	SV_EV_EXIT_NORMAL,   /* exited 0 without finishing; its policy leaves it down */
	SV_EV_EXIT_FAILED,   /* failed; its policy leaves it down */
	SV_EV_EXIT_RESTART,  /* exited in a way its policy restarts */
	SV_EV_EXIT_CONFIG,   /* exited SHMRING_EXIT_CONFIG (78) */
	SV_EV_GROUP_RESTART, /* a kernel of its restart group (strategy) restarts */
	SV_EV_STOP,          /* the topology stops */
	SV_EV_GRACE_OVER,    /* its grace period is over */
	SV_EV_KILL_NOW,      /* kill at once: second signal, system error */
	SV_NEVENTS
};

/* What run.c does on a transition, after moving the kernel to its next
 * state. */
enum sv_action {
	SV_ACT_NONE,
	SV_ACT_ASK_STOP,      /* set its stop flag and wake it; its grace starts */
	SV_ACT_KILL,          /* SIGKILL its process group */
	SV_ACT_RESTART,       /* count a restart (intensity reached: stop the
				 topology), else GROUP_RESTART its restart group */
	SV_ACT_LEFT_DOWN,     /* say it stays down, close its ring ends */
	SV_ACT_FAILED,        /* say it failed and stays down (the run fails),
				 close its ring ends */
	SV_ACT_CONFIG,        /* say it exited 78 (the run fails), stop the topology */
	SV_ACT_STOP_TOPOLOGY, /* the launch failed: stop the topology */
	SV_ACT_CLOSE_ENDS,    /* close its ring ends (a restart could not start) */
	SV_ACT_SAY_OVERRAN,   /* say now that it overran its grace period */
	SV_ACT_OVERRAN,       /* name it in the end's overran line; the run was killed */
	SV_ACT_KILLED,        /* the run was killed (exit 5) */
	SV_NACTIONS
};

struct sv_step {
	enum sv_state next;
	enum sv_action act;
};

/* The cell for (state, event): where the kernel goes and what to do. An
 * event a state does not expect leaves it where it is, doing nothing. */
struct sv_step sv_step(enum sv_state state, enum sv_event ev);

/* The event a kernel's exit is: sv_classify, then its policy. */
enum sv_event sv_exit_event(int wait_status, int finished, enum topo_restart policy);

/* The kernel has a process (to reap, to stop, to kill). */
int sv_has_process(enum sv_state state);
/* Finished or gone for good: never started again, never in a restart group. */
int sv_is_done(enum sv_state state);

/* Names as docs/supervisor.md's table writes them ("RESTART_PENDING",
 * "exit restart", "ask stop"). */
const char *sv_state_name(enum sv_state state);
const char *sv_event_name(enum sv_event ev);
const char *sv_action_name(enum sv_action act);

/*
 * The ready deadline: every kernel must report ready within this many ms of
 * the launch. supervision.ready when set (ready_ms > 0), else 10 s plus
 * SV_READY_MS_PER_KERNEL per kernel (a big topology on few cores takes
 * longer to exec and attach: measured on 2 busy cores, about 1.2 ms a
 * kernel, 10 under ASan).
 */
#define SV_READY_BASE_MS 10000u
#define SV_READY_MS_PER_KERNEL 20u
uint64_t sv_ready_deadline_ms(uint64_t ready_ms, size_t nkernels);

/*
 * What the end-of-run summary may say about a ring, from its counters
 * (shmring_stats), which are statistics, not protocol: each end stores its
 * count after publishing, so a kernel killed in between leaves its count
 * behind by up to one batch, and a scribbled segment holds anything. kills:
 * how many times either end's kernel was restarted or killed (each may have
 * left a count behind). Never yields a wrapped-around number.
 */
enum sv_counts {
	SV_COUNTS_OK,      /* in >= out: messages = in, left = unconsumed */
	SV_COUNTS_LAG,     /* out > in by no more than kills allow: the
			      producer's count lags; messages = out, lag = out - in */
	SV_COUNTS_CORRUPT, /* implausible: say "counters unreadable" */
};
struct sv_ring_counts {
	uint64_t messages;    /* committed, as well as the counters tell */
	uint64_t redelivered; /* handed again to a consumer that took over */
	uint64_t suppressed;  /* a restarted producer's sends for input already
				 answered, dropped (exactly once, kernel.h) */
	uint64_t skipped;     /* redelivered messages a restarted consumer's
				 checkpoint covered, skipped */
	uint64_t left;        /* messages never consumed (OK only; 0 when the
				 ring is empty, whatever the counters say) */
	uint64_t lag;         /* LAG: by how much the producer's count lags */
	uint64_t dropped;     /* a broadcast consumer with slow: drop: messages
				 it was moved past unread (set by the caller;
				 sv_ring_counts leaves it 0) */
};
/* Any counter above this is taken for a scribble (2^56: two years at 1e9
 * messages a second). */
#define SV_COUNTS_MAX (1ull << 56)
enum sv_counts sv_ring_counts(const struct shmring_stats *st, unsigned kills,
			      struct sv_ring_counts *out);

/*
 * The summary's line for ring `label` (its ends, "gen.out -> double.in"),
 * without the program's prefix, into buf: its length, or 0 when the ring
 * has nothing to say (every message consumed once, no restart left a
 * trace). nonempty: the ring holds bytes now.
 */
size_t sv_ring_line(char *buf, size_t cap, const char *label, enum sv_counts how,
		    const struct sv_ring_counts *c, int nonempty);

/*
 * The summary's line for kernel `name` from its control block's counters
 * (written by the kernel at each attach that restored a checkpoint):
 * its length, or 0 when it never resumed from one.
 */
size_t sv_resume_line(char *buf, size_t cap, const char *name, uint32_t resumes,
		      uint64_t resumed_gen, uint64_t skipped);

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
