/* SPDX-License-Identifier: MIT */
/*
 * bcast-ring NAME SECONDS: make a named broadcast ring of 3 consumers (the
 * last one `drop`), send 5 messages, let consumer 0 read 2 of them, print
 * "ready", and hold everything for SECONDS; then remove the ring. stat.sh
 * checks that shmring-stat shows the ring and a row per consumer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <shmring/bcast.h>

static int fail(const char *what)
{
	fprintf(stderr, "bcast-ring: %s: %s\n", what, shmring_errmsg());
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: bcast-ring NAME SECONDS\n"), 100;
	struct shmring_bcast_opts b = { .consumers = 3 };
	b.policy[2] = SHMRING_BCAST_DROP;
	struct shmring_opts o;
	shmring_opts_init(&o);
	o.capacity = 64 << 10;
	o.role = SHMRING_ROLE_PRODUCER;
	struct shmring *p, *c0;
	if (shmring_bcast_create(argv[1], &o, &b, &p) < 0)
		return fail("create");
	for (int i = 0; i < 5; i++)
		if (shmring_send(p, "0123456789abcdef", 16, 0) < 0)
			return fail("send");
	if (shmring_bcast_attach(argv[1], SHMRING_ROLE_CONSUMER, 0, &c0) < 0)
		return fail("attach consumer 0");
	char buf[16];
	for (int i = 0; i < 2; i++)
		if (shmring_recv(c0, buf, sizeof(buf), 0) != 16)
			return fail("recv");
	printf("ready\n");
	fflush(stdout);
	sleep((unsigned)atoi(argv[2]));
	shmring_detach(c0);
	shmring_detach(p);
	shmring_unlink(argv[1]);
	return 0;
}
