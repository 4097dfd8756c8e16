/* fuzz_wire: every message a keel process decodes from another, fed with
 * arbitrary bytes.  The first byte picks the receiver, the rest is the
 * message as it would arrive:
 *   0  the master, from a nanny: HELLO, RESULTS (and a map chunk's items
 *      inside each result), DEATH, OUTPUT, RECALLED, CLOSED, BYE,
 *      HEARTBEAT;
 *   1  a nanny, from the master: HELLO, OPEN, TASKS, RECALL, CLOSE, STOP,
 *      HEARTBEAT;
 *   2  a nanny, from its task process: RESULTS, INITFAIL;
 *   3  a task process, from its nanny: OPEN, TASKS.
 * Built with clang -fsanitize=fuzzer,address,undefined (make fuzz); the
 * corpus in tests/fuzz/corpus is replayed by make check (fuzz_replay). */
#include "proto/wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void results(keel__wire_rd *rd, uint32_t count, bool items)
{
  for (uint32_t i = 0; i < count; i++) {
    keel__result r;
    if (keel__wire_get_result(rd, &r))
      return;
    keel__wire_rd ir;
    int32_t status;
    const void *p;
    uint32_t n;
    keel__wire_reader(&ir, r.data, r.len);
    while (items && ir.pos < ir.len && !keel__wire_get_item(&ir, &status, &p, &n))
      ;
  }
}

static void tasks(keel__wire_rd *rd, uint32_t count)
{
  for (uint32_t i = 0; i < count; i++) {
    keel__task t;
    if (keel__wire_get_task(rd, &t))
      return;
    if (t.item_size) /* as the task process splits a chunk */
      for (uint32_t k = 0; k < t.arg_len / t.item_size; k++)
        (void)((const char *)t.arg)[k * t.item_size];
  }
}

static void hello(keel__wire_rd *rd, bool from_master)
{
  keel__hello h;
  if (keel__wire_get_hello(rd, &h, from_master) == KEEL_OK)
    keel__wire_hello_free(&h);
}

static void open_msg(keel__wire_rd *rd)
{
  keel__xopts o;
  (void)keel__wire_get_open(rd, &o);
}

static void death(keel__wire_rd *rd)
{
  keel__death d;
  if (keel__wire_get_death(rd, &d) == KEEL_OK) {
    free(d.message);
    free(d.backtrace);
  }
}

static void output(keel__wire_rd *rd, uint32_t count)
{
  keel__output o;
  for (uint32_t i = 0; i < count; i++) {
    if (keel__wire_get_output(rd, &o))
      return;
    for (uint32_t k = 0; k < o.len; k++) /* as the master prints it */
      (void)((const char *)o.data)[k];
  }
}

/* The ids of the tasks a nanny gave back, as master/dispatch.c reads
 * them. */
static void recalled(keel__wire_rd *rd, uint32_t count)
{
  for (uint32_t i = 0; i < count && !rd->err; i++)
    (void)keel__wire_get_u64(rd);
}

static void receive(int who, const keel__wire_hdr *h, keel__wire_rd *rd)
{
  switch (who * 16 + h->type) {
  case 0 * 16 + KEEL__M_HELLO: hello(rd, false); break;
  case 0 * 16 + KEEL__M_RESULTS: results(rd, h->count, true); break;
  case 0 * 16 + KEEL__M_DEATH: death(rd); break;
  case 0 * 16 + KEEL__M_OUTPUT: output(rd, h->count); break;
  case 0 * 16 + KEEL__M_RECALLED: recalled(rd, h->count); break;
  case 1 * 16 + KEEL__M_HELLO: hello(rd, true); break;
  case 1 * 16 + KEEL__M_OPEN:
  case 3 * 16 + KEEL__M_OPEN: open_msg(rd); break;
  case 1 * 16 + KEEL__M_TASKS:
  case 3 * 16 + KEEL__M_TASKS: tasks(rd, h->count); break;
  case 2 * 16 + KEEL__M_RESULTS: results(rd, h->count, false); break;
  case 2 * 16 + KEEL__M_INITFAIL: free(keel__wire_get_str(rd)); break;
  default: break; /* header-only messages, or refused by the receiver */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  keel__wire_hdr h;
  const char *why;
  keel__wire_rd rd;
  if (size < 1)
    return 0;
  int who = data[0] % 4;
  if (keel__wire_check(data + 1, size - 1, &h, &why))
    return 0;
  keel__wire_reader(&rd, data + 1 + KEEL__WIRE_HDR, h.len);
  receive(who, &h, &rd);
  return 0;
}
