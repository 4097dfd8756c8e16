/* mpi_hostile: tasks that misbehave towards the process they run in, under
 * keelrun -n 2.  None of it may confuse the nanny: each task's result or
 * failure is reported as it is, and whatever a task leaves behind (children
 * that outlive it, even in their own session) dies with its task process. */
#include "../testutil.h"
#include "tasks.h"

#include <sys/resource.h>
#include <sys/wait.h>

static char pidfile[64];

static int run_arg(keel_executor *ex, keel_task_fn *fn, const void *arg,
                   size_t n, const void **d, size_t *len)
{
  keel_future *f = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, fn, arg, n, &f), KEEL_OK);
  int rc = keel_future_result(f, 30, d, len);
  static keel_future *last; /* keep the result bytes alive until next run */
  if (last)
    keel_future_release(last);
  last = f;
  return rc;
}

static int run(keel_executor *ex, keel_task_fn *fn, int x, const void **d,
               size_t *len)
{
  return run_arg(ex, fn, &x, sizeof x, d, len);
}


/* Closes every file descriptor it has, then returns a result. */
static int t_close_all_fds(const void *arg, size_t len, keel_buf *out)
{
  struct rlimit rl;
  int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
                ? (int)rl.rlim_cur : 65536;
  for (int fd = 0; fd < max; fd++)
    close(fd);
  return keel_buf_append(out, "still here", 10);
}
KEEL_REGISTER(t_close_all_fds);

/* Sprays binary garbage, including keel's magic, on stdout and stderr. */
static int t_garbage_out(const void *arg, size_t len, keel_buf *out)
{
  unsigned char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)(i * 131 + 7);
  memcpy(junk, "KEEL\1\4", 6);
  for (int i = 0; i < 64; i++)
    if (write(1, junk, sizeof junk) < 0 || write(2, junk, sizeof junk) < 0)
      break;
  return keel_buf_append(out, "ok", 2);
}
KEEL_REGISTER(t_garbage_out);

/* Forks a child that sleeps on (in a new session, out of the task
 * process's group, when arg starts with 's'), records its pid in the file
 * named by the rest of arg, and returns at once. */
static int t_leave_child(const void *arg, size_t len, keel_buf *out)
{
  char path[128];
  int new_session = len > 0 && *(const char *)arg == 's';
  snprintf(path, sizeof path, "%.*s", len > 0 ? (int)len - 1 : 0,
           (const char *)arg + 1);
  pid_t c = fork();
  if (c == 0) {
    if (new_session)
      setsid();
    for (;;)
      pause();
  }
  FILE *f = fopen(path, "w");
  if (c < 0 || !f || fprintf(f, "%d\n", (int)c) < 0 || fclose(f))
    return keel_fail(out, "cannot fork or record the child");
  return keel_buf_append(out, &c, sizeof c);
}
KEEL_REGISTER(t_leave_child);

/* t_leave_child's argument: 's' for a new session, then the pid file. */
static int leave_child(keel_executor *ex, int new_session)
{
  char arg[128];
  const void *d;
  size_t len;
  snprintf(arg, sizeof arg, "%c%s", new_session ? 's' : 'g', pidfile);
  return run_arg(ex, t_leave_child, arg, strlen(arg), &d, &len);
}

/* Blocks SIGTERM and SIGINT, then overstays task_timeout. */
static int t_block_term(const void *arg, size_t len, keel_buf *out)
{
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  sigprocmask(SIG_BLOCK, &s, NULL);
  signal(SIGTERM, SIG_IGN);
  sleep_s(30);
  return 0;
}
KEEL_REGISTER(t_block_term);

/* Lowers its task process's open-file limit to the fds it has now: the
 * task process can open nothing more. */
static int t_no_more_fds(const void *arg, size_t len, keel_buf *out)
{
  struct rlimit rl;
  int lowest = dup(0);
  if (lowest < 0 || close(lowest) || getrlimit(RLIMIT_NOFILE, &rl))
    return keel_fail(out, "cannot find the lowest free fd");
  rl.rlim_cur = (rlim_t)lowest;
  if (setrlimit(RLIMIT_NOFILE, &rl))
    return keel_fail(out, "setrlimit: %s", strerror(errno));
  return keel_buf_append(out, &lowest, sizeof lowest);
}
KEEL_REGISTER(t_no_more_fds);

/* Returns the sum of its argument's bytes. */
static int t_sum_bytes(const void *arg, size_t len, keel_buf *out)
{
  unsigned long long sum = 0;
  for (size_t i = 0; i < len; i++)
    sum += ((const unsigned char *)arg)[i];
  return keel_buf_append(out, &sum, sizeof sum);
}
KEEL_REGISTER(t_sum_bytes);

static bool gone_within(pid_t pid, double s)
{
  double end = tu_now() + s;
  while (tu_now() < end) {
    if (!pid_running(pid))
      return true;
    sleep_s(0.01);
  }
  return false;
}

