/* SPDX-License-Identifier: MIT */
/*
 * shmring-supervisor run: create the control segment and the rings, fork and
 * exec every kernel bound to its cores, activate the topology when all are
 * ready, prefix their output, restart them by policy, stop cleanly.
 *
 * One thread, one poll() loop over a signalfd (SIGCHLD, SIGINT, SIGTERM,
 * SIGHUP), an eventfd the kernels poke when their state changes, and the
 * stdout/stderr pipe of every kernel. Nothing here is named in /dev/shm: the
 * control segment and the rings are memfds, so they die with the last process
 * holding them, even when the supervisor is killed with SIGKILL (its kernels
 * get SIGKILL through PR_SET_PDEATHSIG).
 *
 * Memory ordering in the control segment: three words synchronise and are
 * paired explicitly where they are used: a kernel's `stop` (release here,
 * acquire in kernel.c and wait.c), the topology `state` + `active_seq`
 * (release here, acquire in the kernel's barrier), and a kernel's READY and
 * `finished` (release in kernel.c, acquire here). Every other store here
 * (pid, cpu, restarts, last_status, started_ns, the kernel states we set) is
 * relaxed: it is read for display by shmring-stat, nobody waits on it, and
 * a stop/finished/stop-reset before exec is ordered by fork and execve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>
#include <hwloc.h>

#include "control.h"
#include "discover.h"
#include "placement.h"
#include "run.h"
#include "supervise.h"

/* A kernel that has not reported ready this long after launch is named. */
#define READY_TIMEOUT_MS 10000u
#define LINE_MAX_BYTES 4096u
#define BIND_FAILED 0x10000 /* in the child's report: binding, not exec, failed */

struct linebuf {
	int fd;      /* read end of the kernel's stdout or stderr pipe, -1 closed */
	int to;      /* 1 or 2: where its lines go */
	size_t len;
	char buf[LINE_MAX_BYTES];
};

struct kproc {
	pid_t pid;          /* 0: not running */
	struct linebuf out, err;
	int stopping;       /* asked to stop; killed at kill_at */
	int killed;
	uint64_t kill_at;
	int pending_restart; /* start again once its restart group is down */
	int done;           /* finished, or gone for good: never started again */
	uint64_t launched_ns;
	char **argv;
};

