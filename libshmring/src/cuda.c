/* SPDX-License-Identifier: MIT */
/*
 * libshmring-cuda: device buffers by IPC handle, and the host side of
 * persistent device kernels (shmring/cuda.h, docs/cuda.md).
 *
 * Linked against the static CUDA runtime, which loads the driver
 * (libcuda.so.1) at run time: a program built with CUDA starts on a machine
 * without a driver and shmring_cuda_available() says "no CUDA device". The
 * one driver function needed (cuMemGetAddressRange, for an allocation's base
 * and size) is looked up the same way, through the runtime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cuda.h> /* types only: CUresult, CUdeviceptr */
#include <cuda_runtime_api.h>

#include "shmring/cuda.h"

static _Thread_local char errbuf[320];

const char *shmring_cuda_errmsg(void)
{
	return errbuf;
}

__attribute__((format(printf, 1, 2))) static void seterr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
}

/* A CUDA error as "what: cudaErrorX (text)"; returns -EIO. */
static int cuda_fail(const char *what, cudaError_t e)
{
	seterr("%s: %s (%s)", what, cudaGetErrorName(e), cudaGetErrorString(e));
	(void)cudaGetLastError(); /* clear a non-sticky error for the next call */
	return -EIO;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int shmring_cuda_available(void)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess) {
		/* Without a driver at all the runtime says "insufficient driver",
		 * which sends people looking for an update: say what is missing. */
		if (access("/proc/driver/nvidia/version", F_OK) != 0)
			seterr("no CUDA device: no NVIDIA driver is loaded (no /proc/driver/nvidia/version; "
			       "cudaGetDeviceCount: %s)", cudaGetErrorName(e));
		else
			seterr("no CUDA device: cudaGetDeviceCount: %s (%s)", cudaGetErrorName(e),
			       cudaGetErrorString(e));
		(void)cudaGetLastError();
		return 0;
	}
	if (n == 0) {
		seterr("no CUDA device: the driver reports none");
		return 0;
	}
	return 1;
}

/* ---- allocation ranges --------------------------------------------------- */

typedef CUresult (*get_range_fn)(CUdeviceptr *base, size_t *size, CUdeviceptr ptr);

/* Base and size of the allocation holding ptr (driver: cuMemGetAddressRange). */
static int alloc_range(const void *ptr, uintptr_t *base, size_t *size)
{
	static get_range_fn fn; /* the runtime returns the same pointer each time */
	if (!fn) {
		void *p = NULL;
		enum cudaDriverEntryPointQueryResult q;
		cudaError_t e = cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &p, 3020,
								 cudaEnableDefault, &q);
		if (e != cudaSuccess || q != cudaDriverEntryPointSuccess || !p) {
			seterr("CUDA driver has no cuMemGetAddressRange (%s): update the NVIDIA driver",
			       cudaGetErrorName(e));
			return -ENOSYS;
		}
		fn = (get_range_fn)p;
	}
	CUdeviceptr b = 0;
	size_t s = 0;
	CUresult r = fn(&b, &s, (CUdeviceptr)(uintptr_t)ptr);
	if (r != CUDA_SUCCESS) {
		seterr("%p is not device memory of this process (cuMemGetAddressRange: %d)", ptr, (int)r);
		return -EINVAL;
	}
	*base = (uintptr_t)b;
	*size = s;
	return 0;
}

/* ---- export -------------------------------------------------------------- */

int shmring_cuda_export(const void *ptr, size_t len, cudaEvent_t ev, struct shmring_cuda_msg *msg)
{
	uintptr_t base;
	size_t size;
	int rc = alloc_range(ptr, &base, &size);
	if (rc < 0)
		return rc;
	uint64_t off = (uint64_t)((uintptr_t)ptr - base);
	if (len == 0 || len > size - off) {
		seterr("export of %zu bytes at offset %llu overruns the %zu-byte allocation", len,
		       (unsigned long long)off, size);
		return -EINVAL;
	}
	memset(msg, 0, sizeof(*msg));
	msg->magic = SHMRING_CUDA_MSG_MAGIC;
	msg->version = SHMRING_CUDA_MSG_VERSION;
	msg->offset = off;
	msg->length = len;
	msg->alloc_size = size;
	cudaError_t e = cudaIpcGetMemHandle(&msg->mem, (void *)base);
	if (e != cudaSuccess)
		return cuda_fail("cudaIpcGetMemHandle (memory from cudaMalloc only; not managed, "
				 "host or async-pool memory)", e);
	if (ev) {
		e = cudaIpcGetEventHandle(&msg->event, ev);
		if (e != cudaSuccess)
			return cuda_fail("cudaIpcGetEventHandle (create the event with "
					 "cudaEventInterprocess | cudaEventDisableTiming)", e);
		msg->flags |= SHMRING_CUDA_MSG_EVENT;
	}
	int dev = 0;
	struct cudaDeviceProp prop;
	if (cudaGetDevice(&dev) == cudaSuccess &&
	    cudaGetDeviceProperties(&prop, dev) == cudaSuccess) {
		msg->device = dev;
		memcpy(msg->uuid, &prop.uuid, sizeof(msg->uuid));
	}
	return 0;
}

