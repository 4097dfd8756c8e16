/* executor.c: the executor API as user threads see it.  User threads only
 * touch an executor's hub fields (its submissions and requests), under the
 * hub's lock; the manager thread (master/) owns everything else and does
 * all MPI. */
#include "api/api.h"
#include "proto/wire.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_RETRIES 2

void keel_options_init(keel_options *o)
{
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->on_crash = KEEL_ON_CRASH_BREAK;
  o->max_retries = DEFAULT_MAX_RETRIES;
}

static bool bad_seconds(double s)
{
  return !(s >= 0) || isinf(s); /* rejects NaN too */
}

static int check_options(const keel_options *o, uint64_t *init_fn)
{
  *init_fn = 0;
  if (o->max_workers < 0 || bad_seconds(o->task_timeout) ||
      bad_seconds(o->idle_timeout) || o->max_tasks_per_worker < 0 ||
      o->on_crash < KEEL_ON_CRASH_BREAK || o->on_crash > KEEL_ON_CRASH_RETRY ||
      o->max_retries < 0 || o->max_inflight < 0 ||
      (o->initarg_len && !o->initarg) ||
      o->initarg_len > KEEL__PAYLOAD_MAX)
    return KEEL_EINVAL;
  return o->initializer ? keel__registry_id(o->initializer, init_fn)
                        : KEEL_OK;
}

/* The most workers a program started alone spawns: its node's cores
 * bound what one node can run, even oversubscribed. */
static int spawn_max(void)
{
  int cores = keel__bind_cores();
  return KEEL__SPAWN_PER_CORE * (cores < 1 ? 1 : cores);
}

/* Spawned workers by default: one per core but the master's, or with M
 * cores per worker (KEEL_CORES_PER_WORKER) one per M cores, the master
 * sharing; at least one.  KEEL_WORKERS overrides. */
static int spawn_default(void)
{
  static int n;
  if (!n) {
    int cores = keel__bind_cores(), m = keel__bind_per_worker();
    int def = m == 1 ? cores - 1 : cores / m;
    n = (int)keel__env_long("KEEL_WORKERS", def < 1 ? 1 : def, 1,
                            spawn_max());
  }
  return n;
}

/* The target of an executor asking for `want` workers.  Started alone,
 * keel spawns them (ranks.c) up to the most any executor wants: the
 * target is that count.  Otherwise it is what was asked, 0 for every rank
 * not lost: the manager takes it to the live ranks as they come and go
 * (lost, replaced; dispatch.c). */
static int target_locked(int want)
{
  keel__assert(keel__hub_locked());
  if (keel__hub.spawn_mode) {
    int n = want ? want : spawn_default();
    int most = spawn_max();
    if (n > most) {
      keel__log("max_workers %d is more than a program started alone may "
                "spawn (%d per core); using %d",
                n, KEEL__SPAWN_PER_CORE, most);
      n = most;
    }
    if (n > keel__hub.spawn_want)
      keel__hub.spawn_want = n;
    return n;
  }
  return want;
}

/* The workers that target gives now. */
static int workers_locked(int target)
{
  keel__assert(keel__hub_locked());
  int live = keel__hub.live_ranks;
  return keel__hub.spawn_mode || (target && target < live) ? target : live;
}

static int exec_new(const keel_options *o, keel_executor **out)
{
  keel_options def;
  uint64_t init_fn;
  if (!o) {
    keel_options_init(&def);
    o = &def;
  }
  int rc = check_options(o, &init_fn);
  if (rc)
    return rc;
  keel_executor *ex = calloc(1, sizeof *ex);
  if (!ex)
    return KEEL_ENOMEM;
  ex->opt = *o;
  ex->init_fn = init_fn;
  if (o->initarg_len) {
    if (!(ex->initarg = malloc(o->initarg_len))) {
      free(ex);
      return KEEL_ENOMEM;
    }
    memcpy(ex->initarg, o->initarg, o->initarg_len);
  }
  ex->opt.initarg = ex->initarg;
  keel__queue_init(&ex->submitted);
  keel__queue_init(&ex->hub_node);
  atomic_init(&ex->state, KEEL__X_OPEN);
  atomic_init(&ex->callbacks, 0);
  *out = ex;
  return KEEL_OK;
}

