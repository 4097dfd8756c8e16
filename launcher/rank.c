/* keel-rank: what mpirun starts on each node under keelrun, in front of
 * the program: `keel-rank PROGRAM [ARGS...]`.
 *
 * It forks the program (MPI's environment passes through untouched) and
 * stays its parent, which is what only a parent can be:
 *  - it knows exactly how the program ended, signal included.  On rank 0,
 *    the master, it reports that on stderr as "<KEEL_STATUS_TOKEN> exit N"
 *    or "... signal S", which keelrun picks out of the job's stderr:
 *    mpirun started with recovery exits 0 whatever its ranks do, and does
 *    not always exit when they have (launcher/relay.c).
 *  - it is a child subreaper, so what the program leaves behind (a task's
 *    daemon whose nanny was SIGKILLed) becomes its child, and it kills all
 *    of it when the program ends: nothing of a rank outlives it.
 *  - it dies with whoever started it (PR_SET_PDEATHSIG: mpirun or orted),
 *    and the program dies with it, so that a launcher killed outright
 *    leaves nothing behind on any node.
 * Signals mpirun forwards (SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2,
 * SIGQUIT, SIGCONT) go on to the program; after SIGTERM, SIGINT or SIGHUP
 * the program gets STOP_GRACE seconds to end before SIGKILL.
 * It exits with the program's status, or 128 + the signal that ended it.
 * It uses no MPI and does not link libkeel (sys/children.c is built in). */
#include "sys/sys.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE 3.0 /* seconds between a forwarded SIGTERM and SIGKILL */

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1,
                                SIGUSR2, SIGQUIT, SIGCONT};

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The rank of this process in the job, as the launcher says, or -1. */
static int job_rank(void)
{
  static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                                     "PMI_RANK"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v)
      return atoi(v);
  }
  return -1;
}

static pid_t start(char **argv, const sigset_t *old, pid_t parent)
{
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  /* The program dies with us; it has our signal mask back. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(127);
  sigprocmask(SIG_SETMASK, old, NULL);
  unsetenv("KEEL_STATUS_TOKEN"); /* ours, not the program's */
  execvp(argv[0], argv);
  fprintf(stderr, "keel-rank: cannot run %s: %s\n", argv[0],
          strerror(errno));
  _exit(127);
}

/* A signal that says the process crashed (a bug), not that it was killed
 * (SIGKILL, SIGTERM: the master stopping a hung nanny, the launcher). */
static bool crash_signal(int sig)
{
  return sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS || sig == SIGFPE ||
         sig == SIGILL || sig == SIGSYS || sig == SIGTRAP;
}

/* Rank 0's ending, and a worker rank's crash, for keelrun: one line, one
 * write. */
static void report(int status)
{
  const char *token = getenv("KEEL_STATUS_TOKEN");
  char line[200];
  int n, rank = job_rank();
  if (!token || !*token)
    return;
  if (rank != 0) {
    if (!WIFSIGNALED(status) || !crash_signal(WTERMSIG(status)))
      return;
    n = snprintf(line, sizeof line, "%s rank %d crashed %d\n", token, rank,
                 WTERMSIG(status));
  } else if (WIFSIGNALED(status))
    n = snprintf(line, sizeof line, "%s signal %d\n", token,
                 WTERMSIG(status));
  else
    n = snprintf(line, sizeof line, "%s exit %d\n", token,
                 WEXITSTATUS(status));
  if (n > 0 && n < (int)sizeof line && write(2, line, (size_t)n) < 0) {
    /* stderr is gone: keelrun will say the master did not report */
  }
}

/* Wait for the program, passing signals on: its wait status. */
static int supervise(pid_t child, int sfd)
{
  double kill_at = 0;
  for (;;) {
    int status;
    pid_t got;
    while ((got = waitpid(-1, &status, WNOHANG)) > 0)
      if (got == child)
        return status;
    int timeout = -1;
    if (kill_at > 0) {
      double left = kill_at - now();
      if (left <= 0) {
        kill(child, SIGKILL);
        kill_at = 0;
        continue;
      }
      timeout = (int)(left * 1000) + 1;
    }
    struct pollfd p = {sfd, POLLIN, 0};
    if (poll(&p, 1, timeout) <= 0)
      continue;
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si)
      continue;
    int sig = (int)si.ssi_signo;
    if (sig == SIGCHLD)
      continue;
    kill(child, sig);
    if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && kill_at == 0)
      kill_at = now() + STOP_GRACE;
  }
}

int main(int argc, char **argv)
{
  sigset_t set, old;
  if (argc < 2) {
    fprintf(stderr, "usage: keel-rank PROGRAM [ARGS...] (started by "
            "keelrun, through mpirun)\n");
    return 2;
  }
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM); /* mpirun or orted gone: end too */
  if (getppid() != parent)
    return 1;
  keel__children_adopt();
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
    sigaddset(&set, forwarded[i]);
  sigprocmask(SIG_BLOCK, &set, &old);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) {
    fprintf(stderr, "keel-rank: signalfd: %s\n", strerror(errno));
    return 1;
  }
  pid_t child = start(argv + 1, &old, getpid());
  if (child < 0) {
    fprintf(stderr, "keel-rank: fork: %s\n", strerror(errno));
    return 1;
  }
  int status = supervise(child, sfd);
  /* What the program left (orphans that came to us): none, usually. */
  if (!(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD))
    keel__children_kill(NULL, 0);
  report(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
