/* test_future: the future state machine, waiting and keel_wait (future.c),
 * without MPI.  The tests play the manager thread themselves: they finish
 * futures with keel__future_finish_locked under the futures' lock, then
 * unlock, broadcast and run the callbacks, as the manager thread does. */
#include "../testutil.h"
#include "api/api.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sys/wait.h>

/* ---- helpers ---- */

static char *dupstr(const char *s, size_t *len)
{
  *len = strlen(s);
  char *d = malloc(*len + 1);
  memcpy(d, s, *len + 1);
  return d;
}

/* Finish f as the manager does.  data (copied) is the result when code is
 * 0. */
static bool finish(keel_future *f, int code, const char *data,
                   const keel_error *e)
{
  size_t len = 0;
  char *d = data ? dupstr(data, &len) : NULL;
  keel__future_lock();
  bool done = keel__future_finish_locked(f, code, d, len, e);
  keel__future_unlock();
  keel__future_broadcast();
  if (done)
    keel__future_run_cbs(f);
  return done;
}

static void set_state(keel_future *f, int state)
{
  keel__future_lock();
  f->state = state;
  keel__future_unlock();
}

static keel_future *new_future(void)
{
  keel_future *f = keel__future_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  return f;
}

/* A thread that finishes a future after a delay. */
typedef struct finisher {
  pthread_t t;
  keel_future *f;
  double delay;
  int code;
  const char *data;
  bool done;
} finisher;

static void *finisher_main(void *arg)
{
  finisher *x = arg;
  keel__clock_sleep(x->delay);
  x->done = finish(x->f, x->code, x->data, NULL);
  return NULL;
}

static void finish_later(finisher *x, keel_future *f, double delay, int code,
                         const char *data)
{
  *x = (finisher){.f = f, .delay = delay, .code = code, .data = data};
  CU_ASSERT_EQUAL_FATAL(pthread_create(&x->t, NULL, finisher_main, x), 0);
}

static void join(finisher *x)
{
  pthread_join(x->t, NULL);
}

/* ---- state ---- */

static void test_new_future_pending(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  CU_ASSERT_EQUAL(atomic_load(&f->refs), 1);
  CU_ASSERT_EQUAL(f->state, KEEL__F_PENDING);
  CU_ASSERT_EQUAL(f->err.rank, -1);
  CU_ASSERT_EQUAL(f->err.exit_status, -1);
  CU_ASSERT_FALSE(keel_future_done(f));
  CU_ASSERT_FALSE(keel_future_running(f));
  CU_ASSERT_FALSE(keel_future_cancelled(f));
  CU_ASSERT_PTR_NULL(keel_future_error(f));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_ETIMEDOUT);
  set_state(f, KEEL__F_RUNNING);
  CU_ASSERT_TRUE(keel_future_running(f));
  CU_ASSERT_FALSE(keel_future_done(f));
  CU_ASSERT_PTR_NULL(keel_future_error(f));
  keel_future_release(f);

  /* NULL is handled everywhere */
  CU_ASSERT_EQUAL(keel_future_result(NULL, 0, NULL, NULL), KEEL_EINVAL);
  CU_ASSERT_FALSE(keel_future_done(NULL));
  CU_ASSERT_FALSE(keel_future_running(NULL));
  CU_ASSERT_FALSE(keel_future_cancelled(NULL));
  CU_ASSERT_FALSE(keel_future_cancel(NULL));
  CU_ASSERT_PTR_NULL(keel_future_error(NULL));
  CU_ASSERT_EQUAL(keel_future_task_id(NULL), 0);
  keel_future_release(NULL);
}

static void test_finish_success(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  f->task_id = 31;
  set_state(f, KEEL__F_RUNNING);
  CU_ASSERT_TRUE(finish(f, KEEL_OK, "hello", NULL));
  CU_ASSERT_TRUE(keel_future_done(f));
  CU_ASSERT_FALSE(keel_future_running(f));
  CU_ASSERT_FALSE(keel_future_cancelled(f));
  CU_ASSERT_PTR_NULL(keel_future_error(f));
  CU_ASSERT_EQUAL(keel_future_task_id(f), 31);
  const void *d = NULL;
  size_t len = 0;
  CU_ASSERT_EQUAL(keel_future_result(f, 0, &d, &len), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(len, 5);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_EQUAL(memcmp(d, "hello", 5), 0);
  /* again, with a timeout and forever: same answer at once */
  CU_ASSERT_EQUAL(keel_future_result(f, 5.0, &d, &len), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_result(f, KEEL_FOREVER, NULL, &len), KEEL_OK);
  CU_ASSERT_EQUAL(len, 5);
  CU_ASSERT_EQUAL(keel_future_result(f, KEEL_FOREVER, &d, NULL), KEEL_OK);

  /* a second finish is refused and changes nothing (its data is freed) */
  CU_ASSERT_FALSE(finish(f, KEEL_OK, "other", NULL));
  CU_ASSERT_FALSE(finish(f, KEEL_ETASK, "x", NULL));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, &d, &len), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(len, 5);
  CU_ASSERT_EQUAL(memcmp(d, "hello", 5), 0);
  CU_ASSERT_PTR_NULL(keel_future_error(f));
  keel_future_release(f);

  /* an empty result */
  f = new_future();
  CU_ASSERT_TRUE(finish(f, KEEL_OK, NULL, NULL));
  len = 99;
  CU_ASSERT_EQUAL(keel_future_result(f, 0, &d, &len), KEEL_OK);
  CU_ASSERT_EQUAL(len, 0);
  CU_ASSERT_PTR_NULL(keel_future_error(f));
  keel_future_release(f);
}