static int exec_start(const keel_options *o, keel_executor **out)
{
  if (keel__self.role != KEEL__ROLE_MASTER || !keel__hub.running)
    return KEEL_ESTATE;
  keel_executor *ex;
  int rc = exec_new(o, &ex);
  if (rc)
    return rc;
  keel__hub_lock();
  bool stopping = keel__hub.stopping;
  if (stopping || (!keel__hub.spawn_mode && keel__hub.live_ranks == 0)) {
    int nranks = keel__hub.nranks;
    keel__hub_unlock();
    if (!stopping && nranks > 0)
      keel__log("every worker rank is lost: no executor can run tasks");
    else if (!stopping)
      keel__log("no worker ranks to run tasks on: start the program with "
                "keelrun -n N or mpirun -n N+1");
    keel__executor_free(ex);
    return stopping ? KEEL_ESHUTDOWN : KEEL_ESTATE;
  }
  ex->id = keel__hub.next_exec_id++;
  ex->target = target_locked(ex->opt.max_workers);
  atomic_store(&ex->nworkers, workers_locked(ex->target));
  keel__queue_insert_tail(&keel__hub.new_execs, &ex->hub_node);
  keel__hub_wake_locked();
  keel__hub_unlock();
  keel__log_at(KEEL__LOG_INFO, "executor %u created (max_workers %d, "
               "on_crash %d, max_inflight %d, task_timeout %g s)", ex->id,
               ex->opt.max_workers, ex->opt.on_crash, ex->opt.max_inflight,
               ex->opt.task_timeout);
  *out = ex;
  return KEEL_OK;
}

int keel_executor_create(const keel_options *o, keel_executor **ex)
{
  if (!ex)
    return KEEL_EINVAL;
  return exec_start(o, ex);
}

static bool same_but_workers(const keel_options *a, const keel_options *b)
{
  return a->task_timeout == b->task_timeout &&
         a->idle_timeout == b->idle_timeout &&
         a->memory_limit == b->memory_limit &&
         a->max_tasks_per_worker == b->max_tasks_per_worker &&
         a->on_crash == b->on_crash && a->max_retries == b->max_retries &&
         a->max_inflight == b->max_inflight &&
         a->initializer == b->initializer &&
         a->initarg_len == b->initarg_len &&
         (!a->initarg_len || !memcmp(a->initarg, b->initarg, a->initarg_len));
}

int keel_get_reusable_executor(const keel_options *o, keel_executor **ex)
{
  keel_options def;
  if (!ex)
    return KEEL_EINVAL;
  if (!o) {
    keel_options_init(&def);
    o = &def;
  }
  keel__hub_lock();
  keel_executor *cur = keel__hub.reusable;
  bool up = keel__hub.running && !keel__hub.stopping;
  keel__hub_unlock();
  if (keel__self.role != KEEL__ROLE_MASTER || !up)
    return KEEL_ESTATE; /* before keel_init() or after keel_finalize() */
  if (cur && !keel_executor_broken(cur) && same_but_workers(&cur->opt, o)) {
    int rc = cur->opt.max_workers == o->max_workers
                 ? KEEL_OK
                 : keel_executor_resize(cur, o->max_workers);
    if (rc == KEEL_OK)
      cur->opt.max_workers = o->max_workers;
    if (rc != KEEL_ESHUTDOWN) {
      *ex = cur;
      return rc;
    }
  }
  /* Broken, or other settings: retire it (its futures finish).  From one
   * of its own callbacks it cannot be waited for. */
  if (cur)
    keel_executor_shutdown(cur, keel_executor_broken(cur) ||
                                        keel__future_cb_executor() == cur
                                    ? 0
                                    : KEEL_SHUTDOWN_WAIT);
  int rc = exec_start(o, ex);
  if (rc == KEEL_OK) {
    keel__hub_lock();
    (*ex)->reusable = true;
    keel__hub.reusable = *ex;
    keel__hub_unlock();
  }
  return rc;
}

