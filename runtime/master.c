/* master.c: the manager thread on rank 0.  It alone calls MPI after
 * keel_init(): it takes submissions from user threads, runs each executor's
 * dispatch, receives results and crash reports, watches heartbeats and stops
 * the worker ranks at keel_finalize().  It never blocks in MPI: receives are
 * matched with MPI_Improbe and completed with MPI_Imrecv, sends are
 * nonblocking, and a request to a rank declared lost is simply abandoned. */
#include "keel_int.h"
#include "mpiq.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STOP_TIMEOUT 10.0              /* seconds to wait for BYE */
#define HEARTBEAT_EVERY 0.5            /* seconds between our heartbeats */

keel__runtime keel__rt = {.lock = PTHREAD_MUTEX_INITIALIZER,
                          .ucond = PTHREAD_COND_INITIALIZER};

static keel__sendq sends;
static double heartbeat_timeout = KEEL__HEARTBEAT_TIMEOUT;
static int wake_fd = -1; /* user threads wake the manager thread with it */
static int bell = -1;    /* nannies on this node ring it (doorbell.c) */

/* ---- batch completion of futures ---- */

typedef struct done {
  keel_future *f;
  keel__cb *cbs;
} done;
static done *dv;
static size_t dn, dcap;
static int batch_depth;

void keel__batch_begin(void)
{
  if (batch_depth++ == 0)
    pthread_mutex_lock(&keel__flock);
}

static void push_done(keel_future *f, keel__cb *cbs)
{
  if (dn == dcap) {
    size_t cap = dcap ? dcap * 2 : 256;
    done *v = realloc(dv, cap * sizeof *v);
    if (!v) { /* cannot defer: keep the reference rather than crash */
      keel__log("out of memory completing futures");
      return;
    }
    dv = v;
    dcap = cap;
  }
  dv[dn++] = (done){f, cbs};
}

void keel__batch_finish(keel_future *f, int code, char *data, size_t len,
                        const keel_error *e)
{
  keel__cb *cbs = NULL;
  keel__future_finish_locked(f, code, data, len, e, &cbs);
  push_done(f, cbs);
}

void keel__batch_drop(keel_future *f)
{
  push_done(f, NULL);
}

void keel__batch_end(void)
{
  if (--batch_depth > 0)
    return;
  pthread_mutex_unlock(&keel__flock);
  if (dn == 0)
    return;
  pthread_cond_broadcast(&keel__fcond);
  for (size_t i = 0; i < dn; i++) {
    keel__run_cbs(dv[i].f, dv[i].cbs);
    keel_future_release(dv[i].f); /* the executor's reference */
  }
  dn = 0;
}

/* ---- MPI transport ---- */

static int post(int rank, keel_buf *b)
{
  int crank;
  MPI_Comm c = keel__rank_comm(rank, &crank);
  return keel__sendq_post(&sends, c, crank, rank, b);
}

/* Send b to rank; work (not a heartbeat) also rings the bell of a nanny
 * on our node, which may be napping (doorbell.c). */
static void send_to(int rank, keel_buf *b, bool work)
{
  keel__rank *k = &keel__rt.ranks[rank];
  if (k->lost) {
    keel__buf_free(b);
    return;
  }
  if (post(rank, b)) {
    keel__rank_fail(rank, "a send to it failed");
    return;
  }
  if (work && k->pidfd >= 0)
    keel__doorbell_ring(k->pid);
}

void keel__send(int rank, keel_buf *b)
{
  send_to(rank, b, true);
}

/* Match what arrived on one group's communicator; its rank 1 is global
 * rank base.  Not activity yet: complete_receives() tells work from
 * heartbeats. */
static void post_group(MPI_Comm c, int base)
{
  for (int i = 0; i < 256; i++) {
    int flag = 0, bytes = 0;
    MPI_Message m;
    MPI_Status st;
    if (MPI_Improbe(MPI_ANY_SOURCE, KEEL__MPI_TAG, c, &flag, &m, &st) !=
            MPI_SUCCESS || !flag)
      break;
    int rank = base + st.MPI_SOURCE - 1; /* only workers send to us */
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    if (keel__recvq_post(keel__rank_recvq(rank), &m, bytes))
      keel__rank_fail(rank, "out of memory receiving from it");
  }
}

