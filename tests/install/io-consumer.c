/* SPDX-License-Identifier: MIT */
/*
 * Built out of tree against the installed libshmring-io (io.h): a kernel
 * that writes one line to its stdout through its io_uring. Run it under
 * shmring-supervisor (run -e io-consumer); alone it says why it cannot run.
 */
#include <stdio.h>
#include <string.h>
#include <shmring/io.h>

int main(void)
{
	static const char line[] = "installed libshmring-io works\n";
	struct shmring_kernel *k;
	struct shmring_io *io;
	struct shmring_io_done d;
	if (shmring_kernel_attach(&k) < 0 || shmring_io_init(k, 4, &io) < 0)
		return fprintf(stderr, "io-consumer: %s\n", shmring_errmsg()), 1;
	if (shmring_io_write(io, 1, line, strlen(line), -1, 7) < 0 ||
	    shmring_io_wait(io, 10000) <= 0 || shmring_io_complete(io, &d) != 1 ||
	    d.tag != 7 || d.res != (int32_t)strlen(line))
		return fprintf(stderr, "io-consumer: the write did not complete\n"), 1;
	return shmring_kernel_detach(k);
}
