/* SPDX-License-Identifier: MIT */
/*
 * test-util.h: what the unit tests, the stress test and the benchmarks all
 * need, written once: a monotonic clock, sleeps, forked children that are
 * reaped (with a deadline), unique names and temporary files, pinning, and
 * a growing text buffer. Plain C11 on Linux, no cmocka: a helper returns 0,
 * a count or -errno and the caller asserts, so it works inside a cmocka
 * test, a forked child and a benchmark alike.
 */
#ifndef SHMRING_TEST_UTIL_H
#define SHMRING_TEST_UTIL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before the first #include: test-util.h needs sched_setaffinity and open_memstream"
#endif

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time --------------------------------------------------------------- */

/* CLOCK_MONOTONIC: durations and deadlines, immune to the wall clock being
 * set while a test runs. */
static inline uint64_t tu_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t tu_now_ms(void)
{
	return tu_now_ns() / 1000000u;
}

/* Seconds since t0_ns (a tu_now_ns() value). */
static inline double tu_since_s(uint64_t t0_ns)
{
	return (double)(tu_now_ns() - t0_ns) / 1e9;
}

/* Sleeps the whole time even when a signal (a child's SIGCHLD) interrupts. */
static inline void tu_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) }, rest;
	while (nanosleep(&ts, &rest) < 0 && errno == EINTR)
		ts = rest;
}

static inline void tu_sleep_ms(uint64_t ms)
{
	tu_sleep_ns(ms * 1000000u);
}

/* ---- children ----------------------------------------------------------- */

/* A wait status as a shell reports it: the exit code, or 128 + the signal. */
static inline int tu_exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * fn(arg) in a forked child that _exits with what fn returns: the child
 * never returns into the caller, because an assert there would long-jump
 * into the child's copy of the cmocka runner, which would run the remaining
 * tests again. stdio is flushed first so buffered output is not written
 * twice, and the child is killed if the parent dies (a test killed by its
 * timeout leaves no orphan holding a ring). The pid, or -errno.
 */
static inline pid_t tu_fork(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* died before prctl took effect */
			_exit(127);
		_exit(fn(arg));
	}
	return pid;
}

/* Wait for pid: its exit code (see tu_exit_code), or -errno. A pid that is
 * not positive (a failed tu_fork) is -ECHILD, never waitpid's "any child". */
static inline int tu_reap(pid_t pid)
{
	int st;
	if (pid <= 0)
		return -ECHILD;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return tu_exit_code(st);
}

/*
 * tu_reap, but a child still running at deadline_ns (tu_now_ns() clock) is
 * killed with SIGKILL and reaped, and the result is -ETIMEDOUT. Polls every
 * 2 ms: for children that run a while (a parse, a benchmark side), not for
 * measuring how fast one exits.
 */
static inline int tu_reap_by(pid_t pid, uint64_t deadline_ns)
{
	if (pid <= 0)
		return -ECHILD;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return tu_exit_code(st);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (tu_now_ns() >= deadline_ns) {
			kill(pid, SIGKILL);
			tu_reap(pid);
			return -ETIMEDOUT;
		}
		tu_sleep_ns(2000000u);
	}
}

/* ---- names and files ----------------------------------------------------- */

/* "t<pid>-<tag>": a ring or topology name no other run of the test (ctest
 * -j, several build trees) uses at the same time. Returns buf. */
static inline const char *tu_name(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "t%d-%s", (int)getpid(), tag);
	return buf;
}

/* The template "$TMPDIR/shmring-<tag>-XXXXXX" (TMPDIR unset or empty: /tmp);
 * 0, or -ENAMETOOLONG when it does not fit in buf. */
static inline int tu_tmp_template(char *buf, size_t len, const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(buf, len, "%s/shmring-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A new private folder (mkdtemp), its path in buf: 0 or -errno. */
static inline int tu_mkdtemp(char *buf, size_t len, const char *tag)
{
	int rc = tu_tmp_template(buf, len, tag);
	if (rc)
		return rc;
	return mkdtemp(buf) ? 0 : -errno;
}

/* A new private file (mkstemp), its path in buf: the descriptor or -errno. */
static inline int tu_mkstemp(char *buf, size_t len, const char *tag)
{
	int rc = tu_tmp_template(buf, len, tag);
	if (rc)
		return rc;
	int fd = mkstemp(buf);
	return fd < 0 ? -errno : fd;
}

/* ---- CPUs --------------------------------------------------------------- */

/* Pin the calling thread to one CPU: 0 or -errno (no such CPU, or outside
 * the cpuset this process may use). */
static inline int tu_pin_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/* ---- text built with printf ---------------------------------------------- */

/* A memory stream: fprintf into t->f, then tu_text_close for the string. */
struct tu_text {
	char *s;
	size_t len;
	FILE *f;
};

/* The stream to write to, or NULL (errno set). */
static inline FILE *tu_text_open(struct tu_text *t)
{
	t->s = NULL;
	t->len = 0;
	t->f = open_memstream(&t->s, &t->len);
	return t->f;
}

/* The text written, NUL-terminated, t->len bytes; the caller frees it.
 * NULL when the stream could not be flushed (out of memory). */
static inline char *tu_text_close(struct tu_text *t)
{
	int rc = fclose(t->f);
	t->f = NULL;
	if (rc) {
		free(t->s);
		t->s = NULL;
	}
	return t->s;
}

#endif
