// SPDX-License-Identifier: MIT
/*
 * cuda-test: device buffers passed between two processes by IPC handle
 * (shmring/cuda.h). Skips (exit 77, "no CUDA device: ...") without a GPU.
 *
 * The driver (no arguments) never calls CUDA: it creates a ring, forks and
 * execs this program as producer and consumer (no CUDA call may precede a
 * fork whose child goes on using CUDA), and checks how they exit. Cases:
 *   handoff   4 pool buffers of 1 MiB + 13 bytes circulate 2000 times; the
 *             consumer checks every byte on the device, and every 100th
 *             buffer byte for byte on the host; order by sequence number;
 *             the allocation is opened once (the cache), 4 events.
 *   ordering  the producer's fill kernel waits 2 ms before writing a new
 *             pattern: a consumer that read before the producer's work
 *             finished would see the previous pattern.
 *   badmsg    a message that is not a handle, one out of bounds, a handle
 *             no process exported: each refused with its error, nothing
 *             opened.
 *   pool      get/send misuse is refused; a closed consumer ends a wait.
 * The persistent-kernel tests run the gpu-doubler topology (tests/cli/gpu.sh).
 */
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/cuda.h>

#define SKIP 77

static int failures;

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);          \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			failures++;                                                         \
		}                                                                           \
	} while (0)

