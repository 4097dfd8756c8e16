/* mpi_poison: a task that SIGKILLs its own nanny, under keelrun -n 2, with
 * each crash policy.  Before, RETRY ran it on each worker in turn until
 * every rank was down, and every future (the culprit's and the innocents')
 * failed with "every worker rank it could use is lost"; and under keelrun
 * a lost rank was never replaced, so the pool shrank for the rest of the
 * job.  Now the culprit fails alone, the innocents run elsewhere, and each
 * lost rank is replaced by a spawned worker on its host: the pool keeps
 * its size. */
#include "../testutil.h"
#include "tasks.h"

static int t_kill_nanny(const void *arg, size_t len, keel_buf *out)
{
  (void)arg;
  (void)len;
  (void)out;
  kill(getppid(), SIGKILL);
  sleep_s(30);
  return 0;
}
KEEL_REGISTER(t_kill_nanny);

static keel_executor *make(int policy, int retries)
{
  keel_options o;
  keel_executor *e = NULL;
  keel_options_init(&o);
  o.on_crash = policy;
  o.max_retries = retries;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &e), KEEL_OK);
  return e;
}

/* The pool is whole again (replacements take a moment to spawn). */
static bool pool_back(keel_executor *e, int want)
{
  double t0 = tu_now();
  while (keel_executor_workers(e) != want && tu_now() - t0 < 30)
    usleep(10000);
  return keel_executor_workers(e) == want;
}

/* n tasks of ms each, all must succeed. */
static void innocents_ok(keel_executor *e, keel_future **fs, int n)
{
  for (int i = 0; i < n; i++) {
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 60, NULL, NULL), KEEL_OK);
    if (keel_future_error(fs[i]))
      fprintf(stderr, "innocent %d: %s\n", i, keel_future_error(fs[i])->message);
    keel_future_release(fs[i]);
  }
  (void)e;
}

static void submit_many(keel_executor *e, keel_future **fs, int n, int ms)
{
  for (int i = 0; i < n; i++)
    CU_ASSERT_EQUAL_FATAL(keel_submit(e, t_sleep_ms, &ms, sizeof ms, &fs[i]),
                          KEEL_OK);
}

static void test_retry_culprit_fails_alone(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(120);
  keel_executor *e = make(KEEL_ON_CRASH_RETRY, 2);
  keel_future *before[10], *after[10], *p;
  submit_many(e, before, 10, 50);
  CU_ASSERT_EQUAL_FATAL(keel_submit(e, t_kill_nanny, NULL, 0, &p), KEEL_OK);
  submit_many(e, after, 10, 50);
  CU_ASSERT_EQUAL(keel_future_result(p, 90, NULL, NULL), KEEL_EWORKER);
  const keel_error *err = keel_future_error(p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(err);
  printf("culprit: %s\n", err->message);
  CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "t_kill_nanny"));
  CU_ASSERT_PTR_NOT_NULL(
      strstr(err->message, "took its worker rank down each of the 3 times"));
  innocents_ok(e, before, 10);
  innocents_ok(e, after, 10);
  CU_ASSERT_FALSE(keel_executor_broken(e));
  CU_ASSERT_TRUE(pool_back(e, 2));
  keel_future_release(p);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_fail_task_culprit_fails_alone(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(120);
  keel_executor *e = make(KEEL_ON_CRASH_FAIL_TASK, 0);
  keel_future *fs[10], *p;
  CU_ASSERT_EQUAL_FATAL(keel_submit(e, t_kill_nanny, NULL, 0, &p), KEEL_OK);
  submit_many(e, fs, 10, 50);
  CU_ASSERT_EQUAL(keel_future_result(p, 60, NULL, NULL), KEEL_EWORKER);
  const keel_error *err = keel_future_error(p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(err);
  CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "its worker rank was lost"));
  innocents_ok(e, fs, 10);
  CU_ASSERT_FALSE(keel_executor_broken(e));
  CU_ASSERT_TRUE(pool_back(e, 2));
  keel_future_release(p);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_break_then_whole_pool(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(120);
  keel_executor *e = make(KEEL_ON_CRASH_BREAK, 0);
  keel_future *p, *fs[10];
  CU_ASSERT_EQUAL_FATAL(keel_submit(e, t_kill_nanny, NULL, 0, &p), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(p, 60, NULL, NULL), KEEL_EWORKER);
  CU_ASSERT_TRUE(keel_executor_broken(e));
  keel_future_release(p);
  keel_executor_shutdown(e, 0);
  /* The next executor has the whole pool again. */
  e = make(KEEL_ON_CRASH_BREAK, 0);
  CU_ASSERT_TRUE(pool_back(e, 2));
  submit_many(e, fs, 10, 10);
  innocents_ok(e, fs, 10);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* Five kills in a row: five replacements, and still two workers, each
 * on a process of its own (two distinct nannies answer). */
static void test_pool_size_after_five_kills(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(240);
  keel_executor *e = make(KEEL_ON_CRASH_FAIL_TASK, 0);
  for (int k = 0; k < 5; k++) {
    keel_future *p;
    CU_ASSERT_EQUAL_FATAL(keel_submit(e, t_kill_nanny, NULL, 0, &p), KEEL_OK);
    CU_ASSERT_EQUAL(keel_future_result(p, 60, NULL, NULL), KEEL_EWORKER);
    keel_future_release(p);
    CU_ASSERT_TRUE(pool_back(e, 2));
  }
  CU_ASSERT_EQUAL(keel_executor_workers(e), 2);
  keel_future *fs[20];
  submit_many(e, fs, 20, 20);
  innocents_ok(e, fs, 20);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_retry_culprit_fails_alone),
      TU_TEST(test_fail_task_culprit_fails_alone),
      TU_TEST(test_break_then_whole_pool),
      TU_TEST(test_pool_size_after_five_kills)};
  if (keel_init(&argc, &argv))
    return 2;
  int rc = tu_run("mpi_poison", tests, sizeof tests / sizeof *tests);
  tu_watchdog("keel_finalize", 60);
  if (keel_finalize() != KEEL_OK)
    rc = 1;
  return rc;
}
