/* SPDX-License-Identifier: MIT */
/*
 * tcp-baseline: the plain blocking socket loop a user would write instead of
 * shmring-file-source ! shmring-tcp-sink and shmring-tcp-source !
 * shmring-file-sink: one process reads FILE with read() and send()s it in
 * CHUNK-byte pieces over loopback; the other recv()s and write()s to
 * /dev/null. Prints the rate, from connect to the receiver's last byte.
 *
 *   tcp-baseline FILE [CHUNK]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-util.h"

struct rx {
	int listener;
	char *buf;
	size_t chunk;
};

/* The receiving process: everything to /dev/null, then the rate. */
static int receive(void *arg)
{
	const struct rx *x = arg;
	int c = accept(x->listener, NULL, NULL), out = open("/dev/null", O_WRONLY);
	uint64_t t0 = tu_now_ns();
	unsigned long long n = 0;
	ssize_t r;
	while ((r = recv(c, x->buf, x->chunk, 0)) > 0) {
		if (write(out, x->buf, (size_t)r) != r)
			return 1;
		n += (unsigned long long)r;
	}
	printf("received %llu bytes; %.1f MB/s\n", n, (double)n / tu_since_s(t0) / 1e6);
	fflush(stdout); /* tu_fork's child leaves by _exit, which does not flush */
	return r < 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return fputs("usage: tcp-baseline FILE [CHUNK]\n", stderr), 2;
	size_t chunk = argc > 2 ? strtoull(argv[2], NULL, 10) : 65536;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0)
		return perror("listen"), 1;
	struct rx x = { l, malloc(chunk), chunk };
	char *buf = x.buf;
	pid_t rx = tu_fork(receive, &x);
	if (rx < 0)
		return perror("fork"), 1;
	close(l);
	int s = socket(AF_INET, SOCK_STREAM, 0), in = open(argv[1], O_RDONLY);
	if (in < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return perror("connect"), 1;
	ssize_t r;
	while ((r = read(in, buf, chunk)) > 0)
		for (ssize_t off = 0; off < r;) {
			ssize_t w = send(s, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
			if (w <= 0)
				return perror("send"), 1;
			off += w;
		}
	close(s);
	return tu_reap(rx) != 0;
}
