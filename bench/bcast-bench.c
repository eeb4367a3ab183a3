/* SPDX-License-Identifier: MIT */
/*
 * bcast-bench: one producer, four readers, three ways (bench/bcast-bench.sh
 * runs them side by side and computes the ratios):
 *
 *   bcast-bench src SIZE COUNT   a kernel: COUNT messages of SIZE bytes on
 *                                "out" (a broadcast ring to 4 readers, or an
 *                                SPSC ring to the fan-out kernel)
 *   bcast-bench copy             a kernel: the fan-out a user writes today,
 *                                each message of "in" copied into o0..o3
 *   bcast-bench sink             a kernel: reads "in" to the end, zero-copy
 *   bcast-bench zmq SIZE COUNT   ZeroMQ PUB/SUB: a publisher and 4
 *                                subscribers over ipc://, forked and pinned
 *                                as the supervisor places the 5 kernels of
 *                                the broadcast topology (0, 1, 0, 1, 0)
 *   bcast-bench iox SIZE COUNT   iceoryx (Debian's package, C binding): a
 *                                publisher and 4 subscribers, zero-copy
 *                                loans, lossless, each subscriber waiting in
 *                                a WaitSet; placed as the ZeroMQ case. Needs
 *                                a running iox-roudi with
 *                                bench/iceoryx-roudi.toml (bcast-bench.sh
 *                                starts one); only in a build that found
 *                                iceoryx_binding_c
 *
 * Every reader reads each message (an 8-byte word of every 64-byte line
 * summed), as a reader that uses the data does; a copying transport has
 * written every line already. The source prints "start NS" (CLOCK_MONOTONIC,
 * before its first message), each reader "end NS COUNT SUM" at end of
 * stream: the script's rate is COUNT / (last end - start). ZeroMQ runs with
 * no high-water mark (lossless, like a blocking broadcast ring) and prints
 * the same lines. Exit 1 on a short count or a wrong sum.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include <zmq.h>

#include "test-util.h"

#define READERS 4

/* Message i: every 64-byte line's first word is i + line, so the readers'
 * sums check what they read. */
static void fill(uint8_t *p, size_t len, uint64_t i)
{
	for (size_t off = 0; off + 8 <= len; off += 64) {
		uint64_t v = i + off / 64;
		memcpy(p + off, &v, 8);
	}
}

static uint64_t touch(const uint8_t *p, size_t len)
{
	uint64_t s = 0;
	for (size_t off = 0; off + 8 <= len; off += 64) {
		uint64_t v;
		memcpy(&v, p + off, 8);
		s += v;
	}
	return s;
}

/* What COUNT messages of len bytes sum to, as touch reads them. */
static uint64_t expected_sum(size_t len, uint64_t count)
{
	uint64_t lines = (len + 56) / 64, s = 0; /* lines with a whole first word */
	for (uint64_t l = 0; l < lines; l++)
		s += count * l + count * (count - 1) / 2;
	return s;
}

/* A reader's last line; 1 when its sum says it read something else than
 * n messages of len bytes, in order. */
static int report(uint64_t n, size_t len, uint64_t sum)
{
	printf("end %llu %llu %llu\n", (unsigned long long)tu_now_ns(), (unsigned long long)n,
	       (unsigned long long)sum);
	fflush(stdout);
	if (n && sum != expected_sum(len, n)) {
		fprintf(stderr, "bcast-bench: %llu messages of %zu bytes read wrong (sum %llu)\n",
			(unsigned long long)n, len, (unsigned long long)sum);
		return 1;
	}
	return 0;
}

static struct shmring_kernel *attach_or_die(void)
{
	struct shmring_kernel *k;
	int rc = shmring_kernel_attach(&k);
	if (rc == -ECANCELED)
		exit(0);
	if (rc < 0) {
		fprintf(stderr, "bcast-bench: %s\n", shmring_errmsg());
		exit(SHMRING_EXIT_CONFIG);
	}
	return k;
}

static struct shmring *port(struct shmring_kernel *k, const char *name)
{
	struct shmring *r = shmring_kernel_port(k, name);
	if (!r) {
		fprintf(stderr, "bcast-bench: no port '%s': %s\n", name, shmring_errmsg());
		exit(SHMRING_EXIT_CONFIG);
	}
	return r;
}

