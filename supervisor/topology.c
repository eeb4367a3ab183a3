/* SPDX-License-Identifier: MIT */
/*
 * Topology files, parsed with libyaml's document API (every node carries its
 * line) and validated in one pass. Errors are "FILE:LINE: problem: fix".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "topology.h"

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct topology *t;
};

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

/* "a, b, c" for messages that list the valid choices. */
static const char *join(char *buf, size_t len, char *const *items, size_t n)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n && items[i]; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? ", " : "", items[i]);
	return buf;
}

/* Walk a mapping's pairs; reject keys not in `keys` (a typo otherwise passes
 * silently) and duplicates. */
typedef int (*pair_fn)(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg);

static int each_pair(struct ctx *c, yaml_node_t *map, const char *what, const char *const *keys,
		     pair_fn fn, void *arg)
{
	int rc = want(c, map, YAML_MAPPING_NODE, what);
	if (rc)
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
			if (!strcmp(scalar(node(c, q->key)) ? scalar(node(c, q->key)) : "", key))
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

/* "64KiB", "1M", "4096" (bytes). */
static int parse_capacity(struct ctx *c, yaml_node_t *n, uint64_t *out)
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
				*out = v * u[i].mul;
				if (*out < 4096u || *out > (1ull << 30))
					return fail(c, line_of(n), "capacity %s is out of range: a ring "
						    "holds 4KiB to 1GiB", s);
				return 0;
			}
	return fail(c, line_of(n), "capacity '%.40s' is not a size: write e.g. 4096, 64KiB, 1MiB",
		    s ? s : kind(n));
}

/* "500ms", "2s", "1m". */
static int parse_duration(struct ctx *c, yaml_node_t *n, uint64_t *ms)
{
	const char *s = scalar(n);
	char *end;
	uint64_t v;
	if (parse_u64(s, &v, &end) == 0 && v <= 86400000) {
		if (!strcmp(end, "ms"))
			return *ms = v, 0;
		if (!strcmp(end, "s"))
			return *ms = v * 1000, 0;
		if (!strcmp(end, "m"))
			return *ms = v * 60000, 0;
	}
	return fail(c, line_of(n), "'%.40s' is not a duration: write e.g. 500ms, 2s, 1m",
		    s ? s : kind(n));
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
	if (rc)
		return rc;
	size_t len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	*out = calloc(len + 1, sizeof(char *));
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
	static const char *const strategies[] = { "one_for_one", "one_for_all", "rest_for_one", NULL };
	(void)k, (void)arg;
	struct topology *t = c->t;
	if (!strcmp(key, "strategy")) {
		int s = 0;
		int rc = pick(c, v, "strategy", strategies, &s);
		t->strategy = (enum topo_strategy)s;
		return rc;
	}
	if (!strcmp(key, "intensity")) {
		uint64_t n;
		char *end;
		if (parse_u64(scalar(v), &n, &end) || *end || n > 1000000)
			return fail(c, line_of(v), "intensity must be a whole number of restarts, e.g. 5");
		t->intensity = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "period"))
		return parse_duration(c, v, &t->period_ms);
	return parse_duration(c, v, &t->grace_ms); /* grace */
}

/* ---- kernels ------------------------------------------------------------ */

static int env_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct topo_kernel *kn = arg;
	const char *val = scalar(v);
	int ok = (key[0] < '0' || key[0] > '9');
	for (const char *p = key; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (!ok)
		return fail(c, line_of(k), "'%.40s' is not an environment variable name", key);
	if (!strncmp(key, "SHMRING_", 8))
		return fail(c, line_of(k), "environment variable %s: the SHMRING_ prefix is reserved "
			    "for the supervisor; rename it", key);
	if (!val)
		return fail(c, line_of(v), "environment variable %s must have a single value", key);
	char **grown = realloc(kn->env, (kn->nenv + 1) * sizeof(char *));
	if (!grown)
		return -ENOMEM;
	kn->env = grown;
	if (asprintf(&kn->env[kn->nenv], "%s=%s", key, val) < 0)
		return -ENOMEM;
	kn->nenv++;
	return 0;
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
	kn->cpus = calloc((size_t)(top - start), sizeof(int));
	if (!kn->cpus)
		return -ENOMEM;
	for (yaml_node_item_t *it = start; it < top; it++) {
		yaml_node_t *n = v->type == YAML_SEQUENCE_NODE ? node(c, *it) : v;
		uint64_t cpu;
		char *end;
		if (parse_u64(scalar(n), &cpu, &end) || *end || cpu > 4095)
			return fail(c, line_of(n), "cpu '%.20s' is not a core number: write e.g. "
				    "cpu: 0, cpu: [0, 2] or cpu: auto", scalar(n) ? scalar(n) : kind(n));
		for (size_t j = 0; j < kn->ncpus; j++)
			if (kn->cpus[j] == (int)cpu)
				return fail(c, line_of(n), "cpu %d is listed twice", (int)cpu);
		kn->cpus[kn->ncpus++] = (int)cpu;
	}
	return 0;
}

