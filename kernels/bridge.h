/* SPDX-License-Identifier: MIT */
/*
 * The bridge wire protocol: how shmring-zmq-sink (on the producer's host)
 * carries the messages of its input ring to shmring-zmq-source (on the
 * consumer's host) over ZeroMQ. This header and bridge.c are its one owner:
 * every frame is encoded and decoded here, and nothing read from the
 * network is trusted (bridge_decode checks every length and field).
 *
 * Sockets. The source binds a ROUTER at the address given (only that one);
 * the sink connects a DEALER. One ZeroMQ message (one part; the ROUTER adds
 * the routing id) per frame. ROUTER lets the source answer the connection
 * that said HELLO last and ignore stale ones. The sink keeps one DEALER for
 * its life and sets a routing id per session (its run id and the session
 * number), so when libzmq reconnects a broken TCP connection by itself the
 * ROUTER (ZMQ_ROUTER_HANDOVER) hands the session to the new connection:
 * what libzmq dropped with the old one shows as a gap, or through IDLE.
 * Session numbers start at a random value in each sink process, so a
 * successor's frames are never taken for its predecessor's.
 *
 * Positions. A message is named by ring positions of the sink's input ring
 * (ring.h: free-running byte counts, record headers and padding included),
 * which stay the same when the sink is restarted and takes its ring over.
 * A message's `seq` is the position where the previous message ended (so
 * the padding before a wrapped record belongs to the message after it),
 * its `end` is the position after its record: in order, each seq is the
 * previous end, with no exception at the wrap.
 *
 * Every frame starts with an 8-byte header, integers little-endian:
 *
 *   0  u8  'S'   1  u8 'B'   2  u8 version (BRIDGE_VERSION)   3  u8 type
 *   4  u32 session: the sink's connection attempt the frame belongs to
 *
 * | type        | dir  | body after the header                                   |
 * | ----------- | ---- | ------------------------------------------------------- |
 * | 1 HELLO     | s->S | u64 hash, u64 run id, u64 from, u64 window,             |
 * |             |      | then 3 names (u8 length 1..127, bytes 0x21..0x7e):      |
 * |             |      | edge, producer host, consumer host                      |
 * | 2 WELCOME   | S->s | u64 delivered_end                                       |
 * | 3 REFUSE    | S->s | u8 reason code, u16 length 0..255, text 0x20..0x7e      |
 * | 4 DATA      | s->S | u64 first seq, u32 count 1..BRIDGE_BATCH_MSGS, then     |
 * |             |      | count records {u32 len, u32 span, len bytes}           |
 * | 5 ACK       | S->s | u64 delivered_end                                       |
 * | 6 RESEND    | S->s | u64 delivered_end                                       |
 * | 7 END       | s->S | u64 end position (end of stream)                        |
 * | 8 DONE      | S->s | u64 end position                                        |
 * | 9 IDLE      | S->s | u64 delivered_end                                       |
 * | 10 BULK     | s->S | u64 seq, u32 len, u32 span; the message's len bytes     |
 * |             |      | follow as a second ZeroMQ message part                  |
 *
 * A DATA record's message has seq = first + the spans before it and end =
 * seq + span; span >= len + 8 (a record header and the padding before it).
 * A BULK frame carries one message of at least BRIDGE_BULK_MIN bytes, the
 * same way, but its bytes are a second part of the same ZeroMQ message
 * (whose length must be len), so that the sink hands libzmq the message
 * where it lies in its input ring instead of copying it into a frame: at
 * 64 KiB the copy and the page faults of a fresh 64 KiB buffer per frame
 * cost the sink about a quarter of its time. Every other frame is one part.
 * (s = sink, S = source.)
 *
 * The exchange:
 * - HELLO: the sink, on each connection attempt (a new session number). It
 *   names the topology (hash), the edge, both hosts, the sink-side
 *   supervisor's run id, and `from`: the oldest position the sink still
 *   holds (its input ring's release position). The source answers REFUSE
 *   when hash, edge or hosts differ from its own (code BRIDGE_REFUSE_*, a
 *   one-line reason naming the fix; the sink exits 78), else WELCOME with
 *   the position to resume at: what it delivered for that run id (its
 *   checkpoint), or `from` for a run id it does not know (a first start,
 *   or the producer host's supervisor was restarted). REFUSE is decoded
 *   whatever the version, so that a version mismatch can be told.
 * - DATA: batches of at most BRIDGE_BATCH_MSGS messages and about
 *   BRIDGE_BATCH_BYTES bytes, all smaller than BRIDGE_BULK_MIN; a larger
 *   message goes alone as BULK, handled as a DATA frame of one message. The source
 *   delivers a message iff seq == delivered_end (in order), drops seq <
 *   delivered_end (a duplicate, counted), and on a gap (seq >
 *   delivered_end: libzmq lost frames under a reconnect) drops the rest of
 *   the frame and sends RESEND once per gap (again after BRIDGE_RESEND_MS).
 * - ACK: the source committed everything before delivered_end and
 *   checkpointed it (every position a source sends is checkpointed first,
 *   so a restarted source never welcomes a sink back to less). Sent once
 *   per burst of frames (when libzmq holds no more, when the output is
 *   full, or after a quarter of HELLO's window), not once per frame; and
 *   every BRIDGE_HEARTBEAT_MS as the heartbeat while the source holds a
 *   frame it cannot deliver yet (its output is full: it reads no more
 *   frames meanwhile, they wait in libzmq, within the window). The sink
 *   releases its input ring up to it: a message leaves the producer's host
 *   only once the consumer's host holds it.
 * - RESEND: an ACK that also tells the sink to send again from there
 *   (go-back-N). Repeated with the heartbeat while the gap stays open
 *   (every BRIDGE_RESEND_MS), since a connection reset may take it too.
 * - IDLE: the heartbeat of a source that holds no frame (libzmq had none
 *   for it): an ACK that also says nothing sent after delivered_end has
 *   reached it. A sink with messages in flight and no progress for
 *   BRIDGE_DEAD_MS while IDLE comes in sends again from there: frames at
 *   the tail of a connection that libzmq reset are never followed by one
 *   that shows the gap. A source whose output is full sends ACK, not IDLE:
 *   a slow consumer never causes resends.
 * - END: the sink, once its input reached end of stream and every message
 *   was acknowledged. The source, holding everything up to that position,
 *   answers DONE and finishes (its output closes: the consumer's topology
 *   ends by itself); the sink finishes on DONE.
 * Frames of another session than the current one are ignored on both
 * sides (stale frames of an old connection); frames a side does not expect
 * in its state are dropped and counted as malformed.
 *
 * Window and memory. The sink keeps unacknowledged messages in its own
 * input ring (read ahead, released on ACK), so a killed sink loses nothing:
 * its successor gets them again. A BULK message's bytes stay in the ring
 * while libzmq holds them: libzmq says when it lets go (the part's free
 * function), and the sink never releases past a part libzmq still holds,
 * acknowledged or not (a connection being torn down may hold one after the
 * source acknowledged its resent copy). It never has more than `window`
 * ring bytes unacknowledged (default: half its input ring, at most 8 MiB)
 * nor more than BRIDGE_MAX_FRAMES frames; the DEALER's and ROUTER's high-water marks
 * are set above that frame count, so libzmq never drops or blocks before
 * the window does. Every byte in flight is in one place (a libzmq queue on
 * either side, or the kernel's socket buffers), so all of it together is at
 * most window + BRIDGE_MAX_FRAMES * BRIDGE_BULK_HDR bytes (a frame's
 * header is at most that, and the wire carries 8 bytes per message, never
 * more than its ring record; a BULK part is the ring's bytes themselves,
 * not a copy); plus one frame being built (sink) or delivered (source).
 *
 * Liveness. The source sends ACK, IDLE or RESEND every BRIDGE_HEARTBEAT_MS
 * while it has a peer (also while its output ring is full: a slow consumer
 * slows the producer, it never looks dead). The sink, without any frame from the
 * source for BRIDGE_DEAD_MS (or without an answer to HELLO for that long),
 * drops the connection (ZMQ_LINGER 0: libzmq's queues go with it),
 * connects again with a new session, HELLOs, and resends from the
 * WELCOME's position (counted: reconnects, resends).
 *
 * Security. Optional CurveZMQ: the source is the CURVE server and checks
 * the client's public key itself (a ZAP handler in the same loop); the sink
 * is the client. Keys are Z85 text (40 characters) in files.
 */