int keel_executor_resize(keel_executor *ex, int max_workers)
{
  if (!ex || max_workers < 0)
    return KEEL_EINVAL;
  int rc = KEEL_OK;
  keel__hub_lock();
  if (ex->shutdown || keel__hub.stopping) /* or after keel_finalize() */
    rc = KEEL_ESHUTDOWN;
  else if (atomic_load(&ex->state) == KEEL__X_BROKEN)
    rc = KEEL_EBROKEN;
  else {
    ex->target = target_locked(max_workers);
    ex->opt.max_workers = max_workers;
    atomic_store(&ex->nworkers, workers_locked(ex->target));
    keel__hub_wake_locked();
  }
  keel__hub_unlock();
  return rc;
}

static void wait_flag_locked(bool *flag)
{
  while (!*flag)
    keel__hub_wait_locked();
}

int keel_executor_shutdown(keel_executor *ex, int flags)
{
  if (!ex || (flags & ~(KEEL_SHUTDOWN_WAIT | KEEL_SHUTDOWN_CANCEL |
                        KEEL_SHUTDOWN_KILL)))
    return KEEL_EINVAL;
  if (flags & KEEL_SHUTDOWN_KILL) /* what has not started goes too */
    flags |= KEEL_SHUTDOWN_CANCEL;
  keel__log_at(KEEL__LOG_INFO, "executor %u shut down (%s)", ex->id,
               flags & KEEL_SHUTDOWN_KILL     ? "kill"
               : flags & KEEL_SHUTDOWN_CANCEL ? "cancel"
               : flags & KEEL_SHUTDOWN_WAIT   ? "wait"
                                              : "no wait");
  /* WAIT waits for ex's callbacks, and this thread runs them. */
  if ((flags & KEEL_SHUTDOWN_WAIT) && keel__future_cb_executor() == ex)
    return KEEL_EDEADLK;
  keel__hub_lock();
  if (ex->released) {
    keel__hub_unlock();
    return KEEL_ESHUTDOWN;
  }
  if (ex == keel__hub.reusable)
    keel__hub.reusable = NULL;
  ex->shutdown = true;
  if (flags & KEEL_SHUTDOWN_CANCEL)
    ex->cancel_req = true;
  if (flags & KEEL_SHUTDOWN_KILL)
    ex->kill_req = true;
  keel__hub_wake_locked();
  if (flags & KEEL_SHUTDOWN_CANCEL)
    wait_flag_locked(&ex->cancel_done);
  if (flags & KEEL_SHUTDOWN_WAIT)
    wait_flag_locked(&ex->finished);
  /* ... and for their callbacks, unless this is the callback thread, where
   * they queue behind the caller's own. */
  while ((flags & KEEL_SHUTDOWN_WAIT) && !keel__callback_here() &&
         atomic_load(&ex->callbacks))
    keel__hub_wait_locked();
  ex->released = true; /* the manager frees it once finished */
  keel__hub_wake_locked();
  keel__hub_unlock();
  if (flags & KEEL_SHUTDOWN_WAIT) /* and the lines its tasks printed */
    keel__printed_wait(keel__printed_mark(), -1);
  return KEEL_OK;
}

unsigned keel_executor_id(const keel_executor *ex)
{
  return ex ? ex->id : 0;
}

int keel_executor_workers(const keel_executor *ex)
{
  return ex ? atomic_load(&((keel_executor *)ex)->nworkers) : 0;
}

bool keel_executor_broken(const keel_executor *ex)
{
  return ex && atomic_load(&((keel_executor *)ex)->state) == KEEL__X_BROKEN;
}

static keel_future *task_future(keel_executor *ex, uint64_t fn,
                                uint32_t item_size, const void *arg,
                                size_t len)
{
  keel_future *f = keel__future_new();
  if (!f)
    return NULL;
  if (len && !(f->arg = keel__arg_new(len))) {
    free(f);
    return NULL;
  }
  if (len)
    memcpy(f->arg, arg, len);
  f->arg_len = len;
  f->fn = fn;
  f->item_size = item_size;
  f->ex = ex;
  f->rank = -1;
  f->task_id = atomic_fetch_add(&keel__hub.next_task_id, 1) + 1;
  keel__future_ref(f); /* the executor's reference */
  return f;
}

