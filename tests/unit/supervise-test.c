/* SPDX-License-Identifier: MIT */
/* The restart state machine: classification, policies, strategies, intensity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <shmring/kernel.h>

#include "supervise.h"
#include "topology.h"

#define EXIT_STATUS(code) ((code) << 8)  /* as waitpid reports exit(code) */
#define SIGNAL_STATUS(sig) (sig)         /* killed by sig, no core */

static void exits_are_classified(void **s)
{
	(void)s;
	assert_int_equal(sv_classify(EXIT_STATUS(0), 1), SV_FINISHED);
	assert_int_equal(sv_classify(EXIT_STATUS(0), 0), SV_NORMAL);
	assert_int_equal(sv_classify(EXIT_STATUS(1), 0), SV_FAILED);
	/* finished but failing exit: a failure */
	assert_int_equal(sv_classify(EXIT_STATUS(3), 1), SV_FAILED);
	assert_int_equal(sv_classify(SIGNAL_STATUS(9), 0), SV_FAILED);
	assert_int_equal(sv_classify(SIGNAL_STATUS(11), 1), SV_FAILED);
	/* the macros above mean what waitpid means */
	assert_true(WIFEXITED(EXIT_STATUS(1)) && WEXITSTATUS(EXIT_STATUS(1)) == 1);
	assert_true(WIFSIGNALED(SIGNAL_STATUS(9)) && WTERMSIG(SIGNAL_STATUS(9)) == 9);
}

/* SHMRING_EXIT_CONFIG: bad usage or configuration, never restarted. */
static void config_exit_is_never_restarted(void **s)
{
	(void)s;
	assert_int_equal(SHMRING_EXIT_CONFIG, 78);
	assert_int_equal(sv_classify(EXIT_STATUS(SHMRING_EXIT_CONFIG), 0), SV_CONFIG);
	/* also after a detach: the status says what went wrong */
	assert_int_equal(sv_classify(EXIT_STATUS(SHMRING_EXIT_CONFIG), 1), SV_CONFIG);
	/* 77 and 79 are ordinary failures; a signal is never a config error */
	assert_int_equal(sv_classify(EXIT_STATUS(77), 0), SV_FAILED);
	assert_int_equal(sv_classify(EXIT_STATUS(79), 0), SV_FAILED);
	assert_int_equal(sv_classify(SIGNAL_STATUS(SHMRING_EXIT_CONFIG & 0x7f), 0), SV_FAILED);
	/* whatever the policy */
	assert_false(sv_should_restart(TOPO_PERMANENT, SV_CONFIG));
	assert_false(sv_should_restart(TOPO_TRANSIENT, SV_CONFIG));
	assert_false(sv_should_restart(TOPO_TEMPORARY, SV_CONFIG));
}

static void ready_deadline_is_the_files_or_scales_with_kernels(void **s)
{
	(void)s;
	/* supervision.ready wins, however many kernels */
	assert_int_equal(sv_ready_deadline_ms(500, 1), 500);
	assert_int_equal(sv_ready_deadline_ms(500, 1000), 500);
	/* else 10 s plus 20 ms a kernel: 1000 kernels get 30 s */
	assert_int_equal(sv_ready_deadline_ms(0, 0), SV_READY_BASE_MS);
	assert_int_equal(sv_ready_deadline_ms(0, 3), 10060);
	assert_int_equal(sv_ready_deadline_ms(0, 1000), 30000);
	assert_true(sv_ready_deadline_ms(0, 1024) > sv_ready_deadline_ms(0, 100));
}

