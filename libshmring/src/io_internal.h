/* SPDX-License-Identifier: MIT */
/*
 * How kernel.c and wait.c reach io.c. They live in two libraries: libshmring
 * (rings and the kernel API) and libshmring-io (io.h, the only part that
 * links liburing), so a program that uses rings or kernels without io.h
 * carries no liburing. libshmring never calls io.c by name: io.c hands
 * kernel.c this table in shmring_io_init, and kernel.c (and the sleep it
 * asks wait.c for) calls through the one a kernel was given. Never installed.
 */
#ifndef SHMRING_SRC_IO_INTERNAL_H
#define SHMRING_SRC_IO_INTERNAL_H

#include "ring_internal.h"
#include "sys.h"

struct shmring_io;
struct shmring_kernel;

/* Bumped with any change to this table or its meaning: the two libraries
 * must come from one build, and a mismatched pair is refused, not called. */
#define SMR_IO_OPS_VERSION 1u

struct smr_io_ops {
	uint32_t version; /* SMR_IO_OPS_VERSION */
	uint32_t size;    /* sizeof(struct smr_io_ops) */
	int      (*create)(unsigned entries, _Atomic uint32_t *stop, struct shmring_io **io);
	void     (*destroy)(struct shmring_io *io);
	/* Completed operations not yet taken (drains the completion queue). */
	unsigned (*ready)(struct shmring_io *io);
	int      (*submit)(struct shmring_io *io);
	/* S5 of the sleep protocol (wait.c): sleep on the n words of w and on
	 * I/O, one futex operation per FUTEX_WAITV_MAX words when io_uring
	 * has them, so every word wakes it. */
	void     (*sleep)(struct shmring_io *io, const struct smr_futex_waitv *w, unsigned n,
			  uint64_t slice_ns);
};

/* kernel.c, for io.c's shmring_io_init: give k an io_uring made by
 * ops->create (-EEXIST if it has one, -EPROTO if ops is from another
 * build's libshmring-io); k keeps ops for every later call. */
SMR_EXPORT int smr_kernel_io_init(struct shmring_kernel *k, unsigned entries,
				  const struct smr_io_ops *ops, struct shmring_io **io);

#endif
