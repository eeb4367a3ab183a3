/* SPDX-License-Identifier: MIT */
/*
 * frames-bench SIZE COUNT [CPU_TX CPU_RX]: the C side of pybench.py's
 * "frames" case, the same work done in C so the Python binding's zero-copy
 * rate has its ceiling beside it (docs/python.md, "Benchmark").
 *
 * One process (pinned to CPU_TX, default 0) writes COUNT frames of SIZE
 * bytes of float32 straight into a ring (reserve, a copy of a prepared
 * frame into the reservation, commit), as frames.py does with numpy
 * (np.frombuffer(buf, np.float32)[:] = frame). A forked process (CPU_RX,
 * default 1) sums each frame where it lies (peek, a vectorised sum of every
 * float, release), as framestats.py does (np.frombuffer(view).sum()). The
 * ring is sized as pybench.py sizes its own: the larger of 1 MiB and four
 * frames. Prints frames per second at the receiver (first to last frame).
 * Exit 1 if a frame's sum is wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/shmring.h>

#include "test-util.h"

typedef float v4f __attribute__((vector_size(16)));

/* Every float of a frame, in 4 vector accumulators (as numpy's pairwise
 * sum keeps several lanes going); len a multiple of 64 bytes. */
static float frame_sum(const void *p, size_t len)
{
	v4f a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 }, x;
	const uint8_t *q = p;
	for (size_t off = 0; off + 64 <= len; off += 64) {
		memcpy(&x, q + off, 16), a += x;
		memcpy(&x, q + off + 16, 16), b += x;
		memcpy(&x, q + off + 32, 16), c += x;
		memcpy(&x, q + off + 48, 16), d += x;
	}
	v4f s = a + b + c + d;
	return s[0] + s[1] + s[2] + s[3];
}

static int receiver(const char *fd, uint64_t count, size_t size, float want, int cpu)
{
	struct shmring *r;
	if (tu_pin_cpu(cpu) < 0 || shmring_attach(fd, SHMRING_ROLE_CONSUMER, &r) < 0) {
		fprintf(stderr, "frames-bench: %s\n", shmring_errmsg());
		return 1;
	}
	uint64_t t0 = 0;
	int bad = 0;
	for (uint64_t i = 0; i < count; i++) {
		const void *p;
		size_t len;
		int rc = shmring_peek(r, &p, &len, -1);
		if (rc <= 0 || len != size) {
			fprintf(stderr, "frames-bench: frame %llu: peek %d, %zu bytes\n",
				(unsigned long long)i, rc, len);
			return 1;
		}
		if (i == 0)
			t0 = tu_now_ns();
		bad |= frame_sum(p, len) != want;
		shmring_release(r);
	}
	uint64_t t1 = tu_now_ns();
	printf("%.1f\n", count > 1 ? (double)(count - 1) / ((double)(t1 - t0) / 1e9) : 0.0);
	fflush(stdout);
	if (bad)
		fprintf(stderr, "frames-bench: a frame summed wrong\n");
	shmring_detach(r);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 5) {
		fprintf(stderr, "usage: frames-bench SIZE COUNT [CPU_TX CPU_RX]\n");
		return SHMRING_EXIT_CONFIG;
	}
	size_t size = strtoull(argv[1], NULL, 0);
	uint64_t count = strtoull(argv[2], NULL, 0);
	int ctx = argc == 5 ? atoi(argv[3]) : 0, crx = argc == 5 ? atoi(argv[4]) : 1;
	if (size < 64 || size % 64 || !count) {
		fprintf(stderr, "frames-bench: SIZE a multiple of 64, COUNT at least 1\n");
		return SHMRING_EXIT_CONFIG;
	}
	float *frame = malloc(size);
	if (!frame)
		return 1;
	for (size_t j = 0; j < size / 4; j++)
		frame[j] = (float)(j % 7); /* small integers: every order sums exactly */
	float want = frame_sum(frame, size);
	struct shmring_opts o;
	struct shmring *owner, *tx;
	shmring_opts_init(&o);
	o.capacity = size * 4 + 4096 > (1u << 20) ? size * 4 + 4096 : (1u << 20);
	if (shmring_create(NULL, &o, &owner) < 0) {
		fprintf(stderr, "frames-bench: %s\n", shmring_errmsg());
		return 1;
	}
	char fd[32];
	snprintf(fd, sizeof(fd), "fd:%d", shmring_fd(owner));
	fflush(stdout);
	pid_t kid = fork();
	if (kid == 0)
		_exit(receiver(fd, count, size, want, crx));
	if (tu_pin_cpu(ctx) < 0 || shmring_attach(fd, SHMRING_ROLE_PRODUCER, &tx) < 0) {
		fprintf(stderr, "frames-bench: %s\n", shmring_errmsg());
		return 1;
	}
	for (uint64_t i = 0; i < count; i++) {
		void *p;
		if (shmring_reserve(tx, size, &p, -1) < 0) {
			fprintf(stderr, "frames-bench: reserve: %s\n", shmring_errmsg());
			return 1;
		}
		memcpy(p, frame, size);
		shmring_commit(tx, size);
	}
	shmring_flush(tx);
	int rc = tu_reap(kid);
	shmring_detach(tx);
	shmring_detach(owner);
	free(frame);
	return rc ? 1 : 0;
}
