/* SPDX-License-Identifier: MIT */
/*
 * The control segment of a running topology: what the supervisor tells its
 * kernels (who they are, which rings are theirs, when to start and stop) and
 * what shmring-stat reads. A wire format like layout.h: fixed-width fields,
 * static_asserts, a version checked on attach.
 *
 * It is a sealed memfd named "shmring-ctl.TOPOLOGY", never a file in
 * /dev/shm: it dies with the last process holding it, so nothing survives a
 * supervisor killed with SIGKILL. Kernels inherit it as a descriptor
 * (SHMRING_CONTROL=fd:N); tools find it as /proc/PID/fd/N of the supervisor.
 *
 *   offset            size        block
 *   0                 256         header
 *   256               128 * nk    one block per kernel
 *   256 + 128 * nk    128 * nr    one block per ring
 *
 * Everything in it is written by the supervisor, except a kernel's `state`
 * (READY, ACTIVE) and `finished`, which the kernel writes in its own block.
 * Readers trust nothing: counts, indices and strings are bounds-checked.
 */
#ifndef SHMRING_SRC_CONTROL_H
#define SHMRING_SRC_CONTROL_H

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SHMRING_CTL_MAGIC    0x314c54434d524d53ull /* "SMRMCTL1" little-endian */
#define SHMRING_CTL_VERSION  1u
#define SHMRING_CTL_HDR      256u
#define SHMRING_CTL_BLOCK    128u
#define SHMRING_CTL_MAX_KERNELS 1024u
#define SHMRING_CTL_MAX_RINGS   4096u
#define SHMRING_CTL_NAME     32u /* names: up to 31 bytes and a NUL */
#define SHMRING_CTL_MEMFD_PREFIX "shmring-ctl."

/* Topology state (header.state). */
enum smr_topo_state {
	SMR_TOPO_STARTING = 1, /* kernels launched, not all ready */
	SMR_TOPO_ACTIVE = 2,   /* all were ready once; kernels run */
	SMR_TOPO_STOPPING = 3, /* stop flags set, grace period running */
};

/* Kernel state (kernel.state). */
enum smr_kernel_state {
	SMR_K_LAUNCHED = 1,  /* forked, not attached yet        (supervisor) */
	SMR_K_READY = 2,     /* ports attached, waiting          (kernel) */
	SMR_K_ACTIVE = 3,    /* running                          (kernel) */
	SMR_K_STOPPING = 4,  /* asked to stop                    (supervisor) */
	SMR_K_EXITED = 5,    /* exited, to be restarted or not   (supervisor) */
	SMR_K_DONE = 6,      /* finished its stream, or gone for good (supervisor) */
};

struct smr_ctl_header {
	/* Published last, with release, by the supervisor: 0 = not ready. */
	_Atomic uint32_t version;
	uint32_t size;          /* bytes in the whole segment */
	uint64_t magic;
	uint64_t supervisor;    /* owner word (pid << 32 | start ticks) */
	uint64_t started_ns;    /* CLOCK_REALTIME */
	uint32_t nkernels, nrings;
	_Atomic uint32_t state;      /* enum smr_topo_state */
	_Atomic uint32_t active_seq; /* futex: bumped when the topology activates */
	int32_t  event_fd;      /* eventfd kernels write to say "look at me" */
	uint32_t reserved;
	char     name[SHMRING_CTL_NAME];
	uint8_t  pad_[SHMRING_CTL_HDR - 56 - SHMRING_CTL_NAME];
};

struct smr_ctl_kernel {
	char     name[SHMRING_CTL_NAME];
	_Atomic uint32_t state;    /* enum smr_kernel_state */
	_Atomic uint32_t stop;     /* futex: 0 run, 1 stop (set by the supervisor) */
	_Atomic int32_t  pid;      /* 0 when not running */
	_Atomic uint32_t restarts;
	_Atomic int32_t  cpu;      /* first core it is bound to, -1 unbound */
	_Atomic uint32_t finished; /* kernel: detached after finishing its stream */
	_Atomic int32_t  last_status; /* wait status of its last exit, -1 none */
	uint32_t reserved;
	_Atomic uint64_t started_ns;  /* CLOCK_REALTIME of the last start */
	uint8_t  pad_[SHMRING_CTL_BLOCK - 72];
};

