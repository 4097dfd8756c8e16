/* doc/guide/callback.c: code that runs when a future is done. */
#include <keel.h>
#include <stdatomic.h>
#include <stdio.h>

static int twice(const void *arg, size_t len, keel_buf *out)
{
  int y = 2 * *(const int *)arg;
  return keel_buf_append(out, &y, sizeof y);
}
KEEL_REGISTER(twice);

static atomic_int total;

static void on_done(keel_future *f, void *arg)
{
  const void *data;
  if (keel_future_result(f, 0, &data, NULL) == KEEL_OK) /* done: no wait */
    atomic_fetch_add(&total, *(const int *)data);
  keel_future_release(f);               /* the callback owns this one */
}

int main(int argc, char **argv)
{
  keel_executor *ex;
  keel_future *f;
  if (keel_init(&argc, &argv))
    return 1;
  keel_executor_create(NULL, &ex);
  for (int i = 1; i <= 100; i++) {
    keel_submit(ex, twice, &i, sizeof i, &f);
    keel_future_on_done(f, on_done, NULL);
  }
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT); /* callbacks included */
  printf("total: %d\n", atomic_load(&total));
  return keel_finalize();
}
