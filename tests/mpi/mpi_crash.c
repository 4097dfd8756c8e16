/* mpi_crash: what happens when user code kills its task process, under
 * mpirun -n 3.  Every death must be reported with the exact cause, quickly,
 * and must never hang the caller. */
#include "../testutil.h"
#include "tasks.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Seconds from submit to the failed future, on a warm executor: measured
 * at 1-3 ms (tests/bench/crash_latency), with room for a loaded machine
 * and a sanitizer build. */
#define REPORT_WITHIN 0.5

/* After a task failed alone, ex still runs fn(x) within timeout seconds;
 * then shut it down, waiting. */
static void serves_then_shut(keel_executor *ex, keel_task_fn *fn, int x,
                             double timeout)
{
  keel_future *f = submit_int(ex, fn, x);
  CU_ASSERT_EQUAL(keel_future_result(f, timeout, NULL, NULL), KEEL_OK);
  keel_future_release(f);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* Run fn on a fresh BREAK executor and check the report. */
static void check_death(keel_task_fn *fn, int sig, int status, bool has_bt)
{
  keel_executor *ex = make_executor(KEEL_ON_CRASH_BREAK, 0, 0);
  keel_future *w = submit_int(ex, t_empty, 0); /* warm: its task process */
  CU_ASSERT_EQUAL(keel_future_result(w, 30, NULL, NULL), KEEL_OK);
  keel_future_release(w);
  double t0 = tu_now();
  keel_future *f = submit_int(ex, fn, 0);
  int rc = keel_future_result(f, 30, NULL, NULL);
  double took = tu_now() - t0;
  CU_ASSERT_EQUAL(rc, KEEL_EWORKER);
  CU_ASSERT_TRUE(took < REPORT_WITHIN);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_EQUAL(e->code, KEEL_EWORKER);
  CU_ASSERT_EQUAL(e->signal, sig);
  CU_ASSERT_EQUAL(e->exit_status, status);
  CU_ASSERT_TRUE(e->rank >= 1);
  CU_ASSERT_PTR_NOT_NULL(e->host);
  CU_ASSERT_TRUE(e->pid > 0 && e->pid != getpid()); /* the task process's */
  CU_ASSERT_EQUAL(e->task_id, keel_future_task_id(f));
  CU_ASSERT_PTR_NOT_NULL(e->message);
  if (has_bt) {
    CU_ASSERT_PTR_NOT_NULL(e->backtrace);
    if (e->backtrace) { /* -rdynamic: the user's function is named */
      CU_ASSERT_PTR_NOT_NULL(strstr(e->backtrace, "caught signal"));
      CU_ASSERT_PTR_NOT_NULL(strstr(e->backtrace, sig == SIGSEGV ? "t_segv"
                                                                 : "t_abort"));
    }
  } else {
    CU_ASSERT_PTR_NULL(e->backtrace);
  }
  CU_ASSERT_TRUE(keel_executor_broken(ex));
  keel_future *g = NULL;
  CU_ASSERT_EQUAL(keel_submit(ex, t_empty, NULL, 0, &g), KEEL_EBROKEN);
  keel_future_release(f);
  double s0 = tu_now();
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  CU_ASSERT_TRUE(tu_now() - s0 < 5.0);
}

static void test_segfault(void)
{
  WATCHDOG(30);
  check_death(t_segv, SIGSEGV, -1, true);
}

/* A fault in a static function of this file, built with -g
 * (tests/Makefile.mk): the backtrace names it, not an exported neighbour
 * (the dynamic symbol table alone cannot), with this file and line. */
enum { STATIC_FAULT_LINE = __LINE__ + 4 }; /* the store below */
__attribute__((noinline, noclone)) static void fault_in_static(
    volatile int *p)
{
  *p = 1;
}

static int t_segv_static(const void *arg, size_t len, keel_buf *out)
{
  fault_in_static(mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0));
  return 0;
}
KEEL_REGISTER(t_segv_static);

static void test_segfault_in_static_function(void)
{
  WATCHDOG(30);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  keel_future *f = submit_int(ex, t_segv_static, 0);
  CU_ASSERT_EQUAL(keel_future_result(f, 30, NULL, NULL), KEEL_EWORKER);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e->backtrace);
  char want[64];
