/* SPDX-License-Identifier: MIT */
/*
 * The kernel side of a topology: map the control segment the supervisor
 * passed down, attach this kernel's ports, meet the ready/activate barrier,
 * watch the stop flag, wait on several inputs at once. See kernel.h and
 * docs/supervisor.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <shmring/bcast.h>

#include "shmring/kernel.h"
#include "control.h"
#include "journal.h"
#include "io_internal.h"
#include "lineage.h"
#include "ring_internal.h"
#include "sys.h"

struct port {
	struct shmring *ring;
	char name[SHMRING_CTL_NAME]; /* a checked copy: the segment can change */
	int fd;                      /* the inherited descriptor it came from */
	/* 16 bits each keep a port at 48 bytes, as before priorities: the
	 * wait's flush walks every port, and a 56-byte port measured slower. */
	int16_t input;
	int16_t priority;            /* an input's SMR_PRIO_*, checked */
};

struct shmring_kernel {
	struct smr_ctl ctl;     /* mapped read-write: we write our own block */
	struct smr_ctl_kernel *me;
	uint32_t index;
	int event_fd;
	struct port *ports;
	unsigned nports, ninputs, noutputs;
	/* The inputs' rings, highest priority first, topology order among
	 * equals: what every scan for ready inputs walks (count_ready). Made
	 * once at attach, so a wait with no priorities does the same work as
	 * one over the ports in topology order. */
	struct shmring **scan;
	struct shmring_io *io; /* io.h, when the kernel does I/O ... */
	const struct smr_io_ops *io_ops; /* ... and how to reach it (io_internal.h) */
	uint64_t slice_ns;      /* longest sleep: SHMRING_PEER_CHECK_MS, as ring waits */
	/* What shmring_kernel_wait sleeps on, made at its first sleep (sleep_set) */
	struct shmring **inputs;
	struct smr_futex_waitv *w;
	/* Every port's ring: the wakes a wait flushes (wait.c, "Shared cores") */
	struct shmring **rings;
	struct smr_lin *lin;    /* checkpoint and lineage (lineage.c), or NULL */
	char name[SHMRING_CTL_NAME];
};

static int parse_fd(const char *s)
{
	if (!s || strncmp(s, "fd:", 3) != 0)
		return -1;
	char *end;
	long v = strtol(s + 3, &end, 10);
	return (s[3] && !*end && v >= 0 && v <= 1 << 20) ? (int)v : -1;
}

/* One read of a plain word of the control segment, which other processes
 * may write at any time: a count or index is read once, checked, and only
 * the checked local copy is used (a second read could see another value). */
static uint32_t read_once32(const void *p)
{
	return *(const volatile uint32_t *)p;
}

/* Map and validate the control segment (control.c): read-write, as this
 * kernel writes its own block. Nothing in it is trusted. */
static int map_control(struct shmring_kernel *k, int fd)
{
	char why[320];
	int rc = smr_ctl_attach(fd, SMR_CTL_WRITE, "the control segment", &k->ctl, why,
				sizeof(why));
	if (rc < 0) {
		smr_seterr("SHMRING_CONTROL=fd:%d: %s", fd, why);
		/* Not a control segment, another version's, or one never
		 * published (the supervisor publishes before it forks): all
		 * -EPROTO to a kernel; fstat and mmap errors stay themselves. */
		return rc == -EBADMSG || rc == -EAGAIN ? -EPROTO : rc;
	}
	return 0;
}

/* cr is this process's private copy of a ring entry (see attach), so what
 * is checked here is what is used. The caller sized k->ports for every port
 * of this kernel and checks nports against it. */
