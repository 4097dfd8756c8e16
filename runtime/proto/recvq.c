/* recvq.c: receives matched with MPI_Improbe, completed in the order they
 * arrived. */
#include "proto/mpiq.h"

#include <stdlib.h>

typedef struct keel__rreq {
  MPI_Request r;
  char *buf;
  int n;
  keel__queue node;
} keel__rreq;

void keel__recvq_init(keel__recvq *q)
{
  keel__queue_init(&q->reqs);
}

bool keel__recvq_empty(const keel__recvq *q)
{
  return keel__queue_empty(&q->reqs);
}

int keel__recvq_post_into(keel__recvq *q, MPI_Message *m, int n, char *buf)
{
  keel__rreq *r = calloc(1, sizeof *r);
  if (!r || !buf) { /* take the message off anyway: the sender is out */
    char c;        /* of step and will be failed by the caller */
    MPI_Mrecv(&c, 0, MPI_BYTE, m, MPI_STATUS_IGNORE);
    free(r);
    return KEEL_ENOMEM;
  }
  r->buf = buf;
  r->n = n;
  MPI_Imrecv(buf, n, MPI_BYTE, m, &r->r);
  keel__queue_insert_tail(&q->reqs, &r->node);
  return KEEL_OK;
}

int keel__recvq_post(keel__recvq *q, MPI_Message *m, int n)
{
  char *buf = malloc(n > 0 ? (size_t)n : 1);
  int rc = keel__recvq_post_into(q, m, n, buf);
  if (rc)
    free(buf);
  return rc;
}

char *keel__recvq_pop(keel__recvq *q, int *n)
{
  int flag = 0;
  if (keel__queue_empty(&q->reqs))
    return NULL;
  keel__rreq *r = keel__queue_data(keel__queue_head(&q->reqs), keel__rreq,
                                   node);
  MPI_Test(&r->r, &flag, MPI_STATUS_IGNORE);
  if (!flag)
    return NULL;
  keel__queue_remove(&r->node);
  char *buf = r->buf;
  *n = r->n;
  free(r);
  return buf;
}