/* ---- the pool ------------------------------------------------------------ */

#define POOL_GRAIN (2u << 20) /* allocation size granularity: 2 MiB */
#define SLOT_ALIGN 256u

struct shmring_cuda_pool {
	struct shmring *out;
	uint8_t *base;
	size_t slot, size, alloc;
	unsigned nbufs, next;
	struct shmring_cuda_msg proto; /* handle, uuid: the same in every message */
	cudaEvent_t *ev;
	cudaIpcEventHandle_t *evh;
	uint64_t *lent_until;          /* ring position after the message; 0 = free */
	int *got;                      /* handed out by get, not yet sent */
};

size_t shmring_cuda_pool_size(const struct shmring_cuda_pool *p)
{
	return p->alloc;
}

static void pool_free(struct shmring_cuda_pool *p)
{
	if (p->ev)
		for (unsigned i = 0; i < p->nbufs; i++)
			if (p->ev[i])
				cudaEventDestroy(p->ev[i]);
	if (p->base)
		cudaFree(p->base);
	free(p->ev);
	free(p->evh);
	free(p->lent_until);
	free(p->got);
	free(p);
}

int shmring_cuda_pool_create(struct shmring *out, unsigned nbufs, size_t size,
			     struct shmring_cuda_pool **pool)
{
	*pool = NULL;
	if (nbufs == 0 || size == 0 || size > (1ull << 40) / nbufs) {
		seterr("pool of %u buffers of %zu bytes: need at least one non-empty buffer, "
		       "at most 1 TiB in all", nbufs, size);
		return -EINVAL;
	}
	if (shmring_max_message(out) < sizeof(struct shmring_cuda_msg)) {
		seterr("ring '%s' carries at most %zu-byte messages; a buffer handle is %zu: "
		       "give the ring more capacity", shmring_name(out), shmring_max_message(out),
		       sizeof(struct shmring_cuda_msg));
		return -EMSGSIZE;
	}
	struct shmring_cuda_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->out = out;
	p->nbufs = nbufs;
	p->size = size;
	p->slot = (size + SLOT_ALIGN - 1) & ~(size_t)(SLOT_ALIGN - 1);
	/* A whole multiple of 2 MiB: the consumer that opens the allocation
	 * sees the pool and nothing of ours beside it. */
	p->alloc = ((p->slot * nbufs) + POOL_GRAIN - 1) & ~(size_t)(POOL_GRAIN - 1);
	p->ev = calloc(nbufs, sizeof(*p->ev));
	p->evh = calloc(nbufs, sizeof(*p->evh));
	p->lent_until = calloc(nbufs, sizeof(*p->lent_until));
	p->got = calloc(nbufs, sizeof(*p->got));
	if (!p->ev || !p->evh || !p->lent_until || !p->got) {
		pool_free(p);
		return -ENOMEM;
	}
	cudaError_t e = cudaMalloc((void **)&p->base, p->alloc);
	if (e != cudaSuccess) {
		int rc = cuda_fail("cudaMalloc of the buffer pool", e);
		p->base = NULL;
		pool_free(p);
		return e == cudaErrorMemoryAllocation ? -ENOMEM : rc;
	}
	int rc = shmring_cuda_export(p->base, p->alloc, NULL, &p->proto);
	if (rc < 0) {
		pool_free(p);
		return rc;
	}
	for (unsigned i = 0; i < nbufs; i++) {
		e = cudaEventCreateWithFlags(&p->ev[i], cudaEventInterprocess | cudaEventDisableTiming);
		if (e == cudaSuccess)
			e = cudaIpcGetEventHandle(&p->evh[i], p->ev[i]);
		if (e != cudaSuccess) {
			rc = cuda_fail("interprocess event for the pool", e);
			pool_free(p);
			return rc;
		}
	}
	*pool = p;
	return 0;
}

