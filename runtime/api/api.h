/*
 * api/api.h: what user threads call into, on the master: futures
 * (future.c, completion.c, map.c), executors (executor.c), and the hub
 * (hub.c) where user threads and the manager thread (master/) meet.
 *
 * The thread rules, checked by keel__assert where a build has them:
 *  - a future's state, result and callbacks are guarded by the futures'
 *    lock (keel__future_lock); the manager completes them in batches under
 *    one acquisition;
 *  - an executor's user-side fields (marked "hub") are guarded by the
 *    hub's lock; the manager copies them under that lock and acts on its
 *    copy without it;
 *  - the manager thread alone touches an executor's scheduling state
 *    (ex->sched, master/dispatch.c) and every MPI call.
 * api/ calls nothing of master/: the manager takes what the hub holds.
 */
#ifndef KEEL_API_H
#define KEEL_API_H

#include "keel_int.h"
#include "sys/sys.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* ---- future.c ---- */
enum keel__fstate {
  KEEL__F_PENDING = 0,
  KEEL__F_RUNNING = 1,
  KEEL__F_FINISHED = 2,
  KEEL__F_CANCELLED = 3
};

struct keel_future {
  atomic_int refs;
  int state; /* KEEL__F_*, under the futures' lock */
  keel_error err;
  char *data;
  size_t len;
  keel__queue cbs;      /* of struct keel__cb, in registration order */
  keel__queue watchers; /* of completion.c's watchers */
  /* the task itself, owned by the executor until the future is done */
  unsigned long long task_id;
  uint64_t fn;
  uint32_t item_size;
  void *arg;
  size_t arg_len;
  int tries;
  int downs;        /* the manager's: runs during which its rank was lost */
  int rank;         /* the worker that ran it last, -1 before */
  double est;       /* the manager's: its estimated run time when sent */
  const char *host; /* that worker's host, once its result came */
  uint64_t printed; /* output bytes queued when it completed (printed.c) */
  struct keel_executor *ex;
  keel__queue node; /* in one queue of its executor at a time */
};

/* The lock guarding every future's state, and the condition broadcast
 * when futures complete. */
void keel__future_lock(void);
void keel__future_unlock(void);
bool keel__future_locked(void); /* by this thread (for assertions) */
void keel__future_broadcast(void);
/* Wait (locked) until woken or the deadline (keel__clock_deadline)
 * passes; false once it has passed. */
bool keel__future_wait_until(double deadline);

keel_future *keel__future_new(void);
void keel__future_ref(keel_future *f);
/* Finish f (locked).  code 0 takes data/len (malloc'd) as the result;
 * else err fields come from e (copied).  Returns false if f was already
 * done.  Its callbacks are then run by keel__future_run_cbs() once the
 * lock is released: nobody adds to them after this. */
bool keel__future_finish_locked(keel_future *f, int code, char *data,
                                size_t len, const keel_error *e);
void keel__future_run_cbs(keel_future *f);
/* On the callback thread: the executor of the future whose callbacks run
 * now; else NULL. */
keel_executor *keel__future_cb_executor(void);
/* Convenience: lock, finish, unlock, broadcast, run callbacks. */
void keel__future_fail(keel_future *f, int code, const char *msg);
/* Completion of futures in batches (the manager thread): finish under one
 * acquisition of the lock, then broadcast once, run callbacks and drop the
 * executor's references.  Nests. */
void keel__future_batch_begin(void);
void keel__future_batch_finish(keel_future *f, int code, char *data,
                               size_t len, const keel_error *e);
void keel__future_batch_drop(keel_future *f); /* already done: just unref */
void keel__future_batch_end(void);
/* What completion.c hangs on a future: called (locked) when f completes,
 * for its watchers.  Set once, before any watcher exists. */
void keel__future_set_watch_hook(void (*hook)(keel_future *f));

/* ---- arg.c: a task's argument, kept by the master ---- */
/* Arguments of at least KEEL__ARG_IN_PLACE bytes are sent from where they
 * lie: the KEEL__ARG_ROOM bytes before them are the sender's to write a
 * message prefix into (master/dispatch.c), and MPI holds a reference
 * while it sends. */
#define KEEL__ARG_IN_PLACE (64u << 10)
#define KEEL__ARG_ROOM 60
bool keel__arg_in_place(size_t len);
/* len bytes, or NULL without memory; one holder. */
void *keel__arg_new(size_t len);
void keel__arg_ref(void *arg, size_t len); /* in place only */
void keel__arg_unref(void *arg, size_t len); /* the last frees; NULL: none */
void keel__arg_drop(void *arg); /* keel__arg_unref() of one sent in place */

