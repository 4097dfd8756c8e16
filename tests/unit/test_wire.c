/* test_wire: the wire protocol's encoders and decoders (wire.c), without
 * MPI: every message round-trips, and hostile input (truncated, corrupted,
 * lying lengths, out-of-range fields) is rejected without reading past the
 * bytes given.  Decoders always get an exactly sized heap copy of the input,
 * so valgrind (or ASan) sees any read past its end. */
#include "../testutil.h"
#include "proto/wire.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

/* ---- helpers ---- */

static uint8_t *dupmem(const void *p, size_t n)
{
  uint8_t *m = malloc(n ? n : 1);
  if (!m)
    abort();
  if (n)
    memcpy(m, p, n);
  return m;
}

static void put_u32_at(uint8_t *m, size_t off, uint32_t v)
{
  memcpy(m + off, &v, 4);
}

static void build_tasks(keel_buf *b, uint32_t exec, const keel__task *t,
                        uint32_t n)
{
  size_t off = b->len;
  keel__wire_put_hdr(b, KEEL__M_TASKS, exec, 0);
  for (uint32_t i = 0; i < n; i++)
    keel__wire_put_task(b, &t[i]);
  keel__wire_finish(b, off, n);
}

static void build_results(keel_buf *b, uint32_t exec, const keel__result *r,
                          uint32_t n)
{
  size_t off = b->len;
  keel__wire_put_hdr(b, KEEL__M_RESULTS, exec, 0);
  for (uint32_t i = 0; i < n; i++)
    keel__wire_put_result(b, &r[i]);
  keel__wire_finish(b, off, n);
}

/* Decode a whole message as a receiver would: header, then every record
 * the header announces.  Returns KEEL_OK or KEEL_EPROTO.  Checks as it goes
 * that nothing decoded points outside the message; *bad counts violations. */
static int decode(const uint8_t *m, size_t n, int *bad)
{
  keel__wire_hdr h;
  const char *why = NULL;
  if (keel__wire_check(m, n, &h, &why) != KEEL_OK) {
    if (!why)
      (*bad)++;
    return KEEL_EPROTO;
  }
  if (why || (size_t)h.len + KEEL__WIRE_HDR != n)
    (*bad)++;
  const uint8_t *pl = m + KEEL__WIRE_HDR, *end = m + n;
  keel__wire_rd r;
  keel__wire_reader(&r, pl, h.len);
  int rc = KEEL_OK;
  switch (h.type) {
  case KEEL__M_TASKS:
    for (uint32_t i = 0; i < h.count && rc == KEEL_OK; i++) {
      keel__task t;
      rc = keel__wire_get_task(&r, &t);
      if (rc == KEEL_OK &&
          (t.arg_len && ((const uint8_t *)t.arg < pl ||
                         (const uint8_t *)t.arg + t.arg_len > end)))
        (*bad)++;
      if (rc == KEEL_OK && (t.id == 0 || t.fn == 0 ||
                            (t.item_size && t.arg_len % t.item_size)))
        (*bad)++;
    }
    break;
  case KEEL__M_RESULTS:
    for (uint32_t i = 0; i < h.count && rc == KEEL_OK; i++) {
      keel__result res;
      rc = keel__wire_get_result(&r, &res);
      if (rc == KEEL_OK &&
          (res.len && ((const uint8_t *)res.data < pl ||
                       (const uint8_t *)res.data + res.len > end)))
        (*bad)++;
      if (rc == KEEL_OK && (res.id == 0 || res.status > 0))
        (*bad)++;
    }
    break;
  case KEEL__M_OPEN: {
    keel__xopts o;
    rc = keel__wire_get_open(&r, &o);
    if (rc == KEEL_OK &&
        ((o.initarg_len && ((const uint8_t *)o.initarg < pl ||
                            (const uint8_t *)o.initarg + o.initarg_len > end)) ||
         !(o.task_timeout >= 0) || !(o.idle_timeout >= 0) || o.max_tasks < 0))
      (*bad)++;
    break;
  }
  case KEEL__M_DEATH: {
    keel__death d;
    rc = keel__wire_get_death(&r, &d);
    if (rc == KEEL_OK) {
      if (!d.message || !d.backtrace || strlen(d.message) > h.len ||
          strlen(d.backtrace) > h.len || d.signal < 0 || d.signal > 64)
        (*bad)++;
      free(d.message);
      free(d.backtrace);
    } else if (d.message || d.backtrace) {
      (*bad)++;
    }
    break;
  }
  default:
    break;
  }
  if (r.pos > r.len)
    (*bad)++;
  if ((rc != KEEL_OK) != (r.err != 0))
    (*bad)++;
  return rc;
}

/* Valid sample messages of each decodable type. */
static const int32_t chunk_items[3] = {10, -20, 30};

static void sample_tasks(keel_buf *b)
{
  keel__task t[2] = {{42, 0x1122334455667788ull, 0, "argument", 8},
                     {43, 99, 4, chunk_items, 12}};
  build_tasks(b, 3, t, 2);
}

static void sample_results(keel_buf *b)
{
  keel__result r[2] = {{42, 0, 1500, "result bytes", 12},
                       {43, KEEL_ETASK, 7, "failed: why", 11}};
  build_results(b, 3, r, 2);
}

static void sample_open(keel_buf *b)
{
  keel__xopts o = {2.5, 30.0, 1ull << 32, 100, KEEL_ON_CRASH_RETRY, 777,
                   "initarg", 7};
  keel__wire_put_open(b, 9, &o);
}

static void sample_death(keel_buf *b)
{
  keel__death d = {42, KEEL__C_CRASH, 11, -1, "Segmentation fault",
                   "#0 crash()\n#1 main()\n", 4321};
  keel__wire_put_death(b, 9, &d);
}

typedef void (*sample_fn)(keel_buf *);
static const sample_fn samples[] = {sample_tasks, sample_results, sample_open,
                                    sample_death};
#define NSAMPLES (sizeof samples / sizeof *samples)

/* ---- primitives ---- */

