/* SPDX-License-Identifier: MIT */
/*
 * shmring-zmq-source: the consumer host's end of a bridge edge. It listens
 * for shmring-zmq-sink (protocol: bridge.h) and commits the messages it
 * carries to its output ring "out", each once and in order; when the sink
 * says the stream ended, it finishes, and the consumer's topology ends by
 * itself.
 *
 *   shmring-zmq-source --bind ADDR:PORT --edge NAME --hash HEX --from HOST
 *                      --to HOST [--curve-secret FILE --curve-client-key FILE]
 *   shmring-zmq-source --curve-keypair     (prints a new key pair file)
 *
 * --bind      the one address to listen on (this host's address in the
 *             topology; never a wildcard unless given one)
 * --edge, --hash, --from, --to   as the sink's: a sink whose values differ
 *             is refused with one line naming the difference
 * --curve-secret      this side's key pair file; --curve-client-key the
 *             sink's public key file: CurveZMQ, both or neither. Another
 *             client key is refused (logged once per key, counted).
 *
 * Exactly once: after each frame it commits, it checkpoints {delivered
 * end, the sink's run id} (kernel.h), so a restarted source tells the sink
 * where to resume; what its predecessor committed after its last checkpoint
 * is sent again by the sink and dropped by the library as a re-send.
 * Counters (shmring-stat): delivered_msgs, delivered_bytes, duplicates
 * (dropped), gaps (resend requests), malformed, refused, stale (frames of
 * old connections).
 *
 * Exit status (util.h): 78 for bad arguments, an address it cannot bind,
 * no port "out", no CURVE in libzmq, or a message larger than the output
 * ring's largest; 1 for a failure a restart may cure (the consumer closed
 * its input); 0 when the stream ended, or when stopped.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <poll.h>
#include <time.h>

#include <zmq.h>

#include "bridge.h"
#include "util.h"

#define USAGE "shmring-zmq-source --bind ADDR:PORT --edge NAME --hash HEX --from HOST --to HOST " \
	      "[--curve-secret FILE --curve-client-key FILE] | --curve-keypair" \
	      "   (a kernel: run it with shmring-supervisor)"

#define TAG_ROUTER 1
#define TAG_ZAP    2
/* How long one wait for room in the output lasts, so heartbeats go on
 * while a slow consumer holds the stream back. */
#define FULL_WAIT_MS 20
/* How long the DONE frame may take to leave before the source exits. */
#define DONE_LINGER_MS 2000

enum { M_MSGS, M_BYTES, M_DUPLICATES, M_GAPS, M_MALFORMED, M_REFUSED, M_STALE, M_COUNT };
static const char *const metric_names[M_COUNT] = {
	"delivered_msgs", "delivered_bytes", "duplicates", "gaps", "malformed", "refused", "stale",
};

struct args {
	const char *bind, *edge, *from, *to, *secret, *client_key;
	uint64_t hash;
};

/* The checkpoint, a fixed layout. */
struct state {
	uint64_t delivered; /* the sink's position up to which all is committed */
	uint64_t run_id;    /* of the sink-side supervisor run it belongs to */
	uint64_t valid;     /* 1 once a sink was welcomed */
};
static_assert(sizeof(struct state) == 24, "a fixed layout, no padding");

struct source {
	struct shmring_kernel *k;
	struct shmring *out;
	struct shmring_io *io;
	struct args a;
	void *ctx, *router, *zap;
	int fd, zap_fd, armed, zap_armed;
	uint8_t client_key[32];
	struct state st;
	uint8_t peer[256];  /* routing id of the sink that said HELLO last */
	size_t peer_len;
	uint32_t session;
	/* The DATA frame being delivered (its messages wait for room). */
	zmq_msg_t pend;
	int pending, have_cur;
	struct bridge_frame pf;
	struct bridge_msg cur;
	uint64_t last_tx, resend_at;
	uint64_t acked;     /* delivered as of the last position sent */
	uint64_t saved;     /* delivered as of the last checkpoint */
	uint64_t ack_every; /* ring bytes: a quarter of the sink's window */
	int finished, malformed_logged;
	uint64_t refused_run, stale_logged;
	uint8_t refused_key[32];
	int m[M_COUNT];
	uint64_t count[M_COUNT]; /* this process's share, for its last line */
};

