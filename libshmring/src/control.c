/* SPDX-License-Identifier: MIT */
/*
 * The control segment: created by the supervisor, mapped and validated by
 * kernels, discovery and shmring-stat. See private/control.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shmring/bcast.h>
#include <shmring/ring.h>
#include "control.h"
#include "proc.h"

static_assert(SMR_CTL_BCAST_MAX == SHMRING_BCAST_MAX, "broadcast limit of bcast.h");

/* One read of a plain word that other processes may write at any time: a
 * count is read once, checked, and only the checked copy used. */
static uint32_t read_once32(const void *p)
{
	return *(const volatile uint32_t *)p;
}

static uint64_t read_once64(const void *p)
{
	return *(const volatile uint64_t *)p;
}

/* Writes everything but the blocks' names and ring entries, which are the
 * caller's; the memfd is zero-filled, so unset fields are 0. */
static void fill_header(struct smr_ctl *c, const char *name)
{
	struct smr_ctl_header *h = c->h;
	h->size = (uint32_t)c->len;
	h->magic = SHMRING_CTL_MAGIC;
	h->supervisor = c->supervisor;
	h->started_ns = smr_clock_ns(CLOCK_REALTIME);
	h->nkernels = c->nkernels;
	h->nrings = c->nrings;
	h->event_fd = -1;
	/* Relaxed: nobody reads it before the release of version. */
	atomic_store_explicit(&h->state, (uint32_t)SMR_TOPO_STARTING, memory_order_relaxed);
	memcpy(h->name, name, strlen(name) + 1);
	memcpy(c->name, h->name, sizeof(c->name));
	struct smr_ctl_kernel *k = smr_ctl_kernels(h);
	for (uint32_t i = 0; i < c->nkernels; i++) {
		atomic_store_explicit(&k[i].cpu, -1, memory_order_relaxed);
		atomic_store_explicit(&k[i].last_status, -1, memory_order_relaxed);
		k[i].journal_fd = -1;
	}
}

