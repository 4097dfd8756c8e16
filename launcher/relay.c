/* relay.c: keelrun runs mpirun as a child, relays its standard output and
 * error, and ends the job when the program has ended.
 *
 * With --enable-recovery (which keel needs so that a lost rank does not end
 * the job) Open MPI's mpirun exits 0 whatever its ranks return, and across
 * hosts it may not exit at all once a rank has ended with a status other
 * than 0.  So keelrun learns the master's ending from keel-rank, which
 * mpirun starts in front of each rank (launcher/rank.c): on rank 0 it
 * writes "<token> exit N" or "<token> signal S" on a line of standard
 * error.  mpirun forwards the line from whichever node the master runs on;
 * this relay removes it and copies everything else, less the one PMIx line
 * known to be harmless.  The token is random per run, so that no program
 * output can pass for it.  Both streams are relayed a whole line per
 * write(): mpirun passes a rank's output on in pieces as it reads them, and
 * `keelrun ... > log 2>&1` would otherwise see a line of one stream cut by
 * a line of the other (a line that stays unfinished for PARTIAL_AFTER is
 * passed on as it is, and one that starts with a CR, a line redrawn in
 * place such as the task farm's --progress, at once).
 *
 * Once the master's ending is known, mpirun gets END_GRACE seconds to end
 * by itself, then SIGTERM, then SIGKILL after KILL_GRACE more: the status
 * comes back within 10 s of the master's end whatever mpirun does.
 * keelrun's own SIGINT, SIGTERM and SIGHUP go to mpirun, which stops the
 * job (the same grace, then SIGKILL); SIGUSR1 and SIGUSR2 go to mpirun,
 * which passes them to every rank: the master drains.  mpirun dies with
 * keelrun (PR_SET_PDEATHSIG), and every rank with mpirun or its orted
 * (keel-rank), so that keelrun SIGKILLed leaves nothing behind. */
#include "relay.h"
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define END_GRACE 1.0  /* seconds mpirun gets to end after the master */
#define KILL_GRACE 3.0 /* seconds between SIGTERM and SIGKILL to mpirun */
#define DRAIN_AFTER 1.0 /* seconds to read its output once mpirun is gone */
#define PARTIAL_AFTER 1.0 /* seconds an unfinished line waits for its end */
/* Longer than any line the runtime prints (64 KiB and a tag): longer ones
 * are the program's own, passed on in pieces of this size. */
#define LINE_MAX_BYTES (128u << 10)

/* Open MPI 4.1 prints this whenever a rank ends with a status other than 0
 * under recovery (pmix_event_notification.c); it means nothing to users. */
static const char harmless[] = "PMIX ERROR: BAD-PARAM in file "
                               "../../../src/event/pmix_event_notification.c";

static const int stop_sigs[] = {SIGINT, SIGTERM, SIGHUP};
static const int passed_sigs[] = {SIGUSR1, SIGUSR2, SIGQUIT};

/* One of mpirun's streams, read from a pipe, written to ours. */
typedef struct stream {
  int in, out;   /* in: -1 at its end */
  bool filter;   /* stderr: the status line and the PMIx line */
  char buf[LINE_MAX_BYTES];
  size_t have;
  double since;  /* when the unfinished line in buf began */
} stream;

typedef struct relay {
  const char *token;
  bool passes_usr; /* the launcher passes SIGUSR1/2 to the ranks */
  keelrun_end *end;
  pid_t child;
  int pidfd, sfd;
  stream io[2]; /* mpirun's stdout, stderr */
  double term_at, kill_at; /* > 0: when to send mpirun SIGTERM, SIGKILL */
  bool exited;
  int mpirun_status;
} relay;

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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

/* The master's ending, or a worker rank's crash, from the text after the
 * token. */
static void take_status(relay *r, const char *p)
{
  int v, rank;
  if (sscanf(p, " rank %d crashed %d", &rank, &v) == 2) {
    r->end->crashed++;
    fprintf(stderr, "keelrun: worker rank %d crashed: signal %d (%s)\n",
            rank, v, strsignal(v));
    return;
  }
  if (sscanf(p, " exit %d", &v) == 1) {
    r->end->how = KEELRUN_EXIT;
    r->end->value = v;
  } else if (sscanf(p, " signal %d", &v) == 1) {
    r->end->how = KEELRUN_SIGNAL;
    r->end->value = v;
  } else {
    return; /* not ours after all */
  }
  if (r->term_at == 0 && !r->exited)
    r->term_at = now() + END_GRACE;
}

/* Pass one line on, in one write(), unless on stderr it carries the token
 * or is the harmless PMIx line; take the status that follows the token
 * (text before it is kept). */