static void test_task_closing_every_fd(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  const void *d;
  size_t len;
  int rc = run(ex, t_close_all_fds, 0, &d, &len);
  printf("\n  first: %s\n", keel_err_name(rc));
  /* Its channel to the nanny is gone with the rest: the result cannot be
   * delivered, so the task fails, saying why; the worker carries on. */
  CU_ASSERT_EQUAL(rc, KEEL_EWORKER);
  keel_future *f = NULL;
  int x = 0;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_close_all_fds, &x, sizeof x, &f),
                        KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(f, 30, NULL, NULL), KEEL_EWORKER);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  printf("\n  %s\n", e->message ? e->message : "");
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message ? e->message : "", "channel"));
  keel_future_release(f);
  CU_ASSERT_EQUAL(run(ex, t_square, 7, &d, &len), KEEL_OK);
  CU_ASSERT_EQUAL(*(const long long *)d, 49);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* A large argument reaches its task process through the nanny's memfd,
 * which the task process opens (TASKFD).  When it cannot (a task before
 * it left the process no fd to spare), that task fails alone with
 * KEEL_ESYS and why; the process goes on with the small tasks after it. */
static void test_big_arg_unreachable(void)
{
  WATCHDOG(60);
  keel_options o;
  keel_executor *ex = NULL;
  keel_options_init(&o);
  o.max_workers = 1; /* one task process: the one whose fds are spent */
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  const void *d;
  size_t len;
  CU_ASSERT_EQUAL_FATAL(run(ex, t_no_more_fds, 0, &d, &len), KEEL_OK);
  size_t n = 1u << 20;
  unsigned char *big = malloc(n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  memset(big, 1, n);
  keel_future *f = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_sum_bytes, big, n, &f), KEEL_OK);
  free(big);
  CU_ASSERT_EQUAL(keel_future_result(f, 30, NULL, NULL), KEEL_ESYS);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  printf("\n  %s\n", e->message ? e->message : "");
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message ? e->message : "",
                                "cannot map the task's argument"));
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message ? e->message : "",
                                strerror(EMFILE)));
  keel_future_release(f);
  CU_ASSERT_EQUAL(run(ex, t_square, 7, &d, &len), KEEL_OK);
  CU_ASSERT_EQUAL(*(const long long *)d, 49);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_garbage_on_stdout_and_stderr(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  const void *d;
  size_t len;
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(run(ex, t_garbage_out, 0, &d, &len), KEEL_OK);
    CU_ASSERT_EQUAL(len, 2);
  }
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static pid_t recorded_child(void)
{
  int pid = 0;
  FILE *f = fopen(pidfile, "r");
  if (f && fscanf(f, "%d", &pid) != 1)
    pid = 0;
  if (f)
    fclose(f);
  return (pid_t)pid;
}

/* A child left behind lives while its task process does, and dies with
 * it: here the next task crashes the task process. */
static void leftover_dies_with_task_process(int new_session)
{
  keel_options o;
  keel_executor *ex = NULL;
  const void *d;
  size_t len;
  keel_options_init(&o);
  o.max_workers = 1; /* so the crash hits the same task process */
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(leave_child(ex, new_session), KEEL_OK);
  pid_t child = recorded_child();
  CU_ASSERT_FATAL(child > 0);
  CU_ASSERT_TRUE(pid_running(child)); /* alive after its task returned */
  CU_ASSERT_EQUAL(run(ex, t_sigkill, 0, &d, &len), KEEL_EWORKER);
  CU_ASSERT_TRUE(gone_within(child, 5.0));
  if (pid_running(child))
    kill(child, SIGKILL); /* do not leave it to the next test */
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

static void test_leftover_child_dies_with_its_task_process(void)
{
  WATCHDOG(60);
  leftover_dies_with_task_process(0);
}

static void test_leftover_in_own_session_dies_too(void)
{
  WATCHDOG(60);
  leftover_dies_with_task_process(1);
}

/* A leftover child also goes when the executor shuts down. */
static void test_leftover_dies_at_shutdown(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  CU_ASSERT_EQUAL_FATAL(leave_child(ex, 1), KEEL_OK);
  pid_t child = recorded_child();
  CU_ASSERT_FATAL(child > 0);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  CU_ASSERT_TRUE(gone_within(child, 5.0));
  if (pid_running(child))
    kill(child, SIGKILL);
}

static void test_blocked_sigterm_still_meets_deadline(void)
{
  WATCHDOG(60);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0.5, 0);
  const void *d;
  size_t len;
  double t0 = tu_now();
  CU_ASSERT_EQUAL(run(ex, t_block_term, 0, &d, &len), KEEL_EDEADLINE);
  CU_ASSERT(tu_now() - t0 < 5.0);
  CU_ASSERT_EQUAL(run(ex, t_square, 3, &d, &len), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_task_closing_every_fd),
      TU_TEST(test_big_arg_unreachable),
      TU_TEST(test_garbage_on_stdout_and_stderr),
      TU_TEST(test_leftover_child_dies_with_its_task_process),
      TU_TEST(test_leftover_in_own_session_dies_too),
      TU_TEST(test_leftover_dies_at_shutdown),
      TU_TEST(test_blocked_sigterm_still_meets_deadline)};
  snprintf(pidfile, sizeof pidfile, "/tmp/keel-hostile-%d", (int)getpid());
  int rc = tu_keel_main(&argc, &argv, "mpi_hostile", tests,
                        sizeof tests / sizeof *tests);
  unlink(pidfile);
  return rc;
}
