/* hub.c: where user threads and the manager thread meet.  User threads
 * leave work here (new executors, submissions, shutdown and resize
 * requests, in the executors' hub fields) and wake the manager through an
 * eventfd; the manager takes it under the same lock, publishes what user
 * threads may read (live ranks, executor states) and broadcasts.  Nothing
 * here calls the manager: it looks at the hub every turn of its loop. */
#include "api/api.h"

#include <unistd.h>

struct keel__hub keel__hub = {.lock = PTHREAD_MUTEX_INITIALIZER,
                       .ucond = PTHREAD_COND_INITIALIZER,
                       .wake_fd = -1,
                       .new_execs = {&keel__hub.new_execs,
                                     &keel__hub.new_execs}};

/* A token per thread: the address of a thread-local byte. */
static const void *me(void)
{
  static _Thread_local char token;
  return &token;
}

void keel__hub_lock(void)
{
  pthread_mutex_lock(&keel__hub.lock);
  atomic_store_explicit(&keel__hub.owner, me(), memory_order_relaxed);
}

void keel__hub_unlock(void)
{
  keel__assert(keel__hub_locked());
  atomic_store_explicit(&keel__hub.owner, NULL, memory_order_relaxed);
  pthread_mutex_unlock(&keel__hub.lock);
}

bool keel__hub_locked(void)
{
  return atomic_load_explicit(&keel__hub.owner, memory_order_relaxed) ==
         me();
}

void keel__hub_wait_locked(void)
{
  keel__assert(keel__hub_locked());
  atomic_store_explicit(&keel__hub.owner, NULL, memory_order_relaxed);
  pthread_cond_wait(&keel__hub.ucond, &keel__hub.lock);
  atomic_store_explicit(&keel__hub.owner, me(), memory_order_relaxed);
}

void keel__hub_broadcast_locked(void)
{
  keel__assert(keel__hub_locked());
  pthread_cond_broadcast(&keel__hub.ucond);
}

void keel__hub_wake_locked(void)
{
  uint64_t one = 1;
  keel__assert(keel__hub_locked());
  keel__hub.wake_pending = true; /* until the manager takes the request */
  /* The count stays until read: a wake just before the poll is not lost. */
  if (keel__hub.mgr_sleeping && write(keel__hub.wake_fd, &one, sizeof one) < 0) {
    /* only if the count overflowed: it is readable anyway */
  }
}

void keel__hub_manager_here(void)
{
  atomic_store_explicit(&keel__hub.manager, me(), memory_order_relaxed);
}

bool keel__hub_on_manager(void)
{
  return atomic_load_explicit(&keel__hub.manager, memory_order_relaxed) ==
         me();
}
