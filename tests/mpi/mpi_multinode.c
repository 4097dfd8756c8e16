/* mpi_multinode: started by tests/multinode with the master and one worker
 * on host kt1 and one worker on kt2.  Results must come from both hosts,
 * and a segfault on the remote host must be reported with its name. */
#include "../testutil.h"
#include "tasks.h"

static char master_host[256];

/* Sleeps arg ms, returns the host it ran on. */
static int t_host(const void *arg, size_t len, keel_buf *out)
{
  char h[256] = "";
  sleep_s(arg_int(arg, len) / 1000.0);
  gethostname(h, sizeof h - 1);
  return keel_buf_append(out, h, strlen(h) + 1);
}
KEEL_REGISTER(t_host);

/* Segfaults unless it runs on the host named by arg. */
static int t_segv_away_from(const void *arg, size_t len, keel_buf *out)
{
  char h[256] = "", home[256];
  snprintf(home, sizeof home, "%.*s", (int)len, (const char *)arg);
  gethostname(h, sizeof h - 1);
  sleep_s(0.05);
  if (strcmp(h, home))
    raise(SIGSEGV);
  return 0;
}
KEEL_REGISTER(t_segv_away_from);

static char remote[256]; /* the other host, found by the first test */

static void test_results_from_both_hosts(void)
{
  WATCHDOG(120);
  keel_executor *ex = NULL;
  keel_future *fs[8];
  int ms = 150, local = 0, away = 0;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &ex), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_workers(ex), 2);
  for (int i = 0; i < 8; i++)
    CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_host, &ms, sizeof ms, &fs[i]),
                          KEEL_OK);
  for (int i = 0; i < 8; i++) {
    const void *d = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 60, &d, &n), KEEL_OK);
    if (d && n) {
      printf("\n  task %d ran on %s", i, (const char *)d);
      if (!strcmp(d, master_host))
        local++;
      else {
        away++;
        snprintf(remote, sizeof remote, "%s", (const char *)d);
      }
    }
    keel_future_release(fs[i]);
  }
  printf("\n");
  CU_ASSERT(local > 0);
  CU_ASSERT(away > 0);
  CU_ASSERT_STRING_NOT_EQUAL(remote, "");
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_remote_segfault_names_its_host(void)
{
  WATCHDOG(120);
  keel_options o;
  keel_executor *ex = NULL;
  keel_future *fs[6];
  int crashed = 0;
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  for (int i = 0; i < 6; i++)
    CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_segv_away_from, master_host,
                                      strlen(master_host), &fs[i]),
                          KEEL_OK);
  for (int i = 0; i < 6; i++) {
    int rc = keel_future_result(fs[i], 60, NULL, NULL);
    const keel_error *e = keel_future_error(fs[i]);
    if (rc == KEEL_EWORKER && e) {
      crashed++;
      printf("\n  %s", e->message ? e->message : "");
      CU_ASSERT_EQUAL(e->signal, SIGSEGV);
      CU_ASSERT_STRING_EQUAL(e->host ? e->host : "", remote);
      CU_ASSERT_PTR_NOT_NULL(strstr(e->message ? e->message : "", remote));
    } else {
      CU_ASSERT_EQUAL(rc, KEEL_OK); /* ran on the master's host */
    }
    keel_future_release(fs[i]);
  }
  printf("\n");
  CU_ASSERT(crashed > 0);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* A nanny idle for a while dozes (up to KEEL__DOZE_MAX, 250 ms); work
 * wakes it at once, the remote one through a byte on its lifeline.  After
 * each idle spell, one task per worker, both hosts: the slower one's wait
 * must not look like a doze.  Without the wake-up, the wait is spread over
 * the doze, and the longest of 5 exceeds 100 ms almost surely. */
static void test_idle_remote_worker_wakes_at_once(void)
{
  WATCHDOG(120);
  keel_executor *ex = NULL;
  double worst = 0;
  int ms = 0, away = 0;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &ex), KEEL_OK);
  for (int round = 0; round < 5; round++) {
    keel_future *fs[2];
    sleep_s(0.8); /* long enough for the naps to reach the full doze */
    double t0 = tu_now();
    for (int i = 0; i < 2; i++)
      CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_host, &ms, sizeof ms, &fs[i]),
                            KEEL_OK);
    CU_ASSERT_EQUAL(keel_wait(fs, 2, KEEL_ALL_COMPLETED, 30, NULL), KEEL_OK);
    double took = tu_now() - t0;
    worst = took > worst ? took : worst;
    for (int i = 0; i < 2; i++) {
      const void *d = NULL;
      size_t n = 0;
      if (keel_future_result(fs[i], 0, &d, &n) == KEEL_OK && n &&
          strcmp(d, master_host))
        away++;
      keel_future_release(fs[i]);
    }
  }
  printf("\n  slowest first answer after an idle spell: %.1f ms\n",
         worst * 1e3);
  CU_ASSERT(away >= 5); /* the remote worker took its share */
  CU_ASSERT(worst < 0.1);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_results_from_both_hosts),
      TU_TEST(test_remote_segfault_names_its_host),
      TU_TEST(test_idle_remote_worker_wakes_at_once)};
  gethostname(master_host, sizeof master_host - 1);
  return tu_keel_main(&argc, &argv, "mpi_multinode", tests,
                      sizeof tests / sizeof *tests);
}
