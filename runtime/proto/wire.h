/*
 * proto/wire.h: the wire format, every message between the master, the
 * nannies and the task processes (doc/protocol.md describes each one).  A
 * message is a 20-byte header (magic, version, type, exec, count, payload
 * length) and a payload of fields in host byte order.  Encoders append to a
 * keel_buf; decoders read through a bounds-checked reader and never trust a
 * length.  Free of MPI: the task process uses it too.
 */
#ifndef KEEL_PROTO_WIRE_H
#define KEEL_PROTO_WIRE_H

#include "keel_int.h"

#include <stdbool.h>

#define KEEL__WIRE_MAGIC 0x4C45454Bu /* "KEEL" little-endian */
#define KEEL__WIRE_VERSION 2 /* 2: the master's HELLO names its lifeline */
#define KEEL__WIRE_HDR 20
#define KEEL__WIRE_MAX (1u << 30) /* largest payload, bytes */
/* Largest task argument and largest result: a message's payload less room
 * for the fields around them. */
#define KEEL__PAYLOAD_MAX (KEEL__WIRE_MAX - 4096)
_Static_assert(KEEL__PAYLOAD_MAX == KEEL_ARG_MAX &&
                   KEEL__PAYLOAD_MAX == KEEL_RESULT_MAX,
               "keel.h states the limits");
/* A result this big travels alone, so that the master can hand the whole
 * message buffer to its future: no fresh pages, no second copy. */
#define KEEL__RESULT_ALONE (16u << 10)
#define KEEL__MPI_TAG 0x4b1
/* Seconds of silence after which master and nanny give each other up
 * (KEEL_HEARTBEAT_TIMEOUT on the master; it tells its nannies). */
#define KEEL__HEARTBEAT_TIMEOUT 10.0

enum keel__msg {
  KEEL__M_HELLO = 1,    /* nanny -> master: pid, core, host, node;
                           master -> nanny: pid, timeout, node */
  KEEL__M_OPEN = 2,     /* master -> nanny: start serving an executor */
  KEEL__M_TASKS = 3,    /* master -> nanny -> task process */
  KEEL__M_RESULTS = 4,  /* task process -> nanny -> master */
  KEEL__M_DEATH = 5,    /* nanny -> master: a task process died */
  KEEL__M_CLOSE = 6,    /* master -> nanny: stop serving an executor */
  KEEL__M_CLOSED = 7,   /* nanny -> master: its task process is gone */
  KEEL__M_STOP = 8,     /* master -> nanny: exit (count: KEEL__STOP_*) */
  KEEL__M_BYE = 9,      /* nanny -> master: exiting */
  KEEL__M_INITFAIL = 10,/* task process -> nanny: the initializer failed */
  KEEL__M_HEARTBEAT = 11,/* both ways: still alive */
  KEEL__M_OUTPUT = 12,  /* nanny -> master: lines its task processes wrote */
  KEEL__M_RECALL = 13,  /* master -> nanny: give back up to count tasks
                           not started */
  KEEL__M_RECALLED = 14,/* nanny -> master: the ids of those it gave back */
  KEEL__M_TASKFD = 15,  /* nanny -> task process: a TASKS message of one
                           task in a memfd of the nanny's (worker/shmbuf.c):
                           u64 id, u32 fd, u32 offset, u32 length */
  KEEL__M_LAST = 15
};

/* STOP's count: flags. */
enum {
  /* A rank of the job ended without MPI_Finalize.  Open MPI 4.1's
   * MPI_Finalize fences with every rank of the job through PMIx and can
   * then wait forever for the lost one, so exit without it. */
  KEEL__STOP_NO_FINALIZE = 1
};

