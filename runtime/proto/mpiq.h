/*
 * proto/mpiq.h: the master's and the nanny's nonblocking MPI traffic:
 * sends that own their buffers until MPI is done with them (sendq.c), and
 * receives completed in the order they arrived (recvq.c).  A request to a
 * rank that died may never complete: its entry simply stays, and nobody
 * ever waits on it.
 */
#ifndef KEEL_PROTO_MPIQ_H
#define KEEL_PROTO_MPIQ_H

#include "proto/wire.h"

#include <mpi.h>
#include <stdbool.h>

typedef struct keel__sendq {
  keel__queue reqs; /* of struct keel__sreq */
  size_t n;
} keel__sendq;

void keel__sendq_init(keel__sendq *q);
/* MPI_Isend the bytes of b to rank of comm (taking them), noting `who`
 * (the caller's name for it); KEEL_EMPI or KEEL_ENOMEM on failure, the
 * bytes freed either way. */
int keel__sendq_post(keel__sendq *q, MPI_Comm comm, int rank, int who,
                     keel_buf *b);
/* MPI_Isend n bytes at buf, which stay the caller's: release(ctx) once
 * MPI is done with them (at once on a failure, which is returned).  A
 * message sent from where it lies, without a copy. */
int keel__sendq_post_ref(keel__sendq *q, MPI_Comm comm, int rank, int who,
                         const void *buf, size_t n, void (*release)(void *),
                         void *ctx);
/* Free the sends that completed; returns how many did. */
int keel__sendq_test(keel__sendq *q);
bool keel__sendq_empty(const keel__sendq *q);
/* Every pending send goes to someone gone(ctx, who) says is gone: such
 * sends may never complete, and nobody waits for them. */
bool keel__sendq_only_to(const keel__sendq *q,
                         bool (*gone)(const void *ctx, int who),
                         const void *ctx);

typedef struct keel__recvq {
  keel__queue reqs; /* of struct keel__rreq, oldest first */
} keel__recvq;

void keel__recvq_init(keel__recvq *q);
/* Start receiving the n-byte message m matched by MPI_Improbe. */
int keel__recvq_post(keel__recvq *q, MPI_Message *m, int n);
/* The same into buf (n bytes, the caller's: keel__recvq_pop() gives it
 * back); KEEL_ENOMEM leaves buf to the caller. */
int keel__recvq_post_into(keel__recvq *q, MPI_Message *m, int n, char *buf);
/* The oldest message once it has fully arrived (the caller frees it, *n
 * gets its size), else NULL: messages are handled in the order they came. */
char *keel__recvq_pop(keel__recvq *q, int *n);
bool keel__recvq_empty(const keel__recvq *q); /* nothing arriving */

#endif /* KEEL_PROTO_MPIQ_H */
