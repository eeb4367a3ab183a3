/* SPDX-License-Identifier: MIT */
/* Restart decisions, the kernel lifecycle table and the end-of-run summary's
 * counts and words: see supervise.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <shmring/kernel.h>

#include "supervise.h"

enum sv_exit sv_classify(int wait_status, int finished)
{
	if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
		return finished ? SV_FINISHED : SV_NORMAL;
	if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == SHMRING_EXIT_CONFIG)
		return SV_CONFIG;
	return SV_FAILED;
}

int sv_should_restart(enum topo_restart policy, enum sv_exit how)
{
	if (how == SV_FINISHED || how == SV_CONFIG)
		return 0;
	switch (policy) {
	case TOPO_PERMANENT:
		return 1;
	case TOPO_TRANSIENT:
		return how == SV_FAILED;
	case TOPO_TEMPORARY:
		return 0;
	}
	return 0;
}

/*
 * The lifecycle table; docs/supervisor.md has it in the same form. DOWN is
 * only the initial state, no cell leads back to it: so a cell left empty
 * ({DOWN, NONE}) means "stays where it is, nothing to do", and only the
 * transitions are written out.
 */
#define TO(state, action) { SV_ST_##state, SV_ACT_##action }
#define EXITS(state, action)                                                  \
	[SV_EV_EXIT_FINISHED] = TO(state, action), [SV_EV_EXIT_NORMAL] = TO(state, action), \
	[SV_EV_EXIT_FAILED] = TO(state, action), [SV_EV_EXIT_RESTART] = TO(state, action), \
	[SV_EV_EXIT_CONFIG] = TO(state, action)
static const struct sv_step table[SV_NSTATES][SV_NEVENTS] = {
	[SV_ST_DOWN] = {
		[SV_EV_SPAWNED] = TO(RUNNING, NONE),
		[SV_EV_SPAWN_FAILED] = TO(GONE, STOP_TOPOLOGY),
	},
	[SV_ST_RUNNING] = {
		[SV_EV_EXIT_FINISHED] = TO(FINISHED, NONE),
		[SV_EV_EXIT_NORMAL] = TO(GONE, LEFT_DOWN),
		[SV_EV_EXIT_FAILED] = TO(GONE, FAILED),
		[SV_EV_EXIT_RESTART] = TO(RESTART_PENDING, RESTART),
		[SV_EV_EXIT_CONFIG] = TO(GONE, CONFIG),
		[SV_EV_GROUP_RESTART] = TO(RESTARTING, ASK_STOP),
		[SV_EV_STOP] = TO(STOPPING, ASK_STOP),
		[SV_EV_KILL_NOW] = TO(KILLED_NOW, KILL),
	},
	/* Stopped for a sibling's restart: back whatever its exit (we asked),
	 * unless it finished meanwhile or cannot run as configured. A stop
	 * of the topology takes over its grace period as it stands. */
	[SV_ST_RESTARTING] = {
		[SV_EV_EXIT_FINISHED] = TO(FINISHED, NONE),
		[SV_EV_EXIT_NORMAL] = TO(RESTART_PENDING, NONE),
		[SV_EV_EXIT_FAILED] = TO(RESTART_PENDING, NONE),
		[SV_EV_EXIT_RESTART] = TO(RESTART_PENDING, NONE),
		[SV_EV_EXIT_CONFIG] = TO(GONE, CONFIG),
		[SV_EV_STOP] = TO(STOPPING, NONE),
		[SV_EV_GRACE_OVER] = TO(RESTART_KILLED, KILL),
		[SV_EV_KILL_NOW] = TO(KILLED_NOW, KILL),
	},
	[SV_ST_RESTART_KILLED] = {
		[SV_EV_EXIT_FINISHED] = TO(FINISHED, SAY_OVERRAN),
		[SV_EV_EXIT_NORMAL] = TO(RESTART_PENDING, SAY_OVERRAN),
		[SV_EV_EXIT_FAILED] = TO(RESTART_PENDING, SAY_OVERRAN),
		[SV_EV_EXIT_RESTART] = TO(RESTART_PENDING, SAY_OVERRAN),
		[SV_EV_EXIT_CONFIG] = TO(GONE, CONFIG),
		[SV_EV_STOP] = TO(KILLED, NONE),
	},
	[SV_ST_RESTART_PENDING] = {
		[SV_EV_SPAWNED] = TO(RUNNING, NONE),
		[SV_EV_SPAWN_FAILED] = TO(GONE, CLOSE_ENDS),
		[SV_EV_STOP] = TO(EXITED, NONE),
	},
	/* The topology stops: whatever the exit, nothing is restarted or
	 * reported but a kill. */
	[SV_ST_STOPPING] = {
		EXITS(EXITED, NONE),
		[SV_EV_GRACE_OVER] = TO(KILLED, KILL),
		[SV_EV_KILL_NOW] = TO(KILLED_NOW, KILL),
	},
	[SV_ST_KILLED] = { EXITS(EXITED, OVERRAN) },
	[SV_ST_KILLED_NOW] = { EXITS(EXITED, KILLED) },
	/* EXITED, FINISHED, GONE: final, every cell empty */
};
#undef EXITS
#undef TO