static void post_receives(void)
{
  int base, n;
  for (int g = 0; g < keel__ranks_groups(); g++) {
    MPI_Comm c = keel__ranks_group(g, &base, &n);
    post_group(c, base);
  }
}

/* Nothing matched and still arriving. */
static bool receives_idle(void)
{
  for (int r = 1; r < keel__rt.nranks; r++)
    if (!keel__rt.ranks[r].lost && !keel__recvq_empty(keel__rank_recvq(r)))
      return false;
  return true;
}

static bool handle(int rank, char **buf, size_t n);

/* Handle each rank's completed receives in order: how many were work. */
static int complete_receives(void)
{
  int act = 0, n;
  char *buf;
  for (int r = 1; r < keel__rt.nranks; r++) {
    keel__rank *k = &keel__rt.ranks[r];
    while (!k->lost && (buf = keel__recvq_pop(keel__rank_recvq(r), &n))) {
      k->last_heard = keel__now();
      act += handle(r, &buf, (size_t)n);
      free(buf); /* NULL if a future took it */
    }
  }
  return act;
}

/* ---- messages from nannies ---- */

static keel_executor *find_exec(uint32_t id)
{
  for (keel_executor *ex = keel__rt.execs; ex; ex = ex->next)
    if (ex->id == id)
      return ex;
  return NULL;
}

/* The master's half of the lifeline: its pid, node and heartbeat timeout,
 * so that a nanny can watch it as it watches the nanny. */
static void send_hello(int rank)
{
  char node[128];
  keel_buf b = {0};
  keel__hello h = {.pid = (uint32_t)getpid(), .timeout = heartbeat_timeout,
                   .node = (char *)keel__node_id(node, sizeof node)};
  keel__wr_hello(&b, &h, true);
  keel__send(rank, &b);
}

static void send_heartbeats(void)
{
  for (int r = 1; r < keel__rt.nranks; r++) {
    keel_buf b = {0};
    keel__wr_hdr(&b, KEEL__M_HEARTBEAT, 0, 0);
    keel__wr_finish(&b, 0, 0);
    if (keel__rt.ranks[r].hello && !keel__rt.ranks[r].stopped)
      send_to(r, &b, false);
    else
      keel__buf_free(&b);
  }
}

static void on_hello(int rank, keel__rd *rd)
{
  keel__rank *k = &keel__rt.ranks[rank];
  keel__hello h;
  if (keel__rd_hello(rd, &h, false) || k->hello) {
    keel__hello_free(&h);
    keel__rank_fail(rank, k->hello ? "it sent a second HELLO"
                                   : "it sent a malformed HELLO");
    return;
  }
  pthread_mutex_lock(&keel__rt.lock);
  k->host = h.host; /* taken */
  k->pid = (int)h.pid;
  k->core = h.core;
  k->hello = true;
  pthread_mutex_unlock(&keel__rt.lock);
  /* On our own kernel a pidfd tells the nanny's death at once; elsewhere
   * only its silence does (check_heartbeats). */
  k->pidfd = keel__pidfd_if_local(k->pid, h.node);
  h.host = NULL;
  keel__hello_free(&h);
  send_hello(rank);
}

static void on_death(int rank, keel_executor *ex, keel__rd *rd)
{
  keel__death d;
  if (keel__rd_death(rd, &d)) {
    keel__rank_fail(rank, "it sent a malformed DEATH message");
    return;
  }
  if (ex)
    keel__exec_death(ex, rank, &d);
  free(d.message);
  free(d.backtrace);
}

/* Act on one message (a future may take *buf): false if it was only a
 * heartbeat. */
static bool handle(int rank, char **buf, size_t n)
{
  keel__hdr h;
  const char *why;
  keel__rd rd;
  if (keel__wire_hdr(*buf, n, &h, &why)) {
    char *msg = keel__strdup_printf("it sent a malformed message (%s)", why);
    keel__rank_fail(rank, msg ? msg : why);
    free(msg);
    return true;
  }
  keel__rd_init(&rd, *buf + KEEL__WIRE_HDR, h.len);
  keel_executor *ex = find_exec(h.exec);
  switch (h.type) {
  case KEEL__M_HELLO:
    on_hello(rank, &rd);
    return true;
  case KEEL__M_RESULTS:
    if (ex)
      keel__exec_results(ex, rank, &h, &rd, buf);
    return true;
  case KEEL__M_DEATH:
    on_death(rank, ex, &rd);
    return true;
  case KEEL__M_CLOSED:
    if (ex)
      keel__exec_closed(ex, rank);
    return true;
  case KEEL__M_BYE:
    keel__rt.ranks[rank].stopped = true;
    return true;
  case KEEL__M_HEARTBEAT:
    return false;
  default:
    keel__rank_fail(rank, "it sent a message type a worker must not send");
  }
  return true;
}

