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
 * by a shared waker (seen: 0 wakes).
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

/* futex_waitv(2) (Linux 5.16): sleep until any of n words differs from its
 * value or is woken, for at most rel_ns. Shared futexes (no FUTEX2_PRIVATE),
 * so FUTEX_WAKE from another process reaches them. 0, or -errno (-ENOSYS on
 * older kernels: callers fall back to short naps). */
#ifndef FUTEX_WAITV_MAX
#define FUTEX_WAITV_MAX 128 /* words one futex_waitv takes (uapi, 5.16) */
#endif

struct smr_futex_waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

static inline int smr_futex_waitv(struct smr_futex_waitv *w, unsigned n, uint64_t rel_ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t abs_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + rel_ns;
	ts.tv_sec = (time_t)(abs_ns / 1000000000ull);
	ts.tv_nsec = (long)(abs_ns % 1000000000ull);
	long r = syscall(SYS_futex_waitv, w, n, 0, &ts, CLOCK_MONOTONIC);
	return r < 0 ? -errno : 0;
}

static inline uint64_t smr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