static int src_main(size_t size, uint64_t count)
{
	struct shmring_kernel *k = attach_or_die();
	struct shmring *out = port(k, "out");
	printf("start %llu\n", (unsigned long long)tu_now_ns());
	for (uint64_t i = 0; i < count; i++) {
		void *p;
		int rc = shmring_reserve(out, size, &p, -1);
		if (rc < 0) {
			fprintf(stderr, "bcast-bench: reserve: %s\n", shmring_errmsg());
			return 1;
		}
		fill(p, size, i);
		shmring_commit(out, size);
	}
	return shmring_kernel_detach(k);
}

/* Next message of in, waiting: 1 with *p, *len; 0 at end of stream. */
static int next(struct shmring *in, const void **p, size_t *len)
{
	for (;;) {
		int rc = shmring_peek(in, p, len, -1);
		if (rc > 0)
			return 1;
		if (rc == 0)
			return 0;
		if (rc != -EINTR && rc != -EAGAIN && rc != -ETIMEDOUT) {
			fprintf(stderr, "bcast-bench: peek: %s\n", shmring_errmsg());
			exit(1);
		}
	}
}

static int sink_main(void)
{
	struct shmring_kernel *k = attach_or_die();
	struct shmring *in = port(k, "in");
	uint64_t n = 0, sum = 0;
	const void *p;
	size_t len = 0, size = 0;
	while (next(in, &p, &len)) {
		sum += touch(p, len);
		shmring_release(in);
		size = len;
		n++;
	}
	if (report(n, size, sum))
		return 1;
	return shmring_kernel_detach(k);
}

static int copy_main(void)
{
	struct shmring_kernel *k = attach_or_die();
	struct shmring *in = port(k, "in"), *out[READERS];
	char name[8];
	for (int i = 0; i < READERS; i++) {
		snprintf(name, sizeof(name), "o%d", i);
		out[i] = port(k, name);
	}
	const void *p;
	size_t len;
	while (next(in, &p, &len)) {
		for (int i = 0; i < READERS; i++) {
			void *q;
			if (shmring_reserve(out[i], len, &q, -1) < 0) {
				fprintf(stderr, "bcast-bench: reserve: %s\n", shmring_errmsg());
				return 1;
			}
			memcpy(q, p, len);
			shmring_commit(out[i], len);
		}
		shmring_release(in);
	}
	return shmring_kernel_detach(k); /* closes the outputs: end of stream */
}

/* ---- ZeroMQ PUB/SUB ---------------------------------------------------- */

static void zset(void *s, int opt, int v)
{
	if (zmq_setsockopt(s, opt, &v, sizeof(v)) < 0) {
		fprintf(stderr, "bcast-bench: zmq_setsockopt %d: %s\n", opt, zmq_strerror(errno));
		exit(1);
	}
}

static int zmq_sub(const char *pub, const char *ready, int cpu)
{
	if (tu_pin_cpu(cpu) < 0)
		return 2;
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_SUB), *r = zmq_socket(ctx, ZMQ_PUSH);
	zset(s, ZMQ_RCVHWM, 0);
	zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	if (zmq_connect(s, pub) < 0 || zmq_connect(r, ready) < 0)
		return 1;
	/* Subscribed: say so until the publisher's first message arrives (a
	 * subscription takes a moment to reach it; PUB drops what no
	 * subscriber has asked for yet). */
	zmq_msg_t m;
	zmq_msg_init(&m);
	uint64_t n = 0, sum = 0;
	size_t size = 0;
	int first = 1;
	for (;;) {
		if (first) {
			zmq_send(r, "r", 1, ZMQ_DONTWAIT);
			zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
			if (zmq_poll(&it, 1, 20) <= 0)
				continue;
		}
		if (zmq_msg_recv(&m, s, 0) < 0)
			return 1;
		size_t len = zmq_msg_size(&m);
		if (len == 1 && first)
			continue; /* the publisher's "are you there" */
		first = 0;
		if (len == 0)
			break; /* end of stream */
		sum += touch(zmq_msg_data(&m), len);
		size = len;
		n++;
	}
	int bad = report(n, size, sum);
	zmq_msg_close(&m);
	zmq_close(s);
	zmq_close(r);
	zmq_ctx_term(ctx);
	return bad;
}

