/* SPDX-License-Identifier: MIT */
/*
 * A kernel's journal: what survives a kernel's crash so that its restart
 * leaves no trace in the output (docs/supervisor.md, "Exactly once"). One
 * sealed memfd per kernel, "shmring-jnl.TOPOLOGY.KERNEL", mode 0600, made by
 * the supervisor and held by it for the whole run; the kernel inherits it
 * (smr_ctl_kernel.journal_fd). A wire format like layout.h: fixed-width
 * fields, static_asserts, a version; nothing read from it is trusted.
 *
 *   offset                 size          block
 *   0                      128           header
 *   128                    640           metrics: 16 named counters, a note
 *   768                    64 * nentries lineage entries
 *   768 + 64 * nentries    slot_size     checkpoint slot 0
 *   ... + slot_size        slot_size     checkpoint slot 1
 *
 * Metrics (kernel.h, shmring_kernel_metric): written by the kernel, read by
 * shmring-stat through the supervisor's descriptor; a name is taken once
 * and keeps its slot and value across restarts.
 *
 * Checkpoint: two slots, double-buffered. The kernel writes the slot that
 * `gen` does not name (slot (gen + 1) & 1) -- its generation, the input
 * positions it covers and the state -- and then store-releases gen + 1. A
 * kernel killed while writing a slot leaves gen naming the other, complete
 * one. gen 0 = no checkpoint yet.
 *
 * Lineage: one entry per (output o, attributed input i), i = ninputs for
 * the kernel itself (sends with no input message to answer: a source). An
 * entry says how far output o holds answers to input i: the position p of
 * the last input message answered and how many records n were committed for
 * it. Each entry has two versions, each valid for the output ring's
 * published head: a version counts iff its head_after (the ring position
 * after the record it describes) is at or before the head a producer taking
 * over finds (0: never written). The writer (smr_jnl_lineage_write) never
 * overwrites the newest version already published and stores head_after
 * last, so a version torn by a kill is never believed.
 *
 * This module (journal.c) is the one place that creates, maps and validates
 * a journal; the supervisor creates them, the kernel side (lineage.c) uses
 * them, tests build them.
 */
#ifndef SHMRING_SRC_JOURNAL_H
#define SHMRING_SRC_JOURNAL_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHMRING_JNL_MAGIC   0x314c4e524a524d53ull /* "SMRJRNL1" little-endian */
#define SHMRING_JNL_VERSION 1u
#define SHMRING_JNL_HDR     128u
#define SHMRING_JNL_ENTRY   64u
#define SHMRING_JNL_METRICS 16u  /* kernel.h: SHMRING_KERNEL_METRICS */
#define SHMRING_JNL_METRIC_NAME 24u
#define SHMRING_JNL_NOTE    128u
#define SHMRING_JNL_METRICS_OFF  SHMRING_JNL_HDR
#define SHMRING_JNL_ENTRIES_OFF  (SHMRING_JNL_HDR + 640u)
#define SHMRING_JNL_MEMFD_PREFIX "shmring-jnl."
/* Largest state a checkpoint holds (kernel.h: SHMRING_CHECKPOINT_MAX). */
#define SHMRING_JNL_STATE_MAX 65536u
/* Most lineage entries a journal has (outputs x (inputs + 1)); a kernel
 * with more ports gets none: at-least-once, as a kernel without journal. */
#define SHMRING_JNL_MAX_ENTRIES 65536u
#define SHMRING_JNL_MAX_PORTS   8192u

struct smr_jnl_header {
	/* Published last, with release, by the creator: 0 = not ready. */
	_Atomic uint32_t version;
	uint32_t ninputs, noutputs;
	uint32_t nentries;     /* noutputs * (ninputs + 1), or 0 */
	uint64_t magic;
	uint64_t size;         /* bytes in the whole journal */
	uint64_t slot_size;    /* bytes of one checkpoint slot */
	/* Generation of the published checkpoint, 0 = none (written by the
	 * kernel, release; read with acquire). */
	_Atomic uint64_t gen;
	uint8_t  pad_[SHMRING_JNL_HDR - 48];
};

struct smr_jnl_metric {
	char name[SHMRING_JNL_METRIC_NAME]; /* "" = free; NUL-terminated */
	_Atomic uint64_t value;
};

struct smr_jnl_metrics {
	struct smr_jnl_metric m[SHMRING_JNL_METRICS];
	char note[SHMRING_JNL_NOTE];        /* NUL-terminated, "" = none */
};

struct smr_jnl_version {
	_Atomic uint64_t head_after; /* 0: never written */
	_Atomic uint64_t p;          /* input position answered */
	_Atomic uint64_t n;          /* records committed for it */
	uint64_t pad_;
};

struct smr_jnl_entry {
	struct smr_jnl_version v[2];
};

/* A checkpoint slot: this header, then uint64 tails[ninputs], then the
 * state (len bytes, at most SHMRING_JNL_STATE_MAX). */
struct smr_jnl_slot {
	uint64_t gen;
	uint64_t len;
};

static_assert(sizeof(struct smr_jnl_header) == SHMRING_JNL_HDR, "journal header");
static_assert(offsetof(struct smr_jnl_header, gen) == 40, "journal generation");
static_assert(sizeof(struct smr_jnl_entry) == SHMRING_JNL_ENTRY, "lineage entry");
static_assert(sizeof(struct smr_jnl_metrics) == 640, "metrics block");

/* A mapped journal; every count is a checked private copy. */
struct smr_jnl {
	struct smr_jnl_header *h; /* NULL when nothing is mapped */
	size_t len;
	uint32_t ninputs, noutputs, nentries;
	uint64_t slot_size;
	struct smr_jnl_metrics *metrics;
	struct smr_jnl_entry *entries;
	uint8_t *slots[2];
};