static int add_port(struct shmring_kernel *k, const struct smr_ctl_ring *cr, int input)
{
	const char *name = input ? cr->to_port : cr->from_port;
	if (smr_ctl_ring_problem(&k->ctl, cr)) { /* control.c owns the entry's rules */
		smr_seterr("kernel '%s': a ring entry in the control segment is corrupt: "
			   "restart the topology", k->name);
		return -EPROTO;
	}
	char where[32];
	snprintf(where, sizeof(where), "fd:%d", (int)cr->fd);
	struct port *p = &k->ports[k->nports];
	enum shmring_role role = input ? SHMRING_ROLE_CONSUMER : SHMRING_ROLE_PRODUCER;
	/* A broadcast ring: a consumer attaches as its index, the producer
	 * once (the caller skips its entries past index 0). */
	int rc = cr->bcast_n ? shmring_bcast_attach(where, role, cr->bcast_index, &p->ring)
			     : shmring_attach(where, role, &p->ring);
	if (rc < 0)
		return rc;
	/* attach duplicated the descriptor; the inherited one is closed once
	 * every port is attached (close_inherited): the two ports of a ring
	 * from this kernel to itself come from the same descriptor. */
	shmring_set_wait(p->ring, (enum shmring_wait)cr->wait, 50);
	p->ring->cancel = &k->me->stop; /* blocking ring calls end on a stop */
	/* The supervisor placed this end's kernel on a cpu another kernel
	 * uses (and the topology left the ring's wait to it): wait without
	 * spinning, sleep in batch mode (wait.c, "Shared cores"). */
	p->ring->shared = (cr->shared & (input ? SMR_CTL_SHARED_TO : SMR_CTL_SHARED_FROM)) != 0;
	p->ring->peer_shared = (cr->shared & (input ? SMR_CTL_SHARED_FROM : SMR_CTL_SHARED_TO)) != 0;
	memcpy(p->name, name, SHMRING_CTL_NAME);
	p->fd = cr->fd;
	p->input = input;
	p->priority = input ? cr->to_priority : SMR_PRIO_NORMAL;
	k->nports++;
	return 0;
}

/* k->scan: the inputs stably sorted by priority, one pass per priority
 * (there are three). 0 or -ENOMEM. */
static int make_scan(struct shmring_kernel *k)
{
	if (!(k->scan = malloc((k->ninputs ? k->ninputs : 1) * sizeof(*k->scan))))
		return -ENOMEM;
	unsigned n = 0;
	for (int prio = SMR_PRIO_HIGH; prio >= SMR_PRIO_LOW; prio--)
		for (unsigned i = 0; i < k->ninputs; i++)
			if (k->ports[i].priority == prio)
				k->scan[n++] = k->ports[i].ring;
	return 0;
}

/* Every port's ring, registered with wait.c: any wait of this process
 * pays the wakes its ports deferred before it spins or sleeps. */
