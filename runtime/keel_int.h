/*
 * keel_int.h: what the runtime's modules share.  Not installed.
 * Internal non-static symbols are prefixed keel__.
 */
#ifndef KEEL_INT_H
#define KEEL_INT_H

#include "keel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define KEEL__HIDDEN __attribute__((visibility("hidden")))

/* ---- buf.c: the growable buffer behind keel_buf and every encoder ---- */
struct keel_buf {
  char *data;
  size_t len, cap;
  size_t base; /* the task's result starts here (a map item's, in place) */
  int failed;  /* keel_fail() was called: data holds the message */
};
int keel__buf_reserve(keel_buf *b, size_t extra);
void keel__buf_reset(keel_buf *b);
void keel__buf_free(keel_buf *b);
/* Hand the bytes over to the caller (who frees them); b becomes empty. */
char *keel__buf_steal(keel_buf *b, size_t *len);

/* ---- error.c ---- */
/* Fill e, copying the strings; the previous strings of e are freed. */
int keel__error_set(keel_error *e, int code, const char *message, int rank,
                    const char *host, int sig, int exit_status,
                    unsigned long long task_id, const char *backtrace);
void keel__error_clear(keel_error *e);
/* Report an internal problem on stderr, prefixed with keel and the role. */
void keel__log(const char *fmt, ...) KEEL_PRINTF(1, 2);
char *keel__strdup_printf(const char *fmt, ...) KEEL_PRINTF(1, 2);

/* ---- registry.c ---- */
uint64_t keel__hash(const char *name);
/* The wire id of fn, or KEEL_ENOTASK. */
int keel__registry_id(keel_task_fn *fn, uint64_t *id);
/* The function registered under wire id, or NULL; *name may be NULL. */
keel_task_fn *keel__registry_fn(uint64_t id, const char **name);

/* ---- clock.c: monotonic time and the adaptive back-off ---- */
double keel__now(void);
void keel__sleep(double seconds);
/* Spin (with sched_yield) for a moment after activity, then sleep in steps
 * growing to 1 ms, and with nothing in flight for KEEL__DOZE_AFTER, doze in
 * naps up to KEEL__DOZE_MAX: an idle loop costs almost nothing, a busy one
 * no latency.  Heartbeats are not activity. */
#define KEEL__DOZE_AFTER 50e-3 /* seconds */
#define KEEL__DOZE_MAX 20e-3   /* seconds */
typedef struct keel__backoff {
  double last_activity;
  double sleep;
} keel__backoff;
void keel__backoff_reset(keel__backoff *b);
/* How long to sleep now (0 = just yield); may_doze: nothing in flight. */
double keel__backoff_next(keel__backoff *b, bool may_doze);
/* Sleep s seconds (0: yield) or until one of fds is ready: poll()'s
 * result, 0 after a yield. */
struct pollfd;
int keel__poll(struct pollfd *fds, unsigned long n, double s);

/* ---- wire.c: every message between master, nanny and task process ---- */
#define KEEL__WIRE_MAGIC 0x4C45454Bu /* "KEEL" little-endian */
#define KEEL__WIRE_VERSION 1
#define KEEL__WIRE_HDR 20
#define KEEL__WIRE_MAX (1u << 30) /* largest payload, bytes */
#define KEEL__MPI_TAG 0x4b1
/* Seconds of silence after which master and nanny give each other up
 * (KEEL_HEARTBEAT_TIMEOUT on the master; it tells its nannies). */
#define KEEL__HEARTBEAT_TIMEOUT 10.0

enum keel__msg {
  KEEL__M_HELLO = 1,    /* nanny -> master: pid, core, host, node;
                           master -> nanny: pid, timeout, node */
  KEEL__M_OPEN = 2,     /* master -> nanny: start serving an executor */
  KEEL__M_TASKS = 3,    /* master -> nanny -> task process */
  KEEL__M_RESULTS = 4,  /* task process -> nanny -> master */
  KEEL__M_DEATH = 5,    /* nanny -> master: a task process died */
  KEEL__M_CLOSE = 6,    /* master -> nanny: stop serving an executor */
  KEEL__M_CLOSED = 7,   /* nanny -> master: its task process is gone */
  KEEL__M_STOP = 8,     /* master -> nanny: exit (count: KEEL__STOP_*) */
  KEEL__M_BYE = 9,      /* nanny -> master: exiting */
  KEEL__M_INITFAIL = 10,/* task process -> nanny: the initializer failed */
  KEEL__M_HEARTBEAT = 11,/* both ways: still alive */
  KEEL__M_LAST = 11
};