/* ---- ranks ---- */

static void lose_rank(int rank, const char *why)
{
  keel__rank *k = &keel__rt.ranks[rank];
  if (k->lost)
    return;
  if (k->pidfd >= 0)
    close(k->pidfd);
  k->pidfd = -1;
  pthread_mutex_lock(&keel__rt.lock);
  k->lost = true;
  pthread_mutex_unlock(&keel__rt.lock);
  keel__rt.world_broken |= !keel__rt.spawn_mode;
  keel__log("worker rank %d (host %s) lost: %s", rank,
            k->host ? k->host : "?", why);
  for (keel_executor *ex = keel__rt.execs; ex; ex = ex->next)
    keel__exec_rank_lost(ex, rank, why);
}

/* STOP, saying whether the job is still whole enough for MPI_Finalize. */
static keel_buf stop_message(void)
{
  keel_buf b = {0};
  keel__wr_hdr(&b, KEEL__M_STOP, 0,
               keel__rt.world_broken ? KEEL__STOP_NO_FINALIZE : 0);
  keel__wr_finish(&b, 0, 0);
  return b;
}

void keel__rank_fail(int rank, const char *why)
{
  if (keel__rt.ranks[rank].lost)
    return;
  lose_rank(rank, why); /* first: its STOP then says the job is broken */
  keel_buf b = stop_message();
  (void)post(rank, &b); /* best effort, past keel__send's lost check */
}

/* Nannies on this kernel whose process is gone: their pidfd is readable.
 * One poll() for all of them, each turn of the loop.  Their last messages
 * are handled first, so that results they sent before dying are not lost. */
static int check_pidfds(void)
{
  static struct pollfd *fds;
  static int *who, cap;
  int n = 0, act = 0;
  if (cap < keel__rt.nranks) {
    struct pollfd *f = realloc(fds, (size_t)keel__rt.nranks * sizeof *f);
    int *w = f ? realloc(who, (size_t)keel__rt.nranks * sizeof *w) : NULL;
    fds = f ? f : fds;
    who = w ? w : who;
    if (!w) /* heartbeats still notice, later */
      return 0;
    cap = keel__rt.nranks;
  }
  for (int r = 1; r < keel__rt.nranks; r++)
    if (!keel__rt.ranks[r].lost && keel__rt.ranks[r].pidfd >= 0) {
      fds[n] = (struct pollfd){keel__rt.ranks[r].pidfd, POLLIN, 0};
      who[n++] = r;
    }
  if (n == 0 || poll(fds, (nfds_t)n, 0) <= 0)
    return 0;
  post_receives();
  complete_receives();
  for (int i = 0; i < n; i++) {
    keel__rank *k = &keel__rt.ranks[who[i]];
    if (!fds[i].revents || k->lost)
      continue;
    close(k->pidfd); /* a stopped rank's exit is seen once, not each turn */
    k->pidfd = -1;
    if (!k->stopped) {
      char why[96];
      snprintf(why, sizeof why, "its nanny (pid %d) died", k->pid);
      lose_rank(who[i], why);
      act++;
    }
  }
  return act;
}

static int check_heartbeats(void)
{
  static double last;
  double now = keel__now();
  int act = check_pidfds();
  if (now - last < HEARTBEAT_EVERY)
    return act;
  last = now;
  send_heartbeats();
  for (int r = 1; r < keel__rt.nranks; r++) {
    keel__rank *k = &keel__rt.ranks[r];
    if (!k->lost && !k->stopped && now - k->last_heard > heartbeat_timeout) {
      char why[128];
      /* Alive but silent on our kernel: a hung nanny.  Kill it, so that it
       * cannot linger and hold up the job's end (MPI_Finalize, mpirun). */
      bool kill = keel__pidfd_kill(k->pidfd);
      snprintf(why, sizeof why, "no heartbeat for %.1f s%s",
               now - k->last_heard, kill ? "; killed it" : "");
      lose_rank(r, why);
      act++;
    }
  }
  return act;
}

