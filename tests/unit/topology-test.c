/* SPDX-License-Identifier: MIT */
/* topology-test: topology files, good and bad; every error names file:line. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmring/ring.h>

#include "topology.h"
#include "../common/test-util.h"

static char err[512];

static struct topology *parse_ok(const char *yaml)
{
	struct topology *t;
	int rc = topo_parse("t.yaml", yaml, strlen(yaml), &t, err, sizeof(err));
	if (rc)
		fail_msg("unexpected error: %s", err);
	return t;
}

/* Parse, expect failure, and check the message starts with t.yaml:LINE: and
 * contains `what`. */
static void parse_bad(const char *yaml, int line, const char *what)
{
	struct topology *t;
	char prefix[32];
	assert_int_equal(topo_parse("t.yaml", yaml, strlen(yaml), &t, err, sizeof(err)), -EINVAL);
	assert_null(t);
	snprintf(prefix, sizeof(prefix), "t.yaml:%d: ", line);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, what))
		fail_msg("expected '%s...%s', got '%s'", prefix, what, err);
}

#define PIPE3 \
	"topology: doubler\n"                       /* 1 */ \
	"supervision:\n"                            /* 2 */ \
	"  strategy: rest_for_one\n"                /* 3 */ \
	"  intensity: 7\n"                          /* 4 */ \
	"  period: 30s\n"                           /* 5 */ \
	"  grace: 500ms\n"                          /* 6 */ \
	"kernels:\n"                                /* 7 */ \
	"  - name: gen\n"                           /* 8 */ \
	"    exec: ./gen\n"                         /* 9 */ \
	"    args: [--count, \"1000\"]\n"           /* 10 */ \
	"    env: { LEVEL: \"3\", MODE: fast }\n"   /* 11 */ \
	"    cpu: 0\n"                              /* 12 */ \
	"    outputs: [out]\n"                      /* 13 */ \
	"  - name: double\n"                        /* 14 */ \
	"    exec: double\n"                        /* 15 */ \
	"    cpu: [0, 1]\n"                         /* 16 */ \
	"    restart: transient\n"                  /* 17 */ \
	"    inputs: [in]\n"                        /* 18 */ \
	"    outputs: [out]\n"                      /* 19 */ \
	"  - name: print\n"                         /* 20 */ \
	"    exec: /bin/true\n"                     /* 21 */ \
	"    inputs: [in]\n"                        /* 22 */ \
	"rings:\n"                                  /* 23 */ \
	"  - from: gen.out\n"                       /* 24 */ \
	"    to: double.in\n"                       /* 25 */ \
	"    capacity: 64KiB\n"                     /* 26 */ \
	"    wait: spin\n"                          /* 27 */ \
	"  - { from: double.out, to: print.in }\n"  /* 28 */

static void a_full_topology_parses_into_the_model(void **s)
{
	(void)s;
	struct topology *t = parse_ok(PIPE3);
	assert_string_equal(t->name, "doubler");
	assert_int_equal(t->strategy, TOPO_REST_FOR_ONE);
	assert_int_equal(t->intensity, 7);
	assert_int_equal(t->period_ms, 30000);
	assert_int_equal(t->grace_ms, 500);
	assert_int_equal(t->nkernels, 3);
	struct topo_kernel *g = &t->kernels[0], *d = &t->kernels[1], *p = &t->kernels[2];
	assert_string_equal(g->exec, "./gen");
	assert_int_equal(g->nargs, 2);
	assert_string_equal(g->args[1], "1000");
	assert_int_equal(g->nenv, 2);
	assert_string_equal(g->env[0], "LEVEL=3");
	assert_int_equal(g->ncpus, 1);
	assert_int_equal(g->cpus[0], 0);
	assert_int_equal(g->restart, TOPO_PERMANENT);
	assert_int_equal(g->line, 8);
	assert_int_equal(d->ncpus, 2);
	assert_int_equal(d->restart, TOPO_TRANSIENT);
	assert_int_equal(p->ncpus, 0); /* auto */
	assert_int_equal(t->nrings, 2);
	assert_int_equal(t->rings[0].from_kernel, 0);
	assert_int_equal(t->rings[0].to_kernel, 1);
	assert_string_equal(t->rings[0].to_port, "in");
	assert_int_equal(t->rings[0].capacity, 64 * 1024);
	assert_int_equal(t->rings[0].wait, SHMRING_WAIT_SPIN);
	assert_true(t->rings[0].wait_set); /* as written: kept on a shared cpu too */
	assert_int_equal(t->rings[1].capacity, 1u << 20); /* default */
	assert_int_equal(t->rings[1].wait, SHMRING_WAIT_ADAPTIVE);
	assert_false(t->rings[1].wait_set); /* the supervisor's to choose (placement.h) */
	assert_int_equal(t->rings[1].line, 28);
	topo_free(t);
}

static void defaults_apply_when_supervision_is_absent(void **s)
{
	(void)s;
	struct topology *t = parse_ok("topology: one\nkernels:\n  - { name: k, exec: /bin/true }\n");
	assert_int_equal(t->strategy, TOPO_ONE_FOR_ONE);
	assert_int_equal(t->intensity, 3);
	assert_int_equal(t->period_ms, 5000);
	assert_int_equal(t->grace_ms, 2000);
	assert_int_equal(t->nrings, 0);
	topo_free(t);
}

static void bad_files_name_the_line_and_the_fix(void **s)
{
	(void)s;
	parse_bad("", 1, "empty");
	parse_bad("topology: x\nkernels: [\n", 3, "not valid YAML");
	parse_bad("topology: x\nkernal: []\n", 2, "unknown key 'kernal' in the topology file: the keys are topology, supervision, kernels, rings");
	parse_bad("kernels:\n  - { name: k, exec: e }\n", 1, "no topology name");
	parse_bad("topology: a.b\nkernels: []\n", 1, "topology name 'a.b' is not a valid name");
	parse_bad("topology: x\n", 1, "no kernels");
	parse_bad("topology: x\nkernels: []\n", 2, "kernels is empty");
	parse_bad("topology: x\nkernels: { a: b }\n", 2, "kernels must be a list");
	parse_bad("topology: x\nkernels:\n  - exec: e\n", 3, "has no name");
	parse_bad("topology: x\nkernels:\n  - name: k\n", 3, "kernel 'k' has no exec");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e }\n  - { name: k, exec: f }\n",
		  4, "kernel name 'k' is already used on line 3");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e, name: j }\n", 3,
		  "key 'name' appears twice");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e, cpu: x }\n", 3,
		  "cpu 'x' is not a core number");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e, cpu: [1, 1] }\n", 3,
		  "cpu 1 is listed twice");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e, restart: always }\n", 3,
		  "restart policy 'always' is unknown: use one of permanent, transient, temporary");
	parse_bad("topology: x\nkernels:\n  - name: k\n    exec: e\n    env: { SHMRING_RING: a }\n",
		  5, "SHMRING_ prefix is reserved");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e, inputs: [a, a] }\n", 3,
		  "declares port 'a' twice");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e, outputs: [o] }\n", 3,
		  "output port k.o is not connected");
	parse_bad("topology: x\nsupervision: { period: 5 }\nkernels: []\n", 2,
		  "'5' is not a duration: write e.g. 500ms, 2s, 1m");
	parse_bad("topology: x\nsupervision: { strategy: all }\nkernels: []\n", 2,
		  "strategy 'all' is unknown");
}

#define TWO "topology: x\nkernels:\n" \
	"  - { name: a, exec: e, outputs: [out, o2] }\n" \
	"  - { name: b, exec: e, inputs: [in, i2] }\n" \
	"rings:\n"