#ifdef KEEL_HAVE_LIBDW
  snprintf(want, sizeof want, "#0  fault_in_static (mpi_crash.c:%d)\n",
           STATIC_FAULT_LINE);
#else /* configure --without-libdw: module and offset only */
  snprintf(want, sizeof want, "#0  [mpi_crash+0x");
#endif
  /* the faulting frame first: not the handler's, nor the trampoline's */
  const char *first = strstr(e->backtrace, "#0 ");
  CU_ASSERT_PTR_NOT_NULL_FATAL(first);
  CU_ASSERT_NSTRING_EQUAL(first, want, strlen(want));
  if (strncmp(first, want, strlen(want)))
    fprintf(stderr, "backtrace:\n%s\nwanted: %s", e->backtrace, want);
#ifdef KEEL_HAVE_LIBDW
  CU_ASSERT_PTR_NOT_NULL(strstr(e->backtrace, "t_segv_static (mpi_crash.c:"));
#endif
  CU_ASSERT_PTR_NULL(strstr(e->backtrace, "on_crash"));
  keel_future_release(f);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_sigkill(void)
{
  WATCHDOG(30);
  check_death(t_sigkill, SIGKILL, -1, false);
}

static void test_exit3(void)
{
  WATCHDOG(30);
  check_death(t_exit3, 0, 3, false);
}

static void test_abort(void)
{
  WATCHDOG(30);
  check_death(t_abort, SIGABRT, -1, true);
}

static void test_crash_among_40_pending(void)
{
  WATCHDOG(60);
  enum { N = 40 };
  keel_future *fs[N];
  keel_executor *ex = make_executor(KEEL_ON_CRASH_BREAK, 0, 0);
  for (int i = 0; i < N; i++)
    fs[i] = i == 5 ? submit_int(ex, t_segv, 0) : submit_int(ex, t_sleep_ms, 20);
  CU_ASSERT_EQUAL(keel_wait(fs, N, KEEL_ALL_COMPLETED, 20, NULL), KEEL_OK);
  int ok = 0, broken = 0;
  for (int i = 0; i < N; i++) {
    int rc = keel_future_result(fs[i], 0, NULL, NULL);
    if (i == 5)
      CU_ASSERT_EQUAL(rc, KEEL_EWORKER);
    ok += rc == KEEL_OK;
    broken += rc == KEEL_EBROKEN;
    if (rc == KEEL_EBROKEN)
      CU_ASSERT_PTR_NOT_NULL(strstr(keel_future_error(fs[i])->message,
                                    "broken"));
  }
  CU_ASSERT_EQUAL(ok + broken, N - 1);
  CU_ASSERT_TRUE(broken > 0);
  for (int i = 0; i < N; i++)
    keel_future_release(fs[i]);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* Tasks that finished before the crash, in the same task process, keep
 * their results under BREAK: the nanny sends what it gathered before the
 * death, so the master counts them done before it breaks the executor.
 * One worker, so that all of them run in one task process, back to back. */
static void test_results_before_a_crash_count(void)
{
  WATCHDOG(60);
  enum { N = 200 };
  keel_options o;
  keel_executor *ex;
  keel_future *fs[N + 1];
  keel_options_init(&o);
  o.max_workers = 1;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  for (int i = 0; i < N; i++)
    fs[i] = submit_int(ex, t_square, i);
  fs[N] = submit_int(ex, t_segv, 0);
  CU_ASSERT_EQUAL(keel_wait(fs, N + 1, KEEL_ALL_COMPLETED, 30, NULL), KEEL_OK);
  int ok = 0;
  for (int i = 0; i < N; i++)
    ok += keel_future_result(fs[i], 0, NULL, NULL) == KEEL_OK;
  CU_ASSERT_EQUAL(ok, N);
  CU_ASSERT_EQUAL(keel_future_result(fs[N], 0, NULL, NULL), KEEL_EWORKER);
  CU_ASSERT_TRUE(keel_executor_broken(ex));
  for (int i = 0; i <= N; i++)
    keel_future_release(fs[i]);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
}

static void test_reusable_comes_back(void)
{
  WATCHDOG(30);
  keel_executor *a, *b;
  CU_ASSERT_EQUAL_FATAL(keel_get_reusable_executor(NULL, &a), KEEL_OK);
  unsigned id = keel_executor_id(a);
  keel_future *f = submit_int(a, t_segv, 0);
  CU_ASSERT_EQUAL(keel_future_result(f, 20, NULL, NULL), KEEL_EWORKER);
  keel_future_release(f);
  CU_ASSERT_TRUE(keel_executor_broken(a));
  double t0 = tu_now();
  CU_ASSERT_EQUAL_FATAL(keel_get_reusable_executor(NULL, &b), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_id(b), id + 1);
  CU_ASSERT_FALSE(keel_executor_broken(b));
  CU_ASSERT_EQUAL(keel_executor_workers(b), 2);
  f = submit_int(b, t_square, 9);
  const void *d;
  size_t len;
  long long y = 0;
  CU_ASSERT_EQUAL(keel_future_result(f, 20, &d, &len), KEEL_OK);
  if (len == sizeof y)
    memcpy(&y, d, sizeof y);
  CU_ASSERT_EQUAL(y, 81);
  CU_ASSERT_TRUE(tu_now() - t0 < 2.0);
  keel_future_release(f);
}

static void test_deadline(void)
{
  WATCHDOG(30);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_BREAK, 0.3, 0);
  double t0 = tu_now();
  keel_future *f = submit_int(ex, t_sleep_ms, 10000);
  CU_ASSERT_EQUAL(keel_future_result(f, 20, NULL, NULL), KEEL_EDEADLINE);
  double took = tu_now() - t0;
  CU_ASSERT_TRUE(took >= 0.3 && took < 3.0);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_EQUAL(e->signal, SIGKILL);
  CU_ASSERT_TRUE(e->rank >= 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "task_timeout"));
  CU_ASSERT_FALSE(keel_executor_broken(ex)); /* it fails alone */
  keel_future_release(f);
  serves_then_shut(ex, t_square, 4, 20);
}