static void test_primitives_round_trip(void)
{
  WATCHDOG(10);
  keel_buf b = {0};
  keel__wire_put_u32(&b, 0x01020304u);
  keel__wire_put_u64(&b, 0x0102030405060708ull);
  keel__wire_put_f64(&b, -0.0);
  keel__wire_put_f64(&b, INFINITY);
  keel__wire_put_f64(&b, NAN);
  keel__wire_put_f64(&b, DBL_MIN);
  keel__wire_put_bytes(&b, "xyz", 3);
  keel__wire_put_bytes(&b, NULL, 0);
  keel__wire_put_str(&b, "hello");
  keel__wire_put_str(&b, NULL);
  keel__wire_put_str(&b, "");
  keel__wire_put_u32(&b, UINT32_MAX);
  CU_ASSERT_EQUAL_FATAL(b.len, 4 + 8 + 4 * 8 + 7 + 4 + 9 + 4 + 4 + 4);
  /* fields travel as their bytes in host order (doc/protocol.md), with
   * no padding or length prefix */
  uint32_t v32 = 0x01020304u;
  uint64_t v64 = 0x0102030405060708ull;
  CU_ASSERT_EQUAL(memcmp(b.data, &v32, 4), 0);
  CU_ASSERT_EQUAL(memcmp(b.data + 4, &v64, 8), 0);

  uint8_t *m = dupmem(b.data, b.len);
  keel__wire_rd r;
  keel__wire_reader(&r, m, b.len);
  CU_ASSERT_EQUAL(keel__wire_get_u32(&r), 0x01020304u);
  CU_ASSERT_EQUAL(keel__wire_get_u64(&r), 0x0102030405060708ull);
  double z = keel__wire_get_f64(&r);
  CU_ASSERT_TRUE(z == 0 && signbit(z));
  CU_ASSERT_TRUE(isinf(keel__wire_get_f64(&r)));
  CU_ASSERT_TRUE(isnan(keel__wire_get_f64(&r)));
  CU_ASSERT_EQUAL(keel__wire_get_f64(&r), DBL_MIN);
  uint32_t n = 99;
  const void *p = keel__wire_get_bytes(&r, &n);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_PTR_EQUAL(p, m + 48);
  CU_ASSERT_TRUE(p && !memcmp(p, "xyz", 3));
  p = keel__wire_get_bytes(&r, &n);
  CU_ASSERT_EQUAL(n, 0);
  char *s = keel__wire_get_str(&r);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_STRING_EQUAL(s, "hello");
  free(s);
  s = keel__wire_get_str(&r); /* NULL was written as "" */
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_STRING_EQUAL(s, "");
  free(s);
  s = keel__wire_get_str(&r);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_STRING_EQUAL(s, "");
  free(s);
  CU_ASSERT_EQUAL(keel__wire_get_u32(&r), UINT32_MAX);
  CU_ASSERT_EQUAL(r.err, 0);
  CU_ASSERT_EQUAL(r.pos, r.len);

  /* past the end: zeros, and the error sticks */
  CU_ASSERT_EQUAL(keel__wire_get_u32(&r), 0);
  CU_ASSERT_EQUAL(r.err, 1);
  CU_ASSERT_EQUAL(r.pos, r.len);
  CU_ASSERT_EQUAL(keel__wire_get_u64(&r), 0);
  CU_ASSERT_EQUAL(keel__wire_get_f64(&r), 0.0);
  n = 5;
  CU_ASSERT_PTR_NULL(keel__wire_get_bytes(&r, &n));
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_PTR_NULL(keel__wire_get_str(&r));
  CU_ASSERT_EQUAL(r.err, 1);

  /* a reader that failed stays failed even where bytes remain */
  keel__wire_reader(&r, m, 6);
  CU_ASSERT_EQUAL(keel__wire_get_u64(&r), 0); /* 8 > 6 */
  CU_ASSERT_EQUAL(r.err, 1);
  CU_ASSERT_EQUAL(keel__wire_get_u32(&r), 0); /* would fit, but err is set */
  CU_ASSERT_EQUAL(r.pos, 0);
  free(m);
  keel__buf_free(&b);
}