static int zmq_main(size_t size, uint64_t count)
{
	char pub[64], ready[64];
	snprintf(pub, sizeof(pub), "ipc:///tmp/shmring-bcast-bench-%d.pub", (int)getpid());
	snprintf(ready, sizeof(ready), "ipc:///tmp/shmring-bcast-bench-%d.ready", (int)getpid());
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PUB), *r = zmq_socket(ctx, ZMQ_PULL);
	zset(s, ZMQ_SNDHWM, 0); /* lossless: PUB drops at its high-water mark */
	zset(s, ZMQ_LINGER, -1);
	if (zmq_bind(s, pub) < 0 || zmq_bind(r, ready) < 0) {
		fprintf(stderr, "bcast-bench: zmq_bind: %s\n", zmq_strerror(errno));
		return 1;
	}
	fflush(stdout);
	pid_t kids[READERS];
	for (int i = 0; i < READERS; i++) {
		if ((kids[i] = fork()) == 0)
			_exit(zmq_sub(pub, ready, (i + 1) % 2));
	}
	if (tu_pin_cpu(0) < 0)
		return 2;
	/* Every subscriber says it is subscribed; a probe is sent until each
	 * has seen one, so none misses the first real message. */
	int seen = 0;
	char b[4];
	while (seen < READERS) {
		zmq_send(s, "p", 1, 0);
		zmq_pollitem_t it = { r, 0, ZMQ_POLLIN, 0 };
		if (zmq_poll(&it, 1, 10) > 0 && zmq_recv(r, b, sizeof(b), 0) >= 0)
			seen++;
	}
	tu_sleep_ms(100); /* the last probes drain: subscribers skip them */
	uint8_t *msg = malloc(size);
	printf("start %llu\n", (unsigned long long)tu_now_ns());
	fflush(stdout);
	for (uint64_t i = 0; i < count; i++) {
		fill(msg, size, i);
		if (zmq_send(s, msg, size, 0) < 0)
			return 1;
	}
	zmq_send(s, "", 0, 0);
	int rc = 0;
	for (int i = 0; i < READERS; i++)
		rc |= tu_reap(kids[i]);
	free(msg);
	zmq_close(s);
	zmq_close(r);
	zmq_ctx_term(ctx);
	unlink(pub + 6);
	unlink(ready + 6);
	return rc ? 1 : 0;
}

/* ---- iceoryx publish/subscribe ----------------------------------------- */

#ifdef BCAST_BENCH_ICEORYX
#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/wait_set.h>

/* Each process registers its own runtime (forked first: a runtime does not
 * survive fork) and leaves with exit() so it deregisters and RouDi gets its
 * chunks back. */
static void iox_start(const char *who)
{
	char name[64];
	snprintf(name, sizeof(name), "bcast-bench-%s-%d", who, (int)getpid());
	iox_set_loglevel(Iceoryx_LogLevel_Warn);
	iox_runtime_init(name);
}

/* A subscriber: COUNT chunks read in place, released one by one, waiting in
 * a WaitSet when its queue is empty (iceoryx's blocking way to wait, as in
 * its examples). *subscribed counts the subscribers connected. */
static int iox_sub(const char *inst, size_t size, uint64_t count, int cpu, int *subscribed)
{
	iox_sub_storage_t ss;
	iox_ws_storage_t ws_s;
	iox_sub_options_t o;
	/* Gone with the publisher's process (the script's timeout kills
	 * that one): a subscriber never outlives its run. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (tu_pin_cpu(cpu) < 0)
		return 2;
	iox_start("sub");
	iox_sub_options_init(&o);
	o.queueCapacity = size > 65536 ? 16 : 256; /* RouDi's pools: bench/iceoryx-roudi.toml */
	o.historyRequest = 0;
	o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER; /* lossless */
	iox_sub_t s = iox_sub_init(&ss, "bcast-bench", inst, "data", &o);
	iox_ws_t ws = iox_ws_init(&ws_s);
	if (iox_ws_attach_subscriber_state(ws, s, SubscriberState_HAS_DATA, 0, NULL) !=
	    WaitSetResult_SUCCESS)
		exit(1);
	while (iox_sub_get_subscription_state(s) != SubscribeState_SUBSCRIBED)
		usleep(1000);
	__atomic_add_fetch(subscribed, 1, __ATOMIC_RELEASE);
	uint64_t sum = 0;
	for (uint64_t n = 0; n < count; n++) {
		const void *p;
		while (iox_sub_take_chunk(s, &p) != ChunkReceiveResult_SUCCESS) {
			iox_notification_info_t info[1];
			uint64_t missed;
			iox_ws_wait(ws, info, 1, &missed);
		}
		sum += touch(p, size);
		iox_sub_release_chunk(s, p);
	}
	int bad = report(count, size, sum);
	iox_ws_deinit(ws);
	iox_sub_deinit(s);
	fflush(NULL);
	exit(bad);
}

