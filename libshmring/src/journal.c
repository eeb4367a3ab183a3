/* SPDX-License-Identifier: MIT */
/*
 * A kernel's journal: the one module that creates, maps and validates it
 * and reads and writes its checkpoint slots and lineage entries. The format
 * and the reasoning are in private/journal.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define ALIGN64(x) (((x) + 63u) & ~(uint64_t)63u)

uint32_t smr_jnl_nentries(uint32_t nin, uint32_t nout)
{
	uint64_t n = (uint64_t)nout * ((uint64_t)nin + 1u);
	return n <= SHMRING_JNL_MAX_ENTRIES ? (uint32_t)n : 0;
}

static uint64_t slot_size(uint32_t nin)
{
	return ALIGN64(sizeof(struct smr_jnl_slot) + 8u * (uint64_t)nin + SHMRING_JNL_STATE_MAX);
}

size_t smr_jnl_size(uint32_t nin, uint32_t nout)
{
	return SHMRING_JNL_ENTRIES_OFF + (size_t)SHMRING_JNL_ENTRY * smr_jnl_nentries(nin, nout) +
	       2u * (size_t)slot_size(nin);
}

/* Where everything lies, from counts already checked. */
static void locate(struct smr_jnl *j)
{
	uint8_t *base = (uint8_t *)j->h;
	j->metrics = (struct smr_jnl_metrics *)(base + SHMRING_JNL_METRICS_OFF);
	j->entries = j->nentries ? (struct smr_jnl_entry *)(base + SHMRING_JNL_ENTRIES_OFF) : NULL;
	j->slots[0] = base + SHMRING_JNL_ENTRIES_OFF + (size_t)SHMRING_JNL_ENTRY * j->nentries;
	j->slots[1] = j->slots[0] + j->slot_size;
}

int smr_jnl_create(const char *topo, const char *kernel, uint32_t nin, uint32_t nout)
{
	if (nin > SHMRING_JNL_MAX_PORTS || nout > SHMRING_JNL_MAX_PORTS)
		return -EINVAL;
	char name[96];
	snprintf(name, sizeof(name), SHMRING_JNL_MEMFD_PREFIX "%s.%s", topo, kernel);
	size_t len = smr_jnl_size(nin, nout);
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Owner-only, and sealed at its size: every mapping stays valid and
	 * the size stays the one the header states. Sparse: a kernel that
	 * never checkpoints touches two pages. */
	void *m = MAP_FAILED;
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    (m = mmap(NULL, SHMRING_JNL_HDR, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct smr_jnl_header *h = m;
	h->ninputs = nin;
	h->noutputs = nout;
	h->nentries = smr_jnl_nentries(nin, nout);
	h->magic = SHMRING_JNL_MAGIC;
	h->size = len;
	h->slot_size = slot_size(nin);
	/* Release pairs with the acquire in smr_jnl_attach: the fields above
	 * are visible to whoever sees the version. */
	atomic_store_explicit(&h->version, SHMRING_JNL_VERSION, memory_order_release);
	munmap(m, SHMRING_JNL_HDR);
	return fd;
}

static int bad(char *why, size_t cap, int rc, const char *what)
{
	if (why && cap)
		snprintf(why, cap, "its journal %s: restart the topology", what);
	return rc;
}

/* The header against the mapping's size and what the kernel knows. */
static int check_header(const struct smr_jnl_header *h, size_t len, uint32_t nin, uint32_t nout,
			char *why, size_t cap)
{
	/* Acquire pairs with the creator's release of version. */
	uint32_t v = atomic_load_explicit(&h->version, memory_order_acquire);
	if (h->magic != SHMRING_JNL_MAGIC)
		return bad(why, cap, -EBADMSG, "is not a shmring journal");
	if (v != SHMRING_JNL_VERSION)
		return bad(why, cap, -EPROTO, "is of another shmring version");
	if (h->ninputs != nin || h->noutputs != nout)
		return bad(why, cap, -EBADMSG, "was made for other ports than this kernel's");
	if (h->nentries != smr_jnl_nentries(nin, nout) || h->slot_size != slot_size(nin) ||
	    h->size != len || len != smr_jnl_size(nin, nout))
		return bad(why, cap, -EBADMSG, "is corrupt (sizes do not add up)");
	return 0;
}

/* Map len bytes of fd and check the header against nin and nout: the one
 * place that fills *j (attach, read-write; observe, read-only). */
static int map_checked(int fd, size_t len, int prot, uint32_t nin, uint32_t nout,
		       struct smr_jnl *j, char *why, size_t cap)
{
	void *m = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return bad(why, cap, -errno, "cannot be mapped");
	int rc = check_header(m, len, nin, nout, why, cap);
	if (rc < 0) {
		munmap(m, len);
		return rc;
	}
	*j = (struct smr_jnl){ .h = m, .len = len, .ninputs = nin, .noutputs = nout,
			       .nentries = smr_jnl_nentries(nin, nout), .slot_size = slot_size(nin) };
	locate(j);
	return 0;
}

int smr_jnl_attach(int fd, uint32_t nin, uint32_t nout, struct smr_jnl *j, char *why, size_t cap)
{
	memset(j, 0, sizeof(*j));
	if (nin > SHMRING_JNL_MAX_PORTS || nout > SHMRING_JNL_MAX_PORTS)
		return bad(why, cap, -EBADMSG, "was made for more ports than a kernel can have");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return bad(why, cap, -errno, "cannot be examined");
	size_t len = smr_jnl_size(nin, nout);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
		return bad(why, cap, -EBADMSG, "has the wrong size (not this kernel's journal)");
	return map_checked(fd, len, PROT_READ | PROT_WRITE, nin, nout, j, why, cap);
}

int smr_jnl_observe(int fd, struct smr_jnl *j, char *why, size_t cap)
{
	memset(j, 0, sizeof(*j));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return bad(why, cap, -errno, "cannot be examined");
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)SHMRING_JNL_HDR)
		return bad(why, cap, -EBADMSG, "is too short to be one");
	struct smr_jnl_header hd;
	if (pread(fd, &hd, sizeof(hd), 0) != (ssize_t)sizeof(hd))
		return bad(why, cap, -EBADMSG, "cannot be read");
	uint32_t nin = hd.ninputs, nout = hd.noutputs;
	if (nin > SHMRING_JNL_MAX_PORTS || nout > SHMRING_JNL_MAX_PORTS ||
	    (uint64_t)st.st_size != smr_jnl_size(nin, nout))
		return bad(why, cap, -EBADMSG, "is corrupt (sizes do not add up)");
	return map_checked(fd, (size_t)st.st_size, PROT_READ, nin, nout, j, why, cap);
}

