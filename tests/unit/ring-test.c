/* SPDX-License-Identifier: MIT */
/* ring-test: every public ring function and every error path, one process
 * (plus short-lived forked peers where a second process is the point). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmring/ring.h>
#include "../common/ring-pair.h"
#include "../common/test-util.h"
#include "layout.h" /* private: offsets used to corrupt segments on purpose */

static char name_buf[64];

/* A ring name unique to this process and test. */
static const char *uniq(const char *tag)
{
	return tu_name(name_buf, sizeof(name_buf), tag);
}

/* An anonymous ring of this capacity, both ends attached here. */
static void pair_open(struct tu_pair *p, size_t capacity)
{
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = capacity;
	assert_int_equal(tu_pair_open(p, &o), 0);
}

/* Map a ring's segment directly, to corrupt it on purpose. */
static uint8_t *raw_map(struct shmring *r)
{
	void *m = mmap(NULL, SHMRING_DATA_OFFSET + shmring_capacity(r),
		       PROT_READ | PROT_WRITE, MAP_SHARED, shmring_fd(r), 0);
	assert_true(m != MAP_FAILED);
	return m;
}

static void raw_unmap(struct shmring *r, uint8_t *m)
{
	munmap(m, SHMRING_DATA_OFFSET + shmring_capacity(r));
}

/* ---- options, names, create ------------------------------------------- */

static void opts_init_sets_documented_defaults(void **s)
{
	(void)s;
	struct shmring_opts o;
	memset(&o, 0xff, sizeof(o));
	shmring_opts_init(&o);
	assert_int_equal(o.capacity, 1u << 20);
	assert_int_equal(o.wait, SHMRING_WAIT_ADAPTIVE);
	assert_int_equal(o.spin_us, 50);
	assert_int_equal(o.batch, 1);
	assert_int_equal(o.role, SHMRING_ROLE_NONE);
}

static void create_named_segment_is_owner_only_and_exclusive(void **s)
{
	(void)s;
	struct shmring *r, *r2;
	const char *name = uniq("excl");
	char path[128];
	struct stat st;
	mode_t old = umask(0);
	assert_int_equal(shmring_create(name, NULL, &r), 0);
	umask(old);
	snprintf(path, sizeof(path), "/dev/shm/shmring.%s", name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fstat(shmring_fd(r), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(shmring_create(name, NULL, &r2), -EEXIST);
	assert_non_null(strstr(shmring_errmsg(), "already exists"));
	assert_string_equal(shmring_name(r), name);
	assert_int_equal(shmring_unlink(name), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(shmring_unlink(name), -ENOENT);
	shmring_detach(r);
	/* a umask that takes every bit: still 0600, not 0000 */
	name = uniq("excl-umask");
	old = umask(0777);
	assert_int_equal(shmring_create(name, NULL, &r), 0);
	umask(old);
	assert_int_equal(fstat(shmring_fd(r), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(shmring_unlink(name), 0);
	shmring_detach(r);
	/* a segment planted under the name beforehand (world-writable): never
	 * adopted, never changed */
	name = uniq("excl-planted");
	snprintf(path, sizeof(path), "/dev/shm/shmring.%s", name);
	old = umask(0);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	umask(old);
	assert_true(fd >= 0);
	assert_int_equal(shmring_create(name, NULL, &r2), -EEXIST);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0666);
	assert_int_equal(st.st_size, 0);
	close(fd);
	assert_int_equal(shmring_unlink(name), 0);
}

/* A memfd is created 0777 whatever the umask: an anonymous ring must be
 * made owner-only like a named one (the control segment is 0600 too). */
static void anonymous_segment_is_owner_only(void **s)
{
	(void)s;
	struct shmring *r;
	struct stat st;
	mode_t old = umask(0);
	assert_int_equal(shmring_create(NULL, NULL, &r), 0);
	umask(old);
	assert_int_equal(fstat(shmring_fd(r), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	shmring_detach(r);
	/* and with a role, the other creation path through bind_role */
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.role = SHMRING_ROLE_PRODUCER;
	assert_int_equal(shmring_create(NULL, &o, &r), 0);
	assert_int_equal(fstat(shmring_fd(r), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	shmring_detach(r);
}

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* In a forked child: from now on the system calls nrs[0..n) fail with
 * EPERM (when cmd >= 0, only with cmd as their second argument), as a
 * seccomp policy can make them. -1: no seccomp filters here. */
static int refuse_syscalls(const long *nrs, unsigned n, long cmd)
{
#ifdef TEST_AUDIT_ARCH
	/* The low 32 bits of the second argument (little-endian halves). */
	const unsigned arg1_lo = offsetof(struct seccomp_data, args[1]) +
				 (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0);
	struct sock_filter f[16];
	unsigned k = 0, check = 4 + n, deny = check + (cmd >= 0 ? 2 : 0), allow = deny + 1;
	if (n > 8)
		return -1;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	f[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 0,
					    allow - k - 1);
	k++;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	for (unsigned i = 0; i < n; i++, k++)
		f[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nrs[i],
						    check - k - 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	if (cmd >= 0) {
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg1_lo);
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)cmd, 0, 1);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = (unsigned short)k, .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return 0;
#else
	(void)nrs, (void)n, (void)cmd;
	return -1;
#endif
}

/* Child: with fcntl(F_ADD_SEALS) refused, an anonymous ring must not be
 * created unsealed. 77: seccomp is not available here. */
static int create_when_sealing_is_refused(void *arg)
{
	(void)arg;
	const long nr[] = { SYS_fcntl };
	if (refuse_syscalls(nr, 1, F_ADD_SEALS) < 0)
		return 77;
	struct shmring *r;
	int rc = shmring_create(NULL, NULL, &r);
	if (rc == 0)
		return 1; /* handed out an unsealed ring */
	return rc == -EPERM && strstr(shmring_errmsg(), "F_ADD_SEALS") ? 0 : 2;
}

static void create_fails_when_the_anonymous_segment_cannot_be_sealed(void **s)
{
	(void)s;
	int rc = tu_reap(tu_fork(create_when_sealing_is_refused, NULL));
	if (rc == 77) {
		printf("# skipped: no seccomp filter here to refuse F_ADD_SEALS\n");
		skip();
	}
	assert_int_equal(rc, 0);
}

/* Child: with fstat refused, attach fails with a message that says so. */
static int attach_when_fstat_is_refused(void *arg)
{
	char where[32];
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(arg));
	const long nr[] = {
#ifdef SYS_fstat
		SYS_fstat,
#endif
#ifdef SYS_newfstatat
		SYS_newfstatat,
#endif
		SYS_statx };
	if (refuse_syscalls(nr, sizeof(nr) / sizeof(nr[0]), -1) < 0)
		return 77;
	struct shmring *r;
	if (shmring_attach(where, SHMRING_ROLE_CONSUMER, &r) != -EPERM)
		return 1;
	return strstr(shmring_errmsg(), "fstat") ? 0 : 2;
}

static void attach_says_why_when_the_segment_cannot_be_inspected(void **s)
{
	(void)s;
	struct shmring *owner;
	assert_int_equal(shmring_create(NULL, NULL, &owner), 0);
	int rc = tu_reap(tu_fork(attach_when_fstat_is_refused, owner));
	shmring_detach(owner);
	if (rc == 77) {
		printf("# skipped: no seccomp filter here to refuse fstat\n");
		skip();
	}
	assert_int_equal(rc, 0);
}

static void create_rejects_bad_names(void **s)
{
	(void)s;
	struct shmring *r;
	const char *bad[] = { "", ".hidden", "-dash", "a/b", "a b", "x\n",
		"0123456789012345678901234567890123456789012345678901234567890123" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(shmring_create(bad[i], NULL, &r), -EINVAL);
		assert_true(strlen(shmring_errmsg()) > 0);
		assert_int_equal(shmring_attach(bad[i], SHMRING_ROLE_CONSUMER, &r), -EINVAL);
	}
}

static void create_rounds_capacity_and_rejects_out_of_range(void **s)
{
	(void)s;
	struct shmring_opts o;
	struct shmring *r;
	shmring_opts_init(&o);
	o.capacity = 5000;
	assert_int_equal(shmring_create(NULL, &o, &r), 0);
	assert_int_equal(shmring_capacity(r), 8192);
	assert_int_equal(shmring_max_message(r), 4096 - 8);
	shmring_detach(r);
	o.capacity = 0;
	assert_int_equal(shmring_create(NULL, &o, &r), -EINVAL);
	o.capacity = (1u << 30) + 1;
	assert_int_equal(shmring_create(NULL, &o, &r), -EINVAL);
	assert_non_null(strstr(shmring_errmsg(), "capacity"));
	shmring_opts_init(&o);
	o.batch = 0;
	assert_int_equal(shmring_create(NULL, &o, &r), -EINVAL);
	shmring_opts_init(&o);
	o.wait = (enum shmring_wait)42;
	assert_int_equal(shmring_create(NULL, &o, &r), -EINVAL);
}

static void anonymous_segment_is_sealed_against_shrinking(void **s)
{
	(void)s;
	struct shmring *r;
	assert_int_equal(shmring_create(NULL, NULL, &r), 0);
	assert_int_equal(ftruncate(shmring_fd(r), 4096), -1);
	assert_int_equal(errno, EPERM);
	shmring_detach(r);
}

static void create_with_role_returns_usable_end(void **s)
{
	(void)s;
	struct shmring_opts o;
	struct shmring *p, *c;
	char where[32];
	shmring_opts_init(&o);
	o.role = SHMRING_ROLE_PRODUCER;
	assert_int_equal(shmring_create(NULL, &o, &p), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(p));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	assert_int_equal(shmring_send(p, "hi", 2, 0), 0);
	char buf[8];
	assert_int_equal(shmring_recv(c, buf, sizeof(buf), 0), 2);
	assert_memory_equal(buf, "hi", 2);
	shmring_detach(c);
	shmring_detach(p);
}

/* ---- attach ------------------------------------------------------------ */

static void attach_missing_ring_says_enoent(void **s)
{
	(void)s;
	struct shmring *r;
	assert_int_equal(shmring_attach(uniq("missing"), SHMRING_ROLE_CONSUMER, &r), -ENOENT);
	assert_non_null(strstr(shmring_errmsg(), "no ring named"));
	assert_null(r);
}

static void attach_rejects_bad_role_and_bad_fd(void **s)
{
	(void)s;
	struct shmring *r;
	assert_int_equal(shmring_attach("x", SHMRING_ROLE_NONE, &r), -EINVAL);
	assert_int_equal(shmring_attach("x", (enum shmring_role)9, &r), -EINVAL);
	assert_int_equal(shmring_attach("fd:abc", SHMRING_ROLE_CONSUMER, &r), -EINVAL);
	assert_int_equal(shmring_attach("fd:", SHMRING_ROLE_CONSUMER, &r), -EINVAL);
	assert_int_equal(shmring_attach("fd:-1", SHMRING_ROLE_CONSUMER, &r), -EINVAL);
	assert_int_equal(shmring_attach("fd:987654", SHMRING_ROLE_CONSUMER, &r), -EBADF);
	/* a descriptor that is not a shmring segment */
	int fd = memfd_create("notaring", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 65536), 0);
	char where[32];
	snprintf(where, sizeof(where), "fd:%d", fd);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &r), -EBADMSG);
	assert_non_null(strstr(shmring_errmsg(), "not a shmring segment"));
	assert_int_equal(ftruncate(fd, 100), 0);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &r), -EBADMSG);
	assert_non_null(strstr(shmring_errmsg(), "too small"));
	close(fd);
}

static void attach_takes_each_role_once(void **s)
{
	(void)s;
	struct tu_pair p;
	struct shmring *again;
	char where[32];
	pair_open(&p, 4096);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(p.owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &again), -EBUSY);
	assert_non_null(strstr(shmring_errmsg(), "live producer"));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &again), -EBUSY);
	/* after detach the role is free again */
	shmring_detach(p.prod);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p.prod), 0);
	tu_pair_close(&p);
}

