/* SPDX-License-Identifier: MIT */
/*
 * The cold path: create, attach (with full validation of a segment another
 * process made), roles, close, detach, stats.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ring_internal.h"
#include "ring_piece.h"
#include "sys.h"

#define SHM_PREFIX "/shmring."

void shmring_opts_init(struct shmring_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->capacity = 1u << 20;
	opts->wait = SHMRING_WAIT_ADAPTIVE;
	opts->spin_us = 50;
	opts->batch = 1;
	opts->role = SHMRING_ROLE_NONE;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > SHMRING_NAME_MAX) {
		smr_seterr("ring name '%.80s' must be 1 to %d characters long",
			   name, SHMRING_NAME_MAX);
		return -EINVAL;
	}
	if (name[0] == '.' || name[0] == '-') {
		smr_seterr("ring name '%s' must not start with '.' or '-'", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
			smr_seterr("ring name '%s' has character '%c' at %zu: use only "
				   "letters, digits, '_', '.' and '-'", name, c, i);
			return -EINVAL;
		}
	}
	return 0;
}

static void shm_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s%s", SHM_PREFIX, name);
}

static int valid_wait(enum shmring_wait w)
{
	return w == SHMRING_WAIT_ADAPTIVE || w == SHMRING_WAIT_SPIN ||
	       w == SHMRING_WAIT_YIELD || w == SHMRING_WAIT_FUTEX;
}

static uint64_t round_pow2(uint64_t v)
{
	uint64_t p = SHMRING_MIN_CAPACITY;
	while (p < v)
		p <<= 1;
	return p;
}

/* Take the producer or consumer role: CAS our owner word into the end's
 * control block; take over from a dead holder. */
static int claim_role(struct shmring *r)
{
	uint64_t mine = smr_owner_word_self();
	uint64_t cur = 0;
	for (int tries = 0; tries < 16; tries++) {
		/* CAS, acq_rel. Acquire pairs with the release half of the previous
		 * holder's give-back (give_role_back): its last publish and counter
		 * stores happen before our reads of them in bind_role. */
		if (smr_cas_strong(&r->me->owner, &cur, mine)) {
			r->owner_word = mine;
			return 0;
		}
		/* cur now holds the current owner */
		if (smr_owner_alive(cur)) {
			smr_seterr("ring '%s' already has a live %s (pid %u): one process "
				   "per end; detach it first", r->name,
				   r->role == SHMRING_ROLE_PRODUCER ? "producer" : "consumer",
				   (unsigned)(cur >> 32));
			return -EBUSY;
		}
		/* dead holder: loop and CAS from its word to ours */
	}
	smr_seterr("ring '%s': could not take the role (contended)", r->name);
	return -EBUSY;
}

/* Hand the role back, only if it is still ours (a peer may have judged us
 * dead and taken it over). CAS, acq_rel: the release half pairs with the
 * next claimant's acquire in claim_role, after our final publish. */
static void give_role_back(struct shmring *r)
{
	uint64_t mine = r->owner_word;
	smr_cas_strong(&r->me->owner, &mine, 0);
}

/* SHMRING_ADAPTIVE=0 in the producer's environment: hold commits only when
 * shmring_set_batch asks (for comparisons: docs/ring.md). */
static int adaptive_enabled(void)
{
	const char *e = getenv("SHMRING_ADAPTIVE");
	return !(e && !strcmp(e, "0"));
}

