/* SPDX-License-Identifier: MIT */
/*
 * Topology files: parse (libyaml) and validate into a plain model the
 * supervisor launches. Every error names FILE:LINE, the problem and the fix.
 * docs/topology.md has every rule; in short:
 *
 *   topology: doubler
 *   supervision: { strategy: one_for_one, intensity: 5, period: 10s, grace: 2s,
 *                  ready: 30s }  # durations > 0, at most a day; ready: optional
 *   kernels:                     # 1 to 1024 (TOPO_MAX_KERNELS)
 *     - name: gen
 *       exec: ./gen              # relative to the topology file, or on PATH
 *       args: [--count, "1000"]
 *       env: { LEVEL: "3" }      # each name once; no SHMRING_ names
 *       cpu: 0                   # a core, a list [0, 2], or auto (default)
 *       restart: permanent       # permanent | transient | temporary
 *       outputs: [out]
 *     - name: double
 *       exec: ./double
 *       inputs: [in, { name: control, priority: high }]  # high | normal | low
 *       outputs: [out]
 *   rings:                       # at most 4096 (TOPO_MAX_RINGS)
 *     - from: gen.out            # two different kernels: never a kernel to itself
 *       to: double.in
 *       capacity: 64KiB          # B, KiB, MiB, GiB (K, M, G alike); 4KiB..1GiB,
 *                                # rounded up to a power of two
 *       wait: adaptive           # spin | yield | futex | adaptive
 *
 * One YAML document per file, at most 16 MiB (TOPO_FILE_MAX), UTF-8, no NUL
 * in any value. Kernels run with the topology file's folder as their working
 * directory (for -e, the supervisor's), so exec: and args: paths resolve alike.
 */
#ifndef SHMRING_SUPERVISOR_TOPOLOGY_H
#define SHMRING_SUPERVISOR_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/ring.h>

#define TOPO_NAME_MAX 31

/* Limits, checked by topo_parse before anything starts. The kernel and ring
 * counts are the control segment's (SHMRING_CTL_MAX_KERNELS, _RINGS in
 * libshmring/private/control.h; topology.c proves they agree). */
#define TOPO_MAX_KERNELS   1024u
#define TOPO_MAX_RINGS     4096u
#define TOPO_FILE_MAX      (16u << 20)  /* bytes in a topology file */
#define TOPO_INTENSITY_MAX 1000000u
#define TOPO_CPU_MAX       4095         /* highest cpu number a file may name */
/* Ring capacities (ring.h: rounded up to a power of two, 4 KiB..1 GiB). */
#define TOPO_RING_MIN      4096ull
#define TOPO_RING_MAX      (1ull << 30)
#define TOPO_RING_DEFAULT  (1ull << 20)

enum topo_restart { TOPO_PERMANENT, TOPO_TRANSIENT, TOPO_TEMPORARY };
/* An input's priority: the order in which the kernel's wait reports ready
 * inputs (shmring_kernel_wait_ready), highest first. The control segment's
 * values (SMR_PRIO_* in libshmring/private/control.h; topology.c proves
 * they agree). */
enum topo_priority { TOPO_PRIO_LOW = -1, TOPO_PRIO_NORMAL = 0, TOPO_PRIO_HIGH = 1 };
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
	int   *in_priority; /* enum topo_priority of each input; NULL: all normal
			       (the pipeline form, which has no priorities) */
	int    line;
};

static inline int topo_input_priority(const struct topo_kernel *k, size_t input)
{
	return k->in_priority ? k->in_priority[input] : TOPO_PRIO_NORMAL;
}

struct topo_ring {
	size_t   from_kernel, to_kernel; /* indices into kernels */
	char     from_port[TOPO_NAME_MAX + 1], to_port[TOPO_NAME_MAX + 1];
	uint64_t capacity;       /* bytes the ring holds: topo_ring_capacity(capacity_asked) */
	uint64_t capacity_asked; /* as the file wrote it */
	enum shmring_wait wait;
	int      to_priority;    /* the consumer input's topo_input_priority */
	int      line;
};

struct topology {
	char   name[TOPO_NAME_MAX + 1];
	char  *file;
	enum topo_strategy strategy;
	unsigned intensity;  /* restarts allowed ... */
	uint64_t period_ms;  /* ... within this window */
	uint64_t grace_ms;   /* stop: flag, then kill after this */
	uint64_t ready_ms;   /* supervision.ready: every kernel must report ready
				within this; 0 = not set in the file: the
				supervisor scales a default with the topology */
	struct topo_kernel *kernels;
	size_t nkernels;
	struct topo_ring *rings;
	size_t nrings;
};

/* The names a topology file uses, indexed by the enums, NULL-terminated:
 * one table each for the parser, the -e options and every message. */
extern const char *const topo_strategy_names[];
extern const char *const topo_restart_names[];

/* "500ms", "2s", "1m" as milliseconds: 0, or -EDOM (zero), -ERANGE (more
 * than a day) or -EINVAL (not a duration). The file's rule and -e's. */
int topo_duration(const char *s, uint64_t *ms);

/*
 * Parse and validate. file names the source in messages; text is its
 * contents. On error returns -EINVAL (or -ENOMEM) and writes one line,
 * "FILE:LINE: problem: fix", to err.
 */
int topo_parse(const char *file, const char *text, size_t len, struct topology **out,
	       char *err, size_t errlen);
/* Read path and parse it. -EINVAL too for a file over TOPO_FILE_MAX (it is
 * not a topology: check exits 1) or a folder; -errno when it cannot be
 * opened or read. */
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
 * The capacity a ring asked for `asked` bytes (TOPO_RING_MIN..TOPO_RING_MAX)
 * really holds: shmring_create rounds up to a power of two, at least 4 KiB
 * (ring.h), and so does this; topology-test checks the two agree.
 */
uint64_t topo_ring_capacity(uint64_t asked);

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
