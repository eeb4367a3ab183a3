/* SPDX-License-Identifier: MIT */
/*
 * fuzz-bridge: the bridge kernels' frame decoder (kernels/bridge.h) on bytes
 * from the fuzzer, as shmring-zmq-source and -sink read what the network
 * hands them. Whatever it accepts must be exactly what the encoders would
 * have written (decode, encode again, compare byte for byte), and every
 * message of an accepted DATA frame must lie inside the input, with
 * positions that follow each other (a BULK frame's once its second part,
 * here the input itself, is attached, which must succeed exactly when the
 * lengths agree); whatever it refuses, it refuses with
 * -EBADMSG or -EPROTONOSUPPORT (another version), never a crash or a read
 * outside the input (AddressSanitizer).
 *
 * Input: one frame, as one ZeroMQ message body. Seeds: tests/fuzz/seeds/bridge/.
 */
#define _GNU_SOURCE /* clock_gettime in bridge.h's bridge_now_ms */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* BULK: its message lies in the second part, and nowhere before. */
static int bulk_again(struct bridge_frame *f, uint8_t *out, size_t cap, const uint8_t *data,
		      size_t size)
{
	uint64_t seq = f->u.data.first, span = f->u.data.span;
	uint32_t len = f->u.data.len;
	struct bridge_msg m;
	if (bridge_data_next(f, &m))
		abort(); /* bytes before any were attached */
	int rc = bridge_bulk_attach(f, data, size);
	if ((rc == 0) != (size == len))
		abort();
	if (rc == 0 && (!bridge_data_next(f, &m) || m.buf != data || m.len != len ||
			m.seq != seq || m.end != seq + span || bridge_data_next(f, &m)))
		abort();
	return bridge_encode_bulk(out, cap, f->session, seq, len, span);
}

/* The frame encoded again from what was decoded: its length, or -1. */
static int encode_again(struct bridge_frame *f, uint8_t *out, size_t cap, const uint8_t *data,
			size_t size)
{
	switch (f->type) {
	case BRIDGE_HELLO:
		return bridge_encode_hello(out, cap, f->session, &f->u.hello);
	case BRIDGE_REFUSE:
		return bridge_encode_refuse(out, cap, f->session, f->u.refuse.code, f->u.refuse.text);
	case BRIDGE_DATA:
		break;
	case BRIDGE_BULK:
		return bulk_again(f, out, cap, data, size);
	default:
		return bridge_encode_pos(out, cap, f->type, f->session, f->u.pos);
	}
	size_t off;
	uint64_t pos = f->u.data.first;
	if (bridge_data_begin(out, cap, f->session, pos, f->u.data.count, &off))
		return -1;
	struct bridge_msg m;
	uint32_t n = 0;
	while (bridge_data_next(f, &m)) {
		const uint8_t *b = m.buf;
		if (b < data || b + m.len > data + size || m.seq != pos || m.end <= m.seq)
			abort(); /* a message outside the input, or out of order */
		if (bridge_data_put(out, cap, &off, m.buf, m.len, m.end - m.seq))
			abort();
		pos = m.end;
		n++;
	}
	if (n != f->u.data.count)
		abort();
	return (int)off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bridge_frame f;
	int rc = bridge_decode(data, size, &f);
	if (rc == -EBADMSG)
		return 0;
	if (rc == -EPROTONOSUPPORT) {
		if (size < BRIDGE_HDR || data[2] == BRIDGE_VERSION)
			abort(); /* only another version is told apart */
		return 0;
	}
	if (rc != 0)
		abort();
	uint8_t *out = malloc(size + 1);
	if (!out)
		return 0;
	int n = encode_again(&f, out, size + 1, data, size);
	/* REFUSE of another version is accepted; the encoder writes ours. */
	if (n < 0 || (size_t)n != size || memcmp(out + 3, data + 3, size - 3) ||
	    memcmp(out, data, 2) || (f.type != BRIDGE_REFUSE && out[2] != data[2]))
		abort();
	free(out);
	return 0;
}
