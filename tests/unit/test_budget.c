/*
 * test_budget: supervisor/engine/budget, the retry budget. Proves: with
 * no budget (0%) everything is allowed; first attempts always are; the
 * floor lets N extras a second through with no traffic at all, and no
 * more in that second; with 100 first attempts in the window, 20%
 * allows exactly 20 retries and hedges together, a 10% hedge share
 * exactly 10 hedges (retries still allowed after it); and the window
 * slides: ten seconds later the old counts are gone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/budget.h"

#define T0	1000000		/* ms */

static void
test_off_and_first(void **state)
{
	struct budget b;
	int i;

	(void)state;
	budget_init(&b, 0, 0, 0);
	for (i = 0; i < 100; i++) {
		assert_true(budget_allows(&b, BUDGET_RETRY, T0));
		budget_count(&b, BUDGET_RETRY, T0);
	}
	budget_init(&b, 20, 10, 0);
	assert_true(budget_allows(&b, BUDGET_FIRST, T0));
	assert_false(budget_allows(&b, BUDGET_RETRY, T0));
	assert_false(budget_allows(&b, BUDGET_HEDGE, T0));
}

static void
test_floor(void **state)
{
	struct budget b;
	int i;

	(void)state;
	budget_init(&b, 20, 10, 3);
	for (i = 0; i < 3; i++) {
		assert_true(budget_allows(&b, BUDGET_RETRY, T0 + 100));
		budget_count(&b, BUDGET_RETRY, T0 + 100);
	}
	assert_false(budget_allows(&b, BUDGET_RETRY, T0 + 999));
	assert_false(budget_allows(&b, BUDGET_HEDGE, T0 + 999));
	/* A new second, a new floor. */
	assert_true(budget_allows(&b, BUDGET_HEDGE, T0 + 1000));
}

static void
test_shares(void **state)
{
	struct budget b;
	int i, n;

	(void)state;
	budget_init(&b, 20, 10, 0);
	for (i = 0; i < 100; i++)
		budget_count(&b, BUDGET_FIRST, T0 + i * 50);	/* 5 s */
	for (n = 0; budget_allows(&b, BUDGET_HEDGE, T0 + 5000); n++)
		budget_count(&b, BUDGET_HEDGE, T0 + 5000);
	assert_int_equal(n, 10);
	for (n = 0; budget_allows(&b, BUDGET_RETRY, T0 + 5000); n++)
		budget_count(&b, BUDGET_RETRY, T0 + 5000);
	assert_int_equal(n, 10);	/* 20 extras in all */
	assert_false(budget_allows(&b, BUDGET_HEDGE, T0 + 5000));
	/* Ten seconds on, the window has forgotten all of it. */
	assert_false(budget_allows(&b, BUDGET_RETRY, T0 + 15000));
	for (i = 0; i < 10; i++)
		budget_count(&b, BUDGET_FIRST, T0 + 16000);
	assert_true(budget_allows(&b, BUDGET_RETRY, T0 + 16000));
	budget_count(&b, BUDGET_RETRY, T0 + 16000);
	budget_count(&b, BUDGET_RETRY, T0 + 16000);
	assert_false(budget_allows(&b, BUDGET_RETRY, T0 + 16000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_and_first),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_shares),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
