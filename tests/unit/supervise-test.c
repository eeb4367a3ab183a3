/* SPDX-License-Identifier: MIT */
/* The restart state machine: the lifecycle table (every cell, and the docs'
 * copy), classification, policies, strategies, intensity; the end-of-run
 * summary's counts and lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* A ring's counters as shmring_stats gives them (the rest 0). */
static enum sv_counts counts(uint64_t in, uint64_t out, uint64_t redelivered, uint64_t fill,
			     uint64_t capacity, unsigned kills, struct sv_ring_counts *c)
{
	struct shmring_stats st = { .msgs_in = in, .msgs_out = out, .redelivered = redelivered,
				    .fill = fill, .capacity = capacity };
	return sv_ring_counts(&st, kills, c);
}

static void ring_counts_never_wrap_and_spot_a_scribble(void **s)
{
	(void)s;
	struct sv_ring_counts c;
	const uint64_t cap = 1 << 20;
	/* consistent: 10 left in a ring that holds something */
	assert_int_equal(counts(1000, 990, 3, 160, cap, 2, &c), SV_COUNTS_OK);
	assert_int_equal(c.messages, 1000);
	assert_int_equal(c.left, 10);
	assert_int_equal(c.redelivered, 3);
	/* the counts differ but the ring is empty: the consumer's count lags,
	 * nothing was left */
	assert_int_equal(counts(1000, 990, 0, 0, cap, 2, &c), SV_COUNTS_OK);
	assert_int_equal(c.left, 0);
	/* the case: a killed producer's count lags by 6; printed as
	 * in - out this was 18446744073709551610 "never consumed" */
	assert_int_equal(counts(1000, 1006, 6, 0, cap, 7, &c), SV_COUNTS_LAG);
	assert_int_equal(c.messages, 1006);
	assert_int_equal(c.lag, 6);
	assert_int_equal(c.left, 0);
	/* a scribble: counters out of any plausible range */
	assert_int_equal(counts(UINT64_MAX, 10, 0, 0, cap, 2, &c), SV_COUNTS_CORRUPT);
	assert_int_equal(counts(10, UINT64_MAX, 0, 0, cap, 2, &c), SV_COUNTS_CORRUPT);
	assert_int_equal(counts(10, 10, UINT64_MAX, 0, cap, 2, &c), SV_COUNTS_CORRUPT);
	assert_int_equal(counts(SV_COUNTS_MAX + 1, SV_COUNTS_MAX + 1, 0, 0, cap, 2, &c),
			 SV_COUNTS_CORRUPT);
	/* more out than in, by more than kills can explain */
	assert_int_equal(counts(10, 10 + cap, 0, 0, cap, 2, &c), SV_COUNTS_CORRUPT);
	/* more in than out by more than the ring holds */
	assert_int_equal(counts(10 + 4 * cap, 10, 0, 4096, cap, 2, &c), SV_COUNTS_CORRUPT);
	/* a fill above the capacity */
	assert_int_equal(counts(10, 10, 0, cap + 1, cap, 2, &c), SV_COUNTS_CORRUPT);
	/* whatever the input, no field ever holds a wrapped-around value */
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 100000; i++) {
		uint64_t v[4];
		for (int j = 0; j < 4; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
			v[j] = (i & 1) ? x : x % 5000;
		}
		enum sv_counts how = counts(v[0], v[1], v[2] % 100, v[3] % (cap + 2), cap,
					    (unsigned)(i % 5), &c);
		if (how == SV_COUNTS_CORRUPT)
			continue;
		assert_true(c.messages <= SV_COUNTS_MAX && c.left <= c.messages &&
			    c.lag <= c.messages && c.redelivered <= SV_COUNTS_MAX);
		assert_true(how == SV_COUNTS_LAG ? v[1] > v[0] : v[0] >= v[1]);
	}
}

/* Suppressed and skipped (exactly once) reach the summary's line beside
 * redelivered when they are not 0, and a scribbled one is caught. */
