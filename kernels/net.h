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

struct net {
	const char *mode, *where; /* "--listen" / "--connect", and its argument */
	int listening;
	int fd;                   /* the listening socket (--listen), else -1 */
	struct addrinfo *ai;      /* the peer's address (--connect), else NULL */
};

/*
 * Before attaching: `--listen [HOST:]PORT` or `--connect HOST:PORT` (any
 * other arguments are a usage error), the address resolved and, for
 * --listen, the socket bound and listening (a connecting peer waits in its
 * backlog until net_open accepts). So an address that does not resolve, a
 * port in use or not ours to take is a configuration error (78) reported
 * before the topology starts. A name server that does not answer (try
 * again) or no descriptor left exit 1: a restart may cure those.
 */
static inline void net_prepare(struct net *n, int argc, char **argv, const char *usage)
{
	if (argc == 2 && !strcmp(argv[1], "--help"))
		k_help(usage);
	if (argc < 3)
		k_usage(usage, "%s", argc < 2 ? "no --listen or --connect" : "no address given");
	if (argc > 3)
		k_usage(usage, "unexpected argument '%s'", argv[3]);
	if (strcmp(argv[1], "--connect") && strcmp(argv[1], "--listen"))
		k_usage(usage, "unknown option '%s'", argv[1]);
	const char *mode = argv[1], *where = argv[2];
	*n = (struct net){ .mode = mode, .where = where, .listening = !strcmp(mode, "--listen"),
			   .fd = -1 };
	char host[256] = "0.0.0.0";
	const char *port = where, *colon = strrchr(where, ':');
	if (colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - where), where);
		port = colon + 1;
	} else if (!n->listening) {
		k_config("--connect %s: give HOST:PORT, e.g. 127.0.0.1:9777", where);
	}
	if (!*port || (*port >= '0' && *port <= '9')) { /* a number, not a service name */
		char *end;
		unsigned long v = strtoul(port, &end, 10);
		if (*end || v == 0 || v > 65535)
			k_config("%s %s: the port must be 1 to 65535: fix the address in the topology",
				 mode, where);
	}
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
				  .ai_flags = n->listening ? AI_PASSIVE : 0 }, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc == EAI_AGAIN || rc == EAI_MEMORY || rc == EAI_SYSTEM) {
		fprintf(stderr, "%s %s: %s\n", mode, where, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		exit(1);
	}
	if (rc)
		k_config("%s %s: %s: fix the address in the topology", mode, where, gai_strerror(rc));
	if (!n->listening) {
		n->ai = ai;
		return;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0) {
		fprintf(stderr, "socket: %s\n", strerror(errno));
		freeaddrinfo(ai);
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		freeaddrinfo(ai);
		k_config("--listen %s: %s: %s", where, strerror(e),
			 e == EACCES ? "ports below 1024 need privileges: pick another port"
			 : e == EADDRNOTAVAIL ? "not an address of this machine: fix it in the topology"
					      : "pick a free port");
	}
	freeaddrinfo(ai);
	n->fd = fd;
}

/* What net_prepare holds, when a kernel leaves before net_open. */
static inline void net_release(struct net *n)
{
	if (n->fd >= 0)
		close(n->fd);
	if (n->ai)
		freeaddrinfo(n->ai);
	n->fd = -1;
	n->ai = NULL;
}

/* Attach (the address is already checked), then the one port a TCP kernel
 * has; the prepared socket is released on every way out. */
static inline struct shmring *net_attach_port(struct net *n, const char *port,
					      struct shmring_kernel **kp)
{
	int status = 1;
	struct shmring_kernel *k = k_try_attach(&status);
	if (!k) {
		net_release(n);
		exit(status);
	}
	struct shmring *r = shmring_kernel_port(k, port);
	if (!r) {
		net_release(n);
		k_config("%s", shmring_errmsg());
	}
	*kp = k;
	return r;
}

/*
 * After attaching: --listen accepts one connection; --connect connects,
 * retrying for about 10 s while the peer is not listening yet: after 1 ms,
 * then each wait twice the last, at most 100 ms (a peer started at the same
 * moment, as two topologies often are, is found within a millisecond or
 * two, not a fixed 100 ms later). Returns the
 * connected socket or -ECANCELED on a stop (what net_prepare held is
 * released either way), or exits 1 with one line: a restart may find the
 * peer.
 */
static inline int net_open(struct shmring_io *io, struct net *n)
{
	int one = 1;
	if (n->listening) {
		shmring_io_accept(io, n->fd, 10);
		int c = k_io_result(io, 10);
		net_release(n);
		if (c < 0 && c != -ECANCELED) {
			fprintf(stderr, "accept on %s: %s\n", n->where, strerror(-c));
			exit(1);
		}
		if (c >= 0)
			setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return c;
	}
	const struct addrinfo *ai = n->ai;
	int fd = -1, rc;
	unsigned pause_ms = 1, waited_ms = 0;
	for (;;) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		shmring_io_connect(io, fd, ai->ai_addr, ai->ai_addrlen, 11);
		rc = k_io_result(io, 11);
		if (rc == 0 || rc == -ECANCELED || waited_ms >= 10000 ||
		    (rc != -ECONNREFUSED && rc != -ETIMEDOUT))
			break;
		close(fd);
		fd = -1;
		shmring_io_timeout(io, pause_ms, 12); /* not listening yet: try again */
		waited_ms += pause_ms;
		pause_ms = pause_ms * 2 > 100 ? 100 : pause_ms * 2;
		if (k_io_result(io, 12) == -ECANCELED) {
			rc = -ECANCELED;
			break;
		}
	}
	net_release(n);
	if (rc < 0 && fd >= 0)
		close(fd);
	if (rc == -ECANCELED)
		return rc;
	if (rc < 0) {
		fprintf(stderr, "--connect %s: %s: is the peer listening?\n", n->where, strerror(-rc));
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

#endif