static void relay_line(relay *r, stream *st, char *line, size_t len)
{
  char *hit = st->filter ? memmem(line, len, r->token, strlen(r->token))
                         : NULL;
  if (!hit) {
    if (!st->filter || !memmem(line, len, harmless, sizeof harmless - 1))
      (void)keel__fd_write_all(st->out, line, len);
    return;
  }
  if (hit > line) {
    char keep[LINE_MAX_BYTES + 1];
    size_t k = (size_t)(hit - line);
    memcpy(keep, line, k);
    keep[k] = '\n';
    (void)keel__fd_write_all(st->out, keep, k + 1);
  }
  char rest[64];
  size_t k = len - (size_t)(hit - line) - strlen(r->token);
  snprintf(rest, sizeof rest, "%.*s", (int)(k < 63 ? k : 63),
           hit + strlen(r->token));
  take_status(r, rest);
}

/* The unfinished line, as it is. */
static void flush_partial(relay *r, stream *st)
{
  if (st->have)
    relay_line(r, st, st->buf, st->have);
  st->have = 0;
}

/* Read what a stream has and pass its whole lines on; at its end, the
 * rest. */
static void read_stream(relay *r, stream *st)
{
  ssize_t n = read(st->in, st->buf + st->have, sizeof st->buf - st->have);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0) {
    flush_partial(r, st);
    close(st->in);
    st->in = -1;
    return;
  }
  if (st->have == 0)
    st->since = now();
  st->have += (size_t)n;
  char *start = st->buf, *nl;
  while ((nl = memchr(start, '\n', st->have - (size_t)(start - st->buf)))) {
    relay_line(r, st, start, (size_t)(nl - start) + 1);
    start = nl + 1;
  }
  if (start > st->buf) {
    st->have -= (size_t)(start - st->buf);
    memmove(st->buf, start, st->have);
    st->since = now();
  }
  /* a line longer than the buffer; or a line redrawn in place (the task
   * farm's --progress on a terminal), whose end never comes */
  if (st->have == sizeof st->buf || (st->have && st->buf[0] == '\r'))
    flush_partial(r, st);
}

