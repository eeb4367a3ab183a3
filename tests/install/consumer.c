/* Built out of tree against the installed library: one message round trip. */
#include <stdio.h>
#include <string.h>
#include <shmring/shmring.h>

int main(void)
{
	struct shmring *owner, *p, *c;
	char where[32], buf[16];
	if (shmring_create(NULL, NULL, &owner) < 0)
		return fprintf(stderr, "consumer: %s\n", shmring_errmsg()), 1;
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	if (shmring_attach(where, SHMRING_ROLE_PRODUCER, &p) < 0 ||
	    shmring_attach(where, SHMRING_ROLE_CONSUMER, &c) < 0)
		return fprintf(stderr, "consumer: %s\n", shmring_errmsg()), 1;
	if (shmring_send(p, "installed", 9, 0) < 0 || shmring_recv(c, buf, sizeof(buf), 0) != 9 ||
	    memcmp(buf, "installed", 9) != 0)
		return fprintf(stderr, "consumer: round trip failed\n"), 1;
	printf("installed libshmring %d.%d works\n", SHMRING_VERSION_MAJOR, SHMRING_VERSION_MINOR);
	shmring_detach(c);
	shmring_detach(p);
	shmring_detach(owner);
	return 0;
}
