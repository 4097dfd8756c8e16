/* sendq.c: nonblocking sends, each owning its buffer until MPI is done
 * with it. */
#include "proto/mpiq.h"

#include <stdlib.h>

typedef struct keel__sreq {
  MPI_Request r;
  void (*release)(void *); /* with ctx, once MPI is done with the bytes */
  void *ctx;
  int who; /* the caller's name for the destination */
  keel__queue node;
} keel__sreq;

void keel__sendq_init(keel__sendq *q)
{
  keel__queue_init(&q->reqs);
  q->n = 0;
}

int keel__sendq_post_ref(keel__sendq *q, MPI_Comm comm, int rank, int who,
                         const void *buf, size_t n, void (*release)(void *),
                         void *ctx)
{
  keel__sreq *s = calloc(1, sizeof *s);
  if (!s) {
    release(ctx);
    return KEEL_ENOMEM;
  }
  keel__assert(n <= KEEL__WIRE_HDR + (size_t)KEEL__WIRE_MAX);
  if (MPI_Isend(buf, (int)n, MPI_BYTE, rank, KEEL__MPI_TAG, comm, &s->r) !=
      MPI_SUCCESS) {
    release(ctx);
    free(s);
    return KEEL_EMPI;
  }
  s->release = release;
  s->ctx = ctx;
  s->who = who;
  keel__queue_insert_tail(&q->reqs, &s->node);
  q->n++;
  return KEEL_OK;
}

int keel__sendq_post(keel__sendq *q, MPI_Comm comm, int rank, int who,
                     keel_buf *b)
{
  size_t n;
  char *buf = keel__buf_steal(b, &n);
  if (!buf)
    return KEEL_ENOMEM;
  return keel__sendq_post_ref(q, comm, rank, who, buf, n, free, buf);
}

int keel__sendq_test(keel__sendq *q)
{
  int done = 0;
  keel__queue *n = keel__queue_head(&q->reqs);
  while (n != &q->reqs) {
    keel__sreq *s = keel__queue_data(n, keel__sreq, node);
    int flag = 0;
    n = n->next;
    MPI_Test(&s->r, &flag, MPI_STATUS_IGNORE);
    if (!flag)
      continue;
    keel__queue_remove(&s->node);
    keel__assert(q->n > 0);
    q->n--;
    s->release(s->ctx);
    free(s);
    done++;
  }
  return done;
}

bool keel__sendq_empty(const keel__sendq *q)
{
  return keel__queue_empty(&q->reqs);
}

bool keel__sendq_only_to(const keel__sendq *q,
                         bool (*gone)(const void *ctx, int who),
                         const void *ctx)
{
  keel__queue *n;
  keel__queue_foreach(n, &q->reqs)
    if (!gone(ctx, keel__queue_data(n, keel__sreq, node)->who))
      return false;
  return true;
}
