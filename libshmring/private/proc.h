/* SPDX-License-Identifier: MIT */
/*
 * What the kernel says about processes and time: the one reader of
 * /proc/PID/stat (a process's state, CPU time and start time), the owner
 * word built from it, and the one clock helper. Private, like control.h.
 *
 * An owner word names a process in shared memory: pid << 32 | the low 32
 * bits of its start time in clock ticks since boot. A pid alone is not
 * enough: pids are recycled, and a dead owner's pid may belong to another
 * process by the time someone looks; the start time tells them apart.
 */
#ifndef SHMRING_PRIVATE_PROC_H
#define SHMRING_PRIVATE_PROC_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct smr_proc_stat {
	char state;           /* field 3: R, S, D, T, Z (zombie), X (dead), ... */
	uint64_t cpu_ticks;   /* fields 14 + 15: user + system time, clock ticks */
	uint64_t start_ticks; /* field 22: start time, clock ticks since boot */
};

/* /proc/PID/stat of pid into *st: 0, or -errno (-ENOENT: no such process,
 * or no /proc; -EBADMSG: a line this parser does not understand). */
int smr_proc_stat(pid_t pid, struct smr_proc_stat *st);

/* pid's owner word; its low half is 0 when /proc cannot say (readers then
 * compare the pid alone). */
uint64_t smr_owner_word(pid_t pid);

/* Clock clk (CLOCK_MONOTONIC for intervals and deadlines, CLOCK_REALTIME for
 * wall-clock times shown to people) in nanoseconds. */
static inline uint64_t smr_clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
