/* clock.c: monotonic time and the adaptive back-off.  Open MPI's blocking
 * calls spin a core; keel's loops instead spin briefly after activity, then
 * sleep in growing steps up to about a millisecond. */
#include "keel_int.h"

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
  if (!(s > 0)) { /* also NaN */
    sched_yield();
    return;
  }
  if (s > 1e6)
    s = 1e6;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

void keel__backoff_reset(keel__backoff *b)
{
  b->last_activity = keel__now();
  b->sleep = 0;
}

double keel__backoff_next(keel__backoff *b)
{
  if (keel__now() - b->last_activity < SPIN_AFTER_ACTIVITY)
    return 0;
  b->sleep = b->sleep < SLEEP_MIN ? SLEEP_MIN : b->sleep * 2;
  if (b->sleep > SLEEP_MAX)
    b->sleep = SLEEP_MAX;
  return b->sleep;
}
