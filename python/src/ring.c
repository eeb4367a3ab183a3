/* SPDX-License-Identifier: MIT */
/*
 * shmring.Ring: one end of a ring. A kernel's port (Kernel.port) or a ring
 * made here (Ring.create, Ring.attach). Copying send/recv, zero-copy
 * peek/reserve, iteration over messages; every wait through shm_wait
 * (GIL released, in slices, signals looked at between them).
 */
#include "pyshmring.h"

#include <string.h>
#include <unistd.h>

/* ---- life ---- */

RingObject *ring_new(struct shmring *ring, PyObject *kernel, int role, const char *label)
{
	RingObject *r = PyObject_New(RingObject, &Ring_Type);
	if (!r)
		return NULL;
	r->ring = ring;
	r->kernel = kernel; /* borrowed: a flag; the kernel forgets its ports before it goes */
	r->held = r->reservation = NULL;
	r->unlink_name = NULL;
	r->role = role;
	r->busy = r->eos = 0;
	snprintf(r->label, sizeof(r->label), "%s", label);
	return r;
}

int ring_check(RingObject *r)
{
	if (r->ring)
		return 0;
	shm_raisef(ShmClosed, EBADF, "%s is closed: this handle can no longer be used", r->label);
	return -1;
}

/* Open, and no other thread waits in a call on it (waits release the
 * GIL, so another thread could otherwise enter the handle meanwhile). */
static int ring_usable(RingObject *r)
{
	if (ring_check(r) < 0)
		return -1;
	if (r->busy) {
		shm_raisef(ShmBusy, EBUSY, "%s: another thread is waiting in a call on it; a ring end "
				      "is used by one thread at a time", r->label);
		return -1;
	}
	return 0;
}

/* Let the open message and reservation go (close, detach, the kernel
 * leaving). -1 with BufferError if a view of the message is still alive. */
int ring_drop_open(RingObject *r)
{
	MsgObject *h = (MsgObject *)r->held, *v = (MsgObject *)r->reservation;
	if ((h && msg_invalidate(h) < 0) || (v && msg_invalidate(v) < 0))
		return -1;
	if (h)
		h->ring = NULL, h->done = 1;
	if (v)
		v->ring = NULL, v->done = 1;
	Py_CLEAR(r->held);
	Py_CLEAR(r->reservation);
	return 0;
}

/* Let the open message and reservation go whatever holds their views:
 * 1 if one was still viewed (its memory must then stay mapped), else 0. */
static int ring_orphan_open(RingObject *r)
{
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb); /* may run while an exception propagates */
	int alive = ring_drop_open(r) < 0;
	if (alive) {
		MsgObject *o[2] = { (MsgObject *)r->held, (MsgObject *)r->reservation };
		for (int i = 0; i < 2; i++)
			if (o[i])
				o[i]->ring = NULL, o[i]->done = 1;
		Py_CLEAR(r->held);
		Py_CLEAR(r->reservation);
	}
	PyErr_Restore(type, value, tb);
	return alive;
}

void ring_forget(RingObject *r)
{
	ring_orphan_open(r); /* the kernel called ring_drop_open first */
	r->ring = NULL;
}

static void ring_dealloc(RingObject *r)
{
	/* Dropped without close(): detach, as a process that exits does (the
	 * stream stays open for another). If a view of a message is still
	 * alive, keep the mapping rather than unmap it under the view. */
	int alive = ring_orphan_open(r);
	if (r->ring && !r->kernel && !alive)
		shmring_detach(r->ring);
	if (r->unlink_name)
		shmring_unlink(r->unlink_name);
	PyMem_Free(r->unlink_name);
	PyObject_Free(r);
}

/* ---- waiting operations ---- */

struct peek_op {
	struct shmring *ring;
	const void *buf;
	size_t len;
	int kernel_port;
};

