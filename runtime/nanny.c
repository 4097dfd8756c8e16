/* nanny.c: a worker rank.  The MPI process never runs user code: for each
 * executor it serves it keeps one task process (spawn.c), feeds it tasks
 * over a socket, reads results back, watches it through a pidfd, a shared
 * page (which task runs, since when) and its RSS, and reports its death to
 * the master with the signal or exit status, the task id and the backtrace
 * its crash handler wrote.  Then it starts a fresh one. */
#include "keel_int.h"
#include "mpiq.h"

#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEARTBEAT_EVERY 1.0  /* seconds */
#define MEM_CHECK_EVERY 1e-3 /* seconds between RSS reads */
#define RETIRE_GRACE 5.0     /* seconds a retiring child gets to exit */
#define MAX_SLOTS 64
#define FORWARD_BYTES (64u << 20) /* most task bytes in one TASKS message */
#define MAX_STRAY_DEATHS 3 /* deaths outside any task before giving up */
#define WARM_AFTER 5e-3    /* seconds after a death to start a warm child */

typedef struct ntask {
  uint64_t id;
  char *enc; /* the task as encoded on the wire */
  uint32_t len;
} ntask;

typedef struct child {
  pid_t pid;
  int chan, crash, pidfd;
  keel__shm *shm;
  int served;              /* tasks forwarded to it */
  int kill_cause;          /* KEEL__C_* when the nanny killed it */
  uint64_t kill_task;
  size_t kill_rss;
  double retire_at;        /* > 0: asked to exit at that time */
  char *initmsg;           /* INITFAIL text */
  keel_buf rin, wout, bt;
  size_t wpos;
  double mem_checked;
} child;

typedef struct slot {
  uint32_t exec;
  keel__xopts o;
  void *initarg;
  bool dead; /* broken by a crash or a failed initializer: wait for CLOSE */
  child c;
  ntask *q;  /* unanswered tasks, oldest first (a ring) */
  size_t qh, qn, qcap, nfwd;
  keel_buf res; /* RESULTS being gathered for the master */
  uint32_t nres;
  double idle_since;
  int stray_deaths; /* task processes lost outside a task, in a row */
  double warm_at;   /* > 0: start a warm task process then */
} slot;

static MPI_Comm comm;
static slot *slots[MAX_SLOTS];
static keel__sendq sends;
static keel__recvq recvs;
static double last_sent;
static bool stopping;
static bool no_finalize; /* STOP said KEEL__STOP_NO_FINALIZE */
static int bell = -1; /* the master on our node wakes us with it */
/* the lifeline to the master (lifeline.c) */
static int master_pidfd = -1, master_pid;
static double master_timeout = KEEL__HEARTBEAT_TIMEOUT, last_heard;

/* ---- talking to the master ---- */

/* Send b to the master; work (not a heartbeat) also rings its bell when
 * it shares our node, for it may be napping (doorbell.c). */
static void send_to_master(keel_buf *b, bool work)
{
  if (keel__sendq_post(&sends, comm, 0, 0, b)) {
    keel__log("cannot send to the master; exiting");
    _exit(1);
  }
  if (work && master_pidfd >= 0)
    keel__doorbell_ring(master_pid);
  last_sent = keel__now();
}

static void send_master(keel_buf *b)
{
  send_to_master(b, true);
}

static void send_simple(uint8_t type, uint32_t exec)
{
  keel_buf b = {0};
  keel__wr_hdr(&b, type, exec, 0);
  keel__wr_finish(&b, 0, 0);
  send_to_master(&b, type != KEEL__M_HEARTBEAT);
}

/* ---- the queue of a slot ---- */

static ntask *q_at(slot *s, size_t i)
{
  return &s->q[(s->qh + i) % s->qcap];
}

static int q_push(slot *s, uint64_t id, const void *enc, size_t len)
{
  if (s->qn == s->qcap) {
    size_t cap = s->qcap ? s->qcap * 2 : 64;
    ntask *q = malloc(cap * sizeof *q);
    if (!q)
      return KEEL_ENOMEM;
    for (size_t i = 0; i < s->qn; i++)
      q[i] = *q_at(s, i);
    free(s->q);
    s->q = q;
    s->qh = 0;
    s->qcap = cap;
  }
  char *copy = malloc(len);
  if (!copy)
    return KEEL_ENOMEM;
  memcpy(copy, enc, len);
  *q_at(s, s->qn++) = (ntask){id, copy, (uint32_t)len};
  return KEEL_OK;
}

