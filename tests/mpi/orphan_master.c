/* orphan_master: a master that dies without keel_finalize(), for
 * tests/orphans.  It starts two long tasks, writes the pids of their task
 * processes and nannies to the file argv[2] and its own to argv[2].master,
 * then, as argv[1] says:
 *   kill  SIGKILLs itself;
 *   exit  calls _exit(3) (no atexit handlers, no finalize);
 *   stop  SIGSTOPs itself: alive but silent, so the nannies must give it
 *         up after KEEL_HEARTBEAT_TIMEOUT (2 s here).
 * The script then checks with the process table that nothing outlives it.
 * `orphan_master return N` ends cleanly with status N (tests/keelrun-cli). */
#include "tasks.h"

#include <errno.h>

/* Appends "task-pid nanny-pid" to the file named by arg, then sleeps. */
static int t_pids_then_sleep(const void *arg, size_t len, keel_buf *out)
{
  char path[256], line[64];
  snprintf(path, sizeof path, "%.*s", (int)len, (const char *)arg);
  int n = snprintf(line, sizeof line, "%d %d\n", (int)getpid(),
                   (int)getppid());
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd < 0 || write(fd, line, (size_t)n) != n)
    return keel_fail(out, "cannot write %s", path);
  close(fd);
  sleep_s(120);
  return 0;
}
KEEL_REGISTER(t_pids_then_sleep);

static int lines_in(const char *path)
{
  int n = 0, c;
  FILE *f = fopen(path, "r");
  while (f && (c = fgetc(f)) != EOF)
    n += c == '\n';
  if (f)
    fclose(f);
  return n;
}

int main(int argc, char **argv)
{
  setenv("KEEL_HEARTBEAT_TIMEOUT", "2", 1);
  if (keel_init(&argc, &argv))
    return 2;
  if (argc == 3 && !strcmp(argv[1], "return")) /* a clean end, status N */
    return keel_finalize() ? 2 : atoi(argv[2]);
  if (argc != 3) {
    fprintf(stderr, "usage: orphan_master kill|exit|stop PIDFILE | "
            "return N\n");
    return 2;
  }
  keel_executor *ex;
  keel_future *f[2];
  if (keel_executor_create(NULL, &ex) || keel_executor_workers(ex) < 2)
    return 2;
  for (int i = 0; i < 2; i++)
    if (keel_submit(ex, t_pids_then_sleep, argv[2], strlen(argv[2]), &f[i]))
      return 2;
  for (int i = 0; i < 600 && lines_in(argv[2]) < 2; i++)
    sleep_s(0.05);
  if (lines_in(argv[2]) < 2)
    return 2;
  char path[300];
  snprintf(path, sizeof path, "%s.master", argv[2]);
  FILE *mf = fopen(path, "w");
  if (!mf || fprintf(mf, "%d\n", (int)getpid()) < 0 || fclose(mf))
    return 2;
  printf("orphan_master: pid %d, dying by %s\n", (int)getpid(), argv[1]);
  fflush(stdout);
  if (!strcmp(argv[1], "kill"))
    raise(SIGKILL);
  if (!strcmp(argv[1], "stop"))
    raise(SIGSTOP);
  _exit(3);
}
