/* manager.c: the manager thread on rank 0.  It alone calls MPI after
 * keel_init(): each turn of its loop it takes what user threads left in
 * the hub, handles the workers' messages (transport.c), watches the ranks
 * (pidfds on this node, heartbeats everywhere), gives each executor its
 * turn (dispatch.c) and naps when there is nothing to do.  At
 * keel_finalize() it stops the worker ranks. */
#include "master/master.h"
#include "sys/sys.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define STOP_TIMEOUT 10.0   /* seconds to wait for BYE */

static keel__master master;

/* ---- ranks lost ---- */

/* Every rank gets a heartbeat just before a spawn holds the manager thread,
 * so that each nanny has a whole timeout to wait (ranks.c calls it). */
static void beat_before_spawn(void *m)
{
  keel__watch_beat(m);
}

static void lose_rank(keel__master *m, int rank, const char *why, bool died)
{
  if (!keel__ranks_lose(&m->ranks, rank))
    return;
  if (died)
    keel__ranks_replace(&m->ranks, rank);
  m->world_broken |= !m->ranks.spawn_mode;
  const char *host = m->ranks.v[rank]->host;
  keel__log("worker rank %d (host %s) lost: %s", rank, host ? host : "?",
            why);
  keel__queue *q;
  keel__queue_foreach(q, &m->execs)
    keel__dispatch_rank_lost(m, keel__queue_data(q, keel__sched, node),
                             rank, why);
}

/* STOP, saying whether the job is still whole enough for MPI_Finalize. */
static keel_buf stop_message(const keel__master *m)
{
  keel_buf b = {0};
  keel__wire_put_hdr(&b, KEEL__M_STOP, 0,
                     m->world_broken ? KEEL__STOP_NO_FINALIZE : 0);
  keel__wire_finish(&b, 0, 0);
  return b;
}

/* A protocol violation by rank, or a send to it that failed: stop using
 * it, and tell it so. */
static void rank_fail(keel__master *m, int rank, const char *why)
{
  keel__rank *k = m->ranks.v[rank];
  if (k->lost)
    return;
  lose_rank(m, rank, why, false); /* first: its STOP then says the job is broken */
  keel_buf b = stop_message(m);
  int crank;
  MPI_Comm c = keel__ranks_comm(&m->ranks, rank, &crank);
  (void)keel__sendq_post(&m->net.sends, c, crank, rank, &b); /* best effort */
  k->stop_sent = true;
}

/* Work for a worker (dispatch.c sends through this). */
static void send_work(keel__master *m, int rank, keel_buf *b)
{
  if (keel__transport_send(m, rank, b, true))
    rank_fail(m, rank, "a send to it failed");
}

static void send_work_ref(keel__master *m, int rank, const void *msg,
                          size_t len, void *arg)
{
  if (keel__transport_send_ref(m, rank, msg, len, arg))
    rank_fail(m, rank, "a send to it failed");
}

/* ---- messages from nannies ---- */

static keel__sched *find_exec(keel__master *m, uint32_t id)
{
  keel__queue *q;
  keel__queue_foreach(q, &m->execs) {
    keel__sched *s = keel__queue_data(q, keel__sched, node);
    if (s->ex->id == id)
      return s;
  }
  return NULL;
}

/* The master's half of the lifeline: its pid, node, heartbeat timeout and
 * lifeline socket, so that a nanny can watch it as it watches the nanny
 * (watch.c). */
static void send_hello(keel__master *m, int rank)
{
  char node[128];
  keel_buf b = {0};
  keel__hello h = {.pid = (uint32_t)getpid(),
                   .timeout = m->heartbeat_timeout,
                   .port = (uint32_t)m->watch.port,
                   .token = m->watch.token,
                   .addrs = m->watch.addrs,
                   .node = (char *)keel__lifeline_node(node, sizeof node)};
  keel__wire_put_hello(&b, &h, true);
  send_work(m, rank, &b);
}

