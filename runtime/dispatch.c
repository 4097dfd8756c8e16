/* dispatch.c: one executor as the manager thread runs it: which workers it
 * uses, which tasks go where (a prefetch window per worker, tasks batched
 * into one message), results, and what a worker's death does to its futures
 * under the executor's on_crash policy. */
#include "keel_int.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds of work to keep queued per worker.  A task's result and its
 * replacement each wait for a process to get a core (3 ranks on 2 cores
 * here): with 4 ms, 1 ms tasks found their worker's queue empty one time
 * in five (parallel efficiency 95 %); with 10 ms, 98 %. */
#define WINDOW_WORK 10e-3
#define WINDOW_MIN 2
#define WINDOW_MAX 1024
/* Tasks this long (or not timed yet) go one per worker: a task queued
 * behind a long one would wait for all of it while another worker may sit
 * idle, and nothing takes queued work back (no stealing).  The next task
 * then starts one trip after the last result: tens of microseconds on a
 * node, at most about 1 ms across nodes (a nanny's nap), so <= 2 %. */
#define SOLO_TASK 50e-3
#define BATCH_BYTES (1 << 20)  /* soft cap of one TASKS message */

/* ---- queues ---- */

static void pend_push(keel_executor *ex, keel_future *f, bool front)
{
  if (front) {
    f->next = ex->pend_head;
    ex->pend_head = f;
    if (!ex->pend_tail)
      ex->pend_tail = f;
  } else {
    f->next = NULL;
    if (ex->pend_tail)
      ex->pend_tail->next = f;
    else
      ex->pend_head = f;
    ex->pend_tail = f;
  }
  ex->npend++;
}

void keel__exec_accept(keel_executor *ex, keel_future *f)
{
  pend_push(ex, f, false);
  ex->outstanding++;
}

static keel_future *pend_pop(keel_executor *ex)
{
  keel_future *f = ex->pend_head;
  if (f) {
    ex->pend_head = f->next;
    if (!ex->pend_head)
      ex->pend_tail = NULL;
    f->next = NULL;
    ex->npend--;
  }
  return f;
}

static void inflight_push(keel__xworker *w, keel_future *f)
{
  f->next = NULL;
  if (w->tail)
    w->tail->next = f;
  else
    w->head = f;
  w->tail = f;
  w->inflight++;
}

/* Remove task id from w's in-flight list; results come in order, so it is
 * almost always the head. */
static keel_future *inflight_take(keel__xworker *w, uint64_t id)
{
  keel_future *prev = NULL;
  for (keel_future *f = w->head; f; prev = f, f = f->next) {
    if (f->task_id != id)
      continue;
    if (prev)
      prev->next = f->next;
    else
      w->head = f->next;
    if (w->tail == f)
      w->tail = prev;
    f->next = NULL;
    w->inflight--;
    return f;
  }
  return NULL;
}

keel__xworker *keel__exec_worker(keel_executor *ex, int rank)
{
  for (int i = 0; i < ex->nw; i++)
    if (ex->w[i].rank == rank)
      return &ex->w[i];
  return NULL;
}

/* ---- finishing futures ---- */

static void finish(keel_executor *ex, keel_future *f, int code, char *data,
                   size_t len, const keel_error *e)
{
  free(f->arg); /* no retry can need it any more */
  f->arg = NULL;
  keel__batch_finish(f, code, data, len, e);
  ex->outstanding--;
}

static void fail_all(keel_executor *ex, keel_future *list, int code,
                     const keel_error *e)
{
  while (list) {
    keel_future *next = list->next;
    list->next = NULL;
    finish(ex, list, code, NULL, 0, e);
    list = next;
  }
}

void keel__exec_cancel_pending(keel_executor *ex)
{
  keel_future *f, *keep = NULL;
  keel__batch_begin();
  while ((f = pend_pop(ex))) {
    if (f->state == KEEL__F_RUNNING) { /* a retry: it has started before */
      f->next = keep;
      keep = f;
      continue;
    }
    if (f->state == KEEL__F_PENDING)
      keel__batch_finish(f, KEEL_ECANCELED, NULL, 0, NULL);
    else
      keel__batch_drop(f); /* the user cancelled it already */
    ex->outstanding--;
  }
  keel__batch_end();
  while ((f = keep)) { /* back at the front, in their order */
    keep = f->next;
    pend_push(ex, f, true);
  }
}