/* Fill the handle's local fields from a validated header; claim the role. */
static int bind_role(struct shmring *r)
{
	struct smr_header *h = r->hdr;
	r->data = (uint8_t *)h + SHMRING_DATA_OFFSET;
	r->mask = r->cap - 1;
	r->batch = r->limit = 1;
	if (r->bcast) { /* broadcast: its own blocks (ring_bcast.c) */
		int rc = smr_bcast_bind(r);
		if (rc <= 0)
			return rc; /* an error, or no role to claim (observer) */
	} else if (r->role == SHMRING_ROLE_PRODUCER) {
		r->my_index = &h->head.pos;
		r->peer_index = &h->tail.pos;
		r->me = &h->prod;
		r->peer = &h->cons;
		r->my_ctr = &h->prod_ctr;
	} else if (r->role == SHMRING_ROLE_CONSUMER) {
		r->my_index = &h->tail.pos; /* no peer_index: it reads headers only */
		r->me = &h->cons;
		r->peer = &h->prod;
		r->my_ctr = &h->cons_ctr;
	} else {
		return 0;
	}
	int rc = claim_role(r);
	if (rc < 0)
		return rc;
	/* We continue from where the previous holder of this role left; a
	 * consumer re-reads what its predecessor peeked but never released
	 * (at-least-once), and counts it. */
	uint64_t tail;
	if ((rc = smr_take_position(r, &tail)) < 0) {
		give_role_back(r);
		return rc;
	}
	if (r->role == SHMRING_ROLE_CONSUMER) {
		smr_count_redelivered(r, tail);
		/* Where we start, for a producer in the middle of a message in
		 * pieces (ring_piece.c). Relaxed: the release below orders it. */
		smr_store_relaxed(&r->my_ctr->taken_at, tail);
	}
	/* A new holder reopens its end. Relaxed, both: nothing is published
	 * with them; the consumer learns of new data through the record headers
	 * and wait_strategy is for display only. */
	smr_store_relaxed(&r->me->closed, 0u);
	smr_store_relaxed(&r->me->flags, 0u); /* not an agent's (SMR_END_AGENT) */
	smr_store_relaxed(&r->me->wait_strategy, (uint32_t)r->wait);
	/* Adaptive publication (ring_io.c, H5: asymmetric wakes only), unless
	 * SHMRING_ADAPTIVE=0. */
	r->adapt = r->role == SHMRING_ROLE_PRODUCER && !r->bcast && r->asym_wake &&
		   adaptive_enabled();
	/* T1: release (single writer, so a load and a store): taken_at is
	 * visible before the new count; pairs with the producer's acquire of
	 * attaches (T2, ring_piece.c). Before any tail we publish (C2), so a
	 * producer whose P2 sees our releases sees the count too. */
	smr_store_release(&r->my_ctr->attaches, smr_load_relaxed(&r->my_ctr->attaches) + 1);
	return 0;
}

static struct shmring *handle_new(const char *name)
{
	struct shmring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->fd = -1;
	r->wait = SHMRING_WAIT_ADAPTIVE;
	r->spin_us = 50;
	r->peer_check_ms = smr_peer_check_ms();
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	return r;
}

