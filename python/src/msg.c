/* SPDX-License-Identifier: MIT */
/*
 * A message in the ring, seen from Python: shmring.Peek (a peeked message,
 * read-only) and shmring.Reservation (room reserved for one, writable).
 * Both export the ring memory through the buffer protocol and count every
 * export, as CPython's mmap does. The user gets one memoryview of it;
 * when the message is released (or committed, or abandoned) that view is
 * released first, so using it raises ValueError, and if anything made
 * from it still points into the ring (a slice, a numpy array), the release
 * is refused with BufferError and the message stays held: ring memory is
 * never handed back while Python can still reach it.
 *
 * Ownership: the ring holds its open message (RingObject.held or
 * .reservation, strong); the message points back at the ring without a
 * reference (msg->ring), cleared when the ring lets it go, so there is no
 * cycle between them. msg->view and the view's own reference to the
 * message form a cycle that msg_invalidate breaks; every message is
 * invalidated before its ring drops it.
 */
#include "pyshmring.h"

static PyTypeObject *msg_type(int writable)
{
	return writable ? &Reservation_Type : &Peek_Type;
}

/* One spare object of each type: a message is made and dropped per
 * message, and the allocator's round trip is 10-20 ns of it. The GIL
 * guards both. */
static MsgObject *spare[2];

MsgObject *msg_new(PyObject *ring, void *buf, size_t len, int writable)
{
	MsgObject *m = spare[writable];
	if (m) {
		spare[writable] = NULL;
		(void)PyObject_Init((PyObject *)m, msg_type(writable));
	} else if (!(m = PyObject_New(MsgObject, msg_type(writable)))) {
		return NULL;
	}
	m->buf = buf;
	m->len = (Py_ssize_t)len;
	m->exports = 0;
	m->writable = writable;
	m->valid = 1;
	m->done = 0;
	m->ring = ring;
	m->view = NULL; /* made when asked for (msg_view): reserve(n).commit() needs none */
	m->viewed = 0;
	return m;
}

PyObject *msg_view(MsgObject *m)
{
	/* One view a message: once released (a release refused because a
	 * slice still points in, a message its ring let go), no other. */
	if (!m->valid || m->done || (m->viewed && !m->view)) {
		shm_raisef(ShmInvalid, EINVAL, "this message is no longer open");
		return NULL;
	}
	if (!m->view) {
		if (!(m->view = PyMemoryView_FromObject((PyObject *)m)))
			return NULL;
		m->viewed = 1;
	}
	return Py_NewRef(m->view);
}

int msg_invalidate(MsgObject *m)
{
	if (!m->valid)
		return 0;
	if (m->view) {
		/* memoryview.release, the method descriptor, looked up once and
		 * called with the view as its self: no attribute lookup and no
		 * bound method made on every message's path. */
		static PyObject *release;
		if (!release && !(release = PyObject_GetAttrString((PyObject *)&PyMemoryView_Type,
								   "release")))
			return -1;
		PyObject *r = PyObject_CallOneArg(release, m->view);
		if (!r) { /* the view itself is exported: np.frombuffer(view), ... */
			PyErr_Clear();
			goto alive;
		}
		Py_DECREF(r);
		Py_CLEAR(m->view);
	}
	if (m->exports > 0) /* a slice of the view, memoryview(view), ... */
		goto alive;
	m->valid = 0;
	return 0;
alive:
	PyErr_SetString(PyExc_BufferError,
			"an object made from this message's memoryview (a numpy array, a slice) "
			"still points into the ring: delete it, or copy what you need first "
			"(bytes(view), array.copy()); the message stays held until then");
	return -1;
}

static void msg_dealloc(MsgObject *m)
{
	/* The ring invalidated us before letting go; the view is gone (it held
	 * a reference to us). */
	Py_XDECREF(m->view);
	if (!spare[m->writable]) {
		spare[m->writable] = m;
		return;
	}
	PyObject_Free(m);
}

static int msg_getbuffer(MsgObject *m, Py_buffer *view, int flags)
{
	if (!m->valid) {
		shm_raisef(ShmClosed, EBADF, "this message was released: its memory belongs to the ring "
					   "again (copy what you need before releasing)");
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)m, m->buf, m->len, !m->writable, flags) < 0)
		return -1;
	m->exports++;
	return 0;
}

static void msg_releasebuffer(MsgObject *m, Py_buffer *view)
{
	(void)view;
	m->exports--;
}

static PyBufferProcs msg_as_buffer = {
	(getbufferproc)msg_getbuffer,
	(releasebufferproc)msg_releasebuffer,
};

static Py_ssize_t msg_length(MsgObject *m)
{
	return m->len;
}

static PySequenceMethods msg_as_sequence = { .sq_length = (lenfunc)msg_length };