static void bad_rings_name_the_line_and_the_fix(void **s)
{
	(void)s;
	parse_bad(TWO "  - { from: a.out }\n", 6, "needs both from");
	parse_bad(TWO "  - { from: aout, to: b.in }\n", 6, "'aout' is not kernel.port");
	parse_bad(TWO "  - { from: c.out, to: b.in }\n", 6, "no kernel named 'c'");
	parse_bad(TWO "  - { from: a.outt, to: b.in }\n", 6,
		  "kernel 'a' has no output port 'outt' (its outputs: out, o2)");
	parse_bad(TWO "  - { from: a.out, to: b.out }\n", 6, "kernel 'b' has no input port 'out'");
	parse_bad(TWO "  - { from: a.out, to: b.in }\n  - { from: a.o2, to: b.in }\n", 7,
		  "input b.in is already fed by the ring on line 6: a ring has one producer");
	parse_bad(TWO "  - { from: a.out, to: b.in }\n  - { from: a.out, to: b.i2 }\n", 7,
		  "output a.out already feeds the ring on line 6");
	parse_bad(TWO "  - { from: a.out, to: b.in, capacity: 64 KB }\n", 6, "is not a size");
	parse_bad(TWO "  - { from: a.out, to: b.in, capacity: 1KiB }\n", 6,
		  "capacity 1KiB is out of range");
	parse_bad(TWO "  - { from: a.out, to: b.in, capacity: 2GiB }\n", 6, "out of range");
	parse_bad(TWO "  - { from: a.out, to: b.in, wait: busy }\n", 6,
		  "wait strategy 'busy' is unknown: use one of adaptive, spin, yield, futex");
	parse_bad(TWO "  - { from: a.out, to: b.in, size: 1 }\n", 6, "unknown key 'size' in a ring");
	parse_bad(TWO "  - { from: a.out, to: b.in }\n", 3, "output port a.o2 is not connected");
	parse_bad(TWO "  - { from: a.out, to: b.in }\n  - { from: a.o2, to: b.in }\n", 7,
		  "a ring has one producer; give the kernel another input port");
}

