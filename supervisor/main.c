/* SPDX-License-Identifier: MIT */
/*
 * shmring-supervisor: validate, launch, supervise and stop topologies.
 * Exit codes: see USAGE (and run.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "placement.h"
#include "run.h"
#include "topology.h"

#define USAGE \
	"usage: shmring-supervisor check FILE [--host NAME] | check [OPTIONS] -e PIPELINE\n" \
	"       shmring-supervisor run FILE [--host NAME] | run [OPTIONS] -e PIPELINE\n" \
	"       shmring-supervisor stop NAME\n" \
	"\n" \
	"  check FILE   validate a topology file and print where each kernel would run\n" \
	"               and where each ring's memory would live\n" \
	"  run FILE     launch the topology and supervise it in the foreground; kernel\n" \
	"               output lines are prefixed with the kernel's name; Ctrl-C or\n" \
	"               SIGTERM stops it (stop flag, grace period, then kill); kernels\n" \
	"               run in FILE's folder (with -e: in the current directory)\n" \
	"  stop NAME    stop the running topology NAME from another shell\n" \
	"  --host NAME  a FILE with hosts: runs (checks) the share of host NAME: its\n" \
	"               kernels, and a bridge kernel at its end of each ring to or\n" \
	"               from another host (docs/hosts.md); by default the host named\n" \
	"               like this machine, or whose address is one of this machine's;\n" \
	"               the share runs as TOPOLOGY-HOST (stop it by that name)\n" \
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

/* ---- hosts: this host's share of a topology (docs/hosts.md) ------------- */

/* What a share needs beyond the topology: files made for it (removed when
 * the run ends) and the bridge kernels' paths. */
struct share_ctx {
	char *keydir;                   /* public keys written out of the file */
	char *pub[TOPO_MAX_HOSTS];      /* per host: a file with its public key */
	char made[TOPO_MAX_HOSTS];      /* pub[i] was written here (in keydir): the
					   others are the user's, never removed */
	char *sink, *source;            /* the bridge kernels */
};

static void share_ctx_free(struct share_ctx *sc)
{
	for (size_t i = 0; i < TOPO_MAX_HOSTS; i++) {
		if (sc->made[i])
			unlink(sc->pub[i]);
		free(sc->pub[i]);
	}
	if (sc->keydir)
		rmdir(sc->keydir);
	free(sc->keydir);
	free(sc->sink);
	free(sc->source);
}

/* The host of t this machine is, for --host's default: by its name (whole,
 * then up to the first dot), or by one of its interface addresses. */
static int guess_host(const struct topology *t, size_t *host)
{
	enum { MAX_ADDRS = 256 };
	char name[HOST_NAME_MAX + 1] = "";
	const void *addrs[MAX_ADDRS];
	int fams[MAX_ADDRS];
	size_t n = 0;
	struct ifaddrs *ifs = NULL;
	if (gethostname(name, sizeof(name)) < 0)
		name[0] = '\0';
	if (getifaddrs(&ifs) < 0)
		ifs = NULL; /* then by name only */
	for (struct ifaddrs *i = ifs; i && n < MAX_ADDRS; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			addrs[n] = &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
			fams[n++] = 4;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			addrs[n] = &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
			fams[n++] = 6;
		}
	}
	int rc = topo_host_guess(t, name, addrs, fams, n, host);
	if (rc == -ENOENT && strchr(name, '.')) {
		*strchr(name, '.') = '\0';
		rc = topo_host_guess(t, name, addrs, fams, n, host);
	}
	freeifaddrs(ifs);
	return rc;
}

/* "a, b, c": the host names, for messages. */
static const char *host_list(const struct topology *t, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < t->nhosts; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? ", " : "", t->hosts[i].name);
	return buf;
}

