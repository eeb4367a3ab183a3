/* SPDX-License-Identifier: MIT */
/*
 * shmring-zmq-sink: the producer host's end of a bridge edge. It reads its
 * input ring "in" and carries every message to shmring-zmq-source on the
 * consumer's host over ZeroMQ (protocol: bridge.h), keeping each message in
 * its input ring until the far end has acknowledged it.
 *
 *   shmring-zmq-sink --connect HOST:PORT --edge NAME --hash HEX --run-id HEX
 *                    --from HOST --to HOST [--window BYTES]
 *                    [--curve-server-key FILE --curve-key FILE]
 *
 * --connect   where the source listens (its --bind)
 * --edge      the ring's name in the topology, the same on both sides
 * --hash      the topology file's hash (1-16 hex digits), the same on both
 * --run-id    this host's supervisor run (1-16 hex digits): the source
 *             resumes a run it knows, and starts afresh for a new one
 * --from/--to the producer's and the consumer's host names
 * --window    most ring bytes unacknowledged (default: half the input ring,
 *             at most 8 MiB)
 * --curve-server-key  the source's public key file; --curve-key this
 *             side's key pair file (bridge.h): CurveZMQ, both or neither
 *
 * Nothing is lost to a crash: messages are read ahead (shmring_peek_ahead)
 * and released only when acknowledged, so a successor the supervisor starts
 * gets them again and resends from where the source says it stands. A
 * message of BRIDGE_BULK_MIN bytes or more goes without a copy: libzmq
 * sends it from the ring (zmq_msg_init_data), and the ring is not released
 * past it until libzmq says it let go (bridge.h, BULK). It
 * never checkpoints (a checkpoint would make its successor skip input the
 * source may not hold). It reconnects by itself when the source is late,
 * gone or silent for a second. Counters (shmring-stat): sent_msgs,
 * sent_bytes, acked_msgs, in_flight_bytes, reconnects, resends, malformed,
 * refused.
 *
 * Exit status (util.h): 78 for bad arguments, no port "in", no CURVE in
 * libzmq, or a source that refuses this edge (another topology file, edge
 * or host); 1 for a failure a restart may cure; 0 when the stream ended
 * and the source confirmed it (DONE), or when stopped.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "bridge.h"
#include "util.h"

#define USAGE "shmring-zmq-sink --connect HOST:PORT --edge NAME --hash HEX --run-id HEX " \
	      "--from HOST --to HOST [--window BYTES] [--curve-server-key FILE --curve-key FILE]" \
	      "   (a kernel: run it with shmring-supervisor)"

#define POLL_TAG 1
/* While messages are unacknowledged the input ring looks ready to the
 * kernel's wait (it holds them), so new input is looked for this often
 * instead; ACKs, which end the wait at once, usually come sooner. */
#define AHEAD_POLL_MS 2

enum { M_SENT_MSGS, M_SENT_BYTES, M_ACKED, M_IN_FLIGHT, M_RECONNECTS, M_RESENDS, M_MALFORMED,
       M_REFUSED, M_COUNT };
static const char *const metric_names[M_COUNT] = {
	"sent_msgs", "sent_bytes", "acked_msgs", "in_flight_bytes", "reconnects", "resends",
	"malformed", "refused",
};

struct args {
	const char *connect, *edge, *from, *to, *server_key, *key;
	uint64_t hash, run_id, window;
};

enum state { S_HELLO, S_STREAM, S_ENDING, S_DONE };

/* A BULK part libzmq may still read from the input ring: held is set
 * before libzmq gets it and cleared by libzmq's free function, from its
 * I/O thread, once it no longer reads the bytes. */
#define ZC_SLOTS (2 * BRIDGE_MAX_FRAMES)
struct zc_part {
	uint64_t start;   /* the message's seq: the input is never released past it */
	atomic_int held;
};