static void test_reader_partial_fields(void)
{
  WATCHDOG(10);
  /* each primitive on every too-short input */
  uint8_t full[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  int bad = 0;
  for (size_t len = 0; len < 8; len++) {
    uint8_t *m = dupmem(full, len);
    keel__wire_rd r;
    keel__wire_reader(&r, m, len);
    if (keel__wire_get_u64(&r) != 0 || !r.err || r.pos != 0)
      bad++;
    keel__wire_reader(&r, m, len);
    if (keel__wire_get_f64(&r) != 0 || !r.err)
      bad++;
    if (len < 4) {
      keel__wire_reader(&r, m, len);
      if (keel__wire_get_u32(&r) != 0 || !r.err)
        bad++;
    }
    free(m);
  }
  CU_ASSERT_EQUAL(bad, 0);
}

/* ---- header ---- */

static void test_header_round_trip(void)
{
  WATCHDOG(10);
  keel_buf b = {0};
  keel__wire_put_hdr(&b, KEEL__M_TASKS, 0xabcdef01u, 1234);
  CU_ASSERT_EQUAL_FATAL(b.len, KEEL__WIRE_HDR);
  keel__wire_put_u64(&b, 5);
  keel__wire_put_u32(&b, 6);
  keel__wire_finish(&b, 0, 7);
  CU_ASSERT_EQUAL_FATAL(b.len, KEEL__WIRE_HDR + 12);
  CU_ASSERT_EQUAL(memcmp(b.data, "KEEL", 4), 0);
  CU_ASSERT_EQUAL((uint8_t)b.data[4], KEEL__WIRE_VERSION);
  CU_ASSERT_EQUAL((uint8_t)b.data[5], KEEL__M_TASKS);

  uint8_t *m = dupmem(b.data, b.len);
  keel__wire_hdr h = {0};
  const char *why = "unset";
  CU_ASSERT_EQUAL(keel__wire_check(m, b.len, &h, &why), KEEL_OK);
  CU_ASSERT_PTR_NULL(why);
  CU_ASSERT_EQUAL(h.type, KEEL__M_TASKS);
  CU_ASSERT_EQUAL(h.exec, 0xabcdef01u);
  CU_ASSERT_EQUAL(h.count, 7); /* finish's count replaces the first */
  CU_ASSERT_EQUAL(h.len, 12);
  free(m);

  /* a second message after the first: finish patches only its own */
  size_t off = b.len;
  keel__wire_put_hdr(&b, KEEL__M_CLOSE, 2, 0);
  keel__wire_put_str(&b, "bye");
  keel__wire_finish(&b, off, 1);
  m = dupmem(b.data, b.len);
  CU_ASSERT_EQUAL(keel__wire_check(m, off, &h, &why), KEEL_OK);
  CU_ASSERT_EQUAL(h.type, KEEL__M_TASKS);
  CU_ASSERT_EQUAL(h.count, 7);
  CU_ASSERT_EQUAL(h.len, 12);
  CU_ASSERT_EQUAL(keel__wire_check(m + off, b.len - off, &h, &why), KEEL_OK);
  CU_ASSERT_EQUAL(h.type, KEEL__M_CLOSE);
  CU_ASSERT_EQUAL(h.exec, 2);
  CU_ASSERT_EQUAL(h.count, 1);
  CU_ASSERT_EQUAL(h.len, 7);
  /* both together are not one message */
  CU_ASSERT_EQUAL(keel__wire_check(m, b.len, &h, &why), KEEL_EPROTO);
  free(m);
  keel__buf_free(&b);

  /* every known type with an empty payload */
  int bad = 0;
  for (int t = KEEL__M_HELLO; t <= KEEL__M_LAST; t++) {
    keel_buf c = {0};
    keel__wire_put_hdr(&c, (uint8_t)t, (uint32_t)t * 3, 0);
    keel__wire_finish(&c, 0, (uint32_t)t);
    m = dupmem(c.data, c.len);
    if (keel__wire_check(m, c.len, &h, &why) != KEEL_OK || h.type != t ||
        h.exec != (uint32_t)t * 3 || h.count != (uint32_t)t || h.len != 0)
      bad++;
    free(m);
    keel__buf_free(&c);
  }
  CU_ASSERT_EQUAL(bad, 0);
}

/* A valid TASKS header with an empty payload, as a heap copy. */
static uint8_t *empty_msg(void)
{
  keel_buf b = {0};
  keel__wire_put_hdr(&b, KEEL__M_TASKS, 1, 0);
  keel__wire_finish(&b, 0, 0);
  uint8_t *m = dupmem(b.data, b.len);
  keel__buf_free(&b);
  return m;
}

static int hdr_rejects(const uint8_t *m, size_t n, const char *needle)
{
  keel__wire_hdr h;
  const char *why = NULL;
  uint8_t *c = dupmem(m, n);
  int rc = keel__wire_check(c, n, &h, &why);
  free(c);
  return rc == KEEL_EPROTO && why && (!needle || strstr(why, needle));
}

static void test_header_hostile(void)
{
  WATCHDOG(10);
  uint8_t *m = empty_msg();
  keel__wire_hdr h;
  const char *why;
  CU_ASSERT_EQUAL_FATAL(keel__wire_check(m, KEEL__WIRE_HDR, &h, &why), KEEL_OK);

  /* shorter than a header */
  for (size_t n = 0; n < KEEL__WIRE_HDR; n++)
    CU_ASSERT_TRUE(hdr_rejects(m, n, "shorter"));

  /* bad magic: any byte of it */
  for (int i = 0; i < 4; i++) {
    m[i] ^= 0x20;
    CU_ASSERT_TRUE(hdr_rejects(m, KEEL__WIRE_HDR, "magic"));
    m[i] ^= 0x20;
  }
  /* bad version */
  static const uint8_t versions[] = {0, KEEL__WIRE_VERSION + 1, 255};
  for (size_t i = 0; i < sizeof versions; i++) {
    m[4] = versions[i];
    CU_ASSERT_TRUE(hdr_rejects(m, KEEL__WIRE_HDR, "version"));
  }
  m[4] = KEEL__WIRE_VERSION;
  /* unknown type */
  static const uint8_t types[] = {0, KEEL__M_LAST + 1, 100, 255};
  for (size_t i = 0; i < sizeof types; i++) {
    m[5] = types[i];
    CU_ASSERT_TRUE(hdr_rejects(m, KEEL__WIRE_HDR, "type"));
  }
  m[5] = KEEL__M_TASKS;
  CU_ASSERT_EQUAL(keel__wire_check(m, KEEL__WIRE_HDR, &h, &why), KEEL_OK);

  /* length field does not match the bytes given */
  static const uint32_t lens[] = {1, 2, 19, 20, 0x7fffffffu, 0xffffffffu,
                                  KEEL__WIRE_MAX};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    put_u32_at(m, 16, lens[i]);
    CU_ASSERT_TRUE(hdr_rejects(m, KEEL__WIRE_HDR, "length"));
  }
  put_u32_at(m, 16, 0);
  /* more bytes than the length says */
  uint8_t longer[KEEL__WIRE_HDR + 3] = {0};
  memcpy(longer, m, KEEL__WIRE_HDR);
  CU_ASSERT_TRUE(hdr_rejects(longer, sizeof longer, "length"));
  put_u32_at(longer, 16, 2);
  CU_ASSERT_TRUE(hdr_rejects(longer, sizeof longer, "length"));
  put_u32_at(longer, 16, 4);
  CU_ASSERT_TRUE(hdr_rejects(longer, sizeof longer, "length"));
  put_u32_at(longer, 16, 3);
  CU_ASSERT_FALSE(hdr_rejects(longer, sizeof longer, NULL));
  free(m);
}

/* ---- messages: round trips ---- */

