/* SPDX-License-Identifier: MIT */
/*
 * The kernel API without a supervisor: each test builds a control segment by
 * hand (as shmring-supervisor would), points SHMRING_CONTROL at it, and
 * checks attach, ports, the ready/activate barrier, the multi-input wait and
 * its priority order, the stop flag and detach. Peers are forked children
 * that only _exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>
#include <cmocka.h>

#include <shmring/io.h>
#include <shmring/shmring.h>
#include "control.h"
#include "journal.h"
#include "../../libshmring/src/ring_internal.h" /* the sleeping flag and its values, for the shared-cpu tests */
#include "../common/test-util.h"

/* Kernel 0 "k" is the one under test; kernel 1 "peer" is the other end of
 * every ring: peer.o1 -> k.a, peer.o2 -> k.b, k.out -> peer.in. */
struct fixture {
	struct shmring *ring[3];
	struct smr_ctl_header *ctl;
	size_t len;
	int ctl_fd, ev_fd;
};

static void env_for(struct fixture *f, unsigned kernel)
{
	char v[32];
	snprintf(v, sizeof(v), "fd:%d", dup(f->ctl_fd)); /* attach closes it */
	setenv("SHMRING_CONTROL", v, 1);
	snprintf(v, sizeof(v), "%u", kernel);
	setenv("SHMRING_KERNEL", v, 1);
}

/* A control segment of nk kernels and nr rings, header filled in, version
 * not yet published (the caller fills the blocks, then stores it). */
static struct smr_ctl_header *map_ctl(struct fixture *f, uint32_t nk, uint32_t nr,
				      uint32_t state, const char *name)
{
	memset(f, 0, sizeof(*f));
	f->len = smr_ctl_size(nk, nr);
	f->ctl_fd = memfd_create("shmring-ctl.test", MFD_CLOEXEC);
	assert_true(f->ctl_fd >= 0);
	assert_int_equal(ftruncate(f->ctl_fd, (off_t)f->len), 0);
	f->ctl = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, f->ctl_fd, 0);
	assert_true(f->ctl != MAP_FAILED);
	f->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct smr_ctl_header *h = f->ctl;
	h->size = (uint32_t)f->len;
	h->magic = SHMRING_CTL_MAGIC;
	h->nkernels = nk;
	h->nrings = nr;
	h->event_fd = f->ev_fd;
	h->state = state;
	strcpy(h->name, name);
	for (uint32_t i = 0; i < nk; i++)
		smr_ctl_kernels(h)[i].journal_fd = -1; /* no journal: at-least-once */
	return h;
}

static void build(struct fixture *f, uint32_t state)
{
	struct smr_ctl_header *h = map_ctl(f, 2, 3, state, "test");
	strcpy(smr_ctl_kernels(h)[0].name, "k");
	strcpy(smr_ctl_kernels(h)[1].name, "peer");
	static const char *const from[3] = { "o1", "o2", "out" };
	static const char *const to[3] = { "a", "b", "in" };
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(shmring_create(NULL, NULL, &f->ring[r]), 0);
		cr[r].from_kernel = r < 2 ? 1 : 0;
		cr[r].to_kernel = r < 2 ? 0 : 1;
		strcpy(cr[r].from_port, from[r]);
		strcpy(cr[r].to_port, to[r]);
		cr[r].fd = dup(shmring_fd(f->ring[r])); /* the kernel closes it */
		cr[r].wait = SHMRING_WAIT_ADAPTIVE;
	}
	h->version = SHMRING_CTL_VERSION;
	env_for(f, 0);
}

static void teardown_fixture(struct fixture *f)
{
	for (int r = 0; r < 3; r++)
		shmring_detach(f->ring[r]);
	munmap(f->ctl, f->len);
	close(f->ctl_fd);
	close(f->ev_fd);
	unsetenv("SHMRING_CONTROL");
	unsetenv("SHMRING_KERNEL");
}





static void attach_outside_supervisor_says_how_to_launch(void **s)
{
	(void)s;
	unsetenv("SHMRING_CONTROL");
	unsetenv("SHMRING_KERNEL");
	struct shmring_kernel *k = (void *)1;
	assert_int_equal(shmring_kernel_attach(&k), -ENOENT);
	assert_null(k);
	assert_non_null(strstr(shmring_errmsg(), "not started by shmring-supervisor"));
	assert_non_null(strstr(shmring_errmsg(), "shmring-supervisor run -e"));
}

static void attach_rejects_malformed_environment(void **s)
{
	(void)s;
	struct shmring_kernel *k;
	setenv("SHMRING_CONTROL", "fd:x", 1);
	setenv("SHMRING_KERNEL", "0", 1);
	assert_int_equal(shmring_kernel_attach(&k), -EINVAL);
	setenv("SHMRING_CONTROL", "fd:3", 1);
	setenv("SHMRING_KERNEL", "-1x", 1);
	assert_int_equal(shmring_kernel_attach(&k), -EINVAL);
	unsetenv("SHMRING_CONTROL");
	unsetenv("SHMRING_KERNEL");
}

static void attach_rejects_foreign_or_corrupt_segment(void **s)
{
	(void)s;
	struct shmring_kernel *k;
	struct fixture f;
	/* not a control segment at all: a ring */
	char v[32];
	struct shmring *r;
	assert_int_equal(shmring_create(NULL, NULL, &r), 0);
	snprintf(v, sizeof(v), "fd:%d", dup(shmring_fd(r)));
	setenv("SHMRING_CONTROL", v, 1);
	setenv("SHMRING_KERNEL", "0", 1);
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "is not a shmring control segment"));
	shmring_detach(r);
	/* right size, wrong magic */
	build(&f, SMR_TOPO_ACTIVE);
	f.ctl->magic ^= 1;
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "not a shmring control segment"));
	f.ctl->magic ^= 1;
	/* another version */
	f.ctl->version = SHMRING_CTL_VERSION + 1;
	env_for(&f, 0); /* each attach closes the descriptor it was given */
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "control segment version 3, this program reads version 2"));
	f.ctl->version = SHMRING_CTL_VERSION;
	/* counts that do not match the size */
	f.ctl->nrings = 4000;
	env_for(&f, 0);
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "the control segment is corrupt"));
	f.ctl->nrings = 3;
	/* a kernel index past the end */
	env_for(&f, 7);
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "SHMRING_KERNEL=7"));
	/* a port name without its NUL */
	env_for(&f, 0);
	memset(smr_ctl_rings(f.ctl)[0].to_port, 'x', SHMRING_CTL_NAME);
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	teardown_fixture(&f);
}

/* Kernel k's metrics live in its journal: a restart finds them again, and
 * a reader (shmring-stat) sees them through a read-only mapping. */