struct sink {
	struct shmring_kernel *k;
	struct shmring *in;
	struct shmring_io *io;
	struct args a;
	char endpoint[300];
	void *ctx, *sock;
	int fd, armed;
	enum state state;
	uint32_t session;
	uint64_t attempts;  /* HELLOs so far */
	uint64_t acked;     /* the source holds everything before this */
	uint64_t released;  /* the input's release position: acked, but never past
			     * a BULK part libzmq still holds */
	uint64_t cursor;    /* the next message to send starts here */
	uint64_t sent_hi;   /* the furthest end sent by this process (resends below) */
	uint64_t window;
	int eos;            /* the input reached end of stream at eos_pos */
	uint64_t eos_pos;
	unsigned frames;    /* frames in flight, at most BRIDGE_MAX_FRAMES */
	uint64_t frame_end[BRIDGE_MAX_FRAMES];
	unsigned frame_head;
	uint64_t last_rx, hello_at, silent_since;
	uint64_t progress_at; /* the release position last moved, or sending began */
	int lost_logged, malformed_logged;
	struct zc_part zc[ZC_SLOTS]; /* BULK parts sent, zc_tail .. zc_head */
	uint64_t zc_head, zc_tail;
	int m[M_COUNT];
	uint64_t count[M_COUNT]; /* this process's share, for its last line */
};

static void metric_add(struct sink *s, int i, uint64_t v)
{
	shmring_kernel_metric_add(s->k, s->m[i], v);
	s->count[i] += v;
}

/* ---- arguments ------------------------------------------------------------ */

static uint64_t hex_arg(const char *opt, const char *v)
{
	uint64_t x;
	if (bridge_parse_hex64(v, &x))
		k_usage(USAGE, "%s '%s' is not 1 to 16 hex digits", opt, v);
	return x;
}

static const char *name_arg(const char *opt, const char *v)
{
	if (bridge_check_name(v))
		k_usage(USAGE, "%s '%s': give 1 to %d printable characters, no spaces", opt, v,
			BRIDGE_NAME_MAX);
	return v;
}

static void parse_args(struct args *a, int argc, char **argv)
{
	*a = (struct args){ 0 };
	int have_hash = 0, have_run = 0;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help"))
			k_help(USAGE);
		if (i + 1 >= argc)
			k_usage(USAGE, "%s needs a value", o);
		const char *v = argv[++i];
		if (!strcmp(o, "--connect"))
			a->connect = v;
		else if (!strcmp(o, "--edge"))
			a->edge = name_arg(o, v);
		else if (!strcmp(o, "--from"))
			a->from = name_arg(o, v);
		else if (!strcmp(o, "--to"))
			a->to = name_arg(o, v);
		else if (!strcmp(o, "--hash"))
			a->hash = hex_arg(o, v), have_hash = 1;
		else if (!strcmp(o, "--run-id"))
			a->run_id = hex_arg(o, v), have_run = 1;
		else if (!strcmp(o, "--window"))
			a->window = k_size(v, "--window", 1ull << 30);
		else if (!strcmp(o, "--curve-server-key"))
			a->server_key = v;
		else if (!strcmp(o, "--curve-key"))
			a->key = v;
		else
			k_usage(USAGE, "unknown option '%s'", o);
	}
	if (!a->connect || !a->edge || !a->from || !a->to || !have_hash || !have_run)
		k_usage(USAGE, "--connect, --edge, --hash, --run-id, --from and --to are required");
	if (!strchr(a->connect, ':') || strchr(a->connect, '/'))
		k_usage(USAGE, "--connect %s: give HOST:PORT, e.g. 10.77.0.2:7701", a->connect);
	if (!a->server_key != !a->key)
		k_usage(USAGE, "CurveZMQ needs both --curve-server-key and --curve-key");
}

/* ---- the socket ------------------------------------------------------------ */

static void read_key(const char *path, unsigned line, char key[41], const char *what)
{
	int rc = bridge_read_key(path, line, key);
	if (rc == -EINVAL)
		k_config("%s: line %u is not a 40-character Z85 key (make keys with "
			 "shmring-zmq-source --curve-keypair)", path, line + 1);
	if (rc < 0)
		k_config("%s %s: %s", what, path, strerror(-rc));
}

static void set_opt(void *sock, int opt, const void *v, size_t len, const char *name)
{
	if (zmq_setsockopt(sock, opt, v, len)) {
		fprintf(stderr, "zmq_setsockopt %s: %s\n", name, zmq_strerror(zmq_errno()));
		exit(1);
	}
}

static void set_int(void *sock, int opt, int v, const char *name)
{
	set_opt(sock, opt, &v, sizeof(v), name);
}

/* One DEALER for the kernel's life (one ZMQ_FD to wait on); connections
 * come and go under it (sink_hello). */
