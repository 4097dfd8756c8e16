/* endings: a master that ends in one of the ways a program can, after
 * running tasks on every worker, for tests/scripts/endings.
 *   endings return N   keel_finalize(), then returns N
 *   endings exit N     keel_finalize(), then _exit(N)
 *   endings kill       SIGKILLs itself (no finalize)
 *   endings abort      abort() (no finalize)
 *   endings lose [HOST] a task SIGKILLs its own nanny (one task only, and
 *                      on HOST when given: others decline); the program gets
 *                      that future's failure, runs more tasks on the ranks
 *                      left and returns 0
 *   endings crash [HOST] as lose, but the task makes its nanny crash
 *                      (SIGILL: a crash signal that neither Open MPI's
 *                      backtrace handler nor the sanitizers take, so that
 *                      it dies of it as such): keelrun must fail the job
 *                      (70)
 *   endings linger S   finalize, then sleeps S seconds and returns 0
 *   endings drain      runs 1 s tasks until keel_draining(), then lets
 *                      those running finish and returns 0 (nonzero if the
 *                      drain never came within 60 s)
 *   endings daemon     a task leaves a setsid() daemon that holds its
 *                      stdout and stderr, then SIGKILLs its own nanny;
 *                      the program returns 0
 *   endings wedge      as lose, but the replacement spawned for the lost
 *                      rank never starts MPI (it gets the master's
 *                      KEEL_ENDINGS_WEDGED and pauses), so its
 *                      MPI_Comm_spawn never returns: the master must end
 *                      itself with status 70 after KEEL_SPAWN_TIMEOUT
 *   endings deleted    unlinks its own program file, then as lose: the
 *                      replacement is refused with a line, the program
 *                      goes on with the ranks left and returns 0 (run it
 *                      from a copy)
 *   endings silence HOST  a task sleeps on HOST (one task only); the
 *                      program says "endings: waiting" and, when the
 *                      future fails (HOST cut off by tests/bench/
 *                      across-hosts), "endings: lost at T: why"
 * It prints "endings: <how> pid P" first and "endings: ending at T" (the
 * wall clock) just before it ends, for tests/scripts/endings to time the
 * end of the job from. */
#include "tasks.h"

#include <sys/wait.h>
#include <unistd.h>

/* The host, pid and nanny of the task process, as a line. */
static int t_where(const void *arg, size_t len, keel_buf *out)
{
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  sleep_s(0.05); /* long enough that each worker takes one */
  return keel_buf_printf(out, "%s %d %d", host, (int)getpid(),
                         (int)getppid());
}
KEEL_REGISTER(t_where);

static double wall(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void ending(void)
{
  printf("endings: ending at %.3f\n", wall());
  fflush(stdout);
}

/* arg is "HOST LOCKFILE": a killer goes on only on HOST (any host if it
 * is "-") and when it is the first to create LOCKFILE. */
static bool my_turn(const void *arg, size_t len)
{
  char host[256] = "", want[256], lock[512], a[800];
  snprintf(a, sizeof a, "%.*s", (int)len, (const char *)arg);
  gethostname(host, sizeof host - 1);
  if (sscanf(a, "%255s %511s", want, lock) != 2 ||
      (strcmp(want, "-") && strcmp(want, host)))
    return false;
  int fd = open(lock, O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0)
    return false;
  close(fd);
  return true;
}

static int t_kill_nanny(const void *arg, size_t len, keel_buf *out)
{
  if (!my_turn(arg, len))
    return keel_fail(out, "not this one");
  kill(getppid(), SIGKILL);
  sleep_s(30);
  return 0;
}
KEEL_REGISTER(t_kill_nanny);

static int t_crash_nanny(const void *arg, size_t len, keel_buf *out)
{
  if (!my_turn(arg, len))
    return keel_fail(out, "not this one");
  kill(getppid(), SIGILL);
  sleep_s(30);
  return 0;
}
KEEL_REGISTER(t_crash_nanny);

/* Leaves a daemon in a session of its own, holding the task's stdout and
 * stderr, then kills its nanny. */
static int t_daemon_then_kill_nanny(const void *arg, size_t len,
                                    keel_buf *out)
{
  if (!my_turn(arg, len))
    return keel_fail(out, "not this one");
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    if (fork() == 0) {
      for (int i = 0; i < 600; i++) {
        printf("endings: daemon %d still here\n", (int)getpid());
        fflush(stdout);
        sleep_s(0.1);
      }
      _exit(0);
    }
    _exit(0);
  }
  waitpid(pid, NULL, 0);
  sleep_s(0.3);
  kill(getppid(), SIGKILL);
  sleep_s(30);
  return 0;
}
KEEL_REGISTER(t_daemon_then_kill_nanny);

