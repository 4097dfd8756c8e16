/* callback.c: the callback thread.  It runs, one after another in the
 * order they were posted, the items it is handed: future.c hands it the
 * futures the manager completes that have on_done callbacks, so those
 * callbacks never run on the manager thread.  A callback that blocks
 * (waits for a future, shuts an executor down, sleeps) delays the ones
 * behind it and nothing else: the manager keeps delivering results and
 * heartbeats.
 *
 * The thread starts with the first post.  keel_finalize() lets it run
 * what is queued and joins it.  It knows nothing of futures: future.c
 * says how to run an item. */
#include "api/api.h"

#include <stdlib.h>

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  void **q; /* a ring of items */
  size_t head, n, cap;
  keel__callback_fn *run; /* one for every item */
  bool started, stopping;
  pthread_t thread;
} cbt = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static _Thread_local bool on_thread;

bool keel__callback_here(void)
{
  return on_thread;
}

static void *callback_main(void *unused)
{
  (void)unused;
  on_thread = true;
  pthread_mutex_lock(&cbt.mu);
  for (;;) {
    while (cbt.n == 0 && !cbt.stopping)
      pthread_cond_wait(&cbt.cond, &cbt.mu);
    if (cbt.n == 0)
      break; /* stopping, and all run */
    void *item = cbt.q[cbt.head];
    keel__callback_fn *run = cbt.run; /* read locked: post() sets it */
    cbt.head = (cbt.head + 1) % cbt.cap;
    cbt.n--;
    pthread_mutex_unlock(&cbt.mu);
    run(item);
    pthread_mutex_lock(&cbt.mu);
  }
  pthread_mutex_unlock(&cbt.mu);
  return NULL;
}

/* Make room for n more (locked). */
static bool grow_locked(size_t n)
{
  if (cbt.n + n <= cbt.cap)
    return true;
  size_t cap = cbt.cap ? cbt.cap : 64;
  while (cap < cbt.n + n)
    cap *= 2;
  void **q = malloc(cap * sizeof *q);
  if (!q)
    return false;
  for (size_t i = 0; i < cbt.n; i++) /* unwrap the ring */
    q[i] = cbt.q[(cbt.head + i) % cbt.cap];
  free(cbt.q);
  cbt.q = q;
  cbt.head = 0;
  cbt.cap = cap;
  return true;
}

static bool start_locked(void)
{
  if (cbt.started)
    return true;
  if (pthread_create(&cbt.thread, NULL, callback_main, NULL))
    return false;
  cbt.started = true;
  return true;
}

void keel__callback_post(void *const *items, size_t n, keel__callback_fn *run)
{
  pthread_mutex_lock(&cbt.mu);
  keel__assert(!cbt.run || cbt.run == run);
  cbt.run = run;
  bool ok = !cbt.stopping && grow_locked(n) && start_locked();
  if (ok) {
    for (size_t i = 0; i < n; i++)
      cbt.q[(cbt.head + cbt.n + i) % cbt.cap] = items[i];
    cbt.n += n;
    pthread_cond_signal(&cbt.cond);
  }
  pthread_mutex_unlock(&cbt.mu);
  if (ok)
    return;
  /* No memory or no thread: the callbacks must still run, once. */
  keel__log("cannot hand %zu callbacks to the callback thread (out of "
            "memory or threads): running them on the manager thread",
            n);
  for (size_t i = 0; i < n; i++)
    run(items[i]);
}

void keel__callback_stop(void)
{
  pthread_mutex_lock(&cbt.mu);
  cbt.stopping = true;
  bool started = cbt.started;
  pthread_cond_signal(&cbt.cond);
  pthread_mutex_unlock(&cbt.mu);
  if (started)
    pthread_join(cbt.thread, NULL);
  pthread_mutex_lock(&cbt.mu);
  free(cbt.q);
  cbt.q = NULL;
  cbt.head = cbt.n = cbt.cap = 0;
  cbt.started = false;
  pthread_mutex_unlock(&cbt.mu);
}
