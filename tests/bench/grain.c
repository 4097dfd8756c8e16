/* grain: keel on busy tasks of a given CPU time (empty, 10 us, 100 us,
 * 1 ms; spin.h), the same workload as the hand-written MPI master-worker
 * (handmw.c) that compare runs beside it.  Every task of a run is
 * submitted, then every result collected.  Figures, medians of RUNS:
 *   grain-empty  tasks/s
 *   grain-10us, grain-100us, grain-1ms  efficiency: tasks x grain /
 *                (workers x wall time), in %.
 *   grain-ceiling-10us, -100us, -1ms  the same spins back to back in the
 *                master, no runtime at all, on one core: the efficiency
 *                this machine's CPU-clock reads leave (spin.h), which no
 *                runtime can pass.
 * KEEL_BENCH_GRAIN=10us (or empty, 100us, 1ms) runs that grain alone. */
#include "bench.h"
#include "spin.h"

#undef RUNS
#define RUNS 5

static int busy(const void *arg, size_t len, keel_buf *out)
{
  unsigned us = 0;
  memcpy(&us, arg, len < sizeof us ? len : sizeof us);
  spin_us(us);
  return 0;
}
KEEL_REGISTER(busy);

/* n tasks of us microseconds: seconds, < 0 on error. */
static double run(keel_executor *ex, unsigned us, size_t n)
{
  keel_future **fs = malloc(n * sizeof *fs);
  if (!fs)
    return -1;
  double t0 = now();
  for (size_t i = 0; i < n; i++)
    if (keel_submit(ex, busy, &us, sizeof us, &fs[i]))
      return -1;
  double t = collect(fs, n) ? -1 : now() - t0;
  free(fs);
  return t;
}

/* Efficiency of spins of us microseconds back to back for about 0.3 s in
 * this thread: tasks x grain / wall time, in %. */
static double ceiling(unsigned us)
{
  unsigned n = 300000 / us;
  double t0 = now();
  for (unsigned i = 0; i < n; i++)
    spin_us(us);
  return 100.0 * n * us * 1e-6 / (now() - t0);
}

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 1;
  keel_executor *ex;
  if (keel_executor_create(NULL, &ex))
    return 1;
  int workers = keel_executor_workers(ex), nr = runs_of(RUNS);
  const char *only = getenv("KEEL_BENCH_GRAIN"); /* one grain, to profile */
  for (int g = 0; g < NGRAINS; g++) {
    double t[RUNS];
    if (only && strcmp(only, grain_key[g]))
      continue;
    if (run(ex, grain_us[g], grain_tasks[g] / 10) < 0) /* warm */
      return 1;
    for (int r = 0; r < nr; r++)
      if ((t[r] = run(ex, grain_us[g], grain_tasks[g])) < 0)
        return 1;
    double m = median(t, nr);
    char key[32], what[160];
    snprintf(key, sizeof key, "grain-%s", grain_key[g]);
    snprintf(what, sizeof what, "keel, %u tasks of %u us CPU on %d workers, "
             "all submitted then collected; median of %d", grain_tasks[g],
             grain_us[g], workers, nr);
    if (grain_us[g] == 0) {
      figure(key, grain_tasks[g] / m, "tasks/s", what);
      continue;
    }
    figure(key, 100.0 * grain_tasks[g] * grain_us[g] * 1e-6 / (workers * m),
           "%", what);
    double c[RUNS];
    for (int r = 0; r < nr; r++)
      c[r] = ceiling(grain_us[g]);
    snprintf(key, sizeof key, "grain-ceiling-%s", grain_key[g]);
    snprintf(what, sizeof what, "the %u us spins back to back on one core, "
             "no runtime: the most this machine's CPU-clock reads allow; "
             "median of %d", grain_us[g], nr);
    figure(key, median(c, nr), "%", what);
  }
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return keel_finalize() ? 1 : 0;
}
