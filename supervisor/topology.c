/* SPDX-License-Identifier: MIT */
/*
 * Topology files, parsed with libyaml's document API (every node carries its
 * line) and validated in one pass. Errors are "FILE:LINE: problem: fix".
 *
 * Every check is linear in the size of the file: kernel names, ports, ring
 * ends and environment keys are found in hash sets, never by scanning what
 * came before, and the counts the supervisor is limited to are checked before
 * the items are. The largest topology accepted is checked in well under a
 * second; the worst 16 MiB file, in a few (mostly libyaml building its
 * nodes). Aliases (*name) cannot multiply the work: the values visited are
 * budgeted against the nodes the file holds (spend()).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "topology.h"

/* The control segment's limits are the topology's (TOPO_MAX_* repeat them so
 * the parser builds without the library's private headers, as the fuzz
 * target does); where control.h is reachable, prove they agree. */
#if __has_include("control.h")
#include "control.h"
static_assert(TOPO_MAX_KERNELS == SHMRING_CTL_MAX_KERNELS, "kernel limit of control.h");
static_assert(TOPO_MAX_RINGS == SHMRING_CTL_MAX_RINGS, "ring limit of control.h");
static_assert(TOPO_NAME_MAX + 1 == SHMRING_CTL_NAME, "name length of control.h");
static_assert((int)TOPO_PRIO_HIGH == (int)SMR_PRIO_HIGH &&
	      (int)TOPO_PRIO_NORMAL == (int)SMR_PRIO_NORMAL &&
	      (int)TOPO_PRIO_LOW == (int)SMR_PRIO_LOW, "input priorities of control.h");
#endif

/* ---- a set of strings --------------------------------------------------- */

/* Open addressing, linear probing, at most half full. A key is (tag, bytes):
 * the tag scopes a name (for ports, the kernel's index). The bytes are not
 * copied and must outlive the set. */
struct hent {
	const char *s; /* NULL: free slot */
	size_t len, tag, val;
};
struct hset {
	struct hent *e;
	size_t cap, n;
};

static uint64_t hash(size_t tag, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ ((uint64_t)tag * 0x9e3779b97f4a7c15ull);
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull; /* FNV-1a */
	h ^= h >> 33; /* then murmur3's finaliser: the low bits index the table */
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static struct hent *hset_slot(const struct hset *h, size_t tag, const char *s, size_t len)
{
	size_t mask = h->cap - 1;
	for (size_t i = (size_t)hash(tag, s, len) & mask;; i = (i + 1) & mask) {
		struct hent *e = &h->e[i];
		if (!e->s || (e->tag == tag && e->len == len && !memcmp(e->s, s, len)))
			return e;
	}
}

static void hset_free(struct hset *h)
{
	free(h->e);
	*h = (struct hset){ 0 };
}

/* Add (tag, s) -> val: 0 added, 1 there already (*old = its val), -ENOMEM. */
static int hset_add(struct hset *h, size_t tag, const char *s, size_t len, size_t val, size_t *old)
{
	if (2 * (h->n + 1) > h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		struct hset g = { calloc(cap, sizeof(struct hent)), cap, h->n };
		if (!g.e)
			return -ENOMEM;
		for (size_t i = 0; i < h->cap; i++)
			if (h->e[i].s)
				*hset_slot(&g, h->e[i].tag, h->e[i].s, h->e[i].len) = h->e[i];
		free(h->e);
		*h = g;
	}
	struct hent *e = hset_slot(h, tag, s, len);
	if (e->s) {
		if (old)
			*old = e->val;
		return 1;
	}
	*e = (struct hent){ s, len, tag, val };
	h->n++;
	return 0;
}

static int hset_get(const struct hset *h, size_t tag, const char *s, size_t len, size_t *val)
{
	if (!h->cap)
		return 0;
	const struct hent *e = hset_slot(h, tag, s, len);
	if (e->s)
		*val = e->val;
	return e->s != NULL;
}

/* ---- parsing context ---------------------------------------------------- */

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct topology *t;
	size_t spent, budget;   /* values visited, and the most allowed */
	struct hset kernels;    /* kernel name -> index */
	struct hset hosts;      /* host name -> index */
	struct hset ports;      /* (kernel index, port name) -> id << 1 | is output */
	uint32_t *port_ring;    /* per port id: 1 + index of its ring, 0 = none yet */
	size_t nports, cap_ports;
	size_t *in_base, *out_base; /* per kernel: id of its first input, output */
};

/* Values a file may expand to through aliases beyond the nodes it holds. */
#define TOPO_ALIAS_SLACK 1000000u

static int fail(struct ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, int line, const char *fmt, ...)
{
	int n = snprintf(c->err, c->errlen, "%s:%d: ", c->file, line);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int line_of(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static yaml_node_t *node(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping"
	     : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

static int want(struct ctx *c, const yaml_node_t *n, yaml_node_type_t type, const char *what)
{
	if (n->type == type)
		return 0;
	return fail(c, line_of(n), "%s must be %s, not %s", what,
		    type == YAML_MAPPING_NODE ? "a mapping (key: value lines)"
		    : type == YAML_SEQUENCE_NODE ? "a list (- item lines)" : "a single value",
		    kind(n));
}

static size_t nitems(const yaml_node_t *n)
{
	return n->type == YAML_SEQUENCE_NODE
		? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
		: n->type == YAML_MAPPING_NODE
		? (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start) : 0;
}

/* Count items about to be visited. Without aliases every node is visited
 * once; an alias visits its anchor's node again, so a small file could name
 * a long list a thousand times over. */
static int spend(struct ctx *c, const yaml_node_t *n, size_t items)
{
	if ((c->spent += items) <= c->budget)
		return 0;
	return fail(c, line_of(n), "through aliases (*name) this file expands to more than %zu "
		    "values: repeat less, or write the parts out", c->budget);
}

/* Names of topologies, kernels and ports become parts of segment names. */
static int check_name_str(struct ctx *c, int line, const char *s, const char *what, char *out)
{
	size_t len = strlen(s);
	int ok = len >= 1 && len <= TOPO_NAME_MAX && s[0] != '-' && s[0] != '_';
	for (size_t i = 0; ok && i < len; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		     (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-';
	if (!ok)
		return fail(c, line, "%s '%.40s' is not a valid name: use 1 to %d letters, "
			    "digits, '_' or '-', starting with a letter or digit", what, s, TOPO_NAME_MAX);
	if (out)
		memcpy(out, s, len + 1);
	return 0;
}

static int check_name(struct ctx *c, const yaml_node_t *n, const char *what, char *out)
{
	const char *s = scalar(n);
	if (!s)
		return fail(c, line_of(n), "%s must be a single value, not %s", what, kind(n));
	return check_name_str(c, line_of(n), s, what, out);
}

/* "a, b, c" for messages that list the valid choices; stops when full. */
static const char *join(char *buf, size_t len, char *const *items, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && items[i] && used + 1 < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", items[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	return buf;
}

/* Walk a mapping's pairs; reject keys not in `keys` (a typo otherwise passes
 * silently) and duplicates. Linear: a mapping holds at most as many pairs as
 * there are keys before one is unknown or repeated. */
typedef int (*pair_fn)(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg);

static int each_pair(struct ctx *c, yaml_node_t *map, const char *what, const char *const *keys,
		     pair_fn fn, void *arg)
{
	int rc = want(c, map, YAML_MAPPING_NODE, what);
	if (rc || (rc = spend(c, map, nitems(map))))
		return rc;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
		const char *key = scalar(k);
		if (!key || !v)
			return fail(c, line_of(k), "%s has a key that is not a plain word", what);
		size_t i;
		for (i = 0; keys[i] && strcmp(keys[i], key); i++)
			;
		if (!keys[i]) {
			char list[256];
			return fail(c, line_of(k), "unknown key '%.40s' in %s: the keys are %s", key,
				    what, join(list, sizeof(list), (char *const *)keys, SIZE_MAX));
		}
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
			if (!strcmp(scalar(node(c, q->key)), key))
				return fail(c, line_of(k), "key '%s' appears twice in %s (first on "
					    "line %d): keep one", key, what, line_of(node(c, q->key)));
		if ((rc = fn(c, key, k, v, arg)))
			return rc;
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *v, char **end)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno ? -1 : 0;
}

void topo_rings_phrase(const struct topology *t, char *buf, size_t len)
{
	size_t rings = 0, bcast = 0, readers = 0;
	for (size_t i = 0; i < t->nrings; i++) {
		const struct topo_ring *r = &t->rings[i];
		rings += r->bcast_index == 0;
		bcast += r->bcast_n && r->bcast_index == 0;
		readers += r->bcast_n != 0;
	}
	int n = snprintf(buf, len, "%zu ring%s", rings, rings == 1 ? "" : "s");
	if (bcast && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, bcast == 1 ? " (one a broadcast to %zu readers)"
				: " (%zu broadcast, to %zu readers in all)", bcast == 1 ? readers : bcast,
			 readers);
}

uint64_t topo_ring_capacity(uint64_t asked)
{
	uint64_t p = TOPO_RING_MIN;
	while (p < asked && p < TOPO_RING_MAX)
		p <<= 1;
	return p;
}

/* "64KiB", "1M", "4096" (bytes). */
static int parse_capacity(struct ctx *c, yaml_node_t *n, struct topo_ring *r)
{
	static const struct { const char *unit; uint64_t mul; } u[] = {
		{ "", 1 }, { "B", 1 }, { "K", 1u << 10 }, { "KiB", 1u << 10 }, { "KB", 1u << 10 },
		{ "M", 1u << 20 }, { "MiB", 1u << 20 }, { "MB", 1u << 20 },
		{ "G", 1u << 30 }, { "GiB", 1u << 30 }, { "GB", 1u << 30 } };
	const char *s = scalar(n);
	char *end;
	uint64_t v;
	if (parse_u64(s, &v, &end) == 0)
		for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
			if (!strcmp(end, u[i].unit) && v <= (1ull << 40) / u[i].mul) {
				v *= u[i].mul;
				if (v < TOPO_RING_MIN || v > TOPO_RING_MAX)
					return fail(c, line_of(n), "capacity %s is out of range: a ring "
						    "holds 4KiB to 1GiB", s);
				r->capacity_asked = v;
				r->capacity = topo_ring_capacity(v);
				return 0;
			}
	return fail(c, line_of(n), "capacity '%.40s' is not a size: write e.g. 4096, 64KiB, 1MiB",
		    s ? s : kind(n));
}

/* "500ms", "2s", "1m": more than 0, at most a day. */
#define TOPO_DURATION_MAX 86400000u

const char *const topo_strategy_names[] = { "one_for_one", "one_for_all", "rest_for_one", NULL };
const char *const topo_restart_names[] = { "permanent", "transient", "temporary", NULL };

int topo_duration(const char *s, uint64_t *ms)
{
	static const struct { const char *unit; uint64_t mul; } u[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 } };
	char *end;
	uint64_t v;
	if (parse_u64(s, &v, &end) == 0)
		for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
			if (strcmp(end, u[i].unit))
				continue;
			if (v == 0)
				return -EDOM;
			if (v > TOPO_DURATION_MAX / u[i].mul)
				return -ERANGE;
			*ms = v * u[i].mul;
			return 0;
		}
	return -EINVAL;
}

static int parse_duration(struct ctx *c, yaml_node_t *n, const char *what, const char *zero,
			  uint64_t *ms)
{
	const char *s = scalar(n);
	int rc = topo_duration(s, ms);
	if (rc == -EDOM)
		return fail(c, line_of(n), "%s %.40s %s", what, s, zero);
	if (rc == -ERANGE)
		return fail(c, line_of(n), "%s %.40s is more than a day (1440m): write a shorter one",
			    what, s);
	if (rc < 0)
		return fail(c, line_of(n), "'%.40s' is not a duration: write e.g. 500ms, 2s, 1m",
			    s ? s : kind(n));
	return 0;
}

static int pick(struct ctx *c, yaml_node_t *n, const char *what, const char *const *names, int *out)
{
	const char *s = scalar(n);
	for (int i = 0; s && names[i]; i++)
		if (!strcmp(s, names[i]))
			return *out = i, 0;
	char list[160];
	return fail(c, line_of(n), "%s '%.40s' is unknown: use one of %s", what, s ? s : kind(n),
		    join(list, sizeof(list), (char *const *)names, SIZE_MAX));
}

/* A list of scalars into a malloc'd string array. */
static int strings(struct ctx *c, yaml_node_t *n, const char *what, char ***out, size_t *count)
{
	int rc = want(c, n, YAML_SEQUENCE_NODE, what);
	if (rc || (rc = spend(c, n, nitems(n))))
		return rc;
	*out = calloc(nitems(n) + 1, sizeof(char *));
	if (!*out)
		return -ENOMEM;
	*count = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		const char *s = scalar(node(c, *it));
		if (!s)
			return fail(c, line_of(node(c, *it)), "each item of %s must be a single value", what);
		if (!((*out)[(*count)++] = strdup(s)))
			return -ENOMEM;
	}
	return 0;
}

/* ---- supervision ------------------------------------------------------- */

static int supervision_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	(void)k, (void)arg;
	struct topology *t = c->t;
	if (!strcmp(key, "strategy")) {
		int s = 0;
		int rc = pick(c, v, "strategy", topo_strategy_names, &s);
		t->strategy = (enum topo_strategy)s;
		return rc;
	}
	if (!strcmp(key, "intensity")) {
		uint64_t n;
		char *end;
		if (parse_u64(scalar(v), &n, &end) || *end || n > TOPO_INTENSITY_MAX)
			return fail(c, line_of(v), "intensity must be a whole number of restarts, 0 "
				    "to %u, e.g. 5", TOPO_INTENSITY_MAX);
		t->intensity = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "period"))
		return parse_duration(c, v, "period", "would turn the restart limit off: write a "
				      "period above 0, e.g. 5s", &t->period_ms);
	if (!strcmp(key, "ready"))
		return parse_duration(c, v, "ready", "leaves kernels no time to start: write a "
				      "deadline above 0, e.g. 30s, or leave ready out", &t->ready_ms);
	return parse_duration(c, v, "grace", "would kill every kernel the moment it is asked to "
			      "stop: write a grace above 0, e.g. 2s", &t->grace_ms);
}