#define CUDA_OK(call)                                                                       \
	do {                                                                                \
		cudaError_t e_ = (call);                                                    \
		if (e_ != cudaSuccess) {                                                    \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,       \
				cudaGetErrorString(e_));                                    \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

__host__ __device__ static inline uint8_t pattern(uint64_t seq, uint64_t b)
{
	return (uint8_t)((seq * 131u + b * 7u) ^ (b >> 8) ^ (seq >> 3));
}

__device__ static uint64_t globaltimer(void)
{
	uint64_t t;
	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}

/* Fill a buffer with message seq's pattern, after delay_ns: slow work. */
__global__ void fill(uint8_t *buf, uint64_t len, uint64_t seq, uint64_t delay_ns)
{
	if (delay_ns) {
		uint64_t t0 = globaltimer();
		while (globaltimer() - t0 < delay_ns)
			;
	}
	for (uint64_t b = blockIdx.x * blockDim.x + threadIdx.x; b < len; b += gridDim.x * blockDim.x)
		buf[b] = pattern(seq, b);
}

__global__ void check(const uint8_t *buf, uint64_t len, uint64_t seq, unsigned long long *bad)
{
	for (uint64_t b = blockIdx.x * blockDim.x + threadIdx.x; b < len; b += gridDim.x * blockDim.x)
		if (buf[b] != pattern(seq, b))
			atomicAdd(bad, 1ull);
}

static struct shmring *attach_fd(const char *where, enum shmring_role role)
{
	struct shmring *r;
	if (shmring_attach(where, role, &r) < 0) {
		fprintf(stderr, "attach %s: %s\n", where, shmring_errmsg());
		exit(1);
	}
	return r;
}

/* ---- children ------------------------------------------------------------ */

static int probe(void)
{
	if (!shmring_cuda_available()) {
		printf("%s\n", shmring_cuda_errmsg());
		return SKIP;
	}
	int dev = 0;
	cudaDeviceProp p;
	CUDA_OK(cudaGetDevice(&dev));
	CUDA_OK(cudaGetDeviceProperties(&p, dev));
	printf("device %d: %s, compute %d.%d\n", dev, p.name, p.major, p.minor);
	return 0;
}

static int producer(const char *where, uint64_t count, unsigned nbufs, size_t size, uint64_t delay_ns)
{
	struct shmring *out = attach_fd(where, SHMRING_ROLE_PRODUCER);
	struct shmring_cuda_pool *pool;
	if (shmring_cuda_pool_create(out, nbufs, size, &pool) < 0) {
		fprintf(stderr, "producer: %s\n", shmring_cuda_errmsg());
		return 1;
	}
	CHECK(shmring_cuda_pool_size(pool) % (2u << 20) == 0, "pool allocation %zu not 2 MiB grained",
	      shmring_cuda_pool_size(pool));
	cudaStream_t s;
	CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	for (uint64_t i = 0; i < count; i++) {
		void *buf;
		unsigned idx;
		int rc = shmring_cuda_pool_get(pool, 20000, &buf, &idx);
		if (rc < 0) {
			fprintf(stderr, "producer: get %llu: %s\n", (unsigned long long)i, shmring_cuda_errmsg());
			return 1;
		}
		CHECK(idx == i % nbufs, "buffer %u for message %llu", idx, (unsigned long long)i);
		fill<<<64, 256, 0, s>>>((uint8_t *)buf, size, i, delay_ns);
		CUDA_OK(cudaGetLastError());
		/* No host sync: the event orders the consumer after fill. */
		if ((rc = shmring_cuda_pool_send(pool, idx, size, s, i, 20000)) < 0) {
			fprintf(stderr, "producer: send %llu: %s\n", (unsigned long long)i, shmring_cuda_errmsg());
			return 1;
		}
	}
	shmring_close(out);
	int rc = shmring_cuda_pool_destroy(pool, 20000);
	CHECK(rc == 0, "pool destroy: %s", shmring_cuda_errmsg());
	CUDA_OK(cudaStreamDestroy(s));
	shmring_detach(out);
	printf("producer: sent %llu buffers\n", (unsigned long long)count);
	return failures ? 1 : 0;
}

static int consumer(const char *where, uint64_t count, unsigned nbufs, size_t size)
{
	struct shmring *in = attach_fd(where, SHMRING_ROLE_CONSUMER);
	struct shmring_cuda_importer *imp;
	CHECK(shmring_cuda_importer_create(&imp) == 0, "importer");
	cudaStream_t s;
	CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	unsigned long long *bad;
	CUDA_OK(cudaMalloc(&bad, sizeof(*bad)));
	CUDA_OK(cudaMemset(bad, 0, sizeof(*bad)));
	uint8_t *host = (uint8_t *)malloc(size);
	uint64_t next = 0, host_checked = 0;
	for (;;) {
		const void *m;
		size_t len;
		int n = shmring_peek(in, &m, &len, 20000);
		if (n == 0)
			break;
		if (n < 0) {
			fprintf(stderr, "consumer: peek: %s\n", shmring_errmsg());
			return 1;
		}
		void *ptr;
		size_t blen;
		uint64_t seq;
		if (shmring_cuda_import(imp, m, len, s, &ptr, &blen, &seq) < 0) {
			fprintf(stderr, "consumer: import: %s\n", shmring_cuda_errmsg());
			return 1;
		}
		CHECK(seq == next, "message %llu arrived as %llu", (unsigned long long)next,
		      (unsigned long long)seq);
		CHECK(blen == size, "length %zu, want %zu", blen, size);
		check<<<64, 256, 0, s>>>((const uint8_t *)ptr, blen, seq, bad);
		CUDA_OK(cudaGetLastError());
		if (seq % 100 == 0) {
			CUDA_OK(cudaMemcpyAsync(host, ptr, blen, cudaMemcpyDeviceToHost, s));
			CUDA_OK(cudaStreamSynchronize(s));
			for (size_t b = 0; b < blen; b++)
				if (host[b] != pattern(seq, b)) {
					CHECK(0, "message %llu byte %zu: 0x%02x, want 0x%02x",
					      (unsigned long long)seq, b, host[b], pattern(seq, b));
					break;
				}
			host_checked++;
		}
		if (shmring_cuda_release(in, s) < 0) {
			fprintf(stderr, "consumer: release: %s\n", shmring_cuda_errmsg());
			return 1;
		}
		next++;
	}
	unsigned long long nbad = 0;
	CUDA_OK(cudaMemcpy(&nbad, bad, sizeof(nbad), cudaMemcpyDeviceToHost));
	CHECK(next == count, "received %llu of %llu", (unsigned long long)next, (unsigned long long)count);
	CHECK(nbad == 0, "%llu bytes read before or without the producer's writes", nbad);
	struct shmring_cuda_import_stats st;
	shmring_cuda_importer_stats(imp, &st);
	CHECK(st.imports == count, "imports %llu", (unsigned long long)st.imports);
	CHECK(st.opens == 1, "the pool's allocation was opened %llu times, want once (cache)",
	      (unsigned long long)st.opens);
	CHECK(st.events_opened == nbufs, "events opened %llu, want %u", (unsigned long long)st.events_opened,
	      nbufs);
	shmring_cuda_importer_destroy(imp);
	shmring_close(in); /* after the imports are closed: the producer may free */
	shmring_detach(in);
	printf("consumer: %llu buffers in order, %llu checked byte for byte on the host, 0 bad bytes\n",
	       (unsigned long long)next, (unsigned long long)host_checked);
	return failures ? 1 : 0;
}

/* Messages no producer should send, in one process. */
static int badmsg(void)
{
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = 65536;
	struct shmring *owner, *p, *c;
	char where[32];
	CHECK(shmring_create(NULL, &o, &owner) == 0, "create");
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	p = attach_fd(where, SHMRING_ROLE_PRODUCER);
	c = attach_fd(where, SHMRING_ROLE_CONSUMER);
	struct shmring_cuda_importer *imp;
	shmring_cuda_importer_create(&imp);
	cudaStream_t s;
	CUDA_OK(cudaStreamCreate(&s));
	void *ptr = NULL;
	size_t len = 0;
	uint64_t user;

	shmring_cuda_msg m;
	CHECK(shmring_cuda_import(imp, "short", 5, s, &ptr, &len, &user) == -EPROTO, "short message");
	CHECK(strstr(shmring_cuda_errmsg(), "not a CUDA buffer handle"), "%s", shmring_cuda_errmsg());
	memset(&m, 0, sizeof(m));
	CHECK(shmring_cuda_import(imp, &m, sizeof(m), s, &ptr, &len, &user) == -EPROTO, "zero magic");
	/* A real export of our own memory, then its fields bent. */
	void *d;
	CUDA_OK(cudaMalloc(&d, 4u << 20));
	CHECK(shmring_cuda_export((uint8_t *)d + 4096, 1000, NULL, &m) == 0, "export: %s",
	      shmring_cuda_errmsg());
	CHECK(m.offset == 4096 && m.length == 1000, "offset %llu length %llu",
	      (unsigned long long)m.offset, (unsigned long long)m.length);
	CHECK(shmring_cuda_export((uint8_t *)d + 4096, 4u << 20, NULL, &m) == -EINVAL,
	      "export past the allocation");
	int host_word;
	CHECK(shmring_cuda_export(&host_word, 4, NULL, &m) < 0, "export of host memory");
	CHECK(shmring_cuda_export((uint8_t *)d + 4096, 1000, NULL, &m) == 0, "export");
	shmring_cuda_msg bent = m;
	bent.offset = bent.alloc_size;
	CHECK(shmring_cuda_import(imp, &bent, sizeof(bent), s, &ptr, &len, &user) == -EBADMSG, "offset");
	bent = m;
	bent.length = UINT64_MAX - 10;
	CHECK(shmring_cuda_import(imp, &bent, sizeof(bent), s, &ptr, &len, &user) == -EBADMSG, "length");
	bent = m;
	bent.flags = 0x80;
	CHECK(shmring_cuda_import(imp, &bent, sizeof(bent), s, &ptr, &len, &user) == -EBADMSG, "flags");
	/* The exporting process cannot open its own handle; a garbage one no
	 * process exported is refused as well. Either way: -EIO, nothing cached. */
	CHECK(shmring_cuda_import(imp, &m, sizeof(m), s, &ptr, &len, &user) == -EIO, "own handle");
	memset(&bent.mem, 0x5a, sizeof(bent.mem));
	bent.flags = 0;
	CHECK(shmring_cuda_import(imp, &bent, sizeof(bent), s, &ptr, &len, &user) == -EIO, "garbage handle");
	struct shmring_cuda_import_stats st;
	shmring_cuda_importer_stats(imp, &st);
	CHECK(st.opens == 0, "opens %llu", (unsigned long long)st.opens);
	/* Pool misuse. */
	struct shmring_cuda_pool *pool;
	CHECK(shmring_cuda_pool_create(p, 0, 100, &pool) == -EINVAL, "empty pool");
	CHECK(shmring_cuda_pool_create(p, 2, 1000, &pool) == 0, "pool: %s", shmring_cuda_errmsg());
	void *b;
	unsigned idx;
	CHECK(shmring_cuda_pool_send(pool, 0, 10, s, 0, 0) == -EINVAL, "send before get");
	CHECK(shmring_cuda_pool_get(pool, 0, &b, &idx) == 0 && idx == 0, "get 0");
	CHECK(shmring_cuda_pool_send(pool, 0, 1001, s, 0, 0) == -EINVAL, "send more than a buffer");
	CHECK(shmring_cuda_pool_send(pool, 0, 1000, s, 0, 0) == 0, "send 0: %s", shmring_cuda_errmsg());
	CHECK(shmring_cuda_pool_get(pool, 0, &b, &idx) == 0 && idx == 1, "get 1");
	CHECK(shmring_cuda_pool_send(pool, 1, 1000, s, 1, 0) == 0, "send 1");
	/* Both lent, none released: try, then time out, then the consumer closes. */
	CHECK(shmring_cuda_pool_get(pool, 0, &b, &idx) == -EAGAIN, "get with all lent");
	CHECK(shmring_cuda_pool_get(pool, 50, &b, &idx) == -ETIMEDOUT, "get with all lent, 50 ms");
	shmring_close(c);
	CHECK(shmring_cuda_pool_get(pool, -1, &b, &idx) == -EPIPE, "get after the consumer closed");
	CHECK(shmring_cuda_pool_destroy(pool, 1000) == 0, "destroy");
	shmring_cuda_importer_destroy(imp);
	CUDA_OK(cudaFree(d));
	shmring_detach(p);
	shmring_detach(c);
	shmring_detach(owner);
	printf("badmsg: %d failures\n", failures);
	return failures ? 1 : 0;
}

/* ---- driver ---------------------------------------------------------------- */

static char self[4096];

static pid_t spawn(int keep_fd, const char *const *args)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0); /* the ring crosses exec */
		execv(self, (char *const *)args);
		_exit(127);
	}
	return pid;
}