static void metrics_survive_a_restart_and_are_read_back(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_ACTIVE);
	int jfd = smr_jnl_create("test", "k", 2, 1);
	assert_true(jfd >= 0);
	smr_ctl_kernels(f.ctl)[0].journal_fd = dup(jfd); /* the kernel closes it */
	assert_int_equal(shmring_kernel_attach(&k), 0);
	int acked = shmring_kernel_metric(k, "acked");
	int reconnects = shmring_kernel_metric(k, "reconnects");
	assert_true(acked >= 0 && reconnects >= 0 && acked != reconnects);
	assert_int_equal(shmring_kernel_metric(k, "acked"), acked);
	assert_int_equal(shmring_kernel_metric(k, "Bad-Name"), -EINVAL);
	assert_int_equal(shmring_kernel_metric(k, ""), -EINVAL);
	assert_int_equal(shmring_kernel_metric(k, "a_name_longer_than_23_ch"), -EINVAL);
	shmring_kernel_metric_set(k, acked, 40);
	shmring_kernel_metric_add(k, acked, 2);
	shmring_kernel_metric_add(k, reconnects, 1);
	shmring_kernel_metric_add(k, 99, 1); /* ignored */
	shmring_kernel_metric_set(k, -1, 1);  /* ignored */
	assert_int_equal(shmring_kernel_set_note(k, "remote b tcp://10.77.0.2:7701"), 0);
	for (int i = 2; i < SHMRING_KERNEL_METRICS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "m%d", i);
		assert_true(shmring_kernel_metric(k, name) >= 0);
	}
	assert_int_equal(shmring_kernel_metric(k, "one_too_many"), -ENOSPC);
	/* a stop: the ports are left open; the restarted kernel finds its own */
	atomic_store(&smr_ctl_kernels(f.ctl)[0].stop, 1u);
	assert_int_equal(shmring_kernel_detach(k), 0);
	atomic_store(&smr_ctl_kernels(f.ctl)[0].stop, 0u);
	for (int r = 0; r < 3; r++) /* what the supervisor hands a restarted kernel */
		smr_ctl_rings(f.ctl)[r].fd = dup(shmring_fd(f.ring[r]));
	smr_ctl_kernels(f.ctl)[0].journal_fd = dup(jfd);
	env_for(&f, 0);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_kernel_metric(k, "acked"), acked);
	shmring_kernel_metric_add(k, acked, 1);
	/* the reader's view */
	struct smr_jnl j;
	char why[160], name[SHMRING_JNL_METRIC_NAME], note[SHMRING_JNL_NOTE];
	uint64_t v;
	assert_int_equal(smr_jnl_observe(jfd, &j, why, sizeof(why)), 0);
	assert_int_equal(smr_jnl_metric_get(&j, (unsigned)acked, name, &v), 1);
	assert_string_equal(name, "acked");
	assert_int_equal(v, 43);
	assert_int_equal(smr_jnl_metric_get(&j, (unsigned)reconnects, name, &v), 1);
	assert_int_equal(v, 1);
	smr_jnl_note_get(&j, note);
	assert_string_equal(note, "remote b tcp://10.77.0.2:7701");
	/* a corrupt name (unterminated) reads as corrupt, never as garbage */
	struct smr_jnl w;
	assert_int_equal(smr_jnl_attach(jfd, 2, 1, &w, why, sizeof(why)), 0);
	memset(w.metrics->m[reconnects].name, 'x', SHMRING_JNL_METRIC_NAME);
	memset(w.metrics->note, 'y', SHMRING_JNL_NOTE);
	assert_int_equal(smr_jnl_metric_get(&j, (unsigned)reconnects, name, &v), -1);
	assert_string_equal(name, "");
	memcpy(w.metrics->m[reconnects].name, "Bad-Name", 9); /* terminated, not a name */
	assert_int_equal(smr_jnl_metric_get(&j, (unsigned)reconnects, name, &v), -1);
	smr_jnl_note_get(&j, note);
	assert_string_equal(note, "");
	smr_jnl_detach(&w);
	smr_jnl_detach(&j);
	assert_int_equal(shmring_kernel_detach(k), 0);
	close(jfd);
	teardown_fixture(&f);
}

/* A checkpoint staged while a read-ahead window is open waits for the
 * release_to, and covers what it releases: a restart skips the window
 * instead of handing it again to a kernel whose state already holds it. */
static void checkpoint_covers_a_released_read_ahead_window(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_ACTIVE);
	int jfd = smr_jnl_create("test", "k", 2, 1);
	assert_true(jfd >= 0);
	smr_ctl_kernels(f.ctl)[0].journal_fd = dup(jfd); /* the kernel closes it */
	assert_int_equal(shmring_kernel_attach(&k), 0);
	char where[32];
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(f.ring[0]));
	struct shmring *p;
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmring_send(p, "msg", 3, 0), 0);
	struct shmring *a = shmring_kernel_port(k, "a");
	uint64_t cur = 0;
	const void *b;
	size_t len;
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmring_peek_ahead(a, &cur, NULL, &b, &len, 0), 3);
	struct smr_jnl j;
	char why[160];
	assert_int_equal(smr_jnl_observe(jfd, &j, why, sizeof(why)), 0);
	uint64_t gen, slen;
	const uint64_t *tails;
	const uint8_t *state;
	/* staged with the window open: not published yet */
	assert_int_equal(shmring_kernel_checkpoint(k, "three", 5), 0);
	assert_int_equal(smr_jnl_current(&j, &gen, &tails, &state, &slen), 0);
	assert_int_equal(gen, 0);
	/* published with the release_to, covering the window */
	assert_int_equal(shmring_release_to(a, cur), 0);
	assert_int_equal(smr_jnl_current(&j, &gen, &tails, &state, &slen), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(tails[0], cur);
	assert_int_equal(slen, 5);
	assert_memory_equal(state, "three", 5);
	smr_jnl_detach(&j);
	shmring_detach(p);
	assert_int_equal(shmring_kernel_detach(k), 0);
	close(jfd);
	teardown_fixture(&f);
}

static void ports_are_found_by_name_and_in_order(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_ACTIVE);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_string_equal(shmring_kernel_name(k), "k");
	assert_int_equal(shmring_kernel_ninputs(k), 2);
	assert_int_equal(shmring_kernel_noutputs(k), 1);
	struct shmring *a = shmring_kernel_port(k, "a"), *out = shmring_kernel_port(k, "out");
	assert_non_null(a);
	assert_non_null(out);
	assert_ptr_equal(shmring_kernel_input(k, 0), a);
	assert_ptr_equal(shmring_kernel_input(k, 1), shmring_kernel_port(k, "b"));
	assert_ptr_equal(shmring_kernel_output(k, 0), out);
	assert_null(shmring_kernel_input(k, 2));
	assert_null(shmring_kernel_output(k, 1));
	assert_null(shmring_kernel_port(k, "nope"));
	assert_non_null(strstr(shmring_errmsg(), "kernel 'k' has no port 'nope' (it has: input a, input b, output out)"));
	/* the roles are right: inputs consume, outputs produce */
	assert_int_equal(shmring_send(out, "x", 1, 0), 0);
	assert_int_equal(shmring_send(a, "x", 1, 0), -EBADF);
	assert_int_equal(smr_ctl_kernels(f.ctl)[0].state, SMR_K_ACTIVE);
	uint64_t pokes = 0;
	assert_int_equal(read(f.ev_fd, &pokes, sizeof(pokes)), (ssize_t)sizeof(pokes));
	assert_true(pokes >= 1); /* it told the supervisor it was ready */
	shmring_kernel_detach(k);
	teardown_fixture(&f);
}

static int activate_later(void *arg)
{
	struct fixture *f = arg;
	tu_sleep_ms(150);
	if (smr_ctl_kernels(f->ctl)[0].state != SMR_K_READY)
		return 1;
	atomic_store(&f->ctl->state, (uint32_t)SMR_TOPO_ACTIVE);
	atomic_fetch_add(&f->ctl->active_seq, 1u);
	syscall(SYS_futex, &f->ctl->active_seq, FUTEX_WAKE, 100, NULL, NULL, 0);
	return 0;
}

static void attach_returns_only_once_the_topology_is_active(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_STARTING);
	pid_t pid = tu_fork(activate_later, &f);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_true(tu_now_ms() - t0 >= 100);
	assert_int_equal(tu_reap(pid), 0); /* it saw READY before activating */
	assert_int_equal(smr_ctl_kernels(f.ctl)[0].state, SMR_K_ACTIVE);
	assert_false(shmring_kernel_should_stop(k));
	shmring_kernel_detach(k);
	teardown_fixture(&f);
}