static void test_finish_failure(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  f->task_id = 77;
  char msg[] = "the task crashed", host[] = "nodeA", bt[] = "#0 boom()";
  keel_error e = {KEEL_EWORKER, msg, 4, host, 11, -1, 5, bt, 4321};
  CU_ASSERT_TRUE(finish(f, KEEL_EWORKER, NULL, &e));
  memset(msg, 0, sizeof msg); /* copied, not kept */
  memset(host, 0, sizeof host);
  memset(bt, 0, sizeof bt);
  const void *d = (const void *)1;
  size_t len = 123;
  CU_ASSERT_EQUAL(keel_future_result(f, 0, &d, &len), KEEL_EWORKER);
  CU_ASSERT_PTR_NULL(d);
  CU_ASSERT_EQUAL(len, 0);
  CU_ASSERT_TRUE(keel_future_done(f));
  CU_ASSERT_FALSE(keel_future_cancelled(f));
  const keel_error *err = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(err);
  CU_ASSERT_EQUAL(err->code, KEEL_EWORKER);
  CU_ASSERT_STRING_EQUAL(err->message, "the task crashed");
  CU_ASSERT_EQUAL(err->rank, 4);
  CU_ASSERT_PTR_NOT_NULL_FATAL(err->host);
  CU_ASSERT_STRING_EQUAL(err->host, "nodeA");
  CU_ASSERT_EQUAL(err->signal, 11);
  CU_ASSERT_EQUAL(err->exit_status, -1);
  CU_ASSERT_EQUAL(err->task_id, 77); /* the future's id, not e's */
  CU_ASSERT_EQUAL(err->pid, 4321);
  CU_ASSERT_PTR_NOT_NULL_FATAL(err->backtrace);
  CU_ASSERT_STRING_EQUAL(err->backtrace, "#0 boom()");
  /* a later success does not overwrite the failure */
  CU_ASSERT_FALSE(finish(f, KEEL_OK, "late", NULL));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, &d, &len), KEEL_EWORKER);
  keel_future_release(f);

  /* without an error record: the code's own message, fields unknown */
  f = new_future();
  f->task_id = 78;
  CU_ASSERT_TRUE(finish(f, KEEL_EDEADLINE, NULL, NULL));
  CU_ASSERT_EQUAL(keel_future_result(f, KEEL_FOREVER, NULL, NULL),
                  KEEL_EDEADLINE);
  err = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(err);
  CU_ASSERT_EQUAL(err->code, KEEL_EDEADLINE);
  CU_ASSERT_PTR_NOT_NULL_FATAL(err->message);
  CU_ASSERT_STRING_EQUAL(err->message, keel_strerror(KEEL_EDEADLINE));
  CU_ASSERT_EQUAL(err->rank, -1);
  CU_ASSERT_PTR_NULL(err->host);
  CU_ASSERT_EQUAL(err->signal, 0);
  CU_ASSERT_EQUAL(err->exit_status, -1);
  CU_ASSERT_EQUAL(err->task_id, 78);
  CU_ASSERT_PTR_NULL(err->backtrace);
  keel_future_release(f);

  /* keel__future_fail: the convenience for the manager */
  f = new_future();
  f->task_id = 79;
  keel__future_fail(f, KEEL_EBROKEN, "executor broke");
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_EBROKEN);
  err = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(err);
  CU_ASSERT_STRING_EQUAL(err->message, "executor broke");
  CU_ASSERT_EQUAL(err->task_id, 79);
  keel__future_fail(f, KEEL_ESHUTDOWN, "again"); /* already done: no-op */
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_EBROKEN);
  CU_ASSERT_STRING_EQUAL(keel_future_error(f)->message, "executor broke");
  keel_future_release(f);
}

/* ---- waiting for the result ---- */

