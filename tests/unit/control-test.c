/* SPDX-License-Identifier: MIT */
/*
 * control-test: the control segment module (private/control.h, discover.h,
 * proc.h). A segment made by smr_ctl_create reads back through
 * smr_ctl_attach; every corruption of a segment is refused with its errno
 * and one line saying what is wrong and what to do; discovery finds a
 * segment this process holds; /proc/PID/stat is read right.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "discover.h"
#include "proc.h"

/* A published segment of kernels "src" and "dst" and one ring src.out ->
 * dst.in, as the supervisor makes it; c maps it read-write. */
struct seg {
	struct smr_ctl c;
	int fd;
	char name[SHMRING_CTL_NAME];
};

static void make_seg(struct seg *s, const char *tag)
{
	snprintf(s->name, sizeof(s->name), "ctl-%s-%d", tag, (int)getpid());
	s->fd = smr_ctl_create(s->name, 2, 1, &s->c);
	assert_true(s->fd >= 0);
	strcpy(smr_ctl_kernels(s->c.h)[0].name, "src");
	strcpy(smr_ctl_kernels(s->c.h)[1].name, "dst");
	struct smr_ctl_ring *r = smr_ctl_rings(s->c.h);
	r->from_kernel = 0;
	r->to_kernel = 1;
	strcpy(r->from_port, "out");
	strcpy(r->to_port, "in");
	r->fd = 7;
	r->capacity = 4096;
	smr_ctl_publish(s->c.h);
}

static void free_seg(struct seg *s)
{
	smr_ctl_detach(&s->c);
	close(s->fd);
}

/* Attach s read-only: rc, with why checked to be exactly one line that
 * contains want (when rc < 0). */
static int attach_why(int fd, struct smr_ctl *c, const char *want)
{
	char why[320] = "";
	int rc = smr_ctl_attach(fd, SMR_CTL_READ, "the control segment", c, why, sizeof(why));
	if (rc < 0) {
		if (!strstr(why, want))
			fail_msg("expected '%s' in: %s", want, why);
		assert_null(strchr(why, '\n'));
		assert_null(c->h);
	}
	return rc;
}