/* ---- hosts -------------------------------------------------------------- */

/* The Z85 alphabet (ZeroMQ RFC 32): a 40-character word of it is a key
 * written out; anything else under curve.public is a file. */
static const char z85_chars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				".-:+=^!/*?&<>()[]{}@%$#";

int topo_key_literal(const char *s)
{
	return strlen(s) == TOPO_KEY_LEN && strspn(s, z85_chars) == TOPO_KEY_LEN;
}

/* A DNS name: labels of letters, digits and '-', not starting or ending in
 * '-', joined by dots; not only digits and dots (a mistyped IPv4 address). */
static int dns_name(const char *s)
{
	size_t len = strlen(s), label = 0;
	int letter = 0;
	if (len == 0 || len > TOPO_ADDR_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char ch = s[i];
		if (ch == '.' || ch == '\0') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || ch == '-';
		if (!ok || ++label > 63 || (label == 1 && ch == '-'))
			return 0;
		letter |= !(ch >= '0' && ch <= '9');
	}
	return letter;
}

/* 4 (IPv4), 6 (IPv6) or 0 (not a literal); bin receives the address. */
static int ip_literal(const char *s, unsigned char bin[16])
{
	if (inet_pton(AF_INET, s, bin) == 1)
		return 4;
	return inet_pton(AF_INET6, s, bin) == 1 ? 6 : 0;
}

static int parse_address(struct ctx *c, yaml_node_t *v, struct topo_host *h)
{
	const char *s = scalar(v);
	unsigned char bin[16];
	int fam = s ? ip_literal(s, bin) : 0;
	if (!s || (!fam && !dns_name(s)))
		return fail(c, line_of(v), "host '%s': address '%.60s' is neither an IPv4 or IPv6 "
			    "address nor a host name: write e.g. 10.77.0.1, fd00::1 or node1.lan",
			    h->name, s ? s : kind(v));
	static const unsigned char any[16];
	if (fam && !memcmp(bin, any, fam == 4 ? 4 : 16))
		return fail(c, line_of(v), "host '%s': address %s means every interface: bridges "
			    "bind only the address named, so name the one the other hosts reach "
			    "this host at", h->name, s);
	return (h->address = strdup(s)) ? 0 : -ENOMEM;
}

static int curve_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct topo_host *h = arg;
	const char *s = scalar(v);
	(void)k;
	if (!s || !*s)
		return fail(c, line_of(v), "host '%s': curve.%s must be a single value: %s", h->name,
			    key, strcmp(key, "public") ? "the file holding this host's key pair"
			    : "this host's public key (40 Z85 characters) or the file holding it");
	char **slot = strcmp(key, "public") ? &h->curve_secret : &h->curve_public;
	return (*slot = strdup(s)) ? 0 : -ENOMEM;
}

static int host_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	static const char *const curve_keys[] = { "public", "secret_file", NULL };
	struct topo_host *h = arg;
	(void)k;
	if (!strcmp(key, "address"))
		return parse_address(c, v, h);
	if (!strcmp(key, "port")) {
		uint64_t p;
		char *end;
		if (parse_u64(scalar(v), &p, &end) || *end || p < 1 || p > 65535)
			return fail(c, line_of(v), "host '%s': port '%.20s' is not a TCP port: write "
				    "1 to 65535 (default %u)", h->name, scalar(v) ? scalar(v) : kind(v),
				    TOPO_PORT_DEFAULT);
		h->port = (unsigned)p;
		return 0;
	}
	int rc = each_pair(c, v, "curve", curve_keys, curve_pair, h);
	if (rc == 0 && (!h->curve_public || !h->curve_secret))
		rc = fail(c, line_of(v), "host '%s': curve needs both public: (its public key) and "
			  "secret_file: (its key pair file, read only on that host)", h->name);
	return rc;
}

/* Two hosts may share an address (one machine, or tests): then their
 * listening ports, base .. base + edges into it - 1, must not overlap. */
static int check_host_ports(struct ctx *c, const unsigned *edges_in)
{
	struct topology *t = c->t;
	for (size_t i = 0; i < t->nhosts; i++)
		for (size_t j = 0; j < i; j++) {
			const struct topo_host *a = &t->hosts[i], *b = &t->hosts[j];
			if (!edges_in[i] || !edges_in[j] || strcmp(a->address, b->address))
				continue;
			if (a->port < b->port + edges_in[j] && b->port < a->port + edges_in[i])
				return fail(c, a->line, "hosts '%s' and '%s' share address %s and their "
					    "ports overlap (%u-%u and %u-%u): give one of them another "
					    "port:", a->name, b->name, a->address, a->port,
					    a->port + edges_in[i] - 1, b->port, b->port + edges_in[j] - 1);
		}
	return 0;
}

/* After the rings: number the bridge edges into each host, in file order,
 * and give each its port. */