static void ring_counts_never_wrap_and_spot_a_scribble(void **s)
{
	(void)s;
	struct sv_ring_counts c;
	const uint64_t cap = 1 << 20;
	/* consistent: 10 left in a ring that holds something */
	assert_int_equal(sv_ring_counts(1000, 990, 3, 160, cap, 2, &c), SV_COUNTS_OK);
	assert_int_equal(c.messages, 1000);
	assert_int_equal(c.left, 10);
	assert_int_equal(c.redelivered, 3);
	/* the counts differ but the ring is empty: the consumer's count lags,
	 * nothing was left */
	assert_int_equal(sv_ring_counts(1000, 990, 0, 0, cap, 2, &c), SV_COUNTS_OK);
	assert_int_equal(c.left, 0);
	/* the case: a killed producer's count lags by 6; printed as
	 * in - out this was 18446744073709551610 "never consumed" */
	assert_int_equal(sv_ring_counts(1000, 1006, 6, 0, cap, 7, &c), SV_COUNTS_LAG);
	assert_int_equal(c.messages, 1006);
	assert_int_equal(c.lag, 6);
	assert_int_equal(c.left, 0);
	/* a scribble: counters out of any plausible range */
	assert_int_equal(sv_ring_counts(UINT64_MAX, 10, 0, 0, cap, 2, &c), SV_COUNTS_CORRUPT);
	assert_int_equal(sv_ring_counts(10, UINT64_MAX, 0, 0, cap, 2, &c), SV_COUNTS_CORRUPT);
	assert_int_equal(sv_ring_counts(10, 10, UINT64_MAX, 0, cap, 2, &c), SV_COUNTS_CORRUPT);
	assert_int_equal(sv_ring_counts(SV_COUNTS_MAX + 1, SV_COUNTS_MAX + 1, 0, 0, cap, 2, &c),
			 SV_COUNTS_CORRUPT);
	/* more out than in, by more than kills can explain */
	assert_int_equal(sv_ring_counts(10, 10 + cap, 0, 0, cap, 2, &c), SV_COUNTS_CORRUPT);
	/* more in than out by more than the ring holds */
	assert_int_equal(sv_ring_counts(10 + 4 * cap, 10, 0, 4096, cap, 2, &c), SV_COUNTS_CORRUPT);
	/* a fill above the capacity */
	assert_int_equal(sv_ring_counts(10, 10, 0, cap + 1, cap, 2, &c), SV_COUNTS_CORRUPT);
	/* whatever the input, no field ever holds a wrapped-around value */
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 100000; i++) {
		uint64_t v[4];
		for (int j = 0; j < 4; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
			v[j] = (i & 1) ? x : x % 5000;
		}
		enum sv_counts how = sv_ring_counts(v[0], v[1], v[2] % 100, v[3] % (cap + 2), cap,
						    (unsigned)(i % 5), &c);
		if (how == SV_COUNTS_CORRUPT)
			continue;
		assert_true(c.messages <= SV_COUNTS_MAX && c.left <= c.messages &&
			    c.lag <= c.messages && c.redelivered <= SV_COUNTS_MAX);
		assert_true(how == SV_COUNTS_LAG ? v[1] > v[0] : v[0] >= v[1]);
	}
}

static void policies_follow_otp_and_never_restart_finished(void **s)
{
	(void)s;
	/* permanent: always, transient: on failure, temporary: never */
	assert_true(sv_should_restart(TOPO_PERMANENT, SV_FAILED));
	assert_true(sv_should_restart(TOPO_PERMANENT, SV_NORMAL));
	assert_true(sv_should_restart(TOPO_TRANSIENT, SV_FAILED));
	assert_false(sv_should_restart(TOPO_TRANSIENT, SV_NORMAL));
	assert_false(sv_should_restart(TOPO_TEMPORARY, SV_FAILED));
	assert_false(sv_should_restart(TOPO_TEMPORARY, SV_NORMAL));
	/* a kernel that finished its stream stays finished, whatever its policy */
	assert_false(sv_should_restart(TOPO_PERMANENT, SV_FINISHED));
	assert_false(sv_should_restart(TOPO_TRANSIENT, SV_FINISHED));
	assert_false(sv_should_restart(TOPO_TEMPORARY, SV_FINISHED));
}

/* kernels 0..4; graph order 0 3 1 4 2 (not file order, on purpose) */
static const size_t order[5] = { 0, 3, 1, 4, 2 };

static void one_for_one_takes_the_failed_kernel_only(void **s)
{
	(void)s;
	int done[5] = { 0 }, m[5];
	sv_restart_set(TOPO_ONE_FOR_ONE, 5, order, done, 1, m);
	int want[5] = { 0, 1, 0, 0, 0 };
	assert_memory_equal(m, want, sizeof(m));
}

static void one_for_all_takes_every_kernel_not_done(void **s)
{
	(void)s;
	int done[5] = { 0, 0, 1, 0, 0 }, m[5];
	sv_restart_set(TOPO_ONE_FOR_ALL, 5, order, done, 3, m);
	int want[5] = { 1, 1, 0, 1, 1 };
	assert_memory_equal(m, want, sizeof(m));
}

