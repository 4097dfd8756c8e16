/*
 * keel.h: concurrent.futures over MPI, with crash-proof workers.
 *
 * This is the only header keel installs.  Everything public is prefixed
 * keel_ / KEEL_.
 *
 * Conventions, written once here and followed by every call below:
 *  - Functions return int: 0 (KEEL_OK) on success, a negative KEEL_E* code
 *    on failure.  keel_strerror() names any code.
 *  - Objects come out through a last **out argument; every call that
 *    allocates names the call that releases what it gave.
 *  - Timeouts are double seconds: 0 polls, KEEL_FOREVER (any negative value)
 *    waits without limit.
 *  - SPMD: every rank runs the same binary.  keel_init() returns only on the
 *    master; worker ranks and task processes serve inside it and exit.
 */
#ifndef KEEL_H
#define KEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KEEL_EXPORT __attribute__((visibility("default")))
#define KEEL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KEEL_EXPORT
#define KEEL_PRINTF(f, a)
#endif

#define KEEL_VERSION_MAJOR 0
#define KEEL_VERSION_MINOR 1
#define KEEL_VERSION_PATCH 0

/* ------------------------------------------------------------------ */
/* Error codes.  One list: names, values and strings come from it.     */
/* ------------------------------------------------------------------ */

#define KEEL_ERRNO_MAP(XX)                                                   \
  XX(EINVAL, -EINVAL, "invalid argument")                                    \
  XX(ENOMEM, -ENOMEM, "out of memory")                                       \
  XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                     \
  XX(ECANCELED, -ECANCELED, "cancelled")                                     \
  XX(EDEADLK, -EDEADLK, "would wait for itself: not allowed in a callback")  \
  XX(EAGAIN, -EAGAIN, "no room: max_pending tasks are not finished")        \
  XX(ETASK, -4001, "the task function failed")                               \
  XX(EWORKER, -4002, "the worker process died while running the task")      \
  XX(EBROKEN, -4003, "the executor is broken")                               \
  XX(EDEADLINE, -4004, "the task ran past its deadline and was killed")     \
  XX(ESHUTDOWN, -4005, "the executor is shut down")                          \
  XX(ENOTASK, -4006, "the task function is not registered")                  \
  XX(EMPI, -4007, "MPI error")                                               \
  XX(EOF, -4008, "end of iteration")                                         \
  XX(EPROTO, -4009, "malformed message")                                     \
  XX(ESYS, -4010, "system call failed")                                      \
  XX(ESTATE, -4011, "not allowed in this state")

enum {
  KEEL_OK = 0,
#define KEEL__ERR_ENUM(name, val, str) KEEL_##name = (val),
  KEEL_ERRNO_MAP(KEEL__ERR_ENUM)
#undef KEEL__ERR_ENUM
};

/* The name of code ("invalid argument", ...); never NULL. */
KEEL_EXPORT const char *keel_strerror(int code);
/* The symbolic name of code ("KEEL_EINVAL", ...); never NULL. */
KEEL_EXPORT const char *keel_err_name(int code);

/* Why a future failed.  Fields are -1 / 0 / NULL where unknown:
 * rank -1, signal 0, exit_status -1, host/backtrace NULL, task_id 0. */
typedef struct keel_error {
  int code;                   /* KEEL_E* */
  const char *message;        /* human readable, never NULL */
  int rank;                   /* worker rank that ran the task */
  const char *host;           /* its host name */
  int signal;                 /* signal that killed the task process */
  int exit_status;            /* exit status of the task process */
  unsigned long long task_id; /* keel's id of the task */
  const char *backtrace;      /* the task process's backtrace, if caught */
  int pid;                    /* the task process's pid, 0 if none died */
} keel_error;

#define KEEL_FOREVER (-1.0)

/* The largest task argument, map chunk, initarg and task result, in
 * bytes: 1 GiB less the 4 KiB a message's header may take, 1,073,737,728.
 * One byte more is refused (KEEL_EINVAL at submission; a result that big
 * fails its task with KEEL_ETASK). */
#define KEEL_ARG_MAX ((size_t)1073737728)
#define KEEL_RESULT_MAX ((size_t)1073737728)

/* ------------------------------------------------------------------ */
/* Lifecycle and task functions                                        */
/* ------------------------------------------------------------------ */

/* Opaque growable buffer a task writes its result into. */
typedef struct keel_buf keel_buf;

/* A task: reads len bytes at arg, writes its result into out, returns 0, or
 * `return keel_fail(out, fmt, ...)` on error. */
typedef int keel_task_fn(const void *arg, size_t len, keel_buf *out);

/* Initialise MPI if needed and take this process's role.  Returns 0 on the
 * master.  On a worker rank it serves until the master finalises, then
 * finalises MPI and exits the process with status 0: it never returns there.
 * Fails with KEEL_EMPI if MPI gives less than MPI_THREAD_SERIALIZED. */
KEEL_EXPORT int keel_init(int *argc, char ***argv);

