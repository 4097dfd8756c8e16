/*
 * keel_int.h: what every role of the runtime shares, and only that (not
 * installed).  In the manner of Argobots' abti.h, each role has its own
 * private header beside its code:
 *
 *   proto/wire.h      the wire format: messages between the processes
 *   proto/channel.h   what a nanny and its task process share
 *   proto/mpiq.h      nonblocking MPI sends and receives
 *   proto/comm.h      MPI start-up: communicators, node index, checks
 *   sys/sys.h         clock and back-off, doorbell, lifeline, binding
 *   api/api.h         futures, executors, and the hub user threads and the
 *                     manager thread meet at
 *   master/master.h   the manager thread (rank 0)
 *   worker/worker.h   the nanny (a worker rank)
 *   task/task.h       the task process
 *
 * This header declares runtime/common/: the growable buffer, errors and
 * the process's identity for logs, the task registry, assertions, and the
 * intrusive queue (queue.h).  Internal non-static symbols are prefixed
 * keel__ followed by the name of their file (keel__buf_* in buf.c,
 * keel__registry_* in registry.c); statics have no prefix.
 */
#ifndef KEEL_INT_H
#define KEEL_INT_H

#include "keel.h"
#include "queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ---- assertions (common/log.c) ---- */
/* Invariants: thread and lock rules, counters.  On unless the build is
 * configured with --disable-asserts (KEEL_NDEBUG): a broken invariant
 * aborts with its expression and place rather than corrupt a job. */
#ifdef KEEL_NDEBUG
#define keel__assert(e) ((void)0)
#else
#define keel__assert(e) \
  ((e) ? (void)0 : keel__assert_fail(#e, __FILE__, __LINE__, __func__))
#endif
void keel__assert_fail(const char *expr, const char *file, int line,
                       const char *func) __attribute__((noreturn));

/* ---- lock.c: a mutex that knows its holder ---- */
typedef struct keel__lock {
  pthread_mutex_t mutex;
  _Atomic(const void *) owner; /* the holder's token, for assertions */
} keel__lock;
#define KEEL__LOCK_INIT {PTHREAD_MUTEX_INITIALIZER, NULL}
void keel__lock_take(keel__lock *l);
void keel__lock_give(keel__lock *l);
bool keel__lock_held(keel__lock *l); /* by this thread */
/* pthread_cond_wait (or _timedwait until an absolute time) with l held:
 * its return code. */
int keel__lock_wait(keel__lock *l, pthread_cond_t *c,
                    const struct timespec *until);
/* This thread's token (what keel__lock_held compares). */
const void *keel__lock_thread(void);

/* ---- log.c: who this process is, and its log lines ---- */
enum keel__role { KEEL__ROLE_NONE, KEEL__ROLE_MASTER, KEEL__ROLE_NANNY,
                  KEEL__ROLE_TASK };
struct keel__self {
  int role;        /* KEEL__ROLE_*, set once by keel_init() */
  int rank;        /* world rank (the master 0), -1 while unknown */
  char host[256];  /* gethostname() */
  int core;        /* the core this rank is bound to, -1 if none */
  char **argv;     /* a copy of main's, for spawning processes */
};
extern struct keel__self keel__self;
/* KEEL_LOG's levels: a line is printed when its level is at most
 * keel__log_level (default warn). */
enum keel__level { KEEL__LOG_ERROR, KEEL__LOG_WARN, KEEL__LOG_INFO,
                   KEEL__LOG_DEBUG };
extern int keel__log_level;
extern const char *const keel__log_levels[]; /* their names, for KEEL_LOG */
/* Read KEEL_LOG (keel_init, before anything is logged). */
void keel__log_init(void);
/* One line on stderr: ISO time with milliseconds, keel[role rank
 * host:pid], the level, the message. */
void keel__log_at(int level, const char *fmt, ...) KEEL_PRINTF(2, 3);
/* A problem keel works around or reports: level warn. */
#define keel__log(...) keel__log_at(KEEL__LOG_WARN, __VA_ARGS__)
/* The life of a task, for KEEL_LOG=debug: costs one test otherwise. */
#define keel__debug(...)                                                     \
  do {                                                                       \
    if (keel__log_level >= KEEL__LOG_DEBUG)                                  \
      keel__log_at(KEEL__LOG_DEBUG, __VA_ARGS__);                            \
  } while (0)

/* ---- env.c: keel's environment variables ---- */
/* Each returns def when the variable is unset or empty.  A bad value gets
 * one log line on the master naming it and what is used instead: def for
 * garbage, the nearest bound for a value out of range. */
long keel__env_long(const char *name, long def, long lo, long hi);
double keel__env_seconds(const char *name, double def, double lo, double hi);
/* 1, yes, true, on; 0, no, false, off (any case); anything else is 0. */
bool keel__env_switch(const char *name);
/* The index of the value among words[0..n-1]. */
int keel__env_choice(const char *name, const char *const *words, int n,
                     int def);

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
/* Fill e from src, every field copied (none from a NULL src), as the
 * error of task task_id with code. */
int keel__error_copy(keel_error *e, int code, const keel_error *src,
                     unsigned long long task_id);
void keel__error_clear(keel_error *e);
/* A message formatted into fresh memory (the caller frees it), or NULL. */
char *keel__error_printf(const char *fmt, ...) KEEL_PRINTF(1, 2);

/* ---- estimate.c: how long each task function's tasks run ---- */
typedef struct keel__estimates {
  struct keel__estimate {
    uint64_t fn; /* 0: free */
    double s;    /* moving average of its run times, seconds */
  } *v;
  size_t n, cap; /* cap: a power of two, or 0 */
} keel__estimates;
/* fn's estimate in seconds, 0 when none of its tasks has been timed. */
double keel__estimate_get(const keel__estimates *e, uint64_t fn);
/* One of fn's tasks ran s seconds. */
void keel__estimate_note(keel__estimates *e, uint64_t fn, double s);
void keel__estimate_free(keel__estimates *e);

/* ---- registry.c: task functions by name ---- */
uint64_t keel__registry_hash(const char *name);
/* The wire id of fn, or KEEL_ENOTASK. */
int keel__registry_id(keel_task_fn *fn, uint64_t *id);
/* The function registered under wire id, or NULL; *name may be NULL. */
keel_task_fn *keel__registry_fn(uint64_t id, const char **name);

#endif /* KEEL_INT_H */