static int attach_producer_and_die(void *arg)
{
	struct shmring *r;
	if (shmring_attach(arg, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	if (shmring_send(r, "last words", 10, 0) < 0)
		return 2;
	_exit(0); /* no detach, no close: a crash as far as the ring can tell */
}

static void attach_takes_over_role_of_dead_process(void **s)
{
	(void)s;
	struct shmring *owner, *r, *c;
	char where[32];
	assert_int_equal(shmring_create(NULL, NULL, &owner), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	pid_t pid = tu_fork(attach_producer_and_die, where);
	/* not reaped yet: the child is a zombie, which counts as dead */
	char st = 0;
	for (uint64_t t0 = tu_now_ms(); st != 'Z' && tu_now_ms() - t0 < 20000;) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "r");
		if (!f || fscanf(f, "%*d %*s %c", &st) != 1)
			st = 0;
		if (f)
			fclose(f);
		if (st != 'Z')
			usleep(2000);
	}
	assert_int_equal(st, 'Z');
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &r), 0);
	assert_int_equal(tu_reap(pid), 0);
	/* the dead producer's committed message is still delivered */
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	char buf[16];
	assert_int_equal(shmring_recv(c, buf, sizeof(buf), 0), 10);
	assert_memory_equal(buf, "last words", 10);
	shmring_detach(c);
	shmring_detach(r);
	shmring_detach(owner);
}

static void producer_takeover_resumes_after_last_visible_record(void **s)
{
	(void)s;
	struct tu_pair p;
	char b[8];
	char where[32];
	pair_open(&p, 4096);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(p.owner));
	uint8_t *m = raw_map(p.owner);
	struct smr_header *h = (struct smr_header *)m;
	/* head is only a hint: lagging behind visible records ... */
	assert_int_equal(shmring_send(p.prod, "one", 3, 0), 0);
	assert_int_equal(shmring_send(p.prod, "two", 3, 0), 0);
	shmring_detach(p.prod);
	atomic_store(&h->head.pos, 0u);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p.prod), 0);
	assert_int_equal(shmring_send(p.prod, "3", 1, 0), 0);
	/* ... or ahead of them (a producer that died between the two stores) */
	shmring_detach(p.prod);
	atomic_store(&h->head.pos, atomic_load(&h->head.pos) + 64);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p.prod), 0);
	assert_int_equal(shmring_send(p.prod, "4", 1, 0), 0);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), 3);
	assert_memory_equal(b, "one", 3);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), 3);
	assert_memory_equal(b, "two", 3);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), 1);
	assert_memory_equal(b, "3", 1);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), 1);
	assert_memory_equal(b, "4", 1);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), -EAGAIN);
	raw_unmap(p.owner, m);
	tu_pair_close(&p);
}

/* ---- corrupt and foreign segments -------------------------------------- */

static void attach_rejects_corrupt_or_foreign_header(void **s)
{
	(void)s;
	struct shmring *owner, *r;
	const char *name = uniq("corrupt");
	assert_int_equal(shmring_create(name, NULL, &owner), 0);
	uint8_t *m = raw_map(owner);
	struct smr_identity *id = (struct smr_identity *)m;
	struct smr_identity saved = *id;

	id->magic ^= 1;
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), -EBADMSG);
	assert_non_null(strstr(shmring_errmsg(), "bad magic"));
	*id = saved;

	atomic_store(&id->version, 99u);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), -EPROTO);
	assert_non_null(strstr(shmring_errmsg(), "layout version 99"));
	atomic_store(&id->version, 0u);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_OBSERVER, &r), -EAGAIN);
	assert_non_null(strstr(shmring_errmsg(), "not initialised"));
	*id = saved;

	id->capacity = 3000; /* not a power of two */
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), -EBADMSG);
	id->capacity = saved.capacity * 2; /* larger than the segment */
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), -EBADMSG);
	*id = saved;
	id->max_msg = saved.capacity; /* would let a record cross the end */
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), -EBADMSG);
	*id = saved;

	/* indices that cannot both be right */
	struct smr_header *h = (struct smr_header *)m;
	atomic_store(&h->head.pos, saved.capacity + 8);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), -EBADMSG);
	atomic_store(&h->head.pos, 3u);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_PRODUCER, &r), -EBADMSG);
	atomic_store(&h->head.pos, 0u);
	/* the failed attaches gave their roles back */
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), 0);
	shmring_detach(r);

	/* a segment others may write is refused */
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm/shmring.%s", name);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &r), -EPERM);
	assert_non_null(strstr(shmring_errmsg(), "other users"));

	raw_unmap(owner, m);
	shmring_unlink(name);
	shmring_detach(owner);
}

static void peek_rejects_corrupt_records(void **s)
{
	(void)s;
	struct tu_pair p;
	const void *buf;
	size_t len;
	pair_open(&p, 4096);
	uint8_t *m = raw_map(p.owner);
	uint64_t *rec = (uint64_t *)(m + SHMRING_DATA_OFFSET);

	assert_int_equal(shmring_send(p.prod, "abcdefgh", 8, 0), 0);
	uint64_t good = *rec;
	*rec = smr_rec_pack(8, 0x1234); /* unknown type */
	assert_int_equal(shmring_peek(p.cons, &buf, &len, 0), -EBADMSG);
	assert_non_null(strstr(shmring_errmsg(), "corrupt record"));
	*rec = smr_rec_pack(4000, SHMRING_REC_MSG); /* longer than published */
	assert_int_equal(shmring_peek(p.cons, &buf, &len, 0), -EBADMSG);
	*rec = smr_rec_pack(0xffffffffu, SHMRING_REC_MSG); /* longer than the ring */
	assert_int_equal(shmring_peek(p.cons, &buf, &len, 0), -EBADMSG);
	*rec = smr_rec_pack(0, SHMRING_REC_MSG); /* zero length */
	assert_int_equal(shmring_peek(p.cons, &buf, &len, 0), -EBADMSG);
	*rec = smr_rec_pack(8, SHMRING_REC_PAD); /* pad that does not reach the end */
	assert_int_equal(shmring_peek(p.cons, &buf, &len, 0), -EBADMSG);
	*rec = good;
	assert_int_equal(shmring_peek(p.cons, &buf, &len, 0), 8);
	assert_memory_equal(buf, "abcdefgh", 8);
	assert_int_equal(shmring_release(p.cons), 0);

	/* a pad that would skip the whole ring (pads are never that long) */
	struct smr_header *h = (struct smr_header *)m;
	uint64_t pos = atomic_load(&h->tail.pos) & 4095;
	uint64_t *at = (uint64_t *)(m + SHMRING_DATA_OFFSET + pos);
	*at = smr_rec_pack((uint32_t)(4096 - pos - 8), SHMRING_REC_PAD);
	assert_int_equal(shmring_peek(p.cons, &buf, &len, 0), -EBADMSG);
	*at = 0;

	/* a tail index that ran ahead of the head, seen by a full producer */
	while (shmring_send(p.prod, "0123456789", 10, 0) == 0)
		;
	atomic_store(&h->tail.pos, atomic_load(&h->head.pos) + 64);
	void *w;
	assert_int_equal(shmring_reserve(p.prod, 10, &w, 0), -EBADMSG);
	assert_non_null(strstr(shmring_errmsg(), "tail"));

	raw_unmap(p.owner, m);
	tu_pair_close(&p);
}

/* ---- data path ---------------------------------------------------------- */

static void send_recv_roundtrip_preserves_every_byte(void **s)
{
	(void)s;
	struct tu_pair p;
	uint8_t out[2048], in[2048];
	pair_open(&p, 8192);
	for (size_t len = 1; len <= sizeof(out); len = len * 3 + 1) {
		for (size_t i = 0; i < len; i++)
			out[i] = (uint8_t)(len * 7 + i);
		assert_int_equal(shmring_send(p.prod, out, len, 0), 0);
		assert_int_equal(shmring_recv(p.cons, in, sizeof(in), 0), (ssize_t)len);
		assert_memory_equal(in, out, len);
	}
	tu_pair_close(&p);
}

static void zero_copy_commit_may_shrink_the_reservation(void **s)
{
	(void)s;
	struct tu_pair p;
	void *w;
	const void *r;
	size_t len;
	pair_open(&p, 4096);
	assert_int_equal(shmring_reserve(p.prod, 100, &w, 0), 0);
	assert_int_equal((uintptr_t)w % 8, 0);
	memcpy(w, "short", 5);
	assert_int_equal(shmring_commit(p.prod, 101), -EINVAL); /* beyond the record */
	assert_int_equal(shmring_commit(p.prod, 5), 0);
	assert_int_equal(shmring_peek(p.cons, &r, &len, 0), 5);
	assert_int_equal(len, 5);
	assert_memory_equal(r, "short", 5);
	/* peeking again returns the same message until it is released */
	const void *r2;
	assert_int_equal(shmring_peek(p.cons, &r2, &len, 0), 5);
	assert_ptr_equal(r, r2);
	assert_int_equal(shmring_release(p.cons), 0);
	assert_int_equal(shmring_peek(p.cons, &r, &len, 0), -EAGAIN);
	tu_pair_close(&p);
}

/* An abandoned reservation publishes nothing, its room is reused, and a
 * wrap it caused (a pad) stays harmless. */