/* Fail what is queued on a broken executor with its broken_msg. */
static void fail_pending_broken(keel_executor *ex)
{
  keel_error e = {KEEL_EBROKEN, ex->broken_msg, -1, NULL, 0, -1, 0, NULL};
  keel__batch_begin();
  while (ex->pend_head) {
    keel_future *f = pend_pop(ex);
    finish(ex, f, KEEL_EBROKEN, NULL, 0, &e);
  }
  keel__batch_end();
}

/* Tell the user threads and stop using every worker. */
static void break_exec(keel_executor *ex, const char *why)
{
  char *msg = keel__strdup_printf("executor %u is broken: %s", ex->id, why);
  pthread_mutex_lock(&keel__rt.lock);
  atomic_store(&ex->state, KEEL__X_BROKEN);
  free(ex->broken_msg);
  ex->broken_msg = msg ? msg : strdup(why);
  pthread_mutex_unlock(&keel__rt.lock);
  keel_error e = {KEEL_EBROKEN, ex->broken_msg, -1, NULL, 0, -1, 0, NULL};
  keel__batch_begin();
  fail_pending_broken(ex);
  for (int i = 0; i < ex->nw; i++) {
    fail_all(ex, ex->w[i].head, KEEL_EBROKEN, &e);
    ex->w[i].head = ex->w[i].tail = NULL;
    ex->w[i].inflight = 0;
    if (ex->w[i].state == KEEL__W_ACTIVE)
      ex->w[i].state = KEEL__W_RETIRING;
  }
  keel__batch_end();
  atomic_store(&ex->nworkers, 0);
}

/* ---- workers ---- */

static int pick_rank(keel_executor *ex)
{
  int best = -1;
  for (int r = 1; r < keel__rt.nranks; r++) {
    keel__rank *k = &keel__rt.ranks[r];
    if (k->lost || k->stopped || keel__exec_worker(ex, r))
      continue;
    if (best < 0 || k->nexec < keel__rt.ranks[best].nexec)
      best = r;
  }
  return best;
}

static void xopts_of(const keel_executor *ex, keel__xopts *o)
{
  o->task_timeout = ex->opt.task_timeout;
  o->idle_timeout = ex->opt.idle_timeout;
  o->memory_limit = ex->opt.memory_limit;
  o->max_tasks = ex->opt.max_tasks_per_worker;
  o->on_crash = ex->opt.on_crash;
  o->init_fn = ex->init_fn;
  o->initarg = ex->initarg;
  o->initarg_len = (uint32_t)ex->opt.initarg_len;
}

static bool attach(keel_executor *ex)
{
  int r = pick_rank(ex);
  if (r < 0)
    return false;
  if (ex->nw == ex->wcap) {
    int cap = ex->wcap ? ex->wcap * 2 : 4;
    keel__xworker *w = realloc(ex->w, (size_t)cap * sizeof *w);
    if (!w)
      return false;
    ex->w = w;
    ex->wcap = cap;
  }
  ex->w[ex->nw++] = (keel__xworker){.rank = r, .state = KEEL__W_ACTIVE,
                                    .opened_at = keel__now()};
  keel__rt.ranks[r].nexec++;
  keel_buf b = {0};
  keel__xopts o;
  xopts_of(ex, &o);
  keel__wr_open(&b, ex->id, &o);
  keel__send(r, &b);
  return true;
}

static void remove_worker(keel_executor *ex, keel__xworker *w)
{
  keel__rt.ranks[w->rank].nexec--;
  *w = ex->w[--ex->nw];
}

static int count_state(const keel_executor *ex, int state)
{
  int n = 0;
  for (int i = 0; i < ex->nw; i++)
    n += ex->w[i].state == state;
  return n;
}

static keel__xworker *least_busy(keel_executor *ex)
{
  keel__xworker *best = NULL;
  for (int i = 0; i < ex->nw; i++)
    if (ex->w[i].state == KEEL__W_ACTIVE &&
        (!best || ex->w[i].inflight < best->inflight))
      best = &ex->w[i];
  return best;
}

