/* doc/guide/limits.c: a deadline and a memory limit per task. */
#include <keel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int slow(const void *arg, size_t len, keel_buf *out)
{
  sleep(10);                            /* far past the deadline */
  return 0;
}
KEEL_REGISTER(slow);

static int greedy(const void *arg, size_t len, keel_buf *out)
{
  for (int mib = 1; mib <= 1024; mib++) /* up to 1 GiB, 1 MiB at a time */
    memset(malloc(1 << 20), 1, 1 << 20);
  return 0;
}
KEEL_REGISTER(greedy);

static void run(keel_executor *ex, keel_task_fn *fn)
{
  keel_future *f;
  keel_submit(ex, fn, NULL, 0, &f);
  int rc = keel_future_result(f, KEEL_FOREVER, NULL, NULL);
  printf("%s: %s\n", keel_err_name(rc),
         rc ? keel_future_error(f)->message : "done");
  keel_future_release(f);
}

int main(int argc, char **argv)
{
  keel_options o;
  keel_executor *ex;
  if (keel_init(&argc, &argv))
    return 1;
  keel_options_init(&o);
  o.task_timeout = 1.0;                 /* seconds */
  o.memory_limit = 64 << 20;            /* bytes of RSS per task process */
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  keel_executor_create(&o, &ex);
  run(ex, slow);
  run(ex, greedy);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return keel_finalize();
}