static void test_result_timeouts(void)
{
  WATCHDOG(20);
  keel_future *f = new_future();
  const void *d = (const void *)1;
  size_t len = 42;
  double t0 = tu_now();
  CU_ASSERT_EQUAL(keel_future_result(f, 0, &d, &len), KEEL_ETIMEDOUT);
  CU_ASSERT_TRUE(tu_now() - t0 < 0.5);
  t0 = tu_now();
  CU_ASSERT_EQUAL(keel_future_result(f, 0.2, &d, &len), KEEL_ETIMEDOUT);
  double el = tu_now() - t0;
  CU_ASSERT_TRUE(el >= 0.2 - 1e-3);
  CU_ASSERT_TRUE(el < 3.0);
  t0 = tu_now();
  CU_ASSERT_EQUAL(keel_future_result(f, 0.01, NULL, NULL), KEEL_ETIMEDOUT);
  el = tu_now() - t0;
  CU_ASSERT_TRUE(el >= 0.01 - 1e-3);
  CU_ASSERT_TRUE(el < 3.0);
  /* timing out does not finish it */
  CU_ASSERT_FALSE(keel_future_done(f));
  CU_ASSERT_TRUE(finish(f, KEEL_OK, "late", NULL));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, &d, &len), KEEL_OK);
  CU_ASSERT_EQUAL(len, 4);
  keel_future_release(f);
}

static void test_result_forever_finished_by_thread(void)
{
  WATCHDOG(20);
  keel_future *f = new_future();
  finisher x;
  double t0 = tu_now();
  finish_later(&x, f, 0.2, KEEL_OK, "from thread");
  const void *d = NULL;
  size_t len = 0;
  CU_ASSERT_EQUAL(keel_future_result(f, KEEL_FOREVER, &d, &len), KEEL_OK);
  double el = tu_now() - t0;
  CU_ASSERT_TRUE(el >= 0.15);
  CU_ASSERT_TRUE(el < 5.0);
  CU_ASSERT_EQUAL_FATAL(len, 11);
  CU_ASSERT_EQUAL(memcmp(d, "from thread", 11), 0);
  join(&x);
  CU_ASSERT_TRUE(x.done);
  keel_future_release(f);

  /* a long timeout is cut short by the finish */
  f = new_future();
  t0 = tu_now();
  finish_later(&x, f, 0.1, KEEL_ETASK, NULL);
  CU_ASSERT_EQUAL(keel_future_result(f, 30.0, NULL, NULL), KEEL_ETASK);
  el = tu_now() - t0;
  CU_ASSERT_TRUE(el >= 0.05);
  CU_ASSERT_TRUE(el < 10.0);
  join(&x);
  keel_future_release(f);

  /* a short timeout runs out first; the future finishes later */
  f = new_future();
  finish_later(&x, f, 0.5, KEEL_OK, "z");
  CU_ASSERT_EQUAL(keel_future_result(f, 0.05, NULL, NULL), KEEL_ETIMEDOUT);
  CU_ASSERT_EQUAL(keel_future_result(f, KEEL_FOREVER, NULL, &len), KEEL_OK);
  CU_ASSERT_EQUAL(len, 1);
  join(&x);
  keel_future_release(f);
}

typedef struct waiter {
  pthread_t t;
  keel_future *f;
  int rc;
  size_t len;
} waiter;

static void *waiter_main(void *arg)
{
  waiter *w = arg;
  w->rc = keel_future_result(w->f, KEEL_FOREVER, NULL, &w->len);
  return NULL;
}

static void test_many_waiters(void)
{
  WATCHDOG(20);
  enum { N = 8 };
  keel_future *f = new_future();
  waiter w[N];
  for (int i = 0; i < N; i++) {
    w[i] = (waiter){.f = f, .rc = 12345};
    CU_ASSERT_EQUAL_FATAL(pthread_create(&w[i].t, NULL, waiter_main, &w[i]),
                          0);
  }
  keel__clock_sleep(0.1);
  CU_ASSERT_TRUE(finish(f, KEEL_OK, "all", NULL));
  int ok = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(w[i].t, NULL);
    ok += w[i].rc == KEEL_OK && w[i].len == 3;
  }
  CU_ASSERT_EQUAL(ok, N);
  keel_future_release(f);
}

/* ---- cancel ---- */

typedef struct cbrec {
  int calls;
  keel_future *f;
  void *arg;
  pthread_t thread;
  bool done_seen;  /* keel_future_done() inside the callback */
  int result_seen; /* keel_future_result(f, 0) inside the callback */
  int order[8];
  int norder;
} cbrec;

static void cb_record(keel_future *f, void *arg)
{
  cbrec *r = arg;
  r->calls++;
  r->f = f;
  r->arg = arg;
  r->thread = pthread_self();
  /* the callback runs without the futures' lock held: these would deadlock */
  r->done_seen = keel_future_done(f);
  r->result_seen = keel_future_result(f, 0, NULL, NULL);
}