static void host_check_finds_missing_and_unrunnable_executables(void **s)
{
	(void)s;
	char dir[96], file[128], exe[128], noexec[128];
	assert_int_equal(tu_mkdtemp(dir, sizeof(dir), "topo-test"), 0);
	snprintf(file, sizeof(file), "%s/t.yaml", dir);
	snprintf(exe, sizeof(exe), "%s/kern", dir);
	snprintf(noexec, sizeof(noexec), "%s/data", dir);
	FILE *f = fopen(exe, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\n", f);
	fclose(f);
	chmod(exe, 0755);
	f = fopen(noexec, "w");
	assert_non_null(f);
	fclose(f);
	chmod(noexec, 0644);

	struct topology *t;
	char *resolved[2] = { NULL, NULL };
	const char *good = "topology: x\nkernels:\n  - { name: k, exec: ./kern, cpu: 1 }\n"
			   "  - { name: j, exec: sh }\n";
	assert_int_equal(topo_parse(file, good, strlen(good), &t, err, sizeof(err)), 0);
	assert_int_equal(topo_check_host(t, 2, resolved, err, sizeof(err)), 0);
	assert_string_equal(resolved[0], exe);               /* relative to the file */
	assert_non_null(strstr(resolved[1], "/sh"));         /* found on PATH */
	free(resolved[0]);
	free(resolved[1]);
	assert_int_equal(topo_check_host(t, 1, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: kernel 'k': cpu 1 does not exist: this machine has 1"));
	topo_free(t);

	const char *missing = "topology: x\nkernels:\n  - { name: k, exec: ./nope }\n";
	assert_int_equal(topo_parse(file, missing, strlen(missing), &t, err, sizeof(err)), 0);
	assert_int_equal(topo_check_host(t, 2, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, ":3: kernel 'k': executable './nope' not found"));
	topo_free(t);

	const char *unrunnable = "topology: x\nkernels:\n  - { name: k, exec: ./data }\n";
	assert_int_equal(topo_parse(file, unrunnable, strlen(unrunnable), &t, err, sizeof(err)), 0);
	assert_int_equal(topo_check_host(t, 2, NULL, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "is not an executable file: chmod +x it"));
	topo_free(t);

	const char *crowded = "topology: x\nkernels:\n  - { name: a, exec: ./kern, cpu: 0 }\n"
			      "  - { name: b, exec: ./kern, cpu: 1 }\n  - { name: c, exec: ./kern, cpu: 1 }\n";
	assert_int_equal(topo_parse(file, crowded, strlen(crowded), &t, err, sizeof(err)), 0);
	assert_int_equal(topo_check_host(t, 2, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "3 kernels are pinned but this machine has 2 cores"));
	topo_free(t);

	unlink(exe);
	unlink(noexec);
	rmdir(dir);
}

static void load_reports_a_missing_file(void **s)
{
	(void)s;
	struct topology *t;
	assert_int_equal(topo_load("/nonexistent/t.yaml", &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/t.yaml: cannot open"));
	assert_null(t);
}

static void pipeline_form_builds_a_chain(void **s)
{
	(void)s;
	struct topology *t;
	assert_int_equal(topo_parse_pipeline("gen --count 1000 ! ./bin/double ! print 'a b' \"!\" ! double",
					     &t, err, sizeof(err)), 0);
	assert_int_equal(t->nkernels, 4);
	assert_string_equal(t->kernels[0].name, "gen");
	assert_int_equal(t->kernels[0].nargs, 2);
	assert_string_equal(t->kernels[0].args[1], "1000");
	assert_int_equal(t->kernels[0].ninputs, 0);
	assert_string_equal(t->kernels[0].outputs[0], "out");
	assert_string_equal(t->kernels[1].name, "double");
	assert_string_equal(t->kernels[1].exec, "./bin/double");
	assert_int_equal(t->kernels[2].nargs, 2);
	assert_string_equal(t->kernels[2].args[0], "a b");
	assert_string_equal(t->kernels[2].args[1], "!"); /* quoted: an argument */
	assert_string_equal(t->kernels[3].name, "double-2");
	assert_int_equal(t->kernels[3].noutputs, 0);
	assert_int_equal(t->nrings, 3);
	assert_int_equal(t->rings[2].from_kernel, 2);
	assert_int_equal(t->rings[2].to_kernel, 3);
	assert_int_equal(t->rings[2].capacity, 1u << 20);
	topo_free(t);

	assert_int_equal(topo_parse_pipeline("cat", &t, err, sizeof(err)), 0);
	assert_int_equal(t->nkernels, 1);
	assert_int_equal(t->nrings, 0);
	topo_free(t);
}

static void bad_pipelines_say_what_to_write(void **s)
{
	(void)s;
	struct topology *t;
	assert_int_equal(topo_parse_pipeline("a ! ! b", &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "-e:1: stage 2 is empty: write e.g. 'gen ! double ! print'");
	assert_int_equal(topo_parse_pipeline("a !", &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "stage 2 is empty"));
	assert_int_equal(topo_parse_pipeline("   ", &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "-e:1: "));
	assert_int_equal(topo_parse_pipeline("a 'oops ! b", &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "-e:1: unterminated ' quote: close it");
	assert_null(t);
}

#define PRIO \
	"topology: prio\n"                                                    /* 1 */ \
	"kernels:\n"                                                          /* 2 */ \
	"  - { name: src, exec: e, outputs: [o1, o2, o3, o4] }\n"             /* 3 */ \
	"  - name: mix\n"                                                     /* 4 */ \
	"    exec: e\n"                                                       /* 5 */ \
	"    inputs:\n"                                                       /* 6 */ \
	"      - data\n"                                                      /* 7 */ \
	"      - { name: control, priority: high }\n"                         /* 8 */ \
	"      - { priority: low, name: bulk }\n"                             /* 9 */ \
	"      - { name: plain }\n"                                           /* 10 */ \
	"rings:\n"                                                            /* 11 */ \
	"  - { from: src.o1, to: mix.bulk }\n"                                /* 12 */ \
	"  - { from: src.o2, to: mix.control }\n"                             /* 13 */ \
	"  - { from: src.o3, to: mix.data }\n"                                /* 14 */ \
	"  - { from: src.o4, to: mix.plain }\n"                               /* 15 */

static void input_priorities_parse_from_names_and_mappings(void **s)
{
	(void)s;
	struct topology *t = parse_ok(PRIO);
	const struct topo_kernel *mix = &t->kernels[1];
	assert_int_equal(mix->ninputs, 4);
	static const char *const names[] = { "data", "control", "bulk", "plain" };
	static const int prios[] = { TOPO_PRIO_NORMAL, TOPO_PRIO_HIGH, TOPO_PRIO_LOW,
				     TOPO_PRIO_NORMAL };
	for (size_t j = 0; j < 4; j++) {
		assert_string_equal(mix->inputs[j], names[j]);
		assert_int_equal(topo_input_priority(mix, j), prios[j]);
	}
	/* each ring carries its consumer input's priority, in ring order */
	static const int ring_prios[] = { TOPO_PRIO_LOW, TOPO_PRIO_HIGH, TOPO_PRIO_NORMAL,
					  TOPO_PRIO_NORMAL };
	for (size_t r = 0; r < 4; r++)
		assert_int_equal(t->rings[r].to_priority, ring_prios[r]);
	topo_free(t);
	/* the one-line form has no priorities: every input is normal */
	assert_int_equal(topo_parse_pipeline("a ! b", &t, err, sizeof(err)), 0);
	assert_int_equal(topo_input_priority(&t->kernels[1], 0), TOPO_PRIO_NORMAL);
	assert_int_equal(t->rings[0].to_priority, TOPO_PRIO_NORMAL);
	topo_free(t);
}

/* PRIO with line 8 (the control input) replaced. */
static void prio_bad(const char *line8, int line, const char *what)
{
	char yaml[2048];
	const char *at = strstr(PRIO, "      - { name: control");
	const char *end = strchr(at, '\n') + 1;
	snprintf(yaml, sizeof(yaml), "%.*s%s%s", (int)(at - PRIO), PRIO, line8, end);
	parse_bad(yaml, line, what);
}

static void bad_input_priorities_name_the_line_and_the_fix(void **s)
{
	(void)s;
	prio_bad("      - { name: control, priority: urgent }\n", 8,
		 "input priority 'urgent' is unknown: use one of low, normal, high");
	prio_bad("      - { name: control, priority: [high] }\n", 8,
		 "input priority 'a list' is unknown: use one of low, normal, high");
	prio_bad("      - { priority: high }\n", 8,
		 "this input has no name: write e.g. { name: control, priority: high }");
	prio_bad("      - { name: control, prio: high }\n", 8,
		 "unknown key 'prio' in an input: the keys are name, priority");
	prio_bad("      - { name: control, name: again }\n", 8, "key 'name' appears twice");
	prio_bad("      - { name: [control] }\n", 8,
		 "an input's name must be a single value, not a list");
	prio_bad("      - [control, high]\n", 8,
		 "each item of inputs must be a port name or { name: N, priority: "
		 "high|normal|low }, not a list");
	prio_bad("      - { name: 'bad name', priority: high }\n", 8,
		 "port name 'bad name' is not a valid name");
	/* a name is one port whether written plain or as a mapping */
	prio_bad("      - { name: data, priority: high }\n", 8,
		 "kernel 'mix' declares port 'data' twice");
}

/* Broadcast rings (to: as a list): one entry per consumer, consecutive,
 * numbered, each with its policy and its input's priority; the producer's
 * port is wired once. */
static void broadcast_rings_are_an_entry_per_consumer(void **s)
{
	(void)s;
	struct topology *t = parse_ok("topology: x\nkernels:\n"
				      "  - { name: cam, exec: e, outputs: [out, aux] }\n"
				      "  - { name: det, exec: e, inputs: [in] }\n"
				      "  - { name: rec, exec: e, inputs: [x, in] }\n"
				      "  - { name: pre, exec: e, inputs: [{ name: in, priority: high }] }\n"
				      "rings:\n"
				      "  - from: cam.out\n"
				      "    to: [det.in, rec.in, { to: pre.in, slow: drop }]\n"
				      "    capacity: 64KiB\n"
				      "  - { from: cam.aux, to: [{ to: rec.x, slow: block }] }\n");
	assert_int_equal(t->nrings, 4);
	const char *to[] = { "in", "in", "in", "x" };
	const size_t kernel[] = { 1, 2, 3, 2 };
	const unsigned n[] = { 3, 3, 3, 1 }, idx[] = { 0, 1, 2, 0 };
	const int drop[] = { 0, 0, 1, 0 }, prio[] = { 0, 0, 1, 0 };
	for (size_t r = 0; r < 4; r++) {
		const struct topo_ring *g = &t->rings[r];
		assert_int_equal(g->from_kernel, 0);
		assert_string_equal(g->from_port, r < 3 ? "out" : "aux");
		assert_int_equal(g->to_kernel, kernel[r]);
		assert_string_equal(g->to_port, to[r]);
		assert_int_equal(g->bcast_n, n[r]);
		assert_int_equal(g->bcast_index, idx[r]);
		assert_int_equal(g->drop, drop[r]);
		assert_int_equal(g->to_priority, prio[r]);
		assert_int_equal(g->capacity, r < 3 ? 65536 : TOPO_RING_DEFAULT);
		assert_int_equal(g->line, r < 3 ? 8 : 11);
	}
	topo_free(t);
	/* A plain to: stays a single-consumer ring. */
	t = parse_ok("topology: x\nkernels:\n  - { name: a, exec: e, outputs: [out] }\n"
		     "  - { name: b, exec: e, inputs: [in] }\nrings:\n  - { from: a.out, to: b.in }\n");
	assert_int_equal(t->nrings, 1);
	assert_int_equal(t->rings[0].bcast_n, 0);
	assert_int_equal(t->rings[0].bcast_index, 0);
	char phrase[96];
	topo_rings_phrase(t, phrase, sizeof(phrase));
	assert_string_equal(phrase, "1 ring");
	topo_free(t);
	/* Three consumers and no capacity: 3 MiB, rounded up to 4 MiB. The
	 * summary counts rings as written. */
	t = parse_ok("topology: x\nkernels:\n  - { name: a, exec: e, outputs: [o, p] }\n"
		     "  - { name: b, exec: e, inputs: [i, j] }\n  - { name: c, exec: e, inputs: [i, j] }\n"
		     "  - { name: d, exec: e, inputs: [i] }\n"
		     "rings:\n  - { from: a.o, to: [b.i, c.i, d.i] }\n  - { from: a.p, to: [b.j, c.j] }\n");
	assert_int_equal(t->nrings, 5);
	assert_int_equal(t->rings[0].capacity, 4 * TOPO_RING_DEFAULT);
	assert_int_equal(t->rings[3].capacity, 2 * TOPO_RING_DEFAULT);
	topo_rings_phrase(t, phrase, sizeof(phrase));
	assert_string_equal(phrase, "2 rings (2 broadcast, to 5 readers in all)");
	topo_free(t);
}

/* 16 consumers parse, 17 are refused at check with the fix; every other
 * mistake in a list names its line. */
static void bad_broadcast_rings_name_the_line_and_the_fix(void **s)
{
	(void)s;
	char yaml[8192];
	for (int consumers = 16; consumers <= 17; consumers++) {
		int at = snprintf(yaml, sizeof(yaml), "topology: x\nkernels:\n"
				  "  - { name: src, exec: e, outputs: [out] }\n");
		for (int i = 0; i < consumers; i++)
			at += snprintf(yaml + at, sizeof(yaml) - (size_t)at,
				       "  - { name: k%d, exec: e, inputs: [in] }\n", i);
		at += snprintf(yaml + at, sizeof(yaml) - (size_t)at, "rings:\n  - from: src.out\n    to: [");
		for (int i = 0; i < consumers; i++)
			at += snprintf(yaml + at, sizeof(yaml) - (size_t)at, "%sk%d.in", i ? ", " : "", i);
		snprintf(yaml + at, sizeof(yaml) - (size_t)at, "]\n");
		if (consumers == 16) {
			struct topology *t = parse_ok(yaml);
			assert_int_equal(t->nrings, 16);
			/* No capacity: given 1 MiB per consumer, the fan-out's memory. */
			assert_int_equal(t->rings[15].capacity, 16 * TOPO_RING_DEFAULT);
			char phrase[96];
			topo_rings_phrase(t, phrase, sizeof(phrase));
			assert_string_equal(phrase, "1 ring (one a broadcast to 16 readers)");
			assert_int_equal(t->rings[15].bcast_index, 15);
			topo_free(t);
		} else {
			parse_bad(yaml, 23, "to: lists 17 consumers, more than the 16 a broadcast ring "
				  "has: feed the rest from a kernel that copies");
		}
	}
#define BK "topology: x\nkernels:\n  - { name: a, exec: e, outputs: [out] }\n" \
	   "  - { name: b, exec: e, inputs: [in, in2] }\n  - { name: c, exec: e, inputs: [in] }\n" \
	   "rings:\n"
	parse_bad(BK "  - { from: a.out, to: [] }\n", 7, "to: [] names no consumer");
	parse_bad(BK "  - { from: a.out, to: [b.in, c.in, b.in2] }\n", 7,
		  "kernel 'b' is already a consumer of this ring (line 7): a broadcast ring "
		  "reaches a kernel once");
	parse_bad(BK "  - { from: a.out, to: [b.in, { to: c.in, slow: fast }] }\n", 7,
		  "slow-consumer policy 'fast' is unknown: use one of block, drop");
	parse_bad(BK "  - { from: a.out, to: [b.in, { slow: drop }] }\n", 7,
		  "this consumer needs to: kernel.port");
	parse_bad(BK "  - { from: a.out, to: [b.in, { to: c.in, speed: 1 }] }\n", 7,
		  "unknown key 'speed' in a broadcast consumer");
	parse_bad(BK "  - { from: a.out, to: [b.in, c.nope] }\n", 7, "kernel 'c' has no input port 'nope'");
	parse_bad(BK "  - { from: a.out, to: [b.in, a.out] }\n", 7, "kernel 'a' has no input port 'out'");
	parse_bad(BK "  - { from: a.out, to: [b.in, c.in] }\n  - { from: a.out, to: b.in2 }\n", 8,
		  "output a.out already feeds the ring on line 7");
	parse_bad(BK "  - { from: a.out, to: b.in }\n  - { from: a.out, to: [c.in] }\n", 8,
		  "output a.out already feeds the ring on line 7");
	parse_bad("topology: x\nkernels:\n  - { name: a, exec: e, inputs: [in], outputs: [out] }\n"
		  "  - { name: b, exec: e, inputs: [in] }\nrings:\n"
		  "  - from: a.out\n    to: [b.in,\n         a.in]\n", 8,
		  "ring a.out -> a.in connects kernel a to itself");
	/* A broadcast ring lives in one machine's memory. */
	parse_bad("topology: x\nhosts:\n  h1: { address: 10.0.0.1 }\n  h2: { address: 10.0.0.2 }\n"
		  "kernels:\n  - { name: a, host: h1, exec: e, outputs: [out] }\n"
		  "  - { name: b, host: h1, exec: e, inputs: [in] }\n"
		  "  - { name: c, host: h2, exec: e, inputs: [in] }\n"
		  "rings:\n  - { from: a.out, to: [b.in, c.in] }\n", 10,
		  "broadcast ring from a.out reaches kernel 'c' on host 'h2', not its producer's "
		  "host 'h1'");
#undef BK
}

static void a_ring_from_a_kernel_to_itself_is_refused(void **s)
{
	(void)s;
	/* It would pass check and overflow the heap at run. */
	parse_bad("topology: x\nkernels:\n"
		  "  - { name: d, exec: e, inputs: [in], outputs: [out] }\n"
		  "rings:\n"
		  "  - { from: d.out, to: d.in }\n", 5,
		  "ring d.out -> d.in connects kernel d to itself: a ring joins two kernels; "
		  "connect d.out to another kernel's input");
	parse_bad("topology: x\nkernels:\n"
		  "  - { name: a, exec: e, outputs: [out] }\n"
		  "  - { name: d, exec: e, inputs: [in, back], outputs: [out] }\n"
		  "rings:\n"
		  "  - { from: a.out, to: d.in }\n"
		  "  - from: d.out\n"
		  "    to: d.back\n", 7, "connects kernel d to itself");
	/* A cycle through two kernels stays allowed. */
	struct topology *t = parse_ok("topology: x\nkernels:\n"
				      "  - { name: a, exec: e, inputs: [in], outputs: [out] }\n"
				      "  - { name: b, exec: e, inputs: [in], outputs: [out] }\n"
				      "rings:\n"
				      "  - { from: a.out, to: b.in }\n"
				      "  - { from: b.out, to: a.in }\n");
	assert_int_equal(t->nrings, 2);
	topo_free(t);
}

static void supervision_values_at_their_edges(void **s)
{
	(void)s;
	struct topology *t = parse_ok("topology: x\nsupervision: { ready: 30s, intensity: 0, "
				      "period: 1440m, grace: 1ms }\nkernels:\n  - { name: k, exec: e }\n");
	assert_int_equal(t->ready_ms, 30000);
	assert_int_equal(t->intensity, 0); /* no restart allowed: the first one stops it */
	assert_int_equal(t->period_ms, 86400000);
	assert_int_equal(t->grace_ms, 1);
	topo_free(t);
	t = parse_ok("topology: x\nkernels:\n  - { name: k, exec: e }\n");
	assert_int_equal(t->ready_ms, 0); /* not set: the supervisor scales a default */
	topo_free(t);
#define SUP(x) "topology: x\nsupervision:\n  " x "\nkernels:\n  - { name: k, exec: e }\n"
	parse_bad(SUP("period: 0s"), 3, "period 0s would turn the restart limit off: write a "
		  "period above 0, e.g. 5s");
	parse_bad(SUP("period: 0ms"), 3, "period 0ms would turn the restart limit off");
	parse_bad(SUP("ready: 0s"), 3, "ready 0s leaves kernels no time to start: write a "
		  "deadline above 0, e.g. 30s, or leave ready out");
	parse_bad(SUP("grace: 0s"), 3, "grace 0s would kill every kernel the moment it is asked "
		  "to stop");
	parse_bad(SUP("period: 1441m"), 3, "period 1441m is more than a day (1440m)");
	parse_bad(SUP("ready: 86400001ms"), 3, "ready 86400001ms is more than a day");
	parse_bad(SUP("grace: 99999999999999999999s"), 3, "is not a duration");
	parse_bad(SUP("ready: soon"), 3, "'soon' is not a duration: write e.g. 500ms, 2s, 1m");
	parse_bad(SUP("intensity: 1000001"), 3, "intensity must be a whole number of restarts, "
		  "0 to 1000000");
	parse_bad(SUP("intensity: -1"), 3, "intensity must be a whole number");
	parse_bad(SUP("readiness: 1s"), 3, "unknown key 'readiness' in supervision: the keys are "
		  "strategy, intensity, period, grace, ready");
#undef SUP
}

static void capacity_is_what_the_ring_holds(void **s)
{
	(void)s;
	struct topology *t = parse_ok(TWO "  - { from: a.out, to: b.in, capacity: 5000 }\n"
				      "  - { from: a.o2, to: b.i2, capacity: 1GiB }\n");
	assert_int_equal(t->rings[0].capacity_asked, 5000);
	assert_int_equal(t->rings[0].capacity, 8192);
	assert_int_equal(t->rings[1].capacity, 1ull << 30);
	topo_free(t);
	/* The rule is the library's: compare with the rings it makes. */
	static const uint64_t asked[] = { 4096, 4097, 5000, 8192, 65535, 65536, 65537, 1000000,
					  (1u << 22) + 1 };
	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		struct shmring_opts o;
		struct shmring *r;
		shmring_opts_init(&o);
		o.capacity = asked[i];
		assert_int_equal(shmring_create(NULL, &o, &r), 0);
		if (shmring_capacity(r) != topo_ring_capacity(asked[i]))
			fail_msg("capacity %llu: the library makes %zu, topo_ring_capacity says %llu",
				 (unsigned long long)asked[i], shmring_capacity(r),
				 (unsigned long long)topo_ring_capacity(asked[i]));
		shmring_detach(r); /* frees the handle */
	}
	assert_int_equal(topo_ring_capacity((1ull << 29) + 1), 1ull << 30);
	assert_int_equal(topo_ring_capacity(1ull << 30), 1ull << 30);
}

static void one_yaml_document_per_file(void **s)
{
	(void)s;
	/* The second document was never read, so this passed. */
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e }\n---\nrings: [\n", 4,
		  "a second YAML document starts here: a topology file holds one");
	parse_bad("---\ntopology: x\nkernels:\n  - { name: k, exec: e }\n--- \n", 5,
		  "a second YAML document starts here");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e }\n...\nrings: [\n", 5,
		  "not valid YAML after the first document (a topology file holds one)");
	struct topology *t = parse_ok("---\ntopology: x\nkernels:\n  - { name: k, exec: e }\n"
				      "...\n# the end\n");
	topo_free(t);
}

static void values_with_a_nul_byte_are_refused(void **s)
{
	(void)s;
	/* "10\0 junk" was cut to "10" without a word. */
	parse_bad("topology: x\nkernels:\n  - name: k\n    exec: e\n    args: [\"10\\0 junk\"]\n", 5,
		  "the value '10\\0...' holds a NUL byte: names, paths and arguments cannot; "
		  "remove the \\0");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: \"e\\0f\" }\n", 3, "holds a NUL byte");
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: e, env: { \"A\\0B\": c } }\n", 3,
		  "holds a NUL byte");
}

static void repeated_keys_are_refused(void **s)
{
	(void)s;
	parse_bad("topology: x\nkernels:\n  - name: k\n    exec: e\n    env:\n      A: \"1\"\n"
		  "      B: \"2\"\n      A: \"3\"\n", 8,
		  "environment variable A is set twice (first on line 6): keep one");
	parse_bad("topology: x\nsupervision: { period: 1s, period: 2s }\nkernels: []\n", 2,
		  "key 'period' appears twice in supervision");
	parse_bad("topology: x\ntopology: y\nkernels: []\n", 2,
		  "key 'topology' appears twice in the topology file (first on line 1)");
	parse_bad(TWO "  - { from: a.out, to: b.in, to: b.i2 }\n", 6, "key 'to' appears twice in a ring");
}

static void bad_utf8_is_reported_on_its_line(void **s)
{
	(void)s;
	parse_bad("topology: x\nkernels:\n  - { name: k, exec: \xff }\n", 3,
		  "not valid YAML: invalid leading UTF-8 octet (byte 0xff): the file must be UTF-8 text");
	parse_bad("topology: x\n\n\n\n# caf\xc3\n", 5, "not valid YAML");
}

static void load_refuses_a_file_over_16_MiB(void **s)
{
	(void)s;
	char path[96];
	int fd = tu_mkstemp(path, sizeof(path), "topo-test-big");
	assert_true(fd >= 0);
	/* Sparse: 16 MiB and one byte of NULs. */
	assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
	close(fd);
	struct topology *t;
	assert_int_equal(topo_load(path, &t, err, sizeof(err)), -EINVAL); /* invalid: exit 1 */
	assert_null(t);
	assert_non_null(strstr(err, ": 16.0 MiB, more than the 16 MiB a topology file may be"));
	/* At the limit it is read, and judged on what it holds. */
	assert_int_equal(truncate(path, 16 << 20), 0);
	assert_int_equal(topo_load(path, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not valid YAML"));
	unlink(path);
	/* A folder is not a topology either. */
	assert_int_equal(topo_load("/tmp", &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "/tmp: a folder, not a topology file"));
}

/* ---- size: limits and linear time ---------------------------------------- */

/* A YAML text built with printf: fprintf into the stream this returns. */
static FILE *text_open(struct tu_text *x)
{
	FILE *f = tu_text_open(x);
	assert_non_null(f);
	return f;
}

struct parse_job {
	const struct tu_text *x;
	int want_rc;
	const char *what;
};

/* Runs in the child: it only says, by its exit code, what it found. */
static int parse_child(void *arg)
{
	const struct parse_job *j = arg;
	struct topology *t;
	int rc = topo_parse("big.yaml", j->x->s, j->x->len, &t, err, sizeof(err));
	if (rc != j->want_rc || (j->what && !strstr(err, j->what))) {
		fprintf(stderr, "wanted %d '%s', got %d '%s'\n", j->want_rc,
			j->what ? j->what : "", rc, rc ? err : "");
		return 1;
	}
	topo_free(t);
	return 0;
}

/* Parse x in a child process and expect rc (and `what` in the error when it
 * fails) within `seconds`: the checks must stay linear in the file, and a
 * quadratic one would take minutes here. Children keep cmocka out of it. */
static void parse_within(struct tu_text *x, double seconds, int want_rc, const char *what)
{
	assert_non_null(tu_text_close(x));
	struct parse_job job = { x, want_rc, what };
	uint64_t t0 = tu_now_ns();
	pid_t pid = tu_fork(parse_child, &job);
	free(x->s);
	assert_true(pid > 0);
	int rc = tu_reap_by(pid, t0 + (uint64_t)(seconds * 1e9));
	double took = tu_since_s(t0);
	if (rc == -ETIMEDOUT)
		fail_msg("still parsing after %.0f s (%s): a check is not linear", seconds,
			 what ? what : "valid");
	if (rc)
		fail_msg("the parse failed (exit %d) after %.1f s: %s", rc, took, what ? what : "");
	print_message("  %-60.60s %.2f s\n", what ? what : "parsed", took);
}

#define BOUND 20.0 /* seconds; each takes well under one, even under ASan */

static void large_topologies_are_checked_in_linear_time(void **s)
{
	(void)s;
	struct tu_text x;
	/* 200,000 ports on one kernel: 33 s for 80,000 before; now refused at
	 * once (every port needs a ring, and rings are limited). */
	FILE *f = text_open(&x);
	fprintf(f, "topology: big\nkernels:\n  - name: k\n    exec: e\n    inputs: [");
	for (int i = 0; i < 200000; i++)
		fprintf(f, "%sp%d", i ? ", " : "", i);
	fprintf(f, "]\n");
	parse_within(&x, BOUND, -EINVAL, "big.yaml:5: kernel 'k' brings the topology to 200000 "
		     "ports, more than the 8192 ends its 4096 rings may have");

	/* The largest topology: 1024 kernels, 4096 rings, 8192 ports. */
	f = text_open(&x);
	fprintf(f, "topology: big\nkernels:\n");
	for (int k = 0; k < 1024; k++)
		fprintf(f, "  - { name: kernel-%d, exec: e, inputs: [i0, i1, i2, i3], "
			"outputs: [o0, o1, o2, o3] }\n", k);
	fprintf(f, "rings:\n");
	for (int r = 0; r < 4096; r++)
		fprintf(f, "  - { from: kernel-%d.o%d, to: kernel-%d.i%d, capacity: 4KiB }\n",
			r % 1024, r / 1024, (r * 7 + 1) % 1024, r / 1024);
	parse_within(&x, BOUND, 0, NULL);

	/* 200,000 arguments and 200,000 environment variables. */
	f = text_open(&x);
	fprintf(f, "topology: big\nkernels:\n  - name: k\n    exec: e\n    args: [");
	for (int i = 0; i < 200000; i++)
		fprintf(f, "%sa%d", i ? ", " : "", i);
	fprintf(f, "]\n    env: {");
	for (int i = 0; i < 200000; i++)
		fprintf(f, "%sV%d: x", i ? ", " : "", i);
	fprintf(f, "}\n");
	parse_within(&x, BOUND, 0, NULL);
	/* ... and the last one repeats the first. */
	f = text_open(&x);
	fprintf(f, "topology: big\nkernels:\n  - name: k\n    exec: e\n    env:\n");
	for (int i = 0; i < 200000; i++)
		fprintf(f, "      V%d: x\n", i);
	fprintf(f, "      V0: y\n");
	parse_within(&x, BOUND, -EINVAL, "big.yaml:200006: environment variable V0 is set twice "
		     "(first on line 6)");

	/* 50,000 kernels; 200,000 rings: refused by count, before any work. */
	f = text_open(&x);
	fprintf(f, "topology: big\nkernels:\n");
	for (int k = 0; k < 50000; k++)
		fprintf(f, "  - { name: k%d, exec: e, inputs: [in], outputs: [out] }\n", k);
	parse_within(&x, BOUND, -EINVAL, "big.yaml:3: 50000 kernels, more than the 1024 one "
		     "topology may have: split it into several topologies");
	f = text_open(&x);
	fprintf(f, "topology: big\nkernels:\n  - { name: a, exec: e, outputs: [out] }\n"
		"  - { name: b, exec: e, inputs: [in] }\nrings:\n");
	for (int r = 0; r < 200000; r++)
		fprintf(f, "  - { from: a.out, to: b.in }\n");
	parse_within(&x, BOUND, -EINVAL, "big.yaml:6: 200000 rings, more than the 4096 one "
		     "topology may have: split it into several topologies");

	/* Aliases cannot multiply a list a thousand times over. */
	f = text_open(&x);
	fprintf(f, "topology: big\nkernels:\n  - { name: k0, exec: e, args: &a [");
	for (int i = 0; i < 10000; i++)
		fprintf(f, "%sa", i ? ", " : "");
	fprintf(f, "] }\n");
	for (int k = 1; k < 1024; k++)
		fprintf(f, "  - { name: k%d, exec: e, args: *a }\n", k);
	parse_within(&x, BOUND, -EINVAL, "through aliases (*name) this file expands to more than");
}

static void limits_are_exact(void **s)
{
	(void)s;
	struct tu_text x;
	/* 1024 kernels pass, 1025 do not; the same for 4096 and 4097 rings. */
	for (int n = 1024; n <= 1025; n++) {
		FILE *f = text_open(&x);
		fprintf(f, "topology: big\nkernels:\n");
		for (int k = 0; k < n; k++)
			fprintf(f, "  - { name: k%d, exec: e }\n", k);
		parse_within(&x, BOUND, n <= 1024 ? 0 : -EINVAL, n <= 1024 ? NULL : "1025 kernels");
	}
	for (int n = 4096; n <= 4097; n++) {
		FILE *f = text_open(&x);
		fprintf(f, "topology: big\nkernels:\n  - { name: a, exec: e, outputs: [");
		for (int r = 0; r < n; r++)
			fprintf(f, "%so%d", r ? ", " : "", r);
		fprintf(f, "] }\n  - { name: b, exec: e, inputs: [");
		for (int r = 0; r < n; r++)
			fprintf(f, "%si%d", r ? ", " : "", r);
		fprintf(f, "] }\nrings:\n");
		for (int r = 0; r < n; r++)
			fprintf(f, "  - { from: a.o%d, to: b.i%d }\n", r, r);
		parse_within(&x, BOUND, n <= 4096 ? 0 : -EINVAL,
			     n <= 4096 ? NULL : "brings the topology to 8194 ports");
	}
}

static void pipelines_have_the_same_limits(void **s)
{
	(void)s;
	struct topology *t;
	/* 1024 stages of one long name: each gets a unique name (this looped
	 * forever past 999 when the count did not fit after the name). */
	const char *stage = "a-kernel-with-a-thirty-one-char";
	size_t len = 1024 * (strlen(stage) + 3);
	char *expr = malloc(len + 16);
	assert_non_null(expr);
	expr[0] = '\0';
	for (int i = 0; i < 1024; i++)
		strcat(strcat(expr, i ? " ! " : ""), stage);
	assert_int_equal(topo_parse_pipeline(expr, &t, err, sizeof(err)), 0);
	assert_int_equal(t->nkernels, 1024);
	assert_string_equal(t->kernels[0].name, stage);
	assert_string_equal(t->kernels[1].name, "a-kernel-with-a-thirty-one-ch-2");
	assert_string_equal(t->kernels[1023].name, "a-kernel-with-a-thirty-one-1024");
	for (size_t i = 0; i < t->nkernels; i++)
		assert_true(strlen(t->kernels[i].name) <= TOPO_NAME_MAX);
	topo_free(t);
	strcat(expr, " ! x");
	assert_int_equal(topo_parse_pipeline(expr, &t, err, sizeof(err)), -EINVAL);
	assert_null(t);
	assert_string_equal(err, "-e:1: 1025 stages, more than the 1024 kernels one topology may "
			    "have: split it into several pipelines");
	free(expr);
	/* Names made unique stay unique when a later stage takes one first. */
	assert_int_equal(topo_parse_pipeline("gen-2 ! gen ! gen ! gen", &t, err, sizeof(err)), 0);
	assert_string_equal(t->kernels[2].name, "gen-3");
	assert_string_equal(t->kernels[3].name, "gen-4");
	topo_free(t);
}

/* ---- hosts (docs/hosts.md) ---- */

#define HOSTS2 \
	"topology: doubler2\n"                                                       /* 1 */ \
	"hosts:\n"                                                                   /* 2 */ \
	"  a: { address: 10.77.0.1 }\n"                                              /* 3 */ \
	"  b: { address: 'fd00::2', port: 9000 }\n"                                  /* 4 */ \
	"kernels:\n"                                                                 /* 5 */ \
	"  - { name: gen, host: a, exec: ./gen, outputs: [out] }\n"                  /* 6 */ \
	"  - { name: double, host: a, exec: ./double, inputs: [in], outputs: [out, side] }\n" /* 7 */ \
	"  - { name: sink, host: b, exec: ./sink, inputs: [in, { name: x, priority: high }] }\n" /* 8 */ \
	"rings:\n"                                                                   /* 9 */ \
	"  - { from: gen.out, to: double.in }\n"                                     /* 10 */ \
	"  - { from: double.out, to: sink.in, capacity: 64KiB, wait: spin }\n"       /* 11 */ \
	"  - { from: double.side, to: sink.x }\n"                                    /* 12 */

static void hosts_parse_with_ports_in_file_order(void **s)
{
	(void)s;
	struct topology *t = parse_ok(HOSTS2);
	assert_int_equal(t->nhosts, 2);
	assert_string_equal(t->hosts[0].name, "a");
	assert_string_equal(t->hosts[0].address, "10.77.0.1");
	assert_int_equal(t->hosts[0].port, TOPO_PORT_DEFAULT);
	assert_int_equal(t->hosts[1].port, 9000);
	assert_null(t->hosts[0].curve_public);
	assert_int_equal(t->kernels[0].host, 0);
	assert_int_equal(t->kernels[2].host, 1);
	/* Edges into b, in file order: b's port, then the next. */
	assert_int_equal(t->rings[0].port, 0);
	assert_int_equal(t->rings[1].port, 9000);
	assert_int_equal(t->rings[2].port, 9001);
	char name[TOPO_EDGE_MAX], ep[300];
	topo_edge_name(t, &t->rings[1], name, sizeof(name));
	assert_string_equal(name, "double.out>sink.in");
	topo_host_endpoint(&t->hosts[1], t->rings[1].port, ep, sizeof(ep));
	assert_string_equal(ep, "[fd00::2]:9000");
	assert_int_equal(t->hash, topo_hash(HOSTS2, strlen(HOSTS2)));
	topo_free(t);
}

static void the_hash_is_fnv1a_of_the_bytes(void **s)
{
	(void)s;
	assert_int_equal(topo_hash("", 0), 0xcbf29ce484222325ull);
	assert_int_equal(topo_hash("a", 1), 0xaf63dc4c8601ec8cull); /* FNV-1a 64 test vector */
	struct topology *t = parse_ok(HOSTS2), *u = parse_ok(HOSTS2 "# one more comment\n");
	assert_true(t->hash != u->hash);
	topo_free(t);
	topo_free(u);
}

/* A file without hosts: is as before: no host, no bridge edge. */
static void no_hosts_changes_nothing(void **s)
{
	(void)s;
	struct topology *t = parse_ok(PIPE3);
	assert_int_equal(t->nhosts, 0);
	for (size_t i = 0; i < t->nkernels; i++)
		assert_int_equal(t->kernels[i].host, TOPO_NO_HOST);
	for (size_t r = 0; r < t->nrings; r++)
		assert_int_equal(t->rings[r].port, 0);
	topo_free(t);
}

static void bad_hosts_name_the_line_and_the_fix(void **s)
{
	(void)s;
#define H1 "topology: x\nhosts:\n"
#define K1 "kernels:\n  - { name: k, host: a, exec: /bin/true }\n"
	parse_bad(H1 "  a: { address: 10.0.0.1 }\n  a: { address: 10.0.0.2 }\n" K1, 4,
		  "host 'a' appears twice (first on line 3)");
	parse_bad(H1 "  a: { address: 10.0.0.300 }\n" K1, 3, "address '10.0.0.300' is neither");
	parse_bad(H1 "  a: { address: 'bad name' }\n" K1, 3, "is neither an IPv4 or IPv6");
	parse_bad(H1 "  a: { address: 0.0.0.0 }\n" K1, 3, "means every interface");
	parse_bad(H1 "  a: { address: '::' }\n" K1, 3, "means every interface");
	parse_bad(H1 "  a: { address: 10.0.0.1, port: 65536 }\n" K1, 3, "port '65536' is not a TCP port");
	parse_bad(H1 "  a: { address: 10.0.0.1, port: 0 }\n" K1, 3, "port '0' is not a TCP port");
	parse_bad(H1 "  a: { port: 7000 }\n" K1, 3, "host 'a' has no address");
	parse_bad(H1 "  a: { address: 10.0.0.1, colour: red }\n" K1, 3, "unknown key 'colour' in a host");
	parse_bad(H1 "  a: { address: 10.0.0.1, curve: { public: k.pub } }\n" K1, 3,
		  "curve needs both public: (its public key) and secret_file:");
	parse_bad(H1 "  a: { address: 10.0.0.1, curve: { public: k, secret_file: s } }\n"
		  "  b: { address: 10.0.0.2 }\n" K1, 4, "host 'b' has no curve: but host 'a' has");
	parse_bad(H1 "  -a: { address: 10.0.0.1 }\n" K1, 3, "host name '-a' is not a valid name");
	parse_bad(H1 "  {}\n" K1, 3, "hosts is empty");
	parse_bad(H1 "  a: { address: 10.0.0.1 }\nkernels:\n  - { name: k, host: z, exec: /bin/true }\n",
		  5, "kernel 'k': no host named 'z' (hosts: a)");
	parse_bad(H1 "  a: { address: 10.0.0.1 }\nkernels:\n  - { name: k, exec: /bin/true }\n",
		  5, "kernel 'k' has no host: with hosts: every kernel names one");
	parse_bad("topology: x\n" K1, 3, "kernel 'k' names host 'a' but the file has no hosts:");
#undef H1
#undef K1
}

/* Ports: each edge into a host takes the next port; none past 65535, and
 * two hosts on one address do not share one. */
static void bridge_ports_stay_in_range_and_apart(void **s)
{
	(void)s;
#define E2 "kernels:\n" \
	"  - { name: g, host: a, exec: /bin/true, outputs: [o1, o2] }\n" \
	"  - { name: k, host: b, exec: /bin/true, inputs: [i1, i2] }\n" \
	"rings:\n  - { from: g.o1, to: k.i1 }\n  - { from: g.o2, to: k.i2 }\n"
	parse_bad("topology: x\nhosts:\n  a: { address: 10.0.0.1 }\n"
		  "  b: { address: 10.0.0.2, port: 65535 }\n" E2, 10,
		  "bridge edge 2 into host 'b', whose port would be 65536, past 65535");
	parse_bad("topology: x\nhosts:\n  b: { address: 127.0.0.1, port: 7000 }\n"
		  "  a: { address: 127.0.0.1, port: 7001 }\n"
		  "kernels:\n  - { name: g, host: a, exec: /bin/true, outputs: [o1, o2] }\n"
		  "  - { name: k, host: b, exec: /bin/true, inputs: [i1, i2], outputs: [o] }\n"
		  "  - { name: m, host: a, exec: /bin/true, inputs: [i] }\n"
		  "rings:\n  - { from: g.o1, to: k.i1 }\n  - { from: g.o2, to: k.i2 }\n"
		  "  - { from: k.o, to: m.i }\n", 4,
		  "hosts 'a' and 'b' share address 127.0.0.1 and their ports overlap (7001-7001 and 7000-7001)");
	struct topology *t = parse_ok("topology: x\nhosts:\n  a: { address: 127.0.0.1 }\n"
				      "  b: { address: 127.0.0.1, port: 7712 }\n" E2);
	assert_int_equal(t->rings[0].port, 7712);
	assert_int_equal(t->rings[1].port, 7713);
	topo_free(t);
#undef E2
}

static void at_most_64_hosts(void **s)
{
	(void)s;
	struct tu_text x;
	FILE *f = tu_text_open(&x);
	assert_non_null(f);
	for (unsigned n = TOPO_MAX_HOSTS; n <= TOPO_MAX_HOSTS + 1; n++) {
		fprintf(f, "topology: x\nhosts:\n");
		for (unsigned i = 0; i < n; i++)
			fprintf(f, "  h%u: { address: 10.0.0.%u }\n", i, i + 1);
		fprintf(f, "kernels:\n  - { name: k, host: h%u, exec: /bin/true }\n", n - 1);
		char *text = tu_text_close(&x);
		assert_non_null(text);
		if (n == TOPO_MAX_HOSTS)
			topo_free(parse_ok(text));
		else
			parse_bad(text, 3, "65 hosts, more than the 64 one topology may span");
		free(text);
		if (n == TOPO_MAX_HOSTS)
			assert_non_null(f = tu_text_open(&x));
	}
}

static void the_host_is_found_by_name_or_address(void **s)
{
	(void)s;
	struct topology *t = parse_ok(HOSTS2);
	unsigned char v4[4] = { 10, 77, 0, 1 }, lo[4] = { 127, 0, 0, 1 };
	unsigned char v6[16] = { 0xfd, 0, [15] = 2 };
	const void *addrs[] = { lo, v4, v6 };
	int fams[] = { 4, 4, 6 };
	size_t h = 99;
	assert_int_equal(topo_host_guess(t, "b", NULL, NULL, 0, &h), 0);
	assert_int_equal(h, 1);
	assert_int_equal(topo_host_guess(t, "elsewhere", addrs, fams, 2, &h), 0);
	assert_int_equal(h, 0);
	assert_int_equal(topo_host_guess(t, "elsewhere", addrs + 2, fams + 2, 1, &h), 0);
	assert_int_equal(h, 1);
	assert_int_equal(topo_host_guess(t, "elsewhere", addrs, fams, 1, &h), -ENOENT);
	assert_int_equal(topo_host_guess(t, "b", addrs, fams, 2, &h), -EEXIST);
	assert_int_equal(topo_host_find(t, "b"), 1);
	assert_int_equal(topo_host_find(t, "c"), TOPO_NO_HOST);
	topo_free(t);
}

static const struct topo_kernel *kernel_named(const struct topology *t, const char *name)
{
	for (size_t i = 0; i < t->nkernels; i++)
		if (!strcmp(t->kernels[i].name, name))
			return &t->kernels[i];
	fail_msg("no kernel %s", name);
	return NULL;
}

/* "--opt value" in k's arguments. */
static void assert_arg(const struct topo_kernel *k, const char *opt, const char *value)
{
	for (size_t i = 0; i + 1 < k->nargs; i++)
		if (!strcmp(k->args[i], opt)) {
			assert_string_equal(k->args[i + 1], value);
			return;
		}
	fail_msg("kernel %s has no %s", k->name, opt);
}

static void each_host_gets_its_kernels_and_a_bridge_per_edge(void **s)
{
	(void)s;
	struct topology *t = parse_ok(HOSTS2), *a, *b;
	struct topo_bridge_cfg cfg = { "/x/shmring-zmq-sink", "/x/shmring-zmq-source", 0xabc, NULL };
	char hash[17];
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)t->hash);
	assert_int_equal(topo_host_share(t, 0, &cfg, &a), 0);
	assert_int_equal(topo_host_share(t, 1, &cfg, &b), 0);
	assert_string_equal(a->name, "doubler2-a");
	assert_int_equal(a->share_of, 0);
	assert_int_equal(a->nkernels, 4); /* gen, double, two bridges */
	assert_int_equal(a->nrings, 3);
	const struct topo_kernel *tx = kernel_named(a, "double-out-tx");
	assert_string_equal(tx->exec, "/x/shmring-zmq-sink");
	assert_int_equal(tx->restart, TOPO_TRANSIENT);
	assert_int_equal(tx->ninputs, 1);
	assert_arg(tx, "--connect", "[fd00::2]:9000");
	assert_arg(tx, "--edge", "double.out>sink.in");
	assert_arg(tx, "--hash", hash);
	assert_arg(tx, "--run-id", "0000000000000abc");
	assert_arg(tx, "--from", "a");
	assert_arg(tx, "--to", "b");
	assert_arg(kernel_named(a, "double-side-tx"), "--connect", "[fd00::2]:9001");
	/* The user's ring keeps its capacity and wait, now into the bridge. */
	assert_string_equal(a->kernels[a->rings[1].to_kernel].name, "double-out-tx");
	assert_string_equal(a->rings[1].to_port, "in");
	assert_int_equal(a->rings[1].capacity, 64 * 1024);
	assert_int_equal(a->rings[1].wait, SHMRING_WAIT_SPIN);
	assert_true(a->rings[1].wait_set);
	assert_int_equal(b->nkernels, 3); /* sink, two bridges */
	const struct topo_kernel *rx = kernel_named(b, "sink-x-rx");
	assert_string_equal(rx->exec, "/x/shmring-zmq-source");
	assert_arg(rx, "--bind", "[fd00::2]:9001");
	assert_arg(rx, "--edge", "double.side>sink.x");
	assert_int_equal(b->nrings, 2);
	assert_string_equal(b->rings[1].from_port, "out");
	assert_string_equal(b->rings[1].to_port, "x");
	assert_int_equal(b->rings[1].to_priority, TOPO_PRIO_HIGH);
	for (size_t i = 0; i < rx->nargs; i++)
		assert_true(strcmp(rx->args[i], "--run-id")); /* the sink's alone */
	topo_free(a);
	topo_free(b);
	topo_free(t);
}

/* Bridge names are valid and unique even when the readable one is taken
 * or too long; keys go to the right side. */
static void bridge_names_and_keys(void **s)
{
	(void)s;
	struct topology *t = parse_ok(
		"topology: k\nhosts:\n"
		"  a: { address: 10.0.0.1, curve: { public: a.pub, secret_file: a.key } }\n"
		"  b: { address: 10.0.0.2, curve: { public: b.pub, secret_file: b.key } }\n"
		"kernels:\n"
		"  - { name: g, host: a, exec: /bin/true, outputs: [o] }\n"
		"  - { name: g-o-tx, host: a, exec: /bin/true }\n"
		"  - { name: abcdefghijabcdefghijabcdefghij1, host: a, exec: /bin/true, outputs: [out] }\n"
		"  - { name: k, host: b, exec: /bin/true, inputs: [i, j] }\n"
		"rings:\n  - { from: g.o, to: k.i }\n"
		"  - { from: abcdefghijabcdefghijabcdefghij1.out, to: k.j }\n");
	const char *const pubs[] = { "A.pub", "B.pub" };
	struct topo_bridge_cfg cfg = { "/s", "/r", 1, pubs };
	struct topology *a, *b;
	assert_int_equal(topo_host_share(t, 0, &cfg, &a), 0);
	assert_int_equal(topo_host_share(t, 1, &cfg, &b), 0);
	const struct topo_kernel *tx = kernel_named(a, "bridge-1-tx"); /* g-o-tx is the user's */
	kernel_named(a, "abcdefghijabcdefghijabcd-out-tx");
	assert_arg(tx, "--curve-server-key", "B.pub");
	assert_arg(tx, "--curve-key", "a.key");
	const struct topo_kernel *rx = kernel_named(b, "k-i-rx");
	assert_arg(rx, "--curve-secret", "b.key");
	assert_arg(rx, "--curve-client-key", "A.pub");
	struct topo_bridge_cfg nokeys = { "/s", "/r", 1, NULL };
	struct topology *x;
	assert_int_equal(topo_host_share(t, 0, &nokeys, &x), -EINVAL);
	assert_int_equal(topo_host_share(t, 2, &cfg, &x), -EINVAL);
	assert_true(topo_key_literal("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
	assert_false(topo_key_literal("keys/a.pub"));
	topo_free(a);
	topo_free(b);
	topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_full_topology_parses_into_the_model),
		cmocka_unit_test(defaults_apply_when_supervision_is_absent),
		cmocka_unit_test(bad_files_name_the_line_and_the_fix),
		cmocka_unit_test(bad_rings_name_the_line_and_the_fix),
		cmocka_unit_test(host_check_finds_missing_and_unrunnable_executables),
		cmocka_unit_test(load_reports_a_missing_file),
		cmocka_unit_test(pipeline_form_builds_a_chain),
		cmocka_unit_test(bad_pipelines_say_what_to_write),
		cmocka_unit_test(input_priorities_parse_from_names_and_mappings),
		cmocka_unit_test(bad_input_priorities_name_the_line_and_the_fix),
		cmocka_unit_test(a_ring_from_a_kernel_to_itself_is_refused),
		cmocka_unit_test(broadcast_rings_are_an_entry_per_consumer),
		cmocka_unit_test(bad_broadcast_rings_name_the_line_and_the_fix),
		cmocka_unit_test(supervision_values_at_their_edges),
		cmocka_unit_test(capacity_is_what_the_ring_holds),
		cmocka_unit_test(one_yaml_document_per_file),
		cmocka_unit_test(values_with_a_nul_byte_are_refused),
		cmocka_unit_test(repeated_keys_are_refused),
		cmocka_unit_test(bad_utf8_is_reported_on_its_line),
		cmocka_unit_test(load_refuses_a_file_over_16_MiB),
		cmocka_unit_test(large_topologies_are_checked_in_linear_time),
		cmocka_unit_test(limits_are_exact),
		cmocka_unit_test(pipelines_have_the_same_limits),
		cmocka_unit_test(hosts_parse_with_ports_in_file_order),
		cmocka_unit_test(the_hash_is_fnv1a_of_the_bytes),
		cmocka_unit_test(no_hosts_changes_nothing),
		cmocka_unit_test(bad_hosts_name_the_line_and_the_fix),
		cmocka_unit_test(bridge_ports_stay_in_range_and_apart),
		cmocka_unit_test(at_most_64_hosts),
		cmocka_unit_test(the_host_is_found_by_name_or_address),
		cmocka_unit_test(each_host_gets_its_kernels_and_a_bridge_per_edge),
		cmocka_unit_test(bridge_names_and_keys),
	};
	return cmocka_run_group_tests_name("topology", tests, NULL, NULL);
}
