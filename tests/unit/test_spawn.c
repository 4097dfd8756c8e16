/* test_spawn: how a task process starts (worker/spawn.c), without MPI:
 * this test binary spawns itself in the task role and the child reports
 * what it got.  It must have the channel, crash pipe and shared page on
 * fds 3, 4 and 5, stdout and stderr on the given pipes and no other
 * descriptor of the parent's; the task role and its nanny's pid in the
 * environment, stale values of those replaced, the user's variables and
 * thread counts kept, the others set to the worker's cores; a process
 * group of its own; no blocked signal; SIGUSR1 ignored as by the nanny. */
#include "../testutil.h"
#include "keel_int.h"
#include "sys/sys.h"
#include "worker/worker.h"
#include "proto/channel.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* The child: one line on fd 3 saying what it has. */
static int child(void)
{
  char line[1024];
  int open_fds = 0, stray = 0;
  for (int fd = 3; fd <= 5; fd++)
    open_fds += fcntl(fd, F_GETFD) >= 0;
  for (int fd = 6; fd < 64; fd++)
    stray += fcntl(fd, F_GETFD) >= 0;
  sigset_t mask;
  sigprocmask(SIG_BLOCK, NULL, &mask);
  struct sigaction usr1;
  sigaction(SIGUSR1, NULL, &usr1);
  const char *nanny = getenv(KEEL__ENV_NANNY), *omp = getenv("OMP_NUM_THREADS"),
             *blas = getenv("OPENBLAS_NUM_THREADS"), *mine = getenv("MINE");
  int n = snprintf(line, sizeof line,
                   "fds %d stray %d nanny %d pgrp %d blocked %d usr1 %s "
                   "omp %s blas %s mine %s\n",
                   open_fds, stray, nanny && atoi(nanny) == (int)getppid(),
                   getpgrp() == getpid(), sigismember(&mask, SIGTERM),
                   usr1.sa_handler == SIG_IGN ? "ignored" : "default",
                   omp ? omp : "-", blas ? blas : "-", mine ? mine : "-");
  int ok = write(3, line, (size_t)n) == n;
  ok &= write(1, "out\n", 4) == 4 && write(2, "err\n", 4) == 4;
  return ok ? 0 : 1;
}

static void read_all(int fd, char *buf, size_t n)
{
  size_t k = 0;
  ssize_t r;
  while (k + 1 < n && (r = read(fd, buf + k, n - 1 - k)) > 0)
    k += (size_t)r;
  buf[k] = '\0';
}

static void test_task_process_gets_what_it_needs(void)
{
  WATCHDOG(20);
  int sv[2], crash[2], out[2], err[2];
  CU_ASSERT_TRUE_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                                  sv) == 0);
  CU_ASSERT_TRUE_FATAL(pipe2(crash, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
                       pipe2(err, O_CLOEXEC) == 0);
  int shm = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int leak = open("/dev/null", O_RDONLY); /* not close-on-exec: must not pass */
  CU_ASSERT_TRUE_FATAL(shm >= 0 && leak >= 0);
  setenv(KEEL__ENV_NANNY, "1", 1); /* stale: replaced by ours */
  setenv("OMP_NUM_THREADS", "7", 1); /* the user's: kept */
  setenv("MINE", "kept", 1);
  unsetenv("OPENBLAS_NUM_THREADS");
  keel__threads_limit(3);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, NULL); /* the child must not inherit it */
  signal(SIGUSR1, SIG_IGN);
  pid_t pid = keel__spawn_task(sv[1], crash[1], shm, out[1], err[1]);
  sigprocmask(SIG_UNBLOCK, &block, NULL);
  CU_ASSERT_TRUE_FATAL(pid > 0);
  close(sv[1]);
  close(crash[1]);
  close(out[1]);
  close(err[1]);
  char said[1024], o[64], e[64];
  read_all(sv[0], said, sizeof said);
  read_all(out[0], o, sizeof o);
  read_all(err[0], e, sizeof e);
  int status;
  CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
  CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CU_ASSERT_STRING_EQUAL(said, "fds 3 stray 0 nanny 1 pgrp 1 blocked 0 "
                               "usr1 ignored omp 7 blas 3 mine kept\n");
  CU_ASSERT_STRING_EQUAL(o, "out\n");
  CU_ASSERT_STRING_EQUAL(e, "err\n");
  close(leak);
}

int main(int argc, char **argv)
{
  const char *role = getenv(KEEL__ENV_ROLE);
  if (role && strcmp(role, "task") == 0)
    return child();
  keel__self.argv = argv;
  static const tu_test tests[] = {
      TU_TEST(test_task_process_gets_what_it_needs),
  };
  return tu_run("spawn", tests, sizeof tests / sizeof *tests);
}