static int assign_ports(struct ctx *c)
{
	struct topology *t = c->t;
	unsigned edges_in[TOPO_MAX_HOSTS] = { 0 };
	for (size_t r = 0; r < t->nrings; r++) {
		struct topo_ring *ring = &t->rings[r];
		size_t from = t->kernels[ring->from_kernel].host, to = t->kernels[ring->to_kernel].host;
		if (from == to)
			continue;
		if (ring->bcast_n)
			return fail(c, ring->line, "broadcast ring from %s.%s reaches kernel '%s' on "
				    "host '%s', not its producer's host '%s': a broadcast ring lives "
				    "in one machine's memory; put its consumers on '%s', or add a ring "
				    "of its own for each other host", t->kernels[ring->from_kernel].name,
				    ring->from_port, t->kernels[ring->to_kernel].name, t->hosts[to].name,
				    t->hosts[from].name, t->hosts[from].name);
		const struct topo_host *h = &t->hosts[to];
		if (h->port + edges_in[to] > 65535)
			return fail(c, ring->line, "this ring is bridge edge %u into host '%s', whose "
				    "port would be %u, past 65535: give '%s' a lower port: (each edge "
				    "into a host listens on the next port)", edges_in[to] + 1, h->name,
				    h->port + edges_in[to], h->name);
		ring->port = h->port + edges_in[to]++;
	}
	return check_host_ports(c, edges_in);
}

static int parse_hosts(struct ctx *c, yaml_node_t *map)
{
	static const char *const keys[] = { "address", "port", "curve", NULL };
	int rc = want(c, map, YAML_MAPPING_NODE, "hosts");
	if (rc)
		return rc;
	size_t n = nitems(map);
	if (n == 0)
		return fail(c, line_of(map), "hosts is empty: name each host (a: { address: "
			    "10.77.0.1 }), or leave hosts out to run on one machine");
	if (n > TOPO_MAX_HOSTS)
		return fail(c, line_of(map), "%zu hosts, more than the %u one topology may span: "
			    "split it into several topologies", n, TOPO_MAX_HOSTS);
	if ((rc = spend(c, map, n)))
		return rc;
	struct topology *t = c->t;
	if (!(t->hosts = calloc(n, sizeof(*t->hosts))))
		return -ENOMEM;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
		struct topo_host *h = &t->hosts[t->nhosts++];
		h->line = line_of(k);
		h->port = TOPO_PORT_DEFAULT;
		size_t first;
		if ((rc = check_name(c, k, "host name", h->name)))
			return rc;
		if ((rc = hset_add(&c->hosts, 0, h->name, strlen(h->name), t->nhosts - 1, &first)) < 0)
			return rc;
		if (rc)
			return fail(c, h->line, "host '%s' appears twice (first on line %d): keep one",
				    h->name, t->hosts[first].line);
		if ((rc = each_pair(c, v, "a host", keys, host_pair, h)))
			return rc;
		if (!h->address)
			return fail(c, h->line, "host '%s' has no address: add address: (where the "
				    "other hosts reach it, e.g. 10.77.0.1)", h->name);
		if (!h->curve_public != !t->hosts[0].curve_public)
			return fail(c, h->line, "host '%s' %s curve: but host '%s' %s: give every "
				    "host keys, or none", h->name, h->curve_public ? "has" : "has no",
				    t->hosts[0].name, h->curve_public ? "has none" : "has");
	}
	return 0;
}

/* A kernel's host: one of hosts:. */
static int kernel_host(struct ctx *c, yaml_node_t *v, struct topo_kernel *kn)
{
	const char *s = scalar(v);
	if (!c->t->nhosts)
		return fail(c, line_of(v), "kernel '%s' names host '%.40s' but the file has no "
			    "hosts:: declare it under hosts:, or remove host:", kn->name,
			    s ? s : kind(v));
	char list[200];
	if (!s || !hset_get(&c->hosts, 0, s, strlen(s), &kn->host)) {
		char *names[TOPO_MAX_HOSTS];
		for (size_t i = 0; i < c->t->nhosts; i++)
			names[i] = c->t->hosts[i].name;
		return fail(c, line_of(v), "kernel '%s': no host named '%.40s' (hosts: %s): declare "
			    "it under hosts: or fix the name", kn->name, s ? s : kind(v),
			    join(list, sizeof(list), names, c->t->nhosts));
	}
	return 0;
}

/* With hosts:, every kernel names one: a kernel left out would run on no
 * host, or on all of them. */
static int check_kernel_hosts(struct ctx *c)
{
	struct topology *t = c->t;
	for (size_t i = 0; t->nhosts && i < t->nkernels; i++)
		if (t->kernels[i].host == TOPO_NO_HOST)
			return fail(c, t->kernels[i].line, "kernel '%s' has no host: with hosts: every "
				    "kernel names one: add host: %s (or another)", t->kernels[i].name,
				    t->hosts[0].name);
	return 0;
}

/* ---- kernels ------------------------------------------------------------ */

static int parse_env(struct ctx *c, yaml_node_t *v, struct topo_kernel *kn)
{
	int rc = want(c, v, YAML_MAPPING_NODE, "env");
	if (rc || (rc = spend(c, v, nitems(v))))
		return rc;
	if (!(kn->env = calloc(nitems(v) + 1, sizeof(char *))))
		return -ENOMEM;
	struct hset seen = { 0 };
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key), *ev = node(c, p->value);
		const char *key = scalar(k), *val = scalar(ev);
		if (!key) {
			rc = fail(c, line_of(k), "env keys must be variable names");
			break;
		}
		int ok = (key[0] < '0' || key[0] > '9') && key[0];
		for (const char *q = key; ok && *q; q++)
			ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
			     (*q >= '0' && *q <= '9') || *q == '_';
		size_t first;
		if (!ok)
			rc = fail(c, line_of(k), "'%.40s' is not an environment variable name", key);
		else if (!strncmp(key, "SHMRING_", 8))
			rc = fail(c, line_of(k), "environment variable %s: the SHMRING_ prefix is "
				  "reserved for the supervisor; rename it", key);
		else if (!val)
			rc = fail(c, line_of(ev), "environment variable %s must have a single value", key);
		else if ((rc = hset_add(&seen, 0, key, strlen(key), (size_t)line_of(k), &first)) > 0)
			rc = fail(c, line_of(k), "environment variable %s is set twice (first on line "
				  "%zu): keep one", key, first);
		else if (rc == 0 && asprintf(&kn->env[kn->nenv], "%s=%s", key, val) < 0)
			kn->env[kn->nenv] = NULL, rc = -ENOMEM;
		else if (rc == 0)
			kn->nenv++;
		if (rc)
			break;
	}
	hset_free(&seen);
	return rc;
}

static int parse_cpu(struct ctx *c, yaml_node_t *v, struct topo_kernel *kn)
{
	if (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "auto"))
		return 0;
	yaml_node_item_t single[1];
	yaml_node_item_t *start = single, *top = single + 1;
	if (v->type == YAML_SEQUENCE_NODE) {
		start = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
		if (start == top)
			return fail(c, line_of(v), "cpu list is empty: list cores, or write cpu: auto");
	} else if (v->type != YAML_SCALAR_NODE) {
		return fail(c, line_of(v), "cpu must be a core number, a list of them, or auto");
	}
	int rc = spend(c, v, (size_t)(top - start));
	if (rc)
		return rc;
	kn->cpus = calloc((size_t)(top - start), sizeof(int));
	if (!kn->cpus)
		return -ENOMEM;
	uint64_t listed[(TOPO_CPU_MAX + 1) / 64] = { 0 };
	for (yaml_node_item_t *it = start; it < top; it++) {
		yaml_node_t *n = v->type == YAML_SEQUENCE_NODE ? node(c, *it) : v;
		uint64_t cpu;
		char *end;
		if (parse_u64(scalar(n), &cpu, &end) || *end || cpu > TOPO_CPU_MAX)
			return fail(c, line_of(n), "cpu '%.20s' is not a core number: write e.g. "
				    "cpu: 0, cpu: [0, 2] or cpu: auto", scalar(n) ? scalar(n) : kind(n));
		if (listed[cpu / 64] & (1ull << (cpu % 64)))
			return fail(c, line_of(n), "cpu %d is listed twice", (int)cpu);
		listed[cpu / 64] |= 1ull << (cpu % 64);
		kn->cpus[kn->ncpus++] = (int)cpu;
	}
	return 0;
}

/* One inputs: item written as a mapping, { name: N, priority: P }. */
struct input_arg {
	const char *name;
	int priority;
};

static int input_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	static const char *const priorities[] = { "low", "normal", "high", NULL };
	struct input_arg *a = arg;
	(void)k;
	if (!strcmp(key, "name")) {
		if (!(a->name = scalar(v)))
			return fail(c, line_of(v), "an input's name must be a single value, not %s",
				    kind(v));
		return 0;
	}
	int p = 1;
	int rc = pick(c, v, "input priority", priorities, &p);
	a->priority = p - 1; /* low, normal, high: -1, 0, 1 (enum topo_priority) */
	return rc;
}

/* inputs: each item a port name, or { name: N, priority: high|normal|low }
 * (normal when not given), into kn's inputs and in_priority. */
