/* farm.c: keel-farm, the keel program behind keelrun's task-farm mode
 * (keelrun -n N --tasks FILE); it also runs alone and spawns its workers.
 *
 * The master checks every line of the task file before it runs any, then
 * submits each line as a task that runs it with SHELL -c (--shell,
 * /bin/sh by default) in a task process on a worker.  It prints each
 * line's output whole when the line finishes, writes GNU parallel's
 * joblog, and exits like GNU parallel: 0, the number of failed lines (101
 * for more than 100; --halt's own with fail=1), or 255 when the farm
 * itself cannot run.  A line whose shell dies (even SIGKILLed) or runs
 * past --timeout fails alone: the worker lives on.  A line lost with its
 * worker rank (it never got an exit status) runs again on another worker,
 * up to MAX_LOST times.
 *
 * Told to drain (SIGUSR1 or SIGUSR2: the batch system's time limit is
 * near), it starts no more lines, gives those running --drain-grace
 * seconds, kills what still runs, and exits FARM_DRAINED.  --halt stops
 * the same way after its count of failed lines.  Only lines that finished
 * are in the joblog, so --resume runs the others. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <keel.h>

#include "farm_opts.h"
#include "joblog.h"

#define FARM_ERROR 255
#define FARM_DRAINED 254 /* drained before every line ran: --resume */
#define MAX_OUTPUT (64u << 20) /* bytes kept of each stream of a line */
#define MAX_LOST 3 /* reruns of a line whose worker rank was lost */
#define PROGRESS_EVERY 5.0 /* seconds between --progress lines in a file */
#define REDRAW_EVERY 0.5   /* seconds between redraws on a terminal */

extern char **environ;

/* What a line's task returns, followed by host, stdout and stderr. */
typedef struct outcome {
  int32_t exitval, signal;
  double start, runtime;
  uint64_t nhost, nout, nerr;
  uint32_t cut; /* bytes of output dropped past MAX_OUTPUT, or lost */
} outcome;

/* A growable byte buffer of the task process's own, MAX_OUTPUT at most. */
typedef struct bytes {
  char *p;
  size_t n, cap, cut;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
  if (n > MAX_OUTPUT - b->n) { /* keep what fits, drop the rest */
    b->cut += n - (MAX_OUTPUT - b->n);
    n = MAX_OUTPUT - b->n;
  }
  if (n == 0)
    return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n)
      cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->cut += n;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static double wall(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* ---- the task: one line under SHELL -c ---- */

/* Read both pipes to their end. */
static void drain(int out, int err, bytes *o, bytes *e)
{
  struct pollfd p[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
  bytes *dst[2] = {o, e};
  char buf[65536];
  while (p[0].fd >= 0 || p[1].fd >= 0) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || !p[i].revents)
        continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n > 0)
        put(dst[i], buf, (size_t)n);
      else if (n == 0 || errno != EINTR)
        p[i].fd = -1; /* poll skips it from now on */
    }
  }
}

/* Start shell -c cmd in a process group of its own (a line's `kill 0`
 * must not hit the task process), stdin from /dev/null, stdout and stderr
 * to pipes, none of the task process's fds (3 is its channel). */
static pid_t start_sh(const char *shell, const char *cmd, int out[2],
                      int err[2])
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  char *argv[] = {(char *)shell, "-c", (char *)cmd, NULL};
  pid_t pid = -1;
  if (pipe2(out, O_CLOEXEC))
    return -1;
  if (pipe2(err, O_CLOEXEC)) {
    close(out[0]);
    close(out[1]);
    return -1;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  int rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP) |
           posix_spawnattr_setpgroup(&at, 0) |
           posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) |
           posix_spawn_file_actions_adddup2(&fa, out[1], 1) |
           posix_spawn_file_actions_adddup2(&fa, err[1], 2) |
           posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  if (!rc)
    rc = posix_spawn(&pid, shell, &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(out[1]);
  close(err[1]);
  if (rc) {
    close(out[0]);
    close(err[0]);
    errno = rc;
    return -1;
  }
  return pid;
}

