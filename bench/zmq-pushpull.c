/* SPDX-License-Identifier: MIT */
/*
 * zmq-pushpull: raw libzmq PUSH/PULL over TCP, the baseline of
 * bench/bridge-bench.sh, as a user would write it without shmring: one
 * process sends COUNT messages of SIZE bytes, the other receives them. The
 * puller binds (like shmring-zmq-source on the consumer's host), the pusher
 * connects. High-water marks stay at libzmq's default (1000 messages each
 * way), as bounded as the bridge's credit window. The puller checks every
 * message's size and its first 8 bytes (the sequence number), and prints
 * its rate from its first message to its last.
 *
 *   zmq-pushpull push tcp://HOST:PORT COUNT SIZE
 *   zmq-pushpull pull tcp://HOST:PORT COUNT SIZE
 *   zmq-pushpull floor [CORE_A CORE_B]
 *   zmq-pushpull gen COUNT SIZE      (a kernel: port "out")
 *   zmq-pushpull count COUNT SIZE    (a kernel: port "in")
 *
 * gen and count are the bridge edge's two ends in the same benchmark: gen
 * writes COUNT messages of SIZE bytes (the sequence number in the first 8,
 * the rest zeros) straight into its output ring, count checks each one the
 * way the puller does and prints its rate. They cost a ring operation per
 * message and nothing else, where shmring-file-source pays a read per
 * message (at 64 B it alone tops out near 0.25 M msg/s on this VM, below
 * raw libzmq), so the bridge, not the source, is what is measured.
 *
 * floor: the raw cache-line round trip between two pinned processes (two
 * words on their own 128-byte blocks, spin with pause; 200,000 round trips,
 * p50 in ns), the same control as shmring-bench's "raw cache line" rows: it
 * tells which placement the host gave this VM's two vCPUs (see Noise in
 * docs/benchmarks.md).
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include <zmq.h>

#include "test-util.h"

#define USAGE \
	"usage: zmq-pushpull push|pull tcp://HOST:PORT COUNT SIZE   (SIZE >= 8)\n" \
	"       zmq-pushpull floor [CORE_A CORE_B]\n" \
	"       zmq-pushpull gen|count COUNT SIZE   (kernels: run them with shmring-supervisor)\n"

static void *sock(void *ctx, int type, const char *ep)
{
	void *s = zmq_socket(ctx, type);
	int linger = -1; /* the pusher's close waits until all is sent */
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	if ((type == ZMQ_PULL ? zmq_bind(s, ep) : zmq_connect(s, ep)) != 0) {
		fprintf(stderr, "zmq-pushpull: %s %s: %s (is the address on this host?)\n",
			type == ZMQ_PULL ? "bind" : "connect", ep, zmq_strerror(zmq_errno()));
		exit(2);
	}
	return s;
}

static int push(void *s, uint64_t count, size_t size)
{
	char *buf = calloc(1, size);
	if (!buf) {
		fprintf(stderr, "zmq-pushpull: out of memory for a %zu-byte message\n", size);
		return 1;
	}
	for (uint64_t n = 0; n < count; n++) {
		memcpy(buf, &n, sizeof(n));
		if (zmq_send(s, buf, size, 0) != (int)size) {
			fprintf(stderr, "zmq-pushpull: send: %s\n", zmq_strerror(zmq_errno()));
			return 1;
		}
	}
	free(buf);
	return 0;
}

static int pull(void *s, uint64_t count, size_t size)
{
	char *buf = malloc(size);
	uint64_t first = 0, seq;
	if (!buf) {
		fprintf(stderr, "zmq-pushpull: out of memory for a %zu-byte message\n", size);
		return 1;
	}
	for (uint64_t n = 0; n < count; n++) {
		int got = zmq_recv(s, buf, size, 0);
		memcpy(&seq, buf, sizeof(seq));
		if (got != (int)size || seq != n) {
			fprintf(stderr, "zmq-pushpull: message %llu: %d bytes, sequence %llu\n",
				(unsigned long long)n, got, (unsigned long long)seq);
			return 1;
		}
		if (n == 0)
			first = tu_now_ns();
	}
	double secs = tu_since_s(first);
	printf("received %llu in order; %.0f msg/s, %.1f MB/s (first to last)\n",
	       (unsigned long long)count, (double)count / secs, (double)count * size / secs / 1e6);
	free(buf);
	return 0;
}

/* ---- the raw cache-line round trip ---------------------------------------- */

struct line {
	_Alignas(128) _Atomic uint64_t v;
};

#define FLOOR_ITERS 200000

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void spin_until(struct line *l, uint64_t want)
{
	while (atomic_load_explicit(&l->v, memory_order_acquire) != want)
		__builtin_ia32_pause();
}

