/* SPDX-License-Identifier: MIT */
/*
 * fuzz-control: a kernel attaching to a control segment whose bytes come from
 * the fuzzer. Counts, indices, names and descriptors in it must all be
 * checked: attach either fails with an error or yields a usable kernel.
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
