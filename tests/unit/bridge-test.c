/* SPDX-License-Identifier: MIT */
/*
 * The bridge wire protocol's codec (kernels/bridge.h): every frame kind
 * survives an encode/decode round trip field for field, and every malformed
 * input is refused, never half read: each truncation of each valid frame,
 * a trailing byte, bad magic, unknown types, another version, names and
 * reasons out of bounds or with forbidden bytes, DATA frames whose counts,
 * lengths, spans or positions do not add up, BULK frames whose length,
 * span or second part do not. Plus the helpers the kernels
 * parse their arguments with (hex, names, CURVE key files).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge.h"

static struct bridge_hello sample_hello(void)
{
	struct bridge_hello h = { .hash = 0x0123456789abcdefull, .run_id = 0xfeedface,
				  .from = 4096, .window = 8u << 20 };
	strcpy(h.edge, "double.out->sink.in");
	strcpy(h.producer, "a");
	strcpy(h.consumer, "host-b.example");
	return h;
}

/* Every proper prefix of a valid frame is refused. */
static void assert_prefixes_refused(const uint8_t *buf, int len)
{
	struct bridge_frame f;
	for (int n = 0; n < len; n++)
		assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
}

/* A byte more is refused too: a frame is exactly its fields. */
static void assert_trailing_refused(uint8_t *buf, int len)
{
	struct bridge_frame f;
	buf[len] = 0;
	assert_int_equal(bridge_decode(buf, (size_t)len + 1, &f), -EBADMSG);
}

static void hello_round_trips(void **state)
{
	(void)state;
	struct bridge_hello h = sample_hello();
	uint8_t buf[1024];
	int n = bridge_encode_hello(buf, sizeof(buf), 42, &h);
	assert_true(n > (int)BRIDGE_HDR);
	struct bridge_frame f;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	assert_int_equal(f.type, BRIDGE_HELLO);
	assert_int_equal(f.session, 42);
	assert_true(f.u.hello.hash == h.hash && f.u.hello.run_id == h.run_id);
	assert_true(f.u.hello.from == h.from && f.u.hello.window == h.window);
	assert_string_equal(f.u.hello.edge, h.edge);
	assert_string_equal(f.u.hello.producer, h.producer);
	assert_string_equal(f.u.hello.consumer, h.consumer);
	assert_prefixes_refused(buf, n);
	assert_trailing_refused(buf, n);
}

static void position_frames_round_trip(void **state)
{
	(void)state;
	const uint8_t types[] = { BRIDGE_WELCOME, BRIDGE_ACK, BRIDGE_RESEND, BRIDGE_END,
				  BRIDGE_DONE, BRIDGE_IDLE };
	for (size_t i = 0; i < sizeof(types); i++) {
		uint8_t buf[64];
		int n = bridge_encode_pos(buf, sizeof(buf), types[i], 0xffffffffu, UINT64_MAX - i);
		assert_int_equal(n, BRIDGE_HDR + 8);
		struct bridge_frame f;
		assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
		assert_int_equal(f.type, types[i]);
		assert_int_equal(f.session, 0xffffffffu);
		assert_true(f.u.pos == UINT64_MAX - i);
		assert_prefixes_refused(buf, n);
		assert_trailing_refused(buf, n);
	}
	uint8_t buf[64];
	assert_int_equal(bridge_encode_pos(buf, sizeof(buf), BRIDGE_DATA, 1, 2), -EINVAL);
	assert_int_equal(bridge_encode_pos(buf, sizeof(buf), BRIDGE_HELLO, 1, 2), -EINVAL);
}

