/* wire.c: the protocol between master, nanny and task process.  Every
 * message is a 20-byte header (magic, version, type, exec, count, payload
 * length) and a payload of fields in host byte order (keel assumes one
 * byte order across the job, as MPI_BYTE messages do).  Decoding never trusts a
 * length: the reader stops at the end of the payload and flags the error.
 * doc/protocol.md describes each message. */
#include "proto/wire.h"

#include <stdlib.h>
#include <string.h>

/* ---- writing ---- */

static void put(keel_buf *b, const void *p, size_t n)
{
  /* Encoders run on buffers the caller sized for the common case; a failed
   * allocation here leaves the message short, which the reader rejects. */
  if (keel__buf_reserve(b, n) == KEEL_OK) {
    memcpy(b->data + b->len, p, n);
    b->len += n;
  }
}

void keel__wire_put_u32(keel_buf *b, uint32_t v) { put(b, &v, 4); }
void keel__wire_put_u64(keel_buf *b, uint64_t v) { put(b, &v, 8); }
void keel__wire_put_f64(keel_buf *b, double v) { put(b, &v, 8); }

void keel__wire_put_bytes(keel_buf *b, const void *p, size_t n)
{
  keel__wire_put_u32(b, (uint32_t)n);
  if (n)
    put(b, p, n);
}

