/* printed.c: a task's output comes out before the program sees its result.
 *
 * The master prints what task processes write on a thread of its own
 * (master/output.c), so a task's lines may still be queued when its
 * future completes.  Had the program then printed a line of its own, the
 * two would race on the same stdout: through a pipe, a 64 KiB line is
 * written in pieces, and the program's line could land between them (seen
 * under MPICH's mpiexec, which drains the pipe slowly).  So a future
 * notes how many bytes had been queued when it completed (every line its
 * task printed was queued before its result came: worker/slot.c sends
 * them first), and the calls that show the program a done future wait
 * until that many have been written.  The wait is two loads when nothing
 * is queued, and never longer than the call's own timeout. */
#include "api/api.h"

#include <stdatomic.h>
#include <time.h>

static struct {
  atomic_uint_fast64_t queued, written; /* bytes, since the start */
  atomic_int waiters;
  pthread_mutex_t lock;
  pthread_cond_t cond; /* on CLOCK_MONOTONIC */
} printed = {.lock = PTHREAD_MUTEX_INITIALIZER};

__attribute__((constructor)) static void cond_init(void)
{
  keel__clock_cond_init(&printed.cond);
}

void keel__printed_queued(size_t n)
{
  atomic_fetch_add(&printed.queued, n);
}

/* Never takes a lock the manager may hold: the manager can be waiting for
 * the printer's room while it completes futures. */
void keel__printed_written(size_t n)
{
  atomic_fetch_add(&printed.written, n);
  if (atomic_load(&printed.waiters) == 0)
    return; /* a waiter counts itself before it reads written */
  pthread_mutex_lock(&printed.lock);
  pthread_cond_broadcast(&printed.cond);
  pthread_mutex_unlock(&printed.lock);
}

uint64_t keel__printed_mark(void)
{
  return atomic_load(&printed.queued);
}

static bool wait_until(double deadline)
{
  if (deadline < 0)
    return pthread_cond_wait(&printed.cond, &printed.lock), true;
  struct timespec ts;
  if (!keel__clock_abstime(deadline, &ts))
    return false;
  pthread_cond_timedwait(&printed.cond, &printed.lock, &ts);
  return true;
}

void keel__printed_wait(uint64_t mark, double deadline)
{
  if (atomic_load(&printed.written) >= mark)
    return;
  pthread_mutex_lock(&printed.lock);
  atomic_fetch_add(&printed.waiters, 1);
  while (atomic_load(&printed.written) < mark && wait_until(deadline))
    ;
  atomic_fetch_sub(&printed.waiters, 1);
  pthread_mutex_unlock(&printed.lock);
}