/* ---- executors ---- */

/* Take what user threads left under the lock; act on it without it. */
static int sync_users(bool *stopping)
{
  int act = 0;
  pthread_mutex_lock(&keel__rt.lock);
  while (keel__rt.new_execs) {
    keel_executor *ex = keel__rt.new_execs;
    keel__rt.new_execs = ex->next;
    ex->next = keel__rt.execs;
    keel__rt.execs = ex;
    act++;
  }
  for (keel_executor *ex = keel__rt.execs; ex; ex = ex->next) {
    for (keel_future *f = ex->in_head, *next; f; f = next) {
      next = f->next;
      keel__exec_accept(ex, f);
      act++;
    }
    ex->in_head = ex->in_tail = NULL;
    ex->m_target = ex->target;
    ex->m_shutdown = ex->shutdown || keel__rt.stopping;
    ex->m_released = ex->released;
    ex->m_cancel = ex->cancel_req && !ex->cancel_done;
  }
  *stopping = keel__rt.stopping;
  keel__rt.wake_pending = false; /* all taken */
  pthread_mutex_unlock(&keel__rt.lock);
  return act;
}

static void publish(bool *flag)
{
  pthread_mutex_lock(&keel__rt.lock);
  *flag = true;
  pthread_cond_broadcast(&keel__rt.ucond);
  pthread_mutex_unlock(&keel__rt.lock);
}

static int step_execs(bool *all_finished)
{
  int act = 0;
  *all_finished = true;
  for (keel_executor **p = &keel__rt.execs; *p;) {
    keel_executor *ex = *p;
    if (ex->m_cancel) {
      ex->m_cancel = false;
      keel__exec_cancel_pending(ex);
      publish(&ex->cancel_done);
    }
    if (!ex->finished) {
      act += keel__exec_step(ex);
      if (ex->m_shutdown && ex->outstanding == 0 && ex->nw == 0)
        publish(&ex->finished);
    }
    *all_finished = *all_finished && ex->finished;
    if (ex->finished && ex->m_released) {
      *p = ex->next;
      keel__exec_free(ex);
      act++;
    } else {
      p = &ex->next;
    }
  }
  return act;
}

/* ---- the thread ---- */

/* Nap s seconds unless a user thread (the eventfd) or a nanny on this
 * node (the bell) wakes us first: true if one did.  An eventfd, not a
 * condition variable, so that one poll() waits for both. */
static bool idle_wait(double s)
{
  bool woken = false;
  if (s <= 0) {
    sched_yield();
    return false;
  }
  struct pollfd fds[2] = {{wake_fd, POLLIN, 0}, {bell, POLLIN, 0}};
  pthread_mutex_lock(&keel__rt.lock);
  /* A user asked for us since sync_users() looked: do not nap on it. */
  bool pending = keel__rt.wake_pending;
  keel__rt.mgr_sleeping = !pending;
  pthread_mutex_unlock(&keel__rt.lock);
  if (pending)
    return true;
  if (keel__poll(fds, 2, s) > 0) {
    uint64_t n;
    woken = true;
    if (fds[0].revents && read(wake_fd, &n, sizeof n) < 0) {
      /* nonblocking: nothing left to read */
    }
    if (fds[1].revents)
      keel__doorbell_drain(bell);
  }
  pthread_mutex_lock(&keel__rt.lock);
  keel__rt.mgr_sleeping = false;
  pthread_mutex_unlock(&keel__rt.lock);
  return woken;
}

void keel__master_wake_locked(void)
{
  uint64_t one = 1;
  keel__rt.wake_pending = true; /* until sync_users() takes the request */
  /* The count stays until read: a wake just before the poll is not lost. */
  if (keel__rt.mgr_sleeping && write(wake_fd, &one, sizeof one) < 0) {
    /* only if the count overflowed: it is readable anyway */
  }
}

/* Messages in and out: how many received were work.  Completed sends
 * are not activity (most are heartbeats); pending ones keep us awake. */
