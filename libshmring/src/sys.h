/* SPDX-License-Identifier: MIT */
/*
 * System calls wrapped once into -errno form, liburing style. Nothing in here
 * retries on EINTR unless the call is idempotent and the caller wants it.
 */
#ifndef SHMRING_SRC_SYS_H
#define SHMRING_SRC_SYS_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Shared (not _PRIVATE) futex operations: the word lives in a MAP_SHARED
 * segment and the waker is another process. A private waiter is never woken
 * by a shared waker (FACTS.md).
 */
static inline int smr_futex_wait(void *uaddr, uint32_t expected, const struct timespec *rel)
{
	long r = syscall(SYS_futex, uaddr, FUTEX_WAIT, expected, rel, NULL, 0);
	return r < 0 ? -errno : 0;
}

static inline int smr_futex_wake(void *uaddr, int n)
{
	long r = syscall(SYS_futex, uaddr, FUTEX_WAKE, n, NULL, NULL, 0);
	return r < 0 ? -errno : (int)r;
}

static inline uint64_t smr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
