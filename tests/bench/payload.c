/* payload: what a large argument and a large result cost in memory across
 * the job: the master, the nanny and the task process of one worker, and
 * the shared memory a large argument lies in on the worker's node
 * (worker/shmbuf.c), which is nobody's while no one maps it.  A thread
 * samples, every millisecond while the payload travels, the three
 * processes' private and file-backed memory (Pss_Anon + Pss_File of
 * /proc/PID/smaps_rollup) plus the node's shared memory (Shmem of
 * /proc/meminfo); the figure is the highest sum less the sum before,
 * per byte of the payload.  The caller's own argument buffer is in place
 * before, so it is not counted; the future's copy of a result is.  Each
 * payload goes to a fresh executor, so nothing an earlier one grew
 * hides its cost. */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define MIB (1024.0 * 1024.0)

/* kB of field in a "Name:   N kB" file. */
static double field_kb(const char *path, const char *field)
{
  char line[256];
  double kb = 0;
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, strlen(field)) == 0)
      kb += atof(line + strlen(field));
  if (f)
    fclose(f);
  return kb;
}

static pid_t pids[3]; /* master, task process, nanny */

/* The job's memory now, kB. */
static double job_kb(void)
{
  double kb = field_kb("/proc/meminfo", "Shmem:");
  for (int i = 0; i < 3; i++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pids[i]);
    kb += field_kb(path, "Pss_Anon:") + field_kb(path, "Pss_File:");
  }
  return kb;
}

static atomic_bool sampling;
static double peak_kb;

static void *sampler(void *unused)
{
  (void)unused;
  while (atomic_load(&sampling)) {
    double kb = job_kb();
    peak_kb = kb > peak_kb ? kb : peak_kb;
    usleep(1000);
  }
  return NULL;
}

/* The task process's pid and its nanny's. */
static int t_pids(const void *arg, size_t len, keel_buf *out)
{
  pid_t v[2] = {getpid(), getppid()};
  return keel_buf_append(out, v, sizeof v);
}
KEEL_REGISTER(t_pids);

/* Touch the argument, then hold it a moment for the sampler. */
static int t_take(const void *arg, size_t len, keel_buf *out)
{
  const unsigned char *p = arg;
  unsigned sum = 0;
  for (size_t i = 0; i < len; i += 4096)
    sum += p[i];
  usleep(20000);
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
  usleep(20000);
  return 0;
}
KEEL_REGISTER(t_give);

/* keel's memory for one payload of `size` bytes in a fresh executor of
 * one worker, bytes per byte; -1 on a failure. */
static double fresh(size_t size, bool result)
{
  keel_options o;
  keel_options_init(&o);
  o.max_workers = 1; /* one nanny, one task process: all of it measured */
  keel_executor *ex;
  keel_future *f;
  const void *d;
  size_t n;
  if (keel_executor_create(&o, &ex) ||
      keel_submit(ex, t_pids, NULL, 0, &f) ||
      keel_future_result(f, 60, &d, &n) || n != 2 * sizeof(pid_t))
    return -1;
  pids[0] = getpid();
  memcpy(pids + 1, d, n);
  keel_future_release(f);
  unsigned char *buf = result ? NULL : malloc(size);
  if (!result && !buf)
    return -1;
  if (buf)
    memset(buf, 1, size);
  usleep(50000); /* settled */
  double base = job_kb();
  peak_kb = base;
  pthread_t t;
  atomic_store(&sampling, true);
  pthread_create(&t, NULL, sampler, NULL);
  int rc = result ? keel_submit(ex, t_give, &size, sizeof size, &f)
                  : keel_submit(ex, t_take, buf, size, &f);
  rc = rc ? rc : keel_future_result(f, 600, &d, &n);
  usleep(5000); /* the result's last moments */
  atomic_store(&sampling, false);
  pthread_join(t, NULL);
  if (rc)
    return -1;
  keel_future_release(f);
  free(buf);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  printf("  (%s of %.0f MiB: the job's memory rose by %.0f MiB at most)\n",
         result ? "result" : "argument", size / MIB,
         (peak_kb - base) / 1024);
  return (peak_kb - base) * 1024 / (double)size;
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
  int n = runs_of(5);
  double arg[5], res[5];
  for (int i = 0; i < n; i++)
    if ((arg[i] = fresh(size, false)) < 0 || (res[i] = fresh(size, true)) < 0)
      return 1;
  qsort(arg, (size_t)n, sizeof *arg, by_value);
  qsort(res, (size_t)n, sizeof *res, by_value);
  printf("payload-arg: %.2f x (keel's memory per byte of a %.0f MiB "
         "argument, across the job at its peak; median of %d)\n",
         arg[n / 2], size / MIB, n);
  printf("payload-result: %.2f x (the same for a %.0f MiB result, the "
         "future's copy included)\n", res[n / 2], size / MIB);
  return keel_finalize();
}