/* For tasks of which one only (on host, if not NULL) may act (my_turn()):
 * their argument, and an executor that fails a crashed task alone. */
static int one_chosen(const char *host, char *arg, size_t n,
                      keel_executor **ex)
{
  keel_options o;
  snprintf(arg, n, "%s /tmp/keel-endings-%d.lock", host ? host : "-",
           (int)getpid());
  unlink(strchr(arg, ' ') + 1);
  keel_options_init(&o);
  o.on_crash = KEEL_ON_CRASH_FAIL_TASK;
  return keel_executor_create(&o, ex);
}

static int t_sleep_there(const void *arg, size_t len, keel_buf *out)
{
  if (!my_turn(arg, len))
    return keel_fail(out, "not this one");
  sleep_s(120);
  return 0;
}
KEEL_REGISTER(t_sleep_there);

/* A task sleeps on host; say so, then wait for its future to fail. */
static int wait_for_silence(const char *host)
{
  keel_executor *one;
  char arg[600];
  if (one_chosen(host, arg, sizeof arg, &one))
    return -1;
  int n = keel_executor_workers(one), rc = -1;
  keel_future *f[64];
  for (int i = 0; i < n && i < 64; i++)
    if (keel_submit(one, t_sleep_there, arg, strlen(arg), &f[i]))
      return -1;
  sleep_s(1);
  printf("endings: waiting\n");
  fflush(stdout);
  for (int i = 0; i < n && i < 64; i++) {
    int r = keel_future_result(f[i], 120, NULL, NULL);
    if (r == KEEL_EWORKER) {
      printf("endings: lost at %.3f: %s\n", wall(),
             keel_future_error(f[i])->message);
      rc = 0;
    }
    keel_future_release(f[i]);
  }
  fflush(stdout);
  keel_executor_shutdown(one, 0);
  unlink(strchr(arg, ' ') + 1);
  return rc;
}

static int t_second(const void *arg, size_t len, keel_buf *out)
{
  sleep_s(1);
  return 0;
}
KEEL_REGISTER(t_second);

/* One task per worker, in parallel; the hosts they ran on. */
static int run_everywhere(keel_executor *ex)
{
  int n = keel_executor_workers(ex), ok = 0;
  keel_future *f[64];
  for (int i = 0; i < n && i < 64; i++)
    if (keel_submit(ex, t_where, NULL, 0, &f[i]))
      return -1;
  for (int i = 0; i < n && i < 64; i++) {
    const void *d;
    size_t len;
    if (keel_future_result(f[i], 60, &d, &len) == KEEL_OK) {
      printf("endings: task on %.*s\n", (int)len, (const char *)d);
      ok++;
    }
    keel_future_release(f[i]);
  }
  fflush(stdout); /* tests/scripts/endings waits for these lines */
  return ok;
}

/* A nanny (on host, if not NULL) dies under a task: a killer goes to
 * every worker at once (untimed tasks go one per worker), those on other
 * hosts decline, until one kills.  The rest go on. */
