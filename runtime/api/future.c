/* future.c: the future state machine, waiting, and completion in batches.  One process-wide lock
 * guards every future's state: the manager thread completes a whole batch of
 * results under one acquisition and broadcasts once, so waiting threads and
 * the manager never convoy on per-future locks. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct keel__cb {
  void (*fn)(keel_future *, void *);
  void *arg;
  keel__queue node;
} keel__cb;

/* The state of this file: the lock and condition of every future, the
 * watch hook, and the manager's batch of completed futures. */
static struct {
  keel__lock lock;
  pthread_cond_t cond;         /* on CLOCK_MONOTONIC */
  void (*watch_hook)(keel_future *f);
  keel_future **done; /* the batch: finished, callbacks still to run */
  size_t ndone, cap;
  int depth;
} futures = {.lock = KEEL__LOCK_INIT};

__attribute__((constructor)) static void cond_init(void)
{
  keel__clock_cond_init(&futures.cond);
}

void keel__future_lock(void)
{
  keel__lock_take(&futures.lock);
}

void keel__future_unlock(void)
{
  keel__lock_give(&futures.lock);
}

bool keel__future_locked(void)
{
  return keel__lock_held(&futures.lock);
}

void keel__future_broadcast(void)
{
  pthread_cond_broadcast(&futures.cond);
}

static void wait_cond(const struct timespec *ts)
{
  keel__lock_wait(&futures.lock, &futures.cond, ts);
}

bool keel__future_wait_until(double deadline)
{
  if (deadline < 0) {
    wait_cond(NULL);
    return true;
  }
  struct timespec ts;
  if (!keel__clock_abstime(deadline, &ts))
    return false;
  wait_cond(&ts);
  return true;
}

keel_future *keel__future_new(void)
{
  keel_future *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  atomic_init(&f->refs, 1);
  keel__queue_init(&f->cbs);
  keel__queue_init(&f->watchers);
  keel__queue_init(&f->node);
  f->err.rank = -1;
  f->err.exit_status = -1;
  return f;
}

