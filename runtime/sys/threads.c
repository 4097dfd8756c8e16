/* threads.c: how many threads a task's own libraries may start.  A task
 * that calls OpenMP code or a threaded BLAS would otherwise start one
 * thread per core of the node in every worker at once, N workers times
 * oversubscribing the node; or, bound to one core, run its threads on
 * that one core.  So each worker sets the usual variables to the cores
 * it has (joblib's guard against oversubscription), before any task
 * process starts: task processes are new programs, and these libraries
 * read the variables as they load.  A variable the user set is left as
 * it is. */
#include "sys/sys.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const vars[] = {
    "OMP_NUM_THREADS",      /* OpenMP (libgomp, libomp) */
    "OPENBLAS_NUM_THREADS", /* OpenBLAS */
    "MKL_NUM_THREADS",      /* Intel MKL */
    "BLIS_NUM_THREADS",     /* BLIS */
    "VECLIB_MAXIMUM_THREADS", /* Apple Accelerate, for completeness */
};

void keel__threads_limit(int n)
{
  char v[16];
  snprintf(v, sizeof v, "%d", n > 0 ? n : 1);
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
    setenv(vars[i], v, 0); /* 0: the user's own value stays */
}
