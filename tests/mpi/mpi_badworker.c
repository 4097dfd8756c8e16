/* mpi_badworker: rank 1 is not a keel nanny but an impostor that sends the
 * master a malformed message.  The master must treat that as rank 1's
 * failure (stop using it, with a clear log line) and go on with rank 2;
 * it must neither crash nor hang.  Run under mpirun -n 3. */
#include "../testutil.h"
#include "tasks.h"

#include <mpi.h>

#define KEEL_TAG 0x4b1 /* keel's MPI tag (runtime/keel_int.h) */

/* Follow keel_init()'s collective steps on rank 1, then misbehave. */
static void impostor(void)
{
  int local;
  MPI_Comm comm, node;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 1, MPI_INFO_NULL, &node);
  int here = 0, any = 0;
  MPI_Allreduce(&here, &any, 1, MPI_INT, MPI_LOR, node);
  MPI_Comm_rank(node, &local);
  MPI_Comm_free(&node);
  char junk[40] = "KEEL but not really a keel message";
  MPI_Send(junk, sizeof junk, MPI_BYTE, 0, KEEL_TAG, comm);
  char stop[64];
  MPI_Recv(stop, sizeof stop, MPI_BYTE, 0, KEEL_TAG, comm, MPI_STATUS_IGNORE);
  MPI_Comm_free(&comm);
  MPI_Finalize();
  exit(0);
}

static void test_master_survives_a_malformed_worker(void)
{
  WATCHDOG(60);
  keel_executor *ex;
  keel_future *fs[20];
  sleep_s(0.5); /* let the impostor's message arrive */
  CU_ASSERT_EQUAL_FATAL(keel_executor_create(NULL, &ex), KEEL_OK);
  CU_ASSERT_EQUAL(keel_executor_workers(ex), 1); /* rank 2 only */
  for (int i = 0; i < 20; i++)
    CU_ASSERT_EQUAL_FATAL(keel_submit(ex, t_square, &i, sizeof i, &fs[i]),
                          KEEL_OK);
  CU_ASSERT_EQUAL(keel_wait(fs, 20, KEEL_ALL_COMPLETED, 20, NULL), KEEL_OK);
  for (int i = 0; i < 20; i++) {
    CU_ASSERT_EQUAL(keel_future_result(fs[i], 0, NULL, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(keel_future_error(fs[i]), NULL);
    keel_future_release(fs[i]);
  }
  CU_ASSERT_EQUAL(keel_executor_shutdown(ex, KEEL_SHUTDOWN_WAIT), KEEL_OK);
}

int main(int argc, char **argv)
{
  static const tu_test tests[] = {
      TU_TEST(test_master_survives_a_malformed_worker),
  };
  if (getenv("KEEL_ROLE")) /* a task process: keel_init never returns */
    return tu_keel_main(&argc, &argv, "malformed worker", tests, 1);
  /* MPI first, to pick the impostor by its rank whatever the launcher;
   * keel_init then finds MPI initialised and leaves finalising to us. */
  int provided, rank;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 1)
    impostor();
  int rc = tu_keel_main(&argc, &argv, "malformed worker", tests,
                        sizeof tests / sizeof *tests);
  MPI_Finalize();
  return rc;
}
