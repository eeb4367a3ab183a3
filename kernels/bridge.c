/* SPDX-License-Identifier: MIT */
/*
 * The bridge wire protocol's codec (bridge.h has the frame table). The
 * decoder reads only inside [buf, buf + len): every field is taken through
 * a cursor that refuses to pass the end, and every count and length is
 * checked against what is left before it is used.
 */
#define _GNU_SOURCE
#include "bridge.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* ---- little-endian fields ---------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A read cursor: take() fails once, and stays failed, when a field would
 * pass the end. */
struct rd {
	const uint8_t *p, *end;
	int bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *at = r->p;
	r->p += n;
	return at;
}

static uint64_t take_le(struct rd *r, unsigned n)
{
	const uint8_t *p = take(r, n);
	return p ? get_le(p, n) : 0;
}

/* A write cursor, the same way round. */
struct wr {
	uint8_t *p, *end;
	int full;
};

static uint8_t *give(struct wr *w, size_t n)
{
	if (w->full || (size_t)(w->end - w->p) < n) {
		w->full = 1;
		return NULL;
	}
	uint8_t *at = w->p;
	w->p += n;
	return at;
}

static void give_le(struct wr *w, uint64_t v, unsigned n)
{
	uint8_t *p = give(w, n);
	if (p)
		put_le(p, v, n);
}

static void give_header(struct wr *w, uint8_t type, uint32_t session)
{
	uint8_t *p = give(w, BRIDGE_HDR);
	if (!p)
		return;
	p[0] = 'S';
	p[1] = 'B';
	p[2] = BRIDGE_VERSION;
	p[3] = type;
	put_le(p + 4, session, 4);
}

static int wr_done(const struct wr *w, const void *start)
{
	return w->full ? -ENOSPC : (int)(w->p - (const uint8_t *)start);
}

/* ---- names and text ------------------------------------------------------ */

