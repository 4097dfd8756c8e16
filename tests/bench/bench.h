/* bench.h: what keel's benchmarks share: the clock, medians, and a task
 * that notes the time in a file and then SIGKILLs a process. */
#ifndef KEEL_BENCH_H
#define KEEL_BENCH_H

#include <keel.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RUNS 9

/* How many runs a figure takes: n, or 1 under KEEL_BENCH_SMOKE=1
 * (compare --smoke, in CI), which only shows that every benchmark still
 * runs: its figures mean nothing. */
static inline int runs_of(int n)
{
  const char *s = getenv("KEEL_BENCH_SMOKE");
  return s && *s && strcmp(s, "0") ? 1 : n;
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Write now() to the file named by arg. */
static inline int note_now(const void *arg, size_t len, keel_buf *out)
{
  char path[256];
  snprintf(path, sizeof path, "%.*s", (int)len, (const char *)arg);
  double t = now();
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, &t, sizeof t) != sizeof t)
    return keel_fail(out, "cannot write %s", path);
  close(fd);
  return 0;
}

/* Write now() to the file named by arg, then SIGKILL `victim`. */
static inline int note_and_kill(const void *arg, size_t len, keel_buf *out,
                         pid_t victim)
{
  if (note_now(arg, len, out))
    return -1;
  kill(victim, SIGKILL);
  sleep(10); /* killed meanwhile, or by PDEATHSIG */
  return 0;
}

static int nothing(const void *arg, size_t len, keel_buf *out)
{
  return 0;
}
KEEL_REGISTER(nothing);

/* Submit n tasks of fn(arg) into fs[]: < 0 on error. */
static inline int submit_n(keel_executor *ex, keel_task_fn *fn,
                           const char *arg, keel_future **fs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (keel_submit(ex, fn, arg, arg ? strlen(arg) : 0, &fs[i]))
      return -1;
  return 0;
}

/* Every result of fs[0..n), released: < 0 if one failed. */
static inline int collect(keel_future **fs, size_t n)
{
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    bad |= keel_future_result(fs[i], 120, NULL, NULL) != KEEL_OK;
    keel_future_release(fs[i]);
  }
  return bad ? -1 : 0;
}

/* n tasks of fn in flight, into fs[]: submitted, then every result.
 * Seconds, < 0 on error. */
static inline double in_flight(keel_executor *ex, keel_task_fn *fn,
                               keel_future **fs, size_t n)
{
  double t0 = now();
  if (submit_n(ex, fn, NULL, fs, n) || collect(fs, n))
    return -1;
  return now() - t0;
}

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

/* Submit fn(path), which notes the time and kills something: seconds from
 * then to the failed future, or < 0 on error. */
static inline double time_kill(keel_executor *ex, keel_task_fn *fn, const char *path)
{
  keel_future *f;
  double t_kill = 0;
  if (keel_submit(ex, fn, path, strlen(path), &f))
    return -1;
  int rc = keel_future_result(f, 30, NULL, NULL);
  double t_done = now();
  keel_future_release(f);
  FILE *fp = fopen(path, "rb");
  if (rc != KEEL_EWORKER || !fp || fread(&t_kill, sizeof t_kill, 1, fp) != 1)
    t_kill = -1;
  if (fp)
    fclose(fp);
  unlink(path);
  return t_kill < 0 ? -1 : t_done - t_kill;
}

/* One figure, one line: "key: value unit (what it is, how measured)".
 * tests/bench/compare reads the first three fields; people read the rest. */
static inline void figure(const char *key, double value, const char *unit,
                          const char *what)
{
  printf("%s: %.*f %s (%s)\n", key, value >= 100 ? 0 : 2, value, unit, what);
  fflush(stdout);
}

/* The median of n timings in seconds, as milliseconds, with the spread. */
static inline void figure_ms(const char *key, const char *what, double *v,
                             int n)
{
  char line[256];
  double m = median(v, n); /* sorts */
  snprintf(line, sizeof line, "%s; median of %d, min %.2f, max %.2f ms",
           what, n, v[0] * 1e3, v[n - 1] * 1e3);
  figure(key, m * 1e3, "ms", line);
}

#endif