static void handle_free(struct shmring *r)
{
	smr_piece_free(r);
	free(r->bcast); /* broadcast state, NULL for SPSC */
	if (r->hdr)
		munmap(r->hdr, r->map_len);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

int shmring_create(const char *name, const struct shmring_opts *opts, struct shmring **ring)
{
	return smr_ring_create(name, opts, NULL, ring);
}

/* bc: a broadcast ring's consumers (ring_bcast.c checked them), or NULL. */
int smr_ring_create(const char *name, const struct shmring_opts *opts_in,
		    const struct shmring_bcast_opts *bc, struct shmring **ring)
{
	struct shmring_opts opts;
	char path[sizeof(SHM_PREFIX) + SHMRING_NAME_MAX + 1];
	int rc;

	if (!ring)
		return -EINVAL;
	*ring = NULL;
	if (opts_in)
		opts = *opts_in;
	else
		shmring_opts_init(&opts);
	if (name && (rc = check_name(name)) < 0)
		return rc;
	if (opts.capacity == 0 || opts.capacity > SHMRING_MAX_CAPACITY) {
		smr_seterr("ring capacity %zu is out of range: use 1 byte to 1 GiB "
			   "(rounded up to a power of two, at least 4 KiB)", opts.capacity);
		return -EINVAL;
	}
	if (!valid_wait(opts.wait) || opts.batch == 0 || opts.role > SHMRING_ROLE_CONSUMER) {
		smr_seterr("invalid ring options: wait %d, batch %u, role %d",
			   (int)opts.wait, opts.batch, (int)opts.role);
		return -EINVAL;
	}

	struct shmring *r = handle_new(name);
	if (!r)
		return -ENOMEM;
	r->cap = round_pow2(opts.capacity);
	r->max_msg = r->cap / 2 - SHMRING_REC_HDR;
	r->map_len = (bc ? SHMRING_BCAST_DATA_OFFSET : SHMRING_DATA_OFFSET) + r->cap;
	r->wait = opts.wait;
	r->spin_us = opts.spin_us;
	r->role = opts.role;

	if (name) {
		shm_path(path, sizeof(path), name);
		r->fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (r->fd < 0) {
			rc = -errno;
			if (rc == -EEXIST)
				smr_seterr("ring '%s' already exists (/dev/shm%s): pick another "
					   "name, or remove the stale one with shmring_unlink",
					   name, path);
			else
				smr_seterr("cannot create ring '%s': %s", name, strerror(-rc));
			free(r);
			return rc;
		}
	} else {
		r->fd = memfd_create("shmring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (r->fd < 0) {
			rc = -errno;
			smr_seterr("cannot create anonymous ring: memfd_create: %s", strerror(-rc));
			free(r);
			return rc;
		}
	}
	/* Owner-only, exactly, on every path: shm_open's 0600 is narrowed by
	 * the umask, and a memfd is born 0777 whatever the umask (anyone who
	 * can reach it, e.g. through /proc/PID/fd, could open it read-write). */
	if (fchmod(r->fd, 0600) < 0) {
		rc = -errno;
		smr_seterr("cannot make %s%s%s owner-only (fchmod 0600): %s",
			   name ? "ring '" : "an anonymous ring", name ? r->name : "",
			   name ? "'" : "", strerror(-rc));
		goto fail;
	}
	if (ftruncate(r->fd, (off_t)r->map_len) < 0) {
		rc = -errno;
		smr_seterr("cannot size ring '%s' to %zu bytes: %s (is /dev/shm full?)",
			   r->name, r->map_len, strerror(-rc));
		goto fail;
	}
	/* An anonymous segment is sealed at its size: a buggy or hostile peer
	 * holding the descriptor cannot shrink it under our mapping (SIGBUS on
	 * the next access). A ring without that guarantee is not handed out. */
	if (!name && fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		smr_seterr("cannot seal an anonymous ring at its size (fcntl F_ADD_SEALS): %s: "
			   "allow memfd sealing (seccomp policy), or create a named ring",
			   strerror(-rc));
		goto fail;
	}
	void *map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		smr_seterr("cannot map ring '%s': %s", r->name, strerror(-rc));
		goto fail;
	}
	r->hdr = map;

	/* A fresh segment is zero-filled: indices, owners and counters start at
	 * 0. Fill the identity, then publish the version. */
	struct smr_identity *id = &r->hdr->id;
	id->hdr_size = SHMRING_DATA_OFFSET;
	id->magic = SHMRING_MAGIC;
	id->capacity = r->cap;
	id->max_msg = r->max_msg;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	id->created_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	id->creator_pid = (uint32_t)getpid();
	snprintf(id->name, sizeof(id->name), "%s", r->name);
	/* Asymmetric wakes where this kernel has membarrier (wait.c);
	 * SHMRING_ASYM_WAKE=0 in the creator's environment turns them off. */
	const char *asym = getenv("SHMRING_ASYM_WAKE");
	if (!(asym && !strcmp(asym, "0")) && smr_asym_register() == 0) {
		id->flags |= SHMRING_ID_ASYM_WAKE;
		r->asym_sleep = r->asym_wake = 1;
	}
	/* Broadcast: its magic, header size and consumers (ring_bcast.c). */
	if (bc && (rc = smr_bcast_init(r, bc)) < 0)
		goto fail;
	/* Release: every identity field above is visible before a reader that
	 * load-acquires version (validate_header) sees it non-zero. */
	smr_store_release(&id->version, SHMRING_LAYOUT_VERSION);

	if ((rc = bind_role(r)) < 0)
		goto fail;
	r->batch = r->limit = opts.batch;
	*ring = r;
	return 0;
fail:
	if (name)
		shm_unlink(path);
	handle_free(r);
	return rc;
}