struct sv_step sv_step(enum sv_state state, enum sv_event ev)
{
	struct sv_step stay = { state, SV_ACT_NONE };
	if ((unsigned)state >= SV_NSTATES || (unsigned)ev >= SV_NEVENTS)
		return stay;
	struct sv_step cell = table[state][ev];
	return cell.next == SV_ST_DOWN ? stay : cell;
}

enum sv_event sv_exit_event(int wait_status, int finished, enum topo_restart policy)
{
	enum sv_exit how = sv_classify(wait_status, finished);
	if (how == SV_FINISHED)
		return SV_EV_EXIT_FINISHED;
	if (how == SV_CONFIG)
		return SV_EV_EXIT_CONFIG;
	if (sv_should_restart(policy, how))
		return SV_EV_EXIT_RESTART;
	return how == SV_NORMAL ? SV_EV_EXIT_NORMAL : SV_EV_EXIT_FAILED;
}

int sv_has_process(enum sv_state state)
{
	return state == SV_ST_RUNNING || state == SV_ST_RESTARTING ||
	       state == SV_ST_RESTART_KILLED || state == SV_ST_STOPPING || state == SV_ST_KILLED ||
	       state == SV_ST_KILLED_NOW;
}

int sv_is_done(enum sv_state state)
{
	return state == SV_ST_FINISHED || state == SV_ST_GONE;
}

const char *sv_state_name(enum sv_state state)
{
	static const char *const name[SV_NSTATES] = {
		"DOWN", "RUNNING", "RESTARTING", "RESTART_KILLED", "RESTART_PENDING", "STOPPING",
		"KILLED", "KILLED_NOW", "EXITED", "FINISHED", "GONE",
	};
	return (unsigned)state < SV_NSTATES ? name[state] : "?";
}

const char *sv_event_name(enum sv_event ev)
{
	static const char *const name[SV_NEVENTS] = {
		"spawned", "spawn failed", "exit finished", "exit normal", "exit failed",
		"exit restart", "exit 78", "group restart", "stop", "grace over", "kill now",
	};
	return (unsigned)ev < SV_NEVENTS ? name[ev] : "?";
}

const char *sv_action_name(enum sv_action act)
{
	static const char *const name[SV_NACTIONS] = {
		"none", "ask stop", "kill", "restart", "left down", "failed", "config",
		"stop topology", "close ends", "say overran", "overran", "killed",
	};
	return (unsigned)act < SV_NACTIONS ? name[act] : "?";
}

void sv_restart_set(enum topo_strategy s, size_t n, const size_t *order, const int *done,
		    size_t failed, int *member)
{
	for (size_t i = 0; i < n; i++)
		member[i] = 0;
	if (failed >= n)
		return;
	member[failed] = 1;
	if (s == TOPO_ONE_FOR_ALL) {
		for (size_t i = 0; i < n; i++)
			if (!done[i])
				member[i] = 1;
	} else if (s == TOPO_REST_FOR_ONE) {
		int after = 0;
		for (size_t j = 0; j < n; j++) {
			size_t i = order[j];
			if (i == failed)
				after = 1;
			else if (after && !done[i])
				member[i] = 1;
		}
	}
}

int sv_intensity_init(struct sv_intensity *in, unsigned max, uint64_t period_ns)
{
	in->max = max;
	in->period_ns = period_ns;
	in->count = in->next = 0;
	in->times = calloc((size_t)max + 1, sizeof(uint64_t));
	return in->times ? 0 : -ENOMEM;
}

unsigned sv_intensity_recent(const struct sv_intensity *in, uint64_t now_ns)
{
	unsigned n = 0;
	for (unsigned i = 0; i < in->count; i++)
		if (now_ns - in->times[i] <= in->period_ns)
			n++;
	return n;
}

int sv_intensity_record(struct sv_intensity *in, uint64_t now_ns)
{
	/* Keep the last max+1 restart times; too many when all of them fall
	 * within one period (OTP: more than MaxR restarts in MaxT seconds). */
	in->times[in->next] = now_ns;
	in->next = (in->next + 1) % (in->max + 1);
	if (in->count < in->max + 1)
		in->count++;
	return sv_intensity_recent(in, now_ns) > in->max;
}

void sv_intensity_free(struct sv_intensity *in)
{
	free(in->times);
	in->times = NULL;
}