/* The run failed: the subscribers would wait for ever. 1. */
static int give_up(const pid_t *kids)
{
	for (int i = 0; i < READERS; i++)
		kill(kids[i], SIGKILL);
	return 1;
}

static int iox_main(size_t size, uint64_t count)
{
	/* RouDi's management segment: without it iox_runtime_init would wait
	 * a minute and abort with iceoryx's own messages. */
	if (access("/dev/shm/iceoryx_mgmt", F_OK) < 0) {
		fprintf(stderr, "bcast-bench: iceoryx: no RouDi running: start iox-roudi -m off -c "
				"bench/iceoryx-roudi.toml (bench/bcast-bench.sh does)\n");
		return 1;
	}
	char inst[32];
	snprintf(inst, sizeof(inst), "b%d", (int)getpid());
	/* The subscribers' count of themselves, in memory the forks share. */
	int *subscribed = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (subscribed == MAP_FAILED)
		return 1;
	fflush(stdout);
	pid_t kids[READERS];
	for (int i = 0; i < READERS; i++)
		if ((kids[i] = fork()) == 0)
			iox_sub(inst, size, count, (i + 1) % 2, subscribed);
	if (tu_pin_cpu(0) < 0)
		return 2;
	iox_start("pub");
	iox_pub_storage_t ps;
	iox_pub_options_t o;
	iox_pub_options_init(&o);
	o.historyCapacity = 0;
	o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER; /* lossless */
	iox_pub_t pub = iox_pub_init(&ps, "bcast-bench", inst, "data", &o);
	int rc = 0;
	/* Acquire: pairs with each subscriber's release increment. */
	for (int t = 0; __atomic_load_n(subscribed, __ATOMIC_ACQUIRE) < READERS; t++) {
		if (t == 10000) {
			fprintf(stderr, "bcast-bench: iceoryx: 4 subscribers not connected after 10 s "
					"(is iox-roudi running with bench/iceoryx-roudi.toml?)\n");
			rc = give_up(kids);
			break;
		}
		usleep(1000);
	}
	if (!rc)
		printf("start %llu\n", (unsigned long long)tu_now_ns());
	fflush(stdout);
	for (uint64_t i = 0; i < count && !rc; i++) {
		void *p;
		if (iox_pub_loan_chunk(pub, &p, (uint32_t)size) != AllocationResult_SUCCESS) {
			fprintf(stderr, "bcast-bench: iceoryx: no %zu-byte chunk (RouDi's pools: "
					"bench/iceoryx-roudi.toml)\n", size);
			rc = give_up(kids);
			break;
		}
		fill(p, size, i);
		iox_pub_publish_chunk(pub, p);
	}
	for (int i = 0; i < READERS; i++)
		rc |= tu_reap(kids[i]);
	iox_pub_deinit(pub);
	fflush(NULL);
	exit(rc ? 1 : 0); /* the runtime's destructor deregisters */
}
#endif

int main(int argc, char **argv)
{
	if (argc == 4 && (!strcmp(argv[1], "src") || !strcmp(argv[1], "zmq") || !strcmp(argv[1], "iox"))) {
		size_t size = strtoull(argv[2], NULL, 0);
		uint64_t count = strtoull(argv[3], NULL, 0);
		if (size < 8 || !count) {
			fprintf(stderr, "bcast-bench: SIZE at least 8, COUNT at least 1\n");
			return SHMRING_EXIT_CONFIG;
		}
		if (argv[1][0] == 'i') {
#ifdef BCAST_BENCH_ICEORYX
			return iox_main(size, count);
#else
			fprintf(stderr, "bcast-bench: built without iceoryx (apt-get install "
					"libiceoryx-binding-c-dev, then reconfigure)\n");
			return SHMRING_EXIT_CONFIG;
#endif
		}
		return argv[1][0] == 's' ? src_main(size, count) : zmq_main(size, count);
	}
	if (argc == 2 && !strcmp(argv[1], "sink"))
		return sink_main();
	if (argc == 2 && !strcmp(argv[1], "copy"))
		return copy_main();
	fprintf(stderr, "usage: bcast-bench src SIZE COUNT | sink | copy   (kernels: run with "
		"shmring-supervisor)\n       bcast-bench zmq|iox SIZE COUNT\n");
	return SHMRING_EXIT_CONFIG;
}
