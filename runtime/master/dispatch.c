/* dispatch.c: one executor as the manager thread runs it: which workers it
 * uses, which tasks go where (a prefetch window per worker, tasks batched
 * into one message), results, and what a worker's death does to its futures
 * under the executor's on_crash policy. */
#include "master/master.h"

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
/* Tasks this long (or whose function was not timed yet) go one per
 * worker: a task queued behind a long one would wait for it unless taken
 * back (rebalance()), and a recall costs a round trip.  The next task then
 * starts one trip after the last result: tens of microseconds on a node,
 * at most about 1 ms across nodes (a nanny's nap), so <= 2 %. */
#define SOLO_TASK 50e-3
#define BATCH_BYTES (1 << 20)  /* soft cap of one TASKS message */
/* A worker holding less estimated work than this is not asked to give
 * tasks back: they would be done before a recall's round trip paid off. */
#define RECALL_WORK 1e-3

/* ---- the executor taken over ---- */

int keel__dispatch_adopt(keel_executor *ex)
{
  keel__assert(keel__hub_on_manager() && ex->sched == NULL);
  keel__sched *s = calloc(1, sizeof *s);
  if (!s)
    return KEEL_ENOMEM;
  s->ex = ex;
  keel__queue_init(&s->node);
  keel__queue_init(&s->pending);
  ex->sched = s;
  return KEEL_OK;
}

void keel__dispatch_free(keel_executor *ex)
{
  keel__sched *s = ex->sched;
  keel__assert(s->outstanding == 0 && s->nw == 0 && s->npend == 0);
  keel__estimate_free(&s->est);
  free(s->w);
  free(s->hungry);
  free(s);
  ex->sched = NULL;
}

bool keel__dispatch_finished(const keel__sched *s)
{
  return s->outstanding == 0 && s->nw == 0;
}

/* ---- queues ---- */

static void pend_push(keel__sched *s, keel_future *f, bool front)
{
  if (front)
    keel__queue_insert_head(&s->pending, &f->node);
  else
    keel__queue_insert_tail(&s->pending, &f->node);
  s->npend++;
}

void keel__dispatch_accept(keel__sched *s, keel_future *f)
{
  pend_push(s, f, false);
  s->outstanding++;
}

static keel_future *pend_pop(keel__sched *s)
{
  keel__queue *q = keel__queue_pop(&s->pending);
  if (!q)
    return NULL;
  keel__assert(s->npend > 0);
  s->npend--;
  return keel__queue_data(q, keel_future, node);
}

static keel_future *pend_first(const keel__sched *s)
{
  return keel__queue_empty(&s->pending)
             ? NULL
             : keel__queue_data(keel__queue_head(&s->pending), keel_future,
                                node);
}

static void inflight_push(keel__xworker *w, keel_future *f)
{
  keel__queue_insert_tail(&w->flight, &f->node);
  w->inflight++;
  w->work += f->est;
}

/* Workers are counted by state, so that a turn need not count them. */
static void set_state(keel__sched *s, keel__xworker *w, int state)
{
  keel__assert(s->nstate[w->state] > 0);
  s->nstate[w->state]--;
  s->nstate[state]++;
  w->state = state;
}

/* w may have room again: dispatch() looks at it. */
static void hungry_add(keel__sched *s, keel__xworker *w)
{
  if (w->hungry)
    return;
  keel__assert(s->nhungry < s->wcap);
  s->hungry[s->nhungry++] = w;
  w->hungry = true;
}

static void hungry_drop(keel__sched *s, int i)
{
  s->hungry[i]->hungry = false;
  s->hungry[i] = s->hungry[--s->nhungry];
}

/* Remove task id from w's in-flight list.  Results come in order, so a
 * result's task is almost always the head; the tasks a nanny gives back
 * (RECALLED, back) were the last it held, so near the tail. */
static keel_future *inflight_take(keel__sched *s, keel__xworker *w,
                                  uint64_t id, bool back)
{
  keel__queue *h = &w->flight;
  for (keel__queue *q = back ? h->prev : h->next; q != h;
       q = back ? q->prev : q->next) {
    keel_future *f = keel__queue_data(q, keel_future, node);
    if (f->task_id == id) {
      keel__queue_remove(q);
      keel__assert(w->inflight > 0);
      w->inflight--;
      w->work = w->inflight ? w->work - f->est : 0; /* no drift at 0 */
      s->rebalance_due |= w->inflight == 0; /* idle: rebalance() looks */
      hungry_add(s, w);
      return f;
    }
  }
  return NULL;
}

