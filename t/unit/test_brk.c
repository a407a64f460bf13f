/*
 * Unit tests for proxy/brk.c: every transition of the circuit breaker,
 * with time passed in explicitly: consecutive failures, the error-rate
 * window (minimum requests, window roll-over), OPEN until the deadline,
 * HALF_OPEN trials (limit, success closes, failure re-opens, unanswered
 * trials expire), and the next-admission time behind Retry-After.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"

static const struct brk_conf defaults = {
	.bc_failures = 5,
	.bc_error_rate = 50,
	.bc_window = 10000,
	.bc_min_requests = 20,
	.bc_cooldown = 10000,
	.bc_trials = 1,
};

static void
fail_n(struct brk *b, const struct brk_conf *bc, uint64_t now, int n)
{
	int i;

	for (i = 0; i < n; i++)
		brk_failure(b, bc, now);
}

static void
test_starts_closed(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 1000);
	assert_int_equal(b.br_state, BRK_CLOSED);
	assert_true(brk_allows(&b, &defaults, 1000));
	assert_true(brk_admit(&b, &defaults, 1000));
	assert_int_equal(brk_next_admit(&b, &defaults, 1000), 1000);
	assert_string_equal(brk_state_str(BRK_CLOSED), "closed");
	assert_string_equal(brk_state_str(BRK_OPEN), "open");
	assert_string_equal(brk_state_str(BRK_HALF_OPEN), "half-open");
	assert_string_equal(brk_state_str(BRK_COUNT), "?");
}

static void
test_consecutive_failures_open(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 0);
	fail_n(&b, &defaults, 100, 4);
	assert_int_equal(b.br_state, BRK_CLOSED);
	assert_int_equal(brk_failure(&b, &defaults, 100), BRK_OPEN);
	assert_int_equal(b.br_opens, 1);
	assert_int_equal(b.br_until, 100 + defaults.bc_cooldown);
	assert_false(brk_allows(&b, &defaults, 100));
	assert_false(brk_admit(&b, &defaults, 5000));
	assert_int_equal(brk_next_admit(&b, &defaults, 5000), 10100);
}

static void
test_success_resets_consecutive(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 0);
	fail_n(&b, &defaults, 1, 4);
	assert_int_equal(brk_success(&b, &defaults, 2), BRK_CLOSED);
	fail_n(&b, &defaults, 3, 4);
	assert_int_equal(b.br_state, BRK_CLOSED);
	assert_int_equal(b.br_consec, 4);
}

static void
test_error_rate_opens(void **state)
{
	struct brk_conf bc = defaults;
	struct brk b;
	int i;

	(void)state;
	bc.bc_failures = 0;		/* rate rule only */
	brk_init(&b, 0);
	/* 19 outcomes, 10 failed: over 50% but under min-requests. */
	for (i = 0; i < 9; i++)
		brk_success(&b, &bc, 10);
	fail_n(&b, &bc, 20, 10);
	assert_int_equal(b.br_state, BRK_CLOSED);
	/* The 20th outcome reaches min-requests at 11/20 = 55%. */
	assert_int_equal(brk_failure(&b, &bc, 30), BRK_OPEN);
}

static void
test_error_rate_below_threshold(void **state)
{
	struct brk_conf bc = defaults;
	struct brk b;
	int i;

	(void)state;
	bc.bc_failures = 0;
	brk_init(&b, 0);
	for (i = 0; i < 40; i++) {
		if (i % 3 == 0)
			brk_failure(&b, &bc, 100);
		else
			brk_success(&b, &bc, 100);
	}
	assert_int_equal(b.br_state, BRK_CLOSED);	/* 14/40 = 35% */
}

static void
test_error_rate_window_rolls(void **state)
{
	struct brk_conf bc = defaults;
	struct brk b;
	int i;

	(void)state;
	bc.bc_failures = 0;
	brk_init(&b, 0);
	for (i = 0; i < 15; i++)
		brk_failure(&b, &bc, 1000);
	/* A new window: the old failures no longer count. */
	for (i = 0; i < 15; i++)
		brk_success(&b, &bc, 11000);
	assert_int_equal(b.br_win_req, 15);
	assert_int_equal(b.br_win_fail, 0);
	for (i = 0; i < 5; i++)
		brk_failure(&b, &bc, 12000);
	assert_int_equal(b.br_state, BRK_CLOSED);	/* 5/20 = 25% */
}

static void
test_open_to_half_open_after_cooldown(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 0);
	fail_n(&b, &defaults, 0, 5);
	assert_int_equal(b.br_state, BRK_OPEN);
	assert_false(brk_admit(&b, &defaults, 9999));
	assert_int_equal(b.br_state, BRK_OPEN);
	assert_true(brk_allows(&b, &defaults, 10000));
	assert_true(brk_admit(&b, &defaults, 10000));
	assert_int_equal(b.br_state, BRK_HALF_OPEN);
	assert_int_equal(b.br_trials, 1);
	/* One trial only: the next request is refused. */
	assert_false(brk_allows(&b, &defaults, 10001));
	assert_false(brk_admit(&b, &defaults, 10001));
	assert_int_equal(brk_next_admit(&b, &defaults, 10001), 20000);
}