static void refuse_round_trips_and_cuts_its_text(void **state)
{
	(void)state;
	uint8_t buf[1024];
	int n = bridge_encode_refuse(buf, sizeof(buf), 7, BRIDGE_REFUSE_HASH, "hash differs: fix");
	struct bridge_frame f;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	assert_int_equal(f.type, BRIDGE_REFUSE);
	assert_int_equal(f.u.refuse.code, BRIDGE_REFUSE_HASH);
	assert_string_equal(f.u.refuse.text, "hash differs: fix");
	assert_prefixes_refused(buf, n);
	assert_trailing_refused(buf, n);
	/* A newline ends the text (one line); a long one is cut at the maximum. */
	n = bridge_encode_refuse(buf, sizeof(buf), 7, 1, "first line\nsecond");
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	assert_string_equal(f.u.refuse.text, "first line");
	char longer[400];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	n = bridge_encode_refuse(buf, sizeof(buf), 7, 1, longer);
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	assert_int_equal(strlen(f.u.refuse.text), BRIDGE_REASON_MAX);
	/* A reason longer than the maximum, however well formed, is refused. */
	n = bridge_encode_refuse(buf, sizeof(buf), 7, 1, "");
	buf[BRIDGE_HDR + 1] = 300 & 0xff;
	buf[BRIDGE_HDR + 2] = 300 >> 8;
	memset(buf + n, 'y', 300);
	assert_int_equal(bridge_decode(buf, (size_t)n + 300, &f), -EBADMSG);
}

/* Three messages, the second after 64 bytes of padding (a wrapped ring). */
static int encode_sample_data(uint8_t *buf, size_t cap)
{
	const char *msg[] = { "one", "two, after padding", "3" };
	const uint64_t span[] = { 16, 64 + 8 + 24, 16 };
	size_t off;
	size_t size = bridge_data_size(3, 3 + 18 + 1);
	if (size > cap || bridge_data_begin(buf, cap, 9, 1000, 3, &off))
		return -1;
	for (int i = 0; i < 3; i++)
		if (bridge_data_put(buf, cap, &off, msg[i], strlen(msg[i]), span[i]))
			return -1;
	assert_int_equal(off, size);
	return (int)off;
}

static void data_round_trips(void **state)
{
	(void)state;
	uint8_t buf[512];
	int n = encode_sample_data(buf, sizeof(buf));
	assert_true(n > 0);
	struct bridge_frame f;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	assert_int_equal(f.type, BRIDGE_DATA);
	assert_int_equal(f.session, 9);
	assert_int_equal(f.u.data.count, 3);
	struct bridge_msg m;
	assert_int_equal(bridge_data_next(&f, &m), 1);
	assert_true(m.seq == 1000 && m.end == 1016 && m.len == 3 && !memcmp(m.buf, "one", 3));
	assert_int_equal(bridge_data_next(&f, &m), 1);
	assert_true(m.seq == 1016 && m.end == 1016 + 96 && m.len == 18);
	assert_memory_equal(m.buf, "two, after padding", 18);
	assert_int_equal(bridge_data_next(&f, &m), 1);
	assert_true(m.seq == 1112 && m.end == 1128 && m.len == 1 && *(const char *)m.buf == '3');
	assert_int_equal(bridge_data_next(&f, &m), 0);
	assert_prefixes_refused(buf, n);
	assert_trailing_refused(buf, n);
}

/* Offsets into the sample DATA frame: count, then the first record. */
#define COUNT_AT (BRIDGE_HDR + 8)
#define REC0 BRIDGE_DATA_HDR

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void assert_data_refused_with(uint32_t at, uint32_t value)
{
	uint8_t buf[512];
	int n = encode_sample_data(buf, sizeof(buf));
	put32(buf + at, value);
	struct bridge_frame f;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
}

static void malformed_data_is_refused(void **state)
{
	(void)state;
	assert_data_refused_with(COUNT_AT, 0);                     /* no message */
	assert_data_refused_with(COUNT_AT, 2);                     /* fewer than there are */
	assert_data_refused_with(COUNT_AT, 4);                     /* more than there are */
	assert_data_refused_with(COUNT_AT, BRIDGE_BATCH_MSGS + 1); /* over the batch */
	assert_data_refused_with(COUNT_AT, UINT32_MAX);
	assert_data_refused_with(REC0, 0);                 /* an empty message */
	assert_data_refused_with(REC0, 4);                 /* longer than it is */
	assert_data_refused_with(REC0, UINT32_MAX);        /* past the frame */
	assert_data_refused_with(REC0 + 4, 3 + 8 - 1);     /* span short of its record */
	assert_data_refused_with(REC0 + 4, 0);
	/* A whole, well-formed frame of one message over the batch limit. */
	static uint8_t big[BRIDGE_DATA_HDR + (BRIDGE_BATCH_MSGS + 1) * (BRIDGE_REC_HDR + 1)];
	size_t off;
	assert_int_equal(bridge_data_begin(big, sizeof(big), 1, 0, BRIDGE_BATCH_MSGS, &off), 0);
	for (int i = 0; i <= BRIDGE_BATCH_MSGS; i++)
		assert_int_equal(bridge_data_put(big, sizeof(big), &off, "x", 1, 16), 0);
	put32(big + COUNT_AT, BRIDGE_BATCH_MSGS + 1);
	struct bridge_frame f;
	assert_int_equal(bridge_decode(big, off, &f), -EBADMSG);
	put32(big + COUNT_AT, BRIDGE_BATCH_MSGS);
	assert_int_equal(bridge_decode(big, off - BRIDGE_REC_HDR - 1, &f), 0);
	/* Positions that would wrap past 2^64. */
	uint8_t buf[512];
	int n = encode_sample_data(buf, sizeof(buf));
	for (int i = 0; i < 8; i++)
		buf[BRIDGE_HDR + i] = 0xff;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
}

