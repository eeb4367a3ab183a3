/* SPDX-License-Identifier: MIT */
/*
 * shmring-stat: every ring and kernel of the running topologies, read-only.
 *
 * A topology is found through /proc (its control segment is a memfd of its
 * supervisor; discover.h of libshmring's private control module) and read
 * through smr_ctl_attach, read-only. Each ring is attached as an OBSERVER
 * through /proc/SUPERVISOR/fd/N: a read-only mapping, no role taken, nothing
 * written, so the data path never notices. Named rings of the plain ring API
 * (/dev/shm/shmring.*) are listed too, and those no process maps any more
 * are stale and can be removed with --clean.
 *
 * See docs/shmring-stat.md for every column.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <shmring/bcast.h>
#include <shmring/ring.h>
#include "control.h"
#include "discover.h"
#include "journal.h"
#include "proc.h"

#define USAGE \
	"usage: shmring-stat [NAME] [--watch[=SECONDS]] [--json | --prometheus] [--wide]\n" \
	"                    [--interval SECONDS]\n" \
	"       shmring-stat --clean [NAME...]\n" \
	"\n" \
	"  (no NAME)        every running topology, and the named rings in /dev/shm\n" \
	"  NAME             rings and kernels of topology NAME (or one named ring)\n" \
	"  --watch [S]      redraw every S seconds (0.05 to 3600, default 1); q or Ctrl-C\n" \
	"                   quits (a NAME starting with a digit goes before --watch)\n" \
	"  --interval S     sampling interval of a one-shot view's rates (default 0.5)\n" \
	"  -w, --wide       every column, names in full (default: the essential ones,\n" \
	"                   80 columns, long names shortened with ~)\n" \
	"  --json           one JSON document per sample, one per line\n" \
	"  --prometheus     Prometheus text exposition format\n" \
	"  --clean [NAME]   remove named rings no process uses any more (this user's;\n" \
	"                   with NAMEs, only those)\n" \
	"\n" \
	"exit: 0 ok; 1 no such topology or ring, or one could not be read (each named\n" \
	"     on stderr with the reason; the others are still shown); 100 bad usage;\n" \
	"     111 system error (/proc unreadable, out of memory)\n"

enum fmt { FMT_TEXT, FMT_JSON, FMT_PROM };

struct kernel_s {
	char name[SHMRING_CTL_NAME];
	int pid, cpu, last_status;
	uint32_t state, restarts;
	uint64_t started_ns;
	uint64_t cpu_ticks; /* utime + stime of pid */
	/* Exactly once (kernel.h): starts that restored a checkpoint, the
	 * generation the last one restored, input messages it covered. */
	uint32_t resumes;
	uint64_t resumed_gen, skipped;
	/* What it publishes in its journal (kernel.h, shmring_kernel_metric):
	 * named metrics in slot order, a note ("" none); jerr says why they
	 * could not be read ("" when they could, or there is no journal). */
	unsigned nm;
	struct kmetric_s {
		char name[SHMRING_JNL_METRIC_NAME];
		uint64_t value;
	} m[SHMRING_JNL_METRICS];
	char note[SHMRING_JNL_NOTE];
	char jerr[200];
};

struct ring_s {
	char label[2 * SHMRING_CTL_NAME * 2 + 24]; /* "k.port -> k.port", a name, "... [15] drop" */
	struct shmring_stats st;
	uint64_t drops; /* a broadcast consumer's: messages its slow: drop skipped */
	int ok;
	char err[256];
};

struct sample {
	char name[SHMRING_CTL_NAME + 32];
	int supervisor;      /* pid, 0 for a named ring */
	uint32_t state;
	uint64_t started_ns; /* realtime */
	uint64_t t;          /* monotonic ns of the sample */
	size_t nk, nr;
	struct kernel_s *k;
	struct ring_s *r;
};

/* utime + stime of pid, 0 when it is gone. */
static uint64_t proc_cpu_ticks(int pid)
{
	struct smr_proc_stat st;
	return smr_proc_stat((pid_t)pid, &st) == 0 ? st.cpu_ticks : 0;
}

static void free_sample(struct sample *s)
{
	free(s->k);
	free(s->r);
	memset(s, 0, sizeof(*s));
}

/* Observer stats of the ring behind an open descriptor (ours; closed here). */
static void ring_from_fd(struct ring_s *r, int fd)
{
	char where[32];
	struct shmring *h;
	snprintf(where, sizeof(where), "fd:%d", fd);
	int rc = shmring_attach(where, SHMRING_ROLE_OBSERVER, &h);
	close(fd);
	if (rc < 0) {
		snprintf(r->err, sizeof(r->err), "%s", shmring_errmsg());
		return;
	}
	r->ok = shmring_stats(h, &r->st) == 0;
	shmring_detach(h);
}

/* Kernel i of the segment: a snapshot for display. */
static void kernel_from_ctl(struct kernel_s *k, const struct smr_ctl *c, uint32_t i)
{
	char why[128];
	const struct smr_ctl_kernel *ck = smr_ctl_kernel(c, i);
	if (smr_ctl_kernel_name(c, i, k->name, why, sizeof(why)) < 0)
		snprintf(k->name, sizeof(k->name), "?");
	/* Relaxed: each field is a snapshot for display. */
	k->pid = atomic_load_explicit(&ck->pid, memory_order_relaxed);
	k->cpu = atomic_load_explicit(&ck->cpu, memory_order_relaxed);
	k->state = atomic_load_explicit(&ck->state, memory_order_relaxed);
	k->restarts = atomic_load_explicit(&ck->restarts, memory_order_relaxed);
	k->started_ns = atomic_load_explicit(&ck->started_ns, memory_order_relaxed);
	k->last_status = atomic_load_explicit(&ck->last_status, memory_order_relaxed);
	k->resumes = atomic_load_explicit(&ck->resumes, memory_order_relaxed);
	k->resumed_gen = atomic_load_explicit(&ck->resumed_gen, memory_order_relaxed);
	k->skipped = atomic_load_explicit(&ck->skipped, memory_order_relaxed);
	k->cpu_ticks = k->pid > 0 ? proc_cpu_ticks(k->pid) : 0;
}

/* The note as printable ASCII: it is shown in a terminal and in JSON and
 * Prometheus labels, and a corrupt journal may hold any bytes. */
