/* lifeline.c: how the master and its nannies watch each other.  When two
 * processes share a kernel and a pid namespace, a pidfd tells one of the
 * other's death at once and exactly (no pid reuse); across nodes only
 * silence does, so both ends also send heartbeats (master.c, nanny.c). */
#include "sys/sys.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* "boot-id pid-namespace" of this process. */
const char *keel__lifeline_node(char *buf, size_t n)
{
  char boot[64] = "", ns[64] = "";
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (f) {
    if (!fgets(boot, sizeof boot, f))
      boot[0] = '\0';
    fclose(f);
  }
  boot[strcspn(boot, "\n")] = '\0';
  ssize_t len = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
  ns[len > 0 ? len : 0] = '\0';
  snprintf(buf, n, "%s %s", boot, ns);
  return buf;
}

int keel__lifeline_open(int pid, const char *node)
{
  char me[128];
  if (pid <= 0 || !node || strcmp(node, keel__lifeline_node(me, sizeof me)))
    return -1;
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

bool keel__lifeline_dead(int fd)
{
  struct pollfd p = {fd, POLLIN, 0};
  return fd >= 0 && poll(&p, 1, 0) == 1;
}

bool keel__lifeline_kill(int fd)
{
  return fd >= 0 && syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0;
}