struct sup {
	struct topology *t;
	struct topo_plan *plan;
	char **paths;
	struct kproc *k;
	size_t *order;
	struct shmring **rings;
	struct smr_ctl_header *ctl;
	struct smr_ctl_kernel *ck;
	size_t ctl_len;
	int ctl_fd, sig_fd, ev_fd;
	struct sv_intensity intensity;
	int stopping;       /* a stop of the whole topology is under way */
	int exit_code;      /* set when the end is already decided */
	int any_failed, any_killed, quiet;
	unsigned restarts;
	size_t namew;
	uint64_t t0;
	pid_t self;
	sigset_t blocked;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* one write per line, so lines from here and from kernels never mix */
	ssize_t w = write(2, line, (size_t)n);
	(void)w;
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* ---- kernel output, one prefixed line per write ---- */

static void emit(struct sup *s, size_t i, int to, const char *p, size_t n)
{
	char line[LINE_MAX_BYTES + 64];
	int w = snprintf(line, sizeof(line), "%-*s | ", (int)s->namew, s->t->kernels[i].name);
	if (w < 0)
		return;
	if (n > sizeof(line) - (size_t)w - 1)
		n = sizeof(line) - (size_t)w - 1;
	memcpy(line + w, p, n);
	line[(size_t)w + n] = '\n';
	ssize_t r = write(to, line, (size_t)w + n + 1);
	(void)r;
}

/* Read what the pipe has; print whole lines; at EOF the rest, then close. */
static void pump(struct sup *s, size_t i, struct linebuf *lb)
{
	while (lb->fd >= 0) {
		ssize_t n = read(lb->fd, lb->buf + lb->len, sizeof(lb->buf) - lb->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (lb->len)
				emit(s, i, lb->to, lb->buf, lb->len);
			lb->len = 0;
			close(lb->fd);
			lb->fd = -1;
			return;
		}
		lb->len += (size_t)n;
		size_t start = 0;
		for (size_t j = 0; j < lb->len; j++)
			if (lb->buf[j] == '\n') {
				emit(s, i, lb->to, lb->buf + start, j - start);
				start = j + 1;
			}
		if (start == 0 && lb->len == sizeof(lb->buf)) {
			emit(s, i, lb->to, lb->buf, lb->len); /* a line longer than the buffer */
			start = lb->len;
		}
		memmove(lb->buf, lb->buf + start, lb->len - start);
		lb->len -= start;
	}
}

/* ---- launching ---- */

static void describe_status(int st, char *buf, size_t cap)
{
	if (WIFEXITED(st))
		snprintf(buf, cap, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, cap, "was killed by SIG%s", sigabbrev_np(WTERMSIG(st)) ?
			 sigabbrev_np(WTERMSIG(st)) : "?");
	else
		snprintf(buf, cap, "ended (status %#x)", st);
}

static int kernel_uses_ring(const struct topology *t, size_t i, size_t r)
{
	return t->rings[r].from_kernel == i || t->rings[r].to_kernel == i;
}

static int keep_fd(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* In the child, between fork and exec: only async-signal-safe-ish work on
 * data prepared by the parent (the parent is single-threaded). */
static __attribute__((noreturn)) void child(struct sup *s, size_t i, int out, int err, int report)
{
	const struct topo_kernel *tk = &s->t->kernels[i];
	/* Own process group: the terminal's Ctrl-C reaches the supervisor only,
	 * which then stops the kernels in order. */
	setpgid(0, 0);
	/* Die with the supervisor, and close the race where it died before. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != s->self)
		_exit(127);
	int null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != 0) {
		dup2(null, 0);
		close(null);
	}
	dup2(out, 1);
	dup2(err, 2);
	keep_fd(s->ctl_fd);
	keep_fd(s->ev_fd);
	for (size_t r = 0; r < s->t->nrings; r++)
		if (kernel_uses_ring(s->t, i, r))
			keep_fd(shmring_fd(s->rings[r]));
	/* Bound before exec; the mask survives execve (FACTS.md, hwloc). */
	cpu_set_t set;
	CPU_ZERO(&set);
	for (size_t c = 0; c < s->plan->ncpus[i]; c++)
		CPU_SET(s->plan->cpus[i][c], &set);
	if (s->plan->ncpus[i] && sched_setaffinity(0, sizeof(set), &set) < 0) {
		int e = errno | BIND_FAILED;
		if (write(report, &e, sizeof(e)) < 0)
			_exit(126);
		_exit(126);
	}
	signal(SIGPIPE, SIG_DFL); /* ignored in the supervisor; not in kernels */
	sigprocmask(SIG_UNBLOCK, &s->blocked, NULL);
	char v[32];
	snprintf(v, sizeof(v), "fd:%d", s->ctl_fd);
	setenv("SHMRING_CONTROL", v, 1);
	snprintf(v, sizeof(v), "%zu", i);
	setenv("SHMRING_KERNEL", v, 1);
	unsetenv("HWLOC_SYNTHETIC"); /* a test's fake machine is not the kernel's */
	for (size_t e = 0; e < tk->nenv; e++)
		putenv(tk->env[e]);
	execv(s->paths[i], s->k[i].argv);
	int e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static int nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Fork and exec kernel i. 0, or -1 when it cannot be started at all (the
 * message is printed). */
static int spawn(struct sup *s, size_t i)
{
	struct kproc *k = &s->k[i];
	struct smr_ctl_kernel *ck = &s->ck[i];
	int po[2], pe[2], px[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		goto syserr;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		goto syserr;
	}
	if (pipe2(px, O_CLOEXEC) < 0) {
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		goto syserr;
	}
	/* Relaxed: the kernel reads these after exec, which orders them. */
	atomic_store_explicit(&ck->stop, 0u, memory_order_relaxed);
	atomic_store_explicit(&ck->finished, 0u, memory_order_relaxed);
	atomic_store_explicit(&ck->state, (uint32_t)SMR_K_LAUNCHED, memory_order_relaxed);
	atomic_store_explicit(&ck->cpu, s->plan->ncpus[i] ? s->plan->cpus[i][0] : -1,
			      memory_order_relaxed);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]), close(px[0]), close(px[1]);
		goto syserr;
	}
	if (pid == 0)
		child(s, i, po[1], pe[1], px[1]);
	close(po[1]);
	close(pe[1]);
	close(px[1]);
	/* The report pipe closes on a successful exec (CLOEXEC), or carries
	 * the errno of the failed bind or exec. */
	int e = 0;
	ssize_t n;
	do
		n = read(px[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(px[0]);
	k->out = (struct linebuf){ .fd = po[0], .to = 1 };
	k->err = (struct linebuf){ .fd = pe[0], .to = 2 };
	nonblock(po[0]);
	nonblock(pe[0]);
	k->pid = pid;
	k->stopping = k->killed = 0;
	k->launched_ns = now_ns();
	if (n == (ssize_t)sizeof(e)) {
		/* SIGCHLD will reap it; mark it gone for good now. */
		const struct topo_kernel *tk = &s->t->kernels[i];
		if (e & BIND_FAILED)
			say("shmring-supervisor: kernel '%s': cannot bind to its cpus: %s: fix cpu "
			    "at %s:%d", tk->name, strerror(e & ~BIND_FAILED), s->t->file, tk->line);
		else
			say("shmring-supervisor: kernel '%s': cannot execute %s: %s: fix exec at %s:%d",
			    tk->name, s->paths[i], strerror(e), s->t->file, tk->line);
		k->done = 1;
		s->any_failed = 1;
		return -1;
	}
	atomic_store_explicit(&ck->pid, (int32_t)pid, memory_order_relaxed);
	atomic_store_explicit(&ck->started_ns, realtime_ns(), memory_order_relaxed);
	return 0;
syserr:
	say("shmring-supervisor: cannot start kernel '%s': %s", s->t->kernels[i].name,
	    strerror(errno));
	k->done = 1;
	s->any_failed = 1;
	return -1;
}

/* ---- stopping and restarting ---- */

static void ask_stop(struct sup *s, size_t i)
{
	struct kproc *k = &s->k[i];
	if (!k->pid || k->stopping)
		return;
	k->stopping = 1;
	k->kill_at = now_ns() + s->t->grace_ms * 1000000ull;
	atomic_store_explicit(&s->ck[i].state, (uint32_t)SMR_K_STOPPING, memory_order_relaxed);
	/* Release: pairs with the kernel's acquire in should_stop / wait; then
	 * wake a kernel asleep in shmring_kernel_wait or the barrier (its
	 * futex_waitv compares the flag to 0, so a wake that comes first is
	 * not lost: the wait returns at once). */
	atomic_store_explicit(&s->ck[i].stop, 1u, memory_order_release);
	futex_wake_all(&s->ck[i].stop);
}

static void begin_stop(struct sup *s, const char *why)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	atomic_store_explicit(&s->ctl->state, (uint32_t)SMR_TOPO_STOPPING, memory_order_release);
	futex_wake_all(&s->ctl->active_seq); /* kernels still in the barrier */
	if (why && !s->quiet)
		say("shmring-supervisor: %s: stopping '%s' (grace %llu ms, then kill)", why,
		    s->t->name, (unsigned long long)s->t->grace_ms);
	for (size_t i = 0; i < s->t->nkernels; i++) {
		s->k[i].pending_restart = 0;
		ask_stop(s, i);
	}
}

static void kill_kernel(struct sup *s, size_t i)
{
	struct kproc *k = &s->k[i];
	if (!k->pid || k->killed)
		return;
	kill(-k->pid, SIGKILL); /* its process group: children of the kernel too */
	kill(k->pid, SIGKILL);
	k->killed = 1;
}

/* A kernel gone for good closes nothing itself: close its ring ends for it,
 * by taking its dead role over, so its consumers read end of stream after
 * what it committed and its producers see -EPIPE instead of waiting. */
static void close_ends_of(struct sup *s, size_t i)
{
	for (size_t r = 0; r < s->t->nrings; r++) {
		const struct topo_ring *tr = &s->t->rings[r];
		enum shmring_role role = tr->from_kernel == i ? SHMRING_ROLE_PRODUCER
				       : tr->to_kernel == i ? SHMRING_ROLE_CONSUMER : SHMRING_ROLE_NONE;
		if (role == SHMRING_ROLE_NONE)
			continue;
		char where[32];
		struct shmring *h;
		snprintf(where, sizeof(where), "fd:%d", shmring_fd(s->rings[r]));
		if (shmring_attach(where, role, &h) == 0) {
			shmring_close(h);
			shmring_detach(h);
		}
	}
}

static void respawn_group(struct sup *s)
{
	for (size_t i = 0; i < s->t->nkernels; i++)
		if (s->k[i].pending_restart && s->k[i].pid)
			return; /* wait until every member is down */
	for (size_t j = 0; j < s->t->nkernels; j++) {
		size_t i = s->order[j];
		if (!s->k[i].pending_restart)
			continue;
		s->k[i].pending_restart = 0;
		atomic_fetch_add_explicit(&s->ck[i].restarts, 1u, memory_order_relaxed);
		s->restarts++;
		if (spawn(s, i) < 0)
			close_ends_of(s, i);
	}
}

static void handle_exit(struct sup *s, size_t i, int status)
{
	struct kproc *k = &s->k[i];
	const struct topo_kernel *tk = &s->t->kernels[i];
	pump(s, i, &k->out); /* what it wrote before dying comes first */
	pump(s, i, &k->err);
	k->pid = 0;
	atomic_store_explicit(&s->ck[i].pid, 0, memory_order_relaxed);
	atomic_store_explicit(&s->ck[i].last_status, status, memory_order_relaxed);
	/* Acquire: pairs with the kernel's release of finished, after its
	 * closes. */
	if (k->done) {
		/* Already gone for good (it could not be started: bind or exec
		 * failed and spawn said so); nothing more to decide. */
		k->stopping = 0;
		atomic_store_explicit(&s->ck[i].state, (uint32_t)SMR_K_DONE, memory_order_relaxed);
		return;
	}
	int finished = atomic_load_explicit(&s->ck[i].finished, memory_order_acquire) != 0;
	enum sv_exit how = sv_classify(status, finished);
	char what[64];
	describe_status(status, what, sizeof(what));
	if (k->stopping) {
		/* We asked: for the whole topology's stop, or for a sibling's
		 * restart (pending_restart then brings it back). */
		k->stopping = 0;
		if (k->killed && !s->quiet)
			say("shmring-supervisor: kernel '%s' did not stop within the grace period "
			    "(%llu ms): killed; make it check shmring_kernel_should_stop() or use "
			    "shmring_kernel_wait()", tk->name, (unsigned long long)s->t->grace_ms);
		if (k->killed && s->stopping)
			s->any_killed = 1;
		if (how == SV_FINISHED && !s->stopping)
			k->pending_restart = 0, k->done = 1;
		atomic_store_explicit(&s->ck[i].state, (uint32_t)(k->done ? SMR_K_DONE : SMR_K_EXITED),
				      memory_order_relaxed);
		if (!s->stopping)
			respawn_group(s);
		return;
	}
	if (s->stopping) {
		atomic_store_explicit(&s->ck[i].state, (uint32_t)SMR_K_EXITED, memory_order_relaxed);
		return;
	}
	if (how == SV_FINISHED || !sv_should_restart(tk->restart, how)) {
		k->done = 1;
		atomic_store_explicit(&s->ck[i].state, (uint32_t)SMR_K_DONE, memory_order_relaxed);
		if (how == SV_FAILED) {
			s->any_failed = 1;
			say("shmring-supervisor: kernel '%s' %s; restart: %s, so it stays down "
			    "(its rings are closed)", tk->name, what,
			    tk->restart == TOPO_TEMPORARY ? "temporary" : "transient");
		} else if (how == SV_NORMAL && !s->quiet) {
			say("shmring-supervisor: kernel '%s' exited without finishing "
			    "(no shmring_kernel_detach); restart: %s, so it stays down",
			    tk->name, tk->restart == TOPO_TEMPORARY ? "temporary" : "transient");
		}
		if (how != SV_FINISHED)
			close_ends_of(s, i);
		return;
	}
	uint64_t now = now_ns();
	if (sv_intensity_record(&s->intensity, now)) {
		say("shmring-supervisor: kernel '%s' %s: restart intensity reached (more than %u "
		    "restarts within %llu ms): fix the crash, or raise supervision.intensity / "
		    "period in %s", tk->name, what, s->t->intensity,
		    (unsigned long long)s->t->period_ms, s->t->file);
		s->exit_code = RUN_INTENSITY;
		begin_stop(s, NULL);
		return;
	}
	static const char *const strategy[] = { "one_for_one", "one_for_all", "rest_for_one" };
	if (!s->quiet)
		say("shmring-supervisor: kernel '%s' %s: restarting (%s; %u of at most %u restarts "
		    "within %llu ms)", tk->name, what, strategy[s->t->strategy],
		    sv_intensity_recent(&s->intensity, now), s->t->intensity,
		    (unsigned long long)s->t->period_ms);
	int *done = calloc(s->t->nkernels, sizeof(int));
	int *member = calloc(s->t->nkernels, sizeof(int));
	if (!done || !member) {
		free(done);
		free(member);
		s->exit_code = RUN_SYSTEM;
		begin_stop(s, "out of memory");
		return;
	}
	for (size_t j = 0; j < s->t->nkernels; j++)
		done[j] = s->k[j].done;
	sv_restart_set(s->t->strategy, s->t->nkernels, s->order, done, i, member);
	for (size_t j = 0; j < s->t->nkernels; j++)
		if (member[j]) {
			s->k[j].pending_restart = 1;
			ask_stop(s, j);
		}
	free(done);
	free(member);
	atomic_store_explicit(&s->ck[i].state, (uint32_t)SMR_K_EXITED, memory_order_relaxed);
	respawn_group(s);
}

static void reap(struct sup *s)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (size_t i = 0; i < s->t->nkernels; i++)
			if (s->k[i].pid == pid) {
				handle_exit(s, i, st);
				break;
			}
}

