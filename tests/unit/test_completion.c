/* test_completion: keel_as_completed (completion.c), without MPI.  Futures
 * are finished as the manager thread does it: keel__future_finish_locked
 * under the futures' lock, then unlock, broadcast, run callbacks. */
#include "../testutil.h"
#include "api/api.h"

#include <math.h>
#include <pthread.h>
#include <sys/wait.h>

static bool finish(keel_future *f, int code)
{
  char *d = malloc(1);
  d[0] = 'r';
  keel__future_lock();
  bool done = keel__future_finish_locked(f, code, code ? NULL : d,
                                         code ? 0 : 1, NULL);
  keel__future_unlock();
  if (code)
    free(d);
  keel__future_broadcast();
  if (done)
    keel__future_run_cbs(f);
  return done;
}

static void new_futures(keel_future **fs, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    fs[i] = keel__future_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(fs[i]);
  }
}

static void release_all(keel_future **fs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    keel_future_release(fs[i]);
}

/* Finishes fs[order[0]], fs[order[1]], ... with a pause before each. */
typedef struct finisher {
  pthread_t t;
  keel_future **fs;
  const int *order;
  size_t n;
  double pause;
} finisher;

static void *finisher_main(void *arg)
{
  finisher *x = arg;
  for (size_t i = 0; i < x->n; i++) {
    keel__clock_sleep(x->pause);
    finish(x->fs[x->order[i]], KEEL_OK);
  }
  return NULL;
}

static void start_finisher(finisher *x, keel_future **fs, const int *order,
                           size_t n, double pause)
{
  *x = (finisher){.fs = fs, .order = order, .n = n, .pause = pause};
  CU_ASSERT_EQUAL_FATAL(pthread_create(&x->t, NULL, finisher_main, x), 0);
}

/* ---- tests ---- */

static void test_empty(void)
{
  WATCHDOG(10);
  keel_completion *it = NULL;
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(NULL, 0, &it), KEEL_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(it);
  keel_future *f = (keel_future *)1;
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_EOF);
  CU_ASSERT_EQUAL(keel_completion_next(it, KEEL_FOREVER, &f), KEEL_EOF);
  CU_ASSERT_PTR_EQUAL(f, (keel_future *)1);
  keel_completion_free(it);

  keel_future *g[1];
  new_futures(g, 1);
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(g, 0, &it), KEEL_OK);
  CU_ASSERT_EQUAL(keel_completion_next(it, KEEL_FOREVER, &f), KEEL_EOF);
  keel_completion_free(it);
  release_all(g, 1);
}

static void test_bad_arguments(void)
{
  WATCHDOG(10);
  keel_future *fs[2];
  new_futures(fs, 1);
  fs[1] = NULL;
  keel_completion *it = (keel_completion *)1;
  CU_ASSERT_EQUAL(keel_as_completed(fs, 1, NULL), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_as_completed(NULL, 1, &it), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_as_completed(fs, 2, &it), KEEL_EINVAL);
  CU_ASSERT_PTR_EQUAL(it, (keel_completion *)1);
  CU_ASSERT_TRUE(keel__queue_empty(&fs[0]->watchers)); /* nothing left hanging */
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, 1, &it), KEEL_OK);
  keel_future *f;
  CU_ASSERT_EQUAL(keel_completion_next(NULL, 0, &f), KEEL_EINVAL);
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, NULL), KEEL_EINVAL);
  keel_completion_free(it);
  keel_completion_free(NULL);
  release_all(fs, 1);
}

static void test_done_first_then_finish_order(void)
{
  WATCHDOG(10);
  enum { N = 5 };
  keel_future *fs[N];
  new_futures(fs, N);
  /* two are done before the iterator exists */
  CU_ASSERT_TRUE(finish(fs[3], KEEL_OK));
  CU_ASSERT_TRUE(keel_future_cancel(fs[1]));
  keel_completion *it;
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, N, &it), KEEL_OK);
  /* the others finish now, in this order */
  CU_ASSERT_TRUE(finish(fs[4], KEEL_ETASK));
  CU_ASSERT_TRUE(finish(fs[0], KEEL_OK));
  keel_future *got[N] = {0};
  for (int i = 0; i < 4; i++)
    CU_ASSERT_EQUAL(keel_completion_next(it, 0, &got[i]), KEEL_OK);
  /* the already-done ones first (either order), then finish order */
  CU_ASSERT_TRUE((got[0] == fs[1] && got[1] == fs[3]) ||
                 (got[0] == fs[3] && got[1] == fs[1]));
  CU_ASSERT_PTR_EQUAL(got[2], fs[4]);
  CU_ASSERT_PTR_EQUAL(got[3], fs[0]);
  /* fs[2] is still pending */
  keel_future *f = NULL;
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_ETIMEDOUT);
  CU_ASSERT_TRUE(finish(fs[2], KEEL_OK));
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &got[4]), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(got[4], fs[2]);
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_EOF);
  CU_ASSERT_EQUAL(keel_completion_next(it, KEEL_FOREVER, &f), KEEL_EOF);
  keel_completion_free(it);
  release_all(fs, N);
}

