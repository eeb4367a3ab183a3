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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "test-util.h"

struct pair {
	uint64_t seq, value;
};

/* Stage i (0 = gen, stages-1 = sink) reads ep[i-1] and writes ep[i]; stage
 * i runs on core[i % 2], as the supervisor alternates a chain. Every middle
 * stage doubles, so the sink checks value = seq << shift (stages - 2). */
struct pipeline {
	uint64_t count;
	int core[2], stages, shift;
	char ep[64][64];
};

struct stage {
	const struct pipeline *pl;
	int i;
};

static void pin(int core)
{
	int rc = tu_pin_cpu(core);
	if (rc < 0) {
		fprintf(stderr, "zmq-pipeline: cannot pin to core %d: %s\n", core, strerror(-rc));
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

/* The last stage: every message in order, doubled by each middle stage. */
static int sink(void *in, const struct pipeline *pl)
{
	struct pair p;
	uint64_t first = 0;
	for (uint64_t n = 0; n < pl->count; n++) {
		if (zmq_recv(in, &p, sizeof(p), 0) != sizeof(p) || p.seq != n ||
		    p.value != n << pl->shift) {
			fprintf(stderr, "sink: bad message at %llu\n", (unsigned long long)n);
			return 1;
		}
		if (n == 0)
			first = tu_now_ns();
	}
	printf("received %llu in order; %.2f M msg/s\n", (unsigned long long)pl->count,
	       (double)pl->count / tu_since_s(first) / 1e6);
	fflush(stdout); /* tu_fork's child leaves by _exit, which does not flush */
	return 0;
}

/* Stage i >= 1 in its own process: a doubler, or the sink. */
static int stage_main(void *arg)
{
	const struct stage *st = arg;
	const struct pipeline *pl = st->pl;
	pin(pl->core[st->i % 2]);
	void *ctx = zmq_ctx_new();
	void *in = sock(ctx, ZMQ_PULL, pl->ep[st->i - 1], 1);
	if (st->i == pl->stages - 1)
		return sink(in, pl);
	void *out = sock(ctx, ZMQ_PUSH, pl->ep[st->i], 0);
	struct pair p;
	for (uint64_t n = 0; n < pl->count; n++) {
		if (zmq_recv(in, &p, sizeof(p), 0) != sizeof(p))
			return 1;
		p.value *= 2;
		zmq_send(out, &p, sizeof(p), 0);
	}
	zmq_close(in);
	zmq_close(out); /* linger (default: forever) flushes what is queued */
	zmq_ctx_term(ctx);
	return 0;
}

/* Stage 0, in this process. */
static void gen(const struct pipeline *pl)
{
	pin(pl->core[0]);
	void *ctx = zmq_ctx_new();
	void *out = sock(ctx, ZMQ_PUSH, pl->ep[0], 0);
	for (uint64_t n = 0; n < pl->count; n++) {
		struct pair p = { n, n };
		zmq_send(out, &p, sizeof(p), 0);
	}
	zmq_close(out);
	zmq_ctx_term(ctx);
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 4 && argc != 5) {
		fprintf(stderr, "usage: zmq-pipeline COUNT [CORE_A CORE_B [STAGES]]   (STAGES >= 3, default 3)\n");
		return 2;
	}
	struct pipeline pl = {
		.count = strtoull(argv[1], NULL, 10),
		.core = { argc >= 4 ? atoi(argv[2]) : 0, argc >= 4 ? atoi(argv[3]) : 1 },
		.stages = argc == 5 ? atoi(argv[4]) : 3,
	};
	if (pl.stages < 3 || pl.stages > 64) {
		fprintf(stderr, "zmq-pipeline: STAGES must be 3 to 64\n");
		return 2;
	}
	pl.shift = pl.stages - 2;
	for (int i = 0; i < pl.stages - 1; i++)
		snprintf(pl.ep[i], sizeof(pl.ep[i]), "ipc:///tmp/shmring-zmqpipe-%d-%d", (int)getpid(), i);
	struct stage st[64];
	pid_t pid[64];
	int bad = 0, started = 1; /* stages started: started .. stages-1 */
	for (int i = pl.stages - 1; i >= 1; i--) {
		st[i] = (struct stage){ &pl, i };
		pid[i] = tu_fork(stage_main, &st[i]);
		if (pid[i] < 0) {
			fprintf(stderr, "zmq-pipeline: cannot start stage %d: %s\n", i, strerror(-pid[i]));
			started = i + 1;
			bad = 1;
			break;
		}
	}
	if (!bad)
		gen(&pl);
	for (int i = started; i < pl.stages; i++) {
		if (bad)
			kill(pid[i], SIGKILL); /* stages without their gen would wait forever */
		if (tu_reap(pid[i]) != 0)
			bad = 1;
	}
	for (int i = 0; i < pl.stages - 1; i++)
		unlink(pl.ep[i] + 6);
	return bad;
}
