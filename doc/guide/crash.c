/* doc/guide/crash.c: a task that crashes, under each on_crash policy. */
#include <keel.h>
#include <stdio.h>
#include <stdlib.h>

static int check(const void *arg, size_t len, keel_buf *out)
{
  if (*(const int *)arg < 0)
    abort();                            /* a bug: kills its task process */
  return keel_buf_printf(out, "fine");
}
KEEL_REGISTER(check);

static void try(const char *name, int policy)
{
  keel_options o;
  keel_executor *ex;
  keel_future *f;
  int bad = -1, good = 1;
  keel_options_init(&o);
  o.on_crash = policy;
  o.max_retries = 2;                    /* used by KEEL_ON_CRASH_RETRY */
  keel_executor_create(&o, &ex);
  keel_submit(ex, check, &bad, sizeof bad, &f);
  int rc = keel_future_result(f, KEEL_FOREVER, NULL, NULL);
  printf("%s: %s: %s\n", name, keel_err_name(rc),
         keel_future_error(f)->message);
  keel_future_release(f);
  rc = keel_submit(ex, check, &good, sizeof good, &f);
  if (rc == KEEL_OK) {
    rc = keel_future_result(f, KEEL_FOREVER, NULL, NULL);
    keel_future_release(f);
  }
  printf("%s: the next task: %s\n", name, keel_err_name(rc));
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
}

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 1;
  try("BREAK", KEEL_ON_CRASH_BREAK);
  try("FAIL_TASK", KEEL_ON_CRASH_FAIL_TASK);
  try("RETRY", KEEL_ON_CRASH_RETRY);
  return keel_finalize();
}