static void test_cancel_pending(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  cbrec r = {0};
  CU_ASSERT_EQUAL(keel_future_on_done(f, cb_record, &r), KEEL_OK);
  CU_ASSERT_EQUAL(r.calls, 0);
  CU_ASSERT_TRUE(keel_future_cancel(f));
  CU_ASSERT_TRUE(keel_future_cancelled(f));
  CU_ASSERT_TRUE(keel_future_done(f));
  CU_ASSERT_FALSE(keel_future_running(f));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_ECANCELED);
  CU_ASSERT_EQUAL(keel_future_result(f, KEEL_FOREVER, NULL, NULL),
                  KEEL_ECANCELED);
  const keel_error *e = keel_future_error(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_EQUAL(e->code, KEEL_ECANCELED);
  CU_ASSERT_PTR_NOT_NULL(e->message);
  /* the callback ran once, in this thread, after the state changed */
  CU_ASSERT_EQUAL(r.calls, 1);
  CU_ASSERT_PTR_EQUAL(r.f, f);
  CU_ASSERT_TRUE(pthread_equal(r.thread, pthread_self()));
  CU_ASSERT_TRUE(r.done_seen);
  CU_ASSERT_EQUAL(r.result_seen, KEEL_ECANCELED);
  /* cancelling again neither reruns the callback nor changes the state */
  (void)keel_future_cancel(f);
  CU_ASSERT_EQUAL(r.calls, 1);
  CU_ASSERT_TRUE(keel_future_cancelled(f));
  /* the manager finishing it later is refused */
  CU_ASSERT_FALSE(finish(f, KEEL_OK, "too late", NULL));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_ECANCELED);
  CU_ASSERT_EQUAL(r.calls, 1);
  keel_future_release(f);

  /* a waiter in another thread is woken by the cancel */
  f = new_future();
  waiter w = {.f = f, .rc = 12345};
  CU_ASSERT_EQUAL_FATAL(pthread_create(&w.t, NULL, waiter_main, &w), 0);
  keel__clock_sleep(0.05);
  CU_ASSERT_TRUE(keel_future_cancel(f));
  pthread_join(w.t, NULL);
  CU_ASSERT_EQUAL(w.rc, KEEL_ECANCELED);
  keel_future_release(f);
}

static void test_cancel_running_or_finished(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  cbrec r = {0};
  CU_ASSERT_EQUAL(keel_future_on_done(f, cb_record, &r), KEEL_OK);
  set_state(f, KEEL__F_RUNNING);
  CU_ASSERT_FALSE(keel_future_cancel(f));
  CU_ASSERT_FALSE(keel_future_cancelled(f));
  CU_ASSERT_FALSE(keel_future_done(f));
  CU_ASSERT_TRUE(keel_future_running(f));
  CU_ASSERT_EQUAL(r.calls, 0);
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_ETIMEDOUT);
  CU_ASSERT_TRUE(finish(f, KEEL_OK, "ran", NULL));
  CU_ASSERT_EQUAL(r.calls, 1);
  CU_ASSERT_EQUAL(r.result_seen, KEEL_OK);
  CU_ASSERT_FALSE(keel_future_cancel(f));
  CU_ASSERT_FALSE(keel_future_cancelled(f));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(r.calls, 1);
  keel_future_release(f);

  /* finished with an error, never running: still not cancellable */
  f = new_future();
  CU_ASSERT_TRUE(finish(f, KEEL_ETASK, NULL, NULL));
  CU_ASSERT_FALSE(keel_future_cancel(f));
  CU_ASSERT_FALSE(keel_future_cancelled(f));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_ETASK);
  keel_future_release(f);

  /* the manager cancelling (shutdown) sets the cancelled state too */
  f = new_future();
  CU_ASSERT_TRUE(finish(f, KEEL_ECANCELED, NULL, NULL));
  CU_ASSERT_TRUE(keel_future_cancelled(f));
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, NULL), KEEL_ECANCELED);
  keel_future_release(f);
}

/* ---- callbacks ---- */

static void cb_order(keel_future *f, void *arg)
{
  cbrec *r = (cbrec *)((void **)arg)[0];
  int id = (int)(intptr_t)((void **)arg)[1];
  if (r->norder < 8)
    r->order[r->norder++] = id;
  r->calls++;
  r->thread = pthread_self();
}

