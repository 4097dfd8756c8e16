/* mpi_placement: under keelrun -n 2, each worker rank and its task
 * processes are pinned to a core of their own, checked from inside the task
 * processes; the master keeps off the workers' cores when it has a spare
 * one. */
#include "placement.h"

static int cores; /* before keel_init() bound anything */

static void test_workers_on_distinct_cores(void)
{
  WATCHDOG(60);
  keel_executor *ex = NULL;
  where w[8];
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &ex), KEEL_OK);
  int n = keel_executor_workers(ex);
  CU_ASSERT_EQUAL(n, 2);
  CU_ASSERT_EQUAL(gather_where(ex, n, w, 8), n);
  check_pinned(w, n, cores);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* A respawned task process lands on its worker's core again. */
static void test_binding_survives_a_crash(void)
{
  WATCHDOG(60);
  keel_options o;
  keel_executor *ex = NULL;
  where before[8], after[8];
  keel_options_init(&o);
  o.max_workers = 1;
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(gather_where(ex, 1, before, 8), 1);
  keel_future *f = NULL;
  int x = 0;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_sigkill, &x, sizeof x, &f),
                        KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(f, 30, NULL, NULL), KEEL_EWORKER);
  keel_future_release(f);
  CU_ASSERT_EQUAL_FATAL(gather_where(ex, 1, after, 8), 1);
  CU_ASSERT_NOT_EQUAL(after[0].pid, before[0].pid);
  CU_ASSERT_EQUAL(after[0].mask, before[0].mask);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {TU_TEST(test_workers_on_distinct_cores),
                                  TU_TEST(test_binding_survives_a_crash)};
  cores = cores_here();
  return tu_keel_main(&argc, &argv, "mpi_placement", tests,
                      sizeof tests / sizeof *tests);
}