static void metric_add(struct source *s, int i, uint64_t v)
{
	shmring_kernel_metric_add(s->k, s->m[i], v);
	s->count[i] += v;
}

/* ---- arguments ------------------------------------------------------------ */

static void keypair(void)
{
	char pub[41], sec[41];
	if (!zmq_has("curve") || zmq_curve_keypair(pub, sec))
		k_config("this libzmq has no CURVE support (zmq_has(\"curve\") is 0): use a libzmq "
			 "built with libsodium");
	printf("%s\n%s\n", pub, sec);
	exit(0);
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
	int have_hash = 0;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help"))
			k_help(USAGE);
		if (!strcmp(o, "--curve-keypair"))
			keypair();
		if (i + 1 >= argc)
			k_usage(USAGE, "%s needs a value", o);
		const char *v = argv[++i];
		if (!strcmp(o, "--bind"))
			a->bind = v;
		else if (!strcmp(o, "--edge"))
			a->edge = name_arg(o, v);
		else if (!strcmp(o, "--from"))
			a->from = name_arg(o, v);
		else if (!strcmp(o, "--to"))
			a->to = name_arg(o, v);
		else if (!strcmp(o, "--hash")) {
			if (bridge_parse_hex64(v, &a->hash))
				k_usage(USAGE, "--hash '%s' is not 1 to 16 hex digits", v);
			have_hash = 1;
		} else if (!strcmp(o, "--curve-secret"))
			a->secret = v;
		else if (!strcmp(o, "--curve-client-key"))
			a->client_key = v;
		else
			k_usage(USAGE, "unknown option '%s'", o);
	}
	if (!a->bind || !a->edge || !a->from || !a->to || !have_hash)
		k_usage(USAGE, "--bind, --edge, --hash, --from and --to are required");
	if (!strchr(a->bind, ':') || strchr(a->bind, '/') || strchr(a->bind, '*'))
		k_usage(USAGE, "--bind %s: give ADDR:PORT, this host's address, e.g. 10.77.0.2:7701",
			a->bind);
	if (!a->secret != !a->client_key)
		k_usage(USAGE, "CurveZMQ needs both --curve-secret and --curve-client-key");
}

/* ---- sockets --------------------------------------------------------------- */

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

static int get_fd(void *sock)
{
	int fd = -1;
	size_t len = sizeof(fd);
	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len)) {
		fprintf(stderr, "zmq_getsockopt ZMQ_FD: %s\n", zmq_strerror(zmq_errno()));
		exit(1);
	}
	return fd;
}

static void read_key(const char *path, unsigned line, char key[41], const char *what)
{
	int rc = bridge_read_key(path, line, key);
	if (rc == -EINVAL)
		k_config("%s: line %u is not a 40-character Z85 key (make keys with "
			 "shmring-zmq-source --curve-keypair)", path, line + 1);
	if (rc < 0)
		k_config("%s %s: %s", what, path, strerror(-rc));
}

/* CURVE server, and this kernel as the ZAP handler of its own context: it
 * alone decides which client key gets in. Bound before the ROUTER, so no
 * handshake ever finds no handler. */
