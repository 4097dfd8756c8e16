/* fd.c: writing all of a buffer to a file descriptor, through short
 * writes and EINTR.  Async-signal-safe (the task process's crash handler
 * uses it); keelrun compiles it in too. */
#include "sys/sys.h"

#include <errno.h>
#include <unistd.h>

bool keel__fd_write_all(int fd, const void *buf, size_t n)
{
  const char *p = buf;
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return false;
    p += k;
    n -= (size_t)k;
  }
  return true;
}