static keel_future *inflight_first(const keel__xworker *w)
{
  return keel__queue_empty(&w->flight)
             ? NULL
             : keel__queue_data(keel__queue_head(&w->flight), keel_future,
                                node);
}

static keel__xworker *worker_of(const keel__sched *s, int rank)
{
  for (int i = 0; i < s->nw; i++)
    if (s->w[i]->rank == rank)
      return s->w[i];
  return NULL;
}

/* ---- finishing futures ---- */

static void finish(keel__sched *s, keel_future *f, int code, char *data,
                   size_t len, const keel_error *e)
{
  keel__assert(!keel__queue_linked(&f->node) && s->outstanding > 0);
  keel__debug("task %llu of executor %u done: %s%s%s",
              (unsigned long long)f->task_id, s->ex->id,
              code ? keel_strerror(code) : "result",
              e && e->message ? ": " : "", e && e->message ? e->message : "");
  keel__arg_unref(f->arg, f->arg_len); /* no retry can need it any more */
  f->arg = NULL;
  keel__future_batch_finish(f, code, data, len, e);
  s->outstanding--;
}

/* Fail every future of a list (batch begun). */
static void fail_all(keel__sched *s, keel__queue *list, int code,
                     const keel_error *e)
{
  keel__queue *q;
  while ((q = keel__queue_pop(list)))
    finish(s, keel__queue_data(q, keel_future, node), code, NULL, 0, e);
}

void keel__dispatch_cancel_pending(keel__sched *s)
{
  keel_future *f;
  keel__queue keep;
  size_t nkeep = 0;
  keel__queue_init(&keep);
  keel__future_batch_begin();
  while ((f = pend_pop(s))) {
    if (f->state == KEEL__F_RUNNING) { /* a retry: it has started before */
      keel__queue_insert_tail(&keep, &f->node);
      nkeep++;
      continue;
    }
    if (f->state == KEEL__F_PENDING)
      keel__future_batch_finish(f, KEEL_ECANCELED, NULL, 0, NULL);
    else
      keel__future_batch_drop(f); /* the user cancelled it already */
    keel__assert(s->outstanding > 0);
    s->outstanding--;
  }
  keel__future_batch_end();
  keel__queue_prepend(&s->pending, &keep); /* at the front, in order */
  s->npend += nkeep;
}

void keel__dispatch_kill(keel__sched *s)
{
  keel_error e = {KEEL_ESHUTDOWN, "killed: its executor was shut down with "
                  "KEEL_SHUTDOWN_KILL", -1, NULL, 0, -1, 0, NULL, 0};
  keel_future *f;
  keel__future_batch_begin();
  while ((f = pend_pop(s))) {
    if (f->state == KEEL__F_CANCELLED) { /* the user's cancel was first */
      keel__future_batch_drop(f);
      keel__assert(s->outstanding > 0);
      s->outstanding--;
    } else {
      finish(s, f, f->state == KEEL__F_PENDING ? KEEL_ECANCELED
                                                : KEEL_ESHUTDOWN,
             NULL, 0, f->state == KEEL__F_PENDING ? NULL : &e);
    }
  }
  for (int i = 0; i < s->nw; i++) {
    fail_all(s, &s->w[i]->flight, KEEL_ESHUTDOWN, &e);
    s->w[i]->inflight = 0;
    s->w[i]->work = 0;
    if (s->w[i]->state == KEEL__W_ACTIVE) /* closed next turn: its */
      set_state(s, s->w[i], KEEL__W_RETIRING); /* nanny kills the process */
  }
  keel__future_batch_end();
}

/* Fail what is queued on a broken executor with its broken_msg. */
static void fail_pending_broken(keel__sched *s)
{
  keel_executor *ex = s->ex;
  keel_error e = {KEEL_EBROKEN, ex->broken_msg, -1, NULL, 0, -1, 0, NULL, 0};
  keel__future_batch_begin();
  keel_future *f;
  while ((f = pend_pop(s)))
    finish(s, f, KEEL_EBROKEN, NULL, 0, &e);
  keel__future_batch_end();
}