/* Every kernel that is to run is READY: let them all go. */
static void maybe_activate(struct sup *s)
{
	if (atomic_load_explicit(&s->ctl->state, memory_order_relaxed) != SMR_TOPO_STARTING)
		return;
	for (size_t i = 0; i < s->t->nkernels; i++) {
		if (s->k[i].done)
			continue;
		/* Acquire: pairs with the kernel's release of READY, after its
		 * ports were attached. */
		uint32_t st = atomic_load_explicit(&s->ck[i].state, memory_order_acquire);
		if (!s->k[i].pid || st != SMR_K_READY)
			return;
	}
	/* Release state, then bump the futex word and wake: a kernel that
	 * loaded the old seq before our bump sees its FUTEX_WAIT fail at once. */
	atomic_store_explicit(&s->ctl->state, (uint32_t)SMR_TOPO_ACTIVE, memory_order_release);
	atomic_fetch_add_explicit(&s->ctl->active_seq, 1u, memory_order_release);
	futex_wake_all(&s->ctl->active_seq);
	if (!s->quiet)
		say("shmring-supervisor: '%s' active: %zu kernels, %zu rings (%.1f ms to launch)",
		    s->t->name, s->t->nkernels, s->t->nrings, (double)(now_ns() - s->t0) / 1e6);
}

