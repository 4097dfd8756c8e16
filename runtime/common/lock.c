/* lock.c: a mutex that knows which thread holds it, so that keel__assert
 * can check the lock rules the headers state (api/api.h).  The holder is
 * a token per thread, the address of a thread-local byte; it is written
 * only by the holder, and read by other threads only when the rule is
 * already broken. */
#include "keel_int.h"

static const void *me(void)
{
  static _Thread_local char token;
  return &token;
}

void keel__lock_take(keel__lock *l)
{
  pthread_mutex_lock(&l->mutex);
  atomic_store_explicit(&l->owner, me(), memory_order_relaxed);
}

void keel__lock_give(keel__lock *l)
{
  keel__assert(keel__lock_held(l));
  atomic_store_explicit(&l->owner, NULL, memory_order_relaxed);
  pthread_mutex_unlock(&l->mutex);
}

bool keel__lock_held(keel__lock *l)
{
  return atomic_load_explicit(&l->owner, memory_order_relaxed) == me();
}

int keel__lock_wait(keel__lock *l, pthread_cond_t *c,
                    const struct timespec *until)
{
  keel__assert(keel__lock_held(l));
  atomic_store_explicit(&l->owner, NULL, memory_order_relaxed);
  int rc = until ? pthread_cond_timedwait(c, &l->mutex, until)
                 : pthread_cond_wait(c, &l->mutex);
  atomic_store_explicit(&l->owner, me(), memory_order_relaxed);
  return rc;
}

const void *keel__lock_thread(void)
{
  return me();
}
