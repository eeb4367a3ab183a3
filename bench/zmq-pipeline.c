/* SPDX-License-Identifier: MIT */
/*
 * zmq-pipeline: the doubler of examples/doubler over ZeroMQ ipc:// instead of
 * shmring, as a user would write it: gen PUSH -> double PULL/PUSH -> sink
 * PULL, three processes pinned like shmring-supervisor places the doubler
 * (gen and sink on core A, double on core B), 16-byte messages, the same
 * checks in the sink (in order, value = 2 * seq). The sink prints the same
 * rate line as examples/doubler/sink, from its first message to its last.
 * With STAGES > 3, STAGES - 2 doublers in a chain, stages alternating
 * between the cores (the 8-stage pipeline of bench/supervisor-bench.sh).
 *
 *   zmq-pipeline COUNT [CORE_A CORE_B [STAGES]]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

struct pair {
	uint64_t seq, value;
};

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin(int core)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(core, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("sched_setaffinity");
		_exit(2);
	}
}

static void *sock(void *ctx, int type, const char *ep, int bind)
{
	void *s = zmq_socket(ctx, type);
	int hwm = 0; /* unbounded queues both ways, as ZeroMQ users commonly do */
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) != 0) {
		fprintf(stderr, "zmq %s %s: %s\n", bind ? "bind" : "connect", ep, zmq_strerror(zmq_errno()));
		_exit(2);
	}
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 4 && argc != 5) {
		fprintf(stderr, "usage: zmq-pipeline COUNT [CORE_A CORE_B [STAGES]]   (STAGES >= 3, default 3)\n");
		return 2;
	}
	uint64_t count = strtoull(argv[1], NULL, 10);
	int core[2] = { argc >= 4 ? atoi(argv[2]) : 0, argc >= 4 ? atoi(argv[3]) : 1 };
	int stages = argc == 5 ? atoi(argv[4]) : 3;
	if (stages < 3 || stages > 64) {
		fprintf(stderr, "zmq-pipeline: STAGES must be 3 to 64\n");
		return 2;
	}
	/* Stage i (0 = gen, stages-1 = sink) reads ep[i-1] and writes ep[i];
	 * stage i runs on core[i % 2], as the supervisor alternates a chain.
	 * Every middle stage doubles, so the sink checks value = seq << (stages-2). */
	char ep[64][64];
	for (int i = 0; i < stages - 1; i++)
		snprintf(ep[i], sizeof(ep[i]), "ipc:///tmp/shmring-zmqpipe-%d-%d", (int)getpid(), i);
	pid_t pid[64];
	int shift = stages - 2;
	for (int i = stages - 1; i >= 1; i--) {
		fflush(NULL);
		pid[i] = fork();
		if (pid[i] != 0)
			continue;
		pin(core[i % 2]);
		void *ctx = zmq_ctx_new();
		void *in = sock(ctx, ZMQ_PULL, ep[i - 1], 1);
		struct pair p;
		if (i == stages - 1) { /* sink */
			double first = 0;
			for (uint64_t n = 0; n < count; n++) {
				if (zmq_recv(in, &p, sizeof(p), 0) != sizeof(p) || p.seq != n ||
				    p.value != n << shift) {
					fprintf(stderr, "sink: bad message at %llu\n", (unsigned long long)n);
					_exit(1);
				}
				if (n == 0)
					first = seconds();
			}
			double took = seconds() - first;
			printf("received %llu in order; %.2f M msg/s\n", (unsigned long long)count,
			       (double)count / took / 1e6);
			fflush(stdout);
			_exit(0);
		}
		void *out = sock(ctx, ZMQ_PUSH, ep[i], 0);
		for (uint64_t n = 0; n < count; n++) {
			if (zmq_recv(in, &p, sizeof(p), 0) != sizeof(p))
				_exit(1);
			p.value *= 2;
			zmq_send(out, &p, sizeof(p), 0);
		}
		zmq_close(in);
		zmq_close(out); /* linger (default: forever) flushes what is queued */
		zmq_ctx_term(ctx);
		_exit(0);
	}
	pin(core[0]);
	void *ctx = zmq_ctx_new();
	void *out = sock(ctx, ZMQ_PUSH, ep[0], 0);
	for (uint64_t n = 0; n < count; n++) {
		struct pair p = { n, n };
		zmq_send(out, &p, sizeof(p), 0);
	}
	zmq_close(out);
	zmq_ctx_term(ctx);
	int st, bad = 0;
	for (int i = 1; i < stages; i++)
		if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	for (int i = 0; i < stages - 1; i++)
		unlink(ep[i] + 6);
	return bad;
}
