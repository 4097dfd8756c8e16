/* watch.c: how the master learns that a worker rank is gone.
 *  - A nanny on this node: its pidfd becomes readable when it dies.
 *  - A nanny on another node: the TCP lifeline it opened to us (after our
 *    HELLO) is closed by its kernel when it dies (sys/lifeline.c).
 *  - Any nanny, a node gone silent: no message for the heartbeat timeout.
 * A rank found gone is handed to the manager (m->lose) after its last
 * messages: results sent before a death are not lost.  The pidfds and
 * sockets are in one epoll set, registered once each: a turn costs one
 * epoll_wait() whatever the number of ranks, and the manager's nap polls
 * the set's one fd. */
#include "master/master.h"
#include "sys/sys.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

/* Beats: a fifth of the heartbeat timeout (2 s by default), since each one
 * wakes every nanny, which is most of an idle job's cost.  Silence is
 * looked for more often, so that a silent rank is lost at most this long
 * after its timeout. */
#define BEATS_PER_TIMEOUT 5
#define SILENCE_CHECK_EVERY 0.5 /* seconds */

/* What an event of the set is about: the listening socket, a pending
 * connection, or a rank (its pidfd or its lifeline). */
enum { EV_LISTEN = 0, EV_PENDING = 1, EV_RANK = 2 };

static uint64_t ev_data(int kind, int fd, int rank)
{
  return (uint64_t)kind << 62 | (uint64_t)(uint32_t)rank << 32 |
         (uint32_t)fd;
}

/* Watch fd in the set; without it (no memory), heartbeats still notice. */
static void ev_add(keel__watch *w, int fd, int kind, int rank)
{
  struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP,
                          .data.u64 = ev_data(kind, fd, rank)};
  if (w->ep >= 0 && fd >= 0 && epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e))
    keel__log("cannot watch fd %d: %s", fd, strerror(errno));
}

static void ev_del(keel__watch *w, int fd)
{
  if (w->ep >= 0 && fd >= 0)
    epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
}

void keel__watch_rank(keel__master *m, int rank)
{
  keel__rank *k = m->ranks.v[rank];
  ev_add(&m->watch, k->pidfd, EV_RANK, rank);
}

int keel__watch_start(keel__master *m)
{
  keel__watch *w = &m->watch;
  w->ep = epoll_create1(EPOLL_CLOEXEC);
  if (w->ep < 0)
    keel__log("cannot watch the worker ranks' processes (epoll_create1: "
              "%s): a lost rank is noticed only after the heartbeat "
              "timeout (%.0f s)", strerror(errno), m->heartbeat_timeout);
  w->lfd = keel__lifeline_listen(&w->port);
  if (w->lfd >= 0 &&
      (getrandom(&w->token, sizeof w->token, 0) != (ssize_t)sizeof w->token ||
       keel__lifeline_addrs(w->addrs, sizeof w->addrs))) {
    close(w->lfd);
    w->lfd = -1;
  }
  if (w->lfd < 0) {
    w->port = 0;
    keel__log("no lifeline socket: a worker rank lost on another node is "
              "noticed only after the heartbeat timeout (%.0f s)",
              m->heartbeat_timeout);
  }
  ev_add(w, w->lfd, EV_LISTEN, 0);
  return KEEL_OK;
}

void keel__watch_stop(keel__master *m)
{
  keel__watch *w = &m->watch;
  for (int i = 0; i < w->npending; i++)
    close(w->pending[i]);
  for (int r = 1; r < m->ranks.n; r++)
    if (m->ranks.v[r]->sock >= 0) {
      close(m->ranks.v[r]->sock);
      m->ranks.v[r]->sock = -1;
    }
  if (w->lfd >= 0)
    close(w->lfd);
  w->lfd = -1;
  w->npending = 0;
  free(w->pending);
  w->pending = NULL;
  w->qcap = 0;
  if (w->ep >= 0)
    close(w->ep);
  w->ep = -1;
}

/* ---- lifeline sockets ---- */

static void drop_pending(keel__watch *w, int i)
{
  ev_del(w, w->pending[i]);
  w->pending[i] = w->pending[--w->npending];
}

/* A greeted connection becomes its rank's lifeline. */
static void adopt_socket(keel__master *m, int fd, uint32_t rank)
{
  keel__rank *k = rank > 0 && (int)rank < m->ranks.n ? m->ranks.v[rank]
                                                      : NULL;
  if (!k || k->lost || k->sock >= 0) { /* a stranger, or a second one */
    close(fd);
    return;
  }
  k->sock = fd;
  ev_add(&m->watch, fd, EV_RANK, (int)rank);
}

/* New connections (the listening socket is readable). */
static void accept_lifelines(keel__master *m)
{
  keel__watch *w = &m->watch;
  int fd;
  while (w->lfd >= 0 && (fd = keel__lifeline_accept(w->lfd)) >= 0) {
    if (w->npending == w->qcap) {
      int cap = w->qcap ? 2 * w->qcap : 16, *v;
      if (!(v = realloc(w->pending, (size_t)cap * sizeof *v))) {
        close(fd); /* the nanny tries again at its next... or heartbeats */
        continue;
      }
      w->pending = v;
      w->qcap = cap;
    }
    w->pending[w->npending++] = fd;
    ev_add(w, fd, EV_PENDING, 0);
  }
}

/* Greetings on the connections accepted before. */
static void greet_lifelines(keel__master *m)
{
  keel__watch *w = &m->watch;
  for (int i = 0; i < w->npending;) {
    uint32_t rank;
    int g = keel__lifeline_greet(w->pending[i], w->token, &rank);
    if (g == 0) {
      i++;
      continue;
    }
    int fd = w->pending[i];
    drop_pending(w, i);
    if (g > 0)
      adopt_socket(m, fd, rank);
    else
      close(fd);
  }
}