#ifndef SHMRING_KERNELS_BRIDGE_H
#define SHMRING_KERNELS_BRIDGE_H

#include <time.h>
#include <stddef.h>
#include <stdint.h>

#define BRIDGE_VERSION      1
#define BRIDGE_HDR          8u
#define BRIDGE_NAME_MAX     127
#define BRIDGE_REASON_MAX   255
#define BRIDGE_BATCH_MSGS   256
#define BRIDGE_BATCH_BYTES  (64u * 1024)
#define BRIDGE_BULK_MIN     (16u * 1024) /* from here a message goes as BULK */
#define BRIDGE_BULK_HDR     (BRIDGE_HDR + 16u)
#define BRIDGE_MAX_FRAMES   1024
#define BRIDGE_REC_HDR      8u   /* u32 len, u32 span */
#define BRIDGE_DATA_HDR     (BRIDGE_HDR + 12u)
#define BRIDGE_HEARTBEAT_MS 100
#define BRIDGE_DEAD_MS      1000
#define BRIDGE_RESEND_MS    200
#define BRIDGE_WINDOW_MAX   (8u * 1024 * 1024)

enum bridge_type {
	BRIDGE_HELLO = 1,
	BRIDGE_WELCOME = 2,
	BRIDGE_REFUSE = 3,
	BRIDGE_DATA = 4,
	BRIDGE_ACK = 5,
	BRIDGE_RESEND = 6,
	BRIDGE_END = 7,
	BRIDGE_DONE = 8,
	BRIDGE_IDLE = 9,
	BRIDGE_BULK = 10,
};

