/* lines.c: what a task process writes on stdout and stderr.  They are
 * pipes the nanny owns (spawn.c), never the rank's own stdout and stderr:
 * a task's stray child holding them can then keep nothing of the job
 * alive once the nanny is gone.  The nanny reads them, cuts whole lines
 * (a line longer than KEEL__LINE_MAX goes in pieces of that size) and
 * sends them to the master in OUTPUT messages, each record one task's
 * lines on one stream; the master prints each record whole
 * (master/output.c), so that lines of different tasks never mix. */
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define READ_MAX (64u << 10) /* bytes read from one pipe in one turn */

void keel__lines_init(keel__lines *l)
{
  memset(l, 0, sizeof *l);
  l->fd[0] = l->fd[1] = -1;
}

void keel__lines_open(keel__lines *l, int out, int err)
{
  l->fd[0] = out;
  l->fd[1] = err;
  fcntl(out, F_SETFL, O_NONBLOCK);
  fcntl(err, F_SETFL, O_NONBLOCK);
}

/* One record: task's bytes p[0..n) on stream, into the OUTPUT message. */
static void put(keel__outbox *o, uint64_t task, uint32_t stream,
                const char *p, size_t n)
{
  keel__output rec = {task, stream, p, (uint32_t)n};
  if (o->n == 0)
    keel__wire_put_hdr(&o->msg, KEEL__M_OUTPUT, o->exec, 0);
  keel__wire_put_output(&o->msg, &rec);
  o->n++;
}

/* Send on what part[i] holds in whole lines, at most KEEL__LINE_MAX bytes
 * a record (a longer line goes in pieces of that size); keep the rest.  At
 * the end of the stream (last) the rest goes too, with a newline. */
static void cut(keel__lines *l, int i, uint64_t task, keel__outbox *o,
                bool last)
{
  keel_buf *b = &l->part[i];
  size_t start = 0;
  while (start < b->len) {
    size_t avail = b->len - start;
    size_t window = avail < KEEL__LINE_MAX ? avail : KEEL__LINE_MAX;
    char *nl = memrchr(b->data + start, '\n', window);
    size_t upto;
    if (nl)
      upto = (size_t)(nl - b->data) + 1;
    else if (avail >= KEEL__LINE_MAX)
      upto = start + KEEL__LINE_MAX;
    else if (last && keel_buf_append(b, "\n", 1) == KEEL_OK)
      upto = b->len;
    else
      break; /* a line still being written */
    put(o, task, (uint32_t)i + 1, b->data + start, upto - start);
    start = upto;
  }
  if (start > 0) {
    memmove(b->data, b->data + start, b->len - start);
    b->len -= start;
  }
}

/* Read what stream i has (up to cap bytes): whether it read any.  Around
 * it the shared page's read count moves (channel.h): by 1 and back when
 * nothing came, by 2 when bytes did. */
static bool read_stream(keel__lines *l, int i, keel__shm *shm, size_t cap)
{
  size_t got = 0;
  if (shm)
    atomic_fetch_add(&shm->reads, 1);
  while (l->fd[i] >= 0 && got < cap &&
         keel__buf_reserve(&l->part[i], 16384) == KEEL_OK) {
    keel_buf *b = &l->part[i];
    ssize_t n = read(l->fd[i], b->data + b->len, b->cap - b->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) { /* EOF: every writer is gone; EAGAIN: nothing now */
      if (n == 0 || errno != EAGAIN) {
        close(l->fd[i]);
        l->fd[i] = -1;
      }
      break;
    }
    b->len += (size_t)n;
    got += (size_t)n;
  }
  if (shm)
    atomic_fetch_add(&shm->reads, got ? 1u : (uint32_t)-1);
  if (shm && got && !atomic_load(&shm->printed))
    atomic_store(&shm->printed, 1);
  return got > 0;
}

/* Whose bytes the ones just read are: the task marked in the page, or the
 * one that ended and waits for its lines (channel.h). */
static uint64_t writer(const keel__shm *shm)
{
  if (!shm)
    return 0;
  uint64_t t = atomic_load(&shm->task_id);
  uint64_t ot = atomic_load(&shm->out_task), od = atomic_load(&shm->out_done);
  return t ? t : ot != od ? ot : 0;
}

int keel__lines_read(keel__lines *l, keel__shm *shm, unsigned which,
                     keel__outbox *o)
{
  int act = 0;
  for (int i = 0; i < 2; i++)
    if ((which & (1u << i)) && read_stream(l, i, shm, READ_MAX)) {
      cut(l, i, writer(shm), o, false);
      act = 1;
    }
  return act;
}

void keel__lines_end(keel__lines *l, keel__shm *shm, uint64_t task,
                     keel__outbox *o)
{
  for (int i = 0; i < 2; i++) {
    while (read_stream(l, i, NULL, SIZE_MAX)) /* all of it is task's */
      ;
    cut(l, i, task, o, true);
  }
  if (shm)
    atomic_store(&shm->out_done, task); /* the next task may print */
}

void keel__lines_close(keel__lines *l, keel__shm *shm, keel__outbox *o)
{
  uint64_t task = writer(shm);
  for (int i = 0; i < 2; i++) {
    while (read_stream(l, i, NULL, SIZE_MAX))
      ;
    cut(l, i, task, o, true);
    keel__buf_free(&l->part[i]);
    if (l->fd[i] >= 0)
      close(l->fd[i]);
    l->fd[i] = -1;
  }
}