/* One crashing task among innocents, all on both workers. */
static void check_survivors(int policy)
{
  enum { N = 30 };
  keel_future *fs[N];
  keel_executor *ex = make_executor(policy, 0, 0);
  char marker[64];
  snprintf(marker, sizeof marker, "/tmp/keel-crash-once-%d-%d", getpid(),
           policy);
  unlink(marker);
  for (int i = 0; i < N; i++) {
    if (i == 3 && policy == KEEL_ON_CRASH_RETRY) {
      CU_ASSERT_EQUAL(keel_submit(ex, t_crash_once, marker, strlen(marker),
                                  &fs[i]), KEEL_OK);
    } else {
      fs[i] = i == 3 ? submit_int(ex, t_segv, 0)
                     : submit_int(ex, t_sleep_ms, 10);
    }
  }
  CU_ASSERT_EQUAL(keel_wait(fs, N, KEEL_ALL_COMPLETED, 30, NULL), KEEL_OK);
  for (int i = 0; i < N; i++) {
    int rc = keel_future_result(fs[i], 0, NULL, NULL);
    int want = i == 3 && policy == KEEL_ON_CRASH_FAIL_TASK ? KEEL_EWORKER
                                                            : KEEL_OK;
    CU_ASSERT_EQUAL(rc, want);
    keel_future_release(fs[i]);
  }
  CU_ASSERT_FALSE(keel_executor_broken(ex));
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  unlink(marker);
}

static void test_fail_task_policy(void)
{
  WATCHDOG(60);
  check_survivors(KEEL_ON_CRASH_FAIL_TASK);
}

static void test_retry_policy(void)
{
  WATCHDOG(60);
  check_survivors(KEEL_ON_CRASH_RETRY);
}

/* Counts its run in the file named by arg, then segfaults. */
static int t_segv_counted(const void *arg, size_t len, keel_buf *out)
{
  t_count_runs(arg, len, out);
  return t_segv(arg, 0, out);
}
KEEL_REGISTER(t_segv_counted);

