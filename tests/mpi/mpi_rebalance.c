/* mpi_rebalance: a worker with room never waits while tasks that have not
 * started sit behind a long one on another worker (the master recalls them,
 * doc/protocol.md "Rebalancing"), and the nanny's ring and channel keep
 * tasks in order, under keelrun -n 2.  The assertions are
 * about order, not speed: the long tasks take seconds, the short ones
 * milliseconds, so a short task kept behind a long one is seen finishing
 * after it.  Every task also logs its start, so that a task run twice (a
 * recall racing with its start) or never is caught. */
#include "placement.h"

#define HEARTBEAT 2.0 /* KEEL_HEARTBEAT_TIMEOUT for this test, seconds */
#define LONG_US 3000000u /* the long task: far longer than the rest */

enum { JOB_RUN = 0, JOB_FAIL = 1, JOB_CRASH = 2, JOB_STOP_NANNY = 3 };

/* What a task of this test does; its start is logged to `log`. */
typedef struct job {
  unsigned us; /* sleeps that long, then... */
  int what;    /* JOB_* */
  int idx;     /* its number in the log */
  char log[96];
} job;

static char log_path[96];
static char host[256];

/* Appends "idx\n" to the log in one write (O_APPEND: whole lines). */
static void log_start(const job *j)
{
  char line[32];
  int n = snprintf(line, sizeof line, "%d\n", j->idx);
  int fd = open(j->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) {
    if (write(fd, line, (size_t)n) != n) {
    }
    close(fd);
  }
}

/* One function for every kind, so that the master's estimate of it is
 * the short tasks' own: nothing tells it the next task is long. */
static int t_job(const void *arg, size_t len, keel_buf *out)
{
  job j;
  if (len != sizeof j)
    return keel_fail(out, "t_job: argument of %zu bytes", len);
  memcpy(&j, arg, sizeof j);
  log_start(&j);
  if (j.what == JOB_STOP_NANNY)
    kill(getppid(), SIGSTOP);
  sleep_s(j.us * 1e-6);
  if (j.what == JOB_CRASH)
    raise(SIGSEGV);
  if (j.what == JOB_FAIL)
    return keel_fail(out, "job %d fails", j.idx);
  int nanny = (int)getppid(); /* which worker ran it */
  return keel_buf_append(out, &nanny, sizeof nanny);
}
KEEL_REGISTER(t_job);

/* The same, under another name: a function the master has never timed. */
static int t_job_cold(const void *arg, size_t len, keel_buf *out)
{
  return t_job(arg, len, out);
}
KEEL_REGISTER(t_job_cold);

static keel_future *submit_job(keel_executor *ex, keel_task_fn *fn,
                               unsigned us, int what, int idx)
{
  job j = {us, what, idx, ""};
  snprintf(j.log, sizeof j.log, "%s", log_path);
  keel_future *f = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, fn, &j, sizeof j, &f), KEEL_OK);
  return f;
}

static void log_reset(void)
{
  snprintf(log_path, sizeof log_path, "/tmp/keel-rebalance-%d.log",
           (int)getpid());
  unlink(log_path);
}