static int reconcile(keel_executor *ex)
{
  bool broken = atomic_load(&ex->state) == KEEL__X_BROKEN;
  int want = broken || (ex->m_shutdown && ex->outstanding == 0)
                 ? 0 : ex->m_target;
  int active = count_state(ex, KEEL__W_ACTIVE), act = 0;
  for (; active < want && attach(ex); active++)
    act++;
  if (!broken && active == 0 && ex->outstanding > 0 && ex->nw == 0) {
    break_exec(ex, keel__rt.spawn_error ? keel__rt.spawn_error
                   : "every worker rank it could use is lost");
    return act + 1;
  }
  for (; active > want; active--, act++)
    least_busy(ex)->state = KEEL__W_RETIRING;
  for (int i = 0; i < ex->nw; i++)
    if (ex->w[i].state == KEEL__W_RETIRING && ex->w[i].inflight == 0) {
      keel_buf b = {0};
      size_t off = b.len;
      keel__wr_hdr(&b, KEEL__M_CLOSE, ex->id, 0);
      keel__wr_finish(&b, off, 0);
      keel__send(ex->w[i].rank, &b);
      ex->w[i].state = KEEL__W_CLOSING;
      act++;
    }
  /* What it has or is bringing up, not a transient: a worker retired by a
   * shrink comes back only after its CLOSED, and a resize() just before
   * must not read the count of that moment.  Nor may a resize() made since
   * sync_users() be overwritten by this older view: keel_executor_resize()
   * publishes its own count under the lock. */
  int live = keel__live_ranks(), n = want < live ? want : live;
  if (!broken && atomic_load(&ex->nworkers) != n) {
    pthread_mutex_lock(&keel__rt.lock);
    if (ex->target == ex->m_target)
      atomic_store(&ex->nworkers, n);
    pthread_mutex_unlock(&keel__rt.lock);
  }
  return act;
}

/* Nothing in flight or queued, no worker coming or going: the manager
 * thread may doze (clock.c); a submission wakes it. */
bool keel__exec_quiet(const keel_executor *ex)
{
  if (ex->finished)
    return true;
  if (ex->outstanding || ex->m_shutdown || ex->m_cancel)
    return false;
  for (int i = 0; i < ex->nw; i++)
    if (ex->w[i].state != KEEL__W_ACTIVE)
      return false;
  return true;
}

/* ---- dispatch ---- */

static int window(const keel_executor *ex)
{
  int most = ex->opt.max_inflight > 0 ? ex->opt.max_inflight : WINDOW_MAX;
  if (ex->task_time <= 0 || ex->task_time >= SOLO_TASK)
    return 1;
  double w = ceil(WINDOW_WORK / ex->task_time);
  w = w < WINDOW_MIN ? WINDOW_MIN : w;
  return w > most ? most : (int)w;
}

/* Take up to n startable futures off the queue, marking them running,
 * at most about BATCH_BYTES of arguments (and at least one). */
static int take_batch(keel_executor *ex, int n, keel_future **out)
{
  int k = 0;
  size_t bytes = 0;
  keel__batch_begin();
  while (k < n && ex->pend_head &&
         (k == 0 || bytes + ex->pend_head->arg_len <= BATCH_BYTES)) {
    keel_future *f = pend_pop(ex);
    if (f->state == KEEL__F_CANCELLED) {
      keel__batch_drop(f);
      ex->outstanding--;
      continue;
    }
    f->state = KEEL__F_RUNNING;
    bytes += f->arg_len;
    out[k++] = f;
  }
  keel__batch_end();
  return k;
}

static void send_tasks(keel_executor *ex, keel__xworker *w, keel_future **fs,
                       int n)
{
  keel_buf b = {0};
  keel__wr_hdr(&b, KEEL__M_TASKS, ex->id, 0);
  for (int i = 0; i < n; i++) {
    keel__task t = {fs[i]->task_id, fs[i]->fn, fs[i]->item_size, fs[i]->arg,
                    (uint32_t)fs[i]->arg_len};
    keel__wr_task(&b, &t);
    fs[i]->rank = w->rank;
    inflight_push(w, fs[i]);
  }
  keel__wr_finish(&b, 0, (uint32_t)n);
  keel__send(w->rank, &b);
}

/* Fill worker w up to its share of the queue, in batches. */
static int feed(keel_executor *ex, keel__xworker *w, int share)
{
  keel_future *fs[64];
  int sent = 0;
  while (share > 0 && ex->npend > 0) {
    int n = take_batch(ex, share < 64 ? share : 64, fs);
    if (n == 0)
      break;
    send_tasks(ex, w, fs, n);
    share -= n;
    sent += n;
  }
  return sent;
}

