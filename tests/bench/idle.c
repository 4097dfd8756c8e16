/* idle: what an open executor with nothing to do costs.  The whole job sits
 * idle 5 s after a burst of work; the CPU time every rank's process used
 * meanwhile (master with its manager thread, nannies, task processes), from
 * the scheduler's own nanosecond count (/proc/PID/task/TID/schedstat), as a
 * share of one core.  mpirun (the master's parent under keelrun) is counted
 * apart: it is the launcher, not a rank.  Same node only, as under make
 * bench. */
#include "bench.h"

#include <dirent.h>
#include <stdint.h>

#define IDLE_SECONDS 5.0
#define MAX_PIDS 1026 /* up to 512 workers */
#undef RUNS
#define RUNS 5 /* each run is 5 s long */

/* The task process's and its nanny's pids, after a pause that makes two
 * such tasks submitted together land on two workers. */
static int whoami(const void *arg, size_t len, keel_buf *out)
{
  int32_t pids[2] = {(int32_t)getpid(), (int32_t)getppid()};
  usleep(100000);
  return keel_buf_append(out, pids, sizeof pids);
}
KEEL_REGISTER(whoami);

/* Nanoseconds of CPU that every thread of pid has run; 0 once it is gone. */
static uint64_t cpu_ns(pid_t pid)
{
  char path[64];
  uint64_t sum = 0;
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  for (struct dirent *e; d && (e = readdir(d));) {
    char p[400];
    unsigned long long ns;
    snprintf(p, sizeof p, "%s/%s/schedstat", path, e->d_name);
    FILE *f = e->d_name[0] != '.' ? fopen(p, "r") : NULL;
    if (f && fscanf(f, "%llu", &ns) == 1)
      sum += ns;
    if (f)
      fclose(f);
  }
  if (d)
    closedir(d);
  return sum;
}

/* Every rank's processes: the master, then a nanny and task process per
 * worker.  Returns how many, < 0 on error. */
static int gather_pids(keel_executor *ex, pid_t *pids)
{
  int w = keel_executor_workers(ex), n = 0;
  keel_future *f[MAX_PIDS / 2];
  pids[n++] = getpid();
  for (int i = 0; i < w && i < MAX_PIDS / 2 - 1; i++)
    if (keel_submit(ex, whoami, NULL, 0, &f[i]))
      return -1;
  for (int i = 0; i < w && i < MAX_PIDS / 2 - 1; i++) {
    const void *d;
    size_t len;
    int32_t p[2];
    if (keel_future_result(f[i], 30, &d, &len) || len != sizeof p)
      return -1;
    memcpy(p, d, sizeof p);
    for (int j = 1; j < n; j++) /* two tasks on one worker: not all seen */
      if (pids[j] == p[0] || pids[j] == p[1])
        return -1;
    pids[n++] = p[0];
    pids[n++] = p[1];
    keel_future_release(f[i]);
  }
  return n;
}

/* CPU used by pid since `before`; a process that has gone (0 now) would
 * make the figure meaningless. */
static double used(pid_t pid, uint64_t before, double seconds)
{
  uint64_t after = cpu_ns(pid);
  if (after < before) {
    fprintf(stderr, "idle: process %d went away during the idle period\n",
            (int)pid);
    exit(1);
  }
  return (double)(after - before) * 1e-9 / seconds;
}

/* Sleep s seconds whatever signals come. */
static void sleep_s(double s)
{
  double end = now() + s;
  for (double left = s; left > 0; left = end - now()) {
    struct timespec ts = {(time_t)left,
                          (long)((left - (double)(time_t)left) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 1;
  keel_executor *ex;
  pid_t pids[MAX_PIDS], mpirun = getppid();
  double ranks[RUNS], launch[RUNS], share[3][RUNS] = {{0}};
  int nr = runs_of(RUNS);
  if (keel_executor_create(NULL, &ex))
    return 1;
  int n = gather_pids(ex, pids);
  if (n < 3)
    return 1;
  for (int r = 0; r < nr; r++) {
    keel_future *f;
    for (int i = 0; i < 1000; i++) /* a burst of work, then nothing */
      if (keel_submit(ex, nothing, NULL, 0, &f) ||
          keel_future_result(f, 30, NULL, NULL))
        return 1;
      else
        keel_future_release(f);
    uint64_t c0[MAX_PIDS], l0 = cpu_ns(mpirun);
    for (int i = 0; i < n; i++)
      c0[i] = cpu_ns(pids[i]);
    double t0 = now();
    sleep_s(IDLE_SECONDS);
    double t = now() - t0;
    for (int i = 0; i < n; i++) /* master, then (task process, nanny)s */
      share[i == 0 ? 0 : 1 + i % 2][r] += used(pids[i], c0[i], t);
    ranks[r] = share[0][r] + share[1][r] + share[2][r];
    launch[r] = used(mpirun, l0, t);
  }
  char what[160];
  snprintf(what, sizeof what, "of one core: master + %d nannies + %d task "
           "processes, %.0f s idle with an open executor; median of %d",
           (n - 1) / 2, (n - 1) / 2, IDLE_SECONDS, nr);
  figure("idle", 100 * median(ranks, nr), "%", what);
  static const char *part[3] = {"idle-master", "idle-nannies",
                                "idle-taskprocs"}; /* share[] order */
  for (int i = 0; i < 3; i++) {
    snprintf(what, sizeof what, "of one core, the %s part of idle; median "
             "of %d", part[i] + 5, nr);
    figure(part[i], 100 * median(share[i], nr), "%", what);
  }
  snprintf(what, sizeof what, "of one core: mpirun (the launcher, not a "
           "rank) over the same periods; median of %d", nr);
  figure("idle-launcher", 100 * median(launch, nr), "%", what);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return keel_finalize() ? 1 : 0;
}
