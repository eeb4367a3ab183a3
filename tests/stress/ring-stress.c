/* SPDX-License-Identifier: MIT */
/*
 * ring-stress: a producer and a consumer process push N sequence-numbered,
 * checksummed messages of random sizes (many of them large enough to force
 * wrap-around) through one ring, in one wait strategy. Every message is
 * checked byte for byte; a watchdog kills both and fails the test instead of
 * hanging. With --threads the two ends are threads of one process, so
 * ThreadSanitizer can check the protocol.
 *
 *   ring-stress [--wait spin|yield|futex|adaptive] [--messages N]
 *               [--capacity BYTES] [--watchdog SECONDS] [--threads] [--batch N]
 *               [--crash-consumer K] [--pieces] [--pauses]
 *
 * --pauses: the producer stops for 1 to 23 us, busy outside the library,
 * every 61 messages, so a consumer that waits for what it holds takes the
 * held header itself (adaptive publication, docs/ring.md); with --batch
 * above 1 (a hold at every pause) the run must have seen such a take.
 *
 * --pieces: 1 in 64 messages of the copying path is up to 3 rings long, so
 * send and recv carry it in pieces, across pads, wrap-around and batches.
 *
 * --crash-consumer K kills the consumer with SIGKILL K times mid-stream and
 * starts a new one each time: it takes the role over and must see every
 * message at least once, the redelivered ones intact, none missing.
 *
 * Exit: 0 all messages delivered intact and in order; 1 a check failed or
 * the watchdog fired; 100 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmring/ring.h>
#include "../common/test-util.h"

#define USAGE "usage: ring-stress [--wait spin|yield|futex|adaptive] [--messages N] " \
	      "[--capacity BYTES] [--watchdog SECONDS] [--threads] [--batch N] [--pauses] " \
	      "[--crash-consumer K] [--pieces]\n"

struct cfg {
	enum shmring_wait wait;
	uint64_t messages;
	size_t capacity;
	unsigned watchdog;
	int threads;
	unsigned batch;
	unsigned crash_consumer;  /* SIGKILL the consumer this many times */
	int pauses;               /* the producer goes quiet every 61 messages */
	struct progress *prog;    /* shared with every consumer incarnation */
	char where[32];
	size_t max_len;
};

/* Survives consumer crashes: lives in a shared anonymous mapping. */
struct progress {
	_Atomic uint64_t next_seq;   /* next message no consumer has verified */
	_Atomic uint64_t duplicates; /* redelivered after a crash, found intact */
};

struct msg_hdr {
	uint64_t seq;
	uint32_t len;
	uint32_t sum;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* --pieces: the longest message, sent in pieces (0: none). */
static size_t piece_max;

/* Deterministic size of message seq: mostly small, 1 in 32 up to the
 * largest the ring takes, so records land everywhere and wrap often; with
 * --pieces, half of those on the copying path (odd seq) up to piece_max. */
static size_t msg_len(uint64_t seq, size_t max_len)
{
	uint64_t x = mix(seq);
	size_t min = sizeof(struct msg_hdr);
	if ((x & 31) == 0 && piece_max && (seq & 1) && (x & 32))
		return min + (size_t)((x >> 8) % (piece_max - min + 1));
	if ((x & 31) == 0)
		return min + (size_t)((x >> 8) % (max_len - min + 1));
	return min + (size_t)((x >> 8) % 241);
}

static inline uint64_t pattern(uint64_t seq, size_t i)
{
	return (seq * 0x9e3779b97f4a7c15ull) ^ (i * 0x100000001b3ull);
}

/* Fill the payload after the header; returns its checksum. */
static uint32_t fill(uint8_t *p, uint64_t seq, size_t len)
{
	uint64_t sum = 0;
	size_t n = len - sizeof(struct msg_hdr), i;
	uint8_t *d = p + sizeof(struct msg_hdr);
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t w = pattern(seq, i);
		memcpy(d + i, &w, 8);
		sum = (sum << 7 | sum >> 57) ^ w;
	}
	for (; i < n; i++) {
		d[i] = (uint8_t)pattern(seq, i);
		sum = (sum << 7 | sum >> 57) ^ d[i];
	}
	struct msg_hdr h = { seq, (uint32_t)len, (uint32_t)(sum ^ (sum >> 32)) };
	memcpy(p, &h, sizeof(h));
	return h.sum;
}