static int parse_inputs(struct ctx *c, yaml_node_t *v, struct topo_kernel *kn)
{
	static const char *const keys[] = { "name", "priority", NULL };
	int rc = want(c, v, YAML_SEQUENCE_NODE, "inputs");
	if (rc || (rc = spend(c, v, nitems(v))))
		return rc;
	if (!(kn->inputs = calloc(nitems(v) + 1, sizeof(char *))) ||
	    !(kn->in_priority = calloc(nitems(v) + 1, sizeof(int))))
		return -ENOMEM;
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *item = node(c, *it);
		struct input_arg a = { scalar(item), TOPO_PRIO_NORMAL };
		if (item->type == YAML_MAPPING_NODE) {
			if ((rc = each_pair(c, item, "an input", keys, input_pair, &a)))
				return rc;
			if (!a.name)
				return fail(c, line_of(item), "this input has no name: write e.g. "
					    "{ name: control, priority: high }");
		} else if (!a.name) {
			return fail(c, line_of(item), "each item of inputs must be a port name or "
				    "{ name: N, priority: high|normal|low }, not %s", kind(item));
		}
		kn->in_priority[kn->ninputs] = a.priority;
		if (!(kn->inputs[kn->ninputs++] = strdup(a.name)))
			return -ENOMEM;
	}
	return 0;
}

/* inputs: or outputs: of kernel ki. Port names are unique across a kernel's
 * inputs and outputs; each gets an id, in file order, for the ring checks. */
static int parse_ports(struct ctx *c, yaml_node_t *v, size_t ki, int output)
{
	struct topo_kernel *kn = &c->t->kernels[ki];
	char ***ports = output ? &kn->outputs : &kn->inputs;
	size_t *n = output ? &kn->noutputs : &kn->ninputs;
	/* Every port is one end of one ring: more ports than ring ends cannot
	 * all be wired. Said here, before the work, and in a clearer way. */
	if (c->nports + nitems(v) > 2 * TOPO_MAX_RINGS)
		return fail(c, line_of(v), "%s%s%s brings the topology to %zu ports, more than the %u "
			    "ends its %u rings may have (every port needs a ring): split it into "
			    "several topologies", kn->name[0] ? "kernel '" : "this kernel",
			    kn->name, kn->name[0] ? "'" : "", c->nports + nitems(v),
			    2 * TOPO_MAX_RINGS, TOPO_MAX_RINGS);
	int rc = output ? strings(c, v, "outputs", ports, n) : parse_inputs(c, v, kn);
	if (rc)
		return rc;
	if (c->nports + *n > c->cap_ports) {
		size_t cap = c->cap_ports * 2 > c->nports + *n ? c->cap_ports * 2 : c->nports + *n;
		uint32_t *g = realloc(c->port_ring, cap * sizeof(uint32_t));
		if (!g)
			return -ENOMEM;
		memset(g + c->cap_ports, 0, (cap - c->cap_ports) * sizeof(uint32_t));
		c->port_ring = g;
		c->cap_ports = cap;
	}
	(output ? c->out_base : c->in_base)[ki] = c->nports;
	for (size_t j = 0; j < *n; j++) {
		const char *s = (*ports)[j];
		int line = line_of(node(c, v->data.sequence.items.start[j]));
		if ((rc = check_name_str(c, line, s, "port name", NULL)))
			return rc;
		rc = hset_add(&c->ports, ki, s, strlen(s), (c->nports + j) << 1 | (size_t)output, NULL);
		if (rc < 0)
			return rc;
		if (rc)
			return fail(c, line, "kernel '%s' declares port '%s' twice: port names are "
				    "unique across a kernel's inputs and outputs", kn->name, s);
	}
	c->nports += *n;
	return 0;
}

static int kernel_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	size_t ki = *(size_t *)arg;
	struct topo_kernel *kn = &c->t->kernels[ki];
	(void)k;
	if (!strcmp(key, "name"))
		return check_name(c, v, "kernel name", kn->name);
	if (!strcmp(key, "exec")) {
		const char *s = scalar(v);
		if (!s || !*s)
			return fail(c, line_of(v), "exec must name the kernel's executable");
		return (kn->exec = strdup(s)) ? 0 : -ENOMEM;
	}
	if (!strcmp(key, "args"))
		return strings(c, v, "args", &kn->args, &kn->nargs);
	if (!strcmp(key, "env"))
		return parse_env(c, v, kn);
	if (!strcmp(key, "cpu"))
		return parse_cpu(c, v, kn);
	if (!strcmp(key, "host"))
		return kernel_host(c, v, kn);
	if (!strcmp(key, "restart")) {
		int r = 0;
		int rc = pick(c, v, "restart policy", topo_restart_names, &r);
		kn->restart = (enum topo_restart)r;
		return rc;
	}
	return parse_ports(c, v, ki, !strcmp(key, "outputs"));
}

static yaml_node_t *lookup(struct ctx *c, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (scalar(node(c, p->key)) && !strcmp(scalar(node(c, p->key)), key))
			return node(c, p->value);
	return NULL;
}

static int parse_kernels(struct ctx *c, yaml_node_t *seq)
{
	static const char *const keys[] = { "name", "exec", "args", "env", "cpu", "restart",
					    "inputs", "outputs", "host", NULL };
	int rc = want(c, seq, YAML_SEQUENCE_NODE, "kernels");
	if (rc)
		return rc;
	size_t n = nitems(seq);
	if (n == 0)
		return fail(c, line_of(seq), "kernels is empty: a topology runs at least one kernel");
	if (n > TOPO_MAX_KERNELS)
		return fail(c, line_of(seq), "%zu kernels, more than the %u one topology may have: "
			    "split it into several topologies", n, TOPO_MAX_KERNELS);
	if ((rc = spend(c, seq, n)))
		return rc;
	struct topology *t = c->t;
	if (!(t->kernels = calloc(n, sizeof(*t->kernels))) ||
	    !(c->in_base = calloc(n, sizeof(size_t))) || !(c->out_base = calloc(n, sizeof(size_t))))
		return -ENOMEM;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *kn = node(c, *it);
		size_t i = t->nkernels++;
		struct topo_kernel *k = &t->kernels[i];
		k->line = line_of(kn);
		k->host = TOPO_NO_HOST;
		/* The name first, so messages about its other keys can use it. */
		yaml_node_t *name = kn->type == YAML_MAPPING_NODE ? lookup(c, kn, "name") : NULL;
		if (name && (rc = check_name(c, name, "kernel name", k->name)))
			return rc;
		if ((rc = each_pair(c, kn, "a kernel", keys, kernel_pair, &i)))
			return rc;
		if (!k->name[0])
			return fail(c, k->line, "this kernel has no name: add name: ...");
		if (!k->exec)
			return fail(c, k->line, "kernel '%s' has no exec: name its executable", k->name);
		size_t first;
		rc = hset_add(&c->kernels, 0, k->name, strlen(k->name), i, &first);
		if (rc < 0)
			return rc;
		if (rc)
			return fail(c, k->line, "kernel name '%s' is already used on line %d: "
				    "names are unique", k->name, t->kernels[first].line);
	}
	return 0;
}

/* ---- rings -------------------------------------------------------------- */

/* One consumer end of a ring: a plain ring has one, a broadcast ring (to:
 * as a list) up to SHMRING_BCAST_MAX. */
struct ring_to {
	size_t kernel, id; /* port id */
	char   port[TOPO_NAME_MAX + 1];
	int    drop, line;
};

struct ring_arg {
	struct topo_ring *r; /* the fields every end shares */
	int have_from, have_to, bcast, have_capacity;
	size_t from_id;
	unsigned nto;
	struct ring_to to[SHMRING_BCAST_MAX];
};

static int endpoint(struct ctx *c, yaml_node_t *v, int output, size_t *kernel, char *port, size_t *id)
{
	const char *s = scalar(v);
	const char *dot = s ? strchr(s, '.') : NULL;
	if (!dot || dot == s || !dot[1] || strchr(dot + 1, '.'))
		return fail(c, line_of(v), "'%.60s' is not kernel.port: write e.g. %s",
			    s ? s : kind(v), output ? "gen.out" : "double.in");
	size_t klen = (size_t)(dot - s), ki, val;
	if (!hset_get(&c->kernels, 0, s, klen, &ki))
		return fail(c, line_of(v), "no kernel named '%.*s': declare it under kernels or fix "
			    "the name", (int)(klen > 40 ? 40 : klen), s);
	struct topo_kernel *k = &c->t->kernels[ki];
	if (hset_get(&c->ports, ki, dot + 1, strlen(dot + 1), &val) && (val & 1) == (size_t)output) {
		*kernel = ki;
		*id = val >> 1;
		snprintf(port, TOPO_NAME_MAX + 1, "%s", dot + 1);
		return 0;
	}
	char **ports = output ? k->outputs : k->inputs;
	size_t n = output ? k->noutputs : k->ninputs;
	char list[200];
	return fail(c, line_of(v), "kernel '%s' has no %s port '%.40s' (its %s: %s): declare it "
		    "under %s or fix the name", k->name, output ? "output" : "input", dot + 1,
		    output ? "outputs" : "inputs", n ? join(list, sizeof(list), ports, n) : "none",
		    output ? "outputs" : "inputs");
}

/* { to: kernel.port, slow: block | drop }: one consumer of a broadcast ring. */
static int to_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	static const char *const slows[] = { "block", "drop", NULL };
	struct ring_to *to = arg;
	(void)k;
	if (!strcmp(key, "to"))
		return endpoint(c, v, 0, &to->kernel, to->port, &to->id);
	return pick(c, v, "slow-consumer policy", slows, &to->drop); /* index = SHMRING_BCAST_* */
}