static void on_hello(keel__master *m, int rank, keel__wire_rd *rd)
{
  keel__rank *k = m->ranks.v[rank];
  keel__hello h;
  if (keel__wire_get_hello(rd, &h, false) || k->hello) {
    keel__wire_hello_free(&h);
    rank_fail(m, rank, k->hello ? "it sent a second HELLO"
                                : "it sent a malformed HELLO");
    return;
  }
  keel__ranks_set_host(&m->ranks, rank, h.host); /* taken */
  k->pid = (int)h.pid;
  k->core = h.core;
  k->hello = true;
  /* On our own kernel a pidfd tells the nanny's death at once; elsewhere
   * its lifeline socket does (watch.c). */
  k->pidfd = keel__lifeline_open(k->pid, h.node);
  keel__watch_rank(m, rank);
  h.host = NULL;
  keel__wire_hello_free(&h);
  send_hello(m, rank);
}

/* Lines its task processes printed. */
static void on_output(keel__master *m, int rank, const keel__wire_hdr *h,
                      keel__wire_rd *rd)
{
  for (uint32_t i = 0; i < h->count; i++) {
    keel__output rec;
    if (keel__wire_get_output(rd, &rec)) {
      rank_fail(m, rank, "it sent a malformed OUTPUT message");
      return;
    }
    keel__output_lines(&m->out, &rec, rank, m->ranks.v[rank]->host);
  }
}

static void on_death(keel__master *m, int rank, keel__sched *s,
                     keel__wire_rd *rd)
{
  keel__death d;
  if (keel__wire_get_death(rd, &d)) {
    rank_fail(m, rank, "it sent a malformed DEATH message");
    return;
  }
  if (s)
    keel__dispatch_death(m, s, rank, &d);
  free(d.message);
  free(d.backtrace);
}

/* Act on one message (a future may take *buf): 0 if it was only a
 * heartbeat. */
static int handle(keel__master *m, int rank, char **buf, size_t n)
{
  keel__wire_hdr h;
  const char *why;
  keel__wire_rd rd;
  if (keel__wire_check(*buf, n, &h, &why)) {
    char *msg = keel__error_printf("it sent a malformed message (%s)", why);
    rank_fail(m, rank, msg ? msg : why);
    free(msg);
    return 1;
  }
  keel__wire_reader(&rd, *buf + KEEL__WIRE_HDR, h.len);
  keel__sched *s = find_exec(m, h.exec);
  switch (h.type) {
  case KEEL__M_HELLO:
    on_hello(m, rank, &rd);
    return 1;
  case KEEL__M_RESULTS:
    if (s && keel__dispatch_results(m, s, rank, &h, &rd, buf))
      rank_fail(m, rank, "it sent a malformed RESULTS message");
    return 1;
  case KEEL__M_DEATH:
    on_death(m, rank, s, &rd);
    return 1;
  case KEEL__M_CLOSED:
    if (s)
      keel__dispatch_closed(m, s, rank);
    return 1;
  case KEEL__M_OUTPUT:
    on_output(m, rank, &h, &rd);
    return 1;
  case KEEL__M_RECALLED:
    if (s && keel__dispatch_recalled(m, s, rank, &h, &rd))
      rank_fail(m, rank, "it sent a malformed or unasked RECALLED message");
    return 1;
  case KEEL__M_BYE:
    m->ranks.v[rank]->stopped = true;
    return 1;
  case KEEL__M_HEARTBEAT:
    return 0;
  default:
    rank_fail(m, rank, "it sent a message type a worker must not send");
  }
  return 1;
}

/* Messages in and out: how many received were work.  Completed sends
 * are not activity (most are heartbeats); pending ones keep us awake. */
static int progress(keel__master *m)
{
  keel__transport_post(m);
  int act = keel__transport_complete(m, handle);
  keel__transport_test(&m->net);
  return act;
}

/* ---- executors ---- */

/* Take what user threads left in the hub under its lock; act on it
 * without it. */