static void test_task_round_trip(void)
{
  WATCHDOG(10);
  int32_t items[3] = {1, 2, 3};
  keel__task in[3] = {
      {1, 0xdeadbeefcafef00dull, 0, "hello", 5},
      {UINT64_MAX, 1, 4, items, sizeof items},
      {77, keel__registry_hash("x"), 0, NULL, 0},
  };
  keel_buf b = {0};
  build_tasks(&b, 0xfeedu, in, 3);
  uint8_t *m = dupmem(b.data, b.len);
  keel__wire_hdr h;
  const char *why;
  CU_ASSERT_EQUAL_FATAL(keel__wire_check(m, b.len, &h, &why), KEEL_OK);
  CU_ASSERT_EQUAL(h.type, KEEL__M_TASKS);
  CU_ASSERT_EQUAL(h.exec, 0xfeedu);
  CU_ASSERT_EQUAL_FATAL(h.count, 3);
  keel__wire_rd r;
  keel__wire_reader(&r, m + KEEL__WIRE_HDR, h.len);
  for (int i = 0; i < 3; i++) {
    keel__task t;
    memset(&t, 0xee, sizeof t);
    CU_ASSERT_EQUAL_FATAL(keel__wire_get_task(&r, &t), KEEL_OK);
    CU_ASSERT_EQUAL(t.id, in[i].id);
    CU_ASSERT_EQUAL(t.fn, in[i].fn);
    CU_ASSERT_EQUAL(t.item_size, in[i].item_size);
    CU_ASSERT_EQUAL_FATAL(t.arg_len, in[i].arg_len);
    if (t.arg_len) {
      /* the argument is read in place */
      CU_ASSERT_TRUE((const uint8_t *)t.arg > m &&
                     (const uint8_t *)t.arg + t.arg_len <= m + b.len);
      CU_ASSERT_EQUAL(memcmp(t.arg, in[i].arg, t.arg_len), 0);
    }
  }
  CU_ASSERT_EQUAL(r.err, 0);
  CU_ASSERT_EQUAL(r.pos, r.len);
  keel__task extra;
  CU_ASSERT_EQUAL(keel__wire_get_task(&r, &extra), KEEL_EPROTO);
  CU_ASSERT_EQUAL(r.err, 1);
  free(m);
  keel__buf_free(&b);
}

static void test_result_round_trip(void)
{
  WATCHDOG(10);
  keel__result in[4] = {
      {5, 0, 123456, "res", 3},
      {6, KEEL_ETASK, UINT32_MAX, "task failed", 11},
      {UINT64_MAX, INT32_MIN, 0, NULL, 0},
      {8, 0, 1, NULL, 0},
  };
  keel_buf b = {0};
  build_results(&b, 4, in, 4);
  uint8_t *m = dupmem(b.data, b.len);
  keel__wire_hdr h;
  const char *why;
  CU_ASSERT_EQUAL_FATAL(keel__wire_check(m, b.len, &h, &why), KEEL_OK);
  CU_ASSERT_EQUAL(h.type, KEEL__M_RESULTS);
  CU_ASSERT_EQUAL(h.exec, 4);
  CU_ASSERT_EQUAL_FATAL(h.count, 4);
  keel__wire_rd r;
  keel__wire_reader(&r, m + KEEL__WIRE_HDR, h.len);
  for (int i = 0; i < 4; i++) {
    keel__result res;
    memset(&res, 0xee, sizeof res);
    CU_ASSERT_EQUAL_FATAL(keel__wire_get_result(&r, &res), KEEL_OK);
    CU_ASSERT_EQUAL(res.id, in[i].id);
    CU_ASSERT_EQUAL(res.status, in[i].status);
    CU_ASSERT_EQUAL(res.runtime_us, in[i].runtime_us);
    CU_ASSERT_EQUAL_FATAL(res.len, in[i].len);
    if (res.len)
      CU_ASSERT_EQUAL(memcmp(res.data, in[i].data, res.len), 0);
  }
  CU_ASSERT_EQUAL(r.err, 0);
  CU_ASSERT_EQUAL(r.pos, r.len);
  free(m);
  keel__buf_free(&b);
}

static void test_open_round_trip(void)
{
  WATCHDOG(10);
  keel__xopts cases[3] = {
      {2.5, 30.0, 1ull << 40, INT32_MAX, KEEL_ON_CRASH_RETRY, 0x99ull,
       "init", 4},
      {0, 0, 0, 0, KEEL_ON_CRASH_BREAK, 0, NULL, 0},
      {1e-6, 1e9, UINT64_MAX, 1, KEEL_ON_CRASH_FAIL_TASK, UINT64_MAX, "i", 1},
  };
  for (int k = 0; k < 3; k++) {
    keel_buf b = {0};
    keel_buf_append(&b, "junk", 4); /* wr_open appends at any offset */
    keel__wire_put_open(&b, 0x55u + (uint32_t)k, &cases[k]);
    uint8_t *m = dupmem(b.data + 4, b.len - 4);
    keel__wire_hdr h;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(keel__wire_check(m, b.len - 4, &h, &why), KEEL_OK);
    CU_ASSERT_EQUAL(h.type, KEEL__M_OPEN);
    CU_ASSERT_EQUAL(h.exec, 0x55u + (uint32_t)k);
    CU_ASSERT_EQUAL(h.count, 0);
    keel__wire_rd r;
    keel__wire_reader(&r, m + KEEL__WIRE_HDR, h.len);
    keel__xopts o;
    memset(&o, 0xee, sizeof o);
    CU_ASSERT_EQUAL_FATAL(keel__wire_get_open(&r, &o), KEEL_OK);
    CU_ASSERT_EQUAL(o.task_timeout, cases[k].task_timeout);
    CU_ASSERT_EQUAL(o.idle_timeout, cases[k].idle_timeout);
    CU_ASSERT_EQUAL(o.memory_limit, cases[k].memory_limit);
    CU_ASSERT_EQUAL(o.max_tasks, cases[k].max_tasks);
    CU_ASSERT_EQUAL(o.on_crash, cases[k].on_crash);
    CU_ASSERT_EQUAL(o.init_fn, cases[k].init_fn);
    CU_ASSERT_EQUAL_FATAL(o.initarg_len, cases[k].initarg_len);
    if (o.initarg_len)
      CU_ASSERT_EQUAL(memcmp(o.initarg, cases[k].initarg, o.initarg_len), 0);
    CU_ASSERT_EQUAL(r.pos, r.len);
    free(m);
    keel__buf_free(&b);
  }
}