void keel__future_ref(keel_future *f)
{
  keel__assert(atomic_load_explicit(&f->refs, memory_order_relaxed) > 0);
  atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

static bool is_done(const keel_future *f)
{
  return f->state >= KEEL__F_FINISHED;
}

void keel__future_set_watch_hook(void (*hook)(keel_future *f))
{
  keel__assert(keel__future_locked());
  futures.watch_hook = hook;
}

bool keel__future_finish_locked(keel_future *f, int code, char *data,
                                size_t len, const keel_error *e)
{
  keel__assert(keel__future_locked());
  if (is_done(f)) {
    free(data);
    return false;
  }
  f->state = code == KEEL_ECANCELED ? KEEL__F_CANCELLED : KEEL__F_FINISHED;
  if (f->ex) { /* room under max_pending: keel_submit waits on the broadcast */
    keel__assert(f->ex->unfinished > 0);
    f->ex->unfinished--;
  }
  f->data = data;
  f->len = len;
  f->printed = keel__printed_mark();
  if (code)
    keel__error_copy(&f->err, code, e, f->task_id);
  f->err.code = code;
  if (futures.watch_hook && !keel__queue_empty(&f->watchers))
    futures.watch_hook(f);
  return true;
}

/* The finisher alone runs them, after the lock: keel_future_on_done() on
 * a done future runs its callback itself and adds nothing. */
void keel__future_run_cbs(keel_future *f)
{
  keel__queue *q;
  while ((q = keel__queue_pop(&f->cbs))) {
    keel__cb *c = keel__queue_data(q, keel__cb, node);
    c->fn(f, c->arg);
    free(c);
  }
}

void keel__future_fail(keel_future *f, int code, const char *msg)
{
  keel_error e = {code, msg, -1, NULL, 0, -1, f->task_id, NULL, 0};
  keel__future_lock();
  bool done = keel__future_finish_locked(f, code, NULL, 0, &e);
  keel__future_unlock();
  if (done) {
    keel__future_broadcast();
    keel__future_run_cbs(f);
  }
}

/* ---- batches (the manager thread) ---- */

/* Callbacks never run on the manager thread: it hands them to the callback
 * thread (callback.c), which calls this for each future. */
static _Thread_local keel_executor *running_for;

keel_executor *keel__future_cb_executor(void)
{
  return running_for;
}

static void run_posted(void *item)
{
  keel_future *f = item;
  keel_executor *ex = f->ex;
  running_for = ex;
  keel__printed_wait(f->printed, -1);
  keel__future_run_cbs(f);
  running_for = NULL;
  keel_future_release(f); /* the executor's reference */
  if (atomic_fetch_sub(&ex->callbacks, 1) == 1) {
    keel__hub_lock(); /* shutdown(WAIT) and the manager wait for 0 */
    keel__hub_broadcast_locked();
    keel__hub_wake_locked();
    keel__hub_unlock();
  }
}

void keel__future_batch_begin(void)
{
  keel__assert(keel__hub_on_manager() || !keel__hub.running);
  if (futures.depth++ == 0)
    keel__future_lock();
}

static void push_done(keel_future *f)
{
  if (futures.ndone == futures.cap) {
    size_t cap = futures.cap ? futures.cap * 2 : 256;
    keel_future **v = realloc(futures.done, cap * sizeof *v);
    if (!v) { /* cannot defer: keep the reference rather than crash */
      keel__log("out of memory completing futures");
      return;
    }
    futures.done = v;
    futures.cap = cap;
  }
  futures.done[futures.ndone++] = f;
}

void keel__future_batch_finish(keel_future *f, int code, char *data,
                               size_t len, const keel_error *e)
{
  keel__assert(futures.depth > 0);
  keel__future_finish_locked(f, code, data, len, e);
  push_done(f);
}

void keel__future_batch_drop(keel_future *f)
{
  keel__assert(futures.depth > 0);
  push_done(f);
}

void keel__future_batch_end(void)
{
  keel__assert(futures.depth > 0);
  if (--futures.depth > 0)
    return;
  keel__future_unlock();
  if (futures.ndone == 0)
    return;
  keel__future_broadcast();
  /* Nobody adds callbacks to a done future, so f->cbs can be read without
   * the lock.  Those with callbacks go to the callback thread, with the
   * executor's reference; the rest drop it here. */
  size_t k = 0;
  for (size_t i = 0; i < futures.ndone; i++) {
    keel_future *f = futures.done[i];
    if (keel__queue_empty(&f->cbs)) {
      keel_future_release(f); /* the executor's reference */
    } else {
      atomic_fetch_add(&f->ex->callbacks, 1);
      futures.done[k++] = f;
    }
  }
  if (k)
    keel__callback_post((void *const *)futures.done, k, run_posted);
  futures.ndone = 0;
}

int keel_future_result(keel_future *f, double timeout, const void **data,
                       size_t *len)
{
  if (!f)
    return KEEL_EINVAL;
  double deadline = keel__clock_deadline(timeout);
  int rc;
  keel__future_lock();
  while (!is_done(f) && keel__future_wait_until(deadline))
    ;
  bool done = is_done(f);
  if (!done) {
    rc = KEEL_ETIMEDOUT;
  } else {
    rc = f->err.code;
    if (data)
      *data = rc ? NULL : f->data;
    if (len)
      *len = rc ? 0 : f->len;
  }
  keel__future_unlock();
  if (done)
    keel__printed_wait(f->printed, deadline);
  return rc;
}

static int state_of(const keel_future *f)
{
  keel__future_lock();
  int s = f->state;
  keel__future_unlock();
  return s;
}

const keel_error *keel_future_error(const keel_future *f)
{
  if (!f || !keel_future_done(f))
    return NULL;
  return f->err.code ? &f->err : NULL;
}

bool keel_future_done(const keel_future *f)
{
  return f && state_of(f) >= KEEL__F_FINISHED;
}

bool keel_future_running(const keel_future *f)
{
  return f && state_of(f) == KEEL__F_RUNNING;
}

bool keel_future_cancelled(const keel_future *f)
{
  return f && state_of(f) == KEEL__F_CANCELLED;
}

unsigned long long keel_future_task_id(const keel_future *f)
{
  return f ? f->task_id : 0;
}

bool keel_future_cancel(keel_future *f)
{
  if (!f)
    return false;
  bool cancelled = false, now = false;
  keel__future_lock();
  if (f->state == KEEL__F_PENDING)
    cancelled = now = keel__future_finish_locked(f, KEEL_ECANCELED, NULL, 0,
                                                 NULL);
  else if (f->state == KEEL__F_CANCELLED)
    cancelled = true;
  keel__future_unlock();
  if (cancelled) {
    keel__future_broadcast();
    if (now)
      keel__future_run_cbs(f);
  }
  return cancelled;
}

int keel_future_on_done(keel_future *f, void (*cb)(keel_future *, void *),
                        void *arg)
{
  if (!f || !cb)
    return KEEL_EINVAL;
  keel__cb *c = malloc(sizeof *c);
  if (!c)
    return KEEL_ENOMEM;
  *c = (keel__cb){.fn = cb, .arg = arg};
  keel__future_lock();
  bool done = is_done(f);
  if (!done) /* callbacks run in registration order */
    keel__queue_insert_tail(&f->cbs, &c->node);
  keel__future_unlock();
  if (done) {
    keel__printed_wait(f->printed, -1);
    cb(f, arg);
    free(c);
  }
  return KEEL_OK;
}

void keel_future_release(keel_future *f)
{
  if (!f)
    return;
  int refs = atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel);
  keel__assert(refs > 0);
  if (refs != 1)
    return;
  keel__assert(!keel__queue_linked(&f->node));
  keel__error_clear(&f->err);
  free(f->data);
  keel__arg_unref(f->arg, f->arg_len);
  keel__queue *q;
  while ((q = keel__queue_pop(&f->cbs)))
    free(keel__queue_data(q, keel__cb, node));
  free(f);
}