static void
test_half_open_success_closes(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 0);
	fail_n(&b, &defaults, 0, 5);
	assert_true(brk_admit(&b, &defaults, 10000));
	assert_int_equal(brk_success(&b, &defaults, 10050), BRK_CLOSED);
	assert_int_equal(b.br_consec, 0);
	assert_true(brk_admit(&b, &defaults, 10051));
	/* Closed again: it takes five new failures to open. */
	fail_n(&b, &defaults, 10060, 4);
	assert_int_equal(b.br_state, BRK_CLOSED);
}

static void
test_half_open_failure_reopens(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 0);
	fail_n(&b, &defaults, 0, 5);
	assert_true(brk_admit(&b, &defaults, 10000));
	assert_int_equal(brk_failure(&b, &defaults, 10200), BRK_OPEN);
	assert_int_equal(b.br_opens, 2);
	assert_int_equal(b.br_until, 20200);
	assert_false(brk_admit(&b, &defaults, 20199));
	assert_true(brk_admit(&b, &defaults, 20200));
	assert_int_equal(b.br_state, BRK_HALF_OPEN);
}

static void
test_half_open_several_trials(void **state)
{
	struct brk_conf bc = defaults;
	struct brk b;

	(void)state;
	bc.bc_trials = 3;
	brk_init(&b, 0);
	fail_n(&b, &bc, 0, 5);
	assert_true(brk_admit(&b, &bc, 10000));
	assert_true(brk_admit(&b, &bc, 10001));
	assert_true(brk_admit(&b, &bc, 10002));
	assert_false(brk_admit(&b, &bc, 10003));
	assert_int_equal(brk_success(&b, &bc, 10010), BRK_HALF_OPEN);
	assert_int_equal(brk_success(&b, &bc, 10011), BRK_HALF_OPEN);
	assert_int_equal(brk_success(&b, &bc, 10012), BRK_CLOSED);
}

static void
test_half_open_trials_expire(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 0);
	fail_n(&b, &defaults, 0, 5);
	assert_true(brk_admit(&b, &defaults, 10000));
	/* The trial never reported (client went away). */
	assert_false(brk_admit(&b, &defaults, 19999));
	assert_true(brk_admit(&b, &defaults, 20000));
	assert_int_equal(b.br_state, BRK_HALF_OPEN);
	assert_int_equal(b.br_trials, 1);
	assert_int_equal(brk_success(&b, &defaults, 20001), BRK_CLOSED);
}

static void
test_outcomes_while_open_ignored(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 0);
	fail_n(&b, &defaults, 0, 5);
	/* Late answers to requests admitted before it opened. */
	assert_int_equal(brk_success(&b, &defaults, 100), BRK_OPEN);
	assert_int_equal(brk_failure(&b, &defaults, 200), BRK_OPEN);
	assert_int_equal(b.br_until, 10000);
	assert_int_equal(b.br_opens, 1);
}

static void
test_reset_closes(void **state)
{
	struct brk b;

	(void)state;
	brk_init(&b, 0);
	fail_n(&b, &defaults, 0, 5);
	brk_reset(&b, 500);
	assert_int_equal(b.br_state, BRK_CLOSED);
	assert_int_equal(b.br_opens, 1);
	assert_true(brk_admit(&b, &defaults, 501));
}

static void
test_rules_disabled(void **state)
{
	struct brk_conf bc = defaults;
	struct brk b;

	(void)state;
	bc.bc_failures = 0;
	bc.bc_error_rate = 0;
	brk_init(&b, 0);
	fail_n(&b, &bc, 0, 1000);
	assert_int_equal(b.br_state, BRK_CLOSED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starts_closed),
		cmocka_unit_test(test_consecutive_failures_open),
		cmocka_unit_test(test_success_resets_consecutive),
		cmocka_unit_test(test_error_rate_opens),
		cmocka_unit_test(test_error_rate_below_threshold),
		cmocka_unit_test(test_error_rate_window_rolls),
		cmocka_unit_test(test_open_to_half_open_after_cooldown),
		cmocka_unit_test(test_half_open_success_closes),
		cmocka_unit_test(test_half_open_failure_reopens),
		cmocka_unit_test(test_half_open_several_trials),
		cmocka_unit_test(test_half_open_trials_expire),
		cmocka_unit_test(test_outcomes_while_open_ignored),
		cmocka_unit_test(test_reset_closes),
		cmocka_unit_test(test_rules_disabled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