static int peek_op(void *arg, int ms)
{
	struct peek_op *p = arg;
	int rc = shmring_peek(p->ring, &p->buf, &p->len, ms);
	if (rc == -EOWNERDEAD && p->kernel_port) {
		/* The producer died, ring drained: its successor (the supervisor
		 * restarts it) takes over, or a stop ends the wait. */
		if (ms)
			usleep(1000);
		return -EAGAIN;
	}
	return rc;
}

struct send_op {
	struct shmring *ring;
	const void *buf;
	size_t len;
};

static int send_op(void *arg, int ms)
{
	struct send_op *s = arg;
	return shmring_send(s->ring, s->buf, s->len, ms);
}

struct recv_op {
	struct shmring *ring;
	void *buf;
	size_t cap;
};

static int recv_op(void *arg, int ms)
{
	struct recv_op *s = arg;
	ssize_t n = shmring_recv(s->ring, s->buf, s->cap, ms);
	return n < 0 ? (int)n : n > 0; /* the length is known: cap */
}

struct reserve_op {
	struct shmring *ring;
	size_t len;
	void *buf;
};

static int reserve_op(void *arg, int ms)
{
	struct reserve_op *s = arg;
	return shmring_reserve(s->ring, s->len, &s->buf, ms);
}

/* shm_wait on this ring end, marking it busy while it runs. */
static int ring_wait(RingObject *r, shm_op op, void *arg, double seconds)
{
	r->busy = 1;
	int rc = shm_wait(op, arg, seconds);
	r->busy = 0;
	return rc;
}

/* A wait's failure as an exception (-EINTR: a signal handler raised). */
static PyObject *wait_error(RingObject *r, int rc, const char *op)
{
	if (rc == -EINTR && PyErr_Occurred())
		return NULL;
	return shm_raise_ring(r, rc, op);
}

/* ---- consumer ---- */

static int no_open_message(RingObject *r, const char *op)
{
	if (!r->held)
		return 0;
	shm_raisef(ShmInvalid, EINVAL, "%s on %s: a peeked message is still held: release it first "
				 "(leave its with block, or call .release())", op, r->label);
	return -1;
}

int ring_release_held(RingObject *r)
{
	MsgObject *m = (MsgObject *)r->held;
	if (msg_invalidate(m) < 0)
		return -1;
	m->ring = NULL;
	m->done = 1;
	Py_CLEAR(r->held);
	int rc = r->ring ? shmring_release(r->ring) : 0;
	if (rc < 0) {
		shm_raise_ring(r, rc, "release");
		return -1;
	}
	return 0;
}

/* The next message as a Peek held by r: >0 with *out set, 0 at end of
 * stream, or the wait's negative result (no exception set). */
static int peek_next(RingObject *r, double seconds, MsgObject **out)
{
	struct peek_op p = { r->ring, NULL, 0, r->kernel != NULL };
	int rc = ring_wait(r, peek_op, &p, seconds);
	if (rc <= 0)
		return rc;
	MsgObject *m = msg_new((PyObject *)r, (void *)p.buf, p.len, 0);
	if (!m)
		return -ENOMEM;
	r->held = (PyObject *)m;
	*out = m;
	return rc;
}

/* A message in pieces (longer than the ring's largest): copied out. */
static PyObject *recv_pieces(RingObject *r, double seconds)
{
	const void *b;
	size_t len;
	struct shmring_piece info;
	int rc = shmring_peek_piece(r->ring, &b, &len, &info, 0);
	if (rc < 0)
		return shm_raise_ring(r, rc, "recv");
	if (info.total > (uint64_t)PY_SSIZE_T_MAX)
		return PyErr_NoMemory();
	PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)info.total);
	if (!bytes)
		return NULL;
	struct recv_op op = { r->ring, PyBytes_AS_STRING(bytes), (size_t)info.total };
	rc = ring_wait(r, recv_op, &op, seconds);
	if (rc <= 0) {
		Py_DECREF(bytes);
		return rc == 0 ? shm_raise_ring(r, -EPROTO, "recv") : wait_error(r, rc, "recv");
	}
	return bytes;
}

