/* clock.c: monotonic time and naps that end early when a file
 * descriptor is ready (backoff.c decides how long they are). */
#include "sys/sys.h"

#include <poll.h>
#include <sched.h>
#include <time.h>

double keel__clock_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void keel__clock_sleep(double s)
{
  (void)keel__clock_poll(NULL, 0, s); /* no fd: a plain nap */
}

int keel__clock_poll(struct pollfd *fds, unsigned long n, double s)
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

double keel__clock_deadline(double timeout)
{
  return timeout < 0 ? -1.0 : keel__clock_now() + timeout;
}

bool keel__clock_abstime(double deadline, struct timespec *ts)
{
  double left = deadline - keel__clock_now();
  if (!(left > 0))
    return false;
  if (!(left < 1e6)) /* huge: (time_t) would be undefined, and an invalid */
    left = 1e6;      /* time makes a timed wait fail without waiting */
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += (time_t)left;
  ts->tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
  return true;
}

void keel__clock_cond_init(pthread_cond_t *c)
{
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(c, &a);
  pthread_condattr_destroy(&a);
}
