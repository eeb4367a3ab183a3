/* SPDX-License-Identifier: MIT */
/*
 * shmring-tcp-source: receive frames (32-bit little-endian length, then the
 * message) from one TCP connection and commit each as a message of "out";
 * when the peer closes at a frame boundary, finish (end of stream).
 *
 * Zero-copy: the payload is received by io_uring straight into space
 * reserved in the ring. Back-pressure: nothing is received while the ring
 * has no room, so the socket buffer fills and the sender waits. A peer that
 * closes inside a frame, or a frame larger than the ring's largest message,
 * ends the kernel with one line; what was complete before is delivered.
 *
 * Restarts (kernel.h, "Exactly once"): after each frame it checkpoints the
 * bytes and frames forwarded. A TCP stream cannot be rewound: the frames
 * the ring holds are delivered once, but the bytes in flight at a crash
 * (in the socket buffers, or a frame half received) die with the
 * connection, and are the peer's to resend when it reconnects. A restarted
 * source says so in one line, with the bytes delivered so far, and
 * publishes a checkpoint before its first frame: the frames of the new
 * connection are new, never taken for re-sends of its predecessor's (which
 * the library drops for a source that repeats itself, kernel.h).
 *
 * Exit status (util.h): 78 for a usage or configuration error (bad
 * arguments, an address that does not resolve or a port that cannot be
 * taken, no port "out", a frame larger than the ring's largest message), 1
 * for a failure a restart may cure (the peer closed inside a frame or sent
 * an empty one), 0 when finished or stopped.
 */
#define _GNU_SOURCE
#include <assert.h>

#include "net.h"

#define USAGE "shmring-tcp-source --listen [HOST:]PORT | --connect HOST:PORT   (a kernel: run it with shmring-supervisor)"

/* Receive exactly len bytes: len, 0 at EOF before any byte, -EPIPE at EOF
 * in the middle, -ECANCELED on a stop, or the error. */
static int recv_all(struct shmring_io *io, int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		shmring_io_recv(io, fd, (char *)buf + done, len - done, 1);
		int n = k_io_result(io, 1);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0)
			return n;
		if (n == 0)
			return done ? -EPIPE : 0;
		done += (size_t)n;
	}
	return (int)len;
}

/* What a restart resumes from (k_restore). */
struct rx_state {
	uint64_t bytes; /* forwarded to the ring */
	uint64_t msgs;
};
static_assert(sizeof(struct rx_state) == 16, "a fixed layout, no padding");

/*
 * The counts a predecessor left, and a checkpoint published at once: the
 * sends after it belong to a generation no predecessor sent in. Its last
 * frame may have been committed after its last checkpoint: it is
 * delivered, and not counted here (one frame at most).
 */
static void resume(struct shmring_kernel *k, struct rx_state *st)
{
	if (k_restore(k, st, sizeof(*st)))
		printf("resumed after %llu bytes in %llu messages delivered; bytes in flight at the "
		       "crash died with the connection: the peer must resend them\n",
		       (unsigned long long)st->bytes, (unsigned long long)st->msgs);
	k_checkpoint(k, st, sizeof(*st));
}

int main(int argc, char **argv)
{
	struct net net;
	net_prepare(&net, argc, argv, USAGE);
	struct shmring_kernel *k;
	struct shmring *out = net_attach_port(&net, "out", &k);
	struct shmring_io *io = k_io(k);
	struct rx_state st = { 0, 0 };
	resume(k, &st);
	int fd = net_open(io, &net);
	if (fd == -ECANCELED)
		return shmring_kernel_detach(k);
	int rc = 0;
	for (;;) {
		/* Every frame: a sender that keeps up never lets the receive
		 * wait, where a stop is noticed too. */
		if (shmring_kernel_should_stop(k))
			goto stopped;
		unsigned char hdr[NET_HDR];
		int r = recv_all(io, fd, hdr, sizeof(hdr));
		if (r == 0)
			break; /* clean end */
		if (r == -ECANCELED)
			goto stopped;
		if (r < 0) {
			fprintf(stderr, "the peer %s after %llu messages\n",
				r == -EPIPE ? "closed the connection in the middle of a frame header"
					    : strerror(-r), (unsigned long long)st.msgs);
			rc = 1;
			break;
		}
		uint32_t len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
			       (uint32_t)hdr[3] << 24;
		if (len > shmring_max_message(out)) {
			close(fd);
			k_config("frame %llu is %u bytes, more than the ring's largest message (%zu): "
				 "use a larger ring or smaller frames", (unsigned long long)st.msgs, len,
				 shmring_max_message(out));
		}
		if (len == 0) {
			fprintf(stderr, "frame %llu is empty: the peer does not speak the framing "
				"(a 32-bit little-endian length of 1 or more, then the message)\n",
				(unsigned long long)st.msgs);
			rc = 1;
			break;
		}
		void *buf;
		/* A consumer that died: its successor takes the ring over. */
		while ((r = shmring_reserve(out, len, &buf, -1)) == -EOWNERDEAD)
			;
		if (r == -ECANCELED)
			goto stopped;
		if (r < 0) {
			fprintf(stderr, "%s after %llu messages\n", r == -EPIPE ? "the consumer closed the ring"
				: strerror(-r), (unsigned long long)st.msgs);
			rc = 1;
			break;
		}
		r = recv_all(io, fd, buf, len);
		if (r == -ECANCELED)
			goto stopped;
		if (r != (int)len) {
			fprintf(stderr, "the peer %s after %llu messages: the partial frame is dropped\n",
				r == 0 || r == -EPIPE ? "closed the connection in the middle of a frame"
						      : strerror(-r), (unsigned long long)st.msgs);
			rc = 1;
			break;
		}
		shmring_commit(out, len);
		st.msgs++;
		st.bytes += len;
		k_checkpoint(k, &st, sizeof(st)); /* after the send, as a source does */
	}
stopped:
	close(fd);
	printf("received %llu messages, %llu bytes\n", (unsigned long long)st.msgs,
	       (unsigned long long)st.bytes);
	return rc ? rc : shmring_kernel_detach(k); /* failed: ports left open (util.h) */
}