int smr_ctl_create(const char *name, uint32_t nkernels, uint32_t nrings, struct smr_ctl *c)
{
	memset(c, 0, sizeof(*c));
	size_t nlen = strlen(name);
	if (!nlen || nlen >= SHMRING_CTL_NAME || nkernels > SHMRING_CTL_MAX_KERNELS ||
	    nrings > SHMRING_CTL_MAX_RINGS)
		return -EINVAL;
	char memfd_name[sizeof(SHMRING_CTL_MEMFD_PREFIX) + SHMRING_CTL_NAME];
	snprintf(memfd_name, sizeof(memfd_name), SHMRING_CTL_MEMFD_PREFIX "%s", name);
	size_t len = smr_ctl_size(nkernels, nrings);
	int fd = memfd_create(memfd_name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* A memfd is created mode 0777: make the segment this user's alone.
	 * The seals keep every mapping of it valid: nobody can shrink it under
	 * a reader, and its size stays the one the header states. */
	void *m = MAP_FAILED;
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    (m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	*c = (struct smr_ctl){ .h = m, .len = len, .nkernels = nkernels, .nrings = nrings,
			       .supervisor = smr_owner_word(getpid()) };
	fill_header(c, name);
	return fd;
}

void smr_ctl_publish(struct smr_ctl_header *h)
{
	/* P1: release pairs with the acquire of version in smr_ctl_check (A1):
	 * every field written before it is visible to a reader that sees it. */
	atomic_store_explicit(&h->version, SHMRING_CTL_VERSION, memory_order_release);
}

/* The header's counts and size, each read once, against len. */
static int check_counts(const struct smr_ctl_header *h, size_t len, uint32_t *nk, uint32_t *nr,
			char *why, size_t cap)
{
	uint32_t size = read_once32(&h->size);
	*nk = read_once32(&h->nkernels);
	*nr = read_once32(&h->nrings);
	if (size != len || *nk > SHMRING_CTL_MAX_KERNELS || *nr > SHMRING_CTL_MAX_RINGS ||
	    smr_ctl_size(*nk, *nr) != len || !smr_ctl_name_ok(h->name)) {
		snprintf(why, cap, "the control segment is corrupt (size %zu, %u kernels, %u rings): "
			 "restart the topology", len, *nk, *nr);
		return -EBADMSG;
	}
	return 0;
}

int smr_ctl_check(const struct smr_ctl_header *h, size_t len, char *why, size_t cap)
{
	if (len < SHMRING_CTL_HDR)
		goto not_ours;
	/* A1: acquire pairs with P1 (smr_ctl_publish). First, so that every
	 * header field read below (magic included) is the published one. */
	uint32_t v = atomic_load_explicit(&((struct smr_ctl_header *)h)->version,
					  memory_order_acquire);
	uint64_t magic = h->magic;
	if (v == 0 && (magic == 0 || magic == SHMRING_CTL_MAGIC)) {
		snprintf(why, cap, "the topology is still being created: try again");
		return -EAGAIN;
	}
	if (magic != SHMRING_CTL_MAGIC)
		goto not_ours;
	if (v != SHMRING_CTL_VERSION) {
		snprintf(why, cap, "control segment version %u, this program reads version %u: "
			 "use the shmring tools of the same release as the supervisor",
			 v, SHMRING_CTL_VERSION);
		return -EPROTO;
	}
	uint32_t nk, nr;
	return check_counts(h, len, &nk, &nr, why, cap);
not_ours:
	snprintf(why, cap, "not a shmring control segment (bad magic, %zu bytes): corrupt, "
		 "or another program's memfd; end the process holding it and restart the "
		 "topology", len);
	return -EBADMSG;
}

/* The size fstat gives, before anything is mapped: 0, or -errno. */
static int check_size(int fd, const char *what, size_t *len, char *why, size_t cap)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(why, cap, "cannot look at %s: %s", what, strerror(e));
		return -e;
	}
	const size_t max = smr_ctl_size(SHMRING_CTL_MAX_KERNELS, SHMRING_CTL_MAX_RINGS);
	if (!S_ISREG(st.st_mode)) { /* a pipe, socket or device: never a memfd */
		snprintf(why, cap, "%s is not a shmring control segment (not a memory file): start "
			 "the topology with shmring-supervisor run", what);
		return -EBADMSG;
	}
	if (st.st_size == 0) { /* created, not sized yet */
		snprintf(why, cap, "%s is still being created (0 bytes): try again", what);
		return -EAGAIN;
	}
	if (st.st_size < (off_t)SHMRING_CTL_HDR || st.st_size > (off_t)max) {
		int big = st.st_size > (off_t)max;
		snprintf(why, cap, "%s is %lld bytes, %s (%zu): it is not a shmring control segment, "
			 "or it is corrupt; start the topology again with shmring-supervisor run",
			 what, (long long)st.st_size,
			 big ? "more than the largest topology's" : "less than a header",
			 big ? max : (size_t)SHMRING_CTL_HDR);
		return -EBADMSG;
	}
	*len = (size_t)st.st_size;
	return 0;
}

/* Header checks of a mapping; the checked copies go into c. */
static int check_mapping(struct smr_ctl *c, const char *what, char *why, size_t cap)
{
	const struct smr_ctl_header *h = c->h;
	/* Relaxed: a first look, so that a segment still all zero (sized, not
	 * yet written) reads as "being created"; smr_ctl_check reads version
	 * again with acquire before anything else is trusted. */
	uint32_t v = atomic_load_explicit(&((struct smr_ctl_header *)h)->version,
					  memory_order_relaxed);
	if (v == 0 && read_once64(&h->magic) == 0) {
		snprintf(why, cap, "%s is still being created: try again", what);
		return -EAGAIN;
	}
	int rc = smr_ctl_check(h, c->len, why, cap);
	if (rc < 0)
		return rc;
	/* The counts again, once each: these copies are what bounds every
	 * access, whatever the shared header says later. */
	if ((rc = check_counts(h, c->len, &c->nkernels, &c->nrings, why, cap)) < 0)
		return rc;
	memcpy(c->name, h->name, sizeof(c->name));
	if (!smr_ctl_name_ok(c->name)) { /* changed since checked */
		snprintf(why, cap, "the control segment's topology name is corrupt: restart the "
			 "topology");
		return -EBADMSG;
	}
	c->supervisor = read_once64(&h->supervisor);
	return 0;
}