static const char *const timeout_names[] = { "timeout" };

static PyObject *ring_recv(RingObject *r, PyObject *const *args, Py_ssize_t nargs,
			   PyObject *kwnames)
{
	PyObject *t;
	double s;
	if (shm_args(args, nargs, kwnames, "recv()", timeout_names, 1, 0, &t) < 0 ||
	    shm_timeout_arg(t, &s) < 0 || ring_usable(r) < 0)
		return NULL;
	if (no_open_message(r, "recv") < 0)
		return NULL;
	struct peek_op p = { r->ring, NULL, 0, r->kernel != NULL };
	int rc = ring_wait(r, peek_op, &p, s);
	if (rc == -EMSGSIZE)
		return recv_pieces(r, s);
	if (rc == 0)
		Py_RETURN_NONE; /* end of stream */
	if (rc < 0)
		return wait_error(r, rc, "recv");
	PyObject *bytes = PyBytes_FromStringAndSize(p.buf, (Py_ssize_t)p.len);
	if (!bytes)
		return NULL; /* not released: peeked again next time */
	rc = shmring_release(r->ring);
	if (rc < 0) {
		Py_DECREF(bytes);
		return shm_raise_ring(r, rc, "release");
	}
	return bytes;
}

static PyObject *ring_peek(RingObject *r, PyObject *const *args, Py_ssize_t nargs,
			   PyObject *kwnames)
{
	PyObject *t;
	double s;
	if (shm_args(args, nargs, kwnames, "peek()", timeout_names, 1, 0, &t) < 0 ||
	    shm_timeout_arg(t, &s) < 0 || ring_usable(r) < 0)
		return NULL;
	if (no_open_message(r, "peek") < 0)
		return NULL;
	MsgObject *m = NULL;
	int rc = peek_next(r, s, &m);
	if (rc > 0)
		return Py_NewRef((PyObject *)m);
	if (rc == 0)
		return PyErr_Format(ShmEndOfStream, "%s: end of stream (the producer closed and "
						    "everything was read)", r->label);
	if (rc == -EMSGSIZE)
		return shm_raise(rc, r->label, "the next message is longer than the ring's largest "
					       "and came in pieces: read it with recv()");
	return wait_error(r, rc, "peek");
}

/* Iteration: each message a read-only memoryview, valid until the next. */
static PyObject *ring_iter(RingObject *r)
{
	if (ring_check(r) < 0)
		return NULL;
	if (r->role != SHMRING_ROLE_CONSUMER)
		return shm_raisef(ShmInvalid, EINVAL, "%s is not a consumer: only an input can be iterated",
				    r->label);
	return Py_NewRef((PyObject *)r);
}

static PyObject *ring_next(RingObject *r)
{
	if (ring_usable(r) < 0)
		return NULL;
	if (r->held && ring_release_held(r) < 0)
		return NULL;
	if (r->eos)
		return NULL;
	MsgObject *m = NULL;
	int rc = peek_next(r, -1, &m);
	if (rc > 0)
		return msg_view(m);
	if (rc == 0 || rc == -ECANCELED) { /* end of stream, or a stop */
		r->eos = rc == 0;
		return NULL;
	}
	if (rc == -EMSGSIZE) {
		PyObject *b = recv_pieces(r, -1);
		if (!b)
			return NULL;
		PyObject *v = PyMemoryView_FromObject(b);
		Py_DECREF(b);
		return v;
	}
	return wait_error(r, rc, "peek");
}