static void test_death_round_trip(void)
{
  WATCHDOG(10);
  keel__death cases[4] = {
      {9, KEEL__C_CRASH, 11, -1, "Segmentation fault", "#0 f()\n#1 main()",
       12345},
      {0, KEEL__C_INIT, 0, 255, NULL, NULL, 0},
      {UINT64_MAX, KEEL__C_PROTO, 64, 0, "", "bt", INT32_MAX},
      {3, KEEL__C_DEADLINE, 9, -1, "deadline", "", 1},
  };
  for (int k = 0; k < 4; k++) {
    keel_buf b = {0};
    keel__wire_put_death(&b, 7, &cases[k]);
    uint8_t *m = dupmem(b.data, b.len);
    keel__wire_hdr h;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(keel__wire_check(m, b.len, &h, &why), KEEL_OK);
    CU_ASSERT_EQUAL(h.type, KEEL__M_DEATH);
    CU_ASSERT_EQUAL(h.exec, 7);
    keel__wire_rd r;
    keel__wire_reader(&r, m + KEEL__WIRE_HDR, h.len);
    keel__death d;
    memset(&d, 0, sizeof d);
    CU_ASSERT_EQUAL_FATAL(keel__wire_get_death(&r, &d), KEEL_OK);
    CU_ASSERT_EQUAL(d.task_id, cases[k].task_id);
    CU_ASSERT_EQUAL(d.cause, cases[k].cause);
    CU_ASSERT_EQUAL(d.signal, cases[k].signal);
    CU_ASSERT_EQUAL(d.exit_status, cases[k].exit_status);
    CU_ASSERT_EQUAL(d.pid, cases[k].pid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d.backtrace);
    CU_ASSERT_STRING_EQUAL(d.message,
                           cases[k].message ? cases[k].message : "");
    CU_ASSERT_STRING_EQUAL(d.backtrace,
                           cases[k].backtrace ? cases[k].backtrace : "");
    /* owned copies, outside the message */
    CU_ASSERT_TRUE((uint8_t *)d.message < m ||
                   (uint8_t *)d.message >= m + b.len);
    CU_ASSERT_EQUAL(r.pos, r.len);
    free(d.message);
    free(d.backtrace);
    free(m);
    keel__buf_free(&b);
  }
  /* every cause in range */
  int bad = 0;
  for (int c = KEEL__C_CRASH; c <= KEEL__C_PROTO; c++) {
    keel__death in = {1, c, 0, 0, "m", "b", 0}, out;
    keel_buf b = {0};
    keel__wire_put_death(&b, 1, &in);
    uint8_t *m = dupmem(b.data + KEEL__WIRE_HDR, b.len - KEEL__WIRE_HDR);
    keel__wire_rd r;
    keel__wire_reader(&r, m, b.len - KEEL__WIRE_HDR);
    if (keel__wire_get_death(&r, &out) != KEEL_OK || out.cause != c)
      bad++;
    free(out.message);
    free(out.backtrace);
    free(m);
    keel__buf_free(&b);
  }
  CU_ASSERT_EQUAL(bad, 0);
}

/* ---- hostile input ---- */

static void test_every_truncation(void)
{
  WATCHDOG(30);
  for (size_t s = 0; s < NSAMPLES; s++) {
    keel_buf b = {0};
    samples[s](&b);
    int bad = 0;
    /* the whole message decodes */
    uint8_t *m = dupmem(b.data, b.len);
    CU_ASSERT_EQUAL(decode(m, b.len, &bad), KEEL_OK);
    free(m);
    CU_ASSERT_EQUAL(bad, 0);
    int hdr_ok = 0, decoded = 0, missing_err = 0;
    for (size_t n = 0; n < b.len; n++) {
      /* cut short: the header's length gives it away */
      m = dupmem(b.data, n);
      keel__wire_hdr h;
      const char *why = NULL;
      if (keel__wire_check(m, n, &h, &why) == KEEL_OK || !why)
        hdr_ok++;
      free(m);
      /* cut short and the length patched to match: the payload readers
       * must notice, reading nothing past the n bytes */
      if (n >= KEEL__WIRE_HDR) {
        m = dupmem(b.data, n);
        put_u32_at(m, 16, (uint32_t)(n - KEEL__WIRE_HDR));
        if (decode(m, n, &bad) == KEEL_OK)
          decoded++;
        free(m);
        /* and the payload alone, record by record */
        size_t pl = n - KEEL__WIRE_HDR;
        m = dupmem(b.data + KEEL__WIRE_HDR, pl);
        keel__wire_rd r;
        keel__wire_reader(&r, m, pl);
        int rc = KEEL_OK;
        uint8_t type = (uint8_t)b.data[5];
        uint32_t count;
        memcpy(&count, b.data + 12, 4);
        if (type == KEEL__M_TASKS) {
          for (uint32_t i = 0; i < count && !rc; i++) {
            keel__task t;
            rc = keel__wire_get_task(&r, &t);
          }
        } else if (type == KEEL__M_RESULTS) {
          for (uint32_t i = 0; i < count && !rc; i++) {
            keel__result res;
            rc = keel__wire_get_result(&r, &res);
          }
        } else if (type == KEEL__M_OPEN) {
          keel__xopts o;
          rc = keel__wire_get_open(&r, &o);
        } else {
          keel__death d;
          rc = keel__wire_get_death(&r, &d);
          if (!rc) {
            free(d.message);
            free(d.backtrace);
          }
        }
        if (rc != KEEL_EPROTO || !r.err || r.pos > r.len)
          missing_err++;
        free(m);
      }
    }
    CU_ASSERT_EQUAL(hdr_ok, 0);
    CU_ASSERT_EQUAL(decoded, 0);
    CU_ASSERT_EQUAL(missing_err, 0);
    CU_ASSERT_EQUAL(bad, 0);
    keel__buf_free(&b);
  }
}

/* Decode a lone TASKS payload holding one task whose fields are given. */
static int rd_one_task(uint64_t id, uint64_t fn, uint32_t item_size,
                       uint32_t arg_len_field, const void *arg, size_t arg_n,
                       keel__task *t, keel__wire_rd *r)
{
  keel_buf b = {0};
  keel__wire_put_u64(&b, id);
  keel__wire_put_u64(&b, fn);
  keel__wire_put_u32(&b, item_size);
  keel__wire_put_u32(&b, arg_len_field);
  keel_buf_append(&b, arg, arg_n);
  uint8_t *m = dupmem(b.data, b.len);
  keel__wire_reader(r, m, b.len);
  int rc = keel__wire_get_task(r, t);
  free(m);
  keel__buf_free(&b);
  return rc;
}