static RingObject *msg_ring(MsgObject *m)
{
	if (m->done || !m->ring) {
		shm_raisef(ShmInvalid, EINVAL, m->writable ? "this reservation was already committed or "
							  "abandoned"
							: "this message was already released");
		return NULL;
	}
	return (RingObject *)m->ring;
}

static PyObject *msg_enter(MsgObject *m, PyObject *unused)
{
	(void)unused;
	return msg_view(m);
}

static PyObject *msg_get_view(MsgObject *m, void *unused)
{
	return msg_enter(m, unused);
}

/* ---- Peek ---- */

static PyObject *peek_release(MsgObject *m, PyObject *unused)
{
	(void)unused;
	RingObject *r = msg_ring(m);
	if (!r)
		return NULL;
	if (r->held != (PyObject *)m) { /* the ring let it go (closed) */
		m->done = 1;
		Py_RETURN_NONE;
	}
	if (ring_release_held(r) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *peek_exit(MsgObject *m, PyObject *const *args, Py_ssize_t nargs)
{
	(void)args, (void)nargs;
	if (m->done || !m->ring)
		Py_RETURN_FALSE;
	PyObject *r = peek_release(m, NULL);
	if (!r)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyMethodDef peek_methods[] = {
	{ "__enter__", (PyCFunction)msg_enter, METH_NOARGS, "The read-only memoryview." },
	{ "__exit__", (PyCFunction)(void (*)(void))peek_exit, METH_FASTCALL, "Release the message." },
	{ "release", (PyCFunction)peek_release, METH_NOARGS,
	  "release() -> None\n\nHand the message back to the ring; its view is released." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef msg_getset[] = {
	{ "view", (getter)msg_get_view, NULL, "The memoryview into the ring.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject Peek_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmring.Peek",
	.tp_doc = "A peeked message: `with port.peek() as view:` (read-only memoryview into the "
		  "ring; released on exit).",
	.tp_basicsize = sizeof(MsgObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)msg_dealloc,
	.tp_as_buffer = &msg_as_buffer,
	.tp_as_sequence = &msg_as_sequence,
	.tp_methods = peek_methods,
	.tp_getset = msg_getset,
};

/* ---- Reservation ---- */

static PyObject *resv_commit(MsgObject *m, PyObject *const *args, Py_ssize_t nargs,
			     PyObject *kwnames)
{
	static const char *const names[] = { "length" };
	PyObject *a;
	Py_ssize_t len = m->len;
	if (shm_args(args, nargs, kwnames, "commit()", names, 1, 0, &a) < 0)
		return NULL;
	if (a && a != Py_None &&
	    (len = PyNumber_AsSsize_t(a, PyExc_OverflowError)) == -1 && PyErr_Occurred())
		return NULL;
	if (len <= 0 || len > m->len)
		return PyErr_Format(PyExc_ValueError,
				    "commit(%zd): give 1 to %zd, the bytes reserved", len, m->len);
	RingObject *r = msg_ring(m);
	if (!r || ring_commit_reservation(r, m, (size_t)len) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *resv_abandon(MsgObject *m, PyObject *unused)
{
	(void)unused;
	RingObject *r = msg_ring(m);
	if (!r || ring_abandon_reservation(r, m) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *resv_exit(MsgObject *m, PyObject *const *args, Py_ssize_t nargs)
{
	PyObject *type = nargs > 0 ? args[0] : Py_None;
	if (m->done || !m->ring)
		Py_RETURN_FALSE; /* committed or abandoned inside the block */
	RingObject *r = (RingObject *)m->ring;
	int rc = type == Py_None ? ring_commit_reservation(r, m, (size_t)m->len)
				 : ring_abandon_reservation(r, m);
	if (rc < 0)
		return NULL;
	Py_RETURN_FALSE;
}

static PyMethodDef resv_methods[] = {
	{ "__enter__", (PyCFunction)msg_enter, METH_NOARGS, "The writable memoryview." },
	{ "__exit__", (PyCFunction)(void (*)(void))resv_exit, METH_FASTCALL,
	  "Commit (normal exit) or abandon (an exception): nothing half-written is published." },
	{ "commit", (PyCFunction)(void (*)(void))resv_commit, METH_FASTCALL | METH_KEYWORDS,
	  "commit(length=None) -> None\n\nPublish the first length bytes (all by default)." },
	{ "abandon", (PyCFunction)resv_abandon, METH_NOARGS,
	  "abandon() -> None\n\nPublish nothing; the room is reused by the next reserve/send "
	  "of at most as many bytes." },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject Reservation_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmring.Reservation",
	.tp_doc = "Room for one message: `with port.reserve(n) as buf:` (writable memoryview into "
		  "the ring; committed on exit, abandoned if the block raises).",
	.tp_basicsize = sizeof(MsgObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)msg_dealloc,
	.tp_as_buffer = &msg_as_buffer,
	.tp_as_sequence = &msg_as_sequence,
	.tp_methods = resv_methods,
	.tp_getset = msg_getset,
};