static int make_wake_list(struct shmring_kernel *k)
{
	if (!(k->rings = malloc((k->nports ? k->nports : 1) * sizeof(*k->rings))))
		return -ENOMEM;
	for (unsigned i = 0; i < k->nports; i++)
		k->rings[i] = k->ports[i].ring;
	smr_wake_register(k->rings, k->nports);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Close the inherited ring descriptors of the ports attached so far, each
 * number once: only numbers that attach accepted as rings are closed. */
static void close_inherited(struct shmring_kernel *k)
{
	int *fds = malloc((k->nports ? k->nports : 1) * sizeof(*fds));
	if (!fds)
		return; /* leave them open: harmless, they are close-on-exec */
	for (unsigned i = 0; i < k->nports; i++)
		fds[i] = k->ports[i].fd;
	qsort(fds, k->nports, sizeof(*fds), cmp_int);
	for (unsigned i = 0; i < k->nports; i++)
		if (i == 0 || fds[i] != fds[i - 1])
			close(fds[i]);
	free(fds);
}

/* Descriptor numbers come from shared memory: use one only if it really is
 * what the segment says, not whatever else that number is in this process.
 * Its /proc/self/fd link starts with `prefix`. */
static int fd_is(int fd, const char *prefix)
{
	if (fd < 0)
		return 0;
	char path[64], target[128];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return strncmp(target, prefix, strlen(prefix)) == 0;
}

/* The inherited eventfd (used, and later closed). */
static int is_eventfd(int fd)
{
	return fd_is(fd, "anon_inode:[eventfd]");
}

static void free_kernel(struct shmring_kernel *k, int close_ports)
{
	if (k->rings) { /* no wait flushes these any more */
		for (unsigned i = 0; i < k->nports; i++)
			smr_wake_owed(k->rings[i]);
		smr_wake_register(NULL, 0);
	}
	smr_lin_close(k->lin); /* unhooks the ports first */
	/* Outputs (the last ports) first: what the kernel sent is published
	 * before the release of the input it came from, should we die here. */
	for (unsigned i = k->nports; i-- > 0;) {
		if (close_ports)
			shmring_close(k->ports[i].ring);
		shmring_detach(k->ports[i].ring);
	}
	free(k->ports);
	free(k->scan);
	free(k->rings);
	free(k->inputs);
	free(k->w);
	if (k->io)
		k->io_ops->destroy(k->io);
	smr_ctl_detach(&k->ctl);
	if (k->event_fd >= 0)
		close(k->event_fd);
	free(k);
}

/* Our journal: a memfd named by journal.h. */
static int is_journal(int fd)
{
	return fd_is(fd, "/memfd:" SHMRING_JNL_MEMFD_PREFIX);
}

/*
 * Open the journal the supervisor gave us, if any: restores the checkpoint
 * (skipping the input messages it covers) and hooks the ports (lineage.c),
 * then says so in our block. Ports: inputs first, then outputs.
 */
static int open_journal(struct shmring_kernel *k)
{
	int fd = (int32_t)read_once32(&k->me->journal_fd);
	if (fd == -1)
		return 0; /* none: at-least-once */
	if (!is_journal(fd)) {
		smr_seterr("kernel '%s': the control segment names descriptor %d as its journal, "
			   "which is none: restart the topology", k->name, fd);
		return -EPROTO;
	}
	struct shmring **rings = malloc((k->nports ? k->nports : 1) * sizeof(*rings));
	if (!rings) {
		close(fd);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < k->nports; i++)
		rings[i] = k->ports[i].ring;
	int rc = smr_lin_open(fd, k->name, rings, k->ninputs, rings + k->ninputs, k->noutputs,
			      &k->lin);
	free(rings);
	close(fd);
	if (rc < 0)
		return rc;
	uint32_t resumes;
	uint64_t gen, skipped;
	smr_lin_counts(k->lin, &resumes, &gen, &skipped);
	if (resumes) {
		/* Relaxed: counters for shmring-stat and the summary. */
		smr_counter_add(&k->me->skipped, skipped);
		smr_store_relaxed(&k->me->resumed_gen, gen);
		atomic_fetch_add_explicit(&k->me->resumes, 1u, memory_order_relaxed);
	}
	return 0;
}

static void poke_supervisor(struct shmring_kernel *k)
{
	uint64_t one = 1;
	if (k->event_fd >= 0 && write(k->event_fd, &one, sizeof(one)) < 0) {
		/* the supervisor is gone: PDEATHSIG is on its way */
	}
}

/* Ready, then wait until the topology is no longer starting (active, or
 * stopped before it started) or we are told to stop. The caller decides. */
static void barrier(struct shmring_kernel *k)
{
	/* Release: the ports attached above are visible to the supervisor (and
	 * to shmring-stat) before it sees READY. */
	smr_store_release(&k->me->state, (uint32_t)SMR_K_READY);
	poke_supervisor(k);
	for (;;) {
		/* Acquire pairs with the supervisor's release of state (after
		 * every kernel was READY) and of our stop flag. */
		uint32_t seq = smr_load_acquire(&k->ctl.h->active_seq);
		if (smr_load_acquire(&k->ctl.h->state) != SMR_TOPO_STARTING ||
		    smr_load_acquire(&k->me->stop))
			break;
		/* The supervisor stores state, then bumps active_seq, then wakes:
		 * if it bumped after our load, the wait returns at once. */
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000L };
		smr_futex_wait(&k->ctl.h->active_seq, seq, &ts);
	}
}