/* Check a received message against what seq must carry. 0 = intact. */
static int verify(const uint8_t *p, size_t len, uint64_t seq, size_t max_len)
{
	struct msg_hdr h;
	if (len < sizeof(h)) {
		fprintf(stderr, "ring-stress: message %llu is %zu bytes, shorter than its header\n",
			(unsigned long long)seq, len);
		return 1;
	}
	memcpy(&h, p, sizeof(h));
	size_t want = msg_len(seq, max_len);
	if (h.seq != seq || h.len != len || len != want) {
		fprintf(stderr, "ring-stress: expected message %llu of %zu bytes, got %llu "
			"claiming %u bytes in a %zu-byte record\n", (unsigned long long)seq,
			want, (unsigned long long)h.seq, h.len, len);
		return 1;
	}
	uint64_t sum = 0;
	size_t n = len - sizeof(h), i;
	const uint8_t *d = p + sizeof(h);
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, d + i, 8);
		if (w != pattern(seq, i))
			goto bad;
		sum = (sum << 7 | sum >> 57) ^ w;
	}
	for (; i < n; i++) {
		if (d[i] != (uint8_t)pattern(seq, i))
			goto bad;
		sum = (sum << 7 | sum >> 57) ^ d[i];
	}
	if ((uint32_t)(sum ^ (sum >> 32)) != h.sum)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "ring-stress: message %llu (%zu bytes) is corrupt at byte %zu\n",
		(unsigned long long)seq, len, i + sizeof(h));
	return 1;
}

static struct shmring *open_end(const struct cfg *c, enum shmring_role role, uint8_t **copy)
{
	struct shmring *r;
	const char *who = role == SHMRING_ROLE_PRODUCER ? "producer" : "consumer";
	if (shmring_attach(c->where, role, &r) < 0) {
		fprintf(stderr, "ring-stress: %s: %s\n", who, shmring_errmsg());
		return NULL;
	}
	shmring_set_wait(r, c->wait, 20);
	shmring_set_batch(r, c->batch);
	*copy = malloc(c->max_len > piece_max ? c->max_len : piece_max);
	if (!*copy) {
		shmring_detach(r);
		return NULL;
	}
	return r;
}

/* A blocked producer is told when its consumer dies; while consumers are
 * being crashed on purpose it waits for the replacement, as a supervised
 * producer would. */
static int retry_dead_consumer(const struct cfg *c, int rc)
{
	if (rc == -EOWNERDEAD && c->crash_consumer) {
		usleep(1000);
		return 1;
	}
	return 0;
}

/* Busy for us microseconds without calling the library. */
static void pause_us(uint64_t us)
{
	uint64_t end = tu_now_ns() + us * 1000;
	while (tu_now_ns() < end)
		;
}

static int produce(void *arg)
{
	const struct cfg *c = arg;
	uint8_t *copy;
	int rc;
	struct shmring *r = open_end(c, SHMRING_ROLE_PRODUCER, &copy);
	if (!r)
		return 1;
	for (uint64_t seq = 0; seq < c->messages; seq++) {
		size_t len = msg_len(seq, c->max_len);
		do {
			if (seq & 1) { /* copying path */
				fill(copy, seq, len);
				rc = shmring_send(r, copy, len, 30000);
			} else {       /* zero-copy path */
				void *buf;
				rc = shmring_reserve(r, len, &buf, 30000);
				if (rc == 0) {
					fill(buf, seq, len);
					rc = shmring_commit(r, len);
				}
			}
		} while (retry_dead_consumer(c, rc));
		if (rc < 0) {
			fprintf(stderr, "ring-stress: producer: message %llu: %s\n",
				(unsigned long long)seq, strerror(-rc));
			return 1;
		}
		if (c->pauses && seq % 61 == 60)
			pause_us(1 + seq % 23);
	}
	shmring_close(r);
	shmring_detach(r);
	free(copy);
	return 0;
}

/*
 * Verify messages in order. With consumers being crashed, a new incarnation
 * resumes at prog->next_seq: messages before it may come again (peeked and
 * verified but not released when the previous one died) and must be intact;
 * from it on, no message may be missing. So crash mode uses peek/release
 * only: recv releases before the caller has looked at the copy.
 */
static int consume(void *arg)
{
	const struct cfg *c = arg;
	uint8_t *copy;
	struct shmring *r = open_end(c, SHMRING_ROLE_CONSUMER, &copy);
	if (!r)
		return 1;
	uint64_t seq = atomic_load(&c->prog->next_seq);
	for (;;) {
		const void *p;
		size_t len;
		ssize_t n;
		int zero_copy = !(seq & 1) || c->crash_consumer;
		if (zero_copy) {
			n = shmring_peek(r, &p, &len, 30000);
		} else {
			n = shmring_recv(r, copy, c->max_len > piece_max ? c->max_len : piece_max, 30000);
			p = copy;
			len = (size_t)n;
		}
		if (n == 0)
			break;
		if (n < 0) {
			fprintf(stderr, "ring-stress: consumer: after %llu messages: %s\n",
				(unsigned long long)seq, strerror((int)-n));
			return 1;
		}
		struct msg_hdr h;
		memcpy(&h, p, len < sizeof(h) ? len : sizeof(h));
		if (c->crash_consumer && len >= sizeof(h) && h.seq < seq) {
			if (verify(p, len, h.seq, c->max_len))
				return 1;
			atomic_fetch_add(&c->prog->duplicates, 1);
			shmring_release(r);
			continue;
		}
		if (verify(p, len, seq, c->max_len))
			return 1;
		seq++;
		atomic_store(&c->prog->next_seq, seq); /* before release: see above */
		if (zero_copy)
			shmring_release(r);
	}
	if (seq != c->messages) {
		fprintf(stderr, "ring-stress: end of stream after %llu of %llu messages\n",
			(unsigned long long)seq, (unsigned long long)c->messages);
		return 1;
	}
	shmring_detach(r);
	free(copy);
	return 0;
}