/* A plain memfd of len bytes holding data (len bytes, or zeros if NULL). */
static int raw_memfd(const void *data, size_t len)
{
	int fd = memfd_create("shmring-ctl.raw", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	if (data)
		assert_int_equal(pwrite(fd, data, len, 0), (ssize_t)len);
	return fd;
}

static void created_segment_reads_back_through_attach(void **st)
{
	(void)st;
	struct seg s;
	make_seg(&s, "rt");
	char link[64], target[128];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", s.fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	char want[96];
	snprintf(want, sizeof(want), "/memfd:shmring-ctl.%s (deleted)", s.name);
	assert_string_equal(target, want);
	struct stat sb;
	assert_int_equal(fstat(s.fd, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(fcntl(s.fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(fcntl(s.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	struct smr_ctl c;
	assert_int_equal(attach_why(s.fd, &c, ""), 0);
	assert_int_equal(c.len, smr_ctl_size(2, 1));
	assert_int_equal(c.nkernels, 2);
	assert_int_equal(c.nrings, 1);
	assert_string_equal(c.name, s.name);
	assert_int_equal(c.supervisor, smr_owner_word(getpid()));
	assert_int_equal(c.h->state, SMR_TOPO_STARTING);
	assert_int_equal(c.h->event_fd, -1);
	char name[SHMRING_CTL_NAME], why[200];
	assert_int_equal(smr_ctl_kernel_name(&c, 1, name, why, sizeof(why)), 0);
	assert_string_equal(name, "dst");
	assert_int_equal(smr_ctl_kernel(&c, 1)->cpu, -1);
	assert_int_equal(smr_ctl_kernel(&c, 1)->last_status, -1);
	assert_null(smr_ctl_kernel(&c, 2));
	assert_int_equal(smr_ctl_kernel_name(&c, 2, name, why, sizeof(why)), -ERANGE);
	struct smr_ctl_ring r;
	assert_int_equal(smr_ctl_ring_get(&c, 0, &r, why, sizeof(why)), 0);
	assert_string_equal(r.from_port, "out");
	assert_int_equal(r.to_kernel, 1);
	assert_int_equal(r.capacity, 4096);
	assert_int_equal(smr_ctl_ring_get(&c, 1, &r, why, sizeof(why)), -ERANGE);
	smr_ctl_detach(&c);
	assert_null(c.h);
	smr_ctl_detach(&c); /* harmless twice */
	free_seg(&s);
}

static void create_refuses_bad_names_and_counts(void **st)
{
	(void)st;
	struct smr_ctl c;
	char longname[SHMRING_CTL_NAME + 1];
	memset(longname, 'n', SHMRING_CTL_NAME);
	longname[SHMRING_CTL_NAME] = '\0';
	assert_int_equal(smr_ctl_create("", 1, 0, &c), -EINVAL);
	assert_int_equal(smr_ctl_create(longname, 1, 0, &c), -EINVAL);
	assert_int_equal(smr_ctl_create("n", SHMRING_CTL_MAX_KERNELS + 1, 0, &c), -EINVAL);
	assert_int_equal(smr_ctl_create("n", 1, SHMRING_CTL_MAX_RINGS + 1, &c), -EINVAL);
	assert_null(c.h);
}

static void attach_waits_for_a_segment_being_created(void **st)
{
	(void)st;
	struct smr_ctl c;
	int fd = raw_memfd(NULL, 0); /* created, not sized */
	assert_int_equal(attach_why(fd, &c, "still being created (0 bytes): try again"), -EAGAIN);
	close(fd);
	fd = raw_memfd(NULL, smr_ctl_size(1, 0)); /* sized, not written */
	assert_int_equal(attach_why(fd, &c, "still being created: try again"), -EAGAIN);
	close(fd);
	struct smr_ctl w;
	fd = smr_ctl_create("unpublished", 1, 0, &w); /* written, version 0 */
	assert_true(fd >= 0);
	assert_int_equal(attach_why(fd, &c, "still being created: try again"), -EAGAIN);
	smr_ctl_publish(w.h);
	assert_int_equal(attach_why(fd, &c, ""), 0);
	smr_ctl_detach(&c);
	smr_ctl_detach(&w);
	close(fd);
}

static void attach_refuses_a_size_no_segment_has(void **st)
{
	(void)st;
	struct smr_ctl c;
	int fd = raw_memfd(NULL, SHMRING_CTL_HDR - 1);
	assert_int_equal(attach_why(fd, &c, "the control segment is 255 bytes, less than a header "
					    "(256): it is not a shmring control segment"), -EBADMSG);
	close(fd);
	fd = raw_memfd(NULL, smr_ctl_size(SHMRING_CTL_MAX_KERNELS, SHMRING_CTL_MAX_RINGS) + 1);
	assert_int_equal(attach_why(fd, &c, "more than the largest topology's"), -EBADMSG);
	close(fd);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(attach_why(p[0], &c, "is not a shmring control segment (not a memory "
					       "file)"), -EBADMSG);
	close(p[0]);
	close(p[1]);
}

/* fstat failing (a closed descriptor) is reported as such, never as a
 * size read from an uninitialised struct stat. */
static void attach_reports_a_failed_fstat(void **st)
{
	(void)st;
	struct smr_ctl c;
	int fd = raw_memfd(NULL, 4096);
	close(fd);
	assert_int_equal(attach_why(fd, &c, "cannot look at the control segment: Bad file "
					    "descriptor"), -EBADF);
	assert_int_equal(attach_why(-1, &c, "cannot look at the control segment"), -EBADF);
}

/* Corrupt a copy of a good segment with fn, attach it: rc and message. */
static int attach_corrupted(void (*fn)(struct smr_ctl_header *), const char *want)
{
	struct seg s;
	make_seg(&s, "bad");
	fn(s.c.h);
	struct smr_ctl c;
	int rc = attach_why(s.fd, &c, want);
	if (rc == 0)
		smr_ctl_detach(&c);
	free_seg(&s);
	return rc;
}

static void bad_magic(struct smr_ctl_header *h) { h->magic ^= 1; }
static void version_next(struct smr_ctl_header *h) { h->version = SHMRING_CTL_VERSION + 1; }
static void size_off(struct smr_ctl_header *h) { h->size += SHMRING_CTL_BLOCK; }
static void rings_off(struct smr_ctl_header *h) { h->nrings = 4000; }
static void kernels_past_limit(struct smr_ctl_header *h) { h->nkernels = SHMRING_CTL_MAX_KERNELS + 1; }
/* Counts that add up to the size but name other blocks: still consistent. */
static void counts_swapped(struct smr_ctl_header *h) { h->nkernels = 1, h->nrings = 2; }
static void name_unterminated(struct smr_ctl_header *h) { memset(h->name, 'x', SHMRING_CTL_NAME); }
static void name_empty(struct smr_ctl_header *h) { h->name[0] = '\0'; }

static void attach_refuses_corrupt_headers(void **st)
{
	(void)st;
	assert_int_equal(attach_corrupted(bad_magic, "not a shmring control segment (bad magic, "
				"640 bytes)"), -EBADMSG);
	assert_int_equal(attach_corrupted(version_next, "control segment version 3, this program "
				"reads version 2: use the shmring tools of the same release"), -EPROTO);
	assert_int_equal(attach_corrupted(size_off, "the control segment is corrupt (size 640, "
				"2 kernels, 1 rings): restart the topology"), -EBADMSG);
	assert_int_equal(attach_corrupted(rings_off, "corrupt (size 640, 2 kernels, 4000 rings)"),
			 -EBADMSG);
	assert_int_equal(attach_corrupted(kernels_past_limit, "the control segment is corrupt"),
			 -EBADMSG);
	assert_int_equal(attach_corrupted(name_unterminated, "the control segment is corrupt"),
			 -EBADMSG);
	assert_int_equal(attach_corrupted(name_empty, "the control segment is corrupt"), -EBADMSG);
	assert_int_equal(attach_corrupted(counts_swapped, ""), 0);
}

/* A write mapping is only had through a descriptor open for writing. */
static void attach_maps_read_or_write_as_asked(void **st)
{
	(void)st;
	struct seg s;
	make_seg(&s, "rw");
	char path[64], why[200];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s.fd);
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	struct smr_ctl c;
	assert_int_equal(smr_ctl_attach(ro, SMR_CTL_WRITE, "the control segment", &c, why,
					sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "cannot map the control segment: Permission denied"));
	assert_int_equal(smr_ctl_attach(ro, SMR_CTL_READ, "x", &c, why, sizeof(why)), 0);
	close(ro);
	smr_ctl_detach(&c);
	assert_int_equal(smr_ctl_attach(s.fd, SMR_CTL_WRITE, "x", &c, why, sizeof(why)), 0);
	atomic_store(&smr_ctl_kernel(&c, 0)->state, (uint32_t)SMR_K_READY);
	assert_int_equal(smr_ctl_kernels(s.c.h)[0].state, SMR_K_READY);
	smr_ctl_detach(&c);
	free_seg(&s);
}

static void kernel_names_are_checked_copies(void **st)
{
	(void)st;
	struct seg s;
	make_seg(&s, "kn");
	struct smr_ctl c;
	char name[SHMRING_CTL_NAME], why[200];
	assert_int_equal(attach_why(s.fd, &c, ""), 0);
	memset(smr_ctl_kernels(s.c.h)[0].name, 'k', SHMRING_CTL_NAME);
	assert_int_equal(smr_ctl_kernel_name(&c, 0, name, why, sizeof(why)), -EBADMSG);
	assert_string_equal(name, "");
	assert_string_equal(why, "the name of kernel 0 in the control segment is corrupt: "
				 "restart the topology");
	smr_ctl_kernels(s.c.h)[1].name[0] = '\0';
	assert_int_equal(smr_ctl_kernel_name(&c, 1, name, why, sizeof(why)), -EBADMSG);
	smr_ctl_detach(&c);
	free_seg(&s);
}

/* Ring 0 corrupted by fn: ring_get refuses it with want in its message and
 * still hands back the copy. */
static void ring_refused(void (*fn)(struct smr_ctl_ring *), const char *want)
{
	struct seg s;
	make_seg(&s, "ring");
	struct smr_ctl c;
	assert_int_equal(attach_why(s.fd, &c, ""), 0);
	fn(smr_ctl_rings(s.c.h));
	struct smr_ctl_ring r;
	char why[200];
	assert_int_equal(smr_ctl_ring_get(&c, 0, &r, why, sizeof(why)), -EBADMSG);
	if (!strstr(why, want))
		fail_msg("expected '%s' in: %s", want, why);
	assert_null(strchr(why, '\n'));
	assert_memory_equal(&r, smr_ctl_rings(s.c.h), sizeof(r));
	smr_ctl_detach(&c);
	free_seg(&s);
}

static void from_past_end(struct smr_ctl_ring *r) { r->from_kernel = 2; }
static void to_huge(struct smr_ctl_ring *r) { r->to_kernel = UINT32_MAX; }
static void port_unterminated(struct smr_ctl_ring *r) { memset(r->to_port, 'p', SHMRING_CTL_NAME); }
static void port_empty(struct smr_ctl_ring *r) { r->from_port[0] = '\0'; }
static void fd_negative(struct smr_ctl_ring *r) { r->fd = -1; }
static void wait_unknown(struct smr_ctl_ring *r) { r->wait = 9; }
static void priority_above_high(struct smr_ctl_ring *r) { r->to_priority = SMR_PRIO_HIGH + 1; }
static void priority_below_low(struct smr_ctl_ring *r) { r->to_priority = INT32_MIN; }
static void shared_unknown_bit(struct smr_ctl_ring *r) { r->shared = 4; }
static void bcast_too_many(struct smr_ctl_ring *r) { r->bcast_n = SMR_CTL_BCAST_MAX + 1; }
static void bcast_index_past(struct smr_ctl_ring *r) { r->bcast_n = 3, r->bcast_index = 3; }
static void bcast_index_alone(struct smr_ctl_ring *r) { r->bcast_index = 1; }

static void ring_entries_are_checked_copies(void **st)
{
	(void)st;
	ring_refused(from_past_end, "ring 0 in the control segment is corrupt (a kernel index "
				    "past the kernels): restart the topology");
	ring_refused(to_huge, "a kernel index past the kernels");
	ring_refused(port_unterminated, "a port name empty or not terminated");
	ring_refused(port_empty, "a port name empty or not terminated");
	ring_refused(fd_negative, "a negative descriptor");
	ring_refused(wait_unknown, "an unknown wait strategy");
	ring_refused(priority_above_high, "an unknown input priority");
	ring_refused(priority_below_low, "an unknown input priority");
	ring_refused(shared_unknown_bit, "unknown shared-cpu bits");
	ring_refused(bcast_too_many, "a broadcast consumer index past its consumers");
	ring_refused(bcast_index_past, "a broadcast consumer index past its consumers");
	ring_refused(bcast_index_alone, "a broadcast consumer index past its consumers");
}

/* A broadcast entry reads back as written, up to 16 consumers. */
static void ring_broadcast_fields_read_back(void **st)
{
	(void)st;
	struct seg s;
	make_seg(&s, "bcast");
	struct smr_ctl c;
	assert_int_equal(attach_why(s.fd, &c, ""), 0);
	struct smr_ctl_ring r;
	char why[200];
	for (uint16_t n = 1; n <= SMR_CTL_BCAST_MAX; n++) {
		smr_ctl_rings(s.c.h)->bcast_n = n;
		smr_ctl_rings(s.c.h)->bcast_index = (uint16_t)(n - 1);
		assert_int_equal(smr_ctl_ring_get(&c, 0, &r, why, sizeof(why)), 0);
		assert_int_equal(r.bcast_n, n);
		assert_int_equal(r.bcast_index, n - 1);
	}
	smr_ctl_detach(&c);
	free_seg(&s);
}

/* Which ends share a cpu reads back as the supervisor wrote it; 0 (what a
 * segment made before the field holds there) is neither. */
static void ring_shared_bits_read_back(void **st)
{
	(void)st;
	struct seg s;
	make_seg(&s, "shared");
	struct smr_ctl c;
	assert_int_equal(attach_why(s.fd, &c, ""), 0);
	struct smr_ctl_ring r;
	char why[200];
	for (uint32_t bits = 0; bits <= SMR_CTL_SHARED_ALL; bits++) {
		smr_ctl_rings(s.c.h)->shared = bits;
		assert_int_equal(smr_ctl_ring_get(&c, 0, &r, why, sizeof(why)), 0);
		assert_int_equal(r.shared, bits);
	}
	smr_ctl_detach(&c);
	free_seg(&s);
}

/* Each priority a topology can give an input reads back as written; 0 (what
 * a segment made before the field holds there) is normal. */
static void ring_priorities_read_back(void **st)
{
	(void)st;
	struct seg s;
	make_seg(&s, "prio");
	struct smr_ctl c;
	assert_int_equal(attach_why(s.fd, &c, ""), 0);
	struct smr_ctl_ring r;
	char why[200];
	assert_int_equal(smr_ctl_ring_get(&c, 0, &r, why, sizeof(why)), 0);
	assert_int_equal(r.to_priority, SMR_PRIO_NORMAL);
	static const int32_t prios[] = { SMR_PRIO_LOW, SMR_PRIO_NORMAL, SMR_PRIO_HIGH };
	for (unsigned i = 0; i < 3; i++) {
		smr_ctl_rings(s.c.h)->to_priority = prios[i];
		assert_int_equal(smr_ctl_ring_get(&c, 0, &r, why, sizeof(why)), 0);
		assert_int_equal(r.to_priority, prios[i]);
	}
	smr_ctl_detach(&c);
	free_seg(&s);
}

/* The counts are copies: a header changed after attach bounds nothing. */
static void counts_changed_after_attach_bound_nothing(void **st)
{
	(void)st;
	struct seg s;
	make_seg(&s, "cnt");
	struct smr_ctl c;
	char name[SHMRING_CTL_NAME], why[200];
	struct smr_ctl_ring r;
	assert_int_equal(attach_why(s.fd, &c, ""), 0);
	s.c.h->nkernels = 1000;
	s.c.h->nrings = 1000;
	assert_null(smr_ctl_kernel(&c, 2));
	assert_int_equal(smr_ctl_kernel_name(&c, 999, name, why, sizeof(why)), -ERANGE);
	assert_int_equal(smr_ctl_ring_get(&c, 1, &r, why, sizeof(why)), -ERANGE);
	smr_ctl_detach(&c);
	free_seg(&s);
}

/* This process holds the segment it created and is named in it as the
 * supervisor: it is a running topology. */
static void discovery_finds_a_published_segment(void **st)
{
	(void)st;
	struct seg s;
	make_seg(&s, "disc");
	struct running_topo rt[2];
	assert_int_equal(topo_find_running(s.name, rt, 2), 1);
	assert_int_equal(rt[0].pid, getpid());
	assert_int_equal(rt[0].fd, s.fd);
	assert_string_equal(rt[0].name, s.name);
	int fd = topo_open_control(&rt[0]);
	assert_true(fd >= 0);
	struct smr_ctl c;
	assert_int_equal(attach_why(fd, &c, ""), 0);
	assert_int_equal(c.nrings, 1);
	smr_ctl_detach(&c);
	close(fd);
	/* corrupted: listed as unreadable, with the reason */
	s.c.h->magic ^= 1;
	struct running_topo *ok;
	struct topo_unreadable *bad;
	size_t nok, nbad;
	assert_int_equal(topo_scan(s.name, &ok, &nok, &bad, &nbad), 0);
	assert_int_equal(nok, 0);
	assert_int_equal(nbad, 1);
	assert_int_equal(bad[0].pid, getpid());
	assert_non_null(strstr(bad[0].why, "not a shmring control segment (bad magic"));
	free(ok);
	free(bad);
	free_seg(&s);
}

static void proc_stat_reads_this_process(void **st)
{
	(void)st;
	struct smr_proc_stat a, b;
	assert_int_equal(smr_proc_stat(getpid(), &a), 0);
	assert_int_equal(a.state, 'R');
	assert_true(a.start_ticks > 0);
	assert_int_equal(smr_owner_word(getpid()),
			 (uint64_t)(uint32_t)getpid() << 32 | (uint32_t)a.start_ticks);
	/* comm may hold spaces and parentheses */
	char comm[17] = "";
	prctl(PR_GET_NAME, comm);
	prctl(PR_SET_NAME, ") 1 2 (x) ");
	assert_int_equal(smr_proc_stat(getpid(), &b), 0);
	prctl(PR_SET_NAME, comm);
	assert_int_equal(b.state, 'R');
	assert_int_equal(b.start_ticks, a.start_ticks);
	assert_true(b.cpu_ticks >= a.cpu_ticks);
}

static void proc_stat_sees_zombies_and_missing_pids(void **st)
{
	(void)st;
	struct smr_proc_stat ps;
	assert_int_equal(smr_proc_stat(INT_MAX, &ps), -ENOENT);
	assert_int_equal(smr_owner_word(INT_MAX), (uint64_t)INT_MAX << 32);
	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	/* A zombie until reaped: wait for the exit without reaping it. */
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(smr_proc_stat(child, &ps), 0);
	assert_int_equal(ps.state, 'Z');
	assert_int_equal(waitpid(child, NULL, 0), child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(created_segment_reads_back_through_attach),
		cmocka_unit_test(create_refuses_bad_names_and_counts),
		cmocka_unit_test(attach_waits_for_a_segment_being_created),
		cmocka_unit_test(attach_refuses_a_size_no_segment_has),
		cmocka_unit_test(attach_reports_a_failed_fstat),
		cmocka_unit_test(attach_refuses_corrupt_headers),
		cmocka_unit_test(attach_maps_read_or_write_as_asked),
		cmocka_unit_test(kernel_names_are_checked_copies),
		cmocka_unit_test(ring_entries_are_checked_copies),
		cmocka_unit_test(ring_priorities_read_back),
		cmocka_unit_test(ring_shared_bits_read_back),
		cmocka_unit_test(ring_broadcast_fields_read_back),
		cmocka_unit_test(counts_changed_after_attach_bound_nothing),
		cmocka_unit_test(discovery_finds_a_published_segment),
		cmocka_unit_test(proc_stat_reads_this_process),
		cmocka_unit_test(proc_stat_sees_zombies_and_missing_pids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