/* to: as a list: a broadcast ring, each item kernel.port or { to:, slow: }. */
static int parse_to_list(struct ctx *c, yaml_node_t *v, struct ring_arg *a)
{
	static const char *const keys[] = { "to", "slow", NULL };
	size_t n = nitems(v);
	if (n == 0)
		return fail(c, line_of(v), "to: [] names no consumer: list at least one kernel.port");
	if (n > SHMRING_BCAST_MAX)
		return fail(c, line_of(v), "to: lists %zu consumers, more than the %u a broadcast "
			    "ring has: feed the rest from a kernel that copies, or split the "
			    "consumers over two outputs", n, SHMRING_BCAST_MAX);
	int rc = spend(c, v, n);
	a->bcast = 1;
	for (yaml_node_item_t *it = v->data.sequence.items.start; !rc && it < v->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = node(c, *it);
		struct ring_to *to = &a->to[a->nto];
		memset(to, 0, sizeof(*to));
		to->kernel = SIZE_MAX;
		to->line = line_of(item);
		if (item->type == YAML_MAPPING_NODE) {
			if (!(rc = each_pair(c, item, "a broadcast consumer", keys, to_pair, to)) &&
			    to->kernel == SIZE_MAX)
				rc = fail(c, to->line, "this consumer needs to: kernel.port");
		} else {
			rc = endpoint(c, item, 0, &to->kernel, to->port, &to->id);
		}
		for (unsigned j = 0; !rc && j < a->nto; j++)
			if (a->to[j].kernel == to->kernel)
				rc = fail(c, to->line, "kernel '%s' is already a consumer of this ring "
					  "(line %d): a broadcast ring reaches a kernel once; list it "
					  "once", c->t->kernels[to->kernel].name, a->to[j].line);
		a->nto++;
	}
	return rc;
}

static int ring_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	static const char *const waits[] = { "adaptive", "spin", "yield", "futex", NULL };
	struct ring_arg *a = arg;
	(void)k;
	if (!strcmp(key, "from")) {
		a->have_from = 1;
		return endpoint(c, v, 1, &a->r->from_kernel, a->r->from_port, &a->from_id);
	}
	if (!strcmp(key, "to")) {
		a->have_to = 1;
		if (v->type == YAML_SEQUENCE_NODE)
			return parse_to_list(c, v, a);
		a->nto = 1;
		a->to[0].line = a->r->line; /* a plain ring's errors name the ring */
		return endpoint(c, v, 0, &a->to[0].kernel, a->to[0].port, &a->to[0].id);
	}
	if (!strcmp(key, "capacity")) {
		a->have_capacity = 1;
		return parse_capacity(c, v, a->r);
	}
	int w = 0;
	int rc = pick(c, v, "wait strategy", waits, &w);
	a->r->wait = (enum shmring_wait)w; /* same order as enum shmring_wait */
	a->r->wait_set = 1;
	return rc;
}

/* Room for n more ring entries (a broadcast ring is one per consumer). */
static int ring_room(struct ctx *c, size_t *cap, size_t n, int line)
{
	struct topology *t = c->t;
	if (t->nrings + n > TOPO_MAX_RINGS)
		return fail(c, line, "the rings so far have %zu ring ends, more than the %u one "
			    "topology may have (a broadcast ring counts one per consumer): split it "
			    "into several topologies", t->nrings + n, TOPO_MAX_RINGS);
	if (t->nrings + n <= *cap)
		return 0;
	size_t ncap = *cap * 2 > t->nrings + n ? *cap * 2 : t->nrings + n;
	struct topo_ring *g = realloc(t->rings, ncap * sizeof(*g));
	if (!g)
		return -ENOMEM;
	t->rings = g;
	*cap = ncap;
	return 0;
}

/* The ring `a` parsed, one entry per consumer, its ports wired. */
static int add_ring_ends(struct ctx *c, struct ring_arg *a, size_t *cap)
{
	struct topology *t = c->t;
	const struct topo_ring *r = a->r;
	const char *from = t->kernels[r->from_kernel].name;
	uint32_t *out = &c->port_ring[a->from_id];
	if (*out)
		return fail(c, r->line, "output %s.%s already feeds the ring on line %d: "
			    "a port is one end of one ring; declare another output port",
			    from, r->from_port, t->rings[*out - 1].line);
	int rc = ring_room(c, cap, a->nto, r->line);
	for (unsigned i = 0; !rc && i < a->nto; i++) {
		const struct ring_to *to = &a->to[i];
		const char *tk = t->kernels[to->kernel].name;
		if (r->from_kernel == to->kernel)
			return fail(c, to->line, "ring %s.%s -> %s.%s connects kernel %s to itself: "
				    "a ring joins two kernels; connect %s.%s to another kernel's "
				    "input", from, r->from_port, tk, to->port, from, from, r->from_port);
		uint32_t *in = &c->port_ring[to->id];
		if (*in)
			return fail(c, to->line, "input %s.%s is already fed by the ring on line %d: "
				    "a ring has one producer; give the kernel another input port",
				    tk, to->port, t->rings[*in - 1].line);
		struct topo_ring *e = &t->rings[t->nrings++];
		*e = *r;
		e->to_kernel = to->kernel;
		snprintf(e->to_port, sizeof(e->to_port), "%s", to->port);
		e->bcast_n = a->bcast ? a->nto : 0;
		e->bcast_index = a->bcast ? i : 0;
		e->drop = to->drop;
		e->to_priority = topo_input_priority(&t->kernels[to->kernel],
						     to->id - c->in_base[to->kernel]);
		*in = (uint32_t)t->nrings; /* 1 + this entry's index */
		if (i == 0)
			*out = (uint32_t)t->nrings;
	}
	return rc;
}

static int parse_rings(struct ctx *c, yaml_node_t *seq)
{
	static const char *const keys[] = { "from", "to", "capacity", "wait", NULL };
	int rc = want(c, seq, YAML_SEQUENCE_NODE, "rings");
	if (rc)
		return rc;
	size_t n = nitems(seq), cap = n;
	if (n > TOPO_MAX_RINGS)
		return fail(c, line_of(seq), "%zu rings, more than the %u one topology may have: "
			    "split it into several topologies", n, TOPO_MAX_RINGS);
	if ((rc = spend(c, seq, n)))
		return rc;
	struct topology *t = c->t;
	if (n && !(t->rings = calloc(n, sizeof(*t->rings))))
		return -ENOMEM;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *rn = node(c, *it);
		struct topo_ring r;
		memset(&r, 0, sizeof(r));
		struct ring_arg a = { .r = &r };
		r.line = line_of(rn);
		r.capacity = r.capacity_asked = TOPO_RING_DEFAULT;
		r.wait = SHMRING_WAIT_ADAPTIVE;
		if ((rc = each_pair(c, rn, "a ring", keys, ring_pair, &a)))
			return rc;
		if (!a.have_from || !a.have_to)
			return fail(c, r.line, "this ring needs both from: kernel.port and to: kernel.port");
		/* A broadcast ring stands for the N rings a copying kernel would
		 * feed: by default it has their memory, 1 MiB per consumer (rounded
		 * up to a power of two). Its producer then waits for the slowest
		 * reader less often, and readers sleeping on shared cpus are woken
		 * every quarter of a larger ring (docs/topology.md). */
		if (a.bcast && !a.have_capacity)
			r.capacity = r.capacity_asked = topo_ring_capacity(TOPO_RING_DEFAULT * a.nto);
		if ((rc = add_ring_ends(c, &a, &cap)))
			return rc;
	}
	return 0;
}

/* Every declared port must be wired, or its kernel would wait on nothing. */
static int check_wired(struct ctx *c)
{
	struct topology *t = c->t;
	for (size_t i = 0; i < t->nkernels; i++) {
		struct topo_kernel *k = &t->kernels[i];
		for (int out = 0; out < 2; out++) {
			size_t n = out ? k->noutputs : k->ninputs;
			size_t base = out ? c->out_base[i] : c->in_base[i];
			for (size_t j = 0; j < n; j++)
				if (!c->port_ring[base + j])
					return fail(c, k->line, "%s port %s.%s is not connected: add a "
						    "ring %s it, or remove the port", out ? "output" : "input",
						    k->name, (out ? k->outputs : k->inputs)[j], out ? "from" : "to");
		}
	}
	return 0;
}

/* ---- top level ---------------------------------------------------------- */

static int top_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	static const char *const sup_keys[] = { "strategy", "intensity", "period", "grace", "ready",
						NULL };
	(void)k, (void)arg;
	if (!strcmp(key, "topology"))
		return check_name(c, v, "topology name", c->t->name);
	if (!strcmp(key, "supervision"))
		return each_pair(c, v, "supervision", sup_keys, supervision_pair, NULL);
	return 0; /* hosts, kernels and rings: parsed in order below */
}

/* The line of a libyaml error: reader errors (bad UTF-8, control bytes)
 * carry a byte offset, not a mark. */
static int problem_line(const yaml_parser_t *p, const char *text, size_t len)
{
	if (p->error != YAML_READER_ERROR)
		return (int)p->problem_mark.line + 1;
	int line = 1;
	for (size_t i = 0; i < p->problem_offset && i < len; i++)
		line += text[i] == '\n';
	return line;
}

static int yaml_error(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len,
		      const char *after)
{
	char what[64] = "";
	if (p->error == YAML_READER_ERROR && p->problem_value >= 0)
		snprintf(what, sizeof(what), " (byte 0x%02x)", (unsigned)p->problem_value & 0xffu);
	return fail(c, problem_line(p, text, len), "not valid YAML%s: %s%s%s%s%s", after,
		    p->problem ? p->problem : "parse error", what, p->context ? " " : "",
		    p->context ? p->context : "",
		    p->error == YAML_READER_ERROR ? ": the file must be UTF-8 text" : "");
}

