/* comm.c: MPI at start-up.  A failure here used to surface later as a
 * hang or a crash inside MPI; now it is one line naming the call. */
#include "proto/comm.h"

#include <stdio.h>
#include <stdlib.h>

int keel__comm_check(int rc, const char *what)
{
  char why[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (rc == MPI_SUCCESS)
    return KEEL_OK;
  if (MPI_Error_string(rc, why, &len) != MPI_SUCCESS)
    len = snprintf(why, sizeof why, "error code %d", rc);
  keel__log("MPI %s failed: %.*s", what, len, why);
  return KEEL_EMPI;
}

int keel__comm_init(int *argc, char ***argv, bool *ours)
{
  int inited = 0, provided = MPI_THREAD_SINGLE;
  *ours = false;
  if (keel__comm_check(MPI_Initialized(&inited), "MPI_Initialized"))
    return KEEL_EMPI;
  if (!inited) {
    int rc = keel__launch_check_before();
    if (rc)
      return rc;
    /* A program started alone spawns its workers (master/ranks.c);
     * without this its singleton runtime would abort the job when one of
     * them dies. */
    setenv("OMPI_MCA_orte_enable_recovery", "1", 0);
    if (keel__comm_check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED,
                                         &provided), "MPI_Init_thread"))
      return KEEL_EMPI;
    *ours = true;
  } else if (keel__comm_check(MPI_Query_thread(&provided),
                              "MPI_Query_thread")) {
    return KEEL_EMPI;
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    keel__log("the MPI library gives thread level %d; keel's manager thread "
              "needs MPI_THREAD_SERIALIZED or better", provided);
    return KEEL_EMPI;
  }
  return KEEL_OK;
}

int keel__comm_node_index(MPI_Comm c, int rank, int *index, int *workers)
{
  MPI_Comm node;
  int local, master_here = rank == 0, any = 0;
  if (keel__comm_check(MPI_Comm_split_type(c, MPI_COMM_TYPE_SHARED, rank,
                                           MPI_INFO_NULL, &node),
                       "MPI_Comm_split_type (ranks of this node)"))
    return KEEL_EMPI;
  int rc = keel__comm_check(MPI_Comm_rank(node, &local), "MPI_Comm_rank");
  rc = rc ? rc : keel__comm_check(MPI_Comm_size(node, workers),
                                  "MPI_Comm_size");
  rc = rc ? rc : keel__comm_check(MPI_Allreduce(&master_here, &any, 1,
                                                MPI_INT, MPI_LOR, node),
                                  "MPI_Allreduce (is the master here)");
  MPI_Comm_free(&node);
  if (rc)
    return rc;
  *index = any ? local - 1 : local;
  *workers -= any;
  return KEEL_OK;
}
