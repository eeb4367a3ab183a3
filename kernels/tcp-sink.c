/* SPDX-License-Identifier: MIT */
/*
 * shmring-tcp-sink: send every message of "in" over one TCP connection as a
 * frame (32-bit little-endian length, then the message), until end of
 * stream; then shut the connection down and finish.
 *
 * Zero-copy: io_uring sends straight from the ring; a message is released
 * only when all of it was sent, so back-pressure from the peer (a full
 * socket buffer) holds the ring, which holds its producer. A peer that
 * closes or resets ends the kernel with one line and exit 1.
 *
 * Exit status (util.h): 78 for a usage or configuration error (bad
 * arguments, an address that does not resolve, no port "in"), 1 for a
 * failure a restart may cure (the peer is not listening, or went away), 0
 * when finished or stopped.
 */
#define _GNU_SOURCE
#include "net.h"

#define USAGE "shmring-tcp-sink --connect HOST:PORT | --listen [HOST:]PORT   (a kernel: run it with shmring-supervisor)"

/* Send all of buf; 0, -ECANCELED on a stop, or the error. */
static int send_all(struct shmring_io *io, int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		shmring_io_send(io, fd, (const char *)buf + done, len - done, 1);
		int n = k_io_result(io, 1);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n <= 0)
			return n ? n : -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct net net;
	net_prepare(&net, argc, argv, USAGE);
	struct shmring_kernel *k;
	struct shmring *in = net_attach_port(&net, "in", &k);
	struct shmring_io *io = k_io(k);
	int fd = net_open(io, &net);
	if (fd == -ECANCELED)
		return shmring_kernel_detach(k);
	uint64_t msgs = 0, bytes = 0;
	int rc = 0, finished = 0;
	for (;;) {
		const void *m;
		size_t len;
		int r = k_next(k, in, &m, &len);
		if (r == -ECANCELED)
			break; /* stop */
		if (r == 0) {
			finished = 1;
			break;
		}
		if (r < 0) {
			rc = 1;
			break;
		}
		unsigned char hdr[NET_HDR] = { (unsigned char)len, (unsigned char)(len >> 8),
					       (unsigned char)(len >> 16), (unsigned char)(len >> 24) };
		if ((r = send_all(io, fd, hdr, sizeof(hdr))) == 0)
			r = send_all(io, fd, m, len);
		if (r == -ECANCELED)
			break;
		if (r < 0) {
			fprintf(stderr, "the peer closed the connection (%s) after %llu messages: "
				"the message in flight stays in the ring\n", strerror(-r),
				(unsigned long long)msgs);
			rc = 1;
			break;
		}
		shmring_release(in);
		msgs++;
		bytes += len;
	}
	if (finished)
		shutdown(fd, SHUT_WR);
	close(fd);
	printf("sent %llu messages, %llu bytes\n", (unsigned long long)msgs, (unsigned long long)bytes);
	return rc ? rc : shmring_kernel_detach(k); /* failed: ports left open (util.h) */
}
