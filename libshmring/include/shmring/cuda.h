/* SPDX-License-Identifier: MIT */
/*
 * shmring/cuda.h - GPU kernels: device buffers passed between processes by
 * CUDA IPC handle, and persistent device kernels that run ring ends
 * themselves. Library: libshmring-cuda (built when CMake finds the CUDA
 * toolkit; link shmring::shmring_cuda). See docs/cuda.md.
 *
 * Process rules, kept by the library and by shmring-supervisor: no CUDA call
 * is made in a process before it forks a child that uses CUDA (the
 * supervisor never calls CUDA; kernels are exec'd). All functions here
 * return 0 or a negative errno and leave a one-line reason in
 * shmring_cuda_errmsg().
 *
 * 1. Device buffers by handle.
 *
 * A producer owns a pool of device buffers carved out of one allocation
 * (sized to a multiple of 2 MiB, so a consumer that opens it sees only the
 * pool). It takes a free buffer, fills it on a stream, and sends it: the
 * library records an interprocess event after the work on that stream and
 * sends a 192-byte message {IPC memory handle of the allocation, offset,
 * length, IPC event handle} on the ring. The consumer imports the message:
 * the allocation is opened once per process and cached (a buffer sent again
 * costs no open), every field is checked against the real allocation, and
 * its stream waits for the producer's event, so nothing it queues reads
 * before the producer's work finished. When done, shmring_cuda_release()
 * waits for the consumer's stream and releases the ring message -- which is
 * what gives the buffer back: a buffer is free again once the consumer's
 * ring tail has passed the message that lent it, so the pool needs no
 * return channel, and a full pool is back-pressure like a full ring.
 *
 * 2. Persistent device kernels (shmring/agent.h).
 *
 * shmring_cuda_agent_begin registers a port's ring segment with CUDA as
 * mapped host memory and fills a struct shmring_agent_end for a device
 * kernel, which then runs the ring protocol with system-scope atomics: no
 * launch per message. The host thread runs shmring_cuda_host_loop while the
 * kernel runs: it wakes sleeping CPU peers (a GPU cannot make the futex
 * call), passes a stop request to the device through a mapped control word,
 * and kills nothing: if the device kernel does not end within the grace it
 * returns -ETIMEDOUT so the process can exit (which tears the context and the
 * kernel down). shmring_cuda_agent_end takes the end back.
 */
#ifndef SHMRING_CUDA_H
#define SHMRING_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "shmring/agent.h"
#include "shmring/kernel.h"
#include "shmring/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The last error of this thread in this library, one line; "" if none. */
SHMRING_API const char *shmring_cuda_errmsg(void);

/*
 * 1 if this process sees a CUDA device, else 0 with the reason in
 * shmring_cuda_errmsg() ("no CUDA device: ..."). Initialises CUDA: call it in
 * the process that will use CUDA, never before a fork.
 */
SHMRING_API int shmring_cuda_available(void);

/* ---- device buffers by handle ------------------------------------------- */

#define SHMRING_CUDA_MSG_MAGIC   0x55434d53u /* "SMCU" */
#define SHMRING_CUDA_MSG_VERSION 1u

/* The ring message that carries a buffer. A wire format: fixed size. */
struct shmring_cuda_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;        /* SHMRING_CUDA_MSG_EVENT: event is valid */
	uint32_t index;        /* pool slot (informational) */
	int32_t  device;       /* exporter's device ordinal (informational) */
	uint64_t offset;       /* from the allocation base */
	uint64_t length;       /* bytes of data in the buffer */
	uint64_t alloc_size;   /* the allocation's size as the exporter saw it */
	uint64_t user;         /* the application's (a sequence number, ...) */
	uint8_t  uuid[16];     /* exporter's device UUID */
	cudaIpcMemHandle_t   mem;
	cudaIpcEventHandle_t event;
};
#define SHMRING_CUDA_MSG_EVENT 1u

/*
 * Fill *msg for device memory [ptr, ptr+len) of this process, anywhere in
 * an allocation (the handle is the allocation base's; the offset is
 * computed), with ev (an event created with cudaEventInterprocess |
 * cudaEventDisableTiming, already recorded) or NULL.
 */
SHMRING_API int shmring_cuda_export(const void *ptr, size_t len, cudaEvent_t ev,
				    struct shmring_cuda_msg *msg);

struct shmring_cuda_pool;

/*
 * A pool of nbufs device buffers of size bytes each (256-byte aligned, one
 * allocation), lent over the producer end out. Call in the producer kernel
 * after attach.
 */
SHMRING_API int shmring_cuda_pool_create(struct shmring *out, unsigned nbufs, size_t size,
					 struct shmring_cuda_pool **pool);
/*
 * The next free buffer: waits until the consumer released the message that
 * lent it last (timeout_ms as the ring's: -1 forever, 0 try). *index names
 * it for send. Errors as shmring_wait_released (-EPIPE: consumer closed).
 */
