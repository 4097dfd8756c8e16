/* mpiq.h: the master's and the nanny's nonblocking MPI traffic: sends that
 * own their buffers, and receives completed in arrival order.  Internal;
 * includes mpi.h, unlike keel_int.h. */
#ifndef KEEL_MPIQ_H
#define KEEL_MPIQ_H

#include "keel_int.h"
#include <mpi.h>

typedef struct keel__sendq {
  struct keel__sreq *head;
} keel__sendq;

/* MPI_Isend the bytes of b to rank of comm (taking them), noting `who`
 * (the caller's name for it); KEEL_EMPI or KEEL_ENOMEM on failure, the
 * bytes freed either way. */
int keel__sendq_post(keel__sendq *q, MPI_Comm comm, int rank, int who,
                     keel_buf *b);
/* Free the sends that completed; returns how many did. */
int keel__sendq_test(keel__sendq *q);
bool keel__sendq_empty(const keel__sendq *q);
/* Every pending send goes to someone gone(who) says is gone: such sends
 * may never complete, and nobody waits for them. */
bool keel__sendq_only_to(const keel__sendq *q, bool (*gone)(int who));

typedef struct keel__recvq {
  struct keel__rreq *head, *tail;
} keel__recvq;

/* Start receiving the n-byte message m matched by MPI_Improbe. */
int keel__recvq_post(keel__recvq *q, MPI_Message *m, int n);
/* The oldest message once it has fully arrived (the caller frees it, *n
 * gets its size), else NULL: messages are handled in the order they came. */
char *keel__recvq_pop(keel__recvq *q, int *n);
bool keel__recvq_empty(const keel__recvq *q); /* nothing arriving */

/* ---- ranks.c: the communicators that reach the master's workers ---- */
/* The ranks of the job (keelrun/mpirun), or none yet when world has
 * size 1: then keel__ranks_grow() spawns them. */
int keel__ranks_start(MPI_Comm world);
void keel__ranks_free(void);
/* The communicator reaching global rank, and its rank in it. */
MPI_Comm keel__rank_comm(int rank, int *crank);
keel__recvq *keel__rank_recvq(int rank);
int keel__ranks_groups(void);
/* Group g's communicator; its ranks 1..n are global ranks base.. */
MPI_Comm keel__ranks_group(int g, int *base, int *n);

#endif
