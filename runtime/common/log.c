/* log.c: who this process is (role, host, core, argv: set by keel_init()
 * and the role it takes), its log lines, and failed assertions. */
#include "keel_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct keel__self keel__self = {.role = KEEL__ROLE_NONE, .host = "?",
                                .core = -1};

void keel__log(const char *fmt, ...)
{
  static const char *roles[] = {"", "master", "nanny", "task"};
  char line[1024];
  va_list ap;
  int n = snprintf(line, sizeof line, "keel[%s %s:%d]: ",
                   roles[keel__self.role], keel__self.host, (int)getpid());
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}

void keel__assert_fail(const char *expr, const char *file, int line,
                       const char *func)
{
  keel__log("assertion failed: %s (%s:%d, %s)", expr, file, line, func);
  abort();
}