static void note_clean(char *note)
{
	for (unsigned char *p = (unsigned char *)note; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
}

/* Metrics and note from a mapped journal; a slot with a corrupt name is
 * left out and named in jerr (the others still shown). */
static void kernel_metrics_read(struct kernel_s *k, const struct smr_jnl *j)
{
	for (unsigned i = 0; i < SHMRING_JNL_METRICS; i++) {
		struct kmetric_s *m = &k->m[k->nm];
		int got = smr_jnl_metric_get(j, i, m->name, &m->value); /* checks the name */
		if (got > 0)
			k->nm++;
		else if (got < 0)
			snprintf(k->jerr, sizeof(k->jerr), "its journal's metric slot %u holds a corrupt "
				 "name: not shown", i);
	}
	smr_jnl_note_get(j, k->note);
	note_clean(k->note);
}

/* What kernel k publishes in its journal, read through descriptor jfd of
 * the supervisor (as the rings are): a journal that cannot be opened or is
 * corrupt leaves k without metrics, and the reason in k->jerr. */
static void kernel_journal(struct kernel_s *k, int32_t jfd, int supervisor)
{
	if (jfd < 0)
		return; /* none: the kernel runs at-least-once, and has no metrics */
	int fd = smr_open_proc_fd(supervisor, jfd);
	if (fd < 0) {
		snprintf(k->jerr, sizeof(k->jerr), "its journal cannot be opened: %s", strerror(-fd));
		return;
	}
	struct smr_jnl j;
	int rc = smr_jnl_observe(fd, &j, k->jerr, sizeof(k->jerr));
	close(fd);
	if (rc < 0)
		return;
	kernel_metrics_read(k, &j);
	smr_jnl_detach(&j);
}

/* Ring i of the segment, labelled by its ends, its stats read through the
 * supervisor's descriptor of it. s->k holds the kernels already. */
static void ring_from_ctl(struct ring_s *r, const struct smr_ctl *c, uint32_t i,
			  const struct running_topo *rt, const struct sample *s)
{
	struct smr_ctl_ring cr;
	if (smr_ctl_ring_get(c, i, &cr, r->err, sizeof(r->err)) < 0) {
		snprintf(r->label, sizeof(r->label), "ring %u", i);
		return;
	}
	/* Checked: both kernel indices are below nkernels, the ports named. */
	snprintf(r->label, sizeof(r->label), "%s.%s -> %s.%s", s->k[cr.from_kernel].name,
		 cr.from_port, s->k[cr.to_kernel].name, cr.to_port);
	int rfd = smr_open_proc_fd(rt->pid, cr.fd);
	if (rfd < 0) {
		snprintf(r->err, sizeof(r->err), "cannot open the ring: %s", strerror(-rfd));
		return;
	}
	ring_from_fd(r, rfd);
}

static void bcast_row(struct ring_s *r, const char *name, unsigned i,
		      const struct shmring_bcast_consumer *c, const struct shmring_stats *ring);

/*
 * A broadcast ring of the segment whose first entry is i, cr (checked;
 * control.h: one entry per consumer, consecutive): a row for the ring (its
 * slowest consumer's fill) and one per consumer, n at most. The rows
 * written.
 */
static size_t bcast_from_ctl(struct ring_s *r, const struct smr_ctl *c, uint32_t i,
			     const struct smr_ctl_ring *first, unsigned n,
			     const struct running_topo *rt, const struct sample *s)
{
	const struct smr_ctl_ring cr = *first;
	snprintf(r->label, sizeof(r->label), "%s.%s -> broadcast to %u (slowest)",
		 s->k[cr.from_kernel].name, cr.from_port, n);
	struct shmring *h = NULL;
	char where[32];
	int rfd = smr_open_proc_fd(rt->pid, cr.fd);
	snprintf(where, sizeof(where), "fd:%d", rfd);
	if (rfd < 0 || shmring_bcast_attach(where, SHMRING_ROLE_OBSERVER, 0, &h) < 0) {
		snprintf(r->err, sizeof(r->err), "%s", rfd < 0 ? strerror(-rfd) : shmring_errmsg());
		if (rfd >= 0)
			close(rfd);
		return 1;
	}
	close(rfd);
	struct shmring_bcast_consumer cs[SHMRING_BCAST_MAX];
	int nc = shmring_bcast_consumers(h, cs, SHMRING_BCAST_MAX);
	r->ok = shmring_stats(h, &r->st) == 0;
	shmring_detach(h);
	size_t rows = 1;
	for (unsigned j = 0; nc > 0 && j < n && j < (unsigned)nc && j < SHMRING_BCAST_MAX; j++) {
		struct smr_ctl_ring e;
		char name[sizeof(r->label) - 16]; /* room for "[15] drop" */
		if (smr_ctl_ring_get(c, i + j, &e, NULL, 0) == 0 && e.bcast_index == j)
			snprintf(name, sizeof(name), "%s.%s -> %s.%s ", s->k[cr.from_kernel].name,
				 cr.from_port, s->k[e.to_kernel].name, e.to_port);
		else
			snprintf(name, sizeof(name), "%s.%s -> consumer ", s->k[cr.from_kernel].name,
				 cr.from_port);
		bcast_row(&r[rows++], name, j, &cs[j], &r->st);
	}
	return rows;
}

/* One sample of a running topology. 0, or -1 with one line in err; -2 when
 * the topology ended since it was found. */
static int sample_topology(const struct running_topo *rt, struct sample *s, char *err, size_t cap)
{
	memset(s, 0, sizeof(*s));
	int fd = topo_open_control(rt);
	if (fd < 0) {
		snprintf(err, cap, "topology '%s' ended while being read", rt->name);
		return fd == -ENOENT || fd == -ESRCH ? -2 : -1;
	}
	struct smr_ctl c;
	char why[256];
	int rc = smr_ctl_attach(fd, SMR_CTL_READ, "its control segment", &c, why, sizeof(why));
	close(fd);
	if (rc < 0) {
		snprintf(err, cap, "topology '%s': %s", rt->name, why);
		return -1;
	}
	snprintf(s->name, sizeof(s->name), "%s", c.name);
	s->supervisor = rt->pid;
	s->state = atomic_load_explicit(&c.h->state, memory_order_relaxed);
	s->started_ns = c.h->started_ns;
	s->nk = c.nkernels;
	s->k = calloc(s->nk ? s->nk : 1, sizeof(*s->k));
	/* At most two rows an entry: a broadcast ring's row and a consumer's. */
	s->r = calloc(c.nrings ? 2 * (size_t)c.nrings : 1, sizeof(*s->r));
	if (!s->k || !s->r) {
		snprintf(err, cap, "out of memory");
		smr_ctl_detach(&c);
		free_sample(s);
		return -1;
	}
	for (uint32_t i = 0; i < c.nkernels; i++) {
		kernel_from_ctl(&s->k[i], &c, i);
		/* Plain load: written by the supervisor before the segment is
		 * published, never changed after. */
		kernel_journal(&s->k[i], smr_ctl_kernel(&c, i)->journal_fd, rt->pid);
	}
	for (uint32_t i = 0; i < c.nrings; i++) {
		struct smr_ctl_ring cr;
		int ok = smr_ctl_ring_get(&c, i, &cr, NULL, 0) == 0;
		if (!ok || !cr.bcast_n) {
			ring_from_ctl(&s->r[s->nr++], &c, i, rt, s);
			continue;
		}
		/* A broadcast ring: its entries, consecutive, are one ring. */
		unsigned n = cr.bcast_n - cr.bcast_index;
		n = n > c.nrings - i ? c.nrings - i : n;
		s->nr += bcast_from_ctl(&s->r[s->nr], &c, i, &cr, n, rt, s);
		i += n - 1;
	}
	smr_ctl_detach(&c);
	s->t = smr_clock_ns(CLOCK_MONOTONIC);
	return 0;
}

/* A named ring of the plain API, as a one-ring sample. */
/* Observer handle of a named ring, single-consumer or broadcast (bcast.h:
 * an SPSC attach of one says -EPROTO); *nc its consumers, 0 for SPSC. On
 * failure, why holds the SPSC attach's reason (the one that counts). */
static int attach_named(const char *name, struct shmring **h, int *nc, char *why, size_t cap)
{
	*nc = 0;
	int rc = shmring_attach(name, SHMRING_ROLE_OBSERVER, h);
	if (rc == 0)
		return 0;
	snprintf(why, cap, "%s", shmring_errmsg());
	if (rc == -EPROTO && shmring_bcast_attach(name, SHMRING_ROLE_OBSERVER, 0, h) == 0) {
		*nc = shmring_bcast_consumers(*h, NULL, 0);
		*nc = *nc < 0 ? 0 : *nc > SHMRING_BCAST_MAX ? SHMRING_BCAST_MAX : *nc;
		return 0;
	}
	return rc;
}

/* A broadcast ring's consumer i as a row of its own: the ring's figures
 * with this consumer's side (its skipped: messages a drop policy moved it
 * past; its fill: what it has still to read). */
static void bcast_row(struct ring_s *r, const char *name, unsigned i,
		      const struct shmring_bcast_consumer *c, const struct shmring_stats *ring)
{
	snprintf(r->label, sizeof(r->label), "%s[%u]%s", name, i,
		 c->policy == SHMRING_BCAST_DROP ? " drop" : "");
	r->st = *ring;
	r->st.fill = c->lag;
	r->st.msgs_out = c->msgs;
	r->st.bytes_out = c->bytes;
	r->st.redelivered = c->redelivered;
	r->st.skipped = c->skipped;
	r->drops = c->skipped;
	r->st.empty_events = c->empty_events;
	r->st.consumer_sleeps = c->sleeps;
	r->st.consumer_pid = c->pid;
	r->st.consumer_closed = c->closed;
	r->ok = 1;
}

static int sample_named(const char *name, struct sample *s, char *err, size_t cap)
{
	memset(s, 0, sizeof(*s));
	struct shmring *h;
	struct shmring_bcast_consumer c[SHMRING_BCAST_MAX];
	int nc; /* a broadcast ring: a row per consumer after the ring's */
	if (attach_named(name, &h, &nc, err, cap) < 0)
		return -1;
	if (nc)
		nc = shmring_bcast_consumers(h, c, (unsigned)nc) < 0 ? 0 : nc;
	s->r = calloc(1 + (size_t)nc, sizeof(*s->r));
	s->k = calloc(1, sizeof(*s->k));
	if (!s->r || !s->k) {
		shmring_detach(h);
		free_sample(s);
		snprintf(err, cap, "out of memory");
		return -1;
	}
	s->nr = 1 + (size_t)nc;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->r[0].label, sizeof(s->r[0].label), "%s%s", name, nc ? " (slowest)" : "");
	s->r[0].ok = shmring_stats(h, &s->r[0].st) == 0;
	for (int i = 0; i < nc; i++)
		bcast_row(&s->r[1 + i], name, (unsigned)i, &c[i], &s->r[0].st);
	shmring_detach(h);
	s->t = smr_clock_ns(CLOCK_MONOTONIC);
	return 0;
}