static void test_task_hostile(void)
{
  WATCHDOG(10);
  keel__task t;
  keel__wire_rd r;
  /* a length claiming more bytes than remain */
  static const uint32_t lies[] = {5, 6, 1000, 0x7fffffffu, 0xfffffffcu,
                                  0xffffffffu};
  for (size_t i = 0; i < sizeof lies / sizeof *lies; i++) {
    CU_ASSERT_EQUAL(rd_one_task(1, 2, 0, lies[i], "abcd", 4, &t, &r),
                    KEEL_EPROTO);
    CU_ASSERT_EQUAL(r.err, 1);
    CU_ASSERT_PTR_NULL(t.arg);
    CU_ASSERT_EQUAL(t.arg_len, 0);
  }
  /* the honest length passes */
  CU_ASSERT_EQUAL(rd_one_task(1, 2, 0, 4, "abcd", 4, &t, &r), KEEL_OK);
  CU_ASSERT_EQUAL(t.arg_len, 4);
  /* id 0 and fn 0 are not tasks */
  CU_ASSERT_EQUAL(rd_one_task(0, 2, 0, 4, "abcd", 4, &t, &r), KEEL_EPROTO);
  CU_ASSERT_EQUAL(r.err, 1);
  CU_ASSERT_EQUAL(rd_one_task(1, 0, 0, 4, "abcd", 4, &t, &r), KEEL_EPROTO);
  CU_ASSERT_EQUAL(r.err, 1);
  /* a chunk must hold whole items */
  CU_ASSERT_EQUAL(rd_one_task(1, 2, 4, 6, "abcdef", 6, &t, &r), KEEL_EPROTO);
  CU_ASSERT_EQUAL(r.err, 1);
  CU_ASSERT_EQUAL(rd_one_task(1, 2, 4, 9, "abcdefghi", 9, &t, &r),
                  KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_task(1, 2, 8, 4, "abcd", 4, &t, &r), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_task(1, 2, 3, 9, "abcdefghi", 9, &t, &r), KEEL_OK);
  CU_ASSERT_EQUAL(t.item_size, 3);
  CU_ASSERT_EQUAL(rd_one_task(1, 2, 4, 8, "abcdefgh", 8, &t, &r), KEEL_OK);
  CU_ASSERT_EQUAL(rd_one_task(1, 2, 1, 5, "abcde", 5, &t, &r), KEEL_OK);
}

static int rd_one_result(uint64_t id, uint32_t status, uint32_t len_field,
                         const void *data, size_t n, keel__result *res)
{
  keel_buf b = {0};
  keel__wire_put_u64(&b, id);
  keel__wire_put_u32(&b, status);
  keel__wire_put_u32(&b, 10);
  keel__wire_put_u32(&b, len_field);
  keel_buf_append(&b, data, n);
  uint8_t *m = dupmem(b.data, b.len);
  keel__wire_rd r;
  keel__wire_reader(&r, m, b.len);
  int rc = keel__wire_get_result(&r, res);
  if ((rc != KEEL_OK) != (r.err != 0))
    rc = 12345; /* return code and err flag disagree */
  free(m);
  keel__buf_free(&b);
  return rc;
}

static void test_result_hostile(void)
{
  WATCHDOG(10);
  keel__result res;
  CU_ASSERT_EQUAL(rd_one_result(1, 0, 3, "abc", 3, &res), KEEL_OK);
  CU_ASSERT_EQUAL(rd_one_result(1, 0, 4, "abc", 3, &res), KEEL_EPROTO);
  CU_ASSERT_PTR_NULL(res.data);
  CU_ASSERT_EQUAL(res.len, 0);
  CU_ASSERT_EQUAL(rd_one_result(1, 0, 0xffffffffu, "abc", 3, &res),
                  KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_result(0, 0, 3, "abc", 3, &res), KEEL_EPROTO);
  /* a status is 0 or a negative KEEL_E* code */
  CU_ASSERT_EQUAL(rd_one_result(1, 1, 3, "abc", 3, &res), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_result(1, 0x7fffffffu, 3, "abc", 3, &res),
                  KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_result(1, (uint32_t)KEEL_ETASK, 3, "abc", 3, &res),
                  KEEL_OK);
  CU_ASSERT_EQUAL(res.status, KEEL_ETASK);
}

/* OPEN payload with the given fields; returns rd_open's code. */
static int rd_one_open(double tt, double it, int32_t max_tasks,
                       int32_t on_crash, uint32_t len_field)
{
  keel_buf b = {0};
  keel__wire_put_f64(&b, tt);
  keel__wire_put_f64(&b, it);
  keel__wire_put_u64(&b, 0);
  keel__wire_put_u32(&b, (uint32_t)max_tasks);
  keel__wire_put_u32(&b, (uint32_t)on_crash);
  keel__wire_put_u64(&b, 0);
  keel__wire_put_u32(&b, len_field);
  keel_buf_append(&b, "ab", 2);
  uint8_t *m = dupmem(b.data, b.len);
  keel__wire_rd r;
  keel__wire_reader(&r, m, b.len);
  keel__xopts o;
  int rc = keel__wire_get_open(&r, &o);
  if ((rc != KEEL_OK) != (r.err != 0))
    rc = 12345;
  free(m);
  keel__buf_free(&b);
  return rc;
}

