/* SPDX-License-Identifier: MIT */
/* Restart decisions: see supervise.h. */
#include <errno.h>
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

enum sv_counts sv_ring_counts(uint64_t msgs_in, uint64_t msgs_out, uint64_t redelivered,
			      uint64_t fill_bytes, uint64_t capacity, unsigned kills,
			      struct sv_ring_counts *out)
{
	*out = (struct sv_ring_counts){ 0 };
	/* A record takes at least 16 bytes (8-byte header, 8-aligned payload
	 * of at least 1), so a ring holds at most capacity / 16 messages: the
	 * most one batch can be, so the most one kill can leave uncounted.
	 * The two counts can differ by that much per kill, and by what is in
	 * the ring. capacity / 8 per kill, plus one ringful, is generous. */
	uint64_t per = capacity / 8 ? capacity / 8 : 1;
	uint64_t slack = per * ((uint64_t)kills + 1);
	if (msgs_in > SV_COUNTS_MAX || msgs_out > SV_COUNTS_MAX || redelivered > SV_COUNTS_MAX ||
	    fill_bytes > capacity || slack > SV_COUNTS_MAX)
		return SV_COUNTS_CORRUPT;
	if (msgs_out > msgs_in) {
		if (msgs_out - msgs_in > slack)
			return SV_COUNTS_CORRUPT;
		out->messages = msgs_out;
		out->redelivered = redelivered;
		out->lag = msgs_out - msgs_in;
		return SV_COUNTS_LAG;
	}
	if (msgs_in - msgs_out > slack)
		return SV_COUNTS_CORRUPT;
	out->messages = msgs_in;
	out->redelivered = redelivered;
	/* An empty ring left nothing unconsumed: a difference then is the
	 * consumer's count lagging (killed between a release and its count). */
	out->left = fill_bytes ? msgs_in - msgs_out : 0;
	return SV_COUNTS_OK;
}