static int send_on_b_later(void *arg)
{
	struct fixture *f = arg;
	char v[32];
	struct shmring *p;
	snprintf(v, sizeof(v), "fd:%d", shmring_fd(f->ring[1]));
	if (shmring_attach(v, SHMRING_ROLE_PRODUCER, &p) < 0)
		return 1;
	tu_sleep_ms(150);
	int rc = shmring_send(p, "hello", 5, 1000);
	shmring_detach(p);
	return rc == 0 ? 0 : 2;
}

static int stop_later(void *arg)
{
	struct fixture *f = arg;
	tu_sleep_ms(150);
	atomic_store(&smr_ctl_kernels(f->ctl)[0].stop, 1u);
	syscall(SYS_futex, &smr_ctl_kernels(f->ctl)[0].stop, FUTEX_WAKE, 100, NULL, NULL, 0);
	return 0;
}

static void wait_wakes_on_any_input_and_on_stop(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_ACTIVE);
	/* no peer-liveness slices hide a lost wake-up here */
	setenv("SHMRING_PEER_CHECK_MS", "60000", 1);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_kernel_wait(k, 0), -EAGAIN);
	assert_int_equal(shmring_kernel_wait(k, 50), -ETIMEDOUT);
	/* the second input: a message from another process ends the wait */
	pid_t pid = tu_fork(send_on_b_later, &f);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_wait(k, 10000), 1);
	assert_true(tu_now_ms() - t0 < 5000);
	char buf[8];
	assert_int_equal(shmring_recv(shmring_kernel_port(k, "b"), buf, sizeof(buf), 0), 5);
	assert_int_equal(shmring_recv(shmring_kernel_port(k, "a"), buf, sizeof(buf), 0), -EAGAIN);
	assert_int_equal(tu_reap(pid), 0);
	/* the stop flag ends it too, and should_stop says so */
	pid = tu_fork(stop_later, &f);
	t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_wait(k, 10000), 0);
	assert_true(tu_now_ms() - t0 < 5000);
	assert_true(shmring_kernel_should_stop(k));
	assert_int_equal(tu_reap(pid), 0);
	/* a port blocked in a plain ring call ends with -ECANCELED on a stop */
	atomic_store(&smr_ctl_kernels(f.ctl)[0].stop, 0u);
	pid = tu_fork(stop_later, &f);
	t0 = tu_now_ms();
	const void *m;
	size_t len;
	assert_int_equal(shmring_peek(shmring_kernel_port(k, "a"), &m, &len, -1), -ECANCELED);
	assert_true(tu_now_ms() - t0 < 5000);
	assert_int_equal(tu_reap(pid), 0);
	/* ... and so does a producer waiting for room */
	atomic_store(&smr_ctl_kernels(f.ctl)[0].stop, 0u);
	struct shmring *out = shmring_kernel_port(k, "out");
	while (shmring_send(out, buf, 8, 0) == 0)
		;
	pid = tu_fork(stop_later, &f);
	assert_int_equal(shmring_send(out, buf, 8, -1), -ECANCELED);
	assert_int_equal(tu_reap(pid), 0);
	/* stopped: detach leaves the rings open for a successor */
	shmring_kernel_detach(k);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(f.ring[2], &st), 0);
	assert_false(st.producer_closed);
	assert_int_equal(smr_ctl_kernels(f.ctl)[0].finished, 0);
	unsetenv("SHMRING_PEER_CHECK_MS");
	teardown_fixture(&f);
}

static void finished_kernel_closes_its_ports_on_detach(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_ACTIVE);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_send(shmring_kernel_port(k, "out"), "last", 4, 0), 0);
	assert_int_equal(shmring_kernel_detach(k), 0);
	assert_int_equal(smr_ctl_kernels(f.ctl)[0].finished, 1);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(f.ring[2], &st), 0);
	assert_true(st.producer_closed);
	assert_int_equal(st.msgs_in, 1);
	assert_int_equal(shmring_stats(f.ring[0], &st), 0);
	assert_true(st.consumer_closed);
	/* the consumer of "out" reads the message, then end of stream */
	char v[32], buf[8];
	struct shmring *c;
	snprintf(v, sizeof(v), "fd:%d", shmring_fd(f.ring[2]));
	assert_int_equal(shmring_attach(v, SHMRING_ROLE_CONSUMER, &c), 0);
	assert_int_equal(shmring_recv(c, buf, sizeof(buf), 0), 4);
	assert_int_equal(shmring_recv(c, buf, sizeof(buf), 0), 0);
	shmring_detach(c);
	teardown_fixture(&f);
}

static void event_fd_that_is_not_an_eventfd_is_left_alone(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	build(&f, SMR_TOPO_ACTIVE);
	f.ctl->event_fd = p[1]; /* corrupt: names a pipe of this process */
	assert_int_equal(shmring_kernel_attach(&k), 0);
	shmring_kernel_detach(k);
	char b;
	assert_int_equal(read(p[0], &b, 1), -1); /* nothing was written to it ... */
	assert_int_equal(errno, EAGAIN);
	assert_true(fcntl(p[1], F_GETFD) >= 0); /* ... and it was not closed */
	close(p[0]);
	close(p[1]);
	teardown_fixture(&f);
}

/* A control segment the parser would refuse: one kernel "d" whose three
 * rings all go from itself to itself (d.o0 -> d.i0, ...). Each ring gives it
 * two ports; a port array sized by rings overflowed the heap. */
static void build_self_loops(struct fixture *f)
{
	struct smr_ctl_header *h = map_ctl(f, 1, 3, SMR_TOPO_ACTIVE, "loop");
	strcpy(smr_ctl_kernels(h)[0].name, "d");
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(shmring_create(NULL, NULL, &f->ring[r]), 0);
		cr[r].from_kernel = 0;
		cr[r].to_kernel = 0;
		snprintf(cr[r].from_port, SHMRING_CTL_NAME, "o%d", r);
		snprintf(cr[r].to_port, SHMRING_CTL_NAME, "i%d", r);
		cr[r].fd = dup(shmring_fd(f->ring[r])); /* the kernel closes it */
		cr[r].wait = SHMRING_WAIT_ADAPTIVE;
	}
	h->version = SHMRING_CTL_VERSION;
	env_for(f, 0);
}

static void ring_from_a_kernel_to_itself_is_two_ports_not_an_overflow(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build_self_loops(&f);
	/* Under ASan a port array of nrings entries is a heap-buffer-overflow
	 * here; without it, the second end of a ring failed to attach. */
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_kernel_ninputs(k), 3);
	assert_int_equal(shmring_kernel_noutputs(k), 3);
	/* it works: what the kernel sends on o1 comes back on i1 */
	struct shmring *o1 = shmring_kernel_port(k, "o1"), *i1 = shmring_kernel_port(k, "i1");
	assert_non_null(o1);
	assert_non_null(i1);
	assert_ptr_equal(shmring_kernel_input(k, 1), i1);
	assert_ptr_equal(shmring_kernel_output(k, 1), o1);
	assert_int_equal(shmring_send(o1, "loop", 4, 0), 0);
	assert_int_equal(shmring_kernel_wait(k, 1000), 1);
	char buf[8];
	assert_int_equal(shmring_recv(i1, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "loop", 4);
	assert_null(shmring_kernel_port(k, "o3"));
	assert_non_null(strstr(shmring_errmsg(), "input i0, input i1, input i2, output o0"));
	assert_int_equal(shmring_kernel_detach(k), 0);
	teardown_fixture(&f);
}

/* ---- priority inputs: shmring_kernel_wait_ready's order ---- */