/* Each of indices [0, n) started exactly once, according to the log. */
static void check_ran_once(int n)
{
  int *runs = calloc((size_t)n, sizeof *runs), idx, bad = 0;
  FILE *f = fopen(log_path, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(runs);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  while (fscanf(f, "%d", &idx) == 1) {
    CU_ASSERT(idx >= 0 && idx < n);
    if (idx >= 0 && idx < n)
      runs[idx]++;
  }
  fclose(f);
  for (int i = 0; i < n; i++)
    if (runs[i] != 1) {
      if (bad++ < 5)
        printf("\n  task %d started %d times", i, runs[i]);
    }
  CU_ASSERT_EQUAL(bad, 0);
  free(runs);
  unlink(log_path);
}

/* The master learns that t_job is short (5 ms). */
static void warm(keel_executor *ex)
{
  keel_future *fs[20];
  log_reset();
  for (int i = 0; i < 20; i++)
    fs[i] = submit_job(ex, t_job, 5000, JOB_RUN, i);
  CU_ASSERT_EQUAL(keel_wait(fs, 20, KEEL_ALL_COMPLETED, 30, NULL), KEEL_OK);
  for (int i = 0; i < 20; i++)
    keel_future_release(fs[i]);
  check_ran_once(20);
}

static void release_all(keel_future **fs, int n)
{
  for (int i = 0; i < n; i++)
    keel_future_release(fs[i]);
}

/* One long task, then NSHORT short ones of fn: all the short ones are done
 * while the long one still runs (it would hold some of them behind it if
 * nothing took them back), each exactly once, and the other worker ran
 * them. */
#define NSHORT 20
static void short_ones_pass_the_long_one(keel_task_fn *fn)
{
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  CU_ASSERT_EQUAL_FATAL(keel_executor_workers(ex), 2);
  if (fn == t_job)
    warm(ex);
  log_reset();
  keel_future *lf = submit_job(ex, fn, LONG_US, JOB_RUN, NSHORT), *fs[NSHORT];
  for (int i = 0; i < NSHORT; i++)
    fs[i] = submit_job(ex, fn, 10000, JOB_RUN, i);
  CU_ASSERT_EQUAL(keel_wait(fs, NSHORT, KEEL_ALL_COMPLETED, 30, NULL),
                  KEEL_OK);
  CU_ASSERT_FALSE(keel_future_done(lf)); /* none waited for it */
  for (int i = 0; i < NSHORT; i++)
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 0, NULL, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(lf, 30, NULL, NULL), KEEL_OK);
  release_all(fs, NSHORT);
  keel_future_release(lf);
  check_ran_once(NSHORT + 1);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_warm_short_pass_long(void)
{
  WATCHDOG(60);
  short_ones_pass_the_long_one(t_job);
}

static void test_cold_short_pass_long(void)
{
  WATCHDOG(60);
  short_ones_pass_the_long_one(t_job_cold);
}

/* keel_wait(FIRST_EXCEPTION) hears of a failure queued behind a long
 * task while the long one still runs.  The executor starts with one
 * worker, so that both go to it, the failing one behind; a second worker
 * then joins (keel_executor_resize()), idle, and takes it. */
static void test_first_exception_passes_long(void)
{
  WATCHDOG(60);
  keel_options o;
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  o.max_workers = 1;
  keel_executor *ex = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  warm(ex);
  log_reset();
  keel_future *fs[2];
  fs[0] = submit_job(ex, t_job, LONG_US, JOB_RUN, 0);
  fs[1] = submit_job(ex, t_job, 5000, JOB_FAIL, 1);
  sleep_s(0.2); /* both sent to the one worker */
  CU_ASSERT_FALSE(keel_future_done(fs[1]));
  CU_ASSERT_EQUAL(keel_executor_resize(ex, 2), KEEL_OK);
  CU_ASSERT_EQUAL(keel_wait(fs, 2, KEEL_FIRST_EXCEPTION, 30, NULL), KEEL_OK);
  CU_ASSERT_TRUE(keel_future_done(fs[1]));
  CU_ASSERT_FALSE(keel_future_done(fs[0]));
  CU_ASSERT_EQUAL(keel_executor_workers(ex), 2);
  CU_ASSERT_EQUAL(keel_future_result(fs[1], 0, NULL, NULL), KEEL_ETASK);
  CU_ASSERT_EQUAL(keel_future_result(fs[0], 30, NULL, NULL), KEEL_OK);
  release_all(fs, 2);
  check_ran_once(2);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* Many recalls, racing with starts: tasks of 0-2 ms, some of 20-60 ms,
 * and a 300 ms one now and then, in rounds; every task runs exactly once
 * and succeeds. */
static void test_runs_once_under_recalls(void)
{
  WATCHDOG(120);
  enum { ROUNDS = 6, PER = 250 };
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  unsigned long x = 42;
  keel_future *fs[PER];
  for (int r = 0; r < ROUNDS; r++) {
    log_reset();
    for (int i = 0; i < PER; i++) {
      x = x * 6364136223846793005ul + 1442695040888963407ul;
      unsigned v = (unsigned)(x >> 33);
      unsigned us = i % 80 == 0 ? 300000 : v % 10 == 0 ? 20000 + v % 40000
                                                       : v % 2000;
      fs[i] = submit_job(ex, t_job, us, JOB_RUN, i);
    }
    CU_ASSERT_EQUAL(keel_wait(fs, PER, KEEL_ALL_COMPLETED, 60, NULL),
                    KEEL_OK);
    for (int i = 0; i < PER; i++)
      CU_ASSERT_EQUAL(keel_future_result(fs[i], 0, NULL, NULL), KEEL_OK);
    release_all(fs, PER);
    check_ran_once(PER);
  }
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* Crashes among the tasks being moved: each crashed task fails alone with
 * the signal, every other one succeeds, each ran exactly once. */
static void test_recall_vs_crash(void)
{
  WATCHDOG(120);
  enum { N = 60 };
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  warm(ex);
  for (int round = 0; round < 3; round++) {
    log_reset();
    keel_future *fs[N];
    for (int i = 0; i < N; i++)
      fs[i] = submit_job(ex, t_job, i % 20 == 0 ? 400000 : 3000,
                         i % 7 == 3 ? JOB_CRASH : JOB_RUN, i);
    CU_ASSERT_EQUAL(keel_wait(fs, N, KEEL_ALL_COMPLETED, 60, NULL), KEEL_OK);
    for (int i = 0; i < N; i++) {
      int rc = keel_future_result(fs[i], 0, NULL, NULL);
      CU_ASSERT_EQUAL(rc, i % 7 == 3 ? KEEL_EWORKER : KEEL_OK);
      if (i % 7 == 3) {
        const keel_error *e = keel_future_error(fs[i]);
        CU_ASSERT(e && e->signal == SIGSEGV &&
                  e->task_id == keel_future_task_id(fs[i]));
      }
    }
    release_all(fs, N);
    check_ran_once(N);
  }
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* Its argument's length, once every byte is checked (byte i is i * 7). */
static int t_arg_len(const void *arg, size_t len, keel_buf *out)
{
  const unsigned char *p = arg;
  for (size_t i = 0; i < len; i++)
    if (p[i] != (unsigned char)(i * 7))
      return keel_fail(out, "byte %zu of %zu is wrong", i, len);
  uint64_t n = len;
  return keel_buf_append(out, &n, sizeof n);
}
KEEL_REGISTER(t_arg_len);

/* Tasks too big for a ring slot (2 KiB) go on the task process's channel,
 * between small ones that go in the ring: every one arrives whole, in
 * order (a result out of order is a protocol error that kills the task
 * process), and runs once. */
static void test_big_and_small_arguments(void)
{
  WATCHDOG(60);
  enum { N = 300 };
  static const size_t sizes[] = {8, 3000, 100, 70000, 2040, 2100, 0, 5000};
  static unsigned char buf[70000];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)(i * 7);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_BREAK, 0, 0);
  keel_future *fs[N];
  for (int i = 0; i < N; i++)
    CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_arg_len, buf, sizes[i % 8],
                                      &fs[i]), KEEL_OK);
  CU_ASSERT_EQUAL(keel_wait(fs, N, KEEL_ALL_COMPLETED, 30, NULL), KEEL_OK);
  for (int i = 0; i < N; i++) {
    const void *d = NULL;
    size_t n = 0;
    uint64_t got = 0;
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 0, &d, &n), KEEL_OK);
    if (n == sizeof got)
      memcpy(&got, d, sizeof got);
    CU_ASSERT_EQUAL(got, sizes[i % 8]);
  }
  release_all(fs, N);
  CU_ASSERT_FALSE(keel_executor_broken(ex));
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* Executors made one after another start on different ranks: with 8 of
 * them, each running one task, both workers are used. */