/* --host NAME, or the default: 0 (*host set) or the exit code after one line. */
static int pick_host(const struct topology *t, const char *opt, size_t *host)
{
	char list[512];
	if (opt) {
		if ((*host = topo_host_find(t, opt)) != TOPO_NO_HOST)
			return 0;
		return usage_error("--host %s: %s has no such host (its hosts: %s): name one of them",
				   opt, t->file, host_list(t, list, sizeof(list)));
	}
	int rc = guess_host(t, host);
	if (rc == -EEXIST)
		return usage_error("%s: several hosts match this machine's name or addresses: say "
				   "which this is with --host NAME (one of %s)", t->file,
				   host_list(t, list, sizeof(list)));
	if (rc < 0)
		return usage_error("%s: no host is named like this machine or has one of its "
				   "addresses: say which this is with --host NAME (one of %s)", t->file,
				   host_list(t, list, sizeof(list)));
	return 0;
}

/* A bridge kernel beside this program: installed, the same folder; in the
 * build tree, ../kernels. A malloc'd path, or NULL after one line. */
static char *find_bridge(const char *name)
{
	char self[PATH_MAX], *path = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "shmring-supervisor: cannot tell where this program is (/proc/self/exe: "
			"%s): mount /proc\n", strerror(errno));
		return NULL;
	}
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	static const char *const where[] = { "", "../kernels/" };
	for (size_t i = 0; i < 2; i++) {
		if (asprintf(&path, "%s/%s%s", self, where[i], name) < 0)
			return NULL;
		char *real = access(path, X_OK) == 0 ? realpath(path, NULL) : NULL;
		free(path);
		if (real)
			return real;
	}
	fprintf(stderr, "shmring-supervisor: the bridge kernel %s is not beside this program (looked "
		"in %s and %s/../kernels): install shmring's kernels with the supervisor\n", name,
		self, self);
	return NULL;
}

/* Host h's public key as a file the bridge kernels can read: as written when
 * it names one (relative to the topology's folder, where kernels run), else
 * written out into sc->keydir. 0, or 111 after one line. */
static int public_file(const struct topology *t, size_t h, struct share_ctx *sc, int write)
{
	const char *key = t->hosts[h].curve_public;
	if (!topo_key_literal(key) || !write)
		return (sc->pub[h] = strdup(key)) ? 0 : 111;
	if (!sc->keydir) {
		const char *tmp = getenv("TMPDIR");
		char *dir = NULL;
		if (asprintf(&dir, "%s/shmring-keys.XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp") < 0)
			return 111;
		if (!mkdtemp(dir)) {
			fprintf(stderr, "shmring-supervisor: cannot make a folder for the public keys "
				"(%s): %s\n", dir, strerror(errno));
			free(dir);
			return 111;
		}
		sc->keydir = dir;
	}
	if (asprintf(&sc->pub[h], "%s/%s.pub", sc->keydir, t->hosts[h].name) < 0)
		return sc->pub[h] = NULL, 111;
	FILE *f = fopen(sc->pub[h], "wx");
	sc->made[h] = f != NULL;
	if (!f || fprintf(f, "%s\n", key) < 0 || fclose(f) != 0) {
		fprintf(stderr, "shmring-supervisor: cannot write %s: %s\n", sc->pub[h], strerror(errno));
		return 111;
	}
	return 0;
}

/* This host's key pair file, read only here: say now when it is missing. */
static int check_secret(const struct topology *t, size_t h)
{
	const struct topo_host *host = &t->hosts[h];
	char *path = NULL;
	const char *slash = strrchr(t->file, '/');
	if (host->curve_secret[0] == '/' || !slash)
		path = strdup(host->curve_secret);
	else if (asprintf(&path, "%.*s/%s", (int)(slash - t->file), t->file, host->curve_secret) < 0)
		path = NULL;
	if (!path)
		return 111;
	int rc = access(path, R_OK) ? errno : 0;
	if (rc)
		fprintf(stderr, "shmring-supervisor: %s:%d: host '%s': curve secret_file %s cannot be "
			"read: %s: make one with 'shmring-zmq-source --curve-keypair > %s', or fix "
			"secret_file\n", t->file, host->line, host->name, path, strerror(rc),
			host->curve_secret);
	free(path);
	return rc ? 1 : 0;
}

