/* SPDX-License-Identifier: MIT */
/*
 * prio-print: a kernel that prints the priority the supervisor gave each of
 * its inputs ("input I priority P") and finishes; supervisor-run.sh checks
 * that a topology's priorities reach the kernels.
 */
#include <stdio.h>

#include <shmring/kernel.h>

int main(void)
{
	struct shmring_kernel *k;
	if (shmring_kernel_attach(&k) < 0) {
		fprintf(stderr, "%s\n", shmring_errmsg());
		return SHMRING_EXIT_CONFIG;
	}
	for (unsigned i = 0; i < shmring_kernel_ninputs(k); i++)
		printf("input %u priority %d\n", i, shmring_kernel_input_priority(k, i));
	return shmring_kernel_detach(k);
}