static PyObject *ring_release(RingObject *r, PyObject *unused)
{
	(void)unused;
	if (ring_usable(r) < 0)
		return NULL;
	if (r->held && ring_release_held(r) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* ---- producer ---- */

static int no_reservation(RingObject *r, const char *op)
{
	if (!r->reservation)
		return 0;
	MsgObject *m = (MsgObject *)r->reservation;
	/* Held only by this ring and by the buffers it exported (each export
	 * holds a reference: its own view's, unless the user released it), its
	 * view by nothing but the message: nobody can commit it any more
	 * (reserve() without with, the object dropped). Abandon it, as a with
	 * block that raised does (a buffer still exported makes that a
	 * BufferError: msg_invalidate). */
	if (Py_REFCNT(m) == 1 + m->exports && (!m->view || Py_REFCNT(m->view) == 1)) {
		/* The warning may run Python code (a showwarning hook) that uses
		 * this ring: keep m, and abandon only if it is still the one. */
		Py_INCREF(m);
		int rc = PyErr_WarnFormat(PyExc_ResourceWarning, 1, "%s: a reservation was dropped "
					  "without commit or abandon: abandoned", r->label);
		if (rc == 0 && r->reservation == (PyObject *)m)
			rc = ring_abandon_reservation(r, m);
		Py_DECREF(m);
		if (rc < 0)
			return -1;
		if (!r->reservation)
			return 0;
		/* the hook left another reservation open: as below */
	}
	shm_raisef(ShmInvalid, EINVAL, "%s on %s: a reservation is open: commit or abandon it first "
				 "(leave its with block)", op, r->label);
	return -1;
}

static PyObject *ring_send(RingObject *r, PyObject *const *args, Py_ssize_t nargs,
			   PyObject *kwnames)
{
	static const char *const names[] = { "data", "timeout" };
	PyObject *a[2];
	Py_buffer b;
	double s;
	if (shm_args(args, nargs, kwnames, "send()", names, 2, 1, a) < 0)
		return NULL;
	/* As "y*" would: any C-contiguous bytes-like object, not str. */
	if (PyUnicode_Check(a[0])) {
		PyErr_Format(PyExc_TypeError, "send() argument 'data' must be a bytes-like object, "
					      "not str (encode it first)");
		return NULL;
	}
	if (PyObject_GetBuffer(a[0], &b, PyBUF_SIMPLE) < 0)
		return NULL;
	PyObject *res = NULL;
	if (shm_timeout_arg(a[1], &s) < 0 || ring_usable(r) < 0)
		goto out;
	if (no_reservation(r, "send") < 0)
		goto out;
	if (b.len == 0) {
		PyErr_Format(PyExc_ValueError, "send on %s: an empty message; rings carry messages "
					       "of 1 byte or more", r->label);
		goto out;
	}
	struct send_op op = { r->ring, b.buf, (size_t)b.len };
	int rc = ring_wait(r, send_op, &op, s);
	if (rc < 0)
		wait_error(r, rc, "send");
	else
		res = Py_NewRef(Py_None);
out:
	PyBuffer_Release(&b);
	return res;
}

static PyObject *ring_reserve(RingObject *r, PyObject *const *args, Py_ssize_t nargs,
			      PyObject *kwnames)
{
	static const char *const names[] = { "size", "timeout" };
	PyObject *a[2];
	Py_ssize_t n;
	double s;
	if (shm_args(args, nargs, kwnames, "reserve()", names, 2, 1, a) < 0)
		return NULL;
	if ((n = PyNumber_AsSsize_t(a[0], PyExc_OverflowError)) == -1 && PyErr_Occurred())
		return NULL;
	if (shm_timeout_arg(a[1], &s) < 0 || ring_usable(r) < 0)
		return NULL;
	if (no_reservation(r, "reserve") < 0)
		return NULL;
	if (n <= 0)
		return PyErr_Format(PyExc_ValueError, "reserve(%zd) on %s: give 1 byte or more", n,
				    r->label);
	struct reserve_op op = { r->ring, (size_t)n, NULL };
	int rc = ring_wait(r, reserve_op, &op, s);
	if (rc == -EMSGSIZE)
		return shm_raisef(ShmTooLarge, EMSGSIZE,
				    "reserve(%zd) on %s: larger than the %zu bytes a message in "
				    "this ring may have (half its capacity): give the ring more "
				    "capacity, or send() it (in pieces)",
				    n, r->label, shmring_max_message(r->ring));
	if (rc < 0)
		return wait_error(r, rc, "reserve");
	MsgObject *m = msg_new((PyObject *)r, op.buf, (size_t)n, 1);
	if (!m) {
		shmring_abandon(r->ring); /* nothing written: give the room back */
		return NULL;
	}
	r->reservation = Py_NewRef((PyObject *)m);
	return (PyObject *)m;
}

int ring_commit_reservation(RingObject *r, MsgObject *m, size_t len)
{
	if (ring_check(r) < 0 || msg_invalidate(m) < 0)
		return -1;
	m->ring = NULL;
	m->done = 1;
	Py_CLEAR(r->reservation);
	int rc = shmring_commit(r->ring, len);
	if (rc < 0) {
		shm_raise_ring(r, rc, "commit");
		return -1;
	}
	return 0;
}

int ring_abandon_reservation(RingObject *r, MsgObject *m)
{
	if (ring_check(r) < 0 || msg_invalidate(m) < 0)
		return -1;
	/* Publishes nothing; the next reserve reuses the room. */
	int rc = shmring_abandon(r->ring);
	m->ring = NULL;
	m->done = 1;
	Py_CLEAR(r->reservation);
	if (rc < 0) {
		shm_raise_ring(r, rc, "abandon");
		return -1;
	}
	return 0;
}

/* ---- both ---- */

static PyObject *ring_flush(RingObject *r, PyObject *unused)
{
	(void)unused;
	if (ring_check(r) < 0)
		return NULL;
	int rc = shmring_flush(r->ring);
	if (rc < 0)
		return shm_raise_ring(r, rc, "flush");
	Py_RETURN_NONE;
}

/* close (end the stream) or detach (leave it to another process). */
static PyObject *ring_finish(RingObject *r, int close_stream)
{
	if (!r->ring)
		Py_RETURN_NONE; /* idempotent */
	if (r->busy)
		return shm_raisef(ShmBusy, EBUSY, "%s: another thread is waiting in it", r->label);
	if (ring_drop_open(r) < 0)
		return NULL;
	int rc = 0;
	if (close_stream && r->role != SHMRING_ROLE_NONE && r->role != SHMRING_ROLE_OBSERVER)
		rc = shmring_close(r->ring);
	if (!r->kernel)
		shmring_detach(r->ring); /* a kernel's port stays the kernel's */
	r->ring = NULL;
	if (r->unlink_name) {
		shmring_unlink(r->unlink_name);
		PyMem_Free(r->unlink_name);
		r->unlink_name = NULL;
	}
	if (rc < 0)
		return shm_raise_ring(r, rc, "close");
	Py_RETURN_NONE;
}

static PyObject *ring_close(RingObject *r, PyObject *unused)
{
	(void)unused;
	return ring_finish(r, 1);
}

static PyObject *ring_detach(RingObject *r, PyObject *unused)
{
	(void)unused;
	if (r->kernel)
		return shm_raisef(ShmInvalid, EINVAL, "%s belongs to its kernel: leave the kernel's with "
						"block instead", r->label);
	return ring_finish(r, 0);
}

static PyObject *ring_exit(RingObject *r, PyObject *args)
{
	(void)args;
	PyObject *res = ring_close(r, NULL);
	if (!res)
		return NULL;
	Py_DECREF(res);
	Py_RETURN_FALSE;
}

static PyObject *ring_enter_ctx(RingObject *r, PyObject *unused)
{
	(void)unused;
	if (ring_check(r) < 0)
		return NULL;
	return Py_NewRef((PyObject *)r);
}

static int put(PyObject *d, const char *k, PyObject *v)
{
	if (!v)
		return -1;
	int rc = PyDict_SetItemString(d, k, v);
	Py_DECREF(v);
	return rc;
}

static PyObject *ring_stats(RingObject *r, PyObject *unused)
{
	(void)unused;
	struct shmring_stats st;
	if (ring_check(r) < 0)
		return NULL;
	int rc = shmring_stats(r->ring, &st);
	if (rc < 0)
		return shm_raise_ring(r, rc, "stats");
	PyObject *d = PyDict_New();
#define U(f) put(d, #f, PyLong_FromUnsignedLongLong(st.f)) < 0
	if (!d || U(capacity) || U(max_message) || U(fill) || U(high_fill) || U(msgs_in) ||
	    U(bytes_in) || U(msgs_out) || U(bytes_out) || U(redelivered) || U(full_events) ||
	    U(empty_events) || U(producer_sleeps) || U(consumer_sleeps) || U(producer_wakes) ||
	    U(consumer_wakes) || U(suppressed) || U(skipped) || U(holds) || U(taken) ||
	    put(d, "producer_pid", PyLong_FromLong(st.producer_pid)) < 0 ||
	    put(d, "consumer_pid", PyLong_FromLong(st.consumer_pid)) < 0 ||
	    put(d, "producer_closed", PyBool_FromLong(st.producer_closed)) < 0 ||
	    put(d, "consumer_closed", PyBool_FromLong(st.consumer_closed)) < 0) {
		Py_XDECREF(d);
		return NULL;
	}
#undef U
	return d;
}

static const char *const wait_names[] = { "adaptive", "spin", "yield", "futex" };

static PyObject *ring_set_wait(RingObject *r, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "strategy", "spin_us", NULL };
	const char *name;
	unsigned int spin = 50;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|I:set_wait", kwlist, &name, &spin) ||
	    ring_check(r) < 0)
		return NULL;
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, wait_names[i]))
			continue;
		int rc = shmring_set_wait(r->ring, (enum shmring_wait)i, spin);
		if (rc < 0)
			return shm_raise_ring(r, rc, "set_wait");
		Py_RETURN_NONE;
	}
	return PyErr_Format(PyExc_ValueError, "wait strategy '%s' is unknown: use adaptive, spin, "
					      "yield or futex", name);
}

