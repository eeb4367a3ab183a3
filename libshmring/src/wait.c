/* SPDX-License-Identifier: MIT */
/*
 * Waiting and waking, and telling whether the peer is still alive.
 *
 * The sleep/wake handshake (docs/ring.md, "Wait protocol"). Each end has a
 * `sleeping` flag and a 32-bit `futex_seq` word in its own control block.
 *
 *   sleeper (waits for the peer to move)          waker (made progress visible)
 *   S1 seq = load-acquire(me->futex_seq)          W1 store-release of a record
 *                                                    header (R1) or of tail (C2)
 *   S2 store-release(me->sleeping, 1)             W2 full fence
 *   S3 full fence                                 W3 load-acquire(peer->sleeping)
 *   S4 re-check header / tail; ready? leave       W4 if 1: seq += 1 (release),
 *   S5 FUTEX_WAIT(&futex_seq, seq, slice)            FUTEX_WAKE(&futex_seq)
 *   S6 store(me->sleeping, 0)
 *
 * S3/W2 pair as a Dekker handshake: either the waker's W3 sees sleeping == 1,
 * or the sleeper's S4 sees the new header or tail (both cannot miss). If W3 sees 1, it
 * read the value S2 stored, and S2 is a release after S1: so S1 happens
 * before W4's increment and read an older seq; FUTEX_WAIT then finds the word
 * changed (-EAGAIN) or is woken by W4. A wake-up between S4 and S5 is
 * therefore never lost. The futex system call itself is no barrier
 * (circular-buffers.rst): all ordering comes from the atomics above.
 *
 * The protocol is written once, in smr_sleep, for any number of ends: a
 * ring's own wait sleeps on its one end, shmring_kernel_wait (kernel.c) on
 * every input of a kernel at once. S1-S2 are done for each end, then one S3
 * fence covers them all (it orders every announcement before every re-check,
 * which is what each end's Dekker pair needs), S4 re-checks them all, S5 is
 * one sleep on every end's futex_seq, S6 clears each flag.
 *
 * Waits sleep in slices of at most r->peer_check_ms (100 ms, or
 * SHMRING_PEER_CHECK_MS from the environment) so a dead peer, who will never
 * wake us, is noticed. The slices also hide a lost wake-up from anything but
 * latency, so the futex stress tests run with 60 s slices: there a lost
 * wake-up hangs, and the watchdog fails the test.
 *
 * A kernel's ports (kernel.c) also watch the kernel's stop flag
 * (r->cancel): the sleep is a futex_waitv over futex_seq and the flag, and
 * the wait ends with -ECANCELED once the supervisor sets it, so a kernel
 * blocked in any ring call notices a stop at once.
 *
 * One futex_waitv takes FUTEX_WAITV_MAX (128) words, the stop flag one of
 * them. A kernel that called shmring_io_init sleeps in its io_uring (io.c,
 * reached through s->io_ops: one FUTEX_WAITV operation per 128 words, all
 * armed at once, one wait for the first completion), so every input wakes
 * it. Otherwise, or where io_uring has no futex operations (before Linux
 * 6.7), smr_futex_sleep sleeps on the first 128 words and looks at the rest
 * every SMR_POLL_SLICE_NS: correct, with up to 1 ms of latency on those
 * inputs. This library makes no io_uring of its own: it links no liburing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io_internal.h"
#include "proc.h"
#include "ring_internal.h"
#include "sys.h"

/* How often a waiting end checks that its peer lives: 100 ms, or
 * SHMRING_PEER_CHECK_MS (1 to 3600000) from the environment. */
uint64_t smr_peer_check_ms(void)
{
	const char *e = getenv("SHMRING_PEER_CHECK_MS");
	if (e && *e) {
		char *end;
		unsigned long long v = strtoull(e, &end, 10);
		if (!*end && v >= 1 && v <= 3600000)
			return v;
	}
	return 100;
}

uint64_t smr_owner_word_self(void)
{
	return smr_owner_word(getpid());
}

bool smr_owner_alive(uint64_t owner)
{
	if (owner == 0)
		return false;
	pid_t pid = (pid_t)(owner >> 32);
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	struct smr_proc_stat st;
	if (smr_proc_stat(pid, &st) < 0)
		return true; /* /proc cannot say; kill() found the pid */
	/* A zombie is dead for our purposes: its parent just has not reaped it. */
	if (st.state == 'Z' || st.state == 'X')
		return false;
	/* Pid recycled by another process: the original is gone. An owner
	 * word without start ticks (no /proc when it was made) has the pid only. */
	return (uint32_t)owner == 0 || (uint32_t)st.start_ticks == (uint32_t)owner;
}

