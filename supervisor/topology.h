/* SPDX-License-Identifier: MIT */
/*
 * Topology files: parse (libyaml) and validate into a plain model the
 * supervisor launches. Every error names FILE:LINE, the problem and the fix.
 *
 *   topology: doubler
 *   supervision: { strategy: one_for_one, intensity: 5, period: 10s, grace: 2s }
 *   kernels:
 *     - name: gen
 *       exec: ./gen              # relative to the topology file, or on PATH
 *       args: [--count, "1000"]
 *       env: { LEVEL: "3" }
 *       cpu: 0                   # a core, a list [0, 2], or auto (default)
 *       restart: permanent       # permanent | transient | temporary
 *       outputs: [out]
 *     - name: double
 *       exec: ./double
 *       inputs: [in]
 *       outputs: [out]
 *   rings:
 *     - from: gen.out
 *       to: double.in
 *       capacity: 64KiB          # B, KiB, MiB, GiB (K, M, G alike)
 *       wait: adaptive           # spin | yield | futex | adaptive
 */
#ifndef SHMRING_SUPERVISOR_TOPOLOGY_H
#define SHMRING_SUPERVISOR_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/ring.h>

#define TOPO_NAME_MAX 31

enum topo_restart { TOPO_PERMANENT, TOPO_TRANSIENT, TOPO_TEMPORARY };
enum topo_strategy { TOPO_ONE_FOR_ONE, TOPO_ONE_FOR_ALL, TOPO_REST_FOR_ONE };

struct topo_kernel {
	char   name[TOPO_NAME_MAX + 1];
	char  *exec;        /* as written */
	char **args;        /* nargs strings */
	size_t nargs;
	char **env;         /* "KEY=VALUE", nenv strings */
	size_t nenv;
	int   *cpus;        /* ncpus explicit cores; ncpus 0 = auto */
	size_t ncpus;
	enum topo_restart restart;
	char **inputs, **outputs;
	size_t ninputs, noutputs;
	int    line;
};

struct topo_ring {
	size_t   from_kernel, to_kernel; /* indices into kernels */
	char     from_port[TOPO_NAME_MAX + 1], to_port[TOPO_NAME_MAX + 1];
	uint64_t capacity;
	enum shmring_wait wait;
	int      line;
};

struct topology {
	char   name[TOPO_NAME_MAX + 1];
	char  *file;
	enum topo_strategy strategy;
	unsigned intensity;  /* restarts allowed ... */
	uint64_t period_ms;  /* ... within this window */
	uint64_t grace_ms;   /* stop: flag, then kill after this */
	struct topo_kernel *kernels;
	size_t nkernels;
	struct topo_ring *rings;
	size_t nrings;
};

/*
 * Parse and validate. file names the source in messages; text is its
 * contents. On error returns -EINVAL (or -ENOMEM) and writes one line,
 * "FILE:LINE: problem: fix", to err.
 */
int topo_parse(const char *file, const char *text, size_t len, struct topology **out,
	       char *err, size_t errlen);
int topo_load(const char *path, struct topology **out, char *err, size_t errlen);

/*
 * The one-line form: "gen --count 1000 ! double ! print". Stages are
 * separated by a lone '!'; words may be quoted with '...' or "...". Each
 * stage is a kernel named after its executable (made unique with -2, -3),
 * with an input port "in" unless first and an output port "out" unless last,
 * joined by 1 MiB adaptive rings. Messages name the file as "-e".
 */
int topo_parse_pipeline(const char *expr, struct topology **out, char *err, size_t errlen);
void topo_free(struct topology *t);

/*
 * Checks that need the machine: every exec resolves to an executable file
 * (relative to the topology's folder, or on PATH when it has no '/'), every
 * explicit cpu exists among ncpu cores, no more kernels pinned than cores.
 * resolved[i] receives kernel i's path (malloc'd) when non-NULL.
 */
int topo_check_host(const struct topology *t, int ncpu, char **resolved, char *err, size_t errlen);

/* Graph order: breadth first from the sources (kernels with no inputs), file
 * order among equals, then kernels only reachable through a cycle. order[]
 * receives the nkernels indices. 0 or -ENOMEM. */
int topo_graph_order(const struct topology *t, size_t *order);

#endif