static void test_on_done_before_finish(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  cbrec r = {0};
  void *args[3][2] = {{&r, (void *)1}, {&r, (void *)2}, {&r, (void *)3}};
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(keel_future_on_done(f, cb_order, args[i]), KEEL_OK);
  CU_ASSERT_EQUAL(r.calls, 0);
  /* finished by another thread: the callbacks run there, in order, once */
  finisher x;
  finish_later(&x, f, 0.05, KEEL_OK, "v");
  join(&x);
  CU_ASSERT_TRUE(x.done);
  CU_ASSERT_EQUAL_FATAL(r.calls, 3);
  CU_ASSERT_EQUAL(r.order[0], 1);
  CU_ASSERT_EQUAL(r.order[1], 2);
  CU_ASSERT_EQUAL(r.order[2], 3);
  CU_ASSERT_TRUE(pthread_equal(r.thread, x.t));
  CU_ASSERT_FALSE(pthread_equal(r.thread, pthread_self()));
  /* no second run */
  CU_ASSERT_FALSE(finish(f, KEEL_OK, "w", NULL));
  CU_ASSERT_EQUAL(r.calls, 3);
  CU_ASSERT_TRUE(keel__queue_empty(&f->cbs));
  keel_future_release(f);

  /* the callback sees the future done and can use the API */
  f = new_future();
  cbrec s = {0};
  CU_ASSERT_EQUAL(keel_future_on_done(f, cb_record, &s), KEEL_OK);
  CU_ASSERT_TRUE(finish(f, KEEL_ETASK, NULL, NULL));
  CU_ASSERT_EQUAL(s.calls, 1);
  CU_ASSERT_PTR_EQUAL(s.f, f);
  CU_ASSERT_PTR_EQUAL(s.arg, &s);
  CU_ASSERT_TRUE(s.done_seen);
  CU_ASSERT_EQUAL(s.result_seen, KEEL_ETASK);
  keel_future_release(f);
}

static void test_on_done_after_done(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  CU_ASSERT_TRUE(finish(f, KEEL_OK, "x", NULL));
  cbrec r = {0};
  CU_ASSERT_EQUAL(keel_future_on_done(f, cb_record, &r), KEEL_OK);
  /* at once, in this thread, once */
  CU_ASSERT_EQUAL(r.calls, 1);
  CU_ASSERT_TRUE(pthread_equal(r.thread, pthread_self()));
  CU_ASSERT_TRUE(r.done_seen);
  CU_ASSERT_EQUAL(r.result_seen, KEEL_OK);
  CU_ASSERT_TRUE(keel__queue_empty(&f->cbs)); /* not kept for a later run */
  CU_ASSERT_FALSE(finish(f, KEEL_OK, "y", NULL));
  CU_ASSERT_EQUAL(r.calls, 1);
  /* a second callback also runs at once */
  CU_ASSERT_EQUAL(keel_future_on_done(f, cb_record, &r), KEEL_OK);
  CU_ASSERT_EQUAL(r.calls, 2);
  keel_future_release(f);

  /* after a cancel too */
  f = new_future();
  CU_ASSERT_TRUE(keel_future_cancel(f));
  cbrec c = {0};
  CU_ASSERT_EQUAL(keel_future_on_done(f, cb_record, &c), KEEL_OK);
  CU_ASSERT_EQUAL(c.calls, 1);
  CU_ASSERT_EQUAL(c.result_seen, KEEL_ECANCELED);
  keel_future_release(f);
}

static void test_on_done_bad_args_and_unrun(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  cbrec r = {0};
  CU_ASSERT_EQUAL(keel_future_on_done(NULL, cb_record, &r), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_future_on_done(f, NULL, &r), KEEL_EINVAL);
  CU_ASSERT_TRUE(keel__queue_empty(&f->cbs));
  /* callbacks of a future released before it finished are freed, not run
   * (valgrind checks the freeing) */
  CU_ASSERT_EQUAL(keel_future_on_done(f, cb_record, &r), KEEL_OK);
  CU_ASSERT_EQUAL(keel_future_on_done(f, cb_record, &r), KEEL_OK);
  CU_ASSERT_FALSE(keel__queue_empty(&f->cbs));
  keel_future_release(f);
  CU_ASSERT_EQUAL(r.calls, 0);
}

static void test_refs(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  keel__future_ref(f);
  keel__future_ref(f);
  CU_ASSERT_EQUAL(atomic_load(&f->refs), 3);
  keel_future_release(f);
  CU_ASSERT_EQUAL(atomic_load(&f->refs), 2);
  /* still usable while a reference is held */
  CU_ASSERT_TRUE(finish(f, KEEL_OK, "still here", NULL));
  keel_future_release(f);
  CU_ASSERT_EQUAL(atomic_load(&f->refs), 1);
  size_t len = 0;
  CU_ASSERT_EQUAL(keel_future_result(f, 0, NULL, &len), KEEL_OK);
  CU_ASSERT_EQUAL(len, 10);
  keel_future_release(f); /* the last: freed (valgrind checks) */
}

/* ---- keel_wait ---- */