/* ---- named rings in /dev/shm ---- */

/* Does any process (that we may look at) map or hold /dev/shm/NAME? */
static int in_use(const char *file)
{
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm/%s", file);
	DIR *proc = opendir("/proc");
	if (!proc)
		return 1; /* cannot tell: treat as used */
	int used = 0;
	struct dirent *pe;
	while (!used && (pe = readdir(proc))) {
		if (pe->d_name[0] < '0' || pe->d_name[0] > '9')
			continue;
		char maps[300];
		snprintf(maps, sizeof(maps), "/proc/%s/maps", pe->d_name);
		FILE *f = fopen(maps, "re");
		if (f) {
			char line[1024];
			while (!used && fgets(line, sizeof(line), f)) {
				char *p = strchr(line, '/');
				if (p && !strncmp(p, path, strlen(path)) &&
				    (p[strlen(path)] == '\n' || p[strlen(path)] == ' '))
					used = 1;
			}
			fclose(f);
		}
		char fds[300];
		snprintf(fds, sizeof(fds), "/proc/%s/fd", pe->d_name);
		DIR *d = opendir(fds);
		if (!d)
			continue;
		struct dirent *fe;
		while (!used && (fe = readdir(d))) {
			char l[600], t[400];
			snprintf(l, sizeof(l), "%s/%s", fds, fe->d_name);
			ssize_t n = readlink(l, t, sizeof(t) - 1);
			if (n > 0) {
				t[n] = '\0';
				used = !strcmp(t, path);
			}
		}
		closedir(d);
	}
	closedir(proc);
	return used;
}

struct named {
	char name[SHMRING_NAME_MAX + 1];
	uid_t uid;
	int used;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

/* Every named ring in /dev/shm, sorted, into a malloc'd *out (no limit): a
 * count, or -errno. */
static int list_named(struct named **out)
{
	*out = NULL;
	DIR *d = opendir("/dev/shm");
	if (!d)
		return 0;
	size_t n = 0, cap = 0;
	struct named *v = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "shmring.", 8) || strlen(e->d_name + 8) > SHMRING_NAME_MAX ||
		    !e->d_name[8])
			continue;
		if (n == cap) {
			struct named *g = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));
			if (!g) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = g;
		}
		struct stat st;
		char p[300];
		snprintf(p, sizeof(p), "/dev/shm/%s", e->d_name);
		snprintf(v[n].name, sizeof(v[n].name), "%s", e->d_name + 8);
		v[n].uid = stat(p, &st) == 0 ? st.st_uid : (uid_t)-1;
		v[n].used = in_use(e->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), by_name);
	*out = v;
	return (int)n;
}

/* ---- output ---- */

static const char *topo_state(uint32_t s)
{
	switch (s) {
	case SMR_TOPO_STARTING: return "starting";
	case SMR_TOPO_ACTIVE: return "active";
	case SMR_TOPO_STOPPING: return "stopping";
	}
	return "?";
}

static const char *kernel_state(uint32_t s)
{
	switch (s) {
	case SMR_K_LAUNCHED: return "launched";
	case SMR_K_READY: return "ready";
	case SMR_K_ACTIVE: return "active";
	case SMR_K_STOPPING: return "stopping";
	case SMR_K_EXITED: return "exited";
	case SMR_K_DONE: return "done";
	}
	return "?";
}

/* v in at most 6 characters: 0 to 999, then 1.0K to 999.9K, M, G, T, P, in
 * steps of 1000 (counts) or 1024 (bytes, which also get a B under 1K). A
 * value is scaled before it would print as 1000.0, so the width holds. */
static void num6(char *b, size_t cap, double v, int bytes)
{
	static const char *const u[] = { "", "K", "M", "G", "T", "P" };
	int i = 0;
	while (v >= 999.95 && i < 5) {
		v /= bytes ? 1024 : 1000;
		i++;
	}
	if (i)
		snprintf(b, cap, "%.1f%s", v, u[i]);
	else
		snprintf(b, cap, bytes ? "%.0fB" : "%.0f", v);
}