static void *produce_thread(void *arg)
{
	return (void *)(intptr_t)produce(arg);
}

static void *consume_thread(void *arg)
{
	return (void *)(intptr_t)consume(arg);
}

static int run_threads(struct cfg *c)
{
	pthread_t p, q;
	void *rp, *rq;
	pthread_create(&q, NULL, consume_thread, c);
	pthread_create(&p, NULL, produce_thread, c);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += c->watchdog;
	if (pthread_timedjoin_np(p, &rp, &dl) || pthread_timedjoin_np(q, &rq, &dl)) {
		fprintf(stderr, "ring-stress: watchdog: not done after %u s\n", c->watchdog);
		_exit(1);
	}
	return (intptr_t)rp || (intptr_t)rq;
}

/* A child that never outlives the watchdog (tu_fork), or 0 (none) after one
 * line saying why: a negative pid must never reach kill(). */
static pid_t spawn(int (*fn)(void *), struct cfg *c, const char *who)
{
	pid_t pid = tu_fork(fn, c);
	if (pid > 0)
		return pid;
	fprintf(stderr, "ring-stress: cannot start the %s: %s\n", who, strerror((int)-pid));
	return 0;
}

static int run_processes(struct cfg *c)
{
	pid_t prod = spawn(produce, c, "producer"), cons = prod ? spawn(consume, c, "consumer") : 0;
	if (!cons) {
		if (prod)
			kill(prod, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
		return 1;
	}
	int failed = 0, left = 2;
	unsigned kills = 0;
	time_t deadline = time(NULL) + c->watchdog;
	uint64_t next_kill = 0;
	while (left > 0) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid > 0) {
			left--;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "ring-stress: %s %s %d\n",
					pid == cons ? "consumer" : "producer",
					WIFEXITED(st) ? "exited" : "killed by signal",
					WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
				failed = 1;
			}
			if (pid == cons)
				cons = 0;
			continue;
		}
		uint64_t ms = tu_now_ms();
		if (cons && kills < c->crash_consumer && ms >= next_kill) {
			if (next_kill) { /* not at once: let the first consumer start */
				kill(cons, SIGKILL); /* a crash, mid-message */
				waitpid(cons, NULL, 0);
				kills++;
				cons = spawn(consume, c, "consumer");
				if (!cons) {
					left--; /* the producer waits for it: the watchdog ends it */
					failed = 1;
				}
			}
			next_kill = ms + 15;
		}
		if (time(NULL) >= deadline) {
			fprintf(stderr, "ring-stress: watchdog: not done after %u s, killing\n",
				c->watchdog);
			kill(prod, SIGKILL);
			if (cons)
				kill(cons, SIGKILL);
			while (waitpid(-1, NULL, 0) > 0)
				;
			return 1;
		}
		usleep(c->crash_consumer ? 1000 : 10000);
	}
	if (c->crash_consumer) {
		printf("ring-stress: consumer killed %u times; %llu messages redelivered, all "
		       "intact; none missing\n", kills,
		       (unsigned long long)atomic_load(&c->prog->duplicates));
		if (kills == 0) {
			fprintf(stderr, "ring-stress: the stream ended before any crash: use more "
				"--messages\n");
			failed = 1;
		}
	}
	return failed;
}

/* A non-negative decimal number; anything else (strtoull would wrap "-1") is
 * reported and the program exits 100. */
static uint64_t number(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || s[0] < '0' || s[0] > '9') {
		fprintf(stderr, "ring-stress: %s takes a non-negative number, not '%s'\n", opt, s);
		exit(100);
	}
	return v;
}

static int parse_wait(const char *s, enum shmring_wait *w)
{
	static const char *names[] = { "adaptive", "spin", "yield", "futex" };
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*w = (enum shmring_wait)i;
			return 0;
		}
	return -1;
}

