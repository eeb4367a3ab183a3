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

#include "topology.h"

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
	assert_int_equal(t->rings[1].capacity, 1u << 20); /* default */
	assert_int_equal(t->rings[1].wait, SHMRING_WAIT_ADAPTIVE);
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
	char dir[] = "/tmp/topo-test-XXXXXX", file[128], exe[128], noexec[128];
	assert_non_null(mkdtemp(dir));
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
	};
	return cmocka_run_group_tests_name("topology", tests, NULL, NULL);
}
