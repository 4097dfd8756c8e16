/* doc/guide/wait.c: several tasks, taken as they finish. */
#include <keel.h>
#include <stdio.h>
#include <unistd.h>

static int nap(const void *arg, size_t len, keel_buf *out)
{
  int ms = *(const int *)arg;
  usleep(ms * 1000);
  return keel_buf_printf(out, "slept %d ms", ms);
}
KEEL_REGISTER(nap);

int main(int argc, char **argv)
{
  int ms[3] = {300, 100, 700};
  keel_future *fs[3], *f;
  keel_executor *ex;
  keel_completion *it;
  const void *data;
  size_t len, ndone;
  if (keel_init(&argc, &argv))
    return 1;
  keel_get_reusable_executor(NULL, &ex);
  for (int i = 0; i < 3; i++)
    keel_submit(ex, nap, &ms[i], sizeof ms[i], &fs[i]);
  keel_wait(fs, 3, KEEL_FIRST_COMPLETED, KEEL_FOREVER, &ndone);
  printf("at least one done: %zu of 3\n", ndone);
  keel_as_completed(fs, 3, &it);
  while (keel_completion_next(it, KEEL_FOREVER, &f) == KEEL_OK)
    if (keel_future_result(f, 0, &data, &len) == KEEL_OK)
      printf("task %llu: %.*s\n", keel_future_task_id(f), (int)len,
             (const char *)data);
  keel_completion_free(it);
  for (int i = 0; i < 3; i++)
    keel_future_release(fs[i]);
  return keel_finalize();
}