static void abandon_publishes_nothing_and_frees_the_room(void **s)
{
	(void)s;
	struct tu_pair p;
	void *w, *w2;
	const void *r;
	size_t len;
	pair_open(&p, 4096);
	assert_int_equal(shmring_abandon(p.prod), -EINVAL); /* nothing open */
	assert_int_equal(shmring_abandon(p.cons), -EBADF);
	assert_int_equal(shmring_reserve(p.prod, 100, &w, 0), 0);
	memcpy(w, "half-written", 12);
	assert_int_equal(shmring_abandon(p.prod), 0);
	assert_int_equal(shmring_commit(p.prod, 12), -EINVAL); /* gone */
	assert_int_equal(shmring_peek(p.cons, &r, &len, 0), -EAGAIN);
	assert_int_equal(shmring_reserve(p.prod, 200, &w2, 0), 0);
	assert_ptr_equal(w, w2); /* the same room again */
	memcpy(w2, "whole", 5);
	assert_int_equal(shmring_commit(p.prod, 5), 0);
	assert_int_equal(shmring_peek(p.cons, &r, &len, 0), 5);
	assert_memory_equal(r, "whole", 5);
	assert_int_equal(shmring_release(p.cons), 0);
	/* Near the end of the data area: the reservation that wraps writes a
	 * pad first; abandoning it leaves the pad, which the consumer skips. */
	static uint8_t fill[1500];
	memset(fill, 7, sizeof(fill));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(shmring_send(p.prod, fill, sizeof(fill), 0), 0);
		assert_int_equal(shmring_recv(p.cons, fill, sizeof(fill), 0), (ssize_t)sizeof(fill));
	}
	assert_int_equal(shmring_reserve(p.prod, 1500, &w, 0), 0);
	assert_int_equal(shmring_abandon(p.prod), 0);
	assert_int_equal(shmring_peek(p.cons, &r, &len, 0), -EAGAIN);
	assert_int_equal(shmring_send(p.prod, "after", 5, 0), 0);
	assert_int_equal(shmring_peek(p.cons, &r, &len, 0), 5);
	assert_memory_equal(r, "after", 5);
	assert_int_equal(shmring_release(p.cons), 0);
	tu_pair_close(&p);
}

static void ring_rejects_message_larger_than_capacity(void **s)
{
	(void)s;
	struct tu_pair p;
	void *w;
	static uint8_t big[4096];
	pair_open(&p, 4096);
	size_t max = shmring_max_message(p.prod);
	assert_int_equal(max, 2048 - 8);
	assert_int_equal(shmring_reserve(p.prod, max + 1, &w, 0), -EMSGSIZE);
	/* (send takes larger messages, in pieces: see the pieced_* tests) */
	/* the largest record always fits an empty ring, wherever its position */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(shmring_send(p.prod, big, 1 + (size_t)i * 37, 0), 0);
		assert_int_equal(shmring_recv(p.cons, big, sizeof(big), 0), 1 + i * 37);
		assert_int_equal(shmring_reserve(p.prod, max, &w, 0), 0);
		assert_int_equal(shmring_commit(p.prod, max), 0);
		assert_int_equal(shmring_recv(p.cons, big, sizeof(big), 0), (ssize_t)max);
	}
	tu_pair_close(&p);
}

static void ring_rejects_zero_length_message(void **s)
{
	(void)s;
	struct tu_pair p;
	void *w;
	pair_open(&p, 4096);
	assert_int_equal(shmring_reserve(p.prod, 0, &w, 0), -EINVAL);
	assert_int_equal(shmring_send(p.prod, "", 0, 0), -EINVAL);
	assert_int_equal(shmring_reserve(p.prod, 8, &w, 0), 0);
	assert_int_equal(shmring_commit(p.prod, 0), -EINVAL);
	assert_int_equal(shmring_commit(p.prod, 8), 0);
	tu_pair_close(&p);
}

static void calls_out_of_order_are_einval(void **s)
{
	(void)s;
	struct tu_pair p;
	void *w;
	pair_open(&p, 4096);
	assert_int_equal(shmring_commit(p.prod, 1), -EINVAL);  /* nothing reserved */
	assert_int_equal(shmring_release(p.cons), -EINVAL);    /* nothing peeked */
	assert_int_equal(shmring_reserve(p.prod, 8, &w, 0), 0);
	assert_int_equal(shmring_reserve(p.prod, 8, &w, 0), -EINVAL); /* one at a time */
	assert_int_equal(shmring_commit(p.prod, 8), 0);
	assert_int_equal(shmring_set_wait(p.prod, (enum shmring_wait)7, 0), -EINVAL);
	assert_int_equal(shmring_set_batch(p.prod, 0), -EINVAL);
	tu_pair_close(&p);
}

static void wrong_role_is_ebadf(void **s)
{
	(void)s;
	struct tu_pair p;
	struct shmring *obs;
	void *w;
	const void *r;
	size_t len;
	char b[8];
	const char *name = uniq("roles");
	pair_open(&p, 4096);
	assert_int_equal(shmring_reserve(p.cons, 8, &w, 0), -EBADF);
	assert_int_equal(shmring_commit(p.cons, 8), -EBADF);
	assert_int_equal(shmring_send(p.cons, "x", 1, 0), -EBADF);
	assert_int_equal(shmring_peek(p.prod, &r, &len, 0), -EBADF);
	assert_int_equal(shmring_release(p.prod), -EBADF);
	assert_int_equal(shmring_recv(p.prod, b, sizeof(b), 0), -EBADF);
	assert_int_equal(shmring_flush(p.owner), -EBADF);
	assert_int_equal(shmring_close(p.owner), -EBADF);
	tu_pair_close(&p);

	struct shmring *owner;
	assert_int_equal(shmring_create(name, NULL, &owner), 0);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_OBSERVER, &obs), 0);
	assert_int_equal(shmring_send(obs, "x", 1, 0), -EBADF);
	assert_int_equal(shmring_recv(obs, b, sizeof(b), 0), -EBADF);
	shmring_detach(obs);
	shmring_unlink(name);
	shmring_detach(owner);
}

static void empty_and_full_try_is_eagain_and_timeout_is_bounded(void **s)
{
	(void)s;
	struct tu_pair p;
	char b[64];
	const void *r;
	size_t len;
	void *w;
	pair_open(&p, 4096);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), -EAGAIN);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(shmring_peek(p.cons, &r, &len, 80), -ETIMEDOUT);
	uint64_t dt = tu_now_ms() - t0;
	assert_true(dt >= 79 && dt < 20000);

	int n = 0;
	while (shmring_send(p.prod, b, sizeof(b), 0) == 0)
		n++;
	assert_int_equal(n, 4096 / (64 + 8));
	assert_int_equal(shmring_reserve(p.prod, 64, &w, 0), -EAGAIN);
	for (int strat = 0; strat <= SHMRING_WAIT_FUTEX; strat++) {
		assert_int_equal(shmring_set_wait(p.prod, (enum shmring_wait)strat, 10), 0);
		t0 = tu_now_ms();
		assert_int_equal(shmring_reserve(p.prod, 64, &w, 30), -ETIMEDOUT);
		dt = tu_now_ms() - t0;
		assert_true(dt >= 29 && dt < 20000);
	}
	struct shmring_stats st;
	shmring_stats(p.owner, &st);
	assert_true(st.full_events >= 5);
	assert_true(st.empty_events >= 2);
	assert_int_equal(st.high_fill, (uint64_t)n * 72);
	tu_pair_close(&p);
}

static void wraparound_keeps_messages_contiguous_and_intact(void **s)
{
	(void)s;
	struct tu_pair p;
	uint8_t out[1500], in[1500];
	pair_open(&p, 4096);
	uint64_t sent = 0, got = 0;
	const uint8_t *base = NULL; /* data area: the first message is at offset 0 */
	/* odd sizes so records land on every offset; several hundred laps */
	for (uint32_t i = 0; i < 20000; i++) {
		size_t len = 1 + (i * 2654435761u) % sizeof(out);
		memset(out, (int)(i & 0xff), len);
		memcpy(out, &i, len < 4 ? len : 4);
		while (shmring_send(p.prod, out, len, 0) == -EAGAIN) {
			const void *r;
			size_t rl;
			int n = shmring_peek(p.cons, &r, &rl, 0);
			assert_true(n > 0);
			if (!base)
				base = (const uint8_t *)r - 8;
			/* contiguous: the whole message lies inside the data area */
			assert_true((const uint8_t *)r >= base + 8);
			assert_true((size_t)((const uint8_t *)r - base) + rl <= 4096);
			memcpy(in, r, rl);
			uint32_t j = (uint32_t)got;
			size_t want = 1 + (j * 2654435761u) % sizeof(out);
			assert_int_equal(rl, want);
			if (rl >= 4)
				assert_memory_equal(in, &j, 4);
			for (size_t k = 4; k < rl; k++)
				assert_int_equal(in[k], j & 0xff);
			assert_int_equal(shmring_release(p.cons), 0);
			got++;
		}
		sent++;
	}
	struct shmring_stats st;
	shmring_stats(p.owner, &st);
	assert_int_equal(st.msgs_in, sent);
	assert_true(st.bytes_in > 20000ull * 700);
	assert_true(st.msgs_out == got);
	tu_pair_close(&p);
}

static void recv_into_small_buffer_keeps_the_message(void **s)
{
	(void)s;
	struct tu_pair p;
	char small[4], big[64];
	pair_open(&p, 4096);
	assert_int_equal(shmring_send(p.prod, "0123456789", 10, 0), 0);
	assert_int_equal(shmring_recv(p.cons, small, sizeof(small), 0), -EMSGSIZE);
	assert_int_equal(shmring_recv(p.cons, big, sizeof(big), 0), 10);
	assert_memory_equal(big, "0123456789", 10);
	tu_pair_close(&p);
}

static void close_gives_end_of_stream_after_drain(void **s)
{
	(void)s;
	struct tu_pair p;
	char b[8];
	pair_open(&p, 4096);
	assert_int_equal(shmring_send(p.prod, "a", 1, 0), 0);
	assert_int_equal(shmring_send(p.prod, "b", 1, 0), 0);
	assert_int_equal(shmring_close(p.prod), 0);
	assert_int_equal(shmring_close(p.prod), 0); /* idempotent */
	assert_int_equal(shmring_send(p.prod, "c", 1, 0), -EPIPE); /* nobody would read it */
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), -1), 1);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), -1), 1);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), -1), 0);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), 0);
	struct shmring_stats st;
	shmring_stats(p.owner, &st);
	assert_int_equal(st.producer_closed, 1);
	tu_pair_close(&p);
}

static void consumer_close_makes_full_producer_fail_with_epipe(void **s)
{
	(void)s;
	struct tu_pair p;
	void *w;
	pair_open(&p, 4096);
	while (shmring_send(p.prod, "0123456789abcdef", 16, 0) == 0)
		;
	assert_int_equal(shmring_close(p.cons), 0);
	assert_int_equal(shmring_reserve(p.prod, 16, &w, 1000), -EPIPE);
	tu_pair_close(&p);
}

static void batching_publishes_on_batch_or_flush(void **s)
{
	(void)s;
	struct tu_pair p;
	char b[8];
	/* Without offers (SHMRING_ADAPTIVE=0 at attach): a consumer in the
	 * producer's process would take an offered hold at once. */
	setenv("SHMRING_ADAPTIVE", "0", 1);
	pair_open(&p, 4096);
	unsetenv("SHMRING_ADAPTIVE");
	assert_int_equal(shmring_set_batch(p.prod, 4), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmring_send(p.prod, "x", 1, 0), 0);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), -EAGAIN);
	assert_int_equal(shmring_flush(p.prod), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(shmring_send(p.prod, "y", 1, 0), 0);
	assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), 1); /* 4th published */
	/* consumer-side batching holds back the tail until flush */
	assert_int_equal(shmring_set_batch(p.cons, 16), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmring_recv(p.cons, b, sizeof(b), 0), 1);
	struct shmring_stats st;
	shmring_stats(p.owner, &st);
	assert_int_equal(st.msgs_out, 4);
	assert_int_equal(shmring_flush(p.cons), 0);
	shmring_stats(p.owner, &st);
	assert_int_equal(st.msgs_out, 7);
	assert_int_equal(st.fill, 0);
	tu_pair_close(&p);
}