static void uptime_h(char *b, size_t cap, uint64_t since_ns)
{
	uint64_t now = smr_clock_ns(CLOCK_REALTIME);
	uint64_t s = since_ns && now > since_ns ? (now - since_ns) / 1000000000ull : 0;
	if (s >= 3600)
		snprintf(b, cap, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(b, cap, "%llum%02llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
}

/* The len bytes at s as at most w characters (w >= 3): a longer string keeps
 * its start and end with a '~' for the middle, which names never contain. */
static void squeeze(char *out, const char *s, size_t len, size_t w)
{
	if (len <= w) {
		memcpy(out, s, len);
		out[len] = '\0';
		return;
	}
	size_t tail = (w - 1) / 2, head = w - 1 - tail;
	memcpy(out, s, head);
	out[head] = '~';
	memcpy(out + head + 1, s + len - tail, tail);
	out[w] = '\0';
}

/* One end of a ring, "kernel.port", likewise: the port kept whole while the
 * kernel keeps 4 characters, since ports are short and tell the ends apart. */
static void squeeze_end(char *out, const char *s, size_t len, size_t w)
{
	const char *dot = memrchr(s, '.', len);
	size_t port = dot ? len - (size_t)(dot - s) : 0; /* ".port" */
	if (len <= w || !dot || w < port + 4) {
		squeeze(out, s, len, w);
		return;
	}
	squeeze(out, s, len - port, w - port);
	memcpy(out + w - port, dot, port);
	out[w] = '\0';
}

/* A name or a ring label "k.port -> k.port" in at most w characters (out
 * holds w + 1): each end of a ring is shortened on its own, the shorter one
 * kept whole if it fits in half, so both stay recognisable. */
static void fit(char *out, const char *s, size_t w)
{
	size_t len = strlen(s);
	const char *arrow = strstr(s, " -> ");
	if (len <= w || !arrow || w < 4 + 2 * 3) {
		squeeze(out, s, len, w);
		return;
	}
	size_t l = (size_t)(arrow - s), r = len - l - 4, avail = w - 4, half = avail / 2;
	size_t lw = l <= half ? l : r <= avail - half ? avail - r : half;
	squeeze_end(out, s, l, lw);
	memcpy(out + lw, " -> ", 4);
	squeeze_end(out + lw + 4, arrow + 4, r, avail - lw);
}

static uint64_t dropped(const struct ring_s *r)
{
	const struct shmring_stats *st = &r->st;
	return r->drops + (st->consumer_closed && st->msgs_in > st->msgs_out + r->drops
			   ? st->msgs_in - st->msgs_out - r->drops : 0);
}

/* Rates of ring i between two samples of the same topology; 0 without prev. */
static void rates(const struct sample *s, const struct sample *prev, size_t i, double *mps, double *bps)
{
	*mps = *bps = 0;
	if (!prev || prev->nr != s->nr || i >= prev->nr || !prev->r[i].ok || !s->r[i].ok ||
	    s->t <= prev->t)
		return;
	double dt = (double)(s->t - prev->t) / 1e9;
	const struct shmring_stats *a = &prev->r[i].st, *b = &s->r[i].st;
	if (b->msgs_out >= a->msgs_out)
		*mps = (double)(b->msgs_out - a->msgs_out) / dt;
	if (b->bytes_out >= a->bytes_out)
		*bps = (double)(b->bytes_out - a->bytes_out) / dt;
}

static double cpu_pct(const struct sample *s, const struct sample *prev, size_t i)
{
	if (!prev || i >= prev->nk || prev->k[i].pid != s->k[i].pid || s->t <= prev->t ||
	    s->k[i].cpu_ticks < prev->k[i].cpu_ticks)
		return 0;
	double dt = (double)(s->t - prev->t) / 1e9;
	return (double)(s->k[i].cpu_ticks - prev->k[i].cpu_ticks) / (double)sysconf(_SC_CLK_TCK) / dt * 100;
}

/* The default ring table fits 80 columns: RING_W + 6 columns of 5 to 7. */
#define RING_W 37
#define KERNEL_W 20
#define NAMED_W 32

static void print_rings(FILE *o, const struct sample *s, const struct sample *prev)
{
	fprintf(o, "%-*s %5s %6s %6s %6s %6s %7s\n", RING_W, "RING", "FILL%", "MSG/S", "B/S",
		"MSGS", "FULL", "DROPPED");
	for (size_t i = 0; i < s->nr; i++) {
		const struct ring_s *r = &s->r[i];
		const struct shmring_stats *st = &r->st;
		char label[RING_W + 1], fill[16], m[16], b[16], out[16], full[16], drop[16];
		fit(label, r->label, RING_W);
		if (!r->ok) {
			fprintf(o, "%-*s unreadable: %s\n", RING_W, label, r->err);
			continue;
		}
		double mps, bps;
		rates(s, prev, i, &mps, &bps);
		if (st->capacity)
			snprintf(fill, sizeof(fill), "%.0f%%", 100.0 * (double)st->fill / (double)st->capacity);
		else
			snprintf(fill, sizeof(fill), "-");
		num6(m, sizeof(m), mps, 0);
		num6(b, sizeof(b), bps, 1);
		num6(out, sizeof(out), (double)st->msgs_out, 0);
		num6(full, sizeof(full), (double)st->full_events, 0);
		num6(drop, sizeof(drop), (double)dropped(r), 0);
		fprintf(o, "%-*s %5s %6s %6s %6s %6s %7s\n", RING_W, label, fill, m, b, out, full, drop);
	}
}

/* Every column, names in full; columns as wide as their longest entry. */
static void print_rings_wide(FILE *o, const struct sample *s, const struct sample *prev)
{
	int w = 4;
	for (size_t i = 0; i < s->nr; i++)
		if ((int)strlen(s->r[i].label) > w)
			w = (int)strlen(s->r[i].label);
	fprintf(o, "%-*s %7s %7s %6s %6s %12s %6s %6s %8s %8s %9s %9s %13s %13s %7s %7s %7s %7s\n",
		w, "RING", "PROD", "CONS", "CAP", "FILL", "HIGH(CACHED)", "MSG/S", "B/S", "MSGS IN",
		"MSGS OUT", "FULL", "EMPTY", "SLEEPS P/C", "WAKES P/C", "REDELIV", "SUPPR", "SKIP",
		"DROPPED");
	for (size_t i = 0; i < s->nr; i++) {
		const struct ring_s *r = &s->r[i];
		if (!r->ok) {
			fprintf(o, "%-*s unreadable: %s\n", w, r->label, r->err);
			continue;
		}
		const struct shmring_stats *st = &r->st;
		char cap[16], fill[16], high[16], m[16], b[16], in[16], out[16], sl[40], wk[40], a[16], c[16];
		double mps, bps;
		rates(s, prev, i, &mps, &bps);
		num6(cap, sizeof(cap), (double)st->capacity, 1);
		num6(fill, sizeof(fill), (double)st->fill, 1);
		num6(high, sizeof(high), (double)st->high_fill, 1);
		num6(m, sizeof(m), mps, 0);
		num6(b, sizeof(b), bps, 1);
		num6(in, sizeof(in), (double)st->msgs_in, 0);
		num6(out, sizeof(out), (double)st->msgs_out, 0);
		num6(a, sizeof(a), (double)st->producer_sleeps, 0);
		num6(c, sizeof(c), (double)st->consumer_sleeps, 0);
		snprintf(sl, sizeof(sl), "%s/%s", a, c);
		num6(a, sizeof(a), (double)st->producer_wakes, 0);
		num6(c, sizeof(c), (double)st->consumer_wakes, 0);
		snprintf(wk, sizeof(wk), "%s/%s", a, c);
		char pp[16], cp[16];
		snprintf(pp, sizeof(pp), "%d", (int)st->producer_pid);
		snprintf(cp, sizeof(cp), "%d", (int)st->consumer_pid);
		fprintf(o, "%-*s %7s %7s %6s %6s %12s %6s %6s %8s %8s %9llu %9llu %13s %13s %7llu %7llu "
			"%7llu %7llu\n", w, r->label,
			st->producer_closed ? "closed" : st->producer_pid ? pp : "-",
			st->consumer_closed ? "closed" : st->consumer_pid ? cp : "-", cap, fill, high, m,
			b, in, out, (unsigned long long)st->full_events,
			(unsigned long long)st->empty_events, sl, wk,
			(unsigned long long)st->redelivered, (unsigned long long)st->suppressed,
			(unsigned long long)st->skipped, (unsigned long long)dropped(r));
	}
}

/* The journal does not say which metrics are counters and which gauges, so
 * the name does (docs/shmring-stat.md): a level now -- a name containing
 * "in_flight" or ending in "_now" -- is a gauge; every other only grows and
 * is kept across restarts: a counter. */
static int metric_is_gauge(const char *n)
{
	size_t len = strlen(n);
	return strstr(n, "in_flight") != NULL || (len >= 4 && !strcmp(n + len - 4, "_now"));
}

/* Per second, of counter j of kernel i between two samples: 1 with *r set,
 * 0 for a gauge, without prev, or when the counter is new or went back. */
static int metric_rate(const struct sample *s, const struct sample *prev, size_t i, unsigned j,
		       double *r)
{
	const struct kmetric_s *m = &s->k[i].m[j];
	if (!prev || i >= prev->nk || s->t <= prev->t || metric_is_gauge(m->name) ||
	    strcmp(prev->k[i].name, s->k[i].name))
		return 0;
	const struct kernel_s *a = &prev->k[i];
	for (unsigned x = 0; x < a->nm; x++)
		if (!strcmp(a->m[x].name, m->name) && m->value >= a->m[x].value) {
			*r = (double)(m->value - a->m[x].value) / ((double)(s->t - prev->t) / 1e9);
			return 1;
		}
	return 0;
}

/* Metric j of kernel i as "name value", "name value +rate/s" for a
 * counter that moved between two samples; values in 6 characters, exact
 * with wide. */
static void metric_item(char *b, size_t cap, const struct sample *s, const struct sample *prev,
			size_t i, unsigned j, int wide)
{
	const struct kmetric_s *m = &s->k[i].m[j];
	int bytes = strstr(m->name, "bytes") != NULL;
	char v[32], rate[24] = "";
	double r;
	if (wide)
		snprintf(v, sizeof(v), "%llu", (unsigned long long)m->value);
	else
		num6(v, sizeof(v), (double)m->value, bytes);
	if (metric_rate(s, prev, i, j, &r) && r > 0) { /* "+0/s" on every idle counter is noise */
		char x[16];
		num6(x, sizeof(x), r, bytes);
		snprintf(rate, sizeof(rate), " +%s/s", x);
	}
	snprintf(b, cap, "%s %s%s", m->name, v, rate);
}

/* Line filling for a kernel's metrics: items two spaces apart from column
 * indent to width; the default view stops after METRIC_LINES lines. */
#define METRIC_LINES 3
#define METRIC_MORE 15 /* room kept for "  (+NN: --wide)" */

struct filler {
	FILE *o;
	int indent, width;
	int col;           /* where the next item goes; -1: a new line first */
	int lines, mlines; /* lines printed, and of them lines of metrics */
};

/* Place an item: 0, or -1 when the default view has no room left for it
 * (on its last line, room is kept for the remark unless it is the last). */
static int fill_item(struct filler *f, const char *item, int last, int wide)
{
	int len = (int)strlen(item);
	int more = last ? 0 : METRIC_MORE;
	int room = f->width - (!wide && f->mlines == METRIC_LINES ? more : 0);
	if (f->col >= 0 && f->col + 2 + len > room)
		f->col = -1;
	if (f->col < 0) {
		if (!wide && (f->mlines == METRIC_LINES ||
			      (f->mlines + 1 == METRIC_LINES && f->indent + len > f->width - more)))
			return -1;
		if (f->lines)
			fprintf(f->o, "\n%*s", f->indent, "");
		f->lines++;
		f->mlines++;
		fputs(item, f->o);
		f->col = f->indent + len;
		return 0;
	}
	fprintf(f->o, "  %s", item);
	f->col += 2 + len;
	return 0;
}

/* Kernel i's note and metrics, from column indent (its name printed already). */
static void print_kernel_metrics(FILE *o, const struct sample *s, const struct sample *prev,
				 size_t i, int indent, int wide)
{
	const struct kernel_s *k = &s->k[i];
	struct filler f = { .o = o, .indent = indent, .width = 80, .col = -1 };
	char item[128];
	if (k->note[0]) { /* its own line, shortened with ~ to what is left of 80 columns */
		char note[SHMRING_JNL_NOTE];
		size_t len = strlen(k->note), room = (size_t)(80 - indent > 8 ? 80 - indent : 8);
		squeeze(note, k->note, len, wide || room > len ? len : room);
		fputs(note, o);
		f.lines = 1;
	}
	unsigned j = 0;
	for (; j < k->nm; j++) {
		metric_item(item, sizeof(item), s, prev, i, j, wide);
		if (fill_item(&f, item, j + 1 == k->nm, wide) < 0)
			break;
	}
	if (j < k->nm)
		fprintf(o, "  (+%u: --wide)", k->nm - j);
	if (k->jerr[0])
		fprintf(o, "%s%*smetrics unreadable: %s", f.lines ? "\n" : "", f.lines ? indent : 0, "",
			k->jerr);
	fputc('\n', o);
}

/* The kernels that publish a note or metrics (or whose journal could not be
 * read), after the kernel table. */
static void print_kernels_metrics(FILE *o, const struct sample *s, const struct sample *prev,
				  int w, int wide)
{
	int header = 0;
	for (size_t i = 0; i < s->nk; i++) {
		const struct kernel_s *k = &s->k[i];
		if (!k->nm && !k->note[0] && !k->jerr[0])
			continue;
		if (!header++)
			fprintf(o, "\n%-*s %s\n", w, "KERNEL", "NOTE AND METRICS");
		char name[SHMRING_CTL_NAME];
		fit(name, k->name, (size_t)w);
		fprintf(o, "%-*s ", w, name);
		print_kernel_metrics(o, s, prev, i, w + 1, wide);
	}
}

static void print_text(FILE *o, const struct sample *s, const struct sample *prev, int wide)
{
	char up[32];
	if (s->supervisor) {
		uptime_h(up, sizeof(up), s->started_ns);
		fprintf(o, "topology %s  supervisor %d  %s  up %s\n\n", s->name, s->supervisor,
			topo_state(s->state), up);
	}
	if (wide)
		print_rings_wide(o, s, prev);
	else
		print_rings(o, s, prev);
	if (!s->supervisor)
		return;
	int w = KERNEL_W;
	for (size_t i = 0; wide && i < s->nk; i++)
		if ((int)strlen(s->k[i].name) > w)
			w = (int)strlen(s->k[i].name);
	fprintf(o, "\n%-*s %8s %5s %-9s %8s %9s %6s%s\n", w, "KERNEL", "PID", "CORE", "STATE",
		"RESTARTS", "UPTIME", "CPU%", wide ? "  RESUMES          GEN  SKIPPED" : "");
	for (size_t i = 0; i < s->nk; i++) {
		const struct kernel_s *k = &s->k[i];
		char name[SHMRING_CTL_NAME], pid[16], core[16];
		fit(name, k->name, (size_t)w);
		snprintf(pid, sizeof(pid), "%d", k->pid);
		snprintf(core, sizeof(core), "%d", k->cpu);
		uptime_h(up, sizeof(up), k->pid > 0 ? k->started_ns : 0);
		fprintf(o, "%-*s %8s %5s %-9s %8u %9s %6.1f", w, name, k->pid > 0 ? pid : "-",
			k->cpu >= 0 ? core : "-", kernel_state(k->state), k->restarts,
			k->pid > 0 ? up : "-", cpu_pct(s, prev, i));
		if (wide)
			fprintf(o, " %8u %12llu %8llu", k->resumes, (unsigned long long)k->resumed_gen,
				(unsigned long long)k->skipped);
		fputc('\n', o);
	}
	print_kernels_metrics(o, s, prev, w, wide);
}

static void json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c < 0x20)
			fprintf(o, "\\u%04x", c);
		else
			fputc(c, o);
	}
	fputc('"', o);
}