static int check_ports(struct ctx *c, yaml_node_t *v, struct topo_kernel *kn, char **ports, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = check_name_str(c, line_of(v), ports[i], "port name", NULL);
		if (rc)
			return rc;
		size_t seen = 0;
		for (size_t j = 0; j < kn->ninputs; j++)
			seen += !strcmp(kn->inputs[j], ports[i]);
		for (size_t j = 0; j < kn->noutputs; j++)
			seen += !strcmp(kn->outputs[j], ports[i]);
		if (seen > 1)
			return fail(c, line_of(v), "kernel '%s' declares port '%s' twice: port names are "
				    "unique across a kernel's inputs and outputs", kn->name, ports[i]);
	}
	return 0;
}

static int kernel_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	static const char *const restarts[] = { "permanent", "transient", "temporary", NULL };
	struct topo_kernel *kn = arg;
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
	if (!strcmp(key, "env")) {
		int rc = want(c, v, YAML_MAPPING_NODE, "env");
		if (rc)
			return rc;
		for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
			yaml_node_t *ek = node(c, p->key), *ev = node(c, p->value);
			if (!scalar(ek))
				return fail(c, line_of(ek), "env keys must be variable names");
			if ((rc = env_pair(c, scalar(ek), ek, ev, kn)))
				return rc;
		}
		return 0;
	}
	if (!strcmp(key, "cpu"))
		return parse_cpu(c, v, kn);
	if (!strcmp(key, "restart")) {
		int r = 0;
		int rc = pick(c, v, "restart policy", restarts, &r);
		kn->restart = (enum topo_restart)r;
		return rc;
	}
	if (!strcmp(key, "inputs")) {
		int rc = strings(c, v, "inputs", &kn->inputs, &kn->ninputs);
		return rc ? rc : check_ports(c, v, kn, kn->inputs, kn->ninputs);
	}
	int rc = strings(c, v, "outputs", &kn->outputs, &kn->noutputs);
	return rc ? rc : check_ports(c, v, kn, kn->outputs, kn->noutputs);
}

static int parse_kernels(struct ctx *c, yaml_node_t *seq)
{
	static const char *const keys[] = { "name", "exec", "args", "env", "cpu", "restart",
					    "inputs", "outputs", NULL };
	int rc = want(c, seq, YAML_SEQUENCE_NODE, "kernels");
	if (rc)
		return rc;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n == 0)
		return fail(c, line_of(seq), "kernels is empty: a topology runs at least one kernel");
	struct topology *t = c->t;
	if (!(t->kernels = calloc(n, sizeof(*t->kernels))))
		return -ENOMEM;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *kn = node(c, *it);
		struct topo_kernel *k = &t->kernels[t->nkernels++];
		k->line = line_of(kn);
		if ((rc = each_pair(c, kn, "a kernel", keys, kernel_pair, k)))
			return rc;
		if (!k->name[0])
			return fail(c, k->line, "this kernel has no name: add name: ...");
		if (!k->exec)
			return fail(c, k->line, "kernel '%s' has no exec: name its executable", k->name);
		for (size_t j = 0; j + 1 < t->nkernels; j++)
			if (!strcmp(t->kernels[j].name, k->name))
				return fail(c, k->line, "kernel name '%s' is already used on line %d: "
					    "names are unique", k->name, t->kernels[j].line);
	}
	return 0;
}

/* ---- rings -------------------------------------------------------------- */

struct ring_arg {
	struct topo_ring *r;
	int have_from, have_to;
};

