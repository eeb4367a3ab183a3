/* SPDX-License-Identifier: MIT */
/*
 * shmring-supervisor run: create the control segment, the rings and the
 * kernels' journals, start every kernel bound to its cores, activate the
 * topology when all are ready, prefix their output, restart them by policy,
 * stop cleanly.
 *
 * One thread, one epoll loop over a signalfd (SIGCHLD, SIGINT, SIGTERM,
 * SIGHUP), an eventfd the kernels poke when their state changes, and the
 * stdout/stderr pipe of every kernel. Nothing here is named in /dev/shm: the
 * control segment, the rings and the kernels' journals are memfds, so they
 * die with the last process holding them, even when the supervisor is killed
 * with SIGKILL (its kernels get SIGKILL through PR_SET_PDEATHSIG).
 *
 * Launch is linear in the number of kernels: each kernel is started with
 * clone(CLONE_VM | CLONE_VFORK), which copies neither the supervisor's
 * mappings (one per ring) nor its page tables and lets the supervisor go on
 * as soon as the child has exec'd, while the kernel loads and attaches in
 * parallel; everything the child needs (argv, environment, cpu set, which
 * descriptors to keep) is prepared beforehand, so the child only makes
 * system calls. The loop touches only what an event names (epoll), and
 * counts what it would otherwise rescan (the kernels in each state; the
 * ready cursor).
 *
 * A kernel's lifecycle is supervise.c's table: every change of a kernel's
 * state is kernel_event(), which moves it where the table says and performs
 * the action the table names (act()).
 *
 * Memory ordering in the control segment: three words synchronise and are
 * paired explicitly where they are used: a kernel's `stop` (release here,
 * acquire in kernel.c and wait.c), the topology `state` + `active_seq`
 * (release here, acquire in the kernel's barrier), and a kernel's READY and
 * `finished` (release in kernel.c, acquire here). Every other store here
 * (pid, cpu, restarts, last_status, started_ns, the kernel states we set) is
 * relaxed: it is read for display by shmring-stat, nobody waits on it, and
 * a stop/finished/stop-reset before exec is ordered by clone and execve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>
#include <hwloc.h>
#include <shmring/bcast.h>
#include <shmring/kernel.h>

#include "control.h"
#include "discover.h"
#include "journal.h"
#include "placement.h"
#include "run.h"
#include "supervise.h"

extern char **environ;

#define LINE_MAX_BYTES 4096u
#define CHILD_STACK (256u * 1024u) /* the clone child's stack (ASan frames are big) */
/* Where a child failed, or'ed into the errno it reports. */
#define FAIL_EXEC  0x10000
#define FAIL_BIND  0x20000
#define FAIL_CHDIR 0x40000
#define FAIL_ERRNO 0x0ffff
#define READY_NAMED 5 /* kernels named in the "did not report ready" line */
#define EVENTS 256
#define RING_LABEL (4 * (TOPO_NAME_MAX + 1) + 8) /* "a.b -> c.d" */

/* epoll data: these two, then 2 + 2 * kernel + (0 stdout, 1 stderr) */
enum { EV_SIGNAL = 0, EV_KERNELS = 1, EV_PIPES = 2 };

struct linebuf {
	int fd;      /* read end of the kernel's stdout or stderr pipe, -1 closed */
	int to;      /* 1 or 2: where its lines go */
	size_t len;
	char buf[LINE_MAX_BYTES];
};

struct kproc {
	enum sv_state state; /* changed by kernel_event only (supervise.h's table) */
	pid_t pid;          /* while sv_has_process(state) */
	struct linebuf out, err;
	uint64_t kill_at;   /* STOPPING, RESTARTING: when the grace period ends */
	char **argv, **envp;
	char *env_ctl, *env_idx; /* the SHMRING_ strings behind envp */
	size_t *rings;      /* the rings it uses (indices) */
	size_t nrings;
	uint32_t nin, nout; /* its inputs and outputs (its journal's shape) */
	cpu_set_t cpus;
	int bind;           /* cpus is set */
};

