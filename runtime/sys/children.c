/* children.c: what a process's children leave behind.  A task may fork
 * children that outlive it, even in a session of their own (setsid), out
 * of reach of the process-group kill that ends its task process.  The
 * nanny (and keel-rank, in front of every rank under keelrun) is a child
 * subreaper, so such orphans become its children; it then kills every
 * child of its own that it does not keep (cgroup-free: /proc is scanned
 * for them).  libc only: launcher/ builds it into keel-rank too. */
#include "sys/sys.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

bool keel__children_adopt(void)
{
  return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
}

/* The parent pid of pid, from /proc/pid/stat, or -1. */
static pid_t parent_of(pid_t pid)
{
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *end = strrchr(buf, ')'); /* the name may hold spaces and parens */
  int ppid;
  return end && sscanf(end + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

static bool kept(pid_t pid, const pid_t *keep, int nkeep)
{
  for (int i = 0; i < nkeep; i++)
    if (keep[i] == pid)
      return true;
  return false;
}

/* Kill and reap our children that are not in keep; returns how many. */
static int sweep(const pid_t *keep, int nkeep)
{
  DIR *d = opendir("/proc");
  pid_t me = getpid();
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    pid_t pid = (pid_t)atoi(e->d_name);
    if (pid <= 0 || kept(pid, keep, nkeep) || parent_of(pid) != me)
      continue;
    kill(-pid, SIGKILL); /* its group, when it leads one */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    n++;
  }
  if (d)
    closedir(d);
  return n;
}

void keel__children_kill(const pid_t *keep, int nkeep)
{
  /* Killing a stray orphans its own children, which then become ours:
   * sweep again until none is left (bounded, against a fork bomb). */
  for (int round = 0; round < 16 && sweep(keep, nkeep) > 0; round++)
    ;
}