/* Tell the user threads and stop using every worker. */
static void break_exec(keel__sched *s, const char *why)
{
  keel_executor *ex = s->ex;
  char *msg = keel__error_printf("executor %u is broken: %s", ex->id, why);
  keel__hub_lock();
  atomic_store(&ex->state, KEEL__X_BROKEN);
  free(ex->broken_msg);
  ex->broken_msg = msg ? msg : strdup(why);
  keel__hub_unlock();
  keel_error e = {KEEL_EBROKEN, ex->broken_msg, -1, NULL, 0, -1, 0, NULL, 0};
  size_t before = s->outstanding;
  keel__future_batch_begin();
  fail_pending_broken(s);
  for (int i = 0; i < s->nw; i++) {
    keel__xworker *w = s->w[i];
    fail_all(s, &w->flight, KEEL_EBROKEN, &e);
    w->inflight = 0;
    w->work = 0;
    if (w->state == KEEL__W_ACTIVE)
      set_state(s, w, KEEL__W_RETIRING);
  }
  keel__future_batch_end();
  atomic_store(&ex->nworkers, 0);
  keel__report_broken(ex, before - s->outstanding);
}

/* ---- workers ---- */

/* The free rank serving the fewest executors; among equals, one on the
 * host where this executor has the fewest workers, so that its first tasks
 * spread over hosts; among those, each executor starts looking at a rank
 * of its own (by its id), so that executors made one after another do not
 * all start on rank 1, on the first host.  -1 if none, or out of memory. */
