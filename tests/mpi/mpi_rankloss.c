/* mpi_rankloss: a whole worker rank dies (its nanny is SIGKILLed, standing
 * in for a lost node) or hangs (SIGSTOPped: alive and silent), under
 * keelrun -n 2.  The master must notice in bounded time, fail that rank's
 * future naming rank and host, and go on with the other rank; once every
 * rank is gone, futures fail instead of waiting, and finalize returns.
 * Lost ranks are not replaced here (KEEL_MAX_REPLACEMENTS=0), as when a
 * job has used up its replacements; mpi_poison tests replacement. */
#include "placement.h"

#define HEARTBEAT 2.0 /* KEEL_HEARTBEAT_TIMEOUT for this test, seconds */

static char host[256];

/* FAIL_TASK: the killer's future fails with KEEL_EWORKER within a second
 * (the master watches nannies on its own kernel through a pidfd); queued
 * work goes on on the other rank. */
static void test_nanny_killed(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  CU_ASSERT_EQUAL(keel_executor_workers(ex), 2);
  char path[64];
  snprintf(path, sizeof path, "/tmp/keel-rankloss-%d", (int)getpid());
  keel_future *rest[10], *killer = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_kill_nanny, path, strlen(path),
                                    &killer), KEEL_OK);
  for (int i = 0; i < 10; i++)
    rest[i] = submit_int(ex, t_sleep_ms, 30);
  check_lost(killer, KEEL_EWORKER, 1.0, host);
  /* its task process died with its nanny (PDEATHSIG), at once */
  FILE *f = fopen(path, "r");
  int pid = 0;
  CU_ASSERT_PTR_NOT_NULL(f);
  if (f && fscanf(f, "%d", &pid) != 1)
    pid = 0;
  if (f)
    fclose(f);
  unlink(path);
  CU_ASSERT(pid > 0);
  double t0 = tu_now();
  while (pid > 0 && pid_running(pid) && tu_now() - t0 < 1.0)
    sleep_s(0.005);
  CU_ASSERT(pid > 0 && !pid_running(pid));
  CU_ASSERT_EQUAL(keel_wait(rest, 10, KEEL_ALL_COMPLETED, 30, NULL),
                  KEEL_OK);
  for (int i = 0; i < 10; i++) {
    CU_ASSERT_EQUAL(keel_future_result(rest[i], 0, NULL, NULL), KEEL_OK);
    keel_future_release(rest[i]);
  }
  keel_future_release(killer);
  CU_ASSERT_EQUAL(keel_executor_workers(ex), 1);
  CU_ASSERT_FALSE(keel_executor_broken(ex));
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* The last rank hangs: heartbeats stop, the rank is lost after
 * KEEL_HEARTBEAT_TIMEOUT, and under BREAK every pending future fails. */
static void test_last_nanny_hangs(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_BREAK, 0, 0);
  keel_future *rest[5], *stopper = submit_int(ex, t_stop_nanny, 0);
  for (int i = 0; i < 5; i++)
    rest[i] = submit_int(ex, t_sleep_ms, 10);
  check_lost(stopper, KEEL_EWORKER, HEARTBEAT + 5.0, host);
  for (int i = 0; i < 5; i++) {
    CU_ASSERT_EQUAL(keel_future_result(rest[i], 5, NULL, NULL), KEEL_EBROKEN);
    keel_future_release(rest[i]);
  }
  keel_future_release(stopper);
  CU_ASSERT_TRUE(keel_executor_broken(ex));
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, 0), KEEL_OK);
  /* No rank left: a new executor says so instead of waiting for ever. */
  keel_executor *none = NULL;
  CU_ASSERT_EQUAL(keel_executor_create(NULL, &none), KEEL_ESTATE);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {TU_TEST(test_nanny_killed),
                                  TU_TEST(test_last_nanny_hangs)};
  char hb[32];
  snprintf(hb, sizeof hb, "%g", HEARTBEAT);
  setenv("KEEL_HEARTBEAT_TIMEOUT", hb, 1);
  setenv("KEEL_MAX_REPLACEMENTS", "0", 1);
  gethostname(host, sizeof host - 1);
  return tu_keel_main(&argc, &argv, "mpi_rankloss", tests,
                      sizeof tests / sizeof *tests);
}