static PyObject *ring_set_batch(RingObject *r, PyObject *arg)
{
	unsigned long n = PyLong_AsUnsignedLong(arg);
	if (PyErr_Occurred() || ring_check(r) < 0)
		return NULL;
	int rc = n > UINT32_MAX ? -EINVAL : shmring_set_batch(r->ring, (uint32_t)n);
	if (rc < 0)
		return shm_raise_ring(r, rc, "set_batch");
	Py_RETURN_NONE;
}

/* ---- create and attach ---- */

static int role_arg(PyObject *o, int *role)
{
	if (PyLong_Check(o)) {
		*role = (int)PyLong_AsLong(o);
		if (*role >= SHMRING_ROLE_PRODUCER && *role <= SHMRING_ROLE_OBSERVER)
			return 0;
	} else if (PyUnicode_Check(o)) {
		const char *s = PyUnicode_AsUTF8(o);
		const char *names[] = { "producer", "consumer", "observer" };
		for (int i = 0; s && i < 3; i++)
			if (!strcmp(s, names[i]))
				return *role = i + 1, 0;
	}
	PyErr_Format(PyExc_ValueError, "role %R: use 'producer', 'consumer' or 'observer' "
				       "(shmring.PRODUCER, ...)", o);
	return -1;
}

static const char *role_word(int role)
{
	return role == SHMRING_ROLE_PRODUCER   ? "producer"
	       : role == SHMRING_ROLE_CONSUMER ? "consumer"
	       : role == SHMRING_ROLE_OBSERVER ? "observer"
					       : "creator";
}

