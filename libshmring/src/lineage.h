/* SPDX-License-Identifier: MIT */
/* Exactly-once restarts, kernel side (lineage.c): what kernel.c and the ring
 * data path call. Never installed. */
#ifndef SHMRING_SRC_LINEAGE_H
#define SHMRING_SRC_LINEAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct shmring;
struct smr_lin;

struct smr_jnl;
struct smr_jnl_entry;

/* What this instance knows of one (output, input) pair. */
struct smr_lin_pair {
	uint64_t p, n;         /* last position sent for, and records sent for it */
	uint64_t lim_p, lim_n; /* what the output already held at takeover ... */
	uint8_t  seen;         /* p, n are set */
	uint8_t  lim;          /* ... and whether sends may still fall under it */
};

/* What the data path reads and writes on every message, inline. */
struct smr_lin_hot {
	uint32_t attr;    /* attributed input, nin = the kernel itself */
	uint32_t staged;  /* a checkpoint waits for the next release */
	uint64_t attr_p;  /* the attributed message's position, or generation */
	uint32_t nout;    /* outputs, flushed before an input's tail moves */
	uint32_t nin1;    /* inputs + 1: pairs and entries are [output][nin1] */
	struct smr_lin_pair *pairs;
	struct smr_jnl_entry *entries; /* the journal's, or NULL (no lineage) */
};

/* A kernel port's way back to its kernel's lineage (shmring.lin). */
struct smr_lin_port {
	struct smr_lin_hot *hot;
	struct smr_lin *l;
	uint32_t index; /* input index for an input, output index for an output */
};

/*
 * Map the journal behind fd (not closed), restore: skip input messages the
 * published checkpoint covers, load what each output already holds from a
 * predecessor, and hook the ports (r->lin). 0, or -errno with
 * shmring_errmsg set (-EBADMSG, -EPROTO: a corrupt or foreign journal).
 */
int  smr_lin_open(int fd, const char *kname, struct shmring *const *in, uint32_t nin,
		  struct shmring *const *out, uint32_t nout, struct smr_lin **l);
/* Unhook the ports (before they are detached) and free; NULL is fine. */
void smr_lin_close(struct smr_lin *l);

/* The journal, for the kernel's metrics (journal.h). */
struct smr_jnl *smr_lin_journal(struct smr_lin *l);
int     smr_lin_checkpoint(struct smr_lin *l, const void *state, size_t len);
ssize_t smr_lin_restore(const struct smr_lin *l, void *state, size_t cap);
/* For the kernel block: 1 if this start restored a checkpoint, its
 * generation (0 if not), input messages skipped. */
void    smr_lin_counts(const struct smr_lin *l, uint32_t *resumes, uint64_t *gen,
		       uint64_t *skipped);

/* Data-path hooks (ring_io.c), for ports with r->lin set; the inline
 * ones are in ring_internal.h. */
void  smr_lin_released(struct shmring *r);
void  smr_lin_before_tail(struct shmring *r);
int   smr_lin_suppress(const struct shmring *r);
void *smr_lin_scratch(struct shmring *r, size_t len);
void  smr_lin_committed(struct shmring *r, uint64_t head_after, uint64_t published,
			int discarded);

#endif
