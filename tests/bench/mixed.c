/* mixed: tasks of mixed durations, where work could wait behind a long
 * task while another worker sits idle.  Tasks sleep (they stand for work
 * elsewhere: I/O, a solver on another core), so that the figures measure
 * scheduling, not how 3 processes share 2 cores.
 *  - long_then_short_10ms: on an executor warmed with the same function, one
 *    2 s task, then 20 of 10 ms: seconds until the 20 are done;
 *  - long_then_short_1ms: the same with 200 tasks of 1 ms;
 *  - long_then_short_cold: 20 of 10 ms on a fresh executor, with a
 *    function the master has never timed;
 *  - sweep_vs_greedy: 400 tasks of 0.5-50 ms (most short, seed fixed) and
 *    one of 400 ms near the end: the makespan of greedy list scheduling with
 *    zero overhead (each task in order to the first free worker), divided
 *    by keel's: 1.0 is the bound.
 * Medians of 3 runs (the long-then-short cases) or 5 (the sweep). */
#include "bench.h"

#define SWEEP_N 400

/* Sleeps us microseconds, to the microsecond: a nap overshoots by 0.1 ms
 * or so here, which the greedy bound would not have, so the last 0.4 ms
 * are spent spinning on the clock. */
static int sleep_us(const void *arg, size_t len, keel_buf *out)
{
  unsigned us = 0;
  memcpy(&us, arg, len < sizeof us ? len : sizeof us);
  double end = now() + us * 1e-6;
  if (us > 400) {
    unsigned nap = us - 400;
    struct timespec ts = {nap / 1000000, (long)(nap % 1000000) * 1000};
    while (nanosleep(&ts, &ts))
      ;
  }
  while (now() < end)
    ;
  return 0;
}
KEEL_REGISTER(sleep_us);

/* The same under other names, one per cold run: functions never timed. */
static int cold_a(const void *arg, size_t len, keel_buf *out)
{
  return sleep_us(arg, len, out);
}
KEEL_REGISTER(cold_a);
static int cold_b(const void *arg, size_t len, keel_buf *out)
{
  return sleep_us(arg, len, out);
}
KEEL_REGISTER(cold_b);
static int cold_c(const void *arg, size_t len, keel_buf *out)
{
  return sleep_us(arg, len, out);
}
KEEL_REGISTER(cold_c);

static int submit_fn(keel_executor *ex, keel_task_fn *fn, unsigned us,
                     keel_future **f)
{
  return keel_submit(ex, fn, &us, sizeof us, f);
}

static int submit_us(keel_executor *ex, unsigned us, keel_future **f)
{
  return submit_fn(ex, sleep_us, us, f);
}

/* Warm: the function's estimate becomes `us`. */
static int warm(keel_executor *ex, unsigned us)
{
  keel_future *f[20];
  for (int i = 0; i < 20; i++)
    if (submit_us(ex, us, &f[i]))
      return -1;
  return collect(f, 20);
}

/* One long task of fn, then n short ones: seconds until the short ones
 * are done, counted from their submission. */
static double long_short_of(keel_executor *ex, keel_task_fn *fn,
                            unsigned short_us, int n)
{
  keel_future *lf, *f[256];
  if (submit_fn(ex, fn, 2000000, &lf))
    return -1;
  double t0 = now();
  for (int i = 0; i < n; i++)
    if (submit_fn(ex, fn, short_us, &f[i]))
      return -1;
  if (collect(f, (size_t)n))
    return -1;
  double t = now() - t0;
  return collect(&lf, 1) ? -1 : t;
}

/* The same on an executor warmed with short tasks of the function. */
static double long_then_short(keel_executor *ex, unsigned short_us, int n)
{
  return warm(ex, short_us) ? -1 : long_short_of(ex, sleep_us, short_us, n);
}

/* The same on a fresh executor, with a function never timed. */
static double long_then_short_cold(keel_task_fn *fn)
{
  keel_executor *ex;
  if (keel_executor_create(NULL, &ex))
    return -1;
  double t = long_short_of(ex, fn, 10000, 20);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return t;
}

/* The sweep's task lengths, fixed: mostly 0.5-5 ms, one in ten up to 50
 * ms, and 400 ms at position SWEEP_N - 20. */
static void sweep_lengths(unsigned *us)
{
  unsigned long x = 12345;
  for (int i = 0; i < SWEEP_N; i++) {
    x = x * 6364136223846793005ul + 1442695040888963407ul;
    unsigned r = (unsigned)(x >> 33);
    us[i] = r % 10 == 0 ? 500 + r % 49500 : 500 + r % 4500;
  }
  us[SWEEP_N - 20] = 400000;
}

/* Greedy list scheduling on `workers`, no overhead: the makespan. */
static double greedy(const unsigned *us, int n, int workers)
{
  double free_at[64] = {0}, end = 0;
  for (int i = 0; i < n; i++) {
    int w = 0;
    for (int k = 1; k < workers; k++)
      if (free_at[k] < free_at[w])
        w = k;
    free_at[w] += us[i] * 1e-6;
    end = free_at[w] > end ? free_at[w] : end;
  }
  return end;
}

static double sweep(keel_executor *ex, const unsigned *us)
{
  keel_future *f[SWEEP_N];
  double t0 = now();
  for (int i = 0; i < SWEEP_N; i++)
    if (submit_us(ex, us[i], &f[i]))
      return -1;
  return collect(f, SWEEP_N) ? -1 : now() - t0;
}

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 1;
  keel_executor *ex;
  if (keel_executor_create(NULL, &ex))
    return 1;
  int workers = keel_executor_workers(ex);
  double a10[3], a1[3], cold[3], b[5];
  int n3 = runs_of(3), n5 = runs_of(5);
  keel_task_fn *colds[3] = {cold_a, cold_b, cold_c};
  unsigned us[SWEEP_N];
  sweep_lengths(us);
  for (int i = 0; i < n3; i++)
    if ((a10[i] = long_then_short(ex, 10000, 20)) < 0 ||
        (a1[i] = long_then_short(ex, 1000, 200)) < 0 ||
        (cold[i] = long_then_short_cold(colds[i])) < 0)
      return 1;
  if (warm(ex, 2000))
    return 1;
  for (int i = 0; i < n5; i++)
    if ((b[i] = sweep(ex, us)) < 0)
      return 1;
  char what[200];
  snprintf(what, sizeof what, "one 2 s task then 20 of 10 ms, %d workers: "
           "s until the 20 are done; median of %d", workers, n3);
  figure("long_then_short_10ms", median(a10, n3), "s", what);
  snprintf(what, sizeof what, "one 2 s task then 200 of 1 ms, %d workers: "
           "s until the 200 are done; median of %d", workers, n3);
  figure("long_then_short_1ms", median(a1, n3), "s", what);
  snprintf(what, sizeof what, "the 10 ms case on a fresh executor, a "
           "function never timed, %d workers; median of %d", workers, n3);
  figure("long_then_short_cold", median(cold, n3), "s", what);
  double bound = greedy(us, SWEEP_N, workers), mk = median(b, n5);
  snprintf(what, sizeof what, "%d tasks of 0.5-50 ms and one of 400 ms, %d "
           "workers: greedy bound %.3f s / keel's makespan %.3f s (median "
           "of %d)", SWEEP_N, workers, bound, mk, n5);
  figure("sweep_vs_greedy", bound / mk, "x", what);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return keel_finalize() ? 1 : 0;
}
