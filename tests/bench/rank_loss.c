/* rank_loss: how long from a nanny's SIGKILL (a worker rank lost, standing
 * in for a node) to the failed future.  Started alone, so that keel spawns
 * a replacement rank after each loss and the loss can be timed again.
 * Prints the median of RUNS. */
#include "bench.h"

static int kill_nanny_at(const void *arg, size_t len, keel_buf *out)
{
  return note_and_kill(arg, len, out, getppid());
}
KEEL_REGISTER(kill_nanny_at);

/* Wait until ex has a fresh worker answering again. */
static int serves(keel_executor *ex)
{
  keel_future *f;
  if (keel_submit(ex, nothing, NULL, 0, &f))
    return -1;
  int rc = keel_future_result(f, 60, NULL, NULL);
  keel_future_release(f);
  return rc;
}

int main(int argc, char **argv)
{
  setenv("KEEL_WORKERS", "1", 1);
  if (keel_init(&argc, &argv))
    return 1;
  keel_options o;
  keel_executor *ex;
  double loss_s[RUNS];
  int nr = runs_of(RUNS);
  char path[64];
  snprintf(path, sizeof path, "/tmp/keel-bench-nanny-%d", (int)getpid());
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  if (keel_executor_create(&o, &ex))
    return 1;
  for (int i = 0; i < nr; i++)
    if (serves(ex) || (loss_s[i] = time_kill(ex, kill_nanny_at, path)) < 0)
      return 1;
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  figure_ms("rankloss", "nanny SIGKILL -> failed future", loss_s, nr);
  return keel_finalize() ? 1 : 0;
}
