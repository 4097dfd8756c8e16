/* pingpong: the floor under keel's round trip.  Two ranks bounce an 8-byte
 * message with blocking MPI_Send/MPI_Recv (which spin: the fastest MPI
 * offers); one round trip is a send and a receive each way.  The median of
 * RUNS batches of 10,000 round trips, after 1,000 to warm up. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define RUNS 9
#define BATCH 10000

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* n round trips between ranks 0 and 1: seconds per round trip. */
static double bounce(int rank, int n)
{
  double msg = 0, t0 = MPI_Wtime();
  for (int i = 0; i < n; i++) {
    if (rank == 0) {
      MPI_Send(&msg, 1, MPI_DOUBLE, 1, 0, MPI_COMM_WORLD);
      MPI_Recv(&msg, 1, MPI_DOUBLE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(&msg, 1, MPI_DOUBLE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(&msg, 1, MPI_DOUBLE, 0, 0, MPI_COMM_WORLD);
    }
  }
  return (MPI_Wtime() - t0) / n;
}

int main(int argc, char **argv)
{
  int rank, size;
  double v[RUNS];
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 2) {
    if (rank == 0)
      fprintf(stderr, "pingpong: needs exactly 2 ranks, got %d\n", size);
    MPI_Finalize();
    return 2;
  }
  bounce(rank, 1000);
  for (int r = 0; r < RUNS; r++)
    v[r] = bounce(rank, BATCH);
  if (rank == 0) {
    qsort(v, RUNS, sizeof *v, cmp);
    printf("pingpong: %.2f us (MPI ping-pong of 8 bytes between two ranks, "
           "one round trip; median of %d batches of %d)\n", v[RUNS / 2] * 1e6,
           RUNS, BATCH);
  }
  MPI_Finalize();
  return 0;
}