static void observer_reads_counters_of_a_named_ring(void **s)
{
	(void)s;
	struct shmring *owner, *p, *c, *obs;
	struct shmring_stats st;
	const char *name = uniq("obs");
	char b[64];
	assert_int_equal(shmring_create(name, NULL, &owner), 0);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_PRODUCER, &p), 0);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_CONSUMER, &c), 0);
	assert_int_equal(shmring_attach(name, SHMRING_ROLE_OBSERVER, &obs), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmring_send(p, b, 10 + (size_t)i, 0), 0);
	for (int i = 0; i < 4; i++)
		assert_true(shmring_recv(c, b, sizeof(b), 0) > 0);
	assert_int_equal(shmring_stats(obs, &st), 0);
	assert_int_equal(st.msgs_in, 10);
	assert_int_equal(st.bytes_in, 145);
	assert_int_equal(st.msgs_out, 4);
	assert_int_equal(st.bytes_out, 46);
	assert_int_equal(st.producer_pid, getpid());
	assert_int_equal(st.consumer_pid, getpid());
	assert_int_equal(st.capacity, 1u << 20);
	assert_int_equal(st.fill, 3 * 24 + 3 * 32); /* sizes 14..19 in 8-aligned records */
	shmring_detach(obs);
	shmring_detach(c);
	shmring_stats(owner, &st);
	assert_int_equal(st.consumer_pid, 0); /* detach gave the role back */
	shmring_detach(p);
	shmring_unlink(name);
	shmring_detach(owner);
}

/* ---- two processes ------------------------------------------------------ */