/* Why a task process died (DEATH.cause). */
enum keel__cause {
  KEEL__C_CRASH = 1,    /* signal or exit while running a task */
  KEEL__C_DEADLINE = 2, /* killed by the nanny past task_timeout */
  KEEL__C_MEMORY = 3,   /* killed by the nanny past memory_limit */
  KEEL__C_INIT = 4,     /* the initializer failed or crashed */
  KEEL__C_SPAWN = 5,    /* the task process could not be started */
  KEEL__C_PROTO = 6     /* it sent a malformed message */
};

typedef struct keel__wire_hdr {
  uint8_t type;
  uint32_t exec;
  uint32_t count;
  uint32_t len; /* payload bytes after the header */
} keel__wire_hdr;

/* Bounds-checked reader: any overrun sets err and yields zeros. */
typedef struct keel__wire_rd {
  const uint8_t *p;
  size_t len, pos;
  int err;
} keel__wire_rd;

void keel__wire_put_hdr(keel_buf *b, uint8_t type, uint32_t exec, uint32_t count);
/* Patch the payload length (and count) of the message starting at off. */
void keel__wire_finish(keel_buf *b, size_t off, uint32_t count);
/* The same for a message whose last `extra` bytes are not in b: the
 * caller writes them after it, from where they lie (a large argument or
 * result, after its *_head() fields). */
void keel__wire_finish_plus(keel_buf *b, size_t off, uint32_t count,
                            size_t extra);
void keel__wire_put_u32(keel_buf *b, uint32_t v);
void keel__wire_put_u64(keel_buf *b, uint64_t v);
void keel__wire_put_f64(keel_buf *b, double v);
void keel__wire_put_bytes(keel_buf *b, const void *p, size_t n); /* u32 len + n */
void keel__wire_put_str(keel_buf *b, const char *s);             /* NULL = "" */

/* Validate a message's header: KEEL_OK, or KEEL_EPROTO with *why set. */
int keel__wire_check(const void *msg, size_t n, keel__wire_hdr *h, const char **why);
void keel__wire_reader(keel__wire_rd *r, const void *payload, size_t n);
uint32_t keel__wire_get_u32(keel__wire_rd *r);
uint64_t keel__wire_get_u64(keel__wire_rd *r);
double keel__wire_get_f64(keel__wire_rd *r);
const void *keel__wire_get_bytes(keel__wire_rd *r, uint32_t *n);
/* A NUL-terminated copy of a string field (caller frees), NULL on error. */
char *keel__wire_get_str(keel__wire_rd *r);

/* One task as it travels: item_size 0 for a single task, else a chunk of
 * arg_len / item_size items of a map. */
typedef struct keel__task {
  uint64_t id, fn;
  uint32_t item_size;
  const void *arg;
  uint32_t arg_len;
} keel__task;
typedef struct keel__result {
  uint64_t id;
  int32_t status;
  uint32_t runtime_us;
  const void *data;
  uint32_t len;
} keel__result;
void keel__wire_put_task(keel_buf *b, const keel__task *t);
/* put_task() and put_result() without the argument's or result's bytes:
 * their length only, the bytes to follow (keel__wire_finish_plus()). */
void keel__wire_put_task_head(keel_buf *b, const keel__task *t);
void keel__wire_put_result_head(keel_buf *b, const keel__result *res);
/* A TASKS message of one task, built where its argument lies: the
 * KEEL__TASK_PREFIX bytes written at p (just before t->arg) make p[0 ..
 * KEEL__TASK_PREFIX + arg_len) the message keel__wire_put_task() and
 * keel__wire_finish() would have built, without copying the argument.
 * False, with nothing written, without memory. */
#define KEEL__TASK_PREFIX (KEEL__WIRE_HDR + 8 + 8 + 4 + 4)
bool keel__wire_task_prefix(void *p, uint32_t exec, const keel__task *t);
int keel__wire_get_task(keel__wire_rd *r, keel__task *t);
void keel__wire_put_result(keel_buf *b, const keel__result *res);
int keel__wire_get_result(keel__wire_rd *r, keel__result *res);

