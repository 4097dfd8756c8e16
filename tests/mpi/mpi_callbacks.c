/* mpi_callbacks: what a keel_future_on_done() callback may do, under
 * keelrun -n 2.  Callbacks run on keel's callback thread, never the
 * manager's: a callback that blocks, waits for another future or shuts its
 * executor down delays nothing else, and the two calls that would wait for
 * the callback itself (keel_finalize, and shutdown with WAIT of its own
 * executor) return KEEL_EDEADLK.  Before, each of these wedged the master.
 *
 * KEEL_HEARTBEAT_TIMEOUT is 4 s here (set before keel_init), so a callback
 * that blocks for 5.5 s would lose every rank if it ran on the manager. */
#include "../testutil.h"
#include "tasks.h"

#include <pthread.h>
#include <stdatomic.h>

static pthread_t main_thread;

static keel_future *submit_ms(keel_executor *e, int ms)
{
  keel_future *f = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_submit(e, t_sleep_ms, &ms, sizeof ms, &f),
                        KEEL_OK);
  return f;
}

/* ---- the reproducer: shutdown(CANCEL) in a callback ---- */

typedef struct {
  keel_executor *ex;
  atomic_int rc, calls;
  atomic_bool ran;
} shut_ctx;

static void cb_shutdown_cancel(keel_future *f, void *arg)
{
  (void)f;
  shut_ctx *c = arg;
  atomic_store(&c->rc, keel_executor_shutdown(c->ex, KEEL_SHUTDOWN_CANCEL));
  atomic_store(&c->ran, true);
}

static void test_shutdown_cancel_in_callback(void)
{
  WATCHDOG(60);
  shut_ctx c = {.rc = 1};
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &c.ex), KEEL_OK);
  keel_future *a = submit_ms(c.ex, 300), *b = submit_ms(c.ex, 300);
  CU_ASSERT_EQUAL(keel_future_on_done(a, cb_shutdown_cancel, &c), KEEL_OK);
  int rc = keel_future_result(b, 20, NULL, NULL);
  CU_ASSERT(rc == KEEL_OK || rc == KEEL_ECANCELED);
  CU_ASSERT_EQUAL(keel_future_result(a, 20, NULL, NULL), KEEL_OK);
  double t0 = tu_now();
  while (!atomic_load(&c.ran) && tu_now() - t0 < 20)
    usleep(1000);
  CU_ASSERT_TRUE(atomic_load(&c.ran));
  CU_ASSERT_EQUAL(atomic_load(&c.rc), KEEL_OK);
  keel_future_release(a);
  keel_future_release(b);
}

/* ---- shutdown(WAIT) of its own executor: EDEADLK, nothing done ---- */

static void cb_shutdown_wait(keel_future *f, void *arg)
{
  (void)f;
  shut_ctx *c = arg;
  atomic_store(&c->rc, keel_executor_shutdown(c->ex, KEEL_SHUTDOWN_WAIT));
  atomic_store(&c->ran, true);
}

static void test_shutdown_wait_own_executor_refused(void)
{
  WATCHDOG(60);
  shut_ctx c = {.rc = 1};
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &c.ex), KEEL_OK);
  keel_future *a = submit_ms(c.ex, 10);
  CU_ASSERT_EQUAL(keel_future_on_done(a, cb_shutdown_wait, &c), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(a, 20, NULL, NULL), KEEL_OK);
  double t0 = tu_now();
  while (!atomic_load(&c.ran) && tu_now() - t0 < 20)
    usleep(1000);
  CU_ASSERT_EQUAL(atomic_load(&c.rc), KEEL_EDEADLK);
  /* Refused means nothing happened: the executor still takes work. */
  keel_future *b = submit_ms(c.ex, 1);
  CU_ASSERT_EQUAL(keel_future_result(b, 20, NULL, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_shutdown(c.ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  keel_future_release(a);
  keel_future_release(b);
}

/* ---- waiting for another future inside a callback ---- */

typedef struct {
  keel_future *other;
  atomic_int rc;
  atomic_bool ran;
} wait_ctx;

static void cb_wait_other(keel_future *f, void *arg)
{
  (void)f;
  wait_ctx *c = arg;
  atomic_store(&c->rc, keel_future_result(c->other, KEEL_FOREVER, NULL,
                                          NULL));
  atomic_store(&c->ran, true);
}

static void test_result_forever_in_callback(void)
{
  WATCHDOG(60);
  keel_executor *e;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &e), KEEL_OK);
  wait_ctx c = {.rc = 1};
  keel_future *a = submit_ms(e, 1);
  c.other = submit_ms(e, 300);
  CU_ASSERT_EQUAL(keel_future_on_done(a, cb_wait_other, &c), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(c.other, 20, NULL, NULL), KEEL_OK);
  double t0 = tu_now();
  while (!atomic_load(&c.ran) && tu_now() - t0 < 20)
    usleep(1000);
  CU_ASSERT_TRUE(atomic_load(&c.ran));
  CU_ASSERT_EQUAL(atomic_load(&c.rc), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  keel_future_release(a);
  keel_future_release(c.other);
}

/* ---- a callback that blocks past the heartbeat timeout ---- */

static atomic_bool release_block;

static void cb_block(keel_future *f, void *arg)
{
  (void)f;
  (void)arg;
  double t0 = tu_now();
  while (!atomic_load(&release_block) && tu_now() - t0 < 5.5)
    usleep(1000);
}

static void test_blocking_callback_delays_nothing_else(void)
{
  WATCHDOG(60);
  keel_executor *e;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &e), KEEL_OK);
  atomic_store(&release_block, false);
  keel_future *a = submit_ms(e, 1);
  CU_ASSERT_EQUAL(keel_future_on_done(a, cb_block, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(a, 20, NULL, NULL), KEEL_OK);
  /* The callback blocks for 5.5 s, past the 4 s heartbeat timeout:
   * results must keep coming, every rank must stay. */
  double t0 = tu_now();
  int n = 0;
  while (tu_now() - t0 < 5.0) {
    keel_future *b = submit_ms(e, 20);
    CU_ASSERT_EQUAL(keel_future_result(b, 2, NULL, NULL), KEEL_OK);
    keel_future_release(b);
    n++;
  }
  CU_ASSERT(n > 20);
  CU_ASSERT_EQUAL(keel_executor_workers(e), 2);
  CU_ASSERT_FALSE(keel_executor_broken(e));
  atomic_store(&release_block, true);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  keel_future_release(a);
}

