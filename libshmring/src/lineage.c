/* SPDX-License-Identifier: MIT */
/*
 * Exactly-once restarts, the kernel side: checkpoints and lineage over the
 * kernel's journal (private/journal.h; the contract is in kernel.h and
 * docs/supervisor.md, "Exactly once").
 *
 * The ring data path calls in here only for a kernel's ports (r->lin set):
 *   peek          -> smr_lin_peeked: sends are now attributed to this message
 *   release       -> smr_lin_released: a staged checkpoint is published
 *   tail publish  -> smr_lin_before_tail: outputs' held commits go first
 *   reserve       -> smr_lin_suppress, only while r->suppress is set
 *   commit        -> smr_lin_committed: the lineage entry, before R1
 *
 * Attribution: the input message peeked most recently (input index, its
 * position), kept after its release so that recv-then-send is attributed
 * too; end of stream is a message at its position. Before any peek, and
 * after a checkpoint published while no input message is held, sends are
 * the kernel's own: input index nin, position = checkpoint generation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "lineage.h"
#include "ring_internal.h"

struct smr_lin {
	struct smr_jnl j;
	uint32_t nin, nout;
	struct shmring **in, **out;   /* the kernel's port rings */
	struct smr_lin_port *ports;   /* nin + nout back pointers */
	uint32_t *nlim;               /* per output: pairs with lim set */
	struct smr_lin_hot hot;       /* attribution, staged flag, nout */
	uint64_t gen;                 /* the published checkpoint's generation */
	uint8_t *stage;               /* staged state (SHMRING_JNL_STATE_MAX) */
	uint64_t stage_len;
	uint64_t *stage_tails;        /* the input positions it covers */
	uint8_t *restored;            /* the state restored at attach */
	uint64_t restored_len;
	uint8_t *scratch;             /* where suppressed sends are written */
	size_t scratch_cap;
	uint32_t resumes;
	uint64_t skipped;
	char name[64];
};

/* ---- the data-path hooks ---- */

static inline struct smr_lin_pair *pair_of(struct smr_lin *l, uint32_t o)
{
	return &l->hot.pairs[(size_t)o * (l->nin + 1u) + l->hot.attr];
}

int smr_lin_suppress(const struct shmring *r)
{
	struct smr_lin *l = r->lin->l;
	struct smr_lin_pair *e = pair_of(l, r->lin->index);
	if (!e->lim)
		return 0;
	uint64_t k = e->seen && e->p == l->hot.attr_p ? e->n : 0;
	return l->hot.attr_p < e->lim_p || (l->hot.attr_p == e->lim_p && k < e->lim_n);
}

void *smr_lin_scratch(struct shmring *r, size_t len)
{
	struct smr_lin *l = r->lin->l;
	if (len > l->scratch_cap) {
		uint8_t *s = realloc(l->scratch, len);
		if (!s)
			return NULL;
		l->scratch = s;
		l->scratch_cap = len;
	}
	return l->scratch;
}

void smr_lin_committed(struct shmring *r, uint64_t head_after, uint64_t published, int discarded)
{
	struct smr_lin *l = r->lin->l;
	uint32_t o = r->lin->index;
	struct smr_lin_pair *e = pair_of(l, o);
	if (e->seen && e->p == l->hot.attr_p) {
		e->n++;
	} else {
		e->p = l->hot.attr_p;
		e->n = 1;
		e->seen = 1;
	}
	if (discarded) {
		smr_counter_add(&r->my_ctr->suppressed, 1);
		return;
	}
	if (e->lim) { /* past what the output held: every later send is new */
		e->lim = 0;
		if (--l->nlim[o] == 0)
			r->suppress = 0;
	}
	if (l->j.entries) /* the journal's entry for this pair, as pair_of */
		smr_jnl_lineage_write(&l->j.entries[e - l->hot.pairs], head_after, e->p, e->n, published);
}

/* Whether an input holds a message: peeked, or in a read-ahead window. */
static int holds(const struct shmring *in)
{
	return in->cur_rec != 0 || (int64_t)(in->ahead - in->pos) > 0;
}

/* Publish the staged checkpoint; sends become the kernel's own if no input
 * message is held any more. */