/* STOP's count: flags. */
enum {
  /* A rank of the job ended without MPI_Finalize.  Open MPI 4.1's
   * MPI_Finalize fences with every rank of the job through PMIx and can
   * then wait forever for the lost one, so exit without it. */
  KEEL__STOP_NO_FINALIZE = 1
};

/* Why a task process died (DEATH.cause). */
enum keel__cause {
  KEEL__C_CRASH = 1,    /* signal or exit while running a task */
  KEEL__C_DEADLINE = 2, /* killed by the nanny past task_timeout */
  KEEL__C_MEMORY = 3,   /* killed by the nanny past memory_limit */
  KEEL__C_INIT = 4,     /* the initializer failed or crashed */
  KEEL__C_SPAWN = 5,    /* the task process could not be started */
  KEEL__C_PROTO = 6     /* it sent a malformed message */
};

typedef struct keel__hdr {
  uint8_t type;
  uint32_t exec;
  uint32_t count;
  uint32_t len; /* payload bytes after the header */
} keel__hdr;

/* Bounds-checked reader: any overrun sets err and yields zeros. */
typedef struct keel__rd {
  const uint8_t *p;
  size_t len, pos;
  int err;
} keel__rd;

void keel__wr_hdr(keel_buf *b, uint8_t type, uint32_t exec, uint32_t count);
/* Patch the payload length (and count) of the message starting at off. */
void keel__wr_finish(keel_buf *b, size_t off, uint32_t count);
void keel__wr_u32(keel_buf *b, uint32_t v);
void keel__wr_u64(keel_buf *b, uint64_t v);
void keel__wr_f64(keel_buf *b, double v);
void keel__wr_bytes(keel_buf *b, const void *p, size_t n); /* u32 len + n */
void keel__wr_str(keel_buf *b, const char *s);             /* NULL = "" */

/* Validate a message's header: KEEL_OK, or KEEL_EPROTO with *why set. */
int keel__wire_hdr(const void *msg, size_t n, keel__hdr *h, const char **why);
void keel__rd_init(keel__rd *r, const void *payload, size_t n);
uint32_t keel__rd_u32(keel__rd *r);
uint64_t keel__rd_u64(keel__rd *r);
double keel__rd_f64(keel__rd *r);
const void *keel__rd_bytes(keel__rd *r, uint32_t *n);
/* A NUL-terminated copy of a string field (caller frees), NULL on error. */
char *keel__rd_str(keel__rd *r);

/* One task as it travels: item_size 0 for a single task, else a chunk of
 * arg_len / item_size items of a map. */
typedef struct keel__task {
  uint64_t id, fn;
  uint32_t item_size;
  const void *arg;
  uint32_t arg_len;
} keel__task;
typedef struct keel__result {
  uint64_t id;
  int32_t status;
  uint32_t runtime_us;
  const void *data;
  uint32_t len;
} keel__result;
void keel__wr_task(keel_buf *b, const keel__task *t);
int keel__rd_task(keel__rd *r, keel__task *t);
void keel__wr_result(keel_buf *b, const keel__result *res);
int keel__rd_result(keel__rd *r, keel__result *res);

/* The settings of an executor that its task processes need (OPEN). */
typedef struct keel__xopts {
  double task_timeout, idle_timeout;
  uint64_t memory_limit;
  int32_t max_tasks, on_crash;
  uint64_t init_fn;
  const void *initarg;
  uint32_t initarg_len;
} keel__xopts;
void keel__wr_open(keel_buf *b, uint32_t exec, const keel__xopts *o);
int keel__rd_open(keel__rd *r, keel__xopts *o);

/* HELLO: a nanny's (pid, core, host, node) or the master's answer (pid,
 * heartbeat timeout, node); node is keel__node_id().  Strings owned after
 * keel__rd_hello: keel__hello_free. */