/* keel's own variables are not the line's business: a keel program run as
 * a line must not take the farm's status token or binding for its own. */
static void clean_environment(void)
{
  static const char *const mine[] = {"KEEL_STATUS_TOKEN", "KEEL_BIND",
                                     "KEEL_REPORT_BINDINGS", "KEEL_FARM_TTY"};
  for (size_t i = 0; i < sizeof mine / sizeof *mine; i++)
    unsetenv(mine[i]);
}

/* A line's task: its argument is the shell, a NUL, then the line. */
static int run_line(const void *arg, size_t len, keel_buf *out)
{
  const char *shell = arg, *nul = memchr(arg, '\0', len);
  assert(nul); /* start() puts it there */
  size_t ncmd = len - (size_t)(nul + 1 - shell);
  char *cmd = strndup(nul + 1, ncmd), host[256] = "?";
  int po[2], pe[2], status = 0;
  bytes o = {0}, e = {0};
  outcome r = {.start = wall()};
  struct timespec t0, t1;
  clean_environment();
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = cmd ? start_sh(shell, cmd, po, pe) : -1;
  free(cmd);
  if (pid < 0)
    return keel_fail(out, "cannot start %s: %s", shell, strerror(errno));
  drain(po[0], pe[0], &o, &e);
  close(po[0]);
  close(pe[0]);
  pid_t got;
  while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
    ;
  kill(-pid, SIGKILL); /* what the line left in its group goes with it */
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (got != pid) {
    free(o.p);
    free(e.p);
    return keel_fail(out, "cannot wait for %s: %s", shell, strerror(errno));
  }
  gethostname(host, sizeof host - 1);
  r.runtime = (double)(t1.tv_sec - t0.tv_sec) +
              (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  r.exitval = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  r.nhost = strlen(host);
  r.nout = o.n;
  r.nerr = e.n;
  r.cut = o.cut + e.cut > UINT32_MAX ? UINT32_MAX : (uint32_t)(o.cut + e.cut);
  int rc = keel_buf_append(out, &r, sizeof r) ||
           keel_buf_append(out, host, r.nhost) ||
           keel_buf_append(out, o.p, o.n) || keel_buf_append(out, e.p, e.n);
  free(o.p);
  free(e.p);
  return rc ? keel_fail(out, "no memory for the line's output") : 0;
}
KEEL_REGISTER(run_line);

/* ---- the task file ---- */

typedef struct farm {
  char **line;   /* line[1..n]; NULL for a blank line (not a job) */
  size_t n, cap;
  bool *done;    /* done[1..n]: not to run (--resume, --resume-failed) */
  size_t failed, finished, jobs;
  size_t retried;       /* reruns: --retries, and lines lost with a rank */
  FILE *log;
  bool log_failed;      /* a joblog row could not be written */
  bool broken;          /* the executor failed: the farm cannot go on */
  bool progress;        /* --progress */
  double timeout;       /* --timeout */
  const char *shell;    /* --shell */
  bool tty;             /* --progress redraws one line on a terminal */
  bool drawn;           /* that line is on the screen, unfinished */
  double t0;            /* when the first line was submitted */
  double last_progress;
  size_t workers;
  size_t slowest;       /* Seq of the line that ran longest, 0: none */
  double slowest_time;
  double drain_grace;   /* --drain-grace */
  double kill_at;       /* draining: when what still runs is killed */
  bool draining, killed;
  farm_halt halt;       /* --halt */
  size_t halt_fails;
  bool halted;          /* --halt's count of failed lines was reached */
  int first_failure;    /* exit status of the first failed line: fail=1 */
  size_t unrun;         /* lines a drain stopped: not logged */
} farm;

/* Keep one line (its newline, and a CR before it, cut): 0, or -1 after
 * naming what is wrong with it. */
static int take_line(farm *fm, const char *path, char *s, ssize_t len)
{
  size_t no = fm->n + 1;
  if (len > 0 && s[len - 1] == '\n')
    s[--len] = '\0';
  if (len > 0 && s[len - 1] == '\r')
    s[--len] = '\0';
  if (no + 1 > fm->cap) {
    size_t cap = fm->cap ? 2 * fm->cap : 1024;
    char **grown = realloc(fm->line, cap * sizeof *grown);
    if (!grown)
      return fprintf(stderr, "keelrun: out of memory reading %s\n", path), -1;
    fm->line = grown;
    fm->cap = cap;
  }
  fm->n = no;
  fm->line[no] = NULL;
  if (farm_line_check(path, no, s, (size_t)len))
    return -1;
  if (s[strspn(s, " \t")] == '\0')
    return 0; /* blank: no job, but it keeps its number */
  if (!(fm->line[no] = strdup(s)))
    return fprintf(stderr, "keelrun: out of memory reading %s\n", path), -1;
  return 0;
}

/* Read and check every line before anything runs: 0, or -1 after naming
 * (up to ten) bad lines. */
static int read_tasks(farm *fm, const char *path)
{
  FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
  char *s = NULL;
  size_t cap = 0;
  ssize_t len;
  int bad = 0;
  if (!f)
    return fprintf(stderr, "keelrun: cannot read task file %s: %s\n", path,
                   strerror(errno)), -1;
  while ((len = getline(&s, &cap, f)) >= 0 && bad < 10)
    bad += take_line(fm, path, s, len) != 0;
  free(s);
  if (!bad && ferror(f)) { /* a directory, an I/O error: not the end */
    fprintf(stderr, "keelrun: cannot read task file %s: %s\n", path,
            strerror(errno));
    bad = 1;
  }
  if (f != stdin)
    fclose(f);
  return bad ? -1 : 0;
}

/* ---- results ---- */

/* The joblog could not take a row (disk full...): said once, exit 255. */
static void joblog_failed(farm *fm)
{
  if (!fm->log_failed)
    fprintf(stderr, "keelrun: cannot write the joblog: %s\n",
            strerror(errno));
  fm->log_failed = true;
}

/* The progress line, on a terminal, is taken off the screen before
 * anything else goes to stderr (the next redraw puts it back). */
static void unprogress(farm *fm)
{
  if (fm->drawn)
    fputs("\r\033[K", stderr);
  fm->drawn = false;
}

/* Print a finished line's output whole, log it, count it. */
static void record(farm *fm, size_t seq, const outcome *r, const char *host,
                   const char *out, const char *err)
{
  unprogress(fm);
  if (r->runtime > fm->slowest_time || !fm->slowest) {
    fm->slowest = seq;
    fm->slowest_time = r->runtime;
  }
  fwrite(out, 1, r->nout, stdout);
  fflush(stdout);
  fwrite(err, 1, r->nerr, stderr);
  if ((r->exitval != 0 || r->signal != 0) && fm->failed++ == 0)
    fm->first_failure = r->signal          ? 128 + r->signal
                        : r->exitval > 0 ? r->exitval
                                         : 1;
  fm->finished++;
  if (r->cut)
    fprintf(stderr, "keelrun: line %zu: %u bytes of its output dropped (at "
            "most %u MiB of each stream are kept)\n", seq, r->cut,
            MAX_OUTPUT >> 20);
  if (fm->log) {
    char h[256];
    snprintf(h, sizeof h, "%.*s", (int)r->nhost, host);
    farm_row row = {seq, h, r->start, r->runtime, (size_t)r->nout,
                    r->exitval, r->signal, fm->line[seq]};
    if (farm_joblog_row(fm->log, &row))
      joblog_failed(fm);
  }
}

/* A command in a line of stderr is cut to 80 characters: how many of its
 * own, and what marks the cut. */
static int cut_len(const char *cmd)
{
  size_t n = strlen(cmd);
  return n > 80 ? 77 : (int)n;
}

static const char *cut_tail(const char *cmd)
{
  return strlen(cmd) > 80 ? "..." : "";
}

/* One line on stderr for a line that failed (its output, and the joblog,
 * are easy to miss): its Seq, host, how it failed, and its command cut to
 * 80 characters. */
static void say_how(const farm *fm, size_t seq, const char *how,
                    const char *host, size_t nhost)
{
  const char *cmd = fm->line[seq];
  fprintf(stderr, "keelrun: line %zu failed on %.*s: %s: %.*s%s\n", seq,
          (int)nhost, host, how, cut_len(cmd), cmd, cut_tail(cmd));
}

static void killed_by(char *how, size_t n, int sig)
{
  snprintf(how, n, "killed by signal %d (SIG%s)", sig,
           sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
}

static void say_failed(const farm *fm, size_t seq, const outcome *r,
                       const char *host)
{
  char how[64];
  if (r->signal)
    killed_by(how, sizeof how, r->signal);
  else
    snprintf(how, sizeof how, "exit status %d", r->exitval);
  say_how(fm, seq, how, host, r->nhost);
}

/* A line whose task returned no outcome: timed out (its Starttime is then
 * the deadline's start), its task process died or its worker was lost
 * (Starttime now, runtime 0: when it started is not known).  Said in the
 * farm's words, not the C API's (task_timeout is --timeout here). */
static void record_failure(farm *fm, size_t seq, keel_future *f, int code)
{
  unprogress(fm);
  const keel_error *e = keel_future_error(f);
  double now = wall(), ran = code == KEEL_EDEADLINE ? fm->timeout : 0;
  outcome r = {-1, e && e->signal ? e->signal : 0, now - ran, ran, 0, 0, 0,
               0};
  const char *host = e && e->host ? e->host : "?";
  r.nhost = strlen(host);
  char how[128];
  if (code == KEEL_EDEADLINE)
    snprintf(how, sizeof how, "ran past --timeout %g s and was killed",
             fm->timeout);
  else if (e && e->signal)
    killed_by(how, sizeof how, e->signal);
  else if (e && e->exit_status >= 0)
    snprintf(how, sizeof how, "its shell's process exited with status %d "
             "before the line ended", e->exit_status);
  else
    snprintf(how, sizeof how, "%s", e && e->message ? e->message
                                                    : keel_strerror(code));
  say_how(fm, seq, how, host, r.nhost);
  record(fm, seq, &r, host, "", "");
}

/* Decode a line's outcome: false if the bytes are not one. */
static bool decode(const void *d, size_t len, outcome *r, const char **rest)
{
  if (len < sizeof *r)
    return false;
  memcpy(r, d, sizeof *r);
  *rest = (const char *)d + sizeof *r;
  return r->nhost + r->nout + r->nerr == len - sizeof *r;
}

/* --progress: lines done of all, failed, running, rate and ETA.  On a
 * terminal one line redrawn in place; in a file (a batch job's log) a
 * plain line every PROGRESS_EVERY seconds, where redraws would pile up.
 * The last one, at the end, always. */
static void progress(farm *fm, size_t inflight, bool last)
{
  double now = wall();
  if (!last && now - fm->last_progress < (fm->tty ? REDRAW_EVERY
                                                  : PROGRESS_EVERY))
    return;
  fm->last_progress = now;
  double rate = now > fm->t0 ? (double)fm->finished / (now - fm->t0) : 0;
  size_t left = fm->jobs - fm->finished;
  char eta[32] = "?";
  if (left == 0 || rate > 0)
    snprintf(eta, sizeof eta, "%.0f s", left ? (double)left / rate : 0.0);
  fprintf(stderr, "%skeelrun: %zu/%zu lines done, %zu failed, %zu running, "
          "%.1f lines/s, ETA %s%s", fm->tty ? "\r\033[K" : "",
          fm->finished, fm->jobs, fm->failed,
          inflight < fm->workers ? inflight : fm->workers, rate, eta,
          fm->tty && !last ? "" : "\n");
  fm->drawn = fm->tty && !last;
}

/* How a line ended.  KEEL_OK with *r and *rest when its task returned an
 * outcome (which may still be a failure); else the code it failed with. */
static int outcome_of(keel_future *f, outcome *r, const char **rest)
{
  const void *d;
  size_t len;
  int rc = keel_future_result(f, 0, &d, &len);
  if (rc == KEEL_OK && !decode(d, len, r, rest))
    rc = KEEL_EPROTO;
  return rc;
}

/* The executor itself failed (broken, shut down): the line did not get
 * its chance, and the farm stops without logging it. */
static bool farm_failure(int rc)
{
  return rc == KEEL_EBROKEN || rc == KEEL_ESHUTDOWN || rc == KEEL_ECANCELED;
}

/* ---- running the lines ---- */

/* One line to run, how many times it ran, and how many of those its
 * worker rank was lost. */
typedef struct slot {
  keel_future *f;
  size_t seq;
  int runs, lost;
} slot;

/* Lines whose future is done, handed from keel's manager thread (the
 * on_done callback must not block) to the main thread.  A ring as long as
 * the lines in flight can be, so pushing never allocates. */
typedef struct doneq {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  slot **v;
  size_t cap, head, n;
} doneq;

static doneq dq = {.lock = PTHREAD_MUTEX_INITIALIZER,
                   .cond = PTHREAD_COND_INITIALIZER};

static void on_done(keel_future *f, void *arg)
{
  (void)f;
  pthread_mutex_lock(&dq.lock);
  dq.v[(dq.head + dq.n++) % dq.cap] = arg;
  pthread_cond_signal(&dq.cond);
  pthread_mutex_unlock(&dq.lock);
}

/* The next line done, or NULL after 0.1 s without one (a drain is looked
 * for that often). */
static slot *next_done(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += 100000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  slot *s = NULL;
  pthread_mutex_lock(&dq.lock);
  while (dq.n == 0 &&
         pthread_cond_timedwait(&dq.cond, &dq.lock, &ts) != ETIMEDOUT)
    ;
  if (dq.n > 0) {
    s = dq.v[dq.head];
    dq.head = (dq.head + 1) % dq.cap;
    dq.n--;
  }
  pthread_mutex_unlock(&dq.lock);
  return s;
}

/* Run the line of s (again): 0, or -1 when the executor refuses it. */
static int start(farm *fm, keel_executor *ex, slot *s)
{
  const char *cmd = fm->line[s->seq];
  size_t ns = strlen(fm->shell) + 1, nc = strlen(cmd);
  char *arg = malloc(ns + nc);
  int rc = arg ? KEEL_OK : KEEL_ENOMEM;
  if (arg) { /* the shell travels with each line: workers parse no options */
    memcpy(arg, fm->shell, ns);
    memcpy(arg + ns, cmd, nc);
    rc = keel_submit(ex, run_line, arg, ns + nc, &s->f); /* copies arg */
    free(arg);
  }
  if (!rc) {
    s->runs++;
    rc = keel_future_on_done(s->f, on_done, s);
  }
  if (rc)
    fprintf(stderr, "keelrun: cannot submit line %zu: %s; stopping\n",
            s->seq, keel_strerror(rc));
  return rc ? -1 : 0;
}

/* Told to drain, or halted: no line starts, nor runs again. */
static bool stopping(const farm *fm)
{
  return fm->draining || fm->halted;
}

/* Was the line's worker rank lost under it?  Then the line never got an
 * exit status: keel says so with KEEL_EWORKER and neither a signal nor an
 * exit status of the task process (a task process that died, even by a
 * signal the line sent it, is the line's own failure). */
static bool rank_lost(int rc, const keel_future *f)
{
  const keel_error *e = keel_future_error(f);
  return rc == KEEL_EWORKER && e && e->signal == 0 && e->exit_status < 0;
}

/* Run a line lost with its rank again, unless it was lost MAX_LOST times
 * already: true if it runs again. */
static bool rerun_lost(farm *fm, keel_executor *ex, slot *x)
{
  unprogress(fm);
  if (x->lost >= MAX_LOST) {
    fprintf(stderr, "keelrun: line %zu: its worker rank was lost each of "
            "the %d times it ran; not run again, logged as failed\n",
            x->seq, x->lost + 1);
    return false;
  }
  if (keel_executor_broken(ex)) {
    fprintf(stderr, "keelrun: line %zu: its worker rank was lost and no "
            "worker is left to run it again; stopping\n", x->seq);
    fm->broken = true;
    return false;
  }
  x->lost++;
  fm->retried++;
  fprintf(stderr, "keelrun: line %zu: its worker rank was lost; running it "
          "again (%d of %d)\n", x->seq, x->lost, MAX_LOST);
  keel_future_release(x->f);
  if (start(fm, ex, x) == 0)
    return true;
  x->f = NULL;
  fm->broken = true;
  return false;
}

/* A line's future is done: record it, or run it again at once (it failed
 * and has runs left, or its rank was lost).  True while the line is still
 * running. */
static bool finish_line(farm *fm, keel_executor *ex, slot *x, int runs)
{
  outcome r;
  const char *rest = NULL;
  int rc = outcome_of(x->f, &r, &rest);
  bool lost = rank_lost(rc, x->f);
  if (stopping(fm) && (rc == KEEL_ECANCELED || lost ||
                       (fm->killed && rc == KEEL_ESHUTDOWN))) {
    fm->unrun++; /* stopped by a drain or --halt: unlogged, --resume runs it */
  } else if (lost && !fm->broken && rerun_lost(fm, ex, x)) {
    return true;
  } else if (lost && fm->broken) {
    /* no exit status and nowhere to run it: unlogged, --resume runs it */
  } else if (farm_failure(rc)) {
    if (!fm->broken)
      fprintf(stderr, "keelrun: line %zu: %s; stopping\n", x->seq,
              keel_future_error(x->f) ? keel_future_error(x->f)->message
                                      : keel_strerror(rc));
    fm->broken = true;
  } else if (x->runs - x->lost < runs && !fm->broken && !stopping(fm) &&
             (rc || r.exitval || r.signal)) {
    fm->retried++;
    keel_future_release(x->f);
    if (start(fm, ex, x) == 0)
      return true; /* quietly: it runs again */
    fm->broken = true;
    return false;
  } else if (rc) {
    record_failure(fm, x->seq, x->f, rc);
  } else {
    record(fm, x->seq, &r, rest, rest + r.nhost, rest + r.nhost + r.nout);
    if (r.exitval || r.signal)
      say_failed(fm, x->seq, &r, rest);
  }
  if (x->f)
    keel_future_release(x->f);
  x->f = NULL; /* done with: a drain must not look at it */
  return false;
}

/* Cancel the lines not started yet: how many. */
static size_t cancel_unstarted(slot *s, size_t n)
{
  size_t cancelled = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i].f && !keel_future_done(s[i].f))
      cancelled += keel_future_cancel(s[i].f);
  return cancelled;
}

