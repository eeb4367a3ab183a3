/* SPDX-License-Identifier: MIT */
/* Umbrella header: everything public in libshmring. */
#ifndef SHMRING_SHMRING_H
#define SHMRING_SHMRING_H

#include <shmring/ring.h>
#include <shmring/kernel.h>
#include <shmring/bcast.h>

#endif
