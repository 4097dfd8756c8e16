/*
 * master/master.h: the manager thread on rank 0, the one thread of the
 * master that calls MPI after keel_init().  Its files, from the bottom up:
 *
 *   guard.c      the deadline of a spawn: one that wedges ends the
 *                master rather than hang the job
 *   ranks.c      the worker ranks: the table, the communicators that reach
 *                them, spawning workers for a program started alone
 *   transport.c  MPI traffic with the workers: nonblocking sends (and the
 *                doorbell of a nanny on this node), receives in order
 *   watch.c      how a rank is found gone: pidfds, lifeline sockets,
 *                heartbeats
 *   output.c     the lines task processes print, printed whole by a
 *                thread of its own
 *   dispatch.c   one executor as the manager runs it: workers, prefetch
 *                window, results, crash policy
 *   manager.c    the thread: the hub, messages, rank loss, heartbeats,
 *                the executors' turns, STOP
 *
 * Each file calls only the ones above it in this list.  What goes the
 * other way goes through keel__master's function pointers (a send that
 * fails loses its rank in manager.c) or through return codes.  All of it
 * runs on the manager thread; the state is keel__master, one struct, as
 * libuv keeps a loop's in uv_loop_t.
 */
#ifndef KEEL_MASTER_H
#define KEEL_MASTER_H

#include "api/api.h"
#include "proto/mpiq.h"
#include "proto/wire.h"

#include <mpi.h>
#include <poll.h>

/* ---- guard.c ---- */

/* Exit status of a master whose MPI_Comm_spawn wedged (EX_SOFTWARE). */
#define KEEL__WEDGED_STATUS 70
/* Seconds a spawn may take by default (KEEL_SPAWN_TIMEOUT). */
#define KEEL__SPAWN_TIMEOUT 60.0

typedef struct keel__guard {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  double timeout;  /* seconds a spawn may take */
  double deadline; /* of the spawn running, while armed */
  char what[256];  /* that spawn, for the message */
  bool started, armed, stop;
} keel__guard;

void keel__guard_init(keel__guard *g, double timeout);
/* A spawn described by fmt starts: end the process if it has not
 * returned (keel__guard_disarm) within the timeout. */
void keel__guard_arm(keel__guard *g, const char *fmt, ...) KEEL_PRINTF(2, 3);
void keel__guard_disarm(keel__guard *g);
void keel__guard_destroy(keel__guard *g);

/* ---- ranks.c ---- */

/* One worker rank as the master sees it. */
typedef struct keel__rank {
  char *host; /* from its HELLO; lives until the process ends */
  const char *spawned_on; /* a replacement: the host asked for, until HELLO */
  int hostid; /* the lowest rank on its host (keel__ranks_set_host()) */
  int pid, core;
  bool hello, lost, stopped;
  bool stop_sent; /* STOP went to it: nothing more may (a message it never
                     receives is left unmatched at its MPI_Finalize) */
  int pidfd;   /* watches the nanny when it shares our kernel */
  int sock;    /* its lifeline connection when it does not, or -1 */
  int index;   /* spawned: its worker index on the node, else -1 */
  int nexec;   /* executors it serves */
  double last_heard;
  keel__recvq recvs; /* its messages, arriving */
  bool arriving;     /* on the transport's list of ranks to complete */
} keel__rank;

typedef struct keel__ranks {
  keel__rank **v; /* [0] is the master itself, workers 1..n-1; each
                     apart, for its recvs must not move */
  int n;
  int live; /* of v[1..n-1], those not lost */
  struct keel__group *groups; /* the communicators that reach them */
  int ngroups;
  int spawned;       /* ranks spawned so far */
  bool spawn_mode;   /* started alone: workers come from MPI_Comm_spawn */
  char *spawn_error; /* why spawning failed, once it has */
  /* Started by keelrun or mpirun: lost ranks to replace by spawning one on
   * the same host (keel__ranks_replace), and how many were. */
  int *todo;
  int ntodo, todocap, replaced, max_replaced;
  /* called just before each spawn, which holds the manager thread */
  void (*before_spawn)(void *arg);
  void *before_arg;
  keel__guard guard; /* watches each spawn */
} keel__ranks;

