/* SPDX-License-Identifier: MIT */
/*
 * The shmring CPython extension: what its source files share.
 *
 *   module.c   errors, the slice wait that releases the GIL, module init
 *   ring.c     shmring.Ring: one ring end (a kernel's port or a ring of
 *              one's own), send/recv, iteration, peek and reserve
 *   kernel.c   shmring.Kernel: attach to the supervisor, ports, wait, stop
 *   msg.c      shmring.Peek and shmring.Reservation: a message's memory,
 *              exported to a memoryview, and their with blocks
 *
 * Threads: every call runs on the calling Python thread; waits release
 * the GIL and hold nothing Python while the library sleeps. The library
 * starts no thread, so no foreign thread ever calls into Python.
 */
#ifndef PYSHMRING_H
#define PYSHMRING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <shmring/kernel.h>
#include <shmring/ring.h>

/* A ring end. For a kernel's port the handle belongs to the kernel
 * (kernel != NULL): it dies with it, and the object is told so. */
typedef struct RingObject {
	PyObject_HEAD
	struct shmring *ring;     /* NULL once closed or detached */
	PyObject *kernel;         /* owning KernelObject (borrowed), or NULL */
	PyObject *held;           /* MsgObject of the message peeked, or NULL */
	PyObject *reservation;    /* MsgObject of the open reservation, or NULL */
	char *unlink_name;        /* created here: unlinked on close */
	int role;
	int busy;                 /* a call of another thread waits in it */
	int eos;                  /* end of stream seen */
	char label[80];           /* "port 'in'" or "ring 'x'", for messages */
} RingObject;

/* The memory of one peeked message or one reservation, exported through
 * the buffer protocol. Valid until invalidated; every export counted. */
typedef struct MsgObject {
	PyObject_HEAD
	void *buf;
	Py_ssize_t len;
	Py_ssize_t exports;       /* buffers handed out and not released */
	int writable;
	int valid;
	PyObject *view;           /* the memoryview given to the user */
	PyObject *ring;           /* its RingObject, borrowed: cleared when the ring lets go */
	int done;                 /* released / committed / abandoned */
	int viewed;               /* a view was made: once released, never again */
} MsgObject;

extern PyTypeObject Ring_Type, Kernel_Type, Peek_Type, Reservation_Type;

/* Exceptions (module.c). */
extern PyObject *ShmError, *ShmTimeout, *ShmClosed, *ShmPeerDead, *ShmStopped,
	*ShmTooLarge, *ShmCorrupt, *ShmNotFound, *ShmBusy, *ShmInvalid, *ShmEndOfStream;

/* Raise the shmring.Error subclass for -err with "what: reason". */
PyObject *shm_raise(int err, const char *what, const char *reason);
/* Raise cls(err, formatted line) (PyUnicode_FromFormat's format). */
PyObject *shm_raisef(PyObject *cls, int err, const char *fmt, ...);
/* As shm_raise, the reason being shmring_errmsg() (cold-path calls). */
PyObject *shm_raise_cold(int err, const char *what);
/* As shm_raise, the reason being strerror(err), prefixed by the ring's label. */
PyObject *shm_raise_ring(RingObject *r, int err, const char *op);

/*
 * Arguments of a METH_FASTCALL | METH_KEYWORDS method, the hot path's
 * parser: names[0..n-1] in order, the first nreq required; out[i] is the
 * argument given for names[i] (borrowed) or NULL. PyArg_ParseTupleAndKeywords
 * needs a tuple and costs 20-40 ns a call, more than a message's copy.
 * -1 with a TypeError that names fn ("send()") and the argument, worded
 * as CPython's own parser words its errors.
 */
int shm_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *fn,
	     const char *const *names, int n, int nreq, PyObject **out);

/* A timeout argument: None (forever) or seconds >= 0. -1 with an
 * exception set on a bad value. */
int shm_timeout_arg(PyObject *o, double *seconds);

/*
 * Run op until it returns something other than -EAGAIN/-ETIMEDOUT or the
 * timeout passes, in slices of at most 100 ms with the GIL released;
 * between slices, Python signal handlers run (Ctrl-C raises there) and the
 * stop flag set by the kernel's SIGTERM/SIGINT handler is looked at.
 * seconds < 0: no limit. Returns op's last result, -ETIMEDOUT (-EAGAIN
 * for a timeout of 0), -ECANCELED for a stop, or -EINTR with a Python
 * exception set (a signal handler raised). The first try holds the GIL.
 */
typedef int (*shm_op)(void *arg, int timeout_ms);
int shm_wait(shm_op op, void *arg, double seconds);

/* Set by the kernel's SIGTERM/SIGINT handler (kernel.c). */
extern volatile int shm_signal_stop;

/* ring.c */
RingObject *ring_new(struct shmring *ring, PyObject *kernel, int role, const char *label);
void ring_forget(RingObject *r); /* its kernel detached: handle gone */
/* Invalidate the open message and reservation (not released: a detach
 * redelivers): 0, or -1 with BufferError if one's view is still used. */
int ring_drop_open(RingObject *r);
int ring_check(RingObject *r);  /* -1 + Closed if closed */

/* msg.c: a Peek (writable 0) or a Reservation (1) over buf. */
MsgObject *msg_new(PyObject *ring, void *buf, size_t len, int writable);
/* Release the user's view and invalidate. 0, or -1 with BufferError set
 * when something made from the view still points into the ring. */
int msg_invalidate(MsgObject *m);
/* The message's memoryview (made at the first call), a new reference; -1
 * with an exception once the message is no longer open. */
PyObject *msg_view(MsgObject *m);
/* The held message of r is done with: invalidate it and release it in
 * the ring. 0 or -1 (exception set). */
int ring_release_held(RingObject *r);
int ring_commit_reservation(RingObject *r, MsgObject *m, size_t len);
int ring_abandon_reservation(RingObject *r, MsgObject *m);

#endif