struct smr_ctl_ring {
	uint32_t from_kernel, to_kernel;
	char     from_port[SHMRING_CTL_NAME], to_port[SHMRING_CTL_NAME];
	int32_t  fd;            /* the ring's memfd in the supervisor; the two
				   kernels inherit it under the same number */
	uint32_t wait;          /* enum shmring_wait both ends use */
	uint64_t capacity;
	uint8_t  pad_[SHMRING_CTL_BLOCK - 88];
};

static_assert(sizeof(struct smr_ctl_header) == SHMRING_CTL_HDR, "control header");
static_assert(offsetof(struct smr_ctl_header, name) == 56, "control header name");
static_assert(sizeof(struct smr_ctl_kernel) == SHMRING_CTL_BLOCK, "kernel block");
static_assert(sizeof(struct smr_ctl_ring) == SHMRING_CTL_BLOCK, "ring block");

static inline size_t smr_ctl_size(uint32_t nkernels, uint32_t nrings)
{
	return SHMRING_CTL_HDR + (size_t)SHMRING_CTL_BLOCK * (nkernels + nrings);
}

static inline struct smr_ctl_kernel *smr_ctl_kernels(struct smr_ctl_header *h)
{
	return (struct smr_ctl_kernel *)((uint8_t *)h + SHMRING_CTL_HDR);
}

static inline struct smr_ctl_ring *smr_ctl_rings(struct smr_ctl_header *h)
{
	return (struct smr_ctl_ring *)((uint8_t *)h + SHMRING_CTL_HDR +
				       (size_t)SHMRING_CTL_BLOCK * h->nkernels);
}

/* A name field from shared memory is usable only if it ends within bounds. */
static inline int smr_ctl_name_ok(const char *s)
{
	for (unsigned i = 0; i < SHMRING_CTL_NAME; i++)
		if (s[i] == '\0')
			return i > 0;
	return 0;
}

/*
 * Is this mapping of len bytes a complete control segment of our version?
 * Checks the header only (kernel and ring entries are checked where used).
 * 0, or -EAGAIN (being created: version 0), -EPROTO (other version), -EBADMSG
 * (not a control segment, or sizes inconsistent), with one line in why.
 */
static inline int smr_ctl_check(const struct smr_ctl_header *h, size_t len, char *why, size_t cap)
{
	if (len < SHMRING_CTL_HDR || h->magic != SHMRING_CTL_MAGIC) {
		snprintf(why, cap, "not a shmring control segment (%zu bytes): check the name", len);
		return -EBADMSG;
	}
	/* Acquire: pairs with the supervisor's release of version, last. */
	uint32_t v = atomic_load_explicit(&((struct smr_ctl_header *)h)->version,
					  memory_order_acquire);
	if (v == 0) {
		snprintf(why, cap, "the topology is still being created: try again");
		return -EAGAIN;
	}
	if (v != SHMRING_CTL_VERSION) {
		snprintf(why, cap, "control segment version %u, this program reads version %u: "
			 "use the shmring tools of the same release as the supervisor",
			 v, SHMRING_CTL_VERSION);
		return -EPROTO;
	}
	if (h->size != len || h->nkernels > SHMRING_CTL_MAX_KERNELS ||
	    h->nrings > SHMRING_CTL_MAX_RINGS || smr_ctl_size(h->nkernels, h->nrings) != len ||
	    !smr_ctl_name_ok(h->name)) {
		snprintf(why, cap, "the control segment is corrupt (size %zu, %u kernels, %u rings): "
			 "restart the topology", len, h->nkernels, h->nrings);
		return -EBADMSG;
	}
	return 0;
}

#endif