#define DATA_BACKLOG 1000000u

/* Kernel "k" with inputs data (ring 0, first in topology order) and control
 * (ring 1), both fed by "peer"; this process holds the producer ends.
 * data holds DATA_BACKLOG 8-byte messages (16-byte records: 16 MB). */
static void build_prio(struct fixture *f, int32_t data_prio, int32_t control_prio)
{
	struct smr_ctl_header *h = map_ctl(f, 2, 2, SMR_TOPO_ACTIVE, "prio");
	strcpy(smr_ctl_kernels(h)[0].name, "k");
	strcpy(smr_ctl_kernels(h)[1].name, "peer");
	static const char *const to[2] = { "data", "control" };
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	for (int r = 0; r < 2; r++) {
		struct shmring_opts o;
		shmring_opts_init(&o);
		o.role = SHMRING_ROLE_PRODUCER;
		o.capacity = r == 0 ? 32u << 20 : 4096;
		assert_int_equal(shmring_create(NULL, &o, &f->ring[r]), 0);
		cr[r].from_kernel = 1;
		cr[r].to_kernel = 0;
		snprintf(cr[r].from_port, SHMRING_CTL_NAME, "o%d", r);
		strcpy(cr[r].to_port, to[r]);
		cr[r].fd = dup(shmring_fd(f->ring[r])); /* the kernel closes it */
		cr[r].wait = SHMRING_WAIT_ADAPTIVE;
		cr[r].to_priority = r == 0 ? data_prio : control_prio;
	}
	h->version = SHMRING_CTL_VERSION;
	env_for(f, 0);
}

static void control_message_overtakes_a_million_queued_data_messages(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build_prio(&f, SMR_PRIO_NORMAL, SMR_PRIO_HIGH);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	struct shmring *data = shmring_kernel_port(k, "data"), *control = shmring_kernel_port(k, "control");
	assert_ptr_equal(shmring_kernel_input(k, 0), data);
	assert_int_equal(shmring_kernel_input_priority(k, 0), SMR_PRIO_NORMAL);
	assert_int_equal(shmring_kernel_input_priority(k, 1), SMR_PRIO_HIGH);
	assert_int_equal(shmring_kernel_input_priority(k, 2), -ERANGE);
	struct shmring *ready[2] = { NULL, NULL };
	assert_int_equal(shmring_kernel_wait_ready(k, 0, ready, 2), -EAGAIN);
	for (uint64_t i = 0; i < DATA_BACKLOG; i++)
		assert_int_equal(shmring_send(f.ring[0], &i, sizeof(i), 0), 0);
	assert_int_equal(shmring_send(f.ring[1], "stop", 4, 0), 0); /* sent last */
	assert_int_equal(shmring_kernel_wait_ready(k, 1000, ready, 2), 2);
	assert_ptr_equal(ready[0], control);
	assert_ptr_equal(ready[1], data);
	/* cap bounds what is filled, not the count */
	struct shmring *one[2] = { NULL, (void *)&f };
	assert_int_equal(shmring_kernel_wait_ready(k, 0, one, 1), 2);
	assert_ptr_equal(one[0], control);
	assert_ptr_equal(one[1], (void *)&f);
	/* served in that order: the control message first, then every data
	 * message, in order, none lost */
	char buf[8];
	assert_int_equal(shmring_recv(ready[0], buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "stop", 4);
	assert_int_equal(shmring_kernel_wait_ready(k, 0, ready, 2), 1);
	assert_ptr_equal(ready[0], data);
	uint64_t v;
	for (uint64_t i = 0; i < DATA_BACKLOG; i++) {
		assert_int_equal(shmring_recv(data, &v, sizeof(v), 0), sizeof(v));
		if (v != i)
			fail_msg("data message %llu read as %llu", (unsigned long long)i,
				 (unsigned long long)v);
	}
	assert_int_equal(shmring_kernel_wait_ready(k, 0, ready, 2), -EAGAIN);
	shmring_kernel_detach(k);
	teardown_fixture(&f);
}

/* A plain producer's held run on one input is taken by a kernel's wait
 * even while another input is ready (ring.md, "Adaptive publication"): a
 * wait that stopped at the ready one would leave it invisible for as long
 * as the other stays busy. The producer is in this process: due at once. */
static void held_run_is_taken_while_another_input_is_ready(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	struct shmring_stats st;
	build_prio(&f, SMR_PRIO_NORMAL, SMR_PRIO_HIGH);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_set_batch(f.ring[0], 32), 0);
	assert_int_equal(shmring_send(f.ring[0], "d", 1, 0), 0); /* held, a run of 1 */
	assert_int_equal(shmring_send(f.ring[1], "c", 1, 0), 0);
	struct shmring *ready[2] = { NULL, NULL };
	assert_int_equal(shmring_kernel_wait_ready(k, 0, ready, 2), 2);
	shmring_stats(f.ring[0], &st);
	assert_int_equal(st.holds, 1);
	assert_int_equal(st.taken, 1);
	char b[4];
	assert_int_equal(shmring_recv(shmring_kernel_port(k, "data"), b, sizeof(b), 0), 1);
	assert_int_equal(b[0], 'd');
	shmring_kernel_detach(k);
	teardown_fixture(&f);
}

/* Both ready, priorities as given: wait_ready's order. */
static void expect_order(int32_t data_prio, int32_t control_prio, const char *first)
{
	struct fixture f;
	struct shmring_kernel *k;
	build_prio(&f, data_prio, control_prio);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_send(f.ring[0], "d", 1, 0), 0);
	assert_int_equal(shmring_send(f.ring[1], "c", 1, 0), 0);
	struct shmring *ready[2] = { NULL, NULL };
	assert_int_equal(shmring_kernel_wait_ready(k, 1000, ready, 2), 2);
	assert_ptr_equal(ready[0], shmring_kernel_port(k, first));
	assert_ptr_equal(ready[1], shmring_kernel_port(k, strcmp(first, "data") ? "data" : "control"));
	/* shmring_kernel_wait counts the same inputs */
	assert_int_equal(shmring_kernel_wait(k, 0), 2);
	shmring_kernel_detach(k);
	teardown_fixture(&f);
}

static void equal_priorities_keep_topology_order(void **s)
{
	(void)s;
	expect_order(SMR_PRIO_NORMAL, SMR_PRIO_NORMAL, "data");
	expect_order(SMR_PRIO_HIGH, SMR_PRIO_HIGH, "data");
	expect_order(SMR_PRIO_LOW, SMR_PRIO_LOW, "data");
	/* and a low input comes after a normal one */
	expect_order(SMR_PRIO_LOW, SMR_PRIO_NORMAL, "control");
}

/* As shmring_kernel_wait: a stop is the answer, even with input waiting. */
static void wait_ready_returns_0_on_a_stop_with_input_ready(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build_prio(&f, SMR_PRIO_NORMAL, SMR_PRIO_HIGH);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_send(f.ring[1], "c", 1, 0), 0);
	struct shmring *ready[2];
	assert_int_equal(shmring_kernel_wait_ready(k, 1000, ready, 2), 1);
	atomic_store(&smr_ctl_kernels(f.ctl)[0].stop, 1u);
	assert_int_equal(shmring_kernel_wait_ready(k, 1000, ready, 2), 0);
	shmring_kernel_detach(k);
	teardown_fixture(&f);
}

static void attach_refuses_an_unknown_input_priority(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build_prio(&f, SMR_PRIO_NORMAL, 2);
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "kernel 'k': a ring entry in the control "
				"segment is corrupt: restart the topology"));
	teardown_fixture(&f);
}

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* The inherited descriptors (one per ring, the control segment's and the
 * eventfd) are the kernel's: none is left open by attach and detach. */
