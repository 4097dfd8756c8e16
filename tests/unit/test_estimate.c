/* test_estimate: run times per task function (common/estimate.c): unknown
 * until timed, a moving average after, kept apart per function, and kept
 * through the table's growth. */
#include "../testutil.h"
#include "keel_int.h"

#include <math.h>

static void test_unknown_until_timed(void)
{
  WATCHDOG(10);
  keel__estimates e = {0};
  CU_ASSERT_EQUAL(keel__estimate_get(&e, 42), 0);
  keel__estimate_note(&e, 42, 0.010);
  CU_ASSERT_DOUBLE_EQUAL(keel__estimate_get(&e, 42), 0.010, 1e-12);
  CU_ASSERT_EQUAL(keel__estimate_get(&e, 43), 0);
  /* id 0 is no function: never stored */
  keel__estimate_note(&e, 0, 1.0);
  CU_ASSERT_EQUAL(keel__estimate_get(&e, 0), 0);
  keel__estimate_free(&e);
  CU_ASSERT_EQUAL(keel__estimate_get(&e, 42), 0);
}

/* 0.8 old + 0.2 new: one long run moves the estimate a fifth of the way. */
static void test_moving_average(void)
{
  WATCHDOG(10);
  keel__estimates e = {0};
  keel__estimate_note(&e, 7, 0.001);
  keel__estimate_note(&e, 7, 2.001);
  CU_ASSERT_DOUBLE_EQUAL(keel__estimate_get(&e, 7), 0.401, 1e-9);
  for (int i = 0; i < 100; i++)
    keel__estimate_note(&e, 7, 0.005);
  CU_ASSERT_DOUBLE_EQUAL(keel__estimate_get(&e, 7), 0.005, 1e-9);
  keel__estimate_free(&e);
}

/* Many functions (hash ids, as the registry makes them) through several
 * growths: each keeps its own figure. */
static void test_many_functions(void)
{
  WATCHDOG(10);
  enum { N = 1000 };
  keel__estimates e = {0};
  for (uint64_t i = 1; i <= N; i++)
    keel__estimate_note(&e, keel__registry_hash("f") ^ (i << 20), i * 1e-3);
  CU_ASSERT_EQUAL(e.n, N);
  CU_ASSERT(e.cap >= N && (e.cap & (e.cap - 1)) == 0);
  int wrong = 0;
  for (uint64_t i = 1; i <= N; i++)
    wrong += fabs(keel__estimate_get(&e, keel__registry_hash("f") ^ (i << 20)) -
                  i * 1e-3) > 1e-12;
  CU_ASSERT_EQUAL(wrong, 0);
  keel__estimate_free(&e);
}

int main(void)
{
  static const tu_test tests[] = {TU_TEST(test_unknown_until_timed),
                                  TU_TEST(test_moving_average),
                                  TU_TEST(test_many_functions)};
  return tu_run("estimate", tests, sizeof tests / sizeof *tests);
}
