/* test_children: what a task's children leave behind (children.c).  A
 * subreaper inherits the orphans of its descendants, even a daemon in a
 * session of its own, and keel__children_kill() ends every child it does
 * not keep, the children those leave orphaned too. */
#include "../testutil.h"
#include "sys/sys.h"

#include <signal.h>
#include <sys/wait.h>

static bool alive(pid_t pid)
{
  return kill(pid, 0) == 0;
}

/* A child that starts a daemon (new session, sleeping) and exits: the
 * daemon's pid comes back through a pipe. */
static pid_t orphan_daemon(void)
{
  int p[2];
  if (pipe(p))
    return -1;
  pid_t c = fork();
  if (c == 0) {
    pid_t d = fork();
    if (d == 0) {
      setsid();
      for (;;)
        pause();
    }
    (void)!write(p[1], &d, sizeof d);
    _exit(0);
  }
  pid_t d = -1;
  (void)!read(p[0], &d, sizeof d);
  waitpid(c, NULL, 0);
  close(p[0]);
  close(p[1]);
  return d;
}

static pid_t parent_of(pid_t pid)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  int ppid = -1;
  if (f) {
    if (fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) != 1)
      ppid = -1;
    fclose(f);
  }
  return (pid_t)ppid;
}

static void test_orphans_are_adopted_and_killed(void)
{
  WATCHDOG(20);
  CU_ASSERT_TRUE_FATAL(keel__children_adopt());
  pid_t d = orphan_daemon();
  CU_ASSERT_TRUE_FATAL(d > 0);
  CU_ASSERT_EQUAL(parent_of(d), getpid()); /* ours now, not init's */
  pid_t keep = fork();
  if (keep == 0) {
    for (;;)
      pause();
  }
  keel__children_kill(&keep, 1);
  CU_ASSERT_FALSE(alive(d)); /* reaped: not even a zombie */
  CU_ASSERT_TRUE(alive(keep));
  CU_ASSERT_EQUAL(waitpid(keep, NULL, WNOHANG), 0);
  kill(keep, SIGKILL);
  waitpid(keep, NULL, 0);
}

/* A stray whose own child is killed with it, out of its group: the
 * grandchild is orphaned by the first sweep and caught by the next. */
static void test_a_stray_s_children_go_too(void)
{
  WATCHDOG(20);
  CU_ASSERT_TRUE_FATAL(keel__children_adopt());
  int p[2];
  CU_ASSERT_TRUE_FATAL(pipe(p) == 0);
  pid_t stray = fork();
  if (stray == 0) {
    pid_t g = fork();
    if (g == 0) {
      setsid(); /* out of the stray's group: its kill misses this one */
      for (;;)
        pause();
    }
    (void)!write(p[1], &g, sizeof g);
    for (;;)
      pause();
  }
  pid_t g = -1;
  CU_ASSERT_EQUAL(read(p[0], &g, sizeof g), (ssize_t)sizeof g);
  close(p[0]);
  close(p[1]);
  keel__children_kill(NULL, 0);
  CU_ASSERT_FALSE(alive(stray));
  CU_ASSERT_FALSE(alive(g));
  CU_ASSERT_EQUAL(waitpid(-1, NULL, WNOHANG), -1); /* no child left */
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_orphans_are_adopted_and_killed),
      TU_TEST(test_a_stray_s_children_go_too),
  };
  return tu_run("children", tests, sizeof tests / sizeof *tests);
}