/* Feed the emptiest worker first, its share of the queue, then the next:
 * tasks submitted one at a time spread over idle workers instead of
 * queueing behind the first worker's window. */
static int dispatch(keel_executor *ex)
{
  int win = window(ex), act = 0, room = 0;
  for (int i = 0; i < ex->nw; i++)
    room += ex->w[i].state == KEEL__W_ACTIVE && ex->w[i].inflight < win;
  while (room > 0 && ex->npend) {
    keel__xworker *w = least_busy(ex);
    if (w->inflight >= win)
      break;
    int share = (int)((ex->npend + (size_t)room - 1) / (size_t)room);
    if (share > win - w->inflight)
      share = win - w->inflight;
    int sent = feed(ex, w, share);
    if (!sent)
      break;
    act += sent;
    room -= w->inflight >= win; /* full now: one worker less with room */
  }
  return act;
}

int keel__exec_step(keel_executor *ex)
{
  int act = 0;
  if (atomic_load(&ex->state) == KEEL__X_BROKEN && ex->pend_head) {
    fail_pending_broken(ex);
    act++;
  }
  act += reconcile(ex);
  if (atomic_load(&ex->state) == KEEL__X_OPEN)
    act += dispatch(ex);
  return act;
}

/* ---- what comes back ---- */

static void note_runtime(keel_executor *ex, uint32_t us)
{
  double t = us * 1e-6 + 2e-6; /* floor: an empty task is not free */
  ex->task_time = ex->task_time > 0 ? 0.8 * ex->task_time + 0.2 * t : t;
}

/* A big result alone in its message gets the message's buffer, moved to
 * its start (malloc's alignment, which callers rely on). */
static char *take_message(const keel__result *res, char **msg)
{
  if (!msg || !*msg || res->len < KEEL__RESULT_ALONE)
    return NULL;
  char *data = memmove(*msg, res->data, res->len);
  char *fit = realloc(data, res->len);
  *msg = NULL;
  return fit ? fit : data;
}

static void finish_result(keel_executor *ex, keel_future *f, int rank,
                          const keel__result *res, char **msg)
{
  if (res->status == 0) {
    char *data = take_message(res, msg);
    if (res->len && !data && (data = malloc(res->len)))
      memcpy(data, res->data, res->len);
    if (res->len && !data) {
      finish(ex, f, KEEL_ENOMEM, NULL, 0, NULL);
      return;
    }
    finish(ex, f, KEEL_OK, data, res->len, NULL);
    return;
  }
  char *text = strndup(res->data ? res->data : "", res->len);
  keel_error e = {res->status, text && *text ? text : NULL, rank,
                  keel__rt.ranks[rank].host, 0, -1, f->task_id, NULL};
  finish(ex, f, res->status, NULL, 0, &e);
  free(text);
}

void keel__exec_results(keel_executor *ex, int rank, const keel__hdr *h,
                        keel__rd *rd, char **msg)
{
  keel__xworker *w = keel__exec_worker(ex, rank);
  keel__batch_begin();
  for (uint32_t i = 0; i < h->count; i++) {
    keel__result res;
    if (keel__rd_result(rd, &res)) {
      keel__batch_end();
      keel__rank_fail(rank, "it sent a malformed RESULTS message");
      return;
    }
    keel_future *f = w ? inflight_take(w, res.id) : NULL;
    if (!f)
      continue; /* the executor already failed it (broken, lost) */
    note_runtime(ex, res.runtime_us);
    finish_result(ex, f, rank, &res, h->count == 1 ? msg : NULL);
  }
  keel__batch_end();
}

void keel__exec_closed(keel_executor *ex, int rank)
{
  keel__xworker *w = keel__exec_worker(ex, rank);
  if (w)
    remove_worker(ex, w);
}

/* ---- deaths ---- */

static char *describe_exit(const keel__death *d)
{
  if (d->signal)
    return keel__strdup_printf("the task process was killed by signal %d "
                               "(%s)", d->signal, strsignal(d->signal));
  if (d->exit_status < 0) /* keel__exec_rank_lost */
    return strdup("its worker rank was lost");
  return keel__strdup_printf("the task process exited with status %d",
                             d->exit_status);
}