/* With hosts:, replace *t by the share of the host this is. write: for a
 * run (public keys written out). 0, or the exit code after one line. */
static int take_share(struct topology **t, const char *host_opt, int write,
		      struct share_ctx *sc, size_t *host)
{
	struct topology *full = *t, *share;
	if (!full->nhosts)
		return host_opt ? usage_error("--host %s: %s has no hosts: (it runs on one machine): "
					      "drop --host", host_opt, full->file) : 0;
	int rc = pick_host(full, host_opt, host);
	if (rc == 0 && full->hosts[*host].curve_public) {
		rc = check_secret(full, *host);
		for (size_t h = 0; rc == 0 && h < full->nhosts; h++)
			rc = public_file(full, h, sc, write);
	}
	/* The bridges only where this host has a bridge edge. */
	size_t edges = 0;
	for (size_t r = 0; rc == 0 && r < full->nrings; r++)
		edges += (full->kernels[full->rings[r].from_kernel].host == *host) !=
			 (full->kernels[full->rings[r].to_kernel].host == *host);
	if (edges && (!(sc->sink = find_bridge("shmring-zmq-sink")) ||
		      !(sc->source = find_bridge("shmring-zmq-source"))))
		rc = 1;
	if (rc)
		return rc;
	uint64_t run_id = 0;
	/* A new run id tells the consumer hosts' sources that this host's
	 * rings start afresh (its supervisor started again). */
	while (run_id == 0)
		if (getrandom(&run_id, sizeof(run_id), 0) != sizeof(run_id)) {
			fprintf(stderr, "shmring-supervisor: getrandom: %s\n", strerror(errno));
			return 111;
		}
	struct topo_bridge_cfg cfg = { sc->sink, sc->source, run_id,
				       full->hosts[0].curve_public ? (const char *const *)sc->pub : NULL };
	if (topo_host_share(full, *host, &cfg, &share) < 0) {
		fprintf(stderr, "shmring-supervisor: out of memory\n");
		return 111;
	}
	if (!share->nkernels) {
		fprintf(stderr, "shmring-supervisor: %s:%d: host '%s' runs no kernel: nothing to do "
			"here; give it a kernel (host: %s), or run the other hosts only\n", full->file,
			full->hosts[*host].line, full->hosts[*host].name, full->hosts[*host].name);
		topo_free(share);
		return 1;
	}
	*t = share;
	return 0;
}

/* check --host: which rings of the file are bridge edges at this host. */
static void print_bridges(const struct topology *full, size_t host, const struct topology *share)
{
	const struct topo_host *me = &full->hosts[host];
	printf("\nhost %s (%s) of %zu; topology hash %016llx (the same file on every host)\n",
	       me->name, me->address, full->nhosts, (unsigned long long)full->hash);
	/* The share holds this host's kernels, then a bridge kernel per edge
	 * in ring order (topo_host_share). */
	size_t b = 0, local = 0;
	for (size_t i = 0; i < full->nkernels; i++)
		local += full->kernels[i].host == host;
	for (size_t r = 0; r < full->nrings; r++) {
		const struct topo_ring *g = &full->rings[r];
		size_t from = full->kernels[g->from_kernel].host, to = full->kernels[g->to_kernel].host;
		if (from == to || (from != host && to != host))
			continue;
		char edge[TOPO_EDGE_MAX], ep[TOPO_ADDR_MAX + 16];
		topo_edge_name(full, g, edge, sizeof(edge));
		topo_host_endpoint(&full->hosts[to], g->port, ep, sizeof(ep));
		if (!b++)
			printf("\n%-36s %-4s %-12s %-22s %s\n", "bridge edge", "dir", "remote host",
			       "listens at", "bridge kernel here");
		printf("%-36s %-4s %-12s %-22s %s (%s)\n", edge, from == host ? "out" : "in",
		       full->hosts[from == host ? to : from].name, ep,
		       share->kernels[local + b - 1].name,
		       from == host ? "shmring-zmq-sink" : "shmring-zmq-source");
	}
	if (!b)
		printf("\nno bridge edges: every ring of this host stays on it\n");
}

