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
 *   rings:                       # at most 4096 ends (TOPO_MAX_RINGS)
 *     - from: gen.out            # two different kernels: never a kernel to itself
 *       to: double.in            # or a list: a broadcast ring to 1..16 kernels,
 *                                # each item kernel.port or
 *                                # { to: kernel.port, slow: block | drop }
 *       capacity: 64KiB          # B, KiB, MiB, GiB (K, M, G alike); 4KiB..1GiB,
 *                                # rounded up to a power of two
 *       wait: adaptive           # spin | yield | futex | adaptive
 *   hosts:                       # optional, at most 64 (TOPO_MAX_HOSTS): then
 *     a: { address: 10.77.0.1 }  # every kernel names its host: (docs/hosts.md)
 *     b: { address: 10.77.0.2, port: 7710,
 *          curve: { public: KEY-OR-FILE, secret_file: b.key } }
 *
 * One YAML document per file, at most 16 MiB (TOPO_FILE_MAX), UTF-8, no NUL
 * in any value. Kernels run with the topology file's folder as their working
 * directory (for -e, the supervisor's), so exec: and args: paths resolve alike.
 */
#ifndef SHMRING_SUPERVISOR_TOPOLOGY_H
#define SHMRING_SUPERVISOR_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include <shmring/bcast.h>
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
/* Hosts (docs/hosts.md). A bridge edge listens on its consumer host's
 * address at the host's base port + the edge's index among the edges into
 * that host (file order), so both sides know the port from the file. */
#define TOPO_MAX_HOSTS     64u
#define TOPO_ADDR_MAX      253          /* a DNS name's longest */
#define TOPO_PORT_DEFAULT  7710u
#define TOPO_KEY_LEN       40           /* a CurveZMQ key in Z85 */
#define TOPO_NO_HOST       SIZE_MAX     /* topo_kernel.host without hosts: */

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
	size_t host;        /* index into hosts; TOPO_NO_HOST when there are none */
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
	int      wait_set;       /* the file wrote wait: (else the supervisor picks,
				    placement.h topo_plan_ring_shared) */
	int      to_priority;    /* the consumer input's topo_input_priority */
	unsigned port;           /* a bridge edge (its ends on two hosts): the
				    port its consumer host listens on; else 0 */
	/* A broadcast ring (to: as a list) is bcast_n consecutive entries,
	 * one per consumer, equal but for the consumer's end: this one is
	 * consumer bcast_index, so the group starts at entry r - bcast_index.
	 * bcast_n 0: a single-consumer ring. */
	unsigned bcast_n, bcast_index;
	int      drop;           /* enum shmring_bcast_policy of this consumer */
	int      line;
};

/* A host of hosts:. Its secret key file is read only on that host (by its
 * bridge kernels); the public key is everybody's. */
struct topo_host {
	char     name[TOPO_NAME_MAX + 1];
	char    *address;        /* an IPv4 or IPv6 literal, or a DNS name */
	unsigned port;           /* base port: 1..65535, TOPO_PORT_DEFAULT if not given */
	char    *curve_public;   /* curve.public as written: a Z85 key or a file; NULL: no CURVE */
	char    *curve_secret;   /* curve.secret_file as written */
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
	struct topo_host *hosts; /* nhosts 0: the file has no hosts: */
	size_t nhosts;
	uint64_t hash;       /* FNV-1a 64 of the file's bytes: two hosts run the
				same topology iff their files hash alike */
	size_t share_of;     /* a host's share (topo_host_share): that host;
				TOPO_NO_HOST otherwise */
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

/* FNV-1a 64 of a topology file's bytes (struct topology.hash): the bridges
 * of two hosts refuse each other unless their files are the same, byte for
 * byte. */
uint64_t topo_hash(const void *buf, size_t len);
/* "3 rings", "1 ring (one a broadcast to 4 readers)": the rings as the file
 * has them, a broadcast ring once (t->nrings counts its consumers). */
void topo_rings_phrase(const struct topology *t, char *buf, size_t len);

/* ---- hosts (docs/hosts.md) ---- */

/* Is s a CurveZMQ key written out (40 characters of Z85) rather than the
 * name of a file holding one? */
int topo_key_literal(const char *s);

/* The host named name: its index, or TOPO_NO_HOST. */
size_t topo_host_find(const struct topology *t, const char *name);

/*
 * Which host of t this machine is: the one named hostname, or whose address
 * (an IP literal) is one of addrs[0..naddrs) (families[i] 4 or 6; 4 or 16
 * bytes, network order). 0 (*host set), -ENOENT (none), -EEXIST (several).
 */
int topo_host_guess(const struct topology *t, const char *hostname, const void *const *addrs,
		    const int *families, size_t naddrs, size_t *host);

/* A bridge edge's name, the same on both hosts: "double.out>sink.in". */
#define TOPO_EDGE_MAX (4 * TOPO_NAME_MAX + 8)
void topo_edge_name(const struct topology *t, const struct topo_ring *r, char *buf, size_t len);
/* "10.77.0.2:7710", "[fd00::2]:7710": where host h listens on port. */
void topo_host_endpoint(const struct topo_host *h, unsigned port, char *buf, size_t len);

/* What the bridge kernels of a share are run with. */
struct topo_bridge_cfg {
	const char *sink_exec, *source_exec; /* shmring-zmq-sink, -source */
	uint64_t run_id;                     /* random per supervisor run */
	const char *const *public_file;      /* with CURVE: per host, a file holding
						its public key (line 1); else NULL */
};

/*
 * Host `host`'s share of t, a topology of its own that run_topology and
 * topo_place take as they are: the kernels of that host and the rings
 * between them, as in the file; each ring from here to another host ends in
 * a bridge kernel, cfg->sink_exec (input "in", named "<kernel>-<port>-tx"),
 * and each ring from another host starts at cfg->source_exec (output
 * "out", "<kernel>-<port>-rx"), both restart: transient, with the ring's
 * capacity and wait. Named "<topology>-<host>", so that the hosts of one
 * machine (tests, the walkthrough) run side by side. Secret key files are
 * passed as written: kernels run in the topology file's folder.
 * 0, -ENOMEM, or -EINVAL (host out of range, CURVE without public_file).
 */
int topo_host_share(const struct topology *t, size_t host, const struct topo_bridge_cfg *cfg,
		    struct topology **out);

#endif