void smr_wake_peer(struct shmring *r)
{
	/* W2: full fence. Orders the caller's store-release (W1: a header or
	 * tail) before the load of the peer's sleeping flag; pairs with the
	 * sleeper's S3 fence. Without it the store could sit in the store buffer
	 * while we read a stale 0, and the sleeper would miss it. */
	smr_fence_full();
	/* W3: acquire pairs with the sleeper's S2 store-release, so the sleeper's
	 * S1 read of futex_seq happens before our increment below. */
	if (smr_load_acquire(&r->peer->sleeping))
		smr_wake_peer_always(r);
}

void smr_wake_peer_always(struct shmring *r)
{
	/* W4: change the word the sleeper waits on, then wake it. The increment
	 * makes a FUTEX_WAIT that has not started yet return at once. */
	smr_fetch_add_release(&r->peer->futex_seq, 1u);
	/* Every waiter on the word, not one: a kernel doing I/O may have a
	 * futex operation parked in its io_uring on the same word (io.c); a
	 * wake of one could land there and miss the thread that sleeps. */
	if (smr_futex_wake(&r->peer->futex_seq, INT_MAX) >= 0)
		smr_counter_add(&r->my_ctr->wakes, 1);
}

/* Acquire: pairs with the supervisor's release of the stop flag. */
static inline int cancelled(const struct shmring *r)
{
	return r->cancel && smr_load_acquire(r->cancel) != 0;
}

static int deadline_passed(uint64_t deadline, uint64_t now)
{
	return deadline != UINT64_MAX && now >= deadline;
}

/* Every peer_check_ms of waiting: is the peer still there? A role never
 * taken (owner 0) is not dead: a consumer may attach later. */
static int check_peer(struct shmring *r, uint64_t *next_check, uint64_t now)
{
	if (now < *next_check)
		return 0;
	*next_check = now + r->peer_check_ms * 1000000ull;
	uint64_t owner = smr_load_acquire(&r->peer->owner);
	if (owner != 0 && !smr_owner_alive(owner))
		return -EOWNERDEAD;
	return 0;
}

/* How often words that cannot be slept on are looked at (see the top). */
#define SMR_POLL_SLICE_NS 1000000ull

static struct timespec ns_to_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull),
				  .tv_nsec = (long)(ns % 1000000000ull) };
}

void smr_futex_sleep(struct smr_futex_waitv *w, unsigned n, uint64_t slice_ns)
{
	if (n > FUTEX_WAITV_MAX) {
		/* The words past the first 128 are polled; w[0], a stop flag
		 * when there is one, is always slept on. */
		n = FUTEX_WAITV_MAX;
		if (slice_ns > SMR_POLL_SLICE_NS)
			slice_ns = SMR_POLL_SLICE_NS;
	}
	struct timespec ts = ns_to_ts(slice_ns);
	if (n == 1) {
		smr_futex_wait((void *)(uintptr_t)w[0].uaddr, (uint32_t)w[0].val, &ts);
		return;
	}
	if (smr_futex_waitv(w, n, slice_ns) != -ENOSYS)
		return;
	/* Before Linux 5.16 there is no vector wait: sleep on the last word
	 * (a ring's futex_seq, never the stop flag) and look at the others
	 * within SMR_POLL_SLICE_NS. */
	if (slice_ns > SMR_POLL_SLICE_NS)
		ts = ns_to_ts(SMR_POLL_SLICE_NS);
	smr_futex_wait((void *)(uintptr_t)w[n - 1].uaddr, (uint32_t)w[n - 1].val, &ts);
}

