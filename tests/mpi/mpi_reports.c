/* mpi_reports: crash reports on by default.  The master prints one block
 * on stderr per crash -- a task process killed, a deadline overrun --
 * not one per future that fails as a result, and none when the executor
 * says quiet_crashes or KEEL_LOG is error.  The master's stderr is caught
 * in a file while each test runs. */
#include "../testutil.h"
#include "tasks.h"

#include <fcntl.h>

static int saved = -1;
static char path[] = "/tmp/keel-reports.XXXXXX";

static void catch_stderr(void)
{
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  saved = dup(2);
  dup2(fd, 2);
  close(fd);
}

/* Put stderr back; how many lines of the file hold needle, and the
 * whole text in *text (to free). */
static int release_stderr(const char *needle, char **text)
{
  dup2(saved, 2);
  close(saved);
  FILE *f = fopen(path, "r");
  char line[4096];
  int n = 0;
  size_t cap = 1 << 16, len = 0;
  *text = calloc(cap, 1);
  while (f && fgets(line, sizeof line, f)) {
    n += strstr(line, needle) != NULL;
    size_t k = strlen(line);
    if (*text && len + k + 1 < cap) {
      memcpy(*text + len, line, k + 1);
      len += k;
    }
  }
  if (f)
    fclose(f);
  unlink(path);
  strcpy(path, "/tmp/keel-reports.XXXXXX");
  return n;
}

static void wait_all(keel_future **fs, int n)
{
  CU_ASSERT_EQUAL(keel_wait(fs, (size_t)n, KEEL_ALL_COMPLETED, 60, NULL),
                  KEEL_OK);
  for (int i = 0; i < n; i++)
    keel_future_release(fs[i]);
}

/* Wait for fs, shut ex down, put stderr back: the lines that say a task
 * crashed, and the text in *text (to free). */
static int crashes_said(keel_executor *ex, keel_future **fs, int n,
                        int flags, char **text)
{
  wait_all(fs, n);
  keel_executor_shutdown(ex, flags);
  return release_stderr("warn: task crashed: task ", text);
}

/* FAIL_TASK: each crash, one block, with its backtrace and its fate. */
static void test_one_block_per_crash(void)
{
  WATCHDOG(120);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0, 0);
  keel_future *fs[6];
  catch_stderr();
  for (int i = 0; i < 6; i++)
    fs[i] = submit_int(ex, i % 2 ? t_segv : t_square, i);
  char *text;
  CU_ASSERT_EQUAL(crashes_said(ex, fs, 6, KEEL_SHUTDOWN_WAIT, &text), 3);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "(t_segv) on rank "));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "signal 11"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "on_crash FAIL_TASK: its future fails "
                                      "with KEEL_EWORKER"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "  backtrace:\n    "));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n  task process: pid "));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "Z keel[master 0 "));
  free(text);
}

/* BREAK: one block for the crash, none for the futures it breaks, and
 * one summary line counting them. */
static void test_break_is_one_block(void)
{
  WATCHDOG(120);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_BREAK, 0, 0);
  keel_future *fs[20];
  catch_stderr();
  fs[0] = submit_int(ex, t_segv, 0);
  for (int i = 1; i < 20; i++)
    fs[i] = submit_int(ex, t_sleep_ms, 50);
  char *text;
  CU_ASSERT_EQUAL(crashes_said(ex, fs, 20, KEEL_SHUTDOWN_CANCEL, &text), 1);
  CU_ASSERT_EQUAL(strstr(text, "the executor is broken") != NULL, 1);
  /* the 19 others, once, in one line */
  static const char said[] = "19 other unfinished futures failed with "
                              "KEEL_EBROKEN";
  const char *sum = strstr(text, said);
  CU_ASSERT_PTR_NOT_NULL(sum);
  CU_ASSERT_PTR_NULL(sum ? strstr(sum + sizeof said - 1, "unfinished future")
                         : NULL);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "warn: executor "));
  free(text);
}

/* RETRY: each try that crashes is a crash; the last one says it fails. */
static void test_retry_each_crash(void)
{
  WATCHDOG(120);
  keel_executor *ex = make_retry_executor(2);
  keel_future *f = submit_int(ex, t_segv, 0);
  catch_stderr();
  char *text;
  CU_ASSERT_EQUAL(crashes_said(ex, &f, 1, KEEL_SHUTDOWN_WAIT, &text), 3);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "run again (retry 1 of 2)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "run again (retry 2 of 2)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "on_crash RETRY: its future fails"));
  free(text);
}

/* A deadline overrun is reported like a crash, naming the limit. */
static void test_deadline_reported(void)
{
  WATCHDOG(120);
  keel_executor *ex = make_executor(KEEL_ON_CRASH_FAIL_TASK, 0.3, 0);
  keel_future *f;
  catch_stderr();
  f = submit_int(ex, t_sleep_ms, 5000);
  char *text;
  CU_ASSERT_EQUAL(crashes_said(ex, &f, 1, KEEL_SHUTDOWN_WAIT, &text), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "past task_timeout of 0.3 s"));
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "fails with KEEL_EDEADLINE"));
  free(text);
}

/* quiet_crashes: the program reports them itself. */
static void test_quiet_crashes(void)
{
  WATCHDOG(120);
  keel_options o;
  keel_executor *ex;
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  o.quiet_crashes = 1;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &ex), KEEL_OK);
  keel_future *fs[3];
  catch_stderr();
  for (int i = 0; i < 3; i++)
    fs[i] = submit_int(ex, t_segv, i);
  char *text;
  CU_ASSERT_EQUAL(crashes_said(ex, fs, 3, KEEL_SHUTDOWN_WAIT, &text), 0);
  free(text);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_one_block_per_crash), TU_TEST(test_break_is_one_block),
      TU_TEST(test_retry_each_crash), TU_TEST(test_deadline_reported),
      TU_TEST(test_quiet_crashes)};
  return tu_keel_main(&argc, &argv, "mpi_reports", tests,
                      sizeof tests / sizeof *tests);
}
