/* nanny.c: a worker rank.  It takes the role (binding itself to its
 * core), says HELLO to the master, and loops: messages from the master,
 * a turn for each slot (slot.c), heartbeats, the lifeline to the master,
 * and a nap on its task processes' fds and its doorbell when there is
 * nothing to do.  At STOP it ends its task processes, says BYE and exits;
 * without a master it exits at once. */
#include "worker/worker.h"
#include "proto/comm.h"
#include "sys/sys.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A beat every fifth of the master's heartbeat timeout (2 s by default):
 * each wakes the master, and silence shows only after the whole timeout. */
#define BEATS_PER_TIMEOUT 5
#define CONNECT_TIMEOUT 2.0 /* seconds per address of the master's */

static keel__nanny nanny;

/* ---- messages from the master ---- */

/* The master's HELLO: who it is, how long a silence means it is gone, and
 * how to watch it: its pid on our node, its lifeline socket from another
 * (through which it watches us too). */
static void on_master_hello(keel__nanny *n, keel__wire_rd *rd)
{
  keel__hello h;
  if (keel__wire_get_hello(rd, &h, true) || n->master_pid) {
    keel__log("malformed or second HELLO from the master");
    keel__wire_hello_free(&h);
    return;
  }
  n->master_pid = (int)h.pid;
  n->master_pidfd = keel__lifeline_open(n->master_pid, h.node);
  n->master_timeout = h.timeout;
  if (n->master_pidfd < 0 && h.port) {
    n->master_sock = keel__lifeline_connect(h.addrs, (int)h.port, h.token,
                                            (uint32_t)n->rank,
                                            CONNECT_TIMEOUT);
    if (n->master_sock < 0)
      keel__log("cannot reach the master's lifeline socket (port %u at %s): "
                "its death and ours are noticed by heartbeats only",
                h.port, h.addrs ? h.addrs : "?");
  }
  keel__wire_hello_free(&h);
}

static void close_all(keel__nanny *n)
{
  for (int i = 0; i < KEEL__MAX_SLOTS; i++)
    if (n->slots[i])
      keel__slot_close(n, n->slots[i]);
}

/* Without a master nobody will ever collect the results or say STOP: end
 * the task processes and this rank now, without MPI_Finalize, which could
 * wait for the dead master. */
static void check_master(keel__nanny *n, double now)
{
  char why[96];
  if (keel__lifeline_dead(n->master_pidfd))
    snprintf(why, sizeof why, "its process (pid %d) died", n->master_pid);
  else if (n->master_sock >= 0 && keel__lifeline_dead(n->master_sock) &&
           keel__lifeline_closed(n->master_sock))
    snprintf(why, sizeof why, "its process (pid %d) died: the lifeline "
             "connection closed", n->master_pid);
  else if (now - n->last_heard > n->master_timeout)
    snprintf(why, sizeof why, "no message from it for %.1f s",
             now - n->last_heard);
  else
    return;
  keel__log("the master is lost (%s): ending this worker rank", why);
  close_all(n);
  _exit(1);
}

/* Act on one message: false if it was only a heartbeat. */
static bool on_master(keel__nanny *n, char **msg, size_t len)
{
  const char *m = *msg;
  keel__wire_hdr h;
  const char *why;
  keel__wire_rd rd;
  if (keel__wire_check(m, len, &h, &why)) {
    keel__log("malformed message from the master: %s", why);
    return true;
  }
  keel__wire_reader(&rd, m + KEEL__WIRE_HDR, h.len);
  keel__slot *s;
  switch (h.type) {
  case KEEL__M_OPEN:
    keel__slot_open(n, &h, &rd);
    break;
  case KEEL__M_TASKS:
    keel__slot_tasks(n, &h, &rd, msg);
    break;
  case KEEL__M_RECALL:
    keel__slot_recall(n, &h);
    break;
  case KEEL__M_CLOSE:
    if ((s = keel__slot_find(n, h.exec)))
      keel__slot_close(n, s);
    keel__uplink_simple(n, KEEL__M_CLOSED, h.exec);
    break;
  case KEEL__M_STOP:
    n->stopping = true;
    n->no_finalize = h.count & KEEL__STOP_NO_FINALIZE;
    break;
  case KEEL__M_HELLO:
    on_master_hello(n, &rd);
    break;
  case KEEL__M_HEARTBEAT:
    return false;
  default:
    keel__log("unexpected message type %d from the master", h.type);
  }
  return true;
}

/* Messages from the master: how many were work. */
static int receive(keel__nanny *n)
{
  int act = 0, len;
  char *buf;
  for (int i = 0; i < 64; i++) {
    int flag = 0;
    MPI_Message m;
    MPI_Status st;
    MPI_Improbe(0, KEEL__MPI_TAG, n->comm, &flag, &m, &st);
    if (!flag)
      break;
    MPI_Get_count(&st, MPI_BYTE, &len);
    char *into = keel__shmbuf_new(len > 0 ? (size_t)len : 0);
    if (keel__recvq_post_into(&n->recvs, &m, len, into)) {
      keel__shmbuf_free(into);
      keel__log("out of memory receiving from the master; exiting");
      _exit(1);
    }
  }
  while ((buf = keel__recvq_pop(&n->recvs, &len))) {
    n->last_heard = keel__clock_now();
    act += on_master(n, &buf, (size_t)len);
    keel__shmbuf_free(buf); /* unless a task took it */
  }
  return act;
}

/* ---- the loop ---- */

/* Nap s seconds unless a child or the master's ring (the doorbell, or a
 * byte on the lifeline) wakes us first: true if the ring did. */