static void rest_for_one_takes_those_after_it_in_graph_order(void **s)
{
	(void)s;
	int done[5] = { 0 }, m[5];
	/* 3 fails: after it in graph order come 1, 4, 2; 0 is before */
	sv_restart_set(TOPO_REST_FOR_ONE, 5, order, done, 3, m);
	int want[5] = { 0, 1, 1, 1, 1 };
	assert_memory_equal(m, want, sizeof(m));
	/* the last in graph order takes only itself; done kernels are skipped */
	sv_restart_set(TOPO_REST_FOR_ONE, 5, order, done, 2, m);
	int want2[5] = { 0, 0, 1, 0, 0 };
	assert_memory_equal(m, want2, sizeof(m));
	int done2[5] = { 0, 0, 0, 0, 1 };
	sv_restart_set(TOPO_REST_FOR_ONE, 5, order, done2, 1, m);
	int want3[5] = { 0, 1, 1, 0, 0 };
	assert_memory_equal(m, want3, sizeof(m));
}

static void intensity_allows_max_restarts_per_period(void **s)
{
	(void)s;
	const uint64_t sec = 1000000000ull;
	struct sv_intensity in;
	assert_int_equal(sv_intensity_init(&in, 3, 10 * sec), 0);
	/* three restarts within 10 s are allowed, the fourth is one too many */
	assert_int_equal(sv_intensity_record(&in, 100 * sec), 0);
	assert_int_equal(sv_intensity_record(&in, 101 * sec), 0);
	assert_int_equal(sv_intensity_record(&in, 102 * sec), 0);
	assert_int_equal(sv_intensity_recent(&in, 102 * sec), 3);
	assert_int_equal(sv_intensity_record(&in, 103 * sec), 1);
	sv_intensity_free(&in);

	/* restarts spread wider than the period never trip it */
	assert_int_equal(sv_intensity_init(&in, 2, 10 * sec), 0);
	for (uint64_t t = 0; t < 100; t++)
		assert_int_equal(sv_intensity_record(&in, t * 6 * sec), 0);
	/* old ones fall out of the window */
	assert_int_equal(sv_intensity_recent(&in, 99 * 6 * sec), 2);
	assert_int_equal(sv_intensity_recent(&in, 99 * 6 * sec + 11 * sec), 0);
	sv_intensity_free(&in);

	/* intensity 0: the first restart already stops the topology */
	assert_int_equal(sv_intensity_init(&in, 0, 10 * sec), 0);
	assert_int_equal(sv_intensity_record(&in, sec), 1);
	sv_intensity_free(&in);
}

static void graph_order_is_breadth_first_from_sources(void **s)
{
	(void)s;
	static const char yaml[] =
		"topology: t\n"
		"kernels:\n"
		"  - { name: sink, exec: /bin/true, inputs: [a, b] }\n"
		"  - { name: mid, exec: /bin/true, inputs: [in], outputs: [out] }\n"
		"  - { name: src, exec: /bin/true, outputs: [x, y] }\n"
		"rings:\n"
		"  - { from: src.x, to: mid.in }\n"
		"  - { from: src.y, to: sink.b }\n"
		"  - { from: mid.out, to: sink.a }\n";
	struct topology *t;
	char err[256];
	assert_int_equal(topo_parse("t.yaml", yaml, sizeof(yaml) - 1, &t, err, sizeof(err)), 0);
	size_t o[3];
	assert_int_equal(topo_graph_order(t, o), 0);
	assert_int_equal(o[0], 2); /* src */
	assert_int_equal(o[1], 1); /* mid: src's first ring */
	assert_int_equal(o[2], 0); /* sink */
	topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exits_are_classified),
		cmocka_unit_test(policies_follow_otp_and_never_restart_finished),
		cmocka_unit_test(config_exit_is_never_restarted),
		cmocka_unit_test(ready_deadline_is_the_files_or_scales_with_kernels),
		cmocka_unit_test(ring_counts_never_wrap_and_spot_a_scribble),
		cmocka_unit_test(one_for_one_takes_the_failed_kernel_only),
		cmocka_unit_test(one_for_all_takes_every_kernel_not_done),
		cmocka_unit_test(rest_for_one_takes_those_after_it_in_graph_order),
		cmocka_unit_test(intensity_allows_max_restarts_per_period),
		cmocka_unit_test(graph_order_is_breadth_first_from_sources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
