/* spawn.c: starting a task process.  posix_spawn of the same binary (glibc
 * uses clone(CLONE_VM|CLONE_VFORK), so nothing of the MPI process is copied
 * or shared after exec), never a bare fork of an MPI rank. */
#include "worker/worker.h"
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static char **child_env;

/* environ without keel's task variables, plus the task role and the
 * thread counts of OMP_NUM_THREADS and its kin (sys/threads.c). */
static char **make_env(void)
{
  size_t n = 0, k = 0;
  while (environ[n])
    n++;
  char **env = calloc(n + 3 + KEEL__THREAD_VARS, sizeof *env);
  if (!env)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], KEEL__ENV_ROLE "=", strlen(KEEL__ENV_ROLE) + 1) &&
        strncmp(environ[i], KEEL__ENV_NANNY "=", strlen(KEEL__ENV_NANNY) + 1))
      env[k++] = environ[i];
  env[k++] = KEEL__ENV_ROLE "=task";
  env[k++] = keel__error_printf(KEEL__ENV_NANNY "=%d", (int)getpid());
  keel__threads_env(env, k);
  return env;
}

pid_t keel__spawn_task(int chan, int crash, int shm, int out, int err)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t none, all;
  pid_t pid = -1;
  int rc;
  /* where each goes in the task process */
  int fds[5] = {chan, crash, shm, out, err}, high[5] = {-1, -1, -1, -1, -1};
  const int to[5] = {KEEL__CHAN_FD, KEEL__CRASH_FD, KEEL__SHM_FD, 1, 2};
  if (!child_env && !(child_env = make_env()))
    return -1;
  /* Copies above the fixed child fds, so no dup2 action clobbers another
   * one's source. */
  for (int i = 0; i < 5; i++)
    if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0) {
      for (int j = 0; j < i; j++)
        close(high[j]);
      return -1;
    }
  posix_spawn_file_actions_init(&fa);
  for (int i = 0; i < 5; i++)
    posix_spawn_file_actions_adddup2(&fa, high[i], to[i]);
  /* MPI's fds do not go to the task process */
  posix_spawn_file_actions_addclosefrom_np(&fa, KEEL__SHM_FD + 1);
  posix_spawnattr_init(&at);
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGUSR1); /* ignored, as by the nanny: see nanny.c */
  sigdelset(&all, SIGUSR2);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
                                    POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&at, 0); /* its own group: kill(-pid) */
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, keel__self.argv, child_env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  for (int i = 0; i < 5; i++)
    close(high[i]);
  if (rc) {
    errno = rc;
    return -1;
  }
  return pid;
}