static void ring_line_says_suppressed_and_skipped(void **s)
{
	(void)s;
	char line[512];
	struct sv_ring_counts c;
	struct shmring_stats st = { .msgs_in = 1000, .msgs_out = 1000, .capacity = 1 << 20,
				    .redelivered = 3, .suppressed = 2, .skipped = 1 };
	assert_int_equal(sv_ring_counts(&st, 2, &c), SV_COUNTS_OK);
	assert_int_equal(c.suppressed, 2);
	assert_int_equal(c.skipped, 1);
	size_t n = sv_ring_line(line, sizeof(line), "gen.out -> double.in", SV_COUNTS_OK, &c, 0);
	assert_int_equal(n, strlen(line));
	assert_string_equal(line, "ring gen.out -> double.in: 1000 messages, 3 redelivered "
			    "(consumer taken over), 2 suppressed (restarted producer's duplicates), "
			    "1 skipped (covered by a checkpoint), 0 never consumed");
	/* suppressed alone is something to say: the producer was restarted */
	st.redelivered = st.skipped = 0;
	sv_ring_counts(&st, 2, &c);
	sv_ring_line(line, sizeof(line), "double.out -> sink.in", SV_COUNTS_OK, &c, 0);
	assert_string_equal(line, "ring double.out -> sink.in: 1000 messages, 0 redelivered "
			    "(consumer taken over), 2 suppressed (restarted producer's duplicates), "
			    "0 never consumed");
	/* nothing happened: nothing said */
	st.suppressed = 0;
	sv_ring_counts(&st, 2, &c);
	assert_int_equal(sv_ring_line(line, sizeof(line), "a.out -> b.in", SV_COUNTS_OK, &c, 0), 0);
	assert_string_equal(line, "");
	/* a lagging count keeps the new parts */
	st.msgs_in = 994;
	st.skipped = 5;
	assert_int_equal(sv_ring_counts(&st, 7, &c), SV_COUNTS_LAG);
	sv_ring_line(line, sizeof(line), "a.out -> b.in", SV_COUNTS_LAG, &c, 0);
	assert_string_equal(line, "ring a.out -> b.in: 1000 messages, 0 redelivered (consumer "
			    "taken over), 5 skipped (covered by a checkpoint); the producer's count "
			    "lags by 6 (it was killed between a commit and its count); nothing left "
			    "in the ring");
	/* scribbled */
	st.suppressed = UINT64_MAX;
	assert_int_equal(sv_ring_counts(&st, 7, &c), SV_COUNTS_CORRUPT);
	st.suppressed = 0;
	st.skipped = SV_COUNTS_MAX + 1;
	assert_int_equal(sv_ring_counts(&st, 7, &c), SV_COUNTS_CORRUPT);
	sv_ring_line(line, sizeof(line), "a.out -> b.in", SV_COUNTS_CORRUPT, &c, 0);
	assert_string_equal(line, "ring a.out -> b.in: counters unreadable (ring corrupt?)");
	/* a short buffer: truncated, terminated, length as held */
	char small[16];
	assert_int_equal(sv_ring_line(small, sizeof(small), "a.out -> b.in", SV_COUNTS_CORRUPT, &c,
				      0), 15);
	assert_int_equal(strlen(small), 15);
}

