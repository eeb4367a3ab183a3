// SPDX-License-Identifier: MIT
/*
 * gpu-bench: GPU paths beside what a user would write instead, same run.
 *
 *   gpu-bench rtt [N]       round trip CPU -> GPU -> CPU of a 64-byte
 *                           message: through two rings and a persistent
 *                           device kernel (agent.h), beside a launch per
 *                           message (cudaMemcpyAsync H2D + kernel launch +
 *                           cudaMemcpyAsync D2H + cudaStreamSynchronize).
 *   gpu-bench handoff [N]   device buffers from one process to another: by
 *                           IPC handle (cuda.h pool), beside copying the
 *                           same bytes through host memory (D2H into a
 *                           pinned shared ring, H2D out of it), 64 KiB,
 *                           1 MiB and 16 MiB.
 *
 * Prints one CSV line per case (case,unit,value...) after a header, and the
 * device. Without a GPU it says "no CUDA device" and exits 77. No CUDA call
 * is made before the fork of the handoff mode: children are exec'd.
 */
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/cuda.h>

#define CUDA_OK(call)                                                                   \
	do {                                                                            \
		cudaError_t e_ = (call);                                                \
		if (e_ != cudaSuccess) {                                                \
			fprintf(stderr, "gpu-bench: %s: %s\n", #call, cudaGetErrorString(e_)); \
			exit(1);                                                        \
		}                                                                       \
	} while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "gpu-bench: %s: %s\n", what, why);
	exit(1);
}

/* One end of a ring ("fd:N"), spinning: the benchmark times, it never sleeps. */
static struct shmring *attach_spin(const char *where, enum shmring_role role)
{
	struct shmring *r;
	if (shmring_attach(where, role, &r) < 0)
		die("attach", shmring_errmsg());
	shmring_set_wait(r, SHMRING_WAIT_SPIN, 0);
	return r;
}

static struct shmring *end_of(struct shmring *owner, enum shmring_role role)
{
	char where[32];
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	return attach_spin(where, role);
}

static struct shmring *ring_new(size_t cap)
{
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = cap;
	o.wait = SHMRING_WAIT_SPIN;
	struct shmring *r;
	if (shmring_create(NULL, &o, &r) < 0)
		die("create", shmring_errmsg());
	return r;
}

static void report(const char *name, std::vector<uint64_t> &ns)
{
	std::sort(ns.begin(), ns.end());
	size_t n = ns.size();
	printf("%s,ns,%llu,%llu,%llu\n", name, (unsigned long long)ns[n / 2],
	       (unsigned long long)ns[n * 99 / 100], (unsigned long long)ns[n * 999 / 1000]);
}

/* ---- rtt ------------------------------------------------------------------ */

/* Echo: every message of in goes to out with its first word + 1. */
__global__ void echo_persistent(shmring_agent_end in, shmring_agent_end out, shmring_cuda_ctl *ctl)
{
	uint32_t state = SHMRING_CUDA_FINISHED;
	for (;;) {
		const void *m;
		int64_t n = shmring_agent_peek(&in, &m);
		if (n == SHMRING_AGENT_EMPTY)
			continue; /* latency run: poll without napping */
		if (n < 0) {
			state = n == SHMRING_AGENT_EOS ? SHMRING_CUDA_FINISHED : SHMRING_CUDA_FAILED;
			break;
		}
		void *o;
		int rc;
		while ((rc = shmring_agent_reserve(&out, (uint64_t)n, &o)) == SHMRING_AGENT_EMPTY)
			;
		if (rc < 0) {
			state = SHMRING_CUDA_FAILED;
			break;
		}
		memcpy(o, m, (size_t)n);
		*(uint64_t *)o = *(const uint64_t *)m + 1;
		shmring_agent_commit(&out, (uint64_t)n);
		shmring_agent_release(&in);
	}
	shmring_agent_publish(&in);
	shmring_agent_publish(&out);
	cuda::atomic_ref<uint32_t, cuda::thread_scope_system>(ctl->state)
		.store(state, cuda::memory_order_release);
}

__global__ void echo_once(uint64_t *buf)
{
	buf[0] += 1;
}

