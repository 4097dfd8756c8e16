/* handmw: the master-worker C users write by hand, for the cost of keel's
 * robustness: rank 0 MPI_Sends one task to each worker, then
 * MPI_Recv(MPI_ANY_SOURCE)s a result and sends that worker the next task;
 * no fault handling.  The same tasks as keel's grain benchmark (spin.h).
 * Run under mpirun -n 3 (2 workers).  Prints, medians of RUNS:
 *   handmw-empty  tasks/s
 *   handmw-10us, handmw-100us, handmw-1ms  efficiency, % (as grain.c). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spin.h"

#define RUNS 5
#define TAG_TASK 1
#define TAG_STOP 2

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The master: n tasks of us microseconds over workers 1..size-1; seconds. */
static double master(int size, unsigned us, unsigned n)
{
  unsigned sent = 0, done = 0, result;
  double t0 = MPI_Wtime();
  for (int w = 1; w < size && sent < n; w++, sent++)
    MPI_Send(&us, 1, MPI_UNSIGNED, w, TAG_TASK, MPI_COMM_WORLD);
  while (done < n) {
    MPI_Status st;
    MPI_Recv(&result, 1, MPI_UNSIGNED, MPI_ANY_SOURCE, TAG_TASK,
             MPI_COMM_WORLD, &st);
    done++;
    if (sent < n) {
      MPI_Send(&us, 1, MPI_UNSIGNED, st.MPI_SOURCE, TAG_TASK, MPI_COMM_WORLD);
      sent++;
    }
  }
  return MPI_Wtime() - t0;
}

/* A worker: run tasks until told to stop. */
static void worker(void)
{
  for (;;) {
    unsigned us;
    MPI_Status st;
    MPI_Recv(&us, 1, MPI_UNSIGNED, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    if (st.MPI_TAG == TAG_STOP)
      return;
    spin_us(us);
    MPI_Send(&us, 1, MPI_UNSIGNED, 0, TAG_TASK, MPI_COMM_WORLD);
  }
}

int main(int argc, char **argv)
{
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    fprintf(stderr, "handmw: needs at least 2 ranks (mpirun -n 3)\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  if (rank != 0) {
    worker();
    MPI_Finalize();
    return 0;
  }
  int workers = size - 1;
  const char *smoke = getenv("KEEL_BENCH_SMOKE"); /* as bench.h's runs_of() */
  int nr = smoke && *smoke && strcmp(smoke, "0") ? 1 : RUNS;
  for (int g = 0; g < NGRAINS; g++) {
    double t[RUNS];
    master(size, grain_us[g], grain_tasks[g] / 10); /* warm */
    for (int r = 0; r < nr; r++)
      t[r] = master(size, grain_us[g], grain_tasks[g]);
    qsort(t, (size_t)nr, sizeof *t, cmp);
    double m = t[nr / 2];
    char what[160];
    snprintf(what, sizeof what, "hand-written MPI master-worker, %u tasks "
             "of %u us CPU on %d workers, one in flight each; median of %d",
             grain_tasks[g], grain_us[g], workers, nr);
    if (grain_us[g] == 0)
      printf("handmw-%s: %.0f tasks/s (%s)\n", grain_key[g],
             grain_tasks[g] / m, what);
    else
      printf("handmw-%s: %.2f %% (%s)\n", grain_key[g],
             100.0 * grain_tasks[g] * grain_us[g] * 1e-6 / (workers * m),
             what);
    fflush(stdout);
  }
  for (int w = 1; w < size; w++)
    MPI_Send(NULL, 0, MPI_UNSIGNED, w, TAG_STOP, MPI_COMM_WORLD);
  MPI_Finalize();
  return 0;
}