/* Why a source refuses a sink. */
enum bridge_refuse {
	BRIDGE_REFUSE_VERSION = 1,
	BRIDGE_REFUSE_HASH = 2,
	BRIDGE_REFUSE_EDGE = 3,
	BRIDGE_REFUSE_HOST = 4,
};

struct bridge_hello {
	uint64_t hash, run_id, from, window;
	char edge[BRIDGE_NAME_MAX + 1];
	char producer[BRIDGE_NAME_MAX + 1];
	char consumer[BRIDGE_NAME_MAX + 1];
};

/* One message of a DATA frame, as the iterator hands it out. */
struct bridge_msg {
	uint64_t seq, end;
	const void *buf; /* inside the frame */
	uint32_t len;
};

/* A decoded frame. For DATA, the records stay in the caller's buffer:
 * walk them with bridge_data_next (already checked by bridge_decode). */
struct bridge_frame {
	uint8_t type;
	uint32_t session;
	union {
		struct bridge_hello hello;
		uint64_t pos;                /* WELCOME, ACK, RESEND, END, DONE, IDLE */
		struct {
			uint8_t code;
			char text[BRIDGE_REASON_MAX + 1];
		} refuse;
		struct {
			uint64_t first;
			uint32_t count;
			const uint8_t *rec, *end; /* the records */
			/* BULK: the message's length and span; rec and end are
			 * its bytes once bridge_bulk_attach found them. */
			uint32_t len, span;
		} data;
	} u;
};

/*
 * Decode one frame of len bytes: 0 with *f filled, or
 * -EBADMSG   too short or long for its type, bad magic, an unknown type, a
 *            name or reason out of bounds or with forbidden bytes, a DATA
 *            record that overruns the frame, a span that does not cover
 *            its record, positions that would wrap;
 * -EPROTONOSUPPORT  another protocol version (f->type still set when the
 *            header is readable; REFUSE is decoded whatever the version).
 */