/* Master: shut down every executor (waiting), stop the worker ranks,
 * finalise MPI if keel initialised it. */
KEEL_EXPORT int keel_finalize(void);

/* Register fn under name.  Must run before keel_init() on every rank.
 * Registering the same name twice with the same fn is a no-op; with another
 * fn it fails with KEEL_EINVAL. */
KEEL_EXPORT int keel_register(const char *name, keel_task_fn *fn);

/* At file scope, with a trailing semicolon: registers fn as #fn at load. */
#define KEEL_REGISTER(fn)                                                    \
  __attribute__((constructor)) static void keel__register_##fn(void)        \
  {                                                                          \
    (void)keel_register(#fn, fn);                                            \
  }                                                                          \
  struct keel__registered_##fn

/* Append len bytes to a task's result. */
KEEL_EXPORT int keel_buf_append(keel_buf *out, const void *data, size_t len);
/* Append printf-formatted text (no NUL) to a task's result. */
KEEL_EXPORT int keel_buf_printf(keel_buf *out, const char *fmt, ...)
    KEEL_PRINTF(2, 3);
/* What the task wrote so far. */
KEEL_EXPORT const void *keel_buf_data(const keel_buf *b);
KEEL_EXPORT size_t keel_buf_len(const keel_buf *b);
/* Record a task error message (replacing the result); returns KEEL_ETASK. */
KEEL_EXPORT int keel_fail(keel_buf *out, const char *fmt, ...)
    KEEL_PRINTF(2, 3);

/* ------------------------------------------------------------------ */
/* Executors                                                           */
/* ------------------------------------------------------------------ */

enum {
  KEEL_ON_CRASH_BREAK = 0,     /* crashed task EWORKER, all others EBROKEN */
  KEEL_ON_CRASH_FAIL_TASK = 1, /* only the crashed task fails */
  KEEL_ON_CRASH_RETRY = 2      /* rerun on a fresh worker, max_retries */
};

typedef struct keel_options {
  int max_workers;            /* 0 = every worker available */
  double task_timeout;        /* seconds; 0 = none */
  double idle_timeout;        /* seconds an idle task process lives; 0 = forever */
  size_t memory_limit;        /* bytes of RSS per task process; 0 = none */
  int max_tasks_per_worker;   /* recycle the task process after N; 0 = never */
  int on_crash;               /* KEEL_ON_CRASH_* */
  int max_retries;            /* for KEEL_ON_CRASH_RETRY */
  keel_task_fn *initializer;  /* runs once per task process; NULL = none */
  const void *initarg;
  size_t initarg_len;
  int max_inflight;           /* tasks sent to one worker at most; 0 = about
                                 10 ms of work (keel's prefetch window) */
  size_t max_pending;         /* tasks submitted and not finished at most:
                                 keel_submit waits for room; 0 = 1,000,000 */
  int quiet_crashes;          /* 1: the master prints no crash report on
                                 stderr (the program reports them itself) */
} keel_options;

typedef struct keel_executor keel_executor;

KEEL_EXPORT void keel_options_init(keel_options *o);

/* A new executor (o may be NULL for defaults).
 * Release with keel_executor_shutdown(). */
KEEL_EXPORT int keel_executor_create(const keel_options *o,
                                     keel_executor **ex);

/* The process-wide executor: the same one while it works; a new one (id + 1,
 * task processes respawned) once it is broken or shut down, or when options
 * other than max_workers changed; resized when only max_workers differs.
 * Do not release it yourself unless you want the next call to make a new
 * one; keel_finalize() shuts it down. */
KEEL_EXPORT int keel_get_reusable_executor(const keel_options *o,
                                           keel_executor **ex);

/* Grow or shrink the pool without losing queued work.  max_workers 0 means
 * every worker available.  The pool cannot grow past the worker ranks that
 * exist; keel_executor_workers() tells what it got. */
KEEL_EXPORT int keel_executor_resize(keel_executor *ex, int max_workers);

enum {
  KEEL_SHUTDOWN_WAIT = 1,   /* wait until every submitted task finished */
  KEEL_SHUTDOWN_CANCEL = 2, /* cancel the futures that have not started */
  KEEL_SHUTDOWN_KILL = 4    /* also kill the tasks that run: their task
                               processes are killed and their futures fail
                               with KEEL_ESHUTDOWN */
};

/* Shut ex down and release it.  Never hangs on a dead worker.  Without
 * KEEL_SHUTDOWN_WAIT it returns at once and the remaining tasks still run
 * (unless KEEL_SHUTDOWN_KILL stops them). */
KEEL_EXPORT int keel_executor_shutdown(keel_executor *ex, int flags);

/* True once the job was asked to drain, because its time limit is near:
 * the master got SIGUSR1 or SIGUSR2 (what `sbatch --signal=B:USR1@120`
 * sends, and what keelrun passes on to it), or keel_drain() was called.
 * keel only reports it: running tasks go on, submissions are still taken.
 * The program decides: stop submitting, cancel or wait for what is queued,
 * checkpoint, return.  keel_init() installs the master's handler for the
 * two signals unless the program set its own before (then call
 * keel_drain() from it); worker ranks and task processes ignore them. */
KEEL_EXPORT bool keel_draining(void);
/* Start a drain, as the signals do.  Async-signal-safe. */
KEEL_EXPORT void keel_drain(void);

KEEL_EXPORT unsigned keel_executor_id(const keel_executor *ex);
KEEL_EXPORT int keel_executor_workers(const keel_executor *ex);
KEEL_EXPORT bool keel_executor_broken(const keel_executor *ex);

/* ------------------------------------------------------------------ */
/* Futures                                                             */
/* ------------------------------------------------------------------ */

typedef struct keel_future keel_future;

/* Submit fn(arg[0..len)).  Copies arg.  Release *f with keel_future_release().
 * KEEL_EBROKEN on a broken executor, KEEL_ESHUTDOWN after shutdown,
 * KEEL_ENOTASK for an unregistered function. */
KEEL_EXPORT int keel_submit(keel_executor *ex, keel_task_fn *fn,
                            const void *arg, size_t len, keel_future **f);
/* keel_submit, waiting at most timeout seconds (0: not at all) for room
 * under max_pending: KEEL_EAGAIN if none came. */
KEEL_EXPORT int keel_submit_timeout(keel_executor *ex, keel_task_fn *fn,
                                    const void *arg, size_t len,
                                    double timeout, keel_future **f);

/* Wait for the result.  KEEL_OK with the result in data and len (valid until release),
 * KEEL_ETIMEDOUT if the wait ran out (the future goes on), or the code the
 * future failed with. data and len may be NULL. */
KEEL_EXPORT int keel_future_result(keel_future *f, double timeout,
                                   const void **data, size_t *len);

/* NULL unless the future failed (cancelled counts: code KEEL_ECANCELED).
 * Valid until release. */
KEEL_EXPORT const keel_error *keel_future_error(const keel_future *f);

KEEL_EXPORT bool keel_future_done(const keel_future *f);
KEEL_EXPORT bool keel_future_running(const keel_future *f);
KEEL_EXPORT bool keel_future_cancelled(const keel_future *f);

/* Cancel a future that has not been handed to a worker yet; false once it
 * runs or has finished, true if it is (already) cancelled, as in Python. */
KEEL_EXPORT bool keel_future_cancel(keel_future *f);

/* Run cb(f, arg) once when f is done: at once, in this thread, if it already
 * is; in the thread that calls keel_future_cancel() if that cancels it;
 * otherwise on keel's callback thread, one after another (never the
 * manager thread: a callback may block, delaying only those behind it).
 * From a callback, keel_finalize() and a WAIT shutdown of the callback's
 * own executor return KEEL_EDEADLK instead of waiting for themselves. */
KEEL_EXPORT int keel_future_on_done(keel_future *f,
                                    void (*cb)(keel_future *, void *),
                                    void *arg);

/* Free the caller's reference. */
KEEL_EXPORT void keel_future_release(keel_future *f);

/* The id keel gave the task (also in keel_error.task_id). */
KEEL_EXPORT unsigned long long keel_future_task_id(const keel_future *f);

enum {
  KEEL_FIRST_COMPLETED = 1,
  KEEL_FIRST_EXCEPTION = 2,
  KEEL_ALL_COMPLETED = 3
};

/* Wait until the condition holds for fs[0..n).  *ndone (may be NULL) gets
 * how many are done.  KEEL_ETIMEDOUT if the condition did not hold in time. */
KEEL_EXPORT int keel_wait(keel_future *const *fs, size_t n, int return_when,
                          double timeout, size_t *ndone);

typedef struct keel_completion keel_completion;

/* Iterate fs[0..n) in completion order, each future once.
 * Release with keel_completion_free(); the futures stay the caller's. */
KEEL_EXPORT int keel_as_completed(keel_future *const *fs, size_t n,
                                  keel_completion **it);
/* The next done future, or KEEL_EOF when all were returned. */
KEEL_EXPORT int keel_completion_next(keel_completion *it, double timeout,
                                     keel_future **f);
KEEL_EXPORT void keel_completion_free(keel_completion *it);

typedef struct keel_map keel_map;

/* fn over n items of item_size bytes each, results in submission order.
 * chunksize 0 chooses batches itself.  Release with keel_map_free(). */
KEEL_EXPORT int keel_map_start(keel_executor *ex, keel_task_fn *fn,
                               const void *items, size_t item_size, size_t n,
                               size_t chunksize, keel_map **m);
/* The next result (valid until the next call or free); KEEL_EOF at the end;
 * a failed item returns its code and keel_map_error() says why. */
KEEL_EXPORT int keel_map_next(keel_map *m, double timeout, const void **data,
                              size_t *len);
KEEL_EXPORT const keel_error *keel_map_error(const keel_map *m);
KEEL_EXPORT void keel_map_free(keel_map *m);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_H */
