/* doorbell.c: how the master and a nanny on one node wake each other.  MPI
 * gives no file descriptor to sleep on, so both sides nap in poll() between
 * looks at MPI (clock.c's back-off: up to 1 ms while work is in flight,
 * KEEL__DOZE_MAX when idle).  Without a wake-up, one task at a time settles
 * into a slow rhythm where each side finds the other's message a nap late
 * (2-4 ms a round trip here instead of 20 us), and a nanny sharing its
 * core with a busy task process gets new tasks late (its spin does not
 * run while the task does).  So whoever sends work to the other side on
 * its node also sends a datagram to its bell, an abstract Unix socket
 * named after its node and pid, which ends the nap at once: one sendto()
 * per message, and messages carry batches.  Only a hint: a lost or
 * refused ring (another node, another network namespace) costs the rest
 * of the nap, never a message. */
#include "sys/sys.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* "\0keel-bell <boot id> <pid ns> <pid>": unique on a kernel, gone with
 * the socket. */
static socklen_t bell_address(struct sockaddr_un *a, int pid)
{
  static char node[128];
  if (!node[0])
    keel__lifeline_node(node, sizeof node);
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "keel-bell %s %d",
                   node, pid);
  if (n < 0 || (size_t)n >= sizeof a->sun_path - 1)
    n = (int)sizeof a->sun_path - 2;
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int keel__doorbell_open(void)
{
  struct sockaddr_un a;
  socklen_t len = bell_address(&a, (int)getpid());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, len) == 0)
    return fd;
  keel__log("no doorbell (%s): peers on this node reach this process only "
            "when its naps end (up to %.0f ms)", strerror(errno),
            KEEL__DOZE_MAX * 1e3);
  if (fd >= 0)
    close(fd);
  return -1;
}

void keel__doorbell_drain(int fd)
{
  char b[64];
  while (fd >= 0 && recv(fd, b, sizeof b, 0) > 0)
    ;
}

void keel__doorbell_ring(int pid)
{
  static int fd = -1;
  struct sockaddr_un a;
  socklen_t len = bell_address(&a, pid);
  if (fd < 0)
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  /* Errors are fine: a full bell has rung already, a refused one belongs
   * to a nanny that is not ours to wake (see above). */
  if (fd >= 0)
    (void)sendto(fd, "", 1, MSG_DONTWAIT, (struct sockaddr *)&a, len);
}