static int lose_one(keel_task_fn *killer, const char *host)
{
  keel_executor *one;
  char arg[600];
  if (one_chosen(host, arg, sizeof arg, &one))
    return -1;
  int n = keel_executor_workers(one), rc = KEEL_ETASK;
  for (int round = 0; round < 5 && rc != KEEL_EWORKER; round++) {
    keel_future *f[64];
    double t0 = wall();
    for (int i = 0; i < n && i < 64; i++)
      if (keel_submit(one, killer, arg, strlen(arg), &f[i]))
        return -1;
    for (int i = 0; i < n && i < 64; i++) {
      int r = keel_future_result(f[i], 120, NULL, NULL);
      if (r == KEEL_EWORKER) {
        rc = r;
        printf("endings: the nanny's loss was noticed after %.3f s: %s\n",
               wall() - t0, keel_future_error(f[i])->message);
      }
      keel_future_release(f[i]);
    }
  }
  keel_executor_shutdown(one, 0);
  unlink(strchr(arg, ' ') + 1);
  return rc == KEEL_EWORKER ? 0 : -1;
}

/* Submit 1 s tasks until told to drain, then wait for those submitted. */
static int drain_on_signal(keel_executor *ex)
{
  keel_future *f[4096];
  size_t n = 0;
  double t0 = wall();
  while (!keel_draining() && n < 4096 && wall() - t0 < 60) {
    if (keel_submit(ex, t_second, NULL, 0, &f[n]))
      return -1;
    n++;
    sleep_s(0.2);
  }
  if (!keel_draining())
    return -1;
  size_t cancelled = 0, ran = 0;
  for (size_t i = 0; i < n; i++)
    cancelled += keel_future_cancel(f[i]);
  for (size_t i = 0; i < n; i++) {
    ran += keel_future_result(f[i], 60, NULL, NULL) == KEEL_OK;
    keel_future_release(f[i]);
  }
  printf("endings: drained: %zu tasks ran, %zu cancelled\n", ran,
         cancelled);
  return ran > 0 && ran + cancelled == n ? 0 : -1;
}

/* Make this program's replacement workers hang, or unable to start. */
static int spoil_replacements(const char *how)
{
  char exe[4096];
  ssize_t len;
  if (!strcmp(how, "wedge"))
    return setenv("KEEL_ENDINGS_WEDGED", "1", 1);
  if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) < 0)
    return -1;
  exe[len] = '\0';
  return unlink(exe);
}

int main(int argc, char **argv)
{
  if (getenv("KEEL_ENDINGS_WEDGED")) /* a replacement, when told to hang */
    for (;;)
      pause();
  if (keel_init(&argc, &argv))
    return 2;
  if (argc < 2) {
    fprintf(stderr, "usage: endings return|exit N | kill | abort | lose | "
            "linger S\n");
    return 2;
  }
  const char *how = argv[1];
  int n = argc > 2 ? atoi(argv[2]) : 0;
  printf("endings: %s pid %d\n", how, (int)getpid());
  fflush(stdout);
  keel_executor *ex;
  if (keel_executor_create(NULL, &ex) || run_everywhere(ex) < 1)
    return 2;
  bool spoil = !strcmp(how, "wedge") || !strcmp(how, "deleted");
  if (spoil && spoil_replacements(how))
    return 2;
  if (!strcmp(how, "lose") || !strcmp(how, "daemon") ||
      !strcmp(how, "crash") || spoil) {
    keel_task_fn *killer = !strcmp(how, "lose") || spoil ? t_kill_nanny
                           : !strcmp(how, "crash") ? t_crash_nanny
                                                   : t_daemon_then_kill_nanny;
    if (lose_one(killer, argc > 2 && !spoil ? argv[2] : NULL) ||
        run_everywhere(ex) < 1)
      return 2;
  } else if (!strcmp(how, "drain") && drain_on_signal(ex)) {
    return 2;
  } else if (!strcmp(how, "silence") &&
             (argc < 3 || wait_for_silence(argv[2]))) {
    return 2;
  }
  if (!strcmp(how, "kill") || !strcmp(how, "abort")) {
    ending();
    if (!strcmp(how, "kill"))
      raise(SIGKILL);
    abort();
  }
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  if (keel_finalize())
    return 2;
  if (!strcmp(how, "linger"))
    sleep_s(n);
  ending();
  if (!strcmp(how, "exit"))
    _exit(n);
  return !strcmp(how, "return") ? n : 0;
}