static int pick_rank(const keel__master *m, const keel__sched *s)
{
  int best = -1, nw = m->ranks.n - 1;
  int *mine = calloc((size_t)m->ranks.n, sizeof *mine); /* by hostid */
  if (!mine)
    return -1;
  for (int i = 0; i < s->nw; i++)
    mine[m->ranks.v[s->w[i]->rank]->hostid]++;
  for (int i = 0; i < nw; i++) {
    int r = 1 + (int)((s->ex->id + (unsigned)i) % (unsigned)nw);
    const keel__rank *k = m->ranks.v[r], *b = best > 0 ? m->ranks.v[best] : 0;
    if (k->lost || k->stopped || worker_of(s, r))
      continue;
    if (!b || k->nexec < b->nexec ||
        (k->nexec == b->nexec && mine[k->hostid] < mine[b->hostid]))
      best = r;
  }
  free(mine);
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

static bool attach(keel__master *m, keel__sched *s)
{
  keel_executor *ex = s->ex;
  int r = pick_rank(m, s);
  if (r < 0)
    return false;
  if (s->nw == s->wcap) {
    int cap = s->wcap ? s->wcap * 2 : 4;
    keel__xworker **v = realloc(s->w, (size_t)cap * sizeof *v);
    if (!v)
      return false;
    s->w = v;
    keel__xworker **h = realloc(s->hungry, (size_t)cap * sizeof *h);
    if (!h)
      return false; /* s->w is bigger, wcap not yet: harmless */
    s->hungry = h;
    s->wcap = cap;
  }
  keel__xworker *w = calloc(1, sizeof *w);
  if (!w)
    return false;
  *w = (keel__xworker){.rank = r, .state = KEEL__W_ACTIVE,
                       .opened_at = keel__clock_now()};
  keel__queue_init(&w->flight);
  s->w[s->nw++] = w;
  s->nstate[KEEL__W_ACTIVE]++;
  hungry_add(s, w);
  s->rebalance_due = true; /* it is idle */
  m->ranks.v[r]->nexec++;
  keel_buf b = {0};
  keel__xopts o;
  xopts_of(ex, &o);
  keel__wire_put_open(&b, ex->id, &o);
  m->send(m, r, &b);
  return true;
}

static void remove_worker(keel__master *m, keel__sched *s, keel__xworker *w)
{
  keel__assert(keel__queue_empty(&w->flight) && w->inflight == 0);
  m->ranks.v[w->rank]->nexec--;
  keel__assert(s->nstate[w->state] > 0);
  s->nstate[w->state]--;
  for (int i = 0; i < s->nw; i++)
    if (s->w[i] == w) {
      s->w[i] = s->w[--s->nw];
      break;
    }
  for (int i = 0; w->hungry && i < s->nhungry; i++)
    if (s->hungry[i] == w)
      hungry_drop(s, i);
  free(w);
}

static int count_state(const keel__sched *s, int state)
{
  return s->nstate[state];
}

static keel__xworker *least_busy(keel__sched *s)
{
  keel__xworker *best = NULL;
  for (int i = 0; i < s->nw; i++)
    if (s->w[i]->state == KEEL__W_ACTIVE &&
        (!best || s->w[i]->inflight < best->inflight))
      best = s->w[i];
  return best;
}

static int reconcile(keel__master *m, keel__sched *s)
{
  keel_executor *ex = s->ex;
  bool broken = atomic_load(&ex->state) == KEEL__X_BROKEN;
  int live = keel__ranks_live(&m->ranks), want = s->target;
  if (!m->ranks.spawn_mode && (want == 0 || want > live))
    want = live; /* every rank not lost, replacements included */
  if (broken || (s->shutdown && s->outstanding == 0))
    want = 0;
  int active = count_state(s, KEEL__W_ACTIVE), act = 0;
  for (; active < want && attach(m, s); active++)
    act++;
  if (!broken && active == 0 && s->outstanding > 0 && s->nw == 0) {
    break_exec(s, m->ranks.spawn_error ? m->ranks.spawn_error
                  : "every worker rank it could use is lost");
    return act + 1;
  }
  for (; active > want; active--, act++)
    set_state(s, least_busy(s), KEEL__W_RETIRING);
  for (int i = 0; count_state(s, KEEL__W_RETIRING) && i < s->nw; i++)
    if (s->w[i]->state == KEEL__W_RETIRING && s->w[i]->inflight == 0) {
      keel_buf b = {0};
      size_t off = b.len;
      keel__wire_put_hdr(&b, KEEL__M_CLOSE, ex->id, 0);
      keel__wire_finish(&b, off, 0);
      m->send(m, s->w[i]->rank, &b);
      set_state(s, s->w[i], KEEL__W_CLOSING);
      act++;
    }
  /* What it has or is bringing up, not a transient: a worker retired by a
   * shrink comes back only after its CLOSED, and a resize() just before
   * must not read the count of that moment.  Nor may a resize() made since
   * sync_users() be overwritten by this older view: keel_executor_resize()
   * publishes its own count under the lock. */
  int n = want < live ? want : live;
  if (!broken && atomic_load(&ex->nworkers) != n) {
    keel__hub_lock();
    if (ex->target == s->target)
      atomic_store(&ex->nworkers, n);
    keel__hub_unlock();
  }
  return act;
}

/* Nothing in flight or queued, no worker coming or going: the manager
 * thread may doze (sys/backoff.c); a submission wakes it. */
bool keel__dispatch_quiet(const keel__sched *s)
{
  if (s->ex->finished)
    return true;
  if (s->outstanding || s->shutdown || s->cancel)
    return false;
  for (int i = 0; i < s->nw; i++)
    if (s->w[i]->state != KEEL__W_ACTIVE)
      return false;
  return true;
}

/* ---- dispatch ---- */

/* A task's estimated run time: its function's on this executor (whose
 * initializer may make it faster or slower than elsewhere), else on any
 * executor, once one of its tasks has been timed; until then it counts as
 * long. */
static double est_of(const keel__master *m, const keel__sched *s,
                     const keel_future *f)
{
  double e = keel__estimate_get(&s->est, f->fn);
  if (e <= 0)
    e = keel__estimate_get(&m->est, f->fn);
  return e > 0 ? e : SOLO_TASK;
}

/* May w, holding n tasks of `work` estimated seconds, be sent one more of
 * e seconds?  Always when it holds nothing; a second one unless it is long
 * (so that the next task is there when a result goes back); more while
 * what it holds stays under WINDOW_WORK. */
static bool has_room(const keel__sched *s, const keel__xworker *w, int n,
                     double work, double e)
{
  int most = s->ex->opt.max_inflight > 0 ? s->ex->opt.max_inflight
                                         : WINDOW_MAX;
  if (w->state != KEEL__W_ACTIVE || n >= most)
    return false;
  return n == 0 || (n < WINDOW_MIN && e < SOLO_TASK) ||
         work + e <= WINDOW_WORK;
}

/* Take up to k startable futures off the queue for w, marking them
 * running, while w has room for them, at most about BATCH_BYTES of
 * arguments (and at least one); a large argument goes alone, sent from
 * where it lies (send_in_place). */
static int take_batch(keel__master *m, keel__sched *s, keel__xworker *w,
                      int k, keel_future **out)
{
  int n = 0;
  size_t bytes = 0;
  double work = w->work;
  keel_future *next;
  keel__future_batch_begin();
  while (n < k && (next = pend_first(s)) &&
         (n == 0 || (bytes + next->arg_len <= BATCH_BYTES &&
                     !keel__arg_in_place(next->arg_len) &&
                     !keel__arg_in_place(out[0]->arg_len))) &&
         has_room(s, w, w->inflight + n, work, est_of(m, s, next))) {
    keel_future *f = pend_pop(s);
    if (f->state == KEEL__F_CANCELLED) {
      keel__future_batch_drop(f);
      keel__assert(s->outstanding > 0);
      s->outstanding--;
      continue;
    }
    f->state = KEEL__F_RUNNING;
    f->est = est_of(m, s, f);
    work += f->est;
    bytes += f->arg_len;
    out[n++] = f;
  }
  keel__future_batch_end();
  return n;
}

_Static_assert(KEEL__TASK_PREFIX <= KEEL__ARG_ROOM,
               "a TASKS prefix fits before an argument");

/* A large argument goes alone (take_batch) and from where it lies: its
 * block holds the message (api/arg.c).  The prefix is the same bytes each
 * time the task is sent, so a send still in flight to a lost rank reads
 * nothing new. */
static bool send_in_place(keel__master *m, keel__sched *s, keel__xworker *w,
                          keel_future *f)
{
  if (!keel__arg_in_place(f->arg_len))
    return false;
  keel__task t = {f->task_id, f->fn, f->item_size, f->arg,
                  (uint32_t)f->arg_len};
  char *msg = (char *)f->arg - KEEL__TASK_PREFIX;
  if (!keel__wire_task_prefix(msg, s->ex->id, &t))
    return false; /* no memory: packed, which fails as a send would */
  keel__arg_ref(f->arg, f->arg_len);
  m->send_ref(m, w->rank, msg, KEEL__TASK_PREFIX + f->arg_len, f->arg);
  return true;
}

static void send_tasks(keel__master *m, keel__sched *s, keel__xworker *w,
                       keel_future **fs, int n)
{
  for (int i = 0; i < n; i++) { /* first: the debug lines in order */
    fs[i]->rank = w->rank;
    inflight_push(w, fs[i]);
    keel__debug("task %llu of executor %u sent to rank %d (%d queued there)",
                (unsigned long long)fs[i]->task_id, s->ex->id, w->rank,
                w->inflight);
  }
  if (n == 1 && send_in_place(m, s, w, fs[0]))
    return;
  keel_buf b = {0};
  keel__wire_put_hdr(&b, KEEL__M_TASKS, s->ex->id, 0);
  for (int i = 0; i < n; i++) {
    keel__task t = {fs[i]->task_id, fs[i]->fn, fs[i]->item_size, fs[i]->arg,
                    (uint32_t)fs[i]->arg_len};
    keel__wire_put_task(&b, &t);
  }
  keel__wire_finish(&b, 0, (uint32_t)n);
  m->send(m, w->rank, &b);
}

/* Send worker w up to share tasks of the queue, in batches, while it has
 * room. */
static int feed(keel__master *m, keel__sched *s, keel__xworker *w, int share)
{
  keel_future *fs[64];
  int sent = 0;
  while (share > 0 && s->npend > 0) {
    int n = take_batch(m, s, w, share < 64 ? share : 64, fs);
    if (n == 0)
      break;
    send_tasks(m, s, w, fs, n);
    share -= n;
    sent += n;
  }
  return sent;
}

/* Of the workers that may take the next task, the one holding the least
 * estimated work; ties go to the one that became hungry first (at first,
 * the order of attachment: an executor's own, see pick_rank()).  Only the
 * hungry workers are looked at: a turn costs nothing per busy worker.
 * Those found without room leave the list until a task comes back. */
static keel__xworker *least_loaded(const keel__master *m, keel__sched *s,
                                   int *room)
{
  keel__xworker *best = NULL;
  double e = est_of(m, s, pend_first(s));
  *room = 0;
  for (int i = 0; i < s->nhungry;) {
    keel__xworker *w = s->hungry[i];
    if (!has_room(s, w, w->inflight, w->work, e)) {
      hungry_drop(s, i); /* the last one moved to i: look at it next */
      continue;
    }
    i++;
    (*room)++;
    if (!best || w->inflight < best->inflight ||
        (w->inflight == best->inflight && w->work < best->work))
      best = w;
  }
  return best;
}

/* Feed the least loaded worker first, its share of the queue, then the
 * next: tasks submitted one at a time spread over idle workers instead of
 * queueing behind the first worker's window. */
static int dispatch(keel__master *m, keel__sched *s)
{
  int act = 0, room;
  keel__xworker *w;
  while (s->npend && (w = least_loaded(m, s, &room))) {
    int share = (int)((s->npend + (size_t)room - 1) / (size_t)room);
    int sent = feed(m, s, w, share);
    if (!sent)
      break;
    act += sent;
  }
  return act;
}

/* Nothing queued here, a worker idle, another holding tasks that may not
 * have started: ask it for some back (RECALL) for the idle one.  Its nanny
 * gives back only tasks it still holds, so none runs twice; until its
 * answer (RECALLED) that worker is not asked again. */
static int rebalance(keel__master *m, keel__sched *s)
{
  int idle = 0, act = 0;
  if (s->npend || !s->rebalance_due)
    return 0; /* no worker went idle, no answer came, since it last looked */
  s->rebalance_due = false;
  for (int i = 0; i < s->nw; i++)
    idle += s->w[i]->state == KEEL__W_ACTIVE && s->w[i]->inflight == 0;
  while (idle-- > 0) {
    keel__xworker *v = NULL;
    for (int i = 0; i < s->nw; i++) {
      keel__xworker *w = s->w[i];
      if (w->state == KEEL__W_ACTIVE && !w->recalling && w->inflight >= 2 &&
          w->work >= RECALL_WORK && (!v || w->work > v->work))
        v = w;
    }
    if (!v)
      break;
    keel_buf b = {0};
    uint32_t k = (uint32_t)(v->inflight / 2);
    keel__wire_put_hdr(&b, KEEL__M_RECALL, s->ex->id, k);
    keel__wire_finish(&b, 0, k);
    v->recalling = k;
    m->send(m, v->rank, &b);
    act++;
  }
  return act;
}

int keel__dispatch_recalled(keel__master *m, keel__sched *s, int rank,
                            const keel__wire_hdr *h, keel__wire_rd *rd)
{
  keel__xworker *w = worker_of(s, rank);
  keel__queue back;
  size_t n = 0;
  int rc = KEEL_OK;
  (void)m;
  keel__queue_init(&back);
  if (w && (!w->recalling || h->count > w->recalling))
    return KEEL_EPROTO; /* unasked: those tasks may be running there */
  if (w)
    w->recalling = 0;
  s->rebalance_due = true; /* that worker may be asked again */
  for (uint32_t i = 0; i < h->count; i++) {
    uint64_t id = keel__wire_get_u64(rd);
    if (rd->err) {
      rc = KEEL_EPROTO;
      break;
    }
    keel_future *f = w ? inflight_take(s, w, id, true) : NULL;
    if (!f)
      continue; /* failed meanwhile (broken, killed) */
    /* It stays RUNNING: the user may have seen it so (keel_future_running
     * ()), and a future's state never goes back. */
    keel__queue_insert_tail(&back, &f->node);
    n++;
  }
  keel__queue_prepend(&s->pending, &back); /* ahead, in their order */
  s->npend += n;
  return rc;
}

int keel__dispatch_step(keel__master *m, keel__sched *s)
{
  keel__assert(keel__hub_on_manager());
  int act = 0;
  if (atomic_load(&s->ex->state) == KEEL__X_BROKEN && s->npend) {
    fail_pending_broken(s);
    act++;
  }
  act += reconcile(m, s);
  if (atomic_load(&s->ex->state) == KEEL__X_OPEN) {
    act += dispatch(m, s);
    act += rebalance(m, s);
  }
  return act;
}

/* ---- what comes back ---- */

static void note_runtime(keel__master *m, keel__sched *s,
                         const keel_future *f, uint32_t us)
{
  double t = us * 1e-6 + 2e-6; /* floor: an empty task is not free */
  keel__estimate_note(&s->est, f->fn, t);
  keel__estimate_note(&m->est, f->fn, t);
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

static void finish_result(keel__sched *s, keel_future *f, const char *host,
                          const keel__result *res, char **msg)
{
  f->host = host; /* for map items that failed in a chunk that did not */
  if (res->status == 0) {
    char *data = take_message(res, msg);
    if (res->len && !data && (data = malloc(res->len)))
      memcpy(data, res->data, res->len);
    if (res->len && !data) {
      finish(s, f, KEEL_ENOMEM, NULL, 0, NULL);
      return;
    }
    finish(s, f, KEEL_OK, data, res->len, NULL);
    return;
  }
  char *text = strndup(res->data ? res->data : "", res->len);
  keel_error e = {res->status, text && *text ? text : NULL, f->rank, host,
                  0, -1, f->task_id, NULL, 0};
  finish(s, f, res->status, NULL, 0, &e);
  free(text);
}

int keel__dispatch_results(keel__master *m, keel__sched *s, int rank,
                           const keel__wire_hdr *h, keel__wire_rd *rd,
                           char **msg)
{
  keel__xworker *w = worker_of(s, rank);
  int rc = KEEL_OK;
  keel__future_batch_begin();
  for (uint32_t i = 0; i < h->count; i++) {
    keel__result res;
    if (keel__wire_get_result(rd, &res)) {
      rc = KEEL_EPROTO;
      break;
    }
    keel_future *f = w ? inflight_take(s, w, res.id, false) : NULL;
    if (!f)
      continue; /* the executor already failed it (broken, lost) */
    note_runtime(m, s, f, res.runtime_us);
    finish_result(s, f, m->ranks.v[rank]->host, &res,
                  h->count == 1 ? msg : NULL);
  }
  keel__future_batch_end();
  return rc;
}

void keel__dispatch_closed(keel__master *m, keel__sched *s, int rank)
{
  keel__xworker *w = worker_of(s, rank);
  if (w)
    remove_worker(m, s, w);
}

/* ---- deaths ---- */

static char *describe_exit(const keel__death *d)
{
  if (d->signal)
    return keel__error_printf("the task process was killed by signal %d "
                               "(%s)", d->signal, strsignal(d->signal));
  if (d->exit_status < 0) /* keel__dispatch_rank_lost */
    return strdup("its worker rank was lost");
  return keel__error_printf("the task process exited with status %d",
                             d->exit_status);
}

static char *death_message(const keel__death *d, const keel__xworker *w,
                           const char *host, const keel_future *f,
                           double timeout)
{
  const char *name = NULL;
  keel__registry_fn(f ? f->fn : 0, &name);
  char *how = describe_exit(d), *msg;
  char where[512];
  snprintf(where, sizeof where, "task %llu%s%s%s on rank %d (host %s)",
           f ? f->task_id : 0ULL, name ? " (" : "", name ? name : "",
           name ? ")" : "", w->rank, host ? host : "?");
  if (d->cause == KEEL__C_DEADLINE)
    msg = keel__error_printf("%s ran past task_timeout of %g s and was "
                              "killed", where, timeout);
  else
    msg = keel__error_printf("%s: %s%s%s", where,
                              how ? how : "the task process died",
                              d->message && *d->message ? ": " : "",
                              d->message ? d->message : "");
  free(how);
  return msg;
}

/* What becomes of f after its crash under its executor's policy: the
 * report says it, and dispatch_death does it. */
static keel__fate fate(const keel_executor *ex, const keel_future *f,
                       int code)
{
  const keel_options *o = &ex->opt;
  if (code == KEEL_EWORKER && o->on_crash == KEEL_ON_CRASH_BREAK)
    return (keel__fate){KEEL__FATE_BREAK, 0, 0};
  if (code == KEEL_EWORKER && o->on_crash == KEEL_ON_CRASH_RETRY &&
      f->tries < o->max_retries)
    return (keel__fate){KEEL__FATE_RETRY, f->tries + 1, o->max_retries};
  return (keel__fate){KEEL__FATE_FAIL, f->tries, o->max_retries};
}

static void requeue_or_fail(keel__sched *s, keel_future *f, int code,
                            const keel_error *e, keel__fate to)
{
  if (to.what == KEEL__FATE_RETRY) {
    f->tries++; /* it stays RUNNING: the user saw it start */
    pend_push(s, f, true);
    return;
  }
  /* A poison task: retried, it took a worker rank down every time.  Say
   * so, since the ranks it took are what the user will miss. */
  char *poison = NULL;
  keel_error pe;
  if (code == KEEL_EWORKER && f->tries > 0 && f->downs == f->tries + 1) {
    const char *name = NULL;
    keel__registry_fn(f->fn, &name);
    poison = keel__error_printf(
        "task %llu%s%s%s took its worker rank down each of the %d times it "
        "ran (it is not run again); the last time: %s",
        f->task_id, name ? " (" : "", name ? name : "", name ? ")" : "",
        f->downs, e->message);
    pe = *e;
    pe.message = poison ? poison : e->message;
    e = &pe;
  }
  keel__future_batch_begin();
  finish(s, f, code, NULL, 0, e);
  keel__future_batch_end();
  free(poison);
}

void keel__dispatch_death(keel__master *m, keel__sched *s, int rank,
                          const keel__death *d)
{
  keel_executor *ex = s->ex;
  keel__xworker *w = worker_of(s, rank);
  if (!w || atomic_load(&ex->state) == KEEL__X_BROKEN)
    return;
  const char *host = m->ranks.v[rank]->host;
  keel_future *f = d->task_id ? inflight_take(s, w, d->task_id, false) : NULL;
  char *msg = death_message(d, w, host, f, ex->opt.task_timeout);
  const char *text = msg ? msg : "a task process died";
  if (d->cause == KEEL__C_INIT || d->cause == KEEL__C_SPAWN) {
    char *why = keel__error_printf(
        "%s on rank %d (host %s): %s",
        d->cause == KEEL__C_INIT ? "the initializer failed"
                                 : "a task process could not be started",
        rank, host ? host : "?",
        d->message && *d->message ? d->message : text);
    if (f)
      pend_push(s, f, true); /* not its fault: fails with the rest */
    break_exec(s, why ? why : text);
    free(why);
    free(msg);
    return;
  }
  int code = d->cause == KEEL__C_DEADLINE ? KEEL_EDEADLINE : KEEL_EWORKER;
  keel_error e = {code, text, rank, host, d->signal,
                  d->exit_status, f ? f->task_id : 0, d->backtrace, d->pid};
  if (f) {
    keel__fate to = fate(ex, f, code);
    keel__report_crash(ex, &e, to);
    if (to.what == KEEL__FATE_BREAK) {
      break_exec(s, text); /* first: whoever sees the crash sees it broken */
      keel__future_batch_begin();
      finish(s, f, code, NULL, 0, &e);
      keel__future_batch_end();
    } else {
      requeue_or_fail(s, f, code, &e, to);
    }
  }
  free(msg);
}

void keel__dispatch_rank_lost(keel__master *m, keel__sched *s, int rank,
                              const char *why)
{
  keel__xworker *w = worker_of(s, rank);
  if (!w)
    return;
  keel_future *head = inflight_first(w);
  if (head && atomic_load(&s->ex->state) == KEEL__X_OPEN) {
    head->downs++; /* the one it was running, or about to */
    keel__death d = {head->task_id, KEEL__C_CRASH, 0, -1, (char *)why, NULL,
                     0};
    keel__dispatch_death(m, s, rank, &d);
  }
  if (!(w = worker_of(s, rank)))
    return;
  /* Innocent tasks that were queued on the lost rank run elsewhere, ahead
   * of the queue and in their order. */
  s->npend += (size_t)w->inflight;
  keel__queue_prepend(&s->pending, &w->flight);
  w->inflight = 0;
  w->work = 0;
  remove_worker(m, s, w);
}
