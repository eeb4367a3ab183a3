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
 *
 * This module (control.c) is the one place that creates, maps and validates
 * the segment; the supervisor, the kernel side and shmring-stat all go
 * through it. A private header: never installed, reached only through the
 * shmring_control target (or libshmring's own sources).
 */
#ifndef SHMRING_SRC_CONTROL_H
#define SHMRING_SRC_CONTROL_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHMRING_CTL_MAGIC    0x314c54434d524d53ull /* "SMRMCTL1" little-endian */
#define SHMRING_CTL_VERSION  2u /* 2: kernel journals (journal.h) */
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
	/* The kernel's journal (journal.h: checkpoint and lineage), a memfd
	 * the supervisor holds for the whole run and the kernel inherits under
	 * this number; -1: none (at-least-once). */
	int32_t  journal_fd;
	/* Written by the kernel at attach: starts that restored a checkpoint,
	 * the generation the last one restored, and input messages it skipped
	 * because that checkpoint already covered them. */
	_Atomic uint32_t resumes;
	_Atomic uint64_t resumed_gen;
	_Atomic uint64_t skipped;
	uint8_t  pad_[SHMRING_CTL_BLOCK - 96];
};

struct smr_ctl_ring {
	uint32_t from_kernel, to_kernel;
	char     from_port[SHMRING_CTL_NAME], to_port[SHMRING_CTL_NAME];
	int32_t  fd;            /* the ring's memfd in the supervisor; the two
				   kernels inherit it under the same number */
	uint32_t wait;          /* enum shmring_wait both ends use */
	uint64_t capacity;
	/* The consumer port's priority (SMR_PRIO_*): the order in which
	 * shmring_kernel_wait_ready reports ready inputs. Carved from the
	 * padding, which segments made before it hold as 0: 0 means normal, so
	 * an older segment reads right and the version stays 1. */
	int32_t  to_priority;
	/* SMR_CTL_SHARED_*: which ends' kernels the supervisor placed on a
	 * cpu another kernel uses, when the topology left this ring's wait to
	 * it. Such an end waits without spinning and sleeps in batch mode
	 * (wait.c, "Shared cores"). Carved from the padding like to_priority:
	 * 0 is today's behaviour, so segments either side of it read right
	 * and the version stays. */
	uint32_t shared;
	/* A broadcast ring (bcast.h) has one entry per consumer, all with the
	 * same fd, capacity, wait and producer end: bcast_n its consumers
	 * (1..SMR_CTL_BCAST_MAX), bcast_index this entry's consumer index
	 * (below bcast_n). bcast_n 0: a single-consumer ring. The producer's
	 * kernel attaches once, through the entry of index 0. Carved from the
	 * padding like shared: 0 is a single-consumer ring, as before. */
	uint16_t bcast_n, bcast_index;
	uint8_t  pad_[SHMRING_CTL_BLOCK - 100];
};

/* Most consumers of a broadcast ring entry (bcast.h, SHMRING_BCAST_MAX;
 * control.c proves they agree). */
#define SMR_CTL_BCAST_MAX 16u

/* Bits of smr_ctl_ring.shared. */
#define SMR_CTL_SHARED_FROM 1u /* the producer's kernel shares its cpu */
#define SMR_CTL_SHARED_TO   2u /* the consumer's kernel shares its cpu */
#define SMR_CTL_SHARED_ALL  (SMR_CTL_SHARED_FROM | SMR_CTL_SHARED_TO)

/* Values of smr_ctl_ring.to_priority (a topology's priority: high|normal|low). */
enum smr_priority { SMR_PRIO_LOW = -1, SMR_PRIO_NORMAL = 0, SMR_PRIO_HIGH = 1 };

static_assert(sizeof(struct smr_ctl_header) == SHMRING_CTL_HDR, "control header");
static_assert(offsetof(struct smr_ctl_header, name) == 56, "control header name");
static_assert(sizeof(struct smr_ctl_kernel) == SHMRING_CTL_BLOCK, "kernel block");
static_assert(offsetof(struct smr_ctl_kernel, journal_fd) == 72, "kernel block journal");
static_assert(sizeof(struct smr_ctl_ring) == SHMRING_CTL_BLOCK, "ring block");
static_assert(offsetof(struct smr_ctl_ring, to_priority) == 88, "ring block priority");
static_assert(offsetof(struct smr_ctl_ring, shared) == 92, "ring block shared");
static_assert(offsetof(struct smr_ctl_ring, bcast_n) == 96, "ring block broadcast");

/* Bytes of a segment of nkernels kernels and nrings rings. */
static inline size_t smr_ctl_size(uint32_t nkernels, uint32_t nrings)
{
	return SHMRING_CTL_HDR + (size_t)SHMRING_CTL_BLOCK * ((size_t)nkernels + nrings);
}

