/* SPDX-License-Identifier: MIT */
/* The TCP kernels' shared part: set up one connection, through io_uring. */
#ifndef SHMRING_KERNELS_NET_H
#define SHMRING_KERNELS_NET_H

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* Frames on the wire: a 32-bit little-endian length, then the message. */
#define NET_HDR 4u

/*
 * --listen [HOST:]PORT accepts one connection; --connect HOST:PORT connects,
 * retrying for up to 10 s while the peer is not listening yet. Returns the
 * connected socket, -ECANCELED on a stop, or exits with one line.
 */
static inline int net_open(struct shmring_kernel *k, struct shmring_io *io, const char *mode,
			   const char *where)
{
	(void)k;
	char host[256] = "0.0.0.0";
	const char *port = where, *colon = strrchr(where, ':');
	if (colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - where), where);
		port = colon + 1;
	}
	int listening = !strcmp(mode, "--listen");
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
				  .ai_flags = listening ? AI_PASSIVE : 0 }, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "%s %s: %s: fix the address in the topology\n", mode, where, gai_strerror(rc));
		exit(2);
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listening) {
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
			fprintf(stderr, "--listen %s: %s: pick a free port\n", where, strerror(errno));
			exit(1);
		}
		freeaddrinfo(ai);
		shmring_io_accept(io, fd, 10);
		int c = k_io_result(io, 10);
		close(fd);
		if (c < 0 && c != -ECANCELED) {
			fprintf(stderr, "accept on %s: %s\n", where, strerror(-c));
			exit(1);
		}
		if (c >= 0)
			setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return c;
	}
	for (int tries = 0;; tries++) {
		shmring_io_connect(io, fd, ai->ai_addr, ai->ai_addrlen, 11);
		rc = k_io_result(io, 11);
		if (rc == 0 || rc == -ECANCELED || tries == 100 ||
		    (rc != -ECONNREFUSED && rc != -ETIMEDOUT))
			break;
		shmring_io_timeout(io, 100, 12); /* not listening yet: try again */
		if (k_io_result(io, 12) == -ECANCELED) {
			rc = -ECANCELED;
			break;
		}
		close(fd);
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	freeaddrinfo(ai);
	if (rc == -ECANCELED) {
		close(fd);
		return rc;
	}
	if (rc < 0) {
		fprintf(stderr, "--connect %s: %s: is the peer listening?\n", where, strerror(-rc));
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

#endif