void smr_jnl_detach(struct smr_jnl *j)
{
	if (j->h)
		munmap(j->h, j->len);
	memset(j, 0, sizeof(*j));
}

/* ---- checkpoint ---- */

int smr_jnl_current(const struct smr_jnl *j, uint64_t *gen, const uint64_t **tails,
		    const uint8_t **state, uint64_t *len)
{
	/* Acquire pairs with the release in smr_jnl_publish: the slot it
	 * names is complete. */
	uint64_t g = atomic_load_explicit(&j->h->gen, memory_order_acquire);
	*gen = g;
	*tails = NULL;
	*state = NULL;
	*len = 0;
	if (g == 0)
		return 0;
	const uint8_t *s = j->slots[g & 1u];
	struct smr_jnl_slot sl;
	memcpy(&sl, s, sizeof(sl));
	if (sl.gen != g || sl.len > SHMRING_JNL_STATE_MAX)
		return -EBADMSG;
	*tails = (const uint64_t *)(const void *)(s + sizeof(sl));
	*state = s + sizeof(sl) + 8u * (size_t)j->ninputs;
	*len = sl.len;
	return 0;
}

uint64_t smr_jnl_publish(struct smr_jnl *j, uint64_t gen, const uint64_t *tails, const void *state,
			 uint64_t len)
{
	uint64_t g = gen + 1;
	uint8_t *s = j->slots[g & 1u]; /* the slot the current gen does not name */
	struct smr_jnl_slot sl = { .gen = g, .len = len };
	memcpy(s, &sl, sizeof(sl));
	if (j->ninputs)
		memcpy(s + sizeof(sl), tails, 8u * (size_t)j->ninputs);
	if (len)
		memcpy(s + sizeof(sl) + 8u * (size_t)j->ninputs, state, len);
	/* Release: the slot is complete before gen names it; pairs with the
	 * acquire in smr_jnl_current (a successor, after we died). */
	atomic_store_explicit(&j->h->gen, g, memory_order_release);
	return g;
}

