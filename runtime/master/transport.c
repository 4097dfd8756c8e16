/* transport.c: the master's MPI traffic with its workers.  It never
 * blocks in MPI: receives are matched with MPI_Improbe and completed with
 * MPI_Imrecv, in order per rank; sends are nonblocking, and a request to a
 * rank declared lost is simply abandoned.  It decides nothing: a send that
 * fails is returned to the caller, a message is handed to the caller's
 * handler. */
#include "master/master.h"

#include <stdlib.h>

void keel__transport_init(keel__transport *t)
{
  keel__sendq_init(&t->sends);
  t->arriving = NULL;
  t->narriving = t->cap = 0;
}

void keel__transport_free(keel__transport *t)
{
  free(t->arriving);
  t->arriving = NULL;
  t->narriving = t->cap = 0;
}

/* Put rank on the list of ranks with receives to complete. */
static bool note_arriving(keel__master *m, int rank)
{
  keel__transport *t = &m->net;
  keel__rank *k = m->ranks.v[rank];
  if (k->arriving)
    return true;
  if (t->narriving == t->cap) {
    int cap = t->cap ? 2 * t->cap : 64;
    int *v = realloc(t->arriving, (size_t)cap * sizeof *v);
    if (!v)
      return false;
    t->arriving = v;
    t->cap = cap;
  }
  t->arriving[t->narriving++] = rank;
  k->arriving = true;
  return true;
}

/* The nanny may be dozing: on our node its doorbell wakes it
 * (sys/doorbell.c), elsewhere a byte on its lifeline. */
static void wake(const keel__rank *k)
{
  if (k->pidfd >= 0)
    keel__doorbell_ring(k->pid);
  else if (k->sock >= 0)
    keel__lifeline_ring(k->sock);
}

/* Send n bytes at buf to rank, release(ctx) once MPI is done with them
 * (at once to a lost rank, or on a failure). */
static int post(keel__master *m, int rank, const void *buf, size_t n,
                void (*release)(void *), void *ctx, bool work)
{
  keel__assert(keel__hub_on_manager());
  keel__rank *k = m->ranks.v[rank];
  int crank, rc;
  if (k->lost || k->stop_sent) {
    release(ctx);
    return KEEL_OK;
  }
  MPI_Comm c = keel__ranks_comm(&m->ranks, rank, &crank);
  if ((rc = keel__sendq_post_ref(&m->net.sends, c, crank, rank, buf, n,
                                 release, ctx)))
    return rc;
  if (work)
    wake(k);
  return KEEL_OK;
}

int keel__transport_send(keel__master *m, int rank, keel_buf *b, bool work)
{
  size_t n;
  char *buf = keel__buf_steal(b, &n);
  return buf ? post(m, rank, buf, n, free, buf, work) : KEEL_ENOMEM;
}

int keel__transport_send_ref(keel__master *m, int rank, const void *msg,
                             size_t len, void *arg)
{
  return post(m, rank, msg, len, keel__arg_drop, arg, true);
}

/* Match what arrived on one group's communicator; its rank 1 is worker
 * rank base.  Not activity yet: the handler tells work from heartbeats. */
static void post_group(keel__master *m, MPI_Comm c, int base)
{
  for (int i = 0; i < 256; i++) {
    int flag = 0, bytes = 0;
    MPI_Message msg;
    MPI_Status st;
    if (MPI_Improbe(MPI_ANY_SOURCE, KEEL__MPI_TAG, c, &flag, &msg, &st) !=
            MPI_SUCCESS || !flag)
      break;
    int rank = base + st.MPI_SOURCE - 1; /* only workers send to us */
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    if (keel__recvq_post(&m->ranks.v[rank]->recvs, &msg, bytes) ||
        !note_arriving(m, rank))
      m->fail(m, rank, "out of memory receiving from it");
  }
}

void keel__transport_post(keel__master *m)
{
  int base, n;
  for (int g = 0; g < m->ranks.ngroups; g++) {
    MPI_Comm c = keel__ranks_group(&m->ranks, g, &base, &n);
    post_group(m, c, base);
  }
}

int keel__transport_complete(keel__master *m,
                             int (*handle)(keel__master *m, int rank,
                                           char **buf, size_t n))
{
  keel__transport *t = &m->net;
  int act = 0, n, kept = 0;
  char *buf;
  /* Only the ranks that have something arriving: a turn costs nothing per
   * quiet rank.  handle() may lose a rank, never add to the list. */
  for (int i = 0; i < t->narriving; i++) {
    int r = t->arriving[i];
    keel__rank *k = m->ranks.v[r];
    while (!k->lost && (buf = keel__recvq_pop(&k->recvs, &n))) {
      k->last_heard = keel__clock_now();
      act += handle(m, r, &buf, (size_t)n);
      free(buf); /* NULL if a future took it */
    }
    if (!k->lost && !keel__recvq_empty(&k->recvs))
      t->arriving[kept++] = r; /* still arriving: next turn */
    else
      k->arriving = false;
  }
  t->narriving = kept;
  return act;
}

void keel__transport_test(keel__transport *t)
{
  keel__sendq_test(&t->sends);
}

static bool rank_lost(const void *ctx, int rank)
{
  const keel__master *m = ctx;
  return m->ranks.v[rank]->lost;
}

bool keel__transport_idle(const keel__master *m)
{
  /* Sends to lost ranks may hang for ever and do not count. */
  if (!keel__sendq_only_to(&m->net.sends, rank_lost, m))
    return false;
  for (int i = 0; i < m->net.narriving; i++)
    if (!m->ranks.v[m->net.arriving[i]]->lost)
      return false;
  return true;
}
