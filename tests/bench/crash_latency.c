/* crash_latency: how long from a task process's death to the failed future,
 * and from a broken executor to a reusable one that answers again.
 * The task writes CLOCK_MONOTONIC (one clock for the whole node) to a file
 * just before it SIGKILLs itself; the master compares with the moment
 * keel_future_result() returns.  Prints medians of RUNS. */
#include <keel.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RUNS 9

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die_at(const void *arg, size_t len, keel_buf *out)
{
  char path[256];
  snprintf(path, sizeof path, "%.*s", (int)len, (const char *)arg);
  double t = now();
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, &t, sizeof t) != sizeof t)
    return keel_fail(out, "cannot write %s", path);
  close(fd);
  kill(getpid(), SIGKILL);
  return 0;
}
KEEL_REGISTER(die_at);

static int nothing(const void *arg, size_t len, keel_buf *out)
{
  return 0;
}
KEEL_REGISTER(nothing);

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

/* SIGKILL -> failed future, in seconds; < 0 on error. */
static double one_kill(keel_executor *ex, const char *path)
{
  keel_future *f;
  double t_kill = 0;
  if (keel_submit(ex, die_at, path, strlen(path), &f))
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

/* Broken reusable executor -> a new one answers a task, in seconds. */
static double one_recovery(const char *path)
{
  keel_executor *ex;
  keel_future *f;
  keel_get_reusable_executor(NULL, &ex);
  if (one_kill(ex, path) < 0 || !keel_executor_broken(ex))
    return -1;
  double t0 = now();
  if (keel_get_reusable_executor(NULL, &ex) ||
      keel_submit(ex, nothing, NULL, 0, &f))
    return -1;
  int rc = keel_future_result(f, 30, NULL, NULL);
  keel_future_release(f);
  return rc ? -1 : now() - t0;
}

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 1;
  keel_options o;
  keel_executor *ex;
  double kill_s[RUNS], rec_s[RUNS];
  char path[64];
  snprintf(path, sizeof path, "/tmp/keel-bench-kill-%d", (int)getpid());
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  if (keel_executor_create(&o, &ex))
    return 1;
  for (int i = 0; i < RUNS; i++) {
    usleep(50000); /* a fresh task process is up */
    if ((kill_s[i] = one_kill(ex, path)) < 0)
      return 1;
  }
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  for (int i = 0; i < RUNS; i++)
    if ((rec_s[i] = one_recovery(path)) < 0)
      return 1;
  double mk = median(kill_s, RUNS), mr = median(rec_s, RUNS); /* sorts */
  printf("crash report (SIGKILL -> failed future): median %.2f ms of %d "
         "(min %.2f, max %.2f)\n", mk * 1e3, RUNS,
         kill_s[0] * 1e3, kill_s[RUNS - 1] * 1e3);
  printf("recovery (broken -> reusable executor answers): median %.2f ms "
         "of %d (min %.2f, max %.2f)\n", mr * 1e3, RUNS,
         rec_s[0] * 1e3, rec_s[RUNS - 1] * 1e3);
  return keel_finalize() ? 1 : 0;
}
