/* SPDX-License-Identifier: MIT */
/* shmring._shmring: exceptions, the GIL-releasing wait, module init. */
#include "pyshmring.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

PyObject *ShmError, *ShmTimeout, *ShmClosed, *ShmPeerDead, *ShmStopped, *ShmTooLarge,
	*ShmCorrupt, *ShmNotFound, *ShmBusy, *ShmInvalid, *ShmEndOfStream;

static PyObject *err_class(int err)
{
	switch (err) {
	case EAGAIN:
	case ETIMEDOUT:
		return ShmTimeout;
	case EPIPE:
		return ShmClosed;
	case EOWNERDEAD:
		return ShmPeerDead;
	case ECANCELED:
		return ShmStopped;
	case EMSGSIZE:
		return ShmTooLarge;
	case EBADMSG:
	case EPROTO:
		return ShmCorrupt;
	case ENOENT:
		return ShmNotFound;
	case EBUSY:
		return ShmBusy;
	case EINVAL:
	case EBADF:
		return ShmInvalid;
	default:
		return ShmError;
	}
}

PyObject *shm_raise(int err, const char *what, const char *reason)
{
	if (err < 0)
		err = -err;
	PyObject *msg = PyUnicode_FromFormat("%s: %s", what, reason);
	if (!msg)
		return NULL;
	/* OSError(errno, strerror): .errno and .strerror, str() "[Errno N] line". */
	PyObject *exc = PyObject_CallFunction(err_class(err), "iO", err, msg);
	Py_DECREF(msg);
	if (exc) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

PyObject *shm_raisef(PyObject *cls, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
	va_end(ap);
	if (!msg)
		return NULL;
	PyObject *exc = PyObject_CallFunction(cls, "iO", err, msg);
	Py_DECREF(msg);
	if (exc) {
		PyErr_SetObject(cls, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

PyObject *shm_raise_cold(int err, const char *what)
{
	const char *line = shmring_errmsg();
	return shm_raise(err, what, *line ? line : strerror(err < 0 ? -err : err));
}

PyObject *shm_raise_ring(RingObject *r, int err, const char *op)
{
	char what[128];
	snprintf(what, sizeof(what), "%s on %s", op, r->label);
	if (err == -EAGAIN || err == -ETIMEDOUT)
		return shm_raise(err, what, r->role == SHMRING_ROLE_CONSUMER
						    ? "nothing to read within the timeout"
						    : "no room within the timeout (the ring is full)");
	if (err == -EPIPE)
		return shm_raise(err, what, "the stream is closed (by this end, or the consumer "
					    "left)");
	return shm_raise(err, what, strerror(err < 0 ? -err : err));
}

static int args_error(const char *fn, const char *fmt, const char *what)
{
	PyErr_Format(PyExc_TypeError, fmt, fn, what);
	return -1;
}

int shm_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *fn,
	     const char *const *names, int n, int nreq, PyObject **out)
{
	if (nargs > n) {
		PyErr_Format(PyExc_TypeError, "%s takes at most %d argument%s (%zd given)", fn, n,
			     n == 1 ? "" : "s", nargs);
		return -1;
	}
	for (int i = 0; i < n; i++)
		out[i] = i < nargs ? args[i] : NULL;
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	for (Py_ssize_t k = 0; k < nkw; k++) {
		PyObject *key = PyTuple_GET_ITEM(kwnames, k);
		int i = 0;
		while (i < n && PyUnicode_CompareWithASCIIString(key, names[i]) != 0)
			i++;
		if (i == n) {
			const char *u = PyUnicode_AsUTF8(key);
			return u ? args_error(fn, "%s got an unexpected keyword argument '%s'", u) : -1;
		}
		if (out[i])
			return args_error(fn, "%s got multiple values for argument '%s'", names[i]);
		out[i] = args[nargs + k];
	}
	for (int i = 0; i < nreq; i++)
		if (!out[i])
			return args_error(fn, "%s missing required argument '%s'", names[i]);
	return 0;
}

int shm_timeout_arg(PyObject *o, double *seconds)
{
	if (!o || o == Py_None) {
		*seconds = -1;
		return 0;
	}
	double s = PyFloat_AsDouble(o);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (!(s >= 0) || s > 1e9) { /* also NaN */
		PyErr_Format(PyExc_ValueError,
			     "timeout %R: give seconds >= 0 (0 = try once), or None to wait "
			     "without limit", o);
		return -1;
	}
	*seconds = s;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Long enough to cost nothing, short enough that Ctrl-C feels immediate. */
#define SLICE_MS 100

int shm_wait(shm_op op, void *arg, double seconds)
{
	int rc = op(arg, 0); /* the fast path keeps the GIL */
	if (rc != -EAGAIN && rc != -ETIMEDOUT)
		return rc;
	if (seconds == 0)
		return -EAGAIN;
	double deadline = seconds < 0 ? 0 : now_s() + seconds;
	for (;;) {
		if (PyErr_CheckSignals() < 0)
			return -EINTR;
		if (shm_signal_stop)
			return -ECANCELED;
		int ms = SLICE_MS;
		if (seconds > 0) {
			double left = deadline - now_s();
			if (left <= 0)
				return -ETIMEDOUT;
			if (left * 1000 < ms)
				ms = (int)ceil(left * 1000);
		}
		Py_BEGIN_ALLOW_THREADS
		rc = op(arg, ms);
		Py_END_ALLOW_THREADS
		if (rc != -EAGAIN && rc != -ETIMEDOUT)
			return rc;
	}
}

static PyObject *py_errmsg(PyObject *self, PyObject *unused)
{
	(void)self, (void)unused;
	return PyUnicode_FromString(shmring_errmsg());
}

static PyObject *py_unlink(PyObject *self, PyObject *arg)
{
	(void)self;
	const char *name = PyUnicode_AsUTF8(arg);
	if (!name)
		return NULL;
	int rc = shmring_unlink(name);
	if (rc < 0)
		return shm_raise_cold(rc, "unlink");
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{ "errmsg", py_errmsg, METH_NOARGS,
	  "errmsg() -> str\n\nThe library's last cold-path error line of this thread." },
	{ "unlink", py_unlink, METH_O,
	  "unlink(name) -> None\n\nRemove a named ring's segment; mappings stay valid." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module_def = {
	PyModuleDef_HEAD_INIT, "_shmring",
	"Shared-memory rings and kernels of shmring (see docs/python.md).", -1, module_methods,
	NULL, NULL, NULL, NULL,
};

/* name, base(s), doc; the new class is added to the module. */
static PyObject *add_exc(PyObject *m, const char *name, PyObject *bases, const char *doc)
{
	char full[64];
	snprintf(full, sizeof(full), "shmring.%s", name);
	PyObject *e = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
	if (e && PyModule_AddObjectRef(m, name, e) < 0)
		Py_CLEAR(e);
	return e;
}

static PyObject *add_sub(PyObject *m, const char *name, PyObject *also, const char *doc)
{
	PyObject *bases = also ? PyTuple_Pack(2, ShmError, also) : PyTuple_Pack(1, ShmError);
	if (!bases)
		return NULL;
	PyObject *e = add_exc(m, name, bases, doc);
	Py_DECREF(bases);
	return e;
}

static int add_exceptions(PyObject *m)
{
	if (!(ShmError = add_exc(m, "Error", PyExc_OSError,
				 "A shmring call failed: .errno, and .strerror the library's line.")))
		return -1;
	ShmTimeout = add_sub(m, "Timeout", PyExc_TimeoutError,
			     "Nothing to read / no room within the timeout (EAGAIN, ETIMEDOUT).");
	ShmClosed = add_sub(m, "Closed", NULL,
			    "The ring end was closed, here (use after close) or by the peer (EPIPE).");
	ShmPeerDead = add_sub(m, "PeerDead", NULL, "The other end died (EOWNERDEAD).");
	ShmStopped = add_sub(m, "Stopped", NULL,
			     "The supervisor asked this kernel to stop (ECANCELED).");
	ShmTooLarge = add_sub(m, "MessageTooLarge", NULL,
			      "A message larger than the ring's largest (EMSGSIZE).");
	ShmCorrupt = add_sub(m, "Corrupt", NULL,
			     "The shared memory is corrupt or of another version (EBADMSG, EPROTO).");
	ShmNotFound = add_sub(m, "NotFound", NULL,
			      "No such ring or port, or not started by a supervisor (ENOENT).");
	ShmBusy = add_sub(m, "Busy", NULL,
			  "The role is held by another process, or another thread is in a call (EBUSY).");
	ShmInvalid = add_sub(m, "InvalidOperation", NULL,
			     "Not allowed now or by this end: a reservation or message is open, "
			     "wrong role (EINVAL, EBADF).");
	ShmEndOfStream = add_exc(m, "EndOfStream", PyExc_EOFError,
				 "peek() at end of stream: the producer closed and all was read.");
	if (!ShmTimeout || !ShmClosed || !ShmPeerDead || !ShmStopped || !ShmTooLarge ||
	    !ShmCorrupt || !ShmNotFound || !ShmBusy || !ShmInvalid || !ShmEndOfStream)
		return -1;
	return 0;
}

static int add_types(PyObject *m)
{
	PyTypeObject *types[] = { &Ring_Type, &Kernel_Type, &Peek_Type, &Reservation_Type };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (PyType_Ready(types[i]) < 0)
			return -1;
	if (PyModule_AddObjectRef(m, "Ring", (PyObject *)&Ring_Type) < 0 ||
	    PyModule_AddObjectRef(m, "Kernel", (PyObject *)&Kernel_Type) < 0 ||
	    PyModule_AddObjectRef(m, "Peek", (PyObject *)&Peek_Type) < 0 ||
	    PyModule_AddObjectRef(m, "Reservation", (PyObject *)&Reservation_Type) < 0)
		return -1;
	return 0;
}

static int add_constants(PyObject *m)
{
	struct { const char *name; long long v; } c[] = {
		{ "PRODUCER", SHMRING_ROLE_PRODUCER },
		{ "CONSUMER", SHMRING_ROLE_CONSUMER },
		{ "OBSERVER", SHMRING_ROLE_OBSERVER },
		{ "EXIT_CONFIG", SHMRING_EXIT_CONFIG },
		{ "CHECKPOINT_MAX", SHMRING_CHECKPOINT_MAX },
		{ "NAME_MAX", SHMRING_NAME_MAX },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (PyModule_AddIntConstant(m, c[i].name, (long)c[i].v) < 0)
			return -1;
	return PyModule_AddStringConstant(m, "LIBRARY_VERSION",
					  Py_STRINGIFY(SHMRING_VERSION_MAJOR) "."
					  Py_STRINGIFY(SHMRING_VERSION_MINOR));
}

PyMODINIT_FUNC PyInit__shmring(void)
{
	PyObject *m = PyModule_Create(&module_def);
	if (!m)
		return NULL;
	if (add_exceptions(m) < 0 || add_types(m) < 0 || add_constants(m) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
