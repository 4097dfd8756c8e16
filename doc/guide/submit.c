/* doc/guide/submit.c: one task, submitted and waited for. */
#include <keel.h>
#include <stdio.h>

static int square(const void *arg, size_t len, keel_buf *out)
{
  int x = *(const int *)arg;                     /* a copy of what main sent */
  if (x > 46340)
    return keel_fail(out, "%d squared does not fit in an int", x);
  int y = x * x;
  return keel_buf_append(out, &y, sizeof y);     /* the result */
}
KEEL_REGISTER(square);                           /* on every process */

int main(int argc, char **argv)
{
  keel_executor *ex;
  keel_future *f;
  const void *data;
  size_t len;
  int x = 12, rc;
  if (keel_init(&argc, &argv))                   /* workers never return */
    return 1;
  keel_get_reusable_executor(NULL, &ex);
  keel_submit(ex, square, &x, sizeof x, &f);
  rc = keel_future_result(f, KEEL_FOREVER, &data, &len);
  if (rc == KEEL_OK)
    printf("%d squared is %d\n", x, *(const int *)data);
  else
    printf("failed: %s\n", keel_future_error(f)->message);
  keel_future_release(f);
  return keel_finalize();
}
