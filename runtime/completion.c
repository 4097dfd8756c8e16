/* completion.c: keel_as_completed.  Each iterator hangs a watcher on every
 * future it waits for; completing a future moves its watchers to their
 * iterators' ready lists, so next() is O(1) and never rescans the set. */
#include "keel_int.h"

#include <stdlib.h>
#include <string.h>

struct keel__watch {
  keel_future *f;
  keel_completion *it;
  keel__watch *prev, *next; /* on f->watchers while linked */
  keel__watch *rnext;       /* on it's ready list */
  bool linked;
};

struct keel_completion {
  size_t n, returned;
  keel__watch *w;
  keel__watch *ready_head, *ready_tail;
};

static void push_ready(keel_completion *it, keel__watch *w)
{
  w->rnext = NULL;
  if (it->ready_tail)
    it->ready_tail->rnext = w;
  else
    it->ready_head = w;
  it->ready_tail = w;
}

static void unlink_watch(keel__watch *w)
{
  if (w->prev)
    w->prev->next = w->next;
  else
    w->f->watchers = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->linked = false;
}

void keel__watch_notify_locked(keel_future *f)
{
  keel__watch *w = f->watchers;
  f->watchers = NULL;
  while (w) {
    keel__watch *next = w->next;
    w->linked = false;
    push_ready(w->it, w);
    w = next;
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
  pthread_mutex_lock(&keel__flock);
  for (size_t i = 0; i < it->n; i++) {
    keel__watch *w = &it->w[i];
    *w = (keel__watch){.f = u[i], .it = it};
    if (u[i]->state >= KEEL__F_FINISHED) {
      push_ready(it, w);
    } else {
      w->next = u[i]->watchers;
      if (w->next)
        w->next->prev = w;
      u[i]->watchers = w;
      w->linked = true;
    }
  }
  pthread_mutex_unlock(&keel__flock);
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
  double deadline = keel__deadline(timeout);
  int rc = KEEL_OK;
  pthread_mutex_lock(&keel__flock);
  if (it->returned == it->n) {
    rc = KEEL_EOF;
  } else {
    while (!it->ready_head && keel__wait_until(deadline))
      ;
    if (!it->ready_head) {
      rc = KEEL_ETIMEDOUT;
    } else {
      keel__watch *w = it->ready_head;
      it->ready_head = w->rnext;
      if (!it->ready_head)
        it->ready_tail = NULL;
      it->returned++;
      *f = w->f;
    }
  }
  pthread_mutex_unlock(&keel__flock);
  return rc;
}

void keel_completion_free(keel_completion *it)
{
  if (!it)
    return;
  pthread_mutex_lock(&keel__flock);
  for (size_t i = 0; i < it->n; i++)
    if (it->w[i].linked)
      unlink_watch(&it->w[i]);
  pthread_mutex_unlock(&keel__flock);
  free(it->w);
  free(it);
}
