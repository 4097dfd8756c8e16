/* spawn_workers: a keel program started on its own (MPI world of size 1)
 * spawns its workers with MPI_Comm_spawn: cores - 1 of them by default,
 * pinned like keelrun's; resize grows the pool by spawning and shrinks it
 * without losing queued work; a lost spawned rank is replaced, on the core
 * it left. */
#include "placement.h"

static int cores;
static char host[256];

static int expected_default(void)
{
  return cores > 1 ? cores - 1 : 1;
}

static keel_executor *ex; /* the executor the tests share, in order */

static void test_default_workers_are_spawned_and_pinned(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(60);
  where w[64];
  keel_options o;
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  int n = keel_executor_workers(ex);
  CU_ASSERT_EQUAL(n, expected_default());
  CU_ASSERT_EQUAL(gather_where(ex, n, w, 64), n);
  check_pinned(w, n, cores); /* one worker of two cores: master spare */
}

static void test_resize_grows_by_spawning(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(60);
  where w[64];
  int n = expected_default() + 1;
  CU_ASSERT_EQUAL_FATAL(keel_executor_resize(ex, n), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_workers(ex), n);
  CU_ASSERT_EQUAL(gather_where(ex, n, w, 64), n);
  check_pinned(w, n, cores);
}

static void test_shrink_keeps_queued_work(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(60);
  enum { N = 40 };
  keel_future *fs[N];
  for (int i = 0; i < N; i++) {
    int ms = 10;
    CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_sleep_ms, &ms, sizeof ms, &fs[i]),
                          KEEL_OK);
  }
  CU_ASSERT_EQUAL(keel_executor_resize(ex, 1), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_workers(ex), 1);
  CU_ASSERT_EQUAL(keel_wait(fs, N, KEEL_ALL_COMPLETED, 30, NULL), KEEL_OK);
  for (int i = 0; i < N; i++) {
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 0, NULL, NULL), KEEL_OK);
    keel_future_release(fs[i]);
  }
  where w[4];
  CU_ASSERT_EQUAL(gather_where(ex, 2, w, 4), 1); /* one worker left */
}

/* A spawned rank whose nanny dies: its future fails naming rank and host,
 * a new rank is spawned in its place, and the executor goes on. */
static void test_lost_rank_is_replaced(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(60);
  CU_ASSERT_EQUAL_FATAL(keel_executor_resize(ex, 2), KEEL_OK);
  keel_future *f = NULL;
  int x = 0;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_kill_nanny, &x, sizeof x, &f),
                        KEEL_OK);
  check_lost(f, KEEL_EWORKER, 5.0, host);
  keel_future_release(f);
  where w[4];
  CU_ASSERT_EQUAL(gather_where(ex, 2, w, 4), 2); /* two again */
  check_pinned(w, 2, cores); /* the new one took the free core */
  CU_ASSERT_EQUAL(keel_executor_workers(ex), 2);
  CU_ASSERT_FALSE(keel_executor_broken(ex));
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_default_workers_are_spawned_and_pinned),
      TU_TEST(test_resize_grows_by_spawning),
      TU_TEST(test_shrink_keeps_queued_work),
      TU_TEST(test_lost_rank_is_replaced)};
  cores = cores_here();
  unsetenv("KEEL_WORKERS"); /* the default is under test */
  gethostname(host, sizeof host - 1);
  return tu_keel_main(&argc, &argv, "spawn_workers", tests,
                      sizeof tests / sizeof *tests);
}