int shmring_cuda_pool_get(struct shmring_cuda_pool *p, int timeout_ms, void **buf, unsigned *index)
{
	/* Buffers come back in the order they were lent (the ring is FIFO), so
	 * the next one round-robin is the one the consumer had longest. */
	unsigned i = p->next;
	if (p->got[i]) {
		seterr("pool buffer %u was taken and not sent: send it before taking another", i);
		return -EBUSY;
	}
	if (p->lent_until[i]) {
		int rc = shmring_wait_released(p->out, p->lent_until[i], timeout_ms);
		if (rc < 0) {
			if (rc == -EPIPE)
				seterr("the consumer of ring '%s' closed; buffer %u is not coming back",
				       shmring_name(p->out), i);
			else if (rc != -EAGAIN && rc != -ETIMEDOUT)
				seterr("waiting for buffer %u: %s", i, shmring_errmsg());
			return rc;
		}
		p->lent_until[i] = 0;
	}
	p->got[i] = 1;
	p->next = (i + 1) % p->nbufs;
	*buf = p->base + (size_t)i * p->slot;
	*index = i;
	return 0;
}

int shmring_cuda_pool_send(struct shmring_cuda_pool *p, unsigned index, size_t len,
			   cudaStream_t stream, uint64_t user, int timeout_ms)
{
	if (index >= p->nbufs || !p->got[index]) {
		seterr("pool buffer %u was not taken with shmring_cuda_pool_get", index);
		return -EINVAL;
	}
	if (len == 0 || len > p->size) {
		seterr("%zu bytes do not fit a %zu-byte pool buffer", len, p->size);
		return -EINVAL;
	}
	/* The event completes when the work queued on stream so far -- what
	 * fills the buffer -- has; the consumer's stream waits for it. */
	cudaError_t e = cudaEventRecord(p->ev[index], stream);
	if (e != cudaSuccess)
		return cuda_fail("cudaEventRecord on the producer's stream", e);
	struct shmring_cuda_msg *m;
	int rc = shmring_reserve(p->out, sizeof(*m), (void **)&m, timeout_ms);
	if (rc < 0) {
		seterr("sending buffer %u: %s", index, rc == -EPIPE ? "the consumer closed" : shmring_errmsg());
		return rc;
	}
	*m = p->proto;
	m->flags = SHMRING_CUDA_MSG_EVENT;
	m->index = index;
	m->offset = (uint64_t)index * p->slot;
	m->length = len;
	m->user = user;
	m->event = p->evh[index];
	rc = shmring_commit(p->out, sizeof(*m));
	if (rc < 0)
		return rc;
	p->lent_until[index] = shmring_position(p->out);
	p->got[index] = 0;
	return 0;
}

