/* buf.c: the growable byte buffer tasks write results into; every encoder
 * of the wire protocol writes into one too. */
#include "keel_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int keel__buf_reserve(keel_buf *b, size_t extra)
{
  if (extra > SIZE_MAX / 2 - b->len)
    return KEEL_EINVAL;
  if (b->len + extra <= b->cap)
    return KEEL_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra)
    cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p)
    return KEEL_ENOMEM;
  b->data = p;
  b->cap = cap;
  return KEEL_OK;
}

void keel__buf_reset(keel_buf *b)
{
  b->len = b->base;
  b->failed = 0;
}

void keel__buf_free(keel_buf *b)
{
  free(b->data);
  memset(b, 0, sizeof *b);
}

char *keel__buf_steal(keel_buf *b, size_t *len)
{
  char *p = b->data;
  *len = b->len;
  memset(b, 0, sizeof *b);
  return p;
}

/* Where p lies inside b's bytes, or SIZE_MAX: a task may append what it
 * wrote itself, and growing the buffer would move it. */
static size_t offset_in(const keel_buf *b, const void *p)
{
  uintptr_t a = (uintptr_t)p, lo = (uintptr_t)b->data;
  return b->data && a >= lo && a < lo + b->len ? (size_t)(a - lo) : SIZE_MAX;
}

int keel_buf_append(keel_buf *out, const void *data, size_t len)
{
  if (!out || (!data && len))
    return KEEL_EINVAL;
  /* map items append a few bytes each, millions of times: skip the call
   * when there is room */
  if (len > out->cap - out->len) {
    size_t off = offset_in(out, data);
    int rc = keel__buf_reserve(out, len);
    if (rc)
      return rc;
    if (off != SIZE_MAX)
      data = out->data + off;
  }
  if (len)
    memcpy(out->data + out->len, data, len);
  out->len += len;
  return KEEL_OK;
}

static int buf_vprintf(keel_buf *out, const char *fmt, va_list ap)
{
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return KEEL_EINVAL;
  if ((size_t)n + 1 <= out->cap - out->len) { /* nothing moves: in place */
    vsnprintf(out->data + out->len, (size_t)n + 1, fmt, ap);
    out->len += (size_t)n;
    return KEEL_OK;
  }
  /* Growing would move the bytes an argument may point into: format
   * elsewhere first. */
  char *tmp = malloc((size_t)n + 1);
  if (!tmp)
    return KEEL_ENOMEM;
  vsnprintf(tmp, (size_t)n + 1, fmt, ap);
  int rc = keel_buf_append(out, tmp, (size_t)n);
  free(tmp);
  return rc;
}

int keel_buf_printf(keel_buf *out, const char *fmt, ...)
{
  if (!out || !fmt)
    return KEEL_EINVAL;
  va_list ap;
  va_start(ap, fmt);
  int rc = buf_vprintf(out, fmt, ap);
  va_end(ap);
  return rc;
}

const void *keel_buf_data(const keel_buf *b)
{
  return b && b->data ? b->data + b->base : NULL;
}

size_t keel_buf_len(const keel_buf *b)
{
  return b ? b->len - b->base : 0;
}

int keel_fail(keel_buf *out, const char *fmt, ...)
{
  if (!out)
    return KEEL_ETASK;
  keel_buf msg = {0}; /* apart: an argument may be the result it replaces */
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    (void)buf_vprintf(&msg, fmt, ap);
    va_end(ap);
  }
  keel__buf_reset(out);
  (void)keel_buf_append(out, msg.data, msg.len);
  keel__buf_free(&msg);
  out->failed = 1;
  return KEEL_ETASK;
}