static void test_order_follows_finishing_thread(void)
{
  WATCHDOG(20);
  enum { N = 6 };
  static const int order[N] = {4, 1, 5, 0, 3, 2};
  keel_future *fs[N];
  new_futures(fs, N);
  keel_completion *it;
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, N, &it), KEEL_OK);
  finisher x;
  start_finisher(&x, fs, order, N, 0.03);
  int right = 0;
  for (int i = 0; i < N; i++) {
    keel_future *f = NULL;
    int rc = keel_completion_next(it, KEEL_FOREVER, &f);
    right += rc == KEEL_OK && f == fs[order[i]];
    /* it is done by the time it is returned */
    right += rc == KEEL_OK && keel_future_done(f);
  }
  CU_ASSERT_EQUAL(right, 2 * N);
  keel_future *f;
  CU_ASSERT_EQUAL(keel_completion_next(it, KEEL_FOREVER, &f), KEEL_EOF);
  pthread_join(x.t, NULL);
  keel_completion_free(it);
  release_all(fs, N);

  /* a burst with no pauses: still in finish order */
  static const int order2[N] = {2, 0, 5, 1, 4, 3};
  new_futures(fs, N);
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, N, &it), KEEL_OK);
  start_finisher(&x, fs, order2, N, 0);
  pthread_join(x.t, NULL);
  right = 0;
  for (int i = 0; i < N; i++) {
    f = NULL;
    right += keel_completion_next(it, 0, &f) == KEEL_OK && f == fs[order2[i]];
  }
  CU_ASSERT_EQUAL(right, N);
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_EOF);
  keel_completion_free(it);
  release_all(fs, N);
}

static void test_duplicates_once(void)
{
  WATCHDOG(10);
  keel_future *u[3];
  new_futures(u, 3);
  keel_future *fs[7] = {u[0], u[1], u[0], u[2], u[1], u[1], u[0]};
  keel_completion *it;
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, 7, &it), KEEL_OK);
  CU_ASSERT_TRUE(finish(u[1], KEEL_OK));
  CU_ASSERT_TRUE(finish(u[2], KEEL_OK));
  CU_ASSERT_TRUE(finish(u[0], KEEL_OK));
  keel_future *got[3] = {0}, *f = NULL;
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(keel_completion_next(it, 0, &got[i]), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(got[0], u[1]);
  CU_ASSERT_PTR_EQUAL(got[1], u[2]);
  CU_ASSERT_PTR_EQUAL(got[2], u[0]);
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_EOF);
  keel_completion_free(it);

  /* duplicates of futures that are already done */
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, 7, &it), KEEL_OK);
  int seen[3] = {0};
  int n = 0, rc;
  while ((rc = keel_completion_next(it, 0, &f)) == KEEL_OK && n < 10) {
    n++;
    for (int i = 0; i < 3; i++)
      seen[i] += f == u[i];
  }
  CU_ASSERT_EQUAL(rc, KEEL_EOF);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_EQUAL(seen[0], 1);
  CU_ASSERT_EQUAL(seen[1], 1);
  CU_ASSERT_EQUAL(seen[2], 1);
  keel_completion_free(it);
  release_all(u, 3);
}