/* ---- keel_wait ---- */

static bool failed(const keel_future *f)
{
  return f->state == KEEL__F_FINISHED && f->err.code != 0;
}

/* Does return_when hold?  *first skips the prefix known to be done. */
static bool wait_holds(keel_future *const *fs, size_t n, int when,
                       size_t *first, size_t *ndone)
{
  size_t done = *first, i;
  bool any_failed = false;
  while (*first < n && is_done(fs[*first]))
    (*first)++;
  done = *first;
  for (i = 0; i < *first && when == KEEL_FIRST_EXCEPTION && !any_failed; i++)
    any_failed = failed(fs[i]);
  for (i = *first; i < n; i++)
    if (is_done(fs[i])) {
      done++;
      any_failed = any_failed || failed(fs[i]);
    }
  *ndone = done;
  if (when == KEEL_FIRST_COMPLETED)
    return done > 0 || n == 0;
  if (when == KEEL_FIRST_EXCEPTION && any_failed)
    return true;
  return done == n;
}

int keel_wait(keel_future *const *fs, size_t n, int return_when,
              double timeout, size_t *ndone)
{
  if ((n && !fs) || return_when < KEEL_FIRST_COMPLETED ||
      return_when > KEEL_ALL_COMPLETED)
    return KEEL_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!fs[i])
      return KEEL_EINVAL;
  double deadline = keel__clock_deadline(timeout);
  size_t first = 0, done = 0;
  bool holds;
  keel__future_lock();
  while (!(holds = wait_holds(fs, n, return_when, &first, &done)) &&
         keel__future_wait_until(deadline))
    ;
  uint64_t printed = 0;
  for (size_t i = 0; i < n; i++)
    if (is_done(fs[i]) && fs[i]->printed > printed)
      printed = fs[i]->printed;
  keel__future_unlock();
  keel__printed_wait(printed, deadline);
  if (ndone)
    *ndone = done;
  return holds ? KEEL_OK : KEEL_ETIMEDOUT;
}