static PyObject *ring_attach(PyObject *cls, PyObject *args, PyObject *kw)
{
	(void)cls;
	static char *kwlist[] = { "name", "role", NULL };
	const char *name;
	PyObject *ro;
	int role;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "sO:attach", kwlist, &name, &ro) ||
	    role_arg(ro, &role) < 0)
		return NULL;
	struct shmring *ring;
	int rc = shmring_attach(name, (enum shmring_role)role, &ring);
	if (rc < 0)
		return shm_raise_cold(rc, "Ring.attach");
	char label[80];
	snprintf(label, sizeof(label), "ring '%s' (%s)", name, role_word(role));
	RingObject *r = ring_new(ring, NULL, role, label);
	if (!r)
		shmring_detach(ring);
	return (PyObject *)r;
}

static PyObject *ring_create(PyObject *cls, PyObject *args, PyObject *kw)
{
	(void)cls;
	static char *kwlist[] = { "name", "capacity", "wait", "spin_us", "batch", NULL };
	const char *name = NULL, *wait = "adaptive";
	struct shmring_opts o;
	shmring_opts_init(&o);
	Py_ssize_t cap = (Py_ssize_t)o.capacity;
	unsigned int spin = o.spin_us, batch = o.batch;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|z$nsII:create", kwlist, &name, &cap, &wait,
					 &spin, &batch))
		return NULL;
	int w = -1;
	for (int i = 0; i < 4; i++)
		if (!strcmp(wait, wait_names[i]))
			w = i;
	if (w < 0 || cap <= 0)
		return PyErr_Format(PyExc_ValueError, w < 0 ? "wait '%s' is unknown: use adaptive, "
							      "spin, yield or futex"
							    : "capacity must be positive (%s)", wait);
	o.capacity = (size_t)cap, o.wait = (enum shmring_wait)w, o.spin_us = spin, o.batch = batch;
	struct shmring *ring;
	int rc = shmring_create(name, &o, &ring);
	if (rc < 0)
		return shm_raise_cold(rc, "Ring.create");
	char label[80];
	snprintf(label, sizeof(label), "ring '%s' (creator)", name ? name : "");
	RingObject *r = ring_new(ring, NULL, SHMRING_ROLE_NONE, label);
	if (r && name && !(r->unlink_name = PyMem_Malloc(strlen(name) + 1))) {
		PyErr_NoMemory();
		Py_CLEAR(r);
	}
	if (!r) {
		shmring_detach(ring);
		if (name)
			shmring_unlink(name);
		return NULL;
	}
	if (name)
		strcpy(r->unlink_name, name);
	return (PyObject *)r;
}