struct sup {
	struct topology *t;
	uint32_t topo_state; /* enum smr_topo_state: ours; the segment's copy is
				only published (kernels can write the segment) */
	struct topo_plan *plan;
	char **paths;       /* absolute: kernels run in workdir */
	char *workdir;      /* absolute; NULL: the supervisor's own */
	struct kproc *k;
	size_t *order;
	struct shmring **rings;
	int *ring_fd;       /* each ring's descriptor */
	int *jnl_fd;        /* each kernel's journal (journal.h), held for the
				whole run so that it outlives every restart */
	size_t *ring_of;    /* storage behind every kproc.rings */
	struct smr_ctl_header *ctl;
	struct smr_ctl_kernel *ck;
	size_t ctl_len;
	int ctl_fd, sig_fd, ev_fd, ep_fd, null_fd;
	void *stack;        /* for the clone child */
	struct sv_intensity intensity;
	int stopping;       /* a stop of the whole topology is under way */
	int exit_code;      /* set when the end is already decided */
	int any_failed, any_killed, quiet;
	unsigned restarts;
	size_t nstate[SV_NSTATES]; /* kernels in each state */
	size_t ready_cursor; /* kernels before it were seen ready (or done) */
	size_t noverran;    /* killed after the grace period of the topology's stop */
	char overran[READY_NAMED * (TOPO_NAME_MAX + 4) + 1]; /* the first few, quoted */
	size_t namew;
	uint64_t t0, launch_ns, ready_ms, ready_deadline;
	pid_t self;
	sigset_t blocked, orig_mask;
	struct rlimit nofile; /* as we found it: restored in kernels */
	int nofile_raised;
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

/* t + ms, saturating (a grace of 86400000m is 5e18 ns: close to the top). */
static uint64_t after_ms(uint64_t t, uint64_t ms)
{
	uint64_t ns = ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;
	return ns > UINT64_MAX - t ? UINT64_MAX : t + ns;
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

/* "gen.out -> double.in": how a ring is named to the user (the rings are
 * anonymous: they have no name of their own). */
static const char *ring_label(const struct sup *s, size_t r, char *buf, size_t cap)
{
	const struct topo_ring *tr = &s->t->rings[r];
	snprintf(buf, cap, "%s.%s -> %s.%s", s->t->kernels[tr->from_kernel].name, tr->from_port,
		 s->t->kernels[tr->to_kernel].name, tr->to_port);
	return buf;
}

/* Where the user changes a supervision setting: the file's key, or the
 * -e option. */
static void setting(const struct sup *s, const char *key, char *buf, size_t cap)
{
	if (!strcmp(s->t->file, "-e"))
		snprintf(buf, cap, "run --%s", key);
	else
		snprintf(buf, cap, "supervision.%s in %s", key, s->t->file);
}

/* ---- counted state ---- */

/* Kernel i may no longer be ready: look at it again before activating. */
static void unready(struct sup *s, size_t i)
{
	if (i < s->ready_cursor)
		s->ready_cursor = i;
}

/* Kernels with a process: to reap before the run can end. */
static size_t nalive(const struct sup *s)
{
	size_t n = 0;
	for (int st = 0; st < SV_NSTATES; st++)
		if (sv_has_process((enum sv_state)st))
			n += s->nstate[st];
	return n;
}

/* What shmring-stat shows for a state; 0: leave what is there (RUNNING: the
 * kernel writes READY and ACTIVE itself; the KILLED states stay STOPPING). */
static uint32_t ctl_state(enum sv_state st)
{
	switch (st) {
	case SV_ST_RESTARTING:
	case SV_ST_STOPPING:
		return SMR_K_STOPPING;
	case SV_ST_RESTART_PENDING:
	case SV_ST_EXITED:
		return SMR_K_EXITED;
	case SV_ST_FINISHED:
	case SV_ST_GONE:
		return SMR_K_DONE;
	default:
		return 0;
	}
}

/* The only writer of a kernel's state (through kernel_event): keeps the
 * counts, looks at its readiness again, shows the state to shmring-stat. */
static void enter(struct sup *s, size_t i, enum sv_state st)
{
	struct kproc *k = &s->k[i];
	if (k->state == st)
		return;
	s->nstate[k->state]--;
	s->nstate[st]++;
	k->state = st;
	unready(s, i);
	uint32_t shown = ctl_state(st);
	if (shown)
		atomic_store_explicit(&s->ck[i].state, shown, memory_order_relaxed);
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

static void close_pipe(struct sup *s, struct linebuf *lb)
{
	epoll_ctl(s->ep_fd, EPOLL_CTL_DEL, lb->fd, NULL);
	close(lb->fd);
	lb->fd = -1;
}

/* A dead kernel's pipe still open (a process it started holds the write
 * end): print what it buffered and stop watching it, before a restart puts
 * a new pipe in its place; left in epoll, it would be reported on every
 * turn under the successor's tag and the loop would spin. */
static void retire_pipe(struct sup *s, size_t i, struct linebuf *lb)
{
	if (lb->fd < 0)
		return;
	if (lb->len)
		emit(s, i, lb->to, lb->buf, lb->len);
	lb->len = 0;
	close_pipe(s, lb);
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
			close_pipe(s, lb);
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

static int keep_fd(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* fd onto target, inheritable (dup2 onto itself would keep CLOEXEC). */
static int put_fd(int fd, int target)
{
	return fd == target ? keep_fd(fd) : dup2(fd, target);
}

struct child_args {
	struct sup *s;
	size_t i;
	int out, err;
	volatile int fail; /* errno | FAIL_*, written by the child before _exit */
};

/*
 * The clone child: it shares the supervisor's memory (CLONE_VM) while the
 * supervisor waits (CLONE_VFORK) until it has exec'd or exited. So: system
 * calls only, on data the parent prepared; no malloc, no stdio, no return.
 * Every signal is blocked (by the parent) until the mask is restored just
 * before exec, so nothing runs a handler on the shared memory.
 */
static int child_main(void *arg)
{
	struct child_args *a = arg;
	struct sup *s = a->s;
	struct kproc *k = &s->k[a->i];
	/* Own process group: the terminal's Ctrl-C reaches the supervisor only,
	 * which then stops the kernels in order. */
	setpgid(0, 0);
	/* Die with the supervisor, and close the race where it died before. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != s->self)
		_exit(127);
	put_fd(s->null_fd, 0);
	put_fd(a->out, 1);
	put_fd(a->err, 2);
	keep_fd(s->ctl_fd);
	keep_fd(s->ev_fd);
	for (size_t r = 0; r < k->nrings; r++)
		keep_fd(s->ring_fd[k->rings[r]]);
	/* Its own journal only: the others stay close-on-exec, so no kernel
	 * can read or scribble on another's checkpoint. */
	keep_fd(s->jnl_fd[a->i]);
	/* Bound before exec: a CPU affinity mask survives execve. */
	if (k->bind && sched_setaffinity(0, sizeof(k->cpus), &k->cpus) < 0) {
		a->fail = errno | FAIL_BIND;
		_exit(126);
	}
	/* The topology file's folder: relative paths in args mean the same
	 * as exec's (docs/supervisor.md). */
	if (s->workdir && chdir(s->workdir) < 0) {
		a->fail = errno | FAIL_CHDIR;
		_exit(126);
	}
	if (s->nofile_raised) /* raised for the supervisor's many pipes only */
		setrlimit(RLIMIT_NOFILE, &s->nofile);
	/* Ignored in the supervisor; an ignored signal stays ignored across
	 * exec, and kernels should get the default. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	sigprocmask(SIG_SETMASK, &s->orig_mask, NULL);
	execve(s->paths[a->i], k->argv, k->envp);
	a->fail = errno | FAIL_EXEC;
	_exit(127);
}

static int nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int watch(struct sup *s, int fd, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };
	return epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, fd, &ev);
}

/* Where the child failed, before exec: one line. */
static void say_child_failed(const struct sup *s, size_t i, int fail)
{
	const struct topo_kernel *tk = &s->t->kernels[i];
	const char *why = strerror(fail & FAIL_ERRNO);
	if (fail & FAIL_BIND)
		say("shmring-supervisor: kernel '%s': cannot bind to its cpus: %s: fix cpu at %s:%d",
		    tk->name, why, s->t->file, tk->line);
	else if (fail & FAIL_CHDIR)
		say("shmring-supervisor: kernel '%s': cannot enter the working directory %s: %s",
		    tk->name, s->workdir, why);
	else
		say("shmring-supervisor: kernel '%s': cannot execute %s: %s: fix exec at %s:%d",
		    tk->name, s->paths[i], why, s->t->file, tk->line);
}

/*
 * Start kernel i: 0, or -1 when it cannot be started (the line is printed,
 * the run fails); the caller feeds SPAWNED or SPAWN_FAILED to the table. A
 * child that failed before exec has exited when clone returns (CLONE_VFORK
 * resumes us at its exec or its exit): it is reaped here, so a kernel that
 * never ran never has a process to reap, stop or kill.
 */
static int spawn(struct sup *s, size_t i)
{
	struct kproc *k = &s->k[i];
	struct smr_ctl_kernel *ck = &s->ck[i];
	const struct topo_kernel *tk = &s->t->kernels[i];
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		goto syserr;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		goto syserr;
	}
	/* Relaxed: the kernel reads these after exec, which orders them. */
	atomic_store_explicit(&ck->stop, 0u, memory_order_relaxed);
	atomic_store_explicit(&ck->finished, 0u, memory_order_relaxed);
	atomic_store_explicit(&ck->state, (uint32_t)SMR_K_LAUNCHED, memory_order_relaxed);
	atomic_store_explicit(&ck->cpu, s->plan->ncpus[i] ? s->plan->cpus[i][0] : -1,
			      memory_order_relaxed);
	struct child_args a = { .s = s, .i = i, .out = po[1], .err = pe[1], .fail = 0 };
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = clone(child_main, (char *)s->stack + CHILD_STACK,
			  CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(po[1]);
	close(pe[1]);
	if (pid < 0 || a.fail) {
		close(po[0]);
		close(pe[0]);
	}
	if (pid < 0) {
		errno = e;
		goto syserr;
	}
	if (a.fail) {
		int st;
		pid_t w;
		while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
			;
		if (w == pid)
			atomic_store_explicit(&ck->last_status, st, memory_order_relaxed);
		say_child_failed(s, i, a.fail);
		s->any_failed = 1;
		return -1;
	}
	retire_pipe(s, i, &k->out);
	retire_pipe(s, i, &k->err);
	k->out = (struct linebuf){ .fd = po[0], .to = 1 };
	k->err = (struct linebuf){ .fd = pe[0], .to = 2 };
	nonblock(po[0]);
	nonblock(pe[0]);
	watch(s, po[0], EV_PIPES + 2 * (uint64_t)i);
	watch(s, pe[0], EV_PIPES + 2 * (uint64_t)i + 1);
	k->pid = pid;
	atomic_store_explicit(&ck->pid, (int32_t)pid, memory_order_relaxed);
	atomic_store_explicit(&ck->started_ns, realtime_ns(), memory_order_relaxed);
	return 0;
syserr:
	say("shmring-supervisor: cannot start kernel '%s': %s%s", tk->name, strerror(errno),
	    errno == EMFILE || errno == ENFILE ? " (too many open files: raise `ulimit -n`)" : "");
	s->any_failed = 1;
	return -1;
}

/* ---- the lifecycle: supervise.c's table, and the actions it names ---- */

static void kernel_event(struct sup *s, size_t i, enum sv_event ev, int status);

static void ask_stop(struct sup *s, size_t i)
{
	s->k[i].kill_at = after_ms(now_ns(), s->t->grace_ms);
	/* Release: pairs with the kernel's acquire in should_stop / wait; then
	 * wake a kernel asleep in shmring_kernel_wait or the barrier (its
	 * futex_waitv compares the flag to 0, so a wake that comes first is
	 * not lost: the wait returns at once). The STOPPING shown before it
	 * (enter) is relaxed: it is for display. */
	atomic_store_explicit(&s->ck[i].stop, 1u, memory_order_release);
	futex_wake_all(&s->ck[i].stop);
}

/*
 * Stop the whole topology. The attach protocol: STOPPING (release), then
 * bump active_seq and wake it, so that every kernel still in
 * shmring_kernel_attach's barrier wakes (its futex wait compares active_seq:
 * a bump between its load and its sleep makes the sleep return at once) and
 * sees STOPPING: attach then fails with -ECANCELED instead of letting a
 * kernel run in a topology that never became active. This is the one way
 * the state leaves STARTING other than activation: a launch that failed, a
 * stop before active, a kernel that missed the ready deadline or exited
 * with a configuration error, intensity, a system error.
 */
static void begin_stop(struct sup *s, const char *why)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	s->topo_state = SMR_TOPO_STOPPING;
	/* Release, both: pair with the acquire loads of active_seq and state
	 * in the kernel's attach barrier (kernel.c), as at activation. */
	atomic_store_explicit(&s->ctl->state, (uint32_t)SMR_TOPO_STOPPING, memory_order_release);
	atomic_fetch_add_explicit(&s->ctl->active_seq, 1u, memory_order_release);
	futex_wake_all(&s->ctl->active_seq);
	if (why && !s->quiet)
		say("shmring-supervisor: %s: stopping '%s' (grace %llu ms, then kill)", why,
		    s->t->name, (unsigned long long)s->t->grace_ms);
	for (size_t i = 0; i < s->t->nkernels; i++)
		kernel_event(s, i, SV_EV_STOP, 0);
}

static void kill_kernel(struct sup *s, size_t i)
{
	pid_t pid = s->k[i].pid;
	kill(-pid, SIGKILL); /* its process group: children of the kernel too */
	kill(pid, SIGKILL);
}

/* A kernel gone for good closes nothing itself: close its ring ends for it,
 * by taking its dead role over, so its consumers read end of stream after
 * what it committed and its producers see -EPIPE instead of waiting. */
static void close_ends_of(struct sup *s, size_t i)
{
	for (size_t j = 0; j < s->k[i].nrings; j++) {
		size_t r = s->k[i].rings[j];
		const struct topo_ring *tr = &s->t->rings[r];
		enum shmring_role role = tr->from_kernel == i ? SHMRING_ROLE_PRODUCER
				       : tr->to_kernel == i ? SHMRING_ROLE_CONSUMER : SHMRING_ROLE_NONE;
		/* A broadcast ring's producer end is one for its entries. */
		if (role == SHMRING_ROLE_NONE ||
		    (role == SHMRING_ROLE_PRODUCER && tr->bcast_index != 0))
			continue;
		char where[32], label[RING_LABEL];
		struct shmring *h;
		snprintf(where, sizeof(where), "fd:%d", s->ring_fd[r]);
		int rc = tr->bcast_n ? shmring_bcast_attach(where, role, tr->bcast_index, &h)
				     : shmring_attach(where, role, &h);
		if (rc == 0) {
			shmring_close(h);
			shmring_detach(h);
		} else if (!s->quiet) {
			say("shmring-supervisor: ring %s: cannot close kernel '%s''s end for it (%s): "
			    "its peer may wait until the topology stops", ring_label(s, r, label,
			    sizeof(label)), s->t->kernels[i].name, strerror(-rc));
		}
	}
}

/* Once no kernel of a restart group is still up, start every one waiting
 * for it again, in graph order. */
static void respawn_group(struct sup *s)
{
	if (s->stopping || !s->nstate[SV_ST_RESTART_PENDING] || s->nstate[SV_ST_RESTARTING] ||
	    s->nstate[SV_ST_RESTART_KILLED])
		return;
	for (size_t j = 0; j < s->t->nkernels; j++) {
		size_t i = s->order[j];
		if (s->k[i].state != SV_ST_RESTART_PENDING)
			continue;
		atomic_fetch_add_explicit(&s->ck[i].restarts, 1u, memory_order_relaxed);
		s->restarts++;
		kernel_event(s, i, spawn(s, i) < 0 ? SV_EV_SPAWN_FAILED : SV_EV_SPAWNED, 0);
	}
}

/* Kernel i was killed after the grace period of the topology's stop: one
 * line at the end names the first few, however many there are. */
static void overran(struct sup *s, size_t i)
{
	if (s->noverran++ < READY_NAMED) {
		size_t len = strlen(s->overran);
		snprintf(s->overran + len, sizeof(s->overran) - len, "%s'%s'", len ? ", " : "",
			 s->t->kernels[i].name);
	}
}

static void say_overran(struct sup *s)
{
	size_t n = s->noverran;
	if (!n || s->quiet)
		return;
	if (n == 1)
		say("shmring-supervisor: kernel %s did not stop within the grace period (%llu ms): "
		    "killed; make it check shmring_kernel_should_stop() or use shmring_kernel_wait()",
		    s->overran, (unsigned long long)s->t->grace_ms);
	char more[48] = "";
	if (n > READY_NAMED)
		snprintf(more, sizeof(more), " and %zu more", n - READY_NAMED);
	if (n > 1)
		say("shmring-supervisor: %zu kernels did not stop within the grace period (%llu ms): "
		    "%s%s: killed; make them check shmring_kernel_should_stop() or use "
		    "shmring_kernel_wait()", n, (unsigned long long)s->t->grace_ms, s->overran, more);
}

/* Bad usage or configuration (SHMRING_EXIT_CONFIG): retrying cannot help,
 * whatever its policy, and the topology cannot run as written. */
static void config_error(struct sup *s, size_t i)
{
	const struct topo_kernel *tk = &s->t->kernels[i];
	char where[PATH_MAX + 32] = "";
	if (strcmp(s->t->file, "-e"))
		snprintf(where, sizeof(where), " (%s:%d)", s->t->file, tk->line);
	say("shmring-supervisor: kernel '%s' exited %d (configuration error): not restarted; "
	    "fix its args or the topology%s", tk->name, SHMRING_EXIT_CONFIG, where);
	s->any_failed = 1;
	s->exit_code = RUN_FAILED;
	begin_stop(s, NULL);
}

/* Kernel i exited in a way its policy restarts: within the intensity, take
 * its restart group down (they come back in respawn_group). */
static void restart(struct sup *s, size_t i, int status)
{
	const struct topo_kernel *tk = &s->t->kernels[i];
	char what[64];
	describe_status(status, what, sizeof(what));
	uint64_t now = now_ns();
	if (sv_intensity_record(&s->intensity, now)) {
		char key[PATH_MAX + 64];
		if (!strcmp(s->t->file, "-e"))
			snprintf(key, sizeof(key), "--intensity / --period");
		else
			snprintf(key, sizeof(key), "supervision.intensity / period in %s", s->t->file);
		say("shmring-supervisor: kernel '%s' %s: restart intensity reached (more than %u "
		    "restarts within %llu ms): fix the crash, or raise %s", tk->name, what,
		    s->t->intensity, (unsigned long long)s->t->period_ms, key);
		s->exit_code = RUN_INTENSITY;
		begin_stop(s, NULL);
		return;
	}
	if (!s->quiet)
		say("shmring-supervisor: kernel '%s' %s: restarting (%s; %u of at most %u restarts "
		    "within %llu ms)", tk->name, what, topo_strategy_names[s->t->strategy],
		    sv_intensity_recent(&s->intensity, now), s->t->intensity,
		    (unsigned long long)s->t->period_ms);
	size_t n = s->t->nkernels;
	int *done = calloc(n, sizeof(int));
	int *member = calloc(n, sizeof(int));
	if (!done || !member) {
		s->exit_code = RUN_SYSTEM;
		begin_stop(s, "out of memory");
	} else {
		for (size_t j = 0; j < n; j++)
			done[j] = sv_is_done(s->k[j].state);
		sv_restart_set(s->t->strategy, n, s->order, done, i, member);
		for (size_t j = 0; j < n; j++)
			if (member[j])
				kernel_event(s, j, SV_EV_GROUP_RESTART, 0);
	}
	free(done);
	free(member);
}

/* Its policy leaves kernel i down: say so, and close its ring ends. */
static void left_down(struct sup *s, size_t i, int status, int failed)
{
	const struct topo_kernel *tk = &s->t->kernels[i];
	char what[64];
	describe_status(status, what, sizeof(what));
	if (failed) {
		s->any_failed = 1;
		say("shmring-supervisor: kernel '%s' %s; restart: %s, so it stays down (its rings "
		    "are closed)", tk->name, what, topo_restart_names[tk->restart]);
	} else if (!s->quiet) {
		say("shmring-supervisor: kernel '%s' exited without finishing (no "
		    "shmring_kernel_detach); restart: %s, so it stays down", tk->name,
		    topo_restart_names[tk->restart]);
	}
	close_ends_of(s, i);
}

static void act(struct sup *s, size_t i, enum sv_action a, int status)
{
	switch (a) {
	case SV_ACT_NONE:
	case SV_NACTIONS:
		break;
	case SV_ACT_ASK_STOP:
		ask_stop(s, i);
		break;
	case SV_ACT_KILL:
		kill_kernel(s, i);
		break;
	case SV_ACT_RESTART:
		restart(s, i, status);
		break;
	case SV_ACT_LEFT_DOWN:
	case SV_ACT_FAILED:
		left_down(s, i, status, a == SV_ACT_FAILED);
		break;
	case SV_ACT_CONFIG:
		config_error(s, i);
		break;
	case SV_ACT_STOP_TOPOLOGY:
		begin_stop(s, NULL);
		break;
	case SV_ACT_CLOSE_ENDS:
		close_ends_of(s, i);
		break;
	case SV_ACT_SAY_OVERRAN:
		if (!s->quiet)
			say("shmring-supervisor: kernel '%s' did not stop within the grace period "
			    "(%llu ms): killed; make it check shmring_kernel_should_stop() or use "
			    "shmring_kernel_wait()", s->t->kernels[i].name,
			    (unsigned long long)s->t->grace_ms);
		break;
	case SV_ACT_OVERRAN:
		overran(s, i); /* said once, at the end */
		s->any_killed = 1;
		break;
	case SV_ACT_KILLED:
		s->any_killed = 1;
		break;
	}
}

/* The one way a kernel's state changes: the table's cell for (state, ev),
 * then its action (status: the wait status, for exits). */
static void kernel_event(struct sup *s, size_t i, enum sv_event ev, int status)
{
	struct sv_step step = sv_step(s->k[i].state, ev);
	enter(s, i, step.next);
	act(s, i, step.act, status);
}

static void handle_exit(struct sup *s, size_t i, int status)
{
	struct kproc *k = &s->k[i];
	pump(s, i, &k->out); /* what it wrote before dying comes first */
	pump(s, i, &k->err);
	k->pid = 0;
	atomic_store_explicit(&s->ck[i].pid, 0, memory_order_relaxed);
	atomic_store_explicit(&s->ck[i].last_status, status, memory_order_relaxed);
	/* Acquire: pairs with the kernel's release of finished, after its
	 * closes. */
	int finished = atomic_load_explicit(&s->ck[i].finished, memory_order_acquire) != 0;
	kernel_event(s, i, sv_exit_event(status, finished, s->t->kernels[i].restart), status);
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

/* Every kernel that is to run is READY: let them all go. The cursor makes
 * this linear over a launch: each kernel is passed once per (re)start. */
static void maybe_activate(struct sup *s)
{
	if (s->topo_state != SMR_TOPO_STARTING)
		return;
	for (; s->ready_cursor < s->t->nkernels; s->ready_cursor++) {
		size_t i = s->ready_cursor;
		if (sv_is_done(s->k[i].state))
			continue;
		if (s->k[i].state != SV_ST_RUNNING)
			return;
		/* Acquire: pairs with the kernel's release of READY, after its
		 * ports were attached. */
		if (atomic_load_explicit(&s->ck[i].state, memory_order_acquire) != SMR_K_READY)
			return;
	}
	/* Release state, then bump the futex word and wake: a kernel that
	 * loaded the old seq before our bump sees its FUTEX_WAIT fail at once. */
	s->topo_state = SMR_TOPO_ACTIVE;
	atomic_store_explicit(&s->ctl->state, (uint32_t)SMR_TOPO_ACTIVE, memory_order_release);
	atomic_fetch_add_explicit(&s->ctl->active_seq, 1u, memory_order_release);
	futex_wake_all(&s->ctl->active_seq);
	if (!s->quiet) {
		char rings[96];
		topo_rings_phrase(s->t, rings, sizeof(rings));
		say("shmring-supervisor: '%s' active: %zu kernels, %s (%.1f ms to launch)",
		    s->t->name, s->t->nkernels, rings, (double)(now_ns() - s->t0) / 1e6);
	}
}

/* The ready deadline passed: one line, whatever the number of kernels. */
static void not_ready(struct sup *s)
{
	size_t n = 0, named = 0, first = 0;
	char names[READY_NAMED * (TOPO_NAME_MAX + 4) + 1];
	size_t len = 0;
	names[0] = '\0';
	for (size_t i = 0; i < s->t->nkernels; i++) {
		/* Acquire: pairs with the kernel's release of READY (a count
		 * only; nothing read after it depends on it). */
		if (sv_is_done(s->k[i].state) || (sv_has_process(s->k[i].state) &&
		    atomic_load_explicit(&s->ck[i].state, memory_order_acquire) == SMR_K_READY))
			continue;
		if (n++ == 0)
			first = i;
		if (named < READY_NAMED) {
			int w = snprintf(names + len, sizeof(names) - len, "%s'%s'", named ? ", " : "",
					 s->t->kernels[i].name);
			if (w > 0 && (size_t)w < sizeof(names) - len)
				len += (size_t)w;
			named++;
		}
	}
	char key[PATH_MAX + 64];
	setting(s, "ready", key, sizeof(key));
	if (n == 1)
		say("shmring-supervisor: kernel '%s' did not report ready within %llu ms: does it "
		    "call shmring_kernel_attach()? (%s sets the deadline)", s->t->kernels[first].name,
		    (unsigned long long)s->ready_ms, key);
	else if (n > named)
		say("shmring-supervisor: %zu of %zu kernels did not report ready within %llu ms: %s "
		    "and %zu more: do they call shmring_kernel_attach()? (%s sets the deadline)", n,
		    s->t->nkernels, (unsigned long long)s->ready_ms, names, n - named, key);
	else if (n)
		say("shmring-supervisor: %zu of %zu kernels did not report ready within %llu ms: %s: "
		    "do they call shmring_kernel_attach()? (%s sets the deadline)", n, s->t->nkernels,
		    (unsigned long long)s->ready_ms, names, key);
}

/* ---- set-up ---- */

static int make_control(struct sup *s)
{
	const struct topology *t = s->t;
	struct smr_ctl c;
	/* Header, owner word, cpu and last_status -1: control.c. */
	s->ctl_len = smr_ctl_size((uint32_t)t->nkernels, (uint32_t)t->nrings);
	int fd = smr_ctl_create(t->name, (uint32_t)t->nkernels, (uint32_t)t->nrings, &c);
	if (fd < 0)
		return fd;
	s->ctl_fd = fd;
	s->ctl = c.h;
	struct smr_ctl_header *h = c.h;
	h->event_fd = s->ev_fd;
	s->ck = smr_ctl_kernels(h);
	for (size_t i = 0; i < t->nkernels; i++) {
		snprintf(s->ck[i].name, sizeof(s->ck[i].name), "%s", t->kernels[i].name);
		s->ck[i].journal_fd = s->jnl_fd[i]; /* the number it inherits it under */
	}
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	for (size_t r = 0; r < t->nrings; r++) {
		const struct topo_ring *tr = &t->rings[r];
		cr[r].from_kernel = (uint32_t)tr->from_kernel;
		cr[r].to_kernel = (uint32_t)tr->to_kernel;
		snprintf(cr[r].from_port, sizeof(cr[r].from_port), "%s", tr->from_port);
		snprintf(cr[r].to_port, sizeof(cr[r].to_port), "%s", tr->to_port);
		cr[r].fd = s->ring_fd[r];
		cr[r].wait = (uint32_t)tr->wait;
		cr[r].capacity = shmring_capacity(s->rings[r]);
		cr[r].to_priority = tr->to_priority;
		cr[r].shared = topo_plan_ring_shared(t, s->plan, r);
		cr[r].bcast_n = (uint16_t)tr->bcast_n;
		cr[r].bcast_index = (uint16_t)tr->bcast_index;
	}
	smr_ctl_publish(h); /* release: every field above before "ready" */
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
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->ring_fd[r], 0);
	if (m == MAP_FAILED)
		return;
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	hwloc_bitmap_only(set, (unsigned)node);
	char label[RING_LABEL];
	if (hwloc_set_area_membind(hw, m, len, set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET) < 0
	    && !s->quiet)
		say("shmring-supervisor: note: could not bind ring %s to NUMA node %d: %s",
		    ring_label(s, r, label, sizeof(label)), node, strerror(errno));
	hwloc_bitmap_free(set);
	munmap(m, len);
}

/* "1 MiB", "64 KiB", "4096 B" */
static const char *size_str(uint64_t v, char *buf, size_t cap)
{
	if (v >= (1u << 30) && v % (1u << 30) == 0)
		snprintf(buf, cap, "%llu GiB", (unsigned long long)(v >> 30));
	else if (v >= (1u << 20) && v % (1u << 20) == 0)
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(v >> 20));
	else if (v >= (1u << 10) && v % (1u << 10) == 0)
		snprintf(buf, cap, "%llu KiB", (unsigned long long)(v >> 10));
	else
		snprintf(buf, cap, "%llu B", (unsigned long long)v);
	return buf;
}

/* The file size limit, for messages: "512 KiB". */
static const char *fsize_limit(char *buf, size_t cap)
{
	struct rlimit fl;
	if (getrlimit(RLIMIT_FSIZE, &fl) < 0 || fl.rlim_cur == RLIM_INFINITY)
		snprintf(buf, cap, "unlimited?");
	else
		size_str((uint64_t)fl.rlim_cur, buf, cap);
	return buf;
}

/* Ring r of the topology: an SPSC ring, or the first entry of a broadcast
 * ring (its consumers' policies from the entries that follow). */
static int create_ring(struct sup *s, size_t r)
{
	const struct topo_ring *tr = &s->t->rings[r];
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = tr->capacity;
	o.wait = tr->wait;
	if (!tr->bcast_n)
		return shmring_create(NULL, &o, &s->rings[r]);
	struct shmring_bcast_opts bo = { .consumers = tr->bcast_n };
	for (unsigned i = 0; i < tr->bcast_n; i++)
		bo.policy[i] = (enum shmring_bcast_policy)s->t->rings[r + i].drop;
	return shmring_bcast_create(NULL, &o, &bo, &s->rings[r]);
}

static int make_rings(struct sup *s, hwloc_topology_t hw)
{
	for (size_t r = 0; r < s->t->nrings; r++) {
		const struct topo_ring *tr = &s->t->rings[r];
		if (tr->bcast_index) { /* a later consumer of a broadcast ring: the same ring */
			s->rings[r] = s->rings[r - tr->bcast_index];
			s->ring_fd[r] = s->ring_fd[r - tr->bcast_index];
			continue;
		}
		int rc = create_ring(s, r);
		if (rc < 0) {
			/* Named by its ends (it has no name), with advice that
			 * applies to a memfd ring. */
			char label[RING_LABEL], cap[32], lim[32];
			ring_label(s, r, label, sizeof(label));
			size_str(tr->capacity, cap, sizeof(cap));
			if (rc == -EFBIG)
				say("shmring-supervisor: ring %s (%s:%d): cannot size its %s of memory: "
				    "larger than the file size limit (ulimit -f: %s); raise `ulimit -f`, "
				    "or lower its capacity", label, s->t->file, tr->line, cap,
				    fsize_limit(lim, sizeof(lim)));
			else if (rc == -ENOMEM || rc == -ENOSPC)
				say("shmring-supervisor: ring %s (%s:%d): cannot get its %s of memory: %s; "
				    "lower its capacity, or free memory", label, s->t->file, tr->line, cap,
				    strerror(-rc));
			else if (rc == -EMFILE || rc == -ENFILE)
				say("shmring-supervisor: ring %s (%s:%d): cannot create it: %s; raise "
				    "`ulimit -n`", label, s->t->file, tr->line, strerror(-rc));
			else
				say("shmring-supervisor: ring %s (%s:%d): cannot create it (%s of memory): "
				    "%s", label, s->t->file, tr->line, cap, strerror(-rc));
			return rc;
		}
		s->ring_fd[r] = shmring_fd(s->rings[r]);
		bind_ring_memory(s, hw, r);
	}
	return 0;
}

/* Kernel i's journal could not be made: one line, naming it and the fix. */
static void say_journal_failed(const struct sup *s, size_t i, int rc)
{
	const struct topo_kernel *tk = &s->t->kernels[i];
	const struct kproc *k = &s->k[i];
	char size[32], lim[32];
	snprintf(size, sizeof(size), "%zu bytes", smr_jnl_size(k->nin, k->nout));
	if (rc == -EFBIG)
		say("shmring-supervisor: kernel '%s' (%s:%d): cannot size its journal (%s): larger "
		    "than the file size limit (ulimit -f: %s); raise `ulimit -f`", tk->name,
		    s->t->file, tk->line, size, fsize_limit(lim, sizeof(lim)));
	else if (rc == -EMFILE || rc == -ENFILE)
		say("shmring-supervisor: kernel '%s' (%s:%d): cannot create its journal: %s; raise "
		    "`ulimit -n`", tk->name, s->t->file, tk->line, strerror(-rc));
	else if (rc == -ENOMEM || rc == -ENOSPC)
		say("shmring-supervisor: kernel '%s' (%s:%d): cannot get its journal's %s of memory: "
		    "%s; free memory", tk->name, s->t->file, tk->line, size, strerror(-rc));
	else
		say("shmring-supervisor: kernel '%s' (%s:%d): cannot create its journal (%u inputs, "
		    "%u outputs): %s", tk->name, s->t->file, tk->line, k->nin, k->nout,
		    strerror(-rc));
}

/*
 * One journal per kernel (journal.h: its checkpoint and what its outputs
 * hold of each input), shaped by its ports. Made after the rings, so that
 * a limit both exceed names the ring, the bigger and likelier culprit.
 */
static int make_journals(struct sup *s)
{
	const struct topology *t = s->t;
	for (size_t r = 0; r < t->nrings; r++) {
		s->k[t->rings[r].to_kernel].nin++;
		if (t->rings[r].bcast_index == 0) /* a broadcast ring is one output */
			s->k[t->rings[r].from_kernel].nout++;
	}
	for (size_t i = 0; i < t->nkernels; i++) {
		int fd = smr_jnl_create(t->name, t->kernels[i].name, s->k[i].nin, s->k[i].nout);
		if (fd < 0) {
			say_journal_failed(s, i, fd);
			return fd;
		}
		s->jnl_fd[i] = fd;
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

static int same_key(const char *a, const char *b)
{
	while (*a && *a != '=' && *a == *b)
		a++, b++;
	return (*a == '=' || !*a) && (*b == '=' || !*b);
}

/*
 * A kernel's environment: ours, without HWLOC_SYNTHETIC (a test's fake
 * machine is not the kernel's), with `extra` ("KEY=VALUE", later ones win)
 * set over it. The strings are borrowed.
 */
static char **build_envp(char **extra, size_t nextra)
{
	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	char **envp = calloc(n + nextra + 1, sizeof(char *));
	if (!envp)
		return NULL;
	size_t m = 0;
	for (char **e = environ; e && *e; e++) {
		int drop = same_key(*e, "HWLOC_SYNTHETIC");
		for (size_t x = 0; x < nextra && !drop; x++)
			drop = same_key(*e, extra[x]);
		if (!drop)
			envp[m++] = *e;
	}
	for (size_t x = 0; x < nextra; x++) {
		int later = 0;
		for (size_t y = x + 1; y < nextra && !later; y++)
			later = same_key(extra[x], extra[y]);
		if (!later)
			envp[m++] = extra[x];
	}
	envp[m] = NULL;
	return envp;
}

/* A broadcast ring's figures as consumer i sees them: its reads, lag,
 * redeliveries and skips (what a drop policy moved it past counts as
 * taken, so the producer's count still balances). */
static uint64_t consumer_view(const struct shmring *ring, unsigned i, struct shmring_stats *st)
{
	struct shmring_bcast_consumer c[SHMRING_BCAST_MAX];
	int n = shmring_bcast_consumers(ring, c, SHMRING_BCAST_MAX);
	if (n < 0 || i >= (unsigned)n || i >= SHMRING_BCAST_MAX)
		return 0;
	st->msgs_out = c[i].msgs + c[i].skipped;
	st->bytes_out = c[i].bytes;
	st->fill = c[i].lag;
	st->redelivered = c[i].redelivered;
	st->skipped = 0; /* no checkpoint skips on a broadcast ring: its skips are drops */
	return c[i].skipped;
}

/* Per ring with something to say, then per kernel that resumed from a
 * checkpoint (supervise.c words both). */
static void summary_counts(struct sup *s)
{
	char line[1024];
	for (size_t r = 0; r < s->t->nrings; r++) {
		struct shmring_stats st;
		char label[RING_LABEL];
		if (!s->rings[r] || shmring_stats(s->rings[r], &st) < 0)
			continue;
		const struct topo_ring *tr = &s->t->rings[r];
		uint64_t dropped = tr->bcast_n ? consumer_view(s->rings[r], tr->bcast_index, &st) : 0;
		/* Every start of either end may have been killed between a
		 * publish and its count. */
		unsigned kills = 2 + atomic_load_explicit(&s->ck[tr->from_kernel].restarts,
							  memory_order_relaxed) +
				 atomic_load_explicit(&s->ck[tr->to_kernel].restarts,
						      memory_order_relaxed);
		struct sv_ring_counts c;
		enum sv_counts how = sv_ring_counts(&st, kills, &c);
		c.dropped = dropped;
		ring_label(s, r, label, sizeof(label));
		if (sv_ring_line(line, sizeof(line), label, how, &c, st.fill != 0))
			say("shmring-supervisor: %s", line);
	}
	for (size_t i = 0; i < s->t->nkernels; i++) {
		/* Relaxed: written by the kernel at its attach, read for
		 * display once every kernel has exited. */
		const struct smr_ctl_kernel *ck = &s->ck[i];
		if (sv_resume_line(line, sizeof(line), s->t->kernels[i].name,
				   atomic_load_explicit(&ck->resumes, memory_order_relaxed),
				   atomic_load_explicit(&ck->resumed_gen, memory_order_relaxed),
				   atomic_load_explicit(&ck->skipped, memory_order_relaxed)))
			say("shmring-supervisor: %s", line);
	}
}

static void summary(struct sup *s, int code)
{
	summary_counts(s);
	static const char *const how[] = {
		[RUN_OK] = "finished", [RUN_FAILED] = "ended with a failed kernel",
		[RUN_INTENSITY] = "stopped: restart intensity reached",
		[RUN_STOPPED] = "stopped on request",
		[RUN_KILLED] = "stopped on request, some kernels killed",
	};
	say("shmring-supervisor: '%s' %s (exit %d) after %.2f s, %u restarts", s->t->name,
	    code < 6 && how[code] ? how[code] : "ended on a system error", code,
	    (double)(now_ns() - s->t0) / 1e9, s->restarts);
}

/* Enough descriptors for 2 pipes and a journal per kernel (and a pipe pair
 * more while one starts) and 1 per ring: raise the soft limit toward the
 * hard one (kernels get the old soft limit back). */
static int raise_nofile(struct sup *s)
{
	rlim_t need = 4 * (rlim_t)s->t->nkernels + (rlim_t)s->t->nrings + 64;
	if (getrlimit(RLIMIT_NOFILE, &s->nofile) < 0 || s->nofile.rlim_cur == RLIM_INFINITY ||
	    s->nofile.rlim_cur >= need)
		return 0;
	if (s->nofile.rlim_max != RLIM_INFINITY && s->nofile.rlim_max < need) {
		say("shmring-supervisor: '%s' needs about %llu open descriptors (3 per kernel, 1 per "
		    "ring), more than the hard limit allows (ulimit -Hn: %llu): raise it, or split "
		    "the topology", s->t->name, (unsigned long long)need,
		    (unsigned long long)s->nofile.rlim_max);
		return -1;
	}
	struct rlimit more = { .rlim_cur = need, .rlim_max = s->nofile.rlim_max };
	if (setrlimit(RLIMIT_NOFILE, &more) < 0) {
		say("shmring-supervisor: cannot raise the descriptor limit to %llu: %s",
		    (unsigned long long)need, strerror(errno));
		return -1;
	}
	s->nofile_raised = 1;
	return 0;
}

/* Exec paths made absolute (kernels start in workdir, not here). */
static int absolute_paths(struct sup *s)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	for (size_t i = 0; i < s->t->nkernels; i++) {
		if (s->paths[i][0] == '/')
			continue;
		char *p;
		const char *rel = s->paths[i];
		while (rel[0] == '.' && rel[1] == '/')
			rel += 2;
		if (asprintf(&p, "%s/%s", cwd, rel) < 0)
			return -ENOMEM;
		free(s->paths[i]);
		s->paths[i] = p;
	}
	return 0;
}

/* What each kernel's child needs, prepared here so the child does nothing
 * but system calls. */
static int prepare_kernels(struct sup *s)
{
	const struct topology *t = s->t;
	size_t n = t->nkernels;
	s->ring_of = calloc(2 * t->nrings + 1, sizeof(size_t));
	if (!s->ring_of)
		return -ENOMEM;
	for (size_t r = 0; r < t->nrings; r++) {
		s->k[t->rings[r].from_kernel].nrings++;
		if (t->rings[r].to_kernel != t->rings[r].from_kernel)
			s->k[t->rings[r].to_kernel].nrings++;
	}
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		s->k[i].rings = s->ring_of + at;
		at += s->k[i].nrings;
		s->k[i].nrings = 0;
	}
	for (size_t r = 0; r < t->nrings; r++) {
		struct kproc *a = &s->k[t->rings[r].from_kernel], *b = &s->k[t->rings[r].to_kernel];
		a->rings[a->nrings++] = r;
		if (b != a)
			b->rings[b->nrings++] = r;
	}
	char ctl[32];
	snprintf(ctl, sizeof(ctl), "SHMRING_CONTROL=fd:%d", s->ctl_fd);
	for (size_t i = 0; i < n; i++) {
		const struct topo_kernel *tk = &t->kernels[i];
		struct kproc *k = &s->k[i];
		CPU_ZERO(&k->cpus);
		for (size_t c = 0; c < s->plan->ncpus[i]; c++)
			if (s->plan->cpus[i][c] >= 0 && s->plan->cpus[i][c] < CPU_SETSIZE)
				CPU_SET(s->plan->cpus[i][c], &k->cpus);
		k->bind = s->plan->ncpus[i] > 0;
		/* extra: SHMRING_CONTROL, SHMRING_KERNEL, then the kernel's env
		 * (the topology refuses SHMRING_ keys in env) */
		char **extra = calloc(tk->nenv + 2, sizeof(char *));
		if (!extra)
			return -ENOMEM;
		extra[0] = k->env_ctl = strdup(ctl);
		if (asprintf(&k->env_idx, "SHMRING_KERNEL=%zu", i) < 0)
			k->env_idx = NULL;
		extra[1] = k->env_idx;
		for (size_t e = 0; e < tk->nenv; e++)
			extra[2 + e] = tk->env[e];
		if (extra[0] && extra[1])
			k->envp = build_envp(extra, tk->nenv + 2);
		free(extra);
		if (!k->envp)
			return -ENOMEM;
		if (!(k->argv = build_argv(tk, s->paths[i])))
			return -ENOMEM;
	}
	return 0;
}

static int setup(struct sup *s, hwloc_topology_t hw, const char *workdir)
{
	char err[512] = "out of memory"; /* what an -ENOMEM below leaves in it */
	const struct topology *t = s->t;
	size_t n = t->nkernels;
	s->paths = calloc(n ? n : 1, sizeof(char *));
	s->k = calloc(n ? n : 1, sizeof(*s->k));
	s->order = calloc(n ? n : 1, sizeof(size_t));
	s->rings = calloc(t->nrings ? t->nrings : 1, sizeof(struct shmring *));
	s->ring_fd = calloc(t->nrings ? t->nrings : 1, sizeof(int));
	s->jnl_fd = calloc(n ? n : 1, sizeof(int));
	if (!s->paths || !s->k || !s->order || !s->rings || !s->ring_fd || !s->jnl_fd ||
	    sv_intensity_init(&s->intensity, t->intensity, t->period_ms * 1000000ull) < 0 ||
	    topo_graph_order(t, s->order) < 0) {
		say("shmring-supervisor: out of memory");
		return RUN_SYSTEM;
	}
	for (size_t i = 0; i < n; i++) {
		s->k[i].out.fd = s->k[i].err.fd = -1;
		s->k[i].state = SV_ST_DOWN;
		s->jnl_fd[i] = -1;
	}
	s->nstate[SV_ST_DOWN] = n;
	int npus = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_PU);
	int rc = topo_check_host(t, npus, s->paths, err, sizeof(err));
	/* One look at the running topologies: one of this name is refused,
	 * the others' kernels are placed around. */
	struct topo_others others;
	if (rc == 0 && (rc = topo_others_scan(&others, hw, t->name)) == 0) {
		if (others.same_pid) {
			say("shmring-supervisor: topology '%s' is already running (supervisor pid "
			    "%d): stop it with 'shmring-supervisor stop %s', or rename this one",
			    t->name, (int)others.same_pid, t->name);
			topo_others_free(&others);
			return RUN_INVALID;
		}
		rc = topo_place(t, hw, &others, &s->plan, err, sizeof(err));
		topo_others_free(&others);
	}
	if (rc < 0) {
		say("shmring-supervisor: %s", err);
		return rc == -ENOMEM ? RUN_SYSTEM : RUN_INVALID;
	}
	if ((rc = absolute_paths(s)) < 0) {
		say("shmring-supervisor: cannot tell the current directory: %s", strerror(-rc));
		return RUN_SYSTEM;
	}
	if (workdir && !(s->workdir = realpath(workdir, NULL))) {
		say("shmring-supervisor: cannot use %s as the kernels' working directory: %s",
		    workdir, strerror(errno));
		return RUN_SYSTEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t w = strlen(t->kernels[i].name);
		if (w > s->namew)
			s->namew = w;
	}
	if (raise_nofile(s) < 0)
		return RUN_SYSTEM;
	s->ready_ms = sv_ready_deadline_ms(t->ready_ms, n);
	s->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	s->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	/* Its lowest page a guard: the child runs in our memory (CLONE_VM),
	 * and an overflow must fault, not write over whatever lies below. */
	if (s->stack != MAP_FAILED && mprotect(s->stack, 4096, PROT_NONE) < 0) {
		munmap(s->stack, CHILD_STACK);
		s->stack = MAP_FAILED;
	}
	if (s->ev_fd < 0 || s->ep_fd < 0 || s->null_fd < 0 || s->stack == MAP_FAILED) {
		if (s->stack == MAP_FAILED)
			s->stack = NULL;
		say("shmring-supervisor: cannot set up: %s", strerror(errno));
		return RUN_SYSTEM;
	}
	sigemptyset(&s->blocked);
	sigaddset(&s->blocked, SIGCHLD);
	sigaddset(&s->blocked, SIGINT);
	sigaddset(&s->blocked, SIGTERM);
	sigaddset(&s->blocked, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &s->blocked, &s->orig_mask) < 0 ||
	    (s->sig_fd = signalfd(-1, &s->blocked, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    watch(s, s->sig_fd, EV_SIGNAL) < 0 || watch(s, s->ev_fd, EV_KERNELS) < 0) {
		say("shmring-supervisor: cannot set up signals: %s", strerror(errno));
		return RUN_SYSTEM;
	}
	signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill the supervisor */
	/* Under `ulimit -f`, sizing a ring or a journal past the limit must
	 * fail with EFBIG (and be reported), not kill the supervisor with
	 * SIGXFSZ. */
	signal(SIGXFSZ, SIG_IGN);
	if (make_rings(s, hw) < 0 || make_journals(s) < 0)
		return RUN_SYSTEM;
	if ((rc = make_control(s)) < 0) {
		char lim[32];
		if (rc == -EFBIG)
			say("shmring-supervisor: cannot size the control segment (%zu bytes): larger "
			    "than the file size limit (ulimit -f: %s); raise `ulimit -f`", s->ctl_len,
			    fsize_limit(lim, sizeof(lim)));
		else
			say("shmring-supervisor: cannot create the control segment: %s", strerror(-rc));
		return RUN_SYSTEM;
	}
	if (prepare_kernels(s) < 0) {
		say("shmring-supervisor: out of memory");
		return RUN_SYSTEM;
	}
	return 0;
}

static void on_signal(struct sup *s, const struct signalfd_siginfo *si)
{
	if (si->ssi_signo == SIGCHLD)
		return; /* reaped below, every turn */
	const char *sig = sigabbrev_np((int)si->ssi_signo);
	if (s->stopping) {
		if (!s->quiet)
			say("shmring-supervisor: SIG%s again: killing every kernel now", sig ? sig : "?");
		for (size_t i = 0; i < s->t->nkernels; i++)
			kernel_event(s, i, SV_EV_KILL_NOW, 0);
	} else {
		char why[32];
		snprintf(why, sizeof(why), "SIG%s", sig ? sig : "?");
		begin_stop(s, why);
	}
}

static int loop(struct sup *s)
{
	size_t n = s->t->nkernels;
	struct epoll_event ev[EVENTS];
	s->launch_ns = now_ns();
	s->ready_deadline = after_ms(s->launch_ns, s->ready_ms);
	/* In file order, until one cannot be started (its SPAWN_FAILED stops
	 * the topology: the rest stay DOWN). */
	for (size_t i = 0; i < n && !s->stopping; i++)
		kernel_event(s, i, spawn(s, i) < 0 ? SV_EV_SPAWN_FAILED : SV_EV_SPAWNED, 0);
	while (nalive(s) || s->nstate[SV_ST_RESTART_PENDING]) {
		uint64_t now = now_ns();
		int timeout = 1000;
		if (s->nstate[SV_ST_STOPPING] || s->nstate[SV_ST_RESTARTING])
			for (size_t i = 0; i < n; i++) {
				struct kproc *k = &s->k[i];
				if (k->state != SV_ST_STOPPING && k->state != SV_ST_RESTARTING)
					continue;
				if (now >= k->kill_at) {
					kernel_event(s, i, SV_EV_GRACE_OVER, 0);
				} else {
					uint64_t ms = (k->kill_at - now) / 1000000u + 1;
					if (ms < (uint64_t)timeout)
						timeout = (int)ms;
				}
			}
		if (!s->stopping && s->topo_state == SMR_TOPO_STARTING) {
			if (now >= s->ready_deadline) {
				not_ready(s);
				s->any_failed = 1;
				begin_stop(s, NULL);
				continue;
			}
			uint64_t ms = (s->ready_deadline - now) / 1000000u + 1;
			if (ms < (uint64_t)timeout)
				timeout = (int)ms;
		}
		int ne = epoll_wait(s->ep_fd, ev, EVENTS, timeout);
		if (ne < 0 && errno != EINTR) {
			say("shmring-supervisor: epoll_wait: %s", strerror(errno));
			s->exit_code = RUN_SYSTEM;
			begin_stop(s, NULL);
			for (size_t i = 0; i < n; i++)
				kernel_event(s, i, SV_EV_KILL_NOW, 0);
		}
		for (int e = 0; e < ne; e++) {
			uint64_t d = ev[e].data.u64;
			if (d == EV_SIGNAL) {
				struct signalfd_siginfo si;
				while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					on_signal(s, &si);
			} else if (d == EV_KERNELS) {
				uint64_t v;
				if (read(s->ev_fd, &v, sizeof(v)) < 0) {
					/* EAGAIN: another turn drained it */
				}
			} else if (d - EV_PIPES < 2 * (uint64_t)n) {
				size_t i = (size_t)(d - EV_PIPES) / 2;
				pump(s, i, (d - EV_PIPES) % 2 ? &s->k[i].err : &s->k[i].out);
			}
		}
		reap(s);
		maybe_activate(s);
	}
	say_overran(s);
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
			if (s->rings[r] && s->t->rings[r].bcast_index == 0) /* one handle a ring */
				shmring_detach(s->rings[r]);
	if (s->ctl)
		munmap(s->ctl, s->ctl_len);
	if (s->stack)
		munmap(s->stack, CHILD_STACK);
	int fds[] = { s->ctl_fd, s->ev_fd, s->sig_fd, s->ep_fd, s->null_fd };
	for (size_t f = 0; f < sizeof(fds) / sizeof(fds[0]); f++)
		if (fds[f] >= 0)
			close(fds[f]);
	for (size_t i = 0; s->k && i < s->t->nkernels; i++) {
		struct kproc *k = &s->k[i];
		free(k->argv);
		free(k->envp);
		free(k->env_ctl);
		free(k->env_idx);
		if (k->out.fd >= 0)
			close(k->out.fd);
		if (k->err.fd >= 0)
			close(k->err.fd);
		if (s->jnl_fd && s->jnl_fd[i] >= 0)
			close(s->jnl_fd[i]);
	}
	for (size_t i = 0; s->paths && i < s->t->nkernels; i++)
		free(s->paths[i]);
	free(s->paths);
	free(s->workdir);
	free(s->k);
	free(s->order);
	free(s->rings);
	free(s->ring_fd);
	free(s->jnl_fd);
	free(s->ring_of);
	sv_intensity_free(&s->intensity);
	topo_plan_free(s->plan);
}

int run_topology(struct topology *t, const char *workdir, int quiet)
{
	struct sup s = { .t = t, .ctl_fd = -1, .sig_fd = -1, .ev_fd = -1, .ep_fd = -1,
			 .null_fd = -1, .quiet = quiet, .topo_state = SMR_TOPO_STARTING };
	s.self = getpid();
	s.t0 = now_ns();
	hwloc_topology_t hw;
	if (hwloc_topology_init(&hw) < 0 || hwloc_topology_load(hw) < 0) {
		say("shmring-supervisor: cannot read this machine's topology (hwloc): %s",
		    strerror(errno));
		return RUN_SYSTEM;
	}
	int code = setup(&s, hw, workdir);
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