int smr_ctl_attach(int fd, enum smr_ctl_access access, const char *what, struct smr_ctl *c,
		   char *why, size_t cap)
{
	memset(c, 0, sizeof(*c));
	size_t len = 0;
	int rc = check_size(fd, what, &len, why, cap);
	if (rc < 0)
		return rc;
	int prot = access == SMR_CTL_WRITE ? PROT_READ | PROT_WRITE : PROT_READ;
	void *m = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		snprintf(why, cap, "cannot map %s: %s", what, strerror(e));
		return -e;
	}
	c->h = m;
	c->len = len;
	if ((rc = check_mapping(c, what, why, cap)) < 0)
		smr_ctl_detach(c);
	return rc;
}

void smr_ctl_detach(struct smr_ctl *c)
{
	if (c->h)
		munmap(c->h, c->len);
	memset(c, 0, sizeof(*c));
}

struct smr_ctl_kernel *smr_ctl_kernel(const struct smr_ctl *c, uint32_t i)
{
	if (!c->h || i >= c->nkernels)
		return NULL;
	return (struct smr_ctl_kernel *)((uint8_t *)c->h + SHMRING_CTL_HDR +
					 (size_t)SHMRING_CTL_BLOCK * i);
}

int smr_ctl_kernel_name(const struct smr_ctl *c, uint32_t i, char *name, char *why, size_t cap)
{
	name[0] = '\0';
	const struct smr_ctl_kernel *k = smr_ctl_kernel(c, i);
	if (!k) {
		snprintf(why, cap, "kernel %u is not in the control segment (%u kernels)", i,
			 c->nkernels);
		return -ERANGE;
	}
	/* Copy, then check the copy: the block may change while we look. */
	memcpy(name, k->name, SHMRING_CTL_NAME);
	if (!smr_ctl_name_ok(name)) {
		name[0] = '\0';
		snprintf(why, cap, "the name of kernel %u in the control segment is corrupt: "
			 "restart the topology", i);
		return -EBADMSG;
	}
	return 0;
}

/* What is wrong with a ring entry, or NULL. */
const char *smr_ctl_ring_problem(const struct smr_ctl *c, const struct smr_ctl_ring *r)
{
	if (r->from_kernel >= c->nkernels || r->to_kernel >= c->nkernels)
		return "a kernel index past the kernels";
	if (!smr_ctl_name_ok(r->from_port) || !smr_ctl_name_ok(r->to_port))
		return "a port name empty or not terminated";
	if (r->fd < 0)
		return "a negative descriptor";
	if (r->wait > SHMRING_WAIT_FUTEX)
		return "an unknown wait strategy";
	if (r->to_priority < SMR_PRIO_LOW || r->to_priority > SMR_PRIO_HIGH)
		return "an unknown input priority";
	if (r->shared & ~SMR_CTL_SHARED_ALL)
		return "unknown shared-cpu bits";
	if (r->bcast_n > SMR_CTL_BCAST_MAX || (r->bcast_n && r->bcast_index >= r->bcast_n) ||
	    (!r->bcast_n && r->bcast_index))
		return "a broadcast consumer index past its consumers";
	return NULL;
}

int smr_ctl_ring_get(const struct smr_ctl *c, uint32_t i, struct smr_ctl_ring *out, char *why,
		     size_t cap)
{
	if (!c->h || i >= c->nrings) {
		memset(out, 0, sizeof(*out));
		snprintf(why, cap, "ring %u is not in the control segment (%u rings)", i, c->nrings);
		return -ERANGE;
	}
	memcpy(out, (const uint8_t *)c->h + SHMRING_CTL_HDR +
			    (size_t)SHMRING_CTL_BLOCK * ((size_t)c->nkernels + i),
	       sizeof(*out));
	const char *bad = smr_ctl_ring_problem(c, out);
	if (bad) {
		snprintf(why, cap, "ring %u in the control segment is corrupt (%s): restart the "
			 "topology", i, bad);
		return -EBADMSG;
	}
	return 0;
}