static int progress(void)
{
  post_receives();
  int act = complete_receives();
  keel__sendq_test(&sends);
  return act;
}

static bool rank_lost(int rank)
{
  return keel__rt.ranks[rank].lost;
}

/* Nothing in flight anywhere (sends to lost ranks may hang for ever and
 * do not count): the manager thread may doze. */
static bool quiet(void)
{
  if (!keel__sendq_only_to(&sends, rank_lost) || !receives_idle())
    return false;
  for (keel_executor *ex = keel__rt.execs; ex; ex = ex->next)
    if (!keel__exec_quiet(ex))
      return false;
  return true;
}

/* Ask every live rank to exit and wait (bounded) for their BYE. */
static void stop_ranks(void)
{
  keel__backoff bo;
  for (int r = 1; r < keel__rt.nranks; r++) {
    keel_buf b = stop_message();
    if (!keel__rt.ranks[r].lost)
      keel__send(r, &b);
    else
      keel__buf_free(&b);
  }
  double deadline = keel__now() + STOP_TIMEOUT;
  keel__backoff_reset(&bo);
  for (;;) {
    int waiting = 0;
    for (int r = 1; r < keel__rt.nranks; r++)
      waiting += !keel__rt.ranks[r].lost && !keel__rt.ranks[r].stopped;
    if (!waiting) /* never wait on sends to lost ranks */
      return;
    if (keel__now() > deadline) {
      keel__log("%d worker rank(s) did not answer STOP in %.0f s", waiting,
                STOP_TIMEOUT);
      keel__rt.world_broken |= !keel__rt.spawn_mode; /* no fence with them */
      return;
    }
    if (progress())
      keel__backoff_reset(&bo);
    else
      keel__sleep(keel__backoff_next(&bo, false));
  }
}

static void *manager_main(void *unused)
{
  (void)unused;
  keel__backoff bo;
  keel__backoff_reset(&bo);
  for (;;) {
    bool stopping, all_finished;
    int act = sync_users(&stopping);
    act += progress();
    act += check_heartbeats();
    act += keel__ranks_grow(); /* after losses: replace before dispatch */
    act += step_execs(&all_finished);
    if (stopping && all_finished)
      break;
    if (act)
      keel__backoff_reset(&bo);
    else if (idle_wait(keel__backoff_next(&bo, quiet())))
      keel__backoff_reset(&bo); /* the ring may beat the message: spin */
  }
  stop_ranks();
  pthread_mutex_lock(&keel__rt.lock);
  keel__rt.stopped = true;
  pthread_cond_broadcast(&keel__rt.ucond);
  pthread_mutex_unlock(&keel__rt.lock);
  return NULL;
}

/* The eventfd and the bell, once the manager thread is gone: the bell's
 * name is free again. */
static void close_wakers(void)
{
  if (wake_fd >= 0)
    close(wake_fd);
  if (bell >= 0)
    close(bell);
  wake_fd = bell = -1;
}

int keel__master_start(void *commp)
{
  if (keel__ranks_start(*(MPI_Comm *)commp))
    return KEEL_ENOMEM;
  const char *hb = getenv("KEEL_HEARTBEAT_TIMEOUT");
  if (hb && atof(hb) > 0)
    heartbeat_timeout = atof(hb);
  if (heartbeat_timeout < 2.0) { /* nannies beat every second */
    keel__log("KEEL_HEARTBEAT_TIMEOUT=%s is below 2 s; using 2 s", hb);
    heartbeat_timeout = 2.0;
  }
  if ((wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
    return KEEL_ESYS;
  bell = keel__doorbell_open();
  if (pthread_create(&keel__rt.thread, NULL, manager_main, NULL)) {
    close_wakers();
    return KEEL_ESYS;
  }
  keel__rt.running = true;
  return KEEL_OK;
}

void keel__master_stop(void)
{
  pthread_mutex_lock(&keel__rt.lock);
  keel__rt.stopping = true;
  keel__master_wake_locked();
  while (!keel__rt.stopped)
    pthread_cond_wait(&keel__rt.ucond, &keel__rt.lock);
  pthread_mutex_unlock(&keel__rt.lock);
  pthread_join(keel__rt.thread, NULL);
  keel__rt.running = false;
  close_wakers();
  keel__ranks_free();
}
