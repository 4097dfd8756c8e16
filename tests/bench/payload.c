/* payload: what a large argument and a large result cost in memory,
 * summed over the job's processes that hold them: the master, the nanny
 * and the task process of one worker.  Each process's peak resident size
 * (VmHWM) is reset (/proc/PID/clear_refs, 5) once the caller's own buffer
 * is in place, so the figure is what keel adds: peak less resident size
 * at the reset, summed, per byte of the payload.  A sum of peaks is an
 * upper bound: the three need not peak at the same moment. */
#include "bench.h"

#include <stdint.h>

#define MIB (1024.0 * 1024.0)

/* kB of a field of /proc/PID/status ("VmHWM:", "VmRSS:"). */
static double status_kb(pid_t pid, const char *field)
{
  char path[64], line[256];
  double kb = -1;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, strlen(field)) == 0)
      kb = atof(line + strlen(field));
  if (f)
    fclose(f);
  return kb;
}

static int reset_peak(pid_t pid)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
  int fd = open(path, O_WRONLY);
  int ok = fd >= 0 && write(fd, "5", 1) == 1;
  if (fd >= 0)
    close(fd);
  return ok ? 0 : -1;
}

/* In the task process: reset its own peak and its nanny's (its parent),
 * and return both resident sizes, kB. */
static int t_reset(const void *arg, size_t len, keel_buf *out)
{
  pid_t me = getpid(), nanny = getppid();
  if (reset_peak(me) || reset_peak(nanny))
    return keel_fail(out, "cannot reset the peak resident size");
  double v[2] = {status_kb(me, "VmRSS:"), status_kb(nanny, "VmRSS:")};
  return keel_buf_append(out, v, sizeof v);
}
KEEL_REGISTER(t_reset);

/* Both peaks since, kB. */
static int t_peaks(const void *arg, size_t len, keel_buf *out)
{
  double v[2] = {status_kb(getpid(), "VmHWM:"),
                 status_kb(getppid(), "VmHWM:")};
  return keel_buf_append(out, v, sizeof v);
}
KEEL_REGISTER(t_peaks);

/* Touch the argument, so that it is really there. */
static int t_take(const void *arg, size_t len, keel_buf *out)
{
  const unsigned char *p = arg;
  unsigned sum = 0;
  for (size_t i = 0; i < len; i += 4096)
    sum += p[i];
  return keel_buf_append(out, &sum, sizeof sum);
}
KEEL_REGISTER(t_take);

/* A result of the size in arg, written in 1 MiB pieces. */
static int t_give(const void *arg, size_t len, keel_buf *out)
{
  static char piece[1 << 20];
  size_t n = *(const size_t *)arg;
  memset(piece, 7, sizeof piece);
  for (size_t k = 0; k < n; k += sizeof piece)
    if (keel_buf_append(out, piece, n - k < sizeof piece ? n - k : sizeof piece))
      return -1;
  return 0;
}
KEEL_REGISTER(t_give);

static int call(keel_executor *ex, keel_task_fn *fn, const void *arg,
                size_t len, double *v)
{
  keel_future *f;
  const void *d;
  size_t n;
  if (keel_submit(ex, fn, arg, len, &f) ||
      keel_future_result(f, 600, &d, &n) || (v && n != 2 * sizeof *v))
    return -1;
  if (v)
    memcpy(v, d, 2 * sizeof *v);
  keel_future_release(f);
  return 0;
}

/* keel's own memory for one payload of `size` bytes: an argument (the
 * caller's buffer, in place before the reset, is not counted) or a
 * result (the future holds it: counted), in bytes per byte. */
static double measure(keel_executor *ex, size_t size, bool result)
{
  unsigned char *buf = NULL;
  if (!result) {
    buf = malloc(size);
    if (!buf)
      return -1;
    memset(buf, 1, size);
  }
  double base[2], peak[2], mbase, mpeak;
  if (call(ex, t_reset, NULL, 0, base) || reset_peak(getpid()))
    return -1;
  mbase = status_kb(getpid(), "VmRSS:");
  keel_future *f;
  const void *d;
  size_t n;
  int rc = result ? keel_submit(ex, t_give, &size, sizeof size, &f)
                  : keel_submit(ex, t_take, buf, size, &f);
  if (rc || keel_future_result(f, 600, &d, &n))
    return -1;
  mpeak = status_kb(getpid(), "VmHWM:");
  keel_future_release(f);
  free(buf);
  if (call(ex, t_peaks, NULL, 0, peak))
    return -1;
  double kb = (mpeak - mbase) + (peak[0] - base[0]) + (peak[1] - base[1]);
  printf("  (%s of %.0f MiB: master +%.0f MiB, task process +%.0f MiB, "
         "nanny +%.0f MiB)\n", result ? "result" : "argument", size / MIB,
         (mpeak - mbase) / 1024, (peak[0] - base[0]) / 1024,
         (peak[1] - base[1]) / 1024);
  return kb * 1024 / (double)size;
}

/* One payload in a fresh executor (a fresh nanny slot and task process,
 * which nothing earlier grew). */
static double fresh(size_t size, bool result)
{
  keel_options o;
  keel_options_init(&o);
  o.max_workers = 1; /* one nanny, one task process: all of it measured */
  keel_executor *ex;
  if (keel_executor_create(&o, &ex) || call(ex, t_take, "x", 1, NULL))
    return -1;
  double x = measure(ex, size, result);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return x;
}

static int by_value(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 2;
  size_t size = runs_of(2) == 1 ? (16u << 20) : (256u << 20);
  int n = runs_of(3);
  double arg[3], res[3];
  for (int i = 0; i < n; i++)
    if ((arg[i] = fresh(size, false)) < 0 || (res[i] = fresh(size, true)) < 0)
      return 1;
  qsort(arg, (size_t)n, sizeof *arg, by_value);
  qsort(res, (size_t)n, sizeof *res, by_value);
  printf("payload-arg: %.2f x (keel's memory per byte of a %.0f MiB "
         "argument: summed peaks of master, nanny and task process; median "
         "of %d)\n", arg[n / 2], size / MIB, n);
  printf("payload-result: %.2f x (the same for a %.0f MiB result, the "
         "future's copy included)\n", res[n / 2], size / MIB);
  return keel_finalize();
}
