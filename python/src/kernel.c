/* SPDX-License-Identifier: MIT */
/*
 * shmring.Kernel: this process as a kernel of a topology.
 *
 *   with shmring.Kernel() as k:     # attach, report ready, wait for go
 *       for msg in k.port("in"): ...
 *
 * How the with block ends decides what the supervisor sees, as for a C
 * kernel (docs/supervisor.md):
 *   - normally, no stop asked: detach: outputs closed, the kernel has
 *     finished and is not restarted;
 *   - a stop asked by the supervisor (the loop ended, or shmring.Stopped
 *     raised): detach, ports left open for a successor; exit 0;
 *   - SIGTERM or SIGINT to this process: the handler Kernel installs sets a
 *     flag; waits end, the loop ends, and the block leaves the ports open
 *     (flushed) without detaching, as a stop does; exit 0;
 *   - shmring.NotFound (a port the topology lacks): one line on stderr,
 *     exit 78 (SHMRING_EXIT_CONFIG: not restarted);
 *   - any other exception: the ports stay open (not detached), the
 *     exception goes on: a failed kernel, restarted by policy.
 */
#include "pyshmring.h"

#include <signal.h>
#include <string.h>

volatile int shm_signal_stop;

typedef struct {
	PyObject_HEAD
	struct shmring_kernel *k;  /* NULL once detached or left */
	PyObject *inputs, *outputs; /* tuples of RingObject */
	PyObject *old_term, *old_int; /* signal handlers to put back */
	int busy;
} KernelObject;

static int kernel_check(KernelObject *self)
{
	if (self->k)
		return 0;
	shm_raisef(ShmClosed, EBADF, "the kernel has left its topology (its with block ended): "
				   "its ports can no longer be used");
	return -1;
}

/* ---- signals ---- */

static PyObject *on_signal(PyObject *mod, PyObject *args)
{
	(void)mod, (void)args;
	shm_signal_stop = 1;
	Py_RETURN_NONE;
}

static PyMethodDef on_signal_def = { "_shmring_stop", on_signal, METH_VARARGS,
				     "Ask this kernel to stop (SIGTERM, SIGINT)." };

/* signal.signal(num, handler), the old handler returned; NULL if not the
 * main thread (then nothing is installed and nothing is an error). */
static PyObject *set_handler(int num, PyObject *handler)
{
	PyObject *sig = PyImport_ImportModule("signal");
	if (!sig)
		return NULL;
	PyObject *old = PyObject_CallMethod(sig, "signal", "iO", num, handler);
	Py_DECREF(sig);
	if (!old)
		PyErr_Clear(); /* ValueError: not the main thread */
	return old;
}

static void install_handlers(KernelObject *self)
{
	PyObject *h = PyCFunction_New(&on_signal_def, NULL);
	if (!h) {
		PyErr_Clear();
		return;
	}
	self->old_term = set_handler(SIGTERM, h);
	self->old_int = set_handler(SIGINT, h);
	Py_DECREF(h);
}

static void restore_handlers(KernelObject *self)
{
	PyObject *t, *v, *tb;
	PyErr_Fetch(&t, &v, &tb);
	if (self->old_term)
		Py_XDECREF(set_handler(SIGTERM, self->old_term));
	if (self->old_int)
		Py_XDECREF(set_handler(SIGINT, self->old_int));
	Py_CLEAR(self->old_term);
	Py_CLEAR(self->old_int);
	PyErr_Restore(t, v, tb);
}

/* ---- attach ---- */

static PyObject *make_ports(KernelObject *self, unsigned n, int input)
{
	PyObject *t = PyTuple_New(n);
	for (unsigned i = 0; t && i < n; i++) {
		char label[80];
		snprintf(label, sizeof(label), "%s %u of kernel '%s'", input ? "input" : "output", i,
			 shmring_kernel_name(self->k));
		struct shmring *ring = input ? shmring_kernel_input(self->k, i)
					     : shmring_kernel_output(self->k, i);
		RingObject *r = ring_new(ring, (PyObject *)self,
					 input ? SHMRING_ROLE_CONSUMER : SHMRING_ROLE_PRODUCER, label);
		if (!r) {
			Py_CLEAR(t);
			break;
		}
		PyTuple_SET_ITEM(t, i, (PyObject *)r);
	}
	return t;
}