static int all_down(const struct sup *s)
{
	for (size_t i = 0; i < s->t->nkernels; i++)
		if (s->k[i].pid || s->k[i].pending_restart)
			return 0;
	return 1;
}

/* ---- set-up ---- */

static int make_control(struct sup *s)
{
	const struct topology *t = s->t;
	char name[64];
	snprintf(name, sizeof(name), SHMRING_CTL_MEMFD_PREFIX "%s", t->name);
	s->ctl_len = smr_ctl_size((uint32_t)t->nkernels, (uint32_t)t->nrings);
	s->ctl_fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->ctl_fd < 0 || fchmod(s->ctl_fd, 0600) < 0 ||
	    ftruncate(s->ctl_fd, (off_t)s->ctl_len) < 0)
		return -errno;
	fcntl(s->ctl_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	void *m = mmap(NULL, s->ctl_len, PROT_READ | PROT_WRITE, MAP_SHARED, s->ctl_fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	s->ctl = m;
	struct smr_ctl_header *h = m;
	h->size = (uint32_t)s->ctl_len;
	h->magic = SHMRING_CTL_MAGIC;
	h->supervisor = (uint64_t)(uint32_t)s->self << 32;
	h->started_ns = realtime_ns();
	h->nkernels = (uint32_t)t->nkernels;
	h->nrings = (uint32_t)t->nrings;
	h->event_fd = s->ev_fd;
	atomic_store_explicit(&h->state, (uint32_t)SMR_TOPO_STARTING, memory_order_relaxed);
	snprintf(h->name, sizeof(h->name), "%s", t->name);
	s->ck = smr_ctl_kernels(h);
	for (size_t i = 0; i < t->nkernels; i++) {
		snprintf(s->ck[i].name, sizeof(s->ck[i].name), "%s", t->kernels[i].name);
		atomic_store_explicit(&s->ck[i].last_status, -1, memory_order_relaxed);
		atomic_store_explicit(&s->ck[i].cpu, -1, memory_order_relaxed);
	}
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	for (size_t r = 0; r < t->nrings; r++) {
		const struct topo_ring *tr = &t->rings[r];
		cr[r].from_kernel = (uint32_t)tr->from_kernel;
		cr[r].to_kernel = (uint32_t)tr->to_kernel;
		snprintf(cr[r].from_port, sizeof(cr[r].from_port), "%s", tr->from_port);
		snprintf(cr[r].to_port, sizeof(cr[r].to_port), "%s", tr->to_port);
		cr[r].fd = shmring_fd(s->rings[r]);
		cr[r].wait = (uint32_t)tr->wait;
		cr[r].capacity = shmring_capacity(s->rings[r]);
	}
	/* Release: every field above before the version that says "ready". */
	atomic_store_explicit(&h->version, SHMRING_CTL_VERSION, memory_order_release);
	return 0;
}

/* Ring memory on the consumer's NUMA node: a shared policy on the memfd's
 * pages, set through a mapping of our own before any data page is touched. */
static void bind_ring_memory(struct sup *s, hwloc_topology_t hw, size_t r)
{
	int node = s->plan->ring_numa[r];
	if (node < 0 || hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_NUMANODE) < 2)
		return;
	size_t len = shmring_capacity(s->rings[r]) + 4096;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, shmring_fd(s->rings[r]), 0);
	if (m == MAP_FAILED)
		return;
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	hwloc_bitmap_only(set, (unsigned)node);
	if (hwloc_set_area_membind(hw, m, len, set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET) < 0
	    && !s->quiet)
		say("shmring-supervisor: note: could not bind ring %zu to NUMA node %d: %s", r,
		    node, strerror(errno));
	hwloc_bitmap_free(set);
	munmap(m, len);
}

