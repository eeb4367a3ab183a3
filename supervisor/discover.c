/* SPDX-License-Identifier: MIT */
/* Finding running topologies through /proc: see discover.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "discover.h"

static int numeric(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

int topo_open_control(const struct running_topo *rt)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)rt->pid, rt->fd);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Is this descriptor the control segment of a topology whose supervisor is
 * pid? Checks the header, trusting nothing in it. */
static int is_supervisor_control(struct running_topo *rt)
{
	int fd = topo_open_control(rt);
	if (fd < 0)
		return 0;
	struct stat st;
	int ok = 0;
	if (fstat(fd, &st) == 0 && st.st_size >= (off_t)SHMRING_CTL_HDR) {
		const struct smr_ctl_header *h = mmap(NULL, SHMRING_CTL_HDR, PROT_READ, MAP_SHARED, fd, 0);
		if (h != MAP_FAILED) {
			ok = h->magic == SHMRING_CTL_MAGIC &&
			     atomic_load_explicit(&h->version, memory_order_acquire) == SHMRING_CTL_VERSION &&
			     (pid_t)(h->supervisor >> 32) == rt->pid && smr_ctl_name_ok(h->name) &&
			     !strcmp(h->name, rt->name);
			munmap((void *)h, SHMRING_CTL_HDR);
		}
	}
	close(fd);
	return ok;
}

int topo_find_running(const char *name, struct running_topo *out, size_t max)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return -errno;
	const char *prefix = "/memfd:" SHMRING_CTL_MEMFD_PREFIX;
	size_t plen = strlen(prefix);
	int found = 0;
	struct dirent *pe;
	while ((pe = readdir(proc))) {
		if (!numeric(pe->d_name))
			continue;
		char dpath[300];
		snprintf(dpath, sizeof(dpath), "/proc/%s/fd", pe->d_name);
		DIR *fds = opendir(dpath);
		if (!fds)
			continue; /* another user's, or gone */
		struct dirent *fe;
		while ((fe = readdir(fds))) {
			if (!numeric(fe->d_name))
				continue;
			char lpath[600], target[128];
			snprintf(lpath, sizeof(lpath), "%s/%s", dpath, fe->d_name);
			ssize_t n = readlink(lpath, target, sizeof(target) - 1);
			if (n <= (ssize_t)plen)
				continue;
			target[n] = '\0';
			if (strncmp(target, prefix, plen))
				continue;
			struct running_topo rt = { .pid = atoi(pe->d_name), .fd = atoi(fe->d_name) };
			const char *nm = target + plen;
			size_t len = strcspn(nm, " ");
			if (len == 0 || len >= sizeof(rt.name))
				continue;
			memcpy(rt.name, nm, len);
			rt.name[len] = '\0';
			if (name && strcmp(name, rt.name))
				continue;
			if (!is_supervisor_control(&rt))
				continue;
			if ((size_t)found < max)
				out[found] = rt;
			found++;
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}