/* The ranks of the job (keelrun/mpirun), or none yet when world has size
 * 1: then keel__ranks_grow() spawns them. */
int keel__ranks_start(keel__ranks *rs, MPI_Comm world);
void keel__ranks_free(keel__ranks *rs);
/* The communicator reaching worker `rank`, and its rank in it. */
MPI_Comm keel__ranks_comm(const keel__ranks *rs, int rank, int *crank);
/* Group g's communicator; its ranks 1..n are worker ranks base.. */
MPI_Comm keel__ranks_group(const keel__ranks *rs, int g, int *base, int *n);
/* rank's HELLO named its host (taken): it is now known, with hostid. */
void keel__ranks_set_host(keel__ranks *rs, int rank, char *host);
/* Worker ranks not lost. */
int keel__ranks_live(const keel__ranks *rs);
/* Mark rank lost; false if it was already. */
bool keel__ranks_lose(keel__ranks *rs, int rank);
/* The rank's host: from its HELLO, or, for a replacement that has not
 * said HELLO yet, the one it was spawned on; NULL if unknown. */
const char *keel__ranks_host(const keel__ranks *rs, int rank);
/* Lost rank died on a host that is still up: have keel__ranks_grow()
 * spawn a worker there in its place (started by keelrun or mpirun; a
 * program started alone replaces its spawned ranks anyway). */
void keel__ranks_replace(keel__ranks *rs, int rank);
/* Publish the counts user threads read (keel__hub). */
void keel__ranks_publish(const keel__ranks *rs);
/* Spawn the workers that executors want, replacing lost spawned ranks up
 * to a limit: how many turns of work that was (0 or 1). */
int keel__ranks_grow(keel__ranks *rs);

/* ---- transport.c ---- */

typedef struct keel__transport {
  keel__sendq sends;
  /* Ranks with receives posted and not yet handed over, each once (its
   * rank's `arriving`): a manager turn visits these, not every rank. */
  int *arriving;
  int narriving, cap;
} keel__transport;

struct keel__master;
void keel__transport_init(keel__transport *t);
void keel__transport_free(keel__transport *t);
/* MPI_Isend b (taking its bytes) to worker rank; work (not a heartbeat)
 * also rings the bell of a nanny on our node.  Nothing is sent to a lost
 * rank.  KEEL_OK, or the error of a send that failed (the caller loses the
 * rank). */
int keel__transport_send(struct keel__master *m, int rank, keel_buf *b,
                         bool work);
/* The same for len bytes at msg inside a task's argument block: one
 * reference of arg is MPI's until the send is done (api/arg.c). */
int keel__transport_send_ref(struct keel__master *m, int rank,
                             const void *msg, size_t len, void *arg);
/* Match what has arrived and start receiving it. */
void keel__transport_post(struct keel__master *m);
/* Completed receives of each rank, in order: handle(m, rank, &buf, n) for
 * each (it may take the buffer, leaving NULL); the sum of what it
 * returned. */
int keel__transport_complete(struct keel__master *m,
                             int (*handle)(struct keel__master *m, int rank,
                                           char **buf, size_t n));
/* Free the sends that completed. */
void keel__transport_test(keel__transport *t);
/* Nothing arriving from a live rank and no send pending to one. */
bool keel__transport_idle(const struct keel__master *m);

/* ---- watch.c ---- */

