/* backoff.c: how keel's loops wait.  Open MPI's blocking calls spin a
 * core; keel's loops instead spin briefly after activity, then sleep in
 * growing steps up to about a millisecond.  A loop with nothing in flight
 * dozes after a while: its naps grow to KEEL__DOZE_MAX, which is what
 * makes an idle job nearly free (a thousand wake-ups a second cost each
 * process 1-2 % of a core here).  Whoever brings it work wakes it first:
 * an eventfd for the manager thread (from user threads), the doorbell
 * (doorbell.c) between master and nannies on one node. */
#include "sys/sys.h"

#define SPIN_AFTER_ACTIVITY 200e-6 /* seconds of yield-spinning */
#define SLEEP_MIN 10e-6
#define SLEEP_MAX 1e-3

void keel__backoff_reset(keel__backoff *b)
{
  b->last_activity = keel__clock_now();
  b->sleep = 0;
}

double keel__backoff_next(keel__backoff *b, bool may_doze)
{
  double idle = keel__clock_now() - b->last_activity;
  if (idle < SPIN_AFTER_ACTIVITY)
    return 0;
  double most = may_doze && idle > KEEL__DOZE_AFTER ? KEEL__DOZE_MAX
                                                    : SLEEP_MAX;
  b->sleep = b->sleep < SLEEP_MIN ? SLEEP_MIN : b->sleep * 2;
  if (b->sleep > most)
    b->sleep = most;
  return b->sleep;
}