/* Check everything about a segment someone else made before trusting it. */
static int validate_header(struct shmring *r, off_t size)
{
	const struct smr_identity *id = &r->hdr->id;
	/* Acquire pairs with the creator's release of version in shmring_create. */
	uint32_t version = smr_load_acquire(&((struct smr_identity *)id)->version);
	if (r->bcast || id->magic == SHMRING_BCAST_MAGIC) /* broadcast (ring_bcast.c) */
		return smr_bcast_validate(r, version, (uint64_t)size);
	if (id->magic != SHMRING_MAGIC) {
		smr_seterr("'%s' is not a shmring segment (bad magic 0x%016llx): check "
			   "the name", r->name, (unsigned long long)id->magic);
		return -EBADMSG;
	}
	if (version == 0) {
		smr_seterr("ring '%s' is not initialised yet: its creator is still "
			   "setting it up, or died doing so; retry, or remove it", r->name);
		return -EAGAIN;
	}
	if (version != SHMRING_LAYOUT_VERSION) {
		smr_seterr("ring '%s' has layout version %u, this library speaks %u: "
			   "rebuild both ends against the same libshmring", r->name,
			   version, SHMRING_LAYOUT_VERSION);
		return -EPROTO;
	}
	uint64_t cap = id->capacity;
	if (id->hdr_size != SHMRING_DATA_OFFSET || cap < SHMRING_MIN_CAPACITY ||
	    cap > SHMRING_MAX_CAPACITY || (cap & (cap - 1)) ||
	    id->max_msg != cap / 2 - SHMRING_REC_HDR ||
	    (uint64_t)size != SHMRING_DATA_OFFSET + cap) {
		smr_seterr("ring '%s' has an inconsistent header (header %u, capacity %llu, "
			   "max message %llu, segment %lld bytes): the segment is corrupt; "
			   "remove and recreate it", r->name, id->hdr_size,
			   (unsigned long long)cap, (unsigned long long)id->max_msg,
			   (long long)size);
		return -EBADMSG;
	}
	r->cap = cap;
	r->max_msg = cap / 2 - SHMRING_REC_HDR;
	/* Unknown bits are ignored: each flag only adds work for this end. */
	r->asym_sleep = (id->flags & SHMRING_ID_ASYM_WAKE) != 0;
	r->asym_wake = r->asym_sleep && smr_asym_register() == 0;
	return 0;
}

