/* SPDX-License-Identifier: MIT */
/*
 * Blocking I/O for kernels, through io_uring: submit reads, writes, socket
 * operations and timeouts without blocking, and wait for their completions
 * and for ring data in one call, shmring_kernel_wait. No helper threads.
 *
 *   struct shmring_io *io;
 *   shmring_io_init(k, 64, &io);
 *   shmring_io_read(io, fd, buf, len, offset, 1);     // tag 1
 *   for (;;) {
 *           shmring_kernel_wait(k, -1);                // rings, I/O or stop
 *           struct shmring_io_done d;
 *           while (shmring_io_complete(io, &d) > 0) ...   // d.tag, d.res
 *   }
 *
 * The wait: on Linux 6.7 and later (probed once) the futex words of every
 * input and the stop flag are waited on *inside* the same io_uring
 * (IORING_OP_FUTEX_WAITV), so one io_uring_enter sleeps until a ring wakes,
 * an I/O completes, or a stop. Elsewhere, or with SHMRING_IO_FUTEX=0 in the
 * environment, the fallback sleeps on the futex words (futex_waitv) in 1 ms
 * slices while I/O is in flight and looks at the completion queue between
 * slices: no lost wake-up (ring wakes are immediate, completions are
 * noticed within a slice), no busy loop. docs/io.md has the details.
 */
#ifndef SHMRING_IO_H
#define SHMRING_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

struct shmring_io;

/* One finished operation: the caller's tag and the result (bytes, a new
 * descriptor for accept, 0, or a negative errno; a timeout gives -ETIME). */
struct shmring_io_done {
	uint64_t tag;
	int32_t  res;
};

/*
 * A per-kernel io_uring of `entries` submission slots (rounded up to a power
 * of two, 4..4096), owned by k: from now on shmring_kernel_wait also returns
 * when I/O completes, counting finished operations among what is ready, and
 * shmring_kernel_detach frees it. Errors: -EEXIST (k has one), -EINVAL,
 * or io_uring_queue_init's error (-ENOMEM, -EPERM when io_uring is
 * disabled), with one line in shmring_errmsg().
 */
SHMRING_API int shmring_io_init(struct shmring_kernel *k, unsigned entries, struct shmring_io **io);

/* Which wait is in use: 1 futex wait inside io_uring, 0 the fallback. */
SHMRING_API int shmring_io_uses_futex(const struct shmring_io *io);

/*
 * Queue an operation; it is submitted at the next shmring_kernel_wait (or
 * shmring_io_submit). Buffers must stay valid until its completion. offset
 * -1 for read/write means the file position (pipes, sockets, O_APPEND).
 * Returns 0, or -EBUSY when the submission queue stays full (reap
 * completions first).
 */
SHMRING_API int shmring_io_read(struct shmring_io *io, int fd, void *buf, size_t len,
				int64_t offset, uint64_t tag);
SHMRING_API int shmring_io_write(struct shmring_io *io, int fd, const void *buf, size_t len,
				 int64_t offset, uint64_t tag);
SHMRING_API int shmring_io_recv(struct shmring_io *io, int fd, void *buf, size_t len, uint64_t tag);
SHMRING_API int shmring_io_send(struct shmring_io *io, int fd, const void *buf, size_t len,
				uint64_t tag);
SHMRING_API int shmring_io_accept(struct shmring_io *io, int fd, uint64_t tag);
/* addr must stay valid until the completion. */
SHMRING_API int shmring_io_connect(struct shmring_io *io, int fd, const struct sockaddr *addr,
				   socklen_t addrlen, uint64_t tag);
SHMRING_API int shmring_io_timeout(struct shmring_io *io, uint64_t ms, uint64_t tag);
/*
 * Wait, inside the kernel's one wait, until fd has one of events (POLLIN,
 * POLLOUT, ... of poll.h): one shot, its result is the ready events (or
 * -errno). How a kernel sleeps on its rings and a descriptor it does not
 * read through io_uring, e.g. a ZeroMQ socket's ZMQ_FD. -EINVAL for no
 * events.
 */
SHMRING_API int shmring_io_poll(struct shmring_io *io, int fd, unsigned events, uint64_t tag);

/* Submit what is queued now. Returns the number submitted or -errno. */
SHMRING_API int shmring_io_submit(struct shmring_io *io);

/*
 * Wait for I/O only (not for rings): until at least one operation finished,
 * a stop is requested, or timeout_ms passes (0 look once, -1 no limit). For
 * a kernel that holds a peeked message while its write is in flight, whose
 * shmring_kernel_wait would return at once for that very message. A stop is
 * noticed within SHMRING_PEER_CHECK_MS (100 ms). Returns the number of
 * finished operations (> 0), 0 on a stop, -EAGAIN or -ETIMEDOUT.
 */
SHMRING_API int shmring_io_wait(struct shmring_io *io, int timeout_ms);

/* Take one finished operation: 1 (filled in *done), 0 none yet. Never waits. */
SHMRING_API int shmring_io_complete(struct shmring_io *io, struct shmring_io_done *done);

/* Operations queued or in flight, not yet taken by shmring_io_complete. */
SHMRING_API unsigned shmring_io_inflight(const struct shmring_io *io);

#ifdef __cplusplus
}
#endif
#endif