static void open_socket(struct sink *s)
{
	snprintf(s->endpoint, sizeof(s->endpoint), "tcp://%s", s->a.connect);
	s->ctx = zmq_ctx_new();
	s->sock = s->ctx ? zmq_socket(s->ctx, ZMQ_DEALER) : NULL;
	if (!s->sock) {
		fprintf(stderr, "zmq_socket: %s\n", zmq_strerror(zmq_errno()));
		exit(1);
	}
	set_int(s->sock, ZMQ_LINGER, 0, "ZMQ_LINGER");
	set_int(s->sock, ZMQ_IPV6, 1, "ZMQ_IPV6"); /* a host's address may be IPv6 */
	/* Above the frame cap, so the window, not libzmq, holds frames back. */
	set_int(s->sock, ZMQ_SNDHWM, BRIDGE_MAX_FRAMES + 64, "ZMQ_SNDHWM");
	set_int(s->sock, ZMQ_RCVHWM, BRIDGE_MAX_FRAMES + 64, "ZMQ_RCVHWM");
	if (s->a.server_key) {
		if (!zmq_has("curve"))
			k_config("this libzmq has no CURVE support (zmq_has(\"curve\") is 0): use a "
				 "libzmq built with libsodium, or drop the --curve options");
		char server[41], pub[41], sec[41];
		read_key(s->a.server_key, 0, server, "--curve-server-key");
		read_key(s->a.key, 0, pub, "--curve-key");
		read_key(s->a.key, 1, sec, "--curve-key");
		set_opt(s->sock, ZMQ_CURVE_SERVERKEY, server, 40, "ZMQ_CURVE_SERVERKEY");
		set_opt(s->sock, ZMQ_CURVE_PUBLICKEY, pub, 40, "ZMQ_CURVE_PUBLICKEY");
		set_opt(s->sock, ZMQ_CURVE_SECRETKEY, sec, 40, "ZMQ_CURVE_SECRETKEY");
	}
	size_t len = sizeof(s->fd);
	if (zmq_getsockopt(s->sock, ZMQ_FD, &s->fd, &len)) {
		fprintf(stderr, "zmq_getsockopt ZMQ_FD: %s\n", zmq_strerror(zmq_errno()));
		exit(1);
	}
}

static int zmq_events(struct sink *s)
{
	int ev = 0;
	size_t len = sizeof(ev);
	zmq_getsockopt(s->sock, ZMQ_EVENTS, &ev, &len);
	return ev;
}

/* Send one small frame; a full queue only delays it (timers resend). */
static void send_small(struct sink *s, const void *buf, int len)
{
	if (len > 0)
		zmq_send(s->sock, buf, (size_t)len, ZMQ_DONTWAIT);
}

/*
 * A new connection attempt: drop the old connection with whatever libzmq
 * still queues for it (linger 0), take a new session number and routing
 * id, and HELLO. Everything unacknowledged will be sent again from where
 * the WELCOME says.
 */
static void sink_hello(struct sink *s)
{
	if (s->attempts++) {
		zmq_disconnect(s->sock, s->endpoint);
		metric_add(s, M_RECONNECTS, 1);
	}
	s->session++;
	uint8_t id[12];
	memcpy(id, &s->a.run_id, 8);
	memcpy(id + 8, &s->session, 4);
	set_opt(s->sock, ZMQ_ROUTING_ID, id, sizeof(id), "ZMQ_ROUTING_ID");
	if (zmq_connect(s->sock, s->endpoint))
		k_config("--connect %s: %s: give a reachable HOST:PORT", s->a.connect,
			 zmq_strerror(zmq_errno()));
	struct bridge_hello h = { .hash = s->a.hash, .run_id = s->a.run_id,
				  .from = s->released, .window = s->window };
	snprintf(h.edge, sizeof(h.edge), "%s", s->a.edge);
	snprintf(h.producer, sizeof(h.producer), "%s", s->a.from);
	snprintf(h.consumer, sizeof(h.consumer), "%s", s->a.to);
	uint8_t buf[BRIDGE_HDR + 64 + 3 * (BRIDGE_NAME_MAX + 1)];
	send_small(s, buf, bridge_encode_hello(buf, sizeof(buf), s->session, &h));
	s->state = S_HELLO;
	s->hello_at = bridge_now_ms();
	s->cursor = s->released;
	s->frames = 0;
}

static void drop_connection(struct sink *s, const char *why)
{
	if (!s->lost_logged)
		printf("%s: reconnecting to %s\n", why, s->endpoint);
	s->lost_logged = 1;
	sink_hello(s);
}