/* BULK: the header of one large message whose bytes are a second part. */
#define BULK_LEN (BRIDGE_BULK_MIN + 5)
static uint8_t bulk_bytes[BULK_LEN + 1];

static void bulk_round_trips(void **state)
{
	(void)state;
	uint8_t buf[64];
	int n = bridge_encode_bulk(buf, sizeof(buf), 7, 5000, BULK_LEN, BULK_LEN + 8 + 16);
	assert_int_equal(n, BRIDGE_BULK_HDR);
	struct bridge_frame f;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	assert_int_equal(f.type, BRIDGE_BULK);
	assert_int_equal(f.session, 7);
	assert_string_equal(bridge_type_name(f.type), "BULK");
	struct bridge_msg m;
	assert_int_equal(bridge_data_next(&f, &m), 0); /* no bytes until attached */
	assert_int_equal(bridge_bulk_attach(&f, bulk_bytes, BULK_LEN - 1), -EBADMSG);
	assert_int_equal(bridge_bulk_attach(&f, bulk_bytes, BULK_LEN + 1), -EBADMSG);
	assert_int_equal(bridge_bulk_attach(&f, bulk_bytes, BULK_LEN), 0);
	assert_int_equal(bridge_bulk_attach(&f, bulk_bytes, BULK_LEN), -EBADMSG); /* once */
	assert_int_equal(bridge_data_next(&f, &m), 1);
	assert_true(m.seq == 5000 && m.end == 5000 + BULK_LEN + 24 && m.len == BULK_LEN &&
		    m.buf == bulk_bytes);
	assert_int_equal(bridge_data_next(&f, &m), 0);
	assert_prefixes_refused(buf, n);
	assert_trailing_refused(buf, n);
	/* Only BULK takes a second part. */
	n = bridge_encode_pos(buf, sizeof(buf), BRIDGE_ACK, 7, 1);
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	assert_int_equal(bridge_bulk_attach(&f, bulk_bytes, BULK_LEN), -EBADMSG);
}

static void assert_bulk_refused_with(uint64_t seq, uint32_t len, uint32_t span)
{
	uint8_t buf[BRIDGE_BULK_HDR];
	int n = bridge_encode_bulk(buf, sizeof(buf), 1, 0, BULK_LEN, BULK_LEN + 8);
	assert_int_equal(n, BRIDGE_BULK_HDR);
	for (int i = 0; i < 8; i++)
		buf[BRIDGE_HDR + i] = (uint8_t)(seq >> (8 * i));
	put32(buf + BRIDGE_HDR + 8, len);
	put32(buf + BRIDGE_HDR + 12, span);
	struct bridge_frame f;
	assert_int_equal(bridge_decode(buf, sizeof(buf), &f), -EBADMSG);
	assert_int_equal(bridge_encode_bulk(buf, sizeof(buf), 1, seq, len, span), -EINVAL);
}