typedef struct keel__watch {
  int lfd, port;     /* the lifeline socket (-1 if none) and its port */
  uint64_t token;    /* what nannies say on it (HELLO tells them) */
  char addrs[1024];  /* this host's addresses (HELLO tells them) */
  int *pending;      /* accepted, not greeted yet */
  int npending, qcap;
  int ep;            /* epoll set: those, the ranks' pidfds and sockets */
  double last_beat;  /* when it last sent heartbeats */
  double last_check; /* when it last looked for silent ranks */
} keel__watch;

/* The lifeline socket (a log line if there can be none). */
int keel__watch_start(struct keel__master *m);
void keel__watch_stop(struct keel__master *m);
/* One turn: greet new lifelines, lose the ranks whose pidfd or lifeline
 * says they died or that went silent, send heartbeats.  How many were
 * lost. */
int keel__watch_check(struct keel__master *m);
/* rank's HELLO gave it a pidfd: watch it. */
void keel__watch_rank(struct keel__master *m, int rank);
/* Heartbeats to every rank now: before something that holds the manager
 * thread (a spawn), so that each nanny has a whole timeout to wait. */
void keel__watch_beat(struct keel__master *m);
/* Its fd (the epoll set), for the manager's nap to end when one is
 * ready: how many of cap it wrote (0 or 1). */
int keel__watch_pollfds(struct keel__master *m, struct pollfd *fds, int cap);

/* ---- output.c ---- */

typedef struct keel__printer {
  pthread_mutex_t lock;
  pthread_cond_t more, room;
  keel__queue chunks; /* to write, in order */
  size_t bytes;       /* queued */
  bool tag;           /* KEEL_TAG_OUTPUT: "[rank R host H task T] " */
  bool stop, running;
  pthread_t thread;
} keel__printer;

int keel__output_start(keel__printer *p);
/* Write what is queued, then end the thread. */
void keel__output_stop(keel__printer *p);
/* Queue one OUTPUT record from rank (the manager thread): it is printed
 * whole, in arrival order, on our stdout or stderr. */
void keel__output_lines(keel__printer *p, const keel__output *rec, int rank,
                        const char *host);

/* ---- report.c ---- */
/* What a crash does to its task's future. */
typedef struct keel__fate {
  enum { KEEL__FATE_RETRY, KEEL__FATE_FAIL, KEEL__FATE_BREAK } what;
  int tries, max_retries; /* RETRY: this retry of max_retries */
} keel__fate;
/* A task's crash (KEEL_EWORKER, KEEL_EDEADLINE): one report block on
 * stderr, unless the executor's quiet_crashes or KEEL_LOG=error. */
void keel__report_crash(const keel_executor *ex, const keel_error *e,
                        keel__fate fate);
/* The summary line of a break that failed n > 0 other futures. */
void keel__report_broken(const keel_executor *ex, size_t n);

/* ---- dispatch.c ---- */

/* One worker rank as an executor sees it. */
typedef struct keel__xworker {
  int rank;
  int state;          /* KEEL__W_* */
  keel__queue flight; /* its futures in flight on this rank, in order */
  int inflight;
  double work;        /* their estimated run times, summed */
  uint32_t recalling; /* tasks a RECALL asked back, until RECALLED */
  double opened_at;
  bool hungry;        /* on its executor's list of workers that may have room */
} keel__xworker;

enum { KEEL__W_ACTIVE = 1, KEEL__W_RETIRING = 2, KEEL__W_CLOSING = 3 };

/* The manager's side of an executor (ex->sched). */
typedef struct keel__sched {
  keel_executor *ex;
  keel__queue node; /* on keel__master.execs */
  /* the hub's requests as the manager last copied them */
  int target;
  bool shutdown, released, cancel, kill;
  bool rebalance_due; /* a worker went idle: rebalance() looks */
  keel__queue pending; /* futures accepted, not sent */
  size_t npend;
  size_t outstanding;  /* accepted and not yet done */
  keel__xworker **w; /* each apart: its flight must not move */
  int nw, wcap;
  /* The workers that may have room (as many slots as w): attached, or
   * given a task back since dispatch() last found them full.  A full
   * worker has tasks in flight, so one will come back and put it here
   * again; dispatch() looks at these only, not at every worker. */
  keel__xworker **hungry;
  int nhungry;
  int nstate[4]; /* workers in each KEEL__W_* state */
  keel__estimates est; /* its task functions' run times */
} keel__sched;