/* The settings of an executor that its task processes need (OPEN). */
typedef struct keel__xopts {
  double task_timeout, idle_timeout;
  uint64_t memory_limit;
  int32_t max_tasks, on_crash;
  uint64_t init_fn;
  const void *initarg;
  uint32_t initarg_len;
} keel__xopts;
void keel__wire_put_open(keel_buf *b, uint32_t exec, const keel__xopts *o);
int keel__wire_get_open(keel__wire_rd *r, keel__xopts *o);

/* HELLO: a nanny's (pid, core, host, node) or the master's answer (pid,
 * heartbeat timeout, lifeline port, token and addresses, node); node is
 * keel__lifeline_node().  Strings owned after keel__wire_get_hello:
 * keel__wire_hello_free. */
typedef struct keel__hello {
  uint32_t pid;
  int32_t core;
  double timeout;
  uint32_t port;  /* the master's lifeline socket, 0 if it has none */
  uint64_t token; /* what a nanny says on it to be let in */
  char *host, *node;
  char *addrs;    /* the master's addresses, comma-separated */
} keel__hello;
void keel__wire_put_hello(keel_buf *b, const keel__hello *h, bool from_master);
int keel__wire_get_hello(keel__wire_rd *r, keel__hello *h, bool from_master);
void keel__wire_hello_free(keel__hello *h);

/* One item of a map chunk's result: i32 status (0 or a KEEL_E*), bytes
 * (the result, or the error message), zeros to a multiple of 8 bytes. */
void keel__wire_put_item(keel_buf *b, int32_t status, const void *p, size_t n);
/* The same record written in place: begin, then the task function appends
 * its result to b itself (b->base hides the rest of the chunk from it),
 * then end.  KEEL_ENOMEM if the header does not fit. */
int keel__wire_item_begin(keel_buf *b);
void keel__wire_item_end(keel_buf *b, int32_t status);
int keel__wire_get_item(keel__wire_rd *r, int32_t *status, const void **p, uint32_t *n);

/* OUTPUT: records of whole lines that one task (0: none) wrote on one
 * stream (1 stdout, 2 stderr).  A line longer than KEEL__LINE_MAX comes
 * in pieces of that size; the master prints records whole, so that lines
 * of different tasks never mix. */
#define KEEL__LINE_MAX (64u << 10)
typedef struct keel__output {
  uint64_t task_id;
  uint32_t stream;
  const void *data;
  uint32_t len;
} keel__output;
void keel__wire_put_output(keel_buf *b, const keel__output *o);
int keel__wire_get_output(keel__wire_rd *r, keel__output *o);

typedef struct keel__death {
  uint64_t task_id;
  int32_t cause, signal, exit_status;
  char *message, *backtrace; /* owned after keel__wire_get_death */
  int32_t pid;               /* the task process's, 0 if none */
} keel__death;
void keel__wire_put_death(keel_buf *b, uint32_t exec, const keel__death *d);
int keel__wire_get_death(keel__wire_rd *r, keel__death *d);

/* What the wire promises, checked when it is compiled. */
_Static_assert(KEEL__WIRE_HDR == 4 + 4 + 4 + 4 + 4,
               "header: magic, version/type/pad, exec, count, length");
_Static_assert(KEEL__WIRE_MAX <= UINT32_MAX - KEEL__WIRE_HDR,
               "a whole message's length fits the u32 length field");
_Static_assert(KEEL__PAYLOAD_MAX < KEEL__WIRE_MAX,
               "an argument or result leaves room for the fields around it");
_Static_assert(KEEL__RESULT_ALONE < KEEL__PAYLOAD_MAX,
               "a lone result is one that fits a message");
_Static_assert(KEEL__M_LAST < 256, "the type is one byte");
_Static_assert(sizeof(double) == 8 && sizeof(uint64_t) == 8,
               "f64 and u64 fields are 8 bytes");

#endif /* KEEL_PROTO_WIRE_H */