static void test_wait_invalid(void)
{
  WATCHDOG(10);
  keel_future *f = new_future();
  keel_future *fs[2] = {f, NULL};
  size_t nd = 99;
  CU_ASSERT_EQUAL(keel_wait(fs, 1, 0, 0, &nd), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_wait(fs, 1, 4, 0, &nd), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_wait(fs, 1, -1, 0, &nd), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_wait(NULL, 1, KEEL_ALL_COMPLETED, 0, &nd),
                  KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_wait(fs, 2, KEEL_ALL_COMPLETED, 0, &nd), KEEL_EINVAL);
  /* invalid arguments fail at once, even with an endless timeout */
  CU_ASSERT_EQUAL(keel_wait(fs, 1, 0, KEEL_FOREVER, &nd), KEEL_EINVAL);
  /* n == 0: every condition holds at once */
  for (int w = KEEL_FIRST_COMPLETED; w <= KEEL_ALL_COMPLETED; w++) {
    nd = 99;
    CU_ASSERT_EQUAL(keel_wait(NULL, 0, w, KEEL_FOREVER, &nd), KEEL_OK);
    CU_ASSERT_EQUAL(nd, 0);
  }
  keel_future_release(f);
}

static void test_wait_first_completed(void)
{
  WATCHDOG(20);
  keel_future *fs[3] = {new_future(), new_future(), new_future()};
  size_t nd = 99;
  double t0 = tu_now();
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_COMPLETED, 0, &nd),
                  KEEL_ETIMEDOUT);
  CU_ASSERT_EQUAL(nd, 0);
  CU_ASSERT_TRUE(tu_now() - t0 < 0.5);
  t0 = tu_now();
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_COMPLETED, 0.1, &nd),
                  KEEL_ETIMEDOUT);
  double el = tu_now() - t0;
  CU_ASSERT_TRUE(el >= 0.1 - 1e-3);
  CU_ASSERT_TRUE(el < 3.0);
  CU_ASSERT_EQUAL(nd, 0);
  /* the last one finishing is enough */
  CU_ASSERT_TRUE(finish(fs[2], KEEL_OK, "c", NULL));
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_COMPLETED, 0, &nd), KEEL_OK);
  CU_ASSERT_EQUAL(nd, 1);
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_COMPLETED, 0, NULL), KEEL_OK);
  /* from another thread, waiting without limit */
  keel_future *gs[2] = {new_future(), new_future()};
  finisher x;
  t0 = tu_now();
  finish_later(&x, gs[1], 0.15, KEEL_OK, "g");
  nd = 99;
  CU_ASSERT_EQUAL(keel_wait(gs, 2, KEEL_FIRST_COMPLETED, KEEL_FOREVER, &nd),
                  KEEL_OK);
  CU_ASSERT_TRUE(tu_now() - t0 >= 0.1);
  CU_ASSERT_EQUAL(nd, 1);
  CU_ASSERT_TRUE(keel_future_done(gs[1]));
  CU_ASSERT_FALSE(keel_future_done(gs[0]));
  join(&x);
  /* a cancelled future counts as completed */
  CU_ASSERT_TRUE(keel_future_cancel(gs[0]));
  keel_future *h[1] = {gs[0]};
  CU_ASSERT_EQUAL(keel_wait(h, 1, KEEL_FIRST_COMPLETED, 0, &nd), KEEL_OK);
  CU_ASSERT_EQUAL(nd, 1);
  for (int i = 0; i < 3; i++)
    keel_future_release(fs[i]);
  keel_future_release(gs[0]);
  keel_future_release(gs[1]);
}

static void test_wait_all_completed(void)
{
  WATCHDOG(20);
  keel_future *fs[4] = {new_future(), new_future(), new_future(),
                        new_future()};
  size_t nd = 99;
  CU_ASSERT_EQUAL(keel_wait(fs, 4, KEEL_ALL_COMPLETED, 0, &nd),
                  KEEL_ETIMEDOUT);
  CU_ASSERT_EQUAL(nd, 0);
  CU_ASSERT_TRUE(finish(fs[0], KEEL_OK, "a", NULL));
  CU_ASSERT_TRUE(finish(fs[2], KEEL_ETASK, NULL, NULL)); /* failed counts */
  CU_ASSERT_TRUE(keel_future_cancel(fs[3]));             /* so does cancel */
  double t0 = tu_now();
  CU_ASSERT_EQUAL(keel_wait(fs, 4, KEEL_ALL_COMPLETED, 0.1, &nd),
                  KEEL_ETIMEDOUT);
  CU_ASSERT_TRUE(tu_now() - t0 >= 0.1 - 1e-3);
  CU_ASSERT_EQUAL(nd, 3);
  /* the last from another thread */
  finisher x;
  finish_later(&x, fs[1], 0.1, KEEL_OK, "b");
  nd = 99;
  CU_ASSERT_EQUAL(keel_wait(fs, 4, KEEL_ALL_COMPLETED, KEEL_FOREVER, &nd),
                  KEEL_OK);
  CU_ASSERT_EQUAL(nd, 4);
  join(&x);
  /* done already: holds at once, with any timeout */
  CU_ASSERT_EQUAL(keel_wait(fs, 4, KEEL_ALL_COMPLETED, 0, &nd), KEEL_OK);
  CU_ASSERT_EQUAL(nd, 4);
  /* the same future twice */
  keel_future *dup[3] = {fs[0], fs[0], fs[1]};
  CU_ASSERT_EQUAL(keel_wait(dup, 3, KEEL_ALL_COMPLETED, 0, &nd), KEEL_OK);
  CU_ASSERT_EQUAL(nd, 3);
  for (int i = 0; i < 4; i++)
    keel_future_release(fs[i]);
}

