/* mpiq.c: nonblocking sends, each owning its buffer until MPI is done with
 * it, and receives completed in order.  A request to a rank that died may
 * never complete: its entry simply stays, nobody ever waits on it. */
#include "mpiq.h"

#include <stdlib.h>

typedef struct keel__sreq {
  MPI_Request r;
  char *buf;
  int who; /* the caller's name for the destination */
  struct keel__sreq *next;
} keel__sreq;

int keel__sendq_post(keel__sendq *q, MPI_Comm comm, int rank, int who,
                     keel_buf *b)
{
  size_t n;
  char *buf = keel__buf_steal(b, &n);
  keel__sreq *s = calloc(1, sizeof *s);
  if (!buf || !s) {
    free(buf);
    free(s);
    return KEEL_ENOMEM;
  }
  if (MPI_Isend(buf, (int)n, MPI_BYTE, rank, KEEL__MPI_TAG, comm, &s->r) !=
      MPI_SUCCESS) {
    free(buf);
    free(s);
    return KEEL_EMPI;
  }
  s->buf = buf;
  s->who = who;
  s->next = q->head;
  q->head = s;
  return KEEL_OK;
}

int keel__sendq_test(keel__sendq *q)
{
  int done = 0;
  for (keel__sreq **p = &q->head; *p;) {
    int flag = 0;
    MPI_Test(&(*p)->r, &flag, MPI_STATUS_IGNORE);
    if (!flag) {
      p = &(*p)->next;
      continue;
    }
    keel__sreq *s = *p;
    *p = s->next;
    free(s->buf);
    free(s);
    done++;
  }
  return done;
}

bool keel__sendq_empty(const keel__sendq *q)
{
  return q->head == NULL;
}

bool keel__sendq_only_to(const keel__sendq *q, bool (*gone)(int who))
{
  for (const keel__sreq *s = q->head; s; s = s->next)
    if (!gone(s->who))
      return false;
  return true;
}

bool keel__recvq_empty(const keel__recvq *q)
{
  return q->head == NULL;
}

typedef struct keel__rreq {
  MPI_Request r;
  char *buf;
  int n;
  struct keel__rreq *next;
} keel__rreq;

int keel__recvq_post(keel__recvq *q, MPI_Message *m, int n)
{
  keel__rreq *r = calloc(1, sizeof *r);
  char *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!r || !buf) { /* take the message off anyway: the sender is out */
    char c;        /* of step and will be failed by the caller */
    MPI_Mrecv(&c, 0, MPI_BYTE, m, MPI_STATUS_IGNORE);
    free(r);
    free(buf);
    return KEEL_ENOMEM;
  }
  r->buf = buf;
  r->n = n;
  MPI_Imrecv(buf, n, MPI_BYTE, m, &r->r);
  if (q->tail)
    q->tail->next = r;
  else
    q->head = r;
  q->tail = r;
  return KEEL_OK;
}

char *keel__recvq_pop(keel__recvq *q, int *n)
{
  int flag = 0;
  if (!q->head)
    return NULL;
  MPI_Test(&q->head->r, &flag, MPI_STATUS_IGNORE);
  if (!flag)
    return NULL;
  keel__rreq *r = q->head;
  char *buf = r->buf;
  *n = r->n;
  q->head = r->next;
  if (!q->head)
    q->tail = NULL;
  free(r);
  return buf;
}