/* Take ex over (the manager thread); KEEL_ENOMEM. */
int keel__dispatch_adopt(keel_executor *ex);
/* ex is finished and released: free its side. */
void keel__dispatch_free(keel_executor *ex);
/* Take a user's submission into the executor's queue. */
void keel__dispatch_accept(keel__sched *s, keel_future *f);
/* One turn: workers attached and retired, queued tasks sent, a broken
 * executor's queue failed.  Returns how many things it did. */
int keel__dispatch_step(struct keel__master *m, keel__sched *s);
/* Nothing in flight or queued, no worker coming or going. */
bool keel__dispatch_quiet(const keel__sched *s);
/* Finished: all done, and no worker left. */
bool keel__dispatch_finished(const keel__sched *s);
/* The results of one RESULTS message (KEEL_EPROTO if it is malformed);
 * a lone big result takes the message's buffer (*msg becomes NULL). */
int keel__dispatch_results(struct keel__master *m, keel__sched *s, int rank,
                           const keel__wire_hdr *h, keel__wire_rd *rd,
                           char **msg);
void keel__dispatch_death(struct keel__master *m, keel__sched *s, int rank,
                          const keel__death *d);
/* RECALLED: the tasks the nanny gave back go back to the front of the
 * queue (KEEL_EPROTO if the message is malformed). */
int keel__dispatch_recalled(struct keel__master *m, keel__sched *s, int rank,
                            const keel__wire_hdr *h, keel__wire_rd *rd);
void keel__dispatch_closed(struct keel__master *m, keel__sched *s, int rank);
/* The rank is gone: fail or requeue what it ran for the executor. */
void keel__dispatch_rank_lost(struct keel__master *m, keel__sched *s,
                              int rank, const char *why);
void keel__dispatch_cancel_pending(keel__sched *s);
/* KEEL_SHUTDOWN_KILL: fail every future not done with KEEL_ESHUTDOWN and
 * close every worker, whose nanny kills the task process. */
void keel__dispatch_kill(keel__sched *s);

/* ---- manager.c ---- */

typedef struct keel__master {
  keel__ranks ranks;
  keel__transport net;
  keel__watch watch;
  keel__printer out; /* what task processes print */
  keel__queue execs; /* the executors it runs (keel__sched.node) */
  keel__estimates est; /* task functions' run times, from all executors */
  double heartbeat_timeout;
  int bell;         /* nannies on this node ring it (doorbell) */
  bool world_broken; /* a rank of MPI_COMM_WORLD is gone without
                        MPI_Finalize: nobody may call it */
  pthread_t thread;
  /* What the files below manager.c call back into it for. */
  void (*send)(struct keel__master *m, int rank, keel_buf *b); /* work */
  /* work sent from a task's argument block (api/arg.c), one reference of
   * which it takes */
  void (*send_ref)(struct keel__master *m, int rank, const void *msg,
                   size_t len, void *arg);
  void (*fail)(struct keel__master *m, int rank, const char *why);
  /* died: its process is gone and its host up (pidfd, lifeline, or a hung
   * nanny we killed), so a replacement may start there */
  void (*lose)(struct keel__master *m, int rank, const char *why, bool died);
  int (*handle)(struct keel__master *m, int rank, char **buf, size_t n);
} keel__master;

/* Start the manager thread over comm (master rank 0, workers 1..). */
int keel__manager_start(MPI_Comm comm);
/* Stop every executor, then the worker ranks, then the thread; true when
 * the job is whole enough for MPI_Finalize. */
bool keel__manager_stop(void);

#endif /* KEEL_MASTER_H */