/* The writer's view (the supervisor filling a segment it created, tests
 * building one): blocks located from the header's own counts, unchecked.
 * Readers use the checked accessors below. */
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
 * A mapped control segment. The counts, the topology's name and the
 * supervisor's owner word are copies taken once and checked at attach: the
 * segment is shared (and writable by kernels), so only these copies bound
 * anything. Every kernel index below nkernels and ring index below nrings
 * lies inside the mapping.
 */
struct smr_ctl {
	struct smr_ctl_header *h; /* NULL when nothing is mapped */
	size_t len;
	uint32_t nkernels, nrings;
	uint64_t supervisor;      /* owner word: pid << 32 | start ticks */
	char name[SHMRING_CTL_NAME];
};

enum smr_ctl_access {
	SMR_CTL_READ,  /* shmring-stat, discovery: nothing is written */
	SMR_CTL_WRITE, /* a kernel: writes its own block's state and finished */
};

/*
 * Create the segment of topology name: a sealed memfd "shmring-ctl.NAME",
 * mode 0600, sized for nkernels and nrings, mapped read-write into *c. The
 * header is filled (magic, size, counts, name, CLOCK_REALTIME start, this
 * process's owner word as supervisor, state STARTING) and every kernel block
 * has cpu and last_status -1; version stays 0 until smr_ctl_publish. The
 * memfd (close-on-exec), or -errno: -EINVAL for a name that is empty, too
 * long or counts past the limits; -EFBIG when `ulimit -f` is below the size.
 */
int smr_ctl_create(const char *name, uint32_t nkernels, uint32_t nrings, struct smr_ctl *c);

/* Release: everything written into the segment so far becomes visible to
 * whoever reads version with acquire (attach does), then version says ready. */
void smr_ctl_publish(struct smr_ctl_header *h);

/*
 * Map the control segment behind fd (not closed; the mapping outlives it)
 * and validate it: its size (fstat), magic, version, counts against the
 * size, the topology name's termination. what names the segment in the
 * messages ("the control segment", "its control segment"). 0 with *c
 * filled, or -errno with one line in why (problem and fix):
 *   -EAGAIN   still being created (sized 0, or version 0): try again
 *   -EBADMSG  not a control segment, or corrupt
 *   -EPROTO   a control segment of another version
 *   other     fstat or mmap failed (-EBADF, -EACCES, -ENOMEM, ...)
 * Kernel and ring entries are checked by the accessors below, one by one,
 * so a reader can still show the rest of a segment with one bad entry.
 */
int smr_ctl_attach(int fd, enum smr_ctl_access access, const char *what, struct smr_ctl *c,
		   char *why, size_t cap);

/* Unmap; c is then empty (h NULL). Harmless on an empty c. */
void smr_ctl_detach(struct smr_ctl *c);

/*
 * The header alone: is this mapping of len bytes a complete control segment
 * of our version? 0, or -EAGAIN / -EPROTO / -EBADMSG as smr_ctl_attach, with
 * one line in why. Reads version with acquire (pairs with smr_ctl_publish).
 */
int smr_ctl_check(const struct smr_ctl_header *h, size_t len, char *why, size_t cap);

/* Kernel block i (live shared memory: its atomics are read and written in
 * place), or NULL when i is not below the checked count. */
struct smr_ctl_kernel *smr_ctl_kernel(const struct smr_ctl *c, uint32_t i);

/* A copy of kernel i's name into name (SHMRING_CTL_NAME bytes), checked:
 * 0, -ERANGE (no kernel i) or -EBADMSG (empty or not terminated), with one
 * line in why. name is "" on failure. */
int smr_ctl_kernel_name(const struct smr_ctl *c, uint32_t i, char *name, char *why, size_t cap);

/*
 * A private copy of ring entry i into *out, then checked: both kernel
 * indices below nkernels, both port names terminated and not empty, fd not
 * negative, wait a known strategy, to_priority -1, 0 or 1, shared no bits
 * but SMR_CTL_SHARED_ALL, bcast_n at most SMR_CTL_BCAST_MAX and bcast_index
 * below it (both 0 for a single-consumer ring). 0; -ERANGE (no ring i; *out zeroed); or
 * -EBADMSG (corrupt; *out still holds the copy, so a kernel can tell whether
 * the bad entry was one of its own), with one line in why.
 */
int smr_ctl_ring_get(const struct smr_ctl *c, uint32_t i, struct smr_ctl_ring *out, char *why,
		     size_t cap);

/* The check smr_ctl_ring_get makes, on a copy the caller holds: NULL when
 * the entry is sound, else what is wrong with it ("a negative descriptor").
 * A kernel checks its own entries with it (kernel.c). */
const char *smr_ctl_ring_problem(const struct smr_ctl *c, const struct smr_ctl_ring *r);

#endif