static int open_segment(struct shmring *r, const char *name_or_fd, int observer, int *named)
{
	const int oflag = (observer ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	*named = 0;
	if (strncmp(name_or_fd, "fd:", 3) == 0) {
		char *end;
		errno = 0;
		long fd = strtol(name_or_fd + 3, &end, 10);
		if (errno || *end || end == name_or_fd + 3 || fd < 0 || fd > 1 << 20) {
			smr_seterr("'%s' is not a valid descriptor: use fd:N", name_or_fd);
			return -EINVAL;
		}
		r->fd = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
		if (r->fd < 0) {
			int rc = -errno;
			smr_seterr("cannot use ring descriptor %ld: %s (was it inherited?)",
				   fd, strerror(-rc));
			return rc;
		}
		return 0;
	}
	int rc = check_name(name_or_fd);
	if (rc < 0)
		return rc;
	char path[sizeof(SHM_PREFIX) + SHMRING_NAME_MAX + 1];
	shm_path(path, sizeof(path), name_or_fd);
	r->fd = shm_open(path, oflag, 0);
	if (r->fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			smr_seterr("no ring named '%s' (/dev/shm%s): is its creator running, "
				   "and is the name right?", name_or_fd, path);
		else if (rc == -EACCES)
			smr_seterr("permission denied on ring '%s': it belongs to another "
				   "user; run as that user", name_or_fd);
		else
			smr_seterr("cannot open ring '%s': %s", name_or_fd, strerror(-rc));
		return rc;
	}
	*named = 1;
	return 0;
}

int shmring_attach(const char *name_or_fd, enum shmring_role role, struct shmring **ring)
{
	return smr_ring_attach(name_or_fd, role, -1, ring);
}

/* bcast_index: -1 for an SPSC ring, else a broadcast ring's consumer index
 * (0 for its producer or an observer). */
int smr_ring_attach(const char *name_or_fd, enum shmring_role role, int bcast_index,
		    struct shmring **ring)
{
	int rc, named;
	struct stat st;

	if (!ring || !name_or_fd)
		return -EINVAL;
	*ring = NULL;
	if (role != SHMRING_ROLE_PRODUCER && role != SHMRING_ROLE_CONSUMER &&
	    role != SHMRING_ROLE_OBSERVER) {
		smr_seterr("attach role %d is not producer, consumer or observer", (int)role);
		return -EINVAL;
	}
	struct shmring *r = handle_new(strncmp(name_or_fd, "fd:", 3) ? name_or_fd : "");
	if (!r)
		return -ENOMEM;
	r->role = role;
	if (bcast_index >= 0 && !(r->bcast = smr_bcast_new((unsigned)bcast_index))) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = open_segment(r, name_or_fd, role == SHMRING_ROLE_OBSERVER, &named)) < 0)
		goto fail;
	if (fstat(r->fd, &st) < 0) {
		rc = -errno;
		smr_seterr("cannot inspect ring '%s' (fstat): %s", name_or_fd, strerror(-rc));
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		smr_seterr("ring '%s' belongs to uid %u, not to us (uid %u): refusing a "
			   "foreign segment", r->name, (unsigned)st.st_uid, (unsigned)geteuid());
		rc = -EPERM;
		goto fail;
	}
	if (named && (st.st_mode & 077)) {
		smr_seterr("ring '%s' is accessible to other users (mode %03o): refusing it; "
			   "it was not made by shmring_create", r->name,
			   (unsigned)(st.st_mode & 0777));
		rc = -EPERM;
		goto fail;
	}
	if (st.st_size < (off_t)SHMRING_DATA_OFFSET + (off_t)SHMRING_MIN_CAPACITY) {
		smr_seterr("ring '%s' is %lld bytes, too small to be a shmring segment",
			   r->name, (long long)st.st_size);
		rc = -EBADMSG;
		goto fail;
	}
	r->map_len = (size_t)st.st_size;
	int prot = role == SHMRING_ROLE_OBSERVER ? PROT_READ : PROT_READ | PROT_WRITE;
	void *map = mmap(NULL, r->map_len, prot, MAP_SHARED, r->fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		smr_seterr("cannot map ring '%s': %s", r->name, strerror(-rc));
		goto fail;
	}
	r->hdr = map;
	if ((rc = validate_header(r, st.st_size)) < 0)
		goto fail;
	if (!r->name[0])
		snprintf(r->name, sizeof(r->name), "%.*s", SHMRING_NAME_MAX, r->hdr->id.name);
	if ((rc = bind_role(r)) < 0)
		goto fail;
	*ring = r;
	return 0;
fail:
	handle_free(r);
	return rc;
}

void shmring_detach(struct shmring *r)
{
	if (!r)
		return;
	if (r->role == SHMRING_ROLE_PRODUCER || r->role == SHMRING_ROLE_CONSUMER) {
		if (r->pending)
			smr_publish(r);
		smr_wake_owed(r); /* the peer must not wait for our next call */
		give_role_back(r);
	}
	handle_free(r);
}

int shmring_unlink(const char *name)
{
	char path[sizeof(SHM_PREFIX) + SHMRING_NAME_MAX + 1];
	int rc = check_name(name);
	if (rc < 0)
		return rc;
	shm_path(path, sizeof(path), name);
	if (shm_unlink(path) < 0) {
		rc = -errno;
		smr_seterr("cannot remove ring '%s': %s", name, strerror(-rc));
		return rc;
	}
	return 0;
}