static void test_first_tasks_spread(void)
{
  WATCHDOG(60);
  int nannies[8], distinct = 0;
  log_reset();
  for (int i = 0; i < 8; i++) {
    keel_options o;
    keel_options_init(&o);
    o.max_workers = 1;
    keel_executor *ex = NULL;
    CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
    keel_future *f = submit_job(ex, t_job, 0, JOB_RUN, i);
    const void *d = NULL;
    size_t n = 0;
    nannies[i] = 0;
    CU_ASSERT_EQUAL(keel_future_result(f, 30, &d, &n), KEEL_OK);
    if (n == sizeof(int))
      memcpy(&nannies[i], d, sizeof(int));
    int seen = 0;
    for (int k = 0; k < i; k++)
      seen |= nannies[k] == nannies[i];
    distinct += !seen;
    keel_future_release(f);
    CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  }
  CU_ASSERT_EQUAL(distinct, 2);
  check_ran_once(8);
}

/* A recall in flight when its worker is lost: the short tasks behind a
 * task that stops its own nanny are asked back, no answer comes, the rank
 * is lost after the heartbeat timeout, and every future still resolves
 * exactly once: the stopper's fails naming the rank, the rest run on the
 * other worker, once.  The master killed the hung nanny, so its rank is
 * replaced: the pool is whole again. */
static void test_recall_vs_rank_loss(void)
{
  TU_SKIP_IF(tu_no_spawn()); /* needs MPI_Comm_spawn */
  WATCHDOG(120);
  enum { N = 12 };
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  warm(ex);
  log_reset();
  keel_future *stopper = submit_job(ex, t_job, 30000000, JOB_STOP_NANNY, N);
  keel_future *fs[N];
  for (int i = 0; i < N; i++)
    fs[i] = submit_job(ex, t_job, 10000, JOB_RUN, i);
  check_lost(stopper, KEEL_EWORKER, HEARTBEAT + 5.0, host);
  CU_ASSERT_EQUAL(keel_wait(fs, N, KEEL_ALL_COMPLETED, 30, NULL), KEEL_OK);
  for (int i = 0; i < N; i++)
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 0, NULL, NULL), KEEL_OK);
  release_all(fs, N);
  keel_future_release(stopper);
  check_ran_once(N + 1);
  double t0 = tu_now();
  while (keel_executor_workers(ex) != 2 && tu_now() - t0 < 30)
    usleep(10000);
  CU_ASSERT_EQUAL(keel_executor_workers(ex), 2);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_warm_short_pass_long),
      TU_TEST(test_cold_short_pass_long),
      TU_TEST(test_first_exception_passes_long),
      TU_TEST(test_runs_once_under_recalls),
      TU_TEST(test_recall_vs_crash),
      TU_TEST(test_big_and_small_arguments),
      TU_TEST(test_first_tasks_spread),
      TU_TEST(test_recall_vs_rank_loss)};
  char hb[32];
  snprintf(hb, sizeof hb, "%g", HEARTBEAT);
  setenv("KEEL_HEARTBEAT_TIMEOUT", hb, 1);
  gethostname(host, sizeof host - 1);
  return tu_keel_main(&argc, &argv, "mpi_rebalance", tests,
                      sizeof tests / sizeof *tests);
}