/* ---- printed.c: a task's output before its result ---- */
/* The master's printer (master/output.c) queued n bytes; wrote n more. */
void keel__printed_queued(size_t n);
void keel__printed_written(size_t n);
/* The bytes queued so far: a future completing now waits for them. */
uint64_t keel__printed_mark(void);
/* Wait until mark bytes are written, or the deadline passes. */
void keel__printed_wait(uint64_t mark, double deadline);

/* ---- hub.c: where user threads and the manager thread meet ---- */
struct keel__hub {
  keel__lock lock;
  pthread_cond_t ucond; /* user threads wait on it for executor state */
  int wake_fd;          /* the manager naps on this eventfd */
  bool mgr_sleeping;    /* it is napping: write to wake_fd */
  bool wake_pending;    /* a user asked for it since it last looked */
  bool running;         /* the manager thread is up */
  bool stopping, stopped;
  _Atomic(const void *) manager; /* the manager thread, for assertions */
  keel__queue new_execs; /* created by users, not yet taken (ex->hub_node) */
  unsigned next_exec_id;
  atomic_ullong next_task_id;
  /* published by the manager, read by user threads, under lock */
  int nranks;       /* worker ranks ever known */
  int live_ranks;   /* of which not lost */
  bool spawn_mode;  /* started alone: workers come from MPI_Comm_spawn */
  int spawn_want;   /* spawned workers the executors want (users write) */
  /* user threads' own, under lock */
  keel_executor *reusable; /* keel_get_reusable_executor()'s */
  atomic_bool draining;    /* keel_drain(), from a signal handler too */
};

extern struct keel__hub keel__hub;

void keel__hub_lock(void);
void keel__hub_unlock(void);
bool keel__hub_locked(void); /* by this thread (for assertions) */
void keel__hub_wait_locked(void); /* on ucond */
void keel__hub_broadcast_locked(void);
/* Wake the manager thread (locked): it takes what users left. */
void keel__hub_wake_locked(void);
/* The manager thread says it is the one (for keel__hub_on_manager). */
void keel__hub_manager_here(void);
bool keel__hub_on_manager(void); /* this is the manager thread */

/* ---- executor.c ---- */
/* A program started alone spawns at most this many workers per core it may
 * run on, all on its node: KEEL_WORKERS and max_workers above it are
 * clamped. */
#define KEEL__SPAWN_PER_CORE 16
/* max_pending 0: at most this many tasks submitted and not finished. */
#define KEEL__PENDING_DEFAULT 1000000
enum keel__xstate { KEEL__X_OPEN = 0, KEEL__X_BROKEN = 1 };

struct keel__sched; /* the manager's side of an executor: master/dispatch.c */

struct keel_executor {
  unsigned id;
  keel_options opt;
  void *initarg; /* our copy */
  uint64_t init_fn;
  bool reusable;
  /* hub: set by user threads under the hub's lock, read by the manager */
  keel__queue submitted; /* futures not yet taken by the manager */
  keel__queue hub_node;  /* on keel__hub.new_execs until taken */
  int target;            /* workers wanted */
  bool shutdown;         /* no more submits */
  bool released;         /* the user gave the handle back */
  bool cancel_req;       /* KEEL_SHUTDOWN_CANCEL asked ... */
  bool kill_req;         /* ... with KEEL_SHUTDOWN_KILL */
  /* hub: set by the manager under the hub's lock, read by user threads */
  bool cancel_done;      /* ... and done */
  bool finished;         /* all done and closed */
  char *broken_msg;
  atomic_int state;    /* KEEL__X_* */
  atomic_int nworkers; /* live workers, for keel_executor_workers */
  /* futures whose callbacks wait for or run on the callback thread: the
   * manager frees ex only at 0, and shutdown(WAIT) waits for 0 */
  atomic_int callbacks;
  /* futures submitted and not finished (the futures' lock), bounded by
   * max_pending: keel_submit waits for room */
  size_t unfinished;
  struct keel__sched *sched; /* the manager's, NULL until it takes ex */
};

/* Submit with an already resolved function id; item_size > 0 makes a map
 * chunk. */
int keel__executor_submit(keel_executor *ex, uint64_t fn, uint32_t item_size,
                          const void *arg, size_t len, keel_future **f);
/* Free what the executor itself holds (not its futures, not ex->sched). */
void keel__executor_free(keel_executor *ex);

/* ---- callback.c: the thread that runs on_done callbacks ---- */
typedef void keel__callback_fn(void *item);
/* Have run(item) called on the callback thread for each item, in order
 * (future.c, from the manager thread).  run is the same for every post. */
void keel__callback_post(void *const *items, size_t n, keel__callback_fn *run);
bool keel__callback_here(void); /* this is the callback thread */
/* Run what is queued, then end the thread (keel_finalize). */
void keel__callback_stop(void);

/* ---- drain.c ---- */
/* The master's handlers for SIGUSR1 and SIGUSR2, where the program has
 * none. */
void keel__drain_install(void);

#endif /* KEEL_API_H */