/* ---- acknowledgements ------------------------------------------------------ */

static void publish_counts(struct sink *s)
{
	struct shmring_stats st;
	if (shmring_stats(s->in, &st) == 0)
		shmring_kernel_metric_set(s->k, s->m[M_ACKED], st.msgs_out);
	shmring_kernel_metric_set(s->k, s->m[M_IN_FLIGHT], s->cursor - s->released);
}

static void malformed(struct sink *s, const char *what)
{
	metric_add(s, M_MALFORMED, 1);
	if (!s->malformed_logged)
		printf("dropped a frame from %s: %s (counted in 'malformed'; logged once)\n",
		       s->endpoint, what);
	s->malformed_logged = 1;
}

/* libzmq's free function for a BULK part (zmq_msg_init_data). */
static void zc_free(void *data, void *hint)
{
	(void)data;
	/* Z1: libzmq's last read of the bytes happens before this store;
	 * pairs with the load-acquire at Z2. */
	atomic_store_explicit(&((struct zc_part *)hint)->held, 0, memory_order_release);
}

/* pos, or the start of the oldest BULK part below it that libzmq still
 * holds. Parts are mostly let go in order: the tail moves past those. */
static uint64_t zc_floor(struct sink *s, uint64_t pos)
{
	/* Z2: acquire, so the producer's overwrite after the release below
	 * cannot reach the bytes before libzmq is done with them (Z1). */
	while (s->zc_tail != s->zc_head &&
	       !atomic_load_explicit(&s->zc[s->zc_tail % ZC_SLOTS].held, memory_order_acquire))
		s->zc_tail++;
	for (uint64_t i = s->zc_tail; i != s->zc_head; i++) {
		struct zc_part *p = &s->zc[i % ZC_SLOTS];
		if (p->start < pos && atomic_load_explicit(&p->held, memory_order_acquire))
			pos = p->start;
	}
	return pos;
}

/* Release the input up to what the source acknowledged, short of any BULK
 * part libzmq still reads (bridge.h): a release lets the producer write
 * there. 0, or -EPROTO when the acknowledged position is no message
 * boundary (release_to checks it). */
static int release(struct sink *s)
{
	uint64_t to = zc_floor(s, s->acked);
	if (to <= s->released)
		return 0;
	if (shmring_release_to(s->in, to) < 0) {
		s->acked = s->released;
		return -EPROTO;
	}
	s->released = to;
	return 0;
}

/* The source holds everything before pos: release it from the input.
 * pos must lie in what this session sent and be a message boundary.
 * -EPROTO otherwise. */
static int acked_to(struct sink *s, uint64_t pos)
{
	if (pos < s->acked)
		return 0; /* an older ACK overtaken: nothing new */
	if (pos > s->sent_hi)
		return -EPROTO;
	if (pos > s->acked)
		s->progress_at = bridge_now_ms();
	s->acked = pos;
	if (s->cursor < pos)
		s->cursor = pos;
	while (s->frames && s->frame_end[s->frame_head] <= pos) {
		s->frame_head = (s->frame_head + 1) % BRIDGE_MAX_FRAMES;
		s->frames--;
	}
	int rc = release(s);
	publish_counts(s);
	return rc;
}

/*
 * WELCOME: the source holds everything before pos. A successor of a killed
 * sink finds messages its predecessor sent still in the ring: it walks over
 * them (read ahead, not sent) and releases them. pos before the release
 * position, or off the messages' boundaries, cannot come from a source that
 * follows the protocol: dropped, and the connection tried again.
 */
static int welcomed(struct sink *s, uint64_t pos)
{
	uint64_t c = s->released;
	while (c < pos) {
		const void *buf;
		size_t len;
		if (shmring_peek_ahead(s->in, &c, NULL, &buf, &len, 0) <= 0)
			return -EPROTO;
	}
	if (c != pos)
		return -EPROTO;
	s->acked = s->cursor = pos;
	if (release(s) < 0)
		return -EPROTO;
	if (s->sent_hi < pos)
		s->sent_hi = pos;
	s->state = S_STREAM;
	s->frames = 0;
	s->lost_logged = 0;
	printf("connected to %s (edge %s, %s -> %s): resuming at position %llu\n", s->endpoint,
	       s->a.edge, s->a.from, s->a.to, (unsigned long long)pos);
	publish_counts(s);
	return 0;
}