static void test_timeout(void)
{
  WATCHDOG(20);
  keel_future *fs[2];
  new_futures(fs, 2);
  keel_completion *it;
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, 2, &it), KEEL_OK);
  keel_future *f = NULL;
  double t0 = tu_now();
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_ETIMEDOUT);
  CU_ASSERT_TRUE(tu_now() - t0 < 0.5);
  t0 = tu_now();
  CU_ASSERT_EQUAL(keel_completion_next(it, 0.15, &f), KEEL_ETIMEDOUT);
  double el = tu_now() - t0;
  CU_ASSERT_TRUE(el >= 0.15 - 1e-3);
  CU_ASSERT_TRUE(el < 3.0);
  CU_ASSERT_PTR_NULL(f);
  /* a timeout loses nothing */
  CU_ASSERT_TRUE(finish(fs[1], KEEL_OK));
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(f, fs[1]);
  CU_ASSERT_EQUAL(keel_completion_next(it, 0.05, &f), KEEL_ETIMEDOUT);
  /* a long timeout is cut short by a finish from another thread */
  static const int order[1] = {0};
  finisher x;
  t0 = tu_now();
  start_finisher(&x, fs, order, 1, 0.1);
  f = NULL;
  CU_ASSERT_EQUAL(keel_completion_next(it, 30.0, &f), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(f, fs[0]);
  CU_ASSERT_TRUE(tu_now() - t0 < 10.0);
  pthread_join(x.t, NULL);
  CU_ASSERT_EQUAL(keel_completion_next(it, 0.05, &f), KEEL_EOF);
  keel_completion_free(it);
  release_all(fs, 2);
}

static void test_free_before_all_returned(void)
{
  WATCHDOG(10);
  keel_future *fs[4];
  new_futures(fs, 4);
  keel_completion *it;
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, 4, &it), KEEL_OK);
  CU_ASSERT_FALSE(keel__queue_empty(&fs[0]->watchers));
  CU_ASSERT_TRUE(finish(fs[0], KEEL_OK));
  CU_ASSERT_TRUE(finish(fs[3], KEEL_OK)); /* ready but never returned */
  keel_future *f = NULL;
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(f, fs[0]);
  keel_completion_free(it);
  /* the pending futures no longer point at the freed watchers */
  CU_ASSERT_TRUE(keel__queue_empty(&fs[1]->watchers));
  CU_ASSERT_TRUE(keel__queue_empty(&fs[2]->watchers));
  /* finishing them now touches nothing freed (valgrind checks) */
  CU_ASSERT_TRUE(finish(fs[1], KEEL_OK));
  CU_ASSERT_TRUE(finish(fs[2], KEEL_ETASK));
  CU_ASSERT_TRUE(keel_future_done(fs[1]));
  release_all(fs, 4);

  /* freed with nothing returned at all, then cancelled */
  new_futures(fs, 3);
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, 3, &it), KEEL_OK);
  keel_completion_free(it);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_TRUE(keel__queue_empty(&fs[i]->watchers));
  CU_ASSERT_TRUE(keel_future_cancel(fs[0]));
  CU_ASSERT_TRUE(finish(fs[1], KEEL_OK));
  CU_ASSERT_TRUE(finish(fs[2], KEEL_OK));
  release_all(fs, 3);
}

static void test_several_iterators(void)
{
  WATCHDOG(10);
  /* three iterators over the same futures, each watcher list three deep;
   * freeing the middle, then the first, unlinks from the inside and the
   * ends of the lists */
  keel_future *fs[3];
  new_futures(fs, 3);
  keel_completion *it[3];
  for (int k = 0; k < 3; k++)
    CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, 3, &it[k]), KEEL_OK);
  keel_completion_free(it[1]);
  CU_ASSERT_TRUE(finish(fs[2], KEEL_OK));
  keel_completion_free(it[0]);
  CU_ASSERT_FALSE(keel__queue_empty(&fs[0]->watchers)); /* it[2] still watches */
  CU_ASSERT_TRUE(finish(fs[0], KEEL_OK));
  CU_ASSERT_TRUE(finish(fs[1], KEEL_OK));
  keel_future *f = NULL;
  static const int want[3] = {2, 0, 1};
  int right = 0;
  for (int i = 0; i < 3; i++)
    right += keel_completion_next(it[2], 0, &f) == KEEL_OK &&
             f == fs[want[i]];
  CU_ASSERT_EQUAL(right, 3);
  CU_ASSERT_EQUAL(keel_completion_next(it[2], 0, &f), KEEL_EOF);
  keel_completion_free(it[2]);
  release_all(fs, 3);

  /* two live iterators see the same completions independently */
  new_futures(fs, 3);
  keel_completion *a, *b;
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, 3, &a), KEEL_OK);
  keel_future *sub[2] = {fs[2], fs[1]};
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(sub, 2, &b), KEEL_OK);
  CU_ASSERT_TRUE(finish(fs[1], KEEL_OK));
  CU_ASSERT_TRUE(finish(fs[0], KEEL_OK));
  CU_ASSERT_TRUE(finish(fs[2], KEEL_OK));
  keel_future *ga[3] = {0}, *gb[2] = {0};
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(keel_completion_next(a, 0, &ga[i]), KEEL_OK);
  for (int i = 0; i < 2; i++)
    CU_ASSERT_EQUAL(keel_completion_next(b, 0, &gb[i]), KEEL_OK);
  CU_ASSERT_PTR_EQUAL(ga[0], fs[1]);
  CU_ASSERT_PTR_EQUAL(ga[1], fs[0]);
  CU_ASSERT_PTR_EQUAL(ga[2], fs[2]);
  CU_ASSERT_PTR_EQUAL(gb[0], fs[1]);
  CU_ASSERT_PTR_EQUAL(gb[1], fs[2]);
  CU_ASSERT_EQUAL(keel_completion_next(a, 0, &f), KEEL_EOF);
  CU_ASSERT_EQUAL(keel_completion_next(b, 0, &f), KEEL_EOF);
  keel_completion_free(b);
  keel_completion_free(a);
  release_all(fs, 3);
}