/* Told to drain: the lines not started are cancelled, those running get
 * the grace. */
static void begin_drain(farm *fm, slot *s, size_t n)
{
  unprogress(fm);
  fm->draining = true;
  fm->kill_at = wall() + fm->drain_grace;
  size_t cancelled = cancel_unstarted(s, n);
  fprintf(stderr, "keelrun: draining: %zu lines will not start; those "
          "running get %g s to finish\n", cancelled, fm->drain_grace);
}

/* The grace is over: what still runs is killed. */
static void end_drain(farm *fm, keel_executor *ex)
{
  unprogress(fm);
  fm->killed = true;
  fprintf(stderr, "keelrun: drain grace of %g s over: killing the lines "
          "still running\n", fm->drain_grace);
  keel_executor_shutdown(ex, KEEL_SHUTDOWN_KILL);
}

/* --halt: once fail=N lines failed, no line starts; `now` kills those
 * running too (they are not logged, as a drain's are not). */
static void maybe_halt(farm *fm, keel_executor *ex, slot *s, size_t n)
{
  if (fm->halt == FARM_HALT_NEVER || fm->halted ||
      fm->failed < fm->halt_fails)
    return;
  fm->halted = true;
  unprogress(fm);
  size_t cancelled = cancel_unstarted(s, n);
  bool now = fm->halt == FARM_HALT_NOW;
  fprintf(stderr, "keelrun: halting after %zu failed line(s) (--halt): %zu "
          "lines will not start; %s\n", fm->failed, cancelled,
          now ? "killing those running" : "waiting for those running");
  if (now && !fm->killed) {
    fm->killed = true;
    keel_executor_shutdown(ex, KEEL_SHUTDOWN_KILL);
  }
}