/* After the first document: the stream must end. */
static int one_document(struct ctx *c, yaml_parser_t *p, const char *text, size_t len)
{
	yaml_event_t ev;
	if (!yaml_parser_parse(p, &ev))
		return yaml_error(c, p, text, len, " after the first document (a topology file "
				  "holds one)");
	int rc = 0;
	if (ev.type == YAML_DOCUMENT_START_EVENT)
		rc = fail(c, (int)ev.start_mark.line + 1, "a second YAML document starts here: a "
			  "topology file holds one; remove it, or give it its own file");
	yaml_event_delete(&ev);
	return rc;
}

/* Scalars are C strings from here on: refuse one with a NUL ("\0" in a
 * double-quoted value), which would be cut short silently. */
static int no_nul(struct ctx *c)
{
	for (yaml_node_t *n = c->doc->nodes.start; n < c->doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && strlen(scalar(n)) != n->data.scalar.length)
			return fail(c, line_of(n), "the value '%.40s\\0...' holds a NUL byte: names, "
				    "paths and arguments cannot; remove the \\0", scalar(n));
	return 0;
}

uint64_t topo_hash(const void *buf, size_t len)
{
	const unsigned char *b = buf;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

int topo_parse(const char *file, const char *text, size_t len, struct topology **out,
	       char *err, size_t errlen)
{
	static const char *const keys[] = { "topology", "supervision", "kernels", "rings", "hosts",
					    NULL };
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ctx c = { .file = file, .err = err, .errlen = errlen, .doc = &doc };
	int rc;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM
		   : yaml_error(&c, &parser, text, len, "");
		yaml_parser_delete(&parser);
		return rc;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!(c.t = calloc(1, sizeof(*c.t)))) {
		rc = -ENOMEM;
		goto done;
	}
	c.t->strategy = TOPO_ONE_FOR_ONE;
	c.t->intensity = 3;
	c.t->period_ms = 5000;
	c.t->grace_ms = 2000;
	c.t->hash = topo_hash(text, len);
	c.t->share_of = TOPO_NO_HOST;
	c.budget = (size_t)(doc.nodes.top - doc.nodes.start) + TOPO_ALIAS_SLACK;
	if (!(c.t->file = strdup(file))) {
		rc = -ENOMEM;
		goto done;
	}
	if ((rc = one_document(&c, &parser, text, len)) || (rc = no_nul(&c)))
		goto done;
	if (!root) {
		rc = fail(&c, 1, "the file is empty: a topology has topology:, kernels: and rings:");
		goto done;
	}
	if ((rc = each_pair(&c, root, "the topology file", keys, top_pair, NULL)))
		goto done;
	if (!c.t->name[0]) {
		rc = fail(&c, line_of(root), "no topology name: add topology: NAME");
		goto done;
	}
	yaml_node_t *kernels = lookup(&c, root, "kernels"), *rings = lookup(&c, root, "rings");
	yaml_node_t *hosts = lookup(&c, root, "hosts");
	if (!kernels) {
		rc = fail(&c, line_of(root), "no kernels: list them under kernels:");
		goto done;
	}
	/* hosts: before kernels:, which name them */
	if ((hosts && (rc = parse_hosts(&c, hosts))) || (rc = parse_kernels(&c, kernels)) ||
	    (rc = check_kernel_hosts(&c)))
		goto done;
	if (rings && (rc = parse_rings(&c, rings)))
		goto done;
	if ((rc = check_wired(&c)) == 0 && c.t->nhosts)
		rc = assign_ports(&c);
done:
	hset_free(&c.kernels);
	hset_free(&c.hosts);
	hset_free(&c.ports);
	free(c.port_ring);
	free(c.in_base);
	free(c.out_base);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc) {
		topo_free(c.t);
		return rc;
	}
	*out = c.t;
	return 0;
}

int topo_load(const char *path, struct topology **out, char *err, size_t errlen)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		if (f)
			fclose(f);
		return -e;
	}
	int rc = -EINVAL;
	char *text = NULL;
	size_t len = 0;
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: a folder, not a topology file: name the .yaml file", path);
		goto done;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > TOPO_FILE_MAX) {
		snprintf(err, errlen, "%s: %.1f MiB, more than the %u MiB a topology file may be: "
			 "is it the right file?", path, (double)st.st_size / (1 << 20), TOPO_FILE_MAX >> 20);
		goto done;
	}
	/* Read to the end, or one byte past the limit (a pipe's size is unknown). */
	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
	if (!(text = malloc(cap))) {
		rc = -ENOMEM;
		goto done;
	}
	for (;;) {
		if (len == cap) {
			if (cap > TOPO_FILE_MAX)
				break;
			size_t grown = cap > TOPO_FILE_MAX / 2 ? TOPO_FILE_MAX + 1 : 2 * cap;
			char *g = realloc(text, grown);
			if (!g) {
				rc = -ENOMEM;
				goto done;
			}
			text = g;
			cap = grown;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		rc = -(errno ? errno : EIO);
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
		goto done;
	}
	if (len > TOPO_FILE_MAX) {
		snprintf(err, errlen, "%s: more than the %u MiB a topology file may be: is it the "
			 "right file?", path, TOPO_FILE_MAX >> 20);
		goto done;
	}
	rc = topo_parse(path, text, len, out, err, errlen);
done:
	fclose(f);
	free(text);
	return rc;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void topo_free(struct topology *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nkernels; i++) {
		struct topo_kernel *k = &t->kernels[i];
		free(k->exec);
		free_strings(k->args, k->nargs);
		free_strings(k->env, k->nenv);
		free_strings(k->inputs, k->ninputs);
		free_strings(k->outputs, k->noutputs);
		free(k->in_priority);
		free(k->cpus);
	}
	for (size_t i = 0; i < t->nhosts; i++) {
		free(t->hosts[i].address);
		free(t->hosts[i].curve_public);
		free(t->hosts[i].curve_secret);
	}
	free(t->hosts);
	free(t->kernels);
	free(t->rings);
	free(t->file);
	free(t);
}

/* ---- checks against this machine ---------------------------------------- */

static char *resolve_exec(const struct topology *t, const char *exec)
{
	char *path = NULL;
	if (exec[0] == '/')
		return strdup(exec);
	if (strchr(exec, '/')) { /* relative to the topology file's folder */
		while (exec[0] == '.' && exec[1] == '/')
			exec += 2;
		const char *slash = strrchr(t->file, '/');
		int dlen = slash ? (int)(slash - t->file) : 1;
		if (asprintf(&path, "%.*s/%s", dlen, slash ? t->file : ".", exec) < 0)
			return NULL;
		return path;
	}
	const char *env = getenv("PATH");
	char *dirs = strdup(env && *env ? env : "/usr/local/bin:/usr/bin:/bin");
	for (char *save = NULL, *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d;
	     d = strtok_r(NULL, ":", &save)) {
		if (asprintf(&path, "%s/%s", *d ? d : ".", exec) < 0) {
			path = NULL;
			break;
		}
		if (access(path, X_OK) == 0)
			break;
		free(path);
		path = NULL;
	}
	free(dirs);
	return path;
}

int topo_check_host(const struct topology *t, int ncpu, char **resolved, char *err, size_t errlen)
{
	size_t pinned = 0;
	for (size_t i = 0; i < t->nkernels; i++) {
		const struct topo_kernel *k = &t->kernels[i];
		char *path = resolve_exec(t, k->exec);
		struct stat st;
		if (!path || stat(path, &st) < 0) {
			snprintf(err, errlen, "%s:%d: kernel '%s': executable '%s' not found%s%s%s: build "
				 "it, or fix exec", t->file, k->line, k->name, k->exec,
				 path ? " (looked for " : " on PATH", path ? path : "", path ? ")" : "");
			free(path);
			return -ENOENT;
		}
		if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
			snprintf(err, errlen, "%s:%d: kernel '%s': '%s' is not an executable file: "
				 "chmod +x it, or fix exec", t->file, k->line, k->name, path);
			free(path);
			return -EACCES;
		}
		if (resolved)
			resolved[i] = path;
		else
			free(path);
		for (size_t j = 0; j < k->ncpus; j++)
			if (k->cpus[j] >= ncpu) {
				snprintf(err, errlen, "%s:%d: kernel '%s': cpu %d does not exist: this "
					 "machine has %d (0-%d); fix cpu, or use cpu: auto", t->file,
					 k->line, k->name, k->cpus[j], ncpu, ncpu - 1);
				return -EINVAL;
			}
		pinned += k->ncpus > 0;
	}
	if ((int)pinned > ncpu) {
		snprintf(err, errlen, "%s:1: %zu kernels are pinned but this machine has %d cores: "
			 "pin fewer, or use cpu: auto (which shares cores when it must)", t->file, pinned, ncpu);
		return -EINVAL;
	}
	return 0;
}

/* ---- the one-line pipeline form ----------------------------------------- */

/* Split expr into words: whitespace separates, '...' and "..." quote, a lone
 * '!' is its own word. Returns the count, or -1 with err set. */
static int split_words(const char *expr, char ***words, char *err, size_t errlen)
{
	size_t n = 0, cap = 8;
	char **w = calloc(cap, sizeof(char *));
	char *buf = malloc(strlen(expr) + 1);
	const char *p = expr;
	if (!w || !buf)
		goto nomem;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		size_t len = 0;
		int quoted = 0;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
			if (*p == '\'' || *p == '"') {
				char q = *p++;
				quoted = 1;
				while (*p && *p != q)
					buf[len++] = *p++;
				if (!*p) {
					snprintf(err, errlen, "-e:1: unterminated %c quote: close it", q);
					goto fail;
				}
				p++;
			} else {
				buf[len++] = *p++;
			}
		}
		buf[len] = '\0';
		if (n + 1 >= cap) {
			char **g = realloc(w, (cap *= 2) * sizeof(char *));
			if (!g)
				goto nomem;
			w = g;
		}
		/* A quoted "!" is an argument, not a separator. */
		if (!(w[n++] = quoted && !strcmp(buf, "!") ? strdup("\\!") : strdup(buf)))
			goto nomem;
	}
	free(buf);
	*words = w;
	return (int)n;
