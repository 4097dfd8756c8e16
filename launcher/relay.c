/* relay.c: keelrun runs mpirun as a child and relays its standard error,
 * to learn the master's exit status.
 *
 * With --enable-recovery (which keel needs so that a lost rank does not end
 * the job) Open MPI's mpirun exits 0 whatever its ranks return.  So the
 * master reports its own status: keel_init() registers an on_exit handler
 * when KEEL_STATUS_TOKEN is set, which writes "<token> <status>" on a line
 * of standard error.  mpirun forwards it from whichever node the master
 * runs on; this relay removes that line and copies everything else.  The
 * token is random per run, so that no program output can pass for it.
 * Signals that should end the job (Ctrl-C, Slurm's SIGTERM) go to mpirun. */
#include "relay.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

static void forward_signal(int sig)
{
  if (child > 0)
    kill(child, sig);
}

void keelrun_token(char *buf, size_t n)
{
  unsigned long long x = 0;
  if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x) { /* the clock, then */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x = (unsigned long long)ts.tv_nsec * 2654435761u ^
        (unsigned long long)getpid() << 32 ^ (unsigned long long)ts.tv_sec;
  }
  snprintf(buf, n, "keel-exit-status-%016llx", x);
}

/* Copy one line to stderr unless it carries the token; then take the
 * status that follows the token (text before it is kept). */
static void relay_line(char *line, size_t len, const char *token,
                       int *status)
{
  char *hit = memmem(line, len, token, strlen(token));
  if (!hit) {
    fwrite(line, 1, len, stderr);
    return;
  }
  fwrite(line, 1, (size_t)(hit - line), stderr);
  if (hit > line)
    fputc('\n', stderr);
  *status = atoi(hit + strlen(token));
}

static void relay(int fd, const char *token, int *status)
{
  char buf[65536];
  size_t have = 0;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    have += (size_t)n;
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
      relay_line(start, (size_t)(nl - start) + 1, token, status);
      start = nl + 1;
    }
    have -= (size_t)(start - buf);
    memmove(buf, start, have);
    if (have == sizeof buf) { /* a line longer than the buffer: pass on */
      fwrite(buf, 1, have, stderr);
      have = 0;
    }
    fflush(stderr);
  }
  if (have)
    relay_line(buf, have, token, status);
  fflush(stderr);
}

int keelrun_run(const char *const *argv, const char *token, bool *reported)
{
  int p[2], st = 0, status = -1;
  if (pipe(p))
    return -1;
  if ((child = fork()) < 0)
    return -1;
  if (child == 0) {
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    execvp(argv[0], (char *const *)argv);
    fprintf(stderr, "keelrun: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  struct sigaction sa = {.sa_handler = forward_signal};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
    sigaction(sigs[i], &sa, NULL);
  relay(p[0], token, &status);
  close(p[0]);
  while (waitpid(child, &st, 0) < 0 && errno == EINTR)
    ;
  int mpirun = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  *reported = status >= 0;
  if (status >= 0)
    return status;
  if (mpirun != 0)
    return mpirun;
  fprintf(stderr, "keelrun: the master rank ended without reporting an exit "
          "status (killed, _exit(), or no keel_init): failing the job\n");
  return 1;
}