int bridge_decode(const void *buf, size_t len, struct bridge_frame *f);

/* The next message of a decoded DATA frame, or of a BULK frame once
 * attached: 1 (*m filled), 0 at the end. */
int bridge_data_next(struct bridge_frame *f, struct bridge_msg *m);

/* A decoded BULK frame's second part, of len bytes: 0, or -EBADMSG when f
 * is not BULK or len is not the length its header says. */
int bridge_bulk_attach(struct bridge_frame *f, const void *buf, size_t len);

/*
 * Encoders: the frame's length, or -ENOSPC when cap is too small, -EINVAL
 * for a field the decoder would refuse (a name that is empty, too long or
 * holds a byte outside 0x21..0x7e; a reason outside 0x20..0x7e is cut at
 * the first such byte, and at BRIDGE_REASON_MAX).
 */
int bridge_encode_hello(void *buf, size_t cap, uint32_t session, const struct bridge_hello *h);
int bridge_encode_pos(void *buf, size_t cap, uint8_t type, uint32_t session, uint64_t pos);
int bridge_encode_refuse(void *buf, size_t cap, uint32_t session, uint8_t code, const char *text);

/*
 * DATA, built in place: bridge_data_size says how large a frame of count
 * messages holding payload bytes is; bridge_data_begin writes the header,
 * bridge_data_put each record after the last (at *off, which it moves on).
 * put: 0, -ENOSPC (past cap), -EINVAL (span < len + 8, a span or len above
 * 2^32 - 1). The caller puts exactly count records.
 */
size_t bridge_data_size(uint32_t count, uint64_t payload);
int bridge_data_begin(void *buf, size_t cap, uint32_t session, uint64_t first, uint32_t count,
		      size_t *off);
int bridge_data_put(void *buf, size_t cap, size_t *off, const void *msg, size_t len,
		    uint64_t span);

/*
 * BULK's first part (BRIDGE_BULK_HDR bytes) for a message of len bytes
 * (BRIDGE_BULK_MIN .. 2^32 - 1) at seq: its length, or -ENOSPC, or -EINVAL
 * (len out of range, span < len + 8 or above 2^32 - 1, seq + span wraps).
 */
int bridge_encode_bulk(void *buf, size_t cap, uint32_t session, uint64_t seq, size_t len,
		       uint64_t span);

/* "HELLO", "DATA", ... ; "unknown" for anything else. */
const char *bridge_type_name(unsigned type);

/* Parse 1 to 16 hex digits (no prefix) into *v: 0, or -EINVAL. */
int bridge_parse_hex64(const char *s, uint64_t *v);

/* A name for HELLO: 1..BRIDGE_NAME_MAX bytes, each 0x21..0x7e. 0 or -EINVAL. */
int bridge_check_name(const char *s);

/*
 * CurveZMQ keys in files, as Z85 text: a key pair file holds two lines,
 * the public key then the secret key (what `shmring-zmq-source
 * --curve-keypair` prints); a public key file holds one line. Line `line`
 * (0 or 1) of the file at path into key (40 characters and a NUL): 0,
 * -EINVAL (no such line, or not 40 characters of the Z85 alphabet), or the
 * error of opening or reading the file.
 */
int bridge_read_key(const char *path, unsigned line, char key[41]);

/*
 * Keep freed heap memory in the process (mallopt; glibc only, a no-op
 * elsewhere): libzmq allocates a buffer for every large message it
 * receives (and the sink one for every DATA frame), and by default glibc
 * gives the pages back to the kernel as soon as 128 KiB lie free at the
 * top of a heap, so the next message faults them in again: about a third
 * of the source's CPU time at 64 KiB. Call before the ZeroMQ context
 * exists. The heap then stays at its peak, which the window bounds.
 */
void bridge_keep_heap(void);

/* Milliseconds of CLOCK_MONOTONIC: the bridges' heartbeat and liveness clock. */
static inline uint64_t bridge_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