typedef struct keel__hello {
  uint32_t pid;
  int32_t core;
  double timeout;
  char *host, *node;
} keel__hello;
void keel__wr_hello(keel_buf *b, const keel__hello *h, bool from_master);
int keel__rd_hello(keel__rd *r, keel__hello *h, bool from_master);
void keel__hello_free(keel__hello *h);

/* One item of a map chunk's result: i32 status (0 or a KEEL_E*), bytes
 * (the result, or the error message), zeros to a multiple of 8 bytes. */
void keel__wr_item(keel_buf *b, int32_t status, const void *p, size_t n);
/* The same record written in place: begin, then the task function appends
 * its result to b itself (b->base hides the rest of the chunk from it),
 * then end.  KEEL_ENOMEM if the header does not fit. */
int keel__wr_item_begin(keel_buf *b);
void keel__wr_item_end(keel_buf *b, int32_t status);
int keel__rd_item(keel__rd *r, int32_t *status, const void **p, uint32_t *n);

typedef struct keel__death {
  uint64_t task_id;
  int32_t cause, signal, exit_status;
  char *message, *backtrace; /* owned after keel__rd_death */
} keel__death;
void keel__wr_death(keel_buf *b, uint32_t exec, const keel__death *d);
int keel__rd_death(keel__rd *r, keel__death *d);

/* ---- future.c ---- */
enum keel__fstate {
  KEEL__F_PENDING = 0,
  KEEL__F_RUNNING = 1,
  KEEL__F_FINISHED = 2,
  KEEL__F_CANCELLED = 3
};

typedef struct keel__cb {
  void (*fn)(keel_future *, void *);
  void *arg;
  struct keel__cb *next;
} keel__cb;

typedef struct keel__watch keel__watch; /* completion.c */

struct keel_future {
  atomic_int refs;
  int state; /* under keel__flock */
  keel_error err;
  char *data;
  size_t len;
  keel__cb *cbs;
  keel__watch *watchers;
  /* the task itself, owned by the executor until the future is done */
  unsigned long long task_id;
  uint64_t fn;
  uint32_t item_size;
  void *arg;
  size_t arg_len;
  int tries;
  int rank; /* the worker that ran it last, -1 before */
  struct keel_executor *ex;
  struct keel_future *next; /* in a queue of the executor */
};

extern pthread_mutex_t keel__flock; /* guards every future's state */
extern pthread_cond_t keel__fcond;  /* broadcast when futures complete */

keel_future *keel__future_new(void);
void keel__future_ref(keel_future *f);
/* Finish f (under keel__flock).  code 0 takes data/len (malloc'd) as the
 * result; else err fields come from e (copied).  Returns false if f was
 * already done.  Callbacks are collected into *cbs for keel__run_cbs(). */
bool keel__future_finish_locked(keel_future *f, int code, char *data,
                                size_t len, const keel_error *e,
                                keel__cb **cbs);
void keel__run_cbs(keel_future *f, keel__cb *cbs);
/* Convenience: lock, finish, unlock, run callbacks, broadcast. */
void keel__future_fail(keel_future *f, int code, const char *msg);
bool keel__wait_until(double deadline); /* cond wait on keel__fcond */
double keel__deadline(double timeout);

/* completion.c: called under keel__flock when f completes */
void keel__watch_notify_locked(keel_future *f);

/* ---- executor.c / master.c ---- */
enum keel__xstate { KEEL__X_OPEN = 0, KEEL__X_BROKEN = 1 };

/* One worker rank as an executor sees it. */
typedef struct keel__xworker {
  int rank;
  int state; /* KEEL__W_* */
  keel_future *head, *tail; /* in flight on this rank, in order */
  int inflight;
  double opened_at;
} keel__xworker;

enum { KEEL__W_ACTIVE = 1, KEEL__W_RETIRING = 2, KEEL__W_CLOSING = 3 };

