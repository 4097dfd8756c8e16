/* error.c: error names and strings, generated from KEEL_ERRNO_MAP, and the
 * keel_error records that failed futures carry. */
#include "keel_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *keel_strerror(int code)
{
  switch (code) {
  case KEEL_OK:
    return "success";
#define KEEL__ERR_STR(name, val, str) \
  case KEEL_##name:                   \
    return str;
    KEEL_ERRNO_MAP(KEEL__ERR_STR)
#undef KEEL__ERR_STR
  default:
    return "unknown keel error code";
  }
}

const char *keel_err_name(int code)
{
  switch (code) {
  case KEEL_OK:
    return "KEEL_OK";
#define KEEL__ERR_NAME(name, val, str) \
  case KEEL_##name:                    \
    return "KEEL_" #name;
    KEEL_ERRNO_MAP(KEEL__ERR_NAME)
#undef KEEL__ERR_NAME
  default:
    return "KEEL_E?";
  }
}

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

void keel__error_clear(keel_error *e)
{
  free((char *)e->message);
  free((char *)e->host);
  free((char *)e->backtrace);
  memset(e, 0, sizeof *e);
  e->rank = -1;
  e->exit_status = -1;
}

int keel__error_set(keel_error *e, int code, const char *message, int rank,
                    const char *host, int sig, int exit_status,
                    unsigned long long task_id, const char *backtrace)
{
  keel_error n = {code, NULL, rank, NULL, sig, exit_status, task_id, NULL, 0};
  n.message = strdup(message ? message : keel_strerror(code));
  n.host = dup_or_null(host);
  n.backtrace = dup_or_null(backtrace && *backtrace ? backtrace : NULL);
  keel__error_clear(e);
  *e = n;
  return n.message ? KEEL_OK : KEEL_ENOMEM;
}

int keel__error_copy(keel_error *e, int code, const keel_error *src,
                     unsigned long long task_id)
{
  if (!src)
    return keel__error_set(e, code, NULL, -1, NULL, 0, -1, task_id, NULL);
  int rc = keel__error_set(e, code, src->message, src->rank, src->host,
                           src->signal, src->exit_status, task_id,
                           src->backtrace);
  e->pid = src->pid;
  return rc;
}

char *keel__error_printf(const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}
