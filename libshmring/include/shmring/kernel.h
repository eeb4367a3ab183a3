/* SPDX-License-Identifier: MIT */
/*
 * The kernel API: a kernel is an ordinary main() that shmring-supervisor
 * launches as one stage of a topology.
 *
 *   struct shmring_kernel *k;
 *   if (shmring_kernel_attach(&k) < 0) {            // ready, then wait for go
 *           fprintf(stderr, "%s\n", shmring_errmsg()); // also: stopped first
 *           return 1;
 *   }
 *   struct shmring *in = shmring_kernel_port(k, "in");
 *   struct shmring *out = shmring_kernel_port(k, "out");
 *   while (!shmring_kernel_should_stop(k)) { ... peek(in) ... send(out) ... }
 *   return shmring_kernel_detach(k);
 *
 * Lifecycle: launched -> ready -> active -> stopping -> exited. attach maps
 * the topology's control segment, attaches every port (inputs as consumer,
 * outputs as producer), reports ready and returns only when every kernel of
 * the topology is ready, so no producer starts before its consumers are
 * attached. If the topology is stopped first (a kernel failed to launch,
 * Ctrl-C during the start), attach fails with -ECANCELED instead: nothing
 * was started, nothing is to be done. A kernel restarted after a crash takes
 * its ports over where its predecessor left them.
 *
 * Conventions as ring.h: 0 or a count on success, a negative errno on
 * failure, shmring_errmsg() for the one-line reason on cold-path failures.
 */
#ifndef SHMRING_KERNEL_H
#define SHMRING_KERNEL_H

#include "ring.h"