static void setup_curve(struct source *s)
{
	if (!zmq_has("curve"))
		k_config("this libzmq has no CURVE support (zmq_has(\"curve\") is 0): use a libzmq "
			 "built with libsodium, or drop the --curve options");
	char sec[41], client[41];
	read_key(s->a.secret, 1, sec, "--curve-secret");
	read_key(s->a.client_key, 0, client, "--curve-client-key");
	zmq_z85_decode(s->client_key, client);
	s->zap = zmq_socket(s->ctx, ZMQ_REP);
	if (!s->zap || zmq_bind(s->zap, "inproc://zeromq.zap.01")) {
		fprintf(stderr, "ZAP handler: %s\n", zmq_strerror(zmq_errno()));
		exit(1);
	}
	s->zap_fd = get_fd(s->zap);
	set_int(s->router, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER");
	set_opt(s->router, ZMQ_CURVE_SECRETKEY, sec, 40, "ZMQ_CURVE_SECRETKEY");
	set_opt(s->router, ZMQ_ZAP_DOMAIN, "shmring", 7, "ZMQ_ZAP_DOMAIN");
}

/* Before attaching: an address that cannot be bound is a configuration
 * error reported before the topology starts. */
static void open_sockets(struct source *s)
{
	s->ctx = zmq_ctx_new();
	s->router = s->ctx ? zmq_socket(s->ctx, ZMQ_ROUTER) : NULL;
	if (!s->router) {
		fprintf(stderr, "zmq_socket: %s\n", zmq_strerror(zmq_errno()));
		exit(1);
	}
	s->zap_fd = -1;
	set_int(s->router, ZMQ_LINGER, 0, "ZMQ_LINGER");
	set_int(s->router, ZMQ_IPV6, 1, "ZMQ_IPV6"); /* a host's address may be IPv6 */
	set_int(s->router, ZMQ_SNDHWM, BRIDGE_MAX_FRAMES + 64, "ZMQ_SNDHWM");
	set_int(s->router, ZMQ_RCVHWM, BRIDGE_MAX_FRAMES + 64, "ZMQ_RCVHWM");
	set_int(s->router, ZMQ_ROUTER_HANDOVER, 1, "ZMQ_ROUTER_HANDOVER");
	if (s->a.secret)
		setup_curve(s);
	char ep[300];
	snprintf(ep, sizeof(ep), "tcp://%s", s->a.bind);
	if (zmq_bind(s->router, ep))
		k_config("--bind %s: %s: give this host's address and a free port", s->a.bind,
			 zmq_strerror(zmq_errno()));
	s->fd = get_fd(s->router);
}

static int events_of(void *sock)
{
	int ev = 0;
	size_t len = sizeof(ev);
	zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len);
	return ev;
}