struct keel_executor {
  unsigned id;
  keel_options opt;
  void *initarg; /* our copy */
  uint64_t init_fn;
  bool reusable;
  /* set by user threads under keel__rt.lock, read by the manager */
  keel_future *in_head, *in_tail;
  int target;          /* workers wanted */
  bool shutdown;       /* no more submits */
  bool released;       /* the user gave the handle back */
  atomic_int state;    /* KEEL__X_* */
  atomic_int nworkers; /* live workers, for keel_executor_workers */
  char *broken_msg;    /* under keel__rt.lock */
  bool finished;       /* manager: all done and closed, under rt.lock */
  bool cancel_req, cancel_done; /* KEEL_SHUTDOWN_CANCEL handshake */
  /* the manager thread's own */
  int m_target;
  bool m_shutdown, m_released, m_cancel;
  keel_future *pend_head, *pend_tail;
  size_t npend;
  size_t outstanding; /* accepted and not yet done */
  keel__xworker *w;
  int nw, wcap;
  double task_time; /* moving average of one task's run time, seconds */
  struct keel_executor *next;
};

/* The master's process-wide state. */
typedef struct keel__rank {
  char *host;
  int pid, core;
  bool hello, lost, stopped;
  int pidfd;           /* watches the nanny when it shares our kernel */
  int index;           /* spawned: its worker index on the node, else -1 */
  int nexec;           /* executors it serves */
  double last_heard;
} keel__rank;

typedef struct keel__runtime {
  pthread_mutex_t lock;
  pthread_cond_t ucond; /* user threads wait on it for executor state */
  bool mgr_sleeping;    /* in idle_wait: write to its eventfd to wake it */
  bool wake_pending;    /* a user asked for the manager since it looked */
  bool stopping, stopped;
  bool running; /* manager thread started */
  pthread_t thread;
  keel_executor *execs;     /* the manager's list */
  keel_executor *new_execs; /* created by users, not yet seen by it */
  unsigned next_exec_id;
  atomic_ullong next_task_id;
  int nranks; /* worker ranks + 1 (the master is rank 0) */
  keel__rank *ranks; /* grows under lock when workers are spawned */
  bool spawn_mode;   /* started alone: workers come from MPI_Comm_spawn */
  bool world_broken; /* a rank of MPI_COMM_WORLD is gone without
                        MPI_Finalize: nobody may call it (keel_finalize) */
  int spawn_want;    /* spawned workers wanted, under lock */
  char *spawn_error; /* why spawning failed, under lock */
} keel__runtime;

extern keel__runtime keel__rt;

/* ranks.c: spawn the workers that executors want (manager thread). */
int keel__ranks_grow(void);
/* Worker ranks not lost: under keel__rt.lock, or on the manager thread,
 * which alone changes them. */
int keel__live_ranks(void);

/* comm points to the MPI_Comm of master + workers (master is rank 0). */
int keel__master_start(void *comm);
void keel__master_stop(void);
void keel__master_wake_locked(void); /* under keel__rt.lock */
/* Fail every future of ex that is not done (manager thread). */
void keel__exec_free(keel_executor *ex);

/* ---- init.c: roles ---- */
enum keel__role { KEEL__ROLE_NONE, KEEL__ROLE_MASTER, KEEL__ROLE_NANNY,
                  KEEL__ROLE_TASK };
extern int keel__role;
extern char **keel__argv; /* a copy, for spawning task processes */
extern int keel__argc;
extern char keel__host[256];
extern int keel__core; /* core this rank is bound to, -1 if none */
/* Start a task process: the same binary, role in the environment, the
 * channel, crash pipe and shared page on fds 3, 4 and 5, its own process
 * group.  Returns its pid, or -1 with errno set. */
pid_t keel__spawn_task(int chan, int crash, int shm);

/* ---- nanny.c / taskproc.c / bind.c ---- */
void keel__nanny_main(void *comm) __attribute__((noreturn));
void keel__taskproc_main(void) __attribute__((noreturn));
/* Bind this process to one core chosen by its node-local rank; returns the
 * core's logical index, or -1 when unbound (KEEL_BIND=none or no hwloc). */
int keel__bind_self(int local_rank, int local_size, char *desc, size_t n);
/* Bind the master to the cores its node's first `workers` workers leave
 * free, or unbind it when none are; reports it like keel__bind_self. */
void keel__bind_master(int workers);
/* KEEL_REPORT_BINDINGS set: one line on stderr for this rank. */
void keel__report_binding(int rank, const char *desc);
/* Cores the master may run on (at least 1). */
int keel__cores(void);
/* This rank's index among the workers of its node (collective over comm,
 * master included); *local_size gets the node's rank count. */
int keel__node_index(void *comm, int rank, int *local_size);