/* Kernel i's journal: "metrics" (name: value), "metrics_per_s" (its
 * counters' rates), "note", and "metrics_error" when it could not be read. */
static void json_kernel_metrics(FILE *o, const struct sample *s, const struct sample *prev, size_t i)
{
	const struct kernel_s *k = &s->k[i];
	fputs(",\"metrics\":{", o);
	for (unsigned j = 0; j < k->nm; j++)
		fprintf(o, "%s\"%s\":%llu", j ? "," : "", k->m[j].name, (unsigned long long)k->m[j].value);
	fputs("},\"metrics_per_s\":{", o);
	double r;
	for (unsigned j = 0, n = 0; j < k->nm; j++)
		if (metric_rate(s, prev, i, j, &r))
			fprintf(o, "%s\"%s\":%.1f", n++ ? "," : "", k->m[j].name, r);
	fputs("},\"note\":", o);
	json_str(o, k->note);
	if (k->jerr[0]) {
		fputs(",\"metrics_error\":", o);
		json_str(o, k->jerr);
	}
}

static void print_json(FILE *o, const struct sample *s, const struct sample *prev)
{
	fprintf(o, "{\"topology\":");
	json_str(o, s->name);
	fprintf(o, ",\"supervisor_pid\":%d,\"state\":\"%s\",\"started_ns\":%llu,\"time_ns\":%llu,"
		"\"rings\":[", s->supervisor, s->supervisor ? topo_state(s->state) : "named",
		(unsigned long long)s->started_ns, (unsigned long long)smr_clock_ns(CLOCK_REALTIME));
	for (size_t i = 0; i < s->nr; i++) {
		const struct ring_s *r = &s->r[i];
		const struct shmring_stats *st = &r->st;
		fprintf(o, "%s{\"ring\":", i ? "," : "");
		json_str(o, r->label);
		if (!r->ok) {
			fprintf(o, ",\"error\":");
			json_str(o, r->err);
			fputc('}', o);
			continue;
		}
		double mps, bps;
		rates(s, prev, i, &mps, &bps);
		fprintf(o, ",\"producer_pid\":%d,\"consumer_pid\":%d,\"producer_closed\":%s,"
			"\"consumer_closed\":%s,\"capacity\":%llu,\"max_message\":%llu,\"fill\":%llu,"
			"\"high_fill\":%llu,\"msgs_per_s\":%.1f,\"bytes_per_s\":%.1f,\"msgs_in\":%llu,"
			"\"bytes_in\":%llu,\"msgs_out\":%llu,\"bytes_out\":%llu,\"full_events\":%llu,"
			"\"empty_events\":%llu,\"producer_sleeps\":%llu,\"consumer_sleeps\":%llu,"
			"\"producer_wakes\":%llu,\"consumer_wakes\":%llu,\"redelivered\":%llu,"
			"\"suppressed\":%llu,\"skipped\":%llu,\"dropped\":%llu}",
			(int)st->producer_pid, (int)st->consumer_pid, st->producer_closed ? "true" : "false",
			st->consumer_closed ? "true" : "false", (unsigned long long)st->capacity,
			(unsigned long long)st->max_message, (unsigned long long)st->fill,
			(unsigned long long)st->high_fill, mps, bps, (unsigned long long)st->msgs_in,
			(unsigned long long)st->bytes_in, (unsigned long long)st->msgs_out,
			(unsigned long long)st->bytes_out, (unsigned long long)st->full_events,
			(unsigned long long)st->empty_events, (unsigned long long)st->producer_sleeps,
			(unsigned long long)st->consumer_sleeps, (unsigned long long)st->producer_wakes,
			(unsigned long long)st->consumer_wakes, (unsigned long long)st->redelivered,
			(unsigned long long)st->suppressed, (unsigned long long)st->skipped,
			(unsigned long long)dropped(r));
	}
	fprintf(o, "],\"kernels\":[");
	for (size_t i = 0; i < s->nk && s->supervisor; i++) {
		const struct kernel_s *k = &s->k[i];
		fprintf(o, "%s{\"kernel\":", i ? "," : "");
		json_str(o, k->name);
		fprintf(o, ",\"pid\":%d,\"core\":%d,\"state\":\"%s\",\"restarts\":%u,\"started_ns\":%llu,"
			"\"last_status\":%d,\"cpu_percent\":%.1f,\"resumes\":%u,\"resumed_gen\":%llu,"
			"\"skipped\":%llu", k->pid, k->cpu, kernel_state(k->state), k->restarts,
			(unsigned long long)k->started_ns, k->last_status, cpu_pct(s, prev, i), k->resumes,
			(unsigned long long)k->resumed_gen, (unsigned long long)k->skipped);
		json_kernel_metrics(o, s, prev, i);
		fputc('}', o);
	}
	fprintf(o, "]}\n");
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void prom_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(o, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", o);
		else
			fputc(*s, o);
	}
	fputc('"', o);
}

static void prom_labels(FILE *o, const char *topology, const char *key, const char *value)
{
	fputs("{topology=", o);
	prom_str(o, topology);
	fprintf(o, ",%s=", key);
	prom_str(o, value);
	fputc('}', o);
}

