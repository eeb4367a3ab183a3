/* SPDX-License-Identifier: MIT */
/*
 * fuzz-control: the control segment module reading a segment whose bytes
 * come from the fuzzer, as discovery and shmring-stat read it (smr_ctl_attach
 * read-only, every entry through the checked accessors), then a kernel
 * attaching to it. Counts, indices, names and descriptors in it must all be
 * checked: attach either fails with an error or yields a usable kernel, and
 * whatever the accessors accept is within bounds (or this aborts).
 *
 * Input: the segment's content (its size is the input's). Two fields are
 * pinned so a run neither waits for an activation that never comes nor
 * writes to a descriptor of the fuzzer: state = ACTIVE, event_fd = -1.
 * SHMRING_KERNEL is the first byte of the input, mod 4.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmring/shmring.h>
#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A name the module accepted must be terminated and not empty. */
static void check_name(const char *name)
{
	size_t n = strnlen(name, SHMRING_CTL_NAME);
	if (n == 0 || n == SHMRING_CTL_NAME)
		abort();
}

/* Every kernel and ring the way shmring-stat walks them. */
static void read_segment(int fd)
{
	struct smr_ctl c;
	char why[320], name[SHMRING_CTL_NAME];
	if (smr_ctl_attach(fd, SMR_CTL_READ, "the control segment", &c, why, sizeof(why)) < 0)
		return;
	check_name(c.name);
	for (uint32_t i = 0; i < c.nkernels; i++) {
		/* Relaxed: a snapshot, like shmring-stat's. */
		(void)atomic_load_explicit(&smr_ctl_kernel(&c, i)->pid, memory_order_relaxed);
		if (smr_ctl_kernel_name(&c, i, name, why, sizeof(why)) == 0)
			check_name(name);
	}
	for (uint32_t i = 0; i < c.nrings; i++) {
		struct smr_ctl_ring r;
		if (smr_ctl_ring_get(&c, i, &r, why, sizeof(why)) < 0)
			continue;
		if (!smr_ctl_kernel(&c, r.from_kernel) || !smr_ctl_kernel(&c, r.to_kernel))
			abort();
		check_name(r.from_port);
		check_name(r.to_port);
	}
	if (smr_ctl_kernel(&c, c.nkernels))
		abort();
	smr_ctl_detach(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	int fd = memfd_create("shmring-ctl.fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	if (size >= SHMRING_CTL_HDR) {
		uint32_t active = SMR_TOPO_ACTIVE;
		int32_t none = -1;
		pwrite(fd, &active, sizeof(active), offsetof(struct smr_ctl_header, state));
		pwrite(fd, &none, sizeof(none), offsetof(struct smr_ctl_header, event_fd));
	}
	read_segment(fd);
	char v[32];
	snprintf(v, sizeof(v), "fd:%d", fd); /* attach closes it */
	setenv("SHMRING_CONTROL", v, 1);
	snprintf(v, sizeof(v), "%u", data[0] % 4u);
	setenv("SHMRING_KERNEL", v, 1);
	struct shmring_kernel *k;
	if (shmring_kernel_attach(&k) == 0) {
		shmring_kernel_port(k, "in");
		for (unsigned i = 0; shmring_kernel_input(k, i); i++)
			;
		shmring_kernel_should_stop(k);
		shmring_kernel_wait(k, 0);
		shmring_kernel_detach(k);
	}
	return 0;
}
