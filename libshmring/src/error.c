/* SPDX-License-Identifier: MIT */
/* One human-readable line per thread for the last cold-path error. */
#include <stdarg.h>
#include <stdio.h>

#include "ring_internal.h"

static _Thread_local char errbuf[256];

void smr_seterr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
}

const char *shmring_errmsg(void)
{
	return errbuf;
}