int shmring_kernel_attach(struct shmring_kernel **out)
{
	*out = NULL;
	const char *prog = program_invocation_short_name;
	const char *ctl = getenv("SHMRING_CONTROL"), *idx = getenv("SHMRING_KERNEL");
	if (!ctl || !idx) {
		smr_seterr("%s: not started by shmring-supervisor (SHMRING_CONTROL is unset): "
			   "run it in a topology, e.g. shmring-supervisor run -e '... ! %s ! ...'",
			   prog, prog);
		return -ENOENT;
	}
	int fd = parse_fd(ctl);
	char *end;
	unsigned long index = strtoul(idx, &end, 10);
	if (fd < 0 || !*idx || *end) {
		smr_seterr("%s: SHMRING_CONTROL='%s' / SHMRING_KERNEL='%s' are malformed: "
			   "let shmring-supervisor set them", prog, ctl, idx);
		return -EINVAL;
	}
	struct smr_ctl_ring *rings = NULL; /* private copy of the ring table */
	struct shmring_kernel *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->event_fd = -1;
	/* Sliced like ring waits (wait.c), so the futex tests' 60 s slices make
	 * a lost wake-up hang here too instead of hiding as latency. */
	k->slice_ns = smr_peer_check_ms() * 1000000ull;
	int rc = map_control(k, fd);
	close(fd);
	if (rc < 0)
		goto fail;
	struct smr_ctl_header *h = k->ctl.h;
	/* The counts attach took once and checked against the mapping: the
	 * segment is shared and writable, so only these copies bound anything. */
	uint32_t nrings = k->ctl.nrings;
	/* A checked copy of our name: no such kernel, or a corrupt name, is
	 * the same mistake in SHMRING_KERNEL. */
	if (index >= k->ctl.nkernels ||
	    smr_ctl_kernel_name(&k->ctl, (uint32_t)index, k->name, NULL, 0) < 0) {
		smr_seterr("%s: SHMRING_KERNEL=%lu is not a kernel of this topology: "
			   "let shmring-supervisor set it", prog, index);
		rc = -EPROTO;
		goto fail;
	}
	k->index = (uint32_t)index;
	k->me = smr_ctl_kernel(&k->ctl, k->index);
	int32_t efd = (int32_t)read_once32(&h->event_fd);
	k->event_fd = is_eventfd(efd) ? efd : -1;
	/* A private copy of the ring table: counting this kernel's ports and
	 * attaching them must see the same entries, or the count is no bound. */
	rings = malloc((nrings ? nrings : 1) * sizeof(*rings));
	if (!rings) {
		rc = -ENOMEM;
		goto fail;
	}
	/* Entries of other kernels may be corrupt without harm to this one:
	 * the copy is kept either way, and this kernel's own entries are
	 * checked in add_port, where the error names the kernel. */
	for (uint32_t i = 0; i < nrings; i++)
		(void)smr_ctl_ring_get(&k->ctl, i, &rings[i], NULL, 0);
	/* One port per ring end of this kernel: a ring from this kernel to
	 * itself gives it two (the parser refuses those; this must not trust it). */
	size_t nports = 0;
	for (uint32_t i = 0; i < nrings; i++)
		nports += (rings[i].to_kernel == k->index) + (rings[i].from_kernel == k->index);
	/* (A broadcast ring's producer has one port for its n entries: the
	 * count above is a bound, the loop below skips entries past index 0.) */
	k->ports = calloc(nports ? nports : 1, sizeof(*k->ports));
	if (!k->ports) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t pass = 0; pass < 2; pass++) { /* inputs first, then outputs */
		for (uint32_t i = 0; i < nrings; i++) {
			const struct smr_ctl_ring *cr = &rings[i];
			int mine = pass == 0 ? cr->to_kernel == k->index
					     : cr->from_kernel == k->index && cr->bcast_index == 0;
			if (!mine)
				continue;
			if (k->nports >= nports) { /* cannot happen: counted above */
				smr_seterr("kernel '%s': more ports than counted", k->name);
				rc = -EPROTO;
				goto fail;
			}
			if ((rc = add_port(k, cr, pass == 0)) < 0)
				goto fail;
			if (pass == 0)
				k->ninputs++;
			else
				k->noutputs++;
		}
	}
	free(rings);
	rings = NULL;
	if ((rc = make_scan(k)) < 0)
		goto fail;
	if ((rc = make_wake_list(k)) < 0)
		goto fail;
	close_inherited(k);
	if ((rc = open_journal(k)) < 0)
		goto fail_closed;
	/* stdout is a pipe to the supervisor, which prefixes whole lines */
	setvbuf(stdout, NULL, _IOLBF, 0);
	barrier(k);
	/* Only an ACTIVE topology and no stop request let us run. A failed
	 * launch or a stop during the start leaves nothing to do, and a source
	 * that went on would send into a topology being torn down. Acquire,
	 * both; the flag first: the supervisor stores STOPPING before it sets
	 * the flags, so a set flag seen here comes with its STOPPING. */
	int stop = smr_load_acquire(&k->me->stop) != 0;
	uint32_t state = smr_load_acquire(&h->state);
	if (state != SMR_TOPO_ACTIVE || stop) {
		rc = -ECANCELED;
		if (state == SMR_TOPO_STOPPING || state == SMR_TOPO_STARTING) {
			smr_seterr("the topology was stopped before it started: nothing to do");
		} else if (state == SMR_TOPO_ACTIVE) { /* restarted, and stopped at once */
			smr_seterr("kernel '%s' was asked to stop before it started: nothing to do",
				   k->name);
		} else {
			smr_seterr("%s: the control segment is corrupt (topology state %u): "
				   "restart the topology", prog, state);
			rc = -EPROTO;
		}
		/* free_kernel detaches the ports without closing them (a stop,
		 * not the end of the stream) and `finished` stays 0. */
		free_kernel(k, 0);
		return rc;
	}
	/* Relaxed: informational (stat); the supervisor only ever moves a
	 * kernel out of ACTIVE, never waits for it. */
	smr_store_relaxed(&k->me->state, (uint32_t)SMR_K_ACTIVE);
	*out = k;
	return 0;
