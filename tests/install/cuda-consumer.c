/* SPDX-License-Identifier: MIT */
/* Links the installed libshmring-cuda; says whether this machine has a GPU. */
#include <stdio.h>

#include <shmring/cuda.h>

int main(void)
{
	if (shmring_cuda_available())
		printf("installed libshmring-cuda works: a CUDA device is present\n");
	else
		printf("installed libshmring-cuda works: %s\n", shmring_cuda_errmsg());
	return 0;
}
