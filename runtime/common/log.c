/* log.c: who this process is (role, rank, host, core, argv: set by
 * keel_init() and the role it takes), its log lines, and failed
 * assertions.  A line reads
 *   2026-12-02T08:01:02.345Z keel[master 0 vm:5693] warn: ...
 * so that lines of every rank of a job, merged, sort by time and say who
 * wrote them.  KEEL_LOG=error|warn|info|debug picks how much (warn by
 * default; debug adds the life of every task). */
#include "keel_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct keel__self keel__self = {.role = KEEL__ROLE_NONE, .rank = -1,
                                .host = "?", .core = -1};
int keel__log_level = KEEL__LOG_WARN;

const char *const keel__log_levels[] = {"error", "warn", "info", "debug"};

void keel__log_at(int level, const char *fmt, ...)
{
  static const char *roles[] = {"", "master", "nanny", "task"};
  char line[1024], when[32], rank[16] = "", *big = NULL;
  struct timespec ts;
  struct tm tm;
  va_list ap;
  if (level > keel__log_level)
    return;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  if (keel__self.rank >= 0)
    snprintf(rank, sizeof rank, " %d", keel__self.rank);
  int n = snprintf(line, sizeof line, "%s.%03ldZ keel[%s%s %s:%d] %s: ", when,
                   ts.tv_nsec / 1000000, roles[keel__self.role], rank,
                   keel__self.host, (int)getpid(), keel__log_levels[level]);
  va_start(ap, fmt);
  int more = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  /* A crash report's backtrace outgrows the line: one block all the same. */
  if (more >= (int)(sizeof line - (size_t)n) &&
      (big = malloc((size_t)n + (size_t)more + 2))) {
    memcpy(big, line, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(big + n, (size_t)more + 1, fmt, ap);
    va_end(ap);
  }
  /* One write (a pipe takes it whole up to 64 KiB): lines never mix. */
  char *text = big ? big : line;
  size_t len = strlen(text);
  if (!big && len + 1 >= sizeof line)
    len = sizeof line - 2; /* a cut line: room for its newline */
  text[len++] = '\n';
  for (size_t off = 0; off < len;) {
    ssize_t w = write(STDERR_FILENO, text + off, len - off);
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  free(big);
}

void keel__assert_fail(const char *expr, const char *file, int line,
                       const char *func)
{
  keel__log_at(KEEL__LOG_ERROR, "assertion failed: %s (%s:%d, %s)", expr,
               file, line, func);
  abort();
}