static void test_open_hostile(void)
{
  WATCHDOG(10);
  CU_ASSERT_EQUAL(rd_one_open(1, 1, 0, 0, 2), KEEL_OK);
  CU_ASSERT_EQUAL(rd_one_open(0, 0, 5, KEEL_ON_CRASH_RETRY, 2), KEEL_OK);
  /* negative or NaN timeouts */
  CU_ASSERT_EQUAL(rd_one_open(-1, 1, 0, 0, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(-1e-300, 1, 0, 0, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(-INFINITY, 1, 0, 0, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(NAN, 1, 0, 0, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(-NAN, 1, 0, 0, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(1, -0.5, 0, 0, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(1, NAN, 0, 0, 2), KEEL_EPROTO);
  /* negative max_tasks, unknown on_crash */
  CU_ASSERT_EQUAL(rd_one_open(1, 1, -1, 0, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(1, 1, INT32_MIN, 0, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(1, 1, 0, -1, 2), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(1, 1, 0, KEEL_ON_CRASH_RETRY + 1, 2),
                  KEEL_EPROTO);
  /* initarg length lies */
  CU_ASSERT_EQUAL(rd_one_open(1, 1, 0, 0, 3), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_open(1, 1, 0, 0, 0xffffffffu), KEEL_EPROTO);
}

/* DEATH payload; the string lengths can lie.  Returns rd_death's code and
 * flags (rc 12345) a failure that left strings behind. */
static int rd_one_death(uint32_t cause, int32_t sig, int32_t status,
                        uint32_t msg_len_field, uint32_t bt_len_field)
{
  keel_buf b = {0};
  keel__wire_put_u64(&b, 1);
  keel__wire_put_u32(&b, cause);
  keel__wire_put_u32(&b, (uint32_t)sig);
  keel__wire_put_u32(&b, (uint32_t)status);
  keel__wire_put_u32(&b, msg_len_field);
  keel_buf_append(&b, "msg", 3);
  keel__wire_put_u32(&b, bt_len_field);
  keel_buf_append(&b, "trace", 5);
  keel__wire_put_u32(&b, 4321); /* the task process's pid */
  uint8_t *m = dupmem(b.data, b.len);
  keel__wire_rd r;
  keel__wire_reader(&r, m, b.len);
  keel__death d;
  memset(&d, 0, sizeof d);
  int rc = keel__wire_get_death(&r, &d);
  if (rc == KEEL_OK) {
    if (!d.message || !d.backtrace)
      rc = 12345;
  } else if (d.message || d.backtrace || !r.err) {
    rc = 12345;
  }
  free(d.message);
  free(d.backtrace);
  free(m);
  keel__buf_free(&b);
  return rc;
}

static void test_death_hostile(void)
{
  WATCHDOG(10);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 11, -1, 3, 5), KEEL_OK);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 0, 0, 3, 5), KEEL_OK);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 64, 255, 3, 5), KEEL_OK);
  /* signal out of range */
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, -1, -1, 3, 5), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 65, -1, 3, 5), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 1000, -1, 3, 5), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, INT32_MIN, -1, 3, 5),
                  KEEL_EPROTO);
  /* exit status out of range */
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 0, -2, 3, 5), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 0, 256, 3, 5), KEEL_EPROTO);
  /* unknown cause */
  CU_ASSERT_EQUAL(rd_one_death(0, 9, -1, 3, 5), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_PROTO + 1, 9, -1, 3, 5), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(0xffffffffu, 9, -1, 3, 5), KEEL_EPROTO);
  /* string lengths that lie: the message's, then the backtrace's */
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 9, -1, 13, 5), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 9, -1, 0xffffffffu, 5),
                  KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 9, -1, 3, 6), KEEL_EPROTO);
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 9, -1, 3, 0x80000000u),
                  KEEL_EPROTO);
  /* a shorter honest-looking length leaves bytes the next field misreads */
  CU_ASSERT_EQUAL(rd_one_death(KEEL__C_CRASH, 9, -1, 2, 5), KEEL_EPROTO);
}

/* ---- random corruption ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

static void test_random_corruption(void)
{
  WATCHDOG(120);
  keel_buf orig[NSAMPLES];
  for (size_t s = 0; s < NSAMPLES; s++) {
    memset(&orig[s], 0, sizeof orig[s]);
    samples[s](&orig[s]);
    CU_ASSERT_FATAL(orig[s].len + 64 <= 512);
  }
  int bad = 0, accepted = 0, rejected = 0;
  uint8_t work[512];
  for (int it = 0; it < 5000; it++) {
    keel_buf *o = &orig[rng() % NSAMPLES];
    size_t n = o->len;
    memcpy(work, o->data, n);
    switch (rng() % 5) {
    case 0: /* flip a few bytes anywhere */
      for (int k = 1 + (int)(rng() % 4); k > 0; k--)
        work[rng() % n] ^= (uint8_t)(1 + rng() % 255);
      break;
    case 1: /* flip bytes of the payload only, header kept valid */
      for (int k = 1 + (int)(rng() % 4); k > 0; k--)
        work[KEEL__WIRE_HDR + rng() % (n - KEEL__WIRE_HDR)] =
            (uint8_t)rng();
      break;
    case 2: /* cut short, the length patched to match */
      n = KEEL__WIRE_HDR + rng() % (n - KEEL__WIRE_HDR);
      put_u32_at(work, 16, (uint32_t)(n - KEEL__WIRE_HDR));
      break;
    case 3: /* random bytes appended, the length patched to match */
      for (int k = 1 + (int)(rng() % 60); k > 0; k--)
        work[n++] = (uint8_t)rng();
      put_u32_at(work, 16, (uint32_t)(n - KEEL__WIRE_HDR));
      break;
    default: { /* a random u32 (often a length) at a random place */
      size_t at = KEEL__WIRE_HDR + rng() % (n - KEEL__WIRE_HDR - 3);
      uint32_t v = (rng() & 1) ? (uint32_t)rng() : (uint32_t)(rng() % 64);
      put_u32_at(work, at, v);
      if (rng() % 4 == 0) /* and maybe the count */
        put_u32_at(work, 12, (uint32_t)rng());
      break;
    }
    }
    uint8_t *m = dupmem(work, n);
    if (decode(m, n, &bad) == KEEL_OK)
      accepted++;
    else
      rejected++;
    free(m);
  }
  CU_ASSERT_EQUAL(bad, 0);
  /* the corruption both broke messages and left some decodable */
  CU_ASSERT_TRUE(accepted > 100);
  CU_ASSERT_TRUE(rejected > 100);
  for (size_t s = 0; s < NSAMPLES; s++)
    keel__buf_free(&orig[s]);
}

/* ---- HELLO, both ways, and map chunk items ---- */

/* Decode the payload of a HELLO message built into b. */
static int rd_hello_of(const keel_buf *b, size_t cut, keel__hello *h,
                       bool from_master)
{
  keel__wire_rd r;
  keel__wire_reader(&r, b->data + KEEL__WIRE_HDR, cut);
  return keel__wire_get_hello(&r, h, from_master);
}

