/* slot.c: one executor as a nanny serves it.  A slot keeps one task
 * process (spawn.c), feeds it tasks over a socket, reads results back,
 * watches it through a pidfd, a shared page (which task runs, since when)
 * and its RSS, and reports its death to the master with the signal or exit
 * status, the task id and the backtrace its crash handler wrote.  Then it
 * starts a fresh one. */
#include "worker/worker.h"
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MEM_CHECK_EVERY 1e-3 /* seconds between RSS reads */
#define RETIRE_GRACE 5.0     /* seconds a retiring child gets to exit */
#define MAX_STRAY_DEATHS 3 /* deaths outside any task before giving up */
/* Estimated seconds of work offered in the ring ahead of need: as much as
 * the master's window, so that the task process never waits for its
 * nanny, which shares its core and may not run for milliseconds while it
 * computes.  One ring slot takes tasks while their estimated work stays
 * under SLOT_WORK: the task process takes a slot whole, so that is what
 * it may hold that a RECALL cannot take back.  A task whose function this
 * slot has not timed counts as UNTIMED_WORK. */
#define RING_WORK 10e-3
#define SLOT_WORK 200e-6
#define UNTIMED_WORK 1e-3
#define WARM_AFTER 5e-3    /* seconds after a death to start a warm child */

typedef struct ntask {
  uint64_t id, fn;
  char *enc; /* the task as encoded on the wire (NULL: in fd) */
  void *mem; /* what to free: a copy of enc, or the message it lies in */
  int fd;    /* or its message, msglen bytes at off in this memfd
                (shmbuf.c), which the task process maps */
  uint32_t off, msglen;
  uint32_t len;
  double est; /* its estimate when handed over or offered (held) */
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
  /* A large task written from its queue entry, not copied into wout: it
   * goes after wout's first ext_at bytes (write_child). */
  const char *ext;
  size_t ext_len, ext_pos, ext_at;
  double mem_checked;
  keel__lines lines; /* its stdout and stderr */
} child;

typedef struct keel__slot {
  keel__nanny *n; /* its nanny */
  uint32_t exec;
  keel__xopts o;
  void *initarg;
  bool dead; /* broken by a crash or a failed initializer: wait for CLOSE */
  child c;
  ntask *q;  /* unanswered tasks, oldest first (a ring) */
  size_t qh, qn, qcap, nfwd;
  keel_buf res; /* RESULTS being gathered for the master */
  uint32_t nres;
  keel__outbox out; /* OUTPUT being gathered, sent before the results */
  double idle_since;
  int stray_deaths; /* task processes lost outside a task, in a row */
  double warm_at;   /* > 0: start a warm task process then */
  keel__estimates est; /* each task function's run time, from results */
  /* the ring (ring_sync()): slots offered up to ring_put, the taken ones
   * counted in nfwd up to ring_counted, free again up to ring_free; the
   * tasks in offered slots not counted yet are q[nfwd, nfwd + ring_tasks) */
  uint64_t ring_put, ring_counted, ring_free;
  size_t ring_tasks;
  uint64_t chan_sent; /* tasks sent on the channel (shm chan_read) */
  uint64_t msgs_sent; /* TASKS messages sent on it (shm chan_msgs) */
  double held; /* estimated work handed over (q[0, nfwd)) and offered */
} slot;

/* ---- the queue of a slot ---- */

static ntask *q_at(slot *s, size_t i)
{
  return &s->q[(s->qh + i) % s->qcap];
}

/* Queue a task: enc copied, or when own is not NULL, enc lies in own,
 * which the entry takes (a large task's message, not copied). */
static int q_push(slot *s, uint64_t id, uint64_t fn, const void *enc,
                  size_t len, void *own)
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
  char *copy = own ? (char *)enc : malloc(len);
  if (!copy)
    return KEEL_ENOMEM;
  if (!own)
    memcpy(copy, enc, len);
  *q_at(s, s->qn++) = (ntask){.id = id, .fn = fn, .enc = copy,
                              .mem = own ? own : copy, .fd = -1,
                              .len = (uint32_t)len};
  return KEEL_OK;
}