/* Run the lines seqs[0..n), each up to `runs` times while it fails, a
 * failed one again as soon as it is seen: 0, or -1 if the farm stopped. */
static int run_all(farm *fm, keel_executor *ex, const size_t *seqs, size_t n,
                   int runs)
{
  slot *s = calloc(n ? n : 1, sizeof *s);
  size_t running = 0;
  dq.cap = n ? n : 1;
  dq.v = calloc(dq.cap, sizeof *dq.v);
  if (!s || !dq.v) {
    fprintf(stderr, "keelrun: out of memory for %zu lines\n", n);
    free(s);
    free(dq.v);
    return -1;
  }
  fm->t0 = wall();
  for (size_t i = 0; i < n && !fm->broken; i++) {
    s[i].seq = seqs[i];
    if (start(fm, ex, &s[i]))
      fm->broken = true;
    else
      running++;
  }
  while (running > 0) {
    slot *x = next_done();
    if (!fm->draining && keel_draining())
      begin_drain(fm, s, n);
    if (fm->draining && !fm->killed && wall() >= fm->kill_at)
      end_drain(fm, ex);
    if (x && !finish_line(fm, ex, x, runs))
      running--;
    maybe_halt(fm, ex, s, n);
    if (fm->progress)
      progress(fm, running, false);
  }
  free(s);
  free(dq.v);
  return fm->broken ? -1 : 0;
}