static void test_hello_round_trip(void)
{
  WATCHDOG(10);
  keel__hello nanny = {.pid = 4242, .core = 3, .host = "node17",
                       .node = "boot pid:[1]"};
  keel__hello master = {.pid = 77, .core = -1, .timeout = 12.5,
                        .port = 40123, .token = 0x1234567890abcdefull,
                        .node = "boot pid:[2]", .addrs = "10.0.0.1,fe80::1"};
  keel_buf b = {0}, c = {0};
  keel__hello h;
  keel__wire_put_hello(&b, &nanny, false);
  CU_ASSERT_EQUAL_FATAL(rd_hello_of(&b, b.len - KEEL__WIRE_HDR, &h, false),
                        KEEL_OK);
  CU_ASSERT_EQUAL(h.pid, 4242);
  CU_ASSERT_EQUAL(h.core, 3);
  CU_ASSERT_STRING_EQUAL(h.host, "node17");
  CU_ASSERT_STRING_EQUAL(h.node, "boot pid:[1]");
  keel__wire_hello_free(&h);
  keel__wire_put_hello(&c, &master, true);
  CU_ASSERT_EQUAL_FATAL(rd_hello_of(&c, c.len - KEEL__WIRE_HDR, &h, true),
                        KEEL_OK);
  CU_ASSERT_EQUAL(h.pid, 77);
  CU_ASSERT_EQUAL(h.timeout, 12.5);
  CU_ASSERT_EQUAL(h.port, 40123);
  CU_ASSERT_EQUAL(h.token, 0x1234567890abcdefull);
  CU_ASSERT_PTR_NULL(h.host);
  CU_ASSERT_STRING_EQUAL(h.node, "boot pid:[2]");
  CU_ASSERT_STRING_EQUAL(h.addrs, "10.0.0.1,fe80::1");
  keel__wire_hello_free(&h);
  /* every truncation fails and leaves nothing to free */
  for (size_t cut = 0; cut < b.len - KEEL__WIRE_HDR; cut++) {
    CU_ASSERT_EQUAL(rd_hello_of(&b, cut, &h, false), KEEL_EPROTO);
    CU_ASSERT_PTR_NULL(h.host);
    CU_ASSERT_PTR_NULL(h.node);
  }
  for (size_t cut = 0; cut < c.len - KEEL__WIRE_HDR; cut++)
    CU_ASSERT_EQUAL(rd_hello_of(&c, cut, &h, true), KEEL_EPROTO);
  keel__buf_free(&b);
  keel__buf_free(&c);
}

static void test_hello_hostile(void)
{
  WATCHDOG(10);
  keel__hello bad_nanny[] = {
      {.pid = 0, .host = "h", .node = "n"},
      {.pid = (uint32_t)INT32_MAX + 1u, .host = "h", .node = "n"},
      {.pid = 5, .core = -2, .host = "h", .node = "n"}};
  double bad_timeouts[] = {0, -1, 1e7, NAN, INFINITY};
  for (size_t i = 0; i < sizeof bad_nanny / sizeof *bad_nanny; i++) {
    keel_buf b = {0};
    keel__hello h;
    keel__wire_put_hello(&b, &bad_nanny[i], false);
    CU_ASSERT_EQUAL(rd_hello_of(&b, b.len - KEEL__WIRE_HDR, &h, false),
                    KEEL_EPROTO);
    keel__buf_free(&b);
  }
  for (size_t i = 0; i < sizeof bad_timeouts / sizeof *bad_timeouts; i++) {
    keel_buf b = {0};
    keel__hello h, m = {.pid = 9, .core = -1, .timeout = bad_timeouts[i],
                        .node = "n"};
    keel__wire_put_hello(&b, &m, true);
    CU_ASSERT_EQUAL(rd_hello_of(&b, b.len - KEEL__WIRE_HDR, &h, true),
                    KEEL_EPROTO);
    keel__buf_free(&b);
  }
  /* a lifeline port past 65535 */
  keel_buf b = {0};
  keel__hello h, m = {.pid = 9, .core = -1, .timeout = 10, .port = 65536,
                      .node = "n", .addrs = "10.0.0.1"};
  keel__wire_put_hello(&b, &m, true);
  CU_ASSERT_EQUAL(rd_hello_of(&b, b.len - KEEL__WIRE_HDR, &h, true),
                  KEEL_EPROTO);
  keel__buf_free(&b);
}

static void test_item_round_trip_and_hostile(void)
{
  WATCHDOG(10);
  keel_buf b = {0};
  keel__wire_put_item(&b, 0, "abc", 3);
  keel__wire_put_item(&b, KEEL_ETASK, "why", 3);
  keel__wire_put_item(&b, 5, "", 0); /* a status > 0 is no KEEL_E* */
  keel__wire_rd r;
  int32_t status;
  const void *p;
  uint32_t n;
  keel__wire_reader(&r, b.data, b.len);
  CU_ASSERT_EQUAL(keel__wire_get_item(&r, &status, &p, &n), KEEL_OK);
  CU_ASSERT_EQUAL(status, 0);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_EQUAL(memcmp(p, "abc", 3), 0);
  CU_ASSERT_EQUAL(keel__wire_get_item(&r, &status, &p, &n), KEEL_OK);
  CU_ASSERT_EQUAL(status, KEEL_ETASK);
  CU_ASSERT_EQUAL(keel__wire_get_item(&r, &status, &p, &n), KEEL_EPROTO);
  for (size_t cut = 0; cut < 11; cut++) { /* inside the first item */
    keel__wire_reader(&r, b.data, cut);
    CU_ASSERT_EQUAL(keel__wire_get_item(&r, &status, &p, &n), KEEL_EPROTO);
  }
  keel__buf_free(&b);
}

int main(void)
{
  static const tu_test tests[] = {
      TU_TEST(test_primitives_round_trip),
      TU_TEST(test_reader_partial_fields),
      TU_TEST(test_header_round_trip),
      TU_TEST(test_header_hostile),
      TU_TEST(test_task_round_trip),
      TU_TEST(test_result_round_trip),
      TU_TEST(test_open_round_trip),
      TU_TEST(test_death_round_trip),
      TU_TEST(test_every_truncation),
      TU_TEST(test_task_hostile),
      TU_TEST(test_result_hostile),
      TU_TEST(test_open_hostile),
      TU_TEST(test_death_hostile),
      TU_TEST(test_random_corruption),
      TU_TEST(test_hello_round_trip),
      TU_TEST(test_hello_hostile),
      TU_TEST(test_item_round_trip_and_hostile),
  };
  return tu_run("wire", tests, sizeof tests / sizeof *tests);
}
