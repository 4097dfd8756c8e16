/* launch.c: was this program started by a launcher that its MPI library
 * can talk to?  When it was not, MPI either aborts in MPI_Init with pages
 * about PMI, or, worse, starts each of the N processes as a job of its
 * own: N masters, each running the whole program on its own workers,
 * with no word of warning.  Both are told here in one line, which names
 * the way out.  The launcher's own variables say what it meant:
 *   Open MPI's mpirun     OMPI_COMM_WORLD_SIZE, _RANK
 *   PMIx (srun --mpi=pmix, prterun)  PMIX_RANK
 *   MPICH's Hydra, PMI-1/2 (srun --mpi=pmi2)  PMI_SIZE, PMI_RANK
 *   srun                  SLURM_STEP_ID, SLURM_STEP_NUM_TASKS, SLURM_PROCID
 * Only the launcher's rank 0 speaks, so that a job says it once. */
#include "proto/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool set(const char *name)
{
  const char *v = getenv(name);
  return v && *v;
}

static long value(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : -1;
}

/* The launcher's rank of this process, -1 when none says. */
static long launcher_rank(void)
{
  static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                                     "PMI_RANK", "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
    if (set(vars[i]))
      return value(vars[i]);
  return -1;
}

static bool under_srun(void)
{
  return set("SLURM_STEP_ID") && set("SLURM_PROCID") &&
         !set("OMPI_COMM_WORLD_RANK"); /* not mpirun inside a step */
}

static int refuse(const char *why)
{
  if (launcher_rank() <= 0)
    keel__log("%s", why);
  return KEEL_EMPI;
}

#if defined(MPICH_VERSION)
/* srun without the PMI this MPI speaks: each rank would start alone. */
static int refuse_srun(void)
{
  return refuse("started by srun without a PMI this MPI speaks: run "
                "srun --mpi=pmi2 (MPICH), or keelrun inside the allocation "
                "(a lost rank then does not cancel the step)");
}
#else
static int refuse_srun(void)
{
  return refuse("started by srun without a PMI this MPI speaks: run "
                "srun --mpi=pmix, or keelrun inside the allocation (a lost "
                "rank then does not cancel the step)");
}
#endif

/* The MPI library this process runs with is the one libkeel was built
 * for?  (A program built with the other MPI's mpicc links both; it would
 * crash in the first call that passes a handle.) */
static int check_library(void)
{
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (MPI_Get_library_version(v, &len) != MPI_SUCCESS)
    return KEEL_OK;
  v[len < (int)sizeof v ? len : (int)sizeof v - 1] = '\0';
#if defined(OPEN_MPI)
  bool ours = strstr(v, "Open MPI") != NULL;
  const char *built = "Open MPI";
#elif defined(MPICH_VERSION)
  bool ours = strstr(v, "MPICH") != NULL;
  const char *built = "MPICH";
#else
  bool ours = true;
  const char *built = "?";
#endif
  if (ours)
    return KEEL_OK;
  char *nl = strchr(v, '\n');
  if (nl)
    *nl = '\0';
  char why[400];
  snprintf(why, sizeof why, "libkeel is built with %s, but this program runs "
           "with another MPI library (%.80s): build it with the mpicc of "
           "keel's MPI", built, v);
  return refuse(why);
}

int keel__launch_check_before(void)
{
  if (check_library())
    return KEEL_EMPI;
#if defined(OPEN_MPI)
  if (under_srun() && !set("PMIX_RANK"))
    return refuse("started by srun without PMIx, which Open MPI needs: "
                  "run srun --mpi=pmix, or keelrun inside the allocation "
                  "(a lost rank then does not cancel the step)");
  if (set("PMI_RANK") && !set("OMPI_COMM_WORLD_RANK") && !set("PMIX_RANK"))
    return refuse("this program is built with Open MPI but was started by "
                  "another MPI's launcher (PMI_RANK is set: MPICH's "
                  "mpiexec?): start it with Open MPI's mpirun, or keelrun");
#elif defined(MPICH_VERSION)
  /* MPICH's PMI client needs PMI_FD or PMI_PORT (srun --mpi=pmi2 sets
   * them): without, each rank would start alone.  Said before MPI_Init,
   * which takes long enough for srun to end the step over the other
   * ranks' failures before rank 0 could speak. */
  if (under_srun() && !set("PMI_FD") && !set("PMI_PORT"))
    return refuse_srun();
  if (set("OMPI_COMM_WORLD_SIZE") && value("OMPI_COMM_WORLD_SIZE") > 1)
    return refuse("this program is built with MPICH but was started by Open "
                  "MPI's mpirun (OMPI_COMM_WORLD_SIZE is set): each rank "
                  "would run alone; start it with MPICH's mpiexec, or "
                  "keelrun --mpirun mpiexec.mpich");
#endif
  return KEEL_OK;
}

int keel__launch_check_after(int world_size)
{
  static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
  if (world_size != 1)
    return KEEL_OK;
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    long n = value(sizes[i]);
    if (n > 1) {
      char why[400];
      snprintf(why, sizeof why, "MPI sees this process alone, but its "
               "launcher started %ld (%s=%ld): the launcher and the MPI "
               "library this program is built with do not match, or the "
               "launcher offers no PMI this MPI speaks; start it with "
               "keelrun, or this MPI's own mpirun/mpiexec",
               n, sizes[i], n);
      return refuse(why);
    }
  }
  if (under_srun() && value("SLURM_STEP_NUM_TASKS") > 1)
    return refuse_srun();
  return KEEL_OK;
}
