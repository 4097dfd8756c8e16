/* lifeline.c: how the master and its nannies watch each other.  When two
 * processes share a kernel and a pid namespace, a pidfd tells one of the
 * other's death at once and exactly (no pid reuse); across nodes a TCP
 * connection closed by the dead process's kernel does (below); silence
 * alone is left for a node that is gone, so both ends also send
 * heartbeats (master/manager.c, worker/nanny.c). */
#include "sys/sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* ---- the lifeline socket, between nodes ----
 * Across nodes a pidfd cannot be had, and silence takes the heartbeat
 * timeout to mean anything.  So a nanny on another node also holds a TCP
 * connection to the master: when either process dies, its kernel closes
 * the connection and the other side reads EOF at once, while the node
 * stays up.  A node that goes silent (powered off, cut off) is still
 * caught by the heartbeats.  The nanny says who it is (the master's token,
 * its rank); the master answers with the token, so that a nanny that
 * reached another process on some address tries the next one instead. */

#define HELLO_MAGIC 0x4b4c4c31u /* "1LLK" */

typedef struct hello_msg {
  uint64_t token;
  uint32_t rank, magic;
} hello_msg;

int keel__lifeline_listen(int *port)
{
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
  struct sockaddr_in a4 = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_ANY)};
  int off = 0, fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK |
                                          SOCK_CLOEXEC, 0);
  bool v6 = fd >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
                                  sizeof off) == 0 &&
            bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0;
  if (!v6) { /* no IPv6 here: IPv4 alone */
    if (fd >= 0)
      close(fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a4, sizeof a4)) {
      if (fd >= 0)
        close(fd);
      return -1;
    }
  }
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (listen(fd, 128) || getsockname(fd, (struct sockaddr *)&ss, &len)) {
    close(fd);
    return -1;
  }
  *port = ntohs(ss.ss_family == AF_INET6
                    ? ((struct sockaddr_in6 *)&ss)->sin6_port
                    : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* Addresses another node could reach us at: up, not loopback, not an
 * IPv6 link-local one (it needs a scope). */
static bool reachable(const struct ifaddrs *i)
{
  if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) ||
      (i->ifa_flags & IFF_LOOPBACK))
    return false;
  if (i->ifa_addr->sa_family == AF_INET)
    return true;
  if (i->ifa_addr->sa_family != AF_INET6)
    return false;
  const struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
  return !IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_LOOPBACK(a);
}

int keel__lifeline_addrs(char *buf, size_t n)
{
  struct ifaddrs *all;
  size_t len = 0;
  buf[0] = '\0';
  if (getifaddrs(&all))
    return -1;
  for (struct ifaddrs *i = all; i; i = i->ifa_next) {
    char host[INET6_ADDRSTRLEN];
    if (!reachable(i) ||
        getnameinfo(i->ifa_addr, i->ifa_addr->sa_family == AF_INET
                                     ? sizeof(struct sockaddr_in)
                                     : sizeof(struct sockaddr_in6),
                    host, sizeof host, NULL, 0, NI_NUMERICHOST))
      continue;
    int k = snprintf(buf + len, n - len, "%s%s", len ? "," : "", host);
    if (k < 0 || (size_t)k >= n - len)
      break; /* the rest do not fit: these will do */
    len += (size_t)k;
  }
  freeifaddrs(all);
  return len ? 0 : -1;
}

/* Is a (IPv4) on one of our own subnets?  Those addresses are tried
 * first: the master is most likely reached the way MPI reaches it. */
static bool on_my_subnet(const struct in_addr *a)
{
  struct ifaddrs *all;
  bool mine = false;
  if (getifaddrs(&all))
    return false;
  for (struct ifaddrs *i = all; i && !mine; i = i->ifa_next)
    if (reachable(i) && i->ifa_addr->sa_family == AF_INET && i->ifa_netmask) {
      uint32_t m = ((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr;
      uint32_t x = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
      mine = (x & m) == (a->s_addr & m);
    }
  freeifaddrs(all);
  return mine;
}

/* Wait until fd is ready for events, at most s seconds. */
static bool ready(int fd, short events, double s)
{
  struct pollfd p = {fd, events, 0};
  return keel__clock_poll(&p, 1, s) == 1 && (p.revents & events);
}

/* Connect to host:port, say hello and read the master's answer. */
static int try_one(const char *host, int port, uint64_t token, uint32_t rank,
                   double timeout)
{
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICHOST}, *ai;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  if (getaddrinfo(host, service, &hints, &ai))
    return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0), err = 0;
  socklen_t el = sizeof err;
  hello_msg h = {token, rank, HELLO_MAGIC}, back;
  bool ok = fd >= 0 &&
            (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
             errno == EINPROGRESS) &&
            ready(fd, POLLOUT, timeout) &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && !err &&
            send(fd, &h, sizeof h, MSG_NOSIGNAL) == (ssize_t)sizeof h &&
            ready(fd, POLLIN, timeout) &&
            recv(fd, &back, sizeof back, MSG_WAITALL) == (ssize_t)sizeof back &&
            back.token == token && back.rank == rank &&
            back.magic == HELLO_MAGIC;
  freeaddrinfo(ai);
  if (!ok && fd >= 0)
    close(fd);
  return ok ? fd : -1;
}

int keel__lifeline_connect(const char *addrs, int port, uint64_t token,
                           uint32_t rank, double timeout)
{
  char *list = strdup(addrs ? addrs : ""), *save = NULL;
  char *first[64], *later[64];
  int nfirst = 0, nlater = 0, fd = -1;
  for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
    struct in_addr v4;
    if (inet_pton(AF_INET, a, &v4) == 1 && on_my_subnet(&v4)) {
      if (nfirst < 64)
        first[nfirst++] = a;
    } else if (nlater < 64) {
      later[nlater++] = a;
    }
  }
  for (int i = 0; i < nfirst && fd < 0; i++)
    fd = try_one(first[i], port, token, rank, timeout);
  for (int i = 0; i < nlater && fd < 0; i++)
    fd = try_one(later[i], port, token, rank, timeout);
  free(list);
  return fd;
}

int keel__lifeline_accept(int lfd)
{
  return accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int keel__lifeline_greet(int fd, uint64_t token, uint32_t *rank)
{
  hello_msg h;
  ssize_t n = recv(fd, &h, sizeof h, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  if (n < (ssize_t)sizeof h)
    return n <= 0 ? -1 : 0; /* closed, or not all of it yet */
  if (recv(fd, &h, sizeof h, MSG_DONTWAIT) != (ssize_t)sizeof h ||
      h.token != token || h.magic != HELLO_MAGIC)
    return -1;
  *rank = h.rank;
  /* the answer fits any socket buffer: it goes at once or not at all */
  return send(fd, &h, sizeof h, MSG_NOSIGNAL | MSG_DONTWAIT) ==
                 (ssize_t)sizeof h
             ? 1
             : -1;
}

void keel__lifeline_ring(int fd)
{
  /* Errors are fine: a full socket has rung already, a closed one is the
   * lifeline's news, read by its owner. */
  (void)send(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

bool keel__lifeline_closed(int fd)
{
  char b[64];
  ssize_t n;
  while ((n = recv(fd, b, sizeof b, MSG_DONTWAIT)) > 0)
    ; /* after the greeting, only doorbell bytes: drop them */
  return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
                    errno != EINTR);
}