nomem:
	snprintf(err, errlen, "-e: out of memory");
fail:
	free_strings(w, n);
	free(buf);
	return -1;
}

static int one_port(char ***ports, size_t *n, const char *name)
{
	if (!(*ports = calloc(2, sizeof(char *))) || !((*ports)[0] = strdup(name)))
		return -ENOMEM;
	*n = 1;
	return 0;
}

/*
 * Name stage s after its executable's basename, made a valid, unique name:
 * gen, gen-2, gen-3... (a count per base name in seen_bases keeps this
 * linear). name is the stage's scratch for its base name. 0 or -ENOMEM.
 */
static int name_stage(struct topo_kernel *k, size_t s, char *name, struct hset *names,
		      struct hset *seen_bases)
{
	const char *base = strrchr(k->exec, '/') ? strrchr(k->exec, '/') + 1 : k->exec;
	size_t len = 0, taken;
	for (const char *c = base; *c && len < TOPO_NAME_MAX; c++)
		name[len++] = (char)(((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
				      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-') ? *c : '-');
	name[len] = '\0';
	if (!len || name[0] == '-' || name[0] == '_')
		len = (size_t)snprintf(name, TOPO_NAME_MAX + 1, "stage%zu", s + 1);
	if (hset_add(seen_bases, 0, name, len, 2, NULL) < 0)
		return -ENOMEM;
	struct hent *next = hset_slot(seen_bases, 0, name, len);
	snprintf(k->name, sizeof(k->name), "%s", name);
	while (hset_get(names, 0, k->name, strlen(k->name), &taken)) {
		unsigned dup = (unsigned)next->val++;
		int digits = snprintf(NULL, 0, "%u", dup);
		snprintf(k->name, sizeof(k->name), "%.*s-%u", TOPO_NAME_MAX - 1 - digits, name, dup);
	}
	return hset_add(names, 0, k->name, strlen(k->name), s, NULL) < 0 ? -ENOMEM : 0;
}

/* The ring from stage s-1's "out" to stage s's "in": 1 MiB, adaptive. */
static void link_stages(struct topology *t, size_t s)
{
	struct topo_ring *r = &t->rings[t->nrings++];
	r->from_kernel = s - 1;
	r->to_kernel = s;
	snprintf(r->from_port, sizeof(r->from_port), "out");
	snprintf(r->to_port, sizeof(r->to_port), "in");
	r->capacity = r->capacity_asked = TOPO_RING_DEFAULT;
	r->wait = SHMRING_WAIT_ADAPTIVE;
	r->line = 1;
}

int topo_parse_pipeline(const char *expr, struct topology **out, char *err, size_t errlen)
{
	char **words = NULL;
	int nw = split_words(expr, &words, err, errlen);
	*out = NULL;
	if (nw < 0)
		return -EINVAL;
	size_t nstages = 1;
	for (int i = 0; i < nw; i++)
		nstages += !strcmp(words[i], "!");
	if (nstages > TOPO_MAX_KERNELS) {
		snprintf(err, errlen, "-e:1: %zu stages, more than the %u kernels one topology may "
			 "have: split it into several pipelines", nstages, TOPO_MAX_KERNELS);
		free_strings(words, (size_t)nw);
		return -EINVAL;
	}
	struct topology *t = calloc(1, sizeof(*t));
	struct hset names = { 0 }, seen_bases = { 0 }; /* kernel names; base -> next count */
	char (*bases)[TOPO_NAME_MAX + 1] = calloc(nstages, sizeof(*bases));
	int rc = -ENOMEM;
	if (!t || !bases || !(t->file = strdup("-e")) ||
	    !(t->kernels = calloc(nstages, sizeof(*t->kernels))) ||
	    (nstages > 1 && !(t->rings = calloc(nstages - 1, sizeof(*t->rings)))))
		goto done;
	snprintf(t->name, sizeof(t->name), "pipeline");
	t->share_of = TOPO_NO_HOST;
	t->strategy = TOPO_ONE_FOR_ONE;
	t->intensity = 3;
	t->period_ms = 5000;
	t->grace_ms = 2000;
	for (int i = 0, start = 0; i <= nw; i++) {
		if (i < nw && strcmp(words[i], "!"))
			continue;
		size_t s = t->nkernels;
		struct topo_kernel *k = &t->kernels[t->nkernels++];
		k->line = 1;
		k->host = TOPO_NO_HOST;
		if (i == start) {
			snprintf(err, errlen, "-e:1: stage %zu is empty: write e.g. 'gen ! double ! print'",
				 s + 1);
			rc = -EINVAL;
			goto done;
		}
		if (!(k->exec = strdup(words[start])) ||
		    !(k->args = calloc((size_t)(i - start), sizeof(char *))))
			goto done;
		for (int a = start + 1; a < i; a++)
			if (!(k->args[k->nargs++] = strdup(strcmp(words[a], "\\!") ? words[a] : "!")))
				goto done;
		if (name_stage(k, s, bases[s], &names, &seen_bases) < 0 ||
		    (s > 0 && one_port(&k->inputs, &k->ninputs, "in")) ||
		    (i < nw && one_port(&k->outputs, &k->noutputs, "out")))
			goto done;
		if (s > 0)
			link_stages(t, s);
		start = i + 1;
	}
	if (nw == 0) {
		snprintf(err, errlen, "-e:1: the pipeline is empty: write e.g. 'gen ! double ! print'");
		rc = -EINVAL;
		goto done;
	}
	*out = t;
	t = NULL;
	rc = 0;
done:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "-e: out of memory");
	free_strings(words, nw > 0 ? (size_t)nw : 0);
	hset_free(&names);
	hset_free(&seen_bases);
	free(bases);
	topo_free(t);
	return rc;
}

int topo_graph_order(const struct topology *t, size_t *order)
{
	size_t nk = t->nkernels, nr = t->nrings, n = 0;
	char *seen = calloc(nk ? nk : 1, 1);
	/* Each kernel's consumers, in ring order: to[end[k-1] .. end[k]). */
	size_t *end = calloc(nk + 1, sizeof(size_t)), *to = malloc((nr ? nr : 1) * sizeof(size_t));
	if (!seen || !end || !to) {
		free(seen);
		free(end);
		free(to);
		return -ENOMEM;
	}
	for (size_t r = 0; r < nr; r++)
		end[t->rings[r].from_kernel + 1]++;
	for (size_t k = 1; k <= nk; k++)
		end[k] += end[k - 1];
	for (size_t r = 0; r < nr; r++)
		to[end[t->rings[r].from_kernel]++] = t->rings[r].to_kernel;
	/* Breadth-first from the sources (no inputs), then whatever a cycle left. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t s = 0; s < nk; s++) {
			if (seen[s] || (pass == 0 && t->kernels[s].ninputs))
				continue;
			size_t head = n;
			order[n++] = s;
			seen[s] = 1;
			while (head < n) {
				size_t k = order[head++];
				for (size_t e = k ? end[k - 1] : 0; e < end[k]; e++)
					if (!seen[to[e]]) {
						seen[to[e]] = 1;
						order[n++] = to[e];
					}
			}
		}
	free(seen);
	free(end);
	free(to);
	return 0;
}

/* ---- a host's share ----------------------------------------------------- */

size_t topo_host_find(const struct topology *t, const char *name)
{
	for (size_t i = 0; i < t->nhosts; i++)
		if (!strcmp(t->hosts[i].name, name))
			return i;
	return TOPO_NO_HOST;
}

int topo_host_guess(const struct topology *t, const char *hostname, const void *const *addrs,
		    const int *families, size_t naddrs, size_t *host)
{
	size_t found = 0;
	for (size_t i = 0; i < t->nhosts; i++) {
		const struct topo_host *h = &t->hosts[i];
		unsigned char bin[16];
		int fam = ip_literal(h->address, bin), match = hostname && !strcmp(h->name, hostname);
		for (size_t a = 0; !match && fam && a < naddrs; a++)
			match = families[a] == fam && !memcmp(addrs[a], bin, fam == 4 ? 4 : 16);
		if (match && found++ == 0)
			*host = i;
	}
	return found == 1 ? 0 : found ? -EEXIST : -ENOENT;
}

void topo_edge_name(const struct topology *t, const struct topo_ring *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s>%s.%s", t->kernels[r->from_kernel].name, r->from_port,
		 t->kernels[r->to_kernel].name, r->to_port);
}

void topo_host_endpoint(const struct topo_host *h, unsigned port, char *buf, size_t len)
{
	int v6 = strchr(h->address, ':') != NULL; /* ZeroMQ writes IPv6 in brackets */
	snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", h->address, v6 ? "]" : "", port);
}

static char **dup_strings(char *const *v, size_t n)
{
	char **d = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; d && i < n; i++)
		if (!(d[i] = strdup(v[i]))) {
			free_strings(d, i);
			return NULL;
		}
	return d;
}

static void *dup_mem(const void *p, size_t size)
{
	void *d = p && size ? malloc(size) : NULL;
	if (d)
		memcpy(d, p, size);
	return d;
}

