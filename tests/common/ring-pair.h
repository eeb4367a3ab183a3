/* SPDX-License-Identifier: MIT */
/*
 * ring-pair.h: an anonymous ring with both of its ends attached in this
 * process, the fixture of the tests that exercise the protocol without a
 * second process (ring-test, agent-test). Returns -errno like the library,
 * no cmocka: the caller asserts.
 */
#ifndef SHMRING_TEST_RING_PAIR_H
#define SHMRING_TEST_RING_PAIR_H

#include <stdio.h>

#include <shmring/ring.h>

struct tu_pair {
	struct shmring *owner, *prod, *cons;
};

/* Made with o (NULL: the documented defaults), then attached by its "fd:N"
 * as a kernel would. 0, or -errno with nothing left open. */
static inline int tu_pair_open(struct tu_pair *p, const struct shmring_opts *o)
{
	char where[32];
	p->owner = p->prod = p->cons = NULL;
	int rc = shmring_create(NULL, o, &p->owner);
	if (rc < 0)
		return rc;
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(p->owner));
	rc = shmring_attach(where, SHMRING_ROLE_PRODUCER, &p->prod);
	if (rc == 0)
		rc = shmring_attach(where, SHMRING_ROLE_CONSUMER, &p->cons);
	if (rc < 0) {
		shmring_detach(p->prod);
		shmring_detach(p->owner);
		p->owner = p->prod = NULL;
	}
	return rc;
}

static inline void tu_pair_close(struct tu_pair *p)
{
	shmring_detach(p->cons);
	shmring_detach(p->prod);
	shmring_detach(p->owner);
}

#endif