int main(int argc, char **argv)
{
	struct cfg c = { .wait = SHMRING_WAIT_ADAPTIVE, .messages = 10000000,
			 .capacity = 64 * 1024, .watchdog = 240, .batch = 1 };
	static const struct option lo[] = {
		{ "wait", required_argument, NULL, 'w' },
		{ "messages", required_argument, NULL, 'n' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "watchdog", required_argument, NULL, 'd' },
		{ "threads", no_argument, NULL, 't' },
		{ "pauses", no_argument, NULL, 'P' },
		{ "batch", required_argument, NULL, 'b' },
		{ "crash-consumer", required_argument, NULL, 'k' },
		{ "pieces", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	int o;
	while ((o = getopt_long(argc, argv, "w:n:c:d:tb:k:pPh", lo, NULL)) != -1) {
		switch (o) {
		case 'w':
			if (parse_wait(optarg, &c.wait)) {
				fprintf(stderr, "ring-stress: unknown wait strategy '%s'\n" USAGE, optarg);
				return 100;
			}
			break;
		case 'n': c.messages = number("--messages", optarg); break;
		case 'c': c.capacity = number("--capacity", optarg); break;
		case 'd': c.watchdog = (unsigned)number("--watchdog", optarg); break;
		case 't': c.threads = 1; break;
		case 'P': c.pauses = 1; break;
		case 'b': c.batch = (unsigned)number("--batch", optarg); break;
		case 'k': c.crash_consumer = (unsigned)number("--crash-consumer", optarg); break;
		case 'p': piece_max = 1; break;
		case 'h': fputs(USAGE, stdout); return 0;
		default: fputs(USAGE, stderr); return 100;
		}
	}
	const char *bad = c.messages == 0 ? "--messages must be at least 1"
			: c.watchdog == 0 ? "--watchdog must be at least 1 second"
			: c.batch == 0 ? "--batch must be at least 1"
			: c.crash_consumer && c.threads ? "--crash-consumer needs processes, not --threads"
			: c.crash_consumer && piece_max ? "--crash-consumer reads with peek, which "
							  "refuses pieces: leave --pieces out (ring-test "
							  "crashes consumers in the middle of a message)"
			: NULL;
	if (bad) {
		fprintf(stderr, "ring-stress: %s\n" USAGE, bad);
		return 100;
	}
	c.prog = mmap(NULL, sizeof(*c.prog), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c.prog == MAP_FAILED)
		return 1;

	struct shmring_opts opts;
	struct shmring *owner;
	shmring_opts_init(&opts);
	opts.capacity = c.capacity;
	if (shmring_create(NULL, &opts, &owner) < 0) {
		fprintf(stderr, "ring-stress: %s\n", shmring_errmsg());
		return 1;
	}
	c.max_len = shmring_max_message(owner);
	if (piece_max)
		piece_max = 3 * shmring_capacity(owner) + 5;
	snprintf(c.where, sizeof(c.where), "fd:%d", shmring_fd(owner));

	uint64_t t0 = tu_now_ns();
	int failed = c.threads ? run_threads(&c) : run_processes(&c);
	double s = tu_since_s(t0);

	struct shmring_stats st;
	shmring_stats(owner, &st);
	static const char *wn[] = { "adaptive", "spin", "yield", "futex" };
	printf("ring-stress: %s %s batch %u: %llu messages, %.1f MB in %.2f s (%.2f M msg/s); "
	       "%llu full, %llu empty, sleeps %llu/%llu, wakes %llu/%llu, holds %llu (%llu taken)\n",
	       c.threads ? "threads" : "processes", wn[c.wait], c.batch,
	       (unsigned long long)st.msgs_out, (double)st.bytes_out / 1e6, s,
	       (double)st.msgs_out / s / 1e6, (unsigned long long)st.full_events,
	       (unsigned long long)st.empty_events,
	       (unsigned long long)st.producer_sleeps, (unsigned long long)st.consumer_sleeps,
	       (unsigned long long)st.producer_wakes, (unsigned long long)st.consumer_wakes,
	       (unsigned long long)st.holds, (unsigned long long)st.taken);
	/* A consumer killed between publishing its tail and its counters leaves
	 * msgs_out off by its last batch: exact only without crashes. */
	if (!failed && (st.msgs_in != c.messages ||
			(!c.crash_consumer && st.msgs_out != c.messages))) {
		fprintf(stderr, "ring-stress: counters say %llu in, %llu out; expected %llu\n",
			(unsigned long long)st.msgs_in, (unsigned long long)st.msgs_out,
			(unsigned long long)c.messages);
		failed = 1;
	}
	if (!failed && c.pauses && c.batch > 1 && st.taken == 0) {
		fprintf(stderr, "ring-stress: the producer paused holding %llu times and the "
			"consumer never took a held header\n", (unsigned long long)st.holds);
		failed = 1;
	}
	shmring_detach(owner);
	return failed;
}
