/* test_clock: the adaptive back-off (clock.c): a spin right after
 * activity, naps growing to 1 ms while work is in flight, and dozing up to
 * KEEL__DOZE_MAX only when nothing is, after KEEL__DOZE_AFTER. */
#include "../testutil.h"
#include "sys/sys.h"

/* A back-off whose last activity was `ago` seconds back. */
static keel__backoff idle_for(double ago)
{
  keel__backoff b;
  keel__backoff_reset(&b);
  b.last_activity -= ago;
  return b;
}

/* The longest nap of n steps. */
static double longest(keel__backoff *b, int n, bool may_doze)
{
  double most = 0;
  for (int i = 0; i < n; i++) {
    double s = keel__backoff_next(b, may_doze);
    most = s > most ? s : most;
  }
  return most;
}

/* Right after activity: no nap, unless this process was itself held off
 * the CPU past the spin (a loaded machine), which the test cannot rule. */
static void test_spins_after_activity(void)
{
  WATCHDOG(10);
  keel__backoff b;
  double t0 = keel__clock_now();
  keel__backoff_reset(&b);
  double a = keel__backoff_next(&b, false), c = keel__backoff_next(&b, true);
  if (keel__clock_now() - t0 < 100e-6) {
    CU_ASSERT_EQUAL(a, 0);
    CU_ASSERT_EQUAL(c, 0);
  }
}

static void test_naps_grow_to_1ms_with_work_in_flight(void)
{
  WATCHDOG(10);
  keel__backoff b = idle_for(10.0);
  double first = keel__backoff_next(&b, false);
  double second = keel__backoff_next(&b, false);
  CU_ASSERT_TRUE(first > 0 && first < 1e-4);
  CU_ASSERT_DOUBLE_EQUAL(second, 2 * first, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(longest(&b, 100, false), 1e-3, 1e-12);
}

static void test_no_doze_before_doze_after(void)
{
  WATCHDOG(10);
  keel__backoff b = idle_for(KEEL__DOZE_AFTER / 2);
  CU_ASSERT_DOUBLE_EQUAL(longest(&b, 100, true), 1e-3, 1e-12);
}

static void test_dozes_when_quiet(void)
{
  WATCHDOG(10);
  keel__backoff b = idle_for(KEEL__DOZE_AFTER * 2);
  CU_ASSERT_DOUBLE_EQUAL(longest(&b, 100, true), KEEL__DOZE_MAX, 1e-12);
  /* work arrives without activity yet (a send still on its way): back to
   * short naps at once */
  CU_ASSERT_TRUE(keel__backoff_next(&b, false) <= 1e-3);
  double t0 = keel__clock_now();
  keel__backoff_reset(&b);
  double a = keel__backoff_next(&b, true);
  if (keel__clock_now() - t0 < 100e-6) /* see test_spins_after_activity */
    CU_ASSERT_EQUAL(a, 0);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_spins_after_activity),
      TU_TEST(test_naps_grow_to_1ms_with_work_in_flight),
      TU_TEST(test_no_doze_before_doze_after),
      TU_TEST(test_dozes_when_quiet),
  };
  return tu_run("clock", tests, sizeof tests / sizeof *tests);
}