static int kernel_init(KernelObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { NULL };
	if (!PyArg_ParseTupleAndKeywords(args, kw, ":Kernel", kwlist))
		return -1;
	if (self->k) {
		shm_raisef(ShmInvalid, EINVAL, "Kernel() is already attached");
		return -1;
	}
	struct shmring_kernel *k;
	int rc;
	/* Blocks until the topology is active; the supervisor's stop ends it. */
	Py_BEGIN_ALLOW_THREADS
	rc = shmring_kernel_attach(&k);
	Py_END_ALLOW_THREADS
	if (rc == -ECANCELED) {
		/* The topology stopped before it started: nothing to do, and the
		 * supervisor says why. Leave quietly, status 0, as C kernels do. */
		PyErr_SetObject(PyExc_SystemExit, PyLong_FromLong(0));
		return -1;
	}
	if (rc < 0) {
		shm_raise_cold(rc, "shmring.Kernel()");
		return -1;
	}
	self->k = k;
	self->inputs = make_ports(self, shmring_kernel_ninputs(k), 1);
	self->outputs = self->inputs ? make_ports(self, shmring_kernel_noutputs(k), 0) : NULL;
	if (!self->outputs)
		return -1;
	shm_signal_stop = 0;
	install_handlers(self);
	return 0;
}

/* ---- ports ---- */

static PyObject *find_port(PyObject *tuple, struct shmring *ring)
{
	for (Py_ssize_t i = 0; tuple && i < PyTuple_GET_SIZE(tuple); i++) {
		RingObject *r = (RingObject *)PyTuple_GET_ITEM(tuple, i);
		if (r->ring == ring)
			return (PyObject *)r;
	}
	return NULL;
}

static PyObject *kernel_port(KernelObject *self, PyObject *arg)
{
	const char *name = PyUnicode_AsUTF8(arg);
	if (!name || kernel_check(self) < 0)
		return NULL;
	struct shmring *ring = shmring_kernel_port(self->k, name);
	if (!ring)
		return shm_raise_cold(-ENOENT, "Kernel.port");
	RingObject *r = (RingObject *)find_port(self->inputs, ring);
	if (!r)
		r = (RingObject *)find_port(self->outputs, ring);
	if (!r)
		return shm_raise(-ENOENT, "port", "the library returned a ring that is no port");
	snprintf(r->label, sizeof(r->label), "port '%s' of kernel '%s'", name,
		 shmring_kernel_name(self->k));
	return Py_NewRef((PyObject *)r);
}

/* ---- waiting ---- */

struct kwait_op {
	struct shmring_kernel *k;
	struct shmring **ready;
	unsigned cap;
};

static int kwait_op(void *arg, int ms)
{
	struct kwait_op *w = arg;
	int rc = shmring_kernel_wait_ready(w->k, ms, w->ready, w->cap);
	return rc == 0 ? -ECANCELED : rc; /* a stop ends shm_wait */
}

static PyObject *kernel_wait(KernelObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "timeout", NULL };
	PyObject *t = Py_None;
	double s;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:wait", kwlist, &t) ||
	    shm_timeout_arg(t, &s) < 0 || kernel_check(self) < 0)
		return NULL;
	if (self->busy)
		return shm_raisef(ShmBusy, EBUSY, "Kernel.wait: another thread is waiting in it");
	unsigned cap = shmring_kernel_ninputs(self->k) + 1;
	struct kwait_op w = { self->k, PyMem_Calloc(cap, sizeof(struct shmring *)), cap };
	if (!w.ready)
		return PyErr_NoMemory();
	self->busy = 1;
	int rc = shm_wait(kwait_op, &w, s);
	self->busy = 0;
	PyObject *list = NULL;
	if (rc == -EINTR && PyErr_Occurred())
		goto out;
	if (rc < 0 && rc != -EAGAIN && rc != -ETIMEDOUT && rc != -ECANCELED) {
		shm_raise(rc, "Kernel.wait", strerror(-rc));
		goto out;
	}
	list = PyList_New(0);
	for (int i = 0; list && i < rc && (unsigned)i < cap; i++) {
		PyObject *r = w.ready[i] ? find_port(self->inputs, w.ready[i]) : NULL;
		if (r && PyList_Append(list, r) < 0)
			Py_CLEAR(list);
	}
out:
	PyMem_Free(w.ready);
	return list;
}

/* ---- leaving ---- */

/* Every port lets its open message go: -1 with BufferError if a view of
 * one is still in use (then nothing is detached). */
static int ports_let_go(KernelObject *self)
{
	PyObject *all[2] = { self->inputs, self->outputs };
	for (int j = 0; j < 2; j++)
		for (Py_ssize_t i = 0; all[j] && i < PyTuple_GET_SIZE(all[j]); i++) {
			RingObject *r = (RingObject *)PyTuple_GET_ITEM(all[j], i);
			if (r->busy) {
				shm_raisef(ShmBusy, EBUSY, "%s: another thread waits in it: the kernel "
						      "cannot leave now", r->label);
				return -1;
			}
			if (ring_drop_open(r) < 0)
				return -1;
		}
	for (int j = 0; j < 2; j++)
		for (Py_ssize_t i = 0; all[j] && i < PyTuple_GET_SIZE(all[j]); i++) {
			RingObject *r = (RingObject *)PyTuple_GET_ITEM(all[j], i);
			if (r->ring && j == 1)
				shmring_flush(r->ring);
			ring_forget(r);
		}
	return 0;
}

