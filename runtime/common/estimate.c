/* estimate.c: how long a task function's tasks run, learnt from the run
 * times results carry.  One program mixes fast and slow functions, so the
 * master sizes what it promises a worker, and a nanny what it hands its
 * task process, by each task's function rather than by one average.  An
 * open-addressing table of (function id, moving average); 0 means not
 * known yet. */
#include "keel_int.h"

#include <stdlib.h>

static size_t slot_of(const keel__estimates *e, uint64_t fn)
{
  size_t i = (size_t)(fn * 0x9e3779b97f4a7c15ull) & (e->cap - 1);
  while (e->v[i].fn && e->v[i].fn != fn)
    i = (i + 1) & (e->cap - 1);
  return i;
}

double keel__estimate_get(const keel__estimates *e, uint64_t fn)
{
  if (!e->cap || !fn)
    return 0;
  return e->v[slot_of(e, fn)].s;
}

static int grow(keel__estimates *e)
{
  keel__estimates bigger = {.cap = e->cap ? 2 * e->cap : 16};
  bigger.v = calloc(bigger.cap, sizeof *bigger.v);
  if (!bigger.v)
    return KEEL_ENOMEM;
  for (size_t i = 0; i < e->cap; i++)
    if (e->v[i].fn) {
      bigger.v[slot_of(&bigger, e->v[i].fn)] = e->v[i];
      bigger.n++;
    }
  free(e->v);
  *e = bigger;
  return KEEL_OK;
}

void keel__estimate_note(keel__estimates *e, uint64_t fn, double s)
{
  if (!fn || ((e->n + 1) * 4 > e->cap * 3 && grow(e)))
    return; /* no memory: the estimate stays what it was */
  size_t i = slot_of(e, fn);
  if (!e->v[i].fn) {
    e->v[i].fn = fn;
    e->n++;
  }
  e->v[i].s = e->v[i].s > 0 ? 0.8 * e->v[i].s + 0.2 * s : s;
}

void keel__estimate_free(keel__estimates *e)
{
  free(e->v);
  *e = (keel__estimates){0};
}