fail:
	free(rings);
	close_inherited(k);
fail_closed:
	free_kernel(k, 0);
	return rc;
}

int shmring_kernel_checkpoint(struct shmring_kernel *k, const void *state, size_t len)
{
	if (!k->lin)
		return -ENOTSUP;
	return smr_lin_checkpoint(k->lin, state, len);
}

ssize_t shmring_kernel_restore(struct shmring_kernel *k, void *state, size_t cap)
{
	return k->lin ? smr_lin_restore(k->lin, state, cap) : 0;
}

/* ---- metrics: in the journal (journal.c owns the format) ---- */

static_assert(SHMRING_KERNEL_METRICS == SHMRING_JNL_METRICS, "kernel.h and journal.h agree");

int shmring_kernel_metric(struct shmring_kernel *k, const char *name)
{
	if (!k->lin)
		return -ENOTSUP;
	return smr_jnl_metric(smr_lin_journal(k->lin), name);
}

static _Atomic uint64_t *metric(struct shmring_kernel *k, int i)
{
	if (!k->lin || i < 0 || i >= (int)SHMRING_JNL_METRICS)
		return NULL;
	return &smr_lin_journal(k->lin)->metrics->m[i].value;
}

void shmring_kernel_metric_set(struct shmring_kernel *k, int index, uint64_t value)
{
	_Atomic uint64_t *v = metric(k, index);
	if (v) /* Relaxed: a counter this kernel alone writes; readers want a recent value */
		smr_store_relaxed(v, value);
}

void shmring_kernel_metric_add(struct shmring_kernel *k, int index, uint64_t delta)
{
	_Atomic uint64_t *v = metric(k, index);
	if (v)
		smr_counter_add(v, delta);
}

