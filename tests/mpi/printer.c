/* printer: tasks that print, for tests/scripts/output.  `printer N` runs N
 * tasks over every worker at once; task i writes, through stdio and
 * straight to the fds:
 *   200 lines "task <i> out <j> <pad>" on stdout (pad: j % 97 letters),
 *   every 7th also "task <i> err <j>" on stderr,
 *   "task <i> long <100000 x's>" on stdout (over the 64 KiB line limit),
 *   "task <i> raw <j>" twice with write(2) on fd 1,
 *   "task <i> unfinished" with no newline, last.
 * The master prints "printer: done" when every task has.  `printer N saw`
 * also prints "printer: saw task <i>" as soon as it has task i's result:
 * keel writes a task's lines before it returns the result, so that line
 * comes after them. */
#include "tasks.h"

#include <unistd.h>

static int t_print(const void *arg, size_t len, keel_buf *out)
{
  int id = arg_int(arg, len);
  char pad[100];
  for (int j = 0; j < 200; j++) {
    memset(pad, 'a' + j % 26, (size_t)(j % 97));
    pad[j % 97] = '\0';
    printf("task %d out %d %s\n", id, j, pad);
    if (j % 7 == 0)
      fprintf(stderr, "task %d err %d\n", id, j);
  }
  static char longline[100001];
  memset(longline, 'x', sizeof longline - 1);
  printf("task %d long %s\n", id, longline);
  fflush(stdout);
  for (int j = 0; j < 2; j++) {
    char raw[64];
    int n = snprintf(raw, sizeof raw, "task %d raw %d\n", id, j);
    if (write(1, raw, (size_t)n) != n)
      return keel_fail(out, "write to fd 1 failed");
  }
  printf("task %d unfinished", id);
  return 0;
}
KEEL_REGISTER(t_print);

int main(int argc, char **argv)
{
  if (keel_init(&argc, &argv))
    return 2;
  int n = argc > 1 ? atoi(argv[1]) : 40;
  bool saw = argc > 2 && strcmp(argv[2], "saw") == 0;
  keel_executor *ex;
  keel_future **f = calloc((size_t)n, sizeof *f);
  if (!f || keel_executor_create(NULL, &ex))
    return 2;
  for (int i = 0; i < n; i++)
    if (keel_submit(ex, t_print, &i, sizeof i, &f[i]))
      return 2;
  int bad = 0;
  for (int i = 0; i < n; i++) {
    bad += keel_future_result(f[i], 120, NULL, NULL) != KEEL_OK;
    keel_future_release(f[i]);
    if (saw) {
      printf("printer: saw task %d\n", i);
      fflush(stdout);
    }
  }
  printf("printer: done, %d failed\n", bad);
  free(f);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  return keel_finalize() || bad ? 1 : 0;
}