static bool sleep_on_children(keel__nanny *n, double s)
{
  struct pollfd fds[KEEL__MAX_SLOTS * KEEL__SLOT_FDS + 2];
  int k = 0, sock = -1, bell = -1;
  for (int i = 0; i < KEEL__MAX_SLOTS; i++)
    if (n->slots[i])
      k += keel__slot_pollfds(n->slots[i], fds + k);
  if (n->master_sock >= 0) {
    sock = k;
    fds[k++] = (struct pollfd){n->master_sock, POLLIN | POLLRDHUP, 0};
  }
  if (n->bell >= 0) {
    bell = k;
    fds[k++] = (struct pollfd){n->bell, POLLIN, 0};
  }
  if (keel__clock_poll(fds, (unsigned long)k, s) <= 0)
    return false;
  if (bell >= 0 && fds[bell].revents)
    keel__doorbell_drain(n->bell);
  /* The lifeline's byte is drained by check_master(), which also tells it
   * from the master's death. */
  return (bell >= 0 && fds[bell].revents) || (sock >= 0 && fds[sock].revents);
}

/* No task queued, running or retiring, no message on its way: the loop
 * may doze (the doorbell or a child wakes it). */
static bool quiet(const keel__nanny *n)
{
  if (!keel__sendq_empty(&n->sends) || !keel__recvq_empty(&n->recvs))
    return false;
  for (int i = 0; i < KEEL__MAX_SLOTS; i++)
    if (n->slots[i] && !keel__slot_quiet(n->slots[i]))
      return false;
  return true;
}

static void hello(keel__nanny *n)
{
  char node[128];
  keel_buf b = {0};
  keel__hello h = {.pid = (uint32_t)getpid(), .core = keel__self.core,
                   .host = keel__self.host,
                   .node = (char *)keel__lifeline_node(node, sizeof node)};
  keel__wire_put_hello(&b, &h, false);
  keel__uplink_send(n, &b, true);
}

/* Let the last messages (BYE, CLOSED) reach the master, within reason. */
static void flush_sends(keel__nanny *n)
{
  double deadline = keel__clock_now() + 5.0;
  while (!keel__sendq_empty(&n->sends) && keel__clock_now() < deadline) {
    keel__sendq_test(&n->sends);
    keel__clock_sleep(1e-4);
  }
}

static void serve(keel__nanny *n)
{
  keel__backoff bo;
  keel__backoff_reset(&bo);
  while (!n->stopping) {
    double now = keel__clock_now();
    int act = receive(n);
    for (int i = 0; i < KEEL__MAX_SLOTS; i++)
      if (n->slots[i])
        act += keel__slot_step(n, n->slots[i], now);
    keel__sendq_test(&n->sends); /* completions are not activity */
    if (now - n->last_sent > n->master_timeout / BEATS_PER_TIMEOUT)
      keel__uplink_simple(n, KEEL__M_HEARTBEAT, 0);
    check_master(n, now);
    if (act)
      keel__backoff_reset(&bo);
    else if (sleep_on_children(n, keel__backoff_next(&bo, quiet(n))))
      keel__backoff_reset(&bo); /* the ring may beat the message: spin */
  }
}

void keel__nanny_main(MPI_Comm comm, int rank, int index, int node_workers)
{
  char desc[160];
  keel__nanny *n = &nanny;
  keel__self.role = KEEL__ROLE_NANNY;
  keel__self.rank = rank;
  keel__log_init();
  keel__self.core = keel__bind_self(index, node_workers, desc,
                                    sizeof desc);
  keel__bind_report(rank, desc);
  n->comm = comm;
  n->rank = rank;
  n->bell = n->master_pidfd = n->master_sock = -1;
  n->master_timeout = KEEL__HEARTBEAT_TIMEOUT;
  keel__sendq_init(&n->sends);
  keel__recvq_init(&n->recvs);
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  signal(SIGPIPE, SIG_IGN);
  /* The batch system's warning is for the master (api/drain.c); ignored
   * here, it is ignored by the task processes too (worker/spawn.c). */
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);
  if (!keel__children_adopt()) /* what tasks leave: sys/children.c */
    keel__log("cannot become a child subreaper: children that tasks leave "
              "in their own session may outlive their task process");
  n->bell = keel__doorbell_open();
  n->last_heard = keel__clock_now();
  hello(n);
  serve(n);
  close_all(n);
  keel__uplink_simple(n, KEEL__M_BYE, 0);
  flush_sends(n);
  if (n->master_sock >= 0) /* after BYE: the master expects us to go */
    close(n->master_sock);
  MPI_Comm_free(&n->comm);
  if (!n->no_finalize)
    MPI_Finalize();
  exit(0);
}

/* The master's half is adopt() in master/ranks.c: merge so that it is
 * rank 0, as under keelrun, then learn its plan: the group's first global
 * rank, then each new worker's index (so core) on the node. */
void keel__nanny_spawned(MPI_Comm parent)
{
  MPI_Comm comm;
  int rank, size, node_workers;
  if (keel__comm_check(MPI_Intercomm_merge(parent, 1, &comm),
                       "MPI_Intercomm_merge (with the master)"))
    _exit(1);
  MPI_Comm_free(&parent);
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int index, *plan = calloc((size_t)size, sizeof *plan);
  if (!plan || keel__comm_node_index(comm, rank, &index, &node_workers))
    _exit(1); /* the master's Bcast cannot be met */
  if (keel__comm_check(MPI_Bcast(plan, size, MPI_INT, 0, comm),
                       "MPI_Bcast (the master's plan)"))
    _exit(1);
  int global = plan[0] + rank - 1, core_index = plan[index + 1];
  free(plan);
  keel__nanny_main(comm, global, core_index, node_workers);
}