static int endpoint(struct ctx *c, yaml_node_t *v, int output, size_t *kernel, char *port)
{
	const char *s = scalar(v);
	const char *dot = s ? strchr(s, '.') : NULL;
	if (!dot || dot == s || !dot[1] || strchr(dot + 1, '.'))
		return fail(c, line_of(v), "'%.60s' is not kernel.port: write e.g. %s",
			    s ? s : kind(v), output ? "gen.out" : "double.in");
	size_t klen = (size_t)(dot - s);
	struct topology *t = c->t;
	for (size_t i = 0; i < t->nkernels; i++) {
		struct topo_kernel *k = &t->kernels[i];
		if (strlen(k->name) != klen || strncmp(k->name, s, klen))
			continue;
		char **ports = output ? k->outputs : k->inputs;
		size_t n = output ? k->noutputs : k->ninputs;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(ports[j], dot + 1)) {
				*kernel = i;
				snprintf(port, TOPO_NAME_MAX + 1, "%s", ports[j]);
				return 0;
			}
		char list[200];
		return fail(c, line_of(v), "kernel '%s' has no %s port '%.40s' (its %s: %s): declare it "
			    "under %s or fix the name", k->name, output ? "output" : "input", dot + 1,
			    output ? "outputs" : "inputs", n ? join(list, sizeof(list), ports, n) : "none",
			    output ? "outputs" : "inputs");
	}
	return fail(c, line_of(v), "no kernel named '%.*s': declare it under kernels or fix the name",
		    (int)(klen > 40 ? 40 : klen), s);
}

static int ring_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	static const char *const waits[] = { "adaptive", "spin", "yield", "futex", NULL };
	struct ring_arg *a = arg;
	(void)k;
	if (!strcmp(key, "from")) {
		a->have_from = 1;
		return endpoint(c, v, 1, &a->r->from_kernel, a->r->from_port);
	}
	if (!strcmp(key, "to")) {
		a->have_to = 1;
		return endpoint(c, v, 0, &a->r->to_kernel, a->r->to_port);
	}
	if (!strcmp(key, "capacity"))
		return parse_capacity(c, v, &a->r->capacity);
	int w = 0;
	int rc = pick(c, v, "wait strategy", waits, &w);
	a->r->wait = (enum shmring_wait)w; /* same order as enum shmring_wait */
	return rc;
}

static int parse_rings(struct ctx *c, yaml_node_t *seq)
{
	static const char *const keys[] = { "from", "to", "capacity", "wait", NULL };
	int rc = want(c, seq, YAML_SEQUENCE_NODE, "rings");
	if (rc)
		return rc;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	struct topology *t = c->t;
	if (n && !(t->rings = calloc(n, sizeof(*t->rings))))
		return -ENOMEM;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *rn = node(c, *it);
		struct topo_ring *r = &t->rings[t->nrings++];
		struct ring_arg a = { r, 0, 0 };
		r->line = line_of(rn);
		r->capacity = 1u << 20;
		r->wait = SHMRING_WAIT_ADAPTIVE;
		if ((rc = each_pair(c, rn, "a ring", keys, ring_pair, &a)))
			return rc;
		if (!a.have_from || !a.have_to)
			return fail(c, r->line, "this ring needs both from: kernel.port and to: kernel.port");
		for (size_t j = 0; j + 1 < t->nrings; j++) {
			struct topo_ring *o = &t->rings[j];
			if (o->to_kernel == r->to_kernel && !strcmp(o->to_port, r->to_port))
				return fail(c, r->line, "input %s.%s is already fed by the ring on line %d: "
					    "a ring has one producer; give the kernel another input port",
					    t->kernels[r->to_kernel].name, r->to_port, o->line);
			if (o->from_kernel == r->from_kernel && !strcmp(o->from_port, r->from_port))
				return fail(c, r->line, "output %s.%s already feeds the ring on line %d: "
					    "a port is one end of one ring; declare another output port",
					    t->kernels[r->from_kernel].name, r->from_port, o->line);
		}
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
			char **ports = out ? k->outputs : k->inputs;
			size_t n = out ? k->noutputs : k->ninputs;
			for (size_t j = 0; j < n; j++) {
				size_t r;
				for (r = 0; r < t->nrings; r++) {
					struct topo_ring *g = &t->rings[r];
					if (out ? (g->from_kernel == i && !strcmp(g->from_port, ports[j]))
						: (g->to_kernel == i && !strcmp(g->to_port, ports[j])))
						break;
				}
				if (r == t->nrings)
					return fail(c, k->line, "%s port %s.%s is not connected: add a ring "
						    "%s it, or remove the port", out ? "output" : "input",
						    k->name, ports[j], out ? "from" : "to");
			}
		}
	}
	return 0;
}

/* ---- top level ---------------------------------------------------------- */

static int top_pair(struct ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	static const char *const sup_keys[] = { "strategy", "intensity", "period", "grace", NULL };
	(void)k, (void)arg;
	if (!strcmp(key, "topology"))
		return check_name(c, v, "topology name", c->t->name);
	if (!strcmp(key, "supervision"))
		return each_pair(c, v, "supervision", sup_keys, supervision_pair, NULL);
	return 0; /* kernels and rings: parsed in order below */
}