/* ---- attributes ---- */

static PyObject *get_capacity(RingObject *r, void *u)
{
	(void)u;
	return ring_check(r) < 0 ? NULL : PyLong_FromSize_t(shmring_capacity(r->ring));
}

static PyObject *get_max_message(RingObject *r, void *u)
{
	(void)u;
	return ring_check(r) < 0 ? NULL : PyLong_FromSize_t(shmring_max_message(r->ring));
}

static PyObject *get_fd(RingObject *r, void *u)
{
	(void)u;
	return ring_check(r) < 0 ? NULL : PyLong_FromLong(shmring_fd(r->ring));
}

static PyObject *get_name(RingObject *r, void *u)
{
	(void)u;
	return ring_check(r) < 0 ? NULL : PyUnicode_FromString(shmring_name(r->ring));
}

static PyObject *get_role(RingObject *r, void *u)
{
	(void)u;
	return PyUnicode_FromString(role_word(r->role));
}

static PyObject *get_position(RingObject *r, void *u)
{
	(void)u;
	return ring_check(r) < 0 ? NULL : PyLong_FromUnsignedLongLong(shmring_position(r->ring));
}

static PyObject *get_closed(RingObject *r, void *u)
{
	(void)u;
	return PyBool_FromLong(r->ring == NULL);
}

static PyObject *ring_repr(RingObject *r)
{
	return PyUnicode_FromFormat("<shmring.Ring %s%s>", r->label, r->ring ? "" : " closed");
}