int shmring_kernel_set_note(struct shmring_kernel *k, const char *note)
{
	if (!k->lin)
		return -ENOTSUP;
	smr_jnl_note_set(smr_lin_journal(k->lin), note);
	return 0;
}

struct shmring *shmring_kernel_port(struct shmring_kernel *k, const char *name)
{
	char list[256];
	size_t n = 0;
	list[0] = '\0';
	for (unsigned i = 0; i < k->nports; i++) {
		if (!strcmp(k->ports[i].name, name))
			return k->ports[i].ring;
		int w = snprintf(list + n, sizeof(list) - n, "%s%s %s", i ? ", " : "",
				 k->ports[i].input ? "input" : "output", k->ports[i].name);
		if (w > 0 && (size_t)w < sizeof(list) - n)
			n += (size_t)w;
	}
	smr_seterr("kernel '%s' has no port '%s' (it has: %s): fix the name in the kernel "
		   "or in the topology's rings", k->name, name, n ? list : "no ports");
	return NULL;
}

struct shmring *shmring_kernel_input(struct shmring_kernel *k, unsigned i)
{
	return i < k->ninputs ? k->ports[i].ring : NULL;
}

struct shmring *shmring_kernel_output(struct shmring_kernel *k, unsigned i)
{
	return i < k->noutputs ? k->ports[k->ninputs + i].ring : NULL;
}

unsigned shmring_kernel_ninputs(const struct shmring_kernel *k)
{
	return k->ninputs;
}

unsigned shmring_kernel_noutputs(const struct shmring_kernel *k)
{
	return k->noutputs;
}

int shmring_kernel_input_priority(const struct shmring_kernel *k, unsigned i)
{
	return i < k->ninputs ? k->ports[i].priority : -ERANGE;
}

const char *shmring_kernel_name(const struct shmring_kernel *k)
{
	return k->name;
}

int shmring_kernel_should_stop(const struct shmring_kernel *k)
{
	/* Acquire: pairs with the supervisor's release of the flag. */
	return smr_load_acquire(&k->me->stop) != 0;
}

int smr_kernel_io_init(struct shmring_kernel *k, unsigned entries, const struct smr_io_ops *ops,
		       struct shmring_io **io)
{
	if (ops->version != SMR_IO_OPS_VERSION || ops->size != sizeof(*ops)) {
		smr_seterr("libshmring-io and libshmring come from different builds (I/O table "
			   "version %u, %u bytes; this libshmring wants %u, %zu): install them "
			   "together", ops->version, ops->size, SMR_IO_OPS_VERSION, sizeof(*ops));
		return -EPROTO;
	}
	if (k->io) {
		smr_seterr("kernel '%s' already has an io_uring: use the one from the first "
			   "shmring_io_init", k->name);
		return -EEXIST;
	}
	int rc = ops->create(entries, &k->me->stop, &k->io);
	if (rc < 0)
		return rc;
	/* From now on the wait sleeps in this one (sleep_set). */
	k->io_ops = ops;
	*io = k->io;
	return 0;
}

/* Inputs with something to read, plus finished I/O not yet taken. Kept
 * branch-free and apart from fill_ready: it is shmring_kernel_wait's whole
 * cost when an input is ready. */
static int count_ready(struct shmring_kernel *k)
{
	int n = k->io ? (int)k->io_ops->ready(k->io) : 0;
	for (unsigned j = 0; j < k->ninputs; j++)
		n += smr_consumer_ready(k->scan[j]) > 0;
	return n;
}

/* count_ready, and the first cap ready inputs into ready[] in k->scan's
 * order (highest priority first); the slots the I/O count adds, up to cap,
 * are NULL, and slots past the count may be overwritten. cap 0:
 * count_ready alone. */