static yaml_node_t *lookup(struct ctx *c, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (scalar(node(c, p->key)) && !strcmp(scalar(node(c, p->key)), key))
			return node(c, p->value);
	return NULL;
}

int topo_parse(const char *file, const char *text, size_t len, struct topology **out,
	       char *err, size_t errlen)
{
	static const char *const keys[] = { "topology", "supervision", "kernels", "rings", NULL };
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ctx c = { file, err, errlen, &doc, NULL };
	int rc;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = fail(&c, (int)parser.problem_mark.line + 1, "not valid YAML: %s%s%s",
			  parser.problem ? parser.problem : "parse error",
			  parser.context ? " " : "", parser.context ? parser.context : "");
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
	if (!(c.t->file = strdup(file))) {
		rc = -ENOMEM;
		goto done;
	}
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
	if (!kernels) {
		rc = fail(&c, line_of(root), "no kernels: list them under kernels:");
		goto done;
	}
	if ((rc = parse_kernels(&c, kernels)))
		goto done;
	if (rings && (rc = parse_rings(&c, rings)))
		goto done;
	rc = check_wired(&c);
done:
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
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 > cap) {
			char *g = realloc(text, cap = cap ? cap * 2 : 8192);
			if (!g) {
				free(text);
				fclose(f);
				return -ENOMEM;
			}
			text = g;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len > (16u << 20)) {
			free(text);
			fclose(f);
			snprintf(err, errlen, "%s: larger than 16 MiB: not a topology file", path);
			return -EFBIG;
		}
	}
	fclose(f);
	int rc = topo_parse(path, text, len, out, err, errlen);
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
		free(k->cpus);
	}
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
	struct topology *t = calloc(1, sizeof(*t));
	int rc = -ENOMEM;
	if (!t || !(t->file = strdup("-e")) ||
	    !(t->kernels = calloc(nstages, sizeof(*t->kernels))) ||
	    (nstages > 1 && !(t->rings = calloc(nstages - 1, sizeof(*t->rings)))))
		goto done;
	snprintf(t->name, sizeof(t->name), "pipeline");
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
		/* Name after the executable's basename, made a valid, unique name. */
		const char *base = strrchr(k->exec, '/') ? strrchr(k->exec, '/') + 1 : k->exec;
		char name[TOPO_NAME_MAX + 1];
		size_t len = 0;
		for (const char *c = base; *c && len < TOPO_NAME_MAX - 3; c++)
			name[len++] = (char)(((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
					      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-') ? *c : '-');
		name[len] = '\0';
		if (!len || name[0] == '-' || name[0] == '_')
			snprintf(name, sizeof(name), "stage%zu", s + 1);
		snprintf(k->name, sizeof(k->name), "%s", name);
		for (unsigned dup = 2;; dup++) {
			size_t j;
			for (j = 0; j < s && strcmp(t->kernels[j].name, k->name); j++)
				;
			if (j == s)
				break;
			snprintf(k->name, sizeof(k->name), "%.*s-%u", TOPO_NAME_MAX - 4, name, dup);
		}
		if ((s > 0 && one_port(&k->inputs, &k->ninputs, "in")) ||
		    (i < nw && one_port(&k->outputs, &k->noutputs, "out")))
			goto done;
		if (s > 0) {
			struct topo_ring *r = &t->rings[t->nrings++];
			r->from_kernel = s - 1;
			r->to_kernel = s;
			snprintf(r->from_port, sizeof(r->from_port), "out");
			snprintf(r->to_port, sizeof(r->to_port), "in");
			r->capacity = 1u << 20;
			r->wait = SHMRING_WAIT_ADAPTIVE;
			r->line = 1;
		}
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
	topo_free(t);
	return rc;
}

int topo_graph_order(const struct topology *t, size_t *order)
{
	size_t n = 0;
	char *seen = calloc(t->nkernels ? t->nkernels : 1, 1);
	if (!seen)
		return -ENOMEM;
	/* Breadth-first from the sources (no inputs), then whatever a cycle left. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t s = 0; s < t->nkernels; s++) {
			if (seen[s] || (pass == 0 && t->kernels[s].ninputs))
				continue;
			size_t head = n;
			order[n++] = s;
			seen[s] = 1;
			while (head < n) {
				size_t k = order[head++];
				for (size_t r = 0; r < t->nrings; r++)
					if (t->rings[r].from_kernel == k && !seen[t->rings[r].to_kernel]) {
						seen[t->rings[r].to_kernel] = 1;
						order[n++] = t->rings[r].to_kernel;
					}
			}
		}
	free(seen);
	return 0;
}
