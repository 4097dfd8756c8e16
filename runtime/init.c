/* init.c: keel_init() and keel_finalize(): which role this process takes.
 *  - KEEL_ROLE=task in the environment: a task process (task/);
 *  - MPI rank 0 of the job (or the parent of spawned workers): the master;
 *    keel_init() starts the manager thread (master/) and returns;
 *  - any other rank, or a spawned one: a nanny (worker/); keel_init()
 *    never returns.
 * It is the one file above every role. */
#include "keel_int.h"
#include "master/master.h"
#include "proto/channel.h"
#include "proto/comm.h"
#include "sys/sys.h"
#include "task/task.h"
#include "worker/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The master's state of this file. */
static struct {
  bool mpi_ours;  /* keel initialised MPI */
  bool finalized;
  MPI_Comm comm;  /* the master and its workers (a dup of the world) */
} init = {.comm = MPI_COMM_NULL};

static int save_argv(int argc, char **argv)
{
  char **v = calloc((size_t)argc + 2, sizeof *v);
  if (!v)
    return KEEL_ENOMEM;
  for (int i = 0; i < argc; i++)
    v[i] = argv[i];
  if (argc == 0)
    v[0] = "keel-task";
  keel__self.argv = v;
  return KEEL_OK;
}

static void at_exit_finalize(void)
{
  if (keel__self.role == KEEL__ROLE_MASTER && !init.finalized)
    keel_finalize();
}

/* The job's ranks: rank 0 goes on as the master, the others serve. */
static int take_world_role(void)
{
  int rank, size, node_workers;
  if (keel__comm_check(MPI_Comm_dup(MPI_COMM_WORLD, &init.comm),
                       "MPI_Comm_dup (MPI_COMM_WORLD)"))
    return KEEL_EMPI;
  MPI_Comm_set_errhandler(init.comm, MPI_ERRORS_RETURN);
  if (keel__comm_check(MPI_Comm_rank(init.comm, &rank), "MPI_Comm_rank") ||
      keel__comm_check(MPI_Comm_size(init.comm, &size), "MPI_Comm_size"))
    return KEEL_EMPI;
  int index;
  if (keel__comm_node_index(init.comm, rank, &index, &node_workers))
    return KEEL_EMPI;
  if (rank != 0)
    keel__nanny_main(init.comm, rank, index, node_workers);
  keel__self.role = KEEL__ROLE_MASTER;
  keel__self.rank = 0;
  keel__log_init(); /* the master names a bad KEEL_LOG */
  if (size > 1) /* else it binds as it spawns its workers */
    keel__bind_master(node_workers);
  return KEEL_OK;
}

int keel_init(int *argc, char ***argv)
{
  if (keel__self.role != KEEL__ROLE_NONE)
    return KEEL_ESTATE;
  gethostname(keel__self.host, sizeof keel__self.host - 1);
  const char *role = getenv(KEEL__ENV_ROLE);
  if (save_argv(argc && argv && *argv ? *argc : 0,
                argc && argv && *argv ? *argv : NULL))
    return KEEL_ENOMEM;
  if (role && *role && strcmp(role, "task")) {
    keel__log("KEEL_ROLE=%s: only keel sets it, to task; ignoring it", role);
    unsetenv(KEEL__ENV_ROLE); /* before MPI starts: spawned ranks say nothing */
    role = NULL;
  }
  if (role && !strcmp(role, "task")) {
    keel__self.role = KEEL__ROLE_TASK;
    keel__log_init();
    keel__taskproc_main();
  }
  int rc = keel__comm_init(argc, argv, &init.mpi_ours);
  if (rc)
    return rc;
  MPI_Comm parent;
  if (keel__comm_check(MPI_Comm_get_parent(&parent), "MPI_Comm_get_parent"))
    return KEEL_EMPI;
  if (parent != MPI_COMM_NULL)
    keel__nanny_spawned(parent);
  int world;
  if (keel__comm_check(MPI_Comm_size(MPI_COMM_WORLD, &world),
                       "MPI_Comm_size") ||
      (rc = keel__launch_check_after(world)))
    return rc ? rc : KEEL_EMPI;
  if ((rc = take_world_role()) || (rc = keel__manager_start(init.comm)))
    return rc;
  keel__drain_install();
  atexit(at_exit_finalize);
  keel__log_at(KEEL__LOG_INFO, "master up: %d world rank(s)%s", world,
               world == 1 ? ", workers spawned as executors ask" : "");
  return KEEL_OK;
}

int keel_finalize(void)
{
  if (keel__self.role != KEEL__ROLE_MASTER || init.finalized)
    return KEEL_ESTATE;
  if (keel__callback_here()) /* finalize waits for the callbacks */
    return KEEL_EDEADLK;
  init.finalized = true;
  bool whole = keel__manager_stop(); /* every callback has run */
  keel__callback_stop();
  MPI_Comm_free(&init.comm);
  /* With a rank of the job gone, Open MPI 4.1's MPI_Finalize can wait
   * forever in its PMIx fence for that rank (seen under load, plain MPI
   * too); the nannies were told the same in STOP.  Nothing is lost:
   * every rank still alive has said BYE. */
  if (init.mpi_ours && whole)
    MPI_Finalize();
  return KEEL_OK;
}
