/* SPDX-License-Identifier: MIT */
/*
 * Finding running topologies. Their control segments are memfds, not files,
 * so nothing is left behind when a supervisor dies; a running one is found as
 * the descriptor /proc/PID/fd/N, named "memfd:shmring-ctl.NAME", of its
 * supervisor (the segment header names the supervisor's pid, so a kernel
 * still holding the descriptor is not mistaken for it). Only this user's
 * processes are visible, which is also who may use the segments (0600).
 */
#ifndef SHMRING_SUPERVISOR_DISCOVER_H
#define SHMRING_SUPERVISOR_DISCOVER_H

#include <stddef.h>
#include <sys/types.h>

struct running_topo {
	pid_t pid;      /* the supervisor */
	int   fd;       /* its descriptor of the control segment */
	char  name[32];
};

/* Up to max running topologies into out; returns how many were found (which
 * may exceed max), or a negative errno if /proc cannot be read. name NULL:
 * all; otherwise only that topology. */
int topo_find_running(const char *name, struct running_topo *out, size_t max);

/* Open the control segment of a running topology read-only: an fd or -errno. */
int topo_open_control(const struct running_topo *rt);

#endif
