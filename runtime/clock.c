/* clock.c: monotonic time and the adaptive back-off.  Open MPI's blocking
 * calls spin a core; keel's loops instead spin briefly after activity, then
 * sleep in growing steps up to about a millisecond.  A loop with nothing in
 * flight dozes after a while: its naps grow to KEEL__DOZE_MAX, which is
 * what makes an idle job nearly free (a thousand wake-ups a second cost
 * each process 1-2 % of a core here).  Whoever brings it work wakes it
 * first: an eventfd for the manager thread (from user threads), the
 * doorbell (doorbell.c) between master and nannies on one node. */
#include "keel_int.h"

#include <poll.h>
#include <sched.h>
#include <time.h>

#define SPIN_AFTER_ACTIVITY 200e-6 /* seconds of yield-spinning */
#define SLEEP_MIN 10e-6
#define SLEEP_MAX 1e-3

double keel__now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void keel__sleep(double s)
{
  (void)keel__poll(NULL, 0, s); /* no fd: a plain nap */
}

int keel__poll(struct pollfd *fds, unsigned long n, double s)
{
  if (!(s > 0)) { /* also NaN */
    sched_yield();
    return 0;
  }
  if (s > 1e6)
    s = 1e6;
  /* ppoll, not poll: poll's milliseconds would turn a 10 us nap into 1 ms */
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  return ppoll(fds, (nfds_t)n, &ts, NULL);
}

void keel__backoff_reset(keel__backoff *b)
{
  b->last_activity = keel__now();
  b->sleep = 0;
}

double keel__backoff_next(keel__backoff *b, bool may_doze)
{
  double idle = keel__now() - b->last_activity;
  if (idle < SPIN_AFTER_ACTIVITY)
    return 0;
  double most = may_doze && idle > KEEL__DOZE_AFTER ? KEEL__DOZE_MAX
                                                    : SLEEP_MAX;
  b->sleep = b->sleep < SLEEP_MIN ? SLEEP_MIN : b->sleep * 2;
  if (b->sleep > most)
    b->sleep = most;
  return b->sleep;
}