static void malformed_bulk_is_refused(void **state)
{
	(void)state;
	assert_bulk_refused_with(0, BRIDGE_BULK_MIN - 1, BRIDGE_BULK_MIN + 7); /* batched size */
	assert_bulk_refused_with(0, 0, 8);
	assert_bulk_refused_with(0, BULK_LEN, BULK_LEN + 7);     /* span short of its record */
	assert_bulk_refused_with(0, UINT32_MAX, UINT32_MAX);
	assert_bulk_refused_with(UINT64_MAX - 100, BULK_LEN, BULK_LEN + 8); /* wraps */
	uint8_t buf[BRIDGE_BULK_HDR];
	assert_int_equal(bridge_encode_bulk(buf, sizeof(buf) - 1, 1, 0, BULK_LEN, BULK_LEN + 8),
			 -ENOSPC);
	assert_int_equal(bridge_encode_bulk(buf, sizeof(buf), 1, 0, BULK_LEN, 1ull << 32), -EINVAL);
}

static void headers_are_checked(void **state)
{
	(void)state;
	uint8_t buf[64];
	int n = bridge_encode_pos(buf, sizeof(buf), BRIDGE_ACK, 1, 5);
	struct bridge_frame f;
	buf[0] = 'X';
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
	buf[0] = 'S';
	buf[1] = 'b';
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
	buf[1] = 'B';
	const uint8_t unknown[] = { 0, BRIDGE_IDLE + 1, 0x7f, 0xff };
	for (size_t i = 0; i < sizeof(unknown); i++) {
		buf[3] = unknown[i];
		assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
	}
	buf[3] = BRIDGE_ACK;
	buf[2] = BRIDGE_VERSION + 1;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EPROTONOSUPPORT);
	assert_int_equal(f.type, BRIDGE_ACK);
	/* REFUSE is read whatever the version: how a mismatch is told. */
	n = bridge_encode_refuse(buf, sizeof(buf), 1, BRIDGE_REFUSE_VERSION, "v");
	buf[2] = BRIDGE_VERSION + 1;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	assert_int_equal(f.u.refuse.code, BRIDGE_REFUSE_VERSION);
	assert_int_equal(bridge_decode(buf, 0, &f), -EBADMSG);
}

/* HELLO whose edge name (the first) is replaced by raw bytes. */
static int hello_with_edge(uint8_t *buf, size_t cap, const uint8_t *name, uint8_t len)
{
	struct bridge_hello h = sample_hello();
	int n = bridge_encode_hello(buf, cap, 1, &h);
	size_t at = BRIDGE_HDR + 32, old = strlen(h.edge) + 1;
	uint8_t rest[512];
	size_t tail = (size_t)n - at - old;
	memcpy(rest, buf + at + old, tail);
	buf[at] = len;
	memcpy(buf + at + 1, name, len);
	memcpy(buf + at + 1 + len, rest, tail);
	return (int)(at + 1 + len + tail);
}

static void hello_names_are_checked(void **state)
{
	(void)state;
	uint8_t buf[1024], name[255];
	struct bridge_frame f;
	memset(name, 'e', sizeof(name));
	int n = hello_with_edge(buf, sizeof(buf), name, BRIDGE_NAME_MAX);
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), 0);
	n = hello_with_edge(buf, sizeof(buf), name, BRIDGE_NAME_MAX + 1);
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
	n = hello_with_edge(buf, sizeof(buf), name, 0);
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
	const uint8_t bad[] = { ' ', 0x7f, 0, '\n', 0x80, 0xff };
	for (size_t i = 0; i < sizeof(bad); i++) {
		name[3] = bad[i];
		n = hello_with_edge(buf, sizeof(buf), name, 10);
		assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
	}
	/* A control byte in a REFUSE reason. */
	n = bridge_encode_refuse(buf, sizeof(buf), 1, 2, "abc");
	buf[BRIDGE_HDR + 3 + 1] = 0x07;
	assert_int_equal(bridge_decode(buf, (size_t)n, &f), -EBADMSG);
}