static void test_retry_gives_up(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_retry_executor(2);
  char path[64];
  snprintf(path, sizeof path, "/tmp/keel-retry-%d", (int)getpid());
  unlink(path);
  keel_future *f = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_segv_counted, path, strlen(path),
                                    &f), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(f, 30, NULL, NULL), KEEL_EWORKER);
  CU_ASSERT_EQUAL(keel_future_error(f)->signal, SIGSEGV);
  keel_future_release(f);
  struct stat st;
  CU_ASSERT_EQUAL(stat(path, &st), 0);
  CU_ASSERT_EQUAL(st.st_size, 3); /* ran once, retried max_retries times */
  unlink(path);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* A large argument (sent from the master's own copy, without packing)
 * crashes its first worker and is sent again whole: the marker path
 * leads it, a pattern fills the rest; the retry returns its sum. */
static int t_big_crash_once(const void *arg, size_t len, keel_buf *out)
{
  const unsigned char *p = arg;
  crash_first_time(arg, strnlen(arg, len < 256 ? len : 256));
  uint64_t sum = len;
  for (size_t i = 256; i < len; i++)
    sum += p[i];
  return keel_buf_append(out, &sum, sizeof sum);
}
KEEL_REGISTER(t_big_crash_once);

static void test_retry_resends_a_large_argument(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_retry_executor(2);
  size_t len = (3u << 20) + 5; /* over any batch: alone, in place */
  unsigned char *arg = calloc(1, len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(arg);
  snprintf((char *)arg, 256, "/tmp/keel-bigretry-%d", (int)getpid());
  unlink((char *)arg);
  uint64_t want = len;
  for (size_t i = 256; i < len; i++)
    want += arg[i] = (unsigned char)(i * 7 + 3);
  keel_future *f = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_big_crash_once, arg, len, &f),
                        KEEL_OK);
  memset(arg + 256, 0, len - 256); /* keel has its own copy */
  const void *d = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(keel_future_result(f, 30, &d, &n), KEEL_OK);
  CU_ASSERT_EQUAL(n, sizeof want);
  if (d && n == sizeof want)
    CU_ASSERT_EQUAL(*(const uint64_t *)d, want);
  keel_future_release(f);
  unlink((char *)arg);
  free(arg);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_memory_limit(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 64u << 20);
  keel_future *f = submit_int(ex, t_alloc_mib, 1024);
  CU_ASSERT_EQUAL(keel_future_result(f, 30, NULL, NULL), KEEL_EWORKER);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_EQUAL(e->signal, SIGKILL);
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "memory_limit"));
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "67108864"));
  keel_future_release(f);
  serves_then_shut(ex, t_alloc_mib, 8, 30); /* under the limit: fine */
}

static void test_initializer_failure_breaks(void)
{
  WATCHDOG(30);
  keel_options o;
  keel_executor *ex;
  keel_options_init(&o);
  o.initializer = t_init_fail;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  /* The initializer runs as the executor opens, in task processes started
   * ahead of work; it takes 0.3 s to fail, so this submission comes first
   * (were it later, it would be refused with KEEL_EBROKEN, also right). */
  keel_future *f = NULL;
  int x = 2, rc = keel_submit(ex, t_square, &x, sizeof x, &f);
  CU_ASSERT_TRUE(rc == KEEL_OK || rc == KEEL_EBROKEN);
  if (rc != KEEL_OK) {
    CU_ASSERT_TRUE(keel_executor_broken(ex));
    CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
    return;
  }
  CU_ASSERT_EQUAL(keel_future_result(f, 20, NULL, NULL), KEEL_EBROKEN);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "initializer"));
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "cannot open the model file"));
  CU_ASSERT_TRUE(keel_executor_broken(ex));
  keel_future_release(f);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static int distinct_pids(keel_executor *ex, int n, double pause)
{
  int pids[64], distinct = 0;
  for (int i = 0; i < n; i++) {
    keel_future *f = submit_int(ex, t_pid, 0);
    const void *d;
    size_t len;
    pids[i] = 0;
    if (keel_future_result(f, 20, &d, &len) == KEEL_OK && len == sizeof(int))
      memcpy(&pids[i], d, sizeof(int));
    keel_future_release(f);
    int seen = 0;
    for (int j = 0; j < i; j++)
      seen |= pids[j] == pids[i];
    distinct += !seen && pids[i];
    if (pause > 0)
      sleep_s(pause);
  }
  return distinct;
}