static void test_many(void)
{
  WATCHDOG(30);
  /* a larger set finished from another thread in a scrambled order */
  enum { N = 500 };
  static keel_future *fs[N];
  static int order[N];
  new_futures(fs, N);
  for (int i = 0; i < N; i++)
    order[i] = (i * 7919) % N; /* 7919 is prime, coprime to 500 */
  keel_completion *it;
  CU_ASSERT_EQUAL_FATAL(keel_as_completed(fs, N, &it), KEEL_OK);
  finisher x;
  start_finisher(&x, fs, order, N, 0);
  int right = 0;
  for (int i = 0; i < N; i++) {
    keel_future *f = NULL;
    right += keel_completion_next(it, KEEL_FOREVER, &f) == KEEL_OK &&
             f == fs[order[i]];
  }
  CU_ASSERT_EQUAL(right, N);
  keel_future *f;
  CU_ASSERT_EQUAL(keel_completion_next(it, 0, &f), KEEL_EOF);
  pthread_join(x.t, NULL);
  keel_completion_free(it);
  release_all(fs, N);
}

/* keel_completion_next(INFINITY) while another thread finishes the only
 * future after 0.1 s; run in a forked child, since a wait that never
 * returns would hold the futures' lock.  -1 if the child hung. */
static int child_next(void)
{
  keel_future *fs[1];
  fs[0] = keel__future_new();
  keel_completion *it;
  if (!fs[0] || keel_as_completed(fs, 1, &it))
    return 20;
  static const int order[1] = {0};
  finisher x = {.fs = fs, .order = order, .n = 1, .pause = 0.1};
  if (pthread_create(&x.t, NULL, finisher_main, &x))
    return 21;
  keel_future *f = NULL;
  int rc = keel_completion_next(it, INFINITY, &f);
  pthread_join(x.t, NULL);
  keel_completion_free(it);
  keel_future_release(fs[0]);
  return rc == KEEL_OK && f == fs[0] ? 0 : 1;
}

static void test_infinite_timeout(void)
{
  WATCHDOG(30);
  fflush(NULL);
  pid_t pid = fork();
  CU_ASSERT_TRUE_FATAL(pid >= 0);
  if (pid == 0) {
    alarm(10);
    _exit(child_next());
  }
  int st = 0, hung = 0;
  double end = tu_now() + 5.0;
  while (waitpid(pid, &st, WNOHANG) != pid) {
    if (tu_now() > end) {
      hung = 1;
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
    keel__clock_sleep(0.01);
  }
  CU_ASSERT_EQUAL(hung, 0);
  CU_ASSERT_TRUE(!hung && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_empty),
      TU_TEST(test_bad_arguments),
      TU_TEST(test_done_first_then_finish_order),
      TU_TEST(test_order_follows_finishing_thread),
      TU_TEST(test_duplicates_once),
      TU_TEST(test_timeout),
      TU_TEST(test_free_before_all_returned),
      TU_TEST(test_several_iterators),
      TU_TEST(test_many),
      TU_TEST(test_infinite_timeout),
  };
  return tu_run("completion", tests, sizeof tests / sizeof *tests);
}