static int submit_state_locked(const keel_executor *ex)
{
  keel__assert(keel__hub_locked());
  if (ex->shutdown || keel__hub.stopping)
    return KEEL_ESHUTDOWN;
  return atomic_load(&ex->state) == KEEL__X_BROKEN ? KEEL_EBROKEN : KEEL_OK;
}

static int submit_state(keel_executor *ex)
{
  keel__hub_lock();
  int rc = submit_state_locked(ex);
  keel__hub_unlock();
  return rc;
}

/* Back-pressure: take one of ex's max_pending places, waiting until the
 * deadline (keel__clock_deadline) for a task to finish when none is free.
 * Finishing futures give places back (future.c) and broadcast. */
static int take_place(keel_executor *ex, double deadline)
{
  size_t most = ex->opt.max_pending ? ex->opt.max_pending
                                    : KEEL__PENDING_DEFAULT;
  int rc = submit_state(ex); /* shut down or broken: no wait */
  if (rc)
    return rc;
  keel__future_lock();
  while (ex->unfinished >= most && !keel_executor_broken(ex) &&
         keel__future_wait_until(deadline))
    ;
  bool room = ex->unfinished < most;
  if (room)
    ex->unfinished++;
  keel__future_unlock();
  return room ? KEEL_OK : keel_executor_broken(ex) ? KEEL_EBROKEN
                                                   : KEEL_EAGAIN;
}

static void give_place(keel_executor *ex)
{
  keel__future_lock();
  keel__assert(ex->unfinished > 0);
  ex->unfinished--;
  keel__future_unlock();
  keel__future_broadcast();
}

static int submit_until(keel_executor *ex, uint64_t fn, uint32_t item_size,
                        const void *arg, size_t len, double deadline,
                        keel_future **out)
{
  if (len > KEEL__PAYLOAD_MAX)
    return KEEL_EINVAL;
  int rc = take_place(ex, deadline);
  if (rc)
    return rc;
  keel_future *f = task_future(ex, fn, item_size, arg, len);
  if (!f) {
    give_place(ex);
    return KEEL_ENOMEM;
  }
  keel__hub_lock();
  rc = submit_state_locked(ex);
  if (rc == KEEL_OK) {
    keel__queue_insert_tail(&ex->submitted, &f->node);
    keel__hub_wake_locked();
  }
  keel__hub_unlock();
  if (rc) {
    give_place(ex); /* it never ran: no finish gives the place back */
    keel_future_release(f);
    keel_future_release(f);
    return rc;
  }
  keel__debug("task %llu submitted to executor %u (%zu bytes)",
              (unsigned long long)f->task_id, ex->id, len);
  *out = f;
  return KEEL_OK;
}

int keel__executor_submit(keel_executor *ex, uint64_t fn, uint32_t item_size,
                          const void *arg, size_t len, keel_future **out)
{
  return submit_until(ex, fn, item_size, arg, len, -1, out);
}

int keel_submit(keel_executor *ex, keel_task_fn *fn, const void *arg,
                size_t len, keel_future **f)
{
  return keel_submit_timeout(ex, fn, arg, len, KEEL_FOREVER, f);
}

int keel_submit_timeout(keel_executor *ex, keel_task_fn *fn, const void *arg,
                        size_t len, double timeout, keel_future **f)
{
  uint64_t id;
  if (!ex || !fn || !f || (len && !arg) || timeout != timeout)
    return KEEL_EINVAL;
  int rc = keel__registry_id(fn, &id);
  return rc ? rc
            : submit_until(ex, id, 0, arg, len,
                                          keel__clock_deadline(timeout), f);
}

void keel__executor_free(keel_executor *ex)
{
  keel__assert(ex->sched == NULL && keel__queue_empty(&ex->submitted));
  free(ex->initarg);
  free(ex->broken_msg);
  free(ex);
}