/* ---- doorbell.c: master and nannies on one node wake each other ---- */
/* This process's bell, to poll() on (nonblocking, close-on-exec); -1 and a
 * log line if it cannot have one: it then answers after its naps. */
int keel__doorbell_open(void);
void keel__doorbell_drain(int fd);
/* Ring the bell of the process with this pid on our node (best effort). */
void keel__doorbell_ring(int pid);

/* ---- lifeline.c: master and nannies watching each other ---- */
/* "boot-id pid-namespace": equal on two processes of one kernel and pid
 * namespace, which may then watch each other's pids. */
const char *keel__node_id(char *buf, size_t n);
/* A pidfd on pid when node (its keel__node_id) is ours, else -1. */
int keel__pidfd_if_local(int pid, const char *node);
bool keel__pidfd_dead(int fd); /* the process is gone */
bool keel__pidfd_kill(int fd); /* SIGKILL it; false if that failed */

/* strays.c: children that tasks leave behind.  The nanny becomes a child
 * subreaper; keel__strays_kill() kills and reaps every child of the nanny
 * that is not one of the task processes in keep. */
void keel__strays_init(void);
void keel__strays_kill(const pid_t *keep, int nkeep);

/* Environment variables between a nanny and its task process. */
#define KEEL__ENV_ROLE "KEEL_ROLE"
#define KEEL__ENV_NANNY "KEEL_TASK_NANNY"

/* The page a task process shares with its nanny: which task runs now and
 * since when, so that a death is blamed exactly and deadlines are exact
 * although results travel in batches. */
typedef struct keel__shm {
  _Atomic uint64_t task_id; /* 0 between tasks */
  _Atomic double started;   /* keel__now() when it started */
  _Atomic uint32_t phase;   /* KEEL__P_* */
} keel__shm;
enum { KEEL__P_START = 0, KEEL__P_INIT = 1, KEEL__P_READY = 2 };

/* Exit status of a task process whose initializer failed. */
#define KEEL__INITFAIL_STATUS 113
/* Exit status of a task process that could not write a result: its task
 * closed or broke the channel to the nanny. */
#define KEEL__CHANLOST_STATUS 114

#endif /* KEEL_INT_H */

/* executor.c: submit with an already resolved function id; item_size > 0
 * makes a map chunk. */
int keel__submit_id(keel_executor *ex, uint64_t fn, uint32_t item_size,
                    const void *arg, size_t len, keel_future **f);
/* The host of a worker rank, or NULL. */
const char *keel__rank_host(int rank);

/* ---- master.c <-> dispatch.c (both run only on the manager thread) ---- */
/* Send the message in b to rank (takes b's bytes). */
void keel__send(int rank, keel_buf *b);
/* Complete futures in batches: finish under one keel__flock acquisition,
 * then broadcast, run callbacks and drop the executor's references. */
void keel__batch_begin(void);
void keel__batch_finish(keel_future *f, int code, char *data, size_t len,
                        const keel_error *e);
void keel__batch_drop(keel_future *f); /* already done: just unref */
void keel__batch_end(void);
/* Take a user's submission into the executor's queue. */
void keel__exec_accept(keel_executor *ex, keel_future *f);
int keel__exec_step(keel_executor *ex);
bool keel__exec_quiet(const keel_executor *ex);
/* The results of one RESULTS message; a lone big result takes the
 * message's buffer (*msg becomes NULL) instead of a copy. */
void keel__exec_results(keel_executor *ex, int rank, const keel__hdr *h,
                        keel__rd *rd, char **msg);
/* A result this big travels alone, so that the master can hand the whole
 * message buffer to its future: no fresh pages, no second copy. */
#define KEEL__RESULT_ALONE (16u << 10)
void keel__exec_death(keel_executor *ex, int rank, const keel__death *d);
void keel__exec_closed(keel_executor *ex, int rank);
/* The rank is gone: fail or requeue what it ran for ex. */
void keel__exec_rank_lost(keel_executor *ex, int rank, const char *why);
void keel__exec_cancel_pending(keel_executor *ex);
keel__xworker *keel__exec_worker(keel_executor *ex, int rank);
/* A protocol violation by rank: log it and stop using the rank. */
void keel__rank_fail(int rank, const char *why);
