/* init_errors: keel_init()'s documented failures, each in a process of its
 * own (keel_init and MPI_Init run once per process), started alone:
 *   - KEEL_EMPI: the program initialised MPI itself with
 *     MPI_THREAD_SINGLE, below the MPI_THREAD_SERIALIZED the manager thread
 *     needs, and keel logs why;
 *   - KEEL_ESYS: no file descriptor left for the manager's eventfd
 *     (RLIMIT_NOFILE at what is open), so the manager thread cannot start;
 *   - KEEL_ESTATE: keel_finalize() before keel_init(). */
#include "../testutil.h"

#include <keel.h>
#include <mpi.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Run fn in a child; its exit status. */
static int in_child(int (*fn)(void))
{
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0)
    _exit(fn());
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Exit codes: 0 as expected, 1 + what came instead otherwise. */
static int thread_single(void)
{
  int argc = 0, provided;
  char **argv = NULL;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided) !=
      MPI_SUCCESS)
    return 90;
  if (provided >= MPI_THREAD_SERIALIZED)
    return 91; /* this MPI gives more than asked: nothing to test */
  int rc = keel_init(&argc, &argv);
  fprintf(stderr, "init_errors: thread level %d: keel_init gave %s\n",
          provided, keel_err_name(rc));
  MPI_Finalize();
  return rc == KEEL_EMPI ? 0 : 1;
}

static int no_fd_left(void)
{
  int argc = 0, provided;
  char **argv = NULL;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) !=
      MPI_SUCCESS)
    return 90;
  /* every descriptor from here on fails: the lowest free one is the limit */
  int fd = dup(0);
  if (fd < 0)
    return 92;
  close(fd);
  struct rlimit r = {(rlim_t)fd, (rlim_t)fd};
  if (setrlimit(RLIMIT_NOFILE, &r))
    return 93;
  int rc = keel_init(&argc, &argv);
  fprintf(stderr, "init_errors: no descriptor left: keel_init gave %s\n",
          keel_err_name(rc));
  _exit(rc == KEEL_ESYS ? 0 : 1); /* MPI cannot finish without fds */
}

static int finalize_first(void)
{
  return keel_finalize() == KEEL_ESTATE ? 0 : 1;
}

static void test_thread_level_too_low(void)
{
  WATCHDOG(60);
  int st = in_child(thread_single);
  if (st == 91) {
    printf("\n  this MPI gives MPI_THREAD_SERIALIZED when asked for SINGLE\n");
    return;
  }
  CU_ASSERT_EQUAL(st, 0);
}

static void test_no_descriptor_for_the_manager(void)
{
  WATCHDOG(60);
  CU_ASSERT_EQUAL(in_child(no_fd_left), 0);
}

static void test_finalize_before_init(void)
{
  WATCHDOG(10);
  CU_ASSERT_EQUAL(in_child(finalize_first), 0);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_thread_level_too_low),
      TU_TEST(test_no_descriptor_for_the_manager),
      TU_TEST(test_finalize_before_init)};
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  return tu_run("init_errors", tests, sizeof tests / sizeof *tests);
}