int shmring_close(struct shmring *r)
{
	if (r->role != SHMRING_ROLE_PRODUCER && r->role != SHMRING_ROLE_CONSUMER)
		return -EBADF;
	if (r->pending)
		smr_publish(r);
	r->closed = 1;
	/* Release: pairs with the consumer's load-acquire of closed; the last
	 * header released just above is visible before `closed` is. */
	smr_store_release(&r->me->closed, 1u);
	/* The peer may sleep waiting for an index that will never move: the
	 * closed flag does not change its futex word, so always bump and wake. */
	smr_fence_full();
	smr_wake_peer_always(r);
	return 0;
}

int shmring_set_wait(struct shmring *r, enum shmring_wait wait, uint32_t spin_us)
{
	if (!valid_wait(wait))
		return -EINVAL;
	r->wait = wait;
	r->spin_us = spin_us;
	if (r->me) /* Relaxed: for display (shmring-stat) only. */
		smr_store_relaxed(&r->me->wait_strategy, (uint32_t)wait);
	return 0;
}

int shmring_set_batch(struct shmring *r, uint32_t batch)
{
	if (batch == 0)
		return -EINVAL;
	r->batch = batch;
	if (r->held || r->pending >= batch)
		smr_publish(r); /* an adaptive hold too: a new batch starts clean */
	r->limit = batch;
	if (r->role == SHMRING_ROLE_PRODUCER)
		smr_stream_reset(r); /* batch 1 again: measure the stream anew */
	return 0;
}

int shmring_stats(const struct shmring *r, struct shmring_stats *st)
{
	if (r->bcast) /* broadcast: this consumer's view (ring_bcast.c) */
		return smr_bcast_stats(r, st);
	struct smr_header *h = r->hdr;
	memset(st, 0, sizeof(*st));
	st->capacity = r->cap;
	st->max_message = r->max_msg;
	/* Tail first: head only grows, so a later read of head is >= tail. */
	uint64_t tail = smr_load_acquire(&h->tail.pos);
	uint64_t head = smr_load_acquire(&h->head.pos);
	st->fill = head - tail <= r->cap ? head - tail : r->cap;
	/* Relaxed throughout: statistics, each a single-writer word. */
	st->high_fill = smr_load_relaxed(&h->prod_ctr.high_fill);
	st->msgs_in = smr_load_relaxed(&h->prod_ctr.msgs);
	st->bytes_in = smr_load_relaxed(&h->prod_ctr.bytes);
	st->msgs_out = smr_load_relaxed(&h->cons_ctr.msgs);
	st->redelivered = smr_load_relaxed(&h->cons_ctr.redelivered);
	st->suppressed = smr_load_relaxed(&h->prod_ctr.suppressed);
	st->skipped = smr_load_relaxed(&h->cons_ctr.skipped);
	st->holds = smr_load_relaxed(&h->prod_ctr.holds);
	st->taken = smr_load_relaxed(&h->cons_ctr.holds);
	st->bytes_out = smr_load_relaxed(&h->cons_ctr.bytes);
	st->full_events = smr_load_relaxed(&h->prod_ctr.stalls);
	st->empty_events = smr_load_relaxed(&h->cons_ctr.stalls);
	st->producer_sleeps = smr_load_relaxed(&h->prod_ctr.sleeps);
	st->consumer_sleeps = smr_load_relaxed(&h->cons_ctr.sleeps);
	st->producer_wakes = smr_load_relaxed(&h->prod_ctr.wakes);
	st->consumer_wakes = smr_load_relaxed(&h->cons_ctr.wakes);
	st->producer_pid = (pid_t)(smr_load_relaxed(&h->prod.owner) >> 32);
	st->consumer_pid = (pid_t)(smr_load_relaxed(&h->cons.owner) >> 32);
	st->producer_closed = (int)smr_load_relaxed(&h->prod.closed);
	st->consumer_closed = (int)smr_load_relaxed(&h->cons.closed);
	return 0;
}

size_t shmring_capacity(const struct shmring *r)
{
	return (size_t)r->cap;
}

size_t shmring_max_message(const struct shmring *r)
{
	return (size_t)r->max_msg;
}

int shmring_fd(const struct shmring *r)
{
	return r->fd;
}

const char *shmring_name(const struct shmring *r)
{
	return r->name;
}
