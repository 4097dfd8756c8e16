/* watch.c: how the master learns that a worker rank is gone.
 *  - A nanny on this node: its pidfd becomes readable when it dies.
 *  - A nanny on another node: the TCP lifeline it opened to us (after our
 *    HELLO) is closed by its kernel when it dies (sys/lifeline.c).
 *  - Any nanny, a node gone silent: no message for the heartbeat timeout.
 * A rank found gone is handed to the manager (m->lose) after its last
 * messages: results sent before a death are not lost.  Each turn costs one
 * poll() over the pidfds and sockets. */
#include "master/master.h"
#include "sys/sys.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#define HEARTBEAT_EVERY 0.5 /* seconds between our heartbeats */

int keel__watch_start(keel__master *m)
{
  keel__watch *w = &m->watch;
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
  free(w->pfds);
  free(w->pwho);
  w->pending = NULL;
  w->pfds = NULL;
  w->pwho = NULL;
  w->pcap = w->qcap = 0;
}

/* ---- lifeline sockets ---- */

static void drop_pending(keel__watch *w, int i)
{
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
    if (g > 0)
      adopt_socket(m, w->pending[i], rank);
    else
      close(w->pending[i]);
    drop_pending(w, i);
  }
}

/* ---- one poll over pidfds and sockets ---- */

/* Room to poll two fds per rank, the listening socket and the pending
 * connections; false if there is none. */
static bool poll_room(keel__watch *w, int nranks)
{
  int want = 2 * nranks + 1 + w->npending;
  if (w->pcap >= want)
    return true;
  struct pollfd *f = realloc(w->pfds, (size_t)want * sizeof *f);
  int *who = f ? realloc(w->pwho, (size_t)want * sizeof *who) : NULL;
  w->pfds = f ? f : w->pfds;
  w->pwho = who ? who : w->pwho;
  if (!who) /* heartbeats still notice, later */
    return false;
  w->pcap = want;
  return true;
}

int keel__watch_pollfds(keel__master *m, struct pollfd *fds, int cap)
{
  int n = 0;
  if (m->watch.lfd >= 0 && n < cap)
    fds[n++] = (struct pollfd){m->watch.lfd, POLLIN, 0};
  for (int i = 0; i < m->watch.npending && n < cap; i++)
    fds[n++] = (struct pollfd){m->watch.pending[i], POLLIN, 0};
  for (int r = 1; r < m->ranks.n && n < cap; r++) {
    keel__rank *k = m->ranks.v[r];
    if (k->lost)
      continue;
    if (k->pidfd >= 0)
      fds[n++] = (struct pollfd){k->pidfd, POLLIN, 0};
    if (k->sock >= 0 && n < cap)
      fds[n++] = (struct pollfd){k->sock, POLLIN | POLLRDHUP, 0};
  }
  return n;
}

/* Why rank's process is gone, from what poll() saw, or NULL. */
static const char *gone(keel__rank *k, int fd, char *why, size_t n)
{
  if (fd == k->pidfd) {
    close(k->pidfd); /* a stopped rank's exit is seen once, not each turn */
    k->pidfd = -1;
    snprintf(why, n, "its nanny (pid %d) died", k->pid);
    return k->stopped ? NULL : why;
  }
  if (!keel__lifeline_closed(fd))
    return NULL;
  close(k->sock);
  k->sock = -1;
  snprintf(why, n, "its nanny (pid %d) died: its lifeline connection "
           "closed", k->pid);
  return k->stopped ? NULL : why;
}

/* One poll() a turn: new lifelines, their greetings, and the nannies whose
 * pidfd or lifeline says they are gone (their last messages are handled
 * first). */
static int check_deaths(keel__master *m)
{
  keel__watch *w = &m->watch;
  int n = 0, act = 0, first_rank;
  if (!poll_room(w, m->ranks.n))
    return 0;
  if (w->lfd >= 0) {
    w->pfds[n] = (struct pollfd){w->lfd, POLLIN, 0};
    w->pwho[n++] = 0;
  }
  bool greet = false;
  for (int i = 0; i < w->npending; i++) {
    w->pfds[n] = (struct pollfd){w->pending[i], POLLIN, 0};
    w->pwho[n++] = 0;
  }
  first_rank = n;
  for (int r = 1; r < m->ranks.n; r++) {
    keel__rank *k = m->ranks.v[r];
    if (k->lost)
      continue;
    if (k->pidfd >= 0) {
      w->pfds[n] = (struct pollfd){k->pidfd, POLLIN, 0};
      w->pwho[n++] = r;
    }
    if (k->sock >= 0) {
      w->pfds[n] = (struct pollfd){k->sock, POLLIN | POLLRDHUP, 0};
      w->pwho[n++] = r;
    }
  }
  if (n == 0 || poll(w->pfds, (nfds_t)n, 0) <= 0)
    return 0;
  for (int i = 0; i < first_rank; i++)
    greet |= w->pfds[i].revents && w->pfds[i].fd != w->lfd;
  if (w->lfd >= 0 && w->pfds[0].revents)
    accept_lifelines(m);
  if (greet || (w->lfd >= 0 && w->pfds[0].revents))
    greet_lifelines(m); /* a greeting often comes with the connection */
  bool dead = false;
  for (int i = first_rank; i < n; i++)
    dead |= w->pfds[i].revents != 0;
  if (!dead)
    return 0;
  keel__transport_post(m);
  keel__transport_complete(m, m->handle);
  for (int i = first_rank; i < n; i++) {
    keel__rank *k = m->ranks.v[w->pwho[i]];
    char why[128];
    if (!w->pfds[i].revents || k->lost)
      continue;
    if (gone(k, w->pfds[i].fd, why, sizeof why)) {
      m->lose(m, w->pwho[i], why);
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
      m->lose(m, r, why);
      act++;
    }
  }
  return act;
}

int keel__watch_check(keel__master *m)
{
  double now = keel__clock_now();
  int act = check_deaths(m);
  if (now - m->watch.last_beat < HEARTBEAT_EVERY)
    return act;
  m->watch.last_beat = now;
  send_heartbeats(m);
  return act + check_silence(m, now);
}
