/* SPDX-License-Identifier: MIT */
/* Restart decisions: see supervise.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "supervise.h"

enum sv_exit sv_classify(int wait_status, int finished)
{
	if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
		return finished ? SV_FINISHED : SV_NORMAL;
	return SV_FAILED;
}

int sv_should_restart(enum topo_restart policy, enum sv_exit how)
{
	if (how == SV_FINISHED)
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