/* Messages in flight, none acknowledged for BRIDGE_DEAD_MS, and the
 * source says it holds nothing (IDLE): they were lost on the way. */
static int stalled(struct sink *s)
{
	return s->cursor != s->acked && bridge_now_ms() - s->progress_at >= BRIDGE_DEAD_MS;
}

/* Send again from what the source holds (go-back-N). */
static void go_back(struct sink *s)
{
	s->cursor = s->acked;
	s->frames = 0;
	s->progress_at = bridge_now_ms();
}

static void refused(struct sink *s, const struct bridge_frame *f)
{
	metric_add(s, M_REFUSED, 1);
	if (f->u.refuse.code >= BRIDGE_REFUSE_VERSION && f->u.refuse.code <= BRIDGE_REFUSE_HOST)
		k_config("the source at %s refuses edge %s: %s", s->endpoint, s->a.edge,
			 f->u.refuse.text);
	malformed(s, "a REFUSE with an unknown reason code");
}

/* A source that broke the protocol: HELLO again after BRIDGE_DEAD_MS, not
 * at once (no storm). */
static void rehello_later(struct sink *s)
{
	malformed(s, "a position this side never sent, or a frame out of place");
	s->state = S_HELLO;
	s->hello_at = bridge_now_ms();
	s->cursor = s->acked;
	s->frames = 0;
}

static void on_frame(struct sink *s, const struct bridge_frame *f)
{
	if (f->type == BRIDGE_REFUSE) {
		refused(s, f);
		return;
	}
	if (f->session != s->session)
		return; /* of an old connection */
	s->last_rx = bridge_now_ms();
	int rc = 0, ack = f->type == BRIDGE_ACK || f->type == BRIDGE_RESEND ||
			  f->type == BRIDGE_IDLE;
	if (f->type == BRIDGE_WELCOME && s->state == S_HELLO)
		rc = welcomed(s, f->u.pos);
	else if (ack && s->state >= S_STREAM)
		rc = acked_to(s, f->u.pos);
	else if (f->type == BRIDGE_DONE && s->state == S_ENDING && f->u.pos == s->eos_pos)
		s->state = S_DONE;
	else if (!ack && f->type != BRIDGE_WELCOME)
		rc = -EPROTO; /* what only a sink sends, or DONE out of place */
	if (rc == 0 && s->state == S_STREAM &&
	    (f->type == BRIDGE_RESEND || (f->type == BRIDGE_IDLE && stalled(s))))
		go_back(s);
	if (rc < 0)
		rehello_later(s);
}

static void receive(struct sink *s)
{
	while (s->state != S_DONE) {
		zmq_msg_t msg;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			return;
		}
		struct bridge_frame f;
		int rc = bridge_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &f);
		if (rc == 0 || (rc == -EPROTONOSUPPORT && f.type == BRIDGE_REFUSE))
			on_frame(s, &f);
		else
			malformed(s, rc == -EPROTONOSUPPORT ? "another protocol version"
							  : "not a bridge frame");
		zmq_msg_close(&msg);
	}
}

/* ---- sending ------------------------------------------------------------- */

struct item {
	const void *buf;
	size_t len;
	uint64_t span;
};

/* Up to a batch of messages after the cursor, within the window: their
 * count (0: none, or the window is full). Sets eos at the end of stream. */
static int gather(struct sink *s, struct item *it, uint64_t *end, uint64_t *payload)
{
	uint64_t c = s->cursor;
	int n = 0;
	*payload = 0;
	while (n < BRIDGE_BATCH_MSGS && *payload < BRIDGE_BATCH_BYTES) {
		uint64_t next = c;
		const void *buf;
		size_t len;
		int rc = shmring_peek_ahead(s->in, &next, NULL, &buf, &len, 0);
		if (rc == 0 && !s->eos) {
			s->eos = 1;
			s->eos_pos = c;
		}
		if (rc == -EBADMSG) {
			fprintf(stderr, "%s\n", shmring_errmsg());
			exit(1);
		}
		if (rc <= 0)
			break;
		/* A message larger than the window still goes, alone. */
		if (next - s->released > s->window && (n || c != s->released))
			break;
		if (len >= BRIDGE_BULK_MIN && n)
			break; /* it goes alone, as BULK */
		it[n++] = (struct item){ buf, len, next - c };
		*payload += len;
		c = next;
		if (len >= BRIDGE_BULK_MIN)
			break;
	}
	*end = c;
	return n;
}