static void on_signal(relay *r, int sig)
{
  for (size_t i = 0; i < sizeof stop_sigs / sizeof *stop_sigs; i++)
    if (sig == stop_sigs[i]) {
      if (r->end->stopped_by) { /* a second one: no more grace */
        kill(r->child, SIGKILL);
        return;
      }
      r->end->stopped_by = sig;
      kill(r->child, sig);
      if (!r->exited)
        r->kill_at = now() + KILL_GRACE;
      return;
    }
  bool usr = sig == SIGUSR1 || sig == SIGUSR2;
  if (usr && !r->passes_usr) {
    fprintf(stderr, "keelrun: %s: this launcher does not pass it on to the "
            "ranks (MPICH's mpiexec): the program is not told to drain\n",
            sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
    return;
  }
  kill(r->child, sig); /* SIGUSR1, SIGUSR2, SIGQUIT: mpirun passes them on */
  if (usr)
    fprintf(stderr, "keelrun: %s: the program is told to drain (finish "
            "running tasks, start no more)\n", sig == SIGUSR1 ? "SIGUSR1"
                                                            : "SIGUSR2");
}

/* The timers: SIGTERM, then SIGKILL, to an mpirun that does not end. */
static void on_time(relay *r)
{
  double t = now();
  if (r->term_at > 0 && t >= r->term_at) {
    r->term_at = 0;
    fprintf(stderr, "keelrun: the master ended but mpirun did not within "
            "%.0f s: stopping it\n", END_GRACE);
    r->end->ended_mpirun = true;
    kill(r->child, SIGTERM);
    r->kill_at = t + KILL_GRACE;
  }
  if (r->kill_at > 0 && t >= r->kill_at) {
    r->kill_at = 0;
    fprintf(stderr, "keelrun: mpirun did not end %.0f s after SIGTERM: "
            "killing it\n", KILL_GRACE);
    r->end->ended_mpirun = true;
    kill(r->child, SIGKILL);
  }
}

static int poll_timeout(const relay *r)
{
  double next = 0, t = now();
  for (int i = 0; i < 2; i++)
    if (r->io[i].have)
      next = next == 0 || r->io[i].since + PARTIAL_AFTER < next
                 ? r->io[i].since + PARTIAL_AFTER
                 : next;
  if (r->term_at > 0)
    next = r->term_at;
  if (r->kill_at > 0 && (next == 0 || r->kill_at < next))
    next = r->kill_at;
  if (r->exited)
    next = next == 0 || t + DRAIN_AFTER < next ? t + DRAIN_AFTER : next;
  if (next == 0)
    return -1;
  return next <= t ? 0 : (int)((next - t) * 1000) + 1;
}

/* mpirun's child side: stdout and stderr into the pipes, dead with
 * keelrun. */
static void exec_mpirun(const char *const *argv, int p[2][2], pid_t parent,
                        const sigset_t *old)
{
  for (int i = 0; i < 2; i++) {
    dup2(p[i][1], i + 1);
    close(p[i][0]);
    close(p[i][1]);
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent)
    _exit(127); /* keelrun died before we could ask */
  sigprocmask(SIG_SETMASK, old, NULL);
  execvp(argv[0], (char *const *)argv);
  fprintf(stderr, "keelrun: cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static void loop(relay *r)
{
  double drain_until = 0;
  for (;;) {
    struct pollfd p[4] = {{r->io[0].in, POLLIN, 0},
                          {r->io[1].in, POLLIN, 0},
                          {r->pidfd, r->exited ? 0 : POLLIN, 0},
                          {r->sfd, POLLIN, 0}};
    int n = poll(p, 4, poll_timeout(r));
    if (n < 0 && errno != EINTR)
      break;
    if (p[3].revents) {
      struct signalfd_siginfo si;
      if (read(r->sfd, &si, sizeof si) == (ssize_t)sizeof si &&
          si.ssi_signo != SIGCHLD)
        on_signal(r, (int)si.ssi_signo);
    }
    for (int i = 0; i < 2; i++) {
      if (p[i].revents && r->io[i].in >= 0) /* EOF: poll skips it after */
        read_stream(r, &r->io[i]);
      if (r->io[i].have && now() >= r->io[i].since + PARTIAL_AFTER)
        flush_partial(r, &r->io[i]);
    }
    if (!r->exited && waitpid(r->child, &r->mpirun_status, WNOHANG) ==
                          r->child) {
      r->exited = true;
      r->term_at = r->kill_at = 0;
      drain_until = now() + DRAIN_AFTER;
    }
    on_time(r);
    /* Once mpirun is gone, its output may stay open in something it left
     * (a launch agent): read what comes for a moment, not to its end. */
    if (r->exited && ((r->io[0].in < 0 && r->io[1].in < 0) ||
                      now() >= drain_until))
      break;
  }
  for (int i = 0; i < 2; i++)
    flush_partial(r, &r->io[i]);
}

int keelrun_run(const char *const *argv, const char *token, bool passes_usr,
                keelrun_end *end)
{
  int p[2][2];
  sigset_t set, old;
  static relay r; /* its buffers are large */
  r = (relay){.token = token, .passes_usr = passes_usr, .end = end,
              .pidfd = -1, .sfd = -1};
  *end = (keelrun_end){.how = KEELRUN_UNKNOWN};
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (size_t i = 0; i < sizeof stop_sigs / sizeof *stop_sigs; i++)
    sigaddset(&set, stop_sigs[i]);
  for (size_t i = 0; i < sizeof passed_sigs / sizeof *passed_sigs; i++)
    sigaddset(&set, passed_sigs[i]);
  if (pipe(p[0]))
    return -1;
  if (pipe(p[1])) {
    close(p[0][0]);
    close(p[0][1]);
    return -1;
  }
  sigprocmask(SIG_BLOCK, &set, &old);
  pid_t parent = getpid();
  if ((r.child = fork()) < 0)
    return -1;
  if (r.child == 0)
    exec_mpirun(argv, p, parent, &old);
  for (int i = 0; i < 2; i++) {
    close(p[i][1]);
    r.io[i].in = p[i][0];
    r.io[i].out = i + 1;
    r.io[i].filter = i == 1;
    fcntl(r.io[i].in, F_SETFL, O_NONBLOCK);
  }
  r.sfd = signalfd(-1, &set, SFD_CLOEXEC);
  r.pidfd = (int)syscall(SYS_pidfd_open, r.child, 0);
  loop(&r);
  if (!r.exited)
    while (waitpid(r.child, &r.mpirun_status, 0) < 0 && errno == EINTR)
      ;
  for (int i = 0; i < 2; i++)
    if (r.io[i].in >= 0)
      close(r.io[i].in);
  if (r.sfd >= 0)
    close(r.sfd);
  if (r.pidfd >= 0)
    close(r.pidfd);
  sigprocmask(SIG_SETMASK, &old, NULL);
  int st = r.mpirun_status;
  end->mpirun = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return 0;
}