#ifdef __cplusplus
extern "C" {
#endif

struct shmring_kernel;

/*
 * Exit status meaning "bad usage or configuration: do not restart me" (a
 * missing input file, an invalid argument, a port the topology lacks). The
 * supervisor never restarts a kernel that exits with it, whatever its
 * restart policy: retrying cannot help. It prints one line naming the
 * kernel, stops the topology and exits 2. 78 is EX_CONFIG of sysexits.h;
 * systemd's RestartPreventExitStatus= and s6's permanent-failure exit code
 * are the same idea. Print the reason to stderr first, once.
 */
#define SHMRING_EXIT_CONFIG 78

/*
 * Attach to the supervisor that launched this process (it passes
 * SHMRING_CONTROL and SHMRING_KERNEL in the environment), report ready, and
 * wait until the whole topology is active. Errors:
 * -ENOENT (not started by a supervisor: the message says how to launch it),
 * -EINVAL (those variables are malformed),
 * -EPROTO (the control segment is corrupt or from another version),
 * -ENOMEM, the error of fstat or mmap on the control segment's descriptor
 * (e.g. -EBADF: SHMRING_CONTROL names a descriptor that is not open),
 * -ECANCELED (the topology was stopped before it became active -- a launch
 *   failed, or Ctrl-C during the start -- or this kernel was asked to stop
 *   first: the ports were detached without closing them and nothing is
 *   to be done. shmring_errmsg() says "the topology was stopped before it
 *   started: nothing to do"; exit, printing it or quietly (the supervisor
 *   says why it stops): it asked for the stop and does not count the exit
 *   status as a failure, 0 is fine),
 * or any error of shmring_attach for one of the ports.
 * Nothing read from the control segment is trusted: counts, indices, names
 * and descriptors are checked (a ring from a kernel to itself gives it two
 * ports, an input and an output). Sets stdout line-buffered, since the
 * supervisor prefixes each line with the kernel's name.
 */
SHMRING_API int shmring_kernel_attach(struct shmring_kernel **k);

/*
 * The ring behind a port, by the name the topology gives it: an input
 * (this kernel is its consumer) or an output (its producer). NULL if the
 * kernel has no such port; shmring_errmsg() lists the ports it has.
 * The handle belongs to k: do not detach it yourself. Blocking calls on it
 * (reserve, send, peek, recv with a timeout) end with -ECANCELED when a
 * stop is requested while they wait, so a kernel blocked on a ring still
 * stops at once; calls that need not wait still succeed.
 */
SHMRING_API struct shmring *shmring_kernel_port(struct shmring_kernel *k, const char *name);

/* The i-th input / output in topology order (0-based), NULL past the end;
 * for kernels with a variable number of ports (fan-in, fan-out). */
SHMRING_API struct shmring *shmring_kernel_input(struct shmring_kernel *k, unsigned i);
SHMRING_API struct shmring *shmring_kernel_output(struct shmring_kernel *k, unsigned i);
SHMRING_API unsigned shmring_kernel_ninputs(const struct shmring_kernel *k);
SHMRING_API unsigned shmring_kernel_noutputs(const struct shmring_kernel *k);

/*
 * The priority the topology gives input i (inputs: [{ name: control,
 * priority: high }, data]): 1 high, 0 normal, -1 low; -ERANGE when there is
 * no input i.
 */
SHMRING_API int shmring_kernel_input_priority(const struct shmring_kernel *k, unsigned i);

/* This kernel's name in the topology. */
SHMRING_API const char *shmring_kernel_name(const struct shmring_kernel *k);

/*
 * Non-zero once the supervisor asked this kernel to stop (Ctrl-C, SIGTERM,
 * `shmring-supervisor stop`, or a restart of its siblings). One load from
 * shared memory: cheap enough to call every iteration.
 */
SHMRING_API int shmring_kernel_should_stop(const struct shmring_kernel *k);

/*
 * Wait until at least one input has something to read (a message, or end of
 * stream: a peek with timeout 0 then does not return -EAGAIN), or a stop is
 * requested, or timeout_ms passes (0 = look once, -1 = no limit). Publishes
 * every port's pending (batched) commits and releases first. One sleep
 * covers every input and the stop flag: the producers' ordinary wake ends
 * it, with the ring's no-lost-wake-up protocol (docs/ring.md). Any number of
 * inputs: up to 127 the sleep is one futex_waitv (128 words, the stop flag
 * one of them). A kernel that has an io_uring (io.h, shmring_io_init)
 * sleeps in it instead, one futex operation per 128 words (Linux 6.7), so
 * with more inputs every one of them wakes it at once. Without an io_uring
 * (this library links no liburing and makes none), or without io_uring
 * futex operations, the inputs past the 127th are looked at every
 * millisecond instead. With an io_uring, finished I/O not yet taken also
 * ends the wait and counts among what is ready.
 * Returns the number of ready inputs (> 0), 0 if a stop was requested (not
 * -ECANCELED: a stop is an answer here), -EAGAIN (timeout 0), -ETIMEDOUT,
 * or -ENOMEM (the first sleep could not allocate its vector).
 * Output space is not waited for.
 */
SHMRING_API int shmring_kernel_wait(struct shmring_kernel *k, int timeout_ms);

/*
 * shmring_kernel_wait, and which inputs are ready: waits the same way and
 * returns the same values (> 0 ready count, 0 on stop, -EAGAIN,
 * -ETIMEDOUT, -ENOMEM). On a count n > 0, ready[0 .. min(n, cap)) holds the
 * ready inputs, highest priority first (shmring_kernel_input_priority),
 * topology order (shmring_kernel_input) among equals: a kernel that serves
 * them in this order takes a control message on a high input before a
 * backlog queued on a normal one. Slots the count gives to finished I/O
 * (a kernel with an io_uring) are NULL, after the inputs. The rest of
 * ready[] (up to cap), and all of it on any other return, holds nothing to
 * rely on; cap 0 (ready may be NULL) fills nothing. The order is made once,
 * at attach: without priorities the scan costs what shmring_kernel_wait's
 * does.
 */
SHMRING_API int shmring_kernel_wait_ready(struct shmring_kernel *k, int timeout_ms,
					  struct shmring **ready, unsigned cap);

/*
 * Exactly once (docs/supervisor.md, "Exactly once"). A kernel the supervisor
 * restarts after a crash continues where its predecessor's last checkpoint
 * left off, and what it sends again for input its predecessor had already
 * answered is dropped (counted as suppressed) instead of reaching the
 * consumer twice. A deterministic kernel that releases each input message
 * after sending what it derives from it leaves no trace of a restart in its
 * output. Each send is attributed to the input message peeked most recently
 * (it stays attributed after its release, so recv-then-send works; end of
 * stream counts as a message at its position), or, before any peek and
 * after each checkpoint published while no input message is held, to the
 * kernel's own checkpoint (a source).
 */

/* The largest state a checkpoint holds. */
#define SHMRING_CHECKPOINT_MAX 65536

/*
 * Stage len bytes of state as this kernel's checkpoint: what a restarted
 * instance gets back from shmring_kernel_restore. The state must cover
 * every input message this kernel has peeked so far, and everything derived
 * from those messages must be sent before (a restart skips every message
 * the checkpoint covers, held ones included): it is published
 * atomically with the next release on any input (a restart sees both or
 * neither, and skips the input messages it covers), or at once when no
 * input message is held (a source: call it after each send, with the
 * position to resume from). Staging again before that replaces the state.
 * 0; -EMSGSIZE (len > SHMRING_CHECKPOINT_MAX); -ENOMEM (the first stage
 * could not allocate its buffer); -ENOTSUP (this kernel has no journal: its
 * control segment names none, e.g. one built by hand).
 */
SHMRING_API int shmring_kernel_checkpoint(struct shmring_kernel *k, const void *state, size_t len);

/*
 * The state of the last published checkpoint, copied into state: its
 * length (> 0), or 0 when there is none (the first start, or a kernel that
 * never published one). -EMSGSIZE when cap is smaller than the state.
 * Read it once after attach; the input messages it covers are skipped
 * already (counted in shmring_stats().skipped).
 */
SHMRING_API ssize_t shmring_kernel_restore(struct shmring_kernel *k, void *state, size_t cap);

/*
 * Metrics: named counters a kernel publishes for shmring-stat (table with
 * --wide, --json, --prometheus) beside its rings' counters, e.g. a network
 * bridge's messages acknowledged and reconnects. They live in the kernel's
 * journal, so they survive a restart: registering the same name again gives
 * the same counter, with its value. Up to SHMRING_KERNEL_METRICS, names
 * [a-z0-9_]{1,23}. shmring_kernel_metric returns the counter's index (>= 0),
 * -EINVAL (bad name), -ENOSPC (all taken), -ENOTSUP (no journal). set and
 * add ignore a bad index. The note is one line of text shown with the
 * kernel (at most 127 bytes kept), e.g. the remote end of a bridge.
 */
#define SHMRING_KERNEL_METRICS 16

SHMRING_API int  shmring_kernel_metric(struct shmring_kernel *k, const char *name);
SHMRING_API void shmring_kernel_metric_set(struct shmring_kernel *k, int index, uint64_t value);
SHMRING_API void shmring_kernel_metric_add(struct shmring_kernel *k, int index, uint64_t delta);
SHMRING_API int  shmring_kernel_set_note(struct shmring_kernel *k, const char *note);

/*
 * Leave. If no stop was requested, the kernel has finished its stream: every
 * output is closed (its consumer reads end of stream after the last message)
 * and every input too, and the supervisor will not restart it. After a stop
 * request the ports are detached without closing, so a restarted kernel can
 * carry on. Frees k. Returns 0, to be used as the exit code.
 */
SHMRING_API int shmring_kernel_detach(struct shmring_kernel *k);

#ifdef __cplusplus
}
#endif
#endif