static void resume_line_only_for_kernels_that_resumed(void **s)
{
	(void)s;
	char line[256];
	assert_int_equal(sv_resume_line(line, sizeof(line), "double", 0, 0, 0), 0);
	assert_string_equal(line, "");
	size_t n = sv_resume_line(line, sizeof(line), "double", 5, 812, 3);
	assert_int_equal(n, strlen(line));
	assert_string_equal(line, "kernel 'double': resumed from checkpoint 5 times (last "
			    "generation 812), 3 input messages skipped");
	sv_resume_line(line, sizeof(line), "gen", 1, 1, 1);
	assert_string_equal(line, "kernel 'gen': resumed from checkpoint 1 time (last generation "
			    "1), 1 input message skipped");
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

/* ---- the lifecycle table ---- */

/* Every transition of the table, written out again from the rules in
 * docs/supervisor.md; every other cell must leave the kernel where it is and
 * do nothing. */
struct transition {
	enum sv_state from;
	enum sv_event ev;
	enum sv_state to;
	enum sv_action act;
};
#define T(from, ev, to, act) { SV_ST_##from, SV_EV_##ev, SV_ST_##to, SV_ACT_##act }
static const struct transition expected[] = {
	/* the launch: a kernel that cannot start stops the topology */
	T(DOWN, SPAWNED, RUNNING, NONE),
	T(DOWN, SPAWN_FAILED, GONE, STOP_TOPOLOGY),
	/* running: the exit and the policy decide */
	T(RUNNING, EXIT_FINISHED, FINISHED, NONE),
	T(RUNNING, EXIT_NORMAL, GONE, LEFT_DOWN),
	T(RUNNING, EXIT_FAILED, GONE, FAILED),
	T(RUNNING, EXIT_RESTART, RESTART_PENDING, RESTART),
	T(RUNNING, EXIT_CONFIG, GONE, CONFIG),
	T(RUNNING, GROUP_RESTART, RESTARTING, ASK_STOP),
	T(RUNNING, STOP, STOPPING, ASK_STOP),
	T(RUNNING, KILL_NOW, KILLED_NOW, KILL),
	/* stopped for a sibling's restart: back whatever the exit, unless
	 * finished or misconfigured */
	T(RESTARTING, EXIT_FINISHED, FINISHED, NONE),
	T(RESTARTING, EXIT_NORMAL, RESTART_PENDING, NONE),
	T(RESTARTING, EXIT_FAILED, RESTART_PENDING, NONE),
	T(RESTARTING, EXIT_RESTART, RESTART_PENDING, NONE),
	T(RESTARTING, EXIT_CONFIG, GONE, CONFIG),
	T(RESTARTING, STOP, STOPPING, NONE),
	T(RESTARTING, GRACE_OVER, RESTART_KILLED, KILL),
	T(RESTARTING, KILL_NOW, KILLED_NOW, KILL),
	T(RESTART_KILLED, EXIT_FINISHED, FINISHED, SAY_OVERRAN),
	T(RESTART_KILLED, EXIT_NORMAL, RESTART_PENDING, SAY_OVERRAN),
	T(RESTART_KILLED, EXIT_FAILED, RESTART_PENDING, SAY_OVERRAN),
	T(RESTART_KILLED, EXIT_RESTART, RESTART_PENDING, SAY_OVERRAN),
	T(RESTART_KILLED, EXIT_CONFIG, GONE, CONFIG),
	T(RESTART_KILLED, STOP, KILLED, NONE),
	/* a restart that cannot start leaves it gone, its ends closed */
	T(RESTART_PENDING, SPAWNED, RUNNING, NONE),
	T(RESTART_PENDING, SPAWN_FAILED, GONE, CLOSE_ENDS),
	T(RESTART_PENDING, STOP, EXITED, NONE),
	/* the topology stops: nothing is restarted or reported but kills */
	T(STOPPING, EXIT_FINISHED, EXITED, NONE),
	T(STOPPING, EXIT_NORMAL, EXITED, NONE),
	T(STOPPING, EXIT_FAILED, EXITED, NONE),
	T(STOPPING, EXIT_RESTART, EXITED, NONE),
	T(STOPPING, EXIT_CONFIG, EXITED, NONE),
	T(STOPPING, GRACE_OVER, KILLED, KILL),
	T(STOPPING, KILL_NOW, KILLED_NOW, KILL),
	T(KILLED, EXIT_FINISHED, EXITED, OVERRAN),
	T(KILLED, EXIT_NORMAL, EXITED, OVERRAN),
	T(KILLED, EXIT_FAILED, EXITED, OVERRAN),
	T(KILLED, EXIT_RESTART, EXITED, OVERRAN),
	T(KILLED, EXIT_CONFIG, EXITED, OVERRAN),
	T(KILLED_NOW, EXIT_FINISHED, EXITED, KILLED),
	T(KILLED_NOW, EXIT_NORMAL, EXITED, KILLED),
	T(KILLED_NOW, EXIT_FAILED, EXITED, KILLED),
	T(KILLED_NOW, EXIT_RESTART, EXITED, KILLED),
	T(KILLED_NOW, EXIT_CONFIG, EXITED, KILLED),
};
#undef T
#define NEXPECTED (sizeof(expected) / sizeof(expected[0]))

static void every_cell_of_the_lifecycle_table_is_as_written(void **s)
{
	(void)s;
	unsigned used[NEXPECTED] = { 0 };
	for (int st = 0; st < SV_NSTATES; st++)
		for (int ev = 0; ev < SV_NEVENTS; ev++) {
			struct sv_step want = { (enum sv_state)st, SV_ACT_NONE };
			for (size_t x = 0; x < NEXPECTED; x++)
				if (expected[x].from == (enum sv_state)st &&
				    expected[x].ev == (enum sv_event)ev) {
					want = (struct sv_step){ expected[x].to, expected[x].act };
					used[x]++;
				}
			struct sv_step got = sv_step((enum sv_state)st, (enum sv_event)ev);
			if (got.next != want.next || got.act != want.act)
				fail_msg("%s on %s: got %s, %s; want %s, %s",
					 sv_state_name((enum sv_state)st), sv_event_name((enum sv_event)ev),
					 sv_state_name(got.next), sv_action_name(got.act),
					 sv_state_name(want.next), sv_action_name(want.act));
		}
	for (size_t x = 0; x < NEXPECTED; x++)
		assert_int_equal(used[x], 1); /* each written once, none out of range */
	/* out of range: stays, nothing done */
	struct sv_step odd = sv_step(SV_ST_RUNNING, SV_NEVENTS);
	assert_int_equal(odd.next, SV_ST_RUNNING);
	assert_int_equal(odd.act, SV_ACT_NONE);
}

/* The rules behind the table, checked over every state. */
static void finished_and_config_exits_are_never_restarted(void **s)
{
	(void)s;
	for (int st = 0; st < SV_NSTATES; st++) {
		if (!sv_has_process((enum sv_state)st))
			continue; /* cannot exit: states_with_a_process_and_done_states */
		struct sv_step f = sv_step((enum sv_state)st, SV_EV_EXIT_FINISHED);
		struct sv_step c = sv_step((enum sv_state)st, SV_EV_EXIT_CONFIG);
		assert_true(f.next != SV_ST_RESTART_PENDING && f.next != SV_ST_RUNNING);
		assert_true(c.next != SV_ST_RESTART_PENDING && c.next != SV_ST_RUNNING);
		assert_int_not_equal(f.act, SV_ACT_RESTART);
		/* 78 outside a stop of the topology: one line, the topology stops */
		int stopping = st == SV_ST_STOPPING || st == SV_ST_KILLED || st == SV_ST_KILLED_NOW;
		if (!stopping)
			assert_true(c.next == SV_ST_GONE && c.act == SV_ACT_CONFIG);
	}
}

/* Once the topology stops, nothing but the launch's own SPAWNED (which
 * run.c never sends after a stop) brings a kernel back. */
static void a_stopped_topology_never_restarts_a_kernel(void **s)
{
	(void)s;
	int seen[SV_NSTATES] = { 0 };
	for (int st = 0; st < SV_NSTATES; st++)
		seen[sv_step((enum sv_state)st, SV_EV_STOP).next] = 1;
	for (int grew = 1; grew;) {
		grew = 0;
		for (int st = 0; st < SV_NSTATES; st++)
			for (int ev = SV_EV_EXIT_FINISHED; seen[st] && ev < SV_NEVENTS; ev++) {
				enum sv_state to = sv_step((enum sv_state)st, (enum sv_event)ev).next;
				if (!seen[to])
					seen[to] = grew = 1;
			}
	}
	assert_false(seen[SV_ST_RUNNING]);
	assert_false(seen[SV_ST_RESTARTING]);
	assert_false(seen[SV_ST_RESTART_KILLED]);
	assert_false(seen[SV_ST_RESTART_PENDING]);
	/* and a process is never left without a way to be killed */
	for (int st = 0; st < SV_NSTATES; st++)
		if (seen[st] && sv_has_process((enum sv_state)st)) {
			enum sv_state k = sv_step((enum sv_state)st, SV_EV_KILL_NOW).next;
			assert_true(k == SV_ST_KILLED || k == SV_ST_KILLED_NOW);
		}
}

static void exits_become_events_by_policy(void **s)
{
	(void)s;
	static const enum topo_restart pol[] = { TOPO_PERMANENT, TOPO_TRANSIENT, TOPO_TEMPORARY };
	for (size_t p = 0; p < 3; p++) {
		/* finished and 78 whatever the policy */
		assert_int_equal(sv_exit_event(EXIT_STATUS(0), 1, pol[p]), SV_EV_EXIT_FINISHED);
		assert_int_equal(sv_exit_event(EXIT_STATUS(SHMRING_EXIT_CONFIG), 0, pol[p]),
				 SV_EV_EXIT_CONFIG);
	}
	assert_int_equal(sv_exit_event(EXIT_STATUS(0), 0, TOPO_PERMANENT), SV_EV_EXIT_RESTART);
	assert_int_equal(sv_exit_event(EXIT_STATUS(0), 0, TOPO_TRANSIENT), SV_EV_EXIT_NORMAL);
	assert_int_equal(sv_exit_event(EXIT_STATUS(0), 0, TOPO_TEMPORARY), SV_EV_EXIT_NORMAL);
	assert_int_equal(sv_exit_event(EXIT_STATUS(1), 0, TOPO_PERMANENT), SV_EV_EXIT_RESTART);
	assert_int_equal(sv_exit_event(SIGNAL_STATUS(9), 1, TOPO_TRANSIENT), SV_EV_EXIT_RESTART);
	assert_int_equal(sv_exit_event(SIGNAL_STATUS(11), 0, TOPO_TEMPORARY), SV_EV_EXIT_FAILED);
}

static void states_with_a_process_and_done_states(void **s)
{
	(void)s;
	for (int st = 0; st < SV_NSTATES; st++) {
		int proc = st == SV_ST_RUNNING || st == SV_ST_RESTARTING ||
			   st == SV_ST_RESTART_KILLED || st == SV_ST_STOPPING ||
			   st == SV_ST_KILLED || st == SV_ST_KILLED_NOW;
		int done = st == SV_ST_FINISHED || st == SV_ST_GONE;
		assert_int_equal(sv_has_process((enum sv_state)st), proc);
		assert_int_equal(sv_is_done((enum sv_state)st), done);
		/* only a kernel with a process can exit */
		for (int ev = SV_EV_EXIT_FINISHED; !proc && ev <= SV_EV_EXIT_CONFIG; ev++)
			assert_int_equal(sv_step((enum sv_state)st, (enum sv_event)ev).next, st);
	}
}

/* docs/supervisor.md shows the table in the same form: rows are states,
 * columns events, a cell "NEXT" or "NEXT, action", "—" when it stays. */
static void cell_text(enum sv_state st, enum sv_event ev, char *buf, size_t cap)
{
	struct sv_step c = sv_step(st, ev);
	if (c.next == st && c.act == SV_ACT_NONE)
		snprintf(buf, cap, "—");
	else if (c.act == SV_ACT_NONE)
		snprintf(buf, cap, "%s", sv_state_name(c.next));
	else
		snprintf(buf, cap, "%s, %s", sv_state_name(c.next), sv_action_name(c.act));
}

/* The next cell of a markdown row: trimmed, into buf; NULL at the end. */
static const char *next_cell(const char *p, char *buf, size_t cap)
{
	if (*p != '|')
		return NULL;
	p++;
	const char *end = strchr(p, '|');
	if (!end)
		return NULL;
	while (p < end && *p == ' ')
		p++;
	size_t n = (size_t)(end - p);
	while (n && p[n - 1] == ' ')
		n--;
	snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
	return end;
}

static void the_docs_show_the_code_table(void **s)
{
	(void)s;
	/* this file is tests/unit/supervise-test.c; the page is docs/... */
	char path[4096];
	snprintf(path, sizeof(path), "%s", __FILE__);
	char *cut = strstr(path, "tests/unit/supervise-test.c");
	assert_non_null(cut);
	snprintf(cut, sizeof(path) - (size_t)(cut - path), "docs/supervisor.md");
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot read %s", path);
	char line[2048], cell[128], want[128];
	int row = -1; /* -1: looking for the header */
	while (fgets(line, sizeof(line), f) && row < SV_NSTATES) {
		line[strcspn(line, "\n")] = '\0';
		const char *p = line;
		if (row == -1) {
			if (strncmp(line, "| state \\ event |", 17))
				continue;
			p = next_cell(p, cell, sizeof(cell));
			for (int ev = 0; ev < SV_NEVENTS; ev++) {
				assert_non_null(p = next_cell(p, cell, sizeof(cell)));
				assert_string_equal(cell, sv_event_name((enum sv_event)ev));
			}
			assert_null(next_cell(p, cell, sizeof(cell)));
			row = -2; /* the |---| line */
			continue;
		}
		if (row == -2) {
			row = 0;
			continue;
		}
		assert_non_null(p = next_cell(p, cell, sizeof(cell)));
		assert_string_equal(cell, sv_state_name((enum sv_state)row));
		for (int ev = 0; ev < SV_NEVENTS; ev++) {
			assert_non_null(p = next_cell(p, cell, sizeof(cell)));
			cell_text((enum sv_state)row, (enum sv_event)ev, want, sizeof(want));
			if (strcmp(cell, want))
				fail_msg("docs/supervisor.md: %s on %s says '%s'; the code: '%s'",
					 sv_state_name((enum sv_state)row),
					 sv_event_name((enum sv_event)ev), cell, want);
		}
		row++;
	}
	fclose(f);
	assert_int_equal(row, SV_NSTATES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exits_are_classified),
		cmocka_unit_test(policies_follow_otp_and_never_restart_finished),
		cmocka_unit_test(config_exit_is_never_restarted),
		cmocka_unit_test(ready_deadline_is_the_files_or_scales_with_kernels),
		cmocka_unit_test(ring_counts_never_wrap_and_spot_a_scribble),
		cmocka_unit_test(ring_line_says_suppressed_and_skipped),
		cmocka_unit_test(resume_line_only_for_kernels_that_resumed),
		cmocka_unit_test(one_for_one_takes_the_failed_kernel_only),
		cmocka_unit_test(one_for_all_takes_every_kernel_not_done),
		cmocka_unit_test(rest_for_one_takes_those_after_it_in_graph_order),
		cmocka_unit_test(intensity_allows_max_restarts_per_period),
		cmocka_unit_test(graph_order_is_breadth_first_from_sources),
		cmocka_unit_test(every_cell_of_the_lifecycle_table_is_as_written),
		cmocka_unit_test(finished_and_config_exits_are_never_restarted),
		cmocka_unit_test(a_stopped_topology_never_restarts_a_kernel),
		cmocka_unit_test(exits_become_events_by_policy),
		cmocka_unit_test(states_with_a_process_and_done_states),
		cmocka_unit_test(the_docs_show_the_code_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
