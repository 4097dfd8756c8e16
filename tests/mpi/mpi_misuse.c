/* mpi_misuse: bad input at the API, under keelrun -n 2.  NULL pointers,
 * sizes that overflow, negative counts, a second keel_init, and calls after
 * keel_finalize() get a clear error code, never a crash or corruption (run
 * in the sanitizer builds too).  Releasing a future twice is true misuse:
 * keel.3 says so, and nothing here does it. */
#include "../testutil.h"
#include "tasks.h"

#include <math.h>
#include <stdint.h>

static keel_executor *ex;

static void test_null_pointers(void)
{
  WATCHDOG(30);
  keel_future *f = NULL, *fs[1] = {NULL};
  keel_completion *it = NULL;
  keel_map *m = NULL;
  int x = 1;
  CU_ASSERT_EQUAL(keel_executor_create(NULL, NULL), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_get_reusable_executor(NULL, NULL), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_executor_resize(NULL, 1), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_executor_shutdown(NULL, 0), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_executor_workers(NULL), 0);
  CU_ASSERT_FALSE(keel_executor_broken(NULL));
  CU_ASSERT_EQUAL(keel_submit(ex, t_square, &x, sizeof x, NULL), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_submit(ex, t_square, NULL, 4, &f), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_future_result(NULL, 1, NULL, NULL), KEEL_EINVAL);
  CU_ASSERT_PTR_NULL(keel_future_error(NULL));
  CU_ASSERT_FALSE(keel_future_done(NULL));
  CU_ASSERT_FALSE(keel_future_cancel(NULL));
  CU_ASSERT_EQUAL(keel_future_on_done(NULL, NULL, NULL), KEEL_EINVAL);
  keel_future_release(NULL); /* a no-op, like free(NULL) */
  CU_ASSERT_EQUAL(keel_wait(NULL, 1, KEEL_ALL_COMPLETED, 1, NULL),
                  KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_wait(fs, 1, KEEL_ALL_COMPLETED, 1, NULL),
                  KEEL_EINVAL); /* a NULL future in the array */
  CU_ASSERT_EQUAL(keel_as_completed(NULL, 1, &it), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_as_completed(fs, 1, &it), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_completion_next(NULL, 1, &f), KEEL_EINVAL);
  keel_completion_free(NULL);
  CU_ASSERT_EQUAL(keel_map_start(ex, t_square, NULL, 4, 10, 0, &m),
                  KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_map_start(ex, NULL, &x, 4, 1, 0, &m), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_map_next(NULL, 1, NULL, NULL), KEEL_EINVAL);
  CU_ASSERT_PTR_NULL(keel_map_error(NULL));
  keel_map_free(NULL);
  CU_ASSERT_EQUAL(keel_register(NULL, t_square), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_register("x", NULL), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_buf_append(NULL, &x, 1), KEEL_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(keel_strerror(12345)); /* unknown code: a string */
}

static void test_sizes_that_overflow(void)
{
  WATCHDOG(30);
  keel_future *f = NULL;
  keel_map *m = NULL;
  char small[16] = {0};
  /* never read past the 16 bytes: the length is checked first */
  CU_ASSERT_EQUAL(keel_submit(ex, t_square, small, (size_t)1 << 40, &f),
                  KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_submit(ex, t_square, small, SIZE_MAX, &f),
                  KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_map_start(ex, t_square, small, SIZE_MAX / 2, 3, 0,
                                 &m), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_map_start(ex, t_square, small, 8, SIZE_MAX / 4, 0,
                                 &m), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_map_start(ex, t_square, small, 0, 3, 0, &m),
                  KEEL_EINVAL);
}

static void test_negative_and_bad_values(void)
{
  WATCHDOG(30);
  keel_options o;
  keel_executor *e = NULL;
  keel_future *f = NULL;
  keel_options_init(&o);
  o.max_workers = -1;
  CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
  keel_options_init(&o);
  o.max_retries = -3;
  CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
  keel_options_init(&o);
  o.on_crash = 42;
  CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
  keel_options_init(&o);
  o.max_tasks_per_worker = -1;
  CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_executor_resize(ex, -5), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, 0x100), KEEL_EINVAL);
  int x = 2;
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_square, &x, sizeof x, &f),
                        KEEL_OK);
  CU_ASSERT_EQUAL(keel_wait(&f, 1, 99, 1, NULL), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_future_result(f, 30, NULL, NULL), KEEL_OK);
  keel_future_release(f);
}

static int not_registered(const void *a, size_t l, keel_buf *o)
{
  (void)a;
  (void)l;
  (void)o;
  return 0;
}

/* Options keel(3) documents and no other test gives: each refused with
 * the code it names, nothing created. */
static void test_documented_option_errors(void)
{
  WATCHDOG(30);
  keel_options o;
  keel_executor *e = NULL;
  static const double bad[] = {-1.0, NAN, INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    keel_options_init(&o);
    o.task_timeout = bad[i];
    CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
    keel_options_init(&o);
    o.idle_timeout = bad[i];
    CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
  }
  keel_options_init(&o);
  o.max_inflight = -1;
  CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
  keel_options_init(&o);
  o.initarg_len = 8; /* with a NULL initarg */
  CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
  keel_options_init(&o);
  static char one;
  o.initarg = &one;
  o.initarg_len = KEEL_ARG_MAX + 1; /* checked before it is read */
  CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_EINVAL);
  keel_options_init(&o);
  o.initializer = not_registered;
  CU_ASSERT_EQUAL(keel_executor_create(&o, &e), KEEL_ENOTASK);
  CU_ASSERT_EQUAL(keel_get_reusable_executor(&o, &e), KEEL_ENOTASK);
  CU_ASSERT_PTR_NULL(e);
}

