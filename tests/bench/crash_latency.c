/* crash_latency: how long from a task process's death to the failed future,
 * and from a broken executor to a reusable one that answers again.
 * The task writes CLOCK_MONOTONIC (one clock for the whole node) to a file
 * just before it SIGKILLs itself, or segfaults (then its crash handler and
 * the nanny's backtrace are part of the figure); the master compares with
 * the moment keel_future_result() returns.  Prints medians of RUNS. */
#include "bench.h"

#include <sys/mman.h>

static int die_at(const void *arg, size_t len, keel_buf *out)
{
  return note_and_kill(arg, len, out, getpid());
}
KEEL_REGISTER(die_at);

/* A store to a page mapped without access: a real SIGSEGV, which the crash
 * handler reports with a backtrace (a NULL store would stop a UBSan build
 * first). */
static int segv_at(const void *arg, size_t len, keel_buf *out)
{
  volatile int *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
  if (p == MAP_FAILED || note_now(arg, len, out) != 0)
    return keel_fail(out, "cannot set up the fault");
  *p = 1;
  return 0;
}
KEEL_REGISTER(segv_at);

/* SIGKILL -> failed future, in seconds; < 0 on error. */
static double one_kill(keel_executor *ex, const char *path)
{
  return time_kill(ex, die_at, path);
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
  double kill_s[RUNS], segv_s[RUNS], rec_s[RUNS];
  int nr = runs_of(RUNS);
  char path[64];
  snprintf(path, sizeof path, "/tmp/keel-bench-kill-%d", (int)getpid());
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  if (keel_executor_create(&o, &ex))
    return 1;
  for (int i = 0; i < nr; i++) {
    usleep(50000); /* a fresh task process is up */
    if ((kill_s[i] = one_kill(ex, path)) < 0)
      return 1;
  }
  for (int i = 0; i < nr; i++) {
    usleep(50000);
    if ((segv_s[i] = time_kill(ex, segv_at, path)) < 0)
      return 1;
  }
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  for (int i = 0; i < nr; i++)
    if ((rec_s[i] = one_recovery(path)) < 0)
      return 1;
  figure_ms("crash", "task process SIGKILL -> failed future",
               kill_s, nr);
  /* the first crash apart: it reads the debug info the others reuse */
  figure("crash-segv-first", segv_s[0] * 1e3, "ms",
         "the first SIGSEGV -> failed future; one run");
  figure_ms("crash-segv", "task SIGSEGV -> failed future with backtrace",
            segv_s, nr);
  figure_ms("recovery", "broken -> reusable executor answers", rec_s, nr);
  return keel_finalize() ? 1 : 0;
}
