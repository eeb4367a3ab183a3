/* SPDX-License-Identifier: MIT */
/*
 * zmq-pipeline: the doubler of examples/doubler over ZeroMQ ipc:// instead of
 * shmring, as a user would write it: gen PUSH -> double PULL/PUSH -> sink
 * PULL, three processes pinned like shmring-supervisor places the doubler
 * (gen and sink on core A, double on core B), 16-byte messages, the same
 * checks in the sink (in order, value = 2 * seq). The sink prints the same
 * rate line as examples/doubler/sink, from its first message to its last.
 *
 *   zmq-pipeline COUNT [CORE_A CORE_B]
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
	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: zmq-pipeline COUNT [CORE_A CORE_B]\n");
		return 2;
	}
	uint64_t count = strtoull(argv[1], NULL, 10);
	int a = argc == 4 ? atoi(argv[2]) : 0, b = argc == 4 ? atoi(argv[3]) : 1;
	char ep1[64], ep2[64];
	snprintf(ep1, sizeof(ep1), "ipc:///tmp/shmring-zmqpipe-%d-1", (int)getpid());
	snprintf(ep2, sizeof(ep2), "ipc:///tmp/shmring-zmqpipe-%d-2", (int)getpid());
	fflush(NULL);
	pid_t sink = fork();
	if (sink == 0) {
		pin(a);
		void *ctx = zmq_ctx_new();
		void *in = sock(ctx, ZMQ_PULL, ep2, 1);
		struct pair p;
		double first = 0;
		for (uint64_t n = 0; n < count; n++) {
			if (zmq_recv(in, &p, sizeof(p), 0) != sizeof(p) || p.seq != n || p.value != 2 * n) {
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
	pid_t dbl = fork();
	if (dbl == 0) {
		pin(b);
		void *ctx = zmq_ctx_new();
		void *in = sock(ctx, ZMQ_PULL, ep1, 1);
		void *out = sock(ctx, ZMQ_PUSH, ep2, 0);
		struct pair p;
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
	pin(a);
	void *ctx = zmq_ctx_new();
	void *out = sock(ctx, ZMQ_PUSH, ep1, 0);
	for (uint64_t n = 0; n < count; n++) {
		struct pair p = { n, n };
		zmq_send(out, &p, sizeof(p), 0);
	}
	zmq_close(out);
	zmq_ctx_term(ctx);
	int st, bad = 0;
	if (waitpid(dbl, &st, 0) != dbl || !WIFEXITED(st) || WEXITSTATUS(st))
		bad = 1;
	if (waitpid(sink, &st, 0) != sink || !WIFEXITED(st) || WEXITSTATUS(st))
		bad = 1;
	unlink(ep1 + 6);
	unlink(ep2 + 6);
	return bad;
}
