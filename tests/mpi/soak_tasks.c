/* soak_tasks: many tasks, 1 % of which crash their task process (segfault,
 * SIGKILL or exit(3), chosen by the task's number), first under RETRY, then
 * under FAIL_TASK.  Checks that every future resolved exactly once with the
 * right outcome, that nothing hung (a watchdog), and that the master's
 * memory stayed flat: RSS after the first fifth and at the end.  Run by
 * tests/soak: KEEL_SOAK_TASKS tasks per policy (make check: a short form;
 * make soak: 1,000,000). */
#include "../testutil.h"
#include "tasks.h"

#include <inttypes.h>

#define INFLIGHT_MAX 20000 /* futures outstanding at once */

static uint64_t mix(uint64_t x) /* splitmix64: which tasks crash, how */
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

enum { FINE, SEGV, KILL, EXIT3 };
static int fate(uint64_t i)
{
  uint64_t h = mix(i);
  return h % 100 ? FINE : 1 + (int)(h / 100 % 3);
}

static int t_soak(const void *arg, size_t len, keel_buf *out)
{
  uint64_t i = 0;
  memcpy(&i, arg, len < sizeof i ? len : sizeof i);
  static const int how[] = {0, DIE_SEGV, DIE_KILL, DIE_EXIT3}; /* by fate */
  die_as(how[fate(i)]);
  uint64_t r = 2 * i + 1;
  return keel_buf_append(out, &r, sizeof r);
}
KEEL_REGISTER(t_soak);

static uint8_t *done_count; /* per task: how often on_done ran */

static void on_done(keel_future *f, void *arg)
{
  done_count[(uintptr_t)arg]++;
}

typedef struct tally {
  uint64_t ok, crashed, wrong;
} tally;

/* The outcome task i must have had. */
static void check(keel_future *f, uint64_t i, tally *t)
{
  const void *d = NULL;
  size_t len = 0;
  int rc = keel_future_result(f, 60, &d, &len);
  int want = fate(i);
  const keel_error *e = keel_future_error(f);
  bool right;
  if (want == FINE) {
    right = rc == KEEL_OK && len == 8 && *(const uint64_t *)d == 2 * i + 1;
    t->ok += right;
  } else {
    right = rc == KEEL_EWORKER && e &&
            (want == SEGV ? e->signal == SIGSEGV
             : want == KILL ? e->signal == SIGKILL
                            : e->exit_status == 3);
    t->crashed += right;
  }
  if (!right && t->wrong++ < 5)
    fprintf(stderr, "soak: task %" PRIu64 " (fate %d): %s %s\n", i, want,
            keel_err_name(rc), e && e->message ? e->message : "");
}

static void soak(int policy, uint64_t n, const char *name)
{
  keel_options o;
  keel_executor *ex = NULL;
  /* a window well inside n, so that the RSS taken at n/5 is steady */
  uint64_t inflight = n / 10 > INFLIGHT_MAX ? INFLIGHT_MAX
                      : n / 10 < 100        ? 100
                                            : n / 10;
  keel_future **ring = calloc(inflight, sizeof *ring);
  tally t = {0, 0, 0};
  size_t rss_start = 0;
  keel_options_init(&o);
  o.on_crash = policy;
  memset(done_count, 0, n);
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  double t0 = tu_now();
  for (uint64_t i = 0; i < n + inflight; i++) {
    keel_future **slot = &ring[i % inflight];
    if (*slot) { /* the task submitted `inflight` ago */
      check(*slot, i - inflight, &t);
      keel_future_release(*slot);
      *slot = NULL;
    }
    if (i == n / 5)
      rss_start = tu_rss_kib();
    if (i < n) {
      CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_soak, &i, sizeof i, slot),
                            KEEL_OK);
      keel_future_on_done(*slot, on_done, (void *)(uintptr_t)i);
    }
  }
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  uint64_t once = 0;
  for (uint64_t i = 0; i < n; i++)
    once += done_count[i] == 1;
  size_t rss_end = tu_rss_kib();
  printf("\n  %s: %" PRIu64 " tasks in %.1f s: %" PRIu64 " right results, %"
         PRIu64 " crashes reported exactly, %" PRIu64 " wrong; resolved "
         "exactly once: %" PRIu64 "; master RSS %zu KiB after a fifth, %zu "
         "KiB at the end\n", name, n, tu_now() - t0, t.ok, t.crashed,
         t.wrong, once, rss_start, rss_end);
  CU_ASSERT_EQUAL(t.wrong, 0);
  CU_ASSERT_EQUAL(t.ok + t.crashed, n);
  CU_ASSERT_EQUAL(once, n);
  /* Flat: measured here +100 KiB over 16,000 tasks (allocator noise).
   * 1 MiB and 16 bytes a task of slack; a leak of 100 bytes a task fails.
   * Sanitizer builds keep freed memory in quarantine, so their RSS grows
   * anyway: there, LeakSanitizer (ASan) is the leak check. */
  size_t allowed = 1024 + (size_t)((n - n / 5) * 16 / 1024);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  (void)allowed;
#else
  CU_ASSERT(rss_end <= rss_start + allowed);
#endif
  free(ring);
}

static uint64_t ntasks;

static void test_soak_retry(void)
{
  tu_watchdog(__func__, (unsigned)(60 + ntasks / 1000));
  soak(KEEL_ON_CRASH_RETRY, ntasks, "RETRY");
}

static void test_soak_fail_task(void)
{
  tu_watchdog(__func__, (unsigned)(60 + ntasks / 1000));
  soak(KEEL_ON_CRASH_FAIL_TASK, ntasks, "FAIL_TASK");
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {TU_TEST(test_soak_retry),
                                  TU_TEST(test_soak_fail_task)};
  const char *env = getenv("KEEL_SOAK_TASKS");
  ntasks = env && atoll(env) > 0 ? (uint64_t)atoll(env) : 1000000;
  done_count = calloc(ntasks, 1);
  return tu_keel_main(&argc, &argv, "soak", tests,
                      sizeof tests / sizeof *tests);
}