int shmring_cuda_pool_destroy(struct shmring_cuda_pool *p, int timeout_ms)
{
	if (!p)
		return 0;
	int rc = 0;
	int lent = 0;
	for (unsigned i = 0; i < p->nbufs; i++)
		lent |= p->lent_until[i] != 0;
	if (lent) {
		/* The consumer may hold the allocation open; freeing it before the
		 * consumer closes it is undefined. It closes its end after its
		 * imports (shmring_cuda_importer_destroy), or dies. */
		uint64_t deadline = now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
		for (;;) {
			struct shmring_stats st;
			if (shmring_stats(p->out, &st) < 0 || st.consumer_closed || st.consumer_pid == 0)
				break;
			if (timeout_ms >= 0 && now_ns() >= deadline) {
				seterr("the consumer of ring '%s' (pid %d) still has the pool open after "
				       "%d ms; freed anyway", shmring_name(p->out), (int)st.consumer_pid,
				       timeout_ms);
				rc = -ETIMEDOUT;
				break;
			}
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	pool_free(p);
	return rc;
}

/* ---- import -------------------------------------------------------------- */

#define CACHE_SLOTS 64

struct cached_alloc {
	cudaIpcMemHandle_t h;
	uint8_t *ptr;
	size_t size;    /* the allocation's real size, from the driver */
	uint64_t used;  /* import counter value at last use: LRU */
};

struct cached_event {
	cudaIpcEventHandle_t h;
	cudaEvent_t ev;
	uint64_t used;
};

struct shmring_cuda_importer {
	struct cached_alloc a[CACHE_SLOTS];
	struct cached_event e[CACHE_SLOTS];
	unsigned na, ne;
	struct shmring_cuda_import_stats st;
};

int shmring_cuda_importer_create(struct shmring_cuda_importer **imp)
{
	*imp = calloc(1, sizeof(**imp));
	return *imp ? 0 : -ENOMEM;
}

void shmring_cuda_importer_stats(const struct shmring_cuda_importer *imp,
				 struct shmring_cuda_import_stats *st)
{
	*st = imp->st;
}

/* The least recently used slot of n (all full). */
static unsigned lru(const void *base, size_t stride, size_t used_off, unsigned n)
{
	unsigned best = 0;
	uint64_t bu = UINT64_MAX;
	for (unsigned i = 0; i < n; i++) {
		uint64_t u;
		memcpy(&u, (const uint8_t *)base + i * stride + used_off, sizeof(u));
		if (u < bu) {
			bu = u;
			best = i;
		}
	}
	return best;
}

static int open_alloc(struct shmring_cuda_importer *imp, const cudaIpcMemHandle_t *h,
		      struct cached_alloc **out)
{
	for (unsigned i = 0; i < imp->na; i++)
		if (!memcmp(&imp->a[i].h, h, sizeof(*h))) {
			imp->a[i].used = imp->st.imports;
			*out = &imp->a[i];
			return 0;
		}
	unsigned i = imp->na;
	if (i == CACHE_SLOTS) {
		/* Full: close the least recently used. Safe: a consumer holds one
		 * imported message at a time and released the older ones. */
		i = lru(imp->a, sizeof(imp->a[0]), offsetof(struct cached_alloc, used), CACHE_SLOTS);
		cudaIpcCloseMemHandle(imp->a[i].ptr);
		imp->st.evictions++;
	} else {
		imp->na++;
	}
	struct cached_alloc *c = &imp->a[i];
	void *p = NULL;
	cudaError_t e = cudaIpcOpenMemHandle(&p, *h, cudaIpcMemLazyEnablePeerAccess);
	if (e != cudaSuccess) {
		/* Drop the slot: move the last entry into it. */
		imp->a[i] = imp->a[--imp->na];
		return cuda_fail("cudaIpcOpenMemHandle (a handle of this machine's GPUs, from a "
				 "live producer, of memory not yet freed?)", e);
	}
	uintptr_t base;
	size_t size;
	int rc = alloc_range(p, &base, &size);
	if (rc < 0 || base != (uintptr_t)p) {
		cudaIpcCloseMemHandle(p);
		imp->a[i] = imp->a[--imp->na];
		if (rc == 0)
			seterr("opened allocation does not start at its handle's address");
		return rc < 0 ? rc : -EIO;
	}
	c->h = *h;
	c->ptr = p;
	c->size = size;
	c->used = imp->st.imports;
	imp->st.opens++;
	*out = c;
	return 0;
}

static int open_event(struct shmring_cuda_importer *imp, const cudaIpcEventHandle_t *h,
		      cudaEvent_t *ev)
{
	for (unsigned i = 0; i < imp->ne; i++)
		if (!memcmp(&imp->e[i].h, h, sizeof(*h))) {
			imp->e[i].used = imp->st.imports;
			*ev = imp->e[i].ev;
			return 0;
		}
	unsigned i = imp->ne;
	if (i == CACHE_SLOTS) {
		i = lru(imp->e, sizeof(imp->e[0]), offsetof(struct cached_event, used), CACHE_SLOTS);
		cudaEventDestroy(imp->e[i].ev);
	} else {
		imp->ne++;
	}
	cudaError_t e = cudaIpcOpenEventHandle(&imp->e[i].ev, *h);
	if (e != cudaSuccess) {
		imp->e[i] = imp->e[--imp->ne];
		return cuda_fail("cudaIpcOpenEventHandle", e);
	}
	imp->e[i].h = *h;
	imp->e[i].used = imp->st.imports;
	imp->st.events_opened++;
	*ev = imp->e[i].ev;
	return 0;
}

int shmring_cuda_import(struct shmring_cuda_importer *imp, const void *msg, size_t len,
			cudaStream_t stream, void **ptr, size_t *length, uint64_t *user)
{
	/* Copy out of the ring first: the producer's bytes are read once, then
	 * checked, then used (a changing message cannot pass the checks and be
	 * used with other values). */
	struct shmring_cuda_msg m;
	if (len != sizeof(m)) {
		seterr("a %zu-byte message is not a CUDA buffer handle (%zu bytes): is the producer "
		       "sending with shmring_cuda_pool_send?", len, sizeof(m));
		return -EPROTO;
	}
	memcpy(&m, msg, sizeof(m));
	if (m.magic != SHMRING_CUDA_MSG_MAGIC || m.version != SHMRING_CUDA_MSG_VERSION) {
		seterr("not a CUDA buffer handle of version %u (magic 0x%08x, version %u): rebuild "
		       "both kernels against the same libshmring-cuda", SHMRING_CUDA_MSG_VERSION,
		       m.magic, m.version);
		return -EPROTO;
	}
	if (m.flags & ~SHMRING_CUDA_MSG_EVENT || m.length == 0 || m.offset > m.alloc_size ||
	    m.length > m.alloc_size - m.offset) {
		seterr("CUDA buffer handle out of bounds (offset %llu, length %llu, allocation %llu, "
		       "flags 0x%x): the producer is broken", (unsigned long long)m.offset,
		       (unsigned long long)m.length, (unsigned long long)m.alloc_size, m.flags);
		return -EBADMSG;
	}
	imp->st.imports++;
	struct cached_alloc *c;
	int rc = open_alloc(imp, &m.mem, &c);
	if (rc < 0)
		return rc;
	/* The real size, not the producer's word for it. */
	if (m.offset > c->size || m.length > c->size - m.offset) {
		seterr("CUDA buffer handle says offset %llu + %llu bytes; the allocation has %zu",
		       (unsigned long long)m.offset, (unsigned long long)m.length, c->size);
		return -EBADMSG;
	}
	if (m.flags & SHMRING_CUDA_MSG_EVENT) {
		cudaEvent_t ev;
		if ((rc = open_event(imp, &m.event, &ev)) < 0)
			return rc;
		/* Work queued on stream after this runs after the producer's. */
		cudaError_t e = cudaStreamWaitEvent(stream, ev, 0);
		if (e != cudaSuccess)
			return cuda_fail("cudaStreamWaitEvent on the producer's event", e);
	}
	*ptr = c->ptr + m.offset;
	if (length)
		*length = (size_t)m.length;
	if (user)
		*user = m.user;
	return 0;
}

int shmring_cuda_release(struct shmring *in, cudaStream_t stream)
{
	cudaError_t e = cudaStreamSynchronize(stream);
	if (e != cudaSuccess)
		return cuda_fail("cudaStreamSynchronize before giving the buffer back", e);
	return shmring_release(in);
}

void shmring_cuda_importer_destroy(struct shmring_cuda_importer *imp)
{
	if (!imp)
		return;
	for (unsigned i = 0; i < imp->na; i++)
		cudaIpcCloseMemHandle(imp->a[i].ptr);
	for (unsigned i = 0; i < imp->ne; i++)
		cudaEventDestroy(imp->e[i].ev);
	free(imp);
}

/* ---- persistent device kernels --------------------------------------------- */

int shmring_cuda_ctl_create(struct shmring_cuda_ctl **host, struct shmring_cuda_ctl **dev)
{
	void *h = NULL, *d = NULL;
	cudaError_t e = cudaHostAlloc(&h, sizeof(struct shmring_cuda_ctl), cudaHostAllocMapped);
	if (e != cudaSuccess)
		return cuda_fail("cudaHostAlloc of the control block", e);
	memset(h, 0, sizeof(struct shmring_cuda_ctl));
	e = cudaHostGetDevicePointer(&d, h, 0);
	if (e != cudaSuccess) {
		cudaFreeHost(h);
		return cuda_fail("cudaHostGetDevicePointer of the control block", e);
	}
	*host = h;
	*dev = d;
	return 0;
}

void shmring_cuda_ctl_destroy(struct shmring_cuda_ctl *host)
{
	if (host)
		cudaFreeHost(host);
}

int shmring_cuda_agent_begin(struct shmring *r, uint32_t batch, struct shmring_agent_end *end)
{
	struct shmring_mapping m;
	int rc = shmring_mapping(r, &m);
	if (rc < 0) {
		seterr("ring '%s' cannot be handed to the GPU: %s", shmring_name(r),
		       rc == -EBUSY ? "a reservation or peek is open" : "not a producer or consumer end");
		return rc;
	}
	/* Mapped: the device reaches it over the bus; portable: any context.
	 * The pages are the shared segment's, so the peer process (which never
	 * registers) sees every store. */
	cudaError_t e = cudaHostRegister(m.base, m.length, cudaHostRegisterMapped |
					 cudaHostRegisterPortable);
	if (e != cudaSuccess)
		return cuda_fail("cudaHostRegister of the ring segment", e);
	void *dev = NULL;
	e = cudaHostGetDevicePointer(&dev, m.base, 0);
	if (e != cudaSuccess) {
		cudaHostUnregister(m.base);
		return cuda_fail("cudaHostGetDevicePointer of the ring segment", e);
	}
	shmring_agent_init(end, &m, dev, batch);
	return 0;
}

int shmring_cuda_agent_end(struct shmring *r)
{
	struct shmring_mapping m;
	int rc = shmring_resync(r);
	if (rc < 0) {
		seterr("taking ring '%s' back from the GPU: %s", shmring_name(r), shmring_errmsg());
	}
	if (shmring_mapping(r, &m) == 0)
		cudaHostUnregister(m.base);
	return rc;
}

/* How long the host naps when the device made no progress: short enough to
 * keep a sleeping CPU peer's wake-up latency in tens of microseconds, long
 * enough not to take a core from the CPU kernels. */
#define HOST_NAP_NS 20000

int shmring_cuda_host_loop(struct shmring_kernel *k, cudaStream_t stream,
			   struct shmring_cuda_ctl *ctl, struct shmring **r, unsigned n, int grace_ms)
{
	struct shmring_agent_watch *w = calloc(n ? n : 1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct shmring_mapping m;
		if (shmring_mapping(r[i], &m) < 0) {
			free(w);
			seterr("ring '%s' is not a producer or consumer end", shmring_name(r[i]));
			return -EINVAL;
		}
		shmring_agent_watch_init(&w[i], r[i], &m);
	}
	volatile struct shmring_cuda_ctl *c = ctl;
	uint64_t stop_at = 0;
	int rc;
	for (;;) {
		int moved = 0;
		for (unsigned i = 0; i < n; i++)
			moved |= shmring_agent_watch_poll(&w[i]);
		cudaError_t e = cudaStreamQuery(stream);
		if (e == cudaSuccess)
			break;
		if (e != cudaErrorNotReady) {
			free(w);
			return cuda_fail("the device kernel failed", e);
		}
		if (!stop_at && shmring_kernel_should_stop(k)) {
			/* Release: the device reads the flag with a system-scope
			 * load; nothing else is published with it. */
			__atomic_store_n(&ctl->stop, 1u, __ATOMIC_RELEASE);
			stop_at = now_ns();
		}
		if (stop_at && now_ns() - stop_at > (uint64_t)grace_ms * 1000000ull) {
			free(w);
			seterr("the device kernel did not stop within %d ms (state %u, %llu messages "
			       "handled): exiting tears its context down", grace_ms, c->state,
			       (unsigned long long)c->progress);
			return -ETIMEDOUT;
		}
		if (!moved) {
			struct timespec ts = { 0, HOST_NAP_NS };
			nanosleep(&ts, NULL);
		}
	}
	/* The kernel's last publications: wake whoever waits for them. */
	for (unsigned i = 0; i < n; i++)
		shmring_agent_watch_poll(&w[i]);
	free(w);
	/* Acquire: the kernel's final stores happened before it ended, which
	 * cudaStreamQuery reported. */
	uint32_t state = __atomic_load_n(&ctl->state, __ATOMIC_ACQUIRE);
	switch (state) {
	case SHMRING_CUDA_FINISHED:
		rc = 0;
		break;
	case SHMRING_CUDA_STOPPED:
		rc = 1;
		break;
	case SHMRING_CUDA_FAILED:
		seterr("the device kernel failed: %s", c->error == SHMRING_AGENT_CORRUPT
		       ? "a ring broke the protocol (corrupt segment)"
		       : c->error == SHMRING_AGENT_CLOSED ? "its consumer closed"
		       : c->error == SHMRING_AGENT_TOOBIG ? "a message larger than the output ring takes"
		       : "an error of its own");
		rc = -EIO;
		break;
	default:
		seterr("the device kernel ended without saying how (state %u): it must set "
		       "ctl->state before returning", state);
		rc = -EIO;
	}
	return rc;
}
