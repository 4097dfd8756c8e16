/* hub.c: where user threads and the manager thread meet.  User threads
 * leave work here (new executors, submissions, shutdown and resize
 * requests, in the executors' hub fields) and wake the manager through an
 * eventfd; the manager takes it under the same lock, publishes what user
 * threads may read (live ranks, executor states) and broadcasts.  Nothing
 * here calls the manager: it looks at the hub every turn of its loop. */
#include "api/api.h"

#include <unistd.h>

struct keel__hub keel__hub = {.lock = KEEL__LOCK_INIT,
                       .ucond = PTHREAD_COND_INITIALIZER,
                       .wake_fd = -1,
                       .new_execs = {&keel__hub.new_execs,
                                     &keel__hub.new_execs}};

void keel__hub_lock(void)
{
  keel__lock_take(&keel__hub.lock);
}

void keel__hub_unlock(void)
{
  keel__lock_give(&keel__hub.lock);
}

bool keel__hub_locked(void)
{
  return keel__lock_held(&keel__hub.lock);
}

void keel__hub_wait_locked(void)
{
  keel__lock_wait(&keel__hub.lock, &keel__hub.ucond, NULL);
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
  atomic_store_explicit(&keel__hub.manager, keel__lock_thread(),
                        memory_order_relaxed);
}

bool keel__hub_on_manager(void)
{
  return atomic_load_explicit(&keel__hub.manager, memory_order_relaxed) ==
         keel__lock_thread();
}