static int floor_main(int core_a, int core_b)
{
	struct line *l = mmap(NULL, 2 * sizeof(*l), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *t = malloc(FLOOR_ITERS * sizeof(*t));
	if (l == MAP_FAILED || !t) {
		fprintf(stderr, "zmq-pushpull: floor: out of memory\n");
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) { /* the responder echoes each ping */
		if (tu_pin_cpu(core_b) < 0)
			_exit(2);
		for (uint64_t i = 1; i <= FLOOR_ITERS + FLOOR_ITERS / 10; i++) {
			spin_until(&l[0], i);
			atomic_store_explicit(&l[1].v, i, memory_order_release);
		}
		_exit(0);
	}
	if (pid < 0 || tu_pin_cpu(core_a) < 0) {
		fprintf(stderr, "zmq-pushpull: floor: cannot fork or pin to cores %d and %d\n", core_a, core_b);
		return 1;
	}
	uint64_t i = 1;
	for (int k = 0; k < FLOOR_ITERS + FLOOR_ITERS / 10; k++, i++) { /* a tenth warms up */
		uint64_t t0 = tu_now_ns();
		atomic_store_explicit(&l[0].v, i, memory_order_release);
		spin_until(&l[1], i);
		if (k >= FLOOR_ITERS / 10)
			t[k - FLOOR_ITERS / 10] = tu_now_ns() - t0;
	}
	if (tu_reap(pid) != 0)
		return 1;
	qsort(t, FLOOR_ITERS, sizeof(*t), cmp_u64);
	printf("%llu\n", (unsigned long long)t[FLOOR_ITERS / 2]);
	free(t);
	return 0;
}

/* ---- the bridge edge's ends, as kernels -------------------------------------- */

static struct shmring *attach(struct shmring_kernel **k, const char *port)
{
	struct shmring *r = NULL;
	int rc = shmring_kernel_attach(k);
	if (rc == -ECANCELED)
		exit(0); /* stopped before it started */
	if (rc == 0)
		r = shmring_kernel_port(*k, port);
	if (!r) {
		fprintf(stderr, "%s\n", shmring_errmsg()); /* names the problem and the fix */
		exit(SHMRING_EXIT_CONFIG);
	}
	return r;
}

static int kernel_gen(uint64_t count, size_t size)
{
	struct shmring_kernel *k;
	struct shmring *out = attach(&k, "out");
	/* A busy loop checks the stop flag itself: reserve waits (and so
	 * notices a stop) only when the ring is full. */
	for (uint64_t n = 0; n < count && !shmring_kernel_should_stop(k);) {
		void *buf;
		int rc = shmring_reserve(out, size, &buf, 100);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0) {
			fprintf(stderr, "zmq-pushpull gen: reserve: %s\n", strerror(-rc));
			return rc == -ECANCELED ? 0 : 1;
		}
		memset(buf, 0, size);
		memcpy(buf, &n, sizeof(n));
		shmring_commit(out, size);
		n++;
	}
	return shmring_kernel_detach(k);
}

static int kernel_count(uint64_t count, size_t size)
{
	struct shmring_kernel *k;
	struct shmring *in = attach(&k, "in");
	uint64_t n = 0, first = 0, seq;
	for (;;) {
		const void *buf;
		size_t len;
		int rc = shmring_peek(in, &buf, &len, 100);
		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			if (shmring_kernel_should_stop(k))
				return 0;
			continue;
		}
		if (rc == 0 || rc == -ECANCELED)
			break; /* end of stream, or stopped */
		if (rc < 0) {
			fprintf(stderr, "zmq-pushpull count: peek: %s\n", strerror(-rc));
			return 1;
		}
		memcpy(&seq, buf, sizeof(seq));
		if (len != size || seq != n) {
			fprintf(stderr, "zmq-pushpull count: message %llu: %zu bytes, sequence %llu\n",
				(unsigned long long)n, len, (unsigned long long)seq);
			return 1;
		}
		shmring_release(in);
		if (n++ == 0)
			first = tu_now_ns();
	}
	double secs = tu_since_s(first);
	printf("received %llu of %llu in order; %.0f msg/s, %.1f MB/s (first to last)\n",
	       (unsigned long long)n, (unsigned long long)count, n / secs, n * (double)size / secs / 1e6);
	if (n != count)
		return 1;
	return shmring_kernel_detach(k);
}

int main(int argc, char **argv)
{
	if (argc == 4 && (!strcmp(argv[1], "gen") || !strcmp(argv[1], "count"))) {
		uint64_t count = strtoull(argv[2], NULL, 10);
		size_t size = strtoull(argv[3], NULL, 10);
		if (count == 0 || size < 8) {
			fputs(USAGE, stderr);
			return SHMRING_EXIT_CONFIG;
		}
		return argv[1][0] == 'g' ? kernel_gen(count, size) : kernel_count(count, size);
	}
	if (argc >= 2 && strcmp(argv[1], "floor") == 0 && (argc == 2 || argc == 4))
		return floor_main(argc == 4 ? atoi(argv[2]) : 0, argc == 4 ? atoi(argv[3]) : 1);
	if (argc != 5 || (strcmp(argv[1], "push") && strcmp(argv[1], "pull"))) {
		fputs(USAGE, stderr);
		return 2;
	}
	uint64_t count = strtoull(argv[3], NULL, 10);
	size_t size = strtoull(argv[4], NULL, 10);
	if (count == 0 || size < 8 || size > (1u << 30)) {
		fputs(USAGE, stderr);
		return 2;
	}
	void *ctx = zmq_ctx_new();
	int is_pull = strcmp(argv[1], "pull") == 0;
	void *s = sock(ctx, is_pull ? ZMQ_PULL : ZMQ_PUSH, argv[2]);
	int rc = is_pull ? pull(s, count, size) : push(s, count, size);
	zmq_close(s);
	zmq_ctx_term(ctx);
	return rc;
}