static int make_rings(struct sup *s, hwloc_topology_t hw)
{
	for (size_t r = 0; r < s->t->nrings; r++) {
		struct shmring_opts o;
		shmring_opts_init(&o);
		o.capacity = s->t->rings[r].capacity;
		o.wait = s->t->rings[r].wait;
		int rc = shmring_create(NULL, &o, &s->rings[r]);
		if (rc < 0) {
			say("shmring-supervisor: %s", shmring_errmsg());
			return rc;
		}
		bind_ring_memory(s, hw, r);
	}
	return 0;
}

static char **build_argv(const struct topo_kernel *tk, const char *path)
{
	char **argv = calloc(tk->nargs + 2, sizeof(char *));
	if (!argv)
		return NULL;
	argv[0] = (char *)path;
	for (size_t a = 0; a < tk->nargs; a++)
		argv[a + 1] = tk->args[a];
	return argv;
}

static void summary(struct sup *s, int code)
{
	for (size_t r = 0; r < s->t->nrings; r++) {
		struct shmring_stats st;
		if (shmring_stats(s->rings[r], &st) < 0)
			continue;
		const struct topo_ring *tr = &s->t->rings[r];
		uint64_t left = st.msgs_in - st.msgs_out;
		if (st.redelivered || left)
			say("shmring-supervisor: ring %s.%s -> %s.%s: %llu messages, %llu redelivered "
			    "(consumer taken over), %llu never consumed",
			    s->t->kernels[tr->from_kernel].name, tr->from_port,
			    s->t->kernels[tr->to_kernel].name, tr->to_port,
			    (unsigned long long)st.msgs_in, (unsigned long long)st.redelivered,
			    (unsigned long long)left);
	}
	static const char *const how[] = {
		[RUN_OK] = "finished", [RUN_FAILED] = "ended with a failed kernel",
		[RUN_INTENSITY] = "stopped: restart intensity reached",
		[RUN_STOPPED] = "stopped on request",
		[RUN_KILLED] = "stopped on request, some kernels killed after the grace period",
	};
	say("shmring-supervisor: '%s' %s (exit %d) after %.2f s, %u restarts", s->t->name,
	    code < 6 && how[code] ? how[code] : "ended on a system error", code,
	    (double)(now_ns() - s->t0) / 1e9, s->restarts);
}