/*
 * Map a journal read-only to show its metrics (shmring-stat): checked
 * against its own header only (magic, version, size, counts). 0, or -errno
 * with one line in why.
 */
int smr_jnl_observe(int fd, struct smr_jnl *j, char *why, size_t cap);

/* The kernel's metric called name: its index, taking a free slot if it has
 * none yet; -EINVAL (not [a-z0-9_]{1,23}) or -ENOSPC. */
int smr_jnl_metric(struct smr_jnl *j, const char *name);

/* Metric i for a reader: 1 with its name (SHMRING_JNL_METRIC_NAME bytes,
 * checked: terminated, [a-z0-9_]{1,23}) and value; 0 when slot i is free
 * (or past the last); -1 when it holds a corrupt name (name is ""). */
int smr_jnl_metric_get(const struct smr_jnl *j, unsigned i, char *name, uint64_t *value);

/* The note, checked and copied (SHMRING_JNL_NOTE bytes): "" when none. */
void smr_jnl_note_get(const struct smr_jnl *j, char *note);
void smr_jnl_note_set(struct smr_jnl *j, const char *note);

/* Lineage entries a kernel of nin inputs and nout outputs gets. */
uint32_t smr_jnl_nentries(uint32_t nin, uint32_t nout);

/* Bytes of its journal. */
size_t smr_jnl_size(uint32_t nin, uint32_t nout);

/*
 * Create the journal of kernel `kernel` of topology `topo` (names for the
 * memfd only) with nin inputs and nout outputs: a sealed memfd, mode 0600,
 * close-on-exec, header filled and published. The descriptor, or -errno:
 * -EINVAL (more than SHMRING_JNL_MAX_PORTS ports), -EFBIG (`ulimit -f`), ...
 */
int smr_jnl_create(const char *topo, const char *kernel, uint32_t nin, uint32_t nout);

/*
 * Map the journal behind fd (not closed) and check it against what the
 * kernel knows of itself: magic, version, size, and exactly nin inputs and
 * nout outputs. 0, or -EPROTO / -EBADMSG / the error of fstat or mmap, with
 * one line in why.
 */
int smr_jnl_attach(int fd, uint32_t nin, uint32_t nout, struct smr_jnl *j, char *why, size_t cap);
void smr_jnl_detach(struct smr_jnl *j);

/*
 * The published checkpoint: its generation (0 = none, and nothing else is
 * set), the input positions it covers (nin of them) and its state. -EBADMSG
 * when the slot gen names does not hold that generation or a length past
 * the limit (a corrupt journal).
 */
int smr_jnl_current(const struct smr_jnl *j, uint64_t *gen, const uint64_t **tails,
		    const uint8_t **state, uint64_t *len);

/* Publish checkpoint gen + 1 (gen: the current one): tails (nin) and state
 * (len <= SHMRING_JNL_STATE_MAX). Returns the new generation. */
uint64_t smr_jnl_publish(struct smr_jnl *j, uint64_t gen, const uint64_t *tails, const void *state,
			 uint64_t len);

/* Entry (output o, input i), i == ninputs for the kernel itself; NULL when
 * the journal has no lineage. */
struct smr_jnl_entry *smr_jnl_entry(const struct smr_jnl *j, uint32_t o, uint32_t i);

/*
 * The version to overwrite: one not yet published (its head_after is past
 * what the consumer can see: the last one we wrote, superseded before it was
 * published), or else the older. Never the newest published one: it is what
 * a successor would need if we died before our record is published.
 */
static inline struct smr_jnl_version *smr_jnl_victim(struct smr_jnl_entry *e, uint64_t published)
{
	/* Relaxed: our own words (single writer). */
	uint64_t a = atomic_load_explicit(&e->v[0].head_after, memory_order_relaxed);
	uint64_t b = atomic_load_explicit(&e->v[1].head_after, memory_order_relaxed);
	if (a > published)
		return &e->v[0];
	if (b > published)
		return &e->v[1];
	return a <= b ? &e->v[0] : &e->v[1];
}

/*
 * Record that the record ending at head_after answers input position p, the
 * n-th record for it. published: the output's head as its consumer can see
 * it now (records up to it are visible); the newest version at or before it
 * is kept. Called before the record's header is released. Inline: it is on
 * every commit of a kernel's output.
 */
static inline void smr_jnl_lineage_write(struct smr_jnl_entry *e, uint64_t head_after, uint64_t p,
					 uint64_t n, uint64_t published)
{
	struct smr_jnl_version *v = smr_jnl_victim(e, published);
	/* The content, then head_after. A version torn by a kill between the
	 * two is never believed: the victim is either past anything a successor
	 * can find published (so invalid whatever it holds), or older than the
	 * other version, which is valid and so preferred. Relaxed stores and a
	 * compiler barrier: a successor reads these only after this process
	 * died, and a killed process's executed stores are all visible; only
	 * their program order matters. The header release that publishes the
	 * record comes after all of them (R1 in ring_io.c). */
	atomic_store_explicit(&v->p, p, memory_order_relaxed);
	atomic_store_explicit(&v->n, n, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&v->head_after, head_after, memory_order_relaxed);
}

/* A producer taking over, before it sends: forget versions past the head
 * it found (records its predecessor wrote but never published). Its own
 * sends will move the head past them, and a later successor must not
 * believe them then. */
void smr_jnl_lineage_retire(struct smr_jnl_entry *e, uint64_t head);

/* The newest version valid for an output whose recovered head is head:
 * 1 with *p and *n set, or 0 when none is (nothing answered). */
int smr_jnl_lineage_get(const struct smr_jnl_entry *e, uint64_t head, uint64_t *p, uint64_t *n);

#endif