static void publish_stage(struct smr_lin *l)
{
	/* What the state answered is visible before the state: a batched
	 * output's held commits first, or a kill in between loses them. */
	for (uint32_t o = 0; o < l->nout; o++)
		if (l->out[o]->pending)
			smr_publish(l->out[o]);
	l->gen = smr_jnl_publish(&l->j, l->gen, l->stage_tails, l->stage, l->stage_len);
	l->hot.staged = 0;
	for (uint32_t i = 0; i < l->nin; i++)
		if (holds(l->in[i]))
			return;
	l->hot.attr = l->nin;
	l->hot.attr_p = l->gen;
}

void smr_lin_released(struct shmring *r)
{
	struct smr_lin *l = r->lin->l;
	if (!l->hot.staged)
		return;
	/* It covers what this release releases: for a peek, the message it
	 * held at staging already; for release_to (a read-ahead window), up
	 * to the position released. */
	uint64_t *t = &l->stage_tails[r->lin->index];
	if ((int64_t)(r->pos - *t) > 0)
		*t = r->pos;
	publish_stage(l);
}

void smr_lin_before_tail(struct shmring *r)
{
	struct smr_lin *l = r->lin->l;
	/* An input's release must not become visible before the outputs
	 * derived from it: a crash in between would lose them. */
	for (uint32_t o = 0; o < l->nout; o++)
		if (l->out[o]->pending)
			smr_publish(l->out[o]);
}

/* ---- checkpoint API ---- */

struct smr_jnl *smr_lin_journal(struct smr_lin *l)
{
	return &l->j;
}

int smr_lin_checkpoint(struct smr_lin *l, const void *state, size_t len)
{
	if (len > SHMRING_JNL_STATE_MAX)
		return -EMSGSIZE;
	if (!l->stage && !(l->stage = malloc(SHMRING_JNL_STATE_MAX)))
		return -ENOMEM;
	if (len)
		memcpy(l->stage, state, len);
	l->stage_len = len;
	/* It covers every message peeked so far: a held one included (a
	 * read-ahead window: up to what the release_to publishing it releases). */
	int held = 0;
	for (uint32_t i = 0; i < l->nin; i++) {
		struct shmring *in = l->in[i];
		l->stage_tails[i] = in->pos + in->cur_rec;
		held |= holds(in);
	}
	l->hot.staged = 1;
	if (!held)
		publish_stage(l);
	return 0;
}

ssize_t smr_lin_restore(const struct smr_lin *l, void *state, size_t cap)
{
	if (l->restored_len > cap)
		return -EMSGSIZE;
	if (l->restored_len)
		memcpy(state, l->restored, l->restored_len);
	return (ssize_t)l->restored_len;
}

void smr_lin_counts(const struct smr_lin *l, uint32_t *resumes, uint64_t *gen, uint64_t *skipped)
{
	*resumes = l->resumes;
	*gen = l->resumes ? l->gen : 0;
	*skipped = l->skipped;
}

/* ---- takeover ---- */

/* Skip input messages [in->pos, to) that the checkpoint covers: they must be
 * whole records of this ring (the position comes from shared memory). The
 * number skipped, or -1 when `to` is not a record boundary within reach. */
static int64_t skip_covered(struct shmring *in, uint64_t to)
{
	uint64_t n, bytes;
	if (smr_walk_records(in, in->pos, to, &n, &bytes) < 0)
		return -1;
	in->pos = to;
	in->msgs += n;
	in->bytes += bytes;
	smr_publish(in); /* C2: those bytes are the producer's again */
	smr_counter_add(&in->my_ctr->skipped, n);
	return (int64_t)n;
}

static int corrupt(struct smr_lin *l, const char *what)
{
	smr_seterr("kernel '%s': its journal %s: the journal is corrupt; restart the topology",
		   l->name, what);
	return -EBADMSG;
}

static int restore_checkpoint(struct smr_lin *l)
{
	const uint64_t *tails;
	const uint8_t *state;
	uint64_t len;
	if (smr_jnl_current(&l->j, &l->gen, &tails, &state, &len) < 0)
		return corrupt(l, "names a checkpoint slot that holds another one");
	l->hot.attr = l->nin;
	l->hot.attr_p = l->gen;
	if (l->gen == 0)
		return 0;
	if (len && !(l->restored = malloc(len)))
		return -ENOMEM;
	memcpy(l->restored, state, len);
	l->restored_len = len;
	for (uint32_t i = 0; i < l->nin; i++) {
		uint64_t to = tails[i];
		if ((int64_t)(to - l->in[i]->pos) <= 0)
			continue; /* released already */
		int64_t n = skip_covered(l->in[i], to);
		if (n < 0)
			return corrupt(l, "checkpoint names an input position that is no record "
				       "boundary of its ring");
		l->skipped += (uint64_t)n;
	}
	l->resumes = 1;
	return 0;
}

