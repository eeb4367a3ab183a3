/* SPDX-License-Identifier: MIT */
/* The one /proc/PID/stat reader and the owner word: see private/proc.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

/* Fields 4 to 22 of a stat line, after "pid (comm) S": all numbers, some
 * signed (tpgid -1); strtoull takes a sign, and only the unsigned fields
 * 14, 15 and 22 are used. */
static int parse_fields(const char *p, struct smr_proc_stat *st)
{
	uint64_t v[23];
	for (int f = 4; f <= 22; f++) {
		char *end;
		errno = 0;
		v[f] = strtoull(p, &end, 10);
		if (end == p || errno)
			return -EBADMSG;
		p = end;
	}
	st->cpu_ticks = v[14] + v[15];
	st->start_ticks = v[22];
	return 0;
}

int smr_proc_stat(pid_t pid, struct smr_proc_stat *st)
{
	/* 52 fields of at most 20 digits, and comm of at most 64 bytes: the
	 * fields up to 22 always fit. */
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return e == ESRCH ? -ENOENT : -e; /* it ended between open and read */
	buf[n] = '\0';
	/* comm (field 2) may hold spaces and parentheses: the fields go on
	 * after the last ')', as " S 4th 5th ..." */
	const char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
		return -EBADMSG;
	st->state = p[2];
	return parse_fields(p + 3, st);
}

uint64_t smr_owner_word(pid_t pid)
{
	struct smr_proc_stat st;
	uint32_t start = smr_proc_stat(pid, &st) == 0 ? (uint32_t)st.start_ticks : 0;
	return (uint64_t)(uint32_t)pid << 32 | start;
}