static void test_wait_first_exception(void)
{
  WATCHDOG(20);
  keel_future *fs[3] = {new_future(), new_future(), new_future()};
  size_t nd = 99;
  /* successes alone do not end the wait */
  CU_ASSERT_TRUE(finish(fs[0], KEEL_OK, "a", NULL));
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_EXCEPTION, 0.05, &nd),
                  KEEL_ETIMEDOUT);
  CU_ASSERT_EQUAL(nd, 1);
  /* a failure does, while others are still pending */
  CU_ASSERT_TRUE(finish(fs[2], KEEL_ETASK, NULL, NULL));
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_EXCEPTION, 0, &nd), KEEL_OK);
  CU_ASSERT_EQUAL(nd, 2);
  CU_ASSERT_FALSE(keel_future_done(fs[1]));
  for (int i = 0; i < 3; i++)
    keel_future_release(fs[i]);

  /* a failure at the front of the list (in the done prefix) */
  keel_future *gs[3] = {new_future(), new_future(), new_future()};
  CU_ASSERT_TRUE(finish(gs[0], KEEL_EWORKER, NULL, NULL));
  CU_ASSERT_TRUE(finish(gs[1], KEEL_OK, "b", NULL));
  CU_ASSERT_EQUAL(keel_wait(gs, 3, KEEL_FIRST_EXCEPTION, 0, &nd), KEEL_OK);
  CU_ASSERT_EQUAL(nd, 2);
  /* a failure in the middle of the done prefix */
  keel_future *hs[3] = {gs[1], gs[0], gs[2]};
  CU_ASSERT_EQUAL(keel_wait(hs, 3, KEEL_FIRST_EXCEPTION, 0, &nd), KEEL_OK);
  CU_ASSERT_EQUAL(nd, 2);
  for (int i = 0; i < 3; i++)
    keel_future_release(gs[i]);

  /* a failure from another thread wakes an endless wait early */
  keel_future *ks[3] = {new_future(), new_future(), new_future()};
  finisher x;
  finish_later(&x, ks[1], 0.1, KEEL_EDEADLINE, NULL);
  nd = 99;
  CU_ASSERT_EQUAL(keel_wait(ks, 3, KEEL_FIRST_EXCEPTION, KEEL_FOREVER, &nd),
                  KEEL_OK);
  CU_ASSERT_EQUAL(nd, 1);
  CU_ASSERT_FALSE(keel_future_done(ks[0]));
  CU_ASSERT_FALSE(keel_future_done(ks[2]));
  join(&x);
  for (int i = 0; i < 3; i++)
    keel_future_release(ks[i]);
}

static void test_wait_first_exception_without_failure(void)
{
  WATCHDOG(20);
  /* no failure: FIRST_EXCEPTION behaves as ALL_COMPLETED */
  keel_future *fs[3] = {new_future(), new_future(), new_future()};
  size_t nd = 99;
  CU_ASSERT_TRUE(finish(fs[0], KEEL_OK, "a", NULL));
  CU_ASSERT_TRUE(keel_future_cancel(fs[1])); /* a cancel is no exception */
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_EXCEPTION, 0.05, &nd),
                  KEEL_ETIMEDOUT);
  CU_ASSERT_EQUAL(nd, 2);
  finisher x;
  finish_later(&x, fs[2], 0.1, KEEL_OK, "c");
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_EXCEPTION, KEEL_FOREVER, &nd),
                  KEEL_OK);
  CU_ASSERT_EQUAL(nd, 3);
  join(&x);
  CU_ASSERT_EQUAL(keel_wait(fs, 3, KEEL_FIRST_EXCEPTION, 0, &nd), KEEL_OK);
  CU_ASSERT_EQUAL(nd, 3);
  for (int i = 0; i < 3; i++)
    keel_future_release(fs[i]);
}

static void test_wait_finished_in_any_order(void)
{
  WATCHDOG(20);
  /* futures finished back to front while waiting: ndone counts all */
  enum { N = 6 };
  keel_future *fs[N];
  finisher x[N];
  for (int i = 0; i < N; i++)
    fs[i] = new_future();
  for (int i = 0; i < N; i++)
    finish_later(&x[i], fs[i], 0.02 * (N - i), KEEL_OK, "r");
  size_t nd = 0;
  CU_ASSERT_EQUAL(keel_wait(fs, N, KEEL_ALL_COMPLETED, KEEL_FOREVER, &nd),
                  KEEL_OK);
  CU_ASSERT_EQUAL(nd, N);
  int done = 0;
  for (int i = 0; i < N; i++) {
    join(&x[i]);
    done += keel_future_done(fs[i]);
    keel_future_release(fs[i]);
  }
  CU_ASSERT_EQUAL(done, N);
}