static int sync_users(keel__master *m, bool *stopping)
{
  int act = 0;
  keel__queue *q;
  keel__hub_lock();
  while ((q = keel__queue_pop(&keel__hub.new_execs))) {
    keel_executor *ex = keel__queue_data(q, keel_executor, hub_node);
    if (keel__dispatch_adopt(ex)) { /* no memory: fail it, as broken */
      keel__queue_insert_head(&keel__hub.new_execs, q);
      keel__log("out of memory taking executor %u", ex->id);
      break;
    }
    keel__queue_insert_tail(&m->execs, &ex->sched->node);
    act++;
  }
  keel__queue_foreach(q, &m->execs) {
    keel__sched *s = keel__queue_data(q, keel__sched, node);
    keel_executor *ex = s->ex;
    keel__queue *f;
    while ((f = keel__queue_pop(&ex->submitted))) {
      keel__dispatch_accept(s, keel__queue_data(f, keel_future, node));
      act++;
    }
    s->target = ex->target;
    s->shutdown = ex->shutdown || keel__hub.stopping;
    s->released = ex->released;
    s->cancel = ex->cancel_req && !ex->cancel_done;
    s->kill = ex->kill_req;
  }
  *stopping = keel__hub.stopping;
  keel__hub.wake_pending = false; /* all taken */
  keel__hub_unlock();
  return act;
}

static void publish(bool *flag)
{
  keel__hub_lock();
  *flag = true;
  keel__hub_broadcast_locked();
  keel__hub_unlock();
}

static int step_execs(keel__master *m, bool *all_finished)
{
  int act = 0;
  *all_finished = true;
  keel__queue *q = keel__queue_head(&m->execs);
  while (q != &m->execs) {
    keel__sched *s = keel__queue_data(q, keel__sched, node);
    keel_executor *ex = s->ex;
    q = q->next;
    if (s->cancel) {
      s->cancel = false;
      if (s->kill)
        keel__dispatch_kill(s);
      else
        keel__dispatch_cancel_pending(s);
      publish(&ex->cancel_done);
    }
    if (!ex->finished) {
      act += keel__dispatch_step(m, s);
      if (s->shutdown && keel__dispatch_finished(s))
        publish(&ex->finished);
    }
    /* keel_finalize() waits for every callback too */
    *all_finished = *all_finished && ex->finished &&
                    !atomic_load(&ex->callbacks);
    if (ex->finished && s->released && !atomic_load(&ex->callbacks)) {
      keel__queue_remove(&s->node);
      keel__dispatch_free(ex);
      keel__executor_free(ex);
      act++;
    }
  }
  return act;
}

/* ---- the thread ---- */

/* Nap s seconds unless a user thread (the eventfd) or a nanny on this
 * node (the bell) wakes us first: true if one did.  An eventfd, not a
 * condition variable, so that one poll() waits for both. */
static bool idle_wait(keel__master *m, double s)
{
  bool woken = false;
  if (s <= 0) {
    sched_yield();
    return false;
  }
  struct pollfd fds[3];
  fds[0] = (struct pollfd){keel__hub.wake_fd, POLLIN, 0};
  fds[1] = (struct pollfd){m->bell, POLLIN, 0};
  int n = 2 + keel__watch_pollfds(m, fds + 2, 1);
  keel__hub_lock();
  /* A user asked for us since sync_users() looked: do not nap on it. */
  bool pending = keel__hub.wake_pending;
  keel__hub.mgr_sleeping = !pending;
  keel__hub_unlock();
  if (pending)
    return true;
  if (keel__clock_poll(fds, (unsigned long)n, s) > 0) {
    uint64_t n;
    woken = true;
    if (fds[0].revents && read(keel__hub.wake_fd, &n, sizeof n) < 0) {
      /* nonblocking: nothing left to read */
    }
    if (fds[1].revents)
      keel__doorbell_drain(m->bell);
  }
  keel__hub_lock();
  keel__hub.mgr_sleeping = false;
  keel__hub_unlock();
  return woken;
}

/* Nothing in flight anywhere: the manager thread may doze. */
static bool quiet(const keel__master *m)
{
  if (!keel__transport_idle(m))
    return false;
  keel__queue *q;
  keel__queue_foreach(q, &m->execs)
    if (!keel__dispatch_quiet(keel__queue_data(q, keel__sched, node)))
      return false;
  return true;
}