static int setup(struct sup *s, hwloc_topology_t hw)
{
	char err[512];
	const struct topology *t = s->t;
	size_t n = t->nkernels;
	s->paths = calloc(n, sizeof(char *));
	s->k = calloc(n, sizeof(*s->k));
	s->order = calloc(n, sizeof(size_t));
	s->rings = calloc(t->nrings ? t->nrings : 1, sizeof(struct shmring *));
	if (!s->paths || !s->k || !s->order || !s->rings ||
	    sv_intensity_init(&s->intensity, t->intensity, t->period_ms * 1000000ull) < 0 ||
	    topo_graph_order(t, s->order) < 0) {
		say("shmring-supervisor: out of memory");
		return RUN_SYSTEM;
	}
	int npus = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_PU);
	int rc = topo_check_host(t, npus, s->paths, err, sizeof(err));
	if (rc == 0)
		rc = topo_place(t, hw, &s->plan, err, sizeof(err));
	if (rc < 0) {
		say("shmring-supervisor: %s", err);
		return rc == -ENOMEM ? RUN_SYSTEM : RUN_INVALID;
	}
	for (size_t i = 0; i < n; i++) {
		s->k[i].out.fd = s->k[i].err.fd = -1;
		if (!(s->k[i].argv = build_argv(&t->kernels[i], s->paths[i]))) {
			say("shmring-supervisor: out of memory");
			return RUN_SYSTEM;
		}
		size_t w = strlen(t->kernels[i].name);
		if (w > s->namew)
			s->namew = w;
	}
	struct running_topo rt;
	if (topo_find_running(t->name, &rt, 1) > 0) {
		say("shmring-supervisor: topology '%s' is already running (supervisor pid %d): "
		    "stop it with 'shmring-supervisor stop %s', or rename this one", t->name,
		    (int)rt.pid, t->name);
		return RUN_INVALID;
	}
	s->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sigemptyset(&s->blocked);
	sigaddset(&s->blocked, SIGCHLD);
	sigaddset(&s->blocked, SIGINT);
	sigaddset(&s->blocked, SIGTERM);
	sigaddset(&s->blocked, SIGHUP);
	if (s->ev_fd < 0 || sigprocmask(SIG_BLOCK, &s->blocked, NULL) < 0 ||
	    (s->sig_fd = signalfd(-1, &s->blocked, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		say("shmring-supervisor: cannot set up signals: %s", strerror(errno));
		return RUN_SYSTEM;
	}
	signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill the supervisor */
	if (make_rings(s, hw) < 0)
		return RUN_SYSTEM;
	if ((rc = make_control(s)) < 0) {
		say("shmring-supervisor: cannot create the control segment: %s", strerror(-rc));
		return RUN_SYSTEM;
	}
	return 0;
}

static int loop(struct sup *s)
{
	size_t n = s->t->nkernels;
	struct pollfd *pfd = calloc(2 + 2 * n, sizeof(*pfd));
	if (!pfd)
		return RUN_SYSTEM;
	for (size_t i = 0; i < n; i++)
		if (spawn(s, i) < 0) {
			begin_stop(s, NULL);
			break;
		}
	while (!all_down(s)) {
		uint64_t now = now_ns();
		int timeout = 1000;
		for (size_t i = 0; i < n; i++) {
			struct kproc *k = &s->k[i];
			if (k->pid && k->stopping && !k->killed) {
				if (now >= k->kill_at) {
					kill_kernel(s, i);
				} else {
					uint64_t ms = (k->kill_at - now) / 1000000u + 1;
					if (ms < (uint64_t)timeout)
						timeout = (int)ms;
				}
			}
		}
		if (!s->stopping &&
		    atomic_load_explicit(&s->ctl->state, memory_order_relaxed) == SMR_TOPO_STARTING &&
		    now - s->t0 > READY_TIMEOUT_MS * 1000000ull) {
			for (size_t i = 0; i < n; i++)
				if (!s->k[i].done &&
				    atomic_load_explicit(&s->ck[i].state, memory_order_acquire) != SMR_K_READY)
					say("shmring-supervisor: kernel '%s' did not report ready within %u ms: "
					    "does it call shmring_kernel_attach()?", s->t->kernels[i].name,
					    READY_TIMEOUT_MS);
			s->any_failed = 1;
			begin_stop(s, NULL);
		}
		size_t np = 0;
		pfd[np++] = (struct pollfd){ .fd = s->sig_fd, .events = POLLIN };
		pfd[np++] = (struct pollfd){ .fd = s->ev_fd, .events = POLLIN };
		for (size_t i = 0; i < n; i++) {
			if (s->k[i].out.fd >= 0)
				pfd[np++] = (struct pollfd){ .fd = s->k[i].out.fd, .events = POLLIN };
			if (s->k[i].err.fd >= 0)
				pfd[np++] = (struct pollfd){ .fd = s->k[i].err.fd, .events = POLLIN };
		}
		if (poll(pfd, np, timeout) < 0 && errno != EINTR) {
			say("shmring-supervisor: poll: %s", strerror(errno));
			s->exit_code = RUN_SYSTEM;
			begin_stop(s, NULL);
			for (size_t i = 0; i < n; i++)
				kill_kernel(s, i);
		}
		for (size_t i = 0; i < n; i++) {
			pump(s, i, &s->k[i].out);
			pump(s, i, &s->k[i].err);
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					continue; /* reaped below, every turn */
				if (s->stopping) {
					if (!s->quiet)
						say("shmring-supervisor: SIG%s again: killing every kernel now",
						    sigabbrev_np((int)si.ssi_signo));
					for (size_t i = 0; i < n; i++)
						kill_kernel(s, i);
					s->any_killed = 1;
				} else {
					char why[32];
					snprintf(why, sizeof(why), "SIG%s", sigabbrev_np((int)si.ssi_signo));
					begin_stop(s, why);
				}
			}
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t v;
			if (read(s->ev_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another turn drained it */
			}
		}
		reap(s);
		maybe_activate(s);
	}
	free(pfd);
	if (s->exit_code)
		return s->exit_code;
	if (s->stopping && !s->any_failed)
		return s->any_killed ? RUN_KILLED : RUN_STOPPED;
	return s->any_failed ? RUN_FAILED : RUN_OK;
}

static void teardown(struct sup *s)
{
	if (s->rings)
		for (size_t r = 0; r < s->t->nrings; r++)
			if (s->rings[r])
				shmring_detach(s->rings[r]);
	if (s->ctl)
		munmap(s->ctl, s->ctl_len);
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	if (s->ev_fd >= 0)
		close(s->ev_fd);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	for (size_t i = 0; s->k && i < s->t->nkernels; i++) {
		free(s->k[i].argv);
		if (s->k[i].out.fd >= 0)
			close(s->k[i].out.fd);
		if (s->k[i].err.fd >= 0)
			close(s->k[i].err.fd);
	}
	for (size_t i = 0; s->paths && i < s->t->nkernels; i++)
		free(s->paths[i]);
	free(s->paths);
	free(s->k);
	free(s->order);
	free(s->rings);
	sv_intensity_free(&s->intensity);
	topo_plan_free(s->plan);
}

int run_topology(struct topology *t, int quiet)
{
	struct sup s = { .t = t, .ctl_fd = -1, .sig_fd = -1, .ev_fd = -1, .quiet = quiet };
	s.self = getpid();
	s.t0 = now_ns();
	hwloc_topology_t hw;
	if (hwloc_topology_init(&hw) < 0 || hwloc_topology_load(hw) < 0) {
		say("shmring-supervisor: cannot read this machine's topology (hwloc): %s",
		    strerror(errno));
		return RUN_SYSTEM;
	}
	int code = setup(&s, hw);
	hwloc_topology_destroy(hw);
	if (code == 0) {
		code = loop(&s);
		if (!quiet || code != RUN_OK)
			summary(&s, code);
	}
	teardown(&s);
	return code;
}

int stop_topology(const char *name, int wait_ms)
{
	struct running_topo rt;
	int n = topo_find_running(name, &rt, 1);
	if (n < 0) {
		say("shmring-supervisor: cannot read /proc: %s", strerror(-n));
		return 111;
	}
	if (n == 0) {
		say("shmring-supervisor: no topology named '%s' is running (as this user): "
		    "check the name with shmring-stat", name);
		return 1;
	}
	if (kill(rt.pid, SIGTERM) < 0) {
		say("shmring-supervisor: cannot signal supervisor pid %d: %s", (int)rt.pid,
		    strerror(errno));
		return 111;
	}
	uint64_t end = now_ns() + (uint64_t)wait_ms * 1000000ull;
	while (now_ns() < end) {
		if (topo_find_running(name, &rt, 1) == 0)
			return 0;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	say("shmring-supervisor: '%s' (supervisor pid %d) has not ended after %d ms; "
	    "it may still be in its grace period", name, (int)rt.pid, wait_ms);
	return 1;
}
