/* SPDX-License-Identifier: MIT */
/*
 * shmring-supervisor: validate, launch, supervise and stop topologies.
 * Exit codes: see USAGE (and run.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "placement.h"
#include "run.h"
#include "topology.h"

#define USAGE \
	"usage: shmring-supervisor check FILE | check [OPTIONS] -e PIPELINE\n" \
	"       shmring-supervisor run FILE | run [OPTIONS] -e PIPELINE\n" \
	"       shmring-supervisor stop NAME\n" \
	"\n" \
	"  check FILE   validate a topology file and print where each kernel would run\n" \
	"               and where each ring's memory would live\n" \
	"  run FILE     launch the topology and supervise it in the foreground; kernel\n" \
	"               output lines are prefixed with the kernel's name; Ctrl-C or\n" \
	"               SIGTERM stops it (stop flag, grace period, then kill); kernels\n" \
	"               run in FILE's folder (with -e: in the current directory)\n" \
	"  stop NAME    stop the running topology NAME from another shell\n" \
	"  -e PIPELINE  a one-line topology instead of FILE, stages separated by a\n" \
	"               lone '!': -e 'gen --count 1000 ! double ! print'\n" \
	"\n" \
	"OPTIONS, for -e (a FILE says them under supervision: and restart:):\n" \
	"  --strategy S   one_for_one (default), one_for_all or rest_for_one\n" \
	"  --intensity N  at most N restarts (default 3, 0 to 1000000) ...\n" \
	"  --period D     ... within D (default 5s); more restarts stop the topology\n" \
	"  --restart P    every kernel's policy: permanent (default), transient, temporary\n" \
	"  --grace D      on a stop, kill a kernel still running after D (default 2s)\n" \
	"  --ready D      every kernel must report ready within D (default 10s + 20ms a kernel)\n" \
	"  D: a duration above 0, at most a day: 500ms, 2s, 1m\n" \
	"\n" \
	"exit: 0 valid (check), finished (run), stopped (stop); 1 invalid topology, or\n" \
	"     stop: no such topology; 2 a kernel failed and stayed down, exited 78\n" \
	"     (configuration error), or did not report ready; 3 restart intensity\n" \
	"     reached; 4 stopped on request; 5 stopped, some kernel killed; 100 bad\n" \
	"     usage; 111 system error\n"

#define EXIT_USAGE 100

/* The -e options: what they set, and whether they were given. */
struct pipeline_opts {
	int strategy, restart;   /* -1: not given */
	long long intensity;     /* -1: not given */
	uint64_t period_ms, grace_ms, ready_ms; /* 0: not given */
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("shmring-supervisor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
	return EXIT_USAGE;
}

static int pick(const char *opt, const char *v, const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(v, names[i]))
			return *out = i, 0;
	char list[128] = "";
	for (int i = 0; names[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 names[i]);
	fprintf(stderr, "shmring-supervisor: %s '%s' is unknown: use one of %s\n", opt, v, list);
	return EXIT_USAGE;
}

/* A duration by the topology file's rule (topo_duration). */
static int duration(const char *opt, const char *v, uint64_t *ms)
{
	int rc = topo_duration(v, ms);
	if (rc == -EDOM)
		return usage_error("%s %s: write a duration above 0, e.g. 5s", opt, v);
	if (rc == -ERANGE)
		return usage_error("%s %s is more than a day (1440m): write a shorter one", opt, v);
	if (rc < 0)
		return usage_error("%s '%s' is not a duration: write e.g. 500ms, 2s, 1m", opt, v);
	return 0;
}

/* Parse [OPTIONS] -e PIPELINE from argv[0..argc). 0, or the exit code after
 * one line. */
static int parse_opts(int argc, char **argv, struct pipeline_opts *o, const char **pipeline)
{
	*o = (struct pipeline_opts){ .strategy = -1, .restart = -1, .intensity = -1 };
	*pipeline = NULL;
	for (int i = 0; i < argc; i++) {
		const char *tok = argv[i], *opt = tok, *v = NULL;
		char name[32];
		const char *eq = strchr(opt, '=');
		if (!strncmp(opt, "--", 2) && eq && (size_t)(eq - opt) < sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - opt), opt);
			opt = name;
			v = eq + 1;
		} else if (!strcmp(opt, "-e") || !strncmp(opt, "--", 2)) {
			if (i + 1 >= argc)
				return usage_error("%s needs a value%s", opt,
						   strcmp(opt, "-e") ? "" : ": -e PIPELINE");
			v = argv[++i];
		}
		int rc = 0;
		if (!strcmp(opt, "-e")) {
			if (i + 1 != argc)
				return usage_error("-e PIPELINE comes last (quote the pipeline: "
						   "-e '%s ...'), not before '%s'", v, argv[i + 1]);
			*pipeline = v;
		} else if (!strcmp(opt, "--strategy")) {
			rc = pick("strategy", v, topo_strategy_names, &o->strategy);
		} else if (!strcmp(opt, "--restart")) {
			rc = pick("restart policy", v, topo_restart_names, &o->restart);
		} else if (!strcmp(opt, "--intensity")) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(v, &end, 10);
			if (*v < '0' || *v > '9' || *end || errno || n > TOPO_INTENSITY_MAX)
				return usage_error("--intensity %s: write a whole number of restarts, 0 "
						   "to %u, e.g. 5", v, TOPO_INTENSITY_MAX);
			o->intensity = (long long)n;
		} else if (!strcmp(opt, "--period")) {
			rc = duration("--period", v, &o->period_ms);
		} else if (!strcmp(opt, "--grace")) {
			rc = duration("--grace", v, &o->grace_ms);
		} else if (!strcmp(opt, "--ready")) {
			rc = duration("--ready", v, &o->ready_ms);
		} else if (!strncmp(tok, "-", 1)) {
			return usage_error("unknown option '%s' (see shmring-supervisor --help)", tok);
		} else {
			return usage_error("unexpected argument '%s': give one FILE, or [OPTIONS] "
					   "-e PIPELINE (a FILE sets the options under supervision: "
					   "and restart:)", tok);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static void apply_opts(struct topology *t, const struct pipeline_opts *o)
{
	if (o->strategy >= 0)
		t->strategy = (enum topo_strategy)o->strategy;
	if (o->intensity >= 0)
		t->intensity = (unsigned)o->intensity;
	if (o->period_ms)
		t->period_ms = o->period_ms;
	if (o->grace_ms)
		t->grace_ms = o->grace_ms;
	if (o->ready_ms)
		t->ready_ms = o->ready_ms;
	if (o->restart >= 0)
		for (size_t i = 0; i < t->nkernels; i++)
			t->kernels[i].restart = (enum topo_restart)o->restart;
}

/* A topology from FILE or -e PIPELINE: 0, or the exit code after one line. */
static int load(const char *path, const char *pipeline, const struct pipeline_opts *o,
		struct topology **t)
{
	char err[512];
	int rc = pipeline ? topo_parse_pipeline(pipeline, t, err, sizeof(err))
			  : topo_load(path, t, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "shmring-supervisor: %s\n", err);
		return rc == -EINVAL ? 1 : 111;
	}
	if (o)
		apply_opts(*t, o);
	return 0;
}