SHMRING_API int shmring_cuda_pool_get(struct shmring_cuda_pool *pool, int timeout_ms,
				      void **buf, unsigned *index);
/*
 * Lend buffer index with len bytes of data to the consumer: records the
 * buffer's event on stream (after the work that fills it) and sends the
 * handle. user travels with it.
 */
SHMRING_API int shmring_cuda_pool_send(struct shmring_cuda_pool *pool, unsigned index, size_t len,
				       cudaStream_t stream, uint64_t user, int timeout_ms);
/*
 * Free the pool. The consumer may still have the allocation open: first
 * wait up to timeout_ms for it to close its end (it closes its imports
 * first) or to die. -ETIMEDOUT: freed anyway, the consumer may fault.
 */
SHMRING_API int shmring_cuda_pool_destroy(struct shmring_cuda_pool *pool, int timeout_ms);
SHMRING_API size_t shmring_cuda_pool_size(const struct shmring_cuda_pool *pool);

struct shmring_cuda_importer;

SHMRING_API int shmring_cuda_importer_create(struct shmring_cuda_importer **imp);
/*
 * Import a peeked message: checks it (size, magic, version, offset and length
 * against the allocation as opened), opens the allocation or takes it from
 * the cache, makes stream wait for the producer's event. *ptr is valid on
 * the current device until the allocation is closed (importer destroy).
 * -EPROTO: not a buffer message; -EBADMSG: fields out of bounds; -EIO: CUDA
 * refused the handle (another machine's, a freed allocation, ...).
 */
SHMRING_API int shmring_cuda_import(struct shmring_cuda_importer *imp, const void *msg, size_t len,
				    cudaStream_t stream, void **ptr, size_t *length, uint64_t *user);
/* Wait for stream (the work that used the buffer), then release the message
 * on in: the buffer goes back to the producer's pool. */
SHMRING_API int shmring_cuda_release(struct shmring *in, cudaStream_t stream);
struct shmring_cuda_import_stats {
	uint64_t imports;      /* messages imported */
	uint64_t opens;        /* allocations opened (cache misses) */
	uint64_t events_opened;
	uint64_t evictions;    /* allocations closed to make room */
};
SHMRING_API void shmring_cuda_importer_stats(const struct shmring_cuda_importer *imp,
					     struct shmring_cuda_import_stats *st);
/* Close every opened allocation and event. Before detaching (so the
 * producer may free its pool). */
SHMRING_API void shmring_cuda_importer_destroy(struct shmring_cuda_importer *imp);

/* ---- persistent device kernels ---------------------------------------- */

/* Shared by the host and the device kernel: mapped pinned host memory. */
struct shmring_cuda_ctl {
	uint32_t stop;      /* host -> device: 1 = stop now */
	uint32_t state;     /* device -> host: SHMRING_CUDA_* below */
	int32_t  error;     /* device -> host: an SHMRING_AGENT_* code */
	uint32_t pad_;
	uint64_t progress;  /* device: messages handled (for the host's view) */
};
#define SHMRING_CUDA_RUNNING  0u
#define SHMRING_CUDA_FINISHED 1u /* inputs ended; outputs may be closed */
#define SHMRING_CUDA_STOPPED  2u /* stop seen; ends left as they are */
#define SHMRING_CUDA_FAILED   3u /* error holds the reason */

/* The control block: *host for this process, *dev for the device kernel. */
SHMRING_API int  shmring_cuda_ctl_create(struct shmring_cuda_ctl **host, struct shmring_cuda_ctl **dev);
SHMRING_API void shmring_cuda_ctl_destroy(struct shmring_cuda_ctl *host);

/* Register the ring segment of port r (a kernel's input or output) with
 * CUDA and fill *end for the device kernel (batch: a consumer's tail
 * publication interval). The host must not use r until agent_end. */
SHMRING_API int shmring_cuda_agent_begin(struct shmring *r, uint32_t batch,
					 struct shmring_agent_end *end);
/* Take the end back (shmring_resync) and unregister. After the device
 * kernel ended. */
SHMRING_API int shmring_cuda_agent_end(struct shmring *r);

/*
 * Run the host side while the device kernel on stream runs: wake sleeping
 * CPU peers of the ends r[0..n) when the kernel publishes, pass a stop of
 * kernel k (shmring_kernel_should_stop) to the device through ctl, wait for
 * the kernel to end. Returns 0 when it ended FINISHED, 1 when it ended
 * STOPPED; -EIO (it FAILED, or CUDA reported an error), -ETIMEDOUT (it did
 * not end within grace_ms of the stop: exit the process).
 */
SHMRING_API int shmring_cuda_host_loop(struct shmring_kernel *k, cudaStream_t stream,
				       struct shmring_cuda_ctl *ctl, struct shmring **r, unsigned n,
				       int grace_ms);

#ifdef __cplusplus
}
#endif
#endif
