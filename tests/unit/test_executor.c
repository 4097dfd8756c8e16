/* test_executor: submission as user threads see it, without MPI
 * (api/executor.c): the executor keeps its own copy of an argument;
 * max_pending bounds what is queued, keel_submit_timeout() returns
 * KEEL_EAGAIN after its timeout and a finished task makes room at once;
 * a shut-down or broken executor refuses at once; bad arguments are
 * refused before anything is queued. */
#include "../testutil.h"
#include "fake.h"
#include "api/api.h"

static int work(const void *arg, size_t len, keel_buf *out)
{
  return 0; /* never run here */
}
KEEL_REGISTER(work);

static int unregistered(const void *arg, size_t len, keel_buf *out)
{
  return 0;
}

static keel_executor *executor(size_t max_pending)
{
  keel_executor *ex = fake_executor();
  ex->opt.max_pending = max_pending;
  return ex;
}

/* Drop what was queued: each future's executor reference, as the
 * manager would once it is done. */
static void drain(keel_executor *ex)
{
  keel__queue *q;
  keel__hub_lock();
  while ((q = keel__queue_pop(&ex->submitted)))
    keel_future_release(keel__queue_data(q, keel_future, node));
  keel__hub_unlock();
}

static void finish(keel_future *f)
{
  keel__future_lock();
  keel__future_finish_locked(f, 0, NULL, 0, NULL);
  keel__future_unlock();
  keel__future_broadcast();
}

static void test_copy_and_back_pressure(void)
{
  WATCHDOG(20);
  keel_executor *ex = executor(2);
  char arg[] = "mine";
  keel_future *f[3];
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, work, arg, 5, &f[0]), KEEL_OK);
  arg[0] = 'X'; /* the caller's buffer is free at once */
  CU_ASSERT_STRING_EQUAL((const char *)f[0]->arg, "mine");
  CU_ASSERT_EQUAL_FATAL(keel_submit(ex, work, NULL, 0, &f[1]), KEEL_OK);
  /* full: a timeout of 50 ms passes, KEEL_EAGAIN, nothing queued */
  double t0 = tu_now();
  CU_ASSERT_EQUAL(keel_submit_timeout(ex, work, NULL, 0, 0.05, &f[2]),
                  KEEL_EAGAIN);
  double waited = tu_now() - t0;
  CU_ASSERT_TRUE(waited >= 0.045 && waited < 5);
  CU_ASSERT_EQUAL(keel_submit_timeout(ex, work, NULL, 0, 0, &f[2]),
                  KEEL_EAGAIN); /* 0 polls */
  /* a task done makes a place */
  finish(f[0]);
  CU_ASSERT_EQUAL(keel_submit_timeout(ex, work, NULL, 0, 0, &f[2]), KEEL_OK);
  drain(ex);
  for (int i = 0; i < 3; i++)
    keel_future_release(f[i]);
  free(ex);
}

static void test_refused_at_once(void)
{
  WATCHDOG(20);
  keel_executor *ex = executor(0);
  keel_future *f = NULL;
  CU_ASSERT_EQUAL(keel_submit(NULL, work, NULL, 0, &f), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_submit(ex, NULL, NULL, 0, &f), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_submit(ex, work, NULL, 4, &f), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_submit(ex, work, "x", KEEL_ARG_MAX + 1, &f),
                  KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_submit_timeout(ex, work, NULL, 0, 0.0 / 0.0, &f),
                  KEEL_EINVAL); /* a NaN timeout */
  CU_ASSERT_EQUAL(keel_submit(ex, unregistered, NULL, 0, &f), KEEL_ENOTASK);
  CU_ASSERT_PTR_NULL(f);
  atomic_store(&ex->state, KEEL__X_BROKEN);
  CU_ASSERT_EQUAL(keel_submit(ex, work, NULL, 0, &f), KEEL_EBROKEN);
  atomic_store(&ex->state, KEEL__X_OPEN);
  ex->shutdown = true;
  double t0 = tu_now();
  CU_ASSERT_EQUAL(keel_submit_timeout(ex, work, NULL, 0, 10, &f),
                  KEEL_ESHUTDOWN);
  CU_ASSERT_TRUE(tu_now() - t0 < 1); /* no wait for a place */
  CU_ASSERT_PTR_NULL(f);
  CU_ASSERT_TRUE(keel__queue_empty(&ex->submitted));
  free(ex);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_copy_and_back_pressure),
      TU_TEST(test_refused_at_once),
  };
  return tu_run("executor", tests, sizeof tests / sizeof *tests);
}