static PyGetSetDef ring_getset[] = {
	{ "capacity", (getter)get_capacity, NULL, "Data bytes of the ring.", NULL },
	{ "max_message", (getter)get_max_message, NULL, "Largest message reserve() takes.", NULL },
	{ "fd", (getter)get_fd, NULL, "The segment's descriptor (Ring.attach('fd:N')).", NULL },
	{ "name", (getter)get_name, NULL, "The ring's name ('' when anonymous).", NULL },
	{ "role", (getter)get_role, NULL, "'producer', 'consumer', 'observer' or 'creator'.", NULL },
	{ "position", (getter)get_position, NULL, "Bytes this end committed/released.", NULL },
	{ "closed", (getter)get_closed, NULL, "True once closed or detached.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

#define KW (METH_VARARGS | METH_KEYWORDS)
#define FASTKW (METH_FASTCALL | METH_KEYWORDS) /* the data path: shm_args */
static PyMethodDef ring_methods[] = {
	{ "create", (PyCFunction)(void (*)(void))ring_create, KW | METH_CLASS,
	  "Ring.create(name=None, *, capacity=1 MiB, wait='adaptive', spin_us=50, batch=1)\n\n"
	  "Create a ring (named: /dev/shm/shmring.NAME, unlinked on close)." },
	{ "attach", (PyCFunction)(void (*)(void))ring_attach, KW | METH_CLASS,
	  "Ring.attach(name_or_fd, role)\n\nAttach as 'producer', 'consumer' or 'observer'." },
	{ "send", (PyCFunction)(void (*)(void))ring_send, FASTKW,
	  "send(data, timeout=None)\n\nCopy one message (any bytes-like object) in." },
	{ "recv", (PyCFunction)(void (*)(void))ring_recv, FASTKW,
	  "recv(timeout=None) -> bytes | None\n\nCopy the next message out; None at end of stream." },
	{ "peek", (PyCFunction)(void (*)(void))ring_peek, FASTKW,
	  "peek(timeout=None) -> Peek\n\n`with port.peek() as view:` zero-copy, read-only." },
	{ "reserve", (PyCFunction)(void (*)(void))ring_reserve, FASTKW,
	  "reserve(size, timeout=None) -> Reservation\n\n`with port.reserve(n) as buf:` zero-copy." },
	{ "release", (PyCFunction)ring_release, METH_NOARGS,
	  "release() -> None\n\nRelease the held message (the loop's current one) now." },
	{ "flush", (PyCFunction)ring_flush, METH_NOARGS, "Publish batched commits/releases now." },
	{ "close", (PyCFunction)ring_close, METH_NOARGS,
	  "End this side of the stream (a producer: the consumer reads end of stream)." },
	{ "detach", (PyCFunction)ring_detach, METH_NOARGS,
	  "Leave without closing: another process may take the role over." },
	{ "stats", (PyCFunction)ring_stats, METH_NOARGS, "The ring's shared counters, as a dict." },
	{ "set_wait", (PyCFunction)(void (*)(void))ring_set_wait, KW,
	  "set_wait(strategy, spin_us=50): 'adaptive', 'spin', 'yield' or 'futex'." },
	{ "set_batch", (PyCFunction)ring_set_batch, METH_O,
	  "set_batch(n): publish every n commits/releases." },
	{ "__enter__", (PyCFunction)ring_enter_ctx, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)ring_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject Ring_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmring.Ring",
	.tp_doc = "One end of a shmring ring: a kernel's port, or Ring.create/Ring.attach.",
	.tp_basicsize = sizeof(RingObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)ring_dealloc,
	.tp_repr = (reprfunc)ring_repr,
	.tp_iter = (getiterfunc)ring_iter,
	.tp_iternext = (iternextfunc)ring_next,
	.tp_methods = ring_methods,
	.tp_getset = ring_getset,
};
