/* SPDX-License-Identifier: MIT */
/*
 * fuzz-attach: a segment whose bytes come from the fuzzer, attached and read
 * the way a consumer or producer would. Nothing read from shared memory may
 * make the library crash, read or write outside the mapping, or loop: every
 * inconsistency must come back as an error code.
 *
 * Input: byte 0 picks the mode, the rest is segment content.
 *   mode 0: the rest overwrites the header from offset 0 (attach validation)
 *   mode 1: the identity stays valid; 16 bytes set head and tail, the rest
 *           becomes the data area (record parsing, index checks)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <shmring/ring.h>
#include "layout.h"

#define CAP 4096u

static void exercise(const char *where)
{
	struct shmring *c, *p, *o;
	if (shmring_attach(where, SHMRING_ROLE_OBSERVER, &o) == 0) {
		struct shmring_stats st;
		shmring_stats(o, &st);
		shmring_detach(o);
	}
	if (shmring_attach(where, SHMRING_ROLE_CONSUMER, &c) == 0) {
		volatile uint8_t sink = 0;
		for (int i = 0; i < 64; i++) {
			const void *m;
			size_t len;
			if (shmring_peek(c, &m, &len, 0) <= 0)
				break;
			for (size_t k = 0; k < len; k++) /* every byte must be mapped */
				sink ^= ((const uint8_t *)m)[k];
			shmring_release(c);
		}
		(void)sink;
		shmring_detach(c);
	}
	if (shmring_attach(where, SHMRING_ROLE_PRODUCER, &p) == 0) {
		for (int i = 0; i < 64; i++) {
			void *w;
			size_t len = 1 + (size_t)i * 61 % (CAP / 2 - 8);
			if (shmring_reserve(p, len, &w, 0) < 0)
				break;
			memset(w, 0xa5, len); /* every byte must be writable, in bounds */
			shmring_commit(p, len);
		}
		shmring_detach(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 1)
		return 0;
	int mode = d[0] & 1;
	d++, n--;
	struct shmring_opts opts;
	struct shmring *owner;
	shmring_opts_init(&opts);
	opts.capacity = CAP;
	if (shmring_create(NULL, &opts, &owner) < 0)
		return 0;
	uint8_t *m = mmap(NULL, SHMRING_DATA_OFFSET + CAP, PROT_READ | PROT_WRITE, MAP_SHARED,
			  shmring_fd(owner), 0);
	if (m == MAP_FAILED) {
		shmring_detach(owner);
		return 0;
	}
	if (mode == 0) {
		memcpy(m, d, n < SHMRING_DATA_OFFSET ? n : SHMRING_DATA_OFFSET);
	} else {
		struct smr_header *h = (struct smr_header *)m;
		uint64_t head = 0, tail = 0;
		if (n >= 16) {
			memcpy(&head, d, 8);
			memcpy(&tail, d + 8, 8);
			d += 16, n -= 16;
		}
		/* keep the indices near each other often enough to get past them */
		atomic_store(&h->head.pos, head % (4 * CAP));
		atomic_store(&h->tail.pos, tail % (4 * CAP));
		memcpy(m + SHMRING_DATA_OFFSET, d, n < CAP ? n : CAP);
	}
	char where[32];
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(owner));
	exercise(where);
	munmap(m, SHMRING_DATA_OFFSET + CAP);
	shmring_detach(owner);
	return 0;
}