void keel__wire_put_str(keel_buf *b, const char *s)
{
  keel__wire_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

void keel__wire_put_hdr(keel_buf *b, uint8_t type, uint32_t exec, uint32_t count)
{
  uint8_t vt[4] = {KEEL__WIRE_VERSION, type, 0, 0};
  keel__wire_put_u32(b, KEEL__WIRE_MAGIC);
  put(b, vt, 4);
  keel__wire_put_u32(b, exec);
  keel__wire_put_u32(b, count);
  keel__wire_put_u32(b, 0); /* length, patched by keel__wire_finish */
}

void keel__wire_finish_plus(keel_buf *b, size_t off, uint32_t count,
                            size_t extra)
{
  if (b->len < off + KEEL__WIRE_HDR)
    return; /* its header did not fit (no memory): short, and rejected */
  uint32_t len = (uint32_t)(b->len - off - KEEL__WIRE_HDR + extra);
  memcpy(b->data + off + 12, &count, 4);
  memcpy(b->data + off + 16, &len, 4);
}

void keel__wire_finish(keel_buf *b, size_t off, uint32_t count)
{
  keel__wire_finish_plus(b, off, count, 0);
}

/* ---- reading ---- */

int keel__wire_check(const void *msg, size_t n, keel__wire_hdr *h, const char **why)
{
  const uint8_t *p = msg;
  uint32_t magic, len;
  *why = NULL;
  if (n < KEEL__WIRE_HDR)
    *why = "message shorter than its header";
  else if (memcpy(&magic, p, 4), magic != KEEL__WIRE_MAGIC)
    *why = "bad magic number";
  else if (p[4] != KEEL__WIRE_VERSION)
    *why = "unsupported protocol version";
  else if (p[5] < KEEL__M_HELLO || p[5] > KEEL__M_LAST)
    *why = "unknown message type";
  else if (memcpy(&len, p + 16, 4), len != n - KEEL__WIRE_HDR)
    *why = "payload length does not match the message size";
  if (*why)
    return KEEL_EPROTO;
  h->type = p[5];
  memcpy(&h->exec, p + 8, 4);
  memcpy(&h->count, p + 12, 4);
  h->len = len;
  return KEEL_OK;
}

void keel__wire_reader(keel__wire_rd *r, const void *payload, size_t n)
{
  r->p = payload;
  r->len = n;
  r->pos = 0;
  r->err = 0;
}

static const void *take(keel__wire_rd *r, size_t n)
{
  if (r->err || n > r->len - r->pos) {
    r->err = 1;
    return NULL;
  }
  const void *p = r->p + r->pos;
  r->pos += n;
  return p;
}

uint32_t keel__wire_get_u32(keel__wire_rd *r)
{
  uint32_t v = 0;
  const void *p = take(r, 4);
  if (p)
    memcpy(&v, p, 4);
  return v;
}

uint64_t keel__wire_get_u64(keel__wire_rd *r)
{
  uint64_t v = 0;
  const void *p = take(r, 8);
  if (p)
    memcpy(&v, p, 8);
  return v;
}

double keel__wire_get_f64(keel__wire_rd *r)
{
  double v = 0;
  const void *p = take(r, 8);
  if (p)
    memcpy(&v, p, 8);
  return v;
}

const void *keel__wire_get_bytes(keel__wire_rd *r, uint32_t *n)
{
  *n = keel__wire_get_u32(r);
  const void *p = take(r, *n);
  if (!p)
    *n = 0;
  return p;
}

char *keel__wire_get_str(keel__wire_rd *r)
{
  uint32_t n;
  const char *p = keel__wire_get_bytes(r, &n);
  if (r->err)
    return NULL;
  char *s = malloc((size_t)n + 1);
  if (!s) {
    r->err = 1;
    return NULL;
  }
  if (n)
    memcpy(s, p, n);
  s[n] = 0;
  return s;
}

/* ---- messages ---- */

void keel__wire_put_task_head(keel_buf *b, const keel__task *t)
{
  keel__wire_put_u64(b, t->id);
  keel__wire_put_u64(b, t->fn);
  keel__wire_put_u32(b, t->item_size);
  keel__wire_put_u32(b, t->arg_len); /* the length of the bytes field */
}

void keel__wire_put_task(keel_buf *b, const keel__task *t)
{
  keel__wire_put_task_head(b, t);
  if (t->arg_len)
    put(b, t->arg, t->arg_len);
}

bool keel__wire_task_prefix(void *p, uint32_t exec, const keel__task *t)
{
  keel_buf b = {0};
  keel__wire_put_hdr(&b, KEEL__M_TASKS, exec, 0);
  keel__wire_put_task_head(&b, t);
  keel__wire_finish_plus(&b, 0, 1, t->arg_len);
  bool ok = b.len == KEEL__TASK_PREFIX; /* short: no memory */
  if (ok)
    memcpy(p, b.data, b.len);
  keel__buf_free(&b);
  return ok;
}

int keel__wire_get_task(keel__wire_rd *r, keel__task *t)
{
  t->id = keel__wire_get_u64(r);
  t->fn = keel__wire_get_u64(r);
  t->item_size = keel__wire_get_u32(r);
  t->arg = keel__wire_get_bytes(r, &t->arg_len);
  if (!r->err && (t->id == 0 || t->fn == 0))
    r->err = 1;
  if (!r->err && t->item_size && t->arg_len % t->item_size)
    r->err = 1;
  return r->err ? KEEL_EPROTO : KEEL_OK;
}

void keel__wire_put_result_head(keel_buf *b, const keel__result *res)
{
  keel__wire_put_u64(b, res->id);
  keel__wire_put_u32(b, (uint32_t)res->status);
  keel__wire_put_u32(b, res->runtime_us);
  keel__wire_put_u32(b, res->len); /* the length of the bytes field */
}

void keel__wire_put_result(keel_buf *b, const keel__result *res)
{
  keel__wire_put_result_head(b, res);
  if (res->len)
    put(b, res->data, res->len);
}

int keel__wire_get_result(keel__wire_rd *r, keel__result *res)
{
  res->id = keel__wire_get_u64(r);
  res->status = (int32_t)keel__wire_get_u32(r);
  res->runtime_us = keel__wire_get_u32(r);
  res->data = keel__wire_get_bytes(r, &res->len);
  if (!r->err && (res->id == 0 || res->status > 0))
    r->err = 1;
  return r->err ? KEEL_EPROTO : KEEL_OK;
}

void keel__wire_put_open(keel_buf *b, uint32_t exec, const keel__xopts *o)
{
  size_t off = b->len;
  keel__wire_put_hdr(b, KEEL__M_OPEN, exec, 0);
  keel__wire_put_f64(b, o->task_timeout);
  keel__wire_put_f64(b, o->idle_timeout);
  keel__wire_put_u64(b, o->memory_limit);
  keel__wire_put_u32(b, (uint32_t)o->max_tasks);
  keel__wire_put_u32(b, (uint32_t)o->on_crash);
  keel__wire_put_u64(b, o->init_fn);
  keel__wire_put_bytes(b, o->initarg, o->initarg_len);
  keel__wire_finish(b, off, 0);
}

int keel__wire_get_open(keel__wire_rd *r, keel__xopts *o)
{
  o->task_timeout = keel__wire_get_f64(r);
  o->idle_timeout = keel__wire_get_f64(r);
  o->memory_limit = keel__wire_get_u64(r);
  o->max_tasks = (int32_t)keel__wire_get_u32(r);
  o->on_crash = (int32_t)keel__wire_get_u32(r);
  o->init_fn = keel__wire_get_u64(r);
  o->initarg = keel__wire_get_bytes(r, &o->initarg_len);
  if (!r->err && (!(o->task_timeout >= 0) || !(o->idle_timeout >= 0) ||
                  o->max_tasks < 0 || o->on_crash < KEEL_ON_CRASH_BREAK ||
                  o->on_crash > KEEL_ON_CRASH_RETRY))
    r->err = 1;
  return r->err ? KEEL_EPROTO : KEEL_OK;
}

void keel__wire_put_death(keel_buf *b, uint32_t exec, const keel__death *d)
{
  size_t off = b->len;
  keel__wire_put_hdr(b, KEEL__M_DEATH, exec, 0);
  keel__wire_put_u64(b, d->task_id);
  keel__wire_put_u32(b, (uint32_t)d->cause);
  keel__wire_put_u32(b, (uint32_t)d->signal);
  keel__wire_put_u32(b, (uint32_t)d->exit_status);
  keel__wire_put_str(b, d->message);
  keel__wire_put_str(b, d->backtrace);
  keel__wire_put_u32(b, (uint32_t)d->pid);
  keel__wire_finish(b, off, 0);
}

int keel__wire_get_death(keel__wire_rd *r, keel__death *d)
{
  d->task_id = keel__wire_get_u64(r);
  d->cause = (int32_t)keel__wire_get_u32(r);
  d->signal = (int32_t)keel__wire_get_u32(r);
  d->exit_status = (int32_t)keel__wire_get_u32(r);
  d->message = keel__wire_get_str(r);
  d->backtrace = keel__wire_get_str(r);
  d->pid = (int32_t)keel__wire_get_u32(r);
  if (!r->err && (d->cause < KEEL__C_CRASH || d->cause > KEEL__C_PROTO ||
                  d->signal < 0 || d->signal > 64 || d->exit_status < -1 ||
                  d->exit_status > 255 || d->pid < 0))
    r->err = 1;
  if (r->err) {
    free(d->message);
    free(d->backtrace);
    d->message = d->backtrace = NULL;
    return KEEL_EPROTO;
  }
  return KEEL_OK;
}

/* ---- HELLO, both ways ---- */

void keel__wire_put_hello(keel_buf *b, const keel__hello *h, bool from_master)
{
  keel__wire_put_hdr(b, KEEL__M_HELLO, 0, 0);
  keel__wire_put_u32(b, h->pid);
  if (from_master) {
    keel__wire_put_f64(b, h->timeout);
    keel__wire_put_u32(b, h->port);
    keel__wire_put_u64(b, h->token);
    keel__wire_put_str(b, h->addrs);
  } else {
    keel__wire_put_u32(b, (uint32_t)h->core);
    keel__wire_put_str(b, h->host);
  }
  keel__wire_put_str(b, h->node);
  keel__wire_finish(b, 0, 0);
}

int keel__wire_get_hello(keel__wire_rd *r, keel__hello *h, bool from_master)
{
  *h = (keel__hello){.core = -1};
  h->pid = keel__wire_get_u32(r);
  if (from_master) {
    h->timeout = keel__wire_get_f64(r);
    h->port = keel__wire_get_u32(r);
    h->token = keel__wire_get_u64(r);
    h->addrs = keel__wire_get_str(r);
  } else {
    h->core = (int32_t)keel__wire_get_u32(r);
    h->host = keel__wire_get_str(r);
  }
  h->node = keel__wire_get_str(r);
  if (!r->err && (h->pid == 0 || h->pid > INT32_MAX || h->core < -1 ||
                  (from_master && !(h->timeout > 0 && h->timeout < 1e6)) ||
                  h->port > 65535))
    r->err = 1;
  if (r->err) {
    keel__wire_hello_free(h);
    return KEEL_EPROTO;
  }
  return KEEL_OK;
}

void keel__wire_hello_free(keel__hello *h)
{
  free(h->host);
  free(h->node);
  free(h->addrs);
  h->host = h->node = h->addrs = NULL;
}

/* ---- one item of a map chunk's result ---- */

/* Records are padded to 8 bytes from the start of the chunk's result, so
 * that each item's bytes are 8-aligned in the (malloc'd) result. */
#define ITEM_ALIGN 8

#define ITEM_HDR 8   /* i32 status, u32 length */

int keel__wire_item_begin(keel_buf *b)
{
  if (keel__buf_reserve(b, ITEM_HDR + 64)) /* room for a small result too */
    return KEEL_ENOMEM;
  b->len += ITEM_HDR;
  b->base = b->len;
  b->failed = 0;
  return KEEL_OK;
}

void keel__wire_item_end(keel_buf *b, int32_t status)
{
  static const char zeros[ITEM_ALIGN];
  uint32_t n = (uint32_t)(b->len - b->base);
  size_t pad = (ITEM_ALIGN - b->len % ITEM_ALIGN) % ITEM_ALIGN;
  memcpy(b->data + b->base - ITEM_HDR, &status, 4);
  memcpy(b->data + b->base - 4, &n, 4);
  b->base = 0;
  b->failed = 0;
  if (pad <= b->cap - b->len) { /* the usual case: begin left room */
    memset(b->data + b->len, 0, pad);
    b->len += pad;
  } else {
    put(b, zeros, pad);
  }
}

void keel__wire_put_item(keel_buf *b, int32_t status, const void *p, size_t n)
{
  if (keel__wire_item_begin(b) == KEEL_OK) {
    put(b, p, n);
    keel__wire_item_end(b, status);
  }
}

int keel__wire_get_item(keel__wire_rd *r, int32_t *status, const void **p, uint32_t *n)
{
  *status = (int32_t)keel__wire_get_u32(r);
  *p = keel__wire_get_bytes(r, n);
  if (!r->err && r->pos % ITEM_ALIGN)
    take(r, ITEM_ALIGN - r->pos % ITEM_ALIGN);
  if (!r->err && *status > 0)
    r->err = 1;
  return r->err ? KEEL_EPROTO : KEEL_OK;
}

/* ---- OUTPUT ---- */

void keel__wire_put_output(keel_buf *b, const keel__output *o)
{
  keel__wire_put_u64(b, o->task_id);
  keel__wire_put_u32(b, o->stream);
  keel__wire_put_bytes(b, o->data, o->len);
}

int keel__wire_get_output(keel__wire_rd *r, keel__output *o)
{
  o->task_id = keel__wire_get_u64(r);
  o->stream = keel__wire_get_u32(r);
  o->data = keel__wire_get_bytes(r, &o->len);
  if (!r->err && o->stream != 1 && o->stream != 2)
    r->err = 1;
  return r->err ? KEEL_EPROTO : KEEL_OK;
}
