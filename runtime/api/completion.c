/* completion.c: keel_as_completed.  Each iterator hangs a watcher on every
 * future it waits for; completing a future moves its watchers to their
 * iterators' ready lists, so next() is O(1) and never rescans the set. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

typedef struct watch {
  keel_future *f;
  keel_completion *it;
  keel__queue node; /* on f->watchers, then on it->ready */
} watch;

struct keel_completion {
  size_t n, returned;
  watch *w;
  keel__queue ready; /* done, not returned yet, in completion order */
};

/* The futures' hook (future.c calls it, locked, as f completes): move its
 * watchers to their iterators' ready lists. */
static void notify_locked(keel_future *f)
{
  keel__queue *q;
  while ((q = keel__queue_pop(&f->watchers))) {
    watch *w = keel__queue_data(q, watch, node);
    keel__queue_insert_tail(&w->it->ready, &w->node);
  }
}

typedef struct slot {
  keel_future *f;
  size_t idx;
} slot;

static int by_ptr(const void *a, const void *b)
{
  const slot *x = a, *y = b;
  if (x->f != y->f)
    return x->f < y->f ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Keep the first occurrence of each future, in the caller's order. */
static size_t dedup(keel_future *const *fs, size_t n, keel_future **out)
{
  slot *s = malloc(n * sizeof *s);
  bool *dup = calloc(n, sizeof *dup);
  size_t m = 0;
  if (!s || !dup) {
    free(s);
    free(dup);
    return (size_t)-1;
  }
  for (size_t i = 0; i < n; i++)
    s[i] = (slot){fs[i], i};
  qsort(s, n, sizeof *s, by_ptr);
  for (size_t i = 1; i < n; i++)
    if (s[i].f == s[i - 1].f)
      dup[s[i].idx] = true;
  for (size_t i = 0; i < n; i++)
    if (!dup[i])
      out[m++] = fs[i];
  free(s);
  free(dup);
  return m;
}

static void watch_all(keel_completion *it, keel_future **u)
{
  keel__future_lock();
  keel__future_set_watch_hook(notify_locked);
  for (size_t i = 0; i < it->n; i++) {
    watch *w = &it->w[i];
    *w = (watch){.f = u[i], .it = it};
    keel__queue_insert_tail(u[i]->state >= KEEL__F_FINISHED ? &it->ready
                                                            : &u[i]->watchers,
                            &w->node);
  }
  keel__future_unlock();
}

int keel_as_completed(keel_future *const *fs, size_t n, keel_completion **it)
{
  if (!it || (n && !fs))
    return KEEL_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!fs[i])
      return KEEL_EINVAL;
  keel_completion *c = calloc(1, sizeof *c);
  keel_future **u = malloc((n ? n : 1) * sizeof *u);
  c ? (void)(c->w = malloc((n ? n : 1) * sizeof *c->w)) : (void)0;
  c ? keel__queue_init(&c->ready) : (void)0;
  if (!c || !u || !c->w || (c->n = dedup(fs, n, u)) == (size_t)-1) {
    free(u);
    if (c)
      free(c->w);
    free(c);
    return KEEL_ENOMEM;
  }
  watch_all(c, u);
  free(u);
  *it = c;
  return KEEL_OK;
}

int keel_completion_next(keel_completion *it, double timeout, keel_future **f)
{
  if (!it || !f)
    return KEEL_EINVAL;
  double deadline = keel__clock_deadline(timeout);
  int rc = KEEL_OK;
  keel__future_lock();
  if (it->returned == it->n) {
    rc = KEEL_EOF;
  } else {
    while (keel__queue_empty(&it->ready) &&
           keel__future_wait_until(deadline))
      ;
    keel__queue *q = keel__queue_pop(&it->ready);
    if (!q) {
      rc = KEEL_ETIMEDOUT;
    } else {
      it->returned++;
      keel__assert(it->returned <= it->n);
      *f = keel__queue_data(q, watch, node)->f;
    }
  }
  keel__future_unlock();
  if (rc == KEEL_OK)
    keel__printed_wait((*f)->printed, deadline);
  return rc;
}

void keel_completion_free(keel_completion *it)
{
  if (!it)
    return;
  keel__future_lock();
  for (size_t i = 0; i < it->n; i++) /* off a future, or off ready */
    keel__queue_remove(&it->w[i].node);
  keel__future_unlock();
  free(it->w);
  free(it);
}