/* detach: finished (no stop asked) or stopped; else leave the ports open. */
static int kernel_leave(KernelObject *self, int detach)
{
	if (!self->k)
		return 0;
	if (ports_let_go(self) < 0)
		return -1;
	if (detach)
		shmring_kernel_detach(self->k);
	/* else: ports stay open for a successor; the handle stays allocated,
	 * and the system takes the mappings back at exit. */
	self->k = NULL;
	restore_handlers(self);
	return 0;
}

static int stop_asked(KernelObject *self)
{
	return shmring_kernel_should_stop(self->k);
}

static PyObject *kernel_close(KernelObject *self, PyObject *unused)
{
	(void)unused;
	if (!self->k)
		Py_RETURN_NONE;
	/* A stop by signal only (not the supervisor's): do not detach, which
	 * would close the outputs as if the stream had been finished. */
	int detach = stop_asked(self) || !shm_signal_stop;
	if (kernel_leave(self, detach) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* A port the topology lacks: configuration, exit 78, not restarted. */
static PyObject *exit_config(PyObject *exc)
{
	PyObject *s = PyObject_GetAttrString(exc, "strerror");
	if (!s || s == Py_None) {
		PyErr_Clear();
		Py_XDECREF(s);
		s = PyObject_Str(exc);
	}
	if (s) {
		PySys_FormatStderr("%U\n", s);
		Py_DECREF(s);
	}
	PyErr_SetObject(PyExc_SystemExit, PyLong_FromLong(SHMRING_EXIT_CONFIG));
	return NULL;
}

static PyObject *kernel_exit(KernelObject *self, PyObject *args)
{
	PyObject *type = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
	PyObject *exc = PyTuple_GET_SIZE(args) > 1 ? PyTuple_GET_ITEM(args, 1) : Py_None;
	if (type == Py_None || !self->k) {
		PyObject *r = kernel_close(self, NULL);
		if (!r)
			return NULL;
		Py_DECREF(r);
		Py_RETURN_FALSE;
	}
	int stopped = stop_asked(self);
	if (PyErr_GivenExceptionMatches(type, ShmStopped) && stopped) {
		if (kernel_leave(self, 1) < 0)
			return NULL;
		Py_RETURN_TRUE; /* a stop is an answer, not a failure */
	}
	int config = PyErr_GivenExceptionMatches(type, ShmNotFound);
	/* Failed: leave the ports open for the successor (not detached). */
	if (kernel_leave(self, stopped) < 0)
		return NULL;
	if (config)
		return exit_config(exc);
	Py_RETURN_FALSE;
}

static PyObject *kernel_enter(KernelObject *self, PyObject *unused)
{
	(void)unused;
	if (kernel_check(self) < 0)
		return NULL;
	return Py_NewRef((PyObject *)self);
}

/* ---- checkpoints, metrics ---- */

static PyObject *kernel_checkpoint(KernelObject *self, PyObject *arg)
{
	Py_buffer b;
	if (kernel_check(self) < 0 || PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
		return NULL;
	int rc = shmring_kernel_checkpoint(self->k, b.buf, (size_t)b.len);
	PyBuffer_Release(&b);
	if (rc < 0)
		return shm_raise(rc, "checkpoint", rc == -EMSGSIZE ? "the state is larger than "
								       "shmring.CHECKPOINT_MAX"
								     : strerror(-rc));
	Py_RETURN_NONE;
}

static PyObject *kernel_restore(KernelObject *self, PyObject *unused)
{
	(void)unused;
	if (kernel_check(self) < 0)
		return NULL;
	char *buf = PyMem_Malloc(SHMRING_CHECKPOINT_MAX);
	if (!buf)
		return PyErr_NoMemory();
	ssize_t n = shmring_kernel_restore(self->k, buf, SHMRING_CHECKPOINT_MAX);
	PyObject *r = n > 0    ? PyBytes_FromStringAndSize(buf, n)
		      : n == 0 ? Py_NewRef(Py_None)
			       : shm_raise((int)n, "restore", strerror((int)-n));
	PyMem_Free(buf);
	return r;
}

static PyObject *kernel_metric(KernelObject *self, PyObject *arg)
{
	const char *name = PyUnicode_AsUTF8(arg);
	if (!name || kernel_check(self) < 0)
		return NULL;
	int rc = shmring_kernel_metric(self->k, name);
	if (rc < 0)
		return shm_raise(rc, "metric", rc == -EINVAL ? "names are [a-z0-9_]{1,23}"
							     : strerror(-rc));
	return PyLong_FromLong(rc);
}

static PyObject *kernel_metric_set(KernelObject *self, PyObject *args)
{
	int i;
	unsigned long long v;
	if (!PyArg_ParseTuple(args, "iK:metric_set", &i, &v) || kernel_check(self) < 0)
		return NULL;
	shmring_kernel_metric_set(self->k, i, v);
	Py_RETURN_NONE;
}

static PyObject *kernel_metric_add(KernelObject *self, PyObject *args)
{
	int i;
	unsigned long long v = 1;
	if (!PyArg_ParseTuple(args, "i|K:metric_add", &i, &v) || kernel_check(self) < 0)
		return NULL;
	shmring_kernel_metric_add(self->k, i, v);
	Py_RETURN_NONE;
}

static PyObject *kernel_set_note(KernelObject *self, PyObject *arg)
{
	const char *note = PyUnicode_AsUTF8(arg);
	if (!note || kernel_check(self) < 0)
		return NULL;
	int rc = shmring_kernel_set_note(self->k, note);
	if (rc < 0)
		return shm_raise(rc, "set_note", strerror(-rc));
	Py_RETURN_NONE;
}

/* ---- attributes ---- */

static PyObject *get_should_stop(KernelObject *self, void *u)
{
	(void)u;
	if (!self->k)
		Py_RETURN_TRUE;
	return PyBool_FromLong(shm_signal_stop || shmring_kernel_should_stop(self->k));
}

static PyObject *get_kname(KernelObject *self, void *u)
{
	(void)u;
	return kernel_check(self) < 0 ? NULL : PyUnicode_FromString(shmring_kernel_name(self->k));
}

static PyObject *get_inputs(KernelObject *self, void *u)
{
	(void)u;
	return kernel_check(self) < 0 ? NULL : Py_NewRef(self->inputs);
}

static PyObject *get_outputs(KernelObject *self, void *u)
{
	(void)u;
	return kernel_check(self) < 0 ? NULL : Py_NewRef(self->outputs);
}

static void kernel_dealloc(KernelObject *self)
{
	/* Never closed: as a failed kernel, ports left open. */
	if (self->k && kernel_leave(self, 0) < 0)
		PyErr_Clear();
	Py_XDECREF(self->inputs);
	Py_XDECREF(self->outputs);
	Py_XDECREF(self->old_term);
	Py_XDECREF(self->old_int);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyGetSetDef kernel_getset[] = {
	{ "should_stop", (getter)get_should_stop, NULL,
	  "True once the supervisor (or SIGTERM/SIGINT) asked this kernel to stop.", NULL },
	{ "name", (getter)get_kname, NULL, "This kernel's name in the topology.", NULL },
	{ "inputs", (getter)get_inputs, NULL, "The input ports, in topology order.", NULL },
	{ "outputs", (getter)get_outputs, NULL, "The output ports, in topology order.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMethodDef kernel_methods[] = {
	{ "port", (PyCFunction)kernel_port, METH_O,
	  "port(name) -> Ring\n\nThe input or output of that name (NotFound lists the ports)." },
	{ "wait", (PyCFunction)(void (*)(void))kernel_wait, METH_VARARGS | METH_KEYWORDS,
	  "wait(timeout=None) -> list[Ring]\n\nSleep until inputs are ready: those inputs, highest "
	  "priority first; [] on a stop or when the timeout passes." },
	{ "checkpoint", (PyCFunction)kernel_checkpoint, METH_O,
	  "checkpoint(state) -> None\n\nStage the state a restarted instance restores." },
	{ "restore", (PyCFunction)kernel_restore, METH_NOARGS,
	  "restore() -> bytes | None\n\nThe last published checkpoint, None on a first start." },
	{ "metric", (PyCFunction)kernel_metric, METH_O, "metric(name) -> int (its index)." },
	{ "metric_set", (PyCFunction)kernel_metric_set, METH_VARARGS, "metric_set(index, value)." },
	{ "metric_add", (PyCFunction)kernel_metric_add, METH_VARARGS,
	  "metric_add(index, delta=1)." },
	{ "set_note", (PyCFunction)kernel_set_note, METH_O, "set_note(text): one line for stat." },
	{ "close", (PyCFunction)kernel_close, METH_NOARGS,
	  "Leave: finished (outputs closed) unless a stop was asked." },
	{ "__enter__", (PyCFunction)kernel_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)kernel_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

PyTypeObject Kernel_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmring.Kernel",
	.tp_doc = "This process as a kernel of the topology its supervisor runs.",
	.tp_basicsize = sizeof(KernelObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)kernel_init,
	.tp_dealloc = (destructor)kernel_dealloc,
	.tp_methods = kernel_methods,
	.tp_getset = kernel_getset,
};
