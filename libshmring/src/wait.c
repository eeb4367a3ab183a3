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
 *
 * Shared cores. When the supervisor places kernels on a cpu another kernel
 * also uses, spinning takes the cpu from the kernel that has work, and a
 * wake per message costs a system call and often a context switch per
 * message. It marks those ring ends `shared` (control.h, SMR_CTL_SHARED_*)
 * unless the topology set the ring's wait, and then:
 *   P1 a shared end never spins: its waits go straight to the protocol.
 *   P2 it announces SMR_SLEEP_BATCH at S2 instead of SMR_SLEEP_NOW and
 *      sleeps at most SMR_SHARED_SLICE_NS (2 ms) before it looks again;
 *      after smr_shared_idle_ns() (50 ms) of one wait it announces NOW
 *      again, so an idle kernel makes no periodic wake-ups.
 *   P3 its peer publishes without the W2 fence. A W3 that misses an
 *      announcement, or an S4 that misses a store still in flight, costs
 *      at most the slice: every S5 of a shared end sleeps at most
 *      SMR_SHARED_SLICE_NS first, re-checks, and only then sleeps on,
 *      still announced, so any later W3 sees the flag.
 *   P4 a waker that finds SMR_SLEEP_BATCH does not wake at once: it owes
 *      the wake (r->owed) until a quarter of the ring has moved since, or
 *      until this process is about to wait or sleep on any ring (every
 *      wait flushes the kernel's ports first, smr_wake_flush_all), or it
 *      detaches its kernel. A producer that commits and then goes quiet
 *      without calling the library has its message seen within the slice.
 *   P5 a waker that wakes takes the flag back to 0 (an exchange: one waker
 *      per flag, the ring's other end), so of the publications made before
 *      the sleeper runs again only the first pays for a FUTEX_WAKE.
 * The rule a user can rely on: a message committed on a ring between
 * kernels that share a cpu is seen by its consumer within 2 ms, however
 * its producer behaves afterwards (more precisely: within the slice plus
 * the time a store takes to become visible, nanoseconds); anywhere else,
 * as soon as the consumer runs. P3 relies on that visibility, which C11
 * asks of every implementation ("within a reasonable amount of time")
 * and every cpu provides; the Dekker pair S3/W2 still guards every ring
 * whose sleeper may sleep longer.
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
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>

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

/* How long a shared end's wait sleeps in batch mode before it asks to be
 * woken at once: SMR_SHARED_IDLE_NS, or SHMRING_SHARED_IDLE_MS (1 to
 * 3600000) from the environment (tests make it long, so that a slow
 * machine cannot turn their batch sleeps into immediate ones). Read by
 * each wait that goes to sleep, a slow path. */
uint64_t smr_shared_idle_ns(void)
{
	uint64_t v = SMR_SHARED_IDLE_NS;
	const char *e = getenv("SHMRING_SHARED_IDLE_MS");
	if (e && *e) {
		char *end;
		unsigned long long ms = strtoull(e, &end, 10);
		if (!*end && ms >= 1 && ms <= 3600000)
			v = ms * 1000000ull;
	}
	return v;
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

/* W4 for a sleeper seen at W3: take its flag back to 0 first, so that of
 * the publications made before it runs again (on a shared cpu that can be
 * milliseconds) only the first pays for a FUTEX_WAKE. One waker per flag
 * (the ring's other end), so the exchange reading 0 means the sleeper has
 * left (S6) and re-checks by itself. Acquire-release: reading its S2 orders
 * the sleeper's S1 before the increment in smr_wake_peer_always. */
static void wake_claimed(struct shmring *r)
{
	smr_store_relaxed(&r->owed, 0u); /* relaxed: this process's own flag */
	if (r->bcast) {
		/* Broadcast consumer: one of several wakers of the producer's
		 * flag, so the exchange's "0 means it left" no longer holds; wake
		 * without taking the flag (the sleeper clears it at S6). */
		smr_wake_peer_always(r);
		return;
	}
	if (atomic_exchange_explicit(&r->peer->sleeping, 0u, memory_order_acq_rel))
		smr_wake_peer_always(r);
}

/*
 * Asymmetric wakes. W2's fence is what every publication pays: it drains
 * the store buffer, so each message waits for the cache-line transfer of
 * its own header instead of overlapping it with the writing of the next
 * (perf, 64 B send/recv at batch 1: 37 % of all samples on the load after
 * the fence). On a ring whose creator set SHMRING_ID_ASYM_WAKE, a waker in
 * a process registered with MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED makes
 * W2 a compiler barrier, and a sleeper adds to S3 one
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED): the kernel runs a full
 * barrier on every CPU running a registered process and returns after all
 * have (a process not running passed one in its context switch). That
 * barrier falls somewhere in the waker's program: before W3, and W3 reads
 * the announcement (S2 precedes the call); after W3, and W1, before W3,
 * was visible before the call returned, so S4 sees it. Either way the
 * Dekker pair holds, with the heavy half on the side about to make a
 * system call anyway (liburcu's and folly's asymmetric fences). A waker
 * whose registration failed keeps the fence, which pairs with S3's fence;
 * a sleeper whose membarrier call fails sleeps in slices of at most
 * SMR_POLL_SLICE_NS, so a wake it misses costs at most that. An end on a
 * shared cpu does not call it: its waker skips W2 anyway and its sleeps
 * look again within SMR_SHARED_SLICE_NS ("Shared cores", P3), and there
 * sleeps are frequent enough for the barrier's interrupts to cost.
 */
static _Atomic int asym_state; /* 0 not tried, 1 registered, -1 unavailable */

static void asym_after_fork(void)
{
	/* Registration belongs to the address space: a forked child has none. */
	smr_store_relaxed(&asym_state, 0);
}

int smr_asym_register(void)
{
	int s = smr_load_relaxed(&asym_state);
	if (s == 0) {
		long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
		int ok = q > 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
			 (q & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) &&
			 syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
		static _Atomic int hooked;
		if (ok && !atomic_exchange_explicit(&hooked, 1, memory_order_relaxed))
			pthread_atfork(NULL, NULL, asym_after_fork);
		s = ok ? 1 : -1;
		smr_store_relaxed(&asym_state, s);
	}
	return s > 0 ? 0 : -1;
}

void smr_wake_peer(struct shmring *r)
{
	if (r->bcast_kind == SMR_BCAST_PRODUCER) { /* broadcast (ring_bcast.c) */
		smr_bcast_wake(r, 0);
		return;
	}
	/* W2: full fence. Orders the caller's store-release (W1: a header or
	 * tail) before the load of the peer's sleeping flag; pairs with the
	 * sleeper's S3 fence. Without it the store could sit in the store buffer
	 * while we read a stale 0, and the sleeper would miss it.
	 * Not towards a shared peer (wait.c, "Shared cores"): it never sleeps
	 * longer than SMR_SHARED_SLICE_NS without looking again, so a store it
	 * missed is seen then, and the fence, which waits for every store in
	 * flight, was a third of a stage's time in the 8-stage pipeline. */
	if (!r->peer_shared && !r->asym_wake)
		smr_fence_full();
	else /* asymmetric (above), or a shared peer: the compiler's part */
		atomic_signal_fence(memory_order_seq_cst);
	/* W3: acquire pairs with the sleeper's S2 store-release, so the sleeper's
	 * S1 read of futex_seq happens before our increment below. */
	uint32_t s = smr_load_acquire(&r->peer->sleeping);
	if (__builtin_expect(s == 0, 1)) {
		/* Awake: nothing owed any more (it re-checks before it sleeps).
		 * Relaxed: this process's own flag, read by its own flushes. */
		if (smr_load_relaxed(&r->owed))
			smr_store_relaxed(&r->owed, 0u);
		return;
	}
	if (s == SMR_SLEEP_BATCH) {
		/* Shared cores: defer until a quarter of the ring has moved
		 * since the peer was first seen asleep; a wait of this process
		 * flushes it sooner (smr_wake_flush_all), and the peer looks by
		 * itself within SMR_SHARED_SLICE_NS. */
		if (!smr_load_relaxed(&r->owed)) {
			r->owed_from = r->pos;
			smr_store_relaxed(&r->owed, 1u);
			return;
		}
		if (r->pos - r->owed_from < r->cap / 4)
			return;
	}
	wake_claimed(r);
}

void smr_wake_owed(struct shmring *r)
{
	/* Relaxed: this process's own flag; the exchange decides. */
	if (!smr_load_relaxed(&r->owed))
		return;
	/* W2 again: the records were published with a fence already, but a
	 * flush may come from another thread; the fence keeps this a plain
	 * W2-W4 with no reasoning about what that thread's fence ordered. */
	smr_fence_full();
	wake_claimed(r);
}

void smr_wake_peer_always(struct shmring *r)
{
	if (r->bcast_kind == SMR_BCAST_PRODUCER) { /* broadcast (ring_bcast.c) */
		smr_bcast_wake(r, 1);
		return;
	}
	/* W4: change the word the sleeper waits on, then wake it. The increment
	 * makes a FUTEX_WAIT that has not started yet return at once. */
	smr_fetch_add_release(&r->peer->futex_seq, 1u);
	/* Every waiter on the word, not one: a kernel doing I/O may have a
	 * futex operation parked in its io_uring on the same word (io.c); a
	 * wake of one could land there and miss the thread that sleeps. */
	if (smr_futex_wake(&r->peer->futex_seq, INT_MAX) >= 0)
		smr_counter_add(&r->my_ctr->wakes, 1);
}

/* The rings a kernel registered (its ports): set once at attach, cleared at
 * detach, read by any wait of any thread, hence atomic. */
struct wake_list {
	struct shmring *const *rings;
	unsigned n;
};
static _Atomic(const struct wake_list *) wake_list;

void smr_wake_register(struct shmring *const *rings, unsigned n)
{
	static struct wake_list l; /* one kernel per process */
	if (!rings) {
		/* Release: nobody reads l after seeing NULL. */
		atomic_store_explicit(&wake_list, NULL, memory_order_release);
		return;
	}
	l = (struct wake_list){ .rings = rings, .n = n };
	/* Release: pairs with the acquire in smr_wake_flush_all; l is
	 * complete before anybody can see it. */
	atomic_store_explicit(&wake_list, &l, memory_order_release);
}

void smr_wake_flush_all(void)
{
	const struct wake_list *l = atomic_load_explicit(&wake_list, memory_order_acquire);
	for (unsigned i = 0; l && i < l->n; i++)
		smr_wake_owed(l->rings[i]);
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

/* S5 once. */
static void sleep_once(const struct smr_sleep_set *s, unsigned nw, uint64_t slice_ns)
{
	if (s->io)
		s->io_ops->sleep(s->io, s->w, nw, slice_ns);
	else
		smr_futex_sleep(s->w, nw, slice_ns);
}

/* Is every word still what S1 read? Then nobody woke us and a second S5
 * with the same values is still covered by the announcements. Relaxed:
 * FUTEX_WAIT compares them again. */
static int sleep_on(const struct smr_sleep_set *s, unsigned nw)
{
	for (unsigned i = 0; i < nw; i++)
		if (smr_load_relaxed((_Atomic uint32_t *)(uintptr_t)s->w[i].uaddr) !=
		    (uint32_t)s->w[i].val)
			return 0;
	return 1;
}

void smr_sleeper_fence(const struct shmring *r)
{
	smr_fence_full();
	if (r->asym_sleep)
		syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
}

int smr_sleep(const struct smr_sleep_set *s, uint64_t slice_ns)
{
	unsigned nw = 0;
	int shared = 0;
	/* Shared cores: a process about to sleep first pays every wake it
	 * deferred, or a consumer waiting for those records and we waiting
	 * for it would wait on each other until a slice ends. */
	smr_wake_flush_all();
	for (unsigned i = 0; i < s->n; i++)
		smr_wake_owed(s->ends[i]);
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
		shared |= s->ends[i]->shared;
		int batch = s->batch && s->ends[i]->shared;
		smr_store_release(&me->sleeping, batch ? SMR_SLEEP_BATCH : SMR_SLEEP_NOW);
		if (batch && slice_ns > SMR_SHARED_SLICE_NS)
			slice_ns = SMR_SHARED_SLICE_NS; /* the bound we promised */
		s->w[nw++] = (struct smr_futex_waitv){ .val = seq, .uaddr = (uintptr_t)&me->futex_seq,
						       .flags = FUTEX_32 };
	}
	/* S3: full fence; pairs with each waker's W2. The re-check must not be
	 * satisfied from before the announcements were visible. It also orders
	 * them before the load of the stop flag, stored before its wake. */
	smr_fence_full();
	/* S3, heavy half, where a waker may have skipped W2 (asymmetric
	 * wakes, above); once covers every end. */
	for (unsigned i = 0; i < s->n; i++)
		if (s->ends[i]->asym_sleep && !s->ends[i]->shared) {
			if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0 &&
			    slice_ns > SMR_POLL_SLICE_NS)
				slice_ns = SMR_POLL_SLICE_NS;
			break;
		}
	/* A consumer going to sleep takes what its producer holds (ring_io.c,
	 * "Adaptive publication"): the producer's offer is its W1. */
	for (unsigned i = 0; i < s->n; i++)
		s->ends[i]->take = s->ends[i]->role == SHMRING_ROLE_CONSUMER;
	int rc = s->recheck(s->arg); /* S4 */
	if (rc == 0 && slice_ns && !(s->stop && smr_load_acquire(s->stop))) {
		for (unsigned i = 0; i < s->n; i++)
			smr_counter_add(&s->ends[i]->my_ctr->sleeps, 1);
		/* S5; any result (woken, timed out, interrupted): the caller
		 * re-checks everything. A shared end's peer publishes without
		 * W2, so S4 may have missed a store still on its way: look
		 * again after SMR_SHARED_SLICE_NS, announced all along, before
		 * the rest of a longer slice ("Shared cores", P3). */
		uint64_t first = shared && slice_ns > SMR_SHARED_SLICE_NS
			? SMR_SHARED_SLICE_NS : slice_ns;
		sleep_once(s, nw, first);
		if (first < slice_ns && sleep_on(s, nw) && (rc = s->recheck(s->arg)) == 0 &&
		    !(s->stop && smr_load_acquire(s->stop)))
			sleep_once(s, nw, slice_ns - first);
	}
	/* S6. Relaxed: besides this end only the waker writes the flag, and
	 * only 0 (P5); a stale 1 seen by the peer costs it one spurious wake,
	 * nothing more. */
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
	/* A run offered long ago, or by this process: at once (ring_io.c). */
	if (r->role == SHMRING_ROLE_CONSUMER && smr_consumer_take_due(r, start, start))
		return 1;
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
		/* A consumer takes a commit held SMR_TAKE_NS (ring_io.c). */
		if (r->role == SHMRING_ROLE_CONSUMER && smr_consumer_take_due(r, now, start))
			return 1;
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
	r->take = 0; /* held headers: when due (spin), or at S4 */
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
		: start + (uint64_t)timeout_ms * 1000000ull;
	uint64_t next_check = start + r->peer_check_ms * 1000000ull;
	int rc;

	/* Shared cores: what we owe our peer (r itself, when it is a
	 * producer waiting for room) and the kernel's other ports, before we
	 * spin on a cpu they may need. */
	smr_wake_flush_all();
	smr_wake_owed(r);
	/* A shared end never spins: the cpu is its peer's too. */
	if (r->wait != SHMRING_WAIT_FUTEX && !r->shared &&
	    (rc = spin(r, ready, start, deadline, &next_check)) != 0)
		return rc;
	struct shmring *const ends[1] = { r };
	struct smr_futex_waitv w[2];
	struct ring_recheck c = { .r = r, .ready = ready };
	struct smr_sleep_set s = { .ends = ends, .n = 1, .stop = r->cancel,
				   .recheck = ring_recheck, .arg = &c, .w = w };
	const uint64_t idle = r->shared ? smr_shared_idle_ns() : 0;
	for (;;) {
		uint64_t now = smr_now_ns(), slice = r->peer_check_ms * 1000000ull;
		s.batch = now - start < idle;
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