/* ---- lineage ---- */

struct smr_jnl_entry *smr_jnl_entry(const struct smr_jnl *j, uint32_t o, uint32_t i)
{
	if (!j->entries || o >= j->noutputs || i > j->ninputs)
		return NULL;
	return &j->entries[(size_t)o * (j->ninputs + 1u) + i];
}

void smr_jnl_lineage_retire(struct smr_jnl_entry *e, uint64_t head)
{
	for (int i = 0; i < 2; i++)
		/* Relaxed: the one writer (a kernel taking over, before it sends). */
		if (atomic_load_explicit(&e->v[i].head_after, memory_order_relaxed) > head)
			atomic_store_explicit(&e->v[i].head_after, 0, memory_order_relaxed);
}

int smr_jnl_lineage_get(const struct smr_jnl_entry *e, uint64_t head, uint64_t *p, uint64_t *n)
{
	int found = 0;
	uint64_t best = 0;
	for (int i = 0; i < 2; i++) {
		/* Relaxed: the writer is dead or gave the role back (the claim
		 * acquired its release). */
		uint64_t h = atomic_load_explicit(&e->v[i].head_after, memory_order_relaxed);
		if (h == 0 || h > head || (found && h <= best))
			continue;
		found = 1;
		best = h;
		*p = atomic_load_explicit(&e->v[i].p, memory_order_relaxed);
		*n = atomic_load_explicit(&e->v[i].n, memory_order_relaxed);
	}
	return found;
}

/* ---- metrics ---- */

static int metric_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= SHMRING_JNL_METRIC_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return 0;
	return 1;
}

/* A slot's name into out: 1 a name, 0 free (empty), -1 corrupt (not
 * terminated, or not a name): out is "" then. */
static int slot_name(const struct smr_jnl_metric *m, char *out)
{
	memcpy(out, m->name, SHMRING_JNL_METRIC_NAME); /* a private copy: shared memory */
	if (out[0] == '\0')
		return 0;
	if (memchr(out, '\0', SHMRING_JNL_METRIC_NAME) == NULL || !metric_name_ok(out)) {
		out[0] = '\0';
		return -1;
	}
	return 1;
}

int smr_jnl_metric(struct smr_jnl *j, const char *name)
{
	if (!metric_name_ok(name))
		return -EINVAL;
	char have[SHMRING_JNL_METRIC_NAME];
	int free_slot = -1;
	for (unsigned i = 0; i < SHMRING_JNL_METRICS; i++) {
		int got = slot_name(&j->metrics->m[i], have);
		if (got <= 0) { /* free, or corrupt: taken over */
			if (free_slot < 0)
				free_slot = (int)i;
		} else if (strcmp(have, name) == 0) {
			return (int)i; /* taken before a restart: same slot, same value */
		}
	}
	if (free_slot < 0)
		return -ENOSPC;
	struct smr_jnl_metric *m = &j->metrics->m[free_slot];
	atomic_store_explicit(&m->value, 0, memory_order_relaxed);
	memset(m->name, 0, sizeof(m->name));
	memcpy(m->name, name, strlen(name));
	return free_slot;
}

int smr_jnl_metric_get(const struct smr_jnl *j, unsigned i, char *name, uint64_t *value)
{
	if (i >= SHMRING_JNL_METRICS)
		return 0;
	int got = slot_name(&j->metrics->m[i], name);
	if (got <= 0)
		return got;
	/* Relaxed: a counter; a reader wants a recent value. */
	*value = atomic_load_explicit(&j->metrics->m[i].value, memory_order_relaxed);
	return 1;
}

void smr_jnl_note_get(const struct smr_jnl *j, char *note)
{
	memcpy(note, j->metrics->note, SHMRING_JNL_NOTE);
	if (memchr(note, '\0', SHMRING_JNL_NOTE) == NULL)
		note[0] = '\0'; /* not terminated: corrupt, shown as none */
}

void smr_jnl_note_set(struct smr_jnl *j, const char *note)
{
	/* Terminated first, then the text: a reader copying while we write
	 * gets a short or mixed line, never an unterminated one. */
	j->metrics->note[SHMRING_JNL_NOTE - 1] = '\0';
	size_t n = strnlen(note, SHMRING_JNL_NOTE - 1);
	memcpy(j->metrics->note, note, n);
	j->metrics->note[n] = '\0';
}