/* ---- shutdown(WAIT) waits for callbacks; which thread runs them ---- */

typedef struct {
  atomic_int order[8];
  atomic_int n;
  pthread_t thread[8];
} order_ctx;

static order_ctx oc;

static void cb_record(keel_future *f, void *arg)
{
  (void)f;
  usleep(50000); /* slower than the tasks: callbacks queue up */
  int i = atomic_fetch_add(&oc.n, 1);
  oc.thread[i] = pthread_self();
  atomic_store(&oc.order[i], (int)(intptr_t)arg);
}

static void test_callbacks_one_thread_waited_by_shutdown(void)
{
  WATCHDOG(60);
  keel_executor *e;
  keel_options o;
  keel_options_init(&o);
  o.max_workers = 1; /* one worker: the futures complete in order */
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(&o, &e), KEEL_OK);
  memset(&oc, 0, sizeof oc);
  keel_future *fs[8];
  for (int i = 0; i < 8; i++) {
    fs[i] = submit_ms(e, 1);
    CU_ASSERT_EQUAL(keel_future_on_done(fs[i], cb_record, (void *)(intptr_t)i),
                    KEEL_OK);
  }
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  /* 8 callbacks of 50 ms each: WAIT returned after all of them */
  CU_ASSERT_EQUAL(atomic_load(&oc.n), 8);
  for (int i = 0; i < 8; i++) {
    CU_ASSERT_EQUAL(atomic_load(&oc.order[i]), i);
    CU_ASSERT_FALSE(pthread_equal(oc.thread[i], main_thread));
    CU_ASSERT_TRUE(pthread_equal(oc.thread[i], oc.thread[0]));
    keel_future_release(fs[i]);
  }
}

/* ---- keel_finalize() in a callback ---- */

static atomic_int finalize_rc = 1;

static void cb_finalize(keel_future *f, void *arg)
{
  (void)f;
  (void)arg;
  atomic_store(&finalize_rc, keel_finalize());
}

static void test_finalize_in_callback_refused(void)
{
  WATCHDOG(60);
  keel_executor *e;
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &e), KEEL_OK);
  keel_future *a = submit_ms(e, 1);
  CU_ASSERT_EQUAL(keel_future_on_done(a, cb_finalize, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  CU_ASSERT_EQUAL(atomic_load(&finalize_rc), KEEL_EDEADLK);
  /* keel still runs */
  CU_ASSERT_EQUAL(keel_executor_create(NULL, &e), KEEL_OK);
  keel_future *b = submit_ms(e, 1);
  CU_ASSERT_EQUAL(keel_future_result(b, 20, NULL, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_shutdown(e, KEEL_SHUTDOWN_WAIT), KEEL_OK);
  keel_future_release(a);
  keel_future_release(b);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_shutdown_cancel_in_callback),
      TU_TEST(test_shutdown_wait_own_executor_refused),
      TU_TEST(test_result_forever_in_callback),
      TU_TEST(test_blocking_callback_delays_nothing_else),
      TU_TEST(test_callbacks_one_thread_waited_by_shutdown),
      TU_TEST(test_finalize_in_callback_refused)};
  main_thread = pthread_self();
  setenv("KEEL_HEARTBEAT_TIMEOUT", "4", 1);
  if (keel_init(&argc, &argv))
    return 2;
  int rc = tu_run("mpi_callbacks", tests, sizeof tests / sizeof *tests);
  /* The reusable executor survives no finalize: ESTATE after it. */
  keel_executor *r = NULL, *again = NULL;
  if (keel_get_reusable_executor(NULL, &r) != KEEL_OK)
    rc = 1;
  tu_watchdog("keel_finalize", 60);
  if (keel_finalize() != KEEL_OK)
    rc = 1;
  int got = keel_get_reusable_executor(NULL, &again);
  if (got != KEEL_ESTATE) {
    fprintf(stderr, "reusable executor after finalize: %s, not KEEL_ESTATE\n",
            keel_err_name(got));
    rc = 1;
  }
  return rc;
}