/* ---- options and main ---- */

/* The lines still to run, in order, into seqs: their count. */
static size_t pending(const farm *fm, size_t *seqs)
{
  size_t n = 0;
  for (size_t i = 1; i <= fm->n; i++)
    if (fm->line[i] && !fm->done[i])
      seqs[n++] = i;
  return n;
}

static keel_executor *open_executor(const farm_opts *o)
{
  keel_options ko;
  keel_executor *ex = NULL;
  keel_options_init(&ko);
  ko.task_timeout = o->timeout;
  ko.on_crash = KEEL_ON_CRASH_FAIL_TASK; /* one line fails, not the farm */
  ko.quiet_crashes = 1; /* record_failure() says it, naming the line */
  ko.max_inflight = 1; /* a line never waits behind a long one */
  int rc = keel_executor_create(&ko, &ex);
  if (rc)
    fprintf(stderr, "keelrun: cannot start the workers: %s\n",
            keel_strerror(rc));
  return rc ? NULL : ex;
}

/* Is the user's stderr a terminal?  Under keelrun ours is mpirun's pipe:
 * keelrun, which holds the user's, says so in KEEL_FARM_TTY. */
static bool on_terminal(void)
{
  const char *t = getenv("KEEL_FARM_TTY");
  return t ? !strcmp(t, "1") : isatty(STDERR_FILENO);
}