/* What each output held from the predecessor: the limits sends are checked
 * against. A limit a send can never reach again is dropped at once. */
static int load_limits(struct smr_lin *l)
{
	for (uint32_t o = 0; o < l->nout; o++) {
		for (uint32_t i = 0; i <= l->nin; i++) {
			struct smr_jnl_entry *je = smr_jnl_entry(&l->j, o, i);
			uint64_t p, n;
			if (!je)
				continue;
			smr_jnl_lineage_retire(je, l->out[o]->pos);
			if (!smr_jnl_lineage_get(je, l->out[o]->pos, &p, &n))
				continue;
			/* An input position past anything its producer wrote,
			 * or a generation never published, is no answer. The
			 * head is a hint (ring_io.c); acquire pairs with nothing,
			 * relaxed would do: only a bound is taken from it. */
			uint64_t reach = i < l->nin ? smr_load_acquire(&l->in[i]->hdr->head.pos) +
							  l->in[i]->cap : l->gen;
			if (p > reach || n == 0)
				return corrupt(l, "lineage names an input position never produced");
			uint64_t from = i < l->nin ? l->in[i]->pos : l->gen;
			if (p < from)
				continue; /* everything after it is new */
			struct smr_lin_pair *e = &l->hot.pairs[(size_t)o * (l->nin + 1u) + i];
			e->lim_p = p;
			e->lim_n = n;
			e->lim = 1;
			l->nlim[o]++;
		}
		l->out[o]->suppress = l->nlim[o] != 0;
	}
	return 0;
}

static int alloc_lin(struct smr_lin *l)
{
	/* Pairs only where the journal has entries: a kernel with more ports
	 * than SHMRING_JNL_MAX_ENTRIES pairs has no lineage (at-least-once),
	 * and must not pay memory for it. */
	size_t np = smr_jnl_nentries(l->nin, l->nout);
	l->in = calloc(l->nin + l->nout + 1u, sizeof(*l->in));
	l->ports = calloc(l->nin + l->nout + 1u, sizeof(*l->ports));
	l->hot.pairs = calloc(np + 1u, sizeof(*l->hot.pairs));
	l->nlim = calloc(l->nout + 1u, sizeof(*l->nlim));
	l->stage_tails = calloc(l->nin + 1u, sizeof(*l->stage_tails));
	if (!l->in || !l->ports || !l->hot.pairs || !l->nlim || !l->stage_tails)
		return -ENOMEM;
	l->out = l->in + l->nin;
	return 0;
}

int smr_lin_open(int fd, const char *kname, struct shmring *const *in, uint32_t nin,
		 struct shmring *const *out, uint32_t nout, struct smr_lin **lp)
{
	*lp = NULL;
	struct smr_lin *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	snprintf(l->name, sizeof(l->name), "%s", kname);
	l->nin = nin;
	l->nout = nout;
	l->hot.nout = nout;
	l->hot.nin1 = nin + 1u;
	char why[160];
	int rc = smr_jnl_attach(fd, nin, nout, &l->j, why, sizeof(why));
	if (rc < 0) {
		smr_seterr("kernel '%s': %s", kname, why);
		goto fail;
	}
	if ((rc = alloc_lin(l)) < 0)
		goto fail;
	l->hot.entries = l->j.entries;
	memcpy(l->in, in, nin * sizeof(*in));
	memcpy(l->out, out, nout * sizeof(*out));
	if ((rc = restore_checkpoint(l)) < 0 || (rc = load_limits(l)) < 0)
		goto fail;
	for (uint32_t i = 0; i < nin + nout; i++) {
		l->ports[i] = (struct smr_lin_port){ .hot = &l->hot, .l = l,
						     .index = i < nin ? i : i - nin };
		l->in[i]->lin = &l->ports[i];
	}
	*lp = l;
	return 0;
fail:
	smr_lin_close(l);
	return rc;
}

void smr_lin_close(struct smr_lin *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; l->in && l->ports && i < l->nin + l->nout; i++)
		if (l->in[i] && l->in[i]->lin == &l->ports[i]) {
			l->in[i]->lin = NULL;
			l->in[i]->suppress = 0;
		}
	smr_jnl_detach(&l->j);
	free(l->in);
	free(l->ports);
	free(l->hot.pairs);
	free(l->nlim);
	free(l->stage);
	free(l->stage_tails);
	free(l->restored);
	free(l->scratch);
	free(l);
}