/* A deep copy of kernel k into d (zeroed): 0 or -ENOMEM. */
static int copy_kernel(struct topo_kernel *d, const struct topo_kernel *k)
{
	*d = *k;
	d->exec = strdup(k->exec);
	d->args = dup_strings(k->args, k->nargs);
	d->env = dup_strings(k->env, k->nenv);
	d->inputs = dup_strings(k->inputs, k->ninputs);
	d->outputs = dup_strings(k->outputs, k->noutputs);
	d->cpus = dup_mem(k->cpus, k->ncpus * sizeof(int));
	d->in_priority = dup_mem(k->in_priority, k->ninputs * sizeof(int));
	if (!d->exec || !d->args || !d->env || !d->inputs || !d->outputs ||
	    (k->ncpus && !d->cpus) || (k->in_priority && k->ninputs && !d->in_priority))
		return -ENOMEM;
	return 0;
}

/* The share under construction. */
struct share {
	const struct topology *t;
	const struct topo_bridge_cfg *cfg;
	struct topology *s;
	struct hset names;   /* kernel names of s */
};

/* A bridge kernel's name: "<kernel>-<port>-tx" (sink: the producer's end)
 * or "-rx" (source), when that fits and is free, else "bridge-<ring>-tx",
 * "bridge-<ring>-tx-1"...: unique among the share's kernels. */
static void bridge_name(struct share *sh, const char *kernel, const char *port, int sink,
			size_t ring, char *out)
{
	const char *dir = sink ? "tx" : "rx";
	/* Made in a buffer wide enough for any of them, copied out if it fits
	 * (the kernel's name shortened to leave room for the port). */
	char name[2 * TOPO_NAME_MAX + 64];
	size_t v;
	int room = TOPO_NAME_MAX - 4 - (int)strlen(port); /* "-port-tx": the kernel's share */
	int w = room > 0 ? snprintf(name, sizeof(name), "%.*s-%s-%s", room, kernel, port, dir) : -1;
	for (size_t n = 0;; n++) {
		if (w > 0 && w <= TOPO_NAME_MAX && !hset_get(&sh->names, 0, name, (size_t)w, &v)) {
			memcpy(out, name, (size_t)w + 1);
			return;
		}
		w = n ? snprintf(name, sizeof(name), "bridge-%zu-%s-%zu", ring + 1, dir, n)
		      : snprintf(name, sizeof(name), "bridge-%zu-%s", ring + 1, dir);
	}
}

static int push_args(struct topo_kernel *k, const char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	if (!(k->args = calloc(n + 1, sizeof(char *))))
		return -ENOMEM;
	for (k->nargs = 0; k->nargs < n; k->nargs++)
		if (!(k->args[k->nargs] = strdup(v[k->nargs])))
			return -ENOMEM;
	return 0;
}

/* The bridge kernel of ring r at this host's end. */
static int add_bridge(struct share *sh, size_t r, int sink)
{
	const struct topology *t = sh->t;
	const struct topo_ring *ring = &t->rings[r];
	const struct topo_host *from = &t->hosts[t->kernels[ring->from_kernel].host];
	const struct topo_host *to = &t->hosts[t->kernels[ring->to_kernel].host];
	struct topology *s = sh->s;
	size_t ki = s->nkernels++;
	struct topo_kernel *k = &s->kernels[ki];
	char edge[4 * TOPO_NAME_MAX + 8], ep[TOPO_ADDR_MAX + 16], hash[17], run[17];
	k->line = ring->line;
	k->host = s->share_of;
	k->restart = TOPO_TRANSIENT; /* again after a crash; done at end of stream */
	bridge_name(sh, t->kernels[sink ? ring->from_kernel : ring->to_kernel].name,
		    sink ? ring->from_port : ring->to_port, sink, r, k->name);
	if (hset_add(&sh->names, 0, k->name, strlen(k->name), ki, NULL) < 0)
		return -ENOMEM;
	topo_edge_name(t, ring, edge, sizeof(edge));
	topo_host_endpoint(to, ring->port, ep, sizeof(ep));
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)t->hash);
	snprintf(run, sizeof(run), "%016llx", (unsigned long long)sh->cfg->run_id);
	const char *pub_from = sh->cfg->public_file ? sh->cfg->public_file[from - t->hosts] : NULL;
	const char *pub_to = sh->cfg->public_file ? sh->cfg->public_file[to - t->hosts] : NULL;
	/* Without CURVE the lists end where the key options would begin. */
	const char *curve = from->curve_public ? "" : NULL;
	const char *sink_args[] = { "--connect", ep, "--edge", edge, "--hash", hash, "--run-id", run,
				    "--from", from->name, "--to", to->name,
				    curve ? "--curve-server-key" : NULL, pub_to,
				    "--curve-key", from->curve_secret, NULL };
	const char *source_args[] = { "--bind", ep, "--edge", edge, "--hash", hash,
				      "--from", from->name, "--to", to->name,
				      curve ? "--curve-secret" : NULL, to->curve_secret,
				      "--curve-client-key", pub_from, NULL };
	if (curve && (!pub_from || !pub_to))
		return -EINVAL; /* the caller gives every host's public key file */
	if (!(k->exec = strdup(sink ? sh->cfg->sink_exec : sh->cfg->source_exec)) ||
	    push_args(k, sink ? sink_args : source_args) < 0 ||
	    one_port(sink ? &k->inputs : &k->outputs, sink ? &k->ninputs : &k->noutputs,
		     sink ? "in" : "out") < 0 ||
	    !(k->env = calloc(1, sizeof(char *))))
		return -ENOMEM;
	return 0;
}

enum bridge_end { END_NONE, END_SINK, END_SOURCE };

/* Ring r of t into the share, from kernel `from` to kernel `to` of s; a
 * bridge kernel at one end (its port is "in" or "out"). Same capacity and
 * wait as the file's ring. */
static void add_ring(struct share *sh, size_t r, size_t from, size_t to, enum bridge_end end)
{
	struct topology *s = sh->s;
	struct topo_ring *d = &s->rings[s->nrings++];
	*d = sh->t->rings[r];
	d->from_kernel = from;
	d->to_kernel = to;
	d->port = 0;
	if (end == END_SOURCE)
		snprintf(d->from_port, sizeof(d->from_port), "out");
	if (end == END_SINK) {
		snprintf(d->to_port, sizeof(d->to_port), "in");
		d->to_priority = TOPO_PRIO_NORMAL;
	}
}

static int share_name(struct topology *s, const struct topology *t, const char *host)
{
	int room = TOPO_NAME_MAX - 1 - (int)strlen(host);
	/* A host name of 30 or 31 characters leaves no room: the share is
	 * named after the host alone. */
	if (room <= 0 || snprintf(s->name, sizeof(s->name), "%.*s-%s", room, t->name, host) >
			 TOPO_NAME_MAX)
		snprintf(s->name, sizeof(s->name), "%s", host);
	return (s->file = strdup(t->file)) ? 0 : -ENOMEM;
}

static int build_share(struct share *sh, size_t host, size_t *map)
{
	const struct topology *t = sh->t;
	struct topology *s = sh->s;
	int rc = share_name(s, t, t->hosts[host].name);
	for (size_t i = 0; rc == 0 && i < t->nkernels; i++) {
		if (t->kernels[i].host != host)
			continue;
		map[i] = s->nkernels++;
		if ((rc = copy_kernel(&s->kernels[map[i]], &t->kernels[i])) == 0 &&
		    hset_add(&sh->names, 0, t->kernels[i].name, strlen(t->kernels[i].name), map[i],
			     NULL) < 0)
			rc = -ENOMEM;
	}
	for (size_t r = 0; rc == 0 && r < t->nrings; r++) {
		const struct topo_ring *ring = &t->rings[r];
		int here_from = t->kernels[ring->from_kernel].host == host;
		int here_to = t->kernels[ring->to_kernel].host == host;
		if (here_from && here_to) {
			add_ring(sh, r, map[ring->from_kernel], map[ring->to_kernel], END_NONE);
		} else if (here_from) {
			if ((rc = add_bridge(sh, r, 1)) == 0)
				add_ring(sh, r, map[ring->from_kernel], s->nkernels - 1, END_SINK);
		} else if (here_to) {
			if ((rc = add_bridge(sh, r, 0)) == 0)
				add_ring(sh, r, s->nkernels - 1, map[ring->to_kernel], END_SOURCE);
		}
	}
	return rc;
}

int topo_host_share(const struct topology *t, size_t host, const struct topo_bridge_cfg *cfg,
		    struct topology **out)
{
	size_t nk = 0, nr = 0;
	*out = NULL;
	if (host >= t->nhosts)
		return -EINVAL;
	for (size_t i = 0; i < t->nkernels; i++)
		nk += t->kernels[i].host == host;
	for (size_t r = 0; r < t->nrings; r++) {
		size_t from = t->kernels[t->rings[r].from_kernel].host;
		size_t to = t->kernels[t->rings[r].to_kernel].host;
		nr += from == host || to == host;
		nk += (from == host) != (to == host); /* a bridge kernel */
	}
	struct share sh = { t, cfg, calloc(1, sizeof(struct topology)), { 0 } };
	size_t *map = calloc(t->nkernels, sizeof(size_t));
	int rc = -ENOMEM;
	if (sh.s && map && (!nk || (sh.s->kernels = calloc(nk, sizeof(struct topo_kernel)))) &&
	    (!nr || (sh.s->rings = calloc(nr, sizeof(struct topo_ring))))) {
		struct topology *s = sh.s;
		s->strategy = t->strategy;
		s->intensity = t->intensity;
		s->period_ms = t->period_ms;
		s->grace_ms = t->grace_ms;
		s->ready_ms = t->ready_ms;
		s->hash = t->hash;
		s->share_of = host;
		rc = build_share(&sh, host, map);
	}
	free(map);
	hset_free(&sh.names);
	if (rc) {
		topo_free(sh.s);
		return rc;
	}
	*out = sh.s;
	return 0;
}
