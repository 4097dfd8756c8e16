/* future.c: the future state machine and waiting.  One process-wide lock
 * guards every future's state: the manager thread completes a whole batch of
 * results under one acquisition and broadcasts once, so waiting threads and
 * the manager never convoy on per-future locks. */
#include "keel_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

pthread_mutex_t keel__flock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t keel__fcond;

__attribute__((constructor)) static void fcond_init(void)
{
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(&keel__fcond, &a);
  pthread_condattr_destroy(&a);
}

double keel__deadline(double timeout)
{
  return timeout < 0 ? -1.0 : keel__now() + timeout;
}

/* Wait on keel__fcond (keel__flock held) until woken or the deadline
 * passes; false once the deadline has passed. */
bool keel__wait_until(double deadline)
{
  if (deadline < 0) {
    pthread_cond_wait(&keel__fcond, &keel__flock);
    return true;
  }
  double now = keel__now();
  if (now >= deadline)
    return false;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double left = deadline - now;
  if (!(left < 1e6)) /* huge or NaN: (time_t) would be undefined, and an */
    left = 1e6;      /* invalid time makes timedwait fail without waiting */
  ts.tv_sec += (time_t)left;
  ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&keel__fcond, &keel__flock, &ts);
  return true;
}

keel_future *keel__future_new(void)
{
  keel_future *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  atomic_init(&f->refs, 1);
  f->err.rank = -1;
  f->err.exit_status = -1;
  return f;
}

void keel__future_ref(keel_future *f)
{
  atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

static bool is_done(const keel_future *f)
{
  return f->state >= KEEL__F_FINISHED;
}

bool keel__future_finish_locked(keel_future *f, int code, char *data,
                                size_t len, const keel_error *e,
                                keel__cb **cbs)
{
  if (is_done(f)) {
    free(data);
    return false;
  }
  f->state = code == KEEL_ECANCELED ? KEEL__F_CANCELLED : KEEL__F_FINISHED;
  f->data = data;
  f->len = len;
  if (code) {
    if (e)
      keel__error_set(&f->err, code, e->message, e->rank, e->host, e->signal,
                      e->exit_status, f->task_id, e->backtrace);
    else
      keel__error_set(&f->err, code, NULL, -1, NULL, 0, -1, f->task_id, NULL);
  }
  f->err.code = code;
  keel__watch_notify_locked(f);
  *cbs = f->cbs;
  f->cbs = NULL;
  return true;
}

void keel__run_cbs(keel_future *f, keel__cb *cbs)
{
  while (cbs) {
    keel__cb *next = cbs->next;
    cbs->fn(f, cbs->arg);
    free(cbs);
    cbs = next;
  }
}

void keel__future_fail(keel_future *f, int code, const char *msg)
{
  keel__cb *cbs = NULL;
  keel_error e = {code, msg, -1, NULL, 0, -1, f->task_id, NULL};
  pthread_mutex_lock(&keel__flock);
  bool done = keel__future_finish_locked(f, code, NULL, 0, &e, &cbs);
  pthread_mutex_unlock(&keel__flock);
  if (done) {
    pthread_cond_broadcast(&keel__fcond);
    keel__run_cbs(f, cbs);
  }
}

int keel_future_result(keel_future *f, double timeout, const void **data,
                       size_t *len)
{
  if (!f)
    return KEEL_EINVAL;
  double deadline = keel__deadline(timeout);
  int rc;
  pthread_mutex_lock(&keel__flock);
  while (!is_done(f) && keel__wait_until(deadline))
    ;
  if (!is_done(f)) {
    rc = KEEL_ETIMEDOUT;
  } else {
    rc = f->err.code;
    if (data)
      *data = rc ? NULL : f->data;
    if (len)
      *len = rc ? 0 : f->len;
  }
  pthread_mutex_unlock(&keel__flock);
  return rc;
}

static int state_of(const keel_future *f)
{
  pthread_mutex_lock(&keel__flock);
  int s = f->state;
  pthread_mutex_unlock(&keel__flock);
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
  keel__cb *cbs = NULL;
  bool cancelled = false;
  pthread_mutex_lock(&keel__flock);
  if (f->state == KEEL__F_PENDING)
    cancelled = keel__future_finish_locked(f, KEEL_ECANCELED, NULL, 0, NULL,
                                           &cbs);
  else if (f->state == KEEL__F_CANCELLED)
    cancelled = true;
  pthread_mutex_unlock(&keel__flock);
  if (cbs || cancelled) {
    pthread_cond_broadcast(&keel__fcond);
    keel__run_cbs(f, cbs);
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
  *c = (keel__cb){cb, arg, NULL};
  pthread_mutex_lock(&keel__flock);
  bool done = is_done(f);
  if (!done) {
    keel__cb **tail = &f->cbs; /* callbacks run in registration order */
    while (*tail)
      tail = &(*tail)->next;
    *tail = c;
  }
  pthread_mutex_unlock(&keel__flock);
  if (done)
    keel__run_cbs(f, c);
  return KEEL_OK;
}

void keel_future_release(keel_future *f)
{
  if (!f)
    return;
  if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
    return;
  keel__error_clear(&f->err);
  free(f->data);
  free(f->arg);
  for (keel__cb *c = f->cbs, *n; c; c = n) {
    n = c->next;
    free(c);
  }
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
  double deadline = keel__deadline(timeout);
  size_t first = 0, done = 0;
  bool holds;
  pthread_mutex_lock(&keel__flock);
  while (!(holds = wait_holds(fs, n, return_when, &first, &done)) &&
         keel__wait_until(deadline))
    ;
  pthread_mutex_unlock(&keel__flock);
  if (ndone)
    *ndone = done;
  return holds ? KEEL_OK : KEEL_ETIMEDOUT;
}