static int send_two_and_crash(void *arg)
{
	struct shmring *r;
	if (shmring_attach(arg, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	shmring_send(r, "one", 3, 0);
	shmring_send(r, "two", 3, 0);
	kill(getpid(), SIGKILL);
	return 2;
}

static void dead_producer_is_reported_after_drain(void **s)
{
	(void)s;
	struct shmring *owner, *c;
	char where[32], b[8];
	assert_int_equal(shmring_create(NULL, NULL, &owner), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	pid_t pid = tu_fork(send_two_and_crash, where);
	assert_int_equal(shmring_recv(c, b, sizeof(b), 5000), 3);
	assert_int_equal(shmring_recv(c, b, sizeof(b), 5000), 3);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(shmring_recv(c, b, sizeof(b), -1), -EOWNERDEAD);
	assert_true(tu_now_ms() - t0 < 20000); /* told, not left waiting (~100 ms) */
	assert_int_equal(tu_reap(pid), 128 + SIGKILL);
	shmring_detach(c);
	shmring_detach(owner);
}

static int attach_consumer_and_crash(void *arg)
{
	struct shmring *r;
	if (shmring_attach(arg, SHMRING_ROLE_CONSUMER, &r) < 0)
		return 1;
	kill(getpid(), SIGKILL);
	return 2;
}

static void dead_consumer_is_reported_to_blocked_producer(void **s)
{
	(void)s;
	struct shmring *owner, *p;
	char where[32];
	void *w;
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = 4096;
	assert_int_equal(shmring_create(NULL, &o, &owner), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p), 0);
	pid_t pid = tu_fork(attach_consumer_and_crash, where);
	assert_int_equal(tu_reap(pid), 128 + SIGKILL);
	while (shmring_send(p, "0123456789abcdef", 16, 0) == 0)
		;
	for (int strat = 0; strat <= SHMRING_WAIT_FUTEX; strat++) {
		shmring_set_wait(p, (enum shmring_wait)strat, 10);
		uint64_t t0 = tu_now_ms();
		assert_int_equal(shmring_reserve(p, 16, &w, -1), -EOWNERDEAD);
		assert_true(tu_now_ms() - t0 < 20000); /* told, not left waiting (~100 ms) */
	}
	shmring_detach(p);
	shmring_detach(owner);
}

static void expect_sequence(struct shmring *c, uint64_t from, uint64_t to);

/* A producer in another process fills a 4 KiB ring, says so (a byte on
 * full), blocks in one more send, says when that returned (a byte on
 * sent), then sends the rest: n sequence numbers in all. */
struct filler {
	const char *where;
	int full, sent;
	uint64_t n;
};

static int fill_then_block(void *arg)
{
	const struct filler *f = arg;
	struct shmring *r;
	alarm(60); /* a failed test leaves no producer spinning on a core */
	if (shmring_attach(f->where, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	uint64_t i = 0;
	while (shmring_send(r, &i, sizeof(i), 0) == 0)
		i++;
	if (write(f->full, "f", 1) != 1 || shmring_send(r, &i, sizeof(i), 10000) < 0)
		return 2;
	if (write(f->sent, "s", 1) != 1)
		return 3;
	for (i++; i < f->n; i++)
		if (shmring_send(r, &i, sizeof(i), 10000) < 0)
			return 4;
	shmring_close(r);
	shmring_detach(r);
	return 0;
}

/* After a wait for room the producer lets the room grow (an eighth of the
 * ring), but for SMR_ROOM_NS at most: a consumer that frees one record and
 * stops still lets a blocked send through, and nothing is lost or
 * reordered. */
static void a_producer_waiting_for_room_takes_what_a_stalled_consumer_frees(void **s)
{
	(void)s;
	struct shmring *owner, *c;
	struct shmring_opts o;
	char where[32];
	int full[2], sent[2];
	shmring_opts_init(&o);
	o.capacity = 4096; /* an eighth: 512 bytes, 32 records of 8 bytes */
	assert_int_equal(shmring_create(NULL, &o, &owner), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	assert_int_equal(pipe(full), 0);
	assert_int_equal(pipe(sent), 0);
	struct filler f = { .where = where, .full = full[1], .sent = sent[1], .n = 1000 };
	pid_t pid = tu_fork(fill_then_block, &f);
	close(full[1]);
	close(sent[1]);
	struct pollfd pf = { .fd = full[0], .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 30000), 1);
	/* The blocked send past its spin, asleep: the wait for room is over
	 * when it returns, the growing of the room only begins. */
	struct smr_header *h = (struct smr_header *)raw_map(c);
	uint64_t end = tu_now_ms() + 30000;
	while (!atomic_load(&h->prod.sleeping) && tu_now_ms() < end)
		tu_sleep_ms(1);
	assert_true(atomic_load(&h->prod.sleeping) != 0);
	raw_unmap(c, (uint8_t *)h);
	/* One record freed (16 bytes of an eighth's 512), and no more until
	 * the send went through: it did, 4 us later. */
	expect_sequence(c, 0, 1);
	pf.fd = sent[0];
	assert_int_equal(poll(&pf, 1, 10000), 1);
	expect_sequence(c, 1, f.n);
	assert_int_equal(tu_reap(pid), 0);
	close(full[0]);
	close(sent[0]);
	shmring_detach(c);
	shmring_detach(owner);
}

/* ---- adaptive publication (docs/ring.md) --------------------------------- */

/* An anonymous ring of default size, its "fd:N" in where (32 bytes), and
 * its consumer end attached here. */
static void anon_ring_and_consumer(struct shmring **owner, struct shmring **c, char *where)
{
	assert_int_equal(shmring_create(NULL, NULL, owner), 0);
	snprintf(where, 32, "fd:%d", shmring_fd(*owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, c), 0);
}

/* A producer in another process: n sequence numbers at batch (1: the
 * default, adaptive), then a byte down the pipe, then quiet outside the
 * library until killed. */
struct quiet_producer {
	const char *where;
	int batch, n, fd;
};

static int send_then_go_quiet(void *arg)
{
	const struct quiet_producer *q = arg;
	struct shmring *r;
	if (shmring_attach(q->where, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	shmring_set_batch(r, (uint32_t)q->batch);
	for (uint64_t i = 0; i < (uint64_t)q->n; i++)
		if (shmring_send(r, &i, sizeof(i), -1) < 0)
			return 2;
	if (write(q->fd, "x", 1) != 1)
		return 3;
	for (;;)
		pause();
}

static void expect_sequence(struct shmring *c, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		uint64_t v = ~0ull;
		assert_int_equal(shmring_recv(c, &v, sizeof(v), 5000), sizeof(v));
		if (v != i)
			fail_msg("message %llu read as %llu", (unsigned long long)i,
				 (unsigned long long)v);
	}
}

/* Start a quiet producer of n messages at batch and wait until it is quiet;
 * the consumer has not looked yet, so it slept on nothing. */
static pid_t quiet_producer(struct quiet_producer *q, const char *where, int batch, int n)
{
	int fds[2];
	char x;
	assert_int_equal(pipe(fds), 0);
	*q = (struct quiet_producer){ .where = where, .batch = batch, .n = n, .fd = fds[1] };
	pid_t pid = tu_fork(send_then_go_quiet, q);
	assert_true(pid > 0);
	assert_int_equal(read(fds[0], &x, 1), 1);
	close(fds[0]);
	close(fds[1]);
	return pid;
}

static void quiet_producer_leaves_nothing_invisible(void **s)
{
	(void)s;
	struct shmring *owner, *c;
	struct shmring_stats st;
	struct quiet_producer q;
	char where[32];
	anon_ring_and_consumer(&owner, &c, where);
	/* 1000 = 31 batches of 32 and 8 more, held when it went quiet */
	pid_t pid = quiet_producer(&q, where, 32, 1000);
	expect_sequence(c, 0, 1000);
	shmring_stats(owner, &st);
	assert_int_equal(st.msgs_in, 1000 - 8); /* the last 8 were never published ... */
	assert_int_equal(st.holds, 32);
	assert_int_equal(st.taken, 1);          /* ... the consumer took them */
	uint64_t v;
	assert_int_equal(shmring_recv(c, &v, sizeof(v), 0), -EAGAIN);
	kill(pid, SIGKILL);
	assert_int_equal(tu_reap(pid), 128 + SIGKILL);
	shmring_detach(c);
	shmring_detach(owner);
}

/* A producer taking over from one that died holding: what the consumer took
 * is kept (the walk steps over it), what it did not is dropped, as an
 * unpublished commit is, and never taken later from the stale offer. */
static void takeover_after_a_dead_producer_s_hold(int taken_first)
{
	struct shmring *owner, *c, *p;
	struct shmring_stats st;
	struct quiet_producer q;
	char where[32];
	anon_ring_and_consumer(&owner, &c, where);
	pid_t pid = quiet_producer(&q, where, 32, 40); /* 32 published, 8 held */
	if (taken_first)
		expect_sequence(c, 0, 40);
	kill(pid, SIGKILL);
	assert_int_equal(tu_reap(pid), 128 + SIGKILL);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p), 0);
	for (uint64_t i = 100; i < 110; i++)
		assert_int_equal(shmring_send(p, &i, sizeof(i), 0), 0);
	if (!taken_first)
		expect_sequence(c, 0, 32); /* 32..39 died with their producer */
	expect_sequence(c, 100, 110);
	uint64_t v;
	assert_int_equal(shmring_recv(c, &v, sizeof(v), 0), -EAGAIN);
	shmring_stats(owner, &st);
	assert_int_equal(st.taken, taken_first ? 1 : 0);
	shmring_detach(p);
	shmring_detach(c);
	shmring_detach(owner);
}

static void takeover_keeps_a_taken_hold(void **s)
{
	(void)s;
	takeover_after_a_dead_producer_s_hold(1);
}

static void takeover_drops_a_hold_never_taken(void **s)
{
	(void)s;
	takeover_after_a_dead_producer_s_hold(0);
}

static int echo(void *arg)
{
	struct shmring *in, *out;
	const char *const *w = arg;
	if (shmring_attach(w[0], SHMRING_ROLE_CONSUMER, &in) < 0 ||
	    shmring_attach(w[1], SHMRING_ROLE_PRODUCER, &out) < 0)
		return 1;
	uint64_t v;
	ssize_t n;
	while ((n = shmring_recv(in, &v, sizeof(v), 10000)) == sizeof(v))
		if (shmring_send(out, &v, sizeof(v), 10000) < 0)
			return 2;
	return n == 0 ? 0 : 3;
}

/* Request and reply: every commit follows a wait of its thread, so no
 * commit is ever held (the round trip is not slowed by publication). */
static void ping_pong_never_holds(void **s)
{
	(void)s;
	struct shmring *oa, *ob, *a, *b;
	struct shmring_stats st;
	char wa[32], wb[32];
	assert_int_equal(shmring_create(NULL, NULL, &oa), 0);
	assert_int_equal(shmring_create(NULL, NULL, &ob), 0);
	snprintf(wa, sizeof(wa), "fd:%d", shmring_fd(oa));
	snprintf(wb, sizeof(wb), "fd:%d", shmring_fd(ob));
	assert_int_equal(shmring_attach(wa, SHMRING_ROLE_PRODUCER, &a), 0);
	assert_int_equal(shmring_attach(wb, SHMRING_ROLE_CONSUMER, &b), 0);
	const char *w[2] = { wa, wb };
	pid_t pid = tu_fork(echo, (void *)w);
	for (uint64_t i = 0; i < 20000; i++) {
		uint64_t v = ~0ull;
		assert_int_equal(shmring_send(a, &i, sizeof(i), 5000), 0);
		assert_int_equal(shmring_recv(b, &v, sizeof(v), 5000), sizeof(v));
		assert_true(v == i);
	}
	assert_int_equal(shmring_close(a), 0);
	assert_int_equal(tu_reap(pid), 0);
	shmring_stats(oa, &st);
	assert_int_equal(st.holds, 0);
	shmring_stats(ob, &st);
	assert_int_equal(st.holds, 0);
	shmring_detach(a);
	shmring_detach(b);
	shmring_detach(oa);
	shmring_detach(ob);
}

/* A burst, then a few messages 3 ms apart, the producer sleeping outside
 * the library in between, and the consumer asleep between them with 60 s
 * sleep slices: each must wake it. Two ways that went wrong (found in
 * review): a run the consumer took and the producer then added to without
 * a wake (explicit batch 32, burst 33: the trickle goes into the taken run);
 * a hold begun after the pause from a stream check made before it (the
 * default: no hold may begin after the pause). */
struct trickle {
	const char *where;
	int batch, burst, to_parent, from_parent;
};

static int burst_then_trickle(void *arg)
{
	const struct trickle *t = arg;
	struct shmring *r;
	char go;
	if (shmring_attach(t->where, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	shmring_set_batch(r, (uint32_t)t->batch);
	for (uint64_t i = 0; i < (uint64_t)t->burst + 5; i++) {
		if (i == (uint64_t)t->burst &&
		    (write(t->to_parent, "b", 1) != 1 || read(t->from_parent, &go, 1) != 1))
			return 2;
		if (i >= (uint64_t)t->burst)
			usleep(3000);
		if (shmring_send(r, &i, sizeof(i), 5000) < 0)
			return 3;
	}
	for (;;)
		pause();
}

static void quiet_gaps_after_a_burst(int batch, int burst)
{
	struct shmring *owner, *c;
	struct shmring_stats st;
	char where[32], x;
	int up[2], down[2];
	setenv("SHMRING_PEER_CHECK_MS", "60000", 1); /* read at attach */
	anon_ring_and_consumer(&owner, &c, where);
	unsetenv("SHMRING_PEER_CHECK_MS");
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	struct trickle t = { where, batch, burst, up[1], down[0] };
	pid_t pid = tu_fork(burst_then_trickle, &t);
	assert_int_equal(read(up[0], &x, 1), 1);
	expect_sequence(c, 0, (uint64_t)burst);
	shmring_stats(owner, &st);
	uint64_t holds = st.holds;
	assert_int_equal(write(down[1], "g", 1), 1);
	/* 5 messages 3 ms apart; a lost wake-up sleeps until a slice ends
	 * (seconds here), and recv's 20 s timeout ends the test at worst */
	uint64_t t0 = tu_now_ns();
	expect_sequence(c, (uint64_t)burst, (uint64_t)burst + 5);
	double ms = (double)(tu_now_ns() - t0) / 1e6;
	if (ms > 2000)
		fail_msg("5 messages 3 ms apart took %.0f ms: a wake-up was lost", ms);
	shmring_stats(owner, &st);
	if (batch == 1)
		assert_int_equal(st.holds, holds); /* nothing held after a pause */
	kill(pid, SIGKILL);
	assert_int_equal(tu_reap(pid), 128 + SIGKILL);
	for (int i = 0; i < 2; i++) {
		close(up[i]);
		close(down[i]);
	}
	shmring_detach(c);
	shmring_detach(owner);
}

static void quiet_gaps_wake_a_consumer_that_took_the_run(void **s)
{
	(void)s;
	quiet_gaps_after_a_burst(32, 33);
}

static void quiet_gaps_after_a_stream_are_not_held(void **s)
{
	(void)s;
	quiet_gaps_after_a_burst(1, 2000);
}

/* A burst (a stream: held), then one message every 500 ns (busy
 * outside the library): slower than a stream (32 per 4 us), so the runs
 * stop with the burst. (A check that only asked whether the last run began
 * within 4 us kept holding short runs, each one's first message taken 2 us
 * late.) */
static int burst_then_every_500_ns(void *arg)
{
	struct shmring *r;
	if (shmring_attach(arg, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	for (uint64_t i = 0; i < 3200; i++) {
		uint64_t end = tu_now_ns() + (i < 200 ? 0 : 500);
		while (tu_now_ns() < end)
			;
		if (shmring_send(r, &i, sizeof(i), 5000) < 0)
			return 2;
	}
	shmring_close(r);
	return 0;
}

static void a_producer_slower_than_a_stream_does_not_hold(void **s)
{
	(void)s;
	struct shmring *owner, *c;
	struct shmring_stats st;
	char where[32];
	anon_ring_and_consumer(&owner, &c, where);
	pid_t pid = tu_fork(burst_then_every_500_ns, where);
	expect_sequence(c, 0, 3200);
	assert_int_equal(tu_reap(pid), 0);
	shmring_stats(owner, &st);
	/* the burst's runs (200 / 32) and one that ends with it, at most */
	if (st.holds > 8)
		fail_msg("%llu runs held for 200 streamed and 3000 slow messages",
			 (unsigned long long)st.holds);
	shmring_detach(c);
	shmring_detach(owner);
}

/* A producer that streams holds runs: 20000 sends back to back, timed by
 * the producer itself. Faster than 60 ns a send, well inside a stream's
 * rate (32 per 4 us, 125 ns), most of its commits must have gone in runs
 * (the only test that holding happens at all at the default batch); a
 * slower machine or a sanitizer build says so and skips. */
struct timed_stream {
	const char *where;
	int fd;
};

static int stream_and_time(void *arg)
{
	const struct timed_stream *t = arg;
	struct shmring *r;
	if (shmring_attach(t->where, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	uint64_t t0 = tu_now_ns();
	for (uint64_t i = 0; i < 20000; i++)
		if (shmring_send(r, &i, sizeof(i), 5000) < 0)
			return 2;
	uint64_t ns = (tu_now_ns() - t0) / 20000;
	shmring_close(r);
	return write(t->fd, &ns, sizeof(ns)) == sizeof(ns) ? 0 : 3;
}

static void a_streaming_producer_holds_runs(void **s)
{
	(void)s;
	struct shmring *owner, *c;
	struct shmring_stats st;
	char where[32];
	int fds[2];
	anon_ring_and_consumer(&owner, &c, where);
	assert_int_equal(pipe(fds), 0);
	struct timed_stream t = { where, fds[1] };
	pid_t pid = tu_fork(stream_and_time, &t);
	expect_sequence(c, 0, 20000);
	assert_int_equal(tu_reap(pid), 0);
	uint64_t ns = 0;
	assert_int_equal(read(fds[0], &ns, sizeof(ns)), sizeof(ns));
	close(fds[0]);
	close(fds[1]);
	shmring_stats(owner, &st);
	shmring_detach(c);
	shmring_detach(owner);
	if (ns >= 60) {
		print_message("a send took %llu ns here: too slow to require runs\n",
			      (unsigned long long)ns);
		skip();
	}
	if (st.holds < 20000 / 32 / 2)
		fail_msg("%llu runs held in 20000 sends of %llu ns each", (unsigned long long)st.holds,
			 (unsigned long long)ns);
}

/* A producer that stalls between reserve and commit of a record that
 * wrapped (its pad already written) while an offered hold is taken: the
 * consumer passes the pad, and head must have passed it first, or a new
 * producer's attach finds tail ahead of head and calls the ring corrupt. */
struct stall_at_wrap {
	const char *where;
	int fd;
};

static int stall_at_a_wrap(void *arg)
{
	const struct stall_at_wrap *a = arg;
	struct shmring *r;
	struct shmring_stats st;
	char b[100] = { 0 };
	void *w;
	if (shmring_attach(a->where, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	shmring_set_batch(r, 32);
	for (uint64_t i = 0;; i++) {
		uint64_t off = shmring_position(r) & (shmring_capacity(r) - 1);
		shmring_stats(r, &st);
		/* a wrap, with a hold in progress (commits not yet published) */
		if (i >= 100 && off + 112 > shmring_capacity(r) && st.msgs_in != i) {
			if (shmring_reserve(r, sizeof(b), &w, 5000) < 0)
				return 2;
			if (write(a->fd, &i, sizeof(i)) != sizeof(i))
				return 3;
			for (;;)
				pause();
		}
		if (shmring_send(r, b, sizeof(b), 5000) < 0)
			return 4;
	}
}

static void pad_in_a_taken_hold_keeps_head_ahead_of_tail(void **s)
{
	(void)s;
	struct shmring *owner, *c, *p;
	struct shmring_opts o;
	struct shmring_stats st;
	char where[32], b[100];
	int fds[2];
	shmring_opts_init(&o);
	o.capacity = 4096;
	assert_int_equal(shmring_create(NULL, &o, &owner), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	assert_int_equal(pipe(fds), 0);
	struct stall_at_wrap a = { where, fds[1] };
	pid_t pid = tu_fork(stall_at_a_wrap, &a);
	uint64_t got = 0, sent = 0;
	ssize_t n;
	while ((n = shmring_recv(c, b, sizeof(b), 300)) == (ssize_t)sizeof(b))
		got++;
	assert_int_equal(n, -ETIMEDOUT);
	assert_int_equal(read(fds[0], &sent, sizeof(sent)), sizeof(sent));
	assert_true(got == sent); /* everything committed, the held run taken */
	shmring_stats(owner, &st);
	assert_int_equal(st.fill, 0);
	assert_true(st.taken >= 1);
	kill(pid, SIGKILL);
	assert_int_equal(tu_reap(pid), 128 + SIGKILL);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p), 0);
	assert_int_equal(shmring_send(p, b, sizeof(b), 0), 0);
	assert_int_equal(shmring_recv(c, b, sizeof(b), 5000), sizeof(b));
	close(fds[0]);
	close(fds[1]);
	shmring_detach(p);
	shmring_detach(c);
	shmring_detach(owner);
}

/* A consumer handed to an agent while it is behind a hold: the agent cannot
 * take, so shmring_mapping takes the hold where it lies, ahead of us. */
static void mapping_takes_a_hold_ahead_of_a_lagging_consumer(void **s)
{
	(void)s;
	struct shmring *owner, *c;
	struct shmring_mapping m;
	struct shmring_stats st;
	struct quiet_producer q;
	char where[32];
	anon_ring_and_consumer(&owner, &c, where);
	pid_t pid = quiet_producer(&q, where, 32, 1000); /* the last 8 held */
	assert_int_equal(shmring_mapping(c, &m), 0);
	/* the agent's view: the visible headers from its position */
	const uint8_t *d = (const uint8_t *)m.base + m.data_offset;
	uint64_t pos = m.pos, n = 0;
	for (;;) {
		uint64_t h = atomic_load_explicit(
			(_Atomic uint64_t *)(uintptr_t)(d + (pos & (m.capacity - 1))),
			memory_order_acquire);
		if (!h)
			break;
		pos += (8 + (uint32_t)h + 7) & ~7ull;
		n++;
	}
	assert_int_equal(n, 1000);
	shmring_stats(owner, &st);
	assert_int_equal(st.taken, 1);
	kill(pid, SIGKILL);
	assert_int_equal(tu_reap(pid), 128 + SIGKILL);
	shmring_detach(c);
	shmring_detach(owner);
}

static int futex_consumer(void *arg)
{
	struct shmring *r;
	char b[16];
	/* 60 s sleep slices: a message arrives in time only if a wake-up does. */
	setenv("SHMRING_PEER_CHECK_MS", "60000", 1);
	if (shmring_attach(arg, SHMRING_ROLE_CONSUMER, &r) < 0)
		return 1;
	shmring_set_wait(r, SHMRING_WAIT_FUTEX, 0);
	for (int i = 0; i < 5; i++) {
		ssize_t n = shmring_recv(r, b, sizeof(b), 20000);
		if (n != 4 || memcmp(b, "ping", 4) != 0)
			return 10 + i;
	}
	if (shmring_recv(r, b, sizeof(b), 20000) != 0)
		return 20;
	shmring_detach(r);
	return 0;
}

static void sleeping_consumer_is_woken_by_another_process(void **s)
{
	(void)s;
	struct shmring *owner, *p;
	struct shmring_stats st;
	char where[32];
	assert_int_equal(shmring_create(NULL, NULL, &owner), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p), 0);
	pid_t pid = tu_fork(futex_consumer, where);
	uint64_t slept = 0;
	for (int i = 0; i < 5; i++) {
		/* Send only once the consumer has gone to sleep (its counter
		 * moves after it announced itself), so each message needs a wake. */
		uint64_t t0 = tu_now_ms();
		do {
			shmring_stats(owner, &st);
			if (st.consumer_sleeps > slept)
				break;
			usleep(1000);
		} while (tu_now_ms() - t0 < 20000);
		assert_true(st.consumer_sleeps > slept);
		slept = st.consumer_sleeps;
		assert_int_equal(shmring_send(p, "ping", 4, 0), 0);
	}
	assert_int_equal(shmring_close(p), 0);
	assert_int_equal(tu_reap(pid), 0);
	shmring_stats(owner, &st);
	assert_true(st.consumer_sleeps >= 5);
	assert_true(st.producer_wakes >= 5);
	assert_int_equal(st.msgs_out, 5);
	shmring_detach(p);
	shmring_detach(owner);
}

static int peek_and_crash(void *arg)
{
	struct shmring *r;
	const void *m;
	size_t len;
	if (shmring_attach(arg, SHMRING_ROLE_CONSUMER, &r) < 0 || shmring_set_batch(r, 8) < 0)
		return 1;
	/* "first" is released but the release is batched, never published */
	if (shmring_peek(r, &m, &len, 1000) != 5 || shmring_release(r) < 0)
		return 2;
	if (shmring_peek(r, &m, &len, 1000) != 5)
		return 2;
	kill(getpid(), SIGKILL); /* dies holding "secnd" */
	return 3;
}

static void message_peeked_by_crashed_consumer_is_delivered_again(void **s)
{
	(void)s;
	struct shmring *owner, *p, *c;
	char where[32], b[8];
	assert_int_equal(shmring_create(NULL, NULL, &owner), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p), 0);
	struct shmring_stats st;
	assert_int_equal(shmring_send(p, "first", 5, 0), 0);
	assert_int_equal(shmring_send(p, "secnd", 5, 0), 0);
	assert_int_equal(shmring_send(p, "third", 5, 0), 0);
	assert_int_equal(tu_reap(tu_fork(peek_and_crash, where)), 128 + SIGKILL);
	assert_int_equal(shmring_stats(owner, &st), 0);
	assert_int_equal(st.redelivered, 0);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	/* both messages the dead consumer saw come again, counted; then the rest */
	assert_int_equal(shmring_stats(owner, &st), 0);
	assert_int_equal(st.redelivered, 2);
	/* a successor that never peeked does not count them a second time */
	shmring_detach(c);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	assert_int_equal(shmring_stats(owner, &st), 0);
	assert_int_equal(st.redelivered, 2);
	assert_int_equal(shmring_recv(c, b, sizeof(b), 0), 5);
	assert_memory_equal(b, "first", 5);
	assert_int_equal(shmring_recv(c, b, sizeof(b), 0), 5);
	assert_memory_equal(b, "secnd", 5);
	assert_int_equal(shmring_recv(c, b, sizeof(b), 0), 5);
	assert_memory_equal(b, "third", 5);
	shmring_detach(c);
	/* a clean detach after releasing everything leaves nothing to redeliver */
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	assert_int_equal(shmring_stats(owner, &st), 0);
	assert_int_equal(st.redelivered, 2);
	shmring_detach(c);
	shmring_detach(p);
	shmring_detach(owner);
}

/* ---- read-ahead ---- */

static int send_later(void *arg)
{
	tu_sleep_ms(100);
	return shmring_send(arg, "late", 4, 0) == 0 ? 0 : 1;
}

static void read_ahead_keeps_a_window_until_release_to(void **s)
{
	(void)s;
	struct tu_pair p;
	pair_open(&p, 4096);
	/* 600-byte messages (608 in the ring): six fill it; the seventh,
	 * sent once two are released, wraps behind a pad */
	char m[600], seen[8];
	for (int i = 0; i < 6; i++) {
		memset(m, 'a' + i, sizeof(m));
		assert_int_equal(shmring_send(p.prod, m, sizeof(m), 0), 0);
	}
	assert_int_equal(shmring_send(p.prod, m, sizeof(m), 0), -EAGAIN);
	uint64_t cur = 0, at, starts[8], ends[8];
	const void *b;
	size_t len;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(shmring_peek_ahead(p.cons, &cur, &at, &b, &len, 0), 600);
		seen[i] = *(const char *)b;
		starts[i] = at;
		ends[i] = cur;
		assert_true(i == 0 || at >= ends[i - 1]);
	}
	assert_memory_equal(seen, "abcdef", 6);
	assert_int_equal(shmring_peek_ahead(p.cons, &cur, &at, &b, &len, 0), -EAGAIN);
	/* nothing released yet: the ring is full from the producer's side */
	struct shmring_stats st;
	assert_int_equal(shmring_stats(p.owner, &st), 0);
	assert_int_equal(st.msgs_out, 0);
	/* a position inside a record, or past the window, is refused */
	assert_int_equal(shmring_release_to(p.cons, starts[1] + 8), -EINVAL);
	assert_int_equal(shmring_release_to(p.cons, ends[5] + 4096), -EINVAL);
	/* a cursor a ring's worth ahead would read our own oldest record again */
	uint64_t far = starts[0] + 4096;
	assert_int_equal(shmring_peek_ahead(p.cons, &far, &at, &b, &len, 0), -EINVAL);
	assert_int_equal(shmring_release_to(p.cons, starts[0]), 0); /* nothing */
	assert_int_equal(shmring_release_to(p.cons, ends[1]), 0);
	assert_int_equal(shmring_stats(p.owner, &st), 0);
	assert_int_equal(st.msgs_out, 2);
	assert_int_equal(st.bytes_out, 1200);
	assert_int_equal(shmring_position(p.cons), ends[1]);
	/* a cursor behind the position starts at it */
	uint64_t again = 0;
	assert_int_equal(shmring_peek_ahead(p.cons, &again, &at, &b, &len, 0), 600);
	assert_int_equal(at, starts[2]);
	assert_int_equal(*(const char *)b, 'c');
	/* a seventh wraps: read ahead across the pad */
	memset(m, 'g', sizeof(m));
	assert_int_equal(shmring_send(p.prod, m, sizeof(m), 0), 0);
	assert_int_equal(shmring_peek_ahead(p.cons, &cur, &at, &b, &len, 0), 600);
	assert_int_equal(*(const char *)b, 'g');
	assert_int_equal(at & 4095, 0); /* at the start of the data area */
	assert_true(at > ends[5]);      /* the pad lies between */
	/* the rest; then a blocking read-ahead is woken */
	assert_int_equal(shmring_release_to(p.cons, cur), 0);
	assert_int_equal(shmring_stats(p.owner, &st), 0);
	assert_int_equal(st.msgs_out, 7);
	pid_t pid = tu_fork(send_later, p.prod);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(shmring_peek_ahead(p.cons, &cur, &at, &b, &len, 5000), 4);
	assert_true(tu_now_ms() - t0 < 4000);
	assert_memory_equal(b, "late", 4);
	assert_int_equal(tu_reap(pid), 0);
	/* end of stream after the window */
	assert_int_equal(shmring_close(p.prod), 0);
	assert_int_equal(shmring_peek_ahead(p.cons, &cur, &at, &b, &len, 0), 0);
	assert_int_equal(shmring_release_to(p.cons, cur), 0);
	assert_int_equal(shmring_peek(p.cons, &b, &len, 0), 0);
	tu_pair_close(&p);
}

static void release_to_refuses_what_was_not_read_ahead(void **s)
{
	(void)s;
	struct tu_pair p;
	pair_open(&p, 4096);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmring_send(p.prod, "abcd", 4, 0), 0);
	uint64_t cur = 0, one, two;
	const void *b;
	size_t len;
	assert_int_equal(shmring_peek_ahead(p.cons, &cur, NULL, &b, &len, 0), 4);
	one = cur;
	assert_int_equal(shmring_peek_ahead(p.cons, &cur, NULL, &b, &len, 0), 4);
	two = cur;
	/* the window is two messages: the third was never handed out */
	assert_int_equal(shmring_release_to(p.cons, two + 16), -EINVAL);
	assert_int_equal(shmring_release_to(p.cons, one), 0);
	assert_int_equal(shmring_release_to(p.cons, two), 0);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(p.owner, &st), 0);
	assert_int_equal(st.msgs_out, 2);
	tu_pair_close(&p);
}

static int read_ahead_and_crash(void *arg)
{
	struct shmring *c;
	if (shmring_attach(arg, SHMRING_ROLE_CONSUMER, &c) < 0)
		return 1;
	uint64_t cur = 0;
	const void *b;
	size_t len;
	for (int i = 0; i < 3; i++)
		if (shmring_peek_ahead(c, &cur, NULL, &b, &len, 0) != 5)
			return 2;
	/* the first is released; two are held in the window */
	uint64_t one = 0;
	shmring_peek_ahead(c, &one, NULL, &b, &len, 0);
	shmring_release_to(c, one);
	raise(SIGKILL);
	return 3;
}

static void window_of_a_crashed_consumer_is_delivered_again(void **s)
{
	(void)s;
	struct shmring *owner, *p, *c;
	char where[32], b[8];
	assert_int_equal(shmring_create(NULL, NULL, &owner), 0);
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_PRODUCER, &p), 0);
	assert_int_equal(shmring_send(p, "first", 5, 0), 0);
	assert_int_equal(shmring_send(p, "secnd", 5, 0), 0);
	assert_int_equal(shmring_send(p, "third", 5, 0), 0);
	assert_int_equal(tu_reap(tu_fork(read_ahead_and_crash, where)), 128 + SIGKILL);
	assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(owner, &st), 0);
	assert_int_equal(st.msgs_out, 1);
	assert_int_equal(st.redelivered, 2); /* the window, counted */
	assert_int_equal(shmring_recv(c, b, sizeof(b), 0), 5);
	assert_memory_equal(b, "secnd", 5);
	assert_int_equal(shmring_recv(c, b, sizeof(b), 0), 5);
	assert_memory_equal(b, "third", 5);
	shmring_detach(c);
	shmring_detach(p);
	shmring_detach(owner);
}

/* ---- messages in pieces ---- */

/* The bytes of message seq of length len: a test can tell any two apart. */
static void piece_fill(uint8_t *b, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 131u + (i >> 8) + seq * 29u);
	if (len >= 4)
		memcpy(b, &seq, 4);
}

/* Send and receive one message in this one thread: both calls with timeout
 * 0, one after the other, each carrying on after -EAGAIN as documented.
 * Returns what recv returned last. */
static ssize_t pump(struct tu_pair *p, const uint8_t *out, size_t len, uint8_t *in, size_t cap)
{
	int sent = 0;
	ssize_t got = -EAGAIN;
	for (int i = 0; i < 1000000 && (!sent || got == -EAGAIN); i++) {
		if (!sent) {
			int rc = shmring_send(p->prod, out, len, 0);
			if (rc == 0)
				sent = 1;
			else if (rc != -EAGAIN)
				return rc;
		}
		if (got == -EAGAIN)
			got = shmring_recv(p->cons, in, cap, 0);
	}
	return sent ? got : -ETIMEDOUT;
}

static void pieced_messages_around_every_boundary_arrive_whole(void **s)
{
	(void)s;
	static const size_t caps[] = { 4096, 65536 };
	for (size_t k = 0; k < 2; k++) {
		size_t cap = caps[k];
		/* a quarter (a piece's size), the largest record, the ring */
		const size_t sizes[] = { cap / 4 - 8, cap / 4, cap / 4 + 8, cap / 2 - 8,
					 cap / 2 - 7, cap, cap + 1, 10 * cap };
		uint8_t *out = malloc(11 * cap), *in = malloc(11 * cap);
		struct tu_pair p;
		pair_open(&p, cap);
		uint64_t bytes = 0;
		/* twice round, so the pieces start at every kind of position */
		for (uint32_t seq = 0; seq < 16; seq++) {
			size_t len = sizes[seq % 8] + (seq >= 8 ? 3 : 0);
			piece_fill(out, len, seq);
			memset(in, 0, len);
			assert_int_equal(pump(&p, out, len, in, 11 * cap), (ssize_t)len);
			assert_memory_equal(in, out, len);
			bytes += len;
		}
		struct shmring_stats st;
		assert_int_equal(shmring_stats(p.owner, &st), 0);
		assert_int_equal(st.msgs_in, 16);
		assert_int_equal(st.msgs_out, 16);
		assert_int_equal(st.bytes_in, bytes);
		assert_int_equal(st.bytes_out, bytes);
		assert_int_equal(st.redelivered, 0);
		assert_int_equal(st.fill, 0);
		tu_pair_close(&p);
		free(out);
		free(in);
	}
}

static void pieced_send_limits_and_zero_copy_limit(void **s)
{
	(void)s;
	struct tu_pair p;
	void *w;
	uint8_t b[8] = { 0 };
	pair_open(&p, 4096);
	/* reserve stays within a record; send carries up to SHMRING_MSG_MAX */
	assert_int_equal(shmring_reserve(p.prod, shmring_max_message(p.prod) + 1, &w, 0), -EMSGSIZE);
	assert_int_equal(shmring_send(p.prod, b, (size_t)SHMRING_MSG_MAX + 1, 0), -EMSGSIZE);
	assert_non_null(strstr(shmring_errmsg(), "split it"));
	/* a reservation open: a send in pieces is refused as reserve is */
	assert_int_equal(shmring_reserve(p.prod, 8, &w, 0), 0);
	assert_int_equal(shmring_send(p.prod, b, 4096, 0), -EINVAL);
	assert_int_equal(shmring_commit(p.prod, 8), 0);
	assert_int_equal(shmring_send(p.cons, b, 4096, 0), -EBADF);
	tu_pair_close(&p);
}

static void pieced_recv_into_small_buffer_keeps_the_message(void **s)
{
	(void)s;
	struct tu_pair p;
	size_t len = 5000;
	uint8_t *out = malloc(len), *in = malloc(len);
	piece_fill(out, len, 7);
	pair_open(&p, 4096);
	/* as much as fits now */
	assert_int_equal(shmring_send(p.prod, out, len, 0), -EAGAIN);
	assert_int_equal(shmring_recv(p.cons, in, len - 1, 0), -EMSGSIZE);
	assert_non_null(strstr(shmring_errmsg(), "message of 5000 bytes"));
	assert_int_equal(shmring_recv(p.cons, in, len - 1, 0), -EMSGSIZE); /* still there */
	assert_int_equal(pump(&p, out, len, in, len), (ssize_t)len);
	assert_memory_equal(in, out, len);
	struct shmring_stats st;
	assert_int_equal(shmring_stats(p.owner, &st), 0);
	assert_int_equal(st.msgs_out, 1);
	tu_pair_close(&p);
	free(out);
	free(in);
}

static void peek_refuses_a_piece_and_peek_piece_walks_it(void **s)
{
	(void)s;
	struct tu_pair p;
	size_t len = 3 * 4096 + 100;
	uint8_t *out = malloc(len), *in = calloc(1, len);
	piece_fill(out, len, 3);
	pair_open(&p, 4096);
	/* batched releases: a piece's release is published all the same */
	assert_int_equal(shmring_set_batch(p.cons, 8), 0);
	assert_int_equal(shmring_send(p.prod, out, len, 0), -EAGAIN);
	const void *r;
	size_t n;
	assert_int_equal(shmring_peek(p.cons, &r, &n, 0), -EMSGSIZE);
	assert_non_null(strstr(shmring_errmsg(), "in pieces: read it with shmring_recv or "
					       "shmring_peek_piece"));
	uint64_t cursor = 0;
	assert_int_equal(shmring_peek_ahead(p.cons, &cursor, NULL, &r, &n, 0), -EMSGSIZE);
	struct shmring_piece info;
	uint64_t want = 0;
	int pieces = 0, sent = 0;
	struct shmring_stats st;
	for (int i = 0; i < 100000 && want < len; i++) {
		if (!sent && shmring_send(p.prod, out, len, 0) == 0)
			sent = 1;
		int rc = shmring_peek_piece(p.cons, &r, &n, &info, 0);
		if (rc == -EAGAIN)
			continue;
		assert_true(rc > 0);
		assert_int_equal(n, (size_t)rc);
		assert_int_equal(info.total, len);
		assert_int_equal(info.offset, want);
		/* peeking again before release hands out the same piece */
		const void *r2;
		struct shmring_piece i2;
		assert_int_equal(shmring_peek_piece(p.cons, &r2, &n, &i2, 0), rc);
		assert_ptr_equal(r2, r);
		assert_int_equal(i2.offset, want);
		memcpy(in + info.offset, r, n);
		want += n;
		pieces++;
		assert_int_equal(shmring_release(p.cons), 0);
		assert_int_equal(shmring_stats(p.owner, &st), 0);
		assert_int_equal(st.msgs_out, want == len ? 1 : 0); /* one message, at its end */
	}
	assert_int_equal(want, len);
	assert_true(pieces >= 13); /* pieces of a quarter of the ring at most */
	assert_memory_equal(in, out, len);
	assert_int_equal(shmring_send(p.prod, out, len, 0), 0); /* the rendezvous is met */
	assert_int_equal(shmring_stats(p.owner, &st), 0);
	assert_int_equal(st.bytes_out, len);
	assert_int_equal(st.msgs_in, 1);
	/* a plain message is one piece */
	assert_int_equal(shmring_send(p.prod, "plain", 5, 0), 0);
	assert_int_equal(shmring_peek_piece(p.cons, &r, &n, &info, 0), 5);
	assert_int_equal(info.offset, 0);
	assert_int_equal(info.total, 5);
	assert_memory_equal(r, "plain", 5);
	assert_int_equal(shmring_release(p.cons), 0);
	assert_int_equal(shmring_peek_piece(p.cons, &r, &n, &info, 0), -EAGAIN);
	tu_pair_close(&p);
	free(out);
	free(in);
}

static void end_of_stream_follows_a_pieced_message(void **s)
{
	(void)s;
	struct tu_pair p;
	size_t len = 9000;
	uint8_t *out = malloc(len), *in = malloc(len);
	piece_fill(out, len, 1);
	pair_open(&p, 4096);
	assert_int_equal(pump(&p, out, len, in, len), (ssize_t)len);
	assert_memory_equal(in, out, len);
	assert_int_equal(shmring_send(p.prod, "tail", 4, 0), 0);
	assert_int_equal(shmring_close(p.prod), 0);
	assert_int_equal(shmring_recv(p.cons, in, len, 0), 4);
	assert_memory_equal(in, "tail", 4);
	assert_int_equal(shmring_recv(p.cons, in, len, 0), 0);
	assert_int_equal(shmring_send(p.prod, out, len, 0), -EPIPE);
	tu_pair_close(&p);
	free(out);
	free(in);
}

static void message_given_up_half_sent_is_dropped_by_the_consumer(void **s)
{
	(void)s;
	struct tu_pair p;
	size_t len = 5000;
	uint8_t *a = malloc(len), *b = malloc(len), *in = malloc(len);
	piece_fill(a, len, 1);
	piece_fill(b, len, 2);
	pair_open(&p, 4096);
	assert_int_equal(shmring_send(p.prod, a, len, 0), -EAGAIN);
	assert_int_equal(shmring_recv(p.cons, in, len, 0), -EAGAIN); /* half of a */
	/* another message: a is given up, and the consumer drops its half */
	assert_int_equal(pump(&p, b, len, in, len), (ssize_t)len);
	assert_memory_equal(in, b, len);
	assert_int_equal(shmring_recv(p.cons, in, len, 0), -EAGAIN);
	tu_pair_close(&p);
	free(a);
	free(b);
	free(in);
}

/* One run: a producer, a consumer killed in message 2, its successor. */
#define PIECE_CAP  16384u
#define PIECE_MAX  (PIECE_CAP * 7 / 2)
#define PIECE_MSGS 6u
struct piece_run {
	const char *where;
	size_t len;  /* of every message */
	int hold;    /* the piece of message 2 the consumer dies holding */
	int fd;      /* where it reports the messages it got */
};

/* PIECE_MSGS messages through "fd:N". A send cut short by a dead consumer
 * is called again with the same message until a successor takes over, as
 * ring.h says. */
static int piece_producer(void *arg)
{
	struct piece_run *v = arg;
	struct shmring *r;
	alarm(60);
	if (shmring_attach(v->where, SHMRING_ROLE_PRODUCER, &r) < 0)
		return 1;
	uint8_t *b = malloc(v->len);
	for (uint32_t seq = 0; seq < PIECE_MSGS; seq++) {
		piece_fill(b, v->len, seq);
		int rc;
		while ((rc = shmring_send(r, b, v->len, 10000)) == -EOWNERDEAD)
			tu_sleep_ms(5);
		if (rc < 0)
			return 2;
	}
	shmring_close(r);
	shmring_detach(r);
	return 0;
}

/* A consumer that reads messages 0 and 1 whole, reports them through a
 * pipe, then reads message 2 piece by piece with peek_piece, releasing
 * each, and is killed holding piece v->hold. */
static int piece_victim(void *arg)
{
	struct piece_run *v = arg;
	struct shmring *r;
	alarm(60);
	if (shmring_attach(v->where, SHMRING_ROLE_CONSUMER, &r) < 0)
		return 1;
	uint8_t *in = malloc(v->len), *want = malloc(v->len);
	for (uint32_t seq = 0; seq < 2; seq++) {
		piece_fill(want, v->len, seq);
		if (shmring_recv(r, in, v->len, 10000) != (ssize_t)v->len ||
		    memcmp(in, want, v->len))
			return 2;
		if (write(v->fd, &seq, sizeof(seq)) != sizeof(seq))
			return 3;
	}
	const void *b;
	size_t n;
	struct shmring_piece info;
	for (int i = 0;; i++) {
		if (shmring_peek_piece(r, &b, &n, &info, 10000) <= 0)
			return 4;
		if (i == v->hold)
			kill(getpid(), SIGKILL);
		shmring_release(r);
	}
}

static void consumer_killed_in_the_middle_of_a_message_gets_it_whole_again(void **s)
{
	(void)s;
	/* Killed holding the first piece: the successor reads the message
	 * from the ring, and it must not come twice (10000 bytes: all its
	 * pieces are written before the kill). Holding the third: the two
	 * before are gone, and the producer sends the message again. */
	static const struct { size_t len; int hold; } runs[] = {
		{ PIECE_MAX, 0 }, { 10000, 0 }, { PIECE_MAX, 2 }, { 10000, 2 } };
	for (size_t k = 0; k < 4; k++) {
		struct shmring_opts o;
		struct shmring *owner, *c;
		char where[32];
		int fds[2];
		shmring_opts_init(&o);
		o.capacity = PIECE_CAP;
		assert_int_equal(shmring_create(NULL, &o, &owner), 0);
		snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
		assert_int_equal(pipe(fds), 0);
		struct piece_run v = { where, runs[k].len, runs[k].hold, fds[1] };
		pid_t victim = tu_fork(piece_victim, &v);
		pid_t prod = tu_fork(piece_producer, &v);
		close(fds[1]);
		assert_int_equal(tu_reap(victim), 128 + SIGKILL);
		uint32_t got[2];
		assert_int_equal(read(fds[0], got, sizeof(got)), sizeof(got));
		close(fds[0]);
		assert_int_equal(got[0], 0);
		assert_int_equal(got[1], 1);
		/* the successor: every other message, whole, once, in order */
		assert_int_equal(shmring_attach(where, SHMRING_ROLE_CONSUMER, &c), 0);
		uint8_t *in = malloc(PIECE_MAX), *want = malloc(PIECE_MAX);
		for (uint32_t seq = 2; seq < PIECE_MSGS; seq++) {
			piece_fill(want, v.len, seq);
			assert_int_equal(shmring_recv(c, in, PIECE_MAX, 10000), (ssize_t)v.len);
			assert_memory_equal(in, want, v.len);
		}
		assert_int_equal(shmring_recv(c, in, PIECE_MAX, 10000), 0); /* end of stream */
		assert_int_equal(tu_reap(prod), 0);
		struct shmring_stats st;
		assert_int_equal(shmring_stats(owner, &st), 0);
		assert_int_equal(st.redelivered, 1);
		assert_int_equal(st.msgs_in, PIECE_MSGS);
		assert_int_equal(st.msgs_out, PIECE_MSGS);
		free(in);
		free(want);
		shmring_detach(c);
		shmring_detach(owner);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(opts_init_sets_documented_defaults),
		cmocka_unit_test(create_named_segment_is_owner_only_and_exclusive),
		cmocka_unit_test(create_rejects_bad_names),
		cmocka_unit_test(create_rounds_capacity_and_rejects_out_of_range),
		cmocka_unit_test(anonymous_segment_is_sealed_against_shrinking),
		cmocka_unit_test(anonymous_segment_is_owner_only),
		cmocka_unit_test(create_fails_when_the_anonymous_segment_cannot_be_sealed),
		cmocka_unit_test(attach_says_why_when_the_segment_cannot_be_inspected),
		cmocka_unit_test(create_with_role_returns_usable_end),
		cmocka_unit_test(attach_missing_ring_says_enoent),
		cmocka_unit_test(attach_rejects_bad_role_and_bad_fd),
		cmocka_unit_test(attach_takes_each_role_once),
		cmocka_unit_test(attach_takes_over_role_of_dead_process),
		cmocka_unit_test(producer_takeover_resumes_after_last_visible_record),
		cmocka_unit_test(attach_rejects_corrupt_or_foreign_header),
		cmocka_unit_test(peek_rejects_corrupt_records),
		cmocka_unit_test(send_recv_roundtrip_preserves_every_byte),
		cmocka_unit_test(zero_copy_commit_may_shrink_the_reservation),
		cmocka_unit_test(abandon_publishes_nothing_and_frees_the_room),
		cmocka_unit_test(ring_rejects_message_larger_than_capacity),
		cmocka_unit_test(ring_rejects_zero_length_message),
		cmocka_unit_test(calls_out_of_order_are_einval),
		cmocka_unit_test(wrong_role_is_ebadf),
		cmocka_unit_test(empty_and_full_try_is_eagain_and_timeout_is_bounded),
		cmocka_unit_test(wraparound_keeps_messages_contiguous_and_intact),
		cmocka_unit_test(recv_into_small_buffer_keeps_the_message),
		cmocka_unit_test(close_gives_end_of_stream_after_drain),
		cmocka_unit_test(consumer_close_makes_full_producer_fail_with_epipe),
		cmocka_unit_test(a_producer_waiting_for_room_takes_what_a_stalled_consumer_frees),
		cmocka_unit_test(batching_publishes_on_batch_or_flush),
		cmocka_unit_test(quiet_producer_leaves_nothing_invisible),
		cmocka_unit_test(takeover_keeps_a_taken_hold),
		cmocka_unit_test(takeover_drops_a_hold_never_taken),
		cmocka_unit_test(ping_pong_never_holds),
		cmocka_unit_test(quiet_gaps_wake_a_consumer_that_took_the_run),
		cmocka_unit_test(quiet_gaps_after_a_stream_are_not_held),
		cmocka_unit_test(a_producer_slower_than_a_stream_does_not_hold),
		cmocka_unit_test(a_streaming_producer_holds_runs),
		cmocka_unit_test(pad_in_a_taken_hold_keeps_head_ahead_of_tail),
		cmocka_unit_test(mapping_takes_a_hold_ahead_of_a_lagging_consumer),
		cmocka_unit_test(observer_reads_counters_of_a_named_ring),
		cmocka_unit_test(dead_producer_is_reported_after_drain),
		cmocka_unit_test(dead_consumer_is_reported_to_blocked_producer),
		cmocka_unit_test(sleeping_consumer_is_woken_by_another_process),
		cmocka_unit_test(message_peeked_by_crashed_consumer_is_delivered_again),
		cmocka_unit_test(read_ahead_keeps_a_window_until_release_to),
		cmocka_unit_test(window_of_a_crashed_consumer_is_delivered_again),
		cmocka_unit_test(release_to_refuses_what_was_not_read_ahead),
		cmocka_unit_test(pieced_messages_around_every_boundary_arrive_whole),
		cmocka_unit_test(pieced_send_limits_and_zero_copy_limit),
		cmocka_unit_test(pieced_recv_into_small_buffer_keeps_the_message),
		cmocka_unit_test(peek_refuses_a_piece_and_peek_piece_walks_it),
		cmocka_unit_test(end_of_stream_follows_a_pieced_message),
		cmocka_unit_test(message_given_up_half_sent_is_dropped_by_the_consumer),
		cmocka_unit_test(consumer_killed_in_the_middle_of_a_message_gets_it_whole_again),
	};
	return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