/* ---- very long timeouts, in a child process ----
 * A wait that never returns would hold the futures' lock and stop the whole
 * program, so these run in a forked child that the parent kills after
 * `limit` seconds.  Returns the child's exit status, or -1 if it hung. */
static int in_child(int (*fn)(double), double timeout, double limit)
{
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return -2;
  if (pid == 0) {
    alarm((unsigned)limit + 5); /* a last resort if the parent dies */
    _exit(fn(timeout));
  }
  int st = 0;
  double end = tu_now() + limit;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : -3;
    if (tu_now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    keel__clock_sleep(0.01);
  }
}

/* keel_future_result(timeout) on a future another thread finishes after
 * 0.1 s: 0 if it returned KEEL_OK. */
static int child_result(double timeout)
{
  keel_future *f = keel__future_new();
  finisher x = {.f = f, .delay = 0.1, .code = KEEL_OK, .data = "x"};
  if (!f || pthread_create(&x.t, NULL, finisher_main, &x))
    return 20;
  int rc = keel_future_result(f, timeout, NULL, NULL);
  pthread_join(x.t, NULL);
  keel_future_release(f);
  return rc == KEEL_OK ? 0 : 1;
}

/* The same through keel_wait(ALL_COMPLETED). */
static int child_wait(double timeout)
{
  keel_future *f = keel__future_new();
  finisher x = {.f = f, .delay = 0.1, .code = KEEL_OK, .data = "x"};
  if (!f || pthread_create(&x.t, NULL, finisher_main, &x))
    return 20;
  size_t nd = 0;
  int rc = keel_wait(&f, 1, KEEL_ALL_COMPLETED, timeout, &nd);
  pthread_join(x.t, NULL);
  keel_future_release(f);
  return rc == KEEL_OK && nd == 1 ? 0 : 1;
}

/* NaN: whatever it means, the call must come back once the future is done
 * (or at once). */
static int child_result_any(double timeout)
{
  child_result(timeout);
  return 0;
}

static void test_huge_timeouts(void)
{
  WATCHDOG(60);
  /* sanity: an ordinary timeout works in a child */
  CU_ASSERT_EQUAL(in_child(child_result, 10.0, 5.0), 0);
  CU_ASSERT_EQUAL(in_child(child_result, KEEL_FOREVER, 5.0), 0);
  /* timeouts too long for a time_t mean "a very long time": the call must
   * still return when the future finishes */
  CU_ASSERT_EQUAL(in_child(child_result, 1e12, 5.0), 0);
  CU_ASSERT_EQUAL(in_child(child_result, INFINITY, 5.0), 0);
  CU_ASSERT_EQUAL(in_child(child_result, DBL_MAX, 5.0), 0);
  CU_ASSERT_EQUAL(in_child(child_result, 1e19, 5.0), 0);
  CU_ASSERT_EQUAL(in_child(child_wait, INFINITY, 5.0), 0);
  CU_ASSERT_EQUAL(in_child(child_result_any, NAN, 5.0), 0);
}

static void test_deadline_helpers(void)
{
  WATCHDOG(10);
  CU_ASSERT_TRUE(keel__clock_deadline(KEEL_FOREVER) < 0);
  CU_ASSERT_TRUE(keel__clock_deadline(-5) < 0);
  double now = keel__clock_now();
  double d = keel__clock_deadline(2.0);
  CU_ASSERT_TRUE(d >= now + 2.0 && d < now + 3.0);
  keel__future_lock();
  bool more = keel__future_wait_until(keel__clock_now() - 1);
  keel__future_unlock();
  CU_ASSERT_FALSE(more);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_new_future_pending),
      TU_TEST(test_finish_success),
      TU_TEST(test_finish_failure),
      TU_TEST(test_result_timeouts),
      TU_TEST(test_result_forever_finished_by_thread),
      TU_TEST(test_many_waiters),
      TU_TEST(test_cancel_pending),
      TU_TEST(test_cancel_running_or_finished),
      TU_TEST(test_on_done_before_finish),
      TU_TEST(test_on_done_after_done),
      TU_TEST(test_on_done_bad_args_and_unrun),
      TU_TEST(test_refs),
      TU_TEST(test_wait_invalid),
      TU_TEST(test_wait_first_completed),
      TU_TEST(test_wait_all_completed),
      TU_TEST(test_wait_first_exception),
      TU_TEST(test_wait_first_exception_without_failure),
      TU_TEST(test_wait_finished_in_any_order),
      TU_TEST(test_deadline_helpers),
      TU_TEST(test_huge_timeouts),
  };
  return tu_run("future", tests, sizeof tests / sizeof *tests);
}