/* Ask every live rank to exit and wait (bounded) for their BYE. */
static void stop_ranks(keel__master *m)
{
  keel__backoff bo;
  for (int r = 1; r < m->ranks.n; r++) {
    keel_buf b = stop_message(m);
    send_work(m, r, &b); /* nothing goes to a lost rank */
    m->ranks.v[r]->stop_sent = true; /* nor anything after STOP */
  }
  double deadline = keel__clock_now() + STOP_TIMEOUT;
  keel__backoff_reset(&bo);
  for (;;) {
    int waiting = 0;
    for (int r = 1; r < m->ranks.n; r++)
      waiting += !m->ranks.v[r]->lost && !m->ranks.v[r]->stopped;
    if (!waiting) /* never wait on sends to lost ranks */
      return;
    if (keel__clock_now() > deadline) {
      keel__log("%d worker rank(s) did not answer STOP in %.0f s", waiting,
                STOP_TIMEOUT);
      m->world_broken |= !m->ranks.spawn_mode; /* no fence with them */
      return;
    }
    if (progress(m))
      keel__backoff_reset(&bo);
    else
      keel__clock_sleep(keel__backoff_next(&bo, false));
  }
}

static void *manager_main(void *arg)
{
  keel__master *m = arg;
  keel__backoff bo;
  keel__hub_manager_here();
  keel__backoff_reset(&bo);
  for (;;) {
    bool stopping, all_finished;
    int act = sync_users(m, &stopping);
    act += progress(m);
    act += keel__watch_check(m);
    act += keel__ranks_grow(&m->ranks); /* after losses: replace first */
    act += step_execs(m, &all_finished);
    if (stopping && all_finished)
      break;
    if (act)
      keel__backoff_reset(&bo);
    else if (idle_wait(m, keel__backoff_next(&bo, quiet(m))))
      keel__backoff_reset(&bo); /* the ring may beat the message: spin */
  }
  stop_ranks(m);
  publish(&keel__hub.stopped);
  return NULL;
}

/* The eventfd and the bell, once the manager thread is gone: the bell's
 * name is free again. */
static void close_wakers(keel__master *m)
{
  if (keel__hub.wake_fd >= 0)
    close(keel__hub.wake_fd);
  if (m->bell >= 0)
    close(m->bell);
  keel__hub.wake_fd = m->bell = -1;
}

/* KEEL_HEARTBEAT_TIMEOUT, at least 2 s: nannies beat every second. */
static double heartbeat_timeout(void)
{
  return keel__env_seconds("KEEL_HEARTBEAT_TIMEOUT", KEEL__HEARTBEAT_TIMEOUT,
                           2.0, 86400.0);
}

int keel__manager_start(MPI_Comm comm)
{
  keel__master *m = &master;
  keel__queue_init(&m->execs);
  keel__transport_init(&m->net);
  m->send = send_work;
  m->send_ref = send_work_ref;
  m->fail = rank_fail;
  m->lose = lose_rank;
  m->handle = handle;
  m->bell = -1;
  int rc = keel__ranks_start(&m->ranks, comm);
  m->ranks.before_spawn = beat_before_spawn; /* a spawn holds this thread */
  m->ranks.before_arg = m;
  if (rc)
    return rc;
  m->heartbeat_timeout = heartbeat_timeout();
  keel__watch_start(m);
  if ((rc = keel__output_start(&m->out)))
    return rc;
  if ((keel__hub.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
    return KEEL_ESYS;
  m->bell = keel__doorbell_open();
  keel__hub.running = true; /* before the thread: it asserts on it */
  if (pthread_create(&m->thread, NULL, manager_main, m)) {
    keel__hub.running = false;
    close_wakers(m);
    return KEEL_ESYS;
  }
  return KEEL_OK;
}

bool keel__manager_stop(void)
{
  keel__master *m = &master;
  keel__hub_lock();
  keel__hub.stopping = true;
  keel__hub_wake_locked();
  while (!keel__hub.stopped)
    keel__hub_wait_locked();
  keel__hub_unlock();
  pthread_join(m->thread, NULL);
  keel__hub.running = false;
  close_wakers(m);
  keel__watch_stop(m);
  keel__transport_free(&m->net);
  keel__output_stop(&m->out); /* every line printed before we return */
  keel__ranks_free(&m->ranks);
  keel__estimate_free(&m->est);
  return !m->world_broken;
}