uint64_t sv_ready_deadline_ms(uint64_t ready_ms, size_t nkernels)
{
	if (ready_ms)
		return ready_ms;
	return SV_READY_BASE_MS + (uint64_t)SV_READY_MS_PER_KERNEL * nkernels;
}

enum sv_counts sv_ring_counts(const struct shmring_stats *st, unsigned kills,
			      struct sv_ring_counts *out)
{
	*out = (struct sv_ring_counts){ 0 };
	uint64_t in = st->msgs_in, outs = st->msgs_out, capacity = st->capacity;
	/* A record takes at least 16 bytes (8-byte header, 8-aligned payload
	 * of at least 1), so a ring holds at most capacity / 16 messages: the
	 * most one batch can be, so the most one kill can leave uncounted.
	 * The two counts can differ by that much per kill, and by what is in
	 * the ring. capacity / 8 per kill, plus one ringful, is generous. */
	uint64_t per = capacity / 8 ? capacity / 8 : 1;
	uint64_t slack = per * ((uint64_t)kills + 1);
	if (in > SV_COUNTS_MAX || outs > SV_COUNTS_MAX || st->redelivered > SV_COUNTS_MAX ||
	    st->suppressed > SV_COUNTS_MAX || st->skipped > SV_COUNTS_MAX ||
	    st->fill > capacity || slack > SV_COUNTS_MAX)
		return SV_COUNTS_CORRUPT;
	if ((outs > in ? outs - in : in - outs) > slack)
		return SV_COUNTS_CORRUPT;
	out->redelivered = st->redelivered;
	out->suppressed = st->suppressed;
	out->skipped = st->skipped;
	if (outs > in) {
		out->messages = outs;
		out->lag = outs - in;
		return SV_COUNTS_LAG;
	}
	out->messages = in;
	/* An empty ring left nothing unconsumed: a difference then is the
	 * consumer's count lagging (killed between a release and its count). */
	out->left = st->fill ? in - outs : 0;
	return SV_COUNTS_OK;
}

/* snprintf's length, never past what buf holds. */
static size_t fitted(int n, size_t cap)
{
	if (n < 0 || cap == 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t sv_ring_line(char *buf, size_t cap, const char *label, enum sv_counts how,
		    const struct sv_ring_counts *c, int nonempty)
{
	if (cap)
		buf[0] = '\0';
	if (how == SV_COUNTS_CORRUPT)
		return fitted(snprintf(buf, cap, "ring %s: counters unreadable (ring corrupt?)", label),
			      cap);
	if (how == SV_COUNTS_OK && !c->redelivered && !c->left && !c->suppressed && !c->skipped &&
	    !c->dropped)
		return 0;
	/* What the exactly-once machinery did, only when it did something:
	 * a run without restarts reads as before. */
	char sup[96] = "", skip[160] = "";
	if (c->suppressed)
		snprintf(sup, sizeof(sup), ", %llu suppressed (restarted producer's duplicates)",
			 (unsigned long long)c->suppressed);
	size_t at = 0;
	if (c->skipped)
		at = fitted(snprintf(skip, sizeof(skip), ", %llu skipped (covered by a checkpoint)",
				     (unsigned long long)c->skipped), sizeof(skip));
	if (c->dropped)
		snprintf(skip + at, sizeof(skip) - at, ", %llu dropped (slow: drop, it fell behind)",
			 (unsigned long long)c->dropped);
	if (how == SV_COUNTS_LAG)
		return fitted(snprintf(buf, cap, "ring %s: %llu messages, %llu redelivered (consumer "
				       "taken over)%s%s; the producer's count lags by %llu (it was "
				       "killed between a commit and its count); %s", label,
				       (unsigned long long)c->messages,
				       (unsigned long long)c->redelivered, sup, skip,
				       (unsigned long long)c->lag,
				       nonempty ? "some left in the ring, never consumed"
						: "nothing left in the ring"), cap);
	return fitted(snprintf(buf, cap, "ring %s: %llu messages, %llu redelivered (consumer taken "
			       "over)%s%s, %llu never consumed", label,
			       (unsigned long long)c->messages, (unsigned long long)c->redelivered,
			       sup, skip, (unsigned long long)c->left), cap);
}

size_t sv_resume_line(char *buf, size_t cap, const char *name, uint32_t resumes,
		      uint64_t resumed_gen, uint64_t skipped)
{
	if (cap)
		buf[0] = '\0';
	if (!resumes)
		return 0;
	return fitted(snprintf(buf, cap, "kernel '%s': resumed from checkpoint %u time%s (last "
			       "generation %llu), %llu input message%s skipped", name, resumes,
			       resumes == 1 ? "" : "s", (unsigned long long)resumed_gen,
			       (unsigned long long)skipped, skipped == 1 ? "" : "s"), cap);
}