static int check(const char *path, const char *pipeline, const struct pipeline_opts *o,
		 const char *host_opt)
{
	char err[512] = "out of memory"; /* what an -ENOMEM below leaves in it */
	struct topology *t, *full;
	struct share_ctx sc = { 0 };
	size_t host = TOPO_NO_HOST;
	int rc = load(path, pipeline, o, &t);
	if (rc)
		return rc;
	full = t;
	if ((rc = take_share(&t, host_opt, 0, &sc, &host))) {
		share_ctx_free(&sc);
		topo_free(full);
		return rc;
	}
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
	struct topo_others others; /* the plan run would make now, around them */
	if (rc == 0 && (rc = topo_others_scan(&others, hw, t->name)) == 0) {
		rc = topo_place(t, hw, &others, &plan, err, sizeof(err));
		topo_others_free(&others);
	}
	if (rc == 0)
		topo_plan_print(stdout, t, plan);
	else
		fprintf(stderr, "shmring-supervisor: %s\n", err);
	if (rc == 0 && t != full)
		print_bridges(full, host, t);
	topo_plan_free(plan);
	hwloc_topology_destroy(hw);
	if (t != full)
		topo_free(full);
	topo_free(t);
	share_ctx_free(&sc);
	return rc == 0 ? 0 : rc == -ENOMEM ? 111 : 1;
}

static int run(const char *path, const char *pipeline, const struct pipeline_opts *o,
	       const char *host_opt)
{
	struct topology *t, *full;
	struct share_ctx sc = { 0 };
	size_t host;
	int rc = load(path, pipeline, o, &t);
	if (rc)
		return rc;
	full = t;
	if ((rc = take_share(&t, host_opt, 1, &sc, &host))) {
		share_ctx_free(&sc);
		topo_free(full);
		return rc;
	}
	if (t != full)
		topo_free(full);
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
			share_ctx_free(&sc);
			fprintf(stderr, "shmring-supervisor: out of memory\n");
			return 111;
		}
	}
	const char *q = getenv("SHMRING_QUIET");
	rc = run_topology(t, dir, q && *q && strcmp(q, "0"));
	free(dir);
	topo_free(t);
	share_ctx_free(&sc);
	return rc;
}

typedef int (*command_fn)(const char *path, const char *pipeline, const struct pipeline_opts *o,
			  const char *host);

/* FILE [--host NAME] (either order): 0, or the exit code after one line. */
static int file_args(const char *cmd, int argc, char **argv, const char **file, const char **host)
{
	*file = *host = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "--host=", 7)) {
			*host = argv[i] + 7;
		} else if (!strcmp(argv[i], "--host")) {
			if (++i == argc)
				return usage_error("--host needs a value: --host NAME, a host of the "
						   "file's hosts:");
			*host = argv[i];
		} else if (argv[i][0] == '-' || *file) {
			return usage_error("%s FILE takes only --host NAME, not '%s' (the other "
					   "options go with -e)", cmd, argv[i]);
		} else {
			*file = argv[i];
		}
	}
	if (!*file || (*host && !**host))
		return usage_error("%s FILE --host NAME: give the FILE and a host name", cmd);
	return 0;
}

/* check/run with their arguments (after the command word). */
static int file_or_pipeline(command_fn fn, const char *cmd, int argc, char **argv)
{
	int has_e = 0;
	for (int i = 0; i < argc; i++)
		has_e |= !strcmp(argv[i], "-e");
	if (argc >= 1 && !has_e && (argv[0][0] != '-' || !strncmp(argv[0], "--host", 6))) {
		const char *file, *host;
		int rc = file_args(cmd, argc, argv, &file, &host);
		return rc ? rc : fn(file, NULL, NULL, host);
	}
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
	return fn(NULL, pipeline, &o, NULL);
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
