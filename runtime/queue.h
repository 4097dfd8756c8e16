/*
 * queue.h: the one intrusive queue of the runtime, in the manner of
 * libuv's src/queue.h.  A circular doubly-linked list: the head is a node
 * of its own, an element embeds a node and is found again with
 * keel__queue_data().  Every operation is O(1); nothing allocates.
 *
 * A node is on at most one queue at a time; keel__queue_remove() leaves it
 * pointing at itself, so keel__queue_linked() tells whether it is on one.
 * A head must not move (no realloc, no struct copy): its elements, or
 * itself when it is empty, point at it.
 */
#ifndef KEEL_QUEUE_H
#define KEEL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct keel__queue {
  struct keel__queue *next, *prev;
} keel__queue;

/* The element of type `type` whose member `field` is the node q. */
#define keel__queue_data(q, type, field) \
  ((type *)(void *)((char *)(q) - offsetof(type, field)))

/* Walk a queue; the body must not remove q (use keel__queue_pop). */
#define keel__queue_foreach(q, h) \
  for ((q) = (h)->next; (q) != (h); (q) = (q)->next)

static inline void keel__queue_init(keel__queue *q)
{
  q->next = q->prev = q;
}

static inline bool keel__queue_empty(const keel__queue *h)
{
  return h->next == h;
}

/* Is node q on some queue (or a head with elements)? */
static inline bool keel__queue_linked(const keel__queue *q)
{
  return q->next != q;
}

static inline keel__queue *keel__queue_head(const keel__queue *h)
{
  return h->next;
}

static inline keel__queue *keel__queue_tail(const keel__queue *h)
{
  return h->prev;
}

static inline void keel__queue_insert_tail(keel__queue *h, keel__queue *q)
{
  q->next = h;
  q->prev = h->prev;
  q->prev->next = q;
  h->prev = q;
}

static inline void keel__queue_insert_head(keel__queue *h, keel__queue *q)
{
  q->next = h->next;
  q->prev = h;
  q->next->prev = q;
  h->next = q;
}

static inline void keel__queue_remove(keel__queue *q)
{
  q->prev->next = q->next;
  q->next->prev = q->prev;
  keel__queue_init(q);
}

/* Take the first element's node off h, or NULL when h is empty. */
static inline keel__queue *keel__queue_pop(keel__queue *h)
{
  keel__queue *q = h->next;
  if (q == h)
    return NULL;
  keel__queue_remove(q);
  return q;
}

/* Move every element of from to the end of h, in order; from is left
 * empty. */
static inline void keel__queue_append(keel__queue *h, keel__queue *from)
{
  if (keel__queue_empty(from))
    return;
  h->prev->next = from->next;
  from->next->prev = h->prev;
  h->prev = from->prev;
  h->prev->next = h;
  keel__queue_init(from);
}

/* Move every element of from to the front of h, in order. */
static inline void keel__queue_prepend(keel__queue *h, keel__queue *from)
{
  if (keel__queue_empty(from))
    return;
  from->prev->next = h->next;
  h->next->prev = from->prev;
  h->next = from->next;
  h->next->prev = h;
  keel__queue_init(from);
}

/* Move the whole of from into h, which must be empty or uninitialised: h
 * is a new head for the same elements, from is left empty. */
static inline void keel__queue_move(keel__queue *from, keel__queue *h)
{
  keel__queue_init(h);
  keel__queue_append(h, from);
}

#endif /* KEEL_QUEUE_H */