static int fill_ready(struct shmring_kernel *k, struct shmring **ready, unsigned cap)
{
	if (!cap)
		return count_ready(k);
	unsigned m = 0;
	for (unsigned j = 0; j < k->ninputs; j++) {
		/* Branch-free: every input is written to slot m, which only a
		 * ready one keeps (m moves past it). */
		struct shmring *r = k->scan[j];
		if (m < cap)
			ready[m] = r;
		m += smr_consumer_ready(r) > 0;
	}
	int n = (int)m;
	if (k->io) {
		n += (int)k->io_ops->ready(k->io);
		for (unsigned j = m; j < cap && j < (unsigned)n; j++)
			ready[j] = NULL;
	}
	return n;
}

static int recheck(void *k)
{
	return count_ready(k);
}

/* What the wait sleeps on: every input and the stop flag, in the kernel's
 * io_uring when it has one (its completions end the sleep too). Without
 * one, a kernel with more inputs than one futex_waitv takes sleeps on the
 * first 127 and the stop flag and looks at the rest every millisecond
 * (smr_futex_sleep): libshmring makes no io_uring of its own, as it links
 * no liburing; a kernel that must wake at once on each of more inputs
 * calls shmring_io_init. */
static int sleep_set(struct shmring_kernel *k, struct smr_sleep_set *s)
{
	if (!k->inputs) {
		k->inputs = malloc((k->ninputs ? k->ninputs : 1) * sizeof(*k->inputs));
		k->w = malloc((k->ninputs + 1) * sizeof(*k->w));
		if (!k->inputs || !k->w) {
			free(k->inputs);
			free(k->w);
			k->inputs = NULL;
			k->w = NULL;
			return -ENOMEM;
		}
		for (unsigned i = 0; i < k->ninputs; i++)
			k->inputs[i] = k->ports[i].ring;
	}
	*s = (struct smr_sleep_set){ .ends = k->inputs, .n = k->ninputs, .stop = &k->me->stop,
				     .recheck = recheck, .arg = k, .w = k->w,
				     .io = k->io, .io_ops = k->io_ops };
	return 0;
}

/* Spin first, as the adaptive strategy does: a message due within spin_us
 * is taken without two system calls (sleep here, wake there). The longest
 * spin of the inputs' strategies; none for futex inputs. Returns the ready
 * count, 0 for a stop, or -EAGAIN when the spin ended with nothing. */
/* Inputs whose producer holds a run (a plain producer outside the
 * supervisor: kernels' outputs never hold) for SMR_TAKE_NS: take them, as a
 * ring's own wait does (ring_io.c, "Adaptive publication"). Non-zero when
 * one was taken. */
static int take_due(struct shmring_kernel *k, uint64_t now, uint64_t since)
{
	int n = 0;
	for (unsigned j = 0; j < k->ninputs; j++) {
		if (!smr_consumer_offered(k->scan[j]))
			continue;
		if (!now)
			now = smr_now_ns(); /* once a call, and only for an offer */
		n |= smr_consumer_take_due(k->scan[j], now, since);
	}
	return n;
}

static int spin(struct shmring_kernel *k, uint64_t deadline, struct shmring **ready,
		unsigned cap)
{
	uint64_t spin_ns = 0, now = smr_now_ns(), start = now;
	for (unsigned i = 0; i < k->ninputs; i++) {
		const struct shmring *r = k->ports[i].ring;
		uint64_t ns = r->wait == SHMRING_WAIT_FUTEX || r->shared ? 0
			: r->wait == SHMRING_WAIT_ADAPTIVE ? (uint64_t)r->spin_us * 1000ull : UINT64_MAX;
		if (ns > spin_ns)
			spin_ns = ns;
	}
	uint64_t spin_end = spin_ns == UINT64_MAX ? deadline : now + spin_ns;
	if (spin_end > deadline)
		spin_end = deadline;
	while (now < spin_end) {
		int n;
		for (int j = 0; j < 64; j++) {
			smr_cpu_relax();
			if ((n = fill_ready(k, ready, cap)) > 0)
				return n;
		}
		/* Acquire: pairs with the supervisor's release of the flag. */
		if (smr_load_acquire(&k->me->stop))
			return 0;
		now = smr_now_ns();
		if (take_due(k, now, start))
			return fill_ready(k, ready, cap);
	}
	return -EAGAIN;
}