static void inherited_descriptors_are_closed(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_ACTIVE);
	int before = open_fds();
	assert_int_equal(shmring_kernel_attach(&k), 0);
	shmring_kernel_detach(k);
	assert_int_equal(open_fds(), before - 5); /* 3 rings, control, eventfd */
	teardown_fixture(&f);
	/* a ring from the kernel to itself: its descriptor closed once */
	build_self_loops(&f);
	before = open_fds();
	assert_int_equal(shmring_kernel_attach(&k), 0);
	shmring_kernel_detach(k);
	assert_int_equal(open_fds(), before - 5);
	teardown_fixture(&f);
}

static void ring_entries_naming_other_kernels_are_not_ports(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_ACTIVE);
	/* corrupt: ring 1 (peer.o2 -> k.b) now goes between kernels that do
	 * not exist; it is simply not one of k's */
	smr_ctl_rings(f.ctl)[1].from_kernel = 77;
	smr_ctl_rings(f.ctl)[1].to_kernel = UINT32_MAX;
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_kernel_ninputs(k), 1);
	assert_int_equal(shmring_kernel_noutputs(k), 1);
	assert_null(shmring_kernel_port(k, "b"));
	shmring_kernel_detach(k);
	close(smr_ctl_rings(f.ctl)[1].fd); /* not k's, so k left it */
	teardown_fixture(&f);
	/* an fd of a ring entry that is no ring: a clear error, no crash */
	build(&f, SMR_TOPO_ACTIVE);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(smr_ctl_rings(f.ctl)[0].fd);
	smr_ctl_rings(f.ctl)[0].fd = p[0];
	assert_true(shmring_kernel_attach(&k) < 0);
	assert_non_null(strstr(shmring_errmsg(), "too small to be a shmring segment"));
	assert_true(fcntl(p[0], F_GETFD) >= 0); /* not a ring: not closed */
	close(p[0]);
	close(p[1]);
	/* a negative descriptor */
	env_for(&f, 0);
	smr_ctl_rings(f.ctl)[0].fd = -5;
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "a ring entry in the control segment is corrupt"));
	for (int r = 1; r < 3; r++) { /* attach failed before it used them */
		assert_true(fcntl(smr_ctl_rings(f.ctl)[r].fd, F_GETFD) >= 0);
		close(smr_ctl_rings(f.ctl)[r].fd);
	}
	teardown_fixture(&f);
}

/* The supervisor's side of a stop during the start (supervisor/run.c):
 * STOPPING with release, bump active_seq, wake the barrier. */
static void stop_topology(struct fixture *f)
{
	atomic_store(&f->ctl->state, (uint32_t)SMR_TOPO_STOPPING);
	atomic_fetch_add(&f->ctl->active_seq, 1u);
	syscall(SYS_futex, &f->ctl->active_seq, FUTEX_WAKE, 100, NULL, NULL, 0);
}

static int wait_ready(struct fixture *f)
{
	for (int i = 0; i < 500; i++) {
		if (atomic_load(&smr_ctl_kernels(f->ctl)[0].state) == SMR_K_READY)
			return 1;
		tu_sleep_ms(10);
	}
	return 0;
}

static int stop_topology_once_ready(void *arg)
{
	struct fixture *f = arg;
	if (!wait_ready(f))
		return 1;
	tu_sleep_ms(50); /* well inside the barrier's sleep */
	stop_topology(f);
	return 0;
}

static int stop_kernel_once_ready(void *arg)
{
	struct fixture *f = arg;
	if (!wait_ready(f))
		return 1;
	tu_sleep_ms(50);
	atomic_store(&smr_ctl_kernels(f->ctl)[0].stop, 1u);
	syscall(SYS_futex, &smr_ctl_kernels(f->ctl)[0].stop, FUTEX_WAKE, 100, NULL, NULL, 0);
	return 0;
}

/* After a cancelled attach: nothing closed, nothing finished, every role
 * given back (a successor can take each end), nothing sent. */
static void assert_left_untouched(struct fixture *f)
{
	assert_int_equal(smr_ctl_kernels(f->ctl)[0].finished, 0);
	assert_int_equal(smr_ctl_kernels(f->ctl)[0].state, SMR_K_READY);
	for (int r = 0; r < 3; r++) {
		struct shmring_stats st;
		assert_int_equal(shmring_stats(f->ring[r], &st), 0);
		assert_false(st.producer_closed);
		assert_false(st.consumer_closed);
		assert_int_equal(st.msgs_in, 0);
		assert_int_equal(r < 2 ? st.consumer_pid : st.producer_pid, 0);
	}
	char v[32];
	struct shmring *c;
	snprintf(v, sizeof(v), "fd:%d", shmring_fd(f->ring[0]));
	assert_int_equal(shmring_attach(v, SHMRING_ROLE_CONSUMER, &c), 0);
	shmring_detach(c);
}

static void attach_fails_when_the_topology_stops_before_it_starts(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k = (void *)1;
	/* 1. launched, ready, then the launch failed elsewhere: STOPPING */
	build(&f, SMR_TOPO_STARTING);
	pid_t pid = tu_fork(stop_topology_once_ready, &f);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_attach(&k), -ECANCELED);
	assert_true(tu_now_ms() - t0 < 5000);
	assert_null(k);
	assert_string_equal(shmring_errmsg(), "the topology was stopped before it started: nothing to do");
	assert_int_equal(tu_reap(pid), 0);
	assert_left_untouched(&f);
	teardown_fixture(&f);

	/* 2. this kernel's stop flag alone, while the topology starts */
	build(&f, SMR_TOPO_STARTING);
	pid = tu_fork(stop_kernel_once_ready, &f);
	t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_attach(&k), -ECANCELED);
	assert_true(tu_now_ms() - t0 < 5000);
	assert_string_equal(shmring_errmsg(), "the topology was stopped before it started: nothing to do");
	assert_int_equal(tu_reap(pid), 0);
	assert_left_untouched(&f);
	teardown_fixture(&f);

	/* 3. already stopping when the kernel gets there: at once */
	build(&f, SMR_TOPO_STOPPING);
	t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_attach(&k), -ECANCELED);
	assert_true(tu_now_ms() - t0 < 1000);
	assert_left_untouched(&f);
	teardown_fixture(&f);

	/* 4. a restarted kernel of an active topology, told to stop already */
	build(&f, SMR_TOPO_ACTIVE);
	smr_ctl_kernels(f.ctl)[0].stop = 1;
	assert_int_equal(shmring_kernel_attach(&k), -ECANCELED);
	assert_string_equal(shmring_errmsg(), "kernel 'k' was asked to stop before it started: nothing to do");
	assert_left_untouched(&f);
	teardown_fixture(&f);

	/* 5. a topology state that is none of them: corrupt */
	build(&f, 99);
	assert_int_equal(shmring_kernel_attach(&k), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "the control segment is corrupt (topology state 99)"));
	teardown_fixture(&f);
}

/* ---- io.h: the one wait over rings, I/O and stop, in both modes ---- */

struct io_mode {
	const char *futex; /* SHMRING_IO_FUTEX */
};

static int write_pipe_later(void *arg)
{
	struct fixture *f = arg;
	(void)f;
	tu_sleep_ms(150);
	int fd = atoi(getenv("TEST_PIPE_W"));
	return write(fd, "hello", 5) == 5 ? 0 : 1;
}

