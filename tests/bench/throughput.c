/* throughput: the speed figures of issue 4, keel's side, on this machine
 * with the workers keelrun gives (make bench: 2).  Medians of RUNS:
 *   submit   100,000 empty tasks, one future each, then every result;
 *   map      1,000,000 8-byte items, automatic chunks, the results
 *            gathered in an array and checked after the clock stops;
 *   latency  one task at a time, submit -> result (median of 2,000);
 *   parallel 2,000 tasks of 1 ms CPU each: efficiency against workers x
 *            wall time. */
#include "bench.h"

#include <stdint.h>
#include <sys/resource.h>

#undef RUNS
#define RUNS 5 /* each run is seconds long */

static int twice(const void *arg, size_t len, keel_buf *out)
{
  uint64_t x;
  memcpy(&x, arg, sizeof x);
  x *= 2;
  return keel_buf_append(out, &x, sizeof x);
}
KEEL_REGISTER(twice);

/* 1 ms of CPU: spin on the thread's CPU clock. */
static int spin_1ms(const void *arg, size_t len, keel_buf *out)
{
  struct timespec a, b;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  do
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 1e6);
  return 0;
}
KEEL_REGISTER(spin_1ms);

/* Submit n tasks of fn, then wait for all: seconds, < 0 on error. */
static double batch(keel_executor *ex, keel_task_fn *fn, size_t n)
{
  keel_future **fs = malloc(n * sizeof *fs);
  double t = fs ? in_flight(ex, fn, fs, n) : -1;
  free(fs);
  return t;
}

/* CPU seconds this process (the master: user threads and manager) used. */
static double cpu_self(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* The results are gathered into res, as the peers gather theirs in a
 * list, and checked after the clock stops, as theirs are. */
static double map_run(keel_executor *ex, const uint64_t *items, uint64_t *res,
                      size_t n)
{
  keel_map *m;
  const void *d;
  size_t len, got = 0;
  double t0 = now();
  if (keel_map_start(ex, twice, items, sizeof *items, n, 0, &m))
    return -1;
  while (got < n && keel_map_next(m, 120, &d, &len) == KEEL_OK && len == 8)
    memcpy(&res[got++], d, 8);
  keel_map_free(m);
  double t = now() - t0;
  for (size_t i = 0; i < got; i++)
    if (res[i] != 2 * items[i])
      return -1;
  return got == n ? t : -1;
}

static double latency(keel_executor *ex)
{
  static double v[2000];
  for (int i = 0; i < 2000; i++) {
    keel_future *f;
    double t0 = now();
    if (keel_submit(ex, nothing, NULL, 0, &f) ||
        keel_future_result(f, 30, NULL, NULL))
      return -1;
    v[i] = now() - t0;
    keel_future_release(f);
  }
  return median(v, 2000);
}

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 1;
  keel_executor *ex;
  if (keel_executor_create(NULL, &ex))
    return 1;
  int workers = keel_executor_workers(ex);
  size_t nmap = 1000000;
  uint64_t *items = malloc(nmap * sizeof *items);
  uint64_t *res = malloc(nmap * sizeof *res);
  if (!items || !res)
    return 1;
  for (size_t i = 0; i < nmap; i++)
    items[i] = i;
  double sub[RUNS], map[RUNS], lat[RUNS], par[RUNS], cpu[RUNS];
  int nr = runs_of(RUNS);
  batch(ex, nothing, 10000); /* warm */
  for (int r = 0; r < nr; r++) {
    double c0 = cpu_self();
    sub[r] = batch(ex, nothing, 100000);
    cpu[r] = (cpu_self() - c0) / 1e5;
    if (sub[r] < 0 ||
        (map[r] = map_run(ex, items, res, nmap)) < 0 ||
        (lat[r] = latency(ex)) < 0 || (par[r] = batch(ex, spin_1ms, 2000)) < 0)
      return 1;
  }
  double s = median(sub, nr), mp = median(map, nr), l = median(lat, nr),
         p = median(par, nr);
  char what[128];
  snprintf(what, sizeof what, "100,000 empty tasks, one future each, then "
           "every result; median of %d", nr);
  figure("submit", 1e5 / s, "tasks/s", what);
  snprintf(what, sizeof what, "the master's CPU (all its threads) per task "
           "of submit, with %d workers; median of %d", workers, nr);
  figure("submit-cpu", median(cpu, nr) * 1e6, "us", what);
  snprintf(what, sizeof what, "1,000,000 8-byte items, automatic chunks; "
           "median of %d", nr);
  figure("map", 1e6 / mp, "items/s", what);
  snprintf(what, sizeof what, "one empty task at a time, submit -> result; "
           "median of %d runs' medians of 2,000", nr);
  figure("roundtrip", l * 1e6, "us", what);
  snprintf(what, sizeof what, "2,000 tasks of 1 ms CPU on %d workers; "
           "median of %d", workers, nr);
  figure("parallel", 100.0 * 2.0 / (p * workers), "%", what);
  free(items);
  free(res);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return keel_finalize() ? 1 : 0;
}