static int check(const char *path, const char *pipeline, const struct pipeline_opts *o)
{
	char err[512];
	struct topology *t;
	int rc = load(path, pipeline, o, &t);
	if (rc)
		return rc;
	hwloc_topology_t hw;
	if (hwloc_topology_init(&hw) < 0 || hwloc_topology_load(hw) < 0) {
		fprintf(stderr, "shmring-supervisor: cannot read this machine's topology (hwloc): %s\n",
			strerror(errno));
		topo_free(t);
		return 111;
	}
	int npus = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_PU);
	struct topo_plan *plan = NULL;
	rc = topo_check_host(t, npus, NULL, err, sizeof(err));
	if (rc == 0)
		rc = topo_place(t, hw, &plan, err, sizeof(err));
	if (rc == 0)
		topo_plan_print(stdout, t, plan);
	else
		fprintf(stderr, "shmring-supervisor: %s\n", err);
	topo_plan_free(plan);
	hwloc_topology_destroy(hw);
	topo_free(t);
	return rc == 0 ? 0 : rc == -ENOMEM ? 111 : 1;
}

static int run(const char *path, const char *pipeline, const struct pipeline_opts *o)
{
	struct topology *t;
	int rc = load(path, pipeline, o, &t);
	if (rc)
		return rc;
	if (pipeline) /* one-liners run side by side: name each after its supervisor */
		snprintf(t->name, sizeof(t->name), "pipeline-%d", (int)getpid());
	/* Kernels run in the topology file's folder, where exec: paths are
	 * resolved from (topo_check_host); -e: here. */
	char *dir = NULL;
	if (!pipeline) {
		const char *slash = strrchr(path, '/');
		dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
		if (!dir) {
			topo_free(t);
			fprintf(stderr, "shmring-supervisor: out of memory\n");
			return 111;
		}
	}
	const char *q = getenv("SHMRING_QUIET");
	rc = run_topology(t, dir, q && *q && strcmp(q, "0"));
	free(dir);
	topo_free(t);
	return rc;
}

/* check/run with their arguments (after the command word). */
static int file_or_pipeline(int (*fn)(const char *, const char *, const struct pipeline_opts *),
			    const char *cmd, int argc, char **argv)
{
	if (argc == 1 && argv[0][0] != '-')
		return fn(argv[0], NULL, NULL);
	struct pipeline_opts o;
	const char *pipeline;
	int rc = parse_opts(argc, argv, &o, &pipeline);
	if (rc)
		return rc;
	if (!pipeline) {
		fprintf(stderr, "shmring-supervisor: %s takes one FILE, or [OPTIONS] -e PIPELINE%s\n",
			cmd, argc ? " (the options go with -e; a FILE sets them under supervision: "
				    "and restart:)" : "");
		fputs(USAGE, stderr);
		return EXIT_USAGE;
	}
	return fn(NULL, pipeline, &o);
}

int main(int argc, char **argv)
{
	/* 0, 1 and 2 open, so no pipe or ring lands on them */
	int fd;
	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && fd <= 2)
		fcntl(fd, F_SETFD, 0);
	if (fd > 2)
		close(fd);
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(USAGE, stdout);
		return 0;
	}
	if (argc < 2) {
		fputs(USAGE, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "check"))
		return file_or_pipeline(check, "check", argc - 2, argv + 2);
	if (!strcmp(argv[1], "run"))
		return file_or_pipeline(run, "run", argc - 2, argv + 2);
	if (argc == 3 && !strcmp(argv[1], "stop"))
		return stop_topology(argv[2], 60000);
	if (!strcmp(argv[1], "stop"))
		fprintf(stderr, "shmring-supervisor: stop takes one topology NAME\n");
	else
		fprintf(stderr, "shmring-supervisor: unknown command '%s'\n", argv[1]);
	fputs(USAGE, stderr);
	return EXIT_USAGE;
}