/* What main() holds, freed on every way out. */
static int done(farm *fm, size_t *seqs, int status)
{
  for (size_t i = 1; i <= fm->n; i++)
    free(fm->line[i]);
  free(fm->line);
  free(fm->done);
  free(seqs);
  return status;
}

/* One line at the end when --progress asked for it or a line failed (a
 * run that succeeded quietly stays quiet): the lines, failed, reruns,
 * wall time, and the line that ran longest. */
static void summary(const farm *fm)
{
  if (!fm->progress && !fm->failed)
    return;
  fprintf(stderr, "keelrun: %zu of %zu lines ran, %zu failed, %zu retried, "
          "%.1f s wall", fm->finished, fm->jobs, fm->failed, fm->retried,
          wall() - fm->t0);
  if (fm->slowest) {
    const char *cmd = fm->line[fm->slowest];
    fprintf(stderr, "; slowest: line %zu, %.2f s: %.*s%s", fm->slowest,
            fm->slowest_time, cut_len(cmd), cmd, cut_tail(cmd));
  }
  fputc('\n', stderr);
}

/* The farm's exit status once every line is done (or stopped).  Halted,
 * as GNU parallel: with fail=1 the failed line's exit status (128 + its
 * signal), else the count of failed lines. */
static int farm_status(const farm *fm)
{
  if (fm->halted) {
    size_t unrun = fm->jobs - fm->finished;
    if (unrun)
      fprintf(stderr, "keelrun: halted: %zu of %zu lines did not run to "
              "their end; --resume runs them (--resume-failed the failed "
              "ones too)\n", unrun, fm->jobs);
    if (fm->halt_fails == 1)
      return fm->first_failure;
  } else if (fm->unrun) {
    fprintf(stderr, "keelrun: drained: %zu of %zu lines did not run to "
            "their end; run the same command with --resume for them\n",
            fm->unrun, fm->jobs);
    return FARM_DRAINED;
  }
  return fm->failed > 100 ? 101 : (int)fm->failed;
}