/* Remove entry i, keeping the order of the others. */
static void q_remove(slot *s, size_t i)
{
  free(q_at(s, i)->enc);
  for (; i > 0; i--)
    *q_at(s, i) = *q_at(s, i - 1);
  s->qh = (s->qh + 1) % s->qcap;
  s->qn--;
}

static void q_clear(slot *s)
{
  while (s->qn)
    q_remove(s, 0);
  s->nfwd = 0;
}

/* ---- the task process ---- */

static void child_close_fds(child *c)
{
  if (c->chan >= 0)
    close(c->chan);
  if (c->crash >= 0)
    close(c->crash);
  if (c->pidfd >= 0)
    close(c->pidfd);
  if (c->shm)
    munmap(c->shm, sizeof *c->shm);
  c->chan = c->crash = c->pidfd = -1;
  c->shm = NULL;
}

static void child_init(child *c)
{
  memset(c, 0, sizeof *c);
  c->chan = c->crash = c->pidfd = -1; /* 0 is a valid fd */
}

static void child_reset(child *c)
{
  child_close_fds(c);
  keel__buf_free(&c->rin);
  keel__buf_free(&c->wout);
  keel__buf_free(&c->bt);
  free(c->initmsg);
  child_init(c);
}

static keel__shm *map_shm(int *fd)
{
  *fd = memfd_create("keel-task", MFD_CLOEXEC);
  if (*fd < 0 || ftruncate(*fd, sizeof(keel__shm)) < 0)
    return NULL;
  void *p = mmap(NULL, sizeof(keel__shm), PROT_READ | PROT_WRITE, MAP_SHARED,
                 *fd, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void report_exec(uint32_t exec, uint64_t task, int cause, int sig,
                        int status, const char *msg, const char *bt)
{
  keel_buf b = {0};
  keel__death d = {task, cause, sig, status, (char *)msg, (char *)bt};
  keel__wr_death(&b, exec, &d);
  send_master(&b);
}

static int flush_results(slot *s);

/* A death, after the results gathered before it: the master must count
 * them as done before it breaks the executor. */
static void report(slot *s, uint64_t task, int cause, int sig, int status,
                   const char *msg, const char *bt)
{
  flush_results(s);
  report_exec(s->exec, task, cause, sig, status, msg, bt);
  keel__sendq_test(&sends); /* push it out before the slow /proc sweep */
}

static int spawn_child(slot *s)
{
  child *c = &s->c;
  int sv[2] = {-1, -1}, cp[2] = {-1, -1}, mfd = -1;
  child_reset(c);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
      pipe2(cp, O_CLOEXEC) < 0 || !(c->shm = map_shm(&mfd)) ||
      (c->pid = keel__spawn_task(sv[1], cp[1], mfd)) < 0) {
    char *why = keel__strdup_printf("cannot start a task process: %s",
                                    strerror(errno));
    for (int i = 0; i < 2; i++) {
      if (sv[i] >= 0)
        close(sv[i]);
      if (cp[i] >= 0)
        close(cp[i]);
    }
    if (mfd >= 0)
      close(mfd);
    child_reset(c);
    report(s, 0, KEEL__C_SPAWN, 0, -1, why, NULL);
    free(why);
    s->dead = true;
    q_clear(s);
    return -1;
  }
  close(sv[1]);
  close(cp[1]);
  close(mfd);
  c->chan = sv[0];
  c->crash = cp[0];
  fcntl(c->chan, F_SETFL, O_NONBLOCK);
  fcntl(c->crash, F_SETFL, O_NONBLOCK);
  c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
  keel__wr_open(&c->wout, s->exec, &s->o); /* first: its settings */
  return 0;
}

static void kill_child(child *c, int cause, uint64_t task)
{
  if (!c->pid || c->kill_cause)
    return;
  c->kill_cause = cause;
  c->kill_task = task;
  kill(-c->pid, SIGKILL); /* its whole group: leftovers die with it */
  kill(c->pid, SIGKILL);
}

/* Forward the tasks the child has not seen yet, in one TASKS message. */
static int forward(slot *s)
{
  child *c = &s->c;
  if (s->dead || s->nfwd == s->qn || c->retire_at > 0 || c->kill_cause)
    return 0;
  if (!c->pid && spawn_child(s) < 0)
    return 1;
  size_t n = s->qn - s->nfwd;
  if (s->o.max_tasks > 0 && n > (size_t)(s->o.max_tasks - c->served))
    n = (size_t)(s->o.max_tasks - c->served);
  if (n == 0)
    return 0;
  size_t off = c->wout.len, bytes = 0, i;
  keel__wr_hdr(&c->wout, KEEL__M_TASKS, s->exec, 0);
  for (i = 0; i < n; i++) {
    ntask *t = q_at(s, s->nfwd + i);
    if (i > 0 && bytes + t->len > FORWARD_BYTES)
      break; /* the rest go in the next message */
    keel_buf_append(&c->wout, t->enc, t->len);
    bytes += t->len;
  }
  n = i;
  keel__wr_finish(&c->wout, off, (uint32_t)n);
  s->nfwd += n;
  c->served += (int)n;
  return 1;
}

static int write_child(child *c)
{
  int act = 0;
  while (c->pid && c->wpos < c->wout.len) {
    ssize_t n = send(c->chan, c->wout.data + c->wpos, c->wout.len - c->wpos,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0)
      break; /* full, or the child is dying: waitpid will tell */
    c->wpos += (size_t)n;
    act = 1;
  }
  if (c->wpos == c->wout.len) {
    keel__buf_reset(&c->wout);
    c->wpos = 0;
  }
  return act;
}

/* ---- results from the task process ---- */

/* Send the results gathered so far, if any: 1 if it did. */
static int flush_results(slot *s)
{
  if (!s->nres)
    return 0;
  keel__wr_finish(&s->res, 0, s->nres);
  send_master(&s->res);
  s->nres = 0;
  return 1;
}

static void add_result(slot *s, const keel__result *r)
{
  bool alone = r->len >= KEEL__RESULT_ALONE;
  if (alone)
    flush_results(s);
  if (s->nres == 0)
    keel__wr_hdr(&s->res, KEEL__M_RESULTS, s->exec, 0);
  keel__wr_result(&s->res, r);
  s->nres++;
  if (alone)
    flush_results(s);
}

static int on_child_results(slot *s, const keel__hdr *h, keel__rd *rd)
{
  for (uint32_t i = 0; i < h->count; i++) {
    keel__result r;
    if (keel__rd_result(rd, &r) || s->nfwd == 0 || q_at(s, 0)->id != r.id)
      return KEEL_EPROTO;
    add_result(s, &r);
    q_remove(s, 0);
    s->nfwd--;
    s->stray_deaths = 0;
  }
  if (s->qn == 0)
    s->idle_since = keel__now();
  return KEEL_OK;
}

static int on_child_msg(slot *s, const char *m, size_t n)
{
  keel__hdr h;
  const char *why;
  keel__rd rd;
  if (keel__wire_hdr(m, n, &h, &why))
    return KEEL_EPROTO;
  keel__rd_init(&rd, m + KEEL__WIRE_HDR, h.len);
  if (h.type == KEEL__M_RESULTS)
    return on_child_results(s, &h, &rd);
  if (h.type == KEEL__M_INITFAIL) {
    free(s->c.initmsg);
    s->c.initmsg = keel__rd_str(&rd);
    return rd.err ? KEEL_EPROTO : KEEL_OK;
  }
  return KEEL_EPROTO;
}

/* Parse every complete message in rin. */
static void parse_child(slot *s)
{
  child *c = &s->c;
  size_t pos = 0;
  while (c->rin.len - pos >= KEEL__WIRE_HDR) {
    uint32_t len;
    memcpy(&len, c->rin.data + pos + 16, 4);
    if (len > KEEL__WIRE_MAX) {
      kill_child(c, KEEL__C_PROTO, c->shm ? c->shm->task_id : 0);
      break;
    }
    if (c->rin.len - pos < KEEL__WIRE_HDR + (size_t)len)
      break;
    if (on_child_msg(s, c->rin.data + pos, KEEL__WIRE_HDR + len)) {
      kill_child(c, KEEL__C_PROTO, s->nfwd ? q_at(s, 0)->id : 0);
      pos = c->rin.len;
      break;
    }
    pos += KEEL__WIRE_HDR + len;
  }
  memmove(c->rin.data, c->rin.data + pos, c->rin.len - pos);
  c->rin.len -= pos;
}

static int drain(int fd, keel_buf *b)
{
  int act = 0;
  for (;;) {
    if (keel__buf_reserve(b, 65536))
      return act;
    ssize_t n = read(fd, b->data + b->len, 65536);
    if (n <= 0)
      return act;
    b->len += (size_t)n;
    act = 1;
  }
}

static int read_child(slot *s)
{
  child *c = &s->c;
  if (!c->pid)
    return 0;
  int act = drain(c->chan, &c->rin);
  if (act)
    parse_child(s);
  act |= drain(c->crash, &c->bt);
  return act;
}

/* ---- deaths ---- */

static size_t q_find(slot *s, uint64_t id)
{
  for (size_t i = 0; i < s->nfwd; i++)
    if (q_at(s, i)->id == id)
      return i;
  return (size_t)-1;
}

static void report_init_failure(slot *s, int sig, int status)
{
  child *c = &s->c;
  char *msg = c->initmsg && *c->initmsg
                  ? strdup(c->initmsg)
                  : keel__strdup_printf("task process died while starting "
                                        "(%s %d)", sig ? "signal" : "status",
                                        sig ? sig : status);
  report(s, 0, KEEL__C_INIT, sig, sig ? -1 : status, msg, c->bt.data);
  free(msg);
  s->dead = true;
  q_clear(s);
}

static char *death_text(const slot *s, int sig, int code)
{
  const child *c = &s->c;
  if (!c->kill_cause && !sig && code == KEEL__CHANLOST_STATUS)
    return strdup("the task closed or broke its channel to the nanny (fd "
                  "3), so its result could not be delivered");
  if (c->kill_cause == KEEL__C_MEMORY)
    return keel__strdup_printf("memory_limit of %llu bytes exceeded (RSS "
                               "%zu bytes)",
                               (unsigned long long)s->o.memory_limit,
                               c->kill_rss);
  if (c->kill_cause == KEEL__C_PROTO)
    return strdup("it sent a malformed message");
  return NULL;
}

/* A task process has ended, its group already killed by the caller: the
 * children it left outside that group go too. */
static void kill_leftovers(pid_t gone)
{
  pid_t keep[MAX_SLOTS];
  int n = 0;
  for (int i = 0; i < MAX_SLOTS; i++)
    if (slots[i] && slots[i]->c.pid && slots[i]->c.pid != gone)
      keep[n++] = slots[i]->c.pid;
  keel__strays_kill(keep, n);
}

static void on_exit_status(slot *s, int status)
{
  child *c = &s->c;
  /* Its group first, cheaply: what it left there must not write into its
   * channel while we read the last results.  The /proc sweep comes after
   * the report, which it would delay. */
  kill(-c->pid, SIGKILL);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  read_child(s); /* results written before it died still count */
  keel_buf_append(&c->bt, "", 1);
  uint32_t phase = c->shm ? c->shm->phase : KEEL__P_START;
  uint64_t running = c->kill_cause ? c->kill_task
                                   : (c->shm ? c->shm->task_id : 0);
  if (c->initmsg || phase != KEEL__P_READY) {
    report_init_failure(s, sig, code);
  } else if (c->retire_at > 0 && !c->kill_cause && code == 0) {
    /* recycled or idle: a quiet exit */
  } else {
    size_t i = running ? q_find(s, running) : (size_t)-1;
    if (i != (size_t)-1) {
      char *text = death_text(s, sig, code);
      int cause = c->kill_cause ? c->kill_cause : KEEL__C_CRASH;
      report(s, running, cause, sig, sig ? -1 : code, text, c->bt.data);
      free(text);
      q_remove(s, i);
      if (s->o.on_crash == KEEL_ON_CRASH_BREAK && cause != KEEL__C_DEADLINE) {
        s->dead = true;
        q_clear(s);
      }
    } else if (s->nfwd && ++s->stray_deaths >= MAX_STRAY_DEATHS) {
      /* It dies with work in hand but outside any task, again and again:
       * restarting it would loop for ever. */
      char *why = keel__strdup_printf("the task process died %d times in a "
                                      "row outside any task (last: %s %d)",
                                      s->stray_deaths,
                                      sig ? "signal" : "exit status",
                                      sig ? sig : code);
      report(s, 0, KEEL__C_SPAWN, sig, sig ? -1 : code, why, c->bt.data);
      free(why);
      s->dead = true;
      q_clear(s);
    }
  }
  kill_leftovers(c->pid);
  child_reset(c);
  s->nfwd = 0; /* unanswered tasks go to the next task process */
  /* A warm task process, but not at once: its exec and dynamic linking
   * would take the core from the master reading the report just sent. */
  if (!s->dead && s->qn == 0 && s->o.idle_timeout == 0 && !stopping)
    s->warm_at = keel__now() + WARM_AFTER;
}

static int check_exit(slot *s)
{
  int status;
  if (!s->c.pid || waitpid(s->c.pid, &status, WNOHANG) != s->c.pid)
    return 0;
  on_exit_status(s, status);
  return 1;
}

/* ---- limits ---- */

static size_t rss_of(pid_t pid)
{
  char path[64];
  unsigned long size = 0, rss = 0;
  snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  if (fscanf(f, "%lu %lu", &size, &rss) != 2)
    rss = 0;
  fclose(f);
  return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static void watch(slot *s, double now)
{
  child *c = &s->c;
  if (!c->pid || c->kill_cause || !c->shm)
    return;
  uint64_t id = c->shm->task_id;
  if (s->o.task_timeout > 0 && id &&
      now - c->shm->started > s->o.task_timeout)
    kill_child(c, KEEL__C_DEADLINE, id);
  if (s->o.memory_limit && now - c->mem_checked >= MEM_CHECK_EVERY) {
    c->mem_checked = now;
    size_t rss = rss_of(c->pid);
    if (rss > s->o.memory_limit) {
      c->kill_rss = rss;
      kill_child(c, KEEL__C_MEMORY, id);
    }
  }
  if (c->retire_at > 0 && now - c->retire_at > RETIRE_GRACE)
    kill(-c->pid, SIGKILL);
}

/* Recycle after max_tasks, or let an idle child go after idle_timeout. */
static void maybe_retire(slot *s, double now)
{
  child *c = &s->c;
  if (!c->pid || c->retire_at > 0 || c->kill_cause || s->nfwd ||
      c->wout.len || !c->shm || c->shm->phase != KEEL__P_READY)
    return; /* busy, or still starting: its initializer may be slow */
  bool used_up = s->o.max_tasks > 0 && c->served >= s->o.max_tasks;
  bool idle = s->o.idle_timeout > 0 && s->qn == 0 &&
              now - s->idle_since >= s->o.idle_timeout;
  if (used_up || idle) {
    shutdown(c->chan, SHUT_WR); /* EOF: it exits 0 */
    c->retire_at = now;
  }
}

static int step_slot(slot *s, double now)
{
  int act = read_child(s);
  act += check_exit(s);
  act += forward(s);
  act += write_child(&s->c);
  watch(s, now);
  maybe_retire(s, now);
  if (s->warm_at > 0 && now >= s->warm_at) {
    s->warm_at = 0;
    if (!s->c.pid && !s->dead && !stopping)
      act += spawn_child(s) >= 0;
  }
  return flush_results(s) ? 1 : act;
}

/* ---- messages from the master ---- */

static slot *find_slot(uint32_t exec)
{
  for (int i = 0; i < MAX_SLOTS; i++)
    if (slots[i] && slots[i]->exec == exec)
      return slots[i];
  return NULL;
}

static void close_slot(slot *s)
{
  if (s->c.pid) {
    kill(-s->c.pid, SIGKILL);
    kill(s->c.pid, SIGKILL);
    waitpid(s->c.pid, NULL, 0);
    kill_leftovers(s->c.pid);
  }
  child_reset(&s->c);
  q_clear(s);
  free(s->q);
  keel__buf_free(&s->res);
  free(s->initarg);
  for (int i = 0; i < MAX_SLOTS; i++)
    if (slots[i] == s)
      slots[i] = NULL;
  free(s);
}

static void on_open(const keel__hdr *h, keel__rd *rd)
{
  keel__xopts o;
  int i = 0;
  while (i < MAX_SLOTS && slots[i])
    i++;
  const char *why = keel__rd_open(rd, &o) ? "malformed OPEN message"
                    : find_slot(h->exec)    ? "second OPEN for it"
                    : i == MAX_SLOTS        ? "too many executors at once"
                                            : NULL;
  slot *s = why ? NULL : calloc(1, sizeof *s);
  if (!why && (!s || (o.initarg_len && !(s->initarg = malloc(o.initarg_len)))))
    why = "out of memory";
  if (why) { /* tell the master, or its futures would wait for ever */
    char *msg = keel__strdup_printf("worker cannot serve executor %u: %s",
                                    h->exec, why);
    keel__log("%s", msg ? msg : why);
    report_exec(h->exec, 0, KEEL__C_SPAWN, 0, -1, msg ? msg : why, NULL);
    free(msg);
    free(s);
    return;
  }
  if (o.initarg_len)
    memcpy(s->initarg, o.initarg, o.initarg_len);
  o.initarg = s->initarg;
  s->exec = h->exec;
  s->o = o;
  s->idle_since = keel__now();
  child_init(&s->c);
  slots[i] = s;
  spawn_child(s); /* warm: the first task need not wait for exec */
}

static void on_tasks(const keel__hdr *h, keel__rd *rd)
{
  slot *s = find_slot(h->exec);
  for (uint32_t i = 0; s && i < h->count; i++) {
    keel__task t;
    size_t start = rd->pos;
    if (keel__rd_task(rd, &t)) {
      keel__log("malformed TASKS message for executor %u", h->exec);
      return;
    }
    if (!s->dead && q_push(s, t.id, rd->p + start, rd->pos - start))
      keel__log("out of memory queueing task %llu",
                (unsigned long long)t.id);
  }
}

/* The master's HELLO: who it is, and how long a silence means it is gone. */
static void on_master_hello(keel__rd *rd)
{
  keel__hello h;
  if (keel__rd_hello(rd, &h, true) || master_pidfd >= 0) {
    keel__log("malformed or second HELLO from the master");
  } else {
    master_pid = (int)h.pid;
    master_pidfd = keel__pidfd_if_local(master_pid, h.node);
    master_timeout = h.timeout;
  }
  keel__hello_free(&h);
}

/* Without a master nobody will ever collect the results or say STOP: end
 * the task processes and this rank now, without MPI_Finalize, which could
 * wait for the dead master. */
static void check_master(double now)
{
  char why[96];
  if (keel__pidfd_dead(master_pidfd))
    snprintf(why, sizeof why, "its process (pid %d) died", master_pid);
  else if (now - last_heard > master_timeout)
    snprintf(why, sizeof why, "no message from it for %.1f s",
             now - last_heard);
  else
    return;
  keel__log("the master is lost (%s): ending this worker rank", why);
  for (int i = 0; i < MAX_SLOTS; i++)
    if (slots[i])
      close_slot(slots[i]);
  _exit(1);
}

/* Act on one message: false if it was only a heartbeat. */
static bool on_master(const char *m, size_t n)
{
  keel__hdr h;
  const char *why;
  keel__rd rd;
  if (keel__wire_hdr(m, n, &h, &why)) {
    keel__log("malformed message from the master: %s", why);
    return true;
  }
  keel__rd_init(&rd, m + KEEL__WIRE_HDR, h.len);
  slot *s;
  switch (h.type) {
  case KEEL__M_OPEN:
    on_open(&h, &rd);
    break;
  case KEEL__M_TASKS:
    on_tasks(&h, &rd);
    break;
  case KEEL__M_CLOSE:
    if ((s = find_slot(h.exec)))
      close_slot(s);
    send_simple(KEEL__M_CLOSED, h.exec);
    break;
  case KEEL__M_STOP:
    stopping = true;
    no_finalize = h.count & KEEL__STOP_NO_FINALIZE;
    break;
  case KEEL__M_HELLO:
    on_master_hello(&rd);
    break;
  case KEEL__M_HEARTBEAT:
    return false;
  default:
    keel__log("unexpected message type %d from the master", h.type);
  }
  return true;
}

/* Messages from the master: how many were work. */
static int receive(void)
{
  int act = 0, n;
  char *buf;
  for (int i = 0; i < 64; i++) {
    int flag = 0;
    MPI_Message m;
    MPI_Status st;
    MPI_Improbe(0, KEEL__MPI_TAG, comm, &flag, &m, &st);
    if (!flag)
      break;
    MPI_Get_count(&st, MPI_BYTE, &n);
    if (keel__recvq_post(&recvs, &m, n)) {
      keel__log("out of memory receiving from the master; exiting");
      _exit(1);
    }
  }
  while ((buf = keel__recvq_pop(&recvs, &n))) {
    last_heard = keel__now();
    act += on_master(buf, (size_t)n);
    free(buf);
  }
  return act;
}

/* ---- the loop ---- */

/* Nap s seconds unless a child or the master's ring wakes us first: true
 * if the ring did. */
static bool sleep_on_children(double s)
{
  struct pollfd fds[MAX_SLOTS * 3 + 1];
  nfds_t n = 0;
  for (int i = 0; i < MAX_SLOTS; i++) {
    child *c = slots[i] ? &slots[i]->c : NULL;
    if (!c || !c->pid)
      continue;
    fds[n++] = (struct pollfd){c->chan, POLLIN | (c->wout.len ? POLLOUT : 0),
                               0};
    fds[n++] = (struct pollfd){c->crash, POLLIN, 0};
    if (c->pidfd >= 0)
      fds[n++] = (struct pollfd){c->pidfd, POLLIN, 0};
  }
  if (bell >= 0)
    fds[n++] = (struct pollfd){bell, POLLIN, 0};
  if (keel__poll(fds, n, s) > 0 && bell >= 0 && fds[n - 1].revents) {
    keel__doorbell_drain(bell);
    return true;
  }
  return false;
}

/* No task queued, running or retiring, no message on its way: the loop
 * may doze (the doorbell or a child wakes it). */
static bool quiet(void)
{
  if (!keel__sendq_empty(&sends) || !keel__recvq_empty(&recvs))
    return false;
  for (int i = 0; i < MAX_SLOTS; i++) {
    slot *s = slots[i];
    if (s && (s->qn || s->c.wout.len || s->c.retire_at > 0 || s->nres ||
              s->warm_at > 0))
      return false;
  }
  return true;
}

static void hello(void)
{
  char node[128];
  keel_buf b = {0};
  keel__hello h = {.pid = (uint32_t)getpid(), .core = keel__core,
                   .host = keel__host,
                   .node = (char *)keel__node_id(node, sizeof node)};
  keel__wr_hello(&b, &h, false);
  send_master(&b);
}

/* Let the last messages (BYE, CLOSED) reach the master, within reason. */
static void flush_sends(void)
{
  double deadline = keel__now() + 5.0;
  while (!keel__sendq_empty(&sends) && keel__now() < deadline) {
    keel__sendq_test(&sends);
    keel__sleep(1e-4);
  }
}

void keel__nanny_main(void *commp)
{
  keel__backoff bo;
  comm = *(MPI_Comm *)commp;
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  signal(SIGPIPE, SIG_IGN);
  keel__strays_init();
  bell = keel__doorbell_open();
  last_heard = keel__now();
  hello();
  keel__backoff_reset(&bo);
  while (!stopping) {
    double now = keel__now();
    int act = receive();
    for (int i = 0; i < MAX_SLOTS; i++)
      if (slots[i])
        act += step_slot(slots[i], now);
    keel__sendq_test(&sends); /* completions are not activity */
    if (now - last_sent > HEARTBEAT_EVERY)
      send_simple(KEEL__M_HEARTBEAT, 0);
    check_master(now);
    if (act)
      keel__backoff_reset(&bo);
    else if (sleep_on_children(keel__backoff_next(&bo, quiet())))
      keel__backoff_reset(&bo); /* the ring may beat the message: spin */
  }
  for (int i = 0; i < MAX_SLOTS; i++)
    if (slots[i])
      close_slot(slots[i]);
  send_simple(KEEL__M_BYE, 0);
  flush_sends();
  MPI_Comm_free(&comm);
  if (!no_finalize)
    MPI_Finalize();
  exit(0);
}
