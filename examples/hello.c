/* hello: the smallest keel program.  Run with `keelrun -n 2 examples/hello`
 * or `mpirun -n 3 examples/hello`: rank 0 is the master, the others serve. */
#include <keel.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int greet(const void *arg, size_t len, keel_buf *out)
{
  char host[64];
  gethostname(host, sizeof host);
  return keel_buf_printf(out, "hello %.*s from pid %d on %s", (int)len,
                         (const char *)arg, (int)getpid(), host);
}
KEEL_REGISTER(greet);

int main(int argc, char **argv)
{
  keel_executor *ex;
  keel_future *f;
  const void *data;
  size_t len;
  int rc = keel_init(&argc, &argv); /* workers serve here and exit */
  if (rc) {
    fprintf(stderr, "keel_init: %s\n", keel_strerror(rc));
    return 1;
  }
  if ((rc = keel_get_reusable_executor(NULL, &ex)) ||
      (rc = keel_submit(ex, greet, "world", 5, &f)) ||
      (rc = keel_future_result(f, KEEL_FOREVER, &data, &len))) {
    fprintf(stderr, "hello: %s\n", keel_strerror(rc));
    return 1;
  }
  printf("%.*s\n", (int)len, (const char *)data);
  keel_future_release(f);
  return keel_finalize() ? 1 : 0;
}