/* attach, then an io_uring in the mode under test; 0 or skipped */
static struct shmring_io *io_setup(struct fixture *f, struct shmring_kernel **k, const struct io_mode *m)
{
	build(f, SMR_TOPO_ACTIVE);
	setenv("SHMRING_PEER_CHECK_MS", "60000", 1);
	setenv("SHMRING_IO_FUTEX", m->futex, 1);
	assert_int_equal(shmring_kernel_attach(k), 0);
	struct shmring_io *io;
	int rc = shmring_io_init(*k, 32, &io);
	if (rc == -EPERM || rc == -ENOSYS)
		return NULL; /* io_uring disabled here */
	assert_int_equal(rc, 0);
	if (!strcmp(m->futex, "0"))
		assert_false(shmring_io_uses_futex(io));
	else
		print_message("io_uring futex wait: %s\n", shmring_io_uses_futex(io)
			      ? "available (waited on inside io_uring)" : "not on this kernel (fallback)");
	assert_int_equal(shmring_io_init(*k, 32, &io), -EEXIST);
	return io;
}

static void io_teardown(struct fixture *f, struct shmring_kernel *k)
{
	shmring_kernel_detach(k);
	unsetenv("SHMRING_PEER_CHECK_MS");
	unsetenv("SHMRING_IO_FUTEX");
	teardown_fixture(f);
}

static void wait_returns_for_io_ring_data_and_stop(void **state)
{
	const struct io_mode *m = *state;
	struct fixture f;
	struct shmring_kernel *k;
	struct shmring_io *io = io_setup(&f, &k, m);
	if (!io) {
		io_teardown(&f, k);
		skip(); /* io_uring is disabled on this machine */
	}
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char v[16], buf[16];
	snprintf(v, sizeof(v), "%d", p[1]);
	setenv("TEST_PIPE_W", v, 1);
	struct shmring_io_done d;

	/* 1. an I/O completion ends the wait */
	assert_int_equal(shmring_io_read(io, p[0], buf, sizeof(buf), -1, 7), 0);
	assert_int_equal(shmring_io_inflight(io), 1);
	pid_t pid = tu_fork(write_pipe_later, &f);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_wait(k, 10000), 1);
	assert_true(tu_now_ms() - t0 < 5000);
	/* wait_ready: the completion counts, in a NULL slot (no input) */
	struct shmring *ready[2] = { (void *)&f, (void *)&f };
	assert_int_equal(shmring_kernel_wait_ready(k, 0, ready, 2), 1);
	assert_null(ready[0]);
	assert_int_equal(shmring_io_complete(io, &d), 1);
	assert_int_equal(d.tag, 7);
	assert_int_equal(d.res, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(shmring_io_complete(io, &d), 0);
	assert_int_equal(shmring_io_inflight(io), 0);
	assert_int_equal(tu_reap(pid), 0);

	/* 2. ring data ends it while a read waits on an empty pipe */
	assert_int_equal(shmring_io_read(io, p[0], buf, sizeof(buf), -1, 8), 0);
	pid = tu_fork(send_on_b_later, &f);
	t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_wait(k, 10000), 1);
	assert_true(tu_now_ms() - t0 < 5000);
	assert_int_equal(shmring_kernel_wait_ready(k, 0, ready, 2), 1);
	assert_ptr_equal(ready[0], shmring_kernel_port(k, "b"));
	assert_int_equal(shmring_recv(shmring_kernel_port(k, "b"), buf, sizeof(buf), 0), 5);
	assert_int_equal(shmring_io_complete(io, &d), 0); /* the read still waits */
	assert_int_equal(tu_reap(pid), 0);

	/* 3. a timeout operation completes within its time */
	assert_int_equal(shmring_io_timeout(io, 100, 9), 0);
	t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_wait(k, 10000), 1);
	uint64_t took = tu_now_ms() - t0;
	assert_true(took >= 90 && took < 5000);
	assert_int_equal(shmring_io_complete(io, &d), 1);
	assert_int_equal(d.tag, 9);
	assert_int_equal(d.res, -ETIME);

	/* 3b. a poll: the wait sleeps until the descriptor is readable, then
	 * the completion holds the ready events (a ZeroMQ socket's ZMQ_FD is
	 * waited on this way); nothing is read */
	int q[2];
	assert_int_equal(pipe2(q, O_CLOEXEC), 0);
	assert_int_equal(shmring_io_poll(io, q[0], 0, 10), -EINVAL);
	assert_int_equal(shmring_io_poll(io, q[0], POLLIN, 10), 0);
	assert_int_equal(shmring_kernel_wait(k, 100), -ETIMEDOUT);
	assert_int_equal(write(q[1], "p", 1), 1);
	assert_int_equal(shmring_kernel_wait(k, 10000), 1);
	assert_int_equal(shmring_io_complete(io, &d), 1);
	assert_int_equal(d.tag, 10);
	assert_true(d.res > 0 && (d.res & POLLIN));
	assert_int_equal(read(q[0], buf, sizeof(buf)), 1);
	close(q[0]);
	close(q[1]);

	/* 4. nothing happens: the wait's own timeout, I/O still in flight */
	t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_wait(k, 150), -ETIMEDOUT);
	took = tu_now_ms() - t0;
	assert_true(took >= 140 && took < 5000);

	/* 5. a stop ends it */
	pid = tu_fork(stop_later, &f);
	t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_wait(k, 10000), 0);
	assert_true(tu_now_ms() - t0 < 5000);
	assert_int_equal(tu_reap(pid), 0);

	/* the pending read finishes when data comes; detach cancels nothing
	 * we still need */
	assert_int_equal(write(p[1], "x", 1), 1);
	close(p[0]);
	close(p[1]);
	unsetenv("TEST_PIPE_W");
	io_teardown(&f, k);
}

static const struct io_mode futex_in_uring = { "1" }, fallback = { "0" };

/* ---- more inputs than one futex_waitv takes (128 words, stop flag included) ---- */

#define MANY 200

struct many_mode {
	const char *futex; /* SHMRING_IO_FUTEX */
	int user_io;       /* the kernel has its own io_uring (shmring_io_init) */
};

static struct shmring *many_ring[MANY];
static unsigned many_target; /* the input a child sends on */

/* Kernel 0 "k" with MANY inputs i0..i199, each a ring from kernel 1 "peer". */
static void build_many(struct fixture *f)
{
	struct smr_ctl_header *h = map_ctl(f, 2, MANY, SMR_TOPO_ACTIVE, "many");
	strcpy(smr_ctl_kernels(h)[0].name, "k");
	strcpy(smr_ctl_kernels(h)[1].name, "peer");
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = 4096;
	struct smr_ctl_ring *cr = smr_ctl_rings(h);
	for (unsigned r = 0; r < MANY; r++) {
		assert_int_equal(shmring_create(NULL, &o, &many_ring[r]), 0);
		cr[r].from_kernel = 1;
		cr[r].to_kernel = 0;
		snprintf(cr[r].from_port, sizeof(cr[r].from_port), "o%u", r);
		snprintf(cr[r].to_port, sizeof(cr[r].to_port), "i%u", r);
		cr[r].fd = dup(shmring_fd(many_ring[r])); /* the kernel closes it */
		cr[r].wait = SHMRING_WAIT_FUTEX; /* straight to sleep, no spin */
	}
	h->version = SHMRING_CTL_VERSION;
	env_for(f, 0);
}

static void teardown_many(struct fixture *f, struct shmring_kernel *k)
{
	shmring_kernel_detach(k);
	for (unsigned r = 0; r < MANY; r++)
		shmring_detach(many_ring[r]);
	munmap(f->ctl, f->len);
	close(f->ctl_fd);
	close(f->ev_fd);
	unsetenv("SHMRING_CONTROL");
	unsetenv("SHMRING_KERNEL");
	unsetenv("SHMRING_PEER_CHECK_MS");
	unsetenv("SHMRING_IO_FUTEX");
}

