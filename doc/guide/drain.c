/* doc/guide/drain.c: stop cleanly when the batch job's time is nearly up. */
#include <keel.h>
#include <stdio.h>
#include <unistd.h>

static int step(const void *arg, size_t len, keel_buf *out)
{
  usleep(100 * 1000);                   /* 0.1 s of work */
  return 0;
}
KEEL_REGISTER(step);

int main(int argc, char **argv)
{
  keel_executor *ex;
  keel_future *f;
  int done = 0, steps = 600;
  if (keel_init(&argc, &argv))
    return 1;
  keel_get_reusable_executor(NULL, &ex);
  while (done < steps && !keel_draining()) { /* SIGUSR1 turns it true */
    keel_submit(ex, step, &done, sizeof done, &f);
    if (keel_future_result(f, KEEL_FOREVER, NULL, NULL) == KEEL_OK)
      done++;
    keel_future_release(f);
  }
  if (done < steps)
    printf("drained after %d of %d steps: saving a checkpoint\n", done,
           steps);
  else
    printf("all %d steps done\n", steps);
  return keel_finalize();
}
