/*
 * proto/comm.h: MPI at start-up, for the master and the nannies alike:
 * initialising MPI at the thread level the manager thread needs, the
 * communicators every rank takes part in, and the node-local index that
 * places a worker on a core.  Every MPI call here is checked: a failure is
 * one log line naming the call and MPI's own error string.
 */
#ifndef KEEL_PROTO_COMM_H
#define KEEL_PROTO_COMM_H

#include "keel_int.h"

#include <mpi.h>
#include <stdbool.h>

/* KEEL_OK, or KEEL_EMPI after a log line "MPI <what> failed: <why>". */
int keel__comm_check(int rc, const char *what);
/* MPI_Init_thread (MPI_THREAD_SERIALIZED) unless MPI is initialised
 * already; *ours says whether keel did it. */
int keel__comm_init(int *argc, char ***argv, bool *ours);
/* *index: a worker's index on its node, its node-local rank less one on
 * the master's node where the master comes first (-1 for the master);
 * *workers: the node's worker count (its ranks, the master not counted).
 * Collective over c, master included.  KEEL_OK or KEEL_EMPI. */
int keel__comm_node_index(MPI_Comm c, int rank, int *index, int *workers);

/* ---- launch.c ---- */
/* Before MPI_Init: was this program started by a launcher its MPI can
 * talk to (srun without PMIx under Open MPI, the other MPI's launcher)?
 * KEEL_OK, or KEEL_EMPI after one line naming the way out. */
int keel__launch_check_before(void);
/* After: a world of one where the launcher started several means each
 * process runs alone.  KEEL_OK or KEEL_EMPI, as above. */
int keel__launch_check_after(int world_size);

#endif /* KEEL_PROTO_COMM_H */