/* io_uring instances this process holds: one file per instance. */
static unsigned io_urings_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], target[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strcmp(target, "anon_inode:[io_uring]") == 0;
		}
	}
	closedir(d);
	return n;
}

static int send_on_many_later(void *arg)
{
	struct fixture *f = arg;
	(void)f;
	char v[32];
	struct shmring *p;
	snprintf(v, sizeof(v), "fd:%d", shmring_fd(many_ring[many_target]));
	if (shmring_attach(v, SHMRING_ROLE_PRODUCER, &p) < 0)
		return 1;
	tu_sleep_ms(150); /* the kernel is asleep by now */
	int rc = shmring_send(p, "hello", 5, 1000);
	shmring_detach(p);
	return rc == 0 ? 0 : 2;
}

static void wait_wakes_on_every_input_of_a_kernel_with_200(void **state)
{
	const struct many_mode *m = *state;
	struct fixture f;
	struct shmring_kernel *k;
	/* 60 s slices: an input not slept on would time the wait out */
	setenv("SHMRING_PEER_CHECK_MS", "60000", 1);
	setenv("SHMRING_IO_FUTEX", m->futex, 1);
	build_many(&f);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	assert_int_equal(shmring_kernel_ninputs(k), MANY);
	struct shmring_io *io;
	if (m->user_io && shmring_io_init(k, 32, &io) < 0) {
		teardown_many(&f, k);
		skip(); /* io_uring is disabled on this machine */
	}
	unsigned urings = io_urings_open();
	assert_int_equal(shmring_kernel_wait(k, 50), -ETIMEDOUT);
	/* The wait makes no io_uring of its own (libshmring links no
	 * liburing): without shmring_io_init it polls the inputs past 127. */
	assert_int_equal(io_urings_open(), urings);
	/* the last input, the first, and both sides of the 128-word edge */
	static const unsigned which[] = { MANY - 1, 0, 126, 127, 128 };
	for (unsigned i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		many_target = which[i];
		pid_t pid = tu_fork(send_on_many_later, &f);
		uint64_t t0 = tu_now_ms();
		assert_int_equal(shmring_kernel_wait(k, 3000), 1);
		assert_true(tu_now_ms() - t0 < 2000);
		char buf[8];
		assert_int_equal(shmring_recv(shmring_kernel_input(k, which[i]), buf, sizeof(buf), 0), 5);
		assert_int_equal(tu_reap(pid), 0);
	}
	/* the stop flag still ends it */
	pid_t pid = tu_fork(stop_later, &f);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(shmring_kernel_wait(k, 3000), 0);
	assert_true(tu_now_ms() - t0 < 2000);
	assert_int_equal(tu_reap(pid), 0);
	teardown_many(&f, k);
}

/* ---- kernels sharing a cpu (wait.c, "Shared cores") ---------------------- */

/* As build, with both ends of every ring marked as kernels that share a
 * cpu, and batch sleeps that never turn into immediate ones by themselves
 * (a slow machine must not change what these tests see). */
static void build_shared(struct fixture *f)
{
	build(f, SMR_TOPO_ACTIVE);
	for (int r = 0; r < 3; r++)
		smr_ctl_rings(f->ctl)[r].shared = SMR_CTL_SHARED_ALL;
	setenv("SHMRING_PEER_CHECK_MS", "60000", 1); /* no slices but the bound's */
	setenv("SHMRING_SHARED_IDLE_MS", "60000", 1);
}

static void teardown_shared(struct fixture *f, struct shmring_kernel *k)
{
	shmring_kernel_detach(k);
	unsetenv("SHMRING_PEER_CHECK_MS");
	unsetenv("SHMRING_SHARED_IDLE_MS");
	teardown_fixture(f);
}

/* Ring r's header, mapped on its own: the test plays a sleeping peer. */
static struct smr_header *map_header(struct fixture *f, int r)
{
	void *m = mmap(NULL, SHMRING_DATA_OFFSET, PROT_READ | PROT_WRITE, MAP_SHARED,
		       shmring_fd(f->ring[r]), 0);
	assert_true(m != MAP_FAILED);
	return m;
}

static uint64_t producer_wakes(struct fixture *f, int r)
{
	struct shmring_stats st;
	assert_int_equal(shmring_stats(f->ring[r], &st), 0);
	return st.producer_wakes;
}

/* The producer of ring r in another process counts a wake after its
 * FUTEX_WAKE returns, so the woken consumer may look before it is counted:
 * wait up to 10 s for the count to reach want. */
static uint64_t producer_wakes_reach(struct fixture *f, int r, uint64_t want)
{
	uint64_t end = tu_now_ms() + 10000, n;
	while ((n = producer_wakes(f, r)) < want && tu_now_ms() < end)
		tu_sleep_ms(1);
	return n;
}

/* A plain producer on ring 0 (peer.o1 -> k.a): once the kernel's input
 * sleeps, announced as FLAG (read from its header, not from a counter that
 * an earlier sleep may have moved), one message carrying its commit time,
 * then silence: no library call until long after the bound. A machine loaded by other work may take seconds to
 * put the consumer to sleep: the budget is 30 s. */
static int send_one_to_a_sleeper_then_go_quiet(struct fixture *f, uint32_t flag)
{
	char v[32];
	struct shmring *p;
	snprintf(v, sizeof(v), "fd:%d", shmring_fd(f->ring[0]));
	if (shmring_attach(v, SHMRING_ROLE_PRODUCER, &p) < 0)
		return 1;
	struct smr_header *h = map_header(f, 0);
	uint64_t end = tu_now_ms() + 30000;
	while (atomic_load(&h->cons.sleeping) != flag) {
		if (tu_now_ms() > end)
			return 2;
		tu_sleep_ms(1);
	}
	uint64_t t = tu_now_ns();
	if (shmring_send(p, &t, sizeof(t), 0) < 0)
		return 3;
	tu_sleep_ms(1500); /* quiet: the consumer must find it by itself */
	shmring_detach(p);
	return 0;
}

static int send_one_then_go_quiet(void *arg)
{
	return send_one_to_a_sleeper_then_go_quiet(arg, SMR_SLEEP_BATCH);
}

static int send_one_to_a_woken_sleeper(void *arg)
{
	return send_one_to_a_sleeper_then_go_quiet(arg, SMR_SLEEP_NOW);
}

static void shared_input_sees_a_lone_message_within_the_bound_from_a_quiet_producer(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build_shared(&f);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	pid_t pid = tu_fork(send_one_then_go_quiet, &f);
	assert_int_equal(shmring_kernel_wait(k, 30000), 1);
	uint64_t t;
	assert_int_equal(shmring_recv(shmring_kernel_port(k, "a"), &t, sizeof(t), 0), 8);
	uint64_t late_us = (tu_now_ns() - t) / 1000u;
	print_message("  a lone message seen %llu us after its commit (bound: 2 ms)\n",
		      (unsigned long long)late_us);
	/* 2 ms promised; the margin is for a loaded machine, far below the
	 * 1.5 s of silence and the 60 s slice a missed message would take. */
	assert_true(late_us < 500000);
	/* ... and its producer never paid for a wake: it was owed (deferred)
	 * when the producer went quiet, and still is. */
	assert_int_equal(producer_wakes(&f, 0), 0);
	assert_int_equal(tu_reap(pid), 0);
	teardown_shared(&f, k);
}

