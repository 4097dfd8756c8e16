/* init.c: keel_init() and keel_finalize(): who this process is.
 *  - KEEL_ROLE=task in the environment: a task process (taskproc.c).
 *  - MPI rank 0 of the job (or the parent of spawned workers): the master;
 *    keel_init() starts the manager thread and returns.
 *  - Any other rank: a nanny (nanny.c); keel_init() never returns. */
#include "keel_int.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int keel__role = KEEL__ROLE_NONE;
char **keel__argv;
int keel__argc;
char keel__host[256] = "?";
int keel__core = -1;

static bool we_initialised_mpi;
static bool finalized;
static MPI_Comm comm = MPI_COMM_NULL;

static int save_argv(int argc, char **argv)
{
  keel__argv = calloc((size_t)argc + 2, sizeof *keel__argv);
  if (!keel__argv)
    return KEEL_ENOMEM;
  for (int i = 0; i < argc; i++)
    keel__argv[i] = argv[i];
  if (argc == 0)
    keel__argv[0] = "keel-task";
  keel__argc = argc;
  return KEEL_OK;
}

static int init_mpi(int *argc, char ***argv)
{
  int inited = 0, provided = MPI_THREAD_SINGLE;
  MPI_Initialized(&inited);
  if (!inited) {
    /* A program started alone spawns its workers (ranks.c); without this
     * its singleton runtime would abort the job when one of them dies. */
    setenv("OMPI_MCA_orte_enable_recovery", "1", 0);
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) !=
        MPI_SUCCESS)
      return KEEL_EMPI;
    we_initialised_mpi = true;
  } else {
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    keel__log("the MPI library gives thread level %d; keel's manager thread "
              "needs MPI_THREAD_SERIALIZED or better", provided);
    return KEEL_EMPI;
  }
  return KEEL_OK;
}

/* The workers' index on this node: their node-local rank, less one on the
 * master's node where the master comes first. */
int keel__node_index(void *commp, int rank, int *local_size)
{
  MPI_Comm node, c = *(MPI_Comm *)commp;
  int local, master_here = rank == 0, any = 0;
  MPI_Comm_split_type(c, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local);
  MPI_Comm_size(node, local_size);
  MPI_Allreduce(&master_here, &any, 1, MPI_INT, MPI_LOR, node);
  MPI_Comm_free(&node);
  return any ? local - 1 : local;
}

static void become_nanny(MPI_Comm *c, int rank, int index, int local_size)
{
  char desc[160];
  keel__role = KEEL__ROLE_NANNY;
  keel__core = keel__bind_self(index, local_size, desc, sizeof desc);
  keel__report_binding(rank, desc);
  keel__nanny_main(c);
}

/* A worker spawned by a master started alone (ranks.c): merge with it so
 * that it is rank 0, as under keelrun, and learn its plan: the group's
 * first global rank, then each new worker's index (so core) on the node. */
static void spawned_nanny(MPI_Comm parent)
{
  int rank, size, local_size;
  MPI_Intercomm_merge(parent, 1, &comm);
  MPI_Comm_free(&parent);
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int index = keel__node_index(&comm, rank, &local_size);
  int *plan = calloc((size_t)size, sizeof *plan);
  if (!plan) /* the master's Bcast cannot be met: give up this rank */
    _exit(1);
  MPI_Bcast(plan, size, MPI_INT, 0, comm);
  int global = plan[0] + rank - 1, core_index = plan[index + 1];
  free(plan);
  become_nanny(&comm, global, core_index, local_size);
}

/* Under keelrun: say how the master ends.  mpirun started with recovery
 * exits 0 whatever its ranks return, so keelrun picks this line out of the
 * job's stderr to exit with the program's status (launcher/relay.c). */
static void report_exit_status(int status, void *unused)
{
  (void)unused;
  const char *token = getenv("KEEL_STATUS_TOKEN");
  char line[160];
  int n = snprintf(line, sizeof line, "%s %d\n", token ? token : "",
                   status);
  if (token && n > 0 && n < (int)sizeof line && write(2, line, (size_t)n))
    return;
}

static void at_exit_finalize(void)
{
  if (keel__role == KEEL__ROLE_MASTER && !finalized)
    keel_finalize();
}

int keel_init(int *argc, char ***argv)
{
  if (keel__role != KEEL__ROLE_NONE)
    return KEEL_ESTATE;
  gethostname(keel__host, sizeof keel__host - 1);
  const char *role = getenv(KEEL__ENV_ROLE);
  if (save_argv(argc && argv && *argv ? *argc : 0,
                argc && argv && *argv ? *argv : NULL))
    return KEEL_ENOMEM;
  if (role && !strcmp(role, "task")) {
    keel__role = KEEL__ROLE_TASK;
    keel__taskproc_main();
  }
  int rc = init_mpi(argc, argv), rank, size, local_size;
  if (rc)
    return rc;
  MPI_Comm parent;
  MPI_Comm_get_parent(&parent);
  if (parent != MPI_COMM_NULL)
    spawned_nanny(parent);
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int index = keel__node_index(&comm, rank, &local_size);
  if (rank != 0)
    become_nanny(&comm, rank, index, local_size);
  keel__role = KEEL__ROLE_MASTER;
  if (size > 1) /* else it binds as it spawns its workers */
    keel__bind_master(local_size - 1);
  if ((rc = keel__master_start(&comm)))
    return rc;
  on_exit(report_exit_status, NULL); /* runs after at_exit_finalize */
  atexit(at_exit_finalize);
  return KEEL_OK;
}

int keel_finalize(void)
{
  if (keel__role != KEEL__ROLE_MASTER || finalized)
    return KEEL_ESTATE;
  finalized = true;
  keel__master_stop();
  MPI_Comm_free(&comm);
  /* With a rank of the job gone, Open MPI 4.1's MPI_Finalize can wait
   * forever in its PMIx fence for that rank (seen under load, plain MPI
   * too); the nannies were told the same in STOP.  Nothing is lost:
   * every rank still alive has said BYE. */
  if (we_initialised_mpi && !keel__rt.world_broken)
    MPI_Finalize();
  return KEEL_OK;
}
