/* SPDX-License-Identifier: MIT */
/*
 * The one place where memory ordering is spelled. Everything maps onto C11
 * <stdatomic.h>; call sites say in a comment which edge a barrier builds and
 * name its partner, the way DPDK's rte_ring does.
 */
#ifndef SHMRING_SRC_ATOMICS_H
#define SHMRING_SRC_ATOMICS_H

#include <stdatomic.h>
#include <stdint.h>

#define smr_load_relaxed(p)     atomic_load_explicit((p), memory_order_relaxed)
#define smr_load_acquire(p)     atomic_load_explicit((p), memory_order_acquire)
#define smr_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define smr_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define smr_fetch_add_release(p, v) \
	atomic_fetch_add_explicit((p), (v), memory_order_release)
#define smr_cas_strong(p, expp, v) \
	atomic_compare_exchange_strong_explicit((p), (expp), (v), \
		memory_order_acq_rel, memory_order_acquire)

/* Full two-way fence: the store-then-load ordering a Dekker handshake needs. */
static inline void smr_fence_full(void)
{
	atomic_thread_fence(memory_order_seq_cst);
}

/*
 * A single-writer counter in shared memory: only one process writes it, so a
 * relaxed load and store (no locked read-modify-write) is enough; readers
 * (shmring-stat) tolerate a value that is a moment old.
 */
static inline void smr_counter_add(_Atomic uint64_t *c, uint64_t v)
{
	smr_store_relaxed(c, smr_load_relaxed(c) + v);
}

/* Polite spin: tells the core we are busy-waiting (SMT sibling gets the pipe). */
static inline void smr_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif
