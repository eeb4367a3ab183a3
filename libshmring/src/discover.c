/* SPDX-License-Identifier: MIT */
/* Finding running topologies through /proc: see private/discover.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "discover.h"
#include "proc.h"

static int numeric(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

int smr_open_proc_fd(pid_t pid, int fd_no)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd_no);
	/* Non-blocking, then a regular file or nothing: the number may come
	 * from shared memory or have been reused since the scan, and opening a
	 * FIFO without a writer would block. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADF;
	}
	return fd;
}

int topo_open_control(const struct running_topo *rt)
{
	return smr_open_proc_fd(rt->pid, rt->fd);
}

/*
 * Calls fn for every descriptor in /proc/ * /fd that links to a memfd named
 * SHMRING_CTL_MEMFD_PREFIX "NAME", with NAME as the kernel shows it (without
 * the " (deleted)" every memfd link ends with). fn returns 0 to go on, or a
 * negative errno that ends the walk and is returned.
 */
typedef int (*ctl_fd_fn)(void *ctx, pid_t pid, int fd, const char *name);

static int each_control_fd(ctl_fd_fn fn, void *ctx)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return -errno;
	static const char prefix[] = "/memfd:" SHMRING_CTL_MEMFD_PREFIX, deleted[] = " (deleted)";
	const size_t plen = sizeof(prefix) - 1, dlen = sizeof(deleted) - 1;
	int rc = 0;
	struct dirent *pe;
	while (!rc && (pe = readdir(proc))) {
		if (!numeric(pe->d_name))
			continue;
		char dpath[300];
		snprintf(dpath, sizeof(dpath), "/proc/%s/fd", pe->d_name);
		DIR *fds = opendir(dpath);
		if (!fds)
			continue; /* another user's, or gone */
		struct dirent *fe;
		while (!rc && (fe = readdir(fds))) {
			if (!numeric(fe->d_name))
				continue;
			/* memfd names are at most 249 bytes: PATH_MAX holds any link */
			char lpath[600], target[PATH_MAX];
			snprintf(lpath, sizeof(lpath), "%s/%s", dpath, fe->d_name);
			ssize_t n = readlink(lpath, target, sizeof(target) - 1);
			if (n <= (ssize_t)plen)
				continue;
			target[n] = '\0';
			if (strncmp(target, prefix, plen))
				continue;
			if ((size_t)n >= plen + dlen && !strcmp(target + n - dlen, deleted))
				target[n - dlen] = '\0';
			if (target[plen])
				rc = fn(ctx, (pid_t)atoi(pe->d_name), atoi(fe->d_name), target + plen);
		}
		closedir(fds);
	}
	closedir(proc);
	return rc;
}

/* ---- topo_scan: every segment, the unreadable ones explained ---- */

/* One descriptor of a segment; a segment is held by its supervisor and by
 * every kernel it started (inherited), so several share one inode. */
struct holder {
	pid_t pid;
	int fd;
	int err; /* errno of stat() on the link; 0 */
	dev_t dev;
	ino_t ino;
	int long_name; /* longer than a topology name may be */
	char name[sizeof(((struct topo_unreadable *)0)->name)];
};

struct scan {
	const char *name;
	struct holder *h;
	size_t n, cap;
	struct running_topo *ok;
	size_t nok, capok;
	struct topo_unreadable *bad;
	size_t nbad, capbad;
};

/* v, or v moved, with room for element n (of size bytes); NULL without
 * memory, v untouched. */
static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(v, c * size);
	if (p)
		*cap = c;
	return p;
}

/* NAME into out (cap bytes), the middle replaced by '~' if it is longer. */
static void shorten(char *out, size_t cap, const char *name)
{
	size_t len = strlen(name);
	if (len < cap) {
		memcpy(out, name, len + 1);
		return;
	}
	size_t tail = (cap - 2) / 3, head = cap - 2 - tail;
	memcpy(out, name, head);
	out[head] = '~';
	memcpy(out + head + 1, name + len - tail, tail + 1);
}

static int add_holder(void *p, pid_t pid, int fd, const char *nm)
{
	struct scan *s = p;
	if (s->name && strcmp(s->name, nm))
		return 0;
	struct holder h = { .pid = pid, .fd = fd, .long_name = strlen(nm) >= SHMRING_CTL_NAME };
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if (stat(path, &st) == 0) {
		h.dev = st.st_dev;
		h.ino = st.st_ino;
	} else if (errno == ENOENT || errno == ESRCH) {
		return 0; /* closed, or the process ended, since readdir */
	} else {
		h.err = errno;
	}
	shorten(h.name, sizeof(h.name), nm);
	struct holder *v = grow(s->h, &s->cap, s->n, sizeof(*s->h));
	if (!v)
		return -ENOMEM;
	s->h = v;
	s->h[s->n++] = h;
	return 0;
}

/* Segments together (one inode), each segment's holders by pid; a holder
 * that could not be looked at stands alone, last. */
static int by_segment(const void *a, const void *b)
{
	const struct holder *x = a, *y = b;
	if (!!x->err != !!y->err)
		return x->err ? 1 : -1;
	if (x->err)
		return x->pid < y->pid ? -1 : x->pid > y->pid;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

enum seg { SEG_OK, SEG_CREATING, SEG_BAD, SEG_GONE };

/*
 * Reads the header of the segment held by g[0..k) and checks all of it.
 * SEG_OK with the supervisor's pid and the topology's name; SEG_CREATING
 * (sized 0 or still all zero: the supervisor is writing it); SEG_BAD with
 * the problem and what to do in why; SEG_GONE when no holder has it now.
 */
static enum seg read_segment(const struct holder *g, size_t k, pid_t *sup, char *name,
			     char *why, size_t cap)
{
	int fd = -ENOENT;
	size_t m;
	for (m = 0; m < k; m++) {
		struct running_topo rt = { .pid = g[m].pid, .fd = g[m].fd };
		fd = topo_open_control(&rt);
		if (fd != -ENOENT && fd != -ESRCH)
			break;
	}
	if (m == k)
		return SEG_GONE;
	if (fd < 0) {
		struct stat st;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)g[m].pid, g[m].fd);
		if ((fd == -EACCES || fd == -EPERM) && stat(path, &st) == 0)
			snprintf(why, cap, "cannot read its control segment: it belongs to uid %d "
				 "(mode %04o); run shmring-stat as that user, or as root",
				 (int)st.st_uid, (unsigned)(st.st_mode & 07777));
		else
			snprintf(why, cap, "cannot open its control segment %s: %s", path, strerror(-fd));
		return SEG_BAD;
	}
	struct smr_ctl c;
	int rc = smr_ctl_attach(fd, SMR_CTL_READ, "its control segment", &c, why, cap);
	close(fd);
	if (rc == -EAGAIN)
		return SEG_CREATING;
	if (rc < 0)
		return SEG_BAD;
	*sup = (pid_t)(c.supervisor >> 32);
	memcpy(name, c.name, SHMRING_CTL_NAME); /* a checked copy */
	smr_ctl_detach(&c);
	return SEG_OK;
}

static int add_bad(struct scan *s, const struct holder *g, size_t k, const char *why)
{
	struct topo_unreadable *v = grow(s->bad, &s->capbad, s->nbad, sizeof(*s->bad));
	if (!v)
		return -ENOMEM;
	s->bad = v;
	struct topo_unreadable *b = &s->bad[s->nbad++];
	memset(b, 0, sizeof(*b));
	b->pid = g[0].pid; /* sorted: the lowest */
	b->fd = g[0].fd;
	b->holders = (unsigned)k;
	memcpy(b->name, g[0].name, sizeof(b->name));
	snprintf(b->why, sizeof(b->why), "%s", why);
	return 0;
}

static uint64_t mono_ms(void)
{
	return smr_clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

/* One segment, held by g[0..k). */
static int judge(struct scan *s, const struct holder *g, size_t k, uint64_t deadline)
{
	char why[320];
	if (g[0].long_name) {
		snprintf(why, sizeof(why), "a memfd named like a control segment, but longer than "
			 "a topology name may be (%u bytes): not a shmring topology",
			 SHMRING_CTL_NAME - 1);
		return add_bad(s, g, k, why);
	}
	if (g[0].err) {
		snprintf(why, sizeof(why), "cannot look at its control segment /proc/%d/fd/%d: %s",
			 (int)g[0].pid, g[0].fd, strerror(g[0].err));
		return add_bad(s, g, k, why);
	}
	pid_t sup = 0;
	char name[SHMRING_CTL_NAME] = "";
	enum seg r;
	/* A supervisor sizes, fills, then publishes the segment in microseconds;
	 * one still not published after a second is stuck or abandoned. */
	while ((r = read_segment(g, k, &sup, name, why, sizeof(why))) == SEG_CREATING &&
	       mono_ms() < deadline) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	switch (r) {
	case SEG_GONE:
		return 0;
	case SEG_CREATING:
		snprintf(why, sizeof(why), "its control segment is still not initialised after a "
			 "second: its supervisor is stuck or died while creating it; end it and "
			 "start the topology again");
		return add_bad(s, g, k, why);
	case SEG_BAD:
		return add_bad(s, g, k, why);
	case SEG_OK:
		break;
	}
	if (strcmp(name, g[0].name)) {
		snprintf(why, sizeof(why), "its control segment names topology '%s': corrupt; end "
			 "its supervisor and restart the topology", name);
		return add_bad(s, g, k, why);
	}
	for (size_t m = 0; m < k; m++) {
		if (g[m].pid != sup)
			continue;
		struct running_topo *v = grow(s->ok, &s->capok, s->nok, sizeof(*s->ok));
		if (!v)
			return -ENOMEM;
		s->ok = v;
		struct running_topo *rt = &s->ok[s->nok++];
		*rt = (struct running_topo){ .pid = sup, .fd = g[m].fd };
		memcpy(rt->name, name, sizeof(rt->name));
		return 0;
	}
	return 0; /* its supervisor is gone; the kernels still holding it are exiting */
}

int topo_scan(const char *name, struct running_topo **ok, size_t *nok,
	      struct topo_unreadable **bad, size_t *nbad)
{
	struct scan s = { .name = name };
	int rc = each_control_fd(add_holder, &s);
	if (rc == 0 && s.n)
		qsort(s.h, s.n, sizeof(*s.h), by_segment);
	uint64_t deadline = mono_ms() + 1000;
	for (size_t i = 0; rc == 0 && i < s.n;) {
		size_t j = i + 1;
		while (!s.h[i].err && j < s.n && !s.h[j].err && s.h[j].dev == s.h[i].dev &&
		       s.h[j].ino == s.h[i].ino)
			j++;
		rc = judge(&s, &s.h[i], j - i, deadline);
		i = j;
	}
	free(s.h);
	if (rc < 0) {
		free(s.ok);
		free(s.bad);
		return rc;
	}
	*ok = s.ok;
	*nok = s.nok;
	*bad = s.bad;
	*nbad = s.nbad;
	return 0;
}

int topo_find_running(const char *name, struct running_topo *out, size_t max)
{
	struct running_topo *ok;
	struct topo_unreadable *bad;
	size_t nok, nbad;
	int rc = topo_scan(name, &ok, &nok, &bad, &nbad);
	if (rc < 0)
		return rc;
	if (nok)
		memcpy(out, ok, (nok < max ? nok : max) * sizeof(*out));
	free(ok);
	free(bad);
	return (int)nok;
}