enum kmetric { KM_RESTARTS, KM_UP, KM_RESUMES, KM_RESUMED_GEN, KM_SKIPPED };

static uint64_t kernel_metric(const struct kernel_s *k, enum kmetric m)
{
	switch (m) {
	case KM_RESTARTS: return k->restarts;
	case KM_UP: return k->pid > 0;
	case KM_RESUMES: return k->resumes;
	case KM_RESUMED_GEN: return k->resumed_gen;
	case KM_SKIPPED: return k->skipped;
	}
	return 0;
}

/* The kernels of the samples v[0..n) (named rings have none). */
static void print_prom_kernels(FILE *o, const struct sample *v, size_t n)
{
	static const struct {
		const char *name, *type, *help;
		enum kmetric m;
	} km[] = {
		{ "shmring_kernel_restarts_total", "counter", "Restarts of the kernel.", KM_RESTARTS },
		{ "shmring_kernel_up", "gauge", "Whether the kernel runs now.", KM_UP },
		{ "shmring_kernel_resumes_total", "counter",
		  "Starts of the kernel that restored its checkpoint.", KM_RESUMES },
		{ "shmring_kernel_resumed_gen", "gauge",
		  "Generation of the checkpoint its last resume restored (0: none yet).",
		  KM_RESUMED_GEN },
		{ "shmring_kernel_skipped_total", "counter",
		  "Input messages its resumes skipped: their checkpoint already covered them.",
		  KM_SKIPPED },
	};
	for (size_t j = 0; j < sizeof(km) / sizeof(km[0]); j++) {
		fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", km[j].name, km[j].help, km[j].name,
			km[j].type);
		for (size_t t = 0; t < n; t++)
			for (size_t i = 0; v[t].supervisor && i < v[t].nk; i++) {
				fputs(km[j].name, o);
				prom_labels(o, v[t].name, "kernel", v[t].k[i].name);
				fprintf(o, " %llu\n",
					(unsigned long long)kernel_metric(&v[t].k[i], km[j].m));
			}
	}
}

/* One series of a kernel metric, for grouping them into families. */
struct prom_ref {
	const char *name;
	size_t t, i; /* sample, kernel */
	uint64_t value;
};

static int by_metric(const void *a, const void *b)
{
	const struct prom_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->t != y->t ? (x->t < y->t ? -1 : 1) : x->i < y->i ? -1 : x->i > y->i;
}

/* Every kernel metric of v[0..n), sorted by name: a count, -1 out of memory. */
static long prom_refs(const struct sample *v, size_t n, struct prom_ref **out)
{
	size_t cnt = 0, k = 0;
	for (size_t t = 0; t < n; t++)
		for (size_t i = 0; v[t].supervisor && i < v[t].nk; i++)
			cnt += v[t].k[i].nm;
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (!*out)
		return -1;
	for (size_t t = 0; t < n; t++)
		for (size_t i = 0; v[t].supervisor && i < v[t].nk; i++)
			for (unsigned j = 0; j < v[t].k[i].nm; j++)
				(*out)[k++] = (struct prom_ref){ v[t].k[i].m[j].name, t, i, v[t].k[i].m[j].value };
	qsort(*out, cnt, sizeof(**out), by_metric);
	return (long)cnt;
}

/* The metrics kernels publish: one family per metric name, since names
 * differ in meaning and unit (a sum over sent_msgs and in_flight_bytes means
 * nothing), shmring_kernel_metric_NAME_total for a counter and
 * shmring_kernel_metric_NAME for a gauge (metric_is_gauge). */
static void print_prom_kernel_metrics(FILE *o, const struct sample *v, size_t n)
{
	struct prom_ref *r;
	long cnt = prom_refs(v, n, &r);
	if (cnt < 0) {
		fprintf(stderr, "shmring-stat: out of memory: kernel metrics left out\n");
		return;
	}
	for (long x = 0; x < cnt; x++) {
		int gauge = metric_is_gauge(r[x].name);
		if (x == 0 || strcmp(r[x].name, r[x - 1].name))
			fprintf(o, "# HELP shmring_kernel_metric_%s%s Metric %s a kernel publishes (a %s: "
				"docs/shmring-stat.md).\n# TYPE shmring_kernel_metric_%s%s %s\n",
				r[x].name, gauge ? "" : "_total", r[x].name, gauge ? "gauge" : "counter",
				r[x].name, gauge ? "" : "_total", gauge ? "gauge" : "counter");
		fprintf(o, "shmring_kernel_metric_%s%s", r[x].name, gauge ? "" : "_total");
		prom_labels(o, v[r[x].t].name, "kernel", v[r[x].t].k[r[x].i].name);
		fprintf(o, " %llu\n", (unsigned long long)r[x].value);
	}
	free(r);
}

/* Each kernel's note as a label of an info metric (value 1), and whether
 * its journal's metrics could be read. */
static void print_prom_kernel_notes(FILE *o, const struct sample *v, size_t n)
{
	fputs("# HELP shmring_kernel_info The note a kernel publishes (e.g. a bridge's remote "
	      "end), as a label; 1.\n# TYPE shmring_kernel_info gauge\n", o);
	for (size_t t = 0; t < n; t++)
		for (size_t i = 0; v[t].supervisor && i < v[t].nk; i++)
			if (v[t].k[i].note[0]) {
				fputs("shmring_kernel_info{topology=", o);
				prom_str(o, v[t].name);
				fputs(",kernel=", o);
				prom_str(o, v[t].k[i].name);
				fputs(",note=", o);
				prom_str(o, v[t].k[i].note);
				fputs("} 1\n", o);
			}
	fputs("# HELP shmring_kernel_metrics_unreadable 1 when the kernel's journal, where its "
	      "metrics live, could not be read (shmring-stat NAME says why).\n"
	      "# TYPE shmring_kernel_metrics_unreadable gauge\n", o);
	for (size_t t = 0; t < n; t++)
		for (size_t i = 0; v[t].supervisor && i < v[t].nk; i++) {
			fputs("shmring_kernel_metrics_unreadable", o);
			prom_labels(o, v[t].name, "kernel", v[t].k[i].name);
			fprintf(o, " %d\n", v[t].k[i].jerr[0] != 0);
		}
}

/* The samples v[0..n) in the text exposition format: each metric family
 * once (HELP, TYPE, then every series of it), counters named _total. */
static void print_prom(FILE *o, const struct sample *v, size_t n)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} m[] = {
#define G(f, h) { "shmring_ring_" #f, "gauge", h, offsetof(struct shmring_stats, f) }
#define C(f, h) { "shmring_ring_" #f "_total", "counter", h, offsetof(struct shmring_stats, f) }
		G(capacity, "Data bytes of the ring."),
		G(fill, "Bytes between tail and head now (committed, not yet released)."),
		G(high_fill, "Highest head minus the producer's cached tail at a publish: an upper "
			     "bound of the fill, near capacity once capacity bytes have passed."),
		C(msgs_in, "Messages committed by the producer."),
		C(bytes_in, "Payload bytes committed by the producer."),
		C(msgs_out, "Messages released by the consumer."),
		C(bytes_out, "Payload bytes released by the consumer."),
		C(full_events, "Times the producer found the ring full."),
		C(empty_events, "Times the consumer found the ring empty."),
		C(producer_sleeps, "Futex waits entered by the producer."),
		C(consumer_sleeps, "Futex waits entered by the consumer."),
		C(producer_wakes, "Futex wakes issued by the producer."),
		C(consumer_wakes, "Futex wakes issued by the consumer."),
		C(redelivered, "Messages delivered again after a consumer takeover."),
		C(suppressed, "Sends a restarted producer made again for input already answered, "
			      "dropped instead of delivered twice."),
		C(skipped, "Redelivered messages a restarted consumer's checkpoint already "
			   "covered, skipped."),
#undef C
#undef G
	};
	for (size_t j = 0; j < sizeof(m) / sizeof(m[0]); j++) {
		fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", m[j].name, m[j].help, m[j].name, m[j].type);
		for (size_t t = 0; t < n; t++)
			for (size_t i = 0; i < v[t].nr; i++) {
				if (!v[t].r[i].ok)
					continue;
				uint64_t x = *(const uint64_t *)((const char *)&v[t].r[i].st + m[j].off);
				fputs(m[j].name, o);
				prom_labels(o, v[t].name, "ring", v[t].r[i].label);
				fprintf(o, " %llu\n", (unsigned long long)x);
			}
	}
	print_prom_kernels(o, v, n);
	print_prom_kernel_metrics(o, v, n);
	print_prom_kernel_notes(o, v, n);
}