/* What a frame sent moves on: the cursor, the frames in flight, counters. */
static void sent(struct sink *s, const struct item *it, int n, uint64_t end, uint64_t payload)
{
	if (s->cursor == s->acked)
		s->progress_at = bridge_now_ms(); /* in flight from now */
	uint64_t resent = 0;
	for (int i = 0; i < n && s->cursor < s->sent_hi; i++) {
		resent++;
		s->cursor += it[i].span;
	}
	s->cursor = end;
	if (s->sent_hi < end)
		s->sent_hi = end;
	s->frame_end[(s->frame_head + s->frames++) % BRIDGE_MAX_FRAMES] = end;
	metric_add(s, M_SENT_MSGS, (uint64_t)n);
	metric_add(s, M_SENT_BYTES, payload);
	metric_add(s, M_RESENDS, resent);
}

/* A slot for one more BULK part: 0 when every slot is still held. */
static int zc_room(struct sink *s)
{
	zc_floor(s, 0);
	return s->zc_head - s->zc_tail < ZC_SLOTS;
}

/*
 * One large message as BULK, its bytes handed to libzmq where they lie in
 * the input ring (no copy; bridge.h). 1 sent, 0 libzmq would block. Once
 * the header part is taken, libzmq takes the second part too (its
 * high-water mark counts whole messages).
 */