int main(int argc, char **argv)
{
  farm_opts o;
  farm fm = {0};
  size_t *seqs = NULL;
  if (keel_init(&argc, &argv)) /* workers serve inside and exit */
    return FARM_ERROR;
  /* keelrun checked them already: this is for keel-farm run alone */
  if (farm_opts_parse(argc, argv, &o) || farm_opts_check(&o))
    return FARM_ERROR;
  if (read_tasks(&fm, o.tasks) || !(fm.done = calloc(fm.n + 1, 1)))
    return done(&fm, seqs, FARM_ERROR);
  farm_log_mode mode = o.resume_failed ? FARM_LOG_RESUME_FAILED
                       : o.resume      ? FARM_LOG_RESUME
                                       : FARM_LOG_AFRESH;
  if (o.joblog && !(fm.log = farm_joblog_open(o.joblog, mode, fm.done,
                                               fm.line, fm.n)))
    return done(&fm, seqs, FARM_ERROR);
  seqs = malloc((fm.n + 1) * sizeof *seqs);
  keel_executor *ex = seqs ? open_executor(&o) : NULL;
  if (!ex)
    return done(&fm, seqs, FARM_ERROR);
  fm.jobs = pending(&fm, seqs);
  fm.progress = o.progress;
  fm.tty = o.progress && on_terminal();
  fm.workers = (size_t)keel_executor_workers(ex);
  fm.timeout = o.timeout;
  fm.shell = o.shell;
  fm.halt = o.halt;
  fm.halt_fails = (size_t)o.halt_fails;
  fm.drain_grace = o.drain_grace;
  /* --retries K: a failing line runs up to K times in all (GNU parallel) */
  int n = run_all(&fm, ex, seqs, fm.jobs, o.retries > 1 ? o.retries : 1);
  if (o.progress)
    progress(&fm, 0, true);
  summary(&fm);
  if (!fm.killed) /* a drain's kill released it already */
    keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT);
  if (fm.log && fclose(fm.log))
    joblog_failed(&fm);
  int fin = keel_finalize();
  return done(&fm, seqs, n < 0 || fin || fm.log_failed ? FARM_ERROR
                                                       : farm_status(&fm));
}