/* One frame to the routing id `to`; a full queue drops it (ACKs repeat). */
static void send_to(struct source *s, const uint8_t *to, size_t to_len, const void *buf, int len)
{
	if (len <= 0 || zmq_send(s->router, to, to_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return;
	zmq_send(s->router, buf, (size_t)len, ZMQ_DONTWAIT);
}

/* Every position the sink hears of is checkpointed first: a restarted
 * source never welcomes it to less than it was told (bridge.h, ACK). */
static void send_pos(struct source *s, uint8_t type, uint64_t pos)
{
	if (!s->peer_len)
		return;
	if (s->saved != s->st.delivered) {
		k_checkpoint(s->k, &s->st, sizeof(s->st)); /* after the commits */
		s->saved = s->st.delivered;
	}
	s->acked = s->st.delivered;
	uint8_t buf[BRIDGE_HDR + 8];
	send_to(s, s->peer, s->peer_len, buf,
		bridge_encode_pos(buf, sizeof(buf), type, s->session, pos));
	s->last_tx = bridge_now_ms();
}

/* ---- ZAP: the CURVE client keys let in ------------------------------------ */

static void zap_reply(struct source *s, zmq_msg_t *req, int ok)
{
	const char *status = ok ? "200" : "400", *text = ok ? "OK" : "client key not allowed";
	zmq_send(s->zap, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(s->zap, zmq_msg_data(&req[1]), zmq_msg_size(&req[1]), ZMQ_SNDMORE);
	zmq_send(s->zap, status, 3, ZMQ_SNDMORE);
	zmq_send(s->zap, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(s->zap, "", 0, ZMQ_SNDMORE);
	zmq_send(s->zap, "", 0, 0);
}

/* Mechanism CURVE and the one client key given. */
static int zap_allowed(const struct source *s, zmq_msg_t *part)
{
	return zmq_msg_size(&part[5]) == 5 && !memcmp(zmq_msg_data(&part[5]), "CURVE", 5) &&
	       zmq_msg_size(&part[6]) == 32 && !memcmp(zmq_msg_data(&part[6]), s->client_key, 32);
}

/* Counted each time, logged once per key (a refused sink keeps trying). */
static void zap_refused(struct source *s, const uint8_t *key)
{
	metric_add(s, M_REFUSED, 1);
	if (key && !memcmp(key, s->refused_key, 32))
		return;
	char z[41] = "?";
	if (key) {
		zmq_z85_encode(z, key, 32);
		memcpy(s->refused_key, key, 32);
	}
	printf("refused a sink whose CURVE key %s is not the one in %s\n", z, s->a.client_key);
}

/* A ZAP request (RFC 27): version, request id, domain, address, routing
 * id, mechanism, then the client's 32-byte public key for CURVE. */
static void zap_one(struct source *s)
{
	zmq_msg_t part[7];
	int n = 0, extra = 0, more = 1;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s->zap, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		if (n < 7) {
			zmq_msg_init(&part[n]);
			zmq_msg_move(&part[n++], &m);
		} else {
			extra = 1; /* past what a request holds: dropped, and refused */
		}
		zmq_msg_close(&m);
	}
	int ok = n == 7 && !extra && zap_allowed(s, part);
	if (!ok)
		zap_refused(s, n == 7 && zmq_msg_size(&part[6]) == 32 ? zmq_msg_data(&part[6]) : NULL);
	if (n >= 2)
		zap_reply(s, part, ok);
	for (int i = 0; i < n; i++)
		zmq_msg_close(&part[i]);
}

static void serve_zap(struct source *s)
{
	while (s->zap && (events_of(s->zap) & ZMQ_POLLIN))
		zap_one(s);
}

/* ---- HELLO ----------------------------------------------------------------- */

/* Why this sink is not ours, as a REFUSE code and a line; 0 if it is. */
static int mismatch(const struct source *s, const struct bridge_hello *h, char *why, size_t cap)
{
	if (h->hash != s->a.hash) {
		snprintf(why, cap, "topology hash %016llx here is %016llx there: run the same "
			 "topology file on both hosts", (unsigned long long)s->a.hash,
			 (unsigned long long)h->hash);
		return BRIDGE_REFUSE_HASH;
	}
	if (strcmp(h->edge, s->a.edge)) {
		snprintf(why, cap, "this port serves edge %s, not %s: check the hosts' ports in "
			 "the topology", s->a.edge, h->edge);
		return BRIDGE_REFUSE_EDGE;
	}
	if (strcmp(h->producer, s->a.from) || strcmp(h->consumer, s->a.to)) {
		snprintf(why, cap, "edge %s runs from host %s to %s here, from %s to %s there: "
			 "check --host on both", s->a.edge, s->a.from, s->a.to, h->producer,
			 h->consumer);
		return BRIDGE_REFUSE_HOST;
	}
	return 0;
}

static void refuse(struct source *s, const uint8_t *id, size_t id_len, uint32_t session,
		   int code, const char *why, uint64_t run)
{
	uint8_t buf[BRIDGE_HDR + 4 + BRIDGE_REASON_MAX];
	send_to(s, id, id_len, buf, bridge_encode_refuse(buf, sizeof(buf), session, (uint8_t)code,
							 why));
	metric_add(s, M_REFUSED, 1);
	if (s->refused_run != run + 1)
		printf("refused a sink for edge %s: %s\n", s->a.edge, why);
	s->refused_run = run + 1;
}

static void drop_pending(struct source *s)
{
	if (s->pending) { /* closed, and ready to take the next frame */
		zmq_msg_close(&s->pend);
		zmq_msg_init(&s->pend);
	}
	s->pending = s->have_cur = 0;
}

static void hello(struct source *s, const uint8_t *id, size_t id_len, const struct bridge_frame *f)
{
	const struct bridge_hello *h = &f->u.hello;
	char why[1024]; /* the REFUSE frame cuts it at BRIDGE_REASON_MAX */
	int code = mismatch(s, h, why, sizeof(why));
	if (code) {
		refuse(s, id, id_len, f->session, code, why, h->run_id);
		return;
	}
	if (!s->st.valid || s->st.run_id != h->run_id || s->st.delivered < h->from) {
		if (s->st.valid)
			printf("the producer side is a new run (%016llx): its stream starts afresh "
			       "at position %llu\n", (unsigned long long)h->run_id,
			       (unsigned long long)h->from);
		s->st = (struct state){ h->from, h->run_id, 1 };
		k_checkpoint(s->k, &s->st, sizeof(s->st));
		s->saved = s->st.delivered;
	}
	drop_pending(s);
	memcpy(s->peer, id, id_len);
	s->peer_len = id_len;
	s->session = f->session;
	s->resend_at = 0;
	s->acked = s->st.delivered;
	s->ack_every = h->window / 4 ? h->window / 4 : 1;
	send_pos(s, BRIDGE_WELCOME, s->st.delivered);
	printf("sink of host %s connected (edge %s): resuming at position %llu\n", h->producer,
	       h->edge, (unsigned long long)s->st.delivered);
}

/* ---- DATA ------------------------------------------------------------------ */

static void malformed(struct source *s, const char *what)
{
	metric_add(s, M_MALFORMED, 1);
	if (!s->malformed_logged)
		printf("dropped a frame: %s (counted in 'malformed'; logged once)\n", what);
	s->malformed_logged = 1;
}

/* A gap: the rest of the frame is dropped and the sink asked, once per
 * BRIDGE_RESEND_MS, to go back to delivered. */
static void gap(struct source *s)
{
	uint64_t now = bridge_now_ms();
	if (s->resend_at && now - s->resend_at < BRIDGE_RESEND_MS)
		return;
	s->resend_at = now;
	metric_add(s, M_GAPS, 1);
	send_pos(s, BRIDGE_RESEND, s->st.delivered);
}

/* Commit one message in order. 1 done, 0 no room yet, -1 stop the frame. */
static int deliver_one(struct source *s, const struct bridge_msg *m, int timeout)
{
	if (m->end <= s->st.delivered) {
		metric_add(s, M_DUPLICATES, 1);
		return 1;
	}
	if (m->seq != s->st.delivered) {
		if (m->seq > s->st.delivered)
			gap(s);
		else
			malformed(s, "a message overlapping what was delivered");
		return -1;
	}
	if (m->len > shmring_max_message(s->out))
		k_config("edge %s: a %u-byte message is larger than the output ring's largest (%zu): "
			 "give the ring a larger capacity", s->a.edge, m->len, shmring_max_message(s->out));
	void *buf;
	int rc = shmring_reserve(s->out, m->len, &buf, timeout);
	if (rc == -EAGAIN || rc == -ETIMEDOUT || rc == -ECANCELED || rc == -EOWNERDEAD)
		return 0; /* -EOWNERDEAD: the consumer died; its successor takes over */
	if (rc < 0) {
		fprintf(stderr, "edge %s: %s\n", s->a.edge,
			rc == -EPIPE ? "the consumer closed its input" : strerror(-rc));
		exit(1);
	}
	memcpy(buf, m->buf, m->len);
	shmring_commit(s->out, m->len);
	s->st.delivered = m->end;
	s->resend_at = 0;
	metric_add(s, M_MSGS, 1);
	metric_add(s, M_BYTES, m->len);
	return 1;
}

/*
 * Checkpoint and acknowledge what was committed since the last ACK. Once
 * per burst of frames (when libzmq has no more, the output is full, or a
 * quarter of the sink's window came in), not once per frame: for large
 * messages an ACK per frame costs the sink a release and a wake each.
 */
static void ack(struct source *s)
{
	if (s->st.delivered != s->acked)
		send_pos(s, BRIDGE_ACK, s->st.delivered);
}

/* Deliver what is left of the pending frame: 1 when it is done (or
 * dropped), 0 when the output is full. */
static int deliver(struct source *s, int timeout)
{
	int rc = 1;
	while (s->pending) {
		if (!s->have_cur && !bridge_data_next(&s->pf, &s->cur))
			break;
		s->have_cur = 1;
		rc = deliver_one(s, &s->cur, timeout);
		if (rc == 0)
			break;
		s->have_cur = 0;
		if (rc < 0)
			break;
		timeout = 0;
	}
	if (rc != 0)
		drop_pending(s);
	if (rc == 0 || s->st.delivered - s->acked >= s->ack_every)
		ack(s); /* blocked (say how far it got), or a quarter window */
	return rc != 0;
}

/* The heartbeat says what the sink needs to know (bridge.h): a gap still
 * open (RESEND again), a frame held for room (ACK: slow, not lost), or
 * nothing held (IDLE: what is in flight beyond delivered did not come). */
static void heartbeat(struct source *s)
{
	uint64_t now = bridge_now_ms();
	if (s->resend_at && now - s->resend_at >= BRIDGE_RESEND_MS) {
		s->resend_at = now;
		send_pos(s, BRIDGE_RESEND, s->st.delivered);
	} else {
		send_pos(s, s->pending ? BRIDGE_ACK : BRIDGE_IDLE, s->st.delivered);
	}
}

/* ---- frames ---------------------------------------------------------------- */

static int from_peer(const struct source *s, zmq_msg_t *id, const struct bridge_frame *f)
{
	return s->peer_len && zmq_msg_size(id) == s->peer_len &&
	       !memcmp(zmq_msg_data(id), s->peer, s->peer_len) && f->session == s->session;
}

static void end_of_stream(struct source *s, uint64_t pos)
{
	if (pos != s->st.delivered) {
		malformed(s, "END at a position not yet delivered");
		return;
	}
	send_pos(s, BRIDGE_DONE, pos);
	s->finished = 1;
}

/* A DATA or BULK frame to deliver; a BULK frame's bytes are in part2,
 * which the frame keeps. */
static void take_data(struct source *s, struct bridge_frame *f, zmq_msg_t *body, zmq_msg_t *part2)
{
	if (part2 && bridge_bulk_attach(f, zmq_msg_data(part2), zmq_msg_size(part2))) {
		malformed(s, "a BULK frame whose second part is not as long as it says");
		return;
	}
	/* The bytes may move with the message (libzmq keeps a small one inside
	 * its zmq_msg_t): the frame keeps offsets and is pointed at them again. */
	zmq_msg_t *from = part2 ? part2 : body;
	const uint8_t *was = zmq_msg_data(from);
	size_t rec = (size_t)(f->u.data.rec - was), end = (size_t)(f->u.data.end - was);
	zmq_msg_move(&s->pend, from);
	s->pf = *f;
	s->pf.u.data.rec = (const uint8_t *)zmq_msg_data(&s->pend) + rec;
	s->pf.u.data.end = (const uint8_t *)zmq_msg_data(&s->pend) + end;
	s->pending = 1;
	s->have_cur = 0;
	deliver(s, 0);
}

/* A frame: body, and for BULK the message's bytes in part2 (else NULL). */
static void on_frame(struct source *s, zmq_msg_t *id, zmq_msg_t *body, zmq_msg_t *part2)
{
	struct bridge_frame f;
	int rc = bridge_decode(zmq_msg_data(body), zmq_msg_size(body), &f);
	if (rc == -EPROTONOSUPPORT && f.type == BRIDGE_HELLO) {
		char why[128];
		snprintf(why, sizeof(why), "bridge protocol %u here, another there: install the "
			 "same shmring version on both hosts", BRIDGE_VERSION);
		refuse(s, zmq_msg_data(id), zmq_msg_size(id), f.session, BRIDGE_REFUSE_VERSION, why, 0);
		return;
	}
	if (rc < 0 || zmq_msg_size(id) > sizeof(s->peer)) {
		malformed(s, rc == -EPROTONOSUPPORT ? "another protocol version" : "not a bridge frame");
		return;
	}
	if ((f.type == BRIDGE_BULK) != (part2 != NULL)) {
		malformed(s, "a BULK frame without its bytes, or another frame with a second part");
		return;
	}
	if (f.type == BRIDGE_HELLO) {
		hello(s, zmq_msg_data(id), zmq_msg_size(id), &f);
		return;
	}
	if (!from_peer(s, id, &f)) {
		metric_add(s, M_STALE, 1);
		return;
	}
	if (f.type == BRIDGE_DATA || f.type == BRIDGE_BULK) {
		take_data(s, &f, body, part2);
	} else if (f.type == BRIDGE_END) {
		end_of_stream(s, f.u.pos);
	} else {
		malformed(s, "a frame only a source sends");
	}
}

/* The parts after a ROUTER's routing id: the first two into part (the
 * caller closes them), the rest taken and dropped. How many there were. */
static int recv_parts(struct source *s, zmq_msg_t *id, zmq_msg_t part[2])
{
	int n = 0, more = zmq_msg_more(id);
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s->router, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		if (n < 2) {
			zmq_msg_init(&part[n]);
			zmq_msg_move(&part[n], &m);
		}
		n++;
		zmq_msg_close(&m);
	}
	return n;
}

/* Every frame queued, unless a DATA frame waits for room. */
static void receive(struct source *s)
{
	while (!s->pending && !s->finished) {
		zmq_msg_t id;
		zmq_msg_init(&id);
		if (zmq_msg_recv(&id, s->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			ack(s); /* the burst is over */
			return;
		}
		zmq_msg_t part[2];
		int parts = recv_parts(s, &id, part);
		if (parts == 1 || parts == 2)
			on_frame(s, &id, &part[0], parts == 2 ? &part[1] : NULL);
		else
			malformed(s, "a message of more parts than a bridge frame has");
		zmq_msg_close(&id);
		for (int i = 0; i < parts && i < 2; i++)
			zmq_msg_close(&part[i]);
	}
}

/* ---- the loop -------------------------------------------------------------- */

static void arm(struct source *s)
{
	if (!s->armed)
		shmring_io_poll(s->io, s->fd, POLLIN, TAG_ROUTER);
	if (s->zap && !s->zap_armed)
		shmring_io_poll(s->io, s->zap_fd, POLLIN, TAG_ZAP);
	s->armed = 1;
	s->zap_armed = s->zap != NULL;
}

/* Wait for the sockets, room in the output (a frame pending), the next
 * heartbeat or a stop. 0 on a stop. */
static int sleep_once(struct source *s)
{
	arm(s);
	if ((!s->pending && (events_of(s->router) & ZMQ_POLLIN)) ||
	    (s->zap && (events_of(s->zap) & ZMQ_POLLIN)))
		return 1; /* ZMQ_FD is edge-triggered: never sleep on a pending message */
	uint64_t now = bridge_now_ms();
	int timeout = s->peer_len ? (int)(s->last_tx + BRIDGE_HEARTBEAT_MS > now
					  ? s->last_tx + BRIDGE_HEARTBEAT_MS - now : 0) : -1;
	int rc = 1;
	if (s->pending) /* wait on the ring for room, a slice at a time */
		deliver(s, timeout < 0 || timeout > FULL_WAIT_MS ? FULL_WAIT_MS : timeout);
	else if (timeout != 0) {
		shmring_flush(s->out); /* nothing held back while we sleep (batch) */
		rc = shmring_io_wait(s->io, timeout);
	}
	struct shmring_io_done d;
	while (shmring_io_complete(s->io, &d) > 0) {
		if (d.tag == TAG_ROUTER)
			s->armed = 0;
		else if (d.tag == TAG_ZAP)
			s->zap_armed = 0;
	}
	return rc != 0 && !shmring_kernel_should_stop(s->k);
}

static void attach(struct source *s)
{
	s->k = k_attach();
	s->out = k_port(s->k, "out");
	/* The messages of a frame are published together, not one by one: a
	 * consumer asleep on this core is woken once a batch, not once a
	 * message (the profile of 64 B edges on one core each: ~40 % of the
	 * source's time in futex_wake). Nothing stays held: the checkpoint at
	 * the end of each burst and every wait publish what is pending. */
	shmring_set_batch(s->out, 64);
	s->io = k_io(s->k);
	for (int i = 0; i < M_COUNT; i++)
		s->m[i] = shmring_kernel_metric(s->k, metric_names[i]);
	char note[128];
	snprintf(note, sizeof(note), "remote %s, listening on tcp://%s", s->a.from, s->a.bind);
	shmring_kernel_set_note(s->k, note);
	int resumed = k_restore(s->k, &s->st, sizeof(s->st));
	s->saved = s->st.delivered;
	if (resumed)
		printf("resumed: delivered up to position %llu of run %016llx\n",
		       (unsigned long long)s->st.delivered, (unsigned long long)s->st.run_id);
}

int main(int argc, char **argv)
{
	static struct source s;
	parse_args(&s.a, argc, argv);
	bridge_keep_heap();
	open_sockets(&s);
	attach(&s);
	zmq_msg_init(&s.pend);
	while (!s.finished) {
		if (s.pending)
			deliver(&s, 0);
		receive(&s);
		serve_zap(&s);
		if (s.peer_len && bridge_now_ms() - s.last_tx >= BRIDGE_HEARTBEAT_MS)
			heartbeat(&s);
		if (s.finished || !sleep_once(&s))
			break;
	}
	drop_pending(&s);
	zmq_msg_close(&s.pend);
	if (s.finished) { /* let DONE leave before the socket goes */
		set_int(s.router, ZMQ_LINGER, DONE_LINGER_MS, "ZMQ_LINGER");
		printf("end of stream at position %llu: done\n", (unsigned long long)s.st.delivered);
	}
	printf("delivered %llu messages; dropped %llu duplicates, %llu stale and %llu malformed "
	       "frames; %llu gaps\n", (unsigned long long)s.count[M_MSGS],
	       (unsigned long long)s.count[M_DUPLICATES], (unsigned long long)s.count[M_STALE],
	       (unsigned long long)s.count[M_MALFORMED], (unsigned long long)s.count[M_GAPS]);
	zmq_close(s.router);
	if (s.zap)
		zmq_close(s.zap);
	zmq_ctx_term(s.ctx);
	return shmring_kernel_detach(s.k);
}