/* ---- modes ---- */

/* "topology 'X' (held by pid P): why", for a segment topo_scan could not read. */
static void unreadable_line(char *b, size_t cap, const struct topo_unreadable *u)
{
	char others[48] = "";
	if (u->holders > 1)
		snprintf(others, sizeof(others), " and %u other process%s", u->holders - 1,
			 u->holders > 2 ? "es" : "");
	snprintf(b, cap, "topology '%s' (held by pid %d%s): %s", u->name, (int)u->pid, others, u->why);
}

/* Everything one listing shows: running topologies sampled, named rings,
 * and what could not be read (each already said on stderr, counted in bad). */
struct listing {
	struct running_topo *rt;
	struct topo_unreadable *ub;
	struct named *nm;
	struct sample *v;
	size_t n, nu, ns, ntopo;
	int nn, bad;
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->ns; i++)
		free_sample(&l->v[i]);
	free(l->v);
	free(l->nm);
	free(l->rt);
	free(l->ub);
}

/* Scan and sample: 0, or the exit code after one line. */
static int listing_gather(struct listing *l)
{
	memset(l, 0, sizeof(*l));
	int rc = topo_scan(NULL, &l->rt, &l->n, &l->ub, &l->nu);
	if (rc < 0) {
		fprintf(stderr, "shmring-stat: cannot read /proc: %s\n", strerror(-rc));
		return 111;
	}
	if ((l->nn = list_named(&l->nm)) < 0 ||
	    !(l->v = calloc(l->n + (size_t)l->nn + 1, sizeof(*l->v)))) {
		fprintf(stderr, "shmring-stat: out of memory\n");
		l->nn = 0;
		listing_free(l);
		return 111;
	}
	char err[512];
	for (size_t i = 0; i < l->nu; i++) {
		unreadable_line(err, sizeof(err), &l->ub[i]);
		fprintf(stderr, "shmring-stat: %s\n", err);
		l->bad++;
	}
	for (size_t i = 0; i < l->n; i++) {
		int r = sample_topology(&l->rt[i], &l->v[l->ns], err, sizeof(err));
		if (r == 0)
			l->ns++;
		else if (r == -1) { /* -2: it ended since the scan, and is no more */
			fprintf(stderr, "shmring-stat: %s\n", err);
			l->bad++;
		}
	}
	l->ntopo = l->ns;
	return 0;
}

static void print_prom_all(struct listing *l)
{
	char err[512];
	for (int i = 0; i < l->nn; i++) {
		if (sample_named(l->nm[i].name, &l->v[l->ns], err, sizeof(err)) == 0) {
			l->ns++;
		} else {
			fprintf(stderr, "shmring-stat: %s\n", err);
			l->bad++;
		}
	}
	print_prom(stdout, l->v, l->ns);
	printf("# HELP shmring_stat_unreadable Topologies and named rings shmring-stat could "
	       "not read (each named on its stderr).\n"
	       "# TYPE shmring_stat_unreadable gauge\nshmring_stat_unreadable %d\n", l->bad);
}

static void print_topologies(const struct listing *l, enum fmt fmt)
{
	if (fmt == FMT_JSON)
		printf("{\"topologies\":[");
	else if (l->ntopo)
		printf("%-32s %10s %-9s %8s %7s %6s\n", "TOPOLOGY", "SUPERVISOR", "STATE", "UPTIME",
		       "KERNELS", "RINGS");
	for (size_t i = 0; i < l->ntopo; i++) {
		const struct sample *s = &l->v[i];
		char up[32];
		uptime_h(up, sizeof(up), s->started_ns);
		if (fmt == FMT_JSON) {
			printf("%s{\"topology\":", i ? "," : "");
			json_str(stdout, s->name);
			printf(",\"supervisor_pid\":%d,\"state\":\"%s\",\"started_ns\":%llu,\"kernels\":%zu,"
			       "\"rings\":%zu}", s->supervisor, topo_state(s->state),
			       (unsigned long long)s->started_ns, s->nk, s->nr);
		} else {
			printf("%-32s %10d %-9s %8s %7zu %6zu\n", s->name, s->supervisor,
			       topo_state(s->state), up, s->nk, s->nr);
		}
	}
}

/* One named ring, as a JSON object or a table row of width w. 0, or 1 when
 * it could not be read. */
static int print_named_one(const struct named *nm, enum fmt fmt, int first, int w, int wide)
{
	struct shmring *h;
	struct shmring_stats st = { 0 };
	int nc; /* a broadcast ring's consumers (its slowest one is shown) */
	char why[300] = "", name[SHMRING_NAME_MAX + 1];
	int ok = attach_named(nm->name, &h, &nc, why, sizeof(why)) == 0;
	if (ok) {
		shmring_stats(h, &st);
		shmring_detach(h);
	}
	const char *status = !ok ? "unreadable" : nm->used ? "in use" : "stale";
	if (fmt == FMT_JSON) {
		printf("%s{\"ring\":", first ? "" : ",");
		json_str(stdout, nm->name);
		printf(",\"status\":\"%s\"", status);
		if (!ok) {
			printf(",\"error\":");
			json_str(stdout, why);
		}
		printf(",\"producer_pid\":%d,\"consumer_pid\":%d,\"capacity\":%llu,\"fill\":%llu",
		       (int)st.producer_pid, (int)st.consumer_pid, (unsigned long long)st.capacity,
		       (unsigned long long)st.fill);
		if (nc > 0)
			printf(",\"broadcast_consumers\":%d", nc);
		printf("}");
		return !ok;
	}
	fit(name, nm->name, (size_t)w);
	if (!ok) {
		printf("%-*s %s: %s\n", w, name, status, why);
		return 1;
	}
	char cap[16], fill[16];
	num6(cap, sizeof(cap), (double)st.capacity, 1);
	num6(fill, sizeof(fill), (double)st.fill, 1);
	char kind[48] = "";
	if (nc > 0) /* CONS and FILL are its slowest consumer's */
		snprintf(kind, sizeof(kind), ", broadcast to %d", nc);
	printf("%-*s %7d %7d %6s %6s  %s%s%s\n", w, name, (int)st.producer_pid,
	       (int)st.consumer_pid, cap, fill, status, kind,
	       nm->used ? "" : wide ? " (no process uses it: shmring-stat --clean removes it)"
				 : " (--clean)");
	return 0;
}

static void print_named(struct listing *l, enum fmt fmt, int wide)
{
	int w = NAMED_W;
	for (int i = 0; wide && i < l->nn; i++)
		if ((int)strlen(l->nm[i].name) > w)
			w = (int)strlen(l->nm[i].name);
	if (fmt == FMT_JSON)
		printf("],\"named_rings\":[");
	else if (l->nn)
		printf("%s%-*s %7s %7s %6s %6s  %s\n", l->ntopo ? "\n" : "", w, "NAMED RING", "PROD",
		       "CONS", "CAP", "FILL", "STATUS");
	for (int i = 0; i < l->nn; i++)
		l->bad += print_named_one(&l->nm[i], fmt, i == 0, w, wide);
}

static void print_unreadable_json(const struct listing *l)
{
	printf("],\"unreadable\":[");
	for (size_t i = 0; i < l->nu; i++) {
		printf("%s{\"topology\":", i ? "," : "");
		json_str(stdout, l->ub[i].name);
		printf(",\"pid\":%d,\"error\":", (int)l->ub[i].pid);
		json_str(stdout, l->ub[i].why);
		putchar('}');
	}
	printf("]}\n");
}

static int list_all(enum fmt fmt, int wide)
{
	struct listing l;
	int rc = listing_gather(&l);
	if (rc)
		return rc;
	if (fmt == FMT_PROM) {
		print_prom_all(&l);
	} else {
		print_topologies(&l, fmt);
		print_named(&l, fmt, wide);
		if (fmt == FMT_JSON)
			print_unreadable_json(&l);
		else if (!l.ntopo && !l.nn)
			printf(l.bad ? "(no readable topology, no named ring)\n"
				     : "(no running topology, no named ring)\n");
	}
	listing_free(&l);
	return l.bad ? 1 : 0;
}