static void test_recycling(void)
{
  WATCHDOG(60);
  keel_options o;
  keel_executor *ex;
  keel_options_init(&o);
  o.max_workers = 1;
  o.max_tasks_per_worker = 2;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  CU_ASSERT_EQUAL(distinct_pids(ex, 10, 0), 5);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_idle_timeout(void)
{
  WATCHDOG(60);
  keel_options o;
  keel_executor *ex;
  keel_options_init(&o);
  o.max_workers = 1;
  o.idle_timeout = 0.2;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  CU_ASSERT_EQUAL(distinct_pids(ex, 3, 0.6), 3);
  CU_ASSERT_EQUAL(distinct_pids(ex, 3, 0), 1); /* busy: it stays */
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_stuck_task_shutdown_nowait(void)
{
  WATCHDOG(30);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_BREAK, 0, 0);
  keel_future *f = submit_int(ex, t_sleep_ms, 3000);
  sleep_s(0.1);
  double t0 = tu_now();
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_CANCEL), KEEL_OK);
  CU_ASSERT_TRUE(tu_now() - t0 < 0.2);
  CU_ASSERT_EQUAL(keel_future_result(f, 10, NULL, NULL), KEEL_OK);
  keel_future_release(f);
}

static void test_task_process_sends_garbage(void)
{
  WATCHDOG(30);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  keel_future *f = submit_int(ex, t_garbage, 0);
  CU_ASSERT_EQUAL(keel_future_result(f, 20, NULL, NULL), KEEL_EWORKER);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "malformed"));
  CU_ASSERT_EQUAL(e->signal, SIGKILL);
  keel_future_release(f);
  serves_then_shut(ex, t_square, 5, 20); /* the worker carries on */
}

/* A short task's result must not be held back behind the next task: if
 * that one is killed, the short one would be lost and run twice. */
static void test_no_rerun_after_next_task_killed(void)
{
  WATCHDOG(30);
  keel_options o;
  keel_executor *ex;
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/tmp/keel-runs-%d", (int)getpid());
  unlink(path);
  keel_options_init(&o);
  o.max_workers = 1;
  o.task_timeout = 0.5;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  keel_future *fs[2];
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_count_runs, path, strlen(path),
                                    &fs[0]), KEEL_OK);
  fs[1] = submit_int(ex, t_sleep_ms, 10000); /* same worker, right after */
  CU_ASSERT_EQUAL(keel_future_result(fs[0], 20, NULL, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(fs[1], 20, NULL, NULL), KEEL_EDEADLINE);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  CU_ASSERT_EQUAL(stat(path, &st), 0);
  CU_ASSERT_EQUAL(st.st_size, 1); /* ran exactly once */
  unlink(path);
  keel_future_release(fs[0]);
  keel_future_release(fs[1]);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_segfault),
      TU_TEST(test_segfault_in_static_function),
      TU_TEST(test_sigkill),
      TU_TEST(test_exit3),
      TU_TEST(test_abort),
      TU_TEST(test_crash_among_40_pending),
      TU_TEST(test_results_before_a_crash_count),
      TU_TEST(test_reusable_comes_back),
      TU_TEST(test_deadline),
      TU_TEST(test_fail_task_policy),
      TU_TEST(test_retry_policy),
      TU_TEST(test_retry_gives_up),
      TU_TEST(test_retry_resends_a_large_argument),
      TU_TEST(test_memory_limit),
      TU_TEST(test_initializer_failure_breaks),
      TU_TEST(test_recycling),
      TU_TEST(test_idle_timeout),
      TU_TEST(test_stuck_task_shutdown_nowait),
      TU_TEST(test_task_process_sends_garbage),
      TU_TEST(test_no_rerun_after_next_task_killed),
  };
  return tu_keel_main(&argc, &argv, "crashes", tests,
                      sizeof tests / sizeof *tests);
}