/* shmring_kernel_wait and _wait_ready: the ready count from the scan that
 * filled ready[] (cap 0: nothing to fill). Inlined into both, so that
 * shmring_kernel_wait's copy (cap 0) carries nothing of the filling: as one
 * shared function it measured 3-5 ns a call slower than before priorities
 * (kernel-wait-bench, 4 ready inputs: about 15 %). */
static inline __attribute__((always_inline)) int
wait_inputs(struct shmring_kernel *k, int timeout_ms, struct shmring **ready, unsigned cap)
{
	for (unsigned i = 0; i < k->nports; i++)
		shmring_flush(k->ports[i].ring);
	if (k->io)
		k->io_ops->submit(k->io);
	/* Acquire: pairs with the supervisor's release of the flag. */
	if (smr_load_acquire(&k->me->stop))
		return 0;
	for (unsigned j = 0; j < k->ninputs; j++)
		k->scan[j]->take = 0; /* S4 of a sleep sets it again */
	/* Held runs first, even while other inputs are ready: one load of
	 * each input's offer word (the clock only where there is one). */
	take_due(k, 0, 0); /* a taken input is ready to the scan below */
	int n = fill_ready(k, ready, cap);
	if (n)
		return n;
	smr_note_wait(); /* this thread's outputs are not streaming (ring_io.c) */
	/* Shared cores: pay the wakes we deferred before we spin or sleep
	 * (the sleep flushes again, cheaply: nothing is owed by then). */
	smr_wake_flush_all();
	if (timeout_ms == 0)
		return -EAGAIN;
	uint64_t now = smr_now_ns(), start = now;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * 1000000ull;
	if ((n = spin(k, deadline, ready, cap)) != -EAGAIN)
		return n;
	struct smr_sleep_set s;
	if ((n = sleep_set(k, &s)) < 0)
		return n;
	const uint64_t idle = smr_shared_idle_ns();
	for (;;) {
		/* The ring protocol's S1-S6 over every input and the stop flag
		 * (wait.c), in slices of SHMRING_PEER_CHECK_MS (100 ms) so the
		 * caller sees dead producers through peek. */
		now = smr_now_ns();
		uint64_t slice = deadline <= now ? 0
			: deadline - now < k->slice_ns ? deadline - now : k->slice_ns;
		/* Shared inputs sleep in batch mode for a while, then ask to
		 * be woken at once: an idle kernel costs no periodic wake-ups. */
		s.batch = now - start < idle;
		smr_sleep(&s, slice);
		/* Acquire: pairs with the supervisor's release of the flag. */
		if (smr_load_acquire(&k->me->stop))
			return 0;
		/* Scanned again even when the sleep's re-check saw inputs ready,
		 * to fill ready[]: an input stays ready until this kernel reads
		 * it, so the count cannot drop to 0 in between. */
		if ((n = fill_ready(k, ready, cap)) > 0)
			return n;
		if (smr_now_ns() >= deadline)
			return -ETIMEDOUT;
	}
}

int shmring_kernel_wait(struct shmring_kernel *k, int timeout_ms)
{
	return wait_inputs(k, timeout_ms, NULL, 0);
}

int shmring_kernel_wait_ready(struct shmring_kernel *k, int timeout_ms, struct shmring **ready,
			      unsigned cap)
{
	return wait_inputs(k, timeout_ms, ready, cap);
}

int shmring_kernel_detach(struct shmring_kernel *k)
{
	if (!k)
		return 0;
	int finished = !smr_load_acquire(&k->me->stop);
	if (finished) {
		/* Release: every close above (end of stream on each output) is
		 * published before the supervisor reads finished. */
		for (unsigned i = k->nports; i-- > 0;) /* outputs first, as free_kernel */
			shmring_close(k->ports[i].ring);
		smr_store_release(&k->me->finished, 1u);
		poke_supervisor(k);
	}
	free_kernel(k, 0);
	return 0;
}