static void entry_free(ntask *t)
{
  free(t->mem);
  if (t->fd >= 0)
    keel__shmbuf_close(t->fd);
}

/* Remove entry i, keeping the order of the others. */
static void q_remove(slot *s, size_t i)
{
  keel__assert(i < s->qn && s->nfwd <= s->qn);
  /* Only a dead task process leaves a forwarded task unread. */
  keel__assert(!q_at(s, i)->enc || q_at(s, i)->enc != s->c.ext ||
               !s->c.pid);
  if (q_at(s, i)->enc && q_at(s, i)->enc == s->c.ext)
    s->c.ext = NULL;
  entry_free(q_at(s, i));
  for (; i > 0; i--)
    *q_at(s, i) = *q_at(s, i - 1);
  s->qh = (s->qh + 1) % s->qcap;
  s->qn--;
}

static void q_clear(slot *s)
{
  s->nfwd = 0;
  s->held = 0;
  while (s->qn)
    q_remove(s, 0);
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
  for (int i = 0; i < 2; i++) { /* what was not sent on is dropped */
    if (c->lines.fd[i] >= 0)
      close(c->lines.fd[i]);
    keel__buf_free(&c->lines.part[i]);
  }
  keel__lines_init(&c->lines);
}

static void child_init(child *c)
{
  memset(c, 0, sizeof *c);
  c->chan = c->crash = c->pidfd = -1; /* 0 is a valid fd */
  keel__lines_init(&c->lines);
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

/* A slot's task process gone or to be replaced: its page, and with it
 * the ring, go too. */
static void slot_child_reset(slot *s)
{
  child_reset(&s->c);
  s->ring_put = s->ring_counted = s->ring_free = s->chan_sent = 0;
  s->ring_tasks = 0;
  s->msgs_sent = 0;
  s->held = 0; /* its unanswered tasks go to the next one */
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

static int flush_results(slot *s);

/* A death, after the results gathered before it: the master must count
 * them as done before it breaks the executor. */
static void report(slot *s, uint64_t task, int cause, int sig, int status,
                   const char *msg, const char *bt)
{
  keel__death d = {task, cause, sig, status, (char *)msg, (char *)bt,
                   s->c.pid > 0 ? s->c.pid : 0};
  flush_results(s);
  keel__uplink_death(s->n, s->exec, &d);
  keel__sendq_test(&s->n->sends); /* out before the slow /proc sweep */
}

static int spawn_child(slot *s)
{
  child *c = &s->c;
  int sv[2] = {-1, -1}, cp[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1};
  int mfd = -1;
  slot_child_reset(s);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
      pipe2(cp, O_CLOEXEC) < 0 || pipe2(po, O_CLOEXEC) < 0 ||
      pipe2(pe, O_CLOEXEC) < 0 || !(c->shm = map_shm(&mfd)) ||
      (c->pid = keel__spawn_task(sv[1], cp[1], mfd, po[1], pe[1])) < 0) {
    char *why = keel__error_printf("cannot start a task process: %s",
                                    strerror(errno));
    int *all[4] = {sv, cp, po, pe};
    for (int k = 0; k < 4; k++)
      for (int i = 0; i < 2; i++)
        if (all[k][i] >= 0)
          close(all[k][i]);
    if (mfd >= 0)
      close(mfd);
    slot_child_reset(s);
    report(s, 0, KEEL__C_SPAWN, 0, -1, why, NULL);
    free(why);
    s->dead = true;
    q_clear(s);
    return -1;
  }
  close(sv[1]);
  close(cp[1]);
  close(po[1]);
  close(pe[1]);
  close(mfd);
  c->chan = sv[0];
  c->crash = cp[0];
  keel__lines_open(&c->lines, po[0], pe[0]);
  fcntl(c->chan, F_SETFL, O_NONBLOCK);
  fcntl(c->crash, F_SETFL, O_NONBLOCK);
  c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
  keel__wire_put_open(&c->wout, s->exec, &s->o); /* first: its settings */
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

/* A task's estimated run time, for RING_WORK. */
static double est_of(const slot *s, const ntask *t)
{
  double e = keel__estimate_get(&s->est, t->fn);
  return e > 0 ? e : UNTIMED_WORK;
}

/* t is handed over or offered: its estimate now counts as held. */
static void hold(slot *s, ntask *t)
{
  t->est = est_of(s, t);
  s->held += t->est;
}

/* t is answered or taken back. */
static void unhold(slot *s, const ntask *t)
{
  s->held -= t->est;
  if (s->held < 0 || (s->nfwd == 0 && s->ring_tasks == 0))
    s->held = 0; /* no drift when nothing is held */
}

/* ---- the ring (proto/channel.h) ---- */

static struct keel__ring_slot *ring_at(const child *c, uint64_t seq)
{
  return &c->shm->ring[seq % KEEL__RING_SLOTS];
}

static uint32_t ring_state(const child *c, uint64_t seq)
{
  return atomic_load(&ring_at(c, seq)->state);
}

/* Tasks the task process took from the ring are forwarded now (they are
 * q[nfwd...] in order); slots it has copied out are free again. */
static void ring_sync(slot *s)
{
  child *c = &s->c;
  if (!c->shm)
    return;
  while (s->ring_counted < s->ring_put &&
         ring_state(c, s->ring_counted) >= KEEL__MB_TAKEN) {
    uint32_t n = ring_at(c, s->ring_counted)->count;
    keel__assert(n <= s->ring_tasks && s->nfwd + n <= s->qn);
    s->nfwd += n;
    s->ring_tasks -= n;
    c->served += (int)n;
    s->ring_counted++;
  }
  while (s->ring_free < s->ring_counted &&
         ring_state(c, s->ring_free) == KEEL__MB_COPIED) {
    atomic_store(&ring_at(c, s->ring_free)->state, KEEL__MB_EMPTY);
    s->ring_free++;
  }
}

/* Take back every offer not taken yet, newest first: the task process
 * takes in order, so the first one it took ends the search. */
static void ring_withdraw(slot *s)
{
  child *c = &s->c;
  while (c->shm && s->ring_put > s->ring_counted) {
    struct keel__ring_slot *r = ring_at(c, s->ring_put - 1);
    uint32_t offered = KEEL__MB_OFFERED;
    if (!atomic_compare_exchange_strong(&r->state, &offered, KEEL__MB_EMPTY))
      break;
    s->ring_put--; /* its tasks are the last r->count offered */
    keel__assert(r->count <= s->ring_tasks);
    s->ring_tasks -= r->count;
    for (uint32_t i = 0; i < r->count; i++)
      unhold(s, q_at(s, s->nfwd + s->ring_tasks + i));
  }
  ring_sync(s);
}

/* Whether the next task not handed over or offered may go in the ring
 * now (slot r holding n tasks of `bytes` so far). */
static bool ring_takes(slot *s, const ntask *t, uint32_t n, size_t bytes,
                       double work)
{
  if (bytes + t->len > KEEL__RING_BYTES ||
      (s->o.max_tasks > 0 &&
       s->c.served + (int)(s->ring_tasks + n) >= s->o.max_tasks))
    return false;
  return n == 0 || work + est_of(s, t) <= SLOT_WORK;
}

/* Offer the next tasks of the queue, slot after slot, while the estimated
 * work the task process has (forwarded and offered) stays under RING_WORK.
 * Only once it has read every task sent on its channel: it runs those
 * before it looks at the ring again, so the ring's come after them, in
 * queue order. */
static void ring_fill(slot *s)
{
  child *c = &s->c;
  if (!c->shm || atomic_load(&c->shm->chan_read) != s->chan_sent)
    return;
  while (s->nfwd + s->ring_tasks < s->qn && s->held < RING_WORK &&
         s->ring_put - s->ring_free < KEEL__RING_SLOTS &&
         ring_state(c, s->ring_put) == KEEL__MB_EMPTY) {
    struct keel__ring_slot *r = ring_at(c, s->ring_put);
    uint32_t n = 0;
    size_t bytes = 0;
    double work = 0;
    ntask *t;
    while (s->nfwd + s->ring_tasks + n < s->qn &&
           ring_takes(s, t = q_at(s, s->nfwd + s->ring_tasks + n), n, bytes,
                      work)) {
      memcpy(r->task + bytes, t->enc, t->len);
      bytes += t->len;
      hold(s, t);
      work += t->est;
      n++;
    }
    if (n == 0)
      return; /* too big for a slot, or used up */
    r->count = n;
    r->len = (uint32_t)bytes;
    atomic_store(&r->state, KEEL__MB_OFFERED);
    s->ring_put++;
    s->ring_tasks += n;
  }
}

/* Account for n tasks handed to the task process on the channel. */
static void handed(slot *s, size_t n)
{
  s->nfwd += n;
  s->c.served += (int)n;
  s->chan_sent += n; /* the ring waits until it has read them */
  s->msgs_sent++;
}

/* A task whose message lies in a memfd (shmbuf.c): TASKFD names the
 * descriptor, which the task process opens through /proc and maps. */
static void send_taskfd(slot *s, ntask *t)
{
  child *c = &s->c;
  size_t off = c->wout.len;
  keel__wire_put_hdr(&c->wout, KEEL__M_TASKFD, s->exec, 0);
  keel__wire_put_u64(&c->wout, t->id);
  keel__wire_put_u32(&c->wout, (uint32_t)t->fd);
  keel__wire_put_u32(&c->wout, t->off);
  keel__wire_put_u32(&c->wout, t->msglen);
  keel__wire_finish(&c->wout, off, 1);
  hold(s, t);
  handed(s, 1);
}

/* One TASKS message on the channel of the n tasks after those handed
 * over: n = 0 is a wake-up (the task process looks at the ring again). */
static void send_tasks(slot *s, size_t n)
{
  child *c = &s->c;
  if (n == 1 && q_at(s, s->nfwd)->fd >= 0) {
    send_taskfd(s, q_at(s, s->nfwd));
    return;
  }
  size_t off = c->wout.len;
  keel__wire_put_hdr(&c->wout, KEEL__M_TASKS, s->exec, 0);
  ntask *big = n == 1 && !c->ext && q_at(s, s->nfwd)->len >= KEEL__TAKE_MIN
                   ? q_at(s, s->nfwd)
                   : NULL;
  for (size_t i = 0; i < n; i++) {
    ntask *t = q_at(s, s->nfwd + i);
    if (t != big)
      keel_buf_append(&c->wout, t->enc, t->len);
    hold(s, t);
  }
  keel__wire_finish_plus(&c->wout, off, (uint32_t)n, big ? big->len : 0);
  if (big) { /* written from its entry, which stays until its result */
    c->ext = big->enc;
    c->ext_len = big->len;
    c->ext_pos = 0;
    c->ext_at = c->wout.len;
  }
  handed(s, n);
}

/* Hand the task process its next tasks: in the ring, which the nanny can
 * take back, and a wake-up on the channel when it may be blocked there
 * (it holds nothing) with offers it has not taken.  A task too big for a
 * ring slot goes on the channel alone, once it holds nothing. */
static int forward(slot *s)
{
  child *c = &s->c;
  keel__assert(s->nfwd <= s->qn);
  if (s->dead || s->nfwd == s->qn || c->retire_at > 0 || c->kill_cause)
    return 0;
  if (!c->pid && spawn_child(s) < 0)
    return 1;
  ring_sync(s);
  bool idle = s->nfwd == 0 && !atomic_load(&c->shm->task_id);
  if (s->nfwd + s->ring_tasks < s->qn &&
      q_at(s, s->nfwd + s->ring_tasks)->len > KEEL__RING_BYTES) {
    if (!idle || s->ring_tasks ||
        (s->o.max_tasks > 0 && c->served >= s->o.max_tasks))
      return 0; /* behind what it holds; or used up: it retires */
    send_tasks(s, 1);
    return 1;
  }
  ring_fill(s);
  if (idle && s->ring_tasks &&
      atomic_load(&c->shm->chan_msgs) == s->msgs_sent) {
    send_tasks(s, 0); /* one wake-up in flight at a time */
    return 1;
  }
  return 0;
}

/* Send what it can of p[*pos, end): false once the channel is full. */
static bool write_some(child *c, const char *p, size_t *pos, size_t end)
{
  while (*pos < end) {
    ssize_t n = send(c->chan, p + *pos, end - *pos,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0)
      return false; /* full, or the child is dying: waitpid will tell */
    *pos += (size_t)n;
  }
  return true;
}

/* wout, with the large task in ext (if any) after its first ext_at
 * bytes. */
static int write_child(child *c)
{
  size_t wpos = c->wpos, epos = c->ext_pos;
  if (c->pid && c->ext && write_some(c, c->wout.data, &c->wpos, c->ext_at) &&
      write_some(c, c->ext, &c->ext_pos, c->ext_len))
    c->ext = NULL;
  if (c->pid && !c->ext)
    write_some(c, c->wout.data, &c->wpos, c->wout.len);
  if (!c->ext && c->wpos == c->wout.len) {
    keel__buf_reset(&c->wout);
    c->wpos = 0;
  }
  return c->wpos != wpos || c->ext_pos != epos;
}

/* ---- results from the task process ---- */

/* Send the output and then the results gathered so far, if any: 1 if it
 * did.  Output first: a task's lines are printed before its future is
 * done. */
static int flush_results(slot *s)
{
  int sent = 0;
  if (s->out.n) {
    keel__wire_finish(&s->out.msg, 0, s->out.n);
    keel__uplink_send(s->n, &s->out.msg, true);
    s->out.n = 0;
    sent = 1;
  }
  if (!s->nres)
    return sent;
  keel__wire_finish(&s->res, 0, s->nres);
  keel__uplink_send(s->n, &s->res, true);
  s->nres = 0;
  return 1;
}

/* Gather r for the master.  A large one goes alone, after what was
 * gathered; when *own holds its message as the task process sent it
 * (msg, n bytes inside it), that goes on as it is, not copied. */
static void add_result(slot *s, const keel__result *r, char *msg, size_t n,
                       char **own)
{
  bool alone = r->len >= KEEL__RESULT_ALONE;
  if (alone)
    flush_results(s);
  if (alone && *own) {
    memcpy(msg + 8, &s->exec, 4); /* the task process does not know it */
    keel__uplink_send_own(s->n, msg, n, *own);
    *own = NULL;
    return;
  }
  if (s->nres == 0)
    keel__wire_put_hdr(&s->res, KEEL__M_RESULTS, s->exec, 0);
  keel__wire_put_result(&s->res, r);
  s->nres++;
  if (alone)
    flush_results(s);
}

static int on_child_results(slot *s, const keel__wire_hdr *h,
                            keel__wire_rd *rd, char *msg, size_t n,
                            char **own)
{
  for (uint32_t i = 0; i < h->count; i++) {
    keel__result r;
    ring_sync(s); /* a result may be of a task taken from the ring */
    if (keel__wire_get_result(rd, &r) || s->nfwd == 0 || q_at(s, 0)->id != r.id)
      return KEEL_EPROTO;
    keel__estimate_note(&s->est, q_at(s, 0)->fn, r.runtime_us * 1e-6);
    if (s->c.shm && atomic_load(&s->c.shm->out_task) == r.id)
      keel__lines_end(&s->c.lines, s->c.shm, r.id, &s->out); /* first */
    add_result(s, &r, msg, n, own);
    s->nfwd--;
    unhold(s, q_at(s, 0));
    q_remove(s, 0);
    s->stray_deaths = 0;
  }
  if (s->qn == 0)
    s->idle_since = keel__clock_now();
  return KEEL_OK;
}

/* One message of the task process, m[0..n); *own, when set, is the
 * buffer m lies in, which a large result may take. */
static int on_child_msg(slot *s, char *m, size_t n, char **own)
{
  keel__wire_hdr h;
  const char *why;
  keel__wire_rd rd;
  if (keel__wire_check(m, n, &h, &why))
    return KEEL_EPROTO;
  keel__wire_reader(&rd, m + KEEL__WIRE_HDR, h.len);
  if (h.type == KEEL__M_RESULTS)
    return on_child_results(s, &h, &rd, m, n, own);
  if (h.type == KEEL__M_INITFAIL) {
    free(s->c.initmsg);
    s->c.initmsg = keel__wire_get_str(&rd);
    return rd.err ? KEEL_EPROTO : KEEL_OK;
  }
  return KEEL_EPROTO;
}

/* A message of one large result, to be sent on as it came: rin's buffer
 * becomes *own (the message at pos in it), and rin starts again with what
 * followed the message.  False when it cannot (no memory: copied, then). */
static bool detach_result(child *c, size_t pos, size_t n, char **own)
{
  keel_buf rest = {0};
  uint32_t count;
  memcpy(&count, c->rin.data + pos + 12, 4);
  if (n < KEEL__WIRE_HDR + 20 + KEEL__RESULT_ALONE || count != 1 ||
      c->rin.data[pos + 5] != KEEL__M_RESULTS ||
      keel__buf_reserve(&rest, c->rin.len - pos - n + 1))
    return false;
  keel_buf_append(&rest, c->rin.data + pos + n, c->rin.len - pos - n);
  *own = c->rin.data;
  c->rin = rest;
  return true;
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
    size_t n = KEEL__WIRE_HDR + (size_t)len;
    if (c->rin.len - pos < n)
      break;
    char *own = NULL, *m = c->rin.data + pos;
    if (detach_result(c, pos, n, &own))
      pos = 0; /* rin is what came after m */
    else
      pos += n;
    int rc = on_child_msg(s, m, n, &own);
    free(own); /* not taken: an error, or not a large result after all */
    if (rc) {
      kill_child(c, KEEL__C_PROTO, s->nfwd ? q_at(s, 0)->id : 0);
      pos = c->rin.len;
      break;
    }
  }
  if (pos > 0) {
    memmove(c->rin.data, c->rin.data + pos, c->rin.len - pos);
    c->rin.len -= pos;
  }
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

/* What read_child() reads: a mask of the task process's fds. */
enum { R_CHAN = 1, R_CRASH = 2, R_OUT = 4, R_ERR = 8, R_EXIT = 16,
       R_ALL = 31 };

/* Which of its fds have something, in one poll() a turn rather than a
 * read (or waitpid) on each: the loop stays short, and with it the time
 * it takes to see a result. */
static unsigned ready(const child *c)
{
  struct pollfd p[5] = {{c->chan, POLLIN, 0}, {c->crash, POLLIN, 0},
                        {c->lines.fd[0], POLLIN, 0},
                        {c->lines.fd[1], POLLIN, 0},
                        {c->pidfd, POLLIN, 0}};
  unsigned mask = c->pidfd < 0 ? R_EXIT : 0; /* no pidfd: waitpid always */
  if (poll(p, 5, 0) <= 0)
    return mask;
  for (int i = 0; i < 5; i++)
    if (p[i].revents)
      mask |= 1u << i;
  return mask;
}

static int read_child(slot *s, unsigned which)
{
  child *c = &s->c;
  if (!c->pid)
    return 0;
  /* Its lines first, while the task that wrote them is still marked in
   * the shared page. */
  int act = keel__lines_read(&c->lines, c->shm, (which / R_OUT) & 3,
                             &s->out);
  if (which & R_CHAN)
    act |= drain(c->chan, &c->rin);
  if (act)
    parse_child(s);
  if (which & R_CRASH)
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
                  : keel__error_printf("task process died while starting "
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
    return keel__error_printf("memory_limit of %llu bytes exceeded (RSS "
                               "%zu bytes)",
                               (unsigned long long)s->o.memory_limit,
                               c->kill_rss);
  if (c->kill_cause == KEEL__C_PROTO)
    return strdup("it sent a malformed message");
  return NULL;
}

/* A task process has ended, its group already killed by the caller: the
 * children it left outside that group go too. */
static void kill_leftovers(keel__nanny *n, pid_t gone)
{
  pid_t keep[KEEL__MAX_SLOTS];
  int k = 0;
  for (int i = 0; i < KEEL__MAX_SLOTS; i++)
    if (n->slots[i] && n->slots[i]->c.pid && n->slots[i]->c.pid != gone)
      keep[k++] = n->slots[i]->c.pid;
  keel__children_kill(keep, k);
}

/* What the crash handler wrote (raw frames and maps) as the backtrace
 * people read.  Here, after the death, not while the task process lives:
 * it has re-raised its signal and is gone, so nothing waits on this. */
static void symbolize_bt(child *c)
{
  if (!c->bt.len)
    return;
  char *text = keel__symbolize(c->bt.data, c->bt.len);
  keel__buf_reset(&c->bt);
  if (text)
    keel_buf_append(&c->bt, text, strlen(text));
  free(text);
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
  read_child(s, R_ALL); /* results written before it died still count */
  ring_sync(s);          /* the task it died in may be the ring's */
  keel__lines_close(&c->lines, c->shm, &s->out);
  symbolize_bt(c);
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
      s->nfwd--; /* it had been forwarded (q_find looks there only) */
      if (s->o.on_crash == KEEL_ON_CRASH_BREAK && cause != KEEL__C_DEADLINE) {
        s->dead = true;
        q_clear(s);
      }
    } else if (s->nfwd && ++s->stray_deaths >= MAX_STRAY_DEATHS) {
      /* It dies with work in hand but outside any task, again and again:
       * restarting it would loop for ever. */
      char *why = keel__error_printf("the task process died %d times in a "
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
  kill_leftovers(s->n, c->pid);
  slot_child_reset(s);
  s->nfwd = 0; /* unanswered tasks go to the next task process */
  /* A warm task process, but not at once: its exec and dynamic linking
   * would take the core from the master reading the report just sent. */
  if (!s->dead && s->qn == 0 && s->o.idle_timeout == 0 && !s->n->stopping)
    s->warm_at = keel__clock_now() + WARM_AFTER;
}

static int check_exit(slot *s, unsigned which)
{
  int status;
  if (!s->c.pid || !(which & R_EXIT) ||
      waitpid(s->c.pid, &status, WNOHANG) != s->c.pid)
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

int keel__slot_step(keel__nanny *n, keel__slot *s, double now)
{
  keel__assert(s->n == n);
  unsigned which = s->c.pid ? ready(&s->c) : 0;
  int act = read_child(s, which);
  act += check_exit(s, which);
  act += forward(s);
  act += write_child(&s->c);
  watch(s, now);
  maybe_retire(s, now);
  if (s->warm_at > 0 && now >= s->warm_at) {
    s->warm_at = 0;
    if (!s->c.pid && !s->dead && !n->stopping)
      act += spawn_child(s) >= 0;
  }
  return flush_results(s) ? 1 : act;
}

/* ---- the nanny's requests ---- */

keel__slot *keel__slot_find(keel__nanny *n, uint32_t exec)
{
  for (int i = 0; i < KEEL__MAX_SLOTS; i++)
    if (n->slots[i] && n->slots[i]->exec == exec)
      return n->slots[i];
  return NULL;
}

void keel__slot_close(keel__nanny *n, keel__slot *s)
{
  if (s->c.pid) {
    kill(-s->c.pid, SIGKILL);
    kill(s->c.pid, SIGKILL);
    waitpid(s->c.pid, NULL, 0);
    kill_leftovers(n, s->c.pid);
    keel__lines_close(&s->c.lines, s->c.shm, &s->out); /* its last lines */
    flush_results(s);
  }
  slot_child_reset(s);
  q_clear(s);
  free(s->q);
  keel__buf_free(&s->res);
  keel__buf_free(&s->out.msg);
  keel__estimate_free(&s->est);
  free(s->initarg);
  for (int i = 0; i < KEEL__MAX_SLOTS; i++)
    if (n->slots[i] == s)
      n->slots[i] = NULL;
  free(s);
}

void keel__slot_open(keel__nanny *n, const keel__wire_hdr *h,
                     keel__wire_rd *rd)
{
  keel__xopts o;
  int i = 0;
  while (i < KEEL__MAX_SLOTS && n->slots[i])
    i++;
  const char *why = keel__wire_get_open(rd, &o) ? "malformed OPEN message"
                    : keel__slot_find(n, h->exec) ? "second OPEN for it"
                    : i == KEEL__MAX_SLOTS ? "too many executors at once"
                                           : NULL;
  slot *s = why ? NULL : calloc(1, sizeof *s);
  if (!why && (!s || (o.initarg_len && !(s->initarg = malloc(o.initarg_len)))))
    why = "out of memory";
  if (why) { /* tell the master, or its futures would wait for ever */
    char *msg = keel__error_printf("worker cannot serve executor %u: %s",
                                    h->exec, why);
    keel__death d = {0, KEEL__C_SPAWN, 0, -1, msg ? msg : (char *)why, NULL,
                     0};
    keel__log("%s", d.message);
    keel__uplink_death(n, h->exec, &d);
    free(msg);
    free(s);
    return;
  }
  if (o.initarg_len)
    memcpy(s->initarg, o.initarg, o.initarg_len);
  o.initarg = s->initarg;
  s->n = n;
  s->exec = s->out.exec = h->exec;
  s->o = o;
  s->idle_since = keel__clock_now();
  child_init(&s->c);
  n->slots[i] = s;
  spawn_child(s); /* warm: the first task need not wait for exec */
}

void keel__slot_tasks(keel__nanny *n, const keel__wire_hdr *h,
                      keel__wire_rd *rd, char **msg)
{
  slot *s = keel__slot_find(n, h->exec);
  for (uint32_t i = 0; s && i < h->count; i++) {
    keel__task t;
    size_t start = rd->pos;
    if (keel__wire_get_task(rd, &t)) {
      keel__log("malformed TASKS message for executor %u", h->exec);
      return;
    }
    if (s->dead)
      continue;
    size_t len = rd->pos - start;
    /* A message of one large task is that task: kept, not copied. */
    void *own = h->count == 1 && len >= KEEL__TAKE_MIN ? *msg : NULL;
    if (q_push(s, t.id, t.fn, rd->p + start, len, own)) {
      keel__log("out of memory queueing task %llu",
                (unsigned long long)t.id);
      continue;
    }
    if (!own)
      continue;
    *msg = NULL;
    ntask *e = q_at(s, s->qn - 1);
    uint32_t off;
    int fd = keel__shmbuf_keep(own, &off); /* our view of it goes */
    if (fd >= 0)
      *e = (ntask){.id = e->id, .fn = e->fn, .fd = fd, .off = off,
                   .msglen = KEEL__WIRE_HDR + h->len, .len = e->len};
  }
}

/* RECALL: the master takes back up to h->count of the tasks that have
 * not started, the last ones first (they would have waited longest); the
 * answer lists them in their order.  Those handed to the task process
 * stay: they may have started. */
void keel__slot_recall(keel__nanny *n, const keel__wire_hdr *h)
{
  slot *s = keel__slot_find(n, h->exec);
  if (s)
    ring_withdraw(s); /* what it took first stays */
  size_t spare = s ? s->qn - s->nfwd : 0;
  if (h->count < spare)
    spare = h->count;
  keel_buf b = {0};
  keel__wire_put_hdr(&b, KEEL__M_RECALLED, h->exec, 0);
  for (size_t i = s ? s->qn - spare : 0; s && i < s->qn; i++)
    keel__wire_put_u64(&b, q_at(s, i)->id);
  for (size_t i = 0; i < spare; i++) { /* off the tail: nothing moves */
    entry_free(q_at(s, s->qn - 1));
    s->qn--;
  }
  keel__wire_finish(&b, 0, (uint32_t)spare);
  keel__uplink_send(n, &b, true);
}

bool keel__slot_quiet(const keel__slot *s)
{
  return !(s->qn || s->c.wout.len || s->c.retire_at > 0 || s->nres ||
           s->out.n || s->warm_at > 0);
}

int keel__slot_pollfds(const keel__slot *s, struct pollfd *fds)
{
  const child *c = &s->c;
  int k = 0;
  if (!c->pid)
    return 0;
  fds[k++] = (struct pollfd){c->chan, POLLIN | (c->wout.len ? POLLOUT : 0),
                             0};
  fds[k++] = (struct pollfd){c->crash, POLLIN, 0};
  if (c->pidfd >= 0)
    fds[k++] = (struct pollfd){c->pidfd, POLLIN, 0};
  for (int i = 0; i < 2; i++)
    if (c->lines.fd[i] >= 0)
      fds[k++] = (struct pollfd){c->lines.fd[i], POLLIN, 0};
  return k;
}
