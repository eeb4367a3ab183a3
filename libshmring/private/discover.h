/* SPDX-License-Identifier: MIT */
/*
 * Finding running topologies. Their control segments are memfds, not files,
 * so nothing is left behind when a supervisor dies; a running one is found as
 * the descriptor /proc/PID/fd/N, named "memfd:shmring-ctl.NAME", of its
 * supervisor (the segment header names the supervisor's pid, so a kernel
 * still holding the descriptor is not mistaken for it). Only this user's
 * processes are visible, which is also who may use the segments (0600).
 *
 * Part of the control segment module (shmring_control): the supervisor uses
 * it to refuse a second topology of the same name, shmring-stat to list
 * them. Every segment found is read through smr_ctl_attach (control.h).
 */
#ifndef SHMRING_PRIVATE_DISCOVER_H
#define SHMRING_PRIVATE_DISCOVER_H

#include <stddef.h>
#include <sys/types.h>

struct running_topo {
	pid_t pid;      /* the supervisor */
	int   fd;       /* its descriptor of the control segment */
	char  name[32];
};

/* A segment named like a control segment that cannot be read: corrupt, of
 * another version, another user's, past a limit, or never initialised. */
struct topo_unreadable {
	pid_t pid;      /* a process holding it (the lowest pid of them) */
	int   fd;       /* its descriptor */
	unsigned holders; /* processes holding it (its supervisor and kernels) */
	char  name[64]; /* from the memfd's name; shortened with '~' if longer */
	char  why[320]; /* the problem and what to do, one line */
};

/* Up to max running topologies into out; returns how many were found (which
 * may exceed max), or a negative errno (/proc unreadable, out of memory).
 * name NULL: all; otherwise only that topology. The running ones of
 * topo_scan: segments that cannot be read are skipped. */
int topo_find_running(const char *name, struct running_topo *out, size_t max);

/*
 * Every segment named like a control segment (name NULL), or those named
 * "shmring-ctl.NAME": the running topologies into *ok, one per segment, and
 * the unreadable ones into *bad, one line each. No limit on how many; the
 * arrays are malloc'd (NULL when empty) and the caller frees them. A segment
 * still being created is waited for briefly; a valid one whose supervisor no
 * longer holds it (its kernels are exiting) is in neither. 0, or -errno
 * (/proc unreadable, out of memory).
 */
int topo_scan(const char *name, struct running_topo **ok, size_t *nok,
	      struct topo_unreadable **bad, size_t *nbad);

/* Open the control segment of a running topology read-only: an fd or -errno. */
int topo_open_control(const struct running_topo *rt);

/* Descriptor fd_no of process pid, opened through /proc read-only and
 * non-blocking: a regular file, or -EBADF (or -errno) and nothing open. */
int smr_open_proc_fd(pid_t pid, int fd_no);

#endif
