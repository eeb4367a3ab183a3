/* SPDX-License-Identifier: MIT */
/* What kernel.c needs from io.c. Never installed. */
#ifndef SHMRING_SRC_IO_INTERNAL_H
#define SHMRING_SRC_IO_INTERNAL_H

#include "ring_internal.h"
#include "sys.h"

#ifndef FUTEX_WAITV_MAX
#define FUTEX_WAITV_MAX 128
#endif

struct shmring_io;
int  smr_io_new(unsigned entries, _Atomic uint32_t *stop, struct shmring_io **io);
void smr_io_free(struct shmring_io *io);
/* Completed operations not yet taken (drains the completion queue). */
unsigned smr_io_ready(struct shmring_io *io);
void smr_io_sleep(struct shmring_io *io, const struct smr_futex_waitv *w, unsigned n,
		  uint64_t slice_ns);

#endif