static void encoders_refuse_what_decoders_would(void **state)
{
	(void)state;
	uint8_t buf[1024];
	struct bridge_hello h = sample_hello();
	assert_int_equal(bridge_encode_hello(buf, 20, 1, &h), -ENOSPC);
	strcpy(h.edge, "has space");
	assert_int_equal(bridge_encode_hello(buf, sizeof(buf), 1, &h), -EINVAL);
	h.edge[0] = '\0';
	assert_int_equal(bridge_encode_hello(buf, sizeof(buf), 1, &h), -EINVAL);
	assert_int_equal(bridge_encode_pos(buf, 15, BRIDGE_ACK, 1, 2), -ENOSPC);
	assert_int_equal(bridge_encode_refuse(buf, 10, 1, 1, "x"), -ENOSPC);
	size_t off;
	assert_int_equal(bridge_data_begin(buf, sizeof(buf), 1, 0, 0, &off), -EINVAL);
	assert_int_equal(bridge_data_begin(buf, sizeof(buf), 1, 0, BRIDGE_BATCH_MSGS + 1, &off),
			 -EINVAL);
	assert_int_equal(bridge_data_begin(buf, 10, 1, 0, 1, &off), -ENOSPC);
	assert_int_equal(bridge_data_begin(buf, sizeof(buf), 1, 0, 1, &off), 0);
	assert_int_equal(bridge_data_put(buf, sizeof(buf), &off, "abc", 3, 10), -EINVAL);
	assert_int_equal(bridge_data_put(buf, sizeof(buf), &off, "abc", 0, 16), -EINVAL);
	assert_int_equal(bridge_data_put(buf, sizeof(buf), &off, "abc", 3, 1ull << 32), -EINVAL);
	assert_int_equal(bridge_data_put(buf, off + 10, &off, "abc", 3, 16), -ENOSPC);
	assert_int_equal(bridge_data_put(buf, off + 11, &off, "abc", 3, 16), 0);
}

static void hex_and_names(void **state)
{
	(void)state;
	uint64_t v = 1;
	assert_int_equal(bridge_parse_hex64("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(bridge_parse_hex64("ffffFFFFffffffff", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(bridge_parse_hex64("", &v), -EINVAL);
	assert_int_equal(bridge_parse_hex64("0x12", &v), -EINVAL);
	assert_int_equal(bridge_parse_hex64("12g", &v), -EINVAL);
	assert_int_equal(bridge_parse_hex64("10000000000000000", &v), -EINVAL);
	assert_int_equal(bridge_check_name("a.b-c:d>e"), 0);
	assert_int_equal(bridge_check_name(""), -EINVAL);
	assert_int_equal(bridge_check_name("a b"), -EINVAL);
	char longname[BRIDGE_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(bridge_check_name(longname), -EINVAL);
	longname[BRIDGE_NAME_MAX] = '\0';
	assert_int_equal(bridge_check_name(longname), 0);
	assert_string_equal(bridge_type_name(BRIDGE_DATA), "DATA");
	assert_string_equal(bridge_type_name(200), "unknown");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void key_files(void **state)
{
	(void)state;
	char path[] = "/tmp/bridge-test-key.XXXXXX", key[41];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	const char *pub = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
	const char *sec = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
	char pair[128];
	snprintf(pair, sizeof(pair), "%s\n%s\n", pub, sec);
	write_file(path, pair);
	assert_int_equal(bridge_read_key(path, 0, key), 0);
	assert_string_equal(key, pub);
	assert_int_equal(bridge_read_key(path, 1, key), 0);
	assert_string_equal(key, sec);
	assert_int_equal(bridge_read_key(path, 2, key), -EINVAL); /* no third line */
	write_file(path, "short\n");
	assert_int_equal(bridge_read_key(path, 0, key), -EINVAL);
	write_file(path, "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\"\n"); /* '"' is not Z85 */
	assert_int_equal(bridge_read_key(path, 0, key), -EINVAL);
	write_file(path, pub); /* no newline at the end: still a line */
	assert_int_equal(bridge_read_key(path, 0, key), 0);
	unlink(path);
	assert_int_equal(bridge_read_key(path, 0, key), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hello_round_trips),
		cmocka_unit_test(position_frames_round_trip),
		cmocka_unit_test(refuse_round_trips_and_cuts_its_text),
		cmocka_unit_test(data_round_trips),
		cmocka_unit_test(malformed_data_is_refused),
		cmocka_unit_test(bulk_round_trips),
		cmocka_unit_test(malformed_bulk_is_refused),
		cmocka_unit_test(headers_are_checked),
		cmocka_unit_test(hello_names_are_checked),
		cmocka_unit_test(encoders_refuse_what_decoders_would),
		cmocka_unit_test(hex_and_names),
		cmocka_unit_test(key_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