/* max_inflight 1: a worker never holds a task besides the running one, so
 * a queued task can still be cancelled while both workers are busy. */
static void test_max_inflight_one(void)
{
  WATCHDOG(30);
  keel_options o;
  keel_executor *e = NULL;
  keel_options_init(&o);
  o.max_inflight = 1;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &e), KEEL_OK);
  keel_future *fs[6];
  for (int i = 0; i < 6; i++) {
    int ms = 5; /* short: without the cap, several would go to each worker */
    CU_ASSERT_EQUAL_FATAL(keel_submit(e, t_sleep_ms, &ms, sizeof ms, &fs[i]),
                          KEEL_OK);
  }
  for (int i = 0; i < 6; i++)
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 30, NULL, NULL), KEEL_OK);
  /* warm now (5 ms tasks): two 600 ms tasks run, the rest wait here */
  keel_future *g[4];
  for (int i = 0; i < 4; i++) {
    int ms = i < 2 ? 600 : 5;
    CU_ASSERT_EQUAL_FATAL(keel_submit(e, t_sleep_ms, &ms, sizeof ms, &g[i]),
                          KEEL_OK);
  }
  sleep_s(0.2);
  CU_ASSERT_TRUE(keel_future_cancel(g[2]));
  CU_ASSERT_TRUE(keel_future_cancel(g[3]));
  for (int i = 0; i < 2; i++)
    CU_ASSERT_EQUAL(keel_future_result(g[i], 30, NULL, NULL), KEEL_OK);
  for (int i = 0; i < 6; i++)
    keel_future_release(fs[i]);
  for (int i = 0; i < 4; i++)
    keel_future_release(g[i]);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

/* A reusable executor with options: other options make a new one, the same
 * options the same one; a broken executor cannot be resized. */
static void test_reusable_with_options_and_broken_resize(void)
{
  WATCHDOG(60);
  keel_options o;
  keel_executor *a = NULL, *b = NULL, *c = NULL;
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  CU_ASSERT_EQUAL_FATAL(keel_get_reusable_executor(&o, &a), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(keel_get_reusable_executor(&o, &b), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(a, b);
  o.on_crash = KEEL_ON_CRASH_BREAK;
  CU_ASSERT_EQUAL_FATAL(keel_get_reusable_executor(&o, &c), KEEL_OK);
  CU_ASSERT_PTR_NOT_EQUAL(c, a);
  keel_future *f = NULL;
  int x = 0;
  CU_ASSERT_EQUAL_FATAL(keel_submit(c, t_segv, &x, sizeof x, &f), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(f, 30, NULL, NULL), KEEL_EWORKER);
  keel_future_release(f);
  CU_ASSERT_TRUE(keel_executor_broken(c));
  CU_ASSERT_EQUAL(keel_executor_resize(c, 1), KEEL_EBROKEN);
  CU_ASSERT_EQUAL(keel_executor_shutdown(c, 0), KEEL_OK);
}

static void test_second_init(void)
{
  WATCHDOG(30);
  int argc = 0;
  char **argv = NULL;
  CU_ASSERT_EQUAL(keel_init(&argc, &argv), KEEL_ESTATE);
}

/* After keel_finalize(): every call says why it cannot be done. */
static int after_finalize(keel_executor *kept)
{
  int fails = 0, x = 3;
  keel_future *f = NULL;
  keel_executor *e = NULL;
#define EXPECT(call, want)                                                    \
  do {                                                                        \
    int got_ = (call);                                                        \
    if (got_ != (want)) {                                                     \
      fprintf(stderr, "after finalize: %s gave %s, not %s\n", #call,         \
              keel_err_name(got_), keel_err_name(want));                      \
      fails++;                                                                \
    }                                                                         \
  } while (0)
  EXPECT(keel_finalize(), KEEL_ESTATE);
  EXPECT(keel_executor_create(NULL, &e), KEEL_ESTATE);
  EXPECT(keel_get_reusable_executor(NULL, &e), KEEL_ESTATE);
  EXPECT(keel_submit(kept, t_square, &x, sizeof x, &f), KEEL_ESHUTDOWN);
  EXPECT(keel_executor_resize(kept, 2), KEEL_ESHUTDOWN);
#undef EXPECT
  printf("after finalize: %s\n", fails ? "FAILED" : "every call refused");
  return fails;
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {TU_TEST(test_null_pointers),
                                  TU_TEST(test_sizes_that_overflow),
                                  TU_TEST(test_negative_and_bad_values),
                                  TU_TEST(test_documented_option_errors),
                                  TU_TEST(test_max_inflight_one),
                                  TU_TEST(test_reusable_with_options_and_broken_resize),
                                  TU_TEST(test_second_init)};
  if (keel_init(&argc, &argv))
    return 2;
  if (keel_executor_create(NULL, &ex))
    return 2;
  int rc = tu_run("mpi_misuse", tests, sizeof tests / sizeof *tests);
  tu_watchdog("keel_finalize", 60);
  if (keel_finalize() != KEEL_OK)
    rc = 1;
  return after_finalize(ex) ? 1 : rc;
}