static void rtt(uint64_t n)
{
	const size_t len = 64;
	struct shmring *a = ring_new(65536), *b = ring_new(65536);
	struct shmring *a_prod = end_of(a, SHMRING_ROLE_PRODUCER), *a_cons = end_of(a, SHMRING_ROLE_CONSUMER);
	struct shmring *b_prod = end_of(b, SHMRING_ROLE_PRODUCER), *b_cons = end_of(b, SHMRING_ROLE_CONSUMER);
	shmring_cuda_ctl *ctl, *dctl;
	shmring_agent_end ein, eout;
	if (shmring_cuda_ctl_create(&ctl, &dctl) < 0 || shmring_cuda_agent_begin(a_cons, 1, &ein) < 0 ||
	    shmring_cuda_agent_begin(b_prod, 1, &eout) < 0)
		die("setup", shmring_cuda_errmsg());
	cudaStream_t s;
	CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	echo_persistent<<<1, 1, 0, s>>>(ein, eout, dctl);
	CUDA_OK(cudaGetLastError());

	uint8_t msg[len] = { 0 };
	std::vector<uint64_t> t;
	t.reserve(n);
	for (uint64_t i = 0; i < n + n / 10; i++) { /* first tenth: warm-up */
		memcpy(msg, &i, 8);
		uint64_t t0 = now_ns();
		if (shmring_send(a_prod, msg, len, -1) < 0)
			die("send", shmring_errmsg());
		const void *m;
		size_t l;
		if (shmring_peek(b_cons, &m, &l, 10000) <= 0)
			die("peek (is the GPU kernel running?)", shmring_errmsg());
		uint64_t v;
		memcpy(&v, m, 8);
		shmring_release(b_cons);
		uint64_t t1 = now_ns();
		if (v != i + 1)
			die("echo", "wrong value");
		if (i >= n / 10)
			t.push_back(t1 - t0);
	}
	shmring_close(a_prod);
	CUDA_OK(cudaStreamSynchronize(s));
	shmring_cuda_agent_end(a_cons);
	shmring_cuda_agent_end(b_prod);
	report("rtt persistent kernel via rings 64B", t);

	/* The baseline: what one writes without a resident kernel. */
	uint64_t *h, *d;
	CUDA_OK(cudaHostAlloc(&h, len, cudaHostAllocDefault));
	CUDA_OK(cudaMalloc(&d, len));
	t.clear();
	for (uint64_t i = 0; i < n + n / 10; i++) {
		h[0] = i;
		uint64_t t0 = now_ns();
		CUDA_OK(cudaMemcpyAsync(d, h, len, cudaMemcpyHostToDevice, s));
		echo_once<<<1, 1, 0, s>>>(d);
		CUDA_OK(cudaMemcpyAsync(h, d, len, cudaMemcpyDeviceToHost, s));
		CUDA_OK(cudaStreamSynchronize(s));
		uint64_t t1 = now_ns();
		if (h[0] != i + 1)
			die("launch echo", "wrong value");
		if (i >= n / 10)
			t.push_back(t1 - t0);
	}
	report("rtt launch per message (H2D+kernel+D2H+sync) 64B", t);
	cudaFree(d);
	cudaFreeHost(h);
	cudaStreamDestroy(s);
	shmring_cuda_ctl_destroy(ctl);
}

/* ---- handoff ----------------------------------------------------------------- */

static int handle_producer(const char *where, uint64_t n, size_t size)
{
	struct shmring *out = attach_spin(where, SHMRING_ROLE_PRODUCER);
	struct shmring_cuda_pool *pool;
	if (shmring_cuda_pool_create(out, 4, size, &pool) < 0)
		die("pool", shmring_cuda_errmsg());
	cudaStream_t s;
	CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	for (uint64_t i = 0; i < n; i++) {
		void *b;
		unsigned idx;
		if (shmring_cuda_pool_get(pool, -1, &b, &idx) < 0 ||
		    shmring_cuda_pool_send(pool, idx, size, s, i, -1) < 0)
			die("handoff", shmring_cuda_errmsg());
	}
	shmring_close(out);
	shmring_cuda_pool_destroy(pool, 10000);
	return 0;
}

static int handle_consumer(const char *where, uint64_t n, size_t size)
{
	struct shmring *in = attach_spin(where, SHMRING_ROLE_CONSUMER);
	struct shmring_cuda_importer *imp;
	shmring_cuda_importer_create(&imp);
	cudaStream_t s;
	CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	uint64_t got = 0, t0 = 0;
	for (;;) {
		const void *m;
		size_t len;
		int rc = shmring_peek(in, &m, &len, 10000);
		if (rc <= 0)
			break;
		if (got == 1)
			t0 = now_ns(); /* the first open is not the rate */
		void *p;
		if (shmring_cuda_import(imp, m, len, s, &p, NULL, NULL) < 0)
			die("import", shmring_cuda_errmsg());
		if (shmring_cuda_release(in, s) < 0)
			die("release", shmring_cuda_errmsg());
		got++;
	}
	double sec = (double)(now_ns() - t0) / 1e9;
	printf("handoff by IPC handle %zuB,per_s,%.0f,GB_s,%.2f\n", size, (double)(got - 1) / sec,
	       (double)(got - 1) * (double)size / sec / 1e9);
	fflush(stdout);
	shmring_cuda_importer_destroy(imp);
	shmring_close(in);
	return got == n ? 0 : 1;
}