int smr_sleep(const struct smr_sleep_set *s, uint64_t slice_ns)
{
	unsigned nw = 0;
	/* The stop flag first, so a cut-down vector (smr_futex_sleep) keeps
	 * it. Expected 0: a stop stored before the sleep ends it at once. */
	if (s->stop)
		s->w[nw++] = (struct smr_futex_waitv){ .val = 0, .uaddr = (uintptr_t)s->stop,
						       .flags = FUTEX_32 };
	for (unsigned i = 0; i < s->n; i++) {
		struct smr_end_control *me = s->ends[i]->me;
		/* S1: the value FUTEX_WAIT will compare against. Acquire:
		 * nothing below may be hoisted above it. */
		uint32_t seq = smr_load_acquire(&me->futex_seq);
		/* S2: announce. Release orders S1 before it (see the top). */
		smr_store_release(&me->sleeping, 1u);
		s->w[nw++] = (struct smr_futex_waitv){ .val = seq, .uaddr = (uintptr_t)&me->futex_seq,
						       .flags = FUTEX_32 };
	}
	/* S3: full fence; pairs with each waker's W2. The re-check must not be
	 * satisfied from before the announcements were visible. It also orders
	 * them before the load of the stop flag, stored before its wake. */
	smr_fence_full();
	int rc = s->recheck(s->arg); /* S4 */
	if (rc == 0 && slice_ns && !(s->stop && smr_load_acquire(s->stop))) {
		for (unsigned i = 0; i < s->n; i++)
			smr_counter_add(&s->ends[i]->my_ctr->sleeps, 1);
		/* S5; any result (woken, timed out, interrupted): the caller
		 * re-checks everything. */
		if (s->io)
			s->io_ops->sleep(s->io, s->w, nw, slice_ns);
		else
			smr_futex_sleep(s->w, nw, slice_ns);
	}
	/* S6. Relaxed: only this end writes its flag; a stale 1 seen by the
	 * peer costs it one spurious wake, nothing more. */
	for (unsigned i = 0; i < s->n; i++)
		smr_store_relaxed(&s->ends[i]->me->sleeping, 0u);
	return rc;
}

struct ring_recheck {
	struct shmring *r;
	smr_ready_fn ready;
};

static int ring_recheck(void *arg)
{
	const struct ring_recheck *c = arg;
	return c->ready(c->r);
}

/* Spin (or yield) from start until ready, the adaptive spin ends (0), or an
 * answer. */
static int spin(struct shmring *r, smr_ready_fn ready, uint64_t start, uint64_t deadline,
		uint64_t *next_check)
{
	uint64_t spin_end = r->wait == SHMRING_WAIT_ADAPTIVE
		? start + (uint64_t)r->spin_us * 1000ull : UINT64_MAX;
	int rc;
	for (;;) {
		for (int i = 0; i < 64; i++) {
			if (r->wait == SHMRING_WAIT_YIELD)
				sched_yield();
			else
				smr_cpu_relax();
			if ((rc = ready(r)) != 0)
				return rc;
		}
		uint64_t now = smr_now_ns();
		if (deadline_passed(deadline, now))
			return -ETIMEDOUT;
		if ((rc = check_peer(r, next_check, now)) < 0)
			return rc;
		if (cancelled(r))
			return -ECANCELED;
		if (now >= spin_end)
			return 0; /* adaptive: spun long enough, go to sleep */
	}
}

/*
 * Wait until ready(r) returns non-zero (a positive value: ready; negative: an
 * error to return) or the timeout passes. The caller has already tried once
 * and published its own pending index, so the peer is not waiting on us.
 */
int smr_wait(struct shmring *r, int timeout_ms, smr_ready_fn ready)
{
	uint64_t start = smr_now_ns();
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
		: start + (uint64_t)timeout_ms * 1000000ull;
	uint64_t next_check = start + r->peer_check_ms * 1000000ull;
	int rc;

	if (r->wait != SHMRING_WAIT_FUTEX && (rc = spin(r, ready, start, deadline, &next_check)) != 0)
		return rc;
	struct shmring *const ends[1] = { r };
	struct smr_futex_waitv w[2];
	struct ring_recheck c = { .r = r, .ready = ready };
	const struct smr_sleep_set s = { .ends = ends, .n = 1, .stop = r->cancel,
					 .recheck = ring_recheck, .arg = &c, .w = w };
	for (;;) {
		uint64_t now = smr_now_ns(), slice = r->peer_check_ms * 1000000ull;
		if (deadline != UINT64_MAX)
			slice = deadline <= now ? 0 : deadline - now < slice ? deadline - now : slice;
		if ((rc = smr_sleep(&s, slice)) != 0)
			return rc;
		if ((rc = ready(r)) != 0)
			return rc;
		now = smr_now_ns();
		if ((rc = check_peer(r, &next_check, now)) < 0)
			return rc;
		if (cancelled(r))
			return -ECANCELED;
		if (deadline_passed(deadline, now))
			return -ETIMEDOUT;
	}
}