/* Remove the named rings no process uses: every one, or only names[0..n). */
static int clean(char **names, int n)
{
	struct named *nm;
	int nn = list_named(&nm), removed = 0, refused = 0;
	if (nn < 0) {
		fprintf(stderr, "shmring-stat: out of memory\n");
		return 111;
	}
	for (int j = 0; j < n; j++) {
		struct named key;
		snprintf(key.name, sizeof(key.name), "%s", names[j]);
		if (strlen(names[j]) > SHMRING_NAME_MAX ||
		    !bsearch(&key, nm, (size_t)nn, sizeof(*nm), by_name)) {
			fprintf(stderr, "shmring-stat: no named ring '%s' (/dev/shm/shmring.%s)\n",
				names[j], names[j]);
			refused++;
		}
	}
	for (int i = 0; i < nn; i++) {
		int j = 0;
		while (j < n && strcmp(names[j], nm[i].name))
			j++;
		if (n && j == n)
			continue;
		if (nm[i].uid != getuid()) {
			fprintf(stderr, "shmring-stat: not removing '%s': it belongs to uid %d\n",
				nm[i].name, (int)nm[i].uid);
			refused++;
			continue;
		}
		if (nm[i].used) {
			printf("kept    %s (in use)\n", nm[i].name);
			continue;
		}
		if (shmring_unlink(nm[i].name) == 0) {
			printf("removed %s\n", nm[i].name);
			removed++;
		}
	}
	free(nm);
	printf("%d removed; running topologies hold no names and never need cleaning\n", removed);
	return refused ? 1 : 0;
}

static struct termios saved_tty;
static int tty_raw;
static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void restore_tty(void)
{
	if (tty_raw)
		tcsetattr(0, TCSANOW, &saved_tty);
	tty_raw = 0;
}

/* Wait ms; in a watch, a q on stdin quits. Stdin is polled until it ends or
 * fails (a watch under cron, nohup or </dev/null has it at end of file from
 * the start: polling it then returns at once, every time), and whatever it
 * brings, the wait runs its full length. */
static void pause_ms(int ms, int watch)
{
	static int stdin_live = 1;
	uint64_t end = smr_clock_ns(CLOCK_MONOTONIC) + (uint64_t)ms * 1000000ull;
	for (uint64_t now; !quit && (now = smr_clock_ns(CLOCK_MONOTONIC)) < end;) {
		struct pollfd p = { .fd = watch && stdin_live ? 0 : -1, .events = POLLIN };
		if (poll(&p, 1, (int)((end - now + 999999) / 1000000)) <= 0)
			continue; /* time is up, or a signal: the loop checks both */
		char c;
		ssize_t r = p.revents & POLLIN ? read(0, &c, 1) : 0;
		if (r == 1 && (c == 'q' || c == 'Q'))
			quit = 1;
		else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			stdin_live = 0; /* end of file, hung up, closed or failing */
	}
}

/* A sample of topology or named ring NAME: 0, or -1 (-2: the topology
 * ended) with one line in err. */
static int sample_by_name(const char *name, struct sample *s, char *err, size_t cap)
{
	struct running_topo *rt;
	struct topo_unreadable *ub;
	size_t n, nu;
	int rc = topo_scan(name, &rt, &n, &ub, &nu);
	if (rc < 0) {
		snprintf(err, cap, "cannot read /proc: %s", strerror(-rc));
		return -1;
	}
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm/shmring.%s", name);
	if (n)
		rc = sample_topology(&rt[0], s, err, cap);
	else if (nu)
		unreadable_line(err, cap, &ub[0]), rc = -1;
	else if (access(path, F_OK) == 0)
		rc = sample_named(name, s, err, cap);
	else
		snprintf(err, cap, "no running topology or named ring called '%s': shmring-stat "
			 "without arguments lists them", name), rc = -1;
	free(rt);
	free(ub);
	return rc;
}

static int show(const char *name, enum fmt fmt, int wide, int watch, double interval)
{
	struct sample prev = { 0 }, cur;
	char err[512];
	int first = 1;
	int tty = isatty(1);
	if (watch && isatty(0)) {
		struct termios t;
		if (tcgetattr(0, &saved_tty) == 0) {
			t = saved_tty;
			t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
			t.c_cc[VMIN] = 0;
			t.c_cc[VTIME] = 0;
			if (tcsetattr(0, TCSANOW, &t) == 0)
				tty_raw = 1;
		}
	}
	atexit(restore_tty);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* Rates need two samples; Prometheus shows none, so one is enough. */
	int rated = watch || fmt != FMT_PROM;
	if (rated && sample_by_name(name, &prev, err, sizeof(err)) < 0) {
		fprintf(stderr, "shmring-stat: %s\n", err);
		return 1;
	}
	for (;;) {
		if (rated)
			pause_ms((int)(interval * 1000), watch);
		if (quit)
			break;
		if (sample_by_name(name, &cur, err, sizeof(err)) < 0) {
			if (!first || !watch)
				fprintf(stderr, "shmring-stat: %s\n", err);
			free_sample(&prev);
			return watch && !first ? 0 : 1;
		}
		if (watch && tty && fmt == FMT_TEXT)
			fputs("\033[H\033[2J", stdout); /* home, clear: redraw in place */
		if (fmt == FMT_JSON)
			print_json(stdout, &cur, &prev);
		else if (fmt == FMT_PROM)
			print_prom(stdout, &cur, 1);
		else
			print_text(stdout, &cur, &prev, wide);
		if (watch && fmt == FMT_TEXT)
			printf("\n(every %g s; q quits)\n", interval);
		fflush(stdout);
		free_sample(&prev);
		prev = cur;
		first = 0;
		if (!watch)
			break;
	}
	free_sample(&prev);
	return 0;
}

/* Seconds, 0.05 to 3600, in plain decimal (no hex, inf or nan). */
static int parse_seconds(const char *s, double *out)
{
	char *end;
	if (!*s || s[strspn(s, "0123456789.eE+-")])
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno || !(v >= 0.05 && v <= 3600))
		return -1;
	*out = v;
	return 0;
}

/* Is this argument meant as a number (so, after --watch, its interval)?
 * Topology names are letters, digits, '_' and '-': one starting with a
 * digit goes before --watch. */
static int numeric_arg(const char *a)
{
	if (*a == '-' || *a == '+')
		a++;
	return (*a >= '0' && *a <= '9') || *a == '.';
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	/* NAMEs (one to show, any number to --clean), gathered at the front of
	 * argv: entry 1 + nnames was already read when argv[i] moves there. */
	char **names = argv + 1;
	int nnames = 0;
	enum fmt fmt = FMT_TEXT;
	int watch = 0, do_clean = 0, wide = 0;
	double interval = 0.5, every = 1.0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(USAGE, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			fmt = FMT_JSON;
		} else if (!strcmp(a, "--prometheus")) {
			fmt = FMT_PROM;
		} else if (!strcmp(a, "--wide") || !strcmp(a, "-w")) {
			wide = 1;
		} else if (!strcmp(a, "--clean")) {
			do_clean = 1;
		} else if (!strcmp(a, "--watch") || !strncmp(a, "--watch=", 8)) {
			watch = 1;
			const char *v = a[7] == '=' ? a + 8
				      : i + 1 < argc && numeric_arg(argv[i + 1]) ? argv[++i] : NULL;
			if (v && parse_seconds(v, &every) < 0) {
				fprintf(stderr, "shmring-stat: --watch takes seconds, 0.05 to 3600, not "
					"'%s'%s\n", v, a[7] == '=' ? "" :
					" (a NAME starting with a digit goes before --watch)");
				return 100;
			}
		} else if (!strcmp(a, "--interval") || !strncmp(a, "--interval=", 11)) {
			const char *v = a[10] == '=' ? a + 11 : i + 1 < argc ? argv[++i] : NULL;
			if (!v || parse_seconds(v, &interval) < 0) {
				fprintf(stderr, "shmring-stat: --interval takes seconds, 0.05 to 3600%s%s%s\n",
					v ? ", not '" : "", v ? v : "", v ? "'" : "");
				return 100;
			}
		} else if (a[0] != '-') {
			names[nnames++] = argv[i];
		} else {
			fprintf(stderr, "shmring-stat: unexpected argument '%s'\n%s", a, USAGE);
			return 100;
		}
	}
	if (do_clean)
		return watch || fmt != FMT_TEXT ? (fputs(USAGE, stderr), 100) : clean(names, nnames);
	if (nnames > 1) {
		fprintf(stderr, "shmring-stat: unexpected argument '%s'\n%s", names[1], USAGE);
		return 100;
	}
	name = nnames ? names[0] : NULL;
	if (!name) {
		if (watch) {
			fprintf(stderr, "shmring-stat: --watch needs a topology NAME\n");
			return 100;
		}
		return list_all(fmt, wide);
	}
	return show(name, fmt, wide, watch, watch ? every : interval);
}
