/* growth: does keel slow down as more futures are in flight?  Submit
 * throughput (N empty tasks submitted, then every result) for N = 10^4,
 * 10^5 and 10^6, medians of RUNS; and the master's memory per pending
 * future: its RSS before and after submitting 10^6 tasks while every
 * worker is held busy, so that they stay pending. */
#include "bench.h"

#include <stdint.h>

#undef RUNS
#define RUNS 5

/* Keep the worker busy while the file named by arg exists. */
static int hold(const void *arg, size_t len, keel_buf *out)
{
  char path[256];
  snprintf(path, sizeof path, "%.*s", (int)len, (const char *)arg);
  while (access(path, F_OK) == 0)
    usleep(1000);
  return 0;
}
KEEL_REGISTER(hold);

/* The master's resident memory, in bytes. */
static double rss(void)
{
  char line[256];
  double kib = -1;
  FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %lf kB", &kib) == 1)
      break;
  if (f)
    fclose(f);
  return kib * 1024;
}

/* n empty tasks in flight: tasks per second, < 0 on error. */
static double tasks_per_second(keel_executor *ex, keel_future **fs, size_t n)
{
  double t = in_flight(ex, nothing, fs, n);
  return t < 0 ? -1 : (double)n / t;
}

/* Bytes of master memory per pending future, n of them held back behind
 * one busy task per worker; < 0 on error. */
static double per_future(keel_executor *ex, keel_future **fs, size_t n)
{
  char path[64];
  int w = keel_executor_workers(ex);
  keel_future *holds[64];
  snprintf(path, sizeof path, "/tmp/keel-bench-hold-%d", (int)getpid());
  FILE *f = fopen(path, "w");
  if (!f || w > 64)
    return -1;
  fclose(f);
  if (submit_n(ex, hold, path, holds, (size_t)w))
    return -1;
  usleep(200000); /* the holds reach their workers */
  double before = rss();
  if (submit_n(ex, nothing, NULL, fs, n))
    return -1;
  double after = rss();
  unlink(path);
  if (collect(holds, (size_t)w) || collect(fs, n))
    return -1;
  return (after - before) / (double)n;
}

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 1;
  keel_executor *ex;
  keel_options o;
  size_t sizes[] = {10000, 100000, 1000000}, nmax = 1000000;
  keel_future **fs = malloc(nmax * sizeof *fs);
  keel_options_init(&o);
  /* 10^6 pending behind the tasks that hold the workers, which end only
   * once all are submitted: room for all, past the default bound */
  o.max_pending = nmax + 1024;
  if (!fs || keel_executor_create(&o, &ex))
    return 1;
  memset(fs, 0, nmax * sizeof *fs); /* resident before any RSS reading */
  double rate[3], v[RUNS], lo = 1e300, hi = 0;
  int nr = runs_of(RUNS);
  /* memory first, while the heap is fresh: later the freed futures of the
   * throughput runs would be reused and the figure would understate */
  double b = per_future(ex, fs, nmax);
  if (b < 0)
    return 1;
  tasks_per_second(ex, fs, 10000); /* warm */
  for (int s = 0; s < 3; s++) {
    for (int r = 0; r < nr; r++)
      if ((v[r] = tasks_per_second(ex, fs, sizes[s])) < 0)
        return 1;
    rate[s] = median(v, nr);
    lo = rate[s] < lo ? rate[s] : lo;
    hi = rate[s] > hi ? rate[s] : hi;
  }
  char key[32], what[128];
  for (int s = 0; s < 3; s++) {
    snprintf(key, sizeof key, "growth-1e%d", s + 4);
    snprintf(what, sizeof what, "%zu empty tasks in flight, submitted then "
             "every result; median of %d", sizes[s], nr);
    figure(key, rate[s], "tasks/s", what);
  }
  figure("growth-spread", 100 * (hi - lo) / hi, "%",
         "slowest against fastest of the three");
  figure("memory-per-future", b, "bytes", "master RSS growth per pending "
         "future, 10^6 empty tasks held behind busy workers");
  free(fs);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return keel_finalize() ? 1 : 0;
}