static int name_ok(const uint8_t *s, size_t n)
{
	if (n == 0 || n > BRIDGE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

int bridge_check_name(const char *s)
{
	size_t n = strnlen(s, BRIDGE_NAME_MAX + 1);
	return name_ok((const uint8_t *)s, n) ? 0 : -EINVAL;
}

static void give_name(struct wr *w, const char *s)
{
	size_t n = strlen(s);
	give_le(w, n, 1);
	uint8_t *p = give(w, n);
	if (p)
		memcpy(p, s, n);
}

static int take_name(struct rd *r, char out[BRIDGE_NAME_MAX + 1])
{
	size_t n = (size_t)take_le(r, 1);
	const uint8_t *s = take(r, n);
	if (!s || !name_ok(s, n))
		return -EBADMSG;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* ---- encoders ------------------------------------------------------------ */

int bridge_encode_hello(void *buf, size_t cap, uint32_t session, const struct bridge_hello *h)
{
	if (bridge_check_name(h->edge) || bridge_check_name(h->producer) ||
	    bridge_check_name(h->consumer))
		return -EINVAL;
	struct wr w = { buf, (uint8_t *)buf + cap, 0 };
	give_header(&w, BRIDGE_HELLO, session);
	give_le(&w, h->hash, 8);
	give_le(&w, h->run_id, 8);
	give_le(&w, h->from, 8);
	give_le(&w, h->window, 8);
	give_name(&w, h->edge);
	give_name(&w, h->producer);
	give_name(&w, h->consumer);
	return wr_done(&w, buf);
}

int bridge_encode_pos(void *buf, size_t cap, uint8_t type, uint32_t session, uint64_t pos)
{
	if (type != BRIDGE_WELCOME && type != BRIDGE_ACK && type != BRIDGE_RESEND &&
	    type != BRIDGE_END && type != BRIDGE_DONE && type != BRIDGE_IDLE)
		return -EINVAL;
	struct wr w = { buf, (uint8_t *)buf + cap, 0 };
	give_header(&w, type, session);
	give_le(&w, pos, 8);
	return wr_done(&w, buf);
}

int bridge_encode_refuse(void *buf, size_t cap, uint32_t session, uint8_t code, const char *text)
{
	size_t n = 0;
	while (n < BRIDGE_REASON_MAX && text[n] >= 0x20 && text[n] <= 0x7e)
		n++;
	struct wr w = { buf, (uint8_t *)buf + cap, 0 };
	give_header(&w, BRIDGE_REFUSE, session);
	give_le(&w, code, 1);
	give_le(&w, n, 2);
	uint8_t *p = give(&w, n);
	if (p)
		memcpy(p, text, n);
	return wr_done(&w, buf);
}

int bridge_encode_bulk(void *buf, size_t cap, uint32_t session, uint64_t seq, size_t len,
		       uint64_t span)
{
	if (len < BRIDGE_BULK_MIN || len > UINT32_MAX || span > UINT32_MAX ||
	    span < len + BRIDGE_REC_HDR || seq + span < seq)
		return -EINVAL;
	struct wr w = { buf, (uint8_t *)buf + cap, 0 };
	give_header(&w, BRIDGE_BULK, session);
	give_le(&w, seq, 8);
	give_le(&w, len, 4);
	give_le(&w, span, 4);
	return wr_done(&w, buf);
}

size_t bridge_data_size(uint32_t count, uint64_t payload)
{
	return BRIDGE_DATA_HDR + (size_t)count * BRIDGE_REC_HDR + (size_t)payload;
}

int bridge_data_begin(void *buf, size_t cap, uint32_t session, uint64_t first, uint32_t count,
		      size_t *off)
{
	if (count == 0 || count > BRIDGE_BATCH_MSGS)
		return -EINVAL;
	struct wr w = { buf, (uint8_t *)buf + cap, 0 };
	give_header(&w, BRIDGE_DATA, session);
	give_le(&w, first, 8);
	give_le(&w, count, 4);
	int n = wr_done(&w, buf);
	if (n < 0)
		return n;
	*off = (size_t)n;
	return 0;
}

int bridge_data_put(void *buf, size_t cap, size_t *off, const void *msg, size_t len,
		    uint64_t span)
{
	if (len == 0 || len > UINT32_MAX || span > UINT32_MAX || span < len + BRIDGE_REC_HDR)
		return -EINVAL;
	if (*off > cap)
		return -ENOSPC;
	struct wr w = { (uint8_t *)buf + *off, (uint8_t *)buf + cap, 0 };
	give_le(&w, len, 4);
	give_le(&w, span, 4);
	uint8_t *p = give(&w, len);
	if (!p)
		return -ENOSPC;
	memcpy(p, msg, len);
	*off = (size_t)(w.p - (uint8_t *)buf);
	return 0;
}

/* ---- decoder ------------------------------------------------------------- */

static int decode_hello(struct rd *r, struct bridge_hello *h)
{
	h->hash = take_le(r, 8);
	h->run_id = take_le(r, 8);
	h->from = take_le(r, 8);
	h->window = take_le(r, 8);
	if (r->bad || take_name(r, h->edge) || take_name(r, h->producer) ||
	    take_name(r, h->consumer))
		return -EBADMSG;
	return 0;
}

static int decode_refuse(struct rd *r, struct bridge_frame *f)
{
	f->u.refuse.code = (uint8_t)take_le(r, 1);
	size_t n = (size_t)take_le(r, 2);
	const uint8_t *s = take(r, n);
	if (!s || n > BRIDGE_REASON_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return -EBADMSG;
	memcpy(f->u.refuse.text, s, n);
	f->u.refuse.text[n] = '\0';
	return 0;
}

/* Walk every record once, so that a frame is refused whole before any of
 * its messages is delivered: a malformed tail never half-delivers. */
static int decode_data(struct rd *r, struct bridge_frame *f)
{
	f->u.data.first = take_le(r, 8);
	f->u.data.count = (uint32_t)take_le(r, 4);
	if (r->bad || f->u.data.count == 0 || f->u.data.count > BRIDGE_BATCH_MSGS)
		return -EBADMSG;
	f->u.data.rec = r->p;
	uint64_t pos = f->u.data.first;
	for (uint32_t i = 0; i < f->u.data.count; i++) {
		uint32_t len = (uint32_t)take_le(r, 4);
		uint32_t span = (uint32_t)take_le(r, 4);
		if (r->bad || len == 0 || (uint64_t)span < (uint64_t)len + BRIDGE_REC_HDR ||
		    !take(r, len) || pos + span < pos)
			return -EBADMSG;
		pos += span;
	}
	f->u.data.end = r->p;
	return 0;
}

/* The header of a message whose bytes come as the next part. */
static int decode_bulk(struct rd *r, struct bridge_frame *f)
{
	f->u.data.first = take_le(r, 8);
	f->u.data.len = (uint32_t)take_le(r, 4);
	f->u.data.span = (uint32_t)take_le(r, 4);
	f->u.data.count = 1;
	f->u.data.rec = f->u.data.end = NULL; /* until bridge_bulk_attach */
	if (r->bad || f->u.data.len < BRIDGE_BULK_MIN ||
	    (uint64_t)f->u.data.span < (uint64_t)f->u.data.len + BRIDGE_REC_HDR ||
	    f->u.data.first + f->u.data.span < f->u.data.first)
		return -EBADMSG;
	return 0;
}

static int decode_body(struct rd *r, struct bridge_frame *f)
{
	switch (f->type) {
	case BRIDGE_HELLO:
		return decode_hello(r, &f->u.hello);
	case BRIDGE_REFUSE:
		return decode_refuse(r, f);
	case BRIDGE_DATA:
		return decode_data(r, f);
	case BRIDGE_BULK:
		return decode_bulk(r, f);
	case BRIDGE_WELCOME:
	case BRIDGE_ACK:
	case BRIDGE_RESEND:
	case BRIDGE_END:
	case BRIDGE_DONE:
	case BRIDGE_IDLE:
		f->u.pos = take_le(r, 8);
		return r->bad ? -EBADMSG : 0;
	default:
		return -EBADMSG;
	}
}

int bridge_decode(const void *buf, size_t len, struct bridge_frame *f)
{
	struct rd r = { buf, (const uint8_t *)buf + len, 0 };
	memset(f, 0, offsetof(struct bridge_frame, u));
	const uint8_t *h = take(&r, BRIDGE_HDR);
	if (!h || h[0] != 'S' || h[1] != 'B')
		return -EBADMSG;
	f->type = h[3];
	f->session = (uint32_t)get_le(h + 4, 4);
	if (h[2] != BRIDGE_VERSION && f->type != BRIDGE_REFUSE)
		return -EPROTONOSUPPORT;
	int rc = decode_body(&r, f);
	if (rc == 0 && r.p != r.end)
		rc = -EBADMSG; /* trailing bytes: not a frame of this version */
	return rc;
}

int bridge_bulk_attach(struct bridge_frame *f, const void *buf, size_t len)
{
	if (f->type != BRIDGE_BULK || f->u.data.rec || len != f->u.data.len)
		return -EBADMSG;
	f->u.data.rec = buf;
	f->u.data.end = (const uint8_t *)buf + len;
	return 0;
}

/* A BULK frame's one message, once attached; then no more. */
static int bulk_next(struct bridge_frame *f, struct bridge_msg *m)
{
	if (!f->u.data.rec || !f->u.data.count ||
	    (size_t)(f->u.data.end - f->u.data.rec) != f->u.data.len)
		return 0;
	m->seq = f->u.data.first;
	m->end = m->seq + f->u.data.span;
	m->buf = f->u.data.rec;
	m->len = f->u.data.len;
	f->u.data.count = 0;
	return 1;
}

int bridge_data_next(struct bridge_frame *f, struct bridge_msg *m)
{
	if (f->type == BRIDGE_BULK)
		return bulk_next(f, m);
	/* Checked whole by decode_data; the bounds are checked again anyway,
	 * as the price of a caller that passes a frame it did not decode. */
	if (f->type != BRIDGE_DATA || f->u.data.end - f->u.data.rec < (ptrdiff_t)BRIDGE_REC_HDR)
		return 0;
	const uint8_t *p = f->u.data.rec;
	uint32_t len = (uint32_t)get_le(p, 4), span = (uint32_t)get_le(p + 4, 4);
	if ((size_t)(f->u.data.end - p - BRIDGE_REC_HDR) < len)
		return 0;
	m->seq = f->u.data.first;
	m->end = m->seq + span;
	m->buf = p + BRIDGE_REC_HDR;
	m->len = len;
	f->u.data.first = m->end;
	f->u.data.rec = p + BRIDGE_REC_HDR + len;
	return 1;
}

const char *bridge_type_name(unsigned type)
{
	static const char *const names[] = { "unknown", "HELLO", "WELCOME", "REFUSE", "DATA",
					     "ACK", "RESEND", "END", "DONE", "IDLE", "BULK" };
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : names[0];
}

int bridge_parse_hex64(const char *s, uint64_t *v)
{
	size_t n = strlen(s);
	if (n == 0 || n > 16)
		return -EINVAL;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
			   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
		if (d > 15)
			return -EINVAL;
		x = x << 4 | d;
	}
	*v = x;
	return 0;
}

/* The 85 characters of Z85 (ZeroMQ RFC 32). */
static int z85_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr(".-:+=^!/*?&<>()[]{}@%$#", c));
}

int bridge_read_key(const char *path, unsigned line, char key[41])
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char text[512];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err)
		return err;
	text[n] = '\0';
	const char *p = text;
	for (unsigned i = 0; i < line && p; i++) {
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	if (!p)
		return -EINVAL;
	size_t len = strcspn(p, "\r\n");
	if (len != 40)
		return -EINVAL;
	for (size_t i = 0; i < 40; i++)
		if (!z85_char(p[i]))
			return -EINVAL;
	memcpy(key, p, 40);
	key[40] = '\0';
	return 0;
}

void bridge_keep_heap(void)
{
#ifdef __GLIBC__
	/* Both set: setting either alone stops glibc's dynamic thresholds and
	 * would leave messages above 128 KiB mmapped (a fault per page each). */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}