/* Exit status of pid, or -1 if it was killed (by the test's alarm). */
static int reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void pair_case(const char *name, const char *count, const char *nbufs, const char *size,
		      const char *delay_ns)
{
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = 65536;
	struct shmring *owner;
	if (shmring_create(NULL, &o, &owner) < 0) {
		fprintf(stderr, "create: %s\n", shmring_errmsg());
		exit(1);
	}
	char where[32];
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	const char *pa[] = { self, "producer", where, count, nbufs, size, delay_ns, NULL };
	const char *ca[] = { self, "consumer", where, count, nbufs, size, NULL };
	pid_t c = spawn(shmring_fd(owner), ca);
	pid_t p = spawn(shmring_fd(owner), pa);
	int pc = reap(p), cc = reap(c);
	CHECK(pc == 0 && cc == 0, "%s: producer exit %d, consumer exit %d", name, pc, cc);
	struct shmring_stats st;
	shmring_stats(owner, &st);
	CHECK(st.msgs_in == strtoull(count, NULL, 10) && st.msgs_out == st.msgs_in,
	      "%s: ring carried %llu in, %llu out", name, (unsigned long long)st.msgs_in,
	      (unsigned long long)st.msgs_out);
	shmring_detach(owner);
	printf("%s: %s\n", name, pc == 0 && cc == 0 ? "ok" : "FAILED");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "probe"))
		return probe();
	if (argc == 7 && !strcmp(argv[1], "producer"))
		return producer(argv[2], strtoull(argv[3], NULL, 10), (unsigned)atoi(argv[4]),
				strtoull(argv[5], NULL, 10), strtoull(argv[6], NULL, 10));
	if (argc == 6 && !strcmp(argv[1], "consumer"))
		return consumer(argv[2], strtoull(argv[3], NULL, 10), (unsigned)atoi(argv[4]),
				strtoull(argv[5], NULL, 10));
	if (argc >= 2 && !strcmp(argv[1], "badmsg"))
		return badmsg();
	if (argc != 1) {
		fprintf(stderr, "usage: cuda-test   (runs every case; skips with 77 without a GPU)\n");
		return 2;
	}

	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	alarm(240); /* a hang fails the test instead of wedging CI */
	/* The probe runs CUDA in a child: this process never does. */
	const char *pr[] = { self, "probe", NULL };
	int rc = reap(spawn(-1, pr));
	if (rc == SKIP) {
		printf("SKIP: the CUDA tests need a GPU (see the line above)\n");
		return SKIP;
	}
	if (rc != 0)
		return 1;
	pair_case("handoff", "2000", "4", "1048589", "0");
	pair_case("ordering", "200", "2", "65536", "2000000");
	const char *ba[] = { self, "badmsg", NULL };
	rc = reap(spawn(-1, ba));
	CHECK(rc == 0, "badmsg exit %d", rc);
	printf("%s\n", failures ? "FAILED" : "all CUDA cases passed");
	return failures ? 1 : 0;
}