/* ---- one epoll_wait() over pidfds and sockets ---- */

int keel__watch_pollfds(keel__master *m, struct pollfd *fds, int cap)
{
  if (m->watch.ep < 0 || cap < 1)
    return 0;
  fds[0] = (struct pollfd){m->watch.ep, POLLIN, 0};
  return 1;
}

/* Why rank's process is gone, from the fd the set found ready, or NULL. */
static const char *gone(keel__watch *w, keel__rank *k, int fd, char *why,
                        size_t n)
{
  if (fd == k->pidfd) {
    close(k->pidfd); /* a stopped rank's exit is seen once, not each turn */
    k->pidfd = -1;
    snprintf(why, n, "its nanny (pid %d) died", k->pid);
    return k->stopped ? NULL : why;
  }
  if (fd != k->sock || !keel__lifeline_closed(fd))
    return NULL;
  ev_del(w, k->sock);
  close(k->sock);
  k->sock = -1;
  snprintf(why, n, "its nanny (pid %d) died: its lifeline connection "
           "closed", k->pid);
  return k->stopped ? NULL : why;
}

/* One epoll_wait() a turn: new lifelines, their greetings, and the
 * nannies whose pidfd or lifeline says they are gone (their last messages
 * are handled first). */
static int check_deaths(keel__master *m)
{
  keel__watch *w = &m->watch;
  struct epoll_event ev[64];
  int act = 0, nev;
  bool accept = false, greet = false, dead = false;
  if (w->ep < 0 || (nev = epoll_wait(w->ep, ev, 64, 0)) <= 0)
    return 0;
  for (int i = 0; i < nev; i++) {
    int kind = (int)(ev[i].data.u64 >> 62);
    accept |= kind == EV_LISTEN;
    greet |= kind != EV_RANK;
    dead |= kind == EV_RANK;
  }
  if (accept)
    accept_lifelines(m);
  if (greet)
    greet_lifelines(m); /* a greeting often comes with the connection */
  if (!dead)
    return 0;
  keel__transport_post(m);
  keel__transport_complete(m, m->handle);
  for (int i = 0; i < nev; i++) {
    uint64_t d = ev[i].data.u64;
    int fd = (int)(uint32_t)d, r = (int)(uint32_t)(d >> 32 & 0x3fffffff);
    if ((int)(d >> 62) != EV_RANK || r <= 0 || r >= m->ranks.n)
      continue;
    keel__rank *k = m->ranks.v[r];
    char why[128];
    if (k->lost) { /* lost otherwise (heartbeats): stop watching it */
      if (fd == k->sock)
        ev_del(w, fd);
      continue;
    }
    if (gone(w, k, fd, why, sizeof why)) {
      m->lose(m, r, why, true);
      act++;
    }
  }
  return act;
}

/* ---- heartbeats ---- */

static void send_heartbeats(keel__master *m)
{
  for (int r = 1; r < m->ranks.n; r++) {
    keel_buf b = {0};
    keel__wire_put_hdr(&b, KEEL__M_HEARTBEAT, 0, 0);
    keel__wire_finish(&b, 0, 0);
    if (m->ranks.v[r]->hello && !m->ranks.v[r]->stopped &&
        keel__transport_send(m, r, &b, false))
      m->fail(m, r, "a send to it failed");
    else
      keel__buf_free(&b); /* taken by a send, or not to be sent */
  }
}

/* A silent rank's host is up when it is ours, or when another rank there
 * is still heard: then its loss is the process's, not the node's, and a
 * replacement may go there. */
static bool host_up(const keel__master *m, int rank, double now)
{
  const char *host = keel__ranks_host(&m->ranks, rank);
  if (!host)
    return false;
  if (!strcmp(host, keel__self.host))
    return true;
  for (int r = 1; r < m->ranks.n; r++) {
    const keel__rank *k = m->ranks.v[r];
    if (r != rank && !k->lost && k->host && !strcmp(k->host, host) &&
        now - k->last_heard <= m->heartbeat_timeout / 2)
      return true;
  }
  return false;
}

static int check_silence(keel__master *m, double now)
{
  int act = 0;
  for (int r = 1; r < m->ranks.n; r++) {
    keel__rank *k = m->ranks.v[r];
    if (!k->lost && !k->stopped &&
        now - k->last_heard > m->heartbeat_timeout) {
      char why[128];
      /* Alive but silent on our kernel: a hung nanny.  Kill it, so that it
       * cannot linger and hold up the job's end (MPI_Finalize, mpirun). */
      bool kill = keel__lifeline_kill(k->pidfd);
      snprintf(why, sizeof why, "no heartbeat for %.1f s%s",
               now - k->last_heard, kill ? "; killed it" : "");
      m->lose(m, r, why, kill || host_up(m, r, now));
      act++;
    }
  }
  return act;
}

void keel__watch_beat(keel__master *m)
{
  m->watch.last_beat = keel__clock_now();
  send_heartbeats(m);
  keel__transport_test(&m->net); /* on their way before we block */
}

int keel__watch_check(keel__master *m)
{
  double now = keel__clock_now();
  int act = check_deaths(m);
  if (now - m->watch.last_beat >= m->heartbeat_timeout / BEATS_PER_TIMEOUT) {
    m->watch.last_beat = now;
    send_heartbeats(m);
  }
  if (now - m->watch.last_check < SILENCE_CHECK_EVERY)
    return act;
  m->watch.last_check = now;
  return act + check_silence(m, now);
}