static void shared_output_wakes_a_batch_sleeper_at_a_quarter_ring_and_once(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build_shared(&f);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	struct shmring *out = shmring_kernel_port(k, "out");
	struct smr_header *h = map_header(&f, 2);
	uint64_t cap = shmring_capacity(out);
	/* The consumer of k.out asleep in batch mode, as its S2 leaves it. */
	atomic_store(&h->cons.sleeping, SMR_SLEEP_BATCH);
	uint32_t seq = atomic_load(&h->cons.futex_seq);
	char msg[56] = { 0 }; /* 64-byte records */
	/* The wake is owed from the first record on; cap / 256 records later
	 * the ring has moved a quarter of its size since. One short: */
	for (uint64_t i = 0; i < cap / 256; i++)
		assert_int_equal(shmring_send(out, msg, sizeof(msg), 0), 0);
	assert_int_equal(atomic_load(&h->cons.sleeping), SMR_SLEEP_BATCH);
	assert_int_equal(atomic_load(&h->cons.futex_seq), seq);
	assert_int_equal(producer_wakes(&f, 2), 0);
	/* the quarter: one wake, and the flag taken back */
	assert_int_equal(shmring_send(out, msg, sizeof(msg), 0), 0);
	assert_int_equal(atomic_load(&h->cons.futex_seq), seq + 1);
	assert_int_equal(atomic_load(&h->cons.sleeping), 0);
	assert_int_equal(producer_wakes(&f, 2), 1);
	/* more while the sleeper has not run yet: no more wakes */
	for (int i = 0; i < 100; i++)
		assert_int_equal(shmring_send(out, msg, sizeof(msg), 0), 0);
	assert_int_equal(atomic_load(&h->cons.futex_seq), seq + 1);
	assert_int_equal(producer_wakes(&f, 2), 1);
	munmap(h, SHMRING_DATA_OFFSET);
	teardown_shared(&f, k);
}

static void shared_output_pays_its_owed_wake_before_any_wait(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build_shared(&f);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	struct shmring *out = shmring_kernel_port(k, "out");
	struct smr_header *h = map_header(&f, 2);
	uint32_t seq = atomic_load(&h->cons.futex_seq);
	char msg[8] = { 0 };
	/* One message to a batch sleeper is owed, not paid ... */
	atomic_store(&h->cons.sleeping, SMR_SLEEP_BATCH);
	assert_int_equal(shmring_send(out, msg, sizeof(msg), 0), 0);
	assert_int_equal(atomic_load(&h->cons.futex_seq), seq);
	/* ... until the kernel waits for its inputs (nothing comes) */
	assert_int_equal(shmring_kernel_wait(k, 20), -ETIMEDOUT);
	assert_int_equal(atomic_load(&h->cons.futex_seq), seq + 1);
	assert_int_equal(atomic_load(&h->cons.sleeping), 0);
	assert_int_equal(producer_wakes(&f, 2), 1);
	/* ... or blocks in a plain ring call on another port */
	atomic_store(&h->cons.sleeping, SMR_SLEEP_BATCH);
	assert_int_equal(shmring_send(out, msg, sizeof(msg), 0), 0);
	assert_int_equal(atomic_load(&h->cons.futex_seq), seq + 1);
	const void *m;
	size_t len;
	assert_int_equal(shmring_peek(shmring_kernel_port(k, "a"), &m, &len, 5), -ETIMEDOUT);
	assert_int_equal(atomic_load(&h->cons.futex_seq), seq + 2);
	assert_int_equal(producer_wakes(&f, 2), 2);
	/* ... or detaches */
	atomic_store(&h->cons.sleeping, SMR_SLEEP_BATCH);
	assert_int_equal(shmring_send(out, msg, sizeof(msg), 0), 0);
	assert_int_equal(atomic_load(&h->cons.futex_seq), seq + 2);
	shmring_kernel_detach(k);
	assert_true(atomic_load(&h->cons.futex_seq) != seq + 2);
	munmap(h, SHMRING_DATA_OFFSET);
	unsetenv("SHMRING_PEER_CHECK_MS");
	unsetenv("SHMRING_SHARED_IDLE_MS");
	teardown_fixture(&f);
}

/* A ring end not marked shared announces SMR_SLEEP_NOW and is woken at
 * the first message, as before. */
static void unshared_input_is_woken_at_the_first_message(void **s)
{
	(void)s;
	struct fixture f;
	struct shmring_kernel *k;
	build(&f, SMR_TOPO_ACTIVE);
	setenv("SHMRING_PEER_CHECK_MS", "60000", 1);
	assert_int_equal(shmring_kernel_attach(&k), 0);
	/* The child sends once the end's sleep is announced SMR_SLEEP_NOW */
	pid_t pid = tu_fork(send_one_to_a_woken_sleeper, &f);
	assert_int_equal(shmring_kernel_wait(k, 30000), 1);
	assert_int_equal(producer_wakes_reach(&f, 0, 1), 1);
	assert_int_equal(tu_reap(pid), 0);
	unsetenv("SHMRING_PEER_CHECK_MS");
	shmring_kernel_detach(k);
	teardown_fixture(&f);
}

/* No io_uring (inputs past 127 polled each millisecond); the kernel's
 * io_uring with futex operations; the same io_uring without them (polled). */
static const struct many_mode many_plain = { "1", 0 }, many_io = { "1", 1 },
			      many_io_polled = { "0", 1 };

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attach_outside_supervisor_says_how_to_launch),
		cmocka_unit_test(attach_rejects_malformed_environment),
		cmocka_unit_test(attach_rejects_foreign_or_corrupt_segment),
		cmocka_unit_test(ports_are_found_by_name_and_in_order),
		cmocka_unit_test(metrics_survive_a_restart_and_are_read_back),
		cmocka_unit_test(checkpoint_covers_a_released_read_ahead_window),
		cmocka_unit_test(attach_returns_only_once_the_topology_is_active),
		cmocka_unit_test(wait_wakes_on_any_input_and_on_stop),
		cmocka_unit_test(finished_kernel_closes_its_ports_on_detach),
		cmocka_unit_test(event_fd_that_is_not_an_eventfd_is_left_alone),
		cmocka_unit_test(ring_from_a_kernel_to_itself_is_two_ports_not_an_overflow),
		cmocka_unit_test(control_message_overtakes_a_million_queued_data_messages),
		cmocka_unit_test(held_run_is_taken_while_another_input_is_ready),
		cmocka_unit_test(equal_priorities_keep_topology_order),
		cmocka_unit_test(wait_ready_returns_0_on_a_stop_with_input_ready),
		cmocka_unit_test(attach_refuses_an_unknown_input_priority),
		cmocka_unit_test(inherited_descriptors_are_closed),
		cmocka_unit_test(ring_entries_naming_other_kernels_are_not_ports),
		cmocka_unit_test(attach_fails_when_the_topology_stops_before_it_starts),
		cmocka_unit_test(shared_input_sees_a_lone_message_within_the_bound_from_a_quiet_producer),
		cmocka_unit_test(shared_output_wakes_a_batch_sleeper_at_a_quarter_ring_and_once),
		cmocka_unit_test(shared_output_pays_its_owed_wake_before_any_wait),
		cmocka_unit_test(unshared_input_is_woken_at_the_first_message),
		cmocka_unit_test_prestate(wait_returns_for_io_ring_data_and_stop, (void *)&futex_in_uring),
		cmocka_unit_test_prestate(wait_returns_for_io_ring_data_and_stop, (void *)&fallback),
		cmocka_unit_test_prestate(wait_wakes_on_every_input_of_a_kernel_with_200, (void *)&many_plain),
		cmocka_unit_test_prestate(wait_wakes_on_every_input_of_a_kernel_with_200, (void *)&many_io_polled),
		cmocka_unit_test_prestate(wait_wakes_on_every_input_of_a_kernel_with_200, (void *)&many_io),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
