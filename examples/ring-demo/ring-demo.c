/* SPDX-License-Identifier: MIT */
/*
 * ring-demo: the smallest real use of a shmring. The parent creates an
 * anonymous ring and forks; the child execs nothing and is the consumer,
 * the parent produces N numbered messages zero-copy, closes, and both report.
 *
 *   ring-demo [COUNT]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmring/ring.h>

static int consume(const char *where)
{
	struct shmring *in;
	int rc = shmring_attach(where, SHMRING_ROLE_CONSUMER, &in);
	if (rc < 0) {
		fprintf(stderr, "ring-demo: consumer: %s\n", shmring_errmsg());
		return 1;
	}
	unsigned long long n = 0, sum = 0;
	const void *msg;
	size_t len;
	while ((rc = shmring_peek(in, &msg, &len, 1000)) > 0) {
		unsigned long long v;
		memcpy(&v, msg, sizeof(v));
		if (v != n) {
			fprintf(stderr, "ring-demo: expected message %llu, got %llu\n", n, v);
			shmring_detach(in);
			return 1;
		}
		sum += v;
		n++;
		shmring_release(in);
	}
	if (rc < 0) {
		fprintf(stderr, "ring-demo: consumer: %s\n", strerror(-rc));
		shmring_detach(in);
		return 1;
	}
	printf("consumer: received %llu messages in order, sum %llu, end of stream\n", n, sum);
	shmring_detach(in);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long count = 1000000;
	if (argc > 2 || (argc == 2 && !strcmp(argv[1], "--help"))) {
		fprintf(argc > 2 ? stderr : stdout, "usage: ring-demo [COUNT]\n");
		return argc > 2 ? 100 : 0;
	}
	if (argc == 2) {
		char *end;
		errno = 0;
		count = strtoull(argv[1], &end, 10);
		if (errno || *end || end == argv[1] || count == 0 || argv[1][0] < '0' ||
		    argv[1][0] > '9') { /* strtoull would wrap "-5" around */
			fprintf(stderr, "ring-demo: COUNT must be a positive integer, not '%s'\n",
				argv[1]);
			return 100;
		}
	}
	struct shmring_opts opts;
	struct shmring *ring, *out;

	shmring_opts_init(&opts);
	opts.capacity = 64 * 1024;
	if (shmring_create(NULL, &opts, &ring) < 0) {
		fprintf(stderr, "ring-demo: %s\n", shmring_errmsg());
		return 1;
	}
	char where[32];
	snprintf(where, sizeof(where), "fd:%d", shmring_fd(ring));

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("ring-demo: fork");
		shmring_detach(ring);
		return 1;
	}
	if (pid == 0) {
		int code = consume(where);
		fflush(NULL); /* _exit does not flush stdio */
		_exit(code);
	}

	int ok = 1, status;
	if (shmring_attach(where, SHMRING_ROLE_PRODUCER, &out) < 0) {
		fprintf(stderr, "ring-demo: producer: %s\n", shmring_errmsg());
		shmring_detach(ring); /* the consumer gives up after its 1 s wait */
		waitpid(pid, &status, 0);
		return 1;
	}
	for (unsigned long long i = 0; i < count && ok; i++) {
		void *buf;
		int rc = shmring_reserve(out, 64, &buf, 5000);
		if (rc < 0) {
			fprintf(stderr, "ring-demo: producer: %s\n", strerror(-rc));
			ok = 0;
			break;
		}
		memcpy(buf, &i, sizeof(i));
		shmring_commit(out, 64);
	}
	shmring_close(out);
	if (ok)
		printf("producer: sent %llu messages of 64 bytes\n", count);

	waitpid(pid, &status, 0);
	struct shmring_stats st;
	shmring_stats(ring, &st);
	printf("ring: %llu in, %llu out, highest fill %llu of %llu bytes, "
	       "%llu full / %llu empty events, %llu + %llu futex sleeps\n",
	       (unsigned long long)st.msgs_in, (unsigned long long)st.msgs_out,
	       (unsigned long long)st.high_fill, (unsigned long long)st.capacity,
	       (unsigned long long)st.full_events, (unsigned long long)st.empty_events,
	       (unsigned long long)st.producer_sleeps, (unsigned long long)st.consumer_sleeps);
	shmring_detach(out);
	shmring_detach(ring);
	return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