static char *death_message(const keel__death *d, const keel__xworker *w,
                           const keel_future *f, double timeout)
{
  const char *host = keel__rt.ranks[w->rank].host;
  const char *name = NULL;
  keel__registry_fn(f ? f->fn : 0, &name);
  char *how = describe_exit(d), *msg;
  char where[512];
  snprintf(where, sizeof where, "task %llu%s%s%s on rank %d (host %s)",
           f ? f->task_id : 0ULL, name ? " (" : "", name ? name : "",
           name ? ")" : "", w->rank, host ? host : "?");
  if (d->cause == KEEL__C_DEADLINE)
    msg = keel__strdup_printf("%s ran past task_timeout of %g s and was "
                              "killed", where, timeout);
  else
    msg = keel__strdup_printf("%s: %s%s%s", where,
                              how ? how : "the task process died",
                              d->message && *d->message ? ": " : "",
                              d->message ? d->message : "");
  free(how);
  return msg;
}

static void requeue_or_fail(keel_executor *ex, keel_future *f, int code,
                            const keel_error *e)
{
  if (ex->opt.on_crash == KEEL_ON_CRASH_RETRY && code == KEEL_EWORKER &&
      f->tries < ex->opt.max_retries) {
    f->tries++; /* it stays RUNNING: the user saw it start */
    pend_push(ex, f, true);
    return;
  }
  keel__batch_begin();
  finish(ex, f, code, NULL, 0, e);
  keel__batch_end();
}

void keel__exec_death(keel_executor *ex, int rank, const keel__death *d)
{
  keel__xworker *w = keel__exec_worker(ex, rank);
  if (!w || atomic_load(&ex->state) == KEEL__X_BROKEN)
    return;
  keel_future *f = d->task_id ? inflight_take(w, d->task_id) : NULL;
  char *msg = death_message(d, w, f, ex->opt.task_timeout);
  const char *text = msg ? msg : "a task process died";
  if (d->cause == KEEL__C_INIT || d->cause == KEEL__C_SPAWN) {
    char *why = keel__strdup_printf(
        "%s on rank %d (host %s): %s",
        d->cause == KEEL__C_INIT ? "the initializer failed"
                                 : "a task process could not be started",
        rank, keel__rt.ranks[rank].host ? keel__rt.ranks[rank].host : "?",
        d->message && *d->message ? d->message : text);
    if (f)
      pend_push(ex, f, true); /* not its fault: fails with the rest */
    break_exec(ex, why ? why : text);
    free(why);
    free(msg);
    return;
  }
  int code = d->cause == KEEL__C_DEADLINE ? KEEL_EDEADLINE : KEEL_EWORKER;
  keel_error e = {code, text, rank, keel__rt.ranks[rank].host, d->signal,
                  d->exit_status, f ? f->task_id : 0, d->backtrace};
  if (f && code == KEEL_EWORKER && ex->opt.on_crash == KEEL_ON_CRASH_BREAK) {
    break_exec(ex, text); /* first: whoever sees the crash sees it broken */
    keel__batch_begin();
    finish(ex, f, code, NULL, 0, &e);
    keel__batch_end();
  } else if (f) {
    requeue_or_fail(ex, f, code, &e);
  }
  free(msg);
}

void keel__exec_rank_lost(keel_executor *ex, int rank, const char *why)
{
  keel__xworker *w = keel__exec_worker(ex, rank);
  if (!w)
    return;
  keel_future *head = w->head;
  if (head && atomic_load(&ex->state) == KEEL__X_OPEN) {
    keel__death d = {head->task_id, KEEL__C_CRASH, 0, -1, (char *)why, NULL};
    keel__exec_death(ex, rank, &d);
  }
  w = keel__exec_worker(ex, rank);
  if (!w)
    return;
  /* Innocent tasks that were queued on the lost rank run elsewhere, ahead
   * of the queue and in their order. */
  if (w->head) {
    w->tail->next = ex->pend_head;
    ex->pend_head = w->head;
    if (!ex->pend_tail)
      ex->pend_tail = w->tail;
    ex->npend += (size_t)w->inflight;
  }
  w->head = w->tail = NULL;
  w->inflight = 0;
  remove_worker(ex, w);
}