/* The same bytes through host memory: D2H into the ring, H2D out of it. */
static int copy_producer(const char *where, uint64_t n, size_t size)
{
	struct shmring *out = attach_spin(where, SHMRING_ROLE_PRODUCER);
	struct shmring_mapping mp;
	shmring_mapping(out, &mp);
	CUDA_OK(cudaHostRegister(mp.base, mp.length, cudaHostRegisterPortable)); /* pinned: DMA speed */
	void *d;
	CUDA_OK(cudaMalloc(&d, size));
	CUDA_OK(cudaMemset(d, 1, size));
	for (uint64_t i = 0; i < n; i++) {
		void *slot;
		if (shmring_reserve(out, size, &slot, -1) < 0)
			die("reserve", shmring_errmsg());
		CUDA_OK(cudaMemcpy(slot, d, size, cudaMemcpyDeviceToHost));
		shmring_commit(out, size);
	}
	shmring_close(out);
	cudaHostUnregister(mp.base);
	return 0;
}

static int copy_consumer(const char *where, uint64_t n, size_t size)
{
	struct shmring *in = attach_spin(where, SHMRING_ROLE_CONSUMER);
	struct shmring_mapping mp;
	shmring_mapping(in, &mp);
	CUDA_OK(cudaHostRegister(mp.base, mp.length, cudaHostRegisterPortable));
	void *d;
	CUDA_OK(cudaMalloc(&d, size));
	uint64_t got = 0, t0 = 0;
	for (;;) {
		const void *m;
		size_t len;
		if (shmring_peek(in, &m, &len, 10000) <= 0)
			break;
		if (got == 1)
			t0 = now_ns();
		CUDA_OK(cudaMemcpy(d, m, len, cudaMemcpyHostToDevice));
		shmring_release(in);
		got++;
	}
	double sec = (double)(now_ns() - t0) / 1e9;
	printf("copy through host memory %zuB,per_s,%.0f,GB_s,%.2f\n", size, (double)(got - 1) / sec,
	       (double)(got - 1) * (double)size / sec / 1e9);
	fflush(stdout);
	shmring_detach(in);
	return got == n ? 0 : 1;
}

static char self[4096];

static void pair_run(const char *prod, const char *cons, uint64_t n, size_t size)
{
	/* No CUDA in this process: the children are exec'd. */
	struct shmring *owner = ring_new(std::max<size_t>(size * 4 + 65536, 1u << 20));
	char where[32], ns[32], ss[32];
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	snprintf(ns, sizeof(ns), "%llu", (unsigned long long)n);
	snprintf(ss, sizeof(ss), "%zu", size);
	pid_t pids[2];
	const char *modes[2] = { cons, prod };
	for (int i = 0; i < 2; i++) {
		fflush(NULL);
		if ((pids[i] = fork()) == 0) {
			fcntl(shmring_fd(owner), F_SETFD, 0);
			execl(self, self, modes[i], where, ns, ss, (char *)NULL);
			_exit(127);
		}
	}
	for (int i = 0; i < 2; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die(modes[i], "failed");
	}
	shmring_detach(owner);
}

int main(int argc, char **argv)
{
	if (argc == 5) {
		uint64_t n = strtoull(argv[3], NULL, 10);
		size_t size = strtoull(argv[4], NULL, 10);
		if (!strcmp(argv[1], "handle-producer"))
			return handle_producer(argv[2], n, size);
		if (!strcmp(argv[1], "handle-consumer"))
			return handle_consumer(argv[2], n, size);
		if (!strcmp(argv[1], "copy-producer"))
			return copy_producer(argv[2], n, size);
		if (!strcmp(argv[1], "copy-consumer"))
			return copy_consumer(argv[2], n, size);
	}
	if (argc == 2 && !strcmp(argv[1], "probe")) {
		if (!shmring_cuda_available()) {
			printf("%s\n", shmring_cuda_errmsg());
			return 77;
		}
		cudaDeviceProp p;
		CUDA_OK(cudaGetDeviceProperties(&p, 0));
		printf("# device: %s\n", p.name);
		return 0;
	}
	if (argc < 2 || argc > 3 || (strcmp(argv[1], "rtt") && strcmp(argv[1], "handoff"))) {
		fprintf(stderr, "usage: gpu-bench rtt|handoff [N]\n");
		return 2;
	}
	uint64_t n = argc == 3 ? strtoull(argv[2], NULL, 10) : 0;
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l <= 0)
		return 1;
	self[l] = 0;
	if (!strcmp(argv[1], "rtt")) {
		if (!shmring_cuda_available()) {
			printf("%s\n", shmring_cuda_errmsg());
			return 77;
		}
		cudaDeviceProp p;
		CUDA_OK(cudaGetDeviceProperties(&p, 0));
		printf("# device: %s\ncase,unit,p50,p99,p99.9\n", p.name);
		rtt(n ? n : 100000);
		return 0;
	}
	/* Ask a child whether there is a GPU: this process stays CUDA-free. */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		execl(self, self, "probe", (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	printf("case,unit,rate,unit,throughput\n");
	const size_t sizes[] = { 64u << 10, 1u << 20, 16u << 20 };
	for (size_t size : sizes) {
		uint64_t count = n ? n : (size >= (16u << 20) ? 2000 : 20000);
		pair_run("handle-producer", "handle-consumer", count, size);
		pair_run("copy-producer", "copy-consumer", count, size);
	}
	return 0;
}