static int send_bulk(struct sink *s, const struct item *it, uint64_t end)
{
	uint8_t hdr[BRIDGE_BULK_HDR];
	int n = bridge_encode_bulk(hdr, sizeof(hdr), s->session, s->cursor, it->len, it->span);
	if (n < 0) {
		fprintf(stderr, "a %zu-byte record spanning %llu ring bytes: %s\n", it->len,
			(unsigned long long)it->span, strerror(-n));
		exit(1);
	}
	if (!zc_room(s) || zmq_send(s->sock, hdr, (size_t)n, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return 0;
	struct zc_part *p = &s->zc[s->zc_head++ % ZC_SLOTS];
	p->start = s->cursor;
	atomic_store_explicit(&p->held, 1, memory_order_relaxed); /* libzmq gets p below */
	zmq_msg_t msg;
	if (zmq_msg_init_data(&msg, (void *)it->buf, it->len, zc_free, p)) {
		fprintf(stderr, "zmq_msg_init_data: out of memory\n");
		exit(1);
	}
	if (zmq_msg_send(&msg, s->sock, 0) < 0) { /* the header went alone: drop it */
		zmq_msg_close(&msg);
		drop_connection(s, "libzmq refused the second part of a BULK frame");
		return 0;
	}
	sent(s, it, 1, end, it->len);
	return 1;
}

/* One DATA frame of what gather found: 1 sent, 0 libzmq would block. */
static int send_batch(struct sink *s, const struct item *it, int n, uint64_t end,
		      uint64_t payload)
{
	size_t size = bridge_data_size((uint32_t)n, payload), off;
	zmq_msg_t msg;
	if (zmq_msg_init_size(&msg, size)) {
		fprintf(stderr, "zmq_msg_init_size %zu: out of memory\n", size);
		exit(1);
	}
	void *p = zmq_msg_data(&msg);
	bridge_data_begin(p, size, s->session, s->cursor, (uint32_t)n, &off);
	for (int i = 0; i < n; i++)
		bridge_data_put(p, size, &off, it[i].buf, it[i].len, it[i].span);
	if (zmq_msg_send(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&msg);
		return 0;
	}
	sent(s, it, n, end, payload);
	return 1;
}

static void send_data(struct sink *s)
{
	static struct item it[BRIDGE_BATCH_MSGS];
	while (s->state == S_STREAM && s->frames < BRIDGE_MAX_FRAMES) {
		uint64_t end, payload;
		int n = gather(s, it, &end, &payload);
		if (n == 0)
			break;
		if (!(it[0].len >= BRIDGE_BULK_MIN ? send_bulk(s, it, end)
						   : send_batch(s, it, n, end, payload)))
			break;
	}
	if (release(s) < 0) /* what libzmq let go of since the last ACK */
		rehello_later(s);
	publish_counts(s);
	if (s->state == S_STREAM && s->eos && s->released == s->eos_pos) {
		uint8_t buf[BRIDGE_HDR + 8];
		send_small(s, buf, bridge_encode_pos(buf, sizeof(buf), BRIDGE_END, s->session,
						     s->eos_pos));
		s->state = S_ENDING;
	}
}

/* ---- the loop ------------------------------------------------------------ */

static void check_timers(struct sink *s, uint64_t now)
{
	if (s->state == S_HELLO && now - s->hello_at >= BRIDGE_DEAD_MS) {
		if (now - s->silent_since >= 5000 && !s->lost_logged) {
			printf("no answer from %s for %llu s: is shmring-zmq-source running there, "
			       "with matching CURVE keys? (retrying every second)\n", s->endpoint,
			       (unsigned long long)(now - s->silent_since) / 1000);
			s->lost_logged = 1;
		}
		sink_hello(s);
	} else if (s->state != S_HELLO && now - s->last_rx >= BRIDGE_DEAD_MS) {
		s->silent_since = now;
		drop_connection(s, "no frame from the source for a second");
	}
}

/* Sleep until the socket, the input, a timer or a stop. 0 on a stop. */
static int sleep_once(struct sink *s)
{
	if (!s->armed) {
		shmring_io_poll(s->io, s->fd, POLLIN, POLL_TAG);
		s->armed = 1;
	}
	if (zmq_events(s) & ZMQ_POLLIN)
		return 1; /* ZMQ_FD is edge-triggered: never sleep on a pending message */
	uint64_t now = bridge_now_ms(), since = s->state == S_HELLO ? s->hello_at : s->last_rx;
	int timeout = (int)(since + BRIDGE_DEAD_MS > now ? since + BRIDGE_DEAD_MS - now : 1);
	int idle = s->state == S_STREAM && s->cursor == s->released && !s->eos;
	int rc;
	if (idle)
		rc = shmring_kernel_wait(s->k, timeout);
	else if (s->state == S_STREAM && !s->eos && s->frames < BRIDGE_MAX_FRAMES &&
		 s->cursor - s->released < s->window)
		rc = shmring_io_wait(s->io, timeout < AHEAD_POLL_MS ? timeout : AHEAD_POLL_MS);
	else
		rc = shmring_io_wait(s->io, timeout);
	struct shmring_io_done d;
	while (shmring_io_complete(s->io, &d) > 0)
		if (d.tag == POLL_TAG)
			s->armed = 0;
	return rc != 0;
}

static void attach(struct sink *s)
{
	s->k = k_attach();
	s->in = k_port(s->k, "in");
	s->io = k_io(s->k);
	for (int i = 0; i < M_COUNT; i++)
		s->m[i] = shmring_kernel_metric(s->k, metric_names[i]);
	char note[128];
	snprintf(note, sizeof(note), "remote %s tcp://%s", s->a.to, s->a.connect);
	shmring_kernel_set_note(s->k, note);
	s->released = s->acked = s->cursor = s->sent_hi = shmring_position(s->in);
	size_t half = shmring_capacity(s->in) / 2;
	s->window = s->a.window ? s->a.window : half < BRIDGE_WINDOW_MAX ? half : BRIDGE_WINDOW_MAX;
}

int main(int argc, char **argv)
{
	static struct sink s;
	parse_args(&s.a, argc, argv);
	bridge_keep_heap();
	attach(&s);
	open_socket(&s);
	s.silent_since = bridge_now_ms();
	/* Sessions of a successor must not be taken for its predecessor's,
	 * whose frames may still be on their way: start somewhere else. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s.session = (uint32_t)(ts.tv_nsec ^ ts.tv_sec << 20 ^ getpid() << 8);
	sink_hello(&s);
	while (s.state != S_DONE && !shmring_kernel_should_stop(s.k)) {
		receive(&s);
		send_data(&s);
		if (s.state == S_DONE)
			break;
		check_timers(&s, bridge_now_ms());
		if (!sleep_once(&s))
			break;
	}
	zmq_close(s.sock);
	zmq_ctx_term(s.ctx);
	if (s.state == S_DONE)
		printf("end of stream at position %llu acknowledged: done\n",
		       (unsigned long long)s.eos_pos);
	printf("sent %llu messages (%llu of them again), %llu reconnects, %llu malformed frames\n",
	       (unsigned long long)s.count[M_SENT_MSGS], (unsigned long long)s.count[M_RESENDS],
	       (unsigned long long)s.count[M_RECONNECTS], (unsigned long long)s.count[M_MALFORMED]);
	return shmring_kernel_detach(s.k);
}
