/* threads.c: how many threads a task's own libraries may start.  A task
 * that calls OpenMP code or a threaded BLAS would otherwise start one
 * thread per core of the node in every worker at once, N workers times
 * oversubscribing the node; or, bound to one core, run its threads on
 * that one core.  So each worker gives its task processes the usual
 * variables set to the cores it has (joblib's guard against
 * oversubscription), in the environment they start with: task processes
 * are new programs, and these libraries read the variables as they load.
 * They go in the child's environment (worker/spawn.c), not the nanny's:
 * setenv in a process whose MPI threads may read the environment is a
 * race.  A variable the user set is left as it is. */
#include "sys/sys.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const vars[KEEL__THREAD_VARS] = {
    "OMP_NUM_THREADS",      /* OpenMP (libgomp, libomp) */
    "OPENBLAS_NUM_THREADS", /* OpenBLAS */
    "MKL_NUM_THREADS",      /* Intel MKL */
    "BLIS_NUM_THREADS",     /* BLIS */
    "VECLIB_MAXIMUM_THREADS", /* Apple Accelerate, for completeness */
};

static int limit; /* 0 until the nanny binds */

void keel__threads_limit(int n)
{
  limit = n > 0 ? n : 1;
}

size_t keel__threads_env(char **env, size_t k)
{
  if (!limit)
    return k;
  for (size_t i = 0; i < KEEL__THREAD_VARS; i++)
    if (!getenv(vars[i])) { /* the user's own value stays */
      char *kv = keel__error_printf("%s=%d", vars[i], limit);
      if (kv)
        env[k++] = kv;
    }
  return k;
}
